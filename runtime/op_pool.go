package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// MaxPool, AveragePool, LpPool and their Global variants, for any number of
// spatial axes. Sums are accumulated in float64.

func init() {
	register("MaxPool", 1, 1, inferMaxPool, runMaxPool)
	register("AveragePool", 1, 1, inferPool, runAveragePool)
	register("LpPool", 1, 1, inferPool, runLpPool)
	register("GlobalAveragePool", 1, 1, inferGlobalPool, runGlobalAveragePool)
	register("GlobalMaxPool", 1, 1, inferGlobalPool, runGlobalMaxPool)
	register("GlobalLpPool", 1, 1, inferGlobalPool, runGlobalLpPool)
}

// planPool validates a windowed pooling node against its input shape and
// returns the window geometry.
func planPool(n *ir.Node, x []int) (*spatialGeom, error) {
	if len(x) < 3 {
		return nil, fmt.Errorf("input has shape %v; %s needs N x C x D1 x ... (rank 3 or more)", x, n.Op)
	}
	if !n.HasAttr("kernel_shape") {
		return nil, fmt.Errorf("the kernel_shape attribute is required")
	}
	ks := n.AttrInts("kernel_shape")
	kernel := make([]int, len(ks))
	for i, k := range ks {
		if k < 1 || k > winMaxAttr {
			return nil, fmt.Errorf("kernel_shape %v: size %d on spatial axis %d is out of range [1, %d]", ks, k, i, winMaxAttr)
		}
		kernel[i] = int(k)
	}
	if len(kernel) != len(x)-2 {
		return nil, fmt.Errorf("kernel_shape %v has %d axes, but the input shape %v has %d spatial axes", ks, len(ks), x, len(x)-2)
	}
	if c := n.AttrInt("ceil_mode", 0); c != 0 && c != 1 {
		return nil, fmt.Errorf("ceil_mode %d must be 0 or 1", c)
	}
	return newSpatialGeom(n, x[2:], kernel, n.AttrInt("ceil_mode", 0) == 1)
}

// poolShape is the output shape of a windowed pooling node.
func poolShape(x []int, g *spatialGeom) []int { return append([]int{x[0], x[1]}, g.out...) }

func inferPool(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := winCheckFloat("input", in[0].DType); err != nil {
		return nil, err
	}
	if n.Op == "LpPool" {
		if _, err := poolP(n); err != nil {
			return nil, err
		}
	}
	if c := n.AttrInt("count_include_pad", 0); c != 0 && c != 1 {
		return nil, fmt.Errorf("count_include_pad %d must be 0 or 1", c)
	}
	g, err := planPool(n, in[0].Shape)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: poolShape(in[0].Shape, g)}}, nil
}

func inferMaxPool(n *ir.Node, in []*Arg) ([]Out, error) {
	switch in[0].DType {
	case ir.Float32, ir.Float64, ir.Int8, ir.Uint8:
	default:
		return nil, fmt.Errorf("input has element type %v, want float32, float64, int8 or uint8", in[0].DType)
	}
	if len(n.Outputs) > 2 {
		return nil, fmt.Errorf("has %d outputs, want at most 2 (Y, Indices)", len(n.Outputs))
	}
	if so := n.AttrInt("storage_order", 0); so != 0 && so != 1 {
		return nil, fmt.Errorf("storage_order %d must be 0 (row major) or 1 (column major)", so)
	}
	g, err := planPool(n, in[0].Shape)
	if err != nil {
		return nil, err
	}
	shape := poolShape(in[0].Shape, g)
	outs := []Out{{DType: in[0].DType, Shape: shape}}
	if len(n.Outputs) == 2 {
		outs = append(outs, Out{DType: ir.Int64, Shape: append([]int(nil), shape...)})
	}
	return outs, nil
}

// poolWindow is one output position's window: the in-input taps as offsets
// within a spatial plane (row-major and column-major, both in row-major tap
// order) and the number of taps inside the padded input.
type poolWindow struct {
	offs, colOffs []int
	padded        int
}

// forEachWindow calls visit for every output position, in row-major order,
// with that position's window. The window's slices are reused between calls.
func (g *spatialGeom) forEachWindow(visit func(o int, w *poolWindow)) {
	r := g.rank()
	outSp := prod(g.out)
	if outSp == 0 {
		return
	}
	taps := make([]winAxisTaps, r)
	for a := range taps {
		taps[a] = g.axisTaps(a)
	}
	rowStride := stridesOf(g.in)
	colStride := make([]int, r)
	acc := 1
	for a := range colStride {
		colStride[a] = acc
		acc *= g.in[a]
	}
	kmax := 1
	for a := range r {
		kmax *= min(g.kernel[a], g.in[a])
	}
	w := &poolWindow{offs: make([]int, 0, kmax), colOffs: make([]int, 0, kmax)}
	oc := make([]int, r)
	lo := make([]int, r)  // first tap per axis
	hi := make([]int, r)  // one past the last tap per axis
	tap := make([]int, r) // current tap per axis
	for o := 0; o < outSp; o++ {
		w.offs, w.colOffs = w.offs[:0], w.colOffs[:0]
		w.padded = 1
		empty := false
		for a := range r {
			lo[a], hi[a] = taps[a].k0[oc[a]], taps[a].k1[oc[a]]
			w.padded *= taps[a].padded[oc[a]]
			if lo[a] >= hi[a] {
				empty = true
			}
			tap[a] = lo[a]
		}
		for !empty {
			row, col := 0, 0
			for a := range r {
				c := oc[a]*g.stride[a] - g.padB[a] + tap[a]*g.dil[a]
				row += c * rowStride[a]
				col += c * colStride[a]
			}
			w.offs = append(w.offs, row)
			w.colOffs = append(w.colOffs, col)
			// Advance the tap odometer over [lo, hi) per axis.
			a := r - 1
			for ; a >= 0; a-- {
				tap[a]++
				if tap[a] < hi[a] {
					break
				}
				tap[a] = lo[a]
			}
			if a < 0 {
				break
			}
		}
		visit(o, w)
		winNext(oc, g.out)
	}
}

func runMaxPool(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	g, err := planPool(n, in[0].Shape)
	if err != nil {
		return err
	}
	var idx []int64
	if len(out) > 1 && n.Outputs[1] != "" {
		idx = out[1].I64()
	}
	colMajor := n.AttrInt("storage_order", 0) == 1
	planes := in[0].Shape[0] * in[0].Shape[1]
	switch in[0].DType {
	case ir.Float32:
		maxPool(g, planes, in[0].F32(), out[0].F32(), idx, colMajor)
	case ir.Float64:
		maxPool(g, planes, in[0].F64(), out[0].F64(), idx, colMajor)
	case ir.Int8:
		maxPool(g, planes, in[0].Data.([]int8), out[0].Data.([]int8), idx, colMajor)
	case ir.Uint8:
		maxPool(g, planes, in[0].Data.([]uint8), out[0].Data.([]uint8), idx, colMajor)
	default:
		return fmt.Errorf("input has element type %v, want float32, float64, int8 or uint8", in[0].DType)
	}
	return nil
}

// maxPool takes the maximum over each window; the first maximum in row-major
// tap order wins and its flat input index goes to idx when idx is not nil.
// A NaN in a window makes the result NaN. A window with no in-input tap
// yields the type's lowest value and index -1.
func maxPool[T winFloat | int8 | uint8](g *spatialGeom, planes int, x, y []T, idx []int64, colMajor bool) {
	inSp, outSp := prod(g.in), prod(g.out)
	var zero T
	lowest := winLowest(zero)
	g.forEachWindow(func(o int, w *poolWindow) {
		for pl := 0; pl < planes; pl++ {
			src := x[pl*inSp:][:inSp]
			best, at := lowest, -1
			for i, off := range w.offs {
				// NaN propagates: the first NaN in the window wins.
				if v := src[off]; at < 0 || v > best || (v != v && best == best) {
					best, at = v, i
				}
			}
			y[pl*outSp+o] = best
			if idx != nil {
				var ix int64 = -1
				if at >= 0 {
					if colMajor {
						ix = int64(pl*inSp + w.colOffs[at])
					} else {
						ix = int64(pl*inSp + w.offs[at])
					}
				}
				idx[pl*outSp+o] = ix
			}
		}
	})
}

func runAveragePool(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	g, err := planPool(n, in[0].Shape)
	if err != nil {
		return err
	}
	incl := n.AttrInt("count_include_pad", 0) == 1
	planes := in[0].Shape[0] * in[0].Shape[1]
	switch in[0].DType {
	case ir.Float32:
		avgPool(g, planes, in[0].F32(), out[0].F32(), incl)
	case ir.Float64:
		avgPool(g, planes, in[0].F64(), out[0].F64(), incl)
	default:
		return winCheckFloat("input", in[0].DType)
	}
	return nil
}

// avgPool averages each window. The divisor is the number of taps inside the
// input, or with inclPad the number of taps inside the padded input (taps of
// a ceil_mode window that fall beyond the end padding never count).
func avgPool[T winFloat](g *spatialGeom, planes int, x, y []T, inclPad bool) {
	inSp, outSp := prod(g.in), prod(g.out)
	g.forEachWindow(func(o int, w *poolWindow) {
		div := float64(len(w.offs))
		if inclPad {
			div = float64(w.padded)
		}
		for pl := 0; pl < planes; pl++ {
			src := x[pl*inSp:][:inSp]
			s := 0.0
			for _, off := range w.offs {
				s += float64(src[off])
			}
			y[pl*outSp+o] = T(s / div)
		}
	})
}

// poolP reads LpPool's / GlobalLpPool's p (an int attribute; a float from
// old opsets is accepted too).
func poolP(n *ir.Node) (float64, error) {
	p := float64(n.AttrInt("p", 2))
	if a, ok := n.Attrs["p"]; ok && a.Type == ir.AttrFloat {
		p = float64(a.F)
	}
	if !(p > 0) || math.IsInf(p, 0) {
		return 0, fmt.Errorf("p = %g must be a positive finite number", p)
	}
	return p, nil
}

func runLpPool(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	g, err := planPool(n, in[0].Shape)
	if err != nil {
		return err
	}
	p, err := poolP(n)
	if err != nil {
		return err
	}
	planes := in[0].Shape[0] * in[0].Shape[1]
	switch in[0].DType {
	case ir.Float32:
		lpPool(g, planes, in[0].F32(), out[0].F32(), p)
	case ir.Float64:
		lpPool(g, planes, in[0].F64(), out[0].F64(), p)
	default:
		return winCheckFloat("input", in[0].DType)
	}
	return nil
}

// lpNorm returns (sum |v|^p)^(1/p) over vals.
func lpNorm[T winFloat](vals func(yield func(T)), p float64) float64 {
	s := 0.0
	switch p {
	case 1:
		vals(func(v T) { s += math.Abs(float64(v)) })
		return s
	case 2:
		vals(func(v T) { s += float64(v) * float64(v) })
		return math.Sqrt(s)
	}
	vals(func(v T) { s += math.Pow(math.Abs(float64(v)), p) })
	return math.Pow(s, 1/p)
}

// lpPool takes the p-norm of each window; padding contributes zeros.
func lpPool[T winFloat](g *spatialGeom, planes int, x, y []T, p float64) {
	inSp, outSp := prod(g.in), prod(g.out)
	g.forEachWindow(func(o int, w *poolWindow) {
		for pl := 0; pl < planes; pl++ {
			src := x[pl*inSp:][:inSp]
			y[pl*outSp+o] = T(lpNorm(func(yield func(T)) {
				for _, off := range w.offs {
					yield(src[off])
				}
			}, p))
		}
	})
}

func inferGlobalPool(n *ir.Node, in []*Arg) ([]Out, error) {
	x := in[0].Shape
	if len(x) < 2 {
		return nil, fmt.Errorf("input has shape %v; %s needs N x C x D1 x ... (rank 2 or more)", x, n.Op)
	}
	if n.Op == "GlobalMaxPool" {
		switch in[0].DType {
		case ir.Float32, ir.Float64, ir.Int8, ir.Uint8:
		default:
			return nil, fmt.Errorf("input has element type %v, want float32, float64, int8 or uint8", in[0].DType)
		}
	} else if err := winCheckFloat("input", in[0].DType); err != nil {
		return nil, err
	}
	if n.Op == "GlobalLpPool" {
		if _, err := poolP(n); err != nil {
			return nil, err
		}
	}
	shape := append([]int(nil), x...)
	for i := 2; i < len(shape); i++ {
		shape[i] = 1
	}
	return []Out{{DType: in[0].DType, Shape: shape}}, nil
}

// globalPool applies reduce to every N x C plane of x.
func globalPool[T winFloat | int8 | uint8](x, y []T, planes int, reduce func([]T) T) {
	if planes == 0 {
		return
	}
	sp := len(x) / planes
	for pl := range planes {
		y[pl] = reduce(x[pl*sp:][:sp])
	}
}

func runGlobalAveragePool(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	planes := in[0].Shape[0] * in[0].Shape[1]
	switch in[0].DType {
	case ir.Float32:
		globalPool(in[0].F32(), out[0].F32(), planes, globalMean[float32])
	case ir.Float64:
		globalPool(in[0].F64(), out[0].F64(), planes, globalMean[float64])
	default:
		return winCheckFloat("input", in[0].DType)
	}
	return nil
}

// globalMean is the mean of v (NaN when v is empty).
func globalMean[T winFloat](v []T) T {
	s := 0.0
	for _, e := range v {
		s += float64(e)
	}
	return T(s / float64(len(v)))
}

// globalMax is the maximum of v (the lowest value when v is empty).
func globalMax[T winFloat | int8 | uint8](v []T) T {
	var zero T
	best := winLowest(zero)
	for i, e := range v {
		if i == 0 || e > best || (e != e && best == best) { // NaN propagates
			best = e
		}
	}
	return best
}

func runGlobalMaxPool(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	planes := in[0].Shape[0] * in[0].Shape[1]
	switch in[0].DType {
	case ir.Float32:
		globalPool(in[0].F32(), out[0].F32(), planes, globalMax[float32])
	case ir.Float64:
		globalPool(in[0].F64(), out[0].F64(), planes, globalMax[float64])
	case ir.Int8:
		globalPool(in[0].Data.([]int8), out[0].Data.([]int8), planes, globalMax[int8])
	case ir.Uint8:
		globalPool(in[0].Data.([]uint8), out[0].Data.([]uint8), planes, globalMax[uint8])
	default:
		return fmt.Errorf("input has element type %v, want float32, float64, int8 or uint8", in[0].DType)
	}
	return nil
}

func runGlobalLpPool(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	p, err := poolP(n)
	if err != nil {
		return err
	}
	planes := in[0].Shape[0] * in[0].Shape[1]
	switch in[0].DType {
	case ir.Float32:
		globalPool(in[0].F32(), out[0].F32(), planes, func(v []float32) float32 { return float32(lpNorm(sliceSeq(v), p)) })
	case ir.Float64:
		globalPool(in[0].F64(), out[0].F64(), planes, func(v []float64) float64 { return lpNorm(sliceSeq(v), p) })
	default:
		return winCheckFloat("input", in[0].DType)
	}
	return nil
}

// sliceSeq yields the elements of v.
func sliceSeq[T winFloat](v []T) func(yield func(T)) {
	return func(yield func(T)) {
		for _, e := range v {
			yield(e)
		}
	}
}
