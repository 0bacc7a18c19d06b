package train

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/ir"
)

// Head is a classifier's final layer: the Gemm, MatMul (with the Add of
// its bias) or 1×1 Conv whose output, through shape and activation ops
// only, is the model's first output (the logits).
type Head struct {
	// Node is the Gemm, MatMul or Conv node.
	Node *ir.Node
	// Weight and Bias name its initializers (Bias is empty when the
	// layer has none).
	Weight, Bias string
	// BiasAdd is the Add node holding a MatMul head's bias (nil
	// otherwise).
	BiasAdd *ir.Node
	// Features is the number of input features (the fan-in) and Classes
	// the number of outputs.
	Features, Classes int
	// After lists the nodes from the layer's output to the graph's
	// output (Flatten, Reshape, Softmax, activations, pooling, Identity),
	// in graph order.
	After []*ir.Node
}

// Params returns the names of the head's initializers.
func (h *Head) Params() []string {
	if h.Bias == "" {
		return []string{h.Weight}
	}
	return []string{h.Weight, h.Bias}
}

// passThrough are the ops FindHead looks through between the classifier
// layer and the output: they keep the class axis.
var passThrough = map[string]bool{
	"Identity": true, "Flatten": true, "Reshape": true, "Squeeze": true, "Unsqueeze": true,
	"Softmax": true, "LogSoftmax": true, "Relu": true, "LeakyRelu": true, "Clip": true, "Sigmoid": true,
	"Dropout": true, "GlobalAveragePool": true, "GlobalMaxPool": true, "AveragePool": true, "MaxPool": true,
}

// FindHead finds the final classifier layer of g: walking back from the
// first output through the ops of a classifier's tail (Flatten, Reshape,
// Squeeze, Softmax, LogSoftmax, Relu, Clip, Dropout, pooling, Identity) and
// at most one Add of a constant bias, to a Gemm or MatMul with a constant
// weight or a 1×1, ungrouped Conv with a constant weight.
func FindHead(g *ir.Graph) (*Head, error) {
	if g == nil || len(g.Outputs) == 0 {
		return nil, errors.New("train: the model has no output")
	}
	prod := g.Producers()
	h := &Head{}
	var addBias string
	v := g.Outputs[0].Name
	for steps := 0; ; steps++ {
		if steps > len(g.Nodes) {
			return nil, errors.New("train: the graph has a cycle")
		}
		n := prod[v]
		if n == nil {
			return nil, fmt.Errorf("train: no classifier layer (Gemm, MatMul or 1×1 Conv with constant weights) before output %q", g.Outputs[0].Name)
		}
		switch {
		case n.Domain == "" && passThrough[n.Op]:
			h.After = append(h.After, n)
			v = n.Input(0)
			continue
		case n.Domain == "" && n.Op == "Add" && h.BiasAdd == nil:
			a, b := n.Input(0), n.Input(1)
			_, ca := g.Initializers[a]
			_, cb := g.Initializers[b]
			if ca == cb {
				return nil, fmt.Errorf("train: %s before output %q is not the Add of a constant bias; no classifier layer found", n.Describe(), g.Outputs[0].Name)
			}
			if ca {
				a, b = b, a
			}
			h.BiasAdd, addBias = n, b
			h.After = append(h.After, n)
			v = a
			continue
		}
		if err := h.setLayer(g, n); err != nil {
			return nil, err
		}
		break
	}
	slices.Reverse(h.After)
	if h.BiasAdd != nil {
		t := g.Initializers[addBias]
		if t.Len() != h.Classes || t.DType != ir.Float32 && t.DType != ir.Float16 && t.DType != ir.Float64 {
			return nil, fmt.Errorf("train: %s adds %v, not a bias of the %d classes of %s", h.BiasAdd.Describe(), t, h.Classes, h.Node.Describe())
		}
		if h.Bias != "" {
			return nil, fmt.Errorf("train: %s has a bias and %s adds another; not a classifier head this package can replace", h.Node.Describe(), h.BiasAdd.Describe())
		}
		h.Bias = addBias
	}
	// Only the head may change: its initializers must not feed other nodes.
	cons := g.Consumers()
	for _, p := range h.Params() {
		if len(cons[p]) > 1 {
			return nil, fmt.Errorf("train: the head's initializer %q is also read by %s", p, cons[p][1].Describe())
		}
	}
	return h, nil
}

// setLayer checks that n is a classifier layer and fills the head from it.
func (h *Head) setLayer(g *ir.Graph, n *ir.Node) error {
	h.Node = n
	w, ok := g.Initializers[n.Input(1)]
	if n.Domain != "" || (n.Op != "Gemm" && n.Op != "MatMul" && n.Op != "Conv") {
		return fmt.Errorf("train: the logits come from %s, not from a Gemm, MatMul or 1×1 Conv (the layers --head can replace)", n.Describe())
	}
	if !ok {
		return fmt.Errorf("train: %s has no constant weight (input %q is computed)", n.Describe(), n.Input(1))
	}
	if !w.DType.IsFloat() {
		return fmt.Errorf("train: %s has a %v weight", n.Describe(), w.DType)
	}
	h.Weight = n.Input(1)
	switch n.Op {
	case "Gemm":
		if len(w.Shape) != 2 {
			return fmt.Errorf("train: %s weight has shape %v, want 2-D", n.Describe(), w.Shape)
		}
		h.Features, h.Classes = w.Shape[0], w.Shape[1]
		if n.AttrInt("transB", 0) != 0 {
			h.Features, h.Classes = w.Shape[1], w.Shape[0]
		}
		if c := n.Input(2); c != "" {
			if _, ok := g.Initializers[c]; !ok {
				return fmt.Errorf("train: %s has a computed bias %q", n.Describe(), c)
			}
			h.Bias = c
		}
	case "MatMul":
		if len(w.Shape) != 2 {
			return fmt.Errorf("train: %s weight has shape %v, want 2-D", n.Describe(), w.Shape)
		}
		h.Features, h.Classes = w.Shape[0], w.Shape[1]
	case "Conv":
		if len(w.Shape) < 3 {
			return fmt.Errorf("train: %s weight has shape %v", n.Describe(), w.Shape)
		}
		for _, k := range w.Shape[2:] {
			if k != 1 {
				return fmt.Errorf("train: the logits come from %s with a %v kernel; only a 1×1 Conv can be replaced", n.Describe(), w.Shape[2:])
			}
		}
		if gr := n.AttrInt("group", 1); gr != 1 {
			return fmt.Errorf("train: the logits come from %s with %d groups; only an ungrouped Conv can be replaced", n.Describe(), gr)
		}
		h.Classes, h.Features = w.Shape[0], w.Shape[1]
		if c := n.Input(2); c != "" {
			if _, ok := g.Initializers[c]; !ok {
				return fmt.Errorf("train: %s has a computed bias %q", n.Describe(), c)
			}
			h.Bias = c
		}
	}
	if h.Classes < 1 || h.Features < 1 {
		return fmt.Errorf("train: %s weight has shape %v", n.Describe(), w.Shape)
	}
	if h.Bias != "" && g.Initializers[h.Bias].Len() != h.Classes && g.Initializers[h.Bias].Len() != 1 {
		return fmt.Errorf("train: %s bias %q has %d values for %d classes", n.Describe(), h.Bias, g.Initializers[h.Bias].Len(), h.Classes)
	}
	return nil
}

// MaxHeadClasses bounds the class count ReplaceHead accepts.
const MaxHeadClasses = 1 << 20

// ReplaceHead replaces the final classifier layer of m (see FindHead) by a
// freshly initialised one with n outputs, as PyTorch initialises a new
// nn.Linear or nn.Conv2d: weights and bias uniform in ±1/√fan_in (the
// kaiming-uniform rule with a = √5). A MatMul head without a bias gets an
// Add of one; a Gemm's alpha and beta become 1. The weight and bias keep
// their names. m is changed in place: constant Reshape shapes after the
// layer that spell the old class count get n, the first output's declared
// class dimension becomes n, declarations of the values in between are
// dropped (they are re-inferred), and the runinfer.labels metadata, which
// named the old classes, is removed. It returns the new head.
func ReplaceHead(m *ir.Model, n int, rng *rand.Rand) (*Head, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("train: nil model")
	}
	if n < 1 || n > MaxHeadClasses {
		return nil, fmt.Errorf("train: a head for %d classes (want 1 to %d)", n, MaxHeadClasses)
	}
	if rng == nil {
		return nil, errors.New("train: ReplaceHead needs a random source")
	}
	g := m.Graph
	h, err := FindHead(g)
	if err != nil {
		return nil, err
	}
	old := h.Classes
	k := h.Features
	bound := 1 / math.Sqrt(float64(k))
	dt := g.Initializers[h.Weight].DType // the new tensors keep the model's float type
	uniform := func(shape []int) (*ir.Tensor, error) {
		t, err := ir.NewTensor(dt, shape)
		if err != nil {
			return nil, fmt.Errorf("train: the new head's weight %v: %w", shape, err)
		}
		for i := range t.Len() {
			x := (2*rng.Float64() - 1) * bound
			switch v := t.Data.(type) {
			case []float32:
				v[i] = float32(x)
			case []float64:
				v[i] = x
			case []uint16:
				if dt == ir.BFloat16 {
					v[i] = ir.Float32ToBFloat16(float32(x))
				} else {
					v[i] = ir.Float32ToFloat16(float32(x))
				}
			default:
				return nil, fmt.Errorf("train: cannot make a %v weight", dt)
			}
		}
		return t, nil
	}
	var wShape []int
	switch h.Node.Op {
	case "Gemm":
		wShape = []int{k, n}
		if h.Node.AttrInt("transB", 0) != 0 {
			wShape = []int{n, k}
		}
	case "MatMul":
		wShape = []int{k, n}
	case "Conv":
		wShape = append([]int{n, k}, g.Initializers[h.Weight].Shape[2:]...)
	}
	w, err := uniform(wShape)
	if err != nil {
		return nil, err
	}
	b, err := uniform([]int{n})
	if err != nil {
		return nil, err
	}
	g.Initializers[h.Weight] = w
	switch {
	case h.Bias != "":
		g.Initializers[h.Bias] = b
	case h.Node.Op == "MatMul":
		h.Bias = freshName(g, h.Weight+".bias")
		g.Initializers[h.Bias] = b
		out := h.Node.Outputs[0]
		mid := freshName(g, out+".matmul")
		h.Node.Outputs[0] = mid
		h.BiasAdd = &ir.Node{Name: freshNodeName(g, h.Node.Name+"_bias"), Op: "Add", Inputs: []string{mid, h.Bias}, Outputs: []string{out}}
		i := slices.Index(g.Nodes, h.Node)
		g.Nodes = slices.Insert(g.Nodes, i+1, h.BiasAdd)
		h.After = append([]*ir.Node{h.BiasAdd}, h.After...)
	default: // Gemm or Conv without a bias: add the optional input
		h.Bias = freshName(g, h.Weight+".bias")
		g.Initializers[h.Bias] = b
		for len(h.Node.Inputs) < 3 {
			h.Node.Inputs = append(h.Node.Inputs, "")
		}
		h.Node.Inputs[2] = h.Bias
	}
	if h.Node.Op == "Gemm" {
		h.Node.SetAttr(ir.FloatAttr("alpha", 1))
		h.Node.SetAttr(ir.FloatAttr("beta", 1))
	}
	h.Classes = n

	// Shapes after the layer.
	cons := g.Consumers()
	for _, a := range h.After {
		if a.Op == "Reshape" {
			if err := fixReshape(g, cons, a, old, n); err != nil {
				return nil, err
			}
		}
	}
	for _, v := range append([]string{h.Node.Outputs[0]}, outputsOf(h.After)...) {
		delete(g.ValueInfos, v)
	}
	out := g.Outputs[0]
	if out.Shape.Ranked {
		axis := -1
		for i, d := range out.Shape.Dims {
			if d.Known() && d.Size == int64(old) && (axis < 0 || i == 1) {
				axis = i
			}
		}
		if axis >= 0 {
			out.Shape.Dims = slices.Clone(out.Shape.Dims)
			out.Shape.Dims[axis] = ir.KnownDim(int64(n))
		}
	}
	if m.Metadata != nil {
		delete(m.Metadata, imageprep.MetaLabels)
	}
	return h, nil
}

func outputsOf(nodes []*ir.Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Outputs...)
	}
	return out
}

// fixReshape rewrites the constant shape of a Reshape after the head whose
// entries spell the old class count.
func fixReshape(g *ir.Graph, cons map[string][]*ir.Node, r *ir.Node, old, n int) error {
	name := r.Input(1)
	t, ok := g.Initializers[name]
	if !ok {
		return nil // computed (from Shape): follows by itself
	}
	v, err := t.Int64s()
	if err != nil {
		return fmt.Errorf("train: %s shape: %w", r.Describe(), err)
	}
	if !slices.Contains(v, int64(old)) || old == n {
		return nil
	}
	nv := slices.Clone(v)
	for i, x := range nv {
		if x == int64(old) {
			nv[i] = int64(n)
		}
	}
	nt, err := ir.FromInt64(slices.Clone(t.Shape), nv)
	if err != nil {
		return fmt.Errorf("train: %s shape: %w", r.Describe(), err)
	}
	if len(cons[name]) > 1 { // shared: give this Reshape its own
		name = freshName(g, name+".head")
		r.Inputs[1] = name
	}
	g.Initializers[name] = nt
	return nil
}

// freshName returns base, or base with a numeric suffix, unused as a value
// name in g.
func freshName(g *ir.Graph, base string) string {
	used := map[string]bool{}
	for k := range g.Initializers {
		used[k] = true
	}
	for _, vi := range g.Inputs {
		used[vi.Name] = true
	}
	for _, nd := range g.Nodes {
		for _, o := range nd.Outputs {
			used[o] = true
		}
	}
	name := base
	for i := 1; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}

func freshNodeName(g *ir.Graph, base string) string {
	base = strings.TrimPrefix(base, "_")
	if base == "" {
		base = "head_bias"
	}
	used := map[string]bool{}
	for _, nd := range g.Nodes {
		used[nd.Name] = true
	}
	name := base
	for i := 1; used[name]; i++ {
		name = fmt.Sprintf("%s_%d", base, i)
	}
	return name
}
