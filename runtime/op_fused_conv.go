package runtime

import (
	"fmt"
	"slices"

	"github.com/runinfer/runinfer/ir"
)

// runinfer.FusedConv: the node graphopt's level All fuses a Conv, its
// residual Add and its activation into (see graphopt.FusedConv):
//
//	Y = activation(Conv(X, W, B) + Z)
//
// The reference implementation computes the Conv with op_conv.go, adds Z
// (of Y's shape), then applies the activation in float64 as the standalone
// op does, so a fused graph gives the unfused reference results. The plan
// runs it with the fast Conv and simd's fused epilogue (fast_conv.go).

func init() {
	register("runinfer.FusedConv", 2, 4, inferFusedConv, runFusedConv)
}

// fusedAct is a FusedConv activation: its name and parameters.
type fusedAct struct {
	name   string
	params []float64
}

// fusedActOf reads and checks the activation attributes.
func fusedActOf(n *ir.Node) (fusedAct, error) {
	a := fusedAct{name: n.AttrString("activation", "")}
	for _, f := range n.AttrFloats("activation_params") {
		a.params = append(a.params, float64(f))
	}
	want := map[string][]int{
		"": {0}, "Relu": {0}, "Sigmoid": {0}, "SiLU": {0}, "LeakyRelu": {1},
		"Clip": {2}, "HardSigmoid": {2}, "HardSwish": {0, 2},
	}
	counts, ok := want[a.name]
	if !ok {
		return a, fmt.Errorf("activation %q is not supported (want Relu, Clip, LeakyRelu, HardSigmoid, HardSwish, Sigmoid or SiLU)", a.name)
	}
	for _, c := range counts {
		if len(a.params) == c {
			return a, nil
		}
	}
	return a, fmt.Errorf("activation %q takes %v parameters, activation_params has %d", a.name, counts, len(a.params))
}

// apply returns the activation of x, in float64 as the standalone ops
// compute it; round rounds to the element type, and x·gate(x) rounds the
// gate as the unfused Mul's operand was.
func (a fusedAct) apply(x float64, round func(float64) float64) float64 {
	switch a.name {
	case "Relu":
		if x < 0 {
			return 0
		}
	case "Clip":
		if x < a.params[0] {
			x = a.params[0]
		}
		if x > a.params[1] {
			x = a.params[1]
		}
	case "LeakyRelu":
		if x < 0 {
			return a.params[0] * x
		}
	case "HardSigmoid":
		return hardSigmoid(x, a.params[0], a.params[1])
	case "HardSwish":
		if len(a.params) == 0 {
			return x * hardSigmoid(x, 1.0/6, 0.5) // the HardSwish op
		}
		return x * round(hardSigmoid(x, a.params[0], a.params[1])) // Mul(x, HardSigmoid(x))
	case "Sigmoid":
		return sigmoid(x)
	case "SiLU":
		return x * round(sigmoid(x)) // Mul(x, Sigmoid(x))
	}
	return x
}

func inferFusedConv(n *ir.Node, in []*Arg) ([]Out, error) {
	if _, err := fusedActOf(n); err != nil {
		return nil, err
	}
	p, err := planConv(n, in[:min(3, len(in))])
	if err != nil {
		return nil, err
	}
	if len(in) > 3 && in[3] != nil {
		z := in[3]
		if z.DType != in[0].DType {
			return nil, fmt.Errorf("Z has element type %v, X has %v", z.DType, in[0].DType)
		}
		if !slices.Equal(z.Shape, p.out) {
			return nil, fmt.Errorf("Z has shape %v, want the output's shape %v", z.Shape, p.out)
		}
	}
	if len(n.Outputs) != 1 {
		return nil, fmt.Errorf("has %d outputs, want 1", len(n.Outputs))
	}
	return []Out{{DType: in[0].DType, Shape: p.out}}, nil
}

func runFusedConv(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	act, err := fusedActOf(n)
	if err != nil {
		return err
	}
	if err := runConv(n, in[:min(3, len(in))], out); err != nil {
		return err
	}
	var z *ir.Tensor
	if len(in) > 3 {
		z = in[3]
	}
	switch y := out[0].Data.(type) {
	case []float32:
		var zs []float32
		if z != nil {
			zs = z.F32()
		}
		round := func(v float64) float64 { return float64(float32(v)) }
		for i, v := range y {
			if zs != nil {
				v += zs[i]
			}
			y[i] = float32(act.apply(float64(v), round))
		}
	case []float64:
		var zs []float64
		if z != nil {
			zs = z.F64()
		}
		round := func(v float64) float64 { return v }
		for i, v := range y {
			if zs != nil {
				v += zs[i]
			}
			y[i] = act.apply(v, round)
		}
	}
	return nil
}

// opLabel names a node's op for plan summaries and profiles: a FusedConv
// reads as the ops it replaced ("Conv+Add+Relu"), as the plan's own fusion
// names them, so profiles compare across optimization levels.
func opLabel(n *ir.Node) string {
	if n.Domain != "runinfer" || n.Op != "FusedConv" {
		return n.Op
	}
	s := "Conv"
	if n.Input(3) != "" {
		s += "+Add"
	}
	if a := n.AttrString("activation", ""); a != "" {
		s += "+" + a
	}
	return s
}
