package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
)

// poolCase is one pooling geometry with the pads and ceil_mode it came
// from (for the output size).
type poolCase struct {
	g      Pool2D
	planes int
}

func (c poolCase) String() string {
	g := c.g
	return fmt.Sprintf("planes=%d %dx%d->%dx%d k%dx%d s%dx%d d%dx%d padT=%d padL=%d",
		c.planes, g.H, g.W, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.PadT, g.PadL)
}

// poolOut is the output size of one axis (ONNX: a ceil_mode window must
// start inside the input or its leading padding).
func poolOut(in, k, s, d, p0, p1 int, ceil bool) int {
	span := (k-1)*d + 1
	num := in + p0 + p1 - span
	if num < 0 {
		return 0
	}
	o := num/s + 1
	if ceil && num%s != 0 {
		o++
		if (o-1)*s >= in+p0 {
			o--
		}
	}
	return o
}

// newPoolCase builds the geometry of an ONNX pooling.
func newPoolCase(planes, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr int, ceil bool) poolCase {
	return poolCase{planes: planes, g: Pool2D{
		H: h, W: w, KH: kh, KW: kw, SH: sh, SW: sw, DH: dh, DW: dw, PadT: pt, PadL: pl,
		OH: poolOut(h, kh, sh, dh, pt, pb, ceil), OW: poolOut(w, kw, sw, dw, pl, pr, ceil),
	}}
}

// poolCases are the geometries the pooling tests run: the CNN shapes
// (with few planes), every width from 1 to 41 (below, at and above each
// vector width and the unrolled loop) for the 3×3 and 2×2 windows, and
// random geometries with kernels up to 4×4, strides up to 3, dilations,
// pads and output sizes beyond ONNX's (windows entirely in the padding).
func poolCases(r *rand.Rand) []poolCase {
	cs := []poolCase{
		newPoolCase(2, 111, 111, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true),  // squeezenet1_1
		newPoolCase(2, 109, 109, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true),  // squeezenet1_0
		newPoolCase(3, 27, 27, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true),    // squeezenet
		newPoolCase(3, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false),   // googlenet inception
		newPoolCase(3, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false),     // googlenet inception 5
		newPoolCase(2, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false), // resnet
		newPoolCase(3, 28, 28, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false),
		newPoolCase(3, 14, 14, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true),
		newPoolCase(2, 56, 56, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true),
		newPoolCase(0, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false),
		newPoolCase(2, 0, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false), // no rows: every window empty
		newPoolCase(2, 5, 0, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false),
		newPoolCase(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, false),
		newPoolCase(2, 3, 9, 1, 3, 1, 2, 1, 1, 0, 1, 0, 1, false),
	}
	for w := 1; w <= 41; w++ {
		h := 1 + w%5
		cs = append(cs,
			newPoolCase(2, h+2, w, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false),
			newPoolCase(2, h+3, w, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true),
			newPoolCase(1, h+2, w, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false),
			newPoolCase(1, h+1, w, 2, 2, 2, 2, 1, 1, 0, 0, 1, 1, w%2 == 0),
			newPoolCase(1, h, w, 3, 2, 1, 2, 1, 1, 2, 0, 2, 1, true),
		)
	}
	for range 400 {
		kh, kw := 1+r.IntN(4), 1+r.IntN(4)
		dh, dw := 1, 1
		if r.IntN(5) == 0 {
			dh, dw = 1+r.IntN(2), 1+r.IntN(2)
		}
		sh, sw := 1+r.IntN(3), 1+r.IntN(3)
		if r.IntN(2) == 0 {
			sw = 1 + r.IntN(2)
		}
		h, w := r.IntN(20), r.IntN(45)
		pt, pl, pb, pr := r.IntN(kh), r.IntN(kw), r.IntN(kh), r.IntN(kw)
		c := newPoolCase(1+r.IntN(3), h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, r.IntN(2) == 0)
		if r.IntN(8) == 0 {
			// Pads beyond the kernel and extra outputs: windows with no
			// tap inside the plane.
			c.g.PadT, c.g.PadL = r.IntN(6), r.IntN(6)
			c.g.OH, c.g.OW = c.g.OH+r.IntN(3), c.g.OW+r.IntN(3)
		}
		cs = append(cs, c)
	}
	return cs
}

// poolInput returns n random floats in [-1, 1) with some zeros, and with
// special values (NaN, ±Inf, -0) at a rate of about 1 in 30 when special.
func poolInput(r *rand.Rand, n int, special bool) []float32 {
	s := randSlice(r, n)
	if special {
		for i := range s {
			switch r.IntN(120) {
			case 0:
				s[i] = float32(math.NaN())
			case 1:
				s[i] = float32(math.Inf(1))
			case 2:
				s[i] = float32(math.Inf(-1))
			case 3:
				s[i] = float32(math.Copysign(0, -1))
			}
		}
	}
	return s
}

// TestPool2D checks every tier's MaxPool2D and AvgPool2D against
// ref.MaxPool2D and ref.AvgPool2D on poolCases, with ordinary inputs and
// with NaN, ±Inf and -0 sprinkled in (a NaN tap must make the output NaN
// on every tier). dst and tmp sit inside guard values (tmp exactly
// TempLen long); src and scale are exactly as long as needed and must not
// change. Max is exact (either zero may win between -0 and +0); the
// average's tolerance is ref.Tol(KH·KW, |scale|·Σ|taps|): float32 sums
// of KH·KW terms, then one rounded product.
func TestPool2D(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	cases := poolCases(r)
	for _, tier := range Available() {
		k := ForTier(tier)
		for ci, c := range cases {
			g := c.g
			if !g.Valid() {
				t.Fatalf("case %v is not valid", c)
			}
			rg := ref.PoolGeom{H: g.H, W: g.W, OH: g.OH, OW: g.OW, KH: g.KH, KW: g.KW, SH: g.SH, SW: g.SW,
				DH: g.DH, DW: g.DW, PT: g.PadT, PL: g.PadL}
			special := ci%3 == 1
			src := poolInput(r, c.planes*g.H*g.W, special)
			src0 := append([]float32(nil), src...)
			outLen := c.planes * g.OH * g.OW
			scale := make([]float32, g.OH*g.OW)
			for i := range scale {
				scale[i] = 0.1 + r.Float32()
			}
			if ci%5 == 0 && len(scale) > 0 {
				scale[r.IntN(len(scale))] = float32(math.Inf(1)) // as 1/0 for an empty window
			}
			for _, isMax := range []bool{true, false} {
				what := fmt.Sprintf("%s max=%v special=%v %v", tier, isMax, special, c)
				dst, all := guarded(outLen)
				dst = dst[:outLen:outLen]
				tmp, tmpAll := guarded(g.TempLen())
				tmp = tmp[:len(tmp):len(tmp)]
				if isMax {
					k.MaxPool2D(dst, src, tmp, c.planes, &g)
				} else {
					k.AvgPool2D(dst, src, tmp, scale, c.planes, &g)
				}
				checkGuards(t, what+" dst", all, func(int) bool { return true })
				checkGuards(t, what+" tmp", tmpAll, func(int) bool { return true })
				for i := range src {
					if math.Float32bits(src[i]) != math.Float32bits(src0[i]) {
						t.Fatalf("%s: src modified at %d", what, i)
					}
				}
				var want, mag []float64
				if isMax {
					want = ref.MaxPool2D(rg, c.planes, src)
				} else {
					want, mag = ref.AvgPool2D(rg, c.planes, src, scale)
				}
				for i, w := range want {
					got := float64(dst[i])
					switch {
					case math.IsNaN(w) || math.IsNaN(got):
						if math.IsNaN(w) != math.IsNaN(got) {
							t.Fatalf("%s: output %d = %v, want %v", what, i, got, w)
						}
					case isMax || math.IsInf(w, 0):
						if got != w {
							t.Fatalf("%s: output %d = %v, want %v", what, i, got, w)
						}
					default:
						if tol := ref.Tol(g.KH*g.KW, mag[i]); !(math.Abs(got-w) <= tol) {
							t.Fatalf("%s: output %d = %v, want %v (tolerance %g)", what, i, got, w, tol)
						}
					}
				}
			}
		}
	}
}

// TestPool2DNaN puts a single NaN at every position of a plane, in turn,
// for the windows the assembly handles (each tap position of a window
// takes a different path: the loaded first tap, the compared second, the
// last) and checks that exactly the outputs whose window holds it are
// NaN, on every tier, for max and average.
func TestPool2DNaN(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	cases := []poolCase{
		newPoolCase(1, 9, 19, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false),
		newPoolCase(1, 9, 37, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true),
		newPoolCase(1, 8, 35, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false),
		newPoolCase(1, 7, 20, 2, 3, 1, 2, 1, 1, 1, 0, 0, 2, false),
		newPoolCase(1, 6, 33, 3, 2, 2, 1, 1, 1, 2, 1, 0, 0, true),
		newPoolCase(1, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false),
	}
	for _, tier := range Available() {
		k := ForTier(tier)
		for _, c := range cases {
			g := c.g
			rg := ref.PoolGeom{H: g.H, W: g.W, OH: g.OH, OW: g.OW, KH: g.KH, KW: g.KW, SH: g.SH, SW: g.SW,
				DH: g.DH, DW: g.DW, PT: g.PadT, PL: g.PadL}
			src := poolInput(r, g.H*g.W, false)
			scale := make([]float32, g.OH*g.OW)
			for i := range scale {
				scale[i] = 1
			}
			dst := make([]float32, g.OH*g.OW)
			tmp := make([]float32, g.TempLen())
			for pos := range src {
				old := src[pos]
				src[pos] = float32(math.NaN())
				for _, isMax := range []bool{true, false} {
					var want []float64
					if isMax {
						k.MaxPool2D(dst, src, tmp, 1, &g)
						want = ref.MaxPool2D(rg, 1, src)
					} else {
						k.AvgPool2D(dst, src, tmp, scale, 1, &g)
						want, _ = ref.AvgPool2D(rg, 1, src, scale)
					}
					for i, w := range want {
						if math.IsNaN(w) != math.IsNaN(float64(dst[i])) {
							t.Fatalf("%s max=%v %v NaN at %d: output %d = %v, want %v", tier, isMax, c, pos, i, dst[i], w)
						}
					}
				}
				src[pos] = old
			}
		}
	}
}

// TestPool2DChecks checks that every tier's pooling kernels panic on
// arguments that would take them outside their slices or are invalid,
// and accept the tightest valid ones.
func TestPool2DChecks(t *testing.T) {
	g := Pool2D{H: 5, W: 6, OH: 3, OW: 3, KH: 3, KW: 3, SH: 2, SW: 2, DH: 1, DW: 1, PadT: 1, PadL: 1}
	with := func(f func(*Pool2D)) Pool2D { c := g; f(&c); return c }
	type args struct {
		g                    Pool2D
		planes               int
		dst, src, tmp, scale int
		shouldFail           bool
		avgOnly              bool // only AvgPool2D reads scale
	}
	tl := g.TempLen()
	cases := []args{
		{g: g, planes: 2, dst: 18, src: 60, tmp: tl, scale: 9},
		{g: g, planes: 0, dst: 0, src: 0, tmp: tl, scale: 9},
		{g: with(func(g *Pool2D) { g.OH = 0 }), planes: 2, dst: 0, src: 60, tmp: 0, scale: 0},
		{g: g, planes: 2, dst: 17, src: 60, tmp: tl, scale: 9, shouldFail: true},
		{g: g, planes: 2, dst: 18, src: 59, tmp: tl, scale: 9, shouldFail: true},
		{g: g, planes: 2, dst: 18, src: 60, tmp: tl - 1, scale: 9, shouldFail: true},
		{g: g, planes: 2, dst: 18, src: 60, tmp: tl, scale: 8, shouldFail: true, avgOnly: true},
		{g: g, planes: -1, dst: 18, src: 60, tmp: tl, scale: 9, shouldFail: true},
		{g: with(func(g *Pool2D) { g.KH = 0 }), planes: 1, dst: 100, src: 100, tmp: 1000, scale: 100, shouldFail: true},
		{g: with(func(g *Pool2D) { g.SW = 0 }), planes: 1, dst: 100, src: 100, tmp: 1000, scale: 100, shouldFail: true},
		{g: with(func(g *Pool2D) { g.DH = 0 }), planes: 1, dst: 100, src: 100, tmp: 1000, scale: 100, shouldFail: true},
		{g: with(func(g *Pool2D) { g.PadL = -1 }), planes: 1, dst: 100, src: 100, tmp: 1000, scale: 100, shouldFail: true},
		{g: with(func(g *Pool2D) { g.W = MaxPoolDim + 1 }), planes: 1, dst: 100, src: 100, tmp: 1000, scale: 100, shouldFail: true},
		{g: with(func(g *Pool2D) { g.OW = math.MaxInt / 2 }), planes: 1, dst: 100, src: 100, tmp: 1000, scale: 100, shouldFail: true},
	}
	for _, tier := range Available() {
		k := ForTier(tier)
		for i, c := range cases {
			for _, isMax := range []bool{true, false} {
				panicked := func() (p bool) {
					defer func() { p = recover() != nil }()
					if isMax {
						k.MaxPool2D(make([]float32, c.dst), make([]float32, c.src), make([]float32, c.tmp), c.planes, &c.g)
					} else {
						k.AvgPool2D(make([]float32, c.dst), make([]float32, c.src), make([]float32, c.tmp), make([]float32, c.scale), c.planes, &c.g)
					}
					return false
				}()
				if panicked != (c.shouldFail && !(isMax && c.avgOnly)) {
					t.Errorf("%s max=%v case %d %+v: panicked = %v", tier, isMax, i, c, panicked)
				}
			}
		}
	}
}
