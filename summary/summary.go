package summary

import (
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/runtime"
)

// Summary describes a model layer by layer for one set of input shapes.
type Summary struct {
	// Name is the graph's name.
	Name string
	// Inputs are the graph inputs with the shapes the summary used.
	Inputs []Value
	// Outputs are the graph outputs with their inferred shapes.
	Outputs []Value
	// Layers holds one entry per node, in execution (topological) order.
	Layers []Layer
	// Params is the sum of the layers' parameters: the float elements of
	// the initializers that nodes read, each initializer counted once.
	Params int64
	// MACs is the sum of the layers' multiply-accumulates.
	MACs int64
	// Unused counts the float initializer elements that no node reads
	// (they are not in Params).
	Unused int64
}

// Value is a named tensor with its element type and shape (nil when static
// inference cannot resolve it: it depends on data only known at run time).
type Value struct {
	Name  string
	DType ir.DType
	Shape []int
}

// Layer is one node of the graph.
type Layer struct {
	// Node is the model's node (not a copy: do not modify it).
	Node *ir.Node
	// Name is the node's name, or its first output's name when it has none.
	Name string
	// Op is the operator, prefixed by its domain outside the default one.
	Op string
	// Outputs are the node's outputs with their inferred shapes.
	Outputs []Value
	// Params counts the float elements of the initializers the node reads
	// that no earlier node read. An Identity of an initializer (as exporters
	// emit to share one tensor between layers) passes it on uncounted, so
	// the layer that uses it counts it.
	Params int64
	// MACs counts multiply-accumulates: Conv (and depthwise Conv) output
	// elements × input channels per group × kernel taps; ConvTranspose
	// input elements × output channels per group × kernel taps; Gemm and
	// MatMul output elements × the summed dimension. Every other op counts
	// 0 (pooling, element-wise, normalization and data movement are cheap
	// next to these and not multiply-accumulates).
	MACs int64
	// Field is the receptive field of the node's outputs on the input.
	Field Field
}

// Of summarizes m for the given input shapes (by input name). Inputs not
// listed use their declared shapes, a symbolic leading (batch) dimension
// taken as 1; any other symbolic dimension is an error asking for the shape.
// Shapes come from the runtime's static shape inference, so Of fails, as
// runtime.NewSession does, on models the runtime cannot run. The model is
// summarized as given, not optimized (run graphopt, for example with
// runtime.Optimize, first to summarize the optimized graph), and is not
// modified.
//
// Receptive fields are followed from every input of rank 3 or more (its
// dimensions after the first two are the spatial axes, as in NCHW) through
// Conv, MaxPool, AveragePool and LpPool (kernel, stride and dilation; padding
// changes neither size nor jump), ConvTranspose (a stride s divides the
// jump by s; an output reads at most ⌈((k−1)·d+1)/s⌉ input positions per
// axis), Resize and Upsample (the jump scales by input size / output size
// per axis; nearest reads 1 tap, linear 2, cubic 4, widened by the scale
// when antialiasing a downscale), DepthToSpace and SpaceToDepth, and Slice
// with constant steps (the jump multiplies by the step). Pad and the ops
// that only reshape, reorder or act per element pass the field through
// unchanged. A node with several inputs that depend on the image (Add,
// Concat, Mul...) takes the largest size and jump per axis: exact when
// the branches' windows share a centre, as in residual and inception
// blocks, an upper bound otherwise. The field becomes the whole input (All)
// after Gemm, MatMul and Einsum, after global pooling, and after any
// reduction, softmax-like op or normalization over a spatial axis (as in
// squeeze-and-excitation blocks and InstanceNormalization).
func Of(m *ir.Model, shapes map[string][]int) (*Summary, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("summary: nil model")
	}
	g := m.Graph
	// The graph as given: no optimization, no plan (only shapes are needed).
	sess, err := runtime.NewSession(m, &runtime.Options{Reference: true, Threads: 1, Optimize: graphopt.None})
	if err != nil {
		return nil, err
	}
	in, err := inputShapes(g.Inputs, shapes)
	if err != nil {
		return nil, err
	}
	types, err := sess.InferShapes(in)
	if err != nil {
		return nil, err
	}
	nodes, err := sorted(g)
	if err != nil {
		return nil, err
	}
	b := &builder{g: g, types: types, alias: map[string]string{}, counted: map[string]bool{}, fields: map[string]field{}}
	s := &Summary{Name: g.Name}
	for _, vi := range g.Inputs {
		s.Inputs = append(s.Inputs, Value{Name: vi.Name, DType: vi.DType, Shape: in[vi.Name]})
		if r := len(in[vi.Name]); r >= 3 {
			b.fields[vi.Name] = pixel(r - 2)
		}
	}
	for _, vi := range g.Outputs {
		s.Outputs = append(s.Outputs, b.value(vi.Name, vi.DType))
	}
	for name := range g.Initializers {
		b.alias[name] = name
	}
	for _, n := range nodes {
		l := b.layer(n)
		s.Layers = append(s.Layers, l)
		s.Params += l.Params
		s.MACs += l.MACs
	}
	for name, t := range g.Initializers {
		if !b.counted[name] && t.DType.IsFloat() {
			s.Unused += int64(t.Len())
		}
	}
	return s, nil
}

// inputShapes resolves every graph input's shape: the given one, else the
// declared one with a symbolic batch dimension taken as 1.
func inputShapes(inputs []*ir.ValueInfo, given map[string][]int) (map[string][]int, error) {
	names := make([]string, len(inputs))
	for i, vi := range inputs {
		names[i] = vi.Name
	}
	for name := range given {
		found := false
		for _, n := range names {
			found = found || n == name
		}
		if !found {
			return nil, fmt.Errorf("the model has no input %q (inputs: %s)", name, strings.Join(names, ", "))
		}
	}
	out := make(map[string][]int, len(inputs))
	for _, vi := range inputs {
		if sh, ok := given[vi.Name]; ok {
			out[vi.Name] = append([]int(nil), sh...)
			continue
		}
		s := vi.Shape
		if s.Ranked && len(s.Dims) >= 2 && !s.Dims[0].Known() {
			s = ir.Shape{Ranked: true, Dims: append([]ir.Dim{ir.KnownDim(1)}, s.Dims[1:]...)}
		}
		sh, ok := s.Concrete()
		if !ok {
			return nil, fmt.Errorf("input %q has shape %v with symbolic dimensions: give its shape", vi.Name, vi.Shape)
		}
		out[vi.Name] = sh
	}
	return out, nil
}

// sorted returns g's nodes in a topological order that keeps the file's
// order where it can, without modifying g.
func sorted(g *ir.Graph) ([]*ir.Node, error) {
	have := map[string]bool{"": true}
	for _, vi := range g.Inputs {
		have[vi.Name] = true
	}
	for name := range g.Initializers {
		have[name] = true
	}
	out := make([]*ir.Node, 0, len(g.Nodes))
	done := make([]bool, len(g.Nodes))
	for len(out) < len(g.Nodes) {
		progress := false
		for i, n := range g.Nodes {
			if done[i] {
				continue
			}
			ready := true
			for _, in := range n.Inputs {
				ready = ready && have[in]
			}
			if !ready {
				continue
			}
			done[i], progress = true, true
			out = append(out, n)
			for _, o := range n.Outputs {
				have[o] = true
			}
		}
		if !progress {
			return nil, errors.New("summary: the graph has a cycle or reads an undefined value")
		}
	}
	return out, nil
}

// builder carries the state of one summary.
type builder struct {
	g     *ir.Graph
	types map[string]runtime.ValueType
	// alias maps initializers, and Identity outputs of them, to the
	// initializer's name.
	alias   map[string]string
	counted map[string]bool // initializers already counted
	fields  map[string]field
}

func (b *builder) value(name string, dt ir.DType) Value {
	v := Value{Name: name, DType: dt}
	if vt, ok := b.types[name]; ok {
		v.Shape = vt.Shape
		if v.Shape == nil {
			v.Shape = []int{} // a scalar, known
		}
		if v.DType == ir.Undefined {
			v.DType = vt.DType
		}
	}
	return v
}

// shape returns a value's inferred shape, or nil.
func (b *builder) shape(name string) []int {
	if vt, ok := b.types[name]; ok {
		return vt.Shape
	}
	return nil
}

// constInts returns the integers of a constant (initializer) input.
func (b *builder) constInts(name string) ([]int64, bool) {
	root, ok := b.alias[name]
	if !ok {
		return nil, false
	}
	v, err := b.g.Initializers[root].Int64s()
	return v, err == nil
}

func (b *builder) layer(n *ir.Node) Layer {
	l := Layer{Node: n, Name: n.Name, Op: n.Op}
	if n.Domain != "" && n.Domain != "ai.onnx" {
		l.Op = n.Domain + "." + n.Op
	}
	if l.Name == "" && len(n.Outputs) > 0 {
		l.Name = n.Outputs[0]
	}
	for _, o := range n.Outputs {
		if o != "" {
			l.Outputs = append(l.Outputs, b.value(o, ir.Undefined))
		}
	}
	passOn := false
	if n.Op == "Identity" && n.Domain == "" && len(n.Inputs) == 1 && len(n.Outputs) == 1 {
		if root, ok := b.alias[n.Inputs[0]]; ok {
			b.alias[n.Outputs[0]] = root
			passOn = true
		}
	}
	if !passOn {
		for _, in := range n.Inputs {
			root, ok := b.alias[in]
			if !ok || b.counted[root] {
				continue
			}
			if t := b.g.Initializers[root]; t.DType.IsFloat() {
				b.counted[root] = true
				l.Params += int64(t.Len())
			}
		}
	}
	l.MACs = b.macs(n)
	in := make([]field, len(n.Inputs))
	for i, name := range n.Inputs {
		in[i] = b.fields[name] // the zero field is noField
	}
	f := b.propagate(n, in)
	for _, o := range n.Outputs {
		if o != "" {
			b.fields[o] = f
		}
	}
	l.Field = f.export()
	return l
}

func numel(shape []int) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= int64(d)
	}
	return n
}

// macs counts a node's multiply-accumulates from the inferred shapes (0
// when they are unknown).
func (b *builder) macs(n *ir.Node) int64 {
	if n.Domain != "" || len(n.Inputs) < 2 || len(n.Outputs) == 0 {
		return 0
	}
	x, w, y := b.shape(n.Inputs[0]), b.shape(n.Inputs[1]), b.shape(n.Outputs[0])
	if x == nil || w == nil || y == nil {
		return 0
	}
	switch n.Op {
	case "Conv":
		// Each output element sums Cin/group × kernel taps: the weight's
		// shape without its first dimension.
		if len(w) < 2 {
			return 0
		}
		return numel(y) * numel(w[1:])
	case "ConvTranspose":
		// Each input element scatters into Cout/group × kernel taps.
		if len(w) < 2 {
			return 0
		}
		return numel(x) * numel(w[1:])
	case "Gemm":
		if len(x) != 2 {
			return 0
		}
		k := x[1]
		if n.AttrInt("transA", 0) != 0 {
			k = x[0]
		}
		return numel(y) * int64(k)
	case "MatMul":
		if len(x) == 0 {
			return 0
		}
		return numel(y) * int64(x[len(x)-1])
	}
	return 0
}

// spatialAxis reports whether axis a (negative counts from the end) of a
// rank-r tensor is a spatial one (index 2 or more of a rank-3+ tensor).
func spatialAxis(a int64, r int) bool {
	if a < 0 {
		a += int64(r)
	}
	return r >= 3 && a >= 2 && a < int64(r)
}

// propagate computes a node's output field from its inputs' fields.
func (b *builder) propagate(n *ir.Node, in []field) field {
	if n.Domain != "" {
		return merge(in...)
	}
	x := noField
	if len(in) > 0 {
		x = in[0]
	}
	var rest []field
	if len(in) > 1 {
		rest = in[1:]
	}
	rank := len(b.shape(n.Input(0)))
	switch n.Op {
	case "Shape", "Size", "ConstantOfShape", "EyeLike", "RandomNormalLike", "RandomUniformLike":
		// Depend on shapes only, never on the pixels.
		return noField
	case "Conv", "MaxPool", "AveragePool", "LpPool":
		if x.kind != Local {
			return merge(in...)
		}
		k := n.AttrInts("kernel_shape")
		if k == nil && n.Op == "Conv" {
			if w := b.shape(n.Input(1)); len(w) > 2 {
				for _, d := range w[2:] {
					k = append(k, int64(d))
				}
			}
		}
		if k == nil {
			return unknownField
		}
		s, d := n.AttrInts("strides"), n.AttrInts("dilations")
		if s == nil {
			s = ones(len(k))
		}
		if d == nil {
			d = ones(len(k))
		}
		return merge(append([]field{x.window(rats(k), rats(d), rats(s))}, rest...)...)
	case "ConvTranspose":
		if x.kind != Local {
			return merge(in...)
		}
		k := n.AttrInts("kernel_shape")
		if k == nil {
			if w := b.shape(n.Input(1)); len(w) > 2 {
				for _, d := range w[2:] {
					k = append(k, int64(d))
				}
			}
		}
		if k == nil {
			return unknownField
		}
		s, d := n.AttrInts("strides"), n.AttrInts("dilations")
		if s == nil {
			s = ones(len(k))
		}
		if d == nil {
			d = ones(len(k))
		}
		// Zero-insertion view: the input is spread s apart (jump / s) and
		// an output reads the input positions its dilated kernel span
		// covers: at most ⌈((k−1)·d+1)/s⌉ of them, consecutive.
		taps := make([]*big.Rat, len(k))
		step := make([]*big.Rat, len(k))
		for i := range k {
			if i >= len(s) || i >= len(d) || s[i] <= 0 {
				return unknownField
			}
			span := (k[i]-1)*d[i] + 1
			taps[i] = big.NewRat((span+s[i]-1)/s[i], 1)
			step[i] = big.NewRat(1, s[i])
		}
		if len(taps) != len(x.r) {
			return unknownField
		}
		// window applies r + (taps−1)·j with the input jump, then j / s.
		return merge(append([]field{x.window(taps, nil, step)}, rest...)...)
	case "Resize":
		if x.kind != Local {
			return merge(in...)
		}
		xs, ys := b.shape(n.Input(0)), b.shape(n.Outputs[0])
		if len(xs) != len(ys) || len(xs) != len(x.r)+2 {
			return unknownField
		}
		base := int64(1)
		switch n.AttrString("mode", "nearest") {
		case "linear":
			base = 2
		case "cubic":
			base = 4
		}
		taps := make([]*big.Rat, len(x.r))
		step := make([]*big.Rat, len(x.r))
		for i := range x.r {
			a, c := int64(xs[2+i]), int64(ys[2+i])
			if a <= 0 || c <= 0 {
				return unknownField
			}
			step[i] = big.NewRat(a, c)
			taps[i] = big.NewRat(base, 1)
			if base > 1 && c < a && n.AttrInt("antialias", 0) != 0 {
				taps[i] = big.NewRat(base*a, c) // the filter widens with the downscale
			}
		}
		return merge(append([]field{x.window(taps, nil, step)}, rest...)...)
	case "DepthToSpace", "SpaceToDepth":
		if x.kind != Local {
			return x
		}
		bs := n.AttrInt("blocksize", 1)
		if bs <= 0 {
			return unknownField
		}
		k := make([]*big.Rat, len(x.r))
		s := make([]*big.Rat, len(x.r))
		for i := range k {
			if n.Op == "DepthToSpace" {
				k[i], s[i] = big.NewRat(1, 1), big.NewRat(1, bs)
			} else {
				k[i], s[i] = big.NewRat(bs, 1), big.NewRat(bs, 1)
			}
		}
		return x.window(k, nil, s)
	case "Slice":
		if x.kind != Local || rank != len(x.r)+2 || len(n.Inputs) < 5 || n.Inputs[4] == "" {
			return merge(in...)
		}
		steps, ok1 := b.constInts(n.Inputs[4])
		axes, ok2 := b.constInts(n.Input(3))
		if n.Input(3) == "" {
			axes, ok2 = nil, true
			for i := range steps {
				axes = append(axes, int64(i))
			}
		}
		if !ok1 || !ok2 || len(axes) != len(steps) {
			return merge(in...)
		}
		s := make([]*big.Rat, len(x.r))
		for i := range s {
			s[i] = big.NewRat(1, 1)
		}
		for i, a := range axes {
			if a < 0 {
				a += int64(rank)
			}
			if a >= 2 && a < int64(rank) && steps[i] != 0 {
				st := steps[i]
				if st < 0 {
					st = -st
				}
				s[a-2] = big.NewRat(st, 1)
			}
		}
		return merge(append([]field{x.window(nil, nil, s)}, rest...)...)
	case "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "Gemm", "MatMul", "Einsum",
		"InstanceNormalization", "GroupNormalization":
		return whole(in...)
	case "ReduceMean", "ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare":
		axes := n.AttrInts("axes")
		if axes == nil && n.Input(1) != "" {
			v, ok := b.constInts(n.Input(1))
			if !ok {
				return whole(in...) // unknown axes: assume the worst
			}
			axes = v
		}
		if len(axes) == 0 {
			if n.AttrInt("noop_with_empty_axes", 0) != 0 {
				return x
			}
			return whole(x)
		}
		for _, a := range axes {
			if spatialAxis(a, rank) {
				return whole(x)
			}
		}
		return x
	case "MeanVarianceNormalization":
		axes := n.AttrInts("axes")
		if axes == nil {
			axes = []int64{0, 2, 3}
		}
		for _, a := range axes {
			if spatialAxis(a, rank) {
				return whole(x)
			}
		}
		return x
	case "LayerNormalization":
		// Normalizes over the axes from axis on.
		a := n.AttrInt("axis", -1)
		if a < 0 {
			a += int64(rank)
		}
		if rank >= 3 && a < int64(rank) {
			return whole(in...)
		}
		return merge(in...)
	case "Softmax", "LogSoftmax", "Hardmax", "LpNormalization":
		if spatialAxis(n.AttrInt("axis", -1), rank) {
			return whole(x)
		}
		return x
	case "ArgMax", "ArgMin":
		if spatialAxis(n.AttrInt("axis", 0), rank) {
			return whole(x)
		}
		return x
	case "TopK":
		if spatialAxis(n.AttrInt("axis", -1), rank) {
			return whole(in...)
		}
		return merge(in...)
	}
	// Element-wise, concatenation, padding and shape-only ops: the union of
	// the inputs' fields.
	return merge(in...)
}
