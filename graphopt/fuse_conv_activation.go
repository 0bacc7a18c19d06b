package graphopt

import (
	"math"

	"github.com/runinfer/runinfer/ir"
)

// FuseConvActivation fuses an activation into the Conv (or FusedConv
// without one) producing its input, when nothing else reads the Conv's
// output: Relu, Clip with constant bounds (ReLU6), LeakyRelu, HardSigmoid,
// HardSwish, Sigmoid, and the products x·HardSigmoid(x) and x·Sigmoid(x)
// (SiLU) when x feeds only the activation and the Mul. The result is a
// FusedConv node (see FusedConv) at the activation's position.
func FuseConvActivation(g *ir.Graph, _ *Env) (bool, error) {
	u := usesOf(g)
	prod := g.Producers()
	changed := false
	drop := map[*ir.Node]bool{}
	for i, n := range g.Nodes {
		if n.Domain != "" || len(n.Outputs) != 1 || drop[n] {
			continue
		}
		var (
			y      string    // the Conv output the activation reads
			name   string    // activation name
			params []float32 // activation parameters
			extra  *ir.Node  // the gate of x·gate(x), also removed
		)
		switch n.Op {
		case "Mul":
			if len(n.Inputs) != 2 {
				continue
			}
			for side := 0; side < 2 && name == ""; side++ {
				x, s := n.Inputs[side], n.Inputs[1-side]
				gate := prod[s]
				if gate == nil || gate.Domain != "" || gate.Input(0) != x || u.sole(s) != n ||
					u.output[x] || len(u.readers[x]) != 2 || x == s {
					continue
				}
				switch gate.Op {
				case "Sigmoid":
					y, name, extra = x, "SiLU", gate
				case "HardSigmoid":
					y, name, extra = x, "HardSwish", gate
					params = []float32{gate.AttrFloat("alpha", 0.2), gate.AttrFloat("beta", 0.5)}
				}
			}
		default:
			var ok bool
			name, params, ok = activationOf(g, n)
			if !ok {
				continue
			}
			y = n.Inputs[0]
			if u.sole(y) != n {
				continue
			}
		}
		if name == "" {
			continue
		}
		p := prod[y]
		if p == nil || drop[p] || !fusableConv(p, true) || p.Outputs[0] != y {
			continue
		}
		if extra != nil {
			// x·gate(x): x must be read by exactly the gate and the Mul.
			for _, r := range u.readers[y] {
				if r != n && r != extra {
					name = ""
				}
			}
			if name == "" {
				continue
			}
			drop[extra] = true
		}
		f := fusedOf(p)
		f.Outputs = []string{n.Outputs[0]}
		f.SetAttr(ir.StringAttr("activation", name))
		if len(params) > 0 {
			f.SetAttr(&ir.Attr{Name: "activation_params", Type: ir.AttrFloats, Floats: params})
		}
		g.Nodes[i] = f
		drop[p] = true
		changed = true
	}
	dropNodes(g, drop)
	return changed, nil
}

// activationOf names a single-input activation node and its parameters, as
// FusedConv spells them; Clip's bounds must be float32 scalar constants.
func activationOf(g *ir.Graph, n *ir.Node) (string, []float32, bool) {
	if len(n.Inputs) == 0 || n.Inputs[0] == "" {
		return "", nil, false
	}
	switch n.Op {
	case "Relu", "Sigmoid":
		return n.Op, nil, len(n.Inputs) == 1
	case "LeakyRelu":
		return n.Op, []float32{n.AttrFloat("alpha", 0.01)}, len(n.Inputs) == 1
	case "HardSigmoid":
		return n.Op, []float32{n.AttrFloat("alpha", 0.2), n.AttrFloat("beta", 0.5)}, len(n.Inputs) == 1
	case "HardSwish":
		// No parameters: the runtime uses 1/6 and 1/2 exactly, as the op does.
		return n.Op, nil, len(n.Inputs) == 1
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		for j, bound := range []*float32{&lo, &hi} {
			name := n.Input(j + 1)
			if name == "" {
				continue
			}
			t := constF32(g, name)
			if t == nil || t.Len() != 1 {
				return "", nil, false
			}
			*bound = t.F32()[0]
		}
		if !(lo <= hi) {
			return "", nil, false
		}
		return n.Op, []float32{lo, hi}, true
	}
	return "", nil, false
}
