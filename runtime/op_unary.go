package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// This file holds the elementwise unary operators. Floating-point-only
// activations are computed in float64 and rounded to the element type; Abs,
// Neg, Relu, PRelu and Clip also cover integer types with generic kernels.

// floatUnary is a float-only elementwise op: make reads the node's
// attributes and returns the scalar function.
type floatUnary struct {
	name string
	make func(n *ir.Node) (func(float64) float64, error)
}

// noAttrs wraps an attribute-free scalar function.
func noAttrs(f func(float64) float64) func(*ir.Node) (func(float64) float64, error) {
	return func(*ir.Node) (func(float64) float64, error) { return f, nil }
}

// Default attribute values from the ONNX operator specifications.
const (
	seluAlpha = 1.67326319217681884765625
	seluGamma = 1.05070102214813232421875
)

// sigmoid is 1/(1+e^-x), evaluated without overflow for either sign.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// hardSigmoid is max(0, min(1, alpha*x+beta)), propagating NaN.
func hardSigmoid(x, alpha, beta float64) float64 {
	y := alpha*x + beta
	switch {
	case y > 1:
		return 1
	case y < 0:
		return 0
	}
	return y
}

var floatUnaries = []floatUnary{
	{"Sqrt", noAttrs(math.Sqrt)},
	{"Reciprocal", noAttrs(func(x float64) float64 { return 1 / x })},
	{"Exp", noAttrs(math.Exp)},
	{"Log", noAttrs(math.Log)},
	{"Floor", noAttrs(math.Floor)},
	{"Ceil", noAttrs(math.Ceil)},
	{"Erf", noAttrs(math.Erf)},
	{"Tanh", noAttrs(math.Tanh)},
	{"Sigmoid", noAttrs(sigmoid)},
	{"Softsign", noAttrs(func(x float64) float64 { return x / (1 + math.Abs(x)) })},
	{"Softplus", noAttrs(func(x float64) float64 {
		// log(1+e^x) = max(x,0) + log1p(e^-|x|), exact for large |x|.
		return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
	})},
	{"HardSwish", noAttrs(func(x float64) float64 { return x * hardSigmoid(x, 1.0/6, 0.5) })},
	{"LeakyRelu", func(n *ir.Node) (func(float64) float64, error) {
		alpha := float64(n.AttrFloat("alpha", 0.01))
		return func(x float64) float64 {
			if x < 0 {
				return alpha * x
			}
			return x
		}, nil
	}},
	{"Elu", func(n *ir.Node) (func(float64) float64, error) {
		alpha := float64(n.AttrFloat("alpha", 1))
		return func(x float64) float64 {
			if x < 0 {
				return alpha * math.Expm1(x)
			}
			return x
		}, nil
	}},
	{"Selu", func(n *ir.Node) (func(float64) float64, error) {
		alpha := float64(n.AttrFloat("alpha", seluAlpha))
		gamma := float64(n.AttrFloat("gamma", seluGamma))
		return func(x float64) float64 {
			if x <= 0 {
				return gamma * alpha * math.Expm1(x)
			}
			return gamma * x
		}, nil
	}},
	{"HardSigmoid", func(n *ir.Node) (func(float64) float64, error) {
		alpha := float64(n.AttrFloat("alpha", 0.2))
		beta := float64(n.AttrFloat("beta", 0.5))
		return func(x float64) float64 { return hardSigmoid(x, alpha, beta) }, nil
	}},
	{"ThresholdedRelu", func(n *ir.Node) (func(float64) float64, error) {
		alpha := float64(n.AttrFloat("alpha", 1))
		return func(x float64) float64 {
			if x > alpha {
				return x
			}
			return 0
		}, nil
	}},
}

// genericUnary is an elementwise op with a generic kernel.
type genericUnary struct {
	name  string
	kind  unaryKind
	types []ir.DType
}

type unaryKind int

const (
	unaryAbs unaryKind = iota
	unaryNeg
	unaryRelu
)

func init() {
	for _, u := range floatUnaries {
		register(u.name, 1, 1, u.infer, u.run)
	}
	for _, u := range []genericUnary{
		{"Abs", unaryAbs, numericDTypes},
		{"Neg", unaryNeg, signedDTypes},
		{"Relu", unaryRelu, signedDTypes},
	} {
		register(u.name, 1, 1, u.infer, u.run)
	}
	register("PRelu", 2, 2, inferPRelu, runPRelu)
	register("Clip", 1, 3, inferClip, runClip)
}

func (u floatUnary) infer(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("input X", in[0].DType, floatDTypes); err != nil {
		return nil, err
	}
	if _, err := u.make(n); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func (u floatUnary) run(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	f, err := u.make(n)
	if err != nil {
		return err
	}
	switch x := in[0].Data.(type) {
	case []float32:
		o := out[0].Data.([]float32)
		for i, v := range x {
			o[i] = float32(f(float64(v)))
		}
	case []float64:
		o := out[0].Data.([]float64)
		for i, v := range x {
			o[i] = f(v)
		}
	default:
		return fmt.Errorf("element type %v is not supported", in[0].DType)
	}
	return nil
}

func (u genericUnary) infer(_ *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("input X", in[0].DType, u.types); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func (u genericUnary) run(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	switch in[0].DType {
	case ir.Float32:
		unaryTyped[float32](u.kind, in[0], out[0])
	case ir.Float64:
		unaryTyped[float64](u.kind, in[0], out[0])
	case ir.Int8:
		unaryTyped[int8](u.kind, in[0], out[0])
	case ir.Uint8:
		unaryTyped[uint8](u.kind, in[0], out[0])
	case ir.Int16:
		unaryTyped[int16](u.kind, in[0], out[0])
	case ir.Uint16:
		unaryTyped[uint16](u.kind, in[0], out[0])
	case ir.Int32:
		unaryTyped[int32](u.kind, in[0], out[0])
	case ir.Uint32:
		unaryTyped[uint32](u.kind, in[0], out[0])
	case ir.Int64:
		unaryTyped[int64](u.kind, in[0], out[0])
	case ir.Uint64:
		unaryTyped[uint64](u.kind, in[0], out[0])
	default:
		return fmt.Errorf("element type %v is not supported", in[0].DType)
	}
	return nil
}

// unaryTyped applies Abs, Neg or Relu. Integer negation wraps (the negation
// of the minimum value is itself), as in numpy.
func unaryTyped[T anyNumber](k unaryKind, x, out *ir.Tensor) {
	xs, o := x.Data.([]T), out.Data.([]T)
	switch k {
	case unaryAbs:
		for i, v := range xs {
			if v < 0 {
				v = -v
			} else if v == 0 {
				v = 0 // turns -0 into +0
			}
			o[i] = v
		}
	case unaryNeg:
		for i, v := range xs {
			o[i] = -v
		}
	case unaryRelu:
		for i, v := range xs {
			if v < 0 {
				v = 0
			}
			o[i] = v
		}
	}
}

// preluDTypes are PRelu's types (opset 16).
var preluDTypes = []ir.DType{ir.Float32, ir.Float64, ir.Int32, ir.Int64, ir.Uint32, ir.Uint64}

func inferPRelu(_ *ir.Node, in []*Arg) ([]Out, error) {
	x, slope := in[0], in[1]
	if err := checkDType("input X", x.DType, preluDTypes); err != nil {
		return nil, err
	}
	if slope.DType != x.DType {
		return nil, fmt.Errorf("slope has element type %v but X has %v", slope.DType, x.DType)
	}
	if err := checkUnidirectional("slope", slope.Shape, x.Shape); err != nil {
		return nil, err
	}
	return same(x), nil
}

// checkUnidirectional checks that shape broadcasts to target without
// changing it (ONNX unidirectional broadcasting).
func checkUnidirectional(what string, shape, target []int) error {
	bs, err := ir.BroadcastShapes(target, shape)
	if err == nil && len(bs) == len(target) {
		match := true
		for i := range bs {
			match = match && bs[i] == target[i]
		}
		if match {
			return nil
		}
	}
	return fmt.Errorf("%s shape %v does not broadcast to %v", what, shape, target)
}

func runPRelu(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	switch in[0].DType {
	case ir.Float32:
		preluTyped[float32](in, out[0])
	case ir.Float64:
		preluTyped[float64](in, out[0])
	case ir.Int32:
		preluTyped[int32](in, out[0])
	case ir.Int64:
		preluTyped[int64](in, out[0])
	case ir.Uint32:
		preluTyped[uint32](in, out[0])
	case ir.Uint64:
		preluTyped[uint64](in, out[0])
	default:
		return fmt.Errorf("element type %v is not supported", in[0].DType)
	}
	return nil
}

func preluTyped[T anyNumber](in []*ir.Tensor, out *ir.Tensor) {
	broadcastBinary(out.Data.([]T), out.Shape, in[0].Data.([]T), in[0].Shape, in[1].Data.([]T), in[1].Shape,
		func(x, s T) T {
			if x < 0 {
				return x * s
			}
			return x
		})
}

func inferClip(_ *ir.Node, in []*Arg) ([]Out, error) {
	x := in[0]
	if err := checkDType("input", x.DType, numericDTypes); err != nil {
		return nil, err
	}
	for i, name := range []string{"min", "max"} {
		if i+1 >= len(in) || in[i+1] == nil {
			continue
		}
		b := in[i+1]
		if b.DType != x.DType {
			return nil, fmt.Errorf("%s has element type %v but the input has %v", name, b.DType, x.DType)
		}
		if prod(b.Shape) != 1 {
			return nil, fmt.Errorf("%s must be a scalar, got shape %v", name, b.Shape)
		}
	}
	return same(x), nil
}

func runClip(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	switch in[0].DType {
	case ir.Float32:
		clipTyped[float32](in, out[0])
	case ir.Float64:
		clipTyped[float64](in, out[0])
	case ir.Int8:
		clipTyped[int8](in, out[0])
	case ir.Uint8:
		clipTyped[uint8](in, out[0])
	case ir.Int16:
		clipTyped[int16](in, out[0])
	case ir.Uint16:
		clipTyped[uint16](in, out[0])
	case ir.Int32:
		clipTyped[int32](in, out[0])
	case ir.Uint32:
		clipTyped[uint32](in, out[0])
	case ir.Int64:
		clipTyped[int64](in, out[0])
	case ir.Uint64:
		clipTyped[uint64](in, out[0])
	default:
		return fmt.Errorf("element type %v is not supported", in[0].DType)
	}
	return nil
}

// clipTyped computes min(max(x, lo), hi) with absent bounds ignored, so all
// values become hi when lo > hi; NaN inputs stay NaN.
func clipTyped[T anyNumber](in []*ir.Tensor, out *ir.Tensor) {
	xs, o := in[0].Data.([]T), out.Data.([]T)
	copy(o, xs)
	if len(in) > 1 && in[1] != nil {
		lo := in[1].Data.([]T)[0]
		for i, v := range o {
			if v < lo {
				o[i] = lo
			}
		}
	}
	if len(in) > 2 && in[2] != nil {
		hi := in[2].Data.([]T)[0]
		for i, v := range o {
			if v > hi {
				o[i] = hi
			}
		}
	}
}
