package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// Conv and ConvTranspose (ONNX opset 11/21 semantics) for float32 and float64,
// any number of spatial axes. Products are accumulated in float64.

func init() {
	register("Conv", 2, 3, inferConv, runConv)
	register("ConvTranspose", 2, 3, inferConvTranspose, runConvTranspose)
}

// convColsLimit bounds the number of float64 elements of the im2col (Conv) or
// index (ConvTranspose) scratch buffers; larger problems are processed in
// chunks of spatial positions.
const convColsLimit = 1 << 20

// convPlan is a validated Conv or ConvTranspose configuration.
type convPlan struct {
	geom  *spatialGeom
	batch int // N
	inC   int // C, input channels
	outC  int // M, output channels
	group int
	out   []int // output shape
}

// convGroup reads and checks the group attribute.
func convGroup(n *ir.Node) (int, error) {
	g := n.AttrInt("group", 1)
	if g < 1 || g > winMaxAttr {
		return 0, fmt.Errorf("group %d must be in [1, %d]", g, winMaxAttr)
	}
	return int(g), nil
}

// convKernel returns the kernel shape from W, checking it against the
// kernel_shape attribute when present.
func convKernel(n *ir.Node, w []int) ([]int, error) {
	kernel := append([]int(nil), w[2:]...)
	if n.HasAttr("kernel_shape") {
		ks := n.AttrInts("kernel_shape")
		if len(ks) != len(kernel) {
			return nil, fmt.Errorf("kernel_shape %v has %d axes, but W has shape %v (%d spatial axes)", ks, len(ks), w, len(kernel))
		}
		for i, k := range ks {
			if k != int64(kernel[i]) {
				return nil, fmt.Errorf("kernel_shape %v does not match W's spatial shape %v", ks, kernel)
			}
		}
	}
	for i, k := range kernel {
		if k == 0 {
			return nil, fmt.Errorf("W has shape %v: kernel size 0 on spatial axis %d", w, i)
		}
	}
	return kernel, nil
}

// convCheckTypes checks X, W and B share a float type.
func convCheckTypes(in []*Arg) error {
	if err := winCheckFloat("X", in[0].DType); err != nil {
		return err
	}
	if in[1].DType != in[0].DType {
		return fmt.Errorf("W has element type %v, X has %v", in[1].DType, in[0].DType)
	}
	if len(in) > 2 && in[2] != nil && in[2].DType != in[0].DType {
		return fmt.Errorf("B has element type %v, X has %v", in[2].DType, in[0].DType)
	}
	return nil
}

// convCheckBias checks that the optional bias B is a vector of m elements.
func convCheckBias(in []*Arg, m int) error {
	if len(in) < 3 || in[2] == nil {
		return nil
	}
	if b := in[2].Shape; len(b) != 1 || b[0] != m {
		return fmt.Errorf("bias B has shape %v, want [%d] (one per output channel)", b, m)
	}
	return nil
}

// planConv validates a Conv node against its input shapes.
func planConv(n *ir.Node, in []*Arg) (*convPlan, error) {
	if err := convCheckTypes(in); err != nil {
		return nil, err
	}
	x, w := in[0].Shape, in[1].Shape
	if len(x) < 3 {
		return nil, fmt.Errorf("X has shape %v; Conv needs N x C x D1 x ... (rank 3 or more)", x)
	}
	if len(w) != len(x) {
		return nil, fmt.Errorf("W has shape %v (rank %d), X has shape %v (rank %d); ranks must match", w, len(w), x, len(x))
	}
	group, err := convGroup(n)
	if err != nil {
		return nil, err
	}
	c, m := x[1], w[0]
	if c%group != 0 {
		return nil, fmt.Errorf("X has %d channels, not divisible by group %d", c, group)
	}
	if w[1] != c/group {
		return nil, fmt.Errorf("W has shape %v: %d input channels per group, but X has %d channels / group %d = %d", w, w[1], c, group, c/group)
	}
	if m%group != 0 {
		return nil, fmt.Errorf("W has shape %v: %d output channels, not divisible by group %d", w, m, group)
	}
	kernel, err := convKernel(n, w)
	if err != nil {
		return nil, err
	}
	geom, err := newSpatialGeom(n, x[2:], kernel, false)
	if err != nil {
		return nil, err
	}
	if err := convCheckBias(in, m); err != nil {
		return nil, err
	}
	out := append([]int{x[0], m}, geom.out...)
	return &convPlan{geom: geom, batch: x[0], inC: c, outC: m, group: group, out: out}, nil
}

func inferConv(n *ir.Node, in []*Arg) ([]Out, error) {
	p, err := planConv(n, in)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: p.out}}, nil
}

func runConv(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	p, err := planConv(n, argsOf(in))
	if err != nil {
		return err
	}
	var b *ir.Tensor
	if len(in) > 2 {
		b = in[2]
	}
	switch in[0].DType {
	case ir.Float32:
		convForward(p, in[0].F32(), in[1].F32(), optData[float32](b), out[0].F32())
	case ir.Float64:
		convForward(p, in[0].F64(), in[1].F64(), optData[float64](b), out[0].F64())
	}
	return nil
}

// optData returns an optional tensor's data as []T, or nil when omitted.
func optData[T winFloat](t *ir.Tensor) []T {
	if t == nil {
		return nil
	}
	s, _ := t.Data.([]T)
	return s
}

// convForward computes a convolution by im2col over chunks of output
// positions followed by a float64-accumulated matrix product per group.
func convForward[T winFloat](p *convPlan, x, w, bias, y []T) {
	g := p.geom
	inSp, outSp, kSz := prod(g.in), prod(g.out), prod(g.kernel)
	cg, mg := p.inC/p.group, p.outC/p.group
	rows := cg * kSz // rows of the im2col matrix, one per (channel, tap)
	if len(y) == 0 {
		return
	}
	chunk := max(1, min(outSp, convColsLimit/max(1, rows)))
	cols := make([]float64, rows*chunk)
	tab := make([]int, kSz*chunk)
	acc := make([]float64, chunk)
	r := g.rank()
	oc := make([]int, r)
	kc := make([]int, r)
	for p0 := 0; p0 < outSp; p0 += chunk {
		p1 := min(outSp, p0+chunk)
		cn := p1 - p0
		// tab[k*chunk+j] is the input offset read by tap k at output position
		// p0+j, or -1 when that tap lies in the padding.
		convOutCoord(p0, g.out, oc)
		for j := 0; j < cn; j++ {
			clear(kc)
			for k := 0; k < kSz; k++ {
				off := 0
				for a := 0; a < r; a++ {
					c := oc[a]*g.stride[a] - g.padB[a] + kc[a]*g.dil[a]
					if c < 0 || c >= g.in[a] {
						off = -1
						break
					}
					off = off*g.in[a] + c
				}
				tab[k*chunk+j] = off
				winNext(kc, g.kernel)
			}
			winNext(oc, g.out)
		}
		for nb := 0; nb < p.batch; nb++ {
			for gi := 0; gi < p.group; gi++ {
				for ci := 0; ci < cg; ci++ {
					plane := x[(nb*p.inC+gi*cg+ci)*inSp:][:inSp]
					for k := 0; k < kSz; k++ {
						row := cols[(ci*kSz+k)*chunk:][:cn]
						t := tab[k*chunk:][:cn]
						for j, off := range t {
							if off >= 0 {
								row[j] = float64(plane[off])
							} else {
								row[j] = 0
							}
						}
					}
				}
				for mi := 0; mi < mg; mi++ {
					m := gi*mg + mi
					a := acc[:cn]
					bv := 0.0
					if bias != nil {
						bv = float64(bias[m])
					}
					for j := range a {
						a[j] = bv
					}
					wr := w[m*rows:][:rows]
					for ri, wv := range wr {
						wf := float64(wv)
						row := cols[ri*chunk:][:cn]
						for j, v := range row {
							a[j] += wf * v
						}
					}
					dst := y[(nb*p.outC+m)*outSp+p0:][:cn]
					for j, v := range a {
						dst[j] = T(v)
					}
				}
			}
		}
	}
}

// convOutCoord writes the row-major multi-index of flat position pos within
// dims into idx.
func convOutCoord(pos int, dims, idx []int) {
	for a := len(dims) - 1; a >= 0; a-- {
		idx[a] = pos % dims[a]
		pos /= dims[a]
	}
}

// convTPlan is a validated ConvTranspose configuration. Its geometry maps
// input position i and tap k to output position i*stride + k*dil - padB;
// padB may be negative when output_shape asks for more than the full output.
type convTPlan struct {
	in, kernel, stride, dil, padB, out []int
	batch, inC, outC, group            int
	shape                              []int
}

// planConvTranspose validates a ConvTranspose node against its input shapes.
func planConvTranspose(n *ir.Node, in []*Arg) (*convTPlan, error) {
	if err := convCheckTypes(in); err != nil {
		return nil, err
	}
	x, w := in[0].Shape, in[1].Shape
	if len(x) < 3 {
		return nil, fmt.Errorf("X has shape %v; ConvTranspose needs N x C x D1 x ... (rank 3 or more)", x)
	}
	if len(w) != len(x) {
		return nil, fmt.Errorf("W has shape %v (rank %d), X has shape %v (rank %d); ranks must match", w, len(w), x, len(x))
	}
	group, err := convGroup(n)
	if err != nil {
		return nil, err
	}
	c := x[1]
	if w[0] != c {
		return nil, fmt.Errorf("W has shape %v: %d input channels, but X has %d channels", w, w[0], c)
	}
	if c%group != 0 {
		return nil, fmt.Errorf("X has %d channels, not divisible by group %d", c, group)
	}
	m := w[1] * group
	kernel, err := convKernel(n, w)
	if err != nil {
		return nil, err
	}
	r := len(x) - 2
	p := &convTPlan{in: x[2:], kernel: kernel, batch: x[0], inC: c, outC: m, group: group,
		padB: make([]int, r), out: make([]int, r)}
	if p.stride, err = winInts(n, "strides", r, 1, 1); err != nil {
		return nil, err
	}
	if p.dil, err = winInts(n, "dilations", r, 1, 1); err != nil {
		return nil, err
	}
	outPad, err := winInts(n, "output_padding", r, 0, 0)
	if err != nil {
		return nil, err
	}
	mode, err := winAutoPad(n)
	if err != nil {
		return nil, err
	}
	// full[a] is the output size with no padding removed.
	full := make([]int, r)
	for a := range full {
		if kernel[a] > winMaxAttr {
			return nil, fmt.Errorf("kernel size %d on spatial axis %d exceeds %d", kernel[a], a, winMaxAttr)
		}
		if p.in[a] > 0 && p.stride[a] > (math.MaxInt/4)/p.in[a] {
			return nil, fmt.Errorf("spatial axis %d: stride %d * input size %d is too large: %w", a, p.stride[a], p.in[a], ir.ErrTooLarge)
		}
		full[a] = p.stride[a]*(p.in[a]-1) + outPad[a] + (kernel[a]-1)*p.dil[a] + 1
	}
	var target []int // explicit output sizes, from output_shape or SAME
	if n.HasAttr("output_shape") {
		os := n.AttrInts("output_shape")
		switch len(os) {
		case r:
		case r + 2:
			os = os[2:] // some exporters give the whole N x M x D... shape
		default:
			return nil, fmt.Errorf("output_shape %v has %d values, want %d (one per spatial axis)", os, len(os), r)
		}
		target = make([]int, r)
		for a, v := range os {
			if v < 1 || v > winMaxAttr {
				return nil, fmt.Errorf("output_shape[%d] = %d is out of range [1, %d]", a, v, winMaxAttr)
			}
			target[a] = int(v)
		}
	} else if mode == "SAME_UPPER" || mode == "SAME_LOWER" {
		target = make([]int, r)
		for a := range target {
			target[a] = p.in[a] * p.stride[a]
		}
	}
	switch {
	case target != nil:
		for a := range target {
			total := full[a] - target[a]
			if mode == "SAME_UPPER" {
				p.padB[a] = winFloorDiv(total, 2)
			} else {
				p.padB[a] = total - winFloorDiv(total, 2)
			}
			p.out[a] = target[a]
		}
	case mode == "VALID":
		copy(p.out, full)
	default:
		pads, err := winInts(n, "pads", 2*r, 0, 0)
		if err != nil {
			return nil, err
		}
		for a := range full {
			p.padB[a] = pads[a]
			p.out[a] = full[a] - pads[a] - pads[r+a]
			if p.out[a] < 1 {
				return nil, fmt.Errorf("spatial axis %d: output size %d = stride %d * (input %d - 1) + output_padding %d + effective kernel %d - pads %d+%d is not positive",
					a, p.out[a], p.stride[a], p.in[a], outPad[a], (kernel[a]-1)*p.dil[a]+1, pads[a], pads[r+a])
			}
		}
	}
	for a, o := range p.out {
		if o < 0 {
			return nil, fmt.Errorf("spatial axis %d: output size %d is negative (input %d, stride %d, kernel %d, dilation %d, output_padding %d)",
				a, o, p.in[a], p.stride[a], kernel[a], p.dil[a], outPad[a])
		}
	}
	if err := convCheckBias(in, m); err != nil {
		return nil, err
	}
	p.shape = append([]int{x[0], m}, p.out...)
	return p, nil
}

func inferConvTranspose(n *ir.Node, in []*Arg) ([]Out, error) {
	p, err := planConvTranspose(n, in)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: p.shape}}, nil
}

func runConvTranspose(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	p, err := planConvTranspose(n, argsOf(in))
	if err != nil {
		return err
	}
	var b *ir.Tensor
	if len(in) > 2 {
		b = in[2]
	}
	switch in[0].DType {
	case ir.Float32:
		convTransposeForward(p, in[0].F32(), in[1].F32(), optData[float32](b), out[0].F32())
	case ir.Float64:
		convTransposeForward(p, in[0].F64(), in[1].F64(), optData[float64](b), out[0].F64())
	}
	return nil
}

// convTransposeForward scatters every input element times every tap into
// a float64 accumulator per (batch, group), then adds the bias.
func convTransposeForward[T winFloat](p *convTPlan, x, w, bias, y []T) {
	inSp, outSp, kSz := prod(p.in), prod(p.out), prod(p.kernel)
	cg, mg := p.inC/p.group, p.outC/p.group
	r := len(p.in)
	if len(y) == 0 {
		return
	}
	acc := make([]float64, mg*outSp)
	chunk := max(1, min(inSp, convColsLimit/kSz))
	tab := make([]int, kSz*chunk)
	xrow := make([]float64, chunk)
	ic := make([]int, r)
	kc := make([]int, r)
	for nb := 0; nb < p.batch; nb++ {
		for gi := 0; gi < p.group; gi++ {
			for mi := 0; mi < mg; mi++ {
				bv := 0.0
				if bias != nil {
					bv = float64(bias[gi*mg+mi])
				}
				a := acc[mi*outSp:][:outSp]
				for j := range a {
					a[j] = bv
				}
			}
			for p0 := 0; p0 < inSp; p0 += chunk {
				p1 := min(inSp, p0+chunk)
				cn := p1 - p0
				// tab[k*chunk+j] is the output offset tap k of input position
				// p0+j lands on, or -1 outside the output.
				convOutCoord(p0, p.in, ic)
				for j := 0; j < cn; j++ {
					clear(kc)
					for k := 0; k < kSz; k++ {
						off := 0
						for a := 0; a < r; a++ {
							c := ic[a]*p.stride[a] + kc[a]*p.dil[a] - p.padB[a]
							if c < 0 || c >= p.out[a] {
								off = -1
								break
							}
							off = off*p.out[a] + c
						}
						tab[k*chunk+j] = off
						winNext(kc, p.kernel)
					}
					winNext(ic, p.in)
				}
				for ci := 0; ci < cg; ci++ {
					c := gi*cg + ci
					src := x[(nb*p.inC+c)*inSp+p0:][:cn]
					for j, v := range src {
						xrow[j] = float64(v)
					}
					for mi := 0; mi < mg; mi++ {
						a := acc[mi*outSp:][:outSp]
						wr := w[(c*mg+mi)*kSz:][:kSz]
						for k, wv := range wr {
							wf := float64(wv)
							for j, off := range tab[k*chunk:][:cn] {
								if off >= 0 {
									a[off] += wf * xrow[j]
								}
							}
						}
					}
				}
			}
			for mi := 0; mi < mg; mi++ {
				dst := y[(nb*p.outC+gi*mg+mi)*outSp:][:outSp]
				for j, v := range acc[mi*outSp:][:outSp] {
					dst[j] = T(v)
				}
			}
		}
	}
}
