package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// This file holds the operators that only move data (shape manipulation,
// indexing, padding, constants). They are written once over the raw slices
// (see copyView and chunkCopier) and so work for every element type.

func init() {
	register("Shape", 1, 1, inferShape, runShape)
	register("Reshape", 2, 2, inferReshape, runCopyInput0)
	register("Flatten", 1, 1, inferFlatten, runCopyInput0)
	register("Squeeze", 1, 2, inferSqueeze, runCopyInput0)
	register("Unsqueeze", 2, 2, inferUnsqueeze, runCopyInput0)
	register("Identity", 1, 1, inferIdentity, runCopyInput0)
	register("Expand", 2, 2, inferExpand, runExpand)
	register("Tile", 2, 2, inferTile, runTile)
	register("Concat", 1, -1, inferConcat, runConcat)
	register("Split", 1, 2, inferSplit, runSplit)
	register("Transpose", 1, 1, inferTranspose, runTranspose)
	register("Dropout", 1, 3, inferDropout, runDropout)
	register("Constant", 0, 0, inferConstant, runConstant)
	register("ConstantOfShape", 1, 1, inferConstantOfShape, runConstantOfShape)
	register("Gather", 2, 2, inferGather, runGather)
	register("Slice", 3, 5, inferSlice, runSlice)
	register("Pad", 2, 4, inferPad, runPad)
	register("DepthToSpace", 1, 1, inferDepthToSpace, runDepthToSpace)
	register("SpaceToDepth", 1, 1, inferSpaceToDepth, runSpaceToDepth)
}

// ---------------------------------------------------------------------------
// Generic data movement.

// viewAxis describes one axis of a view that copyView walks in row-major
// order: n positions, each mapped to a source element offset contribution,
// either affinely (base + o*step) or explicitly through idx, where a negative
// entry means "this position takes the fill value".
type viewAxis struct {
	n          int
	base, step int
	idx        []int
}

// affineAxis returns an axis of n positions at offsets base, base+step, ...
func affineAxis(n, base, step int) viewAxis { return viewAxis{n: n, base: base, step: step} }

// at returns the source offset contribution of position o (negative: fill).
func (a *viewAxis) at(o int) int {
	if a.idx != nil {
		return a.idx[o]
	}
	return a.base + o*a.step
}

// copyView fills dst, in row-major order over axes, with the source elements
// the axes map to: dst[k] = src[sum of axes[i].at(o_i)], or the fill value
// where an explicit index is negative. fill is nil (zero value) or a slice of
// dst's type whose first element is used. dst and src must have the same Go
// slice type, and the product of the axis sizes must be len(dst).
func copyView(dst, src any, axes []viewAxis, fill any) error {
	switch d := dst.(type) {
	case []float32:
		return copyViewOf(d, src, axes, fill)
	case []float64:
		return copyViewOf(d, src, axes, fill)
	case []int8:
		return copyViewOf(d, src, axes, fill)
	case []uint8:
		return copyViewOf(d, src, axes, fill)
	case []int16:
		return copyViewOf(d, src, axes, fill)
	case []uint16:
		return copyViewOf(d, src, axes, fill)
	case []int32:
		return copyViewOf(d, src, axes, fill)
	case []uint32:
		return copyViewOf(d, src, axes, fill)
	case []int64:
		return copyViewOf(d, src, axes, fill)
	case []uint64:
		return copyViewOf(d, src, axes, fill)
	case []bool:
		return copyViewOf(d, src, axes, fill)
	case []string:
		return copyViewOf(d, src, axes, fill)
	}
	return fmt.Errorf("unsupported tensor data %T", dst)
}

func copyViewOf[T any](d []T, src any, axes []viewAxis, fill any) error {
	s, ok := src.([]T)
	if !ok {
		return fmt.Errorf("element type mismatch: output holds %T, input holds %T", d, src)
	}
	var fv T
	if fill != nil {
		fs, ok := fill.([]T)
		if !ok || len(fs) == 0 {
			return fmt.Errorf("fill value %T does not match output %T", fill, d)
		}
		fv = fs[0]
	}
	total := 1
	for _, a := range axes {
		total *= a.n
	}
	if total != len(d) {
		return fmt.Errorf("internal error: view of %d elements for an output of %d", total, len(d))
	}
	if total == 0 {
		return nil
	}
	if len(axes) == 0 {
		d[0] = s[0]
		return nil
	}
	r := len(axes)
	last := &axes[r-1]
	outer := axes[:r-1]
	pos := make([]int, len(outer))
	for k := 0; k < total; k += last.n {
		off, filled := 0, false
		for i := range outer {
			v := outer[i].at(pos[i])
			if v < 0 {
				filled = true
				break
			}
			off += v
		}
		row := d[k : k+last.n]
		switch {
		case filled:
			for j := range row {
				row[j] = fv
			}
		case last.idx != nil:
			for j, v := range last.idx {
				if v < 0 {
					row[j] = fv
				} else {
					row[j] = s[off+v]
				}
			}
		case last.step == 1:
			copy(row, s[off+last.base:off+last.base+last.n])
		default:
			p := off + last.base
			for j := range row {
				row[j] = s[p]
				p += last.step
			}
		}
		for i := len(pos) - 1; i >= 0; i-- {
			pos[i]++
			if pos[i] < outer[i].n {
				break
			}
			pos[i] = 0
		}
	}
	return nil
}

// chunkCopier returns a function copying n elements from src[so:] to
// dst[do:]; dst and src must hold the same Go slice type.
func chunkCopier(dst, src any) (func(do, so, n int), error) {
	switch d := dst.(type) {
	case []float32:
		return chunkCopierOf(d, src)
	case []float64:
		return chunkCopierOf(d, src)
	case []int8:
		return chunkCopierOf(d, src)
	case []uint8:
		return chunkCopierOf(d, src)
	case []int16:
		return chunkCopierOf(d, src)
	case []uint16:
		return chunkCopierOf(d, src)
	case []int32:
		return chunkCopierOf(d, src)
	case []uint32:
		return chunkCopierOf(d, src)
	case []int64:
		return chunkCopierOf(d, src)
	case []uint64:
		return chunkCopierOf(d, src)
	case []bool:
		return chunkCopierOf(d, src)
	case []string:
		return chunkCopierOf(d, src)
	}
	return nil, fmt.Errorf("unsupported tensor data %T", dst)
}

func chunkCopierOf[T any](d []T, src any) (func(do, so, n int), error) {
	s, ok := src.([]T)
	if !ok {
		return nil, fmt.Errorf("element type mismatch: output holds %T, input holds %T", d, src)
	}
	return func(do, so, n int) { copy(d[do:do+n], s[so:so+n]) }, nil
}

// copyAllElems copies every element of src into dst (same count and type).
func copyAllElems(dst, src *ir.Tensor) error {
	if dst.Len() != src.Len() {
		return fmt.Errorf("internal error: copying %d elements into %d", src.Len(), dst.Len())
	}
	cp, err := chunkCopier(dst.Data, src.Data)
	if err != nil {
		return err
	}
	cp(0, 0, src.Len())
	return nil
}

// fillElems sets every element of dst to the first element of val (a slice of
// dst's Go type).
func fillElems(dst *ir.Tensor, val any) error {
	return copyView(dst.Data, val, []viewAxis{affineAxis(dst.Len(), 0, 0)}, nil)
}

// scalarSlice returns a one-element slice of dt's Go type holding v, for fill
// values given as numbers (bools: v != 0; strings: the empty string).
func scalarSlice(dt ir.DType, v float64) (any, error) {
	switch dt {
	case ir.Float32:
		return []float32{float32(v)}, nil
	case ir.Float64:
		return []float64{v}, nil
	case ir.Int8:
		return []int8{int8(satInt(v, math.MinInt8, math.MaxInt8))}, nil
	case ir.Uint8:
		return []uint8{uint8(satInt(v, 0, math.MaxUint8))}, nil
	case ir.Int16:
		return []int16{int16(satInt(v, math.MinInt16, math.MaxInt16))}, nil
	case ir.Uint16:
		return []uint16{uint16(satInt(v, 0, math.MaxUint16))}, nil
	case ir.Float16:
		return []uint16{ir.Float32ToFloat16(float32(v))}, nil
	case ir.BFloat16:
		return []uint16{ir.Float32ToBFloat16(float32(v))}, nil
	case ir.Int32:
		return []int32{int32(satInt(v, math.MinInt32, math.MaxInt32))}, nil
	case ir.Uint32:
		return []uint32{uint32(satInt(v, 0, math.MaxUint32))}, nil
	case ir.Int64:
		return []int64{satInt(v, math.MinInt64, math.MaxInt64)}, nil
	case ir.Uint64:
		if v <= 0 || math.IsNaN(v) {
			return []uint64{0}, nil
		}
		if v >= 1<<64 {
			return []uint64{math.MaxUint64}, nil
		}
		return []uint64{uint64(v)}, nil
	case ir.Bool:
		return []bool{v != 0}, nil
	case ir.String:
		return []string{""}, nil
	}
	return nil, fmt.Errorf("unsupported element type %v", dt)
}

// satInt truncates v toward zero and saturates it to [lo, hi] (NaN gives 0).
func satInt(v float64, lo, hi int64) int64 {
	switch {
	case math.IsNaN(v):
		return 0
	case v <= float64(lo):
		return lo
	case v >= float64(hi):
		return hi
	}
	return int64(v)
}

// ---------------------------------------------------------------------------
// Small checked-arithmetic helpers for shapes.

// dimFromInt64 converts a requested dimension to int, rejecting negative
// values and sizes no tensor can have.
func dimFromInt64(v int64) (int, error) {
	if v < 0 {
		return 0, fmt.Errorf("negative dimension %d", v)
	}
	if v > ir.MaxElements {
		return 0, fmt.Errorf("dimension %d: %w (limit %d elements)", v, ir.ErrTooLarge, int64(ir.MaxElements))
	}
	return int(v), nil
}

// mulDimsChecked multiplies two non-negative sizes, failing when the product
// exceeds the tensor size limit.
func mulDimsChecked(a, b int64) (int, error) {
	if a < 0 || b < 0 {
		return 0, fmt.Errorf("negative size %d x %d", a, b)
	}
	if a != 0 && b > ir.MaxElements/a {
		return 0, fmt.Errorf("size %d x %d: %w (limit %d elements)", a, b, ir.ErrTooLarge, int64(ir.MaxElements))
	}
	return int(a * b), nil
}

// checkElems validates a shape's element count.
func checkElems(shape []int) error {
	_, err := ir.NumElements(shape)
	return err
}

// normAxes normalizes possibly negative axes for rank and rejects duplicates.
func normAxes(axes []int64, rank int) ([]int, error) {
	out := make([]int, len(axes))
	seen := make(map[int]bool, len(axes))
	for i, a := range axes {
		v, err := normAxis(a, rank)
		if err != nil {
			return nil, err
		}
		if seen[v] {
			return nil, fmt.Errorf("axis %d appears twice in %v", a, axes)
		}
		seen[v] = true
		out[i] = v
	}
	return out, nil
}

// outCount is the number of outputs a node declares (at least 1).
func outCount(n *ir.Node) int { return max(1, len(n.Outputs)) }

// runCopyInput0 copies input 0 into output 0 unchanged (reshape-like ops).
func runCopyInput0(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	return copyAllElems(out[0], in[0])
}

// ---------------------------------------------------------------------------
// Shape, Reshape, Flatten, Squeeze, Unsqueeze, Identity.

// shapeRange resolves Shape's start/end attributes for rank.
func shapeRange(n *ir.Node, rank int) (int, int) {
	clampAxis := func(v int64) int {
		if v < 0 {
			v += int64(rank)
		}
		return int(min(max(v, 0), int64(rank)))
	}
	start := clampAxis(n.AttrInt("start", 0))
	end := clampAxis(n.AttrInt("end", int64(rank)))
	return start, max(end, start)
}

func inferShape(n *ir.Node, in []*Arg) ([]Out, error) {
	s, e := shapeRange(n, len(in[0].Shape))
	return []Out{{DType: ir.Int64, Shape: []int{e - s}}}, nil
}

func runShape(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	s, e := shapeRange(n, len(in[0].Shape))
	dst := out[0].I64()
	for i := s; i < e; i++ {
		dst[i-s] = int64(in[0].Shape[i])
	}
	return nil
}

func inferReshape(n *ir.Node, in []*Arg) ([]Out, error) {
	req, err := ints64(in[1])
	if err != nil {
		return nil, err
	}
	if len(in[1].Shape) != 1 {
		return nil, fmt.Errorf("shape input must be 1-D, got shape %v", in[1].Shape)
	}
	total, err := ir.NumElements(in[0].Shape)
	if err != nil {
		return nil, err
	}
	allowZero := n.AttrInt("allowzero", 0) != 0
	out := make([]int, len(req))
	infer := -1
	hasZero := false
	for i, v := range req {
		switch {
		case v == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", req)
			}
			infer = i
		case v == 0 && !allowZero:
			if i >= len(in[0].Shape) {
				return nil, fmt.Errorf("shape %v copies dimension %d (0) but the input %v has rank %d", req, i, in[0].Shape, len(in[0].Shape))
			}
			out[i] = in[0].Shape[i]
		case v < -1:
			return nil, fmt.Errorf("shape %v has invalid dimension %d", req, v)
		default:
			if v == 0 {
				hasZero = true
			}
			d, err := dimFromInt64(v)
			if err != nil {
				return nil, fmt.Errorf("shape %v: %w", req, err)
			}
			out[i] = d
		}
	}
	if infer >= 0 {
		if hasZero {
			return nil, fmt.Errorf("shape %v has both 0 and -1 with allowzero=1", req)
		}
		out[infer] = 1
		known, err := ir.NumElements(out)
		if err != nil {
			return nil, err
		}
		if known == 0 || total%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v: the -1 dimension cannot be inferred", in[0].Shape, total, req)
		}
		out[infer] = total / known
	}
	cnt, err := ir.NumElements(out)
	if err != nil {
		return nil, err
	}
	if cnt != total {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v (%d elements)", in[0].Shape, total, out, cnt)
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func inferFlatten(n *ir.Node, in []*Arg) ([]Out, error) {
	shape := in[0].Shape
	r := len(shape)
	axis := n.AttrInt("axis", 1)
	if axis < 0 {
		axis += int64(r)
	}
	if axis < 0 || axis > int64(r) {
		return nil, fmt.Errorf("axis %d is out of range for rank %d", n.AttrInt("axis", 1), r)
	}
	if err := checkElems(shape); err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: []int{prod(shape[:axis]), prod(shape[axis:])}}}, nil
}

func inferSqueeze(_ *ir.Node, in []*Arg) ([]Out, error) {
	shape := in[0].Shape
	drop := make([]bool, len(shape))
	if len(in) > 1 && in[1] != nil {
		axes, err := ints64(in[1])
		if err != nil {
			return nil, err
		}
		norm, err := normAxes(axes, len(shape))
		if err != nil {
			return nil, err
		}
		for _, a := range norm {
			if shape[a] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of shape %v: its size is not 1", a, shape)
			}
			drop[a] = true
		}
	} else {
		for i, d := range shape {
			drop[i] = d == 1
		}
	}
	out := []int{}
	for i, d := range shape {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func inferUnsqueeze(_ *ir.Node, in []*Arg) ([]Out, error) {
	axes, err := ints64(in[1])
	if err != nil {
		return nil, err
	}
	shape := in[0].Shape
	r := len(shape) + len(axes)
	norm, err := normAxes(axes, r)
	if err != nil {
		return nil, err
	}
	ins := make([]bool, r)
	for _, a := range norm {
		ins[a] = true
	}
	out := make([]int, r)
	j := 0
	for i := range out {
		if ins[i] {
			out[i] = 1
		} else {
			out[i] = shape[j]
			j++
		}
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func inferIdentity(_ *ir.Node, in []*Arg) ([]Out, error) { return same(in[0]), nil }

// ---------------------------------------------------------------------------
// Expand, Tile, Transpose.

func inferExpand(_ *ir.Node, in []*Arg) ([]Out, error) {
	req, err := ints64(in[1])
	if err != nil {
		return nil, err
	}
	if len(in[1].Shape) != 1 {
		return nil, fmt.Errorf("shape input must be 1-D, got shape %v", in[1].Shape)
	}
	want := make([]int, len(req))
	for i, v := range req {
		if want[i], err = dimFromInt64(v); err != nil {
			return nil, fmt.Errorf("shape %v: %w", req, err)
		}
	}
	out, err := ir.BroadcastShapes(in[0].Shape, want)
	if err != nil {
		return nil, err
	}
	if err := checkElems(out); err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

// broadcastAxes maps an output shape to a (right-aligned, numpy-broadcast)
// input shape: broadcast axes get step 0.
func broadcastAxes(inShape, outShape []int) []viewAxis {
	st := stridesOf(inShape)
	off := len(outShape) - len(inShape)
	axes := make([]viewAxis, len(outShape))
	for i, d := range outShape {
		step := 0
		if j := i - off; j >= 0 && inShape[j] != 1 {
			step = st[j]
		}
		axes[i] = affineAxis(d, 0, step)
	}
	return axes
}

func runExpand(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	return copyView(out[0].Data, in[0].Data, broadcastAxes(in[0].Shape, out[0].Shape), nil)
}

func tileRepeats(in []*Arg) ([]int64, error) {
	reps, err := ints64(in[1])
	if err != nil {
		return nil, err
	}
	if len(reps) != len(in[0].Shape) {
		return nil, fmt.Errorf("repeats %v has %d values for an input of rank %d", reps, len(reps), len(in[0].Shape))
	}
	for _, r := range reps {
		if r < 0 {
			return nil, fmt.Errorf("repeats %v has a negative value", reps)
		}
	}
	return reps, nil
}

func inferTile(_ *ir.Node, in []*Arg) ([]Out, error) {
	reps, err := tileRepeats(in)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(reps))
	for i, r := range reps {
		if out[i], err = mulDimsChecked(int64(in[0].Shape[i]), r); err != nil {
			return nil, fmt.Errorf("repeats %v on shape %v: %w", reps, in[0].Shape, err)
		}
	}
	if err := checkElems(out); err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func runTile(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	reps, err := tileRepeats(argsOf(in))
	if err != nil {
		return err
	}
	// Output axis i of size d*r is walked as (repeat, position) pairs.
	st := stridesOf(in[0].Shape)
	axes := make([]viewAxis, 0, 2*len(reps))
	for i, r := range reps {
		axes = append(axes, affineAxis(int(r), 0, 0), affineAxis(in[0].Shape[i], 0, st[i]))
	}
	return copyView(out[0].Data, in[0].Data, axes, nil)
}

func transposePerm(n *ir.Node, rank int) ([]int, error) {
	p := n.AttrInts("perm")
	perm := make([]int, rank)
	if p == nil {
		for i := range perm {
			perm[i] = rank - 1 - i
		}
		return perm, nil
	}
	if len(p) != rank {
		return nil, fmt.Errorf("perm %v has %d entries for an input of rank %d", p, len(p), rank)
	}
	seen := make([]bool, rank)
	for i, v := range p {
		if v < 0 || v >= int64(rank) || seen[v] {
			return nil, fmt.Errorf("perm %v is not a permutation of 0..%d", p, rank-1)
		}
		seen[v] = true
		perm[i] = int(v)
	}
	return perm, nil
}

func inferTranspose(n *ir.Node, in []*Arg) ([]Out, error) {
	perm, err := transposePerm(n, len(in[0].Shape))
	if err != nil {
		return nil, err
	}
	out := make([]int, len(perm))
	for i, p := range perm {
		out[i] = in[0].Shape[p]
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func runTranspose(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	perm, err := transposePerm(n, len(in[0].Shape))
	if err != nil {
		return err
	}
	st := stridesOf(in[0].Shape)
	axes := make([]viewAxis, len(perm))
	for i, p := range perm {
		axes[i] = affineAxis(in[0].Shape[p], 0, st[p])
	}
	return copyView(out[0].Data, in[0].Data, axes, nil)
}

// ---------------------------------------------------------------------------
// Concat, Split.

func inferConcat(n *ir.Node, in []*Arg) ([]Out, error) {
	first := in[0]
	r := len(first.Shape)
	axis, err := normAxis(n.AttrInt("axis", 0), r)
	if err != nil {
		return nil, err
	}
	if !n.HasAttr("axis") {
		return nil, fmt.Errorf("the axis attribute is required")
	}
	out := append([]int(nil), first.Shape...)
	out[axis] = 0
	for i, a := range in {
		if a == nil {
			return nil, fmt.Errorf("input %d is missing", i)
		}
		if a.DType != first.DType {
			return nil, fmt.Errorf("input %d is %v, input 0 is %v", i, a.DType, first.DType)
		}
		if len(a.Shape) != r {
			return nil, fmt.Errorf("input %d has shape %v, input 0 has shape %v (ranks differ)", i, a.Shape, first.Shape)
		}
		for j, d := range a.Shape {
			if j != axis && d != first.Shape[j] {
				return nil, fmt.Errorf("input %d has shape %v, input 0 has shape %v (dimension %d differs)", i, a.Shape, first.Shape, j)
			}
		}
		if out[axis], err = dimFromInt64(int64(out[axis]) + int64(a.Shape[axis])); err != nil {
			return nil, err
		}
	}
	if err := checkElems(out); err != nil {
		return nil, err
	}
	return []Out{{DType: first.DType, Shape: out}}, nil
}

func runConcat(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	shape := out[0].Shape
	axis, err := normAxis(n.AttrInt("axis", 0), len(shape))
	if err != nil {
		return err
	}
	outer := prod(shape[:axis])
	inner := prod(shape[axis+1:])
	outRow := shape[axis] * inner
	at := 0
	for _, t := range in {
		cp, err := chunkCopier(out[0].Data, t.Data)
		if err != nil {
			return err
		}
		row := t.Shape[axis] * inner
		for o := 0; o < outer; o++ {
			cp(o*outRow+at, o*row, row)
		}
		at += row
	}
	return nil
}

// splitSizes resolves Split's part sizes along the axis.
func splitSizes(n *ir.Node, in []*Arg) (int, []int, error) {
	shape := in[0].Shape
	axis, err := normAxis(n.AttrInt("axis", 0), len(shape))
	if err != nil {
		return 0, nil, err
	}
	dim := shape[axis]
	nOut := outCount(n)
	if len(in) > 1 && in[1] != nil && prod(in[1].Shape) > 0 {
		if n.HasAttr("num_outputs") {
			return 0, nil, fmt.Errorf("both the split input and the num_outputs attribute are given")
		}
		split, err := ints64(in[1])
		if err != nil {
			return 0, nil, err
		}
		if len(split) != nOut {
			return 0, nil, fmt.Errorf("split %v has %d sizes for %d outputs", split, len(split), nOut)
		}
		sizes := make([]int, len(split))
		sum := int64(0)
		for i, s := range split {
			if s < 0 || s > int64(dim) {
				return 0, nil, fmt.Errorf("split %v has invalid size %d for dimension %d", split, s, dim)
			}
			sizes[i] = int(s)
			sum += s
		}
		if sum != int64(dim) {
			return 0, nil, fmt.Errorf("split %v sums to %d, but axis %d has size %d", split, sum, axis, dim)
		}
		return axis, sizes, nil
	}
	parts := nOut
	if n.HasAttr("num_outputs") {
		no := n.AttrInt("num_outputs", 0)
		if no != int64(nOut) {
			return 0, nil, fmt.Errorf("num_outputs is %d but the node has %d outputs", no, nOut)
		}
	}
	chunk := (dim + parts - 1) / parts
	last := dim - chunk*(parts-1)
	if last < 0 {
		return 0, nil, fmt.Errorf("axis %d of size %d cannot be split into %d parts of %d (the last part would be %d)", axis, dim, parts, chunk, last)
	}
	sizes := make([]int, parts)
	for i := range sizes {
		sizes[i] = chunk
	}
	sizes[parts-1] = last
	return axis, sizes, nil
}

func inferSplit(n *ir.Node, in []*Arg) ([]Out, error) {
	axis, sizes, err := splitSizes(n, in)
	if err != nil {
		return nil, err
	}
	outs := make([]Out, len(sizes))
	for i, s := range sizes {
		shape := append([]int(nil), in[0].Shape...)
		shape[axis] = s
		outs[i] = Out{DType: in[0].DType, Shape: shape}
	}
	return outs, nil
}

func runSplit(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	axis, sizes, err := splitSizes(n, argsOf(in))
	if err != nil {
		return err
	}
	shape := in[0].Shape
	outer := prod(shape[:axis])
	inner := prod(shape[axis+1:])
	inRow := shape[axis] * inner
	at := 0
	for i, s := range sizes {
		row := s * inner
		if i < len(out) && out[i] != nil {
			cp, err := chunkCopier(out[i].Data, in[0].Data)
			if err != nil {
				return err
			}
			for o := 0; o < outer; o++ {
				cp(o*row, o*inRow+at, row)
			}
		}
		at += row
	}
	return nil
}

// ---------------------------------------------------------------------------
// Dropout, Constant, ConstantOfShape.

// dropoutCheck rejects training mode (with a non-zero ratio) when known.
func dropoutCheck(in []*Arg) error {
	if len(in) < 3 || in[2] == nil || in[2].Val == nil || in[2].Val.Len() == 0 {
		return nil
	}
	if in[2].Val.DType == ir.String || in[2].Val.Float64At(0) == 0 {
		return nil
	}
	ratio := 0.5
	if in[1] != nil && in[1].Val != nil && in[1].Val.Len() > 0 && in[1].Val.DType != ir.String {
		ratio = in[1].Val.Float64At(0)
	} else if in[1] != nil && in[1].Val == nil {
		return nil // decided at run time
	}
	if ratio != 0 {
		return fmt.Errorf("training mode is not supported in inference (training_mode is true and ratio is %g)", ratio)
	}
	return nil
}

func inferDropout(n *ir.Node, in []*Arg) ([]Out, error) {
	if len(n.Outputs) > 2 {
		return nil, fmt.Errorf("has %d outputs, want at most 2", len(n.Outputs))
	}
	if err := dropoutCheck(in); err != nil {
		return nil, err
	}
	outs := same(in[0])
	if len(n.Outputs) == 2 {
		outs = append(outs, Out{DType: ir.Bool, Shape: append([]int(nil), in[0].Shape...)})
	}
	return outs, nil
}

func runDropout(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	if err := dropoutCheck(argsOf(in)); err != nil {
		return err
	}
	if err := copyAllElems(out[0], in[0]); err != nil {
		return err
	}
	if len(out) > 1 && out[1] != nil {
		return fillElems(out[1], []bool{true})
	}
	return nil
}

// constantValue returns Constant's value as a tensor.
func constantValue(n *ir.Node) (*ir.Tensor, error) {
	if t := n.AttrTensor("value"); t != nil {
		return t, nil
	}
	if t := n.AttrTensor("sparse_value"); t != nil {
		return t, nil
	}
	a := func(name string, typ ir.AttrType) *ir.Attr {
		if at, ok := n.Attrs[name]; ok && at.Type == typ {
			return at
		}
		return nil
	}
	switch {
	case a("value_float", ir.AttrFloat) != nil:
		return ir.FromSlice(nil, []float32{a("value_float", ir.AttrFloat).F})
	case a("value_floats", ir.AttrFloats) != nil:
		v := a("value_floats", ir.AttrFloats).Floats
		return ir.FromSlice([]int{len(v)}, append([]float32{}, v...))
	case a("value_int", ir.AttrInt) != nil:
		return ir.FromSlice(nil, []int64{a("value_int", ir.AttrInt).I})
	case a("value_ints", ir.AttrInts) != nil:
		v := a("value_ints", ir.AttrInts).Ints
		return ir.FromSlice([]int{len(v)}, append([]int64{}, v...))
	case a("value_string", ir.AttrString) != nil:
		return ir.FromSlice(nil, []string{a("value_string", ir.AttrString).S})
	case a("value_strings", ir.AttrStrings) != nil:
		v := a("value_strings", ir.AttrStrings).Strings
		return ir.FromSlice([]int{len(v)}, append([]string{}, v...))
	}
	return nil, fmt.Errorf("no value attribute (value, value_float(s), value_int(s), value_string(s))")
}

func inferConstant(n *ir.Node, _ []*Arg) ([]Out, error) {
	t, err := constantValue(n)
	if err != nil {
		return nil, err
	}
	if t.Len() != prod(t.Shape) {
		return nil, fmt.Errorf("value tensor of shape %v holds %d elements", t.Shape, t.Len())
	}
	return []Out{{DType: t.DType, Shape: append([]int(nil), t.Shape...)}}, nil
}

func runConstant(n *ir.Node, _ []*ir.Tensor, out []*ir.Tensor) error {
	t, err := constantValue(n)
	if err != nil {
		return err
	}
	return copyAllElems(out[0], t)
}

// constantOfShapeValue returns the fill value (a one-element tensor).
func constantOfShapeValue(n *ir.Node) (*ir.Tensor, error) {
	t := n.AttrTensor("value")
	if t == nil {
		return ir.FromSlice([]int{1}, []float32{0})
	}
	if t.Len() != 1 {
		return nil, fmt.Errorf("value attribute must hold one element, it has %d (shape %v)", t.Len(), t.Shape)
	}
	return t, nil
}

func inferConstantOfShape(n *ir.Node, in []*Arg) ([]Out, error) {
	v, err := constantOfShapeValue(n)
	if err != nil {
		return nil, err
	}
	if len(in[0].Shape) != 1 {
		return nil, fmt.Errorf("shape input must be 1-D, got shape %v", in[0].Shape)
	}
	req, err := ints64(in[0])
	if err != nil {
		return nil, err
	}
	out := make([]int, len(req))
	for i, d := range req {
		if out[i], err = dimFromInt64(d); err != nil {
			return nil, fmt.Errorf("shape %v: %w", req, err)
		}
	}
	if err := checkElems(out); err != nil {
		return nil, err
	}
	return []Out{{DType: v.DType, Shape: out}}, nil
}

func runConstantOfShape(n *ir.Node, _ []*ir.Tensor, out []*ir.Tensor) error {
	v, err := constantOfShapeValue(n)
	if err != nil {
		return err
	}
	return fillElems(out[0], v.Data)
}

// ---------------------------------------------------------------------------
// Gather.

func inferGather(n *ir.Node, in []*Arg) ([]Out, error) {
	data, idx := in[0], in[1]
	if !idx.DType.IsInt() {
		return nil, fmt.Errorf("indices must be an integer tensor, got %v", idx.DType)
	}
	axis, err := normAxis(n.AttrInt("axis", 0), len(data.Shape))
	if err != nil {
		return nil, err
	}
	out := append([]int(nil), data.Shape[:axis]...)
	out = append(out, idx.Shape...)
	out = append(out, data.Shape[axis+1:]...)
	if err := checkElems(out); err != nil {
		return nil, err
	}
	return []Out{{DType: data.DType, Shape: out}}, nil
}

func runGather(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	data := in[0]
	axis, err := normAxis(n.AttrInt("axis", 0), len(data.Shape))
	if err != nil {
		return err
	}
	idx, err := in[1].Int64s()
	if err != nil {
		return fmt.Errorf("indices: %w", err)
	}
	dim := data.Shape[axis]
	st := stridesOf(data.Shape)
	offs := make([]int, len(idx))
	for i, v := range idx {
		if v < -int64(dim) || v >= int64(dim) {
			return fmt.Errorf("index %d is out of range for axis %d of size %d", v, axis, dim)
		}
		if v < 0 {
			v += int64(dim)
		}
		offs[i] = int(v) * st[axis]
	}
	outer := prod(data.Shape[:axis])
	inner := prod(data.Shape[axis+1:])
	axes := []viewAxis{
		affineAxis(outer, 0, dim*inner),
		{n: len(offs), idx: offs},
		affineAxis(inner, 0, 1),
	}
	return copyView(out[0].Data, data.Data, axes, nil)
}

// ---------------------------------------------------------------------------
// Slice.

// sliceAxes computes one view axis per input axis for Slice.
func sliceAxes(in []*Arg) ([]viewAxis, error) {
	shape := in[0].Shape
	r := len(shape)
	starts, err := ints64(in[1])
	if err != nil {
		return nil, err
	}
	ends, err := ints64(in[2])
	if err != nil {
		return nil, err
	}
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("starts %v and ends %v have different lengths", starts, ends)
	}
	var axes []int
	if len(in) > 3 && in[3] != nil {
		a, err := ints64(in[3])
		if err != nil {
			return nil, err
		}
		if len(a) != len(starts) {
			return nil, fmt.Errorf("axes %v and starts %v have different lengths", a, starts)
		}
		if axes, err = normAxes(a, r); err != nil {
			return nil, err
		}
	} else {
		if len(starts) > r {
			return nil, fmt.Errorf("starts %v has more entries than the input rank %d", starts, r)
		}
		axes = make([]int, len(starts))
		for i := range axes {
			axes[i] = i
		}
	}
	steps := make([]int64, len(starts))
	if len(in) > 4 && in[4] != nil {
		s, err := ints64(in[4])
		if err != nil {
			return nil, err
		}
		if len(s) != len(starts) {
			return nil, fmt.Errorf("steps %v and starts %v have different lengths", s, starts)
		}
		copy(steps, s)
	} else {
		for i := range steps {
			steps[i] = 1
		}
	}
	st := stridesOf(shape)
	view := make([]viewAxis, r)
	for i, d := range shape {
		view[i] = affineAxis(d, 0, st[i])
	}
	for i, a := range axes {
		d := int64(shape[a])
		s, e, step := starts[i], ends[i], steps[i]
		if step == 0 {
			return nil, fmt.Errorf("step 0 on axis %d", a)
		}
		if s < 0 {
			s += d
		}
		if e < 0 {
			e += d
		}
		var size int64
		if step > 0 {
			s = min(max(s, 0), d)
			e = min(max(e, 0), d)
			if e > s {
				size = (e-s-1)/step + 1
			}
		} else {
			s = min(max(s, 0), d-1)
			e = min(max(e, -1), d-1)
			if s > e {
				size = 1
				if step != math.MinInt64 {
					size = (s-e-1)/(-step) + 1
				}
			}
		}
		v := affineAxis(int(size), int(s)*st[a], 0)
		if size > 1 {
			v.step = int(step) * st[a] // |step| < d here, so no overflow
		}
		view[a] = v
	}
	return view, nil
}

func inferSlice(_ *ir.Node, in []*Arg) ([]Out, error) {
	view, err := sliceAxes(in)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(view))
	for i, v := range view {
		out[i] = v.n
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func runSlice(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	view, err := sliceAxes(argsOf(in))
	if err != nil {
		return err
	}
	return copyView(out[0].Data, in[0].Data, view, nil)
}

// ---------------------------------------------------------------------------
// Pad.

// padPlan holds Pad's resolved per-axis begin/end pads (negative: crop).
type padPlan struct {
	mode       string
	begin, end []int64
	out        []int
}

func planPad(n *ir.Node, in []*Arg, needFill bool) (*padPlan, error) {
	shape := in[0].Shape
	r := len(shape)
	mode := n.AttrString("mode", "constant")
	switch mode {
	case "constant", "reflect", "edge", "wrap":
	default:
		return nil, fmt.Errorf("unknown mode %q (want constant, reflect, edge or wrap)", mode)
	}
	pads, err := ints64(in[1])
	if err != nil {
		return nil, err
	}
	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if len(in) > 3 && in[3] != nil {
		a, err := ints64(in[3])
		if err != nil {
			return nil, err
		}
		if axes, err = normAxes(a, r); err != nil {
			return nil, err
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("pads %v has %d values, want %d (2 per padded axis)", pads, len(pads), 2*len(axes))
	}
	p := &padPlan{mode: mode, begin: make([]int64, r), end: make([]int64, r), out: make([]int, r)}
	for i, a := range axes {
		p.begin[a], p.end[a] = pads[i], pads[i+len(axes)]
	}
	for i, d := range shape {
		b, e := p.begin[i], p.end[i]
		if b > ir.MaxElements || e > ir.MaxElements {
			return nil, fmt.Errorf("pads %v on shape %v: %w", pads, shape, ir.ErrTooLarge)
		}
		if b < -int64(d) || e < -int64(d) || int64(d)+min(b, 0)+min(e, 0) < 0 {
			return nil, fmt.Errorf("pads %v crop more than axis %d of size %d holds", pads, i, d)
		}
		kept := int64(d) + min(b, 0) + min(e, 0)
		if mode != "constant" && kept == 0 && (b > 0 || e > 0) {
			return nil, fmt.Errorf("cannot pad axis %d in %s mode: it has no elements left to pad from", i, mode)
		}
		if p.out[i], err = dimFromInt64(int64(d) + b + e); err != nil {
			return nil, fmt.Errorf("pads %v on shape %v: %w", pads, shape, err)
		}
	}
	if err := checkElems(p.out); err != nil {
		return nil, err
	}
	if needFill && mode == "constant" && len(in) > 2 && in[2] != nil && prod(in[2].Shape) > 0 {
		if in[2].DType != in[0].DType {
			return nil, fmt.Errorf("constant_value is %v, data is %v", in[2].DType, in[0].DType)
		}
		if prod(in[2].Shape) != 1 {
			return nil, fmt.Errorf("constant_value must hold one value, it has shape %v", in[2].Shape)
		}
	}
	return p, nil
}

func inferPad(n *ir.Node, in []*Arg) ([]Out, error) {
	p, err := planPad(n, in, true)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: p.out}}, nil
}

// padSource maps a position i relative to the kept range [0, kept) to a
// position inside it following mode, or -1 for the constant.
func padSource(mode string, i, kept int) int {
	if i >= 0 && i < kept {
		return i
	}
	switch mode {
	case "edge":
		return min(max(i, 0), kept-1)
	case "wrap":
		return ((i % kept) + kept) % kept
	case "reflect":
		if kept == 1 {
			return 0
		}
		period := 2 * (kept - 1)
		m := ((i % period) + period) % period
		if m >= kept {
			m = period - m
		}
		return m
	}
	return -1
}

func runPad(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	p, err := planPad(n, argsOf(in), true)
	if err != nil {
		return err
	}
	shape := in[0].Shape
	st := stridesOf(shape)
	axes := make([]viewAxis, len(shape))
	for i, d := range shape {
		b, e := p.begin[i], p.end[i]
		lo := int(max(-b, 0))
		kept := d - lo - int(max(-e, 0))
		pb := int(max(b, 0))
		if pb == 0 && e <= 0 {
			axes[i] = affineAxis(p.out[i], lo*st[i], st[i])
			continue
		}
		idx := make([]int, p.out[i])
		for o := range idx {
			if s := padSource(p.mode, o-pb, kept); s >= 0 {
				idx[o] = (lo + s) * st[i]
			} else {
				idx[o] = -1
			}
		}
		axes[i] = viewAxis{n: p.out[i], idx: idx}
	}
	var fill any
	if p.mode == "constant" && len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
		fill = in[2].Data
	}
	return copyView(out[0].Data, in[0].Data, axes, fill)
}

// ---------------------------------------------------------------------------
// DepthToSpace, SpaceToDepth.

// blockParams validates a rank-4 input and the blocksize attribute.
func blockParams(n *ir.Node, shape []int) (int, error) {
	if len(shape) != 4 {
		return 0, fmt.Errorf("input must be 4-D (N,C,H,W), got shape %v", shape)
	}
	if !n.HasAttr("blocksize") {
		return 0, fmt.Errorf("the blocksize attribute is required")
	}
	b := n.AttrInt("blocksize", 0)
	if b <= 0 {
		return 0, fmt.Errorf("blocksize %d must be positive", b)
	}
	if b > ir.MaxElements {
		return 0, fmt.Errorf("blocksize %d: %w", b, ir.ErrTooLarge)
	}
	return int(b), nil
}

func inferDepthToSpace(n *ir.Node, in []*Arg) ([]Out, error) {
	s := in[0].Shape
	b, err := blockParams(n, s)
	if err != nil {
		return nil, err
	}
	mode := n.AttrString("mode", "DCR")
	if mode != "DCR" && mode != "CRD" {
		return nil, fmt.Errorf("unknown mode %q (want DCR or CRD)", mode)
	}
	if b > s[1]/b || s[1]%(b*b) != 0 {
		return nil, fmt.Errorf("channels %d are not divisible by blocksize^2 (blocksize %d)", s[1], b)
	}
	out := []int{s[0], s[1] / (b * b), 0, 0}
	if out[2], err = mulDimsChecked(int64(s[2]), int64(b)); err != nil {
		return nil, err
	}
	if out[3], err = mulDimsChecked(int64(s[3]), int64(b)); err != nil {
		return nil, err
	}
	if err := checkElems(out); err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func runDepthToSpace(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	s := in[0].Shape
	b, err := blockParams(n, s)
	if err != nil {
		return err
	}
	c := s[1] / (b * b)
	h, w := s[2], s[3]
	hw := h * w
	// Output (n, c, h, i, w, j) with H' = h*b+i, W' = w*b+j reads input
	// channel (i*b+j)*C + c (DCR) or c*b*b + i*b + j (CRD).
	var cStep, iStep, jStep int
	if n.AttrString("mode", "DCR") == "CRD" {
		cStep, iStep, jStep = b*b*hw, b*hw, hw
	} else {
		cStep, iStep, jStep = hw, b*c*hw, c*hw
	}
	axes := []viewAxis{
		affineAxis(s[0], 0, s[1]*hw),
		affineAxis(c, 0, cStep),
		affineAxis(h, 0, w),
		affineAxis(b, 0, iStep),
		affineAxis(w, 0, 1),
		affineAxis(b, 0, jStep),
	}
	return copyView(out[0].Data, in[0].Data, axes, nil)
}

func inferSpaceToDepth(n *ir.Node, in []*Arg) ([]Out, error) {
	s := in[0].Shape
	b, err := blockParams(n, s)
	if err != nil {
		return nil, err
	}
	if s[2]%b != 0 || s[3]%b != 0 {
		return nil, fmt.Errorf("spatial size %dx%d is not divisible by blocksize %d", s[2], s[3], b)
	}
	bb, err := mulDimsChecked(int64(b), int64(b))
	if err != nil {
		return nil, err
	}
	c, err := mulDimsChecked(int64(s[1]), int64(bb))
	if err != nil {
		return nil, err
	}
	out := []int{s[0], c, s[2] / b, s[3] / b}
	if err := checkElems(out); err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func runSpaceToDepth(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	s := in[0].Shape
	b, err := blockParams(n, s)
	if err != nil {
		return err
	}
	c, h, w := s[1], s[2]/b, s[3]/b
	W := s[3]
	// Output channel (i*b+j)*C + c at (y, x) reads input (c, y*b+i, x*b+j).
	axes := []viewAxis{
		affineAxis(s[0], 0, c*s[2]*W),
		affineAxis(b, 0, W),
		affineAxis(b, 0, 1),
		affineAxis(c, 0, s[2]*W),
		affineAxis(h, 0, b*W),
		affineAxis(w, 0, b),
	}
	return copyView(out[0].Data, in[0].Data, axes, nil)
}
