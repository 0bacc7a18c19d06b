package ir

import (
	"fmt"
	"sort"
)

// ValueInfo declares a named value's element type and static shape.
type ValueInfo struct {
	Name  string
	DType DType
	Shape Shape
	Doc   string
}

func (v *ValueInfo) String() string { return fmt.Sprintf("%s: %v%v", v.Name, v.DType, v.Shape) }

// Node is one operator application. Inputs and Outputs name values; an empty
// input name marks an omitted optional input, as in ONNX.
type Node struct {
	Name    string
	Op      string
	Domain  string // "" is the default ONNX domain
	Inputs  []string
	Outputs []string
	Attrs   map[string]*Attr
	Doc     string
}

// Describe names the node for error messages: its op, and its name when set.
func (n *Node) Describe() string {
	if n.Name != "" {
		return fmt.Sprintf("%s node %q", n.Op, n.Name)
	}
	if len(n.Outputs) > 0 {
		return fmt.Sprintf("%s node (output %q)", n.Op, n.Outputs[0])
	}
	return n.Op + " node"
}

// Input returns input i's name, or "" when it is absent.
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// Graph is a computation graph: inputs, initializers (constant tensors),
// nodes and outputs, plus the model-level metadata needed to write it back.
type Graph struct {
	Name   string
	Doc    string
	Inputs []*ValueInfo // the values a caller must feed (initializers excluded)
	// Outputs are the graph's results, in order.
	Outputs []*ValueInfo
	// Initializers holds constant tensors by value name.
	Initializers map[string]*Tensor
	// ValueInfos holds declared types of intermediate values, when known.
	ValueInfos map[string]*ValueInfo
	Nodes      []*Node
}

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph {
	return &Graph{Name: name, Initializers: map[string]*Tensor{}, ValueInfos: map[string]*ValueInfo{}}
}

// Model is a graph with the model-level data of an ONNX file.
type Model struct {
	Graph *Graph
	// Opsets maps each operator domain to the opset version the model was
	// written for (informational: the IR itself follows CanonicalOpset).
	Opsets          map[string]int64
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	Doc             string
	Metadata        map[string]string
}

// InitializerNames returns the initializer names sorted, for deterministic output.
func (g *Graph) InitializerNames() []string {
	names := make([]string, 0, len(g.Initializers))
	for n := range g.Initializers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Producers maps every value produced by a node to that node.
func (g *Graph) Producers() map[string]*Node {
	m := make(map[string]*Node, len(g.Nodes))
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				m[o] = n
			}
		}
	}
	return m
}

// Consumers maps every value to the nodes that read it, in node order.
func (g *Graph) Consumers() map[string][]*Node {
	m := map[string][]*Node{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				m[in] = append(m[in], n)
			}
		}
	}
	return m
}

// Validate checks that every value is defined exactly once (graph input,
// initializer or node output), that every node input and graph output refers
// to a defined value, and that the nodes form no cycle. On success it reorders
// g.Nodes topologically (stable with respect to the original order).
func (g *Graph) Validate() error {
	defined := map[string]string{}
	for _, in := range g.Inputs {
		if in.Name == "" {
			return fmt.Errorf("graph input with an empty name")
		}
		if _, dup := defined[in.Name]; dup {
			return fmt.Errorf("graph input %q declared twice", in.Name)
		}
		defined[in.Name] = "graph input"
	}
	for name := range g.Initializers {
		if what, dup := defined[name]; dup {
			return fmt.Errorf("initializer %q is also a %s", name, what)
		}
		defined[name] = "initializer"
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if what, dup := defined[o]; dup {
				return fmt.Errorf("%s: output %q is already defined as a %s", n.Describe(), o, what)
			}
			defined[o] = "node output"
		}
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" && defined[in] == "" {
				return fmt.Errorf("%s: input %q is not defined by any node, initializer or graph input", n.Describe(), in)
			}
		}
	}
	for _, o := range g.Outputs {
		if defined[o.Name] == "" {
			return fmt.Errorf("graph output %q is not produced by any node, initializer or graph input", o.Name)
		}
	}
	return g.sortNodes()
}

// sortNodes orders nodes so each comes after the producers of its inputs
// (Kahn's algorithm, taking the earliest ready node first), and reports a cycle.
func (g *Graph) sortNodes() error {
	prod := map[string]int{}
	for i, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				prod[o] = i
			}
		}
	}
	indeg := make([]int, len(g.Nodes))
	users := make([][]int, len(g.Nodes))
	for i, n := range g.Nodes {
		seen := map[int]bool{}
		for _, in := range n.Inputs {
			p, ok := prod[in]
			if !ok || in == "" || seen[p] {
				continue
			}
			seen[p] = true
			indeg[i]++
			users[p] = append(users[p], i)
		}
	}
	// A min-heap would be O(n log n); a sorted ready list keeps original order
	// and graphs are small enough that the simple version is fine.
	var ready []int
	for i := range g.Nodes {
		if indeg[i] == 0 {
			ready = append(ready, i)
		}
	}
	order := make([]*Node, 0, len(g.Nodes))
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		order = append(order, g.Nodes[i])
		added := false
		for _, u := range users[i] {
			indeg[u]--
			if indeg[u] == 0 {
				ready = append(ready, u)
				added = true
			}
		}
		if added {
			sort.Ints(ready)
		}
	}
	if len(order) != len(g.Nodes) {
		for i, d := range indeg {
			if d > 0 {
				return fmt.Errorf("the graph has a cycle through %s", g.Nodes[i].Describe())
			}
		}
	}
	g.Nodes = order
	return nil
}

// Clone returns a copy of g that can be rewritten without touching g: the
// node list, each node's input, output and attribute lists, the value
// declarations and the initializer map are copied. Tensors and attribute
// values are shared, so a rewrite must replace them, never modify them.
func (g *Graph) Clone() *Graph {
	c := &Graph{Name: g.Name, Doc: g.Doc,
		Initializers: make(map[string]*Tensor, len(g.Initializers)),
		ValueInfos:   make(map[string]*ValueInfo, len(g.ValueInfos)),
	}
	for _, vi := range g.Inputs {
		v := *vi
		c.Inputs = append(c.Inputs, &v)
	}
	for _, vi := range g.Outputs {
		v := *vi
		c.Outputs = append(c.Outputs, &v)
	}
	for k, t := range g.Initializers {
		c.Initializers[k] = t
	}
	for k, vi := range g.ValueInfos {
		v := *vi
		c.ValueInfos[k] = &v
	}
	c.Nodes = make([]*Node, len(g.Nodes))
	for i, n := range g.Nodes {
		nc := *n
		nc.Inputs = append([]string(nil), n.Inputs...)
		nc.Outputs = append([]string(nil), n.Outputs...)
		if n.Attrs != nil {
			nc.Attrs = make(map[string]*Attr, len(n.Attrs))
			for k, a := range n.Attrs {
				nc.Attrs[k] = a
			}
		}
		c.Nodes[i] = &nc
	}
	return c
}
