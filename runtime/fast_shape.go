package runtime

import (
	"github.com/runinfer/runinfer/ir"
)

// Fast Concat, Transpose and Slice: block copies for every element type the arena holds (no
// zeroing of the output first, no per-call setup). Reshape, Flatten,
// Squeeze, Unsqueeze, Identity and Dropout need no kernel: the plan makes
// them zero-copy aliases (see aliasOps), or copies (fastCopy) when their
// output is a graph output.

func init() {
	fastOps["Concat"] = chooseConcat
	fastOps["Transpose"] = chooseTranspose
	fastOps["Slice"] = chooseSlice
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

// maxStridedRank is the most axes a strided copy walks (after merging
// axes that stay adjacent in the source and dropping axes of size 1).
const maxStridedRank = 8

// fastStrided is Transpose, and Slice with constant starts, ends, axes and
// steps: a copy of the source elements at off + Σ i_a·strides[a] for every
// index (i_0, …) of dims, in the output's order. Axes of size 1 are dropped
// and output axes adjacent in the source merged, so an NCHW to NHWC
// transpose walks two axes and a slice of a contiguous block one.
type fastStrided struct {
	off           int
	dims, strides []int
}

// newStrided builds a strided copy, or returns nil when it would walk more
// than maxStridedRank axes.
func newStrided(off int, dims, strides []int) *fastStrided {
	k := &fastStrided{off: off}
	for a, d := range dims {
		s := strides[a]
		if d == 1 {
			continue
		}
		if last := len(k.dims) - 1; last >= 0 && k.strides[last] == d*s {
			k.dims[last] *= d
			k.strides[last] = s
			continue
		}
		k.dims = append(k.dims, d)
		k.strides = append(k.strides, s)
	}
	if len(k.dims) > maxStridedRank {
		return nil
	}
	return k
}

func chooseTranspose(_ *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) != 1 || in[0] == nil || len(out) != 1 || !arenaEligible(in[0].dtype) || in[0].dtype != out[0].dtype {
		return nil, nil
	}
	shape := in[0].shape
	perm, err := transposePerm(n, len(shape))
	if err != nil {
		return nil, err
	}
	st := stridesOf(shape)
	dims, strides := make([]int, len(perm)), make([]int, len(perm))
	for i, p := range perm {
		dims[i], strides[i] = shape[p], st[p]
	}
	if k := newStrided(0, dims, strides); k != nil {
		return k, nil
	}
	return nil, nil
}

func chooseSlice(_ *planCtx, _ *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) < 3 || in[0] == nil || len(out) != 1 || !arenaEligible(in[0].dtype) || in[0].dtype != out[0].dtype {
		return nil, nil
	}
	args := []*Arg{{DType: in[0].dtype, Shape: in[0].shape}}
	for _, v := range in[1:] {
		if v == nil {
			args = append(args, nil)
			continue
		}
		if v.kind != valConst {
			return nil, nil // bounds known only at run time
		}
		args = append(args, &Arg{DType: v.dtype, Shape: v.shape, Val: v.konst})
	}
	view, err := sliceAxes(args)
	if err != nil {
		return nil, err
	}
	off := 0
	dims, strides := make([]int, len(view)), make([]int, len(view))
	for i, v := range view {
		if v.idx != nil {
			return nil, nil
		}
		off += v.base
		dims[i], strides[i] = v.n, v.step
	}
	if prod(dims) == 0 {
		off = 0 // nothing is read
	}
	if k := newStrided(off, dims, strides); k != nil {
		return k, nil
	}
	return nil, nil
}

func (k *fastStrided) run(_ *runCtx, in, out []*ir.Tensor) error {
	switch d := out[0].Data.(type) {
	case []float32:
		stridedCopy(k, d, in[0].Data.([]float32))
	case []float64:
		stridedCopy(k, d, in[0].Data.([]float64))
	case []int8:
		stridedCopy(k, d, in[0].Data.([]int8))
	case []uint8:
		stridedCopy(k, d, in[0].Data.([]uint8))
	case []int16:
		stridedCopy(k, d, in[0].Data.([]int16))
	case []uint16:
		stridedCopy(k, d, in[0].Data.([]uint16))
	case []int32:
		stridedCopy(k, d, in[0].Data.([]int32))
	case []uint32:
		stridedCopy(k, d, in[0].Data.([]uint32))
	case []int64:
		stridedCopy(k, d, in[0].Data.([]int64))
	case []uint64:
		stridedCopy(k, d, in[0].Data.([]uint64))
	case []bool:
		stridedCopy(k, d, in[0].Data.([]bool))
	}
	return nil
}

// stridedCopy fills dst in order: the last axis in a loop (a block copy
// when it is contiguous), the others by an odometer.
func stridedCopy[T any](k *fastStrided, dst, src []T) {
	r := len(k.dims)
	if r == 0 {
		if len(dst) > 0 { // one element
			dst[0] = src[k.off]
		}
		return
	}
	n, s := k.dims[r-1], k.strides[r-1]
	var idx [maxStridedRank]int
	at := k.off // src offset of the current row
	for o := 0; o+n <= len(dst) && n > 0; o += n {
		row := dst[o : o+n]
		switch {
		case s == 1:
			copy(row, src[at:at+n])
		case s > 1:
			seg := src[at : at+(n-1)*s+1]
			for j := range row {
				row[j] = seg[j*s]
			}
		default: // a negative step
			for j := range row {
				row[j] = src[at+j*s]
			}
		}
		for a := r - 2; a >= 0; a-- {
			idx[a]++
			at += k.strides[a]
			if idx[a] < k.dims[a] {
				break
			}
			at -= idx[a] * k.strides[a]
			idx[a] = 0
		}
	}
}

// fastCopy is an alias op (see aliasOps) whose output is a graph output:
// its input's elements, copied into the output's own buffer.
type fastCopy struct{}

func (fastCopy) run(_ *runCtx, in, out []*ir.Tensor) error {
	switch d := out[0].Data.(type) {
	case []float32:
		copy(d, in[0].Data.([]float32))
	case []float64:
		copy(d, in[0].Data.([]float64))
	case []int8:
		copy(d, in[0].Data.([]int8))
	case []uint8:
		copy(d, in[0].Data.([]uint8))
	case []int16:
		copy(d, in[0].Data.([]int16))
	case []uint16:
		copy(d, in[0].Data.([]uint16))
	case []int32:
		copy(d, in[0].Data.([]int32))
	case []uint32:
		copy(d, in[0].Data.([]uint32))
	case []int64:
		copy(d, in[0].Data.([]int64))
	case []uint64:
		copy(d, in[0].Data.([]uint64))
	case []bool:
		copy(d, in[0].Data.([]bool))
	default:
		return copyAllElems(out[0], in[0])
	}
	return nil
}
