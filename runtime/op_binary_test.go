package runtime

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// Test helpers for the elementwise, softmax, matmul, reduce and cast tests
// (prefix ew).

// ewNode builds a node with nin inputs named x0.. and one output y.
func ewNode(op string, nin int, attrs ...*ir.Attr) *ir.Node {
	n := &ir.Node{Op: op, Outputs: []string{"y"}}
	for i := 0; i < nin; i++ {
		n.Inputs = append(n.Inputs, fmt.Sprintf("x%d", i))
	}
	for _, a := range attrs {
		n.SetAttr(a)
	}
	return n
}

// ewT wraps data as a tensor of the given shape.
func ewT(t *testing.T, shape []int, data any) *ir.Tensor {
	t.Helper()
	x, err := ir.FromSlice(shape, data)
	if err != nil {
		t.Fatalf("building test tensor: %v", err)
	}
	return x
}

// ewRun executes a one-output node and fails the test on error.
func ewRun(t *testing.T, n *ir.Node, in ...*ir.Tensor) *ir.Tensor {
	t.Helper()
	out, err := execNode(n, in)
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", n.Op, err)
	}
	if len(out) != 1 {
		t.Fatalf("%s: %d outputs, want 1", n.Op, len(out))
	}
	return out[0]
}

// ewFails executes a node that must fail with an error containing want.
func ewFails(t *testing.T, want string, n *ir.Node, in ...*ir.Tensor) {
	t.Helper()
	_, err := execNode(n, in)
	if err == nil {
		t.Fatalf("%s: no error, want one containing %q", n.Op, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("%s: error %q does not contain %q", n.Op, err, want)
	}
}

// ewF64 returns a tensor's elements as float64.
func ewF64(x *ir.Tensor) []float64 {
	out := make([]float64, x.Len())
	for i := range out {
		out[i] = x.Float64At(i)
	}
	return out
}

// ewCheck compares dtype, shape and values (NaN equals NaN; tol is relative
// to max(1, |want|)).
func ewCheck(t *testing.T, got *ir.Tensor, dt ir.DType, shape []int, want []float64, tol float64) {
	t.Helper()
	if got.DType != dt {
		t.Fatalf("dtype %v, want %v", got.DType, dt)
	}
	if !reflect.DeepEqual(append([]int{}, got.Shape...), append([]int{}, shape...)) {
		t.Fatalf("shape %v, want %v", got.Shape, shape)
	}
	g := ewF64(got)
	if len(g) != len(want) {
		t.Fatalf("%d elements, want %d", len(g), len(want))
	}
	for i := range g {
		w := want[i]
		switch {
		case math.IsNaN(w):
			if !math.IsNaN(g[i]) {
				t.Fatalf("element %d = %v, want NaN (got %v)", i, g[i], g)
			}
		case math.IsInf(w, 0):
			if g[i] != w {
				t.Fatalf("element %d = %v, want %v (got %v)", i, g[i], w, g)
			}
		case math.Abs(g[i]-w) > tol*math.Max(1, math.Abs(w)):
			t.Fatalf("element %d = %v, want %v (got %v, want %v)", i, g[i], w, g, want)
		}
	}
}

// ewRandF32 returns a float32 tensor with values in [-2, 2).
func ewRandF32(t *testing.T, rng *rand.Rand, shape ...int) *ir.Tensor {
	n := prod(shape)
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(rng.Float64()*4 - 2)
	}
	return ewT(t, shape, d)
}

// ewSourceIndex maps an output multi-index to the flat index of an input of
// shape in broadcast to it by numpy rules (naive: one dimension at a time).
func ewSourceIndex(outIdx, in []int) int {
	off := len(outIdx) - len(in)
	flat := 0
	for d, size := range in {
		i := outIdx[off+d]
		if size == 1 {
			i = 0
		}
		flat = flat*size + i
	}
	return flat
}

// ewUnflatten converts a flat row-major index to a multi-index.
func ewUnflatten(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return idx
}

func TestBinaryOpsBroadcastLikeNumpy(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	cases := []struct{ a, b, out []int }{
		{[]int{2, 3}, []int{2, 3}, []int{2, 3}},
		{[]int{2, 3}, []int{3}, []int{2, 3}},
		{[]int{2, 1}, []int{1, 3}, []int{2, 3}},
		{[]int{}, []int{2, 2}, []int{2, 2}},
		{[]int{2, 2}, []int{}, []int{2, 2}},
		{[]int{}, []int{}, []int{}},
		{[]int{2, 1, 3, 1}, []int{4, 1, 5}, []int{2, 4, 3, 5}},
		{[]int{3, 1, 4}, []int{5, 1}, []int{3, 5, 4}},
		{[]int{1}, []int{3, 2}, []int{3, 2}},
		{[]int{0, 3}, []int{3}, []int{0, 3}},
		{[]int{2, 0}, []int{1}, []int{2, 0}},
	}
	ops := map[string]func(a, b float64) float64{
		"Add": func(a, b float64) float64 { return a + b },
		"Sub": func(a, b float64) float64 { return a - b },
		"Mul": func(a, b float64) float64 { return a * b },
		"Div": func(a, b float64) float64 { return a / b },
		"Pow": func(a, b float64) float64 { return math.Pow(math.Abs(a), b) },
	}
	for _, c := range cases {
		for op, f := range ops {
			t.Run(fmt.Sprintf("%s_%v_%v", op, c.a, c.b), func(t *testing.T) {
				a, b := ewRandF32(t, rng, c.a...), ewRandF32(t, rng, c.b...)
				if op == "Pow" {
					for i, v := range a.F32() {
						a.F32()[i] = float32(math.Abs(float64(v)))
					}
				}
				got := ewRun(t, ewNode(op, 2), a, b)
				want := make([]float64, prod(c.out))
				for i := range want {
					idx := ewUnflatten(i, c.out)
					want[i] = f(a.Float64At(ewSourceIndex(idx, c.a)), b.Float64At(ewSourceIndex(idx, c.b)))
				}
				ewCheck(t, got, ir.Float32, c.out, want, 1e-5)
			})
		}
	}
}

func TestBinaryOpsOnIntegersWrapAndTruncate(t *testing.T) {
	cases := []struct {
		name string
		op   string
		a, b any
		dt   ir.DType
		want []float64
	}{
		{"uint8 addition wraps", "Add", []uint8{250, 3}, []uint8{10, 4}, ir.Uint8, []float64{4, 7}},
		{"uint8 subtraction wraps", "Sub", []uint8{3, 10}, []uint8{5, 4}, ir.Uint8, []float64{254, 6}},
		{"uint8 multiplication wraps", "Mul", []uint8{16, 3}, []uint8{16, 5}, ir.Uint8, []float64{0, 15}},
		{"int32 division truncates toward zero", "Div", []int32{7, -7, 7, -7}, []int32{2, 2, -2, -2}, ir.Int32, []float64{3, -3, -3, 3}},
		{"uint8 division truncates", "Div", []uint8{16, 6, 0}, []uint8{11, 5, 23}, ir.Uint8, []float64{1, 1, 0}},
		{"int64 minimum divided by -1 wraps", "Div", []int64{math.MinInt64, 9}, []int64{-1, 3}, ir.Int64, []float64{math.MinInt64, 3}},
		{"int16 subtraction", "Sub", []int16{-30000, 5}, []int16{10000, 7}, ir.Int16, []float64{-40000 + 65536, -2}},
		{"uint64 large values", "Add", []uint64{1 << 63, 1}, []uint64{1 << 62, 2}, ir.Uint64, []float64{1<<63 + 1<<62, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := ewT(t, []int{reflect.ValueOf(c.a).Len()}, c.a), ewT(t, []int{reflect.ValueOf(c.b).Len()}, c.b)
			got := ewRun(t, ewNode(c.op, 2), a, b)
			ewCheck(t, got, c.dt, a.Shape, c.want, 0)
		})
	}
}

func TestFloatDivisionByZeroGivesInfinities(t *testing.T) {
	got := ewRun(t, ewNode("Div", 2), ewT(t, []int{3}, []float64{1, -1, 0}), ewT(t, []int{1}, []float64{0}))
	ewCheck(t, got, ir.Float64, []int{3}, []float64{math.Inf(1), math.Inf(-1), math.NaN()}, 0)
}

func TestIntegerDivisionByZeroIsAnError(t *testing.T) {
	ewFails(t, "division by zero", ewNode("Div", 2), ewT(t, []int{2}, []int32{4, 5}), ewT(t, []int{2}, []int32{1, 0}))
}

func TestPowTypeCombinations(t *testing.T) {
	cases := []struct {
		name string
		x, y any
		dt   ir.DType
		want []float64
	}{
		{"float32 base, float32 exponent", []float32{2, 4, 9}, []float32{3, 0.5, -1}, ir.Float32, []float64{8, 2, 1.0 / 9}},
		{"float32 base, int64 exponent", []float32{2, -3, 0.5}, []int64{-1, 3, 2}, ir.Float32, []float64{0.5, -27, 0.25}},
		{"float32 base, uint32 exponent", []float32{1, 2, 3}, []uint32{4, 5, 6}, ir.Float32, []float64{1, 32, 729}},
		{"float64 base, int32 exponent", []float64{1.5, 10}, []int32{2, -2}, ir.Float64, []float64{2.25, 0.01}},
		{"int32 base, float32 exponent truncates", []int32{1, 2, 3, 2}, []float32{4, 5, 6, 0.5}, ir.Int32, []float64{1, 32, 729, 1}},
		{"int64 base, int64 exponent is exact", []int64{3, -2, 7}, []int64{4, 3, 20}, ir.Int64, []float64{81, -8, 79792266297612001}},
		{"int64 base, float32 exponent", []int64{1, 2, 3}, []float32{4, 5, 6}, ir.Int64, []float64{1, 32, 729}},
		{"int32 negative exponents truncate", []int32{2, 1, -1, -1}, []int32{-1, -3, -3, -2}, ir.Int32, []float64{0, 1, -1, 1}},
		{"int32 overflow wraps", []int32{2}, []int32{33}, ir.Int32, []float64{0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := reflect.ValueOf(c.x).Len()
			got := ewRun(t, ewNode("Pow", 2), ewT(t, []int{n}, c.x), ewT(t, []int{n}, c.y))
			ewCheck(t, got, c.dt, []int{n}, c.want, 1e-6)
		})
	}
}

func TestPowBroadcastsScalarExponent(t *testing.T) {
	got := ewRun(t, ewNode("Pow", 2), ewT(t, []int{3}, []float32{1, 2, 3}), ewT(t, nil, []float32{2}))
	ewCheck(t, got, ir.Float32, []int{3}, []float64{1, 4, 9}, 0)
}

func TestVariadicOpsFoldAllInputsWithBroadcasting(t *testing.T) {
	a := []float32{1, 5, 3, -2, 0, 7} // [2,3]
	b := []float32{4, -1, 3}          // [3]
	c := []float32{2, -6}             // [2,1]
	ai := func(i int) float64 { return float64(a[i]) }
	bi := func(i int) float64 { return float64(b[i%3]) }
	ci := func(i int) float64 { return float64(c[i/3]) }
	ops := map[string]func(x, y, z float64) float64{
		"Sum":  func(x, y, z float64) float64 { return x + y + z },
		"Max":  func(x, y, z float64) float64 { return math.Max(x, math.Max(y, z)) },
		"Min":  func(x, y, z float64) float64 { return math.Min(x, math.Min(y, z)) },
		"Mean": func(x, y, z float64) float64 { return (x + y + z) / 3 },
	}
	for op, f := range ops {
		t.Run(op, func(t *testing.T) {
			got := ewRun(t, ewNode(op, 3), ewT(t, []int{2, 3}, a), ewT(t, []int{3}, b), ewT(t, []int{2, 1}, c))
			want := make([]float64, 6)
			for i := range want {
				want[i] = f(ai(i), bi(i), ci(i))
			}
			ewCheck(t, got, ir.Float32, []int{2, 3}, want, 1e-6)
		})
	}
}

func TestVariadicOpsWithOneInputCopyIt(t *testing.T) {
	for _, op := range []string{"Sum", "Max", "Min", "Mean"} {
		got := ewRun(t, ewNode(op, 1), ewT(t, []int{3}, []float64{1, -2, 3.5}))
		ewCheck(t, got, ir.Float64, []int{3}, []float64{1, -2, 3.5}, 0)
	}
}

func TestMaxAndMinPropagateNaN(t *testing.T) {
	nan := float32(math.NaN())
	for _, op := range []string{"Max", "Min"} {
		got := ewRun(t, ewNode(op, 2), ewT(t, []int{3}, []float32{nan, 1, 2}), ewT(t, []int{3}, []float32{0, nan, 1}))
		want := []float64{math.NaN(), math.NaN(), 2}
		if op == "Min" {
			want[2] = 1
		}
		ewCheck(t, got, ir.Float32, []int{3}, want, 0)
	}
}

func TestMaxAndMinOnIntegerTypes(t *testing.T) {
	cases := []struct {
		name     string
		a, b     any
		max, min []float64
	}{
		{"int8", []int8{-128, 127, 0}, []int8{5, -5, 0}, []float64{5, 127, 0}, []float64{-128, -5, 0}},
		{"uint16", []uint16{65535, 1}, []uint16{0, 2}, []float64{65535, 2}, []float64{0, 1}},
		{"uint64", []uint64{1 << 63, 5}, []uint64{1, 1 << 60}, []float64{1 << 63, 1 << 60}, []float64{1, 5}},
		{"int64", []int64{math.MinInt64, 3}, []int64{2, math.MaxInt64}, []float64{2, math.MaxInt64}, []float64{math.MinInt64, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := reflect.ValueOf(c.a).Len()
			a, b := ewT(t, []int{n}, c.a), ewT(t, []int{n}, c.b)
			ewCheck(t, ewRun(t, ewNode("Max", 2), a, b), a.DType, []int{n}, c.max, 0)
			ewCheck(t, ewRun(t, ewNode("Min", 2), a, b), a.DType, []int{n}, c.min, 0)
		})
	}
}

func TestBinaryOpsRejectBadShapesAndTypes(t *testing.T) {
	f3 := ewT(t, []int{2, 3}, make([]float32, 6))
	cases := []struct {
		name string
		n    *ir.Node
		in   []*ir.Tensor
		want string
	}{
		{"shapes that do not broadcast", ewNode("Add", 2), []*ir.Tensor{f3, ewT(t, []int{4}, make([]float32, 4))}, "cannot be broadcast"},
		{"mixed element types", ewNode("Mul", 2), []*ir.Tensor{f3, ewT(t, []int{3}, make([]float64, 3))}, "input 1 has element type float64"},
		{"string inputs", ewNode("Sub", 2), []*ir.Tensor{ewT(t, []int{1}, []string{"a"}), ewT(t, []int{1}, []string{"b"})}, "element type string"},
		{"bool inputs", ewNode("Add", 2), []*ir.Tensor{ewT(t, []int{1}, []bool{true}), ewT(t, []int{1}, []bool{true})}, "element type bool"},
		{"integer Mean", ewNode("Mean", 2), []*ir.Tensor{ewT(t, []int{1}, []int32{1}), ewT(t, []int{1}, []int32{2})}, "element type int32"},
		{"variadic shape mismatch", ewNode("Sum", 3), []*ir.Tensor{f3, f3, ewT(t, []int{2}, make([]float32, 2))}, "cannot be broadcast"},
		{"Pow with a string exponent", ewNode("Pow", 2), []*ir.Tensor{f3, ewT(t, []int{1}, []string{"2"})}, "exponent Y"},
		{"a missing variadic input", ewNode("Max", 2), []*ir.Tensor{f3, nil}, "input 1 is missing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { ewFails(t, c.want, c.n, c.in...) })
	}
}

func TestBinaryInferReportsBroadcastShapeWithoutValues(t *testing.T) {
	def := ops["Add"]
	outs, err := def.infer(ewNode("Add", 2), []*Arg{{DType: ir.Float32, Shape: []int{4, 1, 3}}, {DType: ir.Float32, Shape: []int{5, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(outs[0].Shape, []int{4, 5, 3}) || outs[0].DType != ir.Float32 {
		t.Fatalf("got %v %v, want float32 [4 5 3]", outs[0].DType, outs[0].Shape)
	}
	if errors.Is(err, errNeedValue) {
		t.Fatal("binary ops never need values")
	}
}
