package onnx_test

import (
	"context"
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	pb "github.com/runinfer/runinfer/onnx/onnxpb"
	"github.com/runinfer/runinfer/runtime"
)

type attr = *pb.AttributeProto

func ints(name string, v ...int64) attr {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: v}
}
func intA(name string, v int64) attr {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}
func floatA(name string, v float32) attr {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}
func floatsA(name string, v ...float32) attr {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_FLOATS.Enum(), Floats: v}
}
func strA(name, v string) attr {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func floatInit(name string, shape []int64, v ...float32) *pb.TensorProto {
	return &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(1), Dims: shape, FloatData: v}
}

// oneNode builds a model at opset v with float input x of the given shape,
// one node op(x, extra...) -> y, and the initializers.
func oneNode(v int64, op string, shape []int64, extra []string, attrs []attr, nOut int, inits ...*pb.TensorProto) *pb.ModelProto {
	dims := []*pb.TensorShapeProto_Dimension{}
	for _, d := range shape {
		dims = append(dims, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	typ := func(withShape bool) *pb.TypeProto {
		tt := &pb.TypeProto_Tensor{ElemType: proto.Int32(1)}
		if withShape {
			tt.Shape = &pb.TensorShapeProto{Dim: dims}
		}
		return &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: tt}}
	}
	var outs []string
	var outVI []*pb.ValueInfoProto
	for i := 0; i < nOut; i++ {
		name := "y" + string(rune('0'+i))
		outs = append(outs, name)
		outVI = append(outVI, &pb.ValueInfoProto{Name: proto.String(name), Type: typ(false)})
	}
	return &pb.ModelProto{
		IrVersion:   proto.Int64(3),
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(v)}},
		Graph: &pb.GraphProto{
			Name:        proto.String("g"),
			Input:       []*pb.ValueInfoProto{{Name: proto.String("x"), Type: typ(true)}},
			Output:      outVI,
			Initializer: inits,
			Node: []*pb.NodeProto{{OpType: proto.String(op), Input: append([]string{"x"}, extra...),
				Output: outs, Attribute: attrs}},
		},
	}
}

func run(t *testing.T, mp *pb.ModelProto, x *ir.Tensor) []*ir.Tensor {
	t.Helper()
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnx.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func seq(n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i) - float32(n)/3
	}
	return v
}

func check(t *testing.T, got *ir.Tensor, shape []int, want []float64) {
	t.Helper()
	if len(got.Shape) != len(shape) {
		t.Fatalf("shape %v, want %v", got.Shape, shape)
	}
	for i := range shape {
		if got.Shape[i] != shape[i] {
			t.Fatalf("shape %v, want %v", got.Shape, shape)
		}
	}
	for i, w := range want {
		if g := got.Float64At(i); math.Abs(g-w) > 1e-5*(1+math.Abs(w)) {
			t.Fatalf("element %d = %v, want %v (all: %v)", i, g, w, got.Data)
		}
	}
}

func TestOldOpsetFormsRunWithTheirOriginalMeaning(t *testing.T) {
	x232, _ := ir.FromFloat32([]int{2, 3, 2}, seq(12))
	xs := seq(12)
	f := func(i int) float64 { return float64(xs[i]) }

	t.Run("Softmax before 13 normalizes over the flattened tail", func(t *testing.T) {
		out := run(t, oneNode(11, "Softmax", []int64{2, 3, 2}, nil, []attr{intA("axis", 1)}, 1), x232)
		want := make([]float64, 12)
		for b := 0; b < 2; b++ {
			s := 0.0
			for i := 0; i < 6; i++ {
				s += math.Exp(f(6*b + i))
			}
			for i := 0; i < 6; i++ {
				want[6*b+i] = math.Exp(f(6*b+i)) / s
			}
		}
		check(t, out[0], []int{2, 3, 2}, want)
	})
	t.Run("LogSoftmax before 13 uses the default axis 1", func(t *testing.T) {
		out := run(t, oneNode(9, "LogSoftmax", []int64{2, 3, 2}, nil, nil, 1), x232)
		want := make([]float64, 12)
		for b := 0; b < 2; b++ {
			s := 0.0
			for i := 0; i < 6; i++ {
				s += math.Exp(f(6*b + i))
			}
			for i := 0; i < 6; i++ {
				want[6*b+i] = f(6*b+i) - math.Log(s)
			}
		}
		check(t, out[0], []int{2, 3, 2}, want)
	})
	t.Run("Clip before 11 takes min and max attributes", func(t *testing.T) {
		out := run(t, oneNode(6, "Clip", []int64{2, 3, 2}, nil, []attr{floatA("min", -1), floatA("max", 2)}, 1), x232)
		want := make([]float64, 12)
		for i := range want {
			want[i] = math.Min(math.Max(f(i), -1), 2)
		}
		check(t, out[0], []int{2, 3, 2}, want)
	})
	t.Run("Slice before 10 takes starts, ends and axes attributes", func(t *testing.T) {
		out := run(t, oneNode(9, "Slice", []int64{2, 3, 2}, nil, []attr{ints("starts", 1, 0), ints("ends", 3, 1), ints("axes", 1, 2)}, 1), x232)
		// rows 1..2 of axis 1, column 0: x[b][r][0] for b in 0..1, r in 1..2
		check(t, out[0], []int{2, 2, 1}, []float64{f(2), f(4), f(8), f(10)})
	})
	t.Run("Pad before 11 takes pads and value attributes", func(t *testing.T) {
		out := run(t, oneNode(2, "Pad", []int64{2, 3, 2}, nil, []attr{ints("pads", 0, 0, 1, 0, 0, 0), floatA("value", 7)}, 1), x232)
		// One 7 before each row of the last axis.
		check(t, out[0], []int{2, 3, 3}, []float64{7, f(0), f(1), 7, f(2), f(3), 7, f(4), f(5), 7, f(6), f(7)})
	})
	t.Run("Add before 7 broadcasts B from the given axis", func(t *testing.T) {
		out := run(t, oneNode(6, "Add", []int64{2, 3, 2}, []string{"b"}, []attr{intA("broadcast", 1), intA("axis", 1)}, 1,
			floatInit("b", []int64{3}, 10, 20, 30)), x232)
		want := make([]float64, 12)
		for i := range want {
			want[i] = f(i) + []float64{10, 20, 30}[(i/2)%3]
		}
		check(t, out[0], []int{2, 3, 2}, want)
	})
	t.Run("Mul before 7 without axis aligns trailing dimensions", func(t *testing.T) {
		out := run(t, oneNode(6, "Mul", []int64{2, 3, 2}, []string{"b"}, []attr{intA("broadcast", 1)}, 1,
			floatInit("b", []int64{2}, 2, -1)), x232)
		want := make([]float64, 12)
		for i := range want {
			want[i] = f(i) * []float64{2, -1}[i%2]
		}
		check(t, out[0], []int{2, 3, 2}, want)
	})
	t.Run("Reshape before 5 takes a shape attribute", func(t *testing.T) {
		out := run(t, oneNode(1, "Reshape", []int64{2, 3, 2}, nil, []attr{ints("shape", 4, -1)}, 1), x232)
		want := make([]float64, 12)
		for i := range want {
			want[i] = f(i)
		}
		check(t, out[0], []int{4, 3}, want)
	})
	t.Run("Unsqueeze and Squeeze before 13 take axes attributes", func(t *testing.T) {
		out := run(t, oneNode(11, "Unsqueeze", []int64{2, 3, 2}, nil, []attr{ints("axes", 0, 3)}, 1), x232)
		check(t, out[0], []int{1, 2, 3, 1, 2}, []float64{f(0), f(1)})
		x1, _ := ir.FromFloat32([]int{1, 3, 1}, []float32{1, 2, 3})
		out = run(t, oneNode(11, "Squeeze", []int64{1, 3, 1}, nil, []attr{ints("axes", 2)}, 1), x1)
		check(t, out[0], []int{1, 3}, []float64{1, 2, 3})
	})
	t.Run("ReduceMean before 18 takes an axes attribute", func(t *testing.T) {
		out := run(t, oneNode(13, "ReduceMean", []int64{2, 3, 2}, nil, []attr{ints("axes", 1), intA("keepdims", 0)}, 1), x232)
		want := []float64{(f(0) + f(2) + f(4)) / 3, (f(1) + f(3) + f(5)) / 3, (f(6) + f(8) + f(10)) / 3, (f(7) + f(9) + f(11)) / 3}
		check(t, out[0], []int{2, 2}, want)
	})
	t.Run("Split before 13 takes a split attribute, or splits equally", func(t *testing.T) {
		out := run(t, oneNode(11, "Split", []int64{2, 3, 2}, nil, []attr{intA("axis", 1), ints("split", 1, 2)}, 2), x232)
		check(t, out[0], []int{2, 1, 2}, []float64{f(0), f(1), f(6), f(7)})
		check(t, out[1], []int{2, 2, 2}, []float64{f(2), f(3), f(4), f(5)})
		out = run(t, oneNode(11, "Split", []int64{2, 3, 2}, nil, []attr{intA("axis", 2)}, 2), x232)
		check(t, out[0], []int{2, 3, 1}, []float64{f(0), f(2), f(4)})
	})
	t.Run("Upsample 7 with scales attribute is nearest resizing", func(t *testing.T) {
		x, _ := ir.FromFloat32([]int{1, 1, 2, 2}, []float32{1, 2, 3, 4})
		out := run(t, oneNode(7, "Upsample", []int64{1, 1, 2, 2}, nil, []attr{floatsA("scales", 1, 1, 2, 2), strA("mode", "nearest")}, 1), x)
		check(t, out[0], []int{1, 1, 4, 4}, []float64{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4})
	})
	t.Run("Upsample 9 with a scales input and bilinear mode", func(t *testing.T) {
		x, _ := ir.FromFloat32([]int{1, 1, 1, 2}, []float32{0, 4})
		out := run(t, oneNode(9, "Upsample", []int64{1, 1, 1, 2}, []string{"s"}, []attr{strA("mode", "linear")}, 1,
			floatInit("s", []int64{4}, 1, 1, 1, 2)), x)
		// asymmetric: x_in = x_out/2 -> 0, 0.5, 1, 1.5 (clamped to 1)
		check(t, out[0], []int{1, 1, 1, 4}, []float64{0, 2, 4, 4})
	})
	t.Run("Cast before 6 names its target type as a string", func(t *testing.T) {
		out := run(t, oneNode(5, "Cast", []int64{2, 3, 2}, nil, []attr{strA("to", "INT32")}, 1), x232)
		if out[0].DType != ir.Int32 {
			t.Fatalf("dtype %v", out[0].DType)
		}
		want := make([]float64, 12)
		for i := range want {
			want[i] = math.Trunc(f(i))
		}
		check(t, out[0], []int{2, 3, 2}, want)
	})
	t.Run("Concat before 4 defaults to axis 1", func(t *testing.T) {
		out := run(t, oneNode(3, "Concat", []int64{2, 3, 2}, []string{"x"}, nil, 1), x232)
		check(t, out[0], []int{2, 6, 2}, []float64{f(0), f(1), f(2), f(3), f(4), f(5), f(0), f(1)})
	})
	t.Run("Dropout before 7 with is_test is identity", func(t *testing.T) {
		out := run(t, oneNode(6, "Dropout", []int64{2, 3, 2}, nil, []attr{intA("is_test", 1), floatA("ratio", 0.5)}, 1), x232)
		want := make([]float64, 12)
		for i := range want {
			want[i] = f(i)
		}
		check(t, out[0], []int{2, 3, 2}, want)
	})
}

func TestFunctionsAreInlined(t *testing.T) {
	// A model-local function "Double(x) = Add(x, x)" called twice.
	mp := oneNode(13, "Double", []int64{2}, nil, nil, 1)
	mp.Graph.Node[0].Domain = proto.String("local")
	mp.Graph.Node = append(mp.Graph.Node, &pb.NodeProto{OpType: proto.String("Double"), Domain: proto.String("local"), Input: []string{"y0"}, Output: []string{"z"}})
	mp.Graph.Output[0].Name = proto.String("z")
	mp.OpsetImport = append(mp.OpsetImport, &pb.OperatorSetIdProto{Domain: proto.String("local"), Version: proto.Int64(1)})
	mp.IrVersion = proto.Int64(8)
	mp.Functions = []*pb.FunctionProto{{
		Name: proto.String("Double"), Domain: proto.String("local"),
		Input: []string{"a"}, Output: []string{"b"},
		Node:        []*pb.NodeProto{{OpType: proto.String("Add"), Input: []string{"a", "a"}, Output: []string{"b"}}},
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
	}}
	x, _ := ir.FromFloat32([]int{2}, []float32{1, -2})
	out := run(t, mp, x)
	check(t, out[0], []int{2}, []float64{4, -8})
}

func TestGroupNormalizationBefore21ExpandsPerGroupScale(t *testing.T) {
	// X [1,4,1,2], 2 groups of 2 channels; scale/bias per group (opset 18).
	xs := []float32{1, 2, 3, 4, -1, 0, 5, 10}
	x, _ := ir.FromFloat32([]int{1, 4, 1, 2}, xs)
	mp := oneNode(18, "GroupNormalization", []int64{1, 4, 1, 2}, []string{"scale", "bias"},
		[]attr{intA("num_groups", 2), floatA("epsilon", 0)}, 1,
		floatInit("scale", []int64{2}, 2, -1), floatInit("bias", []int64{2}, 0.5, 3))
	out := run(t, mp, x)
	want := make([]float64, 8)
	for g := 0; g < 2; g++ {
		vals := xs[4*g : 4*g+4]
		mean, vr := 0.0, 0.0
		for _, v := range vals {
			mean += float64(v) / 4
		}
		for _, v := range vals {
			vr += (float64(v) - mean) * (float64(v) - mean) / 4
		}
		for i, v := range vals {
			want[4*g+i] = []float64{2, -1}[g]*(float64(v)-mean)/math.Sqrt(vr) + []float64{0.5, 3}[g]
		}
	}
	check(t, out[0], []int{1, 4, 1, 2}, want)
}
