package graphopt

import (
	"slices"

	"github.com/runinfer/runinfer/ir"
)

// FusedConv is the runtime-only operator (domain "runinfer") that All
// fuses a Conv into, after onnxruntime's com.microsoft FusedConv:
//
//	Y = activation(Conv(X, W, B) + Z)
//
// with the inputs X, W, optional B and optional Z (a residual of Y's shape)
// and the Conv's attributes plus "activation" (a string: "Relu", "Clip",
// "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid" or "SiLU"; absent for
// none) and "activation_params" (floats: Clip's min and max, LeakyRelu's
// alpha, HardSigmoid's and HardSwish's alpha and beta, where HardSwish is
// x·HardSigmoid(x) and defaults to 1/6 and 1/2). The runtime's reference implementation and its fast
// path (simd's fused epilogue) both run it.
const FusedConv = "FusedConv"

// FuseConvAdd fuses a residual Add into the Conv producing one of its
// operands, when nothing else reads the Conv's output and both operands and
// the sum have one shape (from env.Shapes; dimensions that are not static
// must sit at the same positions: the batch). The Add's position in the
// graph is where the fused node runs, so the residual is computed by then.
// An activation after the Add is fused by FuseConvActivation.
func FuseConvAdd(g *ir.Graph, env *Env) (bool, error) {
	shapes := env.shapes(g)
	if shapes == nil {
		return false, nil
	}
	u := usesOf(g)
	prod := g.Producers()
	changed := false
	drop := map[*ir.Node]bool{}
	for i, n := range g.Nodes {
		if n.Op != "Add" || n.Domain != "" || len(n.Inputs) != 2 || len(n.Outputs) != 1 {
			continue
		}
		for side := 0; side < 2; side++ {
			y, z := n.Inputs[side], n.Inputs[1-side]
			p := prod[y]
			if p == nil || drop[p] || !fusableConv(p, false) || u.sole(y) != n || y == z {
				continue
			}
			ty, okY := shapes[y]
			tz, okZ := shapes[z]
			ts, okS := shapes[n.Outputs[0]]
			if !okY || !okZ || !okS || len(ty.Shape) < 3 || ty.DType != tz.DType ||
				!slices.Equal(ty.Shape, tz.Shape) || !slices.Equal(ty.Shape, ts.Shape) {
				continue
			}
			f := fusedOf(p)
			for len(f.Inputs) < 3 {
				f.Inputs = append(f.Inputs, "")
			}
			f.Inputs = append(f.Inputs[:3], z)
			f.Outputs = []string{n.Outputs[0]}
			g.Nodes[i] = f
			drop[p] = true
			changed = true
			break
		}
	}
	dropNodes(g, drop)
	return changed, nil
}

// fusableConv reports whether n is a Conv, or a FusedConv that has no
// activation yet (and, unless withZ, no residual).
func fusableConv(n *ir.Node, withZ bool) bool {
	switch {
	case n.Domain == "" && n.Op == "Conv":
		return len(n.Outputs) == 1
	case n.Domain == Domain && n.Op == FusedConv:
		return len(n.Outputs) == 1 && !n.HasAttr("activation") && (withZ || n.Input(3) == "")
	}
	return false
}

// fusedOf returns a new FusedConv node computing what Conv (or FusedConv) n
// does, with n's name, inputs, outputs and attributes (copied lists).
func fusedOf(n *ir.Node) *ir.Node {
	f := &ir.Node{Name: n.Name, Op: FusedConv, Domain: Domain, Doc: n.Doc,
		Inputs:  slices.Clone(n.Inputs),
		Outputs: slices.Clone(n.Outputs),
		Attrs:   make(map[string]*ir.Attr, len(n.Attrs)+2),
	}
	for k, a := range n.Attrs {
		f.Attrs[k] = a
	}
	return f
}
