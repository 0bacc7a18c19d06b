package runtime

import (
	"fmt"
	"slices"

	"github.com/runinfer/runinfer/ir"
)

// Indexing operators (opset 21): GatherElements, GatherND, ScatterElements,
// ScatterND, NonZero, Compress and ReverseSequence. The gathers compute one
// source offset per output element and move data with copyView, so they work
// for every element type; the scatters copy the data and then assign (any
// type) or reduce (numeric types) the updates in place. Every index is
// range-checked: an out-of-range index is an error, never a panic.

func init() {
	register("GatherElements", 2, 2, inferGatherElements, runGatherElements)
	register("GatherND", 2, 2, inferGatherND, runGatherND)
	register("ScatterElements", 3, 3, inferScatterElements, runScatterElements)
	register("ScatterND", 3, 3, inferScatterND, runScatterND)
	register("NonZero", 1, 1, inferNonZero, runNonZero)
	register("Compress", 2, 2, inferCompress, runCompress)
	register("ReverseSequence", 2, 2, inferReverseSequence, runReverseSequence)
}

// ---------------------------------------------------------------------------
// Shared helpers.

// gthCheckIndices fails unless the indices input has an integer type.
func gthCheckIndices(a *Arg) error {
	if !a.DType.IsInt() {
		return fmt.Errorf("indices must be an integer tensor, got %v", a.DType)
	}
	return nil
}

// gthIndex normalizes index v (negative counts from the end) for an axis of
// size dim, failing when it is outside [-dim, dim-1].
func gthIndex(v int64, dim int, what string) (int, error) {
	if v < -int64(dim) || v >= int64(dim) {
		return 0, fmt.Errorf("%s index %d is out of range for a dimension of size %d", what, v, dim)
	}
	if v < 0 {
		v += int64(dim)
	}
	return int(v), nil
}

// gthPositions returns, for every position of shape in row-major order, the
// sum of its coordinates times strides (a strides entry of 0 ignores that
// coordinate).
func gthPositions(shape, strides []int) []int {
	n := prod(shape)
	out := make([]int, n)
	if n == 0 {
		return out
	}
	r := len(shape)
	idx := make([]int, r)
	off := 0
	for i := range out {
		out[i] = off
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			off += strides[d]
			if idx[d] < shape[d] {
				break
			}
			off -= strides[d] * idx[d]
			idx[d] = 0
		}
	}
	return out
}

// gthGather fills dst with src[offs[i]] (same Go slice types).
func gthGather(dst, src any, offs []int) error {
	return copyView(dst, src, []viewAxis{{n: len(offs), idx: offs}}, nil)
}

// gthReduction validates the scatter reduction attribute.
func gthReduction(n *ir.Node, dt ir.DType) (string, error) {
	red := n.AttrString("reduction", "none")
	switch red {
	case "none":
		return red, nil
	case "add", "mul", "max", "min":
		if err := checkDType("data with reduction "+red, dt, numericDTypes); err != nil {
			return "", err
		}
		return red, nil
	}
	return "", fmt.Errorf("unknown reduction %q (want none, add, mul, max or min)", red)
}

// gthScatter combines chunks of n elements of src into dst: for every i,
// dst[dOffs[i]+j] = f(dst[dOffs[i]+j], src[i*n+j]) for j < n, where f is
// assignment (reduction none) or the reduction. dst and src hold the same
// Go slice type.
func gthScatter(dst, src any, dOffs []int, n int, red string) error {
	if red == "none" {
		cp, err := chunkCopier(dst, src)
		if err != nil {
			return err
		}
		for i, o := range dOffs {
			cp(o, i*n, n)
		}
		return nil
	}
	kind := map[string]binKind{"add": binAdd, "mul": binMul, "max": binMax, "min": binMin}[red]
	switch d := dst.(type) {
	case []float32:
		return gthReduceInto(d, src, dOffs, n, kind)
	case []float64:
		return gthReduceInto(d, src, dOffs, n, kind)
	case []int8:
		return gthReduceInto(d, src, dOffs, n, kind)
	case []uint8:
		return gthReduceInto(d, src, dOffs, n, kind)
	case []int16:
		return gthReduceInto(d, src, dOffs, n, kind)
	case []uint16:
		return gthReduceInto(d, src, dOffs, n, kind)
	case []int32:
		return gthReduceInto(d, src, dOffs, n, kind)
	case []uint32:
		return gthReduceInto(d, src, dOffs, n, kind)
	case []int64:
		return gthReduceInto(d, src, dOffs, n, kind)
	case []uint64:
		return gthReduceInto(d, src, dOffs, n, kind)
	}
	return fmt.Errorf("reduction %s does not support %T data", red, dst)
}

func gthReduceInto[T anyNumber](d []T, src any, dOffs []int, n int, kind binKind) error {
	s, ok := src.([]T)
	if !ok {
		return fmt.Errorf("element type mismatch: data holds %T, updates hold %T", d, src)
	}
	f := binFunc[T](kind)
	for i, o := range dOffs {
		for j := 0; j < n; j++ {
			d[o+j] = f(d[o+j], s[i*n+j])
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// GatherElements and ScatterElements.

// gthElementsCheck validates an indices shape against data for the
// element-wise gather/scatter along axis and returns the normalized axis.
func gthElementsCheck(n *ir.Node, data, idx *Arg) (int, error) {
	if err := gthCheckIndices(idx); err != nil {
		return 0, err
	}
	r := len(data.Shape)
	if r == 0 {
		return 0, fmt.Errorf("data is a scalar; it must have rank 1 or more")
	}
	axis, err := normAxis(n.AttrInt("axis", 0), r)
	if err != nil {
		return 0, err
	}
	if len(idx.Shape) != r {
		return 0, fmt.Errorf("indices have shape %v (rank %d), data has shape %v (rank %d): the ranks must match", idx.Shape, len(idx.Shape), data.Shape, r)
	}
	for d, v := range idx.Shape {
		if d != axis && v > data.Shape[d] {
			return 0, fmt.Errorf("indices shape %v exceeds data shape %v on axis %d", idx.Shape, data.Shape, d)
		}
	}
	if err := checkElems(idx.Shape); err != nil {
		return 0, err
	}
	return axis, nil
}

// gthElementOffsets returns the data offset every index element addresses.
func gthElementOffsets(dataShape []int, idx *ir.Tensor, axis int) ([]int, error) {
	vals, err := idx.Int64s()
	if err != nil {
		return nil, fmt.Errorf("indices: %w", err)
	}
	st := stridesOf(dataShape)
	walk := append([]int(nil), st...)
	walk[axis] = 0
	offs := gthPositions(idx.Shape, walk)
	dim := dataShape[axis]
	for i, v := range vals {
		k, err := gthIndex(v, dim, fmt.Sprintf("axis-%d", axis))
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		offs[i] += k * st[axis]
	}
	return offs, nil
}

func inferGatherElements(n *ir.Node, in []*Arg) ([]Out, error) {
	if _, err := gthElementsCheck(n, in[0], in[1]); err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: append([]int(nil), in[1].Shape...)}}, nil
}

func runGatherElements(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	args := argsOf(in)
	axis, err := gthElementsCheck(n, args[0], args[1])
	if err != nil {
		return err
	}
	offs, err := gthElementOffsets(in[0].Shape, in[1], axis)
	if err != nil {
		return err
	}
	return gthGather(out[0].Data, in[0].Data, offs)
}

func inferScatterElements(n *ir.Node, in []*Arg) ([]Out, error) {
	data, idx, upd := in[0], in[1], in[2]
	if _, err := gthElementsCheck(n, data, idx); err != nil {
		return nil, err
	}
	if upd.DType != data.DType {
		return nil, fmt.Errorf("updates have element type %v, data has %v", upd.DType, data.DType)
	}
	if !slices.Equal(upd.Shape, idx.Shape) {
		return nil, fmt.Errorf("updates have shape %v, indices have shape %v: they must match", upd.Shape, idx.Shape)
	}
	if _, err := gthReduction(n, data.DType); err != nil {
		return nil, err
	}
	return same(data), nil
}

func runScatterElements(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	if _, err := inferScatterElements(n, argsOf(in)); err != nil {
		return err
	}
	axis, _ := normAxis(n.AttrInt("axis", 0), len(in[0].Shape))
	red, _ := gthReduction(n, in[0].DType)
	offs, err := gthElementOffsets(in[0].Shape, in[1], axis)
	if err != nil {
		return err
	}
	if err := copyAllElems(out[0], in[0]); err != nil {
		return err
	}
	return gthScatter(out[0].Data, in[2].Data, offs, 1, red)
}

// ---------------------------------------------------------------------------
// GatherND and ScatterND.

// gthNDPlan is the geometry of GatherND/ScatterND: b batch dimensions, index
// tuples of k coordinates, tuples in all, and chunk elements copied per tuple.
type gthNDPlan struct {
	b, k          int
	tuples, chunk int
	out           []int // GatherND output shape, ScatterND updates shape
}

func gthPlanND(data, idx *Arg, batchDims int64) (*gthNDPlan, error) {
	if err := gthCheckIndices(idx); err != nil {
		return nil, err
	}
	r, q := len(data.Shape), len(idx.Shape)
	if r < 1 || q < 1 {
		return nil, fmt.Errorf("data (shape %v) and indices (shape %v) must both have rank 1 or more", data.Shape, idx.Shape)
	}
	if batchDims < 0 || batchDims >= int64(min(r, q)) {
		return nil, fmt.Errorf("batch_dims %d must be in [0, %d) for data of rank %d and indices of rank %d", batchDims, min(r, q), r, q)
	}
	b := int(batchDims)
	for i := 0; i < b; i++ {
		if data.Shape[i] != idx.Shape[i] {
			return nil, fmt.Errorf("batch dimension %d differs: data shape %v, indices shape %v", i, data.Shape, idx.Shape)
		}
	}
	k := idx.Shape[q-1]
	if k < 1 || k > r-b {
		return nil, fmt.Errorf("the last dimension of indices (shape %v) is %d, want 1 to %d (data rank %d minus batch_dims %d)", idx.Shape, k, r-b, r, b)
	}
	out := append(append([]int(nil), idx.Shape[:q-1]...), data.Shape[b+k:]...)
	if err := checkElems(out); err != nil {
		return nil, err
	}
	if err := checkElems(idx.Shape); err != nil {
		return nil, err
	}
	return &gthNDPlan{b: b, k: k, tuples: prod(idx.Shape[:q-1]), chunk: prod(data.Shape[b+k:]), out: out}, nil
}

// offsets returns the data offset of the chunk every index tuple addresses.
func (p *gthNDPlan) offsets(dataShape []int, idx *ir.Tensor) ([]int, error) {
	vals, err := idx.Int64s()
	if err != nil {
		return nil, fmt.Errorf("indices: %w", err)
	}
	st := stridesOf(dataShape)
	q := len(idx.Shape)
	perBatch := prod(idx.Shape[p.b : q-1]) // tuples per batch entry
	batchStride := prod(dataShape[p.b:])
	offs := make([]int, p.tuples)
	for t := range offs {
		off := 0
		if perBatch > 0 {
			off = (t / perBatch) * batchStride
		}
		for j := 0; j < p.k; j++ {
			a := p.b + j
			v, err := gthIndex(vals[t*p.k+j], dataShape[a], fmt.Sprintf("axis-%d", a))
			if err != nil {
				return nil, fmt.Errorf("index tuple %d: %w", t, err)
			}
			off += v * st[a]
		}
		offs[t] = off
	}
	return offs, nil
}

func inferGatherND(n *ir.Node, in []*Arg) ([]Out, error) {
	p, err := gthPlanND(in[0], in[1], n.AttrInt("batch_dims", 0))
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: p.out}}, nil
}

func runGatherND(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	args := argsOf(in)
	p, err := gthPlanND(args[0], args[1], n.AttrInt("batch_dims", 0))
	if err != nil {
		return err
	}
	offs, err := p.offsets(in[0].Shape, in[1])
	if err != nil {
		return err
	}
	// Each tuple's chunk is contiguous in the data: a 2-axis view walks
	// (tuple, element within the chunk).
	axes := []viewAxis{{n: len(offs), idx: offs}, affineAxis(p.chunk, 0, 1)}
	return copyView(out[0].Data, in[0].Data, axes, nil)
}

func inferScatterND(n *ir.Node, in []*Arg) ([]Out, error) {
	data, idx, upd := in[0], in[1], in[2]
	p, err := gthPlanND(data, idx, 0)
	if err != nil {
		return nil, err
	}
	if upd.DType != data.DType {
		return nil, fmt.Errorf("updates have element type %v, data has %v", upd.DType, data.DType)
	}
	if !slices.Equal(upd.Shape, p.out) {
		return nil, fmt.Errorf("updates have shape %v, want %v (indices shape %v without its last axis, then data shape %v from axis %d)", upd.Shape, p.out, idx.Shape, data.Shape, p.k)
	}
	if _, err := gthReduction(n, data.DType); err != nil {
		return nil, err
	}
	return same(data), nil
}

func runScatterND(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	args := argsOf(in)
	if _, err := inferScatterND(n, args); err != nil {
		return err
	}
	p, _ := gthPlanND(args[0], args[1], 0)
	red, _ := gthReduction(n, in[0].DType)
	offs, err := p.offsets(in[0].Shape, in[1])
	if err != nil {
		return err
	}
	if err := copyAllElems(out[0], in[0]); err != nil {
		return err
	}
	return gthScatter(out[0].Data, in[2].Data, offs, p.chunk, red)
}

// ---------------------------------------------------------------------------
// NonZero.

// gthNZTypes are the element types NonZero accepts.
var gthNZTypes = append(append([]ir.DType(nil), numericDTypes...), ir.Bool)

// gthNonZeroFlags returns which elements of t are non-zero (NaN counts as
// non-zero) and how many there are.
func gthNonZeroFlags(t *ir.Tensor) ([]bool, int, error) {
	if err := checkDType("input", t.DType, gthNZTypes); err != nil {
		return nil, 0, err
	}
	flags := make([]bool, t.Len())
	cnt := 0
	for i := range flags {
		if t.Float64At(i) != 0 {
			flags[i] = true
			cnt++
		}
	}
	return flags, cnt, nil
}

// gthNZRank is the number of coordinates NonZero reports per element: the
// input's rank, or 1 for a scalar (treated as a one-element vector).
func gthNZRank(shape []int) int { return max(len(shape), 1) }

func inferNonZero(_ *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("input", in[0].DType, gthNZTypes); err != nil {
		return nil, err
	}
	v, err := needVal(in[0])
	if err != nil {
		return nil, err
	}
	cnt := 0
	for i := range v.Len() {
		if v.Float64At(i) != 0 {
			cnt++
		}
	}
	return []Out{{DType: ir.Int64, Shape: []int{gthNZRank(in[0].Shape), cnt}}}, nil
}

func runNonZero(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	flags, cnt, err := gthNonZeroFlags(in[0])
	if err != nil {
		return err
	}
	r := gthNZRank(in[0].Shape)
	if out[0].Len() != r*cnt {
		return fmt.Errorf("internal error: output holds %d elements for %d coordinates of %d elements", out[0].Len(), r, cnt)
	}
	shape := in[0].Shape
	if len(shape) == 0 {
		shape = []int{1}
	}
	st := stridesOf(shape)
	o := out[0].I64()
	j := 0
	for i, nz := range flags {
		if !nz {
			continue
		}
		for d := 0; d < r; d++ {
			o[d*cnt+j] = int64((i / st[d]) % shape[d])
		}
		j++
	}
	return nil
}

// ---------------------------------------------------------------------------
// Compress.

// gthCompressPlan resolves Compress: the axis (-1: flattened input), the kept
// positions along it and the output shape.
type gthCompressPlan struct {
	axis int
	keep []int
	out  []int
}

func gthPlanCompress(n *ir.Node, in []*Arg) (*gthCompressPlan, error) {
	data, cond := in[0], in[1]
	if cond.DType != ir.Bool {
		return nil, fmt.Errorf("condition has element type %v, want bool", cond.DType)
	}
	if len(cond.Shape) != 1 {
		return nil, fmt.Errorf("condition has shape %v, want a 1-D tensor", cond.Shape)
	}
	axis := -1
	size, err := ir.NumElements(data.Shape)
	if err != nil {
		return nil, err
	}
	if n.HasAttr("axis") {
		if axis, err = normAxis(n.AttrInt("axis", 0), len(data.Shape)); err != nil {
			return nil, err
		}
		size = data.Shape[axis]
	}
	cv, err := needVal(cond)
	if err != nil {
		return nil, err
	}
	c := cv.Data.([]bool)
	// Condition entries past the axis end select nothing (as with a shorter
	// condition, whose missing entries count as false).
	var keep []int
	for i := 0; i < min(len(c), size); i++ {
		if c[i] {
			keep = append(keep, i)
		}
	}
	out := []int{len(keep)}
	if axis >= 0 {
		out = append([]int(nil), data.Shape...)
		out[axis] = len(keep)
	}
	return &gthCompressPlan{axis: axis, keep: keep, out: out}, nil
}

func inferCompress(n *ir.Node, in []*Arg) ([]Out, error) {
	p, err := gthPlanCompress(n, in)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: p.out}}, nil
}

func runCompress(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	p, err := gthPlanCompress(n, argsOf(in))
	if err != nil {
		return err
	}
	if p.axis < 0 {
		return gthGather(out[0].Data, in[0].Data, p.keep)
	}
	shape := in[0].Shape
	inner := prod(shape[p.axis+1:])
	offs := make([]int, len(p.keep))
	for i, k := range p.keep {
		offs[i] = k * inner
	}
	axes := []viewAxis{
		affineAxis(prod(shape[:p.axis]), 0, shape[p.axis]*inner),
		{n: len(offs), idx: offs},
		affineAxis(inner, 0, 1),
	}
	return copyView(out[0].Data, in[0].Data, axes, nil)
}

// ---------------------------------------------------------------------------
// ReverseSequence.

// gthRSAxes validates ReverseSequence and returns its batch and time axes.
func gthRSAxes(n *ir.Node, in []*Arg) (int, int, error) {
	x, lens := in[0], in[1]
	if len(x.Shape) < 2 {
		return 0, 0, fmt.Errorf("input has shape %v, want rank 2 or more", x.Shape)
	}
	ba, ta := n.AttrInt("batch_axis", 1), n.AttrInt("time_axis", 0)
	if (ba != 0 && ba != 1) || (ta != 0 && ta != 1) || ba == ta {
		return 0, 0, fmt.Errorf("batch_axis %d and time_axis %d must be 0 and 1 in some order", ba, ta)
	}
	if !lens.DType.IsInt() {
		return 0, 0, fmt.Errorf("sequence_lens has element type %v, want an integer type", lens.DType)
	}
	if len(lens.Shape) != 1 || lens.Shape[0] != x.Shape[ba] {
		return 0, 0, fmt.Errorf("sequence_lens has shape %v, want [%d] (the batch size)", lens.Shape, x.Shape[ba])
	}
	if err := checkElems(x.Shape); err != nil {
		return 0, 0, err
	}
	return int(ba), int(ta), nil
}

func inferReverseSequence(n *ir.Node, in []*Arg) ([]Out, error) {
	if _, _, err := gthRSAxes(n, in); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func runReverseSequence(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	ba, ta, err := gthRSAxes(n, argsOf(in))
	if err != nil {
		return err
	}
	lens, err := in[1].Int64s()
	if err != nil {
		return fmt.Errorf("sequence_lens: %w", err)
	}
	shape := in[0].Shape
	steps := shape[ta]
	for b, l := range lens {
		if l < 0 || l > int64(steps) {
			return fmt.Errorf("sequence_lens[%d] = %d is out of range [0, %d] (the time axis size)", b, l, steps)
		}
	}
	st := stridesOf(shape)
	offs := make([]int, prod(shape))
	for i := range offs {
		b := (i / st[ba]) % shape[ba]
		t := (i / st[ta]) % shape[ta]
		offs[i] = i
		if l := int(lens[b]); t < l {
			offs[i] += (l - 1 - 2*t) * st[ta]
		}
	}
	return gthGather(out[0].Data, in[0].Data, offs)
}
