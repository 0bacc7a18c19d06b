package graphopt

import "github.com/runinfer/runinfer/ir"

// SimplifyReshape gives a constant target shape to a Reshape whose shape is
// computed as exporters write a flatten, Concat(Unsqueeze(Gather(Shape(x),
// i)), ..., [-1]), when every dimension it copies keeps its position and is
// the Reshape input's own (x itself, or for the batch dimension a value x
// computes through ops that keep it, such as a global pool):
// those pieces become 0, which Reshape (allowzero 0) reads as "copy the
// input's dimension". So the chain disappears even when the dimension is a
// symbolic batch size that constant folding cannot know. The rewritten
// Reshape reads a new int64 initializer; the chain, if nothing else reads
// it, is left to EliminateDead.
func SimplifyReshape(g *ir.Graph, _ *Env) (bool, error) {
	prod := g.Producers()
	changed := false
	for _, r := range g.Nodes {
		if r.Op != "Reshape" || r.Domain != "" || len(r.Inputs) != 2 || r.AttrInt("allowzero", 0) != 0 {
			continue
		}
		if g.Initializers[r.Inputs[1]] != nil {
			continue
		}
		c := prod[r.Inputs[1]]
		if c == nil || c.Op != "Concat" || c.Domain != "" || c.AttrInt("axis", 0) != 0 {
			continue
		}
		var shape []int64
		ok := true
		for _, in := range c.Inputs {
			if t := g.Initializers[in]; t != nil {
				v, err := t.Int64s()
				if err != nil || t.DType != ir.Int64 || len(t.Shape) != 1 {
					ok = false
					break
				}
				shape = append(shape, v...)
				continue
			}
			i, src := copiedDim(g, prod, in)
			if src == "" || i != int64(len(shape)) || !sameDim(prod, r.Inputs[0], src, i) {
				ok = false
				break
			}
			shape = append(shape, 0)
		}
		if !ok {
			continue
		}
		name := newName(g, r.Inputs[1]+"_const")
		t, err := ir.FromInt64([]int{len(shape)}, shape)
		if err != nil {
			continue
		}
		g.Initializers[name] = t
		r.Inputs[1] = name
		changed = true
	}
	return changed, nil
}

// keepsBatch are ops whose output has their first input's dimension 0.
var keepsBatch = map[string]bool{
	"Conv": true, "MaxPool": true, "AveragePool": true, "GlobalAveragePool": true,
	"GlobalMaxPool": true, "BatchNormalization": true, "Relu": true, "Clip": true,
	"LeakyRelu": true, "Sigmoid": true, "HardSigmoid": true, "HardSwish": true,
	"Tanh": true, "Identity": true, "Dropout": true, "LRN": true,
	"InstanceNormalization": true, "Elu": true, "Selu": true,
}

// sameDim reports whether dimension i of x is dimension i of src: x is src,
// or (for i = 0, the batch) x is computed from src through ops that keep
// dimension 0 (GlobalAveragePool, Conv, Relu, ...).
func sameDim(prod map[string]*ir.Node, x, src string, i int64) bool {
	for step := 0; step < 64; step++ {
		if x == src {
			return true
		}
		n := prod[x]
		if i != 0 || n == nil || n.Domain != "" || !keepsBatch[n.Op] || len(n.Outputs) == 0 || n.Outputs[0] != x {
			return false
		}
		x = n.Input(0)
	}
	return false
}

// copiedDim recognizes a one-element int64 value that is dimension i of x:
// Gather(Shape(x), [i]) or Unsqueeze(Gather(Shape(x), i), [0]) with
// constant indices (i >= 0; Shape without start or end). It returns x, or
// "" when value is something else.
func copiedDim(g *ir.Graph, prod map[string]*ir.Node, value string) (int64, string) {
	n := prod[value]
	if n == nil || n.Domain != "" {
		return 0, ""
	}
	scalar := false
	if n.Op == "Unsqueeze" {
		axes := g.Initializers[n.Input(1)]
		if axes == nil || len(n.Inputs) != 2 {
			return 0, ""
		}
		if a, err := axes.Int64s(); err != nil || len(a) != 1 || a[0] != 0 {
			return 0, ""
		}
		scalar = true
		if n = prod[n.Inputs[0]]; n == nil || n.Domain != "" {
			return 0, ""
		}
	}
	if n.Op != "Gather" || n.AttrInt("axis", 0) != 0 || len(n.Inputs) != 2 {
		return 0, ""
	}
	idx := g.Initializers[n.Inputs[1]]
	if idx == nil || (scalar && len(idx.Shape) != 0) || (!scalar && (len(idx.Shape) != 1 || idx.Shape[0] != 1)) {
		return 0, ""
	}
	v, err := idx.Int64s()
	if err != nil || len(v) != 1 || v[0] < 0 {
		return 0, ""
	}
	s := prod[n.Inputs[0]]
	if s == nil || s.Op != "Shape" || s.Domain != "" || s.HasAttr("start") || s.HasAttr("end") {
		return 0, ""
	}
	return v[0], s.Inputs[0]
}
