package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// fastPoolCase is one MaxPool/AveragePool configuration.
type fastPoolCase struct {
	op             string
	n, c, h, w     int
	kh, kw, sh, sw int
	dh, dw         int
	pads           [4]int
	ceil, inclPad  bool
	autoPad        string
}

func (pc fastPoolCase) String() string {
	return fmt.Sprintf("%s_n%d_c%d_%dx%d_k%dx%d_s%d%d_d%d%d_p%v_ceil%v_incl%v_%s", pc.op, pc.n, pc.c, pc.h, pc.w,
		pc.kh, pc.kw, pc.sh, pc.sw, pc.dh, pc.dw, pc.pads, pc.ceil, pc.inclPad, pc.autoPad)
}

func (pc fastPoolCase) node() *ir.Node {
	attrs := []*ir.Attr{
		ir.IntsAttr("kernel_shape", ints(int64(pc.kh), int64(pc.kw))),
		ir.IntsAttr("strides", ints(int64(pc.sh), int64(pc.sw))),
		ir.IntsAttr("dilations", ints(int64(pc.dh), int64(pc.dw))),
	}
	if pc.autoPad != "" {
		attrs = append(attrs, ir.StringAttr("auto_pad", pc.autoPad))
	} else {
		attrs = append(attrs, ir.IntsAttr("pads", ints(int64(pc.pads[0]), int64(pc.pads[1]), int64(pc.pads[2]), int64(pc.pads[3]))))
	}
	if pc.ceil {
		attrs = append(attrs, ir.IntAttr("ceil_mode", 1))
	}
	if pc.inclPad {
		attrs = append(attrs, ir.IntAttr("count_include_pad", 1))
	}
	return nd(pc.op, []string{"x"}, []string{"y"}, attrs...)
}

func fastPoolCases(rng *rand.Rand) []fastPoolCase {
	var cases []fastPoolCase
	for _, op := range []string{"MaxPool", "AveragePool"} {
		base := fastPoolCase{op: op, n: 1, c: 3, h: 9, w: 8, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1}
		with := func(f func(*fastPoolCase)) fastPoolCase { c := base; f(&c); return c }
		cases = append(cases,
			base,
			with(func(c *fastPoolCase) { c.kh, c.kw, c.sh, c.sw = 2, 2, 2, 2 }),
			with(func(c *fastPoolCase) { c.pads = [4]int{1, 1, 1, 1} }),
			with(func(c *fastPoolCase) { c.pads = [4]int{1, 1, 1, 1}; c.inclPad = true }),
			with(func(c *fastPoolCase) { c.ceil = true }),
			with(func(c *fastPoolCase) { c.ceil = true; c.pads = [4]int{1, 0, 1, 2}; c.inclPad = true }),
			with(func(c *fastPoolCase) { c.dh, c.dw = 2, 2 }),
			with(func(c *fastPoolCase) { c.kh, c.kw, c.sh, c.sw = 1, 4, 1, 3 }),
			with(func(c *fastPoolCase) { c.autoPad = "SAME_UPPER" }),
			with(func(c *fastPoolCase) { c.autoPad = "SAME_LOWER"; c.sh, c.sw = 1, 1 }),
			with(func(c *fastPoolCase) { c.n, c.c = 2, 5 }),
			with(func(c *fastPoolCase) { c.h, c.w, c.kh, c.kw, c.sh, c.sw = 3, 3, 3, 3, 1, 1 }),
		)
		for range 8 {
			c := fastPoolCase{op: op, n: 1 + rng.IntN(2), c: 1 + rng.IntN(4), h: 1 + rng.IntN(12), w: 1 + rng.IntN(12),
				kh: 1 + rng.IntN(4), kw: 1 + rng.IntN(4), sh: 1 + rng.IntN(3), sw: 1 + rng.IntN(3),
				dh: 1 + rng.IntN(2), dw: 1 + rng.IntN(2), ceil: rng.IntN(2) == 0, inclPad: rng.IntN(2) == 0}
			for i := range c.pads {
				c.pads[i] = rng.IntN(c.kh)
			}
			c.h = max(c.h, (c.kh-1)*c.dh+1)
			c.w = max(c.w, (c.kw-1)*c.dw+1)
			cases = append(cases, c)
		}
	}
	return cases
}

func TestFastPoolsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	for _, pc := range fastPoolCases(rng) {
		t.Run(pc.String(), func(t *testing.T) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, pc.n, pc.c, pc.h, pc.w)}, outputs: []string{"y"},
				nodes: []*ir.Node{pc.node()}}
			if _, err := NewSession(g.model(), &Options{Reference: true}); err != nil {
				t.Skipf("geometry rejected by the reference: %v", err)
			}
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, pc.n, pc.c, pc.h, pc.w)}, tolFor(pc.kh*pc.kw, 1))
			wantSteps(t, sum, "fast "+pc.op)
		})
	}
}

func TestFastMaxPoolPropagatesNaN(t *testing.T) {
	pc := fastPoolCase{op: "MaxPool", n: 1, c: 2, h: 6, w: 6, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1}
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 2, 6, 6)}, outputs: []string{"y"}, nodes: []*ir.Node{pc.node()}}
	x := randF32(rand.New(rand.NewPCG(22, 22)), 1, 2, 6, 6)
	x.F32()[14] = float32(math.NaN())
	x.F32()[40] = float32(math.Inf(1))
	checkPlanned(t, g, map[string]*ir.Tensor{"x": x}, 0)
}

func TestFastMaxPoolWithIndicesRunsTheReference(t *testing.T) {
	n := fastPoolCase{op: "MaxPool", n: 1, c: 2, h: 6, w: 6, kh: 2, kw: 2, sh: 2, sw: 2, dh: 1, dw: 1}.node()
	n.Outputs = []string{"y", "i"}
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 2, 6, 6)}, outputs: []string{"y", "i"}, nodes: []*ir.Node{n}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rand.New(rand.NewPCG(23, 23)), 1, 2, 6, 6)}, 0)
	wantSteps(t, sum, "ref MaxPool")
}

func TestFastGlobalAveragePoolMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(24, 24))
	for _, shape := range [][]int{{2, 3}, {2, 3, 7}, {1, 4, 5, 6}, {2, 3, 2, 3, 4}, {1, 2, 200, 200}, {1, 3000, 2, 2}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, shape...)}, outputs: []string{"y"},
				nodes: []*ir.Node{nd("GlobalAveragePool", []string{"x"}, []string{"y"})}}
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, shape...)}, tolFor(prod(shape[min(2, len(shape)):]), 1))
			wantSteps(t, sum, "fast GlobalAveragePool")
		})
	}
}

// abs makes a float32 tensor's values non-negative in place (post-ReLU
// planes).
func abs(t *ir.Tensor) *ir.Tensor {
	for i, v := range t.F32() {
		t.F32()[i] = float32(math.Abs(float64(v)))
	}
	return t
}

// BenchmarkFastMaxPool times MaxPool kernels of GoogLeNet's and
// SqueezeNet's shapes on non-negative (post-ReLU) planes and on signed ones.
func BenchmarkFastMaxPool(b *testing.B) {
	for _, pc := range []fastPoolCase{
		{op: "MaxPool", n: 1, c: 64, h: 111, w: 111, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true},
		{op: "MaxPool", n: 1, c: 192, h: 56, w: 56, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, pads: [4]int{0, 0, 1, 1}},
		{op: "MaxPool", n: 1, c: 480, h: 14, w: 14, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}},
		{op: "MaxPool", n: 1, c: 256, h: 28, w: 28, kh: 2, kw: 2, sh: 2, sw: 2, dh: 1, dw: 1},
	} {
		for _, signed := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dx%dx%d_k%d_s%d_signed%v", pc.c, pc.h, pc.w, pc.kh, pc.sh, signed), func(b *testing.B) {
				g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, pc.n, pc.c, pc.h, pc.w)}, outputs: []string{"y"},
					nodes: []*ir.Node{pc.node()}}
				s, err := NewSession(g.model(), &Options{Threads: 1})
				if err != nil {
					b.Fatal(err)
				}
				x := randF32(rand.New(rand.NewPCG(26, 26)), pc.n, pc.c, pc.h, pc.w)
				if !signed {
					abs(x)
				}
				feeds := map[string]*ir.Tensor{"x": x}
				ctx := context.Background()
				b.SetBytes(int64(4 * x.Len()))
				for b.Loop() {
					if _, err := s.Run(ctx, feeds); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkFastMaxPoolKernel times the MaxPool step alone (no output
// allocation), on non-negative planes.
func BenchmarkFastMaxPoolKernel(b *testing.B) {
	for _, pc := range []fastPoolCase{
		{op: "MaxPool", n: 1, c: 64, h: 111, w: 111, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true},
		{op: "MaxPool", n: 1, c: 480, h: 14, w: 14, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}},
		{op: "MaxPool", n: 1, c: 256, h: 28, w: 28, kh: 2, kw: 2, sh: 2, sw: 2, dh: 1, dw: 1},
	} {
		b.Run(fmt.Sprintf("%dx%dx%d_k%d_s%d", pc.c, pc.h, pc.w, pc.kh, pc.sh), func(b *testing.B) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, pc.n, pc.c, pc.h, pc.w)}, outputs: []string{"y"},
				nodes: []*ir.Node{pc.node()}}
			s, err := NewSession(g.model(), &Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			x := abs(randF32(rand.New(rand.NewPCG(26, 26)), pc.n, pc.c, pc.h, pc.w))
			p, err := s.planFor([]ir.DType{ir.Float32}, [][]int{x.Shape})
			if err != nil {
				b.Fatal(err)
			}
			st := &p.steps[0]
			rs := p.states.Get().(*runState)
			y, _ := ir.NewTensor(ir.Float32, p.values[st.out[0]].shape)
			in, out := []*ir.Tensor{x}, []*ir.Tensor{y}
			rs.rc.tmp = rs.tmp[0]
			b.SetBytes(int64(4 * x.Len()))
			for b.Loop() {
				if err := st.k.run(&rs.rc, in, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
