package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Backward mode for BatchNormalization (float32), a task per channel on
// the tier's vector kernels (ScaleBiasAct, AddTo, Gemv dot products).
//
// Inference semantics (gradCtx.training false): the running statistics
// are constants, y = scale·(x - mean)/sqrt(var + eps) + B, so
//
//	dX = dY·scale/sqrt(var+eps), dscale = Σ dY·x̂, dB = Σ dY
//
// with sums over N and the spatial axes, x̂ = (x - mean)/sqrt(var + eps).
//
// Training semantics (gradCtx.training true): the statistics are the
// batch's, over N and the spatial axes; the mean and the biased variance
// σ² normalise. With m the count per channel and x̂ the normalised input
// (kept by forward),
//
//	dX = scale/sqrt(σ²+eps) · (dY - Σ dY/m - x̂·Σ dY·x̂/m)
//
// and forward updates the running statistics in place, as PyTorch does:
// running_mean = momentum·running_mean + (1-momentum)·batch_mean and
// running_var = momentum·running_var + (1-momentum)·unbiased batch
// variance (σ²·m/(m-1)). ONNX's momentum is PyTorch's 1 - momentum
// (default 0.9). The optional outputs running_mean and running_var
// (opset 14+) are the updated statistics (the unchanged ones in
// inference). Gradients flow to X, scale and B only.

func init() {
	registerGrad("BatchNormalization", gradOp{forward: bnGradForward, backward: bnGradBackward, diff: []int{0, 1, 2}})
}

// bnGather is the plane size below which a channel's values are first
// gathered into one contiguous run (per-plane kernel calls would cost
// more than they compute).
var bnGather = 32

// bnGrad is a validated float32 BatchNormalization.
type bnGrad struct {
	batch, ch, inner int // X is batch × ch × inner (a rank-1 X has ch 1)
	eps, momentum    float64
	training         bool
	// Training: per channel, the batch mean and 1/sqrt(σ²+eps), and x̂.
	mean, invstd []float64
	xhat         []float32
}

func planBNGrad(n *ir.Node, in []*ir.Tensor) (*bnGrad, error) {
	if len(in) < 5 {
		return nil, fmt.Errorf("BatchNormalization needs 5 inputs (X, scale, B, input_mean, input_var), got %d", len(in))
	}
	for i, t := range in[:5] {
		if t == nil {
			return nil, fmt.Errorf("required input %d is missing", i)
		}
		if t.DType != ir.Float32 {
			return nil, fmt.Errorf("input %d is %v, want float32", i, t.DType)
		}
	}
	x := in[0].Shape
	if len(x) < 1 {
		return nil, fmt.Errorf("X is a scalar; BatchNormalization needs N x C x ... or N")
	}
	c := normChannels(x)
	if err := normCheckParams(argsOf(in), bnParamNames, 1, c); err != nil {
		return nil, err
	}
	if len(n.Outputs) > 3 {
		return nil, fmt.Errorf("has %d outputs; backward mode takes at most 3 (Y, running_mean, running_var): %w", len(n.Outputs), ErrUnsupported)
	}
	g := &bnGrad{batch: x[0], ch: c, inner: 1,
		eps: float64(n.AttrFloat("epsilon", 1e-5)), momentum: float64(n.AttrFloat("momentum", 0.9))}
	if len(x) > 2 {
		g.inner = prod(x[2:])
	}
	if !ghMulFits(g.batch, g.ch, g.inner) {
		return nil, fmt.Errorf("X %v is too large for backward mode: %w", x, ir.ErrTooLarge)
	}
	return g, nil
}

// runs returns channel c's values of t (batch × ch × inner) as runs:
// the planes themselves, or one run gathered into buf (bnGather).
func (g *bnGrad) runs(k *simd.Kernels, t []float32, c int, buf []float32) [][]float32 {
	if g.inner < bnGather {
		k.Gather(buf, t[c*g.inner:], g.batch, g.inner, g.inner, g.ch*g.inner, 1)
		return [][]float32{buf[:g.batch*g.inner]}
	}
	r := make([][]float32, g.batch)
	for b := range r {
		r[b] = t[(b*g.ch+c)*g.inner:][:g.inner]
	}
	return r
}

// scatter writes a gathered run back to channel c of t (see runs).
func (g *bnGrad) scatter(k *simd.Kernels, t []float32, c int, run []float32) {
	if g.inner < bnGather {
		k.Gather(t[c*g.inner:], run, g.batch, g.inner, g.ch*g.inner, g.inner, 1)
	}
}

// bnSum is Σ over runs of Σ a·b (b nil: Σ a), float32 dots summed in
// float64.
func bnSum(k *simd.Kernels, a, b [][]float32, ones, y1 []float32) float64 {
	s := 0.0
	for i, r := range a {
		o := ones
		if b != nil {
			o = b[i]
		}
		s += float64(ghDot(k, r, o, y1))
	}
	return s
}

func bnGradForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	if !c.training && !ghAllF32(in) {
		out, err := EvalNode(n, in, c.limit)
		return out, nil, err
	}
	g, err := planBNGrad(n, in)
	if err != nil {
		return nil, nil, err
	}
	g.training = c.training
	cnt := g.batch * g.inner
	if g.training && cnt < 2 {
		return nil, nil, fmt.Errorf("training-mode BatchNormalization needs more than one value per channel, X %v has %d", in[0].Shape, cnt)
	}
	y, err := ghNewF32(c, "BatchNormalization output", in[0].Shape, false) // every channel is written
	if err != nil {
		return nil, nil, err
	}
	x, yd := in[0].F32(), y.F32()
	scale, bias := in[1].F32(), in[2].F32()
	rm, rv := in[3].F32(), in[4].F32()
	k := c.k
	if !g.training {
		chans := g.ch
		if cnt == 0 {
			chans = 0 // nothing to compute
		}
		simd.ForEach(c.par, chans, func(lo, hi int) {
			xb, yb := ghGetBuf(cnt), ghGetBuf(cnt)
			for ch := lo; ch < hi; ch++ {
				a := float64(scale[ch]) / math.Sqrt(float64(rv[ch])+g.eps)
				b := float64(bias[ch]) - float64(rm[ch])*a
				xr, yr := g.runs(k, x, ch, *xb), g.runs(k, yd, ch, *yb)
				for i := range xr {
					k.ScaleBiasAct(yr[i], xr[i], float32(a), float32(b), simd.Act{})
				}
				g.scatter(k, yd, ch, yr[0])
			}
			ghPutBuf(xb, yb)
		})
		out := []*ir.Tensor{y}
		for i := 1; i < len(n.Outputs); i++ {
			out = append(out, in[2+i].Clone())
		}
		return out, g, nil
	}
	if err := ghCheckLimit(c, "BatchNormalization saved x̂", in[0].Shape); err != nil {
		return nil, nil, err
	}
	g.mean, g.invstd = make([]float64, g.ch), make([]float64, g.ch)
	g.xhat = c.floats(len(x), false) // every channel is written
	bvar := make([]float64, g.ch)
	ones := ghOnes(min(cnt, max(g.inner, bnGather*g.batch)))
	simd.ForEach(c.par, g.ch, func(lo, hi int) {
		xb, hb, yb := ghGetBuf(cnt), ghGetBuf(cnt), ghGetBuf(cnt)
		y1 := make([]float32, 1)
		for ch := lo; ch < hi; ch++ {
			xr := g.runs(k, x, ch, *xb)
			hr := g.runs(k, g.xhat, ch, *hb)
			yr := g.runs(k, yd, ch, *yb)
			mean := bnSum(k, xr, nil, ones, y1) / float64(cnt)
			// Two passes: x - mean into x̂'s storage, its squares summed.
			sq := 0.0
			for i := range xr {
				k.ScaleBiasAct(hr[i], xr[i], 1, float32(-mean), simd.Act{})
				sq += float64(ghDot(k, hr[i], hr[i], y1))
			}
			v := sq / float64(cnt)
			inv := 1 / math.Sqrt(v+g.eps)
			for i := range hr {
				k.ScaleBiasAct(hr[i], hr[i], float32(inv), 0, simd.Act{})
				k.ScaleBiasAct(yr[i], hr[i], scale[ch], bias[ch], simd.Act{})
			}
			g.scatter(k, g.xhat, ch, hr[0])
			g.scatter(k, yd, ch, yr[0])
			g.mean[ch], g.invstd[ch], bvar[ch] = mean, inv, v
		}
		ghPutBuf(xb, hb, yb)
	})
	// The running statistics, in place (unbiased variance).
	mom := g.momentum
	for ch := 0; ch < g.ch; ch++ {
		rm[ch] = float32(mom*float64(rm[ch]) + (1-mom)*g.mean[ch])
		rv[ch] = float32(mom*float64(rv[ch]) + (1-mom)*bvar[ch]*float64(cnt)/float64(cnt-1))
	}
	out := []*ir.Tensor{y}
	for i := 1; i < len(n.Outputs); i++ {
		out = append(out, in[2+i].Clone())
	}
	return out, g, nil
}

func bnGradBackward(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	if !ghNeeds(need, 0) && !ghNeeds(need, 1) && !ghNeeds(need, 2) {
		return make([]*ir.Tensor, len(in)), nil
	}
	if err := ghNeedF32(in); err != nil {
		return nil, err
	}
	g, ok := saved.(*bnGrad)
	if !ok {
		if c.training {
			return nil, fmt.Errorf("training-mode BatchNormalization backward without its forward's batch statistics")
		}
		var err error
		if g, err = planBNGrad(n, in); err != nil {
			return nil, err
		}
	}
	dy, err := ghDout(dout, 0, in[0].Shape)
	if err != nil {
		return nil, err
	}
	// Nothing to compute: zeros. Otherwise every channel of each wanted
	// gradient is written.
	zero := dy == nil || g.batch*g.inner == 0
	din := make([]*ir.Tensor, len(in))
	for i := 0; i < 3; i++ {
		if ghNeeds(need, i) {
			din[i] = c.shaped(in[i], zero)
		}
	}
	if zero {
		return din, nil
	}
	var dx, dscale, dbias []float32
	if din[0] != nil {
		dx = din[0].F32()
	}
	if din[1] != nil {
		dscale = din[1].F32()
	}
	if din[2] != nil {
		dbias = din[2].F32()
	}
	x := in[0].F32()
	scale, rm, rv := in[1].F32(), in[3].F32(), in[4].F32()
	cnt := g.batch * g.inner
	k := c.k
	ones := ghOnes(min(cnt, max(g.inner, bnGather*g.batch)))
	simd.ForEach(c.par, g.ch, func(lo, hi int) {
		db, hb, xb := ghGetBuf(cnt), ghGetBuf(cnt), ghGetBuf(cnt)
		y1 := make([]float32, 1)
		for ch := lo; ch < hi; ch++ {
			dr := g.runs(k, dy, ch, *db)
			var inv float64
			var hr [][]float32 // x̂
			if g.training {
				inv = g.invstd[ch]
				hr = g.runs(k, g.xhat, ch, *hb)
			} else {
				inv = 1 / math.Sqrt(float64(rv[ch])+g.eps)
				if dscale != nil {
					xr := g.runs(k, x, ch, *xb)
					hr = make([][]float32, len(xr))
					hbuf := *hb
					for i, r := range xr {
						hr[i] = hbuf[:len(r)]
						hbuf = hbuf[len(r):]
						k.ScaleBiasAct(hr[i], r, float32(inv), float32(-float64(rm[ch])*inv), simd.Act{})
					}
				}
			}
			var sdy, sdx float64
			if dbias != nil || (g.training && dx != nil) {
				sdy = bnSum(k, dr, nil, ones, y1)
			}
			if dscale != nil || (g.training && dx != nil) {
				sdx = bnSum(k, dr, hr, ones, y1)
			}
			if dbias != nil {
				dbias[ch] = float32(sdy)
			}
			if dscale != nil {
				dscale[ch] = float32(sdx)
			}
			if dx == nil {
				continue
			}
			a := float32(float64(scale[ch]) * inv)
			// dX's runs: in dx itself, or gathered into xb.
			xr := g.runs(k, dx, ch, *xb)
			for i := range dr {
				if !g.training {
					k.ScaleBiasAct(xr[i], dr[i], a, 0, simd.Act{})
					continue
				}
				// a·(dY - Σ dY/m - x̂·Σ dY·x̂/m)
				k.ScaleBiasAct(xr[i], hr[i], float32(-sdx/float64(cnt)), float32(-sdy/float64(cnt)), simd.Act{})
				k.AddTo(xr[i], dr[i])
				k.ScaleBiasAct(xr[i], xr[i], a, 0, simd.Act{})
			}
			g.scatter(k, dx, ch, xr[0])
		}
		ghPutBuf(db, hb, xb)
	})
	return din, nil
}
