package graphopt

import "github.com/runinfer/runinfer/ir"

// EliminateDropout removes inference-mode Dropout nodes (identity on the
// data) whose mask output is unused. A Dropout with a training_mode input is
// left alone: whether it is identity depends on that input's value.
func EliminateDropout(g *ir.Graph) (bool, error) {
	used := map[string]bool{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			used[in] = true
		}
	}
	for _, o := range g.Outputs {
		used[o.Name] = true
	}
	return bypass(g, func(n *ir.Node) bool {
		if n.Op != "Dropout" || n.Domain != "" || n.Input(2) != "" {
			return false
		}
		return len(n.Outputs) < 2 || n.Outputs[1] == "" || !used[n.Outputs[1]]
	})
}
