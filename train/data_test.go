package train

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/imageprep"
)

// writeImage writes a w×h PNG filled by f at dir/name (creating folders).
func writeImage(t testing.TB, path string, w, h int, f func(x, y int) color.RGBA) {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetRGBA(x, y, f(x, y))
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(fh, m); err != nil {
		t.Fatal(err)
	}
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
}

func solid(c color.RGBA) func(x, y int) color.RGBA { return func(int, int) color.RGBA { return c } }

func touch(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImageFolderLayout(t *testing.T) {
	dir := t.TempDir()
	red := solid(color.RGBA{255, 0, 0, 255})
	writeImage(t, filepath.Join(dir, "zebra", "1.png"), 4, 4, red)
	writeImage(t, filepath.Join(dir, "ant", "b.png"), 4, 4, red)
	writeImage(t, filepath.Join(dir, "ant", "a.PNG"), 4, 4, red)
	writeImage(t, filepath.Join(dir, "ant", "deeper", "c.png"), 4, 4, red)
	writeImage(t, filepath.Join(dir, "ant", ".hidden.png"), 4, 4, red)
	writeImage(t, filepath.Join(dir, "ant", ".cache", "d.png"), 4, 4, red)
	writeImage(t, filepath.Join(dir, ".trash", "e.png"), 4, 4, red)
	touch(t, filepath.Join(dir, "ant", "notes.txt"))
	touch(t, filepath.Join(dir, "README.md"))
	touch(t, filepath.Join(dir, "zebra", "f.jpeg"))
	elsewhere := t.TempDir()
	writeImage(t, filepath.Join(elsewhere, "m.png"), 4, 4, red)
	if err := os.Symlink(elsewhere, filepath.Join(dir, "linked")); err != nil {
		t.Fatal(err)
	}
	d, err := ImageFolder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Classes, []string{"ant", "linked", "zebra"}) {
		t.Errorf("classes %v", d.Classes)
	}
	var got []string
	for _, s := range d.Samples {
		rel, err := filepath.Rel(dir, s.Path)
		if err != nil || strings.HasPrefix(rel, "..") {
			rel = "elsewhere/" + filepath.Base(s.Path)
		}
		got = append(got, filepath.ToSlash(rel)+"="+d.Classes[s.Label])
	}
	want := []string{"ant/a.PNG=ant", "ant/b.png=ant", "ant/deeper/c.png=ant", "elsewhere/m.png=linked", "zebra/1.png=zebra", "zebra/f.jpeg=zebra"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("samples %v, want %v", got, want)
	}
	if c := d.Counts(); !reflect.DeepEqual(c, []int{3, 1, 2}) {
		t.Errorf("counts %v", c)
	}
}

func TestImageFolderErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.png")
	touch(t, file)
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	noImages := filepath.Join(dir, "noimages")
	writeImage(t, filepath.Join(noImages, "a", "1.png"), 2, 2, solid(color.RGBA{}))
	touch(t, filepath.Join(noImages, "b", "readme.txt"))
	many := filepath.Join(dir, "many")
	for _, c := range []string{"a", "b", "c"} {
		for _, f := range []string{"1.png", "2.png"} {
			touch(t, filepath.Join(many, c, f))
		}
	}
	cases := []struct {
		dir  string
		opts *FolderOptions
		want string
	}{
		{filepath.Join(dir, "missing"), nil, "does not exist"},
		{file, nil, "is not a folder"},
		{empty, nil, "no class folders"},
		{noImages, nil, "noimages/b has no images"},
		{many, &FolderOptions{MaxImages: 5}, "more than 5 images"},
		{many, &FolderOptions{MaxClasses: 2}, "more than 2 class folders"},
	}
	for _, c := range cases {
		_, err := ImageFolder(c.dir, c.opts)
		if err == nil || !strings.Contains(filepath.ToSlash(err.Error()), c.want) {
			t.Errorf("%s: err %v, want one mentioning %q", c.dir, err, c.want)
		}
	}
	if d, err := ImageFolder(many, &FolderOptions{MaxImages: 6, MaxClasses: 3}); err != nil || len(d.Samples) != 6 {
		t.Errorf("at the limits: %v", err)
	}
}

func fakeDataset(counts ...int) *Dataset {
	d := &Dataset{}
	for c, n := range counts {
		d.Classes = append(d.Classes, string(rune('a'+c)))
		for i := range n {
			d.Samples = append(d.Samples, Sample{Path: fmt.Sprintf("%s/%d.png", d.Classes[c], i), Label: c})
		}
	}
	return d
}

func TestSplitIsStratifiedAndSeeded(t *testing.T) {
	d := fakeDataset(10, 3, 1, 2, 40)
	tr, va, err := d.Split(0.2, 7)
	if err != nil {
		t.Fatal(err)
	}
	// round(0.2·n), at least 1 when n >= 2, never all; a lone image stays
	// in training.
	if got, want := va.Counts(), []int{2, 1, 0, 1, 8}; !reflect.DeepEqual(got, want) {
		t.Errorf("validation counts %v, want %v", got, want)
	}
	if got, want := tr.Counts(), []int{8, 2, 1, 1, 32}; !reflect.DeepEqual(got, want) {
		t.Errorf("training counts %v, want %v", got, want)
	}
	// Disjoint, covering, each in d's order.
	pos := map[string]int{}
	for i, s := range d.Samples {
		pos[s.Path] = i
	}
	seen := make([]bool, len(d.Samples))
	for _, set := range []*Dataset{tr, va} {
		last := -1
		for _, s := range set.Samples {
			i, ok := pos[s.Path]
			if !ok || seen[i] || i <= last || d.Samples[i] != s {
				t.Fatalf("sample %v unknown, repeated or out of order", s)
			}
			seen[i] = true
			last = i
		}
	}
	for i, s := range seen {
		if !s {
			t.Errorf("sample %d in neither set", i)
		}
	}
	tr2, va2, _ := d.Split(0.2, 7)
	if !reflect.DeepEqual(tr, tr2) || !reflect.DeepEqual(va, va2) {
		t.Error("the same seed gave another split")
	}
	differ := false
	for seed := uint64(8); seed < 12 && !differ; seed++ {
		_, va3, _ := d.Split(0.2, seed)
		differ = !reflect.DeepEqual(va, va3)
	}
	if !differ {
		t.Error("four other seeds all gave the same split")
	}
	tr0, va0, err := d.Split(0, 1)
	if err != nil || len(va0.Samples) != 0 || len(tr0.Samples) != len(d.Samples) {
		t.Errorf("fraction 0: %d/%d, %v", len(tr0.Samples), len(va0.Samples), err)
	}
	for _, f := range []float64{-0.1, 1, 1.5, math.NaN()} {
		if _, _, err := d.Split(f, 1); err == nil {
			t.Errorf("fraction %g: no error", f)
		}
	}
}

// twoTone is left half a, right half b.
func twoTone(w int, a, b color.RGBA) func(x, y int) color.RGBA {
	return func(x, y int) color.RGBA {
		if x < w/2 {
			return a
		}
		return b
	}
}

func TestLoaderValidationTransform(t *testing.T) {
	dir := t.TempDir()
	red, blue := color.RGBA{200, 0, 0, 255}, color.RGBA{0, 0, 100, 255}
	writeImage(t, filepath.Join(dir, "a", "x.png"), 16, 16, twoTone(16, red, blue))
	writeImage(t, filepath.Join(dir, "b", "y.png"), 12, 8, solid(color.RGBA{10, 20, 30, 255}))
	d, err := ImageFolder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(d, LoaderOptions{Height: 8, Width: 8, Channels: 3, Norm: imageprep.Norm{Scale: 1, Mean: []float64{1, 2, 3}, Std: []float64{2}}, Batch: 4, Crop: 1})
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 1 || l.Samples() != 2 {
		t.Errorf("len %d samples %d", l.Len(), l.Samples())
	}
	bs := l.Epoch(context.Background(), 0, 0)
	defer bs.Close()
	b, err := bs.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.X.Shape, []int{2, 3, 8, 8}) || !reflect.DeepEqual(b.Labels, []int64{0, 1}) {
		t.Fatalf("shape %v labels %v", b.X.Shape, b.Labels)
	}
	x := b.X.F32()
	at := func(n, c, y, xx int) float64 { return float64(x[((n*3+c)*8+y)*8+xx]) }
	// Image 0, resized 16 -> 8 with crop 1: left half red, right half blue
	// (the columns next to the middle blend); (v - mean[c]) / 2.
	for y := range 8 {
		for _, c := range []struct {
			x    int
			want [3]float64
		}{{0, [3]float64{(200 - 1) / 2.0, -2 / 2.0, -3 / 2.0}}, {7, [3]float64{-1 / 2.0, -2 / 2.0, (100 - 3) / 2.0}}} {
			for ch := range 3 {
				if got := at(0, ch, y, c.x); math.Abs(got-c.want[ch]) > 1e-5 {
					t.Errorf("image 0 (c%d, y%d, x%d) = %g, want %g", ch, y, c.x, got, c.want[ch])
				}
			}
		}
	}
	// Image 1 is solid: every value (v - mean)/2.
	for ch, v := range []float64{10, 20, 30} {
		want := (v - float64(ch+1)) / 2
		for i := range 64 {
			if got := float64(x[(3+ch)*64+i]); math.Abs(got-want) > 1e-5 {
				t.Fatalf("image 1 channel %d value %g, want %g", ch, got, want)
			}
		}
	}
	if _, err := bs.Next(); err != io.EOF {
		t.Errorf("after the last batch: %v, want io.EOF", err)
	}
}

func TestLoaderGrayscaleAndInvert(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "a", "x.png"), 5, 5, solid(color.RGBA{100, 150, 200, 255}))
	d, _ := ImageFolder(dir, nil)
	luma := float64(imageprep.Luma(100, 150, 200))
	for _, inv := range []bool{false, true} {
		l, err := NewLoader(d, LoaderOptions{Height: 3, Width: 3, Channels: 1, Norm: imageprep.Norm{Scale: 1}, Batch: 1, Invert: inv, Train: true})
		if err != nil {
			t.Fatal(err)
		}
		bs := l.Epoch(context.Background(), 0, 0)
		b, err := bs.Next()
		bs.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := luma
		if inv {
			want = float64(imageprep.Luma(155, 105, 55))
		}
		for _, v := range b.X.F32() {
			if math.Abs(float64(v)-want) > 1e-4 {
				t.Fatalf("invert %v: value %g, want %g", inv, v, want)
			}
		}
		if !reflect.DeepEqual(b.X.Shape, []int{1, 1, 3, 3}) {
			t.Errorf("shape %v", b.X.Shape)
		}
	}
}

func collect(t *testing.T, l *Loader, epoch, skip int) []*Batch {
	t.Helper()
	bs := l.Epoch(context.Background(), epoch, skip)
	defer bs.Close()
	var out []*Batch
	for {
		b, err := bs.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
}

func TestLoaderTrainingIsSeededShuffledAndAugmented(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	for c, name := range []string{"a", "b", "c"} {
		for i := range 4 {
			base := uint8(60 * c)
			writeImage(t, filepath.Join(dir, name, string(rune('0'+i))+".png"), 20+i, 14+2*i, func(x, y int) color.RGBA {
				return color.RGBA{base + uint8(rng.IntN(50)), uint8(x * 8), uint8(y * 8), 255}
			})
		}
	}
	d, err := ImageFolder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := LoaderOptions{Height: 6, Width: 6, Channels: 3, Norm: imageprep.Norm{Scale: 1}, Batch: 5, Train: true, Seed: 42, Workers: 1}
	l1, _ := NewLoader(d, opts)
	opts.Workers = 4
	l4, _ := NewLoader(d, opts)
	e0 := collect(t, l1, 0, 0)
	if len(e0) != 3 || e0[2].X.Shape[0] != 2 {
		t.Fatalf("%d batches, last of %d", len(e0), e0[len(e0)-1].X.Shape[0])
	}
	// Every image once per epoch, labels matching the paths.
	var paths []string
	for _, b := range e0 {
		for j, p := range b.Paths {
			paths = append(paths, p)
			if want := int64(strings.IndexByte("abc", filepath.Base(filepath.Dir(p))[0])); b.Labels[j] != want {
				t.Errorf("%s has label %d", p, b.Labels[j])
			}
		}
	}
	sorted := slices.Clone(paths)
	slices.Sort(sorted)
	var all []string
	for _, s := range d.Samples {
		all = append(all, s.Path)
	}
	if !reflect.DeepEqual(sorted, all) {
		t.Errorf("epoch paths %v, want each of %v once", sorted, all)
	}
	if reflect.DeepEqual(paths, all) {
		t.Error("the training order is not shuffled")
	}
	// The same epoch again, with more workers: the same batches.
	if e0b := collect(t, l4, 0, 0); !sameBatches(e0, e0b) {
		t.Error("epoch 0 differs between 1 and 4 workers")
	}
	// Resuming at batch 1 gives the tail.
	if tail := collect(t, l4, 0, 1); !sameBatches(e0[1:], tail) {
		t.Error("epoch 0 from batch 1 differs from the tail of the full epoch")
	}
	// Another epoch: another order and other crops.
	e1 := collect(t, l1, 1, 0)
	if sameBatches(e0, e1) {
		t.Error("epochs 0 and 1 are identical")
	}
	// DropLast.
	opts.DropLast = true
	ld, _ := NewLoader(d, opts)
	if ld.Len() != 2 || ld.Samples() != 10 || len(collect(t, ld, 0, 0)) != 2 {
		t.Errorf("drop last: %d batches, %d samples", ld.Len(), ld.Samples())
	}
}

func sameBatches(a, b []*Batch) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !reflect.DeepEqual(a[i].X, b[i].X) || !reflect.DeepEqual(a[i].Labels, b[i].Labels) || !reflect.DeepEqual(a[i].Paths, b[i].Paths) {
			return false
		}
	}
	return true
}

func TestFlipMirrorsTheImage(t *testing.T) {
	dir := t.TempDir()
	red, blue := color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}
	writeImage(t, filepath.Join(dir, "a", "x.png"), 8, 8, twoTone(8, red, blue))
	d, _ := ImageFolder(dir, nil)
	// A crop of the whole image (scale 1, ratio 1): only the flip varies.
	l, err := NewLoader(d, LoaderOptions{Height: 8, Width: 8, Channels: 3, Norm: imageprep.Norm{Scale: 1}, Batch: 1, Train: true,
		Augment: Augment{ScaleMin: 1, ScaleMax: 1, RatioMin: 1, RatioMax: 1}})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[bool]bool{}
	for epoch := range 16 {
		x := collect(t, l, epoch, 0)[0].X.F32()
		redLeft := x[0] == 255 && x[7] == 0 && x[2*64] == 0 && x[2*64+7] == 255
		blueLeft := x[0] == 0 && x[7] == 255 && x[2*64] == 255 && x[2*64+7] == 0
		if !redLeft && !blueLeft {
			t.Fatalf("epoch %d: neither the image nor its mirror: %v", epoch, x[:8])
		}
		seen[redLeft] = true
	}
	if len(seen) != 2 {
		t.Error("16 epochs never (or always) flipped")
	}
	l.opts.Augment.NoFlip = true
	for epoch := range 8 {
		if x := collect(t, l, epoch, 0)[0].X.F32(); x[0] != 255 {
			t.Fatalf("NoFlip: epoch %d flipped", epoch)
		}
	}
}

func TestCropRectStaysInsideAndInRange(t *testing.T) {
	a, _ := Augment{}.withDefaults()
	rng := rand.New(rand.NewPCG(5, 6))
	for range 2000 {
		w, h := 1+rng.IntN(300), 1+rng.IntN(300)
		if rng.IntN(10) == 0 {
			w = 1 + rng.IntN(3) // extreme shapes force the fallback
		}
		r := a.cropRect(rng, w, h)
		if r.Empty() || !r.In(image.Rect(0, 0, w, h)) {
			t.Fatalf("%dx%d: crop %v outside", w, h, r)
		}
		frac := float64(r.Dx()*r.Dy()) / float64(w*h)
		ratio := float64(r.Dx()) / float64(r.Dy())
		// The rounded sides allow a little slack, more on small images.
		slack := 2/float64(min(r.Dx(), r.Dy())) + 0.02
		if w >= 50 && h >= 50 && float64(w)/float64(h) > 0.8 && float64(w)/float64(h) < 1.25 {
			if frac < 0.35*(1-slack)*(1-slack) || frac > 1 || ratio < 0.75*(1-slack) || ratio > 4.0/3*(1+slack) {
				t.Fatalf("%dx%d: crop %v has area share %.3f and ratio %.3f", w, h, r, frac, ratio)
			}
		}
	}
	// The fallback keeps the whole short side and the nearest ratio.
	r := a.cropRect(rand.New(rand.NewPCG(1, 1)), 100, 1)
	if r.Dy() != 1 || r.Dx() != 1 {
		t.Errorf("100x1 fallback %v", r)
	}
}

func TestLoaderErrors(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "a", "good.png"), 4, 4, solid(color.RGBA{1, 2, 3, 255}))
	bad := filepath.Join(dir, "a", "bad.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnot really"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := ImageFolder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(d, LoaderOptions{Height: 4, Width: 4, Channels: 3, Norm: imageprep.Norm{Scale: 1}, Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	bs := l.Epoch(context.Background(), 0, 0)
	_, err = bs.Next()
	bs.Close()
	if err == nil || !strings.Contains(err.Error(), "bad.png") {
		t.Errorf("corrupt image: %v, want an error naming it", err)
	}
	norm := imageprep.Norm{Scale: 1}
	for _, c := range []struct {
		o    LoaderOptions
		want string
	}{
		{LoaderOptions{Height: 4, Width: 4, Channels: 2, Norm: norm, Batch: 1}, "channels"},
		{LoaderOptions{Height: 0, Width: 4, Channels: 3, Norm: norm, Batch: 1}, "size"},
		{LoaderOptions{Height: 4, Width: 4, Channels: 3, Norm: norm, Batch: 0}, "batch"},
		{LoaderOptions{Height: 4000, Width: 4000, Channels: 3, Norm: norm, Batch: 64}, "above"},
		{LoaderOptions{Height: 4, Width: 4, Channels: 3, Norm: imageprep.Norm{}, Batch: 1}, "scale"},
		{LoaderOptions{Height: 4, Width: 4, Channels: 3, Norm: norm, Batch: 1, Crop: 2}, "crop"},
		{LoaderOptions{Height: 4, Width: 4, Channels: 3, Norm: norm, Batch: 1, Augment: Augment{ScaleMin: 0.5, ScaleMax: 0.2}}, "scale range"},
	} {
		if _, err := NewLoader(d, c.o); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error mentioning %q", c.o, err, c.want)
		}
	}
	if _, err := NewLoader(&Dataset{}, LoaderOptions{}); err == nil {
		t.Error("empty dataset: no error")
	}
}

func TestBatchesCloseAndCancelStopTheDecoder(t *testing.T) {
	dir := t.TempDir()
	for i := range 12 {
		writeImage(t, filepath.Join(dir, "a", string(rune('a'+i))+".png"), 6, 6, solid(color.RGBA{uint8(i), 0, 0, 255}))
	}
	d, _ := ImageFolder(dir, nil)
	l, _ := NewLoader(d, LoaderOptions{Height: 4, Width: 4, Channels: 3, Norm: imageprep.Norm{Scale: 1}, Batch: 1})
	bs := l.Epoch(context.Background(), 0, 0)
	if _, err := bs.Next(); err != nil {
		t.Fatal(err)
	}
	bs.Close() // with batches pending: must not hang
	if _, err := bs.Next(); err != io.EOF {
		t.Errorf("Next after Close: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bs = l.Epoch(ctx, 0, 0)
	cancel()
	n := 0
	var err error
	for err == nil {
		_, err = bs.Next()
		n++
	}
	bs.Close()
	if n > 12 || (err != io.EOF && !errors.Is(err, context.Canceled)) {
		t.Errorf("after cancel: %d batches, %v", n, err)
	}
}

func TestTransparentPixelsKeepTheirColour(t *testing.T) {
	dir := t.TempDir()
	// Red with alpha 0 (an NRGBA PNG): PIL's convert("RGB") and imageprep
	// keep the red; compositing over black would not.
	m := image.NewNRGBA(image.Rect(0, 0, 6, 6))
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+3] = 255, 0
	}
	p := filepath.Join(dir, "a", "t.png")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, m); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, _ := ImageFolder(dir, nil)
	for _, train := range []bool{true, false} {
		l, err := NewLoader(d, LoaderOptions{Height: 4, Width: 4, Channels: 3, Norm: imageprep.Norm{Scale: 1}, Batch: 1, Train: train})
		if err != nil {
			t.Fatal(err)
		}
		x := collect(t, l, 0, 0)[0].X.F32()
		if x[0] != 255 || x[16] != 0 {
			t.Errorf("train %v: transparent red became R=%g G=%g", train, x[0], x[16])
		}
	}
	// The generic path (a non-NRGBA image with alpha).
	g := image.NewRGBA64(image.Rect(0, 0, 2, 2))
	for i := 0; i < len(g.Pix); i += 8 {
		g.Pix[i], g.Pix[i+1] = 0xff, 0xff // R, alpha 0: premultiplied, so black
	}
	if c := opaqueCopy(g, g.Bounds()); c.Pix[3] != 0xff {
		t.Errorf("alpha not made opaque: %v", c.Pix[:4])
	}
}
