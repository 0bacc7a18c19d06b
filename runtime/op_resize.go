package runtime

import (
	"fmt"
	"math"
	"sort"

	"github.com/runinfer/runinfer/ir"
)

// Resize follows ONNX opset 19 (and the ONNX reference implementation where
// the text leaves room): every resized axis is interpolated separably, with a
// window of taps per output position whose weights come from the mode
// (nearest, linear, cubic, optionally antialiased). Nearest only moves data
// and works for every element type; linear and cubic compute in float64.

func init() {
	register("Resize", 1, 4, inferResize, runResize)
}

// resizePlan is a Resize node's resolved parameters for one input shape.
type resizePlan struct {
	mode, coord, nearest string
	cubicA               float64
	exclude, antialias   bool
	extrap               float64
	in, out              []int
	resized              []bool    // axes listed in the axes attribute
	scales               []float64 // per axis (1 for axes not resized)
	roi                  []float64 // starts then ends, per axis; only for tf_crop_and_resize
}

// resizeArg returns input i when it is present and non-empty.
func resizeArg(in []*Arg, i int) *Arg {
	if i < len(in) && in[i] != nil && prod(in[i].Shape) > 0 {
		return in[i]
	}
	return nil
}

func planResize(n *ir.Node, in []*Arg, needROI bool) (*resizePlan, error) {
	x := in[0]
	r := len(x.Shape)
	p := &resizePlan{
		mode:      n.AttrString("mode", "nearest"),
		coord:     n.AttrString("coordinate_transformation_mode", "half_pixel"),
		nearest:   n.AttrString("nearest_mode", "round_prefer_floor"),
		cubicA:    float64(n.AttrFloat("cubic_coeff_a", -0.75)),
		exclude:   n.AttrInt("exclude_outside", 0) != 0,
		antialias: n.AttrInt("antialias", 0) != 0,
		extrap:    float64(n.AttrFloat("extrapolation_value", 0)),
		in:        x.Shape,
		out:       append([]int(nil), x.Shape...),
		resized:   make([]bool, r),
		scales:    make([]float64, r),
	}
	switch p.mode {
	case "nearest":
		switch p.nearest {
		case "round_prefer_floor", "round_prefer_ceil", "floor", "ceil":
		default:
			return nil, fmt.Errorf("unknown nearest_mode %q", p.nearest)
		}
	case "linear", "cubic":
		if x.DType == ir.Bool || x.DType == ir.String {
			return nil, fmt.Errorf("%s resize needs a numeric tensor, got %v", p.mode, x.DType)
		}
	default:
		return nil, fmt.Errorf("unknown mode %q (want nearest, linear or cubic)", p.mode)
	}
	switch p.coord {
	case "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
		"asymmetric", "tf_crop_and_resize", "tf_half_pixel_for_nn":
	default:
		return nil, fmt.Errorf("unknown coordinate_transformation_mode %q", p.coord)
	}
	policy := n.AttrString("keep_aspect_ratio_policy", "stretch")
	switch policy {
	case "stretch", "not_larger", "not_smaller":
	default:
		return nil, fmt.Errorf("unknown keep_aspect_ratio_policy %q", policy)
	}

	axes := make([]int, r)
	for i := range axes {
		axes[i] = i
	}
	if a := n.AttrInts("axes"); a != nil {
		var err error
		if axes, err = normAxes(a, r); err != nil {
			return nil, err
		}
	}
	for i := range p.scales {
		p.scales[i] = 1
	}
	for _, a := range axes {
		p.resized[a] = true
	}

	scales, sizes := resizeArg(in, 2), resizeArg(in, 3)
	switch {
	case scales != nil && sizes != nil:
		return nil, fmt.Errorf("both scales and sizes are given")
	case scales != nil:
		v, err := needVal(scales)
		if err != nil {
			return nil, err
		}
		if !v.DType.IsFloat() {
			return nil, fmt.Errorf("scales must be a float tensor, got %v", v.DType)
		}
		if v.Len() != len(axes) {
			return nil, fmt.Errorf("scales has %d values for %d resized axes", v.Len(), len(axes))
		}
		for i, a := range axes {
			s := v.Float64At(i)
			if !(s > 0) || math.IsInf(s, 0) {
				return nil, fmt.Errorf("scale %g for axis %d must be positive and finite", s, a)
			}
			o := s * float64(x.Shape[a])
			if o >= ir.MaxElements+1 {
				return nil, fmt.Errorf("scale %g on axis %d of size %d: %w", s, a, x.Shape[a], ir.ErrTooLarge)
			}
			p.scales[a] = s
			p.out[a] = int(math.Floor(o))
		}
	case sizes != nil:
		req, err := ints64(sizes)
		if err != nil {
			return nil, err
		}
		if len(req) != len(axes) {
			return nil, fmt.Errorf("sizes has %d values for %d resized axes", len(req), len(axes))
		}
		want := make([]int, len(req))
		for i, a := range axes {
			if want[i], err = dimFromInt64(req[i]); err != nil {
				return nil, fmt.Errorf("sizes %v: %w", req, err)
			}
			if x.Shape[a] == 0 && want[i] != 0 {
				return nil, fmt.Errorf("cannot resize axis %d of size 0 to %d", a, want[i])
			}
		}
		if policy == "stretch" {
			for i, a := range axes {
				p.out[a] = want[i]
				if x.Shape[a] > 0 {
					p.scales[a] = float64(want[i]) / float64(x.Shape[a])
				}
			}
			break
		}
		scale := 0.0
		for i, a := range axes {
			if x.Shape[a] == 0 {
				return nil, fmt.Errorf("cannot keep the aspect ratio with axis %d of size 0", a)
			}
			s := float64(want[i]) / float64(x.Shape[a])
			if i == 0 || (policy == "not_larger" && s < scale) || (policy == "not_smaller" && s > scale) {
				scale = s
			}
		}
		for _, a := range axes {
			o := scale*float64(x.Shape[a]) + 0.5
			if o >= ir.MaxElements+1 {
				return nil, fmt.Errorf("sizes %v on shape %v: %w", req, x.Shape, ir.ErrTooLarge)
			}
			p.scales[a] = scale
			p.out[a] = int(o)
		}
	default:
		return nil, fmt.Errorf("one of scales and sizes must be given")
	}
	for a := range p.out {
		if p.resized[a] && p.out[a] > 0 && p.scales[a] == 0 {
			return nil, fmt.Errorf("axis %d: zero scale", a)
		}
	}
	if err := checkElems(p.out); err != nil {
		return nil, err
	}

	if p.coord == "tf_crop_and_resize" && needROI {
		roiArg := resizeArg(in, 1)
		if roiArg == nil {
			return nil, fmt.Errorf("coordinate_transformation_mode tf_crop_and_resize needs the roi input")
		}
		v, err := needVal(roiArg)
		if err != nil {
			return nil, err
		}
		if v.DType == ir.String || v.DType == ir.Bool {
			return nil, fmt.Errorf("roi must be numeric, got %v", v.DType)
		}
		if v.Len() != 2*len(axes) {
			return nil, fmt.Errorf("roi has %d values, want %d (start and end per resized axis)", v.Len(), 2*len(axes))
		}
		p.roi = make([]float64, 2*r)
		for a := 0; a < r; a++ {
			p.roi[a], p.roi[r+a] = 0, 1
		}
		for i, a := range axes {
			s, e := v.Float64At(i), v.Float64At(i+len(axes))
			if math.IsNaN(s) || math.IsInf(s, 0) || math.IsNaN(e) || math.IsInf(e, 0) {
				return nil, fmt.Errorf("roi %g..%g for axis %d is not finite", s, e, a)
			}
			p.roi[a], p.roi[r+a] = s, e
		}
	}
	return p, nil
}

func inferResize(n *ir.Node, in []*Arg) ([]Out, error) {
	p, err := planResize(n, in, false)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: p.out}}, nil
}

// resizeAxis computes one axis's interpolation taps on demand: for output
// position x, a window of consecutive input indices (clamped to the edges)
// starting at the returned position, with weights.
type resizeAxis struct {
	p        *resizePlan
	a        int
	taps     int  // window size (0 for axes left unchanged)
	identity bool // every output position copies the same input position
	buf      []float64
}

// coord1 maps output position x of axis a to an input coordinate, reporting
// whether it lies outside the crop (tf_crop_and_resize only).
func (p *resizePlan) coord1(a, x int) (float64, bool) {
	lo := float64(p.in[a])
	s := p.scales[a]
	outW := s * lo // the reference uses the unrounded output length
	xf := float64(x)
	switch p.coord {
	case "half_pixel_symmetric":
		adj := float64(p.out[a]) / outW
		center := lo / 2
		return center*(1-adj) + (xf+0.5)/s - 0.5, false
	case "pytorch_half_pixel":
		if outW == 1 {
			return -0.5, false
		}
		return (xf+0.5)/s - 0.5, false
	case "align_corners":
		if outW == 1 {
			return 0, false
		}
		return xf * (lo - 1) / (outW - 1), false
	case "asymmetric":
		return xf / s, false
	case "tf_half_pixel_for_nn":
		return (xf + 0.5) / s, false
	case "tf_crop_and_resize":
		start, end := p.roi[a], p.roi[len(p.in)+a]
		var xo float64
		if outW == 1 {
			xo = (end - start) * (lo - 1) / 2
		} else {
			xo = xf * (end - start) * (lo - 1) / (outW - 1)
		}
		xo += start * (lo - 1)
		return xo, xo < 0 || xo > lo-1
	}
	return (xf+0.5)/s - 0.5, false // half_pixel
}

// coeffs returns the weights of the window of taps around a coordinate whose
// distance to the window's second-to-center tap is ratio (in (0, 1]).
func (p *resizePlan) coeffs(ratio, scale float64, integer bool, buf []float64) []float64 {
	buf = buf[:0]
	switch p.mode {
	case "nearest":
		up := true
		if !integer {
			switch p.nearest {
			case "round_prefer_floor":
				up = ratio > 0.5
			case "round_prefer_ceil":
				up = ratio >= 0.5
			case "floor":
				up = false
			}
		}
		if up {
			return append(buf, 0, 1)
		}
		return append(buf, 1, 0)
	case "linear":
		if !p.antialias {
			return append(buf, 1-ratio, ratio)
		}
		sc := min(scale, 1)
		start := int(math.Floor(-1/sc)) + 1
		sum := 0.0
		for i := start; i < 2-start; i++ {
			c := min(max(1-math.Abs((float64(i)-ratio)*sc), 0), 1)
			buf = append(buf, c)
			sum += c
		}
		for i := range buf {
			buf[i] /= sum
		}
		return buf
	}
	A := p.cubicA
	cubic := func(x float64) float64 {
		x = math.Abs(x)
		switch {
		case x <= 1:
			return ((A+2)*x-(A+3))*x*x + 1
		case x < 2:
			return ((A*x-5*A)*x+8*A)*x - 4*A
		}
		return 0
	}
	if !p.antialias {
		return append(buf, cubic(ratio+1), cubic(ratio), cubic(1-ratio), cubic(2-ratio))
	}
	sc := min(scale, 1)
	start := int(math.Floor(-2/sc)) + 1
	sum := 0.0
	for i := start; i < 2-start; i++ {
		c := cubic(sc * (float64(i) - ratio))
		buf = append(buf, c)
		sum += c
	}
	for i := range buf {
		buf[i] /= sum
	}
	return buf
}

// newResizeAxis prepares axis a and decides whether it is the identity.
func (p *resizePlan) newResizeAxis(a int) (*resizeAxis, error) {
	lo, lr := p.in[a], p.out[a]
	r := &resizeAxis{p: p, a: a, identity: lo == lr}
	if !p.resized[a] || lr == 0 {
		return r, nil
	}
	for x := 0; x < lr; x++ {
		s0, w, out, err := r.at(x)
		if err != nil {
			return nil, err
		}
		if out {
			r.identity = false
		}
		for j, v := range w {
			if v != 0 && (v != 1 || s0+j != x) {
				r.identity = false
			}
		}
	}
	return r, nil
}

// at returns output position x's window start (possibly before 0 or running
// past the end: index i reads input min(max(i, 0), lo-1)), its weights (valid
// until the next call) and whether x takes the extrapolation value.
func (r *resizeAxis) at(x int) (int, []float64, bool, error) {
	p, a := r.p, r.a
	lo := p.in[a]
	xo, out := p.coord1(a, x)
	if out {
		xo = 0 // any position inside: the extrapolation value replaces it
	}
	if math.IsNaN(xo) || math.Abs(xo) > 4*float64(ir.MaxElements) {
		return 0, nil, false, fmt.Errorf("axis %d: output position %d maps to input coordinate %g", a, x, xo)
	}
	base := math.Ceil(xo) - 1
	c := p.coeffs(xo-base, p.scales[a], xo == math.Floor(xo), r.buf)
	r.buf = c
	k := len(c)
	if r.taps == 0 {
		if k > 16*lo+16 {
			return 0, nil, false, fmt.Errorf("axis %d: interpolation window of %d taps for %d input positions", a, k, lo)
		}
		r.taps = k
	}
	// The window starts k/2-1 taps before base; like the reference, it is
	// kept inside the input padded by k/2 edge values on each side.
	pad := k / 2
	s0 := min(max(int(base)-(pad-1)+pad, 0), lo) - pad
	if p.exclude {
		sum := 0.0
		for j := range c {
			if i := s0 + j; i < 0 || i >= lo {
				c[j] = 0
			}
			sum += c[j]
		}
		if sum != 0 {
			for j := range c {
				c[j] /= sum
			}
		}
	}
	return s0, c, out, nil
}

func runResize(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	p, err := planResize(n, argsOf(in), true)
	if err != nil {
		return err
	}
	if out[0].Len() == 0 {
		return nil
	}
	axes := make([]*resizeAxis, len(p.in))
	for a := range axes {
		if axes[a], err = p.newResizeAxis(a); err != nil {
			return err
		}
	}
	if p.mode == "nearest" {
		return resizeNearest(p, axes, in[0], out[0])
	}
	return resizeInterp(p, axes, in[0], out[0])
}

// resizeNearest gathers the chosen input element for every output position.
func resizeNearest(p *resizePlan, axes []*resizeAxis, x, y *ir.Tensor) error {
	st := stridesOf(p.in)
	view := make([]viewAxis, len(p.in))
	var fill any
	lastOf := func(i, lo int) int { return min(max(i, 0), lo-1) }
	for a, r := range axes {
		if r.identity {
			view[a] = affineAxis(p.in[a], 0, st[a])
			continue
		}
		idx := make([]int, p.out[a])
		for o := range idx {
			s0, w, ex, err := r.at(o)
			if err != nil {
				return err
			}
			if ex {
				idx[o] = -1
				if fill == nil {
					if fill, err = scalarSlice(x.DType, p.extrap); err != nil {
						return err
					}
				}
				continue
			}
			pick := s0
			for j, v := range w {
				if v != 0 {
					pick = s0 + j
				}
			}
			idx[o] = lastOf(pick, p.in[a]) * st[a]
		}
		view[a] = viewAxis{n: p.out[a], idx: idx}
	}
	return copyView(y.Data, x.Data, view, fill)
}

// resizeInterp applies the axes one at a time in float64, shrinking axes
// first so no intermediate exceeds the input or output size.
func resizeInterp(p *resizePlan, axes []*resizeAxis, x, y *ir.Tensor) error {
	cur, err := resizeLoadF64(x)
	if err != nil {
		return err
	}
	shape := append([]int(nil), p.in...)
	var order []int
	for a, r := range axes {
		if !r.identity {
			order = append(order, a)
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		ri := float64(p.out[order[i]]) / float64(max(p.in[order[i]], 1))
		rj := float64(p.out[order[j]]) / float64(max(p.in[order[j]], 1))
		return ri < rj
	})
	for _, a := range order {
		if cur, shape, err = resizePass(cur, shape, axes[a]); err != nil {
			return err
		}
	}
	// Positions outside a tf_crop_and_resize crop take the extrapolation
	// value exactly (the passes interpolated placeholders there).
	if p.coord == "tf_crop_and_resize" {
		st := stridesOf(shape)
		for _, a := range order {
			outer := prod(shape[:a])
			for o := 0; o < shape[a]; o++ {
				if _, ex := p.coord1(a, o); !ex {
					continue
				}
				for i := 0; i < outer; i++ {
					b := i*shape[a]*st[a] + o*st[a]
					for j := b; j < b+st[a]; j++ {
						cur[j] = p.extrap
					}
				}
			}
		}
	}
	return resizeStoreF64(y, cur)
}

// resizePass interpolates src (of shape) along r's axis to its output length.
func resizePass(src []float64, shape []int, r *resizeAxis) ([]float64, []int, error) {
	a := r.a
	lr := r.p.out[a]
	outer := prod(shape[:a])
	lo := shape[a]
	inner := prod(shape[a+1:])
	next := append([]int(nil), shape...)
	next[a] = lr
	dst := make([]float64, outer*lr*inner)
	for x := 0; x < lr; x++ {
		s0, w, _, err := r.at(x)
		if err != nil {
			return nil, nil, err
		}
		for k, wk := range w {
			if wk == 0 {
				continue
			}
			i := min(max(s0+k, 0), lo-1)
			for o := 0; o < outer; o++ {
				row := dst[(o*lr+x)*inner : (o*lr+x+1)*inner]
				for j, v := range src[(o*lo+i)*inner : (o*lo+i+1)*inner] {
					row[j] += wk * v
				}
			}
		}
	}
	return dst, next, nil
}

// resizeLoadF64 returns a numeric tensor's elements as float64.
func resizeLoadF64(t *ir.Tensor) ([]float64, error) {
	if t.DType == ir.String {
		return nil, fmt.Errorf("cannot interpolate a string tensor")
	}
	if s := t.F64(); s != nil {
		return append([]float64(nil), s...), nil
	}
	out := make([]float64, t.Len())
	if s := t.F32(); s != nil {
		for i, v := range s {
			out[i] = float64(v)
		}
		return out, nil
	}
	for i := range out {
		out[i] = t.Float64At(i)
	}
	return out, nil
}

// resizeStoreF64 writes float64 values into t, converting to its type
// (integers truncate toward zero and saturate, like a numpy cast).
func resizeStoreF64(t *ir.Tensor, v []float64) error {
	if len(v) != t.Len() {
		return fmt.Errorf("internal error: %d values for %d elements", len(v), t.Len())
	}
	switch d := t.Data.(type) {
	case []float32:
		for i, x := range v {
			d[i] = float32(x)
		}
	case []float64:
		copy(d, v)
	case []int8:
		for i, x := range v {
			d[i] = int8(satInt(x, math.MinInt8, math.MaxInt8))
		}
	case []uint8:
		for i, x := range v {
			d[i] = uint8(satInt(x, 0, math.MaxUint8))
		}
	case []int16:
		for i, x := range v {
			d[i] = int16(satInt(x, math.MinInt16, math.MaxInt16))
		}
	case []uint16:
		for i, x := range v {
			switch t.DType {
			case ir.Float16:
				d[i] = ir.Float32ToFloat16(float32(x))
			case ir.BFloat16:
				d[i] = ir.Float32ToBFloat16(float32(x))
			default:
				d[i] = uint16(satInt(x, 0, math.MaxUint16))
			}
		}
	case []int32:
		for i, x := range v {
			d[i] = int32(satInt(x, math.MinInt32, math.MaxInt32))
		}
	case []uint32:
		for i, x := range v {
			d[i] = uint32(satInt(x, 0, math.MaxUint32))
		}
	case []int64:
		for i, x := range v {
			d[i] = satInt(x, math.MinInt64, math.MaxInt64)
		}
	case []uint64:
		for i, x := range v {
			s, _ := scalarSlice(ir.Uint64, x)
			d[i] = s.([]uint64)[0]
		}
	default:
		return fmt.Errorf("cannot store interpolated values in a %v tensor", t.DType)
	}
	return nil
}
