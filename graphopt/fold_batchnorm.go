package graphopt

import (
	"math"

	"github.com/runinfer/runinfer/ir"
)

// FoldBatchNorm removes inference BatchNormalization nodes. y = (x − mean)
// · scale / √(var + ε) + B is y = x·a + b per channel; when x is the output
// of a Conv or Gemm that nothing else reads, with float32 constant weights
// and bias, a scales the weights of each output channel and the bias becomes
// bias·a + b (new initializers: the originals may be shared). Otherwise the
// BatchNormalization becomes Mul(x, a) then Add(·, b) with a and b shaped
// [C, 1, ...] to broadcast over the channel axis (when x's rank is known).
// Only nodes with constant float32 parameters whose extra (training)
// outputs are unused are rewritten.
func FoldBatchNorm(g *ir.Graph, env *Env) (bool, error) {
	u := usesOf(g)
	prod := g.Producers()
	var shapes map[string]ValueType
	shapesDone := false
	changed := false
	drop := map[*ir.Node]bool{}
	var nodes []*ir.Node
	for _, n := range g.Nodes {
		if n.Op != "BatchNormalization" || n.Domain != "" || n.AttrInt("training_mode", 0) != 0 ||
			len(n.Inputs) != 5 || len(n.Outputs) == 0 || !u.onlyFirstOutputUsed(n) {
			nodes = append(nodes, n)
			continue
		}
		a, b, ok := bnAffine(g, n)
		if !ok {
			nodes = append(nodes, n)
			continue
		}
		x, y := n.Inputs[0], n.Outputs[0]
		if p := prod[x]; p != nil && u.sole(x) == n && p.Outputs[0] == x && !u.output[x] &&
			(p.Op == "Conv" || p.Op == "Gemm") && scaleShift(g, p, a, b) {
			p.Outputs[0] = y
			drop[n] = true
			changed = true
			continue
		}
		if !shapesDone {
			shapes, shapesDone = env.shapes(g), true
		}
		r := rankOf(g, shapes, prod[x], x)
		if r < 2 {
			nodes = append(nodes, n)
			continue
		}
		shape := make([]int, r-1)
		for i := range shape {
			shape[i] = 1
		}
		shape[0] = len(a)
		af, bf := make([]float32, len(a)), make([]float32, len(b))
		for i := range a {
			af[i], bf[i] = float32(a[i]), float32(b[i])
		}
		base := n.Name
		if base == "" {
			base = y
		}
		scale := newName(g, base+"_scale")
		g.Initializers[scale], _ = ir.FromFloat32(shape, af)
		shift := newName(g, base+"_shift")
		g.Initializers[shift], _ = ir.FromFloat32(append([]int(nil), shape...), bf)
		mid := newName(g, base+"_scaled")
		nodes = append(nodes,
			&ir.Node{Name: base + "_scale", Op: "Mul", Inputs: []string{x, scale}, Outputs: []string{mid}},
			&ir.Node{Name: base + "_shift", Op: "Add", Inputs: []string{mid, shift}, Outputs: []string{y}})
		changed = true
	}
	g.Nodes = nodes
	dropNodes(g, drop)
	return changed, nil
}

// bnAffine returns a BatchNormalization's per-channel a and b, when its
// parameters are float32 constants of one length.
func bnAffine(g *ir.Graph, n *ir.Node) (a, b []float64, ok bool) {
	var p [4][]float32
	for i := range p {
		t := constF32(g, n.Inputs[1+i])
		if t == nil || len(t.Shape) != 1 {
			return nil, nil, false
		}
		p[i] = t.F32()
		if len(p[i]) != len(p[0]) {
			return nil, nil, false
		}
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	c := len(p[0])
	a, b = make([]float64, c), make([]float64, c)
	for i := range c {
		a[i] = float64(p[0][i]) / math.Sqrt(float64(p[3][i])+eps)
		b[i] = float64(p[1][i]) - float64(p[2][i])*a[i]
	}
	return a, b, true
}
