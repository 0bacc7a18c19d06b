package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// LayerNormalization, MeanVarianceNormalization and GroupNormalization (opset
// 21), for float32 and float64. Statistics are always computed in float64,
// which is at least as precise as any stash_type asks for.

func init() {
	register("LayerNormalization", 2, 3, inferLayerNorm, runLayerNorm)
	register("MeanVarianceNormalization", 1, 1, inferMVN, runMVN)
	register("GroupNormalization", 3, 3, inferGroupNorm, runGroupNorm)
}

// lnStashType maps the stash_type attribute to the element type of the
// statistics outputs. float16 and bfloat16 stash types are accepted and
// computed as float32, since half types never reach the runtime's ops.
func lnStashType(n *ir.Node) (ir.DType, error) {
	switch st := n.AttrInt("stash_type", 1); st {
	case 1, 10, 16:
		return ir.Float32, nil
	case 11:
		return ir.Float64, nil
	default:
		return 0, fmt.Errorf("stash_type %d is not a floating-point type (want 1, 10, 11 or 16)", st)
	}
}

// lnEpsilon returns the epsilon attribute, rejecting negative and NaN values
// (which would make the square root undefined).
func lnEpsilon(n *ir.Node) (float64, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	if !(eps >= 0) {
		return 0, fmt.Errorf("epsilon %g must be non-negative", eps)
	}
	return eps, nil
}

// ---------------------------------------------------------------------------
// LayerNormalization.

// lnPlan is LayerNormalization's validated geometry.
type lnPlan struct {
	axis      int
	eps       float64
	statsType ir.DType
	statShape []int // X's shape with the normalized axes set to 1
}

func planLayerNorm(n *ir.Node, in []*Arg) (*lnPlan, error) {
	x := in[0]
	if err := winCheckFloat("X", x.DType); err != nil {
		return nil, err
	}
	r := len(x.Shape)
	if r == 0 {
		return nil, fmt.Errorf("X is a scalar; LayerNormalization needs a tensor of rank 1 or more")
	}
	axis, err := normAxis(n.AttrInt("axis", -1), r)
	if err != nil {
		return nil, err
	}
	eps, err := lnEpsilon(n)
	if err != nil {
		return nil, err
	}
	st, err := lnStashType(n)
	if err != nil {
		return nil, err
	}
	if len(n.Outputs) > 3 {
		return nil, fmt.Errorf("has %d outputs, want at most 3", len(n.Outputs))
	}
	for i, name := range []string{"Scale", "B"} {
		var a *Arg
		if 1+i < len(in) {
			a = in[1+i]
		}
		if a == nil {
			if i == 0 {
				return nil, fmt.Errorf("required input Scale is missing")
			}
			continue
		}
		if a.DType != x.DType {
			return nil, fmt.Errorf("%s has element type %v but X has %v", name, a.DType, x.DType)
		}
		if err := checkUnidirectional(name, a.Shape, x.Shape); err != nil {
			return nil, err
		}
	}
	if err := checkElems(x.Shape); err != nil {
		return nil, err
	}
	stat := append([]int(nil), x.Shape...)
	for i := axis; i < r; i++ {
		stat[i] = 1
	}
	return &lnPlan{axis: axis, eps: eps, statsType: st, statShape: stat}, nil
}

func inferLayerNorm(n *ir.Node, in []*Arg) ([]Out, error) {
	p, err := planLayerNorm(n, in)
	if err != nil {
		return nil, err
	}
	outs := same(in[0])
	for i := 1; i < len(n.Outputs); i++ {
		outs = append(outs, Out{DType: p.statsType, Shape: append([]int(nil), p.statShape...)})
	}
	return outs, nil
}

func runLayerNorm(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	p, err := planLayerNorm(n, argsOf(in))
	if err != nil {
		return err
	}
	var bias *ir.Tensor
	if len(in) > 2 {
		bias = in[2]
	}
	switch in[0].DType {
	case ir.Float32:
		return lnRun[float32](p, in[0], in[1], bias, out)
	case ir.Float64:
		return lnRun[float64](p, in[0], in[1], bias, out)
	}
	return winCheckFloat("X", in[0].DType)
}

// lnStore writes v into element i of a float32 or float64 statistics output
// (nil: omitted).
func lnStore(t *ir.Tensor, i int, v float64) {
	if t == nil {
		return
	}
	switch d := t.Data.(type) {
	case []float32:
		d[i] = float32(v)
	case []float64:
		d[i] = v
	}
}

func lnRun[T winFloat](p *lnPlan, xt, scale, bias *ir.Tensor, out []*ir.Tensor) error {
	x, y := xt.Data.([]T), out[0].Data.([]T)
	shape := xt.Shape
	rows := prod(shape[:p.axis])
	inner := prod(shape[p.axis:])
	var meanOut, invOut *ir.Tensor
	if len(out) > 1 {
		meanOut = out[1]
	}
	if len(out) > 2 {
		invOut = out[2]
	}
	if inner == 0 && meanOut == nil && invOut == nil {
		rows = 0 // nothing to compute, and rows may be large
	}
	for r := 0; r < rows; r++ {
		src := x[r*inner : (r+1)*inner]
		dst := y[r*inner : (r+1)*inner]
		mean, inv := lnStats(src, p.eps)
		for j, v := range src {
			dst[j] = T((float64(v) - mean) * inv)
		}
		lnStore(meanOut, r, mean)
		lnStore(invOut, r, inv)
	}
	s := scale.Data.([]T)
	broadcastBinary(y, shape, y, shape, s, scale.Shape, func(a, b T) T { return a * b })
	if bias != nil {
		b := bias.Data.([]T)
		broadcastBinary(y, shape, y, shape, b, bias.Shape, func(a, b T) T { return a + b })
	}
	return nil
}

// lnStats returns the mean of v and 1/sqrt(variance+eps), with the
// population variance computed in two passes in float64.
func lnStats[T winFloat](v []T, eps float64) (mean, inv float64) {
	for _, e := range v {
		mean += float64(e)
	}
	mean /= float64(len(v))
	vr := 0.0
	for _, e := range v {
		d := float64(e) - mean
		vr += d * d
	}
	vr /= float64(len(v))
	return mean, 1 / math.Sqrt(vr+eps)
}

// ---------------------------------------------------------------------------
// MeanVarianceNormalization.

// mvnEpsilon is what the ONNX function body adds to the standard deviation.
const mvnEpsilon = 1e-9

// mvnReduced returns the mask of axes MeanVarianceNormalization normalizes
// over (the axes attribute, default [0, 2, 3]).
func mvnReduced(n *ir.Node, shape []int) ([]bool, error) {
	axes := []int64{0, 2, 3}
	if n.HasAttr("axes") {
		axes = n.AttrInts("axes")
	}
	norm, err := normAxes(axes, len(shape))
	if err != nil {
		return nil, fmt.Errorf("axes %v: %w", axes, err)
	}
	red := make([]bool, len(shape))
	for _, a := range norm {
		red[a] = true
	}
	return red, nil
}

func inferMVN(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := winCheckFloat("X", in[0].DType); err != nil {
		return nil, err
	}
	if _, err := mvnReduced(n, in[0].Shape); err != nil {
		return nil, err
	}
	if err := checkElems(in[0].Shape); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func runMVN(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	red, err := mvnReduced(n, in[0].Shape)
	if err != nil {
		return err
	}
	switch in[0].DType {
	case ir.Float32:
		mvnRun(in[0].Shape, red, in[0].F32(), out[0].F32())
	case ir.Float64:
		mvnRun(in[0].Shape, red, in[0].F64(), out[0].F64())
	default:
		return winCheckFloat("X", in[0].DType)
	}
	return nil
}

// mvnRun computes y = (x - mean) / (std + 1e-9) with the mean and population
// standard deviation taken over the reduced axes.
func mvnRun[T winFloat](shape []int, red []bool, x, y []T) {
	cnt := reducedCount(shape, red)
	if len(x) == 0 || cnt == 0 {
		return
	}
	groups := len(x) / cnt
	mean := make([]float64, groups)
	vr := make([]float64, groups)
	reduceWalk(shape, red, func(i, oi int) { mean[oi] += float64(x[i]) })
	for g := range mean {
		mean[g] /= float64(cnt)
	}
	reduceWalk(shape, red, func(i, oi int) {
		d := float64(x[i]) - mean[oi]
		vr[oi] += d * d
	})
	for g := range vr {
		vr[g] = math.Sqrt(vr[g]/float64(cnt)) + mvnEpsilon
	}
	reduceWalk(shape, red, func(i, oi int) { y[i] = T((float64(x[i]) - mean[oi]) / vr[oi]) })
}

// ---------------------------------------------------------------------------
// GroupNormalization (opset 21: scale and bias per channel).

// gnGroups validates GroupNormalization's inputs and returns num_groups.
func gnGroups(n *ir.Node, in []*Arg) (int, error) {
	x := in[0]
	if err := winCheckFloat("X", x.DType); err != nil {
		return 0, err
	}
	if len(x.Shape) < 2 {
		return 0, fmt.Errorf("X has shape %v; GroupNormalization needs N x C x ... (rank 2 or more)", x.Shape)
	}
	if !n.HasAttr("num_groups") {
		return 0, fmt.Errorf("the num_groups attribute is required")
	}
	g := n.AttrInt("num_groups", 0)
	c := x.Shape[1]
	if g <= 0 || g > int64(max(c, 1)) || int64(c)%g != 0 {
		return 0, fmt.Errorf("num_groups %d does not divide the %d channels into non-empty groups", g, c)
	}
	if _, err := lnEpsilon(n); err != nil {
		return 0, err
	}
	if _, err := lnStashType(n); err != nil {
		return 0, err
	}
	for i, name := range []string{"scale", "bias"} {
		a := in[1+i]
		if a == nil {
			return 0, fmt.Errorf("required input %s is missing", name)
		}
		if a.DType != x.DType {
			return 0, fmt.Errorf("%s has element type %v but X has %v", name, a.DType, x.DType)
		}
		if len(a.Shape) != 1 || a.Shape[0] != c {
			return 0, fmt.Errorf("%s has shape %v, want [%d] (one per channel)", name, a.Shape, c)
		}
	}
	if err := checkElems(x.Shape); err != nil {
		return 0, err
	}
	return int(g), nil
}

func inferGroupNorm(n *ir.Node, in []*Arg) ([]Out, error) {
	if _, err := gnGroups(n, in); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func runGroupNorm(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	g, err := gnGroups(n, argsOf(in))
	if err != nil {
		return err
	}
	eps, _ := lnEpsilon(n)
	switch in[0].DType {
	case ir.Float32:
		gnRun(in[0].Shape, g, eps, in[0].F32(), in[1].F32(), in[2].F32(), out[0].F32())
	case ir.Float64:
		gnRun(in[0].Shape, g, eps, in[0].F64(), in[1].F64(), in[2].F64(), out[0].F64())
	default:
		return winCheckFloat("X", in[0].DType)
	}
	return nil
}

// gnRun normalizes each (batch, group) block of C/groups channels times the
// spatial size, then applies each channel's scale and bias.
func gnRun[T winFloat](shape []int, groups int, eps float64, x, scale, bias, y []T) {
	c := shape[1]
	spatial := prod(shape[2:])
	per := c / groups
	block := per * spatial
	if block == 0 {
		return
	}
	for b := 0; b*block < len(x); b++ {
		src := x[b*block : (b+1)*block]
		mean, inv := lnStats(src, eps)
		c0 := (b % groups) * per
		for k := 0; k < per; k++ {
			a := float64(scale[c0+k]) * inv
			off := float64(bias[c0+k]) - mean*a
			base := k * spatial
			for j := base; j < base+spatial; j++ {
				y[b*block+j] = T(float64(src[j])*a + off)
			}
		}
	}
}
