package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// Tests of the Sigmoid/HardSigmoid/HardSwish steps, the x·gate(x) fusion,
// and the per-channel affine steps (BatchNormalization, Mul by a constant,
// Mul then Add by constants) with their activation fusion: planned runs on
// every tier at 1 and 3 threads against the reference interpreter
// (checkPlanned), and the plan's steps.

// expTol is the tolerance of outputs through one Sigmoid (a few float32
// ulps, see simd's BiasAct tests) or an affine map (two roundings of terms
// of magnitude about 1): relative to max(1, |want|).
const expTol = 1e-6

// specials puts NaN, ±Inf, ±0 and large values among a tensor's first
// elements.
func specials(t *ir.Tensor) *ir.Tensor {
	v := t.F32()
	for i, s := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0,
		float32(math.Copysign(0, -1)), 90, -90, 200, -200} {
		if i < len(v) {
			v[i] = s
		}
	}
	return t
}

func TestFastSigmoidActivationsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 41))
	for _, a := range []struct {
		name string
		node *ir.Node
		step string
	}{
		{"Sigmoid", nd("Sigmoid", []string{"x"}, []string{"y"}), "fast Sigmoid"},
		{"HardSigmoid", nd("HardSigmoid", []string{"x"}, []string{"y"}), "fast HardSigmoid"},
		{"HardSigmoid 1/6", nd("HardSigmoid", []string{"x"}, []string{"y"},
			ir.FloatAttr("alpha", 1.0/6), ir.FloatAttr("beta", 0.5)), "fast HardSigmoid"},
		{"HardSigmoid -2, 0.25", nd("HardSigmoid", []string{"x"}, []string{"y"},
			ir.FloatAttr("alpha", -2), ir.FloatAttr("beta", 0.25)), "fast HardSigmoid"},
		{"HardSwish", nd("HardSwish", []string{"x"}, []string{"y"}), "fast HardSwish"},
	} {
		for _, shape := range [][]int{{7}, {2, 3, 5, 7}, {1, 3, 150, 150}, {0, 4}} {
			t.Run(fmt.Sprintf("%s %v", a.name, shape), func(t *testing.T) {
				g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, shape...)}, outputs: []string{"y"},
					nodes: []*ir.Node{a.node}}
				x := specials(scaled(randF32(rng, shape...), 8))
				sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": x}, expTol)
				wantSteps(t, sum, a.step)
			})
		}
	}
}

func TestGateFusions(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	sig := func(in, out string) *ir.Node { return nd("Sigmoid", []string{in}, []string{out}) }
	hsig := func(alpha float32) func(in, out string) *ir.Node {
		return func(in, out string) *ir.Node {
			return nd("HardSigmoid", []string{in}, []string{out}, ir.FloatAttr("alpha", alpha), ir.FloatAttr("beta", 0.5))
		}
	}
	conv := nd("Conv", []string{"x", "w", "b"}, []string{"c"}, ir.IntsAttr("pads", ints(1, 1, 1, 1)))
	for _, c := range []struct {
		name  string
		gate  func(in, out string) *ir.Node
		conv  bool
		swap  bool // Mul(s, x) rather than Mul(x, s)
		steps []string
	}{
		{"Sigmoid", sig, false, false, []string{"fast Relu", "fast Sigmoid+Mul"}},
		{"Sigmoid swapped", sig, false, true, []string{"fast Relu", "fast Sigmoid+Mul"}},
		{"HardSigmoid 1/6", hsig(1.0 / 6), false, false, []string{"fast Relu", "fast HardSigmoid+Mul"}},
		{"HardSigmoid 0.2 (not HardSwish)", hsig(0.2), false, false, []string{"fast Relu", "fast HardSigmoid", "fast Mul"}},
		{"Conv Sigmoid", sig, true, false, []string{"fast Conv+Sigmoid+Mul"}},
		{"Conv HardSigmoid 1/6", hsig(1.0 / 6), true, true, []string{"fast Conv+HardSigmoid+Mul"}},
		{"Conv HardSigmoid 0.2", hsig(0.2), true, false, []string{"fast Conv", "fast HardSigmoid", "fast Mul"}},
	} {
		for _, batch := range []int{1, 2} {
			t.Run(fmt.Sprintf("%s batch %d", c.name, batch), func(t *testing.T) {
				g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, batch, 3, 9, 11)}, outputs: []string{"y"},
					inits: map[string]*ir.Tensor{"w": randF32(rng, 5, 3, 3, 3), "b": randF32(rng, 5)}}
				if c.conv {
					g.nodes = append(g.nodes, conv)
				} else {
					g.nodes = append(g.nodes, nd("Relu", []string{"x"}, []string{"c"}))
				}
				mul := nd("Mul", []string{"c", "s"}, []string{"y"})
				if c.swap {
					mul.Inputs = []string{"s", "c"}
				}
				g.nodes = append(g.nodes, c.gate("c", "s"), mul)
				x := scaled(randF32(rng, batch, 3, 9, 11), 4)
				sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": x}, tolFor(27, 4))
				wantSteps(t, sum, c.steps...)
			})
		}
	}
	// The gate's output is also a graph output, or x is read by another
	// node: the Mul's inputs must stay, so nothing fuses.
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 3, 4)}, outputs: []string{"y", "s"},
		nodes: []*ir.Node{nd("Relu", []string{"x"}, []string{"c"}), sig("c", "s"), nd("Mul", []string{"c", "s"}, []string{"y"})}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 3, 4)}, expTol)
	wantSteps(t, sum, "fast Sigmoid", "fast Mul")
	// A Mul of the gate by something else is a plain Mul.
	g = graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 3, 4)}, outputs: []string{"y"},
		nodes: []*ir.Node{nd("Relu", []string{"x"}, []string{"c"}), sig("x", "s"), nd("Mul", []string{"c", "s"}, []string{"y"})}}
	sum = checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 3, 4)}, expTol)
	wantSteps(t, sum, "fast Sigmoid", "fast Mul")
}

// bnInits returns BatchNormalization parameters for c channels (variances
// positive).
func bnInits(rng *rand.Rand, c int) map[string]*ir.Tensor {
	v := randF32(rng, c)
	for i, x := range v.F32() {
		v.F32()[i] = float32(math.Abs(float64(x))) + 0.1
	}
	return map[string]*ir.Tensor{"gamma": randF32(rng, c), "beta": randF32(rng, c), "mean": randF32(rng, c), "var": v}
}

func TestFastBatchNormMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 43))
	bn := func(outs ...string) *ir.Node {
		return nd("BatchNormalization", []string{"x", "gamma", "beta", "mean", "var"}, outs, ir.FloatAttr("epsilon", 1e-3))
	}
	for _, shape := range [][]int{{2, 5, 7, 9}, {1, 3, 150, 150}, {3, 4}, {2, 3, 5}, {1, 7, 1, 1}, {0, 3, 2, 2}} {
		c := shape[1]
		t.Run(fmt.Sprintf("%v", shape), func(t *testing.T) {
			x := specials(scaled(randF32(rng, shape...), 3))
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, shape...)}, outputs: []string{"y"},
				inits: bnInits(rng, c), nodes: []*ir.Node{bn("y")}}
			wantSteps(t, checkPlanned(t, g, map[string]*ir.Tensor{"x": x}, expTol), "fast BatchNormalization")
			// With a Relu after it, and with a HardSwish.
			for _, act := range []string{"Relu", "HardSwish"} {
				g.nodes = []*ir.Node{bn("n"), nd(act, []string{"n"}, []string{"y"})}
				wantSteps(t, checkPlanned(t, g, map[string]*ir.Tensor{"x": x}, expTol), "fast BatchNormalization+"+act)
			}
			// Its output read twice: no fusion.
			g.outputs = []string{"y", "n"}
			g.nodes = []*ir.Node{bn("n"), nd("Relu", []string{"n"}, []string{"y"})}
			wantSteps(t, checkPlanned(t, g, map[string]*ir.Tensor{"x": x}, expTol), "fast BatchNormalization", "fast Relu")
		})
	}
	// Running statistics as outputs, or a runtime scale: the reference op.
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 3, 4, 4)}, outputs: []string{"y"},
		inits: bnInits(rng, 3), nodes: []*ir.Node{bn("y", "rm", "rv")}}
	wantSteps(t, checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 3, 4, 4)}, expTol), "ref BatchNormalization")
	inits := bnInits(rng, 3)
	delete(inits, "gamma")
	g = graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 3, 4, 4), in("gamma", ir.Float32, 3)}, outputs: []string{"y"},
		inits: inits, nodes: []*ir.Node{bn("y")}}
	wantSteps(t, checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 3, 4, 4), "gamma": randF32(rng, 3)}, expTol),
		"ref BatchNormalization")
}

func TestMulAddByConstantsFuse(t *testing.T) {
	rng := rand.New(rand.NewPCG(44, 44))
	for _, c := range []struct {
		name    string
		x, s, b []int // shapes of the input, the scale and the bias
		act     string
		sInput  bool // the scale is a graph input (not a constant)
		bInput  bool
		steps   []string
	}{
		{"per channel", []int{2, 5, 6, 7}, []int{5, 1, 1}, []int{5, 1, 1}, "", false, false, []string{"fast Mul+Add"}},
		{"per channel relu", []int{2, 5, 6, 7}, []int{5, 1, 1}, []int{5, 1, 1}, "Relu", false, false, []string{"fast Mul+Add+Relu"}},
		{"per channel sigmoid", []int{1, 5, 60, 70}, []int{1, 5, 1, 1}, []int{5, 1, 1}, "Sigmoid", false, false, []string{"fast Mul+Add+Sigmoid"}},
		{"scalar bias", []int{2, 5, 6, 7}, []int{5, 1, 1}, []int{}, "Relu", false, false, []string{"fast Mul+Add+Relu"}},
		{"scalar scale", []int{2, 5, 6, 7}, []int{1}, []int{}, "", false, false, []string{"fast Mul+Add"}},
		{"last axis", []int{2, 5, 6, 7}, []int{7}, []int{7}, "Relu", false, false, []string{"fast Mul+Add+Relu"}},
		{"layouts differ", []int{2, 5, 6, 7}, []int{5, 1, 1}, []int{7}, "Relu", false, false, []string{"fast Mul", "fast Add", "fast Relu"}},
		{"scalar scale, vector bias", []int{2, 5, 6, 7}, []int{}, []int{5, 1, 1}, "", false, false, []string{"fast Mul", "fast Add"}},
		{"runtime scale", []int{2, 5, 6, 7}, []int{5, 1, 1}, []int{5, 1, 1}, "Relu", true, false, []string{"fast Mul", "fast Add", "fast Relu"}},
		{"runtime bias", []int{2, 5, 6, 7}, []int{5, 1, 1}, []int{5, 1, 1}, "Relu", false, true, []string{"fast Mul", "fast Add", "fast Relu"}},
		{"big", []int{1, 3, 150, 150}, []int{3, 1, 1}, []int{3, 1, 1}, "Relu", false, false, []string{"fast Mul+Add+Relu"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, c.x...)}, outputs: []string{"y"}, inits: map[string]*ir.Tensor{}}
			feeds := map[string]*ir.Tensor{"x": specials(scaled(randF32(rng, c.x...), 3))}
			for _, p := range []struct {
				name  string
				shape []int
				input bool
			}{{"s", c.s, c.sInput}, {"b", c.b, c.bInput}} {
				v := scaled(randF32(rng, p.shape...), 2)
				if p.input {
					g.inputs = append(g.inputs, in(p.name, ir.Float32, p.shape...))
					feeds[p.name] = v
				} else {
					g.inits[p.name] = v
				}
			}
			sum := "a"
			if c.act == "" {
				sum = "y"
			}
			g.nodes = []*ir.Node{nd("Mul", []string{"x", "s"}, []string{"m"}), nd("Add", []string{"b", "m"}, []string{sum})}
			if c.act != "" {
				g.nodes = append(g.nodes, nd(c.act, []string{"a"}, []string{"y"}))
			}
			wantSteps(t, checkPlanned(t, g, feeds, expTol), c.steps...)
		})
	}
}

// TestPerSampleChannelMul is the squeeze-and-excitation product: a map
// times a computed [N, C, 1, 1] gate.
func TestPerSampleChannelMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 45))
	for _, shape := range [][]int{{1, 6, 5, 7}, {2, 6, 5, 7}, {3, 40, 30, 30}, {2, 5, 1, 1}} {
		for _, swap := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v swap %v", shape, swap), func(t *testing.T) {
				n, c := shape[0], shape[1]
				g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, shape...)}, outputs: []string{"y"},
					nodes: []*ir.Node{
						nd("GlobalAveragePool", []string{"x"}, []string{"p"}),
						nd("Sigmoid", []string{"p"}, []string{"s"}),
						nd("Mul", []string{"x", "s"}, []string{"y"}),
					}}
				if swap {
					g.nodes[2].Inputs = []string{"s", "x"}
				}
				sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": specials(randF32(rng, shape...))}, expTol)
				if n*c > 1 && len1(shape) > n*c {
					wantSteps(t, sum, "fast Sigmoid", "fast Mul")
				}
			})
		}
	}
}
