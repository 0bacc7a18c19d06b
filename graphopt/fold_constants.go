package graphopt

import "github.com/runinfer/runinfer/ir"

// nondeterministic ops are never folded: each run draws new values.
var nondeterministic = map[string]bool{
	"RandomNormal": true, "RandomUniform": true, "RandomNormalLike": true,
	"RandomUniformLike": true, "Multinomial": true, "Bernoulli": true,
}

// FoldConstants replaces nodes whose inputs are all constant by initializers
// holding their outputs (computed with env.Eval), and a Shape node whose
// input has a static shape (from env.Shapes; only the dimensions it returns
// need be static) by its value. Repeated, this
// collapses the Shape→Gather→Unsqueeze→Concat→Reshape chains exporters emit
// into a Reshape to a constant shape whenever the input shape is static.
//
// A node is folded only when each output has at most env.MaxFoldElements
// elements or no more than all its constant inputs together (a Transpose of
// weights folds; a ConstantOfShape to an activation-sized tensor does not).
// Nodes writing a graph output, nodes outside the default domain and
// nondeterministic ones stay; so does any node env.Eval refuses.
func FoldConstants(g *ir.Graph, env *Env) (bool, error) {
	var eval func(n *ir.Node, in []*ir.Tensor, limit int) ([]*ir.Tensor, error)
	if env != nil {
		eval = env.Eval
	}
	shapes := env.shapes(g)
	isOutput := map[string]bool{}
	for _, o := range g.Outputs {
		isOutput[o.Name] = true
	}
	changed := false
	drop := map[*ir.Node]bool{}
	for _, n := range g.Nodes {
		if n.Domain != "" || nondeterministic[n.Op] || len(n.Outputs) == 0 {
			continue
		}
		outputIsGraphOutput := false
		for _, o := range n.Outputs {
			if isOutput[o] {
				outputIsGraphOutput = true
			}
		}
		if outputIsGraphOutput {
			continue
		}
		if n.Op == "Shape" && len(n.Outputs) == 1 {
			if vt, ok := shapes[n.Input(0)]; ok && g.Initializers[n.Input(0)] == nil {
				if t := shapeValue(n, vt.Shape); t != nil {
					g.Initializers[n.Outputs[0]] = t
					drop[n] = true
					changed = true
					continue
				}
			}
		}
		if eval == nil {
			continue
		}
		in := make([]*ir.Tensor, len(n.Inputs))
		size := 0
		allConst := true
		for i, name := range n.Inputs {
			if name == "" {
				continue
			}
			t := g.Initializers[name]
			if t == nil {
				allConst = false
				break
			}
			in[i] = t
			size += t.Len()
		}
		if !allConst {
			continue
		}
		outs, err := eval(n, in, max(size, env.foldCap()))
		if err != nil || len(outs) < len(n.Outputs) {
			continue // left for the runtime to report, or too large
		}
		for i, o := range n.Outputs {
			if o != "" {
				g.Initializers[o] = outs[i]
			}
		}
		drop[n] = true
		changed = true
	}
	dropNodes(g, drop)
	return changed, nil
}

// shapeValue computes Shape's output from the input shape (start and end
// clamped as opset 15 specifies), or returns nil when a dimension it
// returns is not static.
func shapeValue(n *ir.Node, shape []int) *ir.Tensor {
	r := int64(len(shape))
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start, end := clamp(n.AttrInt("start", 0)), clamp(n.AttrInt("end", r))
	vals := []int64{}
	for i := start; i < end; i++ {
		if shape[i] < 0 {
			return nil
		}
		vals = append(vals, int64(shape[i]))
	}
	t, _ := ir.FromInt64([]int{len(vals)}, vals)
	return t
}
