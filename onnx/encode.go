package onnx

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/runinfer/runinfer/ir"
	pb "github.com/runinfer/runinfer/onnx/onnxpb"
)

// SavedIRVersion is the ONNX IR version written by Encode: version 10 is the
// one that introduced opset 21 (ONNX 1.16).
const SavedIRVersion = 10

// Encode serializes m as an ONNX model at the canonical opset. Initializers
// are written with raw_data.
func Encode(m *ir.Model) ([]byte, error) {
	if m == nil || m.Graph == nil {
		return nil, fmt.Errorf("onnx: nil model")
	}
	gp, err := graphToProto(m.Graph)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	mp := &pb.ModelProto{
		IrVersion:       proto.Int64(SavedIRVersion),
		ProducerName:    proto.String(m.ProducerName),
		ProducerVersion: proto.String(m.ProducerVersion),
		Domain:          proto.String(m.Domain),
		ModelVersion:    proto.Int64(m.ModelVersion),
		DocString:       proto.String(m.Doc),
		Graph:           gp,
		OpsetImport:     []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(ir.CanonicalOpset)}},
	}
	if mp.GetProducerName() == "" {
		mp.ProducerName = proto.String("runinfer")
	}
	keys := make([]string, 0, len(m.Metadata))
	for k := range m.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		mp.MetadataProps = append(mp.MetadataProps, &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(m.Metadata[k])})
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return data, nil
}

// Save writes m to path atomically: to a temporary file in the same
// directory, renamed over path only once complete, so a failure never leaves
// a truncated model behind.
func Save(path string, m *ir.Model) error {
	data, err := Encode(m)
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("onnx: %w", err)
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("onnx: writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("onnx: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("onnx: %w", err)
	}
	return nil
}

func graphToProto(g *ir.Graph) (*pb.GraphProto, error) {
	gp := &pb.GraphProto{Name: proto.String(g.Name)}
	if g.Doc != "" {
		gp.DocString = proto.String(g.Doc)
	}
	for _, name := range g.InitializerNames() {
		tp, err := tensorToProto(name, g.Initializers[name])
		if err != nil {
			return nil, fmt.Errorf("initializer %q: %w", name, err)
		}
		gp.Initializer = append(gp.Initializer, tp)
	}
	for _, vi := range g.Inputs {
		gp.Input = append(gp.Input, valueInfoToProto(vi))
	}
	for _, vi := range g.Outputs {
		gp.Output = append(gp.Output, valueInfoToProto(vi))
	}
	names := make([]string, 0, len(g.ValueInfos))
	for n := range g.ValueInfos {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		gp.ValueInfo = append(gp.ValueInfo, valueInfoToProto(g.ValueInfos[n]))
	}
	for _, n := range g.Nodes {
		np, err := nodeToProto(n)
		if err != nil {
			return nil, err
		}
		gp.Node = append(gp.Node, np)
	}
	return gp, nil
}

func valueInfoToProto(vi *ir.ValueInfo) *pb.ValueInfoProto {
	vp := &pb.ValueInfoProto{Name: proto.String(vi.Name)}
	if vi.Doc != "" {
		vp.DocString = proto.String(vi.Doc)
	}
	vp.Type = typeToProto(vi)
	return vp
}

func typeToProto(vi *ir.ValueInfo) *pb.TypeProto {
	tt := &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(vi.DType))}
	if vi.Shape.Ranked {
		tt.Shape = &pb.TensorShapeProto{}
		for _, d := range vi.Shape.Dims {
			dp := &pb.TensorShapeProto_Dimension{}
			switch {
			case d.Known():
				dp.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: d.Size}
			case d.Param != "":
				dp.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
			}
			tt.Shape.Dim = append(tt.Shape.Dim, dp)
		}
	}
	return &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: tt}}
}

func nodeToProto(n *ir.Node) (*pb.NodeProto, error) {
	np := &pb.NodeProto{
		OpType: proto.String(n.Op),
		Input:  append([]string(nil), n.Inputs...),
		Output: append([]string(nil), n.Outputs...),
	}
	if n.Name != "" {
		np.Name = proto.String(n.Name)
	}
	if n.Domain != "" {
		np.Domain = proto.String(n.Domain)
	}
	if n.Doc != "" {
		np.DocString = proto.String(n.Doc)
	}
	keys := make([]string, 0, len(n.Attrs))
	for k := range n.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ap, err := attrToProto(n.Attrs[k])
		if err != nil {
			return nil, fmt.Errorf("%s: attribute %q: %w", n.Describe(), k, err)
		}
		np.Attribute = append(np.Attribute, ap)
	}
	return np, nil
}

func attrToProto(a *ir.Attr) (*pb.AttributeProto, error) {
	t := a.Type
	// Sparse tensors are held dense in the IR and written back dense.
	switch t {
	case ir.AttrSparseTensor:
		t = ir.AttrTensor
	case ir.AttrSparseTensors:
		t = ir.AttrTensors
	}
	ap := &pb.AttributeProto{Name: proto.String(a.Name), Type: pb.AttributeProto_AttributeType(t).Enum()}
	if a.RefAttrName != "" {
		ap.RefAttrName = proto.String(a.RefAttrName)
	}
	var err error
	switch t {
	case ir.AttrFloat:
		ap.F = proto.Float32(a.F)
	case ir.AttrInt:
		ap.I = proto.Int64(a.I)
	case ir.AttrString:
		ap.S = []byte(a.S)
	case ir.AttrTensor:
		ap.T, err = tensorToProto("", a.T)
	case ir.AttrGraph:
		ap.G, err = graphToProto(a.G)
	case ir.AttrFloats:
		ap.Floats = append([]float32(nil), a.Floats...)
	case ir.AttrInts:
		ap.Ints = append([]int64(nil), a.Ints...)
	case ir.AttrStrings:
		for _, s := range a.Strings {
			ap.Strings = append(ap.Strings, []byte(s))
		}
	case ir.AttrTensors:
		for _, x := range a.Tensors {
			tp, e := tensorToProto("", x)
			if e != nil {
				return nil, e
			}
			ap.Tensors = append(ap.Tensors, tp)
		}
	case ir.AttrGraphs:
		for _, g := range a.Graphs {
			gp, e := graphToProto(g)
			if e != nil {
				return nil, e
			}
			ap.Graphs = append(ap.Graphs, gp)
		}
	case ir.AttrTypeProto:
		if len(a.Types) == 1 {
			ap.Tp = typeToProto(a.Types[0])
		}
	case ir.AttrTypeProtos:
		for _, vi := range a.Types {
			ap.TypeProtos = append(ap.TypeProtos, typeToProto(vi))
		}
	default:
		return nil, fmt.Errorf("cannot write attribute type %d", a.Type)
	}
	return ap, err
}
