package runtime

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// fastConvCase is one Conv geometry.
type fastConvCase struct {
	n, c, h, w, m, kh, kw int
	sh, sw, dh, dw        int
	pads                  [4]int // top, left, bottom, right
	group                 int
	bias                  bool
	autoPad               string
}

func (cc fastConvCase) String() string {
	return fmt.Sprintf("n%d_c%d_%dx%d_m%d_k%dx%d_s%d%d_d%d%d_p%v_g%d_b%v_%s", cc.n, cc.c, cc.h, cc.w, cc.m, cc.kh, cc.kw,
		cc.sh, cc.sw, cc.dh, cc.dw, cc.pads, cc.group, cc.bias, cc.autoPad)
}

// conv builds the Conv node reading x and writing out, with its
// initializers named after out.
func (cc fastConvCase) conv(rng *rand.Rand, x, out string, inits map[string]*ir.Tensor) *ir.Node {
	w := out + "_w"
	inits[w] = randF32(rng, cc.m, cc.c/cc.group, cc.kh, cc.kw)
	ins := []string{x, w}
	if cc.bias {
		inits[out+"_b"] = randF32(rng, cc.m)
		ins = append(ins, out+"_b")
	}
	attrs := []*ir.Attr{
		ir.IntsAttr("strides", ints(int64(cc.sh), int64(cc.sw))),
		ir.IntsAttr("dilations", ints(int64(cc.dh), int64(cc.dw))),
		ir.IntAttr("group", int64(cc.group)),
		ir.IntsAttr("kernel_shape", ints(int64(cc.kh), int64(cc.kw))),
	}
	if cc.autoPad != "" {
		attrs = append(attrs, ir.StringAttr("auto_pad", cc.autoPad))
	} else {
		attrs = append(attrs, ir.IntsAttr("pads", ints(int64(cc.pads[0]), int64(cc.pads[1]), int64(cc.pads[2]), int64(cc.pads[3]))))
	}
	return nd("Conv", ins, []string{out}, attrs...)
}

func (cc fastConvCase) taps() int { return cc.c / cc.group * cc.kh * cc.kw }

// fastConvCases are edge geometries plus random ones.
func fastConvCases(rng *rand.Rand) []fastConvCase {
	base := fastConvCase{n: 1, c: 3, h: 7, w: 6, m: 5, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, group: 1}
	with := func(f func(*fastConvCase)) fastConvCase { c := base; f(&c); return c }
	cases := []fastConvCase{
		base,
		with(func(c *fastConvCase) { c.kh, c.kw = 1, 1 }),                                        // pointwise
		with(func(c *fastConvCase) { c.kh, c.kw, c.sh, c.sw = 1, 1, 2, 2 }),                      // strided 1x1
		with(func(c *fastConvCase) { c.pads = [4]int{1, 1, 1, 1}; c.bias = true }),               // same padding
		with(func(c *fastConvCase) { c.pads = [4]int{0, 2, 1, 0} }),                              // asymmetric pads
		with(func(c *fastConvCase) { c.sh, c.sw = 2, 3; c.pads = [4]int{1, 1, 1, 1} }),           // strides
		with(func(c *fastConvCase) { c.dh, c.dw = 2, 1; c.h = 9 }),                               // dilation
		with(func(c *fastConvCase) { c.c, c.m, c.group = 4, 6, 2; c.bias = true }),               // groups
		with(func(c *fastConvCase) { c.c, c.m, c.group = 8, 8, 8; c.pads = [4]int{1, 1, 1, 1} }), // depthwise
		with(func(c *fastConvCase) {
			c.c, c.m, c.group, c.sh, c.sw = 6, 6, 6, 2, 2
			c.pads = [4]int{1, 1, 1, 1}
			c.bias = true
		}),
		with(func(c *fastConvCase) { c.c, c.m, c.group, c.kh, c.kw = 5, 10, 5, 5, 5; c.h, c.w = 9, 9 }), // depthwise multiplier 2
		with(func(c *fastConvCase) { c.n = 3; c.bias = true }),                                          // batch
		with(func(c *fastConvCase) { c.kh, c.kw = 1, 5; c.w = 11 }),                                     // non-square kernel
		with(func(c *fastConvCase) { c.h, c.w, c.kh, c.kw = 3, 3, 3, 3 }),                               // 1x1 output
		with(func(c *fastConvCase) { c.autoPad = "SAME_UPPER"; c.sh, c.sw = 2, 2 }),
		with(func(c *fastConvCase) { c.autoPad = "SAME_LOWER" }),
		with(func(c *fastConvCase) { c.c, c.m = 1, 1 }),
		with(func(c *fastConvCase) { c.c, c.m, c.h, c.w = 17, 33, 13, 15; c.pads = [4]int{1, 1, 1, 1} }), // above tile sizes
	}
	for range 12 {
		g := 1 + rng.IntN(3)
		c := fastConvCase{
			n: 1 + rng.IntN(2), c: g * (1 + rng.IntN(6)), h: 1 + rng.IntN(14), w: 1 + rng.IntN(14),
			m: g * (1 + rng.IntN(9)), kh: 1 + rng.IntN(4), kw: 1 + rng.IntN(4),
			sh: 1 + rng.IntN(3), sw: 1 + rng.IntN(3), dh: 1 + rng.IntN(2), dw: 1 + rng.IntN(2),
			group: g, bias: rng.IntN(2) == 0,
		}
		for i := range c.pads {
			c.pads[i] = rng.IntN(3)
		}
		// Keep the dilated kernel inside the padded input.
		c.h = max(c.h, (c.kh-1)*c.dh+1)
		c.w = max(c.w, (c.kw-1)*c.dw+1)
		cases = append(cases, c)
	}
	return cases
}

func TestFastConvMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for _, cc := range fastConvCases(rng) {
		t.Run(cc.String(), func(t *testing.T) {
			inits := map[string]*ir.Tensor{}
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, cc.n, cc.c, cc.h, cc.w)}, outputs: []string{"y"},
				nodes: []*ir.Node{cc.conv(rng, "x", "y", inits)}, inits: inits}
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, cc.n, cc.c, cc.h, cc.w)}, tolFor(cc.taps()+1, 1))
			wantSteps(t, sum, "fast Conv")
		})
	}
}

func TestConvEpiloguesAreFused(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	cc := fastConvCase{n: 2, c: 4, h: 6, w: 5, m: 4, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}, group: 1, bias: true}
	x := func() map[string]*ir.Tensor { return map[string]*ir.Tensor{"x": randF32(rng, 2, 4, 6, 5)} }
	type variant struct {
		name  string
		nodes func(inits map[string]*ir.Tensor) []*ir.Node
		outs  []string
		steps []string
	}
	clip := func(lo, hi float32, inits map[string]*ir.Tensor) []string {
		inits["lo"], inits["hi"] = scalarF32(lo), scalarF32(hi)
		return []string{"c", "lo", "hi"}
	}
	for _, v := range []variant{
		{"relu", func(in map[string]*ir.Tensor) []*ir.Node {
			return []*ir.Node{cc.conv(rng, "x", "c", in), nd("Relu", []string{"c"}, []string{"y"})}
		}, []string{"y"}, []string{"fast Conv+Relu"}},
		{"Clip(0, 0.5)", func(in map[string]*ir.Tensor) []*ir.Node {
			return []*ir.Node{cc.conv(rng, "x", "c", in), nd("Clip", clip(0, 0.5, in), []string{"y"})}
		}, []string{"y"}, []string{"fast Conv+Clip"}},
		{"leaky relu", func(in map[string]*ir.Tensor) []*ir.Node {
			return []*ir.Node{cc.conv(rng, "x", "c", in), nd("LeakyRelu", []string{"c"}, []string{"y"}, ir.FloatAttr("alpha", 0.1))}
		}, []string{"y"}, []string{"fast Conv+LeakyRelu"}},
		{"residual add then relu, residual computed after the conv", func(in map[string]*ir.Tensor) []*ir.Node {
			return []*ir.Node{
				cc.conv(rng, "x", "c", in),
				cc.conv(rng, "x", "r", in),
				nd("Add", []string{"r", "c"}, []string{"a"}),
				nd("Relu", []string{"a"}, []string{"y"}),
			}
		}, []string{"y"}, []string{"fast Conv", "fast Conv+Add+Relu"}},
		{"residual add from the graph input", func(in map[string]*ir.Tensor) []*ir.Node {
			return []*ir.Node{cc.conv(rng, "x", "c", in), nd("Add", []string{"c", "x"}, []string{"y"})}
		}, []string{"y"}, []string{"fast Conv+Add"}},
		{"not fused: the conv output is also a graph output", func(in map[string]*ir.Tensor) []*ir.Node {
			return []*ir.Node{cc.conv(rng, "x", "c", in), nd("Relu", []string{"c"}, []string{"y"})}
		}, []string{"y", "c"}, []string{"fast Conv", "fast Relu"}},
		{"not fused: the conv output has two readers", func(in map[string]*ir.Tensor) []*ir.Node {
			return []*ir.Node{cc.conv(rng, "x", "c", in), nd("Relu", []string{"c"}, []string{"r"}), nd("Add", []string{"r", "c"}, []string{"y"})}
		}, []string{"y"}, []string{"fast Conv", "fast Relu", "fast Add"}},
		{"not fused: Clip with min above max", func(in map[string]*ir.Tensor) []*ir.Node {
			return []*ir.Node{cc.conv(rng, "x", "c", in), nd("Clip", clip(1, -1, in), []string{"y"})}
		}, []string{"y"}, []string{"fast Conv", "ref Clip"}},
		{"not fused: Add of the conv output with itself", func(in map[string]*ir.Tensor) []*ir.Node {
			return []*ir.Node{cc.conv(rng, "x", "c", in), nd("Add", []string{"c", "c"}, []string{"y"})}
		}, []string{"y"}, []string{"fast Conv", "fast Add"}},
		{"not fused: broadcast residual", func(in map[string]*ir.Tensor) []*ir.Node {
			in["row"] = randF32(rng, 5)
			return []*ir.Node{cc.conv(rng, "x", "c", in), nd("Add", []string{"c", "row"}, []string{"y"})}
		}, []string{"y"}, []string{"fast Conv", "fast Add"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			inits := map[string]*ir.Tensor{}
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 4, 6, 5)}, outputs: v.outs, nodes: v.nodes(inits), inits: inits}
			sum := checkPlanned(t, g, x(), tolFor(cc.taps()+2, 1))
			wantSteps(t, sum, v.steps...)
			if n := strings.Count(sum, "\n") - 1; n != len(v.steps) {
				t.Errorf("plan has %d steps, want %d:\n%s", n, len(v.steps), sum)
			}
		})
	}
}

func TestConvWithRuntimeWeightsRunsTheReference(t *testing.T) {
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 2, 5, 5), in("w", ir.Float32, 3, 2, 3, 3)}, outputs: []string{"y"},
		nodes: []*ir.Node{nd("Conv", []string{"x", "w"}, []string{"y"})}}
	rng := rand.New(rand.NewPCG(13, 13))
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 1, 2, 5, 5), "w": randF32(rng, 3, 2, 3, 3)}, 0)
	wantSteps(t, sum, "ref Conv")
}
