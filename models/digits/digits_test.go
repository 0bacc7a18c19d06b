package digits

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

func TestGenerateDeterministic(t *testing.T) {
	a, err := Generate(7, 50, Train, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(7, 80, Train, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Pix, b.Pix[:len(a.Pix)]) {
		t.Error("the same seed gave different images (or the worker count changed them)")
	}
	for i := range a.Len() {
		if a.Labels[i] != int64(i%Classes) || a.Labels[i] != b.Labels[i] {
			t.Fatalf("label %d = %d, %d; want %d", i, a.Labels[i], b.Labels[i], i%Classes)
		}
	}
	c, err := Generate(8, 50, Train, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Generate(7, 50, Test, 1)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Pix, c.Pix) || bytes.Equal(a.Pix, d.Pix) {
		t.Error("another seed or split gave the same images")
	}
}

// TestSplitFonts checks that the Train split never uses the held-out font
// and the Test split does, about one time in ten.
func TestSplitFonts(t *testing.T) {
	const n = 2000
	count := func(sp Split) (held int) {
		for i := range n {
			p := RandomParams(rand.New(rand.NewPCG(3, uint64(i))), i%Classes, sp)
			if Fonts()[p.Font] == HeldOutFont {
				held++
			}
		}
		return held
	}
	if got := count(Train); got != 0 {
		t.Errorf("Train used %s %d times in %d", HeldOutFont, got, n)
	}
	if got := count(Test); got < n/20 || got > n/5 {
		t.Errorf("Test used %s %d times in %d; want about %d", HeldOutFont, got, n, n/len(Fonts()))
	}
}

// TestRender checks properties every image must have: the digit's ink is
// inside the image (the border rows and columns are close to the ground),
// and the ink is where the foreground level says, on both polarities.
func TestRender(t *testing.T) {
	for i := range 400 {
		rng := rand.New(rand.NewPCG(11, uint64(i)))
		p := RandomParams(rng, i%Classes, Test)
		p.Noise, p.Blur, p.Gradient = 0, 0, 0
		p.Background = float64(i%2) * 0.9 // 0 or 0.9
		p.Foreground = 0.95 - p.Background
		img, err := Render(p)
		if err != nil {
			t.Fatal(err)
		}
		bg := uint8(math.Round(255 * p.Background))
		var ink float64
		for y := range Size {
			for x := range Size {
				v := img.Pix[y*img.Stride+x]
				ink += math.Abs(float64(v)-float64(bg)) / 255
				if (x == 0 || y == 0 || x == Size-1 || y == Size-1) && math.Abs(float64(v)-float64(bg)) > 3 {
					t.Fatalf("image %d (%+v): pixel %d,%d = %d on the border, ground %d", i, p, x, y, v, bg)
				}
			}
		}
		// A digit covers roughly 2% (small, thin) to 50% (large, bold) of the
		// image.
		if frac := ink / (Size * Size) / 0.95; frac < 0.015 || frac > 0.6 {
			t.Errorf("image %d (%+v): ink covers %.3f of the image", i, p, frac)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	good := Params{Digit: 3, Height: 20, Aspect: 1, Foreground: 1}
	if _, err := Render(good); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		mod  func(*Params)
		want string
	}{
		{"digit", func(p *Params) { p.Digit = 10 }, "digit 10"},
		{"negative digit", func(p *Params) { p.Digit = -1 }, "digit -1"},
		{"font", func(p *Params) { p.Font = 99 }, "font 99"},
		{"height", func(p *Params) { p.Height = 1e9 }, "height"},
		{"aspect", func(p *Params) { p.Aspect = 0 }, "aspect"},
		{"NaN", func(p *Params) { p.Rotation = math.NaN() }, "finite"},
		{"weight", func(p *Params) { p.Weight = 2.5 }, "weight 2.5"},
		{"thinning", func(p *Params) { p.Weight = -1.5 }, "weight -1.5"},
		{"warp", func(p *Params) { p.Warp = -1 }, "warp -1"},
		{"NaN warp", func(p *Params) { p.Warp = math.NaN() }, "finite"},
		{"Inf", func(p *Params) { p.DX = math.Inf(1) }, "finite"},
	} {
		p := good
		c.mod(&p)
		if _, err := Render(p); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := Generate(1, -1, Train, 1); err == nil {
		t.Error("Generate(-1 images): no error")
	}
	if _, err := Generate(1, MaxSetSize+1, Train, 1); err == nil {
		t.Error("Generate(MaxSetSize+1 images): no error")
	}
	if _, err := Generate(1, 5, Split(9), 1); err == nil {
		t.Error("Generate(bad split): no error")
	}
	s, err := Generate(1, 3, Train, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Batch([]int{0, 3}); err == nil {
		t.Error("Batch with an index out of range: no error")
	}
	if _, _, err := s.Batch(nil); err == nil {
		t.Error("empty Batch: no error")
	}
}

func TestBatch(t *testing.T) {
	s, err := Generate(2, 12, Test, 2)
	if err != nil {
		t.Fatal(err)
	}
	x, lbl, err := s.Batch([]int{11, 4})
	if err != nil {
		t.Fatal(err)
	}
	if got := ir.FormatShape(x.Shape); got != ir.FormatShape([]int{2, 1, Size, Size}) {
		t.Fatalf("shape %s", got)
	}
	if lbl[0] != 1 || lbl[1] != 4 {
		t.Errorf("labels %v, want [1 4]", lbl)
	}
	img := s.Image(4)
	for i, v := range x.F32()[Size*Size:] {
		if want := float32(img.Pix[i]) / 255; v != want {
			t.Fatalf("pixel %d = %g, want %g", i, v, want)
		}
	}
}

// forward64 computes the network NewModel documents, in float64, from the
// model's initializers.
func forward64(t *testing.T, g *ir.Graph, x []float32, n int) []float64 {
	t.Helper()
	w := func(name string) []float64 {
		tt := g.Initializers[name]
		if tt == nil {
			t.Fatalf("no initializer %q", name)
		}
		out := make([]float64, tt.Len())
		for i, v := range tt.F32() {
			out[i] = float64(v)
		}
		return out
	}
	act := make([]float64, len(x))
	for i, v := range x {
		act[i] = float64(v)
	}
	c, h := 1, Size
	for l, co := range []int{16, 32, 64} {
		wt, bs := w("conv"+string(rune('1'+l))+".weight"), w("conv"+string(rune('1'+l))+".bias")
		conv := make([]float64, n*co*h*h)
		for b := range n {
			for o := range co {
				for y := range h {
					for xx := range h {
						s := bs[o]
						for ci := range c {
							for ky := range 3 {
								for kx := range 3 {
									iy, ix := y+ky-1, xx+kx-1
									if iy < 0 || ix < 0 || iy >= h || ix >= h {
										continue
									}
									s += wt[((o*c+ci)*3+ky)*3+kx] * act[((b*c+ci)*h+iy)*h+ix]
								}
							}
						}
						conv[((b*co+o)*h+y)*h+xx] = max(s, 0)
					}
				}
			}
		}
		oh := h / 2
		pool := make([]float64, n*co*oh*oh)
		for b := range n {
			for o := range co {
				for y := range oh {
					for xx := range oh {
						m := math.Inf(-1)
						for j := range 2 {
							for i := range 2 {
								m = max(m, conv[((b*co+o)*h+2*y+j)*h+2*xx+i])
							}
						}
						pool[((b*co+o)*oh+y)*oh+xx] = m
					}
				}
			}
		}
		act, c, h = pool, co, oh
	}
	fw, fb := w("fc.weight"), w("fc.bias")
	feat := c * h * h
	out := make([]float64, n*Classes)
	for b := range n {
		for k := range Classes {
			s := fb[k]
			for f := range feat {
				s += fw[k*feat+f] * act[b*feat+f]
			}
			out[b*Classes+k] = s
		}
	}
	return out
}

// TestModelForward runs the untrained network in a runtime.Session, after
// an ONNX round trip, on batches of several sizes, against forward64.
func TestModelForward(t *testing.T) {
	m, err := NewModel(5)
	if err != nil {
		t.Fatal(err)
	}
	data, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := onnx.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if m2.Metadata[MetaLabels] != `["0","1","2","3","4","5","6","7","8","9"]` || m2.Metadata[MetaPreprocess] != `{"preset":"unit","crop":1.0}` {
		t.Errorf("metadata %v", m2.Metadata)
	}
	sess, err := runtime.NewSession(m2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if in := sess.Inputs(); len(in) != 1 || in[0].Name != Input || in[0].Shape.String() != "[N,1,28,28]" {
		t.Fatalf("inputs %v", in)
	}
	set, err := Generate(4, 7, Test, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 7} {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		x, _, err := set.Batch(idx)
		if err != nil {
			t.Fatal(err)
		}
		outs, err := sess.Run(context.Background(), map[string]*ir.Tensor{Input: x})
		if err != nil {
			t.Fatal(err)
		}
		if len(outs) != 1 || ir.FormatShape(outs[0].Shape) != ir.FormatShape([]int{n, Classes}) {
			t.Fatalf("batch %d: outputs %v", n, outs)
		}
		want := forward64(t, m.Graph, x.F32(), n)
		for i, v := range outs[0].F32() {
			if d := math.Abs(float64(v) - want[i]); d > 1e-4*(1+math.Abs(want[i])) {
				t.Fatalf("batch %d: logit %d = %g, want %g", n, i, v, want[i])
			}
		}
	}
}

func TestNewModelInit(t *testing.T) {
	a, err := NewModel(1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewModel(1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewModel(2)
	if err != nil {
		t.Fatal(err)
	}
	fanIn := map[string]int{"conv1": 9, "conv2": 16 * 9, "conv3": 32 * 9, "fc": 576}
	for name, tt := range a.Graph.Initializers {
		bound := 1 / math.Sqrt(float64(fanIn[strings.Split(name, ".")[0]]))
		var maxAbs, sumSq float64
		for _, v := range tt.F32() {
			maxAbs = max(maxAbs, math.Abs(float64(v)))
			sumSq += float64(v) * float64(v)
		}
		if maxAbs > bound {
			t.Errorf("%s: |w| up to %g, above the bound %g", name, maxAbs, bound)
		}
		// Uniform in ±bound has variance bound²/3.
		if v := sumSq / float64(tt.Len()); tt.Len() >= 100 && math.Abs(v/(bound*bound/3)-1) > 0.3 {
			t.Errorf("%s: variance %g, want about %g", name, v, bound*bound/3)
		}
		if !equalF32(tt.F32(), b.Graph.Initializers[name].F32()) {
			t.Errorf("%s: the same seed gave different weights", name)
		}
		if equalF32(tt.F32(), c.Graph.Initializers[name].F32()) {
			t.Errorf("%s: another seed gave the same weights", name)
		}
	}
}

func equalF32(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
