package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Backward mode for MaxPool, AveragePool, GlobalAveragePool and
// GlobalMaxPool (float32), parallel over the N×C planes.
//
// MaxPool's forward records, per output, the in-plane offset of the
// window's first maximum in row-major tap order (the reference op's
// choice, which is also PyTorch's: the gradient of a tie goes to the
// first maximum; NaN: to the first NaN). Backward adds each output's
// gradient there; windows overlap, so an input collects from several.
// The optional Indices output is computed (storage_order as the reference
// op) but not differentiated.
//
// AveragePool spreads each output's gradient evenly over the window's
// in-input taps, divided by exactly the reference op's divisor: the taps
// inside the input, or with count_include_pad those inside the padded
// input (taps of a ceil_mode window past the end padding never count).
//
// 1-D and 2-D pooling run the tier's pooling kernels forward (MaxPool
// then scans each window for its first maximum) and, backward, loops over
// each window's tap ranges (AveragePool: a vector add per tap and output
// row when the horizontal stride is 1); other ranks walk the reference
// op's window enumeration.

func init() {
	registerGrad("MaxPool", gradOp{forward: maxPoolGradForward, backward: maxPoolGradBackward, diff: []int{0}})
	registerGrad("AveragePool", gradOp{forward: avgPoolGradForward, backward: avgPoolGradBackward, diff: []int{0}})
	registerGrad("GlobalAveragePool", gradOp{backward: globalAvgGradBackward, diff: []int{0}})
	registerGrad("GlobalMaxPool", gradOp{forward: globalMaxGradForward, backward: globalMaxGradBackward, diff: []int{0}})
}

// poolGrad is a validated pooling geometry. For 1-D and 2-D pooling
// (twoD) the planes are H×W (H = 1 for 1-D) with per-axis tap ranges;
// otherwise geom's window enumeration is used.
type poolGrad struct {
	geom           *spatialGeom
	planes         int
	inSp, outSp    int
	yShape         []int
	twoD           bool
	h, w, oh, ow   int
	sh, sw, dh, dw int
	pt, pl         int
	rows, cols     winAxisTaps
}

func planPoolGrad(n *ir.Node, x []int) (*poolGrad, error) {
	g, err := planPool(n, x)
	if err != nil {
		return nil, err
	}
	p := &poolGrad{geom: g, planes: x[0] * x[1], inSp: prod(g.in), outSp: prod(g.out), yShape: poolShape(x, g)}
	if _, err := ir.NumElements(p.yShape); err != nil {
		return nil, err
	}
	if !ghMulFits(p.planes, p.inSp) || !ghMulFits(p.planes, p.outSp) {
		return nil, fmt.Errorf("input %v, output %v: too large for backward mode: %w", x, p.yShape, ir.ErrTooLarge)
	}
	switch g.rank() {
	case 1:
		p.twoD = true
		p.h, p.w, p.oh, p.ow = 1, g.in[0], 1, g.out[0]
		p.sh, p.sw, p.dh, p.dw, p.pt, p.pl = 1, g.stride[0], 1, g.dil[0], 0, g.padB[0]
		p.rows = winAxisTaps{k0: []int{0}, k1: []int{1}, padded: []int{1}}
		p.cols = g.axisTaps(0)
	case 2:
		p.twoD = true
		p.h, p.w, p.oh, p.ow = g.in[0], g.in[1], g.out[0], g.out[1]
		p.sh, p.sw, p.dh, p.dw, p.pt, p.pl = g.stride[0], g.stride[1], g.dil[0], g.dil[1], g.padB[0], g.padB[1]
		p.rows, p.cols = g.axisTaps(0), g.axisTaps(1)
	}
	return p, nil
}

// kw is the kernel width of 1-D and 2-D pooling.
func (p *poolGrad) kw() int { return p.geom.kernel[len(p.geom.kernel)-1] }

// planeTasks splits the planes into tasks of about 2^16 outputs.
func (p *poolGrad) planeTasks() (per, tasks int) {
	per = max(1, (1<<16)/max(1, p.outSp+p.inSp/4))
	return per, winCeilDiv(p.planes, per)
}

// poolMaxSaved is what MaxPool's backward needs: per output, the in-plane
// offset of the chosen input (-1 for a window with no input tap).
type poolMaxSaved struct {
	p   *poolGrad
	arg []int32
}

// poolGradStart begins MaxPool's and AveragePool's forward: an input that
// is not float32 runs the reference op (its outputs in out, p nil);
// otherwise the node is checked with infer and its geometry planned.
func poolGradStart(c *gradCtx, n *ir.Node, in []*ir.Tensor, infer func(*ir.Node, []*Arg) ([]Out, error)) (p *poolGrad, out []*ir.Tensor, err error) {
	if len(in) < 1 || in[0] == nil || in[0].DType != ir.Float32 {
		out, err := EvalNode(n, in, c.limit)
		return nil, out, err
	}
	if _, err := infer(n, argsOf(in)); err != nil {
		return nil, nil, err
	}
	p, err = planPoolGrad(n, in[0].Shape)
	if err != nil {
		return nil, nil, err
	}
	return p, nil, nil
}

func maxPoolGradForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	p, out, err := poolGradStart(c, n, in, inferMaxPool)
	if p == nil {
		return out, nil, err
	}
	if p.inSp > math.MaxInt32 {
		return nil, nil, fmt.Errorf("input planes of %d elements are too large for backward mode: %w", p.inSp, ir.ErrTooLarge)
	}
	y, err := ghNewF32(c, "MaxPool output", p.yShape, !p.twoD) // argPlane writes every output
	if err != nil {
		return nil, nil, err
	}
	out = []*ir.Tensor{y}
	var idx []int64
	if len(n.Outputs) > 1 {
		if err := ghCheckLimit(c, "MaxPool indices", p.yShape); err != nil {
			return nil, nil, err
		}
		it, err := ir.NewTensor(ir.Int64, append([]int(nil), p.yShape...))
		if err != nil {
			return nil, nil, err
		}
		out = append(out, it)
		if n.Outputs[1] != "" {
			idx = it.I64()
		}
	}
	s := &poolMaxSaved{p: p, arg: make([]int32, p.planes*p.outSp)}
	x, yd := in[0].F32(), y.F32()
	if p.twoD {
		// The tier's max pooling, then per window a scan for the first
		// tap holding the maximum (cheaper than tracking it: one
		// unpredictable branch per window instead of one per new
		// maximum).
		pg := p.pool2D()
		per, tasks := p.planeTasks()
		simd.ForEach(c.par, tasks, func(lo, hi int) {
			var tb *[]float32
			if pg != nil {
				tb = ghGetBuf(pg.TempLen())
			}
			for pl := lo * per; pl < min(p.planes, hi*per); pl += per {
				cnt := min(per, p.planes-pl)
				ys := yd[pl*p.outSp : (pl+cnt)*p.outSp]
				if pg != nil {
					c.k.MaxPool2D(ys, x[pl*p.inSp:(pl+cnt)*p.inSp], *tb, cnt, pg)
				}
				for q := pl; q < pl+cnt; q++ {
					p.argPlane(x[q*p.inSp:][:p.inSp], yd[q*p.outSp:][:p.outSp], s.arg[q*p.outSp:][:p.outSp], pg != nil)
				}
			}
			ghPutBuf(tb)
		})
	} else {
		inf := float32(math.Inf(-1))
		p.geom.forEachWindow(func(o int, w *poolWindow) {
			for pl := 0; pl < p.planes; pl++ {
				src := x[pl*p.inSp:][:p.inSp]
				best, at := inf, int32(-1)
				for _, off := range w.offs {
					if v := src[off]; at < 0 || v > best || (v != v && best == best) {
						best, at = v, int32(off)
					}
				}
				yd[pl*p.outSp+o] = best
				s.arg[pl*p.outSp+o] = at
			}
		})
	}
	if idx != nil {
		colMajor := n.AttrInt("storage_order", 0) == 1
		strides := stridesOf(p.geom.in)
		coords := make([]int, p.geom.rank())
		for i, a := range s.arg {
			if a < 0 {
				idx[i] = -1
				continue
			}
			off := int(a)
			if colMajor {
				// Row-major offset to column-major: axis 0 varies fastest.
				rem, col, cs := off, 0, 1
				for ax := range coords {
					coords[ax] = rem / strides[ax]
					rem %= strides[ax]
				}
				for ax := range coords {
					col += coords[ax] * cs
					cs *= p.geom.in[ax]
				}
				off = col
			}
			idx[i] = int64(i/p.outSp*p.inSp + off)
		}
	}
	return out, s, nil
}

// pool2D returns the tier kernels' geometry of a 1-D or 2-D pooling, or
// nil when it is out of their range.
func (p *poolGrad) pool2D() *simd.Pool2D {
	g := &simd.Pool2D{H: p.h, W: p.w, OH: p.oh, OW: p.ow, KH: p.geom.kernel[0], KW: p.geom.kernel[len(p.geom.kernel)-1],
		SH: p.sh, SW: p.sw, DH: p.dh, DW: p.dw, PadT: p.pt, PadL: p.pl}
	if p.geom.rank() == 1 {
		g.KH = 1
	}
	if !p.twoD || !g.Valid() {
		return nil
	}
	return g
}

// argPlane sets each output's argmax (arg) to the in-plane offset of the
// window's first tap, in row-major order, holding the maximum, which y
// holds when known is set; y is then set to that tap's value (the
// reference's choice among -0 and +0). Otherwise, or when the maximum is
// NaN, argPlane finds the maximum itself, as the reference does.
func (p *poolGrad) argPlane(src, y []float32, arg []int32, known bool) {
	inf := float32(math.Inf(-1))
	// Locals: the loops must not reload p's fields after each store.
	ow, w, sh, sw, dh, dw, pt, pl := p.ow, p.w, p.sh, p.sw, p.dh, p.dw, p.pt, p.pl
	rk0, rk1, ck0, ck1 := p.rows.k0, p.rows.k1, p.cols.k0[:ow], p.cols.k1[:ow]
	for oy := 0; oy < p.oh; oy++ {
		r0, r1 := rk0[oy], rk1[oy]
		iyb := oy*sh - pt
		yr, ar := y[oy*ow:][:ow], arg[oy*ow:][:ow]
		for ox := range yr {
			c0, c1 := ck0[ox], ck1[ox]
			ixb := ox*sw - pl
			at := -1
			if m := yr[ox]; known && m == m {
			scan:
				for ky := r0; ky < r1; ky++ {
					rs := (iyb+ky*dh)*w + ixb
					for kx := c0; kx < c1; kx++ {
						if src[rs+kx*dw] == m {
							at = rs + kx*dw
							break scan
						}
					}
				}
			} else {
				best := inf
				for ky := r0; ky < r1; ky++ {
					rs := (iyb+ky*dh)*w + ixb
					for kx := c0; kx < c1; kx++ {
						off := rs + kx*dw
						if v := src[off]; at < 0 || v > best || (v != v && best == best) {
							best, at = v, off
						}
					}
				}
			}
			if at >= 0 {
				yr[ox] = src[at]
			} else {
				yr[ox] = inf
			}
			ar[ox] = int32(at)
		}
	}
}

func maxPoolGradBackward(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	if !ghNeeds(need, 0) {
		return make([]*ir.Tensor, len(in)), nil
	}
	s, ok := saved.(*poolMaxSaved)
	if !ok {
		if err := ghNeedF32(in); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("MaxPool backward without its forward's argmax")
	}
	p := s.p
	dy, err := ghDout(dout, 0, p.yShape)
	if err != nil {
		return nil, err
	}
	din := ghZeros(c, in, need)
	if dy == nil {
		return din, nil
	}
	dx := din[0].F32()
	per, tasks := p.planeTasks()
	simd.ForEach(c.par, tasks, func(lo, hi int) {
		for pl := lo * per; pl < min(p.planes, hi*per); pl++ {
			d := dx[pl*p.inSp:][:p.inSp]
			arg := s.arg[pl*p.outSp:][:p.outSp]
			for o, g := range dy[pl*p.outSp:][:p.outSp] {
				if a := arg[o]; a >= 0 {
					d[a] += g
				}
			}
		}
	})
	return din, nil
}

// poolAvgSaved is what AveragePool's backward needs: the geometry and each
// output position's divisor (0 for a window with no input tap).
type poolAvgSaved struct {
	p   *poolGrad
	div []float64
}

// avgDivisors returns each output position's divisor, as avgPool
// computes it.
func (p *poolGrad) avgDivisors(inclPad bool) []float64 {
	div := make([]float64, p.outSp)
	if p.twoD {
		for oy := 0; oy < p.oh; oy++ {
			for ox := 0; ox < p.ow; ox++ {
				d := max(0, p.rows.k1[oy]-p.rows.k0[oy]) * max(0, p.cols.k1[ox]-p.cols.k0[ox])
				if inclPad {
					d = p.rows.padded[oy] * p.cols.padded[ox]
				}
				div[oy*p.ow+ox] = float64(d)
			}
		}
		return div
	}
	p.geom.forEachWindow(func(o int, w *poolWindow) {
		div[o] = float64(len(w.offs))
		if inclPad {
			div[o] = float64(w.padded)
		}
	})
	return div
}

func avgPoolGradForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	p, out, err := poolGradStart(c, n, in, inferPool)
	if p == nil {
		return out, nil, err
	}
	s := &poolAvgSaved{p: p, div: p.avgDivisors(n.AttrInt("count_include_pad", 0) == 1)}
	g := p.pool2D()
	if g == nil {
		out, err := EvalNode(n, in, c.limit)
		return out, s, err
	}
	y, err := ghNewF32(c, "AveragePool output", p.yShape, false) // the kernel writes every output
	if err != nil {
		return nil, nil, err
	}
	scale := make([]float32, p.outSp)
	for i, d := range s.div {
		scale[i] = float32(1 / d) // +Inf for no taps: 0·Inf is NaN, as 0/0
	}
	x, yd := in[0].F32(), y.F32()
	per, tasks := p.planeTasks()
	simd.ForEach(c.par, tasks, func(lo, hi int) {
		tb := ghGetBuf(g.TempLen())
		for pl := lo * per; pl < min(p.planes, hi*per); pl += per {
			cnt := min(per, p.planes-pl)
			c.k.AvgPool2D(yd[pl*p.outSp:(pl+cnt)*p.outSp], x[pl*p.inSp:(pl+cnt)*p.inSp], *tb, scale, cnt, g)
		}
		ghPutBuf(tb)
	})
	return []*ir.Tensor{y}, s, nil
}

func avgPoolGradBackward(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	if !ghNeeds(need, 0) {
		return make([]*ir.Tensor, len(in)), nil
	}
	if err := ghNeedF32(in); err != nil {
		return nil, err
	}
	s, ok := saved.(*poolAvgSaved)
	if !ok {
		p, err := planPoolGrad(n, in[0].Shape)
		if err != nil {
			return nil, err
		}
		s = &poolAvgSaved{p: p, div: p.avgDivisors(n.AttrInt("count_include_pad", 0) == 1)}
	}
	p := s.p
	dy, err := ghDout(dout, 0, p.yShape)
	if err != nil {
		return nil, err
	}
	din := ghZeros(c, in, need)
	if dy == nil {
		return din, nil
	}
	dx := din[0].F32()
	if !p.twoD {
		p.geom.forEachWindow(func(o int, w *poolWindow) {
			if s.div[o] == 0 {
				return
			}
			for pl := 0; pl < p.planes; pl++ {
				g := float32(float64(dy[pl*p.outSp+o]) / s.div[o])
				d := dx[pl*p.inSp:][:p.inSp]
				for _, off := range w.offs {
					d[off] += g
				}
			}
		})
		return din, nil
	}
	// Each output's gradient over its divisor, then tap by tap: tap
	// (ky, kx) of outputs (oy, ox) with ox in [lo, hi) adds a run of them
	// to input row oy·sh - pt + ky·dh at columns ox·sw - pl + kx·dw
	// (a vector add when sw is 1).
	oxLo, oxHi := make([]int, p.kw()), make([]int, p.kw())
	for kx := range oxLo {
		oxLo[kx], oxHi[kx] = p.ow, 0
		for ox := 0; ox < p.ow; ox++ {
			if p.cols.k0[ox] <= kx && kx < p.cols.k1[ox] {
				oxLo[kx], oxHi[kx] = min(oxLo[kx], ox), max(oxHi[kx], ox+1)
			}
		}
	}
	per, tasks := p.planeTasks()
	simd.ForEach(c.par, tasks, func(lo, hi int) {
		gb := ghGetBuf(p.outSp)
		gs := *gb
		oh, ow, w, sh, sw, dh, dw, pt, pl := p.oh, p.ow, p.w, p.sh, p.sw, p.dh, p.dw, p.pt, p.pl
		rk0, rk1 := p.rows.k0, p.rows.k1
		for q := lo * per; q < min(p.planes, hi*per); q++ {
			d := dx[q*p.inSp:][:p.inSp]
			for o, g := range dy[q*p.outSp:][:p.outSp] {
				if dv := s.div[o]; dv != 0 {
					gs[o] = float32(float64(g) / dv)
				} else {
					gs[o] = 0
				}
			}
			for oy := 0; oy < oh; oy++ {
				iyb := oy*sh - pt
				for ky := rk0[oy]; ky < rk1[oy]; ky++ {
					rs := (iyb + ky*dh) * w
					for kx, a := range oxLo {
						b := oxHi[kx]
						if a >= b {
							continue
						}
						src := gs[oy*ow+a : oy*ow+b]
						start := rs + a*sw - pl + kx*dw
						if sw == 1 {
							c.k.AddTo(d[start:start+len(src)], src)
							continue
						}
						dd := d[start : start+(len(src)-1)*sw+1]
						for i, v := range src {
							dd[i*sw] += v
						}
					}
				}
			}
		}
		ghPutBuf(gb)
	})
	return din, nil
}

// poolGlobalPlanes returns the number of N×C planes and their size for a
// global pooling input (rank >= 2).
func poolGlobalPlanes(x []int) (planes, size int, err error) {
	if len(x) < 2 {
		return 0, 0, fmt.Errorf("input has shape %v; global pooling needs N x C x D1 x ... (rank 2 or more)", x)
	}
	return x[0] * x[1], prod(x[2:]), nil
}

// poolGlobalShape returns the output shape of global pooling input x:
// x with every spatial extent 1.
func poolGlobalShape(x []int) []int {
	y := append([]int(nil), x...)
	for i := 2; i < len(y); i++ {
		y[i] = 1
	}
	return y
}

func globalAvgGradBackward(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	if !ghNeeds(need, 0) {
		return make([]*ir.Tensor, len(in)), nil
	}
	if err := ghNeedF32(in); err != nil {
		return nil, err
	}
	planes, size, err := poolGlobalPlanes(in[0].Shape)
	if err != nil {
		return nil, err
	}
	yShape := poolGlobalShape(in[0].Shape)
	dy, err := ghDout(dout, 0, yShape)
	if err != nil {
		return nil, err
	}
	if dy == nil || size == 0 {
		return ghZeros(c, in, need), nil
	}
	din := ghGrads(c, in, need, false) // every plane is filled
	dx := din[0].F32()
	per := max(1, (1<<16)/size)
	simd.ForEach(c.par, winCeilDiv(planes, per), func(lo, hi int) {
		for pl := lo * per; pl < min(planes, hi*per); pl++ {
			v := float32(float64(dy[pl]) / float64(size))
			d := dx[pl*size : (pl+1)*size]
			for i := range d {
				d[i] = v
			}
		}
	})
	return din, nil
}

// poolGlobalMaxSaved is GlobalMaxPool's argmax per plane (-1: empty plane).
type poolGlobalMaxSaved struct {
	arg []int
}

func globalMaxGradForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	if len(in) < 1 || in[0] == nil || in[0].DType != ir.Float32 {
		out, err := EvalNode(n, in, c.limit)
		return out, nil, err
	}
	if _, err := inferGlobalPool(n, argsOf(in)); err != nil {
		return nil, nil, err
	}
	planes, size, err := poolGlobalPlanes(in[0].Shape)
	if err != nil {
		return nil, nil, err
	}
	yShape := poolGlobalShape(in[0].Shape)
	y, err := ghNewF32(c, "GlobalMaxPool output", yShape, false) // a value per plane
	if err != nil {
		return nil, nil, err
	}
	s := &poolGlobalMaxSaved{arg: make([]int, planes)}
	x, yd := in[0].F32(), y.F32()
	per := max(1, (1<<16)/max(1, size))
	simd.ForEach(c.par, winCeilDiv(planes, per), func(lo, hi int) {
		for pl := lo * per; pl < min(planes, hi*per); pl++ {
			best, at := float32(math.Inf(-1)), -1
			for i, v := range x[pl*size : (pl+1)*size] {
				if at < 0 || v > best || (v != v && best == best) {
					best, at = v, i
				}
			}
			yd[pl], s.arg[pl] = best, at
		}
	})
	return []*ir.Tensor{y}, s, nil
}

func globalMaxGradBackward(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	if !ghNeeds(need, 0) {
		return make([]*ir.Tensor, len(in)), nil
	}
	s, ok := saved.(*poolGlobalMaxSaved)
	if !ok {
		if err := ghNeedF32(in); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("GlobalMaxPool backward without its forward's argmax")
	}
	_, size, err := poolGlobalPlanes(in[0].Shape)
	if err != nil {
		return nil, err
	}
	dy, err := ghDout(dout, 0, out[0].Shape)
	if err != nil {
		return nil, err
	}
	din := ghZeros(c, in, need)
	if dy == nil {
		return din, nil
	}
	dx := din[0].F32()
	for pl, a := range s.arg {
		if a >= 0 {
			dx[pl*size+a] += dy[pl]
		}
	}
	return din, nil
}
