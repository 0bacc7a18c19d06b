package runtime

import (
	"fmt"
	"math"
	"math/big"

	"github.com/runinfer/runinfer/ir"
)

// Size, Range (opset 11), CastLike (opset 21, through Cast), EyeLike,
// CumSum (opset 14: exclusive, reverse), OneHot (opset 11) and Trilu
// (opset 14).
//
// Range's element count is ceil((limit-start)/delta), computed exactly for
// integers and in float64 for floats, and checked against the tensor size
// limit before anything is allocated; element i is start + i*delta (in
// float64 for floats, so long float ranges do not accumulate rounding).
// CumSum accumulates floats in float64. OneHot truncates floating-point
// indices and depth toward zero; indices outside [-depth, depth-1] give a
// row of off values.

func init() {
	register("Size", 1, 1, miscInferSize, miscRunSize)
	register("Range", 3, 3, miscInferRange, miscRunRange)
	register("CastLike", 2, 2, miscInferCastLike, miscRunCastLike)
	register("EyeLike", 1, 1, miscInferEyeLike, miscRunEyeLike)
	register("CumSum", 2, 2, miscInferCumSum, miscRunCumSum)
	register("OneHot", 3, 3, miscInferOneHot, miscRunOneHot)
	register("Trilu", 1, 2, miscInferTrilu, miscRunTrilu)
}

// ---------------------------------------------------------------------------
// Size

func miscInferSize(_ *ir.Node, in []*Arg) ([]Out, error) {
	return []Out{{DType: ir.Int64, Shape: []int{}}}, nil
}

func miscRunSize(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	out[0].Data.([]int64)[0] = int64(prod(in[0].Shape))
	return nil
}

// ---------------------------------------------------------------------------
// Range

var miscRangeTypes = []ir.DType{ir.Float32, ir.Float64, ir.Int16, ir.Int32, ir.Int64}

// miscRangeArgs checks Range's inputs and returns start, limit and delta.
func miscRangeArgs(in []*Arg) ([3]*ir.Tensor, error) {
	var vals [3]*ir.Tensor
	names := [3]string{"start", "limit", "delta"}
	for i, a := range in {
		if err := checkDType(names[i], a.DType, miscRangeTypes); err != nil {
			return vals, err
		}
		if a.DType != in[0].DType {
			return vals, fmt.Errorf("%s has element type %v but start has %v", names[i], a.DType, in[0].DType)
		}
		if len(a.Shape) > 1 || prod(a.Shape) != 1 {
			return vals, fmt.Errorf("%s has shape %v, want a scalar", names[i], a.Shape)
		}
	}
	for i, a := range in {
		v, err := needVal(a)
		if err != nil {
			return vals, err
		}
		vals[i] = v
	}
	return vals, nil
}

// miscRangeCount returns the number of elements of Range(start, limit, delta).
func miscRangeCount(v [3]*ir.Tensor) (int, error) {
	if v[0].DType.IsFloat() {
		start, limit, delta := v[0].Float64At(0), v[1].Float64At(0), v[2].Float64At(0)
		for _, f := range []float64{start, limit, delta} {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return 0, fmt.Errorf("range(%v, %v, %v) has a non-finite bound", start, limit, delta)
			}
		}
		if delta == 0 {
			return 0, fmt.Errorf("delta is 0")
		}
		c := math.Ceil((limit - start) / delta)
		if c <= 0 {
			return 0, nil
		}
		if c > ir.MaxElements {
			return 0, fmt.Errorf("range(%v, %v, %v) has %g elements: %w (limit %d elements)", start, limit, delta, c, ir.ErrTooLarge, int64(ir.MaxElements))
		}
		return int(c), nil
	}
	s, err := v[0].Int64s()
	if err != nil {
		return 0, err
	}
	l, err := v[1].Int64s()
	if err != nil {
		return 0, err
	}
	d, err := v[2].Int64s()
	if err != nil {
		return 0, err
	}
	if d[0] == 0 {
		return 0, fmt.Errorf("delta is 0")
	}
	// ceil((l-s)/d) exactly: l-s may overflow int64.
	diff := new(big.Int).Sub(big.NewInt(l[0]), big.NewInt(s[0]))
	q, m := new(big.Int).QuoRem(diff, big.NewInt(d[0]), new(big.Int))
	if m.Sign() != 0 && (diff.Sign() > 0) == (d[0] > 0) {
		q.Add(q, big.NewInt(1))
	}
	if q.Sign() <= 0 {
		return 0, nil
	}
	if !q.IsInt64() || q.Int64() > ir.MaxElements {
		return 0, fmt.Errorf("range(%d, %d, %d) has %v elements: %w (limit %d elements)", s[0], l[0], d[0], q, ir.ErrTooLarge, int64(ir.MaxElements))
	}
	return int(q.Int64()), nil
}

func miscInferRange(_ *ir.Node, in []*Arg) ([]Out, error) {
	v, err := miscRangeArgs(in)
	if err != nil {
		return nil, err
	}
	c, err := miscRangeCount(v)
	if err != nil {
		return nil, err
	}
	if _, err := ir.NumElements([]int{c}); err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: []int{c}}}, nil
}

func miscRunRange(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	start, delta := in[0], in[2]
	switch o := out[0].Data.(type) {
	case []float32:
		s, d := start.Float64At(0), delta.Float64At(0)
		for i := range o {
			o[i] = float32(s + float64(i)*d)
		}
	case []float64:
		s, d := start.Float64At(0), delta.Float64At(0)
		for i := range o {
			o[i] = s + float64(i)*d
		}
	case []int16:
		miscIntRange(o, start.Data.([]int16)[0], delta.Data.([]int16)[0])
	case []int32:
		miscIntRange(o, start.Data.([]int32)[0], delta.Data.([]int32)[0])
	case []int64:
		miscIntRange(o, start.Data.([]int64)[0], delta.Data.([]int64)[0])
	default:
		return fmt.Errorf("element type %v is not supported", out[0].DType)
	}
	return nil
}

// miscIntRange fills o[i] = s + i*d. Every element lies between start and
// limit, so wrapping arithmetic gives the exact value.
func miscIntRange[T int16 | int32 | int64](o []T, s, d T) {
	for i := range o {
		o[i] = s + T(i)*d
	}
}

// ---------------------------------------------------------------------------
// CastLike

// miscCastNode is a Cast node converting to the element type of like.
func miscCastNode(n *ir.Node, to ir.DType) *ir.Node {
	c := &ir.Node{Op: "Cast", Name: n.Name, Inputs: n.Inputs[:1], Outputs: n.Outputs, Attrs: map[string]*ir.Attr{}}
	c.SetAttr(ir.IntAttr("to", int64(to)))
	if a, ok := n.Attrs["saturate"]; ok {
		c.SetAttr(a)
	}
	return c
}

func miscInferCastLike(n *ir.Node, in []*Arg) ([]Out, error) {
	return inferCast(miscCastNode(n, in[1].DType), in[:1])
}

func miscRunCastLike(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	return runCast(miscCastNode(n, in[1].DType), in[:1], out)
}

// ---------------------------------------------------------------------------
// EyeLike

var miscEyeTypes = append(append([]ir.DType(nil), numericDTypes...), ir.Bool)

// miscEyeType returns EyeLike's output element type.
func miscEyeType(n *ir.Node, in ir.DType) (ir.DType, error) {
	dt := in
	if n.HasAttr("dtype") {
		dt = lowType(ir.DType(n.AttrInt("dtype", 0)))
	}
	if err := checkDType("output", dt, miscEyeTypes); err != nil {
		return 0, err
	}
	return dt, nil
}

func miscInferEyeLike(n *ir.Node, in []*Arg) ([]Out, error) {
	if len(in[0].Shape) != 2 {
		return nil, fmt.Errorf("input has shape %v, want 2-D", in[0].Shape)
	}
	dt, err := miscEyeType(n, in[0].DType)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: dt, Shape: append([]int(nil), in[0].Shape...)}}, nil
}

func miscRunEyeLike(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	o := out[0]
	one, err := scalarSlice(o.DType, 1)
	if err != nil {
		return err
	}
	cp, err := chunkCopier(o.Data, one)
	if err != nil {
		return err
	}
	rows, cols := o.Shape[0], o.Shape[1]
	k := max(min(n.AttrInt("k", 0), int64(cols)), -int64(rows)) // no overflow below
	for i := 0; i < rows; i++ {
		if j := int64(i) + k; j >= 0 && j < int64(cols) {
			cp(i*cols+int(j), 0, 1)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// CumSum

var miscCumSumTypes = []ir.DType{ir.Float32, ir.Float64, ir.Int32, ir.Int64, ir.Uint32, ir.Uint64}

// miscCumSumAxis validates the axis input and, when its value is known,
// returns it normalized (-1 when unknown).
func miscCumSumAxis(in []*Arg) (int, error) {
	a := in[1]
	if a.DType != ir.Int32 && a.DType != ir.Int64 {
		return 0, fmt.Errorf("axis has element type %v, want int32 or int64", a.DType)
	}
	if len(a.Shape) > 1 || prod(a.Shape) != 1 {
		return 0, fmt.Errorf("axis has shape %v, want a scalar", a.Shape)
	}
	if len(in[0].Shape) == 0 {
		return 0, fmt.Errorf("input is a scalar, want rank 1 or more")
	}
	if a.Val == nil {
		return -1, nil
	}
	v, err := ints64(a)
	if err != nil {
		return 0, err
	}
	return normAxis(v[0], len(in[0].Shape))
}

func miscInferCumSum(_ *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("input x", in[0].DType, miscCumSumTypes); err != nil {
		return nil, err
	}
	if _, err := miscCumSumAxis(in); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func miscRunCumSum(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	axis, err := miscCumSumAxis(argsOf(in))
	if err != nil {
		return err
	}
	excl := n.AttrInt("exclusive", 0) != 0
	rev := n.AttrInt("reverse", 0) != 0
	x := in[0]
	switch s := x.Data.(type) {
	case []float32:
		miscCumSum[float32, float64](s, out[0].Data.([]float32), x.Shape, axis, excl, rev)
	case []float64:
		miscCumSum[float64, float64](s, out[0].Data.([]float64), x.Shape, axis, excl, rev)
	case []int32:
		miscCumSum[int32, int32](s, out[0].Data.([]int32), x.Shape, axis, excl, rev)
	case []int64:
		miscCumSum[int64, int64](s, out[0].Data.([]int64), x.Shape, axis, excl, rev)
	case []uint32:
		miscCumSum[uint32, uint32](s, out[0].Data.([]uint32), x.Shape, axis, excl, rev)
	case []uint64:
		miscCumSum[uint64, uint64](s, out[0].Data.([]uint64), x.Shape, axis, excl, rev)
	default:
		return fmt.Errorf("element type %v is not supported", x.DType)
	}
	return nil
}

// miscCumSum writes running sums along axis, accumulating in A.
func miscCumSum[T, A anyNumber](x, o []T, shape []int, axis int, excl, rev bool) {
	outer, n, inner := prod(shape[:axis]), shape[axis], prod(shape[axis+1:])
	for a := 0; a < outer; a++ {
		for c := 0; c < inner; c++ {
			base := a*n*inner + c
			var acc A
			for t := 0; t < n; t++ {
				j := t
				if rev {
					j = n - 1 - t
				}
				p := base + j*inner
				if excl {
					o[p] = T(acc)
					acc += A(x[p])
				} else {
					acc += A(x[p])
					o[p] = T(acc)
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// OneHot

// miscOneHotPlan is OneHot's validated geometry.
type miscOneHotPlan struct {
	axis, depth int
	out         []int
}

func miscPlanOneHot(n *ir.Node, in []*Arg) (*miscOneHotPlan, error) {
	if err := checkDType("indices", in[0].DType, numericDTypes); err != nil {
		return nil, err
	}
	if err := checkDType("depth", in[1].DType, numericDTypes); err != nil {
		return nil, err
	}
	if len(in[1].Shape) > 1 || prod(in[1].Shape) != 1 {
		return nil, fmt.Errorf("depth has shape %v, want a scalar", in[1].Shape)
	}
	if prod(in[2].Shape) != 2 || len(in[2].Shape) != 1 {
		return nil, fmt.Errorf("values has shape %v, want [2] (off, on)", in[2].Shape)
	}
	if dt := in[2].DType; !dt.Supported() || isHalf(dt) {
		return nil, fmt.Errorf("values has unsupported element type %v", dt)
	}
	rank := len(in[0].Shape) + 1
	axis, err := normAxis(n.AttrInt("axis", -1), rank)
	if err != nil {
		return nil, err
	}
	dv, err := needVal(in[1])
	if err != nil {
		return nil, err
	}
	df := math.Trunc(dv.Float64At(0))
	if !(df >= 1) {
		return nil, fmt.Errorf("depth is %v, want a positive number", dv.Float64At(0))
	}
	if df > ir.MaxElements {
		return nil, fmt.Errorf("depth %v: %w (limit %d elements)", df, ir.ErrTooLarge, int64(ir.MaxElements))
	}
	depth := int(df)
	out := make([]int, 0, rank)
	out = append(out, in[0].Shape[:axis]...)
	out = append(out, depth)
	out = append(out, in[0].Shape[axis:]...)
	if _, err := ir.NumElements(out); err != nil {
		return nil, err
	}
	return &miscOneHotPlan{axis: axis, depth: depth, out: out}, nil
}

func miscInferOneHot(n *ir.Node, in []*Arg) ([]Out, error) {
	p, err := miscPlanOneHot(n, in)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[2].DType, Shape: p.out}}, nil
}

func miscRunOneHot(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	p, err := miscPlanOneHot(n, argsOf(in))
	if err != nil {
		return err
	}
	o := out[0]
	if err := fillElems(o, in[2].Data); err != nil { // off value everywhere
		return err
	}
	cp, err := chunkCopier(o.Data, in[2].Data)
	if err != nil {
		return err
	}
	idx := in[0]
	outer, inner := prod(idx.Shape[:p.axis]), prod(idx.Shape[p.axis:])
	d := int64(p.depth)
	for a := 0; a < outer; a++ {
		for c := 0; c < inner; c++ {
			f := idx.Float64At(a*inner + c)
			if math.IsNaN(f) || f <= -float64(d)-1 || f >= float64(d) {
				continue
			}
			v := int64(f)
			if idx.DType == ir.Int64 {
				v = idx.Data.([]int64)[a*inner+c] // exact beyond 2^53
			}
			if v < 0 {
				v += d
			}
			if v < 0 || v >= d {
				continue
			}
			cp((a*p.depth+int(v))*inner+c, 1, 1)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Trilu

// miscTriluK validates Trilu's inputs and returns k when known.
func miscTriluK(in []*Arg) (int64, bool, error) {
	if len(in[0].Shape) < 2 {
		return 0, false, fmt.Errorf("input has shape %v, want rank 2 or more", in[0].Shape)
	}
	if dt := in[0].DType; !dt.Supported() || isHalf(dt) {
		return 0, false, fmt.Errorf("element type %v is not supported", dt)
	}
	if len(in) < 2 || in[1] == nil {
		return 0, true, nil
	}
	a := in[1]
	if a.DType != ir.Int64 {
		return 0, false, fmt.Errorf("k has element type %v, want int64", a.DType)
	}
	if len(a.Shape) > 1 || prod(a.Shape) != 1 {
		return 0, false, fmt.Errorf("k has shape %v, want a scalar", a.Shape)
	}
	if a.Val == nil {
		return 0, false, nil
	}
	v, err := ints64(a)
	if err != nil {
		return 0, false, err
	}
	return v[0], true, nil
}

func miscInferTrilu(_ *ir.Node, in []*Arg) ([]Out, error) {
	if _, _, err := miscTriluK(in); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func miscRunTrilu(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	k, _, err := miscTriluK(argsOf(in))
	if err != nil {
		return err
	}
	upper := n.AttrInt("upper", 1) != 0
	x, o := in[0], out[0]
	cp, err := chunkCopier(o.Data, x.Data)
	if err != nil {
		return err
	}
	r := len(x.Shape)
	rows, cols := x.Shape[r-2], x.Shape[r-1]
	mats := prod(x.Shape[:r-2])
	k = max(min(k, int64(cols)+1), -int64(rows)-1) // same result, no overflow
	for m := 0; m < mats; m++ {
		for i := 0; i < rows; i++ {
			// Kept columns: j-i >= k (upper) or j-i <= k (lower).
			lo, hi := int64(0), int64(cols) // [lo, hi)
			if upper {
				lo = max(lo, int64(i)+k)
			} else {
				hi = min(hi, int64(i)+k+1)
			}
			if lo >= hi {
				continue
			}
			base := (m*rows + i) * cols
			cp(base+int(lo), base+int(lo), int(hi-lo))
		}
	}
	return nil
}
