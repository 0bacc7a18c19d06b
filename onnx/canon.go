package onnx

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/runinfer/runinfer/ir"
)

// A converter rewrites one node, imported at the model's opset, into the IR's
// canonical (opset ir.CanonicalOpset) form, emitting it and any helper nodes
// through r.emit.
type converter func(r *rewriter, n *ir.Node) error

// converters is the importer's operator table: every default-domain op the
// importer accepts, with the rewrite that canonicalizes it. Read-only.
var converters = map[string]converter{}

func init() {
	for _, op := range []string{
		"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool",
		"GlobalMaxPool", "InstanceNormalization", "LRN", "Relu", "LeakyRelu",
		"Elu", "Selu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
		"Softplus", "Softsign", "ThresholdedRelu", "Erf", "Sqrt", "Reciprocal",
		"Exp", "Log", "Neg", "Abs", "Floor", "Ceil", "Sum", "Max", "Min", "Mean",
		"Flatten", "Transpose", "Expand", "Gather", "Shape", "ConstantOfShape",
		"Identity", "DepthToSpace", "SpaceToDepth", "MatMul", "Tile",
		// op_logic/op_argmax/op_misc helper (lead: keep or adjust).
		"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not",
		"And", "Or", "Xor", "Where", "IsNaN", "IsInf", "Sign", "Round", "Mod",
		"BitShift", "Celu", "Shrink", "Sin", "Cos", "Tan", "Asin", "Acos",
		"Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "ArgMax", "ArgMin",
		"Hardmax", "TopK", "Size", "Range", "CastLike", "EyeLike", "CumSum",
		"OneHot", "Trilu",
		// Added by the indexing/normalization helper (lead to review).
		"LayerNormalization", "MeanVarianceNormalization", "GroupNormalization",
		"GatherElements", "GatherND", "ScatterElements", "ScatterND", "NonZero",
		"Compress", "ReverseSequence", "MaxUnpool",
	} {
		converters[op] = keep
	}
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow"} {
		converters[op] = convertLegacyBroadcast
	}
	converters["Gemm"] = convertGemm
	converters["PRelu"] = convertPRelu
	converters["Softmax"] = convertSoftmax
	converters["LogSoftmax"] = convertSoftmax
	converters["Clip"] = convertClip
	converters["Slice"] = convertSlice
	converters["Pad"] = convertPad
	converters["Squeeze"] = convertAxesToInput(13)
	converters["Unsqueeze"] = convertAxesToInput(13)
	converters["ReduceSum"] = convertAxesToInput(13)
	converters["ReduceMean"] = convertAxesToInput(18)
	converters["ReduceMax"] = convertAxesToInput(18)
	converters["Split"] = convertSplit
	converters["Resize"] = convertResize
	converters["Upsample"] = convertUpsample
	converters["Reshape"] = convertReshape
	converters["Concat"] = convertConcat
	converters["Cast"] = convertCast
	converters["Dropout"] = convertDropout
	converters["BatchNormalization"] = convertBatchNorm
	converters["LpPool"] = convertLpPool
	converters["GlobalLpPool"] = convertLpPool
	converters["Constant"] = convertConstant
}

// isStandardOp reports whether op is an ONNX operator the importer handles.
func isStandardOp(op string) bool { _, ok := converters[op]; return ok }

// IsSupportedOp reports whether the importer accepts op in the default domain.
func IsSupportedOp(op string) bool { return isStandardOp(op) }

// SupportedOps lists the default-domain operators the importer accepts.
func SupportedOps() []string {
	out := make([]string, 0, len(converters))
	for op := range converters {
		out = append(out, op)
	}
	sort.Strings(out)
	return out
}

// rewriter carries the state of canonicalizing one graph.
type rewriter struct {
	g     *ir.Graph
	opset int64
	out   []*ir.Node
	names map[string]bool     // every value name in use
	types map[string]ir.DType // best-effort element types, for typed constants
	seq   int
}

// ErrUnsupported is wrapped by errors about what the importer does not
// handle: operators, domains, opsets, non-tensor types.
var ErrUnsupported = errors.New("not supported")

func canonicalize(g *ir.Graph, dc *decodeCtx) error {
	r := &rewriter{g: g, opset: dc.opset, names: map[string]bool{}, types: map[string]ir.DType{}}
	for _, vi := range g.Inputs {
		r.names[vi.Name] = true
		r.types[vi.Name] = vi.DType
	}
	for name, t := range g.Initializers {
		r.names[name] = true
		r.types[name] = t.DType
	}
	for name, vi := range g.ValueInfos {
		if vi.DType != ir.Undefined {
			r.types[name] = vi.DType
		}
	}
	for _, vi := range g.Outputs {
		if vi.DType != ir.Undefined {
			r.types[vi.Name] = vi.DType
		}
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			r.names[o] = true
		}
	}
	for _, n := range g.Nodes {
		if n.Domain != "" {
			return fmt.Errorf("%s: operator %q of domain %q (opset %d): %w", n.Describe(), n.Op, n.Domain, dc.opsets[n.Domain], ErrUnsupported)
		}
		conv, ok := converters[n.Op]
		if !ok {
			return fmt.Errorf("%s: operator %q (domain ai.onnx, opset %d): %w (runinfer handles %d operators; `runinfer info --ops` lists them)",
				n.Describe(), n.Op, r.opset, ErrUnsupported, len(converters))
		}
		if len(n.Outputs) == 0 || n.Outputs[0] == "" {
			return fmt.Errorf("%s: has no output", n.Describe())
		}
		if r.opset < 7 || n.Op == "BatchNormalization" {
			delete(n.Attrs, "consumed_inputs") // opset-1 memory hint, meaningless now
		}
		if err := safeConvert(conv, r, n); err != nil {
			return fmt.Errorf("%s (opset %d): %w", n.Describe(), r.opset, err)
		}
	}
	g.Nodes = r.out
	return nil
}

// ErrInternal is wrapped by errors that come from a bug in the importer (a
// recovered panic) rather than from the model.
var ErrInternal = errors.New("internal error")

// safeConvert keeps a bug in one rewrite from crashing the caller on a
// malformed model: a panic becomes an error naming the node.
func safeConvert(conv converter, r *rewriter, n *ir.Node) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w while importing this node: %v (please report it with the model)", ErrInternal, p)
		}
	}()
	return conv(r, n)
}

// emit appends a node to the output and records its outputs' element types.
func (r *rewriter) emit(n *ir.Node) {
	r.out = append(r.out, n)
	dt := ir.Undefined
	switch n.Op {
	case "Cast":
		dt = ir.DType(n.AttrInt("to", 0))
	case "Shape", "Size", "ArgMax", "ArgMin", "NonZero":
		dt = ir.Int64
	case "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "Not", "And", "Or", "Xor", "IsNaN", "IsInf":
		dt = ir.Bool
	case "EyeLike":
		dt = ir.DType(n.AttrInt("dtype", int64(r.types[n.Input(0)])))
	case "OneHot", "Where":
		dt = r.types[n.Input(2)]
	case "CastLike":
		dt = r.types[n.Input(1)]
	case "ConstantOfShape":
		dt = ir.Float32
		if t := n.AttrTensor("value"); t != nil {
			dt = t.DType
		}
	default:
		if len(n.Inputs) > 0 {
			dt = r.types[n.Inputs[0]]
		}
	}
	for i, o := range n.Outputs {
		odt := dt
		if n.Op == "TopK" && i == 1 {
			odt = ir.Int64 // indices
		}
		if _, known := r.types[o]; !known && o != "" && odt != ir.Undefined {
			r.types[o] = odt
		}
	}
}

// fresh returns an unused value name derived from hint.
func (r *rewriter) fresh(hint string) string {
	for {
		r.seq++
		name := fmt.Sprintf("%s__runinfer%d", hint, r.seq)
		if !r.names[name] {
			r.names[name] = true
			return name
		}
	}
}

// constant adds an initializer and returns its name.
func (r *rewriter) constant(hint string, t *ir.Tensor) string {
	name := r.fresh(hint)
	r.g.Initializers[name] = t
	r.types[name] = t.DType
	return name
}

func (r *rewriter) ints(hint string, v []int64) string {
	t, _ := ir.FromInt64([]int{len(v)}, append([]int64(nil), v...))
	return r.constant(hint, t)
}

// scalarLike returns a rank-0 constant of the element type of value like
// (float32 when unknown) holding v.
func (r *rewriter) scalarLike(hint, like string, v float64) string {
	dt := r.types[like]
	if dt == ir.Undefined {
		dt = ir.Float32
	}
	t, err := ir.NewTensor(dt, nil)
	if err != nil {
		t, _ = ir.NewTensor(ir.Float32, nil)
		dt = ir.Float32
	}
	switch s := t.Data.(type) {
	case []float32:
		s[0] = float32(v)
	case []float64:
		s[0] = v
	case []uint16:
		switch dt {
		case ir.Float16:
			s[0] = ir.Float32ToFloat16(float32(v))
		case ir.BFloat16:
			s[0] = ir.Float32ToBFloat16(float32(v))
		default:
			s[0] = uint16(v)
		}
	case []int8:
		s[0] = int8(v)
	case []uint8:
		s[0] = uint8(v)
	case []int16:
		s[0] = int16(v)
	case []int32:
		s[0] = int32(v)
	case []uint32:
		s[0] = uint32(v)
	case []int64:
		s[0] = int64(v)
	case []uint64:
		s[0] = uint64(v)
	}
	return r.constant(hint, t)
}

// node builds a helper node.
func (r *rewriter) node(op string, in []string, out []string, attrs ...*ir.Attr) *ir.Node {
	n := &ir.Node{Op: op, Inputs: in, Outputs: out, Attrs: map[string]*ir.Attr{}}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	return n
}

func keep(r *rewriter, n *ir.Node) error {
	if n.Op == "Tile" && r.opset < 6 {
		return fmt.Errorf("the opset 1-5 form of Tile (tiles and axis inputs): %w", ErrUnsupported)
	}
	r.emit(n)
	return nil
}

// convertLegacyBroadcast handles the broadcast/axis attributes of binary ops
// before opset 7. Without axis, legacy broadcasting aligns trailing
// dimensions, exactly as numpy broadcasting does. With an explicit axis, B is
// reshaped to B.shape + [1]*(rank(A)-axis-rank(B)) using standard ops, so
// that numpy broadcasting then aligns it at that axis.
func convertLegacyBroadcast(r *rewriter, n *ir.Node) error {
	axis, hasAxis := n.Attrs["axis"]
	bc := n.AttrInt("broadcast", 0)
	delete(n.Attrs, "broadcast")
	delete(n.Attrs, "axis")
	if r.opset >= 7 || bc == 0 || !hasAxis || len(n.Inputs) < 2 || n.Inputs[0] == "" || n.Inputs[1] == "" {
		r.emit(n)
		return nil
	}
	a, b := n.Inputs[0], n.Inputs[1]
	// k = rank(A) - axis - rank(B), as a 1-element int64 tensor.
	shapeA, rankA := r.fresh("shapeA"), r.fresh("rankA")
	shapeB, rankB := r.fresh("shapeB"), r.fresh("rankB")
	r.emit(r.node("Shape", []string{a}, []string{shapeA}))
	r.emit(r.node("Shape", []string{shapeA}, []string{rankA}))
	r.emit(r.node("Shape", []string{b}, []string{shapeB}))
	r.emit(r.node("Shape", []string{shapeB}, []string{rankB}))
	t1, k := r.fresh("t"), r.fresh("k")
	r.emit(r.node("Sub", []string{rankA, rankB}, []string{t1}))
	r.emit(r.node("Sub", []string{t1, r.ints("axis", []int64{axis.I})}, []string{k}))
	ones, newShape, bb := r.fresh("ones"), r.fresh("bshape"), r.fresh("b")
	oneT, _ := ir.FromInt64([]int{1}, []int64{1})
	r.emit(r.node("ConstantOfShape", []string{k}, []string{ones}, &ir.Attr{Name: "value", Type: ir.AttrTensor, T: oneT}))
	r.emit(r.node("Concat", []string{shapeB, ones}, []string{newShape}, ir.IntAttr("axis", 0)))
	r.emit(r.node("Reshape", []string{b, newShape}, []string{bb}))
	n.Inputs = []string{a, bb}
	r.emit(n)
	return nil
}

// convertPRelu: before opset 7, a 1-D slope of size C applies along the
// channel axis (axis 1), not by numpy broadcasting; reshape it to
// [C, 1, ..., 1] with the same standard-op chain as legacy broadcasting.
func convertPRelu(r *rewriter, n *ir.Node) error {
	if r.opset >= 7 || len(n.Inputs) < 2 {
		r.emit(n)
		return nil
	}
	if t, ok := r.g.Initializers[n.Inputs[1]]; ok && (len(t.Shape) != 1 || t.Shape[0] == 1) {
		r.emit(n) // a scalar-like slope broadcasts the same either way
		return nil
	}
	n.SetAttr(ir.IntAttr("broadcast", 1))
	n.SetAttr(ir.IntAttr("axis", 1))
	return convertLegacyBroadcast(r, n)
}

func convertGemm(r *rewriter, n *ir.Node) error {
	delete(n.Attrs, "broadcast")
	r.emit(n)
	return nil
}

// convertSoftmax rewrites pre-13 Softmax/LogSoftmax, which coerce the input to
// 2-D at axis (default 1) and normalise over the whole flattened tail, into
// Flatten -> op(axis=-1) -> Reshape back.
func convertSoftmax(r *rewriter, n *ir.Node) error {
	if r.opset >= 13 {
		r.emit(n)
		return nil
	}
	axis := n.AttrInt("axis", 1)
	x, y := n.Input(0), n.Outputs[0]
	flat, shape, sm := r.fresh("flat"), r.fresh("shape"), r.fresh("sm")
	r.emit(r.node("Shape", []string{x}, []string{shape}))
	r.emit(r.node("Flatten", []string{x}, []string{flat}, ir.IntAttr("axis", axis)))
	n.Inputs = []string{flat}
	n.Outputs = []string{sm}
	n.SetAttr(ir.IntAttr("axis", -1))
	r.emit(n)
	r.emit(r.node("Reshape", []string{sm, shape}, []string{y}))
	return nil
}

// convertClip moves pre-11 min/max attributes to inputs.
func convertClip(r *rewriter, n *ir.Node) error {
	if r.opset >= 11 {
		r.emit(n)
		return nil
	}
	x := n.Input(0)
	in := []string{x, "", ""}
	if a, ok := n.Attrs["min"]; ok {
		in[1] = r.scalarLike("min", x, float64(a.F))
	}
	if a, ok := n.Attrs["max"]; ok {
		in[2] = r.scalarLike("max", x, float64(a.F))
	}
	delete(n.Attrs, "min")
	delete(n.Attrs, "max")
	n.Inputs = trimInputs(in)
	r.emit(n)
	return nil
}

// trimInputs drops trailing omitted inputs.
func trimInputs(in []string) []string {
	for len(in) > 0 && in[len(in)-1] == "" {
		in = in[:len(in)-1]
	}
	return in
}

// convertSlice moves pre-10 starts/ends/axes attributes to inputs.
func convertSlice(r *rewriter, n *ir.Node) error {
	if r.opset >= 10 {
		r.emit(n)
		return nil
	}
	starts, ends := n.AttrInts("starts"), n.AttrInts("ends")
	if starts == nil || ends == nil || len(starts) != len(ends) {
		return fmt.Errorf("needs starts and ends attributes of equal length, got %v and %v", starts, ends)
	}
	in := []string{n.Input(0), r.ints("starts", starts), r.ints("ends", ends)}
	if axes := n.AttrInts("axes"); axes != nil {
		in = append(in, r.ints("axes", axes))
	}
	delete(n.Attrs, "starts")
	delete(n.Attrs, "ends")
	delete(n.Attrs, "axes")
	n.Inputs = in
	r.emit(n)
	return nil
}

// convertPad moves pre-11 pads (opset 1: paddings) and value to inputs.
func convertPad(r *rewriter, n *ir.Node) error {
	if r.opset >= 11 {
		r.emit(n)
		return nil
	}
	pads := n.AttrInts("pads")
	if pads == nil {
		pads = n.AttrInts("paddings")
	}
	if pads == nil {
		return fmt.Errorf("needs a pads attribute")
	}
	x := n.Input(0)
	in := []string{x, r.ints("pads", pads)}
	if a, ok := n.Attrs["value"]; ok && a.F != 0 {
		in = append(in, r.scalarLike("value", x, float64(a.F)))
	}
	delete(n.Attrs, "pads")
	delete(n.Attrs, "paddings")
	delete(n.Attrs, "value")
	n.Inputs = in
	r.emit(n)
	return nil
}

// convertAxesToInput moves an axes attribute to the second input for ops
// that made that change at opset since (Squeeze, Unsqueeze, Reduce*).
func convertAxesToInput(since int64) converter {
	return func(r *rewriter, n *ir.Node) error {
		if r.opset >= since {
			r.emit(n)
			return nil
		}
		if axes, ok := n.Attrs["axes"]; ok {
			n.Inputs = []string{n.Input(0), r.ints("axes", axes.Ints)}
			delete(n.Attrs, "axes")
		}
		r.emit(n)
		return nil
	}
}

// convertSplit moves the pre-13 split attribute to an input; without sizes,
// the outputs are equal parts, which opset 18 spells num_outputs.
func convertSplit(r *rewriter, n *ir.Node) error {
	if r.opset < 13 {
		if split := n.AttrInts("split"); split != nil {
			n.Inputs = []string{n.Input(0), r.ints("split", split)}
		}
		delete(n.Attrs, "split")
	}
	if n.Input(0) == "" {
		return fmt.Errorf("has no input")
	}
	if n.Input(1) == "" && !n.HasAttr("num_outputs") {
		n.Inputs = n.Inputs[:1]
		n.SetAttr(ir.IntAttr("num_outputs", int64(len(n.Outputs))))
	}
	r.emit(n)
	return nil
}

// convertResize maps opset-10 Resize (X, scales; asymmetric coordinates) to
// the opset-19 input layout (X, roi, scales, sizes).
func convertResize(r *rewriter, n *ir.Node) error {
	if r.opset >= 11 {
		r.emit(n)
		return nil
	}
	n.Inputs = []string{n.Input(0), "", n.Input(1)}
	n.SetAttr(ir.StringAttr("coordinate_transformation_mode", "asymmetric"))
	if n.AttrString("mode", "nearest") == "nearest" {
		n.SetAttr(ir.StringAttr("nearest_mode", "floor"))
	}
	r.emit(n)
	return nil
}

// convertUpsample turns Upsample (opsets 1-9; deprecated in 10) into Resize
// with asymmetric coordinates and floor rounding, which is what Upsample's
// index mapping out/scale amounts to.
func convertUpsample(r *rewriter, n *ir.Node) error {
	mode := strings.ToLower(n.AttrString("mode", "nearest"))
	switch mode {
	case "nn":
		mode = "nearest"
	case "bilinear":
		mode = "linear"
	}
	if mode != "nearest" && mode != "linear" {
		return fmt.Errorf("unsupported Upsample mode %q", mode)
	}
	var scales string
	switch {
	case r.opset >= 9:
		scales = n.Input(1)
	case n.HasAttr("scales"):
		f := n.AttrFloats("scales")
		t, _ := ir.FromFloat32([]int{len(f)}, append([]float32(nil), f...))
		scales = r.constant("scales", t)
	case n.HasAttr("height_scale") || n.HasAttr("width_scale"):
		t, _ := ir.FromFloat32([]int{4}, []float32{1, 1, n.AttrFloat("height_scale", 1), n.AttrFloat("width_scale", 1)})
		scales = r.constant("scales", t)
	default:
		return fmt.Errorf("has no scales")
	}
	res := &ir.Node{Name: n.Name, Op: "Resize", Inputs: []string{n.Input(0), "", scales}, Outputs: n.Outputs, Doc: n.Doc, Attrs: map[string]*ir.Attr{}}
	res.SetAttr(ir.StringAttr("mode", mode))
	res.SetAttr(ir.StringAttr("coordinate_transformation_mode", "asymmetric"))
	if mode == "nearest" {
		res.SetAttr(ir.StringAttr("nearest_mode", "floor"))
	}
	r.emit(res)
	return nil
}

// convertReshape moves the opset-1..4 shape attribute to an input.
func convertReshape(r *rewriter, n *ir.Node) error {
	if r.opset < 5 {
		shape := n.AttrInts("shape")
		if shape == nil {
			return fmt.Errorf("needs a shape attribute")
		}
		n.Inputs = []string{n.Input(0), r.ints("shape", shape)}
		delete(n.Attrs, "shape")
	}
	r.emit(n)
	return nil
}

// convertConcat makes the pre-4 default axis (1) explicit.
func convertConcat(r *rewriter, n *ir.Node) error {
	if !n.HasAttr("axis") {
		if r.opset >= 4 {
			return fmt.Errorf("needs an axis attribute")
		}
		n.SetAttr(ir.IntAttr("axis", 1))
	}
	r.emit(n)
	return nil
}

// onnxTypeNames maps the pre-6 string form of Cast's "to".
var onnxTypeNames = map[string]ir.DType{
	"FLOAT": ir.Float32, "UINT8": ir.Uint8, "INT8": ir.Int8, "UINT16": ir.Uint16,
	"INT16": ir.Int16, "INT32": ir.Int32, "INT64": ir.Int64, "STRING": ir.String,
	"BOOL": ir.Bool, "FLOAT16": ir.Float16, "DOUBLE": ir.Float64, "UINT32": ir.Uint32,
	"UINT64": ir.Uint64, "BFLOAT16": ir.BFloat16,
}

func convertCast(r *rewriter, n *ir.Node) error {
	if a, ok := n.Attrs["to"]; ok && a.Type == ir.AttrString {
		dt, ok := onnxTypeNames[strings.ToUpper(a.S)]
		if !ok {
			return fmt.Errorf("unknown Cast target type %q", a.S)
		}
		n.SetAttr(ir.IntAttr("to", int64(dt)))
	}
	if !n.HasAttr("to") {
		return fmt.Errorf("needs a 'to' attribute")
	}
	r.emit(n)
	return nil
}

// convertDropout drops the pre-12 is_test/ratio attributes: inference ignores
// the ratio, and the runtime treats Dropout as identity.
func convertDropout(r *rewriter, n *ir.Node) error {
	if r.opset < 12 {
		// Even is_test=0 means identity when the graph is run for inference,
		// as every ONNX runtime treats it.
		delete(n.Attrs, "is_test")
		delete(n.Attrs, "ratio")
	}
	r.emit(n)
	return nil
}

// convertBatchNorm maps older BatchNormalization forms to opset 15.
func convertBatchNorm(r *rewriter, n *ir.Node) error {
	if r.opset < 9 {
		if n.HasAttr("spatial") && n.AttrInt("spatial", 1) == 0 {
			return fmt.Errorf("spatial=0 (per-activation statistics) is not supported")
		}
		delete(n.Attrs, "spatial")
	}
	if r.opset < 7 {
		delete(n.Attrs, "is_test")
	}
	if r.opset < 14 && len(n.Outputs) > 1 {
		// Pre-14 graphs may list the training outputs (running and saved
		// statistics); in inference they are unused, so they are dropped if
		// nothing reads them.
		n.Outputs = n.Outputs[:1]
	}
	r.emit(n)
	return nil
}

// convertLpPool maps the opset-1 float p to the later integer p.
func convertLpPool(r *rewriter, n *ir.Node) error {
	if a, ok := n.Attrs["p"]; ok && a.Type == ir.AttrFloat {
		n.SetAttr(ir.IntAttr("p", int64(a.F)))
	}
	r.emit(n)
	return nil
}

// convertConstant turns a Constant node into an initializer.
func convertConstant(r *rewriter, n *ir.Node) error {
	if len(n.Outputs) != 1 {
		return fmt.Errorf("needs exactly one output, has %d", len(n.Outputs))
	}
	var t *ir.Tensor
	var err error
	for name, a := range n.Attrs {
		switch name {
		case "value", "sparse_value":
			t = a.T
		case "value_float":
			t = ir.Scalar(a.F)
		case "value_floats":
			t, err = ir.FromFloat32([]int{len(a.Floats)}, append([]float32(nil), a.Floats...))
		case "value_int":
			t = ir.Scalar(a.I)
		case "value_ints":
			t, err = ir.FromInt64([]int{len(a.Ints)}, append([]int64(nil), a.Ints...))
		case "value_string":
			t, err = ir.FromSlice(nil, []string{a.S})
		case "value_strings":
			t, err = ir.FromSlice([]int{len(a.Strings)}, append([]string(nil), a.Strings...))
		default:
			return fmt.Errorf("unknown attribute %q", name)
		}
	}
	if err != nil {
		return err
	}
	if t == nil || len(n.Attrs) != 1 {
		return fmt.Errorf("needs exactly one value attribute, has %d", len(n.Attrs))
	}
	out := n.Outputs[0]
	r.g.Initializers[out] = t
	r.types[out] = t.DType
	return nil
}
