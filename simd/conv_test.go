package simd

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
)

// Convolution tests against ref.Conv2D on every tier, thread count and
// blocking configuration, with guards around the output; tolerance
// ref.Tol(C/group·KH·KW, Σ|terms|) as in gemm_test.go.

// convCase is a convolution in ref's terms (N, strides, dilations, group
// all set).
type convCase ref.ConvGeom

// params is the case's ConvParams on the direct algorithm (the Winograd
// tests force their own).
func (c convCase) params() ConvParams {
	return ConvParams{C: c.C, H: c.H, W: c.W, M: c.M, KH: c.KH, KW: c.KW,
		StrideH: c.SH, StrideW: c.SW, DilH: c.DH, DilW: c.DW,
		PadTop: c.PT, PadLeft: c.PL, PadBottom: c.PB, PadRight: c.PR, Group: c.Group, Algo: ConvDirect}
}

func (c convCase) String() string {
	return fmt.Sprintf("N%d C%d %dx%d M%d k%dx%d s%d,%d d%d,%d p%d,%d,%d,%d g%d",
		c.N, c.C, c.H, c.W, c.M, c.KH, c.KW, c.SH, c.SW, c.DH, c.DW, c.PT, c.PL, c.PB, c.PR, c.Group)
}

// cc builds a case: square kernel k, stride s, symmetric pad p, dilation
// 1, group 1, batch 1; callers adjust fields.
func cc(c, h, w, m, k, s, p int) convCase {
	return convCase{N: 1, C: c, H: h, W: w, M: m, KH: k, KW: k, SH: s, SW: s, DH: 1, DW: 1,
		PT: p, PL: p, PB: p, PR: p, Group: 1}
}

func convCases() []convCase {
	with := func(c convCase, f func(*convCase)) convCase { f(&c); return c }
	cases := []convCase{
		cc(3, 9, 9, 8, 3, 1, 1),
		cc(1, 1, 1, 1, 1, 1, 0),
		cc(7, 5, 6, 13, 1, 1, 0),    // 1×1 fast path, odd sizes
		cc(16, 12, 12, 33, 1, 1, 0), // 1×1, N = 144
		cc(6, 9, 7, 5, 1, 2, 0),     // 1×1 stride 2
		cc(4, 6, 6, 3, 1, 1, 1),     // 1×1 with padding
		cc(3, 15, 15, 10, 7, 2, 3),  // stem-like 7×7/2
		cc(5, 8, 10, 7, 3, 2, 1),    // stride 2
		cc(40, 7, 7, 17, 3, 1, 1),   // K = 360: crosses K blocks
		cc(2, 3, 3, 4, 5, 1, 2),     // kernel larger than input
		cc(3, 4, 4, 6, 3, 1, 0),     // output 2×2
		cc(3, 3, 3, 9, 3, 1, 0),     // output 1×1
		with(cc(4, 9, 11, 6, 3, 1, 1), func(c *convCase) { c.Group = 2 }),
		with(cc(6, 10, 10, 9, 3, 2, 1), func(c *convCase) { c.Group = 3 }),
		with(cc(8, 12, 12, 8, 3, 1, 2), func(c *convCase) { c.DH, c.DW = 2, 2 }),
		with(cc(3, 11, 9, 5, 3, 1, 0), func(c *convCase) { c.PT, c.PL, c.PB, c.PR = 0, 1, 2, 1 }),
		with(cc(3, 10, 9, 4, 3, 1, 0), func(c *convCase) { c.SH, c.SW = 2, 1 }),
		with(cc(3, 9, 10, 4, 3, 1, 1), func(c *convCase) { c.SH, c.SW = 1, 3 }),
		with(cc(3, 6, 8, 4, 1, 1, 0), func(c *convCase) { c.KH, c.KW, c.PL, c.PR, c.PT, c.PB = 1, 3, 1, 1, 0, 0 }),
		with(cc(5, 7, 7, 11, 3, 1, 1), func(c *convCase) { c.N = 2 }),
		with(cc(4, 5, 5, 8, 1, 1, 0), func(c *convCase) { c.N = 3 }),
		// Depthwise (direct kernel).
		with(cc(5, 9, 9, 5, 3, 1, 1), func(c *convCase) { c.Group = 5 }),
		with(cc(5, 10, 11, 5, 3, 2, 1), func(c *convCase) { c.Group = 5 }),
		with(cc(4, 9, 9, 4, 3, 2, 1), func(c *convCase) { c.Group, c.SH = 4, 1 }),
		with(cc(3, 8, 8, 3, 3, 1, 0), func(c *convCase) { c.Group = 3 }),
		with(cc(3, 2, 2, 3, 3, 1, 1), func(c *convCase) { c.Group = 3 }),
		with(cc(3, 1, 1, 3, 3, 1, 1), func(c *convCase) { c.Group = 3 }),
		with(cc(3, 7, 7, 3, 3, 1, 0), func(c *convCase) { c.Group, c.PL, c.PT = 3, 2, 1 }),
		with(cc(4, 12, 12, 4, 5, 1, 2), func(c *convCase) { c.Group, c.DH, c.DW = 4, 2, 2 }),
		with(cc(4, 9, 9, 4, 5, 2, 2), func(c *convCase) { c.Group = 4 }),
		with(cc(3, 9, 10, 3, 3, 1, 1), func(c *convCase) { c.Group, c.SW = 3, 3 }),
		with(cc(3, 9, 9, 3, 3, 1, 1), func(c *convCase) { c.Group, c.N, c.DW = 3, 2, 2 }),
		with(cc(2, 8, 8, 2, 3, 2, 0), func(c *convCase) { c.Group, c.PT, c.PL, c.PB, c.PR = 2, 1, 0, 0, 1 }),
		// Depthwise with a channel multiplier: GEMM path (and grouped).
		with(cc(3, 8, 8, 6, 3, 1, 1), func(c *convCase) { c.Group = 3 }),
		// ResNeXt-like groups (GEMM and grouped direct paths).
		with(cc(16, 9, 9, 16, 3, 1, 1), func(c *convCase) { c.Group = 4 }),
		with(cc(32, 11, 10, 32, 3, 2, 1), func(c *convCase) { c.Group = 8 }),
		with(cc(8, 7, 7, 4, 3, 1, 0), func(c *convCase) { c.Group = 4 }),
		with(cc(12, 6, 9, 24, 1, 1, 0), func(c *convCase) { c.Group, c.N = 3, 2 }),
	}
	r := rand.New(rand.NewPCG(11, 13))
	for i := 0; i < 24; i++ {
		g := 1 + r.IntN(3)
		if i%6 == 0 {
			g = 0 // depthwise, below
		}
		c := convCase{N: 1 + r.IntN(2), H: 1 + r.IntN(13), W: 1 + r.IntN(13),
			KH: 1 + r.IntN(4), KW: 1 + r.IntN(4), SH: 1 + r.IntN(3), SW: 1 + r.IntN(3),
			DH: 1 + r.IntN(2), DW: 1 + r.IntN(2), PT: r.IntN(3), PL: r.IntN(3), PB: r.IntN(3), PR: r.IntN(3)}
		if g == 0 {
			c.C = 1 + r.IntN(6)
			c.M, c.Group = c.C, c.C
		} else {
			c.C, c.M, c.Group = g*(1+r.IntN(9)), g*(1+r.IntN(20)), g
		}
		if oh, ow := (ConvParams{H: c.H, W: c.W, KH: c.KH, KW: c.KW, StrideH: c.SH, StrideW: c.SW, DilH: c.DH, DilW: c.DW,
			PadTop: c.PT, PadLeft: c.PL, PadBottom: c.PB, PadRight: c.PR}).OutSize(); oh < 1 || ow < 1 {
			c.PT, c.PB, c.PL, c.PR = c.KH*c.DH, c.KH*c.DH, c.KW*c.DW, c.KW*c.DW
		}
		cases = append(cases, c)
	}
	return cases
}

func TestConv(t *testing.T) {
	pools := testPools(t)
	cases := convCases()
	type prepared struct {
		x, w, bias, res []float32
		want, mag       []float64
	}
	data := make([]prepared, len(cases))
	r := rand.New(rand.NewPCG(5, 5))
	for i, c := range cases {
		d := &data[i]
		oh, ow := ref.ConvGeom(c).Out()
		d.x = randSlice(r, c.N*c.C*c.H*c.W)
		d.w = randSlice(r, c.M*c.C/c.Group*c.KH*c.KW)
		if i%3 != 1 {
			d.bias = randSlice(r, c.M)
		}
		if i%4 >= 2 {
			d.res = randSlice(r, c.N*c.M*oh*ow)
		}
		d.want, d.mag = ref.Conv2D(ref.ConvGeom(c), d.x, d.w, d.bias, d.res)
	}
	withTuning(t, func(t *testing.T, cfg string) {
		for _, tier := range Available() {
			k := ForTier(tier)
			t.Run(tier.String(), func(t *testing.T) {
				// Every way of reading the image must be exercised.
				seen := map[string]bool{}
				defer func() {
					for _, m := range []string{"pointwise", "wide", "wide-direct", "segment", "depthwise", "depthwise3x3", "grouped"} {
						if !seen[m] {
							t.Errorf("no case took the %s path", m)
						}
					}
				}()
				for ci := 0; ci < 2*len(cases); ci++ {
					// Every case on the default path, then the grouped
					// ones again forced onto the grouped direct kernel.
					i, cp := ci%len(cases), cases[ci%len(cases)].params()
					if ci >= len(cases) {
						if cp.Algo = ConvGrouped; !groupedEligible(&cp) {
							continue
						}
					}
					c := cases[i]
					d := &data[i]
					act := testActs[i%len(testActs)]
					pc, err := k.PrepareConv(cp, d.w, d.bias)
					if err != nil {
						t.Fatalf("%v: %v", c, err)
					}
					seen[pathOf(pc)] = true
					xc := append([]float32(nil), d.x...)
					var first []float32
					for pi, par := range pools {
						what := fmt.Sprintf("%s %v %s act=%v res=%v bias=%v threads=%d", k.Gemm.ID, c, pathOf(pc), act, d.res != nil, d.bias != nil, testThreads[pi])
						y, all := guarded(len(d.want))
						if err := pc.Run(d.x, y, d.res, act, par); err != nil {
							t.Fatalf("%s: %v", what, err)
						}
						checkGuards(t, what, all, func(int) bool { return true })
						checkClose(t, what, y, d.want, d.mag, c.C/c.Group*c.KH*c.KW, act)
						for j := range xc {
							if math.Float32bits(xc[j]) != math.Float32bits(d.x[j]) {
								t.Fatalf("%s: input modified at %d", what, j)
							}
						}
						got := append([]float32(nil), y...)
						if first == nil {
							first = got
						} else {
							for j := range got {
								if math.Float32bits(got[j]) != math.Float32bits(first[j]) {
									t.Fatalf("%s: element %d = %v differs from the serial result %v", what, j, got[j], first[j])
								}
							}
						}
					}
				}
			})
		}
	})
}

// TestConvPackB compares the convolution's B packing, in each mode that
// applies, with the im2col matrix straight from the definition, for
// several panel widths.
func TestConvPackB(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for _, c := range []convCase{
		cc(3, 9, 8, 4, 3, 1, 1),
		cc(2, 11, 10, 4, 3, 2, 1),
		cc(2, 6, 7, 4, 1, 1, 0),
		cc(2, 9, 9, 4, 1, 2, 0),
		func() convCase { c := cc(2, 12, 11, 4, 3, 1, 2); c.DH, c.DW = 2, 2; return c }(),
		func() convCase { c := cc(2, 12, 11, 4, 3, 3, 0); c.DH, c.PL, c.PT = 2, 2, 1; return c }(),
		func() convCase { c := cc(1, 5, 5, 4, 3, 1, 0); c.KH, c.SH = 2, 2; return c }(),
	} {
		p, err := c.params().normalize()
		if err != nil {
			t.Fatal(err)
		}
		x := randSlice(r, c.C*c.H*c.W)
		// val is the definition: input at channel ch, row oy·sh - pt +
		// ky·dh, column ox·sw - pl + kx·dw, or zero.
		val := func(row, oy, ox int) float32 {
			ch, tap := row/(c.KH*c.KW), row%(c.KH*c.KW)
			iy := oy*c.SH - c.PT + tap/c.KW*c.DH
			ix := ox*c.SW - c.PL + tap%c.KW*c.DW
			if iy < 0 || iy >= c.H || ix < 0 || ix >= c.W {
				return 0
			}
			return x[(ch*c.H+iy)*c.W+ix]
		}
		kd := c.C * c.KH * c.KW
		for _, nr := range []int{4, 8, 16, 32} {
			g := newConvGeom(p, nr)
			modes := []int{g.mode}
			if g.mode == convWide {
				modes = append(modes, convSegment)
			}
			for _, mode := range modes {
				g := g
				src := x
				if g.mode = mode; mode == convWide {
					src = make([]float32, c.C*g.chanStride)
					for ch := 0; ch < c.C; ch++ {
						g.prepass(src[ch*g.chanStride:(ch+1)*g.chanStride], x[ch*c.H*c.W:(ch+1)*c.H*c.W])
					}
				} else {
					g.n = g.oh * g.ow
				}
				gathers := []func(dst, src []float32, rows, n, ldd, lds, stride int){nil}
				for _, tier := range Available() {
					gathers = append(gathers, ForTier(tier).Gather)
				}
				for gi, gather := range gathers {
					s := &convSource{x: src, g: &g, gather: gather}
					for _, b := range []struct{ p0, kc, j0, n int }{{0, kd, 0, g.n}, {1, kd - 2, nr, g.n - nr}, {kd - 1, 1, 3 * nr, 1}, {2, 3, 0, 2 * nr}} {
						if b.n < 1 || b.kc < 1 || b.j0+b.n > g.n || b.p0+b.kc > kd {
							continue
						}
						what := fmt.Sprintf("%v mode %d nr %d block %+v gather %d", c, mode, nr, b, gi)
						dst := make([]float32, ceilDiv(b.n, nr)*b.kc*nr)
						for i := range dst {
							dst[i] = float32(math.NaN())
						}
						s.PackB(dst, b.p0, b.kc, b.j0, b.n, nr)
						checkPacked(t, what, dst, b.kc, b.n, nr, func(pp, q int) float32 {
							j := b.j0 + q
							if mode == convWide {
								oy, xx := j/g.wq, j%g.wq
								if xx >= g.ow {
									return dst[(q/nr)*b.kc*nr+pp*nr+q%nr] // dropped column: anything
								}
								return val(b.p0+pp, oy, xx)
							}
							return val(b.p0+pp, j/g.ow, j%g.ow)
						})
					}
				}
			}
		}
	}
}

// pathOf names the kernel path a prepared convolution takes.
func pathOf(pc *PreparedConv) string {
	g := &pc.g
	switch {
	case pc.grouped:
		return "grouped"
	case pc.depthwise && g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 && g.sw <= 2:
		return "depthwise3x3"
	case pc.depthwise:
		return "depthwise"
	case g.mode == convPointwise:
		return "pointwise"
	case g.mode == convWide && g.wq == g.ow:
		return "wide-direct"
	case g.mode == convWide:
		return "wide"
	}
	return "segment"
}

func TestConvErrors(t *testing.T) {
	k := Best()
	good := ConvParams{C: 4, H: 5, W: 5, M: 6, KH: 3, KW: 3, Group: 2}
	w := make([]float32, 6*2*9)
	if _, err := k.PrepareConv(good, w, nil); err != nil {
		t.Fatalf("valid params: %v", err)
	}
	for _, c := range []struct {
		name string
		p    ConvParams
		w, b []float32
	}{
		{"zero C", ConvParams{H: 5, W: 5, M: 6, KH: 3, KW: 3}, w, nil},
		{"negative pad", ConvParams{C: 4, H: 5, W: 5, M: 6, KH: 3, KW: 3, Group: 2, PadTop: -1}, w, nil},
		{"group", ConvParams{C: 4, H: 5, W: 5, M: 6, KH: 3, KW: 3, Group: 3}, w, nil},
		{"kernel too big", ConvParams{C: 4, H: 2, W: 5, M: 6, KH: 3, KW: 3, Group: 2}, w, nil},
		{"weights", good, w[1:], nil},
		{"bias", good, w, make([]float32, 5)},
		{"huge", ConvParams{C: 1 << 20, H: 1 << 10, W: 1 << 10, M: 1, KH: 1, KW: 1}, nil, nil},
	} {
		if _, err := k.PrepareConv(c.p, c.w, c.b); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	pc, _ := k.PrepareConv(good, w, nil)
	x := make([]float32, 2*4*25)
	y := make([]float32, 2*6*9)
	if err := pc.Run(x, y, nil, Act{}, nil); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, c := range []struct {
		name      string
		x, y, res []float32
	}{
		{"x", x[1:], y, nil},
		{"y", x, y[1:], nil},
		{"residual", x, y, y[1:]},
	} {
		if err := pc.Run(c.x, c.y, c.res, Act{}, nil); !errors.Is(err, errConvSize) {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
	if err := pc.Run(nil, nil, nil, Act{}, nil); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	if err := k.Conv2D(good, x, w, nil, y, nil, Act{}, nil); err != nil {
		t.Errorf("Conv2D: %v", err)
	}
	if err := k.Conv2D(good, x, w[1:], nil, y, nil, Act{}, nil); err == nil {
		t.Errorf("Conv2D with bad weights: no error")
	}
	if p := pc.Params(); p.StrideH != 1 || p.DilW != 1 {
		t.Errorf("Params not normalized: %+v", p)
	}
}

func TestConvAllocs(t *testing.T) {
	if poolsDrop() {
		t.Skip("sync.Pool drops items (race detector): allocation counts are meaningless")
	}
	k := Best()
	r := rand.New(rand.NewPCG(9, 9))
	pool := NewPool(2)
	defer pool.Close()
	for _, c := range []convCase{
		cc(16, 14, 14, 24, 3, 1, 1),
		cc(16, 14, 14, 24, 1, 1, 0),
		func() convCase { c := cc(16, 14, 14, 16, 3, 2, 1); c.Group = 16; return c }(),
		cc(64, 3, 3, 200, 3, 1, 1), // few columns: shared B when threaded
	} {
		oh, ow := ref.ConvGeom(c).Out()
		pc, err := k.PrepareConv(c.params(), randSlice(r, c.M*c.C/c.Group*c.KH*c.KW), randSlice(r, c.M))
		if err != nil {
			t.Fatal(err)
		}
		x := randSlice(r, c.C*c.H*c.W)
		y := make([]float32, c.M*oh*ow)
		res := randSlice(r, len(y))
		for _, par := range []Parallel{nil, pool} {
			run := func() {
				if err := pc.Run(x, y, res, Act{Kind: ActRelu}, par); err != nil {
					t.Fatal(err)
				}
			}
			run()
			if a := testing.AllocsPerRun(20, run); a != 0 {
				t.Errorf("%v with %v: %v allocations per Run", c, par, a)
			}
		}
	}
}
