package graphopt

import "github.com/runinfer/runinfer/ir"

// EliminateDead removes nodes none of whose outputs reaches a graph output,
// and initializers that no remaining node reads and that are not outputs.
// Declared types (ValueInfos) of values no longer in the graph are dropped
// too, so a saved model declares only values it has.
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
	defined := map[string]bool{}
	for _, in := range g.Inputs {
		defined[in.Name] = true
	}
	for name := range g.Initializers {
		defined[name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			defined[o] = true
		}
	}
	for name := range g.ValueInfos {
		if !defined[name] {
			delete(g.ValueInfos, name)
		}
	}
	return changed, nil
}
