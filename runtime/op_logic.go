package runtime

import (
	"cmp"
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// This file holds the comparison, logical and selection operators (Equal,
// Less, Greater, LessOrEqual, GreaterOrEqual, Not, And, Or, Xor, Where), the
// elementwise predicates and integer-friendly math (IsNaN, IsInf, Sign,
// Round, Mod, BitShift, Shrink) and the float-only trigonometric functions
// and Celu. Binary ops broadcast numpy-style with broadcastBinary.
//
// Comparisons follow IEEE 754: every comparison with NaN is false. Sign of
// NaN is NaN. Round rounds half to even. Mod with fmod=0 takes the sign of
// the divisor (Python's %), with fmod=1 the sign of the dividend (C fmod);
// floating-point Mod requires fmod=1, as the specification does. Integer
// division by zero is an error. BitShift by the type's width or more gives 0.

// lgCmpKind selects a comparison.
type lgCmpKind int

const (
	lgEqual lgCmpKind = iota
	lgLess
	lgGreater
	lgLessEq
	lgGreaterEq
)

// lgCompareOp is one registered comparison operator.
type lgCompareOp struct {
	kind  lgCmpKind
	types []ir.DType
}

// lgLogicKind selects a boolean binary function.
type lgLogicKind int

const (
	lgAnd lgLogicKind = iota
	lgOr
	lgXor
)

func init() {
	eqTypes := append(append([]ir.DType(nil), numericDTypes...), ir.Bool, ir.String)
	for name, op := range map[string]lgCompareOp{
		"Equal":          {lgEqual, eqTypes},
		"Less":           {lgLess, numericDTypes},
		"Greater":        {lgGreater, numericDTypes},
		"LessOrEqual":    {lgLessEq, numericDTypes},
		"GreaterOrEqual": {lgGreaterEq, numericDTypes},
	} {
		register(name, 2, 2, op.infer, op.run)
	}
	for name, k := range map[string]lgLogicKind{"And": lgAnd, "Or": lgOr, "Xor": lgXor} {
		register(name, 2, 2, lgInferLogic, k.run)
	}
	register("Not", 1, 1, lgInferNot, lgRunNot)
	register("Where", 3, 3, lgInferWhere, lgRunWhere)
	register("IsNaN", 1, 1, lgInferIsPred, lgRunIsNaN)
	register("IsInf", 1, 1, lgInferIsPred, lgRunIsInf)
	register("Sign", 1, 1, lgInferNumeric, lgRunSign)
	register("Mod", 2, 2, lgInferMod, lgRunMod)
	register("BitShift", 2, 2, lgInferBitShift, lgRunBitShift)
	register("Shrink", 1, 1, lgInferNumeric, lgRunShrink)
	for _, u := range []floatUnary{
		{"Round", noAttrs(math.RoundToEven)},
		{"Sin", noAttrs(math.Sin)},
		{"Cos", noAttrs(math.Cos)},
		{"Tan", noAttrs(math.Tan)},
		{"Asin", noAttrs(math.Asin)},
		{"Acos", noAttrs(math.Acos)},
		{"Atan", noAttrs(math.Atan)},
		{"Sinh", noAttrs(math.Sinh)},
		{"Cosh", noAttrs(math.Cosh)},
		{"Asinh", noAttrs(math.Asinh)},
		{"Acosh", noAttrs(math.Acosh)},
		{"Atanh", noAttrs(math.Atanh)},
		{"Celu", lgCelu},
	} {
		register(u.name, 1, 1, u.infer, u.run)
	}
}

// lgSameTypeBroadcast checks that both inputs have one element type and that
// their shapes broadcast, returning the broadcast shape.
func lgSameTypeBroadcast(in []*Arg, types []ir.DType) ([]int, error) {
	shape, err := broadcastArgs(in)
	if err != nil {
		return nil, err
	}
	if err := checkDType("input A", in[0].DType, types); err != nil {
		return nil, err
	}
	if in[1].DType != in[0].DType {
		return nil, fmt.Errorf("input B has element type %v but input A has %v", in[1].DType, in[0].DType)
	}
	return shape, nil
}

func (op lgCompareOp) infer(_ *ir.Node, in []*Arg) ([]Out, error) {
	shape, err := lgSameTypeBroadcast(in, op.types)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: ir.Bool, Shape: shape}}, nil
}

func (op lgCompareOp) run(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	a, b, o := in[0], in[1], out[0]
	switch a.Data.(type) {
	case []float32:
		return lgCompare[float32](op.kind, a, b, o)
	case []float64:
		return lgCompare[float64](op.kind, a, b, o)
	case []int8:
		return lgCompare[int8](op.kind, a, b, o)
	case []uint8:
		return lgCompare[uint8](op.kind, a, b, o)
	case []int16:
		return lgCompare[int16](op.kind, a, b, o)
	case []uint16:
		return lgCompare[uint16](op.kind, a, b, o)
	case []int32:
		return lgCompare[int32](op.kind, a, b, o)
	case []uint32:
		return lgCompare[uint32](op.kind, a, b, o)
	case []int64:
		return lgCompare[int64](op.kind, a, b, o)
	case []uint64:
		return lgCompare[uint64](op.kind, a, b, o)
	case []string:
		return lgCompare[string](op.kind, a, b, o)
	case []bool:
		if op.kind == lgEqual {
			return lgBoolBinary(a, b, o, func(x, y bool) bool { return x == y })
		}
	}
	return fmt.Errorf("element type %v is not supported", a.DType)
}

// lgCompare evaluates one comparison with broadcasting. NaN compares false
// (and unequal), as Go's operators do.
func lgCompare[T cmp.Ordered](k lgCmpKind, a, b, out *ir.Tensor) error {
	as, bs, err := lgOperands[T]([]*ir.Tensor{a, b})
	if err != nil {
		return err
	}
	var f func(x, y T) bool
	switch k {
	case lgLess:
		f = func(x, y T) bool { return x < y }
	case lgGreater:
		f = func(x, y T) bool { return x > y }
	case lgLessEq:
		f = func(x, y T) bool { return x <= y }
	case lgGreaterEq:
		f = func(x, y T) bool { return x >= y }
	default:
		f = func(x, y T) bool { return x == y }
	}
	broadcastBinary(out.Data.([]bool), out.Shape, as, a.Shape, bs, b.Shape, f)
	return nil
}

// lgBoolBinary applies f to two broadcast bool tensors.
func lgBoolBinary(a, b, out *ir.Tensor, f func(x, y bool) bool) error {
	as, aok := a.Data.([]bool)
	bs, bok := b.Data.([]bool)
	if !aok || !bok {
		return fmt.Errorf("element types %v and %v are not both bool", a.DType, b.DType)
	}
	broadcastBinary(out.Data.([]bool), out.Shape, as, a.Shape, bs, b.Shape, f)
	return nil
}

func lgInferLogic(_ *ir.Node, in []*Arg) ([]Out, error) {
	shape, err := lgSameTypeBroadcast(in, []ir.DType{ir.Bool})
	if err != nil {
		return nil, err
	}
	return []Out{{DType: ir.Bool, Shape: shape}}, nil
}

func (k lgLogicKind) run(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	switch k {
	case lgOr:
		return lgBoolBinary(in[0], in[1], out[0], func(x, y bool) bool { return x || y })
	case lgXor:
		return lgBoolBinary(in[0], in[1], out[0], func(x, y bool) bool { return x != y })
	}
	return lgBoolBinary(in[0], in[1], out[0], func(x, y bool) bool { return x && y })
}

func lgInferNot(_ *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("input X", in[0].DType, []ir.DType{ir.Bool}); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func lgRunNot(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	x, ok := in[0].Data.([]bool)
	if !ok {
		return fmt.Errorf("element type %v is not bool", in[0].DType)
	}
	o := out[0].Data.([]bool)
	for i, v := range x {
		o[i] = !v
	}
	return nil
}

// ---------------------------------------------------------------------------
// Where

func lgInferWhere(_ *ir.Node, in []*Arg) ([]Out, error) {
	shape, err := broadcastArgs(in)
	if err != nil {
		return nil, err
	}
	if in[0].DType != ir.Bool {
		return nil, fmt.Errorf("condition has element type %v, want bool", in[0].DType)
	}
	if in[1].DType != in[2].DType {
		return nil, fmt.Errorf("X has element type %v but Y has %v", in[1].DType, in[2].DType)
	}
	if !in[1].DType.Supported() || isHalf(in[1].DType) {
		return nil, fmt.Errorf("element type %v is not supported", in[1].DType)
	}
	return []Out{{DType: in[1].DType, Shape: shape}}, nil
}

func lgRunWhere(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	c, ok := in[0].Data.([]bool)
	if !ok {
		return fmt.Errorf("condition has element type %v, want bool", in[0].DType)
	}
	o := out[0]
	cpX, err := chunkCopier(o.Data, in[1].Data)
	if err != nil {
		return err
	}
	cpY, err := chunkCopier(o.Data, in[2].Data)
	if err != nil {
		return err
	}
	lgBroadcastWalk(o.Shape, [][]int{in[0].Shape, in[1].Shape, in[2].Shape}, func(oi int, idx []int) {
		if c[idx[0]] {
			cpX(oi, idx[1], 1)
		} else {
			cpY(oi, idx[2], 1)
		}
	})
	return nil
}

// lgBroadcastWalk calls f for every element oi of an output of shape oshape
// in row-major order, with idx[k] the element of the k-th input (of shape
// shapes[k], broadcast numpy-style to oshape) that it reads. idx is reused
// between calls.
func lgBroadcastWalk(oshape []int, shapes [][]int, f func(oi int, idx []int)) {
	n := prod(oshape)
	if n == 0 {
		return
	}
	r := len(oshape)
	st := make([][]int, len(shapes))
	for k, s := range shapes {
		st[k] = broadcastStrides(s, r)
	}
	pos := make([]int, r)
	idx := make([]int, len(shapes))
	for oi := 0; oi < n; oi++ {
		f(oi, idx)
		for d := r - 1; d >= 0; d-- {
			pos[d]++
			for k := range idx {
				idx[k] += st[k][d]
			}
			if pos[d] < oshape[d] {
				break
			}
			for k := range idx {
				idx[k] -= st[k][d] * pos[d]
			}
			pos[d] = 0
		}
	}
}

// ---------------------------------------------------------------------------
// IsNaN, IsInf, Sign

func lgInferIsPred(_ *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("input X", in[0].DType, floatDTypes); err != nil {
		return nil, err
	}
	return []Out{{DType: ir.Bool, Shape: append([]int(nil), in[0].Shape...)}}, nil
}

// lgFloatPred applies pred to every element of a float tensor.
func lgFloatPred(x, out *ir.Tensor, pred func(float64) bool) error {
	o := out.Data.([]bool)
	switch s := x.Data.(type) {
	case []float32:
		for i, v := range s {
			o[i] = pred(float64(v))
		}
	case []float64:
		for i, v := range s {
			o[i] = pred(v)
		}
	default:
		return fmt.Errorf("element type %v is not supported", x.DType)
	}
	return nil
}

func lgRunIsNaN(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	return lgFloatPred(in[0], out[0], math.IsNaN)
}

func lgRunIsInf(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	neg := n.AttrInt("detect_negative", 1) != 0
	pos := n.AttrInt("detect_positive", 1) != 0
	return lgFloatPred(in[0], out[0], func(v float64) bool {
		return (neg && math.IsInf(v, -1)) || (pos && math.IsInf(v, 1))
	})
}

func lgInferNumeric(_ *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("input", in[0].DType, numericDTypes); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func lgRunSign(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	switch x := in[0].Data.(type) {
	case []float32:
		lgSign(x, out[0].Data.([]float32))
	case []float64:
		lgSign(x, out[0].Data.([]float64))
	case []int8:
		lgSign(x, out[0].Data.([]int8))
	case []uint8:
		lgSign(x, out[0].Data.([]uint8))
	case []int16:
		lgSign(x, out[0].Data.([]int16))
	case []uint16:
		lgSign(x, out[0].Data.([]uint16))
	case []int32:
		lgSign(x, out[0].Data.([]int32))
	case []uint32:
		lgSign(x, out[0].Data.([]uint32))
	case []int64:
		lgSign(x, out[0].Data.([]int64))
	case []uint64:
		lgSign(x, out[0].Data.([]uint64))
	default:
		return fmt.Errorf("element type %v is not supported", in[0].DType)
	}
	return nil
}

// lgSign sets o[i] to -1, 0 or 1 by the sign of x[i] (NaN stays NaN).
func lgSign[T anyNumber](x, o []T) {
	for i, v := range x {
		switch {
		case v > 0:
			o[i] = 1
		case v < 0:
			o[i] = 0
			o[i]-- // -1 without a constant conversion that unsigned T rejects
		case v == 0:
			o[i] = 0
		default:
			o[i] = v // NaN
		}
	}
}

// ---------------------------------------------------------------------------
// Mod

func lgInferMod(n *ir.Node, in []*Arg) ([]Out, error) {
	shape, err := lgSameTypeBroadcast(in, numericDTypes)
	if err != nil {
		return nil, err
	}
	fm := n.AttrInt("fmod", 0)
	if fm != 0 && fm != 1 {
		return nil, fmt.Errorf("fmod is %d, want 0 or 1", fm)
	}
	if fm == 0 && in[0].DType.IsFloat() {
		return nil, fmt.Errorf("floating-point Mod (%v) requires fmod=1", in[0].DType)
	}
	return []Out{{DType: in[0].DType, Shape: shape}}, nil
}

func lgRunMod(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	fm := n.AttrInt("fmod", 0) != 0
	switch in[0].Data.(type) {
	case []float32:
		return lgModFloat[float32](fm, in, out[0])
	case []float64:
		return lgModFloat[float64](fm, in, out[0])
	case []int8:
		return lgModInt[int8](fm, in, out[0])
	case []uint8:
		return lgModInt[uint8](fm, in, out[0])
	case []int16:
		return lgModInt[int16](fm, in, out[0])
	case []uint16:
		return lgModInt[uint16](fm, in, out[0])
	case []int32:
		return lgModInt[int32](fm, in, out[0])
	case []uint32:
		return lgModInt[uint32](fm, in, out[0])
	case []int64:
		return lgModInt[int64](fm, in, out[0])
	case []uint64:
		return lgModInt[uint64](fm, in, out[0])
	}
	return fmt.Errorf("element type %v is not supported", in[0].DType)
}

// lgInteger is the set of integer element types.
type lgInteger interface {
	~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

// lgOperands returns both inputs' data as []T.
func lgOperands[T any](in []*ir.Tensor) ([]T, []T, error) {
	a, aok := in[0].Data.([]T)
	b, bok := in[1].Data.([]T)
	if !aok || !bok {
		return nil, nil, fmt.Errorf("element types %v and %v differ", in[0].DType, in[1].DType)
	}
	return a, b, nil
}

// lgIntMod is the integer remainder of a/b (b != 0): truncated (the sign of
// a) for fmod, floored (the sign of b) otherwise. MinInt % -1 is 0 in Go.
func lgIntMod[T lgInteger](a, b T, fmod bool) T {
	r := a % b
	if !fmod && r != 0 && (r < 0) != (b < 0) {
		r += b
	}
	return r
}

func lgModInt[T lgInteger](fmod bool, in []*ir.Tensor, out *ir.Tensor) error {
	a, b, err := lgOperands[T](in)
	if err != nil {
		return err
	}
	for i, v := range b {
		if v == 0 {
			return fmt.Errorf("integer modulo by zero (divisor element %d)", i)
		}
	}
	f := func(x, y T) T { return lgIntMod(x, y, fmod) }
	broadcastBinary(out.Data.([]T), out.Shape, a, in[0].Shape, b, in[1].Shape, f)
	return nil
}

// lgModFloat is C fmod: the remainder has the dividend's sign (exact).
func lgModFloat[T float32 | float64](fmod bool, in []*ir.Tensor, out *ir.Tensor) error {
	if !fmod {
		return fmt.Errorf("floating-point Mod requires fmod=1")
	}
	a, b, err := lgOperands[T](in)
	if err != nil {
		return err
	}
	f := func(x, y T) T { return T(math.Mod(float64(x), float64(y))) }
	broadcastBinary(out.Data.([]T), out.Shape, a, in[0].Shape, b, in[1].Shape, f)
	return nil
}

// ---------------------------------------------------------------------------
// BitShift

var lgUnsignedDTypes = []ir.DType{ir.Uint8, ir.Uint16, ir.Uint32, ir.Uint64}

// lgShiftLeft reads the direction attribute.
func lgShiftLeft(n *ir.Node) (bool, error) {
	switch d := n.AttrString("direction", ""); d {
	case "LEFT":
		return true, nil
	case "RIGHT":
		return false, nil
	default:
		return false, fmt.Errorf("direction is %q, want \"LEFT\" or \"RIGHT\"", d)
	}
}

func lgInferBitShift(n *ir.Node, in []*Arg) ([]Out, error) {
	shape, err := lgSameTypeBroadcast(in, lgUnsignedDTypes)
	if err != nil {
		return nil, err
	}
	if _, err := lgShiftLeft(n); err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: shape}}, nil
}

func lgRunBitShift(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	left, err := lgShiftLeft(n)
	if err != nil {
		return err
	}
	switch in[0].Data.(type) {
	case []uint8:
		return lgShift[uint8](left, in, out[0])
	case []uint16:
		return lgShift[uint16](left, in, out[0])
	case []uint32:
		return lgShift[uint32](left, in, out[0])
	case []uint64:
		return lgShift[uint64](left, in, out[0])
	}
	return fmt.Errorf("element type %v is not supported", in[0].DType)
}

func lgShift[T uint8 | uint16 | uint32 | uint64](left bool, in []*ir.Tensor, out *ir.Tensor) error {
	a, b, err := lgOperands[T](in)
	if err != nil {
		return err
	}
	f := func(x, s T) T { return x >> s }
	if left {
		f = func(x, s T) T { return x << s }
	}
	broadcastBinary(out.Data.([]T), out.Shape, a, in[0].Shape, b, in[1].Shape, f)
	return nil
}

// ---------------------------------------------------------------------------
// Shrink and Celu

func lgRunShrink(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	lambd := float64(n.AttrFloat("lambd", 0.5))
	bias := float64(n.AttrFloat("bias", 0))
	switch x := in[0].Data.(type) {
	case []float32:
		lgShrink(x, out[0].Data.([]float32), lambd, bias)
	case []float64:
		lgShrink(x, out[0].Data.([]float64), lambd, bias)
	case []int8:
		lgShrink(x, out[0].Data.([]int8), lambd, bias)
	case []uint8:
		lgShrink(x, out[0].Data.([]uint8), lambd, bias)
	case []int16:
		lgShrink(x, out[0].Data.([]int16), lambd, bias)
	case []uint16:
		lgShrink(x, out[0].Data.([]uint16), lambd, bias)
	case []int32:
		lgShrink(x, out[0].Data.([]int32), lambd, bias)
	case []uint32:
		lgShrink(x, out[0].Data.([]uint32), lambd, bias)
	case []int64:
		lgShrink(x, out[0].Data.([]int64), lambd, bias)
	case []uint64:
		lgShrink(x, out[0].Data.([]uint64), lambd, bias)
	default:
		return fmt.Errorf("element type %v is not supported", in[0].DType)
	}
	return nil
}

// lgShrink computes x+bias below -lambd, x-bias above lambd and 0 between,
// in float64; integer results truncate toward zero.
func lgShrink[T anyNumber](x, o []T, lambd, bias float64) {
	for i, v := range x {
		f := float64(v)
		var r float64
		switch {
		case f < -lambd:
			r = f + bias
		case f > lambd:
			r = f - bias
		case f != f:
			r = f // NaN passes through
		}
		if isFloatT[T]() {
			o[i] = T(r)
		} else {
			o[i] = floatToInt[T](r)
		}
	}
}

// lgCelu is max(0,x) + min(0, alpha*(exp(x/alpha)-1)).
func lgCelu(n *ir.Node) (func(float64) float64, error) {
	alpha := float64(n.AttrFloat("alpha", 1))
	if alpha == 0 || math.IsNaN(alpha) {
		return nil, fmt.Errorf("alpha is %v, want a nonzero number", alpha)
	}
	return func(x float64) float64 {
		if x > 0 {
			return x
		}
		return math.Min(0, alpha*math.Expm1(x/alpha))
	}, nil
}
