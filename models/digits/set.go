package digits

import (
	"fmt"
	"image"
	"math/rand/v2"
	"runtime"
	"sync"

	"github.com/runinfer/runinfer/ir"
)

// MaxSetSize bounds Generate's n (about 80 MB of pixels).
const MaxSetSize = 100_000

// Set is a rendered data set: n images of Size×Size 8-bit gray pixels, as a
// PNG file of them would hold, with their labels.
type Set struct {
	Pix    []uint8  // n·Size·Size, image after image, row after row
	Labels []int64  // the digit of each image
	Params []Params // what each image was rendered from
}

// Len returns the number of images.
func (s *Set) Len() int { return len(s.Labels) }

// Image returns image i as an *image.Gray sharing the set's pixels.
func (s *Set) Image(i int) *image.Gray {
	return &image.Gray{Pix: s.Pix[i*Size*Size : (i+1)*Size*Size : (i+1)*Size*Size], Stride: Size, Rect: image.Rect(0, 0, Size, Size)}
}

// Batch returns the images at the given indices as an N×1×28×28 float32
// tensor scaled to 0..1 (pixel/255: the "unit" preset of package imageprep
// applied to a gray image), and their labels.
func (s *Set) Batch(idx []int) (*ir.Tensor, []int64, error) {
	if len(idx) == 0 {
		return nil, nil, fmt.Errorf("digits: empty batch")
	}
	data := make([]float32, len(idx)*Size*Size)
	labels := make([]int64, len(idx))
	for b, i := range idx {
		if i < 0 || i >= s.Len() {
			return nil, nil, fmt.Errorf("digits: image %d out of range 0..%d", i, s.Len()-1)
		}
		src := s.Pix[i*Size*Size : (i+1)*Size*Size]
		dst := data[b*Size*Size : (b+1)*Size*Size]
		for j, v := range src {
			dst[j] = float32(v) / 255
		}
		labels[b] = s.Labels[i]
	}
	t, err := ir.FromFloat32([]int{len(idx), 1, Size, Size}, data)
	if err != nil {
		return nil, nil, fmt.Errorf("digits: %w", err)
	}
	return t, labels, nil
}

// Generate renders n images of split sp from seed: image i shows digit
// i mod 10, so every digit is equally represented, with parameters drawn
// from a random stream of its own (so the set is the same whatever the
// number of workers, and the first m images of a larger set are the set of
// m). The Train and Test splits of one seed use different streams. workers
// ≤ 0 means GOMAXPROCS.
func Generate(seed uint64, n int, sp Split, workers int) (*Set, error) {
	if n < 0 || n > MaxSetSize {
		return nil, fmt.Errorf("digits: set size %d out of range 0..%d", n, MaxSetSize)
	}
	if sp != Train && sp != Test {
		return nil, fmt.Errorf("digits: unknown split %v", sp)
	}
	if _, err := loadGlyphs(); err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = max(1, min(workers, n))
	s := &Set{Pix: make([]uint8, n*Size*Size), Labels: make([]int64, n), Params: make([]Params, n)}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				rng := rand.New(rand.NewPCG(seed, uint64(i)<<1|uint64(sp)))
				p := RandomParams(rng, i%Classes, sp)
				img, err := Render(p)
				if err != nil {
					errs[w] = err
					return
				}
				copy(s.Pix[i*Size*Size:], img.Pix)
				s.Labels[i] = int64(p.Digit)
				s.Params[i] = p
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}
