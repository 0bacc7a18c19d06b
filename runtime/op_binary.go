package runtime

import (
	"fmt"
	"math"
	"strings"

	"github.com/runinfer/runinfer/ir"
)

// This file holds the numpy-broadcasting binary and variadic elementwise
// operators (Add, Sub, Mul, Div, Pow, Sum, Max, Min, Mean) and the generic
// helpers the other elementwise files share: the anyNumber constraint, dtype
// sets and checks, and the broadcasting loop.

// anyNumber is the set of Go element types the generic kernels cover: every
// numeric tensor element type except float16/bfloat16, which the session
// lowers to float32 before ops see them.
type anyNumber interface {
	~float32 | ~float64 | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

// isFloatT reports whether T is a floating-point type.
func isFloatT[T anyNumber]() bool {
	var one T = 1
	return one/2 != 0
}

// lowestOf returns the smallest value of T: minus infinity for floats, the
// minimum integer otherwise.
func lowestOf[T anyNumber]() T {
	var z T
	switch any(z).(type) {
	case float32:
		return any(float32(math.Inf(-1))).(T)
	case float64:
		return any(math.Inf(-1)).(T)
	case int8:
		return any(int8(math.MinInt8)).(T)
	case int16:
		return any(int16(math.MinInt16)).(T)
	case int32:
		return any(int32(math.MinInt32)).(T)
	case int64:
		return any(int64(math.MinInt64)).(T)
	}
	return 0 // unsigned types
}

// floatToInt converts f to the integer type T, truncating toward zero. ONNX
// leaves out-of-range conversions undefined; here NaN gives 0, values inside
// the int64 (or, for large positive values, uint64) range wrap to T's width
// as a C cast through a 64-bit integer does, and anything beyond those
// ranges (infinities included) gives the int64 minimum wrapped to T.
func floatToInt[T anyNumber](f float64) T {
	switch {
	case f != f:
		return 0
	case f >= -(1<<63) && f < 1<<63:
		return T(int64(f))
	case f >= 1<<63 && f < 1<<64:
		return T(uint64(f))
	}
	minInt := int64(math.MinInt64)
	return T(minInt)
}

// Dtype sets accepted by the ops in this family.
var (
	floatDTypes = []ir.DType{ir.Float32, ir.Float64}
	intDTypes   = []ir.DType{ir.Int8, ir.Uint8, ir.Int16, ir.Uint16, ir.Int32, ir.Uint32, ir.Int64, ir.Uint64}
	// numericDTypes is every type anyNumber covers.
	numericDTypes = append(append([]ir.DType(nil), floatDTypes...), intDTypes...)
	// signedDTypes are the floating-point and signed integer types.
	signedDTypes = []ir.DType{ir.Float32, ir.Float64, ir.Int8, ir.Int16, ir.Int32, ir.Int64}
)

// checkDType returns an error naming what and the allowed types when dt is
// not among allowed.
func checkDType(what string, dt ir.DType, allowed []ir.DType) error {
	for _, a := range allowed {
		if dt == a {
			return nil
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = a.String()
	}
	return fmt.Errorf("%s has element type %v, want one of %s", what, dt, strings.Join(names, ", "))
}

// broadcastStrides returns in's element strides aligned to the last
// len(in) dimensions of an output of rank outRank, with 0 for dimensions that
// in broadcasts (size 1 or absent).
func broadcastStrides(in []int, outRank int) []int {
	st := make([]int, outRank)
	s := stridesOf(in)
	off := outRank - len(in)
	for i, d := range in {
		if d != 1 {
			st[off+i] = s[i]
		}
	}
	return st
}

// broadcastBinary sets out[i] = f(a[ia], b[ib]) over the output shape oshape,
// where a and b (of shapes ashape, bshape) are broadcast to oshape by numpy
// rules. The caller has checked that the shapes broadcast to oshape. out may
// alias a or b when that operand has the output's full shape.
func broadcastBinary[A, B, O any](out []O, oshape []int, a []A, ashape []int, b []B, bshape []int, f func(A, B) O) {
	n := len(out)
	if n == 0 {
		return
	}
	switch {
	case len(a) == n && len(b) == n:
		for i := range out {
			out[i] = f(a[i], b[i])
		}
		return
	case len(a) == n && len(b) == 1:
		bv := b[0]
		for i := range out {
			out[i] = f(a[i], bv)
		}
		return
	case len(a) == 1 && len(b) == n:
		av := a[0]
		for i := range out {
			out[i] = f(av, b[i])
		}
		return
	}
	r := len(oshape)
	sa := broadcastStrides(ashape, r)
	sb := broadcastStrides(bshape, r)
	inner := oshape[r-1]
	ia, ib := sa[r-1], sb[r-1]
	idx := make([]int, r)
	offA, offB := 0, 0
	for o := 0; o < n; o += inner {
		pa, pb := offA, offB
		for j := 0; j < inner; j++ {
			out[o+j] = f(a[pa], b[pb])
			pa += ia
			pb += ib
		}
		// Advance the odometer over the outer dimensions.
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			offA += sa[d]
			offB += sb[d]
			if idx[d] < oshape[d] {
				break
			}
			offA -= sa[d] * idx[d]
			offB -= sb[d] * idx[d]
			idx[d] = 0
		}
	}
}

// binKind selects the arithmetic of an elementwise binary op.
type binKind int

const (
	binAdd binKind = iota
	binSub
	binMul
	binDiv
	binMax
	binMin
)

// binFunc returns the scalar function of k for type T. Max and Min
// propagate NaN, as numpy's maximum and minimum do.
func binFunc[T anyNumber](k binKind) func(a, b T) T {
	switch k {
	case binSub:
		return func(a, b T) T { return a - b }
	case binMul:
		return func(a, b T) T { return a * b }
	case binDiv:
		return func(a, b T) T { return a / b }
	case binMax:
		return func(a, b T) T {
			if a > b || a != a {
				return a
			}
			return b
		}
	case binMin:
		return func(a, b T) T {
			if a < b || a != a {
				return a
			}
			return b
		}
	}
	return func(a, b T) T { return a + b }
}

// elementwiseOp describes one broadcasting op of this file.
type elementwiseOp struct {
	name  string
	kind  binKind
	types []ir.DType
	mean  bool // divide the sum by the number of inputs
}

func init() {
	for _, op := range []elementwiseOp{
		{name: "Add", kind: binAdd, types: numericDTypes},
		{name: "Sub", kind: binSub, types: numericDTypes},
		{name: "Mul", kind: binMul, types: numericDTypes},
		{name: "Div", kind: binDiv, types: numericDTypes},
	} {
		register(op.name, 2, 2, op.infer, op.run)
	}
	for _, op := range []elementwiseOp{
		{name: "Sum", kind: binAdd, types: numericDTypes},
		{name: "Max", kind: binMax, types: numericDTypes},
		{name: "Min", kind: binMin, types: numericDTypes},
		{name: "Mean", kind: binAdd, types: floatDTypes, mean: true},
	} {
		register(op.name, 1, -1, op.infer, op.run)
	}
	register("Pow", 2, 2, inferPow, runPow)
}

// broadcastArgs checks that every input is present and broadcastable, and
// returns the broadcast shape.
func broadcastArgs(in []*Arg) ([]int, error) {
	shapes := make([][]int, len(in))
	for i, a := range in {
		if a == nil {
			return nil, fmt.Errorf("input %d is missing", i)
		}
		shapes[i] = a.Shape
	}
	return ir.BroadcastShapes(shapes...)
}

func (op elementwiseOp) infer(_ *ir.Node, in []*Arg) ([]Out, error) {
	shape, err := broadcastArgs(in)
	if err != nil {
		return nil, err
	}
	dt := in[0].DType
	if err := checkDType("input 0", dt, op.types); err != nil {
		return nil, err
	}
	for i, a := range in[1:] {
		if a.DType != dt {
			return nil, fmt.Errorf("input %d has element type %v but input 0 has %v", i+1, a.DType, dt)
		}
	}
	return []Out{{DType: dt, Shape: shape}}, nil
}

func (op elementwiseOp) run(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	switch out[0].DType {
	case ir.Float32:
		return foldTyped[float32](op, in, out[0])
	case ir.Float64:
		return foldTyped[float64](op, in, out[0])
	case ir.Int8:
		return foldTyped[int8](op, in, out[0])
	case ir.Uint8:
		return foldTyped[uint8](op, in, out[0])
	case ir.Int16:
		return foldTyped[int16](op, in, out[0])
	case ir.Uint16:
		return foldTyped[uint16](op, in, out[0])
	case ir.Int32:
		return foldTyped[int32](op, in, out[0])
	case ir.Uint32:
		return foldTyped[uint32](op, in, out[0])
	case ir.Int64:
		return foldTyped[int64](op, in, out[0])
	case ir.Uint64:
		return foldTyped[uint64](op, in, out[0])
	}
	return fmt.Errorf("element type %v is not supported", out[0].DType)
}

// foldTyped combines the inputs left to right into out with broadcasting.
func foldTyped[T anyNumber](op elementwiseOp, in []*ir.Tensor, out *ir.Tensor) error {
	o := out.Data.([]T)
	f := binFunc[T](op.kind)
	if op.kind == binDiv && !isFloatT[T]() {
		for i, v := range in[1].Data.([]T) {
			if v == 0 {
				return fmt.Errorf("integer division by zero (divisor element %d)", i)
			}
		}
	}
	first := in[0].Data.([]T)
	if len(in) == 1 {
		broadcastBinary(o, out.Shape, first, in[0].Shape, first, in[0].Shape, func(a, _ T) T { return a })
	} else {
		broadcastBinary(o, out.Shape, first, in[0].Shape, in[1].Data.([]T), in[1].Shape, f)
		for _, t := range in[2:] {
			broadcastBinary(o, out.Shape, o, out.Shape, t.Data.([]T), t.Shape, f)
		}
	}
	if op.mean {
		n := T(len(in))
		for i := range o {
			o[i] /= n
		}
	}
	return nil
}

func inferPow(_ *ir.Node, in []*Arg) ([]Out, error) {
	shape, err := broadcastArgs(in)
	if err != nil {
		return nil, err
	}
	if err := checkDType("base X", in[0].DType, numericDTypes); err != nil {
		return nil, err
	}
	if err := checkDType("exponent Y", in[1].DType, numericDTypes); err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: shape}}, nil
}

func runPow(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	switch in[0].DType {
	case ir.Float32:
		return powBase[float32](in, out[0])
	case ir.Float64:
		return powBase[float64](in, out[0])
	case ir.Int8:
		return powBase[int8](in, out[0])
	case ir.Uint8:
		return powBase[uint8](in, out[0])
	case ir.Int16:
		return powBase[int16](in, out[0])
	case ir.Uint16:
		return powBase[uint16](in, out[0])
	case ir.Int32:
		return powBase[int32](in, out[0])
	case ir.Uint32:
		return powBase[uint32](in, out[0])
	case ir.Int64:
		return powBase[int64](in, out[0])
	case ir.Uint64:
		return powBase[uint64](in, out[0])
	}
	return fmt.Errorf("base element type %v is not supported", in[0].DType)
}

func powBase[T anyNumber](in []*ir.Tensor, out *ir.Tensor) error {
	switch in[1].DType {
	case ir.Float32:
		powTyped[T, float32](in, out)
	case ir.Float64:
		powTyped[T, float64](in, out)
	case ir.Int8:
		powTyped[T, int8](in, out)
	case ir.Uint8:
		powTyped[T, uint8](in, out)
	case ir.Int16:
		powTyped[T, int16](in, out)
	case ir.Uint16:
		powTyped[T, uint16](in, out)
	case ir.Int32:
		powTyped[T, int32](in, out)
	case ir.Uint32:
		powTyped[T, uint32](in, out)
	case ir.Int64:
		powTyped[T, int64](in, out)
	case ir.Uint64:
		powTyped[T, uint64](in, out)
	default:
		return fmt.Errorf("exponent element type %v is not supported", in[1].DType)
	}
	return nil
}

// powTyped computes base^exponent with the result in the base's type.
// Floating-point bases use math.Pow. Integer bases with non-negative integer
// exponents are computed exactly (wrapping on overflow, as numpy does);
// other integer cases are computed in float64 and truncated toward zero.
func powTyped[T, U anyNumber](in []*ir.Tensor, out *ir.Tensor) {
	var f func(a T, b U) T
	switch {
	case isFloatT[T]():
		f = func(a T, b U) T { return T(math.Pow(float64(a), float64(b))) }
	case isFloatT[U]():
		f = func(a T, b U) T { return floatToInt[T](math.Pow(float64(a), float64(b))) }
	default:
		f = func(a T, b U) T {
			if b < 0 {
				return floatToInt[T](math.Pow(float64(a), float64(b)))
			}
			r, base, e := T(1), a, uint64(b)
			for e > 0 {
				if e&1 == 1 {
					r *= base
				}
				base *= base
				e >>= 1
			}
			return r
		}
	}
	broadcastBinary(out.Data.([]T), out.Shape, in[0].Data.([]T), in[0].Shape, in[1].Data.([]U), in[1].Shape, f)
}
