package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// ReduceSum, ReduceMean and ReduceMax with opset-18 semantics: axes as an
// optional second input, keepdims, noop_with_empty_axes. Floating-point
// reductions accumulate in float64. Reducing an empty set gives 0 (Sum), NaN
// (Mean of floats) or the type's lowest value (Max: -Inf for floats).

type reduceKind int

const (
	reduceSum reduceKind = iota
	reduceMean
	reduceMax
)

// reduceOp is one registered Reduce* operator.
type reduceOp struct {
	kind  reduceKind
	types []ir.DType
}

func init() {
	sumTypes := []ir.DType{ir.Float32, ir.Float64, ir.Int32, ir.Int64, ir.Uint32, ir.Uint64}
	register("ReduceSum", 1, 2, reduceOp{reduceSum, sumTypes}.infer, reduceOp{reduceSum, sumTypes}.run)
	register("ReduceMean", 1, 2, reduceOp{reduceMean, sumTypes}.infer, reduceOp{reduceMean, sumTypes}.run)
	maxTypes := append(append([]ir.DType(nil), sumTypes...), ir.Int8, ir.Uint8, ir.Bool)
	register("ReduceMax", 1, 2, reduceOp{reduceMax, maxTypes}.infer, reduceOp{reduceMax, maxTypes}.run)
}

// reducePlan says which axes of the input are reduced.
type reducePlan struct {
	reduced []bool // per input axis
	noop    bool   // empty axes with noop_with_empty_axes: output = input
	out     []int  // output shape
}

func planReduce(n *ir.Node, shape []int, axesArg *Arg) (*reducePlan, error) {
	keep := n.AttrInt("keepdims", 1) != 0
	var axes []int64
	if axesArg != nil {
		if axesArg.DType != ir.Int64 {
			return nil, fmt.Errorf("axes has element type %v, want int64", axesArg.DType)
		}
		if len(axesArg.Shape) != 1 {
			return nil, fmt.Errorf("axes must be 1-D, got shape %v", axesArg.Shape)
		}
		var err error
		if axes, err = ints64(axesArg); err != nil {
			return nil, err
		}
	}
	p := &reducePlan{reduced: make([]bool, len(shape))}
	if len(axes) == 0 {
		if n.AttrInt("noop_with_empty_axes", 0) != 0 {
			p.noop = true
			p.out = append([]int(nil), shape...)
			return p, nil
		}
		for i := range p.reduced {
			p.reduced[i] = true
		}
	}
	for _, a := range axes {
		ax, err := normAxis(a, len(shape))
		if err != nil {
			return nil, err
		}
		if p.reduced[ax] {
			return nil, fmt.Errorf("axis %d appears twice in axes %v", ax, axes)
		}
		p.reduced[ax] = true
	}
	p.out = []int{}
	for i, d := range shape {
		switch {
		case !p.reduced[i]:
			p.out = append(p.out, d)
		case keep:
			p.out = append(p.out, 1)
		}
	}
	return p, nil
}

func (r reduceOp) infer(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("data", in[0].DType, r.types); err != nil {
		return nil, err
	}
	var axes *Arg
	if len(in) > 1 {
		axes = in[1]
	}
	p, err := planReduce(n, in[0].Shape, axes)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: p.out}}, nil
}

func (r reduceOp) run(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	args := argsOf(in)
	var axes *Arg
	if len(args) > 1 {
		axes = args[1]
	}
	p, err := planReduce(n, in[0].Shape, axes)
	if err != nil {
		return err
	}
	x, o := in[0], out[0]
	if p.noop {
		copyTensorData(o, x)
		return nil
	}
	switch x.DType {
	case ir.Float32:
		return reduceFloat[float32](r.kind, p, x, o)
	case ir.Float64:
		return reduceFloat[float64](r.kind, p, x, o)
	case ir.Int8:
		return reduceInt[int8](r.kind, p, x, o)
	case ir.Uint8:
		return reduceInt[uint8](r.kind, p, x, o)
	case ir.Int32:
		return reduceInt[int32](r.kind, p, x, o)
	case ir.Uint32:
		return reduceInt[uint32](r.kind, p, x, o)
	case ir.Int64:
		return reduceInt[int64](r.kind, p, x, o)
	case ir.Uint64:
		return reduceInt[uint64](r.kind, p, x, o)
	case ir.Bool:
		if r.kind == reduceMax {
			xs, os := x.Data.([]bool), o.Data.([]bool)
			reduceWalk(x.Shape, p.reduced, func(i, oi int) { os[oi] = os[oi] || xs[i] })
			return nil
		}
	}
	return fmt.Errorf("element type %v is not supported", x.DType)
}

// copyTensorData copies src's elements into dst of the same type and size.
func copyTensorData(dst, src *ir.Tensor) {
	switch d := dst.Data.(type) {
	case []float32:
		copy(d, src.Data.([]float32))
	case []float64:
		copy(d, src.Data.([]float64))
	case []int8:
		copy(d, src.Data.([]int8))
	case []uint8:
		copy(d, src.Data.([]uint8))
	case []int16:
		copy(d, src.Data.([]int16))
	case []uint16:
		copy(d, src.Data.([]uint16))
	case []int32:
		copy(d, src.Data.([]int32))
	case []uint32:
		copy(d, src.Data.([]uint32))
	case []int64:
		copy(d, src.Data.([]int64))
	case []uint64:
		copy(d, src.Data.([]uint64))
	case []bool:
		copy(d, src.Data.([]bool))
	case []string:
		copy(d, src.Data.([]string))
	}
}

// reduceWalk calls f(i, oi) for every input element i in row-major order,
// with oi the index of the output element it reduces into.
func reduceWalk(shape []int, reduced []bool, f func(i, oi int)) {
	n := prod(shape)
	if n == 0 {
		return
	}
	r := len(shape)
	// Output strides over the kept axes; reduced axes contribute 0.
	ost := make([]int, r)
	acc := 1
	for d := r - 1; d >= 0; d-- {
		if !reduced[d] {
			ost[d] = acc
			acc *= shape[d]
		}
	}
	idx := make([]int, r)
	oi := 0
	for i := 0; i < n; i++ {
		f(i, oi)
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			oi += ost[d]
			if idx[d] < shape[d] {
				break
			}
			oi -= ost[d] * idx[d]
			idx[d] = 0
		}
	}
}

// reducedCount is the number of input elements per output element.
func reducedCount(shape []int, reduced []bool) int {
	c := 1
	for i, d := range shape {
		if reduced[i] {
			c *= d
		}
	}
	return c
}

func reduceFloat[T float32 | float64](k reduceKind, p *reducePlan, x, out *ir.Tensor) error {
	xs, o := x.Data.([]T), out.Data.([]T)
	acc := make([]float64, len(o))
	if k == reduceMax {
		for i := range acc {
			acc[i] = math.Inf(-1)
		}
		reduceWalk(x.Shape, p.reduced, func(i, oi int) {
			if v := float64(xs[i]); v > acc[oi] || v != v {
				acc[oi] = v
			}
		})
	} else {
		reduceWalk(x.Shape, p.reduced, func(i, oi int) { acc[oi] += float64(xs[i]) })
	}
	if k == reduceMean {
		c := float64(reducedCount(x.Shape, p.reduced))
		for i := range acc {
			acc[i] /= c // 0/0 = NaN for an empty set
		}
	}
	for i, v := range acc {
		o[i] = T(v)
	}
	return nil
}

func reduceInt[T anyNumber](k reduceKind, p *reducePlan, x, out *ir.Tensor) error {
	xs, o := x.Data.([]T), out.Data.([]T)
	if k == reduceMax {
		low := lowestOf[T]()
		for i := range o {
			o[i] = low
		}
		reduceWalk(x.Shape, p.reduced, func(i, oi int) {
			if xs[i] > o[oi] {
				o[oi] = xs[i]
			}
		})
		return nil
	}
	if k == reduceSum {
		reduceWalk(x.Shape, p.reduced, func(i, oi int) { o[oi] += xs[i] })
		return nil
	}
	// Mean: sum in a 64-bit accumulator of the same signedness, then divide,
	// truncating toward zero.
	count := reducedCount(x.Shape, p.reduced)
	if len(o) > 0 && count == 0 {
		return fmt.Errorf("integer mean over an empty set of values (input shape %v)", x.Shape)
	}
	var zero T
	if zero-1 < 0 {
		acc := make([]int64, len(o))
		reduceWalk(x.Shape, p.reduced, func(i, oi int) { acc[oi] += int64(xs[i]) })
		for i, v := range acc {
			o[i] = T(v / int64(count))
		}
	} else {
		acc := make([]uint64, len(o))
		reduceWalk(x.Shape, p.reduced, func(i, oi int) { acc[oi] += uint64(xs[i]) })
		for i, v := range acc {
			o[i] = T(v / uint64(count))
		}
	}
	return nil
}
