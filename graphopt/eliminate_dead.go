package graphopt

import "github.com/runinfer/runinfer/ir"

// EliminateDead removes nodes none of whose outputs reaches a graph output,
// and initializers that no remaining node reads and that are not outputs.
func EliminateDead(g *ir.Graph) (bool, error) {
	live := map[string]bool{}
	for _, o := range g.Outputs {
		live[o.Name] = true
	}
	keep := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, o := range n.Outputs {
			if o != "" && live[o] {
				keep[i] = true
			}
		}
		if keep[i] {
			for _, in := range n.Inputs {
				live[in] = true
			}
		}
	}
	changed := false
	var nodes []*ir.Node
	for i, n := range g.Nodes {
		if keep[i] {
			nodes = append(nodes, n)
		} else {
			changed = true
		}
	}
	g.Nodes = nodes
	for name := range g.Initializers {
		if !live[name] {
			delete(g.Initializers, name)
			changed = true
		}
	}
	return changed, nil
}
