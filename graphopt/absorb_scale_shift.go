package graphopt

import "github.com/runinfer/runinfer/ir"

// AbsorbScaleShift folds a per-channel constant Mul, Add, Sub (constant
// subtracted) or Div (by a constant) applied to the output of a Conv or Gemm
// into that node's weights and bias, when nothing else reads the output and
// the constant broadcasts to one value per output channel at most (a
// scalar, [M, 1, ...] or [1, M, 1, ...] after a Conv; [M] or [1, M] after a
// Gemm), so the result keeps the Conv's shape. The Conv's or Gemm's weights
// and bias must be float32 initializers; new ones are created.
func AbsorbScaleShift(g *ir.Graph, _ *Env) (bool, error) {
	changed := false
	// A chain (Conv, Mul, Add, ...) folds one op per sweep.
	for absorbSweep(g) {
		changed = true
	}
	return changed, nil
}

func absorbSweep(g *ir.Graph) bool {
	u := usesOf(g)
	prod := g.Producers()
	changed := false
	drop := map[*ir.Node]bool{}
	for _, n := range g.Nodes {
		if n.Domain != "" || len(n.Inputs) != 2 || len(n.Outputs) != 1 {
			continue
		}
		switch n.Op {
		case "Mul", "Add", "Sub", "Div":
		default:
			continue
		}
		for side := 0; side < 2; side++ {
			x, c := n.Inputs[side], n.Inputs[1-side]
			if side == 1 && (n.Op == "Sub" || n.Op == "Div") {
				break // c − y and c / y are not affine in y per channel
			}
			p := prod[x]
			if p == nil || drop[p] || p.Domain != "" || (p.Op != "Conv" && p.Op != "Gemm") ||
				p.Outputs[0] != x || u.sole(x) != n || x == c {
				continue
			}
			ct := constF32(g, c)
			if ct == nil {
				continue
			}
			rank, m := 2, 0
			if w := constF32(g, p.Input(1)); w != nil && len(w.Shape) >= 2 {
				switch {
				case p.Op == "Conv":
					rank, m = len(w.Shape), w.Shape[0]
				case p.AttrInt("transB", 0) != 0:
					m = w.Shape[0]
				default:
					m = w.Shape[1]
				}
			}
			if m == 0 {
				continue
			}
			v, ok := perChannel(ct, rank, m)
			if !ok {
				continue
			}
			var a, b []float64
			switch n.Op {
			case "Mul":
				a = v
			case "Div":
				a = v
				for i := range a {
					if a[i] == 0 {
						a = nil // x/0 stays a division
						break
					}
					a[i] = 1 / a[i]
				}
				if a == nil {
					continue
				}
			case "Add":
				b = v
			case "Sub":
				b = v
				for i := range b {
					b[i] = -b[i]
				}
			}
			if !scaleShift(g, p, a, b) {
				continue
			}
			p.Outputs[0] = n.Outputs[0]
			drop[n] = true
			changed = true
			break
		}
	}
	dropNodes(g, drop)
	return changed
}
