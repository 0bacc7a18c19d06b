package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"google.golang.org/protobuf/proto"

	"github.com/runinfer/runinfer/ir"
	pb "github.com/runinfer/runinfer/onnx/onnxpb"
)

// MaxModelBytes bounds the size of a model file Load will read (external data
// is read separately, tensor by tensor). Protobuf itself cannot exceed 2 GiB.
const MaxModelBytes = 2 << 30

// DecodeOptions controls Decode.
type DecodeOptions struct {
	// Dir is the directory external data locations are resolved in. Empty
	// means external data is refused.
	Dir string
	// Name is used in error messages (typically the file path).
	Name string
}

// Load reads an ONNX model file, resolving external data beside it.
func Load(path string) (*ir.Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("onnx: %s is a directory, not a model file", path)
	}
	if st.Size() > MaxModelBytes {
		return nil, fmt.Errorf("onnx: %s is %d bytes, larger than any valid protobuf (2 GiB)", path, st.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	m, err := DecodeOptions{Dir: dir, Name: path}.Decode(data)
	// Loading leaves garbage as large as the model twice over (the file
	// bytes and protobuf's copies of the tensors). Collecting it now, once
	// per load, keeps it from adding to peak memory when the caller goes on
	// to allocate packed weights and arenas.
	runtime.GC()
	return m, err
}

// Decode parses a serialized ONNX model without external data.
func Decode(data []byte) (*ir.Model, error) {
	return DecodeOptions{}.Decode(data)
}

// Decode parses a serialized ONNX model with these options.
func (o DecodeOptions) Decode(data []byte) (*ir.Model, error) {
	name := o.Name
	if name == "" {
		name = "model"
	}
	var mp pb.ModelProto
	if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("onnx: %s: not a valid ONNX model (protobuf: %w)", name, err)
	}
	m, err := fromModelProto(&mp, &tensorCtx{dir: o.Dir})
	if err != nil {
		return nil, fmt.Errorf("onnx: %s: %w", name, err)
	}
	return m, nil
}

// MaxOpset is the newest default-domain opset the importer accepts.
const MaxOpset = 23

func fromModelProto(mp *pb.ModelProto, tc *tensorCtx) (*ir.Model, error) {
	if mp.Graph == nil {
		return nil, errors.New("the file has no graph (is it an ONNX model?)")
	}
	m := &ir.Model{
		Opsets:          map[string]int64{},
		IRVersion:       mp.GetIrVersion(),
		ProducerName:    mp.GetProducerName(),
		ProducerVersion: mp.GetProducerVersion(),
		Domain:          mp.GetDomain(),
		ModelVersion:    mp.GetModelVersion(),
		Doc:             mp.GetDocString(),
		Metadata:        map[string]string{},
	}
	for _, kv := range mp.MetadataProps {
		m.Metadata[kv.GetKey()] = kv.GetValue()
	}
	for _, os := range mp.OpsetImport {
		d := os.GetDomain()
		if d == "ai.onnx" {
			d = ""
		}
		m.Opsets[d] = os.GetVersion()
	}
	if len(mp.OpsetImport) == 0 {
		// IR version 1-2 models predate opset_import; they mean opset 1.
		m.Opsets[""] = 1
	}
	v := m.Opsets[""]
	if v > MaxOpset {
		return nil, fmt.Errorf("default-domain opset %d is newer than runinfer supports (up to %d): %w", v, MaxOpset, ErrUnsupported)
	}
	dc := &decodeCtx{tc: tc, opset: v, opsets: m.Opsets}
	for _, f := range mp.Functions {
		dc.addFunction(f)
	}
	g, err := dc.graph(mp.Graph, true)
	if err != nil {
		return nil, err
	}
	m.Graph = g
	return m, nil
}

type decodeCtx struct {
	tc     *tensorCtx
	opset  int64
	opsets map[string]int64
	funcs  map[string]*pb.FunctionProto // domain + "\x00" + name
	fresh  int                          // counter for generated value names
}

func (dc *decodeCtx) addFunction(f *pb.FunctionProto) {
	if dc.funcs == nil {
		dc.funcs = map[string]*pb.FunctionProto{}
	}
	dc.funcs[f.GetDomain()+"\x00"+f.GetName()] = f
}

// graph converts a GraphProto. top is false for subgraphs held in attributes,
// which are converted as-is (no canonicalization, no validation) since the
// runtime has no control-flow operators.
func (dc *decodeCtx) graph(gp *pb.GraphProto, top bool) (*ir.Graph, error) {
	g := ir.NewGraph(gp.GetName())
	g.Doc = gp.GetDocString()
	for _, tp := range gp.Initializer {
		if tp.GetName() == "" {
			return nil, errors.New("an initializer has no name")
		}
		if _, dup := g.Initializers[tp.GetName()]; dup {
			return nil, fmt.Errorf("initializer %q is defined twice", tp.GetName())
		}
		t, err := dc.tc.tensorFromProto(tp)
		if err != nil {
			return nil, fmt.Errorf("initializer: %w", err)
		}
		g.Initializers[tp.GetName()] = t
		// The converted tensor owns its data now: drop the protobuf's copy
		// so the garbage collector can reclaim it while the rest converts.
		tp.RawData, tp.FloatData, tp.Int64Data, tp.Int32Data, tp.DoubleData = nil, nil, nil, nil, nil
	}
	for _, sp := range gp.SparseInitializer {
		t, name, err := dc.sparse(sp)
		if err != nil {
			return nil, fmt.Errorf("sparse initializer: %w", err)
		}
		g.Initializers[name] = t
	}
	for _, vp := range gp.Input {
		// Models from before IR version 4 also list initializers as inputs;
		// they are weights, not something a caller feeds.
		if _, isInit := g.Initializers[vp.GetName()]; isInit {
			continue
		}
		vi, err := valueInfo(vp)
		if err != nil {
			return nil, fmt.Errorf("graph input: %w", err)
		}
		g.Inputs = append(g.Inputs, vi)
	}
	for _, vp := range gp.Output {
		vi, err := valueInfo(vp)
		if err != nil {
			return nil, fmt.Errorf("graph output: %w", err)
		}
		g.Outputs = append(g.Outputs, vi)
	}
	for _, vp := range gp.ValueInfo {
		vi, err := valueInfo(vp)
		if err != nil {
			return nil, fmt.Errorf("value_info: %w", err)
		}
		g.ValueInfos[vi.Name] = vi
	}
	for _, np := range gp.Node {
		n, err := dc.node(np)
		if err != nil {
			return nil, err
		}
		g.Nodes = append(g.Nodes, n)
	}
	if !top {
		return g, nil
	}
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if err := dc.inlineFunctions(g); err != nil {
		return nil, err
	}
	if err := canonicalize(g, dc); err != nil {
		return nil, err
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("after import rewrites: %w", err)
	}
	return g, nil
}

func (dc *decodeCtx) node(np *pb.NodeProto) (*ir.Node, error) {
	n := &ir.Node{
		Name:    np.GetName(),
		Op:      np.GetOpType(),
		Domain:  np.GetDomain(),
		Inputs:  append([]string(nil), np.Input...),
		Outputs: append([]string(nil), np.Output...),
		Doc:     np.GetDocString(),
		Attrs:   map[string]*ir.Attr{},
	}
	if n.Domain == "ai.onnx" {
		n.Domain = ""
	}
	for _, ap := range np.Attribute {
		a, err := dc.attr(ap)
		if err != nil {
			return nil, fmt.Errorf("%s: attribute %q: %w", n.Describe(), ap.GetName(), err)
		}
		n.Attrs[a.Name] = a
	}
	return n, nil
}

func (dc *decodeCtx) attr(ap *pb.AttributeProto) (*ir.Attr, error) {
	a := &ir.Attr{Name: ap.GetName(), Type: ir.AttrType(ap.GetType()), RefAttrName: ap.GetRefAttrName()}
	if a.Type == ir.AttrUndefined {
		// IR version 1 attributes have no type: infer it from the field set.
		a.Type = guessAttrType(ap)
	}
	var err error
	switch a.Type {
	case ir.AttrFloat:
		a.F = ap.GetF()
	case ir.AttrInt:
		a.I = ap.GetI()
	case ir.AttrString:
		a.S = string(ap.GetS())
	case ir.AttrTensor:
		a.T, err = dc.tc.tensorFromProto(ap.GetT())
	case ir.AttrGraph:
		a.G, err = dc.graph(ap.GetG(), false)
	case ir.AttrSparseTensor:
		a.T, _, err = dc.sparse(ap.GetSparseTensor())
	case ir.AttrTypeProto:
		var vi *ir.ValueInfo
		vi, err = typeInfo("", ap.GetTp())
		a.Types = []*ir.ValueInfo{vi}
	case ir.AttrFloats:
		a.Floats = append([]float32(nil), ap.Floats...)
	case ir.AttrInts:
		a.Ints = append([]int64(nil), ap.Ints...)
	case ir.AttrStrings:
		for _, s := range ap.Strings {
			a.Strings = append(a.Strings, string(s))
		}
	case ir.AttrTensors:
		for _, tp := range ap.Tensors {
			t, e := dc.tc.tensorFromProto(tp)
			if e != nil {
				return nil, e
			}
			a.Tensors = append(a.Tensors, t)
		}
	case ir.AttrGraphs:
		for _, gp := range ap.Graphs {
			g, e := dc.graph(gp, false)
			if e != nil {
				return nil, e
			}
			a.Graphs = append(a.Graphs, g)
		}
	case ir.AttrSparseTensors:
		for _, sp := range ap.SparseTensors {
			t, _, e := dc.sparse(sp)
			if e != nil {
				return nil, e
			}
			a.Tensors = append(a.Tensors, t)
		}
	case ir.AttrTypeProtos:
		for _, tp := range ap.TypeProtos {
			vi, e := typeInfo("", tp)
			if e != nil {
				return nil, e
			}
			a.Types = append(a.Types, vi)
		}
	default:
		if a.RefAttrName == "" {
			return nil, fmt.Errorf("unknown attribute type %d", a.Type)
		}
	}
	return a, err
}

func guessAttrType(ap *pb.AttributeProto) ir.AttrType {
	switch {
	case ap.F != nil:
		return ir.AttrFloat
	case ap.I != nil:
		return ir.AttrInt
	case ap.S != nil:
		return ir.AttrString
	case ap.T != nil:
		return ir.AttrTensor
	case ap.G != nil:
		return ir.AttrGraph
	case len(ap.Floats) > 0:
		return ir.AttrFloats
	case len(ap.Ints) > 0:
		return ir.AttrInts
	case len(ap.Strings) > 0:
		return ir.AttrStrings
	case len(ap.Tensors) > 0:
		return ir.AttrTensors
	case len(ap.Graphs) > 0:
		return ir.AttrGraphs
	}
	return ir.AttrUndefined
}

// sparse densifies a SparseTensorProto (COO indices, flat or [NNZ, rank]).
func (dc *decodeCtx) sparse(sp *pb.SparseTensorProto) (*ir.Tensor, string, error) {
	if sp == nil || sp.Values == nil {
		return nil, "", errors.New("sparse tensor without values")
	}
	vals, err := dc.tc.tensorFromProto(sp.Values)
	if err != nil {
		return nil, "", err
	}
	shape := make([]int, len(sp.Dims))
	for i, d := range sp.Dims {
		if d < 0 || d > ir.MaxElements {
			return nil, "", fmt.Errorf("sparse tensor: invalid dimension %d", d)
		}
		shape[i] = int(d)
	}
	dense, err := ir.NewTensor(vals.DType, shape)
	if err != nil {
		return nil, "", fmt.Errorf("sparse tensor: %w", err)
	}
	nnz := vals.Len()
	var idx []int64
	if sp.Indices != nil {
		it, err := dc.tc.tensorFromProto(sp.Indices)
		if err != nil {
			return nil, "", err
		}
		if idx, err = it.Int64s(); err != nil {
			return nil, "", fmt.Errorf("sparse indices: %w", err)
		}
	}
	total := dense.Len()
	strides := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		strides[i] = acc
		acc *= shape[i]
	}
	flat := make([]int, nnz)
	switch {
	case len(idx) == nnz:
		for i, v := range idx {
			flat[i] = int(v)
		}
	case len(idx) == nnz*len(shape):
		for i := 0; i < nnz; i++ {
			off := 0
			for d := range shape {
				v := idx[i*len(shape)+d]
				if v < 0 || v >= int64(shape[d]) {
					return nil, "", fmt.Errorf("sparse index %d out of range for dimension %d", v, shape[d])
				}
				off += int(v) * strides[d]
			}
			flat[i] = off
		}
	default:
		return nil, "", fmt.Errorf("sparse tensor: %d indices for %d values of rank %d", len(idx), nnz, len(shape))
	}
	for i, off := range flat {
		if off < 0 || off >= total {
			return nil, "", fmt.Errorf("sparse index %d out of range (%d elements)", off, total)
		}
		setElem(dense, off, vals, i)
	}
	return dense, sp.Values.GetName(), nil
}

// setElem copies src[i] into dst[j] (same dtype).
func setElem(dst *ir.Tensor, j int, src *ir.Tensor, i int) {
	switch d := dst.Data.(type) {
	case []float32:
		d[j] = src.Data.([]float32)[i]
	case []float64:
		d[j] = src.Data.([]float64)[i]
	case []int8:
		d[j] = src.Data.([]int8)[i]
	case []uint8:
		d[j] = src.Data.([]uint8)[i]
	case []int16:
		d[j] = src.Data.([]int16)[i]
	case []uint16:
		d[j] = src.Data.([]uint16)[i]
	case []int32:
		d[j] = src.Data.([]int32)[i]
	case []uint32:
		d[j] = src.Data.([]uint32)[i]
	case []int64:
		d[j] = src.Data.([]int64)[i]
	case []uint64:
		d[j] = src.Data.([]uint64)[i]
	case []bool:
		d[j] = src.Data.([]bool)[i]
	case []string:
		d[j] = src.Data.([]string)[i]
	}
}

func valueInfo(vp *pb.ValueInfoProto) (*ir.ValueInfo, error) {
	if vp.GetName() == "" {
		return nil, errors.New("a value has no name")
	}
	vi, err := typeInfo(vp.GetName(), vp.GetType())
	if err != nil {
		return nil, fmt.Errorf("%q: %w", vp.GetName(), err)
	}
	vi.Doc = vp.GetDocString()
	return vi, nil
}

// typeInfo reads a tensor type; other kinds (sequences, maps, optionals) are
// reported as unsupported. A missing type is allowed (undefined, unranked).
func typeInfo(name string, tp *pb.TypeProto) (*ir.ValueInfo, error) {
	vi := &ir.ValueInfo{Name: name}
	if tp == nil || tp.Value == nil {
		return vi, nil
	}
	tt := tp.GetTensorType()
	if tt == nil {
		return nil, fmt.Errorf("only tensor types are supported, got %T: %w", tp.Value, ErrUnsupported)
	}
	vi.DType = ir.DType(tt.GetElemType())
	if tt.Shape != nil {
		vi.Shape.Ranked = true
		for _, d := range tt.Shape.Dim {
			switch {
			case d.GetDimParam() != "":
				vi.Shape.Dims = append(vi.Shape.Dims, ir.SymDim(d.GetDimParam()))
			case d.Value != nil && d.GetDimValue() >= 0:
				if _, ok := d.Value.(*pb.TensorShapeProto_Dimension_DimValue); ok {
					vi.Shape.Dims = append(vi.Shape.Dims, ir.KnownDim(d.GetDimValue()))
					continue
				}
				vi.Shape.Dims = append(vi.Shape.Dims, ir.UnknownDim())
			default:
				vi.Shape.Dims = append(vi.Shape.Dims, ir.UnknownDim())
			}
		}
	}
	return vi, nil
}
