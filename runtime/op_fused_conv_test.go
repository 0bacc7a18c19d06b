package runtime

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
)

// fusedNode is a runinfer.FusedConv with 3×3 kernels and padding 1.
func fusedNode(ins []string, attrs ...*ir.Attr) *ir.Node {
	n := nd("FusedConv", ins, []string{"y"}, append(attrs, ir.IntsAttr("pads", ints(1, 1, 1, 1)))...)
	n.Domain = "runinfer"
	return n
}

// TestFusedConvMatchesTheOpsItReplaces compares, for every activation
// with and without a residual, a FusedConv against Conv (+ Add) + the
// activation's standalone op(s), both as the reference interpreter (bit for
// bit) and planned on every tier (the fast epilogue, within rounding).
func TestFusedConvMatchesTheOpsItReplaces(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	inits := map[string]*ir.Tensor{
		"w": randF32(rng, 6, 4, 3, 3), "b": randF32(rng, 6),
		"lo": ir.Scalar(float32(-0.25)), "hi": ir.Scalar(float32(0.5)),
	}
	type act struct {
		name   string
		params []float32
		nodes  func(x string) []*ir.Node // x → "y"
	}
	acts := []act{
		{"", nil, func(x string) []*ir.Node { return []*ir.Node{nd("Identity", []string{x}, []string{"y"})} }},
		{"Relu", nil, func(x string) []*ir.Node { return []*ir.Node{nd("Relu", []string{x}, []string{"y"})} }},
		{"Clip", []float32{-0.25, 0.5}, func(x string) []*ir.Node {
			return []*ir.Node{nd("Clip", []string{x, "lo", "hi"}, []string{"y"})}
		}},
		{"LeakyRelu", []float32{0.3}, func(x string) []*ir.Node {
			return []*ir.Node{nd("LeakyRelu", []string{x}, []string{"y"}, ir.FloatAttr("alpha", 0.3))}
		}},
		{"HardSigmoid", []float32{0.3, 0.4}, func(x string) []*ir.Node {
			return []*ir.Node{nd("HardSigmoid", []string{x}, []string{"y"}, ir.FloatAttr("alpha", 0.3), ir.FloatAttr("beta", 0.4))}
		}},
		{"HardSwish", nil, func(x string) []*ir.Node { return []*ir.Node{nd("HardSwish", []string{x}, []string{"y"})} }},
		{"HardSwish", []float32{0.25, 0.5}, func(x string) []*ir.Node {
			return []*ir.Node{
				nd("HardSigmoid", []string{x}, []string{"g"}, ir.FloatAttr("alpha", 0.25), ir.FloatAttr("beta", 0.5)),
				nd("Mul", []string{x, "g"}, []string{"y"}),
			}
		}},
		{"Sigmoid", nil, func(x string) []*ir.Node { return []*ir.Node{nd("Sigmoid", []string{x}, []string{"y"})} }},
		{"SiLU", nil, func(x string) []*ir.Node {
			return []*ir.Node{nd("Sigmoid", []string{x}, []string{"g"}), nd("Mul", []string{x, "g"}, []string{"y"})}
		}},
	}
	inputs := []*ir.ValueInfo{in("x", ir.Float32, 2, 4, 7, 5), in("z", ir.Float32, 2, 6, 7, 5)}
	feeds := map[string]*ir.Tensor{"x": randF32(rng, 2, 4, 7, 5), "z": randF32(rng, 2, 6, 7, 5)}
	lastSummary := ""
	run := func(g graphSpec, opts Options) *ir.Tensor {
		t.Helper()
		opts.Optimize = graphopt.None
		s, err := NewSession(g.model(), &opts)
		if err != nil {
			t.Fatal(err)
		}
		out, err := s.Run(context.Background(), feeds)
		if err != nil {
			t.Fatal(err)
		}
		if !opts.Reference {
			lastSummary = planSummaryFor(t, s, feeds)
		}
		return out[0]
	}
	for _, a := range acts {
		for _, residual := range []bool{false, true} {
			var attrs []*ir.Attr
			if a.name != "" {
				attrs = append(attrs, ir.StringAttr("activation", a.name))
			}
			if a.params != nil {
				attrs = append(attrs, &ir.Attr{Name: "activation_params", Type: ir.AttrFloats, Floats: a.params})
			}
			fin := []string{"x", "w", "b"}
			unfused := []*ir.Node{nd("Conv", []string{"x", "w", "b"}, []string{"c"}, ir.IntsAttr("pads", ints(1, 1, 1, 1)))}
			pre := "c"
			if residual {
				fin = append(fin, "z")
				unfused = append(unfused, nd("Add", []string{"c", "z"}, []string{"s"}))
				pre = "s"
			}
			unfused = append(unfused, a.nodes(pre)...)
			fused := graphSpec{inputs: inputs, outputs: []string{"y"}, inits: inits, nodes: []*ir.Node{fusedNode(fin, attrs...)}}
			plain := graphSpec{inputs: inputs, outputs: []string{"y"}, inits: inits, nodes: unfused}
			want := run(plain, Options{Reference: true})
			got := run(fused, Options{Reference: true})
			for i, v := range want.F32() {
				if got.F32()[i] != v {
					t.Fatalf("%s %v residual %v: reference element %d = %v, unfused %v", a.name, a.params, residual, i, got.F32()[i], v)
				}
			}
			for _, tier := range []string{"generic", ""} {
				got := run(fused, Options{Tier: tier, Threads: 2})
				for i, v := range want.F32() {
					if d := got.F32()[i] - v; d > 1e-5 || d < -1e-5 {
						t.Fatalf("%s %v residual %v tier %q: planned element %d = %v, unfused reference %v", a.name, a.params, residual, tier, i, got.F32()[i], v)
					}
				}
				// Every activation here has a simd kind: the fast Conv runs it.
				if !strings.Contains(lastSummary, "fast    Conv") {
					t.Errorf("%s %v residual %v: FusedConv not on the fast path:\n%s", a.name, a.params, residual, lastSummary)
				}
			}
		}
	}
}

func TestFusedConvErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 32))
	inits := map[string]*ir.Tensor{"w": randF32(rng, 6, 4, 3, 3), "z": randF32(rng, 1, 6, 7, 7)}
	for _, c := range []struct {
		node *ir.Node
		want string
	}{
		{fusedNode([]string{"x", "w"}, ir.StringAttr("activation", "Gelu")), `activation "Gelu" is not supported`},
		{fusedNode([]string{"x", "w"}, ir.StringAttr("activation", "Clip")), `activation "Clip" takes [2] parameters`},
		{fusedNode([]string{"x", "w", "", "z"}), "Z has shape [1 6 7 7], want the output's shape [1 6 7 5]"},
	} {
		g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 4, 7, 5)}, outputs: []string{"y"}, inits: inits, nodes: []*ir.Node{c.node}}
		_, err := NewSession(g.model(), nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want it to mention %q", err, c.want)
		}
	}
	n := fusedNode([]string{"x", "w", "b", "z"}, ir.StringAttr("activation", "Relu"))
	if got := opLabel(n); got != "Conv+Add+Relu" {
		t.Errorf("opLabel = %q", got)
	}
}
