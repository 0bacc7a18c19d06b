package graphopt

import "github.com/runinfer/runinfer/ir"

// EliminateNoopPool removes AveragePool and MaxPool nodes that copy their
// input: a 1×1 window with stride 1, no padding and dilation 1 (exporters
// write one for an adaptive pool whose output size is its input size, as
// AlexNet's 6×6 average pool). A MaxPool whose Indices output is read stays.
func EliminateNoopPool(g *ir.Graph) (bool, error) {
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
		if (n.Op != "AveragePool" && n.Op != "MaxPool") || n.Domain != "" || len(n.Inputs) != 1 {
			return false
		}
		if len(n.Outputs) > 1 && n.Outputs[1] != "" && used[n.Outputs[1]] {
			return false
		}
		if ap := n.AttrString("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" && ap != "" {
			return false
		}
		ks := n.AttrInts("kernel_shape")
		if len(ks) == 0 {
			return false
		}
		for _, name := range []string{"kernel_shape", "strides", "dilations"} {
			for _, v := range n.AttrInts(name) {
				if v != 1 {
					return false
				}
			}
		}
		for _, v := range n.AttrInts("pads") {
			if v != 0 {
				return false
			}
		}
		return true
	})
}
