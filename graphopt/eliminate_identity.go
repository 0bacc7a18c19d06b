package graphopt

import "github.com/runinfer/runinfer/ir"

// EliminateIdentity removes Identity nodes by making their readers read the
// Identity's input. An Identity whose output is a graph output is kept when
// its input is a graph input or another graph output (renaming either would
// change the model's interface); otherwise the producer is renamed to write
// the graph output directly.
func EliminateIdentity(g *ir.Graph) (bool, error) {
	return bypass(g, func(n *ir.Node) bool { return n.Op == "Identity" && n.Domain == "" })
}

// bypass removes single-input pass-through nodes selected by match.
func bypass(g *ir.Graph, match func(*ir.Node) bool) (bool, error) {
	isGraphOutput := map[string]bool{}
	for _, o := range g.Outputs {
		isGraphOutput[o.Name] = true
	}
	isGraphInput := map[string]bool{}
	for _, in := range g.Inputs {
		isGraphInput[in.Name] = true
	}
	changed := false
	var kept []*ir.Node
	for i, n := range g.Nodes {
		if !match(n) || len(n.Outputs) < 1 || n.Input(0) == "" {
			kept = append(kept, n)
			continue
		}
		src, dst := n.Inputs[0], n.Outputs[0]
		if isGraphOutput[dst] {
			prod := producerAmong(g.Nodes[:i], src)
			if prod == nil || isGraphOutput[src] || isGraphInput[src] {
				kept = append(kept, n)
				continue
			}
			// The producer writes the graph output directly; readers of src
			// read dst instead.
			renameValue(g, src, dst)
		} else {
			renameValue(g, dst, src)
		}
		changed = true
	}
	g.Nodes = kept
	return changed, nil
}

func producerAmong(nodes []*ir.Node, value string) *ir.Node {
	for _, n := range nodes {
		for _, o := range n.Outputs {
			if o == value {
				return n
			}
		}
	}
	return nil
}

// renameValue replaces every reference to value from by to, in node inputs
// and outputs.
func renameValue(g *ir.Graph, from, to string) {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == from {
				n.Inputs[i] = to
			}
		}
		for i, o := range n.Outputs {
			if o == from {
				n.Outputs[i] = to
			}
		}
	}
}
