package onnx

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/runinfer/runinfer/ir"
	pb "github.com/runinfer/runinfer/onnx/onnxpb"
)

// modelProto builds a minimal model: one Relu from x to y, opset v, plus any
// extra initializers.
func modelProto(v int64, inits ...*pb.TensorProto) *pb.ModelProto {
	f := pb.TensorProto_FLOAT
	vi := func(name string) *pb.ValueInfoProto {
		return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
			TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(f)), Shape: &pb.TensorShapeProto{Dim: []*pb.TensorShapeProto_Dimension{
				{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}},
				{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: 3}},
			}}}}}}
	}
	return &pb.ModelProto{
		IrVersion:   proto.Int64(7),
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(v)}},
		Graph: &pb.GraphProto{
			Name:        proto.String("g"),
			Input:       []*pb.ValueInfoProto{vi("x")},
			Output:      []*pb.ValueInfoProto{vi("y")},
			Initializer: inits,
			Node:        []*pb.NodeProto{{OpType: proto.String("Relu"), Input: []string{"x"}, Output: []string{"y"}}},
		},
	}
}

func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rawFloats(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func TestDecodeReadsShapesAndSymbolicDims(t *testing.T) {
	m, err := Decode(marshal(t, modelProto(13)))
	if err != nil {
		t.Fatal(err)
	}
	in := m.Graph.Inputs[0]
	if in.Name != "x" || in.DType != ir.Float32 || in.Shape.String() != "[N,3]" {
		t.Fatalf("input = %v", in)
	}
	if m.Opsets[""] != 13 || len(m.Graph.Nodes) != 1 || m.Graph.Nodes[0].Op != "Relu" {
		t.Fatalf("model = %+v", m)
	}
}

func TestTensorsDecodeFromRawAndTypedFields(t *testing.T) {
	cases := []struct {
		name string
		tp   *pb.TensorProto
		want any
	}{
		{"float raw", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{2}, RawData: rawFloats(1.5, -2)}, []float32{1.5, -2}},
		{"float typed", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{2}, FloatData: []float32{3, 4}}, []float32{3, 4}},
		{"int64 typed", &pb.TensorProto{DataType: proto.Int32(7), Dims: []int64{3}, Int64Data: []int64{1, -2, 3}}, []int64{1, -2, 3}},
		{"int8 in int32_data", &pb.TensorProto{DataType: proto.Int32(3), Dims: []int64{2}, Int32Data: []int32{-5, 7}}, []int8{-5, 7}},
		{"uint8 raw", &pb.TensorProto{DataType: proto.Int32(2), Dims: []int64{2}, RawData: []byte{200, 1}}, []uint8{200, 1}},
		{"bool in int32_data", &pb.TensorProto{DataType: proto.Int32(9), Dims: []int64{2}, Int32Data: []int32{1, 0}}, []bool{true, false}},
		{"float16 bits", &pb.TensorProto{DataType: proto.Int32(10), Dims: []int64{1}, Int32Data: []int32{0x3c00}}, []uint16{0x3c00}},
		{"double typed", &pb.TensorProto{DataType: proto.Int32(11), Dims: []int64{1}, DoubleData: []float64{2.5}}, []float64{2.5}},
		{"uint32 in uint64_data", &pb.TensorProto{DataType: proto.Int32(12), Dims: []int64{1}, Uint64Data: []uint64{7}}, []uint32{7}},
		{"scalar", &pb.TensorProto{DataType: proto.Int32(1), FloatData: []float32{9}}, []float32{9}},
		{"string", &pb.TensorProto{DataType: proto.Int32(8), Dims: []int64{1}, StringData: [][]byte{[]byte("hi")}}, []string{"hi"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := (&tensorCtx{}).tensorFromProto(c.tp)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Data, c.want) {
				t.Fatalf("data = %v, want %v", got.Data, c.want)
			}
		})
	}
}

func TestHostileTensorsAreRejectedWithoutAllocating(t *testing.T) {
	cases := []struct {
		name, want string
		tp         *pb.TensorProto
	}{
		{"2^50 elements with no data", "too large", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{1 << 25, 1 << 25}, RawData: []byte{}}},
		{"2^50 elements typed", "invalid dimension", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{1 << 50}, FloatData: []float32{1}}},
		{"overflowing dims", "invalid dimension", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{1 << 40, 1 << 40}}},
		{"negative dim", "invalid dimension", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{-1}}},
		{"2^28 elements, short data", "needs 1073741824 bytes", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{1 << 14, 1 << 14}, RawData: []byte{0, 0, 0, 0}}},
		{"typed count mismatch", "float_data has 1 values", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{1 << 20, 1 << 10}, FloatData: []float32{1}}},
		{"short raw data", "needs 8 bytes", &pb.TensorProto{DataType: proto.Int32(1), Dims: []int64{2}, RawData: []byte{1, 2, 3}}},
		{"unknown dtype", "not supported", &pb.TensorProto{DataType: proto.Int32(99), Dims: []int64{1}}},
	}
	// 2^29+1 float64s need 2^32+8 bytes: a 32-bit int would wrap to 8.
	cases = append(cases, struct {
		name, want string
		tp         *pb.TensorProto
	}{"byte count past 2^32", "bytes of raw data", &pb.TensorProto{DataType: proto.Int32(11), Dims: []int64{1<<29 + 1}, RawData: make([]byte, 8)}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := (&tensorCtx{}).tensorFromProto(c.tp)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}

func TestGraphErrorsNameTheProblem(t *testing.T) {
	cyclic := modelProto(13)
	cyclic.Graph.Node = []*pb.NodeProto{
		{OpType: proto.String("Relu"), Input: []string{"b"}, Output: []string{"a"}},
		{OpType: proto.String("Relu"), Input: []string{"a"}, Output: []string{"b"}},
		{OpType: proto.String("Add"), Input: []string{"x", "b"}, Output: []string{"y"}},
	}
	undefined := modelProto(13)
	undefined.Graph.Node[0].Input = []string{"nope"}
	unknownOp := modelProto(13)
	unknownOp.Graph.Node[0].OpType = proto.String("FancyOp")
	otherDomain := modelProto(13)
	otherDomain.Graph.Node[0].Domain = proto.String("com.example")
	tooNew := modelProto(MaxOpset + 1)
	noGraph := &pb.ModelProto{IrVersion: proto.Int64(7)}
	for _, c := range []struct {
		name string
		m    *pb.ModelProto
		want []string
	}{
		{"cycle", cyclic, []string{"cycle"}},
		{"undefined input", undefined, []string{`"nope"`, "not defined"}},
		{"unknown op", unknownOp, []string{"FancyOp", "ai.onnx", "opset 13", "not supported"}},
		{"unknown domain", otherDomain, []string{"com.example", "not supported"}},
		{"opset too new", tooNew, []string{"opset", "newer"}},
		{"no graph", noGraph, []string{"no graph"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(marshal(t, c.m))
			if err == nil {
				t.Fatal("decoded without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestTruncatedAndGarbageFilesAreErrors(t *testing.T) {
	good := marshal(t, modelProto(13))
	for _, b := range [][]byte{good[:len(good)/2], []byte("not a model at all"), {0xff, 0xff, 0xff}} {
		if _, err := Decode(b); err == nil {
			t.Errorf("Decode(%q) succeeded", b[:min(len(b), 10)])
		}
	}
}

// writeExternalModel writes a model whose initializer "w" lives in location.
func writeExternalModel(t *testing.T, dir, location string, offset, length int) string {
	t.Helper()
	w := &pb.TensorProto{
		Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{2},
		DataLocation: pb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*pb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(location)},
			{Key: proto.String("offset"), Value: proto.String(itoa(offset))},
			{Key: proto.String("length"), Value: proto.String(itoa(length))},
		},
	}
	p := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(p, marshal(t, modelProto(13, w)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestExternalDataIsReadInsideTheModelDirectory(t *testing.T) {
	dir := t.TempDir()
	data := append([]byte{9, 9, 9, 9}, rawFloats(1.25, -3)...)
	if err := os.WriteFile(filepath.Join(dir, "weights.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Load(writeExternalModel(t, dir, "weights.bin", 4, 8))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Graph.Initializers["w"].F32(); !reflect.DeepEqual(got, []float32{1.25, -3}) {
		t.Fatalf("w = %v", got)
	}
}

func TestExternalDataThatEscapesIsRejected(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.bin")
	if err := os.WriteFile(secret, rawFloats(1, 2), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Symlink(secret, filepath.Join(dir, "link.bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "short.bin"), []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, loc  string
		off, n     int
		wantSubstr string
	}{
		{"absolute path", secret, 0, 8, "absolute"},
		{"dot-dot", "../" + filepath.Base(outside) + "/secret.bin", 0, 8, "escapes"},
		{"symlink out", "link.bin", 0, 8, "outside"},
		{"missing file", "nope.bin", 0, 8, "no such file"},
		{"past the end", "short.bin", 0, 8, "outside the file"},
		{"wrong length", "short.bin", 0, 3, "does not match"},
		{"negative offset", "short.bin", -4, 8, "outside the file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeExternalModel(t, dir, c.loc, c.off, c.n))
			if err == nil || !strings.Contains(err.Error(), c.wantSubstr) {
				t.Fatalf("err = %v, want it to mention %q", err, c.wantSubstr)
			}
		})
	}
	// From bytes there is no directory: external data is refused outright.
	b, _ := os.ReadFile(writeExternalModel(t, dir, "short.bin", 0, 8))
	if _, err := Decode(b); err == nil || !strings.Contains(err.Error(), "external data") {
		t.Fatalf("Decode with external data: err = %v", err)
	}
}

func TestInitializersListedAsInputsAreNotInputs(t *testing.T) {
	mp := modelProto(6, &pb.TensorProto{Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{1}})
	mp.Graph.Input = append(mp.Graph.Input, &pb.ValueInfoProto{Name: proto.String("w")})
	m, err := Decode(marshal(t, mp))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Graph.Inputs) != 1 || m.Graph.Inputs[0].Name != "x" {
		t.Fatalf("inputs = %v", m.Graph.Inputs)
	}
}

func TestSaveThenLoadKeepsEverything(t *testing.T) {
	g := ir.NewGraph("rt")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float16, Shape: ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("batch"), ir.KnownDim(4)}}}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float16, Shape: ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("batch"), ir.KnownDim(4)}}}}
	g.Initializers["lo"], _ = ir.Wrap(ir.Float16, nil, []uint16{ir.Float32ToFloat16(-1)})
	g.Initializers["hi"], _ = ir.Wrap(ir.Float16, nil, []uint16{ir.Float32ToFloat16(1)})
	g.Initializers["i8"], _ = ir.FromSlice([]int{3}, []int8{-1, 0, 1})
	g.Initializers["flags"], _ = ir.FromSlice([]int{2}, []bool{true, false})
	n := &ir.Node{Name: "clip", Op: "Clip", Inputs: []string{"x", "lo", "hi"}, Outputs: []string{"y"}, Attrs: map[string]*ir.Attr{}}
	n.SetAttr(ir.IntAttr("i", -3))
	n.SetAttr(ir.FloatAttr("f", 0.5))
	n.SetAttr(ir.StringAttr("s", "text"))
	n.SetAttr(ir.IntsAttr("is", []int64{1, 2}))
	n.SetAttr(&ir.Attr{Name: "fs", Type: ir.AttrFloats, Floats: []float32{1.5}})
	n.SetAttr(&ir.Attr{Name: "ss", Type: ir.AttrStrings, Strings: []string{"a", "b"}})
	n.SetAttr(&ir.Attr{Name: "t", Type: ir.AttrTensor, T: ir.Scalar(float32(2))})
	g.Nodes = []*ir.Node{n}
	m := &ir.Model{Graph: g, Metadata: map[string]string{"k": "v"}, ProducerName: "test"}
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := Save(path, m); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Opsets[""] != ir.CanonicalOpset || back.ProducerName != "test" || back.Metadata["k"] != "v" {
		t.Fatalf("model data lost: %+v", back)
	}
	if got := back.Graph.Inputs[0].String(); got != "x: float16[batch,4]" {
		t.Fatalf("input = %s", got)
	}
	for name, want := range g.Initializers {
		if got := back.Graph.Initializers[name]; !reflect.DeepEqual(got, want) {
			t.Errorf("initializer %s = %#v, want %#v", name, got, want)
		}
	}
	bn := back.Graph.Nodes[0]
	for k, want := range n.Attrs {
		if got := bn.Attrs[k]; got.String() != want.String() {
			t.Errorf("attr %s = %v, want %v", k, got, want)
		}
	}
}

func TestSaveIsAtomicOnFailure(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := &ir.Model{Graph: ir.NewGraph("bad")}
	bad.Graph.Initializers["x"] = &ir.Tensor{DType: ir.Complex64, Data: nil}
	if err := Save(path, bad); err == nil {
		t.Fatal("saving an unencodable tensor succeeded")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatalf("existing file clobbered: %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestTensorFileRoundTrip(t *testing.T) {
	x, _ := ir.FromSlice([]int{2, 2}, []int64{1, 2, 3, -4})
	p := filepath.Join(t.TempDir(), "t.pb")
	if err := WriteTensor(p, "input", x); err != nil {
		t.Fatal(err)
	}
	got, name, err := ReadTensor(p)
	if err != nil || name != "input" || !reflect.DeepEqual(got, x) {
		t.Fatalf("ReadTensor = %v %q %v", got, name, err)
	}
}
