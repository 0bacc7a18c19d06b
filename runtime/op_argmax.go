package runtime

import (
	"fmt"
	"slices"

	"github.com/runinfer/runinfer/ir"
)

// ArgMax and ArgMin (opset 13: axis, keepdims, select_last_index), Hardmax
// (opset 13: one axis, 1 at the first maximum) and TopK (opset 11: k as an
// input, axis, largest, sorted).
//
// NaN handling follows numpy's argmax/argmin: a NaN wins (the first one, or
// the last with select_last_index); Hardmax marks the first NaN. TopK
// orders NaN above every number, so it comes first with largest=1 and last
// with largest=0. Ties keep the lower index first. TopK always returns its
// results sorted, which sorted=0 (any order) permits.

func init() {
	register("ArgMax", 1, 1, amInferArg, amRunArg(true))
	register("ArgMin", 1, 1, amInferArg, amRunArg(false))
	register("Hardmax", 1, 1, amInferHardmax, amRunHardmax)
	register("TopK", 2, 2, amInferTopK, amRunTopK)
}

// amSplit returns the sizes before, at and after axis.
func amSplit(shape []int, axis int) (outer, n, inner int) {
	return prod(shape[:axis]), shape[axis], prod(shape[axis+1:])
}

// amArgAxis reads and normalizes the axis attribute for rank.
func amArgAxis(n *ir.Node, rank int, def int64) (int, error) {
	if rank == 0 {
		return 0, fmt.Errorf("input is a scalar, want rank 1 or more")
	}
	return normAxis(n.AttrInt("axis", def), rank)
}

func amInferArg(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("data", in[0].DType, numericDTypes); err != nil {
		return nil, err
	}
	shape := in[0].Shape
	axis, err := amArgAxis(n, len(shape), 0)
	if err != nil {
		return nil, err
	}
	if shape[axis] == 0 && prod(shape[:axis])*prod(shape[axis+1:]) > 0 {
		return nil, fmt.Errorf("axis %d of shape %v is empty: no index to select", axis, shape)
	}
	var out []int
	for d, s := range shape {
		switch {
		case d != axis:
			out = append(out, s)
		case n.AttrInt("keepdims", 1) != 0:
			out = append(out, 1)
		}
	}
	if out == nil {
		out = []int{}
	}
	return []Out{{DType: ir.Int64, Shape: out}}, nil
}

// amRunArg returns ArgMax's (max) or ArgMin's run function.
func amRunArg(isMax bool) func(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	return func(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
		x := in[0]
		axis, err := amArgAxis(n, len(x.Shape), 0)
		if err != nil {
			return err
		}
		last := n.AttrInt("select_last_index", 0) != 0
		o := out[0].Data.([]int64)
		switch s := x.Data.(type) {
		case []float32:
			amArg(s, x.Shape, axis, isMax, last, o)
		case []float64:
			amArg(s, x.Shape, axis, isMax, last, o)
		case []int8:
			amArg(s, x.Shape, axis, isMax, last, o)
		case []uint8:
			amArg(s, x.Shape, axis, isMax, last, o)
		case []int16:
			amArg(s, x.Shape, axis, isMax, last, o)
		case []uint16:
			amArg(s, x.Shape, axis, isMax, last, o)
		case []int32:
			amArg(s, x.Shape, axis, isMax, last, o)
		case []uint32:
			amArg(s, x.Shape, axis, isMax, last, o)
		case []int64:
			amArg(s, x.Shape, axis, isMax, last, o)
		case []uint64:
			amArg(s, x.Shape, axis, isMax, last, o)
		default:
			return fmt.Errorf("element type %v is not supported", x.DType)
		}
		return nil
	}
}

// amBetter returns the strict "a beats b" order of ArgMax (max) or ArgMin:
// greater (or smaller) values win, and NaN beats every number.
func amBetter[T anyNumber](isMax bool) func(a, b T) bool {
	if isMax {
		return func(a, b T) bool { return a > b || (a != a && b == b) }
	}
	return func(a, b T) bool { return a < b || (a != a && b == b) }
}

// amArg writes the index of the winning element of every slice along axis.
func amArg[T anyNumber](x []T, shape []int, axis int, isMax, last bool, o []int64) {
	outer, n, inner := amSplit(shape, axis)
	better := amBetter[T](isMax)
	for a := 0; a < outer; a++ {
		for c := 0; c < inner; c++ {
			base := a*n*inner + c
			best := 0
			for j := 1; j < n; j++ {
				v, b := x[base+j*inner], x[base+best*inner]
				if better(v, b) || (last && !better(b, v)) {
					best = j
				}
			}
			o[a*inner+c] = int64(best)
		}
	}
}

// ---------------------------------------------------------------------------
// Hardmax

func amInferHardmax(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("input", in[0].DType, floatDTypes); err != nil {
		return nil, err
	}
	if _, err := amArgAxis(n, len(in[0].Shape), -1); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func amRunHardmax(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	x := in[0]
	axis, err := amArgAxis(n, len(x.Shape), -1)
	if err != nil {
		return err
	}
	switch s := x.Data.(type) {
	case []float32:
		amHardmax(s, x.Shape, axis, out[0].Data.([]float32))
	case []float64:
		amHardmax(s, x.Shape, axis, out[0].Data.([]float64))
	default:
		return fmt.Errorf("element type %v is not supported", x.DType)
	}
	return nil
}

// amHardmax sets 1 at the first maximum of every slice along axis (o is
// zero-filled).
func amHardmax[T float32 | float64](x []T, shape []int, axis int, o []T) {
	outer, n, inner := amSplit(shape, axis)
	if n == 0 {
		return
	}
	idx := make([]int64, outer*inner)
	amArg(x, shape, axis, true, false, idx)
	for a := 0; a < outer; a++ {
		for c := 0; c < inner; c++ {
			o[a*n*inner+int(idx[a*inner+c])*inner+c] = 1
		}
	}
}

// ---------------------------------------------------------------------------
// TopK

// amTopKPlan is TopK's validated geometry.
type amTopKPlan struct {
	axis, k int
	out     []int
}

func amPlanTopK(n *ir.Node, in []*Arg) (*amTopKPlan, error) {
	if err := checkDType("input X", in[0].DType, numericDTypes); err != nil {
		return nil, err
	}
	if in[1].DType != ir.Int64 {
		return nil, fmt.Errorf("K has element type %v, want int64", in[1].DType)
	}
	if len(in[1].Shape) > 1 || prod(in[1].Shape) != 1 {
		return nil, fmt.Errorf("K has shape %v, want one element ([1])", in[1].Shape)
	}
	shape := in[0].Shape
	axis, err := amArgAxis(n, len(shape), -1)
	if err != nil {
		return nil, err
	}
	if s := n.AttrInt("sorted", 1); s != 0 && s != 1 {
		return nil, fmt.Errorf("sorted is %d, want 0 or 1", s)
	}
	ks, err := ints64(in[1])
	if err != nil {
		return nil, err
	}
	k := ks[0]
	if k < 0 || k > int64(shape[axis]) {
		return nil, fmt.Errorf("k is %d, want 0 to %d (the size of axis %d of shape %v)", k, shape[axis], axis, shape)
	}
	out := append([]int(nil), shape...)
	out[axis] = int(k)
	return &amTopKPlan{axis: axis, k: int(k), out: out}, nil
}

func amInferTopK(n *ir.Node, in []*Arg) ([]Out, error) {
	p, err := amPlanTopK(n, in)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: p.out}, {DType: ir.Int64, Shape: append([]int(nil), p.out...)}}, nil
}

func amRunTopK(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	p, err := amPlanTopK(n, argsOf(in))
	if err != nil {
		return err
	}
	largest := n.AttrInt("largest", 1) != 0
	var idx []int64
	if len(out) > 1 && out[1] != nil {
		idx = out[1].Data.([]int64)
	} else {
		idx = make([]int64, prod(p.out))
	}
	x := in[0]
	switch s := x.Data.(type) {
	case []float32:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]float32), idx)
	case []float64:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]float64), idx)
	case []int8:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]int8), idx)
	case []uint8:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]uint8), idx)
	case []int16:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]int16), idx)
	case []uint16:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]uint16), idx)
	case []int32:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]int32), idx)
	case []uint32:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]uint32), idx)
	case []int64:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]int64), idx)
	case []uint64:
		amTopK(s, x.Shape, p, largest, out[0].Data.([]uint64), idx)
	default:
		return fmt.Errorf("element type %v is not supported", x.DType)
	}
	return nil
}

// amTopK selects the k largest (or smallest) elements of every slice along
// the axis, in order, with their indices. NaN ranks above every number;
// equal values keep index order (a stable sort).
func amTopK[T anyNumber](x []T, shape []int, p *amTopKPlan, largest bool, vals []T, idx []int64) {
	outer, n, inner := amSplit(shape, p.axis)
	k := p.k
	if k == 0 {
		return
	}
	order := make([]int, n)
	cmpv := func(a, b T) int { // ascending, NaN last
		switch {
		case a < b || (a == a && b != b):
			return -1
		case a > b || (a != a && b == b):
			return 1
		}
		return 0
	}
	for a := 0; a < outer; a++ {
		for c := 0; c < inner; c++ {
			base := a*n*inner + c
			for j := range order {
				order[j] = j
			}
			slices.SortStableFunc(order, func(i, j int) int {
				r := cmpv(x[base+i*inner], x[base+j*inner])
				if largest {
					return -r
				}
				return r
			})
			obase := a*k*inner + c
			for j := 0; j < k; j++ {
				vals[obase+j*inner] = x[base+order[j]*inner]
				idx[obase+j*inner] = int64(order[j])
			}
		}
	}
}
