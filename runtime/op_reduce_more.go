package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1, ReduceL2, ReduceLogSum
// and ReduceLogSumExp with opset-18 semantics (axes as an optional second
// input, keepdims, noop_with_empty_axes), on op_reduce.go's planReduce and
// reduceWalk.
//
// With noop_with_empty_axes and no axes nothing is reduced, and each output
// element is its input element "reduced alone" (x for Min, Prod and
// LogSumExp, x*x for SumSquare, |x| for L1 and L2, log x for LogSum), as
// the ONNX reference implementation computes it. Floating-point reductions
// accumulate in float64; LogSumExp subtracts the (finite) maximum first.
// Integer Min, Prod, SumSquare and L1 use the element type's wrapping
// arithmetic; integer L2, LogSum and LogSumExp are computed in float64 and
// truncated. Reducing an empty set gives the identity: +Inf or the type's
// maximum (Min), 1 (Prod), 0 (SumSquare, L1, L2), -Inf (LogSum, LogSumExp).

type rmKind int

const (
	rmMin rmKind = iota
	rmProd
	rmSumSquare
	rmL1
	rmL2
	rmLogSum
	rmLogSumExp
)

// rmOp is one registered reduction of this file.
type rmOp struct {
	kind  rmKind
	types []ir.DType
}

func init() {
	types := []ir.DType{ir.Float32, ir.Float64, ir.Int32, ir.Int64, ir.Uint32, ir.Uint64}
	minTypes := append(append([]ir.DType(nil), types...), ir.Int8, ir.Uint8, ir.Bool)
	for name, op := range map[string]rmOp{
		"ReduceMin":       {rmMin, minTypes},
		"ReduceProd":      {rmProd, types},
		"ReduceSumSquare": {rmSumSquare, types},
		"ReduceL1":        {rmL1, types},
		"ReduceL2":        {rmL2, types},
		"ReduceLogSum":    {rmLogSum, types},
		"ReduceLogSumExp": {rmLogSumExp, types},
	} {
		register(name, 1, 2, op.infer, op.run)
	}
}

// rmAxes returns the optional axes argument.
func rmAxes(in []*Arg) *Arg {
	if len(in) > 1 {
		return in[1]
	}
	return nil
}

func (r rmOp) infer(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("data", in[0].DType, r.types); err != nil {
		return nil, err
	}
	p, err := planReduce(n, in[0].Shape, rmAxes(in))
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: p.out}}, nil
}

func (r rmOp) run(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	x, o := in[0], out[0]
	if err := checkDType("data", x.DType, r.types); err != nil {
		return err
	}
	p, err := planReduce(n, x.Shape, rmAxes(argsOf(in)))
	if err != nil {
		return err
	}
	// A no-op plan has every axis unreduced: each element reduces alone.
	switch s := x.Data.(type) {
	case []float32:
		rmFloat(r.kind, p, s, x.Shape, o.Data.([]float32))
	case []float64:
		rmFloat(r.kind, p, s, x.Shape, o.Data.([]float64))
	case []int8:
		rmInt(r.kind, p, s, x.Shape, o.Data.([]int8))
	case []uint8:
		rmInt(r.kind, p, s, x.Shape, o.Data.([]uint8))
	case []int32:
		rmInt(r.kind, p, s, x.Shape, o.Data.([]int32))
	case []uint32:
		rmInt(r.kind, p, s, x.Shape, o.Data.([]uint32))
	case []int64:
		rmInt(r.kind, p, s, x.Shape, o.Data.([]int64))
	case []uint64:
		rmInt(r.kind, p, s, x.Shape, o.Data.([]uint64))
	case []bool:
		if r.kind != rmMin {
			return fmt.Errorf("element type %v is not supported", x.DType)
		}
		os := o.Data.([]bool)
		for i := range os {
			os[i] = true
		}
		reduceWalk(x.Shape, p.reduced, func(i, oi int) { os[oi] = os[oi] && s[i] })
	default:
		return fmt.Errorf("element type %v is not supported", x.DType)
	}
	return nil
}

// rmFloatAcc reduces xs into one float64 accumulator per output element.
func rmFloatAcc[T anyNumber](k rmKind, p *reducePlan, xs []T, shape []int, nOut int) []float64 {
	acc := make([]float64, nOut)
	walk := func(f func(v float64, oi int)) {
		reduceWalk(shape, p.reduced, func(i, oi int) { f(float64(xs[i]), oi) })
	}
	switch k {
	case rmMin:
		for i := range acc {
			acc[i] = math.Inf(1)
		}
		walk(func(v float64, oi int) {
			if v < acc[oi] || v != v {
				acc[oi] = v
			}
		})
	case rmProd:
		for i := range acc {
			acc[i] = 1
		}
		walk(func(v float64, oi int) { acc[oi] *= v })
	case rmSumSquare, rmL2:
		walk(func(v float64, oi int) { acc[oi] += v * v })
	case rmL1:
		walk(func(v float64, oi int) { acc[oi] += math.Abs(v) })
	case rmLogSum:
		walk(func(v float64, oi int) { acc[oi] += v })
	case rmLogSumExp:
		mx := make([]float64, nOut)
		for i := range mx {
			mx[i] = math.Inf(-1)
		}
		walk(func(v float64, oi int) {
			if v > mx[oi] || v != v {
				mx[oi] = v
			}
		})
		for i, m := range mx {
			if math.IsInf(m, 0) || m != m {
				mx[i] = 0 // no finite shift: exp/log give the right infinity or NaN
			}
		}
		walk(func(v float64, oi int) { acc[oi] += math.Exp(v - mx[oi]) })
		for i := range acc {
			acc[i] = math.Log(acc[i]) + mx[i]
		}
	}
	switch k {
	case rmL2:
		for i := range acc {
			acc[i] = math.Sqrt(acc[i])
		}
	case rmLogSum:
		for i := range acc {
			acc[i] = math.Log(acc[i])
		}
	}
	return acc
}

func rmFloat[T float32 | float64](k rmKind, p *reducePlan, xs []T, shape []int, o []T) {
	for i, v := range rmFloatAcc(k, p, xs, shape, len(o)) {
		o[i] = T(v)
	}
}

func rmInt[T lgInteger](k rmKind, p *reducePlan, xs []T, shape []int, o []T) {
	switch k {
	case rmMin:
		hi := rmHighest[T]()
		for i := range o {
			o[i] = hi
		}
		reduceWalk(shape, p.reduced, func(i, oi int) {
			if xs[i] < o[oi] {
				o[oi] = xs[i]
			}
		})
	case rmProd:
		for i := range o {
			o[i] = 1
		}
		reduceWalk(shape, p.reduced, func(i, oi int) { o[oi] *= xs[i] })
	case rmSumSquare:
		reduceWalk(shape, p.reduced, func(i, oi int) { o[oi] += xs[i] * xs[i] })
	case rmL1:
		reduceWalk(shape, p.reduced, func(i, oi int) {
			v := xs[i]
			if v < 0 {
				v = -v
			}
			o[oi] += v
		})
	default:
		for i, v := range rmFloatAcc(k, p, xs, shape, len(o)) {
			o[i] = floatToInt[T](v)
		}
	}
}

// rmHighest returns the largest value of the integer type T.
func rmHighest[T lgInteger]() T {
	var z T
	if z-1 > 0 { // unsigned
		return z - 1
	}
	// Signed: the lowest value minus one wraps to the highest.
	return lowestOf[T]() - 1
}
