package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// This file holds the sliding-window geometry shared by Conv, ConvTranspose
// and the pooling operators: reading strides/dilations/pads/auto_pad, and
// mapping output positions to the input positions a window covers.

// winFloat is the element types the convolution, pooling and normalization
// kernels are written for.
type winFloat interface{ ~float32 | ~float64 }

// winMaxAttr bounds stride, dilation, padding and kernel attribute values so
// that index arithmetic on them cannot overflow.
const winMaxAttr = 1 << 30

// spatialGeom is the geometry of a window sliding over the spatial axes of
// an N x C x D1 x ... x Dn tensor: per spatial axis the input size, kernel
// size, stride, dilation, begin and end padding, and output size.
type spatialGeom struct {
	in, kernel, stride, dil, padB, padE, out []int
}

// rank returns the number of spatial axes.
func (g *spatialGeom) rank() int { return len(g.in) }

// winInts reads integer-list attribute name, which must have want entries
// within [lo, winMaxAttr]; def fills it when the attribute is absent.
func winInts(n *ir.Node, name string, want int, def, lo int) ([]int, error) {
	out := make([]int, want)
	if !n.HasAttr(name) {
		for i := range out {
			out[i] = def
		}
		return out, nil
	}
	vals := n.AttrInts(name)
	if len(vals) != want {
		return nil, fmt.Errorf("attribute %s has %d values %v, want %d", name, len(vals), vals, want)
	}
	for i, v := range vals {
		if v < int64(lo) || v > winMaxAttr {
			return nil, fmt.Errorf("attribute %s[%d] = %d is out of range [%d, %d]", name, i, v, lo, winMaxAttr)
		}
		out[i] = int(v)
	}
	return out, nil
}

// winAutoPad returns the node's auto_pad mode, validated.
func winAutoPad(n *ir.Node) (string, error) {
	mode := n.AttrString("auto_pad", "NOTSET")
	switch mode {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
		return mode, nil
	case "":
		return "NOTSET", nil
	}
	return "", fmt.Errorf("auto_pad %q is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", mode)
}

// newSpatialGeom reads strides, dilations, pads and auto_pad from n and
// computes the output size of a window of the given kernel sliding over in
// (the spatial sizes). ceil selects ceil_mode rounding. Attributes the
// operator does not have are simply absent and take their defaults.
func newSpatialGeom(n *ir.Node, in, kernel []int, ceil bool) (*spatialGeom, error) {
	r := len(in)
	if len(kernel) != r {
		return nil, fmt.Errorf("kernel shape %v has %d axes, the input has %d spatial axes (input spatial shape %v)", kernel, len(kernel), r, in)
	}
	for i, k := range kernel {
		if k <= 0 || k > winMaxAttr {
			return nil, fmt.Errorf("kernel size %d on spatial axis %d must be in [1, %d]", k, i, winMaxAttr)
		}
	}
	g := &spatialGeom{in: in, kernel: kernel, out: make([]int, r), padB: make([]int, r), padE: make([]int, r)}
	var err error
	if g.stride, err = winInts(n, "strides", r, 1, 1); err != nil {
		return nil, err
	}
	if g.dil, err = winInts(n, "dilations", r, 1, 1); err != nil {
		return nil, err
	}
	mode, err := winAutoPad(n)
	if err != nil {
		return nil, err
	}
	if mode == "NOTSET" {
		pads, err := winInts(n, "pads", 2*r, 0, 0)
		if err != nil {
			return nil, err
		}
		copy(g.padB, pads[:r])
		copy(g.padE, pads[r:])
	} else {
		for i := range in {
			if g.padB[i], g.padE[i], err = ir.AutoPad(mode, in[i], kernel[i], g.stride[i], g.dil[i]); err != nil {
				return nil, fmt.Errorf("spatial axis %d: %w", i, err)
			}
		}
	}
	for i := range in {
		if g.out[i], err = ir.ConvOutSize(in[i], kernel[i], g.stride[i], g.dil[i], g.padB[i], g.padE[i], ceil); err != nil {
			return nil, fmt.Errorf("spatial axis %d: %w", i, err)
		}
	}
	return g, nil
}

// winFloorDiv divides rounding toward negative infinity (b > 0).
func winFloorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// winCeilDiv divides rounding toward positive infinity (b > 0).
func winCeilDiv(a, b int) int { return -winFloorDiv(-a, b) }

// winTaps returns the range [k0, k1) of kernel taps k in [0, kernel) whose
// position start + k*dil lies in [lo, hi). The range is empty when k0 >= k1.
func winTaps(start, kernel, dil, lo, hi int) (int, int) {
	k0 := max(0, winCeilDiv(lo-start, dil))
	k1 := min(kernel, winFloorDiv(hi-1-start, dil)+1)
	return k0, k1
}

// winAxisTaps describes, for one spatial axis and every output coordinate,
// the window taps that fall inside the input and how many fall inside the
// padded input.
type winAxisTaps struct {
	k0, k1 []int // taps [k0, k1) land inside [0, in)
	padded []int // number of taps inside [-padB, in+padE)
}

// axisTaps computes the per-output-coordinate tap ranges of spatial axis a.
func (g *spatialGeom) axisTaps(a int) winAxisTaps {
	o := g.out[a]
	t := winAxisTaps{k0: make([]int, o), k1: make([]int, o), padded: make([]int, o)}
	for i := 0; i < o; i++ {
		start := i*g.stride[a] - g.padB[a]
		t.k0[i], t.k1[i] = winTaps(start, g.kernel[a], g.dil[a], 0, g.in[a])
		p0, p1 := winTaps(start, g.kernel[a], g.dil[a], -g.padB[a], g.in[a]+g.padE[a])
		t.padded[i] = max(0, p1-p0)
	}
	return t
}

// winNext advances the row-major multi-index idx within dims and reports
// whether it wrapped around to all zeros.
func winNext(idx, dims []int) bool {
	for a := len(idx) - 1; a >= 0; a-- {
		idx[a]++
		if idx[a] < dims[a] {
			return false
		}
		idx[a] = 0
	}
	return true
}

// winLowest returns the smallest value of a max-pooling element type: -Inf
// for floats.
func winLowest[T winFloat | int8 | uint8](x T) T {
	switch any(x).(type) {
	case float32:
		return T(float32(math.Inf(-1)))
	case float64:
		return T(math.Inf(-1))
	case int8:
		var v int8 = math.MinInt8
		return T(v)
	}
	return 0
}

// winCheckFloat fails unless dt is float32 or float64.
func winCheckFloat(what string, dt ir.DType) error {
	if dt != ir.Float32 && dt != ir.Float64 {
		return fmt.Errorf("%s has element type %v, want float32 or float64", what, dt)
	}
	return nil
}

// winParamVec reads a per-channel parameter vector (scale, bias, mean...)
// of c elements of any float type as float64.
func winParamVec(what string, t *ir.Tensor, c int) ([]float64, error) {
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("%s has element type %v, want a float type", what, t.DType)
	}
	if t.Len() != c {
		return nil, fmt.Errorf("%s has shape %v (%d elements), want %d elements (one per channel)", what, t.Shape, t.Len(), c)
	}
	v := make([]float64, c)
	for i := range v {
		v[i] = t.Float64At(i)
	}
	return v, nil
}
