package runtime

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// Test helpers shared by op_logic_test.go, op_argmax_test.go,
// op_reduce_more_test.go and op_misc_test.go.

// lgNode builds a node with nin inputs and nout outputs.
func lgNode(op string, nin, nout int, attrs ...*ir.Attr) *ir.Node {
	n := &ir.Node{Op: op, Attrs: map[string]*ir.Attr{}}
	for i := 0; i < nin; i++ {
		n.Inputs = append(n.Inputs, fmt.Sprintf("in%d", i))
	}
	for i := 0; i < nout; i++ {
		n.Outputs = append(n.Outputs, fmt.Sprintf("out%d", i))
	}
	for _, a := range attrs {
		n.SetAttr(a)
	}
	return n
}

// lgT wraps data as a tensor of the given shape.
func lgT(t *testing.T, shape []int, data any) *ir.Tensor {
	t.Helper()
	x, err := ir.FromSlice(shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// lgI64 wraps int64 values as a tensor of the given shape.
func lgI64(t *testing.T, shape []int, v ...int64) *ir.Tensor { return lgT(t, shape, v) }

// lgRun executes n and fails the test on error.
func lgRun(t *testing.T, n *ir.Node, in ...*ir.Tensor) []*ir.Tensor {
	t.Helper()
	out, err := execNode(n, in)
	if err != nil {
		t.Fatalf("%s: %v", n.Op, err)
	}
	return out
}

// lgFails executes n and expects an error mentioning want.
func lgFails(t *testing.T, want string, n *ir.Node, in ...*ir.Tensor) {
	t.Helper()
	_, err := execNode(n, in)
	if err == nil {
		t.Fatalf("%s: no error, want one mentioning %q", n.Op, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: error %q does not mention %q", n.Op, err, want)
	}
}

// lgWant checks a tensor's shape and exact data (dtype follows the data's
// Go type). Use lgWantF for floats that need a tolerance or hold NaN.
func lgWant(t *testing.T, got *ir.Tensor, shape []int, data any) {
	t.Helper()
	if fmt.Sprint(got.Shape) != fmt.Sprint(shape) {
		t.Fatalf("shape %v, want %v", got.Shape, shape)
	}
	if !reflect.DeepEqual(got.Data, data) {
		t.Fatalf("data %v (%T), want %v (%T)", got.Data, got.Data, data, data)
	}
}

// lgWantF checks a float tensor against want within tol (NaN matches NaN).
func lgWantF(t *testing.T, got *ir.Tensor, dt ir.DType, shape []int, want []float64, tol float64) {
	t.Helper()
	if got.DType != dt {
		t.Fatalf("dtype %v, want %v", got.DType, dt)
	}
	if fmt.Sprint(got.Shape) != fmt.Sprint(shape) {
		t.Fatalf("shape %v, want %v", got.Shape, shape)
	}
	if got.Len() != len(want) {
		t.Fatalf("%d elements, want %d", got.Len(), len(want))
	}
	for i, w := range want {
		g := got.Float64At(i)
		switch {
		case math.IsNaN(w) || math.IsNaN(g):
			if math.IsNaN(w) != math.IsNaN(g) {
				t.Fatalf("element %d: %v, want %v (all: %v)", i, g, w, got.Data)
			}
		case math.IsInf(w, 0) || math.IsInf(g, 0):
			if g != w {
				t.Fatalf("element %d: %v, want %v (all: %v)", i, g, w, got.Data)
			}
		case math.Abs(g-w) > tol*(1+math.Abs(w)):
			t.Fatalf("element %d: %v, want %v (all: %v)", i, g, w, got.Data)
		}
	}
}

var lgNaN = math.NaN()

func TestComparisonsBroadcastAndTreatNaNAsUnordered(t *testing.T) {
	a := []float32{1, 2, 3, float32(lgNaN)} // shape [2,2]
	b := []float32{2, 2}                    // shape [2]: rows compare to (2,2)
	cases := []struct {
		op   string
		want []bool
	}{
		{"Equal", []bool{false, true, false, false}},
		{"Less", []bool{true, false, false, false}},
		{"Greater", []bool{false, false, true, false}},
		{"LessOrEqual", []bool{true, true, false, false}},
		{"GreaterOrEqual", []bool{false, true, true, false}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			got := lgRun(t, lgNode(c.op, 2, 1), lgT(t, []int{2, 2}, a), lgT(t, []int{2}, b))[0]
			lgWant(t, got, []int{2, 2}, c.want)
		})
	}
}

func TestComparisonsCoverIntegerBoolAndStringTypes(t *testing.T) {
	cases := []struct {
		name string
		op   string
		a, b any
		want []bool
	}{
		{"int64 less", "Less", []int64{-5, 0, 7}, []int64{0, 0, 0}, []bool{true, false, false}},
		{"uint8 greater", "Greater", []uint8{0, 200, 255}, []uint8{1, 100, 255}, []bool{false, true, false}},
		{"int32 greater or equal", "GreaterOrEqual", []int32{-1, 4, 9}, []int32{-1, 5, 8}, []bool{true, false, true}},
		{"bool equal", "Equal", []bool{true, false, true}, []bool{true, true, false}, []bool{true, false, false}},
		{"string equal", "Equal", []string{"a", "bc", ""}, []string{"a", "b", ""}, []bool{true, false, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := lgRun(t, lgNode(c.op, 2, 1), lgT(t, []int{3}, c.a), lgT(t, []int{3}, c.b))[0]
			lgWant(t, got, []int{3}, c.want)
		})
	}
}

func TestLogicalOpsFollowTheirTruthTables(t *testing.T) {
	a := []bool{false, false, true, true}
	b := []bool{false, true, false, true}
	for _, c := range []struct {
		op   string
		want []bool
	}{
		{"And", []bool{false, false, false, true}},
		{"Or", []bool{false, true, true, true}},
		{"Xor", []bool{false, true, true, false}},
	} {
		t.Run(c.op, func(t *testing.T) {
			got := lgRun(t, lgNode(c.op, 2, 1), lgT(t, []int{4}, a), lgT(t, []int{4}, b))[0]
			lgWant(t, got, []int{4}, c.want)
		})
	}
	t.Run("And broadcasts a column against a row", func(t *testing.T) {
		got := lgRun(t, lgNode("And", 2, 1), lgT(t, []int{2, 1}, []bool{true, false}), lgT(t, []int{3}, []bool{true, false, true}))[0]
		lgWant(t, got, []int{2, 3}, []bool{true, false, true, false, false, false})
	})
	t.Run("Not", func(t *testing.T) {
		got := lgRun(t, lgNode("Not", 1, 1), lgT(t, []int{2, 2}, a))[0]
		lgWant(t, got, []int{2, 2}, []bool{true, true, false, false})
	})
}

func TestWhereSelectsWithThreeWayBroadcasting(t *testing.T) {
	t.Run("float32 with a row condition", func(t *testing.T) {
		cond := lgT(t, []int{1, 3}, []bool{true, false, true})
		x := lgT(t, []int{2, 1}, []float32{10, 20})
		y := lgT(t, []int{3}, []float32{-1, -2, -3})
		got := lgRun(t, lgNode("Where", 3, 1), cond, x, y)[0]
		lgWant(t, got, []int{2, 3}, []float32{10, -2, 10, 20, -2, 20})
	})
	t.Run("strings with a scalar condition", func(t *testing.T) {
		got := lgRun(t, lgNode("Where", 3, 1), lgT(t, nil, []bool{false}),
			lgT(t, []int{2}, []string{"a", "b"}), lgT(t, []int{2}, []string{"c", "d"}))[0]
		lgWant(t, got, []int{2}, []string{"c", "d"})
	})
	t.Run("int64 elementwise", func(t *testing.T) {
		got := lgRun(t, lgNode("Where", 3, 1), lgT(t, []int{3}, []bool{true, false, false}),
			lgI64(t, []int{3}, 1, 2, 3), lgI64(t, []int{3}, 4, 5, 6))[0]
		lgWant(t, got, []int{3}, []int64{1, 5, 6})
	})
}

func TestPredicatesIsNaNAndIsInf(t *testing.T) {
	x := lgT(t, []int{5}, []float64{1, lgNaN, math.Inf(1), math.Inf(-1), 0})
	lgWant(t, lgRun(t, lgNode("IsNaN", 1, 1), x)[0], []int{5}, []bool{false, true, false, false, false})
	lgWant(t, lgRun(t, lgNode("IsInf", 1, 1), x)[0], []int{5}, []bool{false, false, true, true, false})
	lgWant(t, lgRun(t, lgNode("IsInf", 1, 1, ir.IntAttr("detect_negative", 0)), x)[0], []int{5}, []bool{false, false, true, false, false})
	lgWant(t, lgRun(t, lgNode("IsInf", 1, 1, ir.IntAttr("detect_positive", 0)), x)[0], []int{5}, []bool{false, false, false, true, false})
}

func TestSignAndRound(t *testing.T) {
	lgWantF(t, lgRun(t, lgNode("Sign", 1, 1), lgT(t, []int{4}, []float32{-2.5, 0, 3, float32(lgNaN)}))[0],
		ir.Float32, []int{4}, []float64{-1, 0, 1, lgNaN}, 0)
	lgWant(t, lgRun(t, lgNode("Sign", 1, 1), lgT(t, []int{3}, []int8{-128, 0, 5}))[0], []int{3}, []int8{-1, 0, 1})
	lgWant(t, lgRun(t, lgNode("Sign", 1, 1), lgT(t, []int{2}, []uint32{0, 9}))[0], []int{2}, []uint32{0, 1})
	// Half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2, -1.5 -> -2.
	lgWantF(t, lgRun(t, lgNode("Round", 1, 1), lgT(t, []int{7}, []float32{0.5, 1.5, 2.5, -2.5, -1.5, 2.4, -0.6}))[0],
		ir.Float32, []int{7}, []float64{0, 2, 2, -2, -2, 2, -1}, 0)
}

func TestModFollowsTheSignConventionOfFmod(t *testing.T) {
	a := []int32{-4, 7, 5, -9}
	b := []int32{3, -3, 2, -4}
	t.Run("fmod=0 takes the divisor's sign", func(t *testing.T) {
		got := lgRun(t, lgNode("Mod", 2, 1), lgT(t, []int{4}, a), lgT(t, []int{4}, b))[0]
		lgWant(t, got, []int{4}, []int32{2, -2, 1, -1})
	})
	t.Run("fmod=1 takes the dividend's sign", func(t *testing.T) {
		got := lgRun(t, lgNode("Mod", 2, 1, ir.IntAttr("fmod", 1)), lgT(t, []int{4}, a), lgT(t, []int{4}, b))[0]
		lgWant(t, got, []int{4}, []int32{-1, 1, 1, -1})
	})
	t.Run("float fmod broadcasts a scalar divisor", func(t *testing.T) {
		got := lgRun(t, lgNode("Mod", 2, 1, ir.IntAttr("fmod", 1)), lgT(t, []int{3}, []float64{-4.5, 7, 5.25}), lgT(t, nil, []float64{2}))[0]
		lgWantF(t, got, ir.Float64, []int{3}, []float64{-0.5, 1, 1.25}, 0)
	})
	t.Run("uint8", func(t *testing.T) {
		got := lgRun(t, lgNode("Mod", 2, 1), lgT(t, []int{2}, []uint8{250, 7}), lgT(t, []int{2}, []uint8{7, 250}))[0]
		lgWant(t, got, []int{2}, []uint8{5, 7})
	})
	t.Run("most negative int8 mod -1 is 0", func(t *testing.T) {
		got := lgRun(t, lgNode("Mod", 2, 1), lgT(t, []int{1}, []int8{-128}), lgT(t, []int{1}, []int8{-1}))[0]
		lgWant(t, got, []int{1}, []int8{0})
	})
}

func TestBitShiftMovesBitsInEitherDirection(t *testing.T) {
	left := lgNode("BitShift", 2, 1, ir.StringAttr("direction", "LEFT"))
	right := lgNode("BitShift", 2, 1, ir.StringAttr("direction", "RIGHT"))
	lgWant(t, lgRun(t, left, lgT(t, []int{3}, []uint8{1, 3, 255}), lgT(t, []int{3}, []uint8{7, 2, 8}))[0], []int{3}, []uint8{128, 12, 0})
	lgWant(t, lgRun(t, right, lgT(t, []int{3}, []uint64{16, 255, 1}), lgT(t, nil, []uint64{2}))[0], []int{3}, []uint64{4, 63, 0})
}

func TestShrinkCeluAndTrigonometry(t *testing.T) {
	x := []float64{-2, -0.5, 0, 0.3, 1.5}
	t.Run("Shrink soft", func(t *testing.T) {
		got := lgRun(t, lgNode("Shrink", 1, 1, ir.FloatAttr("lambd", 1), ir.FloatAttr("bias", 0.5)), lgT(t, []int{5}, x))[0]
		lgWantF(t, got, ir.Float64, []int{5}, []float64{-1.5, 0, 0, 0, 1}, 1e-12)
	})
	t.Run("Shrink hard on int32", func(t *testing.T) {
		got := lgRun(t, lgNode("Shrink", 1, 1, ir.FloatAttr("lambd", 1.5)), lgT(t, []int{4}, []int32{-2, -1, 1, 2}))[0]
		lgWant(t, got, []int{4}, []int32{-2, 0, 0, 2})
	})
	t.Run("Celu", func(t *testing.T) {
		got := lgRun(t, lgNode("Celu", 1, 1, ir.FloatAttr("alpha", 2)), lgT(t, []int{5}, x))[0]
		want := []float64{2 * (math.Exp(-1) - 1), 2 * (math.Exp(-0.25) - 1), 0, 0.3, 1.5}
		lgWantF(t, got, ir.Float64, []int{5}, want, 1e-7)
	})
	trig := map[string]func(float64) float64{
		"Sin": math.Sin, "Cos": math.Cos, "Tan": math.Tan, "Atan": math.Atan,
		"Sinh":  func(v float64) float64 { return (math.Exp(v) - math.Exp(-v)) / 2 },
		"Cosh":  func(v float64) float64 { return (math.Exp(v) + math.Exp(-v)) / 2 },
		"Asinh": func(v float64) float64 { return math.Log(v + math.Sqrt(v*v+1)) },
	}
	for op, f := range trig {
		t.Run(op, func(t *testing.T) {
			want := make([]float64, len(x))
			for i, v := range x {
				want[i] = f(v)
			}
			lgWantF(t, lgRun(t, lgNode(op, 1, 1), lgT(t, []int{5}, x))[0], ir.Float64, []int{5}, want, 1e-12)
		})
	}
	u := []float32{-0.5, 0, 0.5}
	lgWantF(t, lgRun(t, lgNode("Asin", 1, 1), lgT(t, []int{3}, u))[0], ir.Float32, []int{3}, []float64{-math.Pi / 6, 0, math.Pi / 6}, 1e-6)
	lgWantF(t, lgRun(t, lgNode("Acos", 1, 1), lgT(t, []int{3}, u))[0], ir.Float32, []int{3}, []float64{2 * math.Pi / 3, math.Pi / 2, math.Pi / 3}, 1e-6)
	lgWantF(t, lgRun(t, lgNode("Atanh", 1, 1), lgT(t, []int{3}, u))[0], ir.Float32, []int{3},
		[]float64{-0.5 * math.Log(3), 0, 0.5 * math.Log(3)}, 1e-6)
	lgWantF(t, lgRun(t, lgNode("Acosh", 1, 1), lgT(t, []int{3}, []float32{1, 2, 0.5}))[0], ir.Float32, []int{3},
		[]float64{0, math.Log(2 + math.Sqrt(3)), lgNaN}, 1e-6)
}

func TestLogicOpsRejectBadInputs(t *testing.T) {
	f32 := lgT(t, []int{2}, []float32{1, 2})
	cases := []struct {
		name string
		n    *ir.Node
		in   []*ir.Tensor
		want string
	}{
		{"comparison of mismatched types", lgNode("Less", 2, 1), []*ir.Tensor{f32, lgI64(t, []int{2}, 1, 2)}, "element type"},
		{"comparison of unbroadcastable shapes", lgNode("Equal", 2, 1), []*ir.Tensor{f32, lgT(t, []int{3}, []float32{1, 2, 3})}, "broadcast"},
		{"Less on strings", lgNode("Less", 2, 1), []*ir.Tensor{lgT(t, []int{1}, []string{"a"}), lgT(t, []int{1}, []string{"b"})}, "element type"},
		{"And on floats", lgNode("And", 2, 1), []*ir.Tensor{f32, f32}, "element type"},
		{"Not on floats", lgNode("Not", 1, 1), []*ir.Tensor{f32}, "element type"},
		{"Where with a float condition", lgNode("Where", 3, 1), []*ir.Tensor{f32, f32, f32}, "condition"},
		{"Where with mismatched branches", lgNode("Where", 3, 1), []*ir.Tensor{lgT(t, []int{2}, []bool{true, false}), f32, lgI64(t, []int{2}, 1, 2)}, "element type"},
		{"IsNaN on integers", lgNode("IsNaN", 1, 1), []*ir.Tensor{lgI64(t, []int{1}, 1)}, "element type"},
		{"integer Mod by zero", lgNode("Mod", 2, 1), []*ir.Tensor{lgI64(t, []int{2}, 1, 2), lgI64(t, []int{2}, 1, 0)}, "by zero"},
		{"float Mod without fmod", lgNode("Mod", 2, 1), []*ir.Tensor{f32, f32}, "fmod=1"},
		{"Mod with fmod=2", lgNode("Mod", 2, 1, ir.IntAttr("fmod", 2)), []*ir.Tensor{f32, f32}, "fmod"},
		{"BitShift without direction", lgNode("BitShift", 2, 1), []*ir.Tensor{lgT(t, []int{1}, []uint8{1}), lgT(t, []int{1}, []uint8{1})}, "direction"},
		{"BitShift on signed ints", lgNode("BitShift", 2, 1, ir.StringAttr("direction", "LEFT")), []*ir.Tensor{lgI64(t, []int{1}, 1), lgI64(t, []int{1}, 1)}, "element type"},
		{"Celu with alpha 0", lgNode("Celu", 1, 1, ir.FloatAttr("alpha", 0)), []*ir.Tensor{f32}, "alpha"},
		{"Sin on integers", lgNode("Sin", 1, 1), []*ir.Tensor{lgI64(t, []int{1}, 1)}, "element type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { lgFails(t, c.want, c.n, c.in...) })
	}
}
