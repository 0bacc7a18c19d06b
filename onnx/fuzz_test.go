package onnx_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	pb "github.com/runinfer/runinfer/onnx/onnxpb"
	"github.com/runinfer/runinfer/runtime"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite testdata/fuzz/FuzzDecode from the seed models built here")

// seedModels are small models covering the importer's paths: current and
// old opsets, rewrites, hostile sizes, cycles, external data.
func seedModels() map[string]*pb.ModelProto {
	conv := oneNode(13, "Conv", []int64{1, 2, 5, 5}, []string{"w", "b"}, []attr{ints("pads", 1, 1, 1, 1), ints("strides", 2, 2)}, 1,
		floatInit("w", []int64{3, 2, 3, 3}, make([]float32, 54)...), floatInit("b", []int64{3}, 1, 2, 3))
	hostile := oneNode(13, "Relu", []int64{2}, nil, nil, 1,
		&pb.TensorProto{Name: proto.String("big"), DataType: proto.Int32(1), Dims: []int64{1 << 25, 1 << 25}})
	cyc := oneNode(13, "Relu", []int64{2}, nil, nil, 1)
	cyc.Graph.Node = []*pb.NodeProto{
		{OpType: proto.String("Relu"), Input: []string{"b"}, Output: []string{"a"}},
		{OpType: proto.String("Add"), Input: []string{"x", "a"}, Output: []string{"b"}},
		{OpType: proto.String("Relu"), Input: []string{"b"}, Output: []string{"y0"}},
	}
	ext := oneNode(13, "Add", []int64{2}, []string{"w"}, nil, 1, &pb.TensorProto{
		Name: proto.String("w"), DataType: proto.Int32(1), Dims: []int64{2}, DataLocation: pb.TensorProto_EXTERNAL.Enum(),
		ExternalData: []*pb.StringStringEntryProto{{Key: proto.String("location"), Value: proto.String("../../etc/passwd")}}})
	cos := oneNode(13, "ConstantOfShape", []int64{1}, nil, nil, 1)
	return map[string]*pb.ModelProto{
		"conv":              conv,
		"softmax-opset11":   oneNode(11, "Softmax", []int64{2, 3, 2}, nil, []attr{intA("axis", 1)}, 1),
		"clip-opset6":       oneNode(6, "Clip", []int64{4}, nil, []attr{floatA("min", -1), floatA("max", 1)}, 1),
		"upsample-opset7":   oneNode(7, "Upsample", []int64{1, 1, 2, 2}, nil, []attr{floatsA("scales", 1, 1, 2, 2)}, 1),
		"add-legacy-axis":   oneNode(6, "Add", []int64{2, 3}, []string{"b"}, []attr{intA("broadcast", 1), intA("axis", 0)}, 1, floatInit("b", []int64{2}, 1, 2)),
		"split-opset11":     oneNode(11, "Split", []int64{4}, nil, []attr{ints("split", 1, 3)}, 2),
		"maxpool-ceil":      oneNode(12, "MaxPool", []int64{1, 1, 5, 5}, nil, []attr{ints("kernel_shape", 3, 3), ints("strides", 2, 2), intA("ceil_mode", 1)}, 1),
		"hostile-tensor":    hostile,
		"cycle":             cyc,
		"external-escape":   ext,
		"constantofshape-x": cos,
	}
}

func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		t.Skip("run with -update-seeds to regenerate testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, m := range seedModels() {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to the importer and, when they decode,
// to a session with zero inputs: nothing may panic, and the tensor-size
// limit must stop any runaway allocation.
func FuzzDecode(f *testing.F) {
	for _, m := range seedModels() {
		if b, err := proto.Marshal(m); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := onnx.Decode(data)
		if errors.Is(err, onnx.ErrInternal) {
			t.Fatal(err)
		}
		if err != nil {
			return
		}
		if _, err := onnx.Encode(m); err != nil {
			t.Logf("re-encode: %v", err)
		}
		s, err := runtime.NewSession(m, &runtime.Options{MaxTensorElements: 1 << 18})
		if errors.Is(err, runtime.ErrInternal) {
			t.Fatal(err)
		}
		if err != nil {
			return
		}
		feeds := map[string]*ir.Tensor{}
		for _, vi := range s.Inputs() {
			shape := make([]int, 0, len(vi.Shape.Dims))
			for _, d := range vi.Shape.Dims {
				if d.Known() {
					shape = append(shape, int(d.Size))
				} else {
					shape = append(shape, 1)
				}
			}
			n, err := ir.NumElements(shape)
			if err != nil || n > 1<<16 {
				return
			}
			x, err := ir.NewTensor(vi.DType, shape)
			if err != nil {
				return
			}
			feeds[vi.Name] = x
		}
		if _, err := s.Run(context.Background(), feeds); errors.Is(err, runtime.ErrInternal) {
			t.Fatal(err)
		}
	})
}
