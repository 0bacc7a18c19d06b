package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func TestFastActivationsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	type act struct {
		name  string
		node  func(inits map[string]*ir.Tensor) *ir.Node
		steps string
	}
	clip := func(lo, hi *float32) func(map[string]*ir.Tensor) *ir.Node {
		return func(inits map[string]*ir.Tensor) *ir.Node {
			ins := []string{"x", "", ""}
			if lo != nil {
				inits["lo"], ins[1] = scalarF32(*lo), "lo"
			}
			if hi != nil {
				inits["hi"], ins[2] = scalarF32(*hi), "hi"
			}
			return nd("Clip", ins, []string{"y"})
		}
	}
	f := func(v float32) *float32 { return &v }
	for _, a := range []act{
		{"Relu", func(map[string]*ir.Tensor) *ir.Node { return nd("Relu", []string{"x"}, []string{"y"}) }, "fast Relu"},
		{"LeakyRelu", func(map[string]*ir.Tensor) *ir.Node {
			return nd("LeakyRelu", []string{"x"}, []string{"y"}, ir.FloatAttr("alpha", 0.3))
		}, "fast LeakyRelu"},
		{"Clip both bounds", clip(f(-0.25), f(0.5)), "fast Clip"},
		{"Clip min only", clip(f(0.1), nil), "fast Clip"},
		{"Clip max only", clip(nil, f(-0.1)), "fast Clip"},
		{"Clip without bounds", clip(nil, nil), "fast Clip"},
		{"Clip min above max (reference)", clip(f(0.5), f(-0.5)), "ref Clip"},
	} {
		for _, shape := range [][]int{{7}, {2, 3, 5, 7}, {1, 3, 150, 150}, {0, 4}} {
			t.Run(fmt.Sprintf("%s %v", a.name, shape), func(t *testing.T) {
				inits := map[string]*ir.Tensor{}
				g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, shape...)}, outputs: []string{"y"},
					nodes: []*ir.Node{a.node(inits)}, inits: inits}
				x := randF32(rng, shape...)
				if len(x.F32()) > 3 {
					x.F32()[1] = float32(math.NaN())
					x.F32()[2] = float32(math.Inf(-1))
				}
				sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": x}, 0)
				wantSteps(t, sum, a.steps)
			})
		}
	}
}

func TestClipWithRuntimeBoundsRunsTheReference(t *testing.T) {
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 5), in("lo", ir.Float32)}, outputs: []string{"y"},
		nodes: []*ir.Node{nd("Clip", []string{"x", "lo"}, []string{"y"})}}
	rng := rand.New(rand.NewPCG(32, 32))
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 5), "lo": scalarF32(0)}, 0)
	wantSteps(t, sum, "ref Clip")
}

func TestFastBinaryOpsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 33))
	type shapes struct{ a, b []int }
	for _, op := range []string{"Add", "Mul", "Sub", "Div"} {
		for _, c := range []struct {
			s     shapes
			steps string
		}{
			{shapes{[]int{2, 3, 4, 5}, []int{2, 3, 4, 5}}, "fast " + op},
			{shapes{[]int{1, 3, 150, 150}, []int{1, 3, 150, 150}}, "fast " + op}, // several chunks
			{shapes{[]int{2, 3, 4, 5}, []int{}}, "fast " + op},                   // scalar
			{shapes{[]int{1}, []int{2, 3, 4, 5}}, "fast " + op},                  // scalar first
			{shapes{[]int{2, 3, 4, 5}, []int{1, 3, 1, 1}}, "fast " + op},         // per channel
			{shapes{[]int{3, 1, 1}, []int{2, 3, 4, 5}}, "fast " + op},            // per channel, first
			{shapes{[]int{2, 3, 4, 5}, []int{5}}, "fast " + op},                  // last axis
			{shapes{[]int{2, 3, 4, 5}, []int{2, 1, 1, 1}}, "fast " + op},         // first axis
			{shapes{[]int{1, 40, 30, 30}, []int{40, 1, 1}}, "fast " + op},        // many planes per item
			{shapes{[]int{2, 3, 1, 5}, []int{1, 3, 4, 1}}, "ref " + op},          // both broadcast
			{shapes{[]int{2, 3, 4, 5}, []int{1, 3, 4, 1}}, "ref " + op},          // two broadcast axes
			{shapes{[]int{0, 3}, []int{0, 3}}, "fast " + op},
		} {
			t.Run(fmt.Sprintf("%s %v %v", op, c.s.a, c.s.b), func(t *testing.T) {
				// y = op(a, b) where a is computed (so the kernel may run in
				// place over it) and b is a constant.
				g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, c.s.a...)}, outputs: []string{"y"},
					inits: map[string]*ir.Tensor{"b": randF32(rng, c.s.b...)},
					nodes: []*ir.Node{nd("Relu", []string{"x"}, []string{"a"}), nd(op, []string{"a", "b"}, []string{"y"})}}
				sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, c.s.a...)}, 1e-6)
				wantSteps(t, sum, c.steps)
				// Both operands are inputs: no in-place, the output is fresh.
				g2 := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Float32, c.s.a...), in("b", ir.Float32, c.s.b...)}, outputs: []string{"y"},
					nodes: []*ir.Node{nd(op, []string{"a", "b"}, []string{"y"})}}
				checkPlanned(t, g2, map[string]*ir.Tensor{"a": randF32(rng, c.s.a...), "b": randF32(rng, c.s.b...)}, 1e-6)
			})
		}
	}
}

func TestFastAddInPlaceOverEitherOperand(t *testing.T) {
	// s = p + q where p is read again later: the Add may only take over
	// q's buffer.
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 8)}, outputs: []string{"y"},
		nodes: []*ir.Node{
			nd("Relu", []string{"x"}, []string{"p"}),
			nd("LeakyRelu", []string{"x"}, []string{"q"}),
			nd("Add", []string{"p", "q"}, []string{"s"}),
			nd("Relu", []string{"p"}, []string{"p2"}),
			nd("Mul", []string{"s", "p2"}, []string{"y"}),
		}}
	rng := rand.New(rand.NewPCG(34, 34))
	checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 8)}, 1e-6)
	s, err := NewSession(g.model(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := s.exec.plans[0]
	store := map[string]int{}
	for _, v := range p.values {
		store[v.name] = v.store
	}
	if store["s"] != store["q"] || store["s"] == store["p"] {
		t.Errorf("storages: p %d, q %d, s %d; want s to reuse q's", store["p"], store["q"], store["s"])
	}
}

func TestIntegerElementwiseRunsTheReference(t *testing.T) {
	g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Int64, 3), in("b", ir.Int64, 3)}, outputs: []string{"y"},
		nodes: []*ir.Node{nd("Add", []string{"a", "b"}, []string{"s"}), nd("Mul", []string{"s", "b"}, []string{"y"})}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"a": i64s(1, 2, 3), "b": i64s(4, -5, 6)}, 0)
	wantSteps(t, sum, "ref Add", "ref Mul")
}

func TestFastSubAndDivInPlaceOverTheRightOperand(t *testing.T) {
	// s = p op q where p is read again later: the op may only take over
	// q's buffer, and reads q's element before writing it.
	for _, op := range []string{"Sub", "Div"} {
		t.Run(op, func(t *testing.T) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 8)}, outputs: []string{"y"},
				nodes: []*ir.Node{
					nd("Relu", []string{"x"}, []string{"p"}),
					nd("LeakyRelu", []string{"x"}, []string{"q"}),
					nd(op, []string{"p", "q"}, []string{"s"}),
					nd("Relu", []string{"p"}, []string{"p2"}),
					nd("Mul", []string{"s", "p2"}, []string{"y"}),
				}}
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rand.New(rand.NewPCG(35, 35)), 2, 8)}, 1e-6)
			wantSteps(t, sum, "fast "+op)
		})
	}
}
