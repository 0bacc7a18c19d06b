package runtime

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
)

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d is out of range for rank %d", axis, rank)
	}
	return int(a), nil
}

// stridesOf returns row-major element strides for shape.
func stridesOf(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// prod multiplies dims (1 for an empty list).
func prod(dims []int) int {
	p := 1
	for _, d := range dims {
		p *= d
	}
	return p
}

// needVal returns the known value of an input, or errNeedValue.
func needVal(a *Arg) (*ir.Tensor, error) {
	if a == nil || a.Val == nil {
		return nil, errNeedValue
	}
	return a.Val, nil
}

// ints64 returns an integer input's values (for axes, pads, shapes...).
func ints64(a *Arg) ([]int64, error) {
	v, err := needVal(a)
	if err != nil {
		return nil, err
	}
	return v.Int64s()
}

// same returns one output with the input's dtype and shape.
func same(a *Arg) []Out { return []Out{{DType: a.DType, Shape: append([]int(nil), a.Shape...)}} }
