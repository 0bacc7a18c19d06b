package runtime

import (
	"github.com/runinfer/runinfer/ir"
)

// Fast Concat: block copies for every element type the arena holds (no
// zeroing of the output first, no per-call setup). Reshape, Flatten,
// Squeeze, Unsqueeze, Identity and Dropout need no kernel: the plan makes
// them zero-copy aliases (see aliasOps).

func init() {
	fastOps["Concat"] = chooseConcat
}

// fastConcat copies each input's rows into the output: the output is
// outer × (sum of rows), input i contributes rows[i] elements per outer
// index.
type fastConcat struct {
	outer int
	rows  []int
}

func chooseConcat(_ *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(out) != 1 || !arenaEligible(out[0].dtype) {
		return nil, nil
	}
	shape := out[0].shape
	axis, err := normAxis(n.AttrInt("axis", 0), len(shape))
	if err != nil {
		return nil, err
	}
	inner := prod(shape[axis+1:])
	k := &fastConcat{outer: prod(shape[:axis])}
	for _, v := range in {
		if v == nil || v.dtype != out[0].dtype {
			return nil, nil
		}
		k.rows = append(k.rows, v.shape[axis]*inner)
	}
	return k, nil
}

func (k *fastConcat) run(_ *runCtx, in, out []*ir.Tensor) error {
	switch d := out[0].Data.(type) {
	case []float32:
		concatRows(k, d, in)
	case []float64:
		concatRows(k, d, in)
	case []int8:
		concatRows(k, d, in)
	case []uint8:
		concatRows(k, d, in)
	case []int16:
		concatRows(k, d, in)
	case []uint16:
		concatRows(k, d, in)
	case []int32:
		concatRows(k, d, in)
	case []uint32:
		concatRows(k, d, in)
	case []int64:
		concatRows(k, d, in)
	case []uint64:
		concatRows(k, d, in)
	case []bool:
		concatRows(k, d, in)
	}
	return nil
}

func concatRows[T any](k *fastConcat, dst []T, in []*ir.Tensor) {
	total := 0
	for _, r := range k.rows {
		total += r
	}
	at := 0
	for i, t := range in {
		src := t.Data.([]T)
		r := k.rows[i]
		for o := 0; o < k.outer; o++ {
			copy(dst[o*total+at:o*total+at+r], src[o*r:(o+1)*r])
		}
		at += r
	}
}
