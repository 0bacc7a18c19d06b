package train

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"

	"golang.org/x/image/draw"

	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/ir"
)

// Sample is one labelled image file.
type Sample struct {
	Path  string
	Label int
}

// Dataset is a list of labelled image files and the class names.
type Dataset struct {
	// Root is the folder the dataset was read from.
	Root string
	// Classes are the class names; a Sample's Label indexes them.
	Classes []string
	// Samples are the images, in class order, then path order.
	Samples []Sample
}

// Limits of ImageFolder when FolderOptions leaves them unset.
const (
	DefaultMaxImages  = 1 << 21 // about two million files
	DefaultMaxClasses = 1 << 15
)

// FolderOptions bounds what ImageFolder accepts; zero values take the
// defaults.
type FolderOptions struct {
	MaxImages  int
	MaxClasses int
}

// imageExts are the file extensions ImageFolder takes as images.
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".gif": true, ".bmp": true, ".webp": true}

// IsImageFile reports whether a file name has one of the image extensions
// ImageFolder reads (.jpg .jpeg .png .gif .bmp .webp, any case).
func IsImageFile(name string) bool {
	return imageExts[strings.ToLower(filepath.Ext(name))]
}

func hidden(name string) bool { return strings.HasPrefix(name, ".") }

// ImageFolder reads the layout torchvision's ImageFolder reads: one
// sub-folder of dir per class, named after the class, holding that class's
// images (in any depth of further folders). Classes are sorted by name and
// numbered from 0. Files and folders whose names start with a dot are
// skipped, as are files without an image extension (see IsImageFile) and
// regular files directly in dir. Images are not opened here; a corrupt one
// is reported when the Loader decodes it.
//
// Errors name the problem: dir missing or not a folder, no class folders, a
// class folder with no images, more classes or images than opts allows.
func ImageFolder(dir string, opts *FolderOptions) (*Dataset, error) {
	maxImages, maxClasses := DefaultMaxImages, DefaultMaxClasses
	if opts != nil {
		if opts.MaxImages > 0 {
			maxImages = opts.MaxImages
		}
		if opts.MaxClasses > 0 {
			maxClasses = opts.MaxClasses
		}
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("train: data folder %s does not exist", dir)
	case err != nil:
		return nil, fmt.Errorf("train: data folder: %w", err)
	case !st.IsDir():
		return nil, fmt.Errorf("train: %s is not a folder (want one sub-folder of images per class)", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("train: reading data folder: %w", err)
	}
	d := &Dataset{Root: dir}
	for _, e := range entries {
		if hidden(e.Name()) {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && st.IsDir() {
				isDir = true
			}
		}
		if !isDir {
			continue
		}
		if len(d.Classes) == maxClasses {
			return nil, fmt.Errorf("train: %s has more than %d class folders", dir, maxClasses)
		}
		d.Classes = append(d.Classes, e.Name())
	}
	if len(d.Classes) == 0 {
		return nil, fmt.Errorf("train: %s has no class folders (want %s/<class>/<image>, such as %s/cat/1.jpg)", dir, dir, dir)
	}
	sort.Strings(d.Classes) // ReadDir sorts already; keep it explicit
	for label, class := range d.Classes {
		root := filepath.Join(dir, class)
		if st, err := os.Lstat(root); err == nil && st.Mode()&fs.ModeSymlink != 0 {
			// WalkDir does not follow a symbolic link, even as its root.
			if real, err := filepath.EvalSymlinks(root); err == nil {
				root = real
			}
		}
		n := 0
		err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != root && hidden(e.Name()) {
				if e.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if e.IsDir() || !IsImageFile(e.Name()) {
				return nil
			}
			if e.Type()&fs.ModeSymlink == 0 && !e.Type().IsRegular() {
				return nil // a device or pipe named like an image
			}
			if len(d.Samples) == maxImages {
				return fmt.Errorf("more than %d images", maxImages)
			}
			d.Samples = append(d.Samples, Sample{Path: path, Label: label})
			n++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("train: class %q: %w", class, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("train: class folder %s has no images (want files ending in .jpg, .jpeg, .png, .gif, .bmp or .webp)", root)
		}
	}
	return d, nil
}

// Counts returns the number of samples of each class.
func (d *Dataset) Counts() []int {
	c := make([]int, len(d.Classes))
	for _, s := range d.Samples {
		if s.Label >= 0 && s.Label < len(c) {
			c[s.Label]++
		}
	}
	return c
}

// Split divides d into a training and a validation set, class by class
// (stratified): a seeded random share valFraction of each class's images,
// rounded, goes to validation, but at least one image of every class with
// two or more when valFraction > 0, and never all of a class. Both sets keep
// d's order. valFraction 0 gives an empty validation set.
func (d *Dataset) Split(valFraction float64, seed uint64) (trainSet, valSet *Dataset, err error) {
	if math.IsNaN(valFraction) || valFraction < 0 || valFraction >= 1 {
		return nil, nil, fmt.Errorf("train: validation fraction %g must be in [0, 1)", valFraction)
	}
	byClass := make([][]int, len(d.Classes))
	for i, s := range d.Samples {
		if s.Label < 0 || s.Label >= len(d.Classes) {
			return nil, nil, fmt.Errorf("train: sample %s has label %d of %d classes", s.Path, s.Label, len(d.Classes))
		}
		byClass[s.Label] = append(byClass[s.Label], i)
	}
	isVal := make([]bool, len(d.Samples))
	for c, idx := range byClass {
		n := len(idx)
		k := int(math.Round(valFraction * float64(n)))
		if valFraction > 0 && n >= 2 {
			k = max(1, min(k, n-1))
		} else if n < 2 {
			k = 0
		}
		rng := rand.New(rand.NewPCG(seed, mix(0x5eed5117, uint64(c))))
		perm := rng.Perm(n)
		for _, j := range perm[:k] {
			isVal[idx[j]] = true
		}
	}
	trainSet = &Dataset{Root: d.Root, Classes: d.Classes}
	valSet = &Dataset{Root: d.Root, Classes: d.Classes}
	for i, s := range d.Samples {
		if isVal[i] {
			valSet.Samples = append(valSet.Samples, s)
		} else {
			trainSet.Samples = append(trainSet.Samples, s)
		}
	}
	return trainSet, valSet, nil
}

// mix combines two 64-bit values into a well-scrambled one (splitmix64's
// finaliser over their sum), for deriving independent random streams.
func mix(a, b uint64) uint64 {
	z := a + 0x9e3779b97f4a7c15*(b+1)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Augment is the training transform's randomness: a random resized crop
// and a horizontal flip.
//
// The crop is torchvision's RandomResizedCrop: a region covering a random
// share of the image's area, uniform in [ScaleMin, ScaleMax], with an aspect
// ratio (width/height) log-uniform in [RatioMin, RatioMax], placed
// uniformly, is resized to the model's input size (ten tries, then a
// centre crop at the nearest allowed ratio). torchvision's default scale
// range is 0.08–1, meant for training from scratch on ImageNet; the default
// here, 0.35–1, keeps most of the object in view, which suits fine-tuning
// on a few hundred photos better.
type Augment struct {
	ScaleMin, ScaleMax float64 // default 0.35, 1
	RatioMin, RatioMax float64 // default 3/4, 4/3
	// NoFlip turns the horizontal flip (probability 1/2) off, for images
	// whose mirror image is another class (digits, text).
	NoFlip bool
}

// withDefaults fills unset ranges and checks them.
func (a Augment) withDefaults() (Augment, error) {
	if a.ScaleMin == 0 && a.ScaleMax == 0 {
		a.ScaleMin, a.ScaleMax = 0.35, 1
	}
	if a.RatioMin == 0 && a.RatioMax == 0 {
		a.RatioMin, a.RatioMax = 3.0/4, 4.0/3
	}
	if !(a.ScaleMin > 0 && a.ScaleMin <= a.ScaleMax && a.ScaleMax <= 1) {
		return a, fmt.Errorf("train: crop scale range [%g, %g] must lie in (0, 1], low end first", a.ScaleMin, a.ScaleMax)
	}
	if !(a.RatioMin > 0 && a.RatioMin <= a.RatioMax && !math.IsInf(a.RatioMax, 0)) {
		return a, fmt.Errorf("train: crop aspect-ratio range [%g, %g] must be positive and finite, low end first", a.RatioMin, a.RatioMax)
	}
	return a, nil
}

// cropRect picks the RandomResizedCrop region of a w×h image.
func (a Augment) cropRect(rng *rand.Rand, w, h int) image.Rectangle {
	area := float64(w) * float64(h)
	lo, hi := math.Log(a.RatioMin), math.Log(a.RatioMax)
	for range 10 {
		target := area * (a.ScaleMin + rng.Float64()*(a.ScaleMax-a.ScaleMin))
		ratio := math.Exp(lo + rng.Float64()*(hi-lo))
		cw := int(math.Round(math.Sqrt(target * ratio)))
		ch := int(math.Round(math.Sqrt(target / ratio)))
		if cw > 0 && cw <= w && ch > 0 && ch <= h {
			x := rng.IntN(w - cw + 1)
			y := rng.IntN(h - ch + 1)
			return image.Rect(x, y, x+cw, y+ch)
		}
	}
	// The fallback: the whole image cut to the nearest allowed ratio.
	cw, ch := w, h
	switch r := float64(w) / float64(h); {
	case r < a.RatioMin:
		ch = max(1, min(h, int(math.Round(float64(w)/a.RatioMin))))
	case r > a.RatioMax:
		cw = max(1, min(w, int(math.Round(float64(h)*a.RatioMax))))
	}
	x, y := (w-cw)/2, (h-ch)/2
	return image.Rect(x, y, x+cw, y+ch)
}

// randomResizedCrop cuts the region r of img (in img's bounds' coordinates
// relative to Min) and resizes it to w×h with the same antialiased bilinear
// filter as imageprep.ResizeCrop; flip mirrors the result.
func randomResizedCrop(img image.Image, r image.Rectangle, w, h int, flip bool) *image.RGBA {
	b := img.Bounds()
	sr := r.Add(b.Min)
	src := img
	if o, ok := img.(interface{ Opaque() bool }); !ok || !o.Opaque() {
		src = opaqueCopy(img, sr)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.BiLinear.Scale(dst, dst.Bounds(), src, sr, draw.Src, nil)
	if flip {
		for y := range h {
			row := dst.Pix[y*dst.Stride : y*dst.Stride+4*w]
			for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
				a, c := row[4*i:4*i+4], row[4*j:4*j+4]
				for k := range 4 {
					a[k], c[k] = c[k], a[k]
				}
			}
		}
	}
	return dst
}

// opaqueCopy returns the part r of img with every pixel's colour kept and
// its alpha made opaque (as PIL's convert("RGB"), and imageprep, do).
func opaqueCopy(img image.Image, r image.Rectangle) *image.NRGBA {
	out := image.NewNRGBA(r)
	if src, ok := img.(*image.NRGBA); ok { // PNG with alpha: copy rows
		for y := r.Min.Y; y < r.Max.Y; y++ {
			si, di := src.PixOffset(r.Min.X, y), out.PixOffset(r.Min.X, y)
			copy(out.Pix[di:di+4*r.Dx()], src.Pix[si:si+4*r.Dx()])
		}
		for i := 3; i < len(out.Pix); i += 4 {
			out.Pix[i] = 0xff
		}
		return out
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			c.A = 0xff
			out.SetNRGBA(x, y, c)
		}
	}
	return out
}

// LoaderOptions configures a Loader.
type LoaderOptions struct {
	// Height, Width and Channels (1: grayscale, 3: colour) are the model
	// input's; the batches are NCHW float32.
	Height, Width, Channels int
	// Norm normalises the 8-bit values (see imageprep.Norm and
	// imageprep.PresetNorm).
	Norm imageprep.Norm
	// Invert replaces every value v by 255-v before normalising.
	Invert bool
	// Crop is the validation transform's centre-crop fraction (see
	// imageprep.ResizeCrop; 0 means imageprep.DefaultCropFraction).
	Crop float64
	// Batch is the number of images per batch.
	Batch int
	// Train selects the training transform (Augment) and a seeded
	// shuffle each epoch; otherwise images are resized and centre-cropped
	// and come in dataset order.
	Train   bool
	Augment Augment
	// DropLast drops each epoch's last, incomplete batch.
	DropLast bool
	// Seed fixes the shuffles and the augmentation: the same seed, epoch
	// and sample give the same crop whatever the number of workers.
	Seed uint64
	// Workers is the number of images decoded at once (0: GOMAXPROCS, at
	// most 8).
	Workers int
	// MaxPixels bounds the size of an image (0: imageprep.DefaultMaxPixels).
	MaxPixels int
}

// Loader turns a Dataset into batches of model inputs.
type Loader struct {
	d    *Dataset
	opts LoaderOptions
	spec imageprep.Spec
}

// maxBatchElements bounds one batch tensor (256 MiB of float32).
const maxBatchElements = 1 << 26

// NewLoader checks opts and returns a loader of d.
func NewLoader(d *Dataset, opts LoaderOptions) (*Loader, error) {
	if d == nil || len(d.Samples) == 0 {
		return nil, errors.New("train: no images to load")
	}
	if opts.Channels != 1 && opts.Channels != 3 {
		return nil, fmt.Errorf("train: %d channels (images have 1 or 3)", opts.Channels)
	}
	if opts.Height < 1 || opts.Width < 1 || opts.Height > 1<<14 || opts.Width > 1<<14 {
		return nil, fmt.Errorf("train: input size %dx%d is out of range", opts.Height, opts.Width)
	}
	if opts.Batch < 1 {
		return nil, fmt.Errorf("train: batch size %d must be at least 1", opts.Batch)
	}
	if int64(opts.Batch)*int64(opts.Channels)*int64(opts.Height)*int64(opts.Width) > maxBatchElements {
		return nil, fmt.Errorf("train: a batch of %d %dx%dx%d images is above %d values", opts.Batch, opts.Channels, opts.Height, opts.Width, maxBatchElements)
	}
	if err := opts.Norm.Validate(opts.Channels); err != nil {
		return nil, fmt.Errorf("train: normalisation: %w", err)
	}
	if opts.Crop != 0 && !(opts.Crop > 0 && opts.Crop <= 1) {
		return nil, fmt.Errorf("train: crop fraction %g must be in (0, 1]", opts.Crop)
	}
	var err error
	if opts.Augment, err = opts.Augment.withDefaults(); err != nil {
		return nil, err
	}
	if opts.Workers <= 0 {
		opts.Workers = min(goruntime.GOMAXPROCS(0), 8)
	}
	if opts.MaxPixels <= 0 {
		opts.MaxPixels = imageprep.DefaultMaxPixels
	}
	spec := imageprep.Spec{Batch: opts.Batch, Channels: opts.Channels, Height: opts.Height, Width: opts.Width, Layout: imageprep.NCHW, DType: ir.Float32}
	return &Loader{d: d, opts: opts, spec: spec}, nil
}

// Len returns the number of batches per epoch.
func (l *Loader) Len() int {
	n := len(l.d.Samples)
	if l.opts.DropLast && n >= l.opts.Batch {
		return n / l.opts.Batch
	}
	return (n + l.opts.Batch - 1) / l.opts.Batch
}

// Samples returns the number of images one epoch yields.
func (l *Loader) Samples() int {
	if l.opts.DropLast && len(l.d.Samples) >= l.opts.Batch {
		return l.Len() * l.opts.Batch
	}
	return len(l.d.Samples)
}

// Batch is one batch of images.
type Batch struct {
	// X is the N×C×H×W float32 input.
	X *ir.Tensor
	// Labels are the class indices, one per image.
	Labels []int64
	// Paths are the image files, one per image.
	Paths []string
	// Index is the batch's position in its epoch, from 0.
	Index int
}

// order returns the sample indices of an epoch, in the order they are
// batched.
func (l *Loader) order(epoch int) []int {
	n := len(l.d.Samples)
	if !l.opts.Train {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	rng := rand.New(rand.NewPCG(l.opts.Seed, mix(0x5b0ff1e, uint64(epoch))))
	return rng.Perm(n)
}

// Batches is one epoch's stream of batches, decoded ahead in the
// background. Call Close when done with it (also after an error).
type Batches struct {
	ch     chan batchOrErr
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   bool
}

type batchOrErr struct {
	b   *Batch
	err error
}

// Epoch starts the given epoch (from 0; it seeds the shuffle and the
// augmentation) at batch skip, so that an interrupted epoch can be resumed
// where it stopped. Decoding runs ahead of the consumer by up to two
// batches, and stops when ctx is cancelled or the stream is closed.
func (l *Loader) Epoch(ctx context.Context, epoch, skip int) *Batches {
	ctx, cancel := context.WithCancel(ctx)
	bs := &Batches{ch: make(chan batchOrErr, 1), cancel: cancel}
	order := l.order(epoch)
	nb := l.Len()
	bs.wg.Add(1)
	go func() {
		defer bs.wg.Done()
		defer close(bs.ch)
		for k := max(skip, 0); k < nb; k++ {
			lo, hi := k*l.opts.Batch, min((k+1)*l.opts.Batch, len(order))
			b, err := l.load(ctx, epoch, k, order[lo:hi])
			select {
			case bs.ch <- batchOrErr{b, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return bs
}

// Next returns the next batch, or io.EOF after the last one.
func (bs *Batches) Next() (*Batch, error) {
	if bs.done {
		return nil, io.EOF
	}
	r, ok := <-bs.ch
	if !ok {
		bs.done = true
		return nil, io.EOF
	}
	if r.err != nil {
		bs.done = true
		return nil, r.err
	}
	return r.b, nil
}

// Close stops the background decoding and waits for it.
func (bs *Batches) Close() {
	bs.cancel()
	for range bs.ch { // unblock a pending send
	}
	bs.wg.Wait()
	bs.done = true
}

// load decodes and transforms the samples idx as batch k of an epoch.
func (l *Loader) load(ctx context.Context, epoch, k int, idx []int) (*Batch, error) {
	imgs := make([]*image.RGBA, len(idx))
	errs := make([]error, len(idx))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(l.opts.Workers, len(idx)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				imgs[j], errs[j] = l.prepare(epoch, idx[j])
			}
		}()
	}
	cancelled := false
	for j := range idx {
		if ctx.Err() != nil {
			cancelled = true
			break
		}
		next <- j
	}
	close(next)
	wg.Wait()
	if cancelled {
		return nil, ctx.Err()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	x, err := imageprep.ToTensor(imgs, l.spec, l.opts.Norm)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	b := &Batch{X: x, Labels: make([]int64, len(idx)), Paths: make([]string, len(idx)), Index: k}
	for j, i := range idx {
		s := l.d.Samples[i]
		b.Labels[j], b.Paths[j] = int64(s.Label), s.Path
	}
	return b, nil
}

// prepare decodes sample i and applies the epoch's transform.
func (l *Loader) prepare(epoch, i int) (*image.RGBA, error) {
	s := l.d.Samples[i]
	img, _, err := imageprep.DecodeFile(s.Path, l.opts.MaxPixels)
	if err != nil {
		return nil, fmt.Errorf("train: %s: %w", s.Path, err)
	}
	var m *image.RGBA
	if l.opts.Train {
		rng := rand.New(rand.NewPCG(mix(l.opts.Seed, uint64(epoch)), mix(0xa06, uint64(i))))
		b := img.Bounds()
		r := l.opts.Augment.cropRect(rng, b.Dx(), b.Dy())
		flip := !l.opts.Augment.NoFlip && rng.IntN(2) == 1
		m = randomResizedCrop(img, r, l.opts.Width, l.opts.Height, flip)
	} else {
		m, err = imageprep.ResizeCrop(img, l.opts.Height, l.opts.Width, l.opts.Crop)
		if err != nil {
			return nil, fmt.Errorf("train: %s: %w", s.Path, err)
		}
	}
	if l.opts.Invert {
		imageprep.Invert(m)
	}
	return m, nil
}
