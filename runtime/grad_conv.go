package runtime

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Backward mode for Conv (1-D and 2-D, NCHW, float32), on the session's
// SIMD tier.
//
// Forward packs the weights (PrepareConv: they change every step) and
// runs the tier's batched convolution. Backward, per group:
//
//	dX = col2im(W_gᵀ · dY_g)      a GEMM per segment of output positions,
//	                              whose columns are added back into dX
//	                              (pointwise: the GEMM writes dX itself)
//	dW_g = Σ dY_g · colᵀ          a GEMM whose B operand (the transposed
//	                              im2col matrix) is packed from a
//	                              channels-last copy of the rows of X the
//	                              segment reads; pointwise layers with
//	                              few channels use Gemv on X and dY as
//	                              they are (no packing), layers with few
//	                              im2col rows Gemv on pieces of them
//	dB = Σ dY                     row sums (Gemv with a vector of ones)
//
// The output positions of the batch are cut into segments (runs of whole
// images, or pieces of one image when an image alone would need too much
// scratch); segments run in parallel when their dX writes cannot overlap,
// each with its own partial dW summed in segment order. Depthwise
// convolutions (group = C = M) skip the GEMMs: dX is, per vertical stride
// phase of its rows, a depthwise convolution of dY (spread by the
// horizontal stride) with the taps that reach those rows (the tier's
// DWConv), and dW a dot product per tap (Gemv) of dY with the stride
// phase planes of X, over several images at once when the planes are
// small.
//
// Outputs and gradients come from the step's buffer pool (grad_mem.go)
// without clearing wherever every element is written.

func init() {
	registerGrad("Conv", gradOp{forward: convGradForward, backward: convGradBackward, diff: []int{0, 1, 2}})
}

// Helpers shared by the heavy gradient ops (grad_conv.go, grad_gemm.go,
// grad_pool.go, grad_norm.go).

// ghBufPool holds float32 scratch buffers (*[]float32) reused across
// tasks and steps. Buffers come back with stale contents.
var ghBufPool = sync.Pool{New: func() any { return new([]float32) }}

// ghGetBuf returns a pooled buffer of length n (contents undefined).
func ghGetBuf(n int) *[]float32 {
	b := ghBufPool.Get().(*[]float32)
	if cap(*b) < n {
		*b = make([]float32, n)
	}
	*b = (*b)[:n]
	return b
}

// ghPutBuf returns buffers to the pool.
func ghPutBuf(bufs ...*[]float32) {
	for _, b := range bufs {
		if b != nil {
			ghBufPool.Put(b)
		}
	}
}

// ghNewF32 takes a float32 tensor of shape from the step's pool (zeroed
// when zero is set; otherwise the caller writes every element), failing
// when it exceeds the step's element limit.
func ghNewF32(c *gradCtx, what string, shape []int, zero bool) (*ir.Tensor, error) {
	return c.newF32(what, shape, zero)
}

// ghCheckLimit fails when a tensor of shape would exceed the step's
// element limit.
func ghCheckLimit(c *gradCtx, what string, shape []int) error {
	cnt, err := ir.NumElements(shape)
	if err != nil {
		return fmt.Errorf("%s of shape %v: %w", what, shape, err)
	}
	if c.limit > 0 && cnt > c.limit {
		return fmt.Errorf("%s has shape %s (%d elements), above the limit of %d: %w",
			what, ir.FormatShape(shape), cnt, c.limit, ir.ErrTooLarge)
	}
	return nil
}

// ghAllF32 reports whether every present input is float32.
func ghAllF32(in []*ir.Tensor) bool {
	for _, t := range in {
		if t != nil && t.DType != ir.Float32 {
			return false
		}
	}
	return true
}

// ghNeeds reports whether need asks for input i.
func ghNeeds(need []bool, i int) bool { return i < len(need) && need[i] }

// ghAnyNeed reports whether need asks for any input.
func ghAnyNeed(need []bool) bool { return slices.Contains(need, true) }

// ghDout returns the data of the gradient of output i, checked against
// the output's shape; nil when nothing depends on the output.
func ghDout(dout []*ir.Tensor, i int, shape []int) ([]float32, error) {
	if i >= len(dout) || dout[i] == nil {
		return nil, nil
	}
	d := dout[i]
	if d.DType != ir.Float32 || !slices.Equal(d.Shape, shape) {
		return nil, fmt.Errorf("gradient of output %d is %v %v, want float32 %v", i, d.DType, d.Shape, shape)
	}
	return d.F32(), nil
}

// ghNeedF32 is backward's error when a gradient is asked for an op whose
// forward ran on non-float32 data.
func ghNeedF32(in []*ir.Tensor) error {
	for i, t := range in {
		if t != nil && t.DType != ir.Float32 {
			return fmt.Errorf("input %d is %v: gradients are computed for float32 tensors only: %w", i, t.DType, ErrUnsupported)
		}
	}
	return nil
}

// ghZeros returns zero gradients for the needed inputs, from the step's
// pool.
func ghZeros(c *gradCtx, in []*ir.Tensor, need []bool) []*ir.Tensor {
	return ghGrads(c, in, need, true)
}

// ghGrads returns gradient tensors for the needed inputs from the step's
// pool: zeroed when zero is set, otherwise with unspecified contents that
// the caller overwrites.
func ghGrads(c *gradCtx, in []*ir.Tensor, need []bool, zero bool) []*ir.Tensor {
	din := make([]*ir.Tensor, len(in))
	for i, t := range in {
		if t != nil && ghNeeds(need, i) {
			din[i] = c.shaped(t, zero)
		}
	}
	return din
}

// ghOnes returns n ones.
func ghOnes(n int) []float32 {
	o := make([]float32, n)
	for i := range o {
		o[i] = 1
	}
	return o
}

// ghDot is Σ a[i]·b[i] over len(a) elements (b at least as long) with the
// tier's vector kernel; y1 is one float of scratch.
func ghDot(k *simd.Kernels, a, b, y1 []float32) float32 {
	n := len(a)
	if n == 0 {
		return 0
	}
	k.Gemv(y1[:1], 1, a, n, b[:n], n, 1, 1, n)
	return y1[0]
}

// ghRowSums adds, for each of rows rows of each of batch blocks (block b,
// row r at data[(b·rows+r)·inner:], inner elements), the row's sum to
// out[r] (float64). It runs the tier's Gemv against a vector of ones.
func ghRowSums(k *simd.Kernels, par simd.Parallel, data []float32, batch, rows, inner int, out []float64) {
	if batch == 0 || rows == 0 || inner == 0 {
		return
	}
	ones := ghOnes(inner)
	part := make([]float32, batch*rows)
	simd.ForEach(par, batch, func(lo, hi int) {
		for b := lo; b < hi; b++ {
			k.Gemv(part[b*rows:(b+1)*rows], rows, data[b*rows*inner:(b+1)*rows*inner], inner, ones, inner, 1, rows, inner)
		}
	})
	for b := 0; b < batch; b++ {
		for r, v := range part[b*rows : (b+1)*rows] {
			out[r] += float64(v)
		}
	}
}

// convGrad is a validated 2-D convolution (a 1-D one has H = KH = 1) with
// what its backward needs.
type convGrad struct {
	batch, c, h, w, m, oh, ow      int
	kh, kw, sh, sw, dh, dw, pt, pl int
	group, cg, mg, ksz, r, p       int // r = cg·KH·KW (im2col rows), p = OH·OW
	// oxLo[kx] <= ox < oxHi[kx] are the output columns whose input column
	// for tap column kx lies inside the image.
	oxLo, oxHi []int
	pointwise  bool // 1×1, stride 1, no padding: im2col is X itself
	depthwise  bool // group = C = M
	params     simd.ConvParams
	yShape     []int
}

// planConvGrad validates a float32 Conv node for backward mode.
func planConvGrad(n *ir.Node, in []*ir.Tensor) (*convGrad, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("Conv needs inputs X and W")
	}
	cp, err := planConv(n, argsOf(in))
	if err != nil {
		return nil, err
	}
	x, w := in[0].Shape, in[1].Shape
	if len(x) != 3 && len(x) != 4 {
		return nil, fmt.Errorf("X has shape %v: backward mode handles 1-D and 2-D convolutions (rank 3 or 4): %w", x, ErrUnsupported)
	}
	g := cp.geom
	pl := &convGrad{batch: x[0], c: x[1], m: w[0], group: cp.group, yShape: cp.out}
	if len(x) == 4 {
		pl.h, pl.w, pl.oh, pl.ow = g.in[0], g.in[1], g.out[0], g.out[1]
		pl.kh, pl.kw, pl.sh, pl.sw, pl.dh, pl.dw = g.kernel[0], g.kernel[1], g.stride[0], g.stride[1], g.dil[0], g.dil[1]
		pl.pt, pl.pl = g.padB[0], g.padB[1]
		pl.params = simd.ConvParams{PadTop: g.padB[0], PadLeft: g.padB[1], PadBottom: g.padE[0], PadRight: g.padE[1]}
	} else {
		pl.h, pl.w, pl.oh, pl.ow = 1, g.in[0], 1, g.out[0]
		pl.kh, pl.kw, pl.sh, pl.sw, pl.dh, pl.dw = 1, g.kernel[0], 1, g.stride[0], 1, g.dil[0]
		pl.pl = g.padB[0]
		pl.params = simd.ConvParams{PadLeft: g.padB[0], PadRight: g.padE[0]}
	}
	p := &pl.params
	p.C, p.H, p.W, p.M, p.KH, p.KW = pl.c, pl.h, pl.w, pl.m, pl.kh, pl.kw
	p.StrideH, p.StrideW, p.DilH, p.DilW, p.Group = pl.sh, pl.sw, pl.dh, pl.dw, pl.group
	if pl.h == 0 || pl.w == 0 || pl.c == 0 || pl.m == 0 || pl.oh == 0 || pl.ow == 0 {
		return nil, fmt.Errorf("X %v, W %v: empty channel or spatial axes are not supported in backward mode: %w", x, w, ErrUnsupported)
	}
	if oh, ow := p.OutSize(); oh != pl.oh || ow != pl.ow {
		return nil, fmt.Errorf("output size %d×%d disagrees with the kernel geometry %d×%d", pl.oh, pl.ow, oh, ow)
	}
	pl.cg, pl.mg = pl.c/pl.group, pl.m/pl.group
	pl.ksz = pl.kh * pl.kw
	pl.r, pl.p = pl.cg*pl.ksz, pl.oh*pl.ow
	// Bound the products the index arithmetic and scratch use.
	if !ghMulFits(pl.batch, pl.c, pl.h, pl.w) || !ghMulFits(pl.batch, pl.m, pl.p) || !ghMulFits(pl.r, pl.p) ||
		!ghMulFits(pl.h+(pl.kh-1)*pl.dh+1, pl.w+(pl.kw-1)*pl.dw+1) || !ghMulFits(pl.oh, pl.sh+pl.h) || !ghMulFits(pl.ow, pl.sw+pl.w) {
		return nil, fmt.Errorf("X %v, W %v: sizes too large for backward mode: %w", x, w, ir.ErrTooLarge)
	}
	pl.pointwise = pl.kh == 1 && pl.kw == 1 && pl.sh == 1 && pl.sw == 1 &&
		p.PadTop == 0 && p.PadLeft == 0 && p.PadBottom == 0 && p.PadRight == 0
	pl.depthwise = pl.group == pl.c && pl.m == pl.c
	pl.oxLo, pl.oxHi = make([]int, pl.kw), make([]int, pl.kw)
	for kx := range pl.kw {
		off := kx*pl.dw - pl.pl // input column of ox = 0
		lo := 0
		if off < 0 {
			lo = winCeilDiv(-off, pl.sw)
		}
		hi := 0
		if pl.w-off > 0 {
			hi = winCeilDiv(pl.w-off, pl.sw)
		}
		lo = min(lo, pl.ow)
		pl.oxLo[kx], pl.oxHi[kx] = lo, min(max(hi, lo), pl.ow)
	}
	return pl, nil
}

// ghMulFits reports whether the product of vals (all >= 0) stays below
// 2^31 (so that int arithmetic on it is safe on every platform and
// buffers of that many floats are plausible).
func ghMulFits(vals ...int) bool {
	const limit = math.MaxInt32
	n := 1
	for _, v := range vals {
		if v == 0 {
			return true
		}
	}
	for _, v := range vals {
		if v < 0 || n > limit/v {
			return false
		}
		n *= v
	}
	return true
}

func convGradForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	if !ghAllF32(in) {
		out, err := EvalNode(n, in, c.limit)
		return out, nil, err
	}
	pl, err := planConvGrad(n, in)
	if err != nil {
		return nil, nil, err
	}
	y, err := ghNewF32(c, "Conv output", pl.yShape, false) // Run writes every element
	if err != nil {
		return nil, nil, err
	}
	var bias []float32
	if len(in) > 2 && in[2] != nil {
		bias = in[2].F32()
	}
	pc, err := c.k.PrepareConv(pl.params, in[1].F32(), bias)
	if err != nil {
		return nil, nil, fmt.Errorf("Conv: %w", err)
	}
	if err := pc.Run(in[0].F32(), y.F32(), nil, simd.Act{}, c.par); err != nil {
		return nil, nil, fmt.Errorf("Conv: %w", err)
	}
	return []*ir.Tensor{y}, pl, nil
}

func convGradBackward(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	if !ghAnyNeed(need) {
		return make([]*ir.Tensor, len(in)), nil
	}
	if err := ghNeedF32(in); err != nil {
		return nil, err
	}
	pl, ok := saved.(*convGrad)
	if !ok {
		var err error
		if pl, err = planConvGrad(n, in); err != nil {
			return nil, err
		}
	}
	dy, err := ghDout(dout, 0, pl.yShape)
	if err != nil {
		return nil, err
	}
	if dy == nil || pl.batch == 0 {
		return ghZeros(c, in, need), nil
	}
	// dB and dW are written whole; dX is cleared by gemmGrad where it
	// accumulates.
	din := ghGrads(c, in, need, false)
	var dx, dw []float32
	if din[0] != nil {
		dx = din[0].F32()
	}
	if din[1] != nil {
		dw = din[1].F32()
	}
	if len(in) > 2 && din[2] != nil {
		sums := make([]float64, pl.m)
		ghRowSums(c.k, c.par, dy, pl.batch, pl.m, pl.p, sums)
		db := din[2].F32()
		for i, s := range sums {
			db[i] = float32(s)
		}
	}
	if dx == nil && dw == nil {
		return din, nil
	}
	x, w := in[0].F32(), in[1].F32()
	if pl.depthwise {
		pl.depthwiseGrad(c.k, c.par, x, w, dy, dx, dw)
	} else {
		pl.gemmGrad(c, x, w, dy, dx, dw)
	}
	return din, nil
}

// Segment sizes (variables so that tests can shrink them): segments have
// at least convSegMin positions, and at most about convSegFloats/r.
var (
	convSegMin    = 512
	convSegFloats = 1 << 21
)

// convSeg is a run of output positions of the batch: global positions
// [k0, k0+n), position q being image q/P, output pixel q%P. A segment is
// either a piece of one image or a run of whole images.
type convSeg struct{ k0, n int }

// segments cuts the batch's output positions into segments of about
// ceil(N·P / (4·threads)) positions (at least 512, and at most what keeps
// a segment's im2col-sized scratch near 2M floats).
func (pl *convGrad) segments(threads int) []convSeg {
	total := pl.batch * pl.p
	if total == 0 {
		return nil
	}
	want := max(convSegMin, winCeilDiv(total, 4*threads))
	want = min(want, max(convSegMin, convSegFloats/max(pl.r, pl.mg, 1)))
	var segs []convSeg
	if want >= pl.p {
		per := want / pl.p
		for img := 0; img < pl.batch; img += per {
			k := min(per, pl.batch-img)
			segs = append(segs, convSeg{img * pl.p, k * pl.p})
		}
		return segs
	}
	parts := winCeilDiv(pl.p, want)
	for img := 0; img < pl.batch; img++ {
		for i := 0; i < parts; i++ {
			a, b := pl.p*i/parts, pl.p*(i+1)/parts
			if b > a {
				segs = append(segs, convSeg{img*pl.p + a, b - a})
			}
		}
	}
	return segs
}

// wholeImages reports whether the segment is a run of whole images.
func (pl *convGrad) wholeImages(s convSeg) bool { return s.k0%pl.p == 0 && s.n%pl.p == 0 }

// dySeg returns group g's rows of dY over segment s as a matrix of mg
// rows (row stride ld): a view into dy for a piece of one image, or a
// copy into scratch for several images.
func (pl *convGrad) dySeg(dy []float32, g int, s convSeg, sc *convScratch) (data []float32, ld int) {
	img, pa := s.k0/pl.p, s.k0%pl.p
	if pa+s.n <= pl.p {
		off := (img*pl.m+g*pl.mg)*pl.p + pa
		return dy[off : off+(pl.mg-1)*pl.p+s.n], pl.p
	}
	b := sc.buf(&sc.dy, pl.mg*s.n)
	for i := 0; i < s.n/pl.p; i++ {
		for m := 0; m < pl.mg; m++ {
			src := dy[((img+i)*pl.m+g*pl.mg+m)*pl.p:][:pl.p]
			copy(b[m*s.n+i*pl.p:], src)
		}
	}
	return b, s.n
}

// gemmGrad computes dX and/or dW (nil: not wanted) of a convolution that
// is not depthwise, group by group.
//
// dx comes with unspecified contents: gemmGrad clears it unless the
// convolution is pointwise, where every element of dX is written exactly
// once (by a segment's GEMM, or copied from its columns by col2im).
func (pl *convGrad) gemmGrad(c *gradCtx, x, w, dy, dx, dw []float32) {
	k, par, mem := c.k, c.par, c.mem
	threads := simd.ThreadsOf(par)
	segs := pl.segments(threads)
	if dx != nil && !pl.pointwise {
		ghClear(par, dx)
	}
	if threads > 1 && pl.group >= 2*threads {
		// Many groups: a group per task, each run serially.
		simd.ForEach(par, pl.group, func(lo, hi int) {
			for g := lo; g < hi; g++ {
				pl.groupGrad(k, nil, mem, g, segs, x, w, dy, dx, dw)
			}
		})
		return
	}
	for g := 0; g < pl.group; g++ {
		pl.groupGrad(k, par, mem, g, segs, x, w, dy, dx, dw)
	}
}

// ghClear zeroes d, in parallel pieces when it is large.
func ghClear(par simd.Parallel, d []float32) {
	const piece = 1 << 16
	if len(d) < 2*piece || simd.ThreadsOf(par) < 2 {
		clear(d)
		return
	}
	simd.ForEach(par, (len(d)+piece-1)/piece, func(lo, hi int) {
		clear(d[lo*piece : min(len(d), hi*piece)])
	})
}

// convGemvMax is the largest mg·r for which a convolution's dW is
// computed by Gemv rather than by a GEMM (measured on avx512 for pointwise
// layers, whose Gemv reads X and dY as they are: Gemv is up to 9× faster
// for 32→16 channels, 15% faster at 96×576, 40% slower at 160×960), and
// convGemvPiece the most positions of one Gemv call there. Other layers
// take the Gemv only when their im2col rows are few (r at most
// convGemvMaxR: a first layer on 3 channels, whose dW GEMM would pack
// runs of 3 floats per tap), building them per piece.
var (
	convGemvMax   = 96 * 1024
	convGemvPiece = 2048
	convGemvMaxR  = 160
)

// groupGrad computes group g's part of dX and dW.
//
// Segments run in parallel (each product serial, dW summed from
// per-segment partials in segment order) when there are several threads,
// at least as many segments, and their dX writes cannot overlap (whole
// images, or a pointwise convolution); otherwise one after the other,
// each product split over the threads.
//
// dW's GEMM reads its B operand from a channels-last copy of X (see
// convBandB), which orders dW's columns tap-major; they are put back in
// ONNX order at the end. Layers with a small dW (pointwise ones, or ones
// with few im2col rows such as a first layer on 3 channels) use Gemv
// instead (dwGemv).
func (pl *convGrad) groupGrad(k *simd.Kernels, par simd.Parallel, mem *gradMem, g int, segs []convSeg, x, w, dy, dx, dw []float32) {
	mg, r := pl.mg, pl.r
	var wt *simd.PackedA
	if dx != nil {
		// W_gᵀ: r × mg, element (row, m) at wg[m·r + row].
		wt = k.PackAStrided(r, mg, w[g*mg*r:(g+1)*mg*r], 1, r)
	}
	var dwg []float32
	if dw != nil {
		dwg = dw[g*mg*r : (g+1)*mg*r]
		if mg*r <= convGemvMax && (pl.pointwise || r <= convGemvMaxR) {
			pl.dwGemv(k, par, mem, g, x, dy, dwg)
			dwg = nil
		}
	}
	if wt == nil && dwg == nil {
		return
	}
	threads := simd.ThreadsOf(par)
	whole := true
	for _, s := range segs {
		whole = whole && pl.wholeImages(s)
	}
	safe := pl.pointwise || wt == nil || whole
	if threads > 1 && len(segs) >= threads && safe && ghMulFits(len(segs), mg, r) && len(segs)*mg*r <= 1<<22 {
		var parts []float32
		if dwg != nil {
			parts = mem.get(len(segs)*mg*r, false) // each segment's GEMM writes its part
			defer mem.free(parts)
		}
		simd.ForEach(par, len(segs), func(lo, hi int) {
			sc := new(convScratch)
			for si := lo; si < hi; si++ {
				var part []float32
				if dwg != nil {
					part = parts[si*mg*r : (si+1)*mg*r]
				}
				pl.segGrad(k, nil, g, segs[si], wt, x, dy, dx, part, sc)
			}
			sc.put()
		})
		if dwg != nil {
			copy(dwg, parts[:mg*r])
			for si := 1; si < len(segs); si++ {
				k.AddTo(dwg, parts[si*mg*r:(si+1)*mg*r])
			}
		}
	} else {
		sc := new(convScratch)
		var tmp *[]float32
		if dwg != nil && len(segs) > 1 {
			tmp = ghGetBuf(mg * r)
		}
		for si, s := range segs {
			var part []float32
			if dwg != nil {
				part = dwg
				if si > 0 {
					part = *tmp
				}
			}
			pl.segGrad(k, par, g, s, wt, x, dy, dx, part, sc)
			if dwg != nil && si > 0 {
				k.AddTo(dwg, part)
			}
		}
		sc.put()
		ghPutBuf(tmp)
	}
	if dwg != nil && !pl.pointwise {
		// Columns tap·cg + c back to ONNX's c·KH·KW + tap.
		tb := ghGetBuf(mg * r)
		t := *tb
		copy(t, dwg)
		for m := 0; m < mg; m++ {
			src, dst := t[m*r:(m+1)*r], dwg[m*r:(m+1)*r]
			for tap := 0; tap < pl.ksz; tap++ {
				for c := 0; c < pl.cg; c++ {
					dst[c*pl.ksz+tap] = src[tap*pl.cg+c]
				}
			}
		}
		ghPutBuf(tb)
	}
}

// convScratch is one goroutine's scratch for segGrad.
type convScratch struct {
	dy, col, band *[]float32
}

func (sc *convScratch) put() { ghPutBuf(sc.dy, sc.col, sc.band) }

// buf returns *b resized to n, taking it from the pool first.
func (sc *convScratch) buf(b **[]float32, n int) []float32 {
	if *b == nil {
		*b = ghGetBuf(n)
	}
	**b = slices.Grow((**b)[:0], n)[:n]
	return **b
}

// segGrad computes segment s's contribution of group g: it adds to dX
// (when wt, W_gᵀ packed, is not nil) and sets dwPart (mg × r, when not
// nil) to the segment's part of dW_g (columns tap-major unless the
// convolution is pointwise).
func (pl *convGrad) segGrad(k *simd.Kernels, par simd.Parallel, g int, s convSeg, wt *simd.PackedA, x, dy, dx, dwPart []float32, sc *convScratch) {
	dys, ld := pl.dySeg(dy, g, s, sc)
	if wt != nil {
		b := &simd.DenseB{Data: dys, Stride: ld}
		img, pa := s.k0/pl.p, s.k0%pl.p
		if pl.pointwise && pa+s.n <= pl.p {
			// dX itself is the im2col matrix of a piece of one image.
			off := (img*pl.c+g*pl.cg)*pl.p + pa
			k.GemmPacked(wt, s.n, b, dx[off:off+(pl.cg-1)*pl.p+s.n], pl.p, simd.Epilogue{}, par)
		} else {
			col := sc.buf(&sc.col, pl.r*s.n)
			k.GemmPacked(wt, s.n, b, col, s.n, simd.Epilogue{}, par)
			pl.col2im(k, par, col, s.n, g, s, dx)
		}
	}
	if dwPart != nil {
		a := k.PackAStrided(pl.mg, s.n, dys, ld, 1)
		var src simd.BSource
		if pl.pointwise {
			src = &convColT{pl: pl, x: x, g: g, k0: s.k0}
		} else {
			src = pl.band(k, par, x, g, s, sc)
		}
		k.GemmPacked(a, pl.r, src, dwPart, pl.r, simd.Epilogue{}, par)
	}
}

// dwGemv sets dwg (mg × r) to dW of group g: dW[m, j] = Σ_positions
// dY[m, ·]·col[j, ·], with col the im2col matrix, a Gemv (the r rows of
// col against the mg rows of dY) per piece of at most convGemvPiece
// positions of an image, the pieces split into fixed parts summed in
// order. A pointwise convolution's col is X itself; otherwise each piece's
// rows are built first (im2colPiece).
func (pl *convGrad) dwGemv(k *simd.Kernels, par simd.Parallel, mem *gradMem, g int, x, dy, dwg []float32) {
	mg, cg, r, p := pl.mg, pl.cg, pl.r, pl.p
	per := winCeilDiv(p, convGemvPiece)
	items := pl.batch * per
	if items == 0 {
		return
	}
	nparts := min(items, 4*simd.ThreadsOf(par))
	parts := mem.get(nparts*mg*r, false) // each part's first Gemv writes it whole
	defer mem.free(parts)
	simd.ForEach(par, nparts, func(lo, hi int) {
		tb := ghGetBuf(mg * r)
		tmp := *tb
		var cb *[]float32
		if !pl.pointwise {
			cb = ghGetBuf(r * winCeilDiv(p, per))
		}
		for j := lo; j < hi; j++ {
			acc := parts[j*mg*r : (j+1)*mg*r]
			i0, i1 := j*items/nparts, (j+1)*items/nparts
			for it := i0; it < i1; it++ {
				img, pc := it/per, it%per
				a, b := p*pc/per, p*(pc+1)/per
				var cols []float32
				ldc := p
				if pl.pointwise {
					cols = x[(img*pl.c+g*cg)*p+a:][:(cg-1)*p+b-a]
				} else {
					ldc = b - a
					cols = (*cb)[:r*ldc]
					pl.im2colPiece(k, cols, x, img, g, a, b)
				}
				ds := dy[(img*pl.m+g*mg)*p+a:]
				dst := acc
				if it > i0 {
					dst = tmp
				}
				k.Gemv(dst, r, cols, ldc, ds[:(mg-1)*p+b-a], p, mg, r, b-a)
				if it > i0 {
					k.AddTo(acc, tmp)
				}
			}
		}
		ghPutBuf(tb, cb)
	})
	copy(dwg, parts[:mg*r])
	for j := 1; j < nparts; j++ {
		k.AddTo(dwg, parts[j*mg*r:(j+1)*mg*r])
	}
}

// im2colPiece writes into cols (r rows of b-a floats) the im2col rows of
// group g of image img over output positions [a, b): row (c·KH + ky)·KW +
// kx, column q holds the input value tap (ky, kx) of the group's channel c
// reads at position a+q (zero in the padding).
func (pl *convGrad) im2colPiece(k *simd.Kernels, cols, x []float32, img, g, a, b int) {
	n := b - a
	hw := pl.h * pl.w
	oy0, oy1 := a/pl.ow, (b-1)/pl.ow
	for ci := 0; ci < pl.cg; ci++ {
		plane := x[(img*pl.c+g*pl.cg+ci)*hw:][:hw]
		for tap := 0; tap < pl.ksz; tap++ {
			ky, kx := tap/pl.kw, tap%pl.kw
			row := cols[(ci*pl.ksz+tap)*n:][:n]
			xoff := kx*pl.dw - pl.pl
			lo, hi := pl.oxLo[kx], pl.oxHi[kx]
			for oy := oy0; oy <= oy1; oy++ {
				// Columns [c0, c1) of this output row are in the piece.
				c0, c1 := 0, pl.ow
				if oy == oy0 {
					c0 = a % pl.ow
				}
				if oy == oy1 {
					c1 = (b-1)%pl.ow + 1
				}
				dst := row[oy*pl.ow+c0-a : oy*pl.ow+c1-a]
				iy := oy*pl.sh - pl.pt + ky*pl.dh
				if iy < 0 || iy >= pl.h {
					clear(dst)
					continue
				}
				va, vb := min(max(lo, c0), c1), min(max(hi, c0), c1) // valid columns
				vb = max(va, vb)
				clear(dst[:va-c0])
				if vb > va {
					k.Gather(dst[va-c0:vb-c0], plane[iy*pl.w+va*pl.sw+xoff:], 1, vb-va, vb-va, 0, pl.sw)
				}
				clear(dst[vb-c0:])
			}
		}
	}
}

// band returns dW's B operand for group g over segment s: the input rows
// the segment's windows read, copied channels-last (see convBandB).
func (pl *convGrad) band(k *simd.Kernels, par simd.Parallel, x []float32, g int, s convSeg, sc *convScratch) *convBandB {
	img0, img1 := s.k0/pl.p, (s.k0+s.n-1)/pl.p
	lo, hi := 0, pl.h
	if img0 == img1 {
		oy0, oy1 := (s.k0%pl.p)/pl.ow, ((s.k0+s.n-1)%pl.p)/pl.ow
		lo = max(0, oy0*pl.sh-pl.pt)
		hi = min(pl.h, oy1*pl.sh-pl.pt+(pl.kh-1)*pl.dh+1)
	}
	b := &convBandB{pl: pl, k0: s.k0, img0: img0, lo: lo, rows: max(0, hi-lo)}
	cols := b.rows * pl.w // band positions per image
	per := cols * pl.cg
	band := sc.buf(&sc.band, (img1-img0+1)*per)
	hw := pl.h * pl.w
	// Blocks of 16 channels × 256 positions per task.
	const cb, pb = 16, 256
	nc, np := winCeilDiv(pl.cg, cb), winCeilDiv(cols, pb)
	simd.ForEach(par, (img1-img0+1)*nc*np, func(lo2, hi2 int) {
		for t := lo2; t < hi2; t++ {
			i, rest := t/(nc*np), t%(nc*np)
			c0, j0 := rest/np*cb, rest%np*pb
			c1, j1 := min(pl.cg, c0+cb), min(cols, j0+pb)
			src := x[((img0+i)*pl.c+g*pl.cg)*hw+lo*pl.w:]
			dst := band[i*per:]
			for c := c0; c < c1; c++ {
				row := src[c*hw+j0 : c*hw+j1]
				d := dst[j0*pl.cg+c:]
				for j, v := range row {
					d[j*pl.cg] = v
				}
			}
		}
	})
	b.band = band
	return b
}

// convBandB is the B operand of dW's GEMM for a group over a segment: the
// transposed im2col matrix with its columns tap-major, read from a
// channels-last copy of the input rows the segment reads (band: per
// image of the segment, rows [lo, lo+rows) × W positions × cg channels).
// Row q is output position k0+q of the batch; column tap·cg + c is the
// input value tap (ky, kx) reads in channel c there (zero in the
// padding), so that each (position, tap) is one run of cg floats.
type convBandB struct {
	pl       *convGrad
	band     []float32
	k0, img0 int
	lo, rows int
}

// PackB implements simd.BSource.
func (s *convBandB) PackB(dst []float32, p0, kc, j0, n, nr int) {
	pl := s.pl
	cg := pl.cg
	np := (n + nr - 1) / nr
	if w := n - (np-1)*nr; w < nr {
		pan := dst[(np-1)*kc*nr:]
		for p := 0; p < kc; p++ {
			clear(pan[p*nr+w : (p+1)*nr])
		}
	}
	per := s.rows * pl.w * cg
	t0, t1 := j0/cg, (j0+n-1)/cg
	pos := s.k0 + p0
	img, oy, ox := pos/pl.p, pos%pl.p/pl.ow, pos%pl.ow
	for p := 0; p < kc; p++ {
		base := (img - s.img0) * per
		iyb, ixb := oy*pl.sh-pl.pt-s.lo, ox*pl.sw-pl.pl
		for t := t0; t <= t1; t++ {
			c0, c1 := max(j0, t*cg)-t*cg, min(j0+n, (t+1)*cg)-t*cg
			q := t*cg + c0 - j0
			ky, kx := t/pl.kw, t%pl.kw
			iy, ix := iyb+ky*pl.dh, ixb+kx*pl.dw
			if iy < 0 || iy >= s.rows || ix < 0 || ix >= pl.w {
				ghPackZero(dst, kc, nr, p, q, c1-c0)
				continue
			}
			o := base + (iy*pl.w+ix)*cg
			ghPackRow(dst, kc, nr, p, q, s.band[o+c0:o+c1])
		}
		if ox++; ox == pl.ow {
			ox = 0
			if oy++; oy == pl.oh {
				oy = 0
				img++
			}
		}
	}
}

// ghPackRow writes src into columns q, q+1, ... of row p of a block packed
// in simd.BSource's panel layout (panels of kc·nr floats).
func ghPackRow(dst []float32, kc, nr, p, q int, src []float32) {
	for len(src) > 0 {
		off := q % nr
		w := min(nr-off, len(src))
		d := dst[q/nr*kc*nr+p*nr+off:][:w]
		if w >= 8 {
			copy(d, src[:w])
		} else {
			for i := range d {
				d[i] = src[i]
			}
		}
		src = src[w:]
		q += w
	}
}

// ghPackZero writes cnt zeros at columns q.. of row p (see ghPackRow).
func ghPackZero(dst []float32, kc, nr, p, q, cnt int) {
	for cnt > 0 {
		off := q % nr
		w := min(nr-off, cnt)
		clear(dst[q/nr*kc*nr+p*nr+off:][:w])
		q += w
		cnt -= w
	}
}

// col2im adds the r × s.n matrix dcol (row stride ld; row (c, ky, kx),
// column q: the gradient of the input value tap (ky, kx) of channel c of
// group g reads at position s.k0+q) into dx (a pointwise convolution's
// columns, the only contributions to their positions, are copied). A task
// per (image, channel), each writing its own plane.
func (pl *convGrad) col2im(k *simd.Kernels, par simd.Parallel, dcol []float32, ld, g int, s convSeg, dx []float32) {
	img0 := s.k0 / pl.p
	img1 := (s.k0 + s.n - 1) / pl.p
	hw := pl.h * pl.w
	simd.ForEach(par, (img1-img0+1)*pl.cg, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			img, ci := img0+t/pl.cg, t%pl.cg
			// Positions [pa, pb) of this image, at column col0+pa of dcol.
			pa := max(s.k0, img*pl.p) - img*pl.p
			pb := min(s.k0+s.n, (img+1)*pl.p) - img*pl.p
			col0 := img*pl.p - s.k0
			plane := dx[(img*pl.c+g*pl.cg+ci)*hw:][:hw]
			if pl.pointwise {
				// The only contribution to these positions.
				copy(plane[pa:pb], dcol[ci*ld+col0+pa:][:pb-pa])
				continue
			}
			oy0, oy1 := pa/pl.ow, (pb-1)/pl.ow
			for tap := 0; tap < pl.ksz; tap++ {
				ky, kx := tap/pl.kw, tap%pl.kw
				// Position q of the image is column rb+q of dcol's row.
				rb := (ci*pl.ksz+tap)*ld + col0
				xoff := kx*pl.dw - pl.pl
				for oy := oy0; oy <= oy1; oy++ {
					iy := oy*pl.sh - pl.pt + ky*pl.dh
					if iy < 0 || iy >= pl.h {
						continue
					}
					a, b := pl.oxLo[kx], pl.oxHi[kx]
					if oy == oy0 {
						a = max(a, pa%pl.ow)
					}
					if oy == oy1 {
						b = min(b, (pb-1)%pl.ow+1)
					}
					if a >= b {
						continue
					}
					src := dcol[rb+oy*pl.ow+a : rb+oy*pl.ow+b]
					dst := plane[iy*pl.w+a*pl.sw+xoff:]
					if pl.sw == 1 {
						k.AddTo(dst[:b-a], src)
					} else {
						for i, v := range src {
							dst[i*pl.sw] += v
						}
					}
				}
			}
		}
	})
}

// convColT is the B operand of dW's GEMM for group g over the segment
// starting at k0: the transposed im2col matrix, whose row q is output
// position k0+q of the batch and whose column (c·KH + ky)·KW + kx is the
// input value tap (ky, kx) of the group's channel c reads there (zero in
// the padding). It packs itself straight from X.
type convColT struct {
	pl *convGrad
	x  []float32
	g  int
	k0 int
}

// PackB implements simd.BSource.
func (s *convColT) PackB(dst []float32, p0, kc, j0, n, nr int) {
	pl := s.pl
	np := (n + nr - 1) / nr
	if w := n - (np-1)*nr; w < nr {
		pan := dst[(np-1)*kc*nr:]
		for p := 0; p < kc; p++ {
			clear(pan[p*nr+w : (p+1)*nr])
		}
	}
	hw := pl.h * pl.w
	start := s.k0 + p0
	img0, pos0 := start/pl.p, start%pl.p
	for jj := 0; jj < n; jj++ {
		r := j0 + jj
		ci, tap := r/pl.ksz, r%pl.ksz
		ky, kx := tap/pl.kw, tap%pl.kw
		d := dst[(jj/nr)*kc*nr+jj%nr:]
		lo, hi := pl.oxLo[kx], pl.oxHi[kx]
		xoff := kx*pl.dw - pl.pl
		img, oy, ox := img0, pos0/pl.ow, pos0%pl.ow
		for i := 0; i < kc; {
			seg := min(pl.ow-ox, kc-i)
			end := ox + seg
			iy := oy*pl.sh - pl.pt + ky*pl.dh
			dd := d[i*nr:]
			if iy < 0 || iy >= pl.h {
				for q := 0; q < seg; q++ {
					dd[q*nr] = 0
				}
			} else {
				row := s.x[(img*pl.c+s.g*pl.cg+ci)*hw+iy*pl.w:][:pl.w]
				a := min(max(lo, ox), end)
				b := min(max(hi, a), end)
				q := 0
				for ; q < a-ox; q++ {
					dd[q*nr] = 0
				}
				if pl.sw == 1 {
					for _, v := range row[a+xoff : b+xoff] {
						dd[q*nr] = v
						q++
					}
				} else {
					for o := a; o < b; o++ {
						dd[q*nr] = row[o*pl.sw+xoff]
						q++
					}
				}
				for ; q < seg; q++ {
					dd[q*nr] = 0
				}
			}
			i += seg
			ox = end
			if ox == pl.ow {
				ox = 0
				if oy++; oy == pl.oh {
					oy = 0
					img++
				}
			}
		}
	}
}

// depthwiseGrad computes dX and/or dW of a depthwise convolution, a task
// per channel over every image.
//
// dX: input row iy = py + sh·a (py the row's stride phase) collects the
// taps ky with py + pt - ky·dh divisible by sh, from output row a + e(ky),
// e(ky) = (py + pt - ky·dh)/sh. With v each output row spread by the
// horizontal stride (dY[oy, ox] at column L + ox·sw, zeros between; L
// leaves room for the leftmost tap) in a plane V padded with zero rows,
//
//	dX[py + sh·a, ix] = Σ_{ky of phase py, kx} W[ky, kx] · V[a + e(ky) + T, ix + pl - kx·dw + L]
//
// which is the tier's DWConv with one output row per a, written straight
// into every sh-th row of dX: a stride-2 layer does the arithmetic of its
// taps that can contribute (about half), not of all of them over an
// upsampled plane.
//
// dW: tap (ky, kx) reads input (oy·sh + ky·dh - pt, ox·sw + kx·dw - pl),
// which is element (oy + qy, ox + qx) of the zero-padded input's stride
// phase plane (ky·dh mod sh, kx·dw mod sw), qy = ky·dh div sh and qx
// likewise (the forward's phase planes). With dY laid out at the phase
// planes' row stride (zeros past OW in each row and past OH in each
// plane) and every image's planes one after the other, each tap is one
// dot product, over the whole batch, of dY with its phase planes shifted
// by (qy, qx).
func (pl *convGrad) depthwiseGrad(k *simd.Kernels, par simd.Parallel, x, w, dy, dx, dw []float32) {
	ksz, hw := pl.ksz, pl.h*pl.w
	var gx *convDWdX
	if dx != nil {
		gx = pl.dwDX()
	}
	var ph *convDWPhases
	var nw, per, stride, tail int
	if dw != nil {
		ph = pl.dwPhases()
		nw = (pl.oh-1)*ph.wq + pl.ow
		// Images per run of dot products: as many as keep the planes
		// and dY near the second-level cache.
		per = min(pl.batch, max(1, convDWChunk/((len(ph.fills)+1)*ph.planeLen)))
		// Past the last image's planes, room for the largest in-plane
		// tap offset (read, multiplied by dY's zeros).
		for _, off := range ph.tapOff {
			tail = max(tail, off%ph.planeLen)
		}
		stride = per*ph.planeLen + tail // one phase plane of each image of a run
	}
	simd.ForEach(par, pl.c, func(lo, hi int) {
		var vb, wb, ob, qb, yb *[]float32
		if dx != nil {
			vb, wb = ghGetBuf(gx.vLen), ghGetBuf(gx.wLen)
			if gx.wide > 0 {
				ob = ghGetBuf(gx.wide)
			}
		}
		var acc []float32
		if dw != nil {
			qb, yb = ghGetBuf(len(ph.fills)*stride), ghGetBuf(per*ph.planeLen)
			acc = make([]float32, ksz)
		}
		y1 := make([]float32, 1)
		for c := lo; c < hi; c++ {
			if dx != nil {
				gx.weights(*wb, w[c*ksz:(c+1)*ksz])
				var wide []float32
				if ob != nil {
					wide = *ob
				}
				for img := 0; img < pl.batch; img++ {
					plane := img*pl.c + c
					gx.run(k, pl, dx[plane*hw:][:hw], dy[plane*pl.p:][:pl.p], *vb, *wb, wide)
				}
			}
			if dw == nil {
				continue
			}
			xq, dyw := *qb, *yb
			for i0 := 0; i0 < pl.batch; i0 += per {
				cnt := min(per, pl.batch-i0)
				for i := 0; i < cnt; i++ {
					plane := (i0+i)*pl.c + c
					for s := range ph.fills {
						ph.fillPlane(k, xq[s*stride+i*ph.planeLen:][:ph.planeLen], s, x[plane*hw:][:hw], pl)
					}
					g := dy[plane*pl.p:][:pl.p]
					d := dyw[i*ph.planeLen:][:ph.planeLen]
					for oy := 0; oy < pl.oh; oy++ {
						row := d[oy*ph.wq:]
						copy(row[:pl.ow], g[oy*pl.ow:(oy+1)*pl.ow])
						clear(row[pl.ow:ph.wq])
					}
					clear(d[pl.oh*ph.wq:])
				}
				for s := range ph.fills {
					clear(xq[s*stride+cnt*ph.planeLen:][:tail])
				}
				n := (cnt-1)*ph.planeLen + nw
				for t, off := range ph.tapOff {
					s, o := off/ph.planeLen, off%ph.planeLen
					v := ghDot(k, dyw[:n], xq[s*stride+o:][:n], y1)
					if i0 == 0 {
						acc[t] = v
					} else {
						acc[t] += v
					}
				}
			}
			copy(dw[c*ksz:(c+1)*ksz], acc)
		}
		ghPutBuf(vb, wb, ob, qb, yb)
	})
}

// convDWChunk bounds the floats of the phase planes and dY that one run of
// a depthwise dW's dot products reads (several images of small planes,
// one of a large plane); convDWWideMax is the widest input for which dX
// is computed as one wide run of outputs per stride phase and copied out
// (narrow planes: a DWConv row per output row would be too short).
var (
	convDWChunk   = 1 << 13
	convDWWideMax = 32
)

// convDWdX is the geometry of a depthwise convolution's dX (see
// depthwiseGrad): the spread plane V (vh × vw, dY's row oy at row
// top + oy, column left + ox·sw) and, per vertical stride phase, the taps
// and their offsets into V.
type convDWdX struct {
	vh, vw, top, left int
	vLen, wLen        int // floats of V and of the weights of every phase
	phases            []convDWPhase
	// wide > 0: each phase is one DWConv row of (rows-1)·vw + W outputs
	// (row a of the phase at a·vw) into a scratch of wide floats, then
	// gathered into dX; its weights are one copy.
	wide int
}

// convDWPhase is one vertical stride phase py of dX: rows py + sh·a for a
// in [0, rows), each a DWConv row over V with the taps (ky, kx) of taps
// (ky·KW + kx) at offs, its weights at wOff in the weights buffer (one
// copy per row, as DWConv wants).
type convDWPhase struct {
	py, rows   int
	taps, offs []int
	wOff       int
}

// dwDX lays out dX's computation.
func (pl *convGrad) dwDX() *convDWdX {
	g := &convDWdX{left: max(0, (pl.kw-1)*pl.dw-pl.pl)}
	g.vw = pl.w + pl.pl + g.left
	type tapRow struct{ ky, e int }
	var all [][]tapRow
	minE, maxRow := 0, pl.oh // maxRow: one past the last V row read, before the top padding
	for py := 0; py < min(pl.sh, pl.h); py++ {
		var rows []tapRow
		ha := winCeilDiv(pl.h-py, pl.sh)
		for ky := 0; ky < pl.kh; ky++ {
			num := py + pl.pt - ky*pl.dh
			if ((num%pl.sh)+pl.sh)%pl.sh != 0 {
				continue
			}
			e := (num - ((num%pl.sh)+pl.sh)%pl.sh) / pl.sh // exact
			rows = append(rows, tapRow{ky, e})
			minE = min(minE, e)
			maxRow = max(maxRow, ha-1+e+1)
		}
		all = append(all, rows)
	}
	g.top = -minE
	g.vh = g.top + maxRow
	g.vLen = g.vh * g.vw
	wideRuns := pl.w <= convDWWideMax
	for py, rows := range all {
		ph := convDWPhase{py: py, rows: winCeilDiv(pl.h-py, pl.sh), wOff: g.wLen}
		for _, tr := range rows {
			for kx := 0; kx < pl.kw; kx++ {
				ph.taps = append(ph.taps, tr.ky*pl.kw+kx)
				ph.offs = append(ph.offs, (tr.e+g.top)*g.vw+pl.pl-kx*pl.dw+g.left)
			}
		}
		if wideRuns {
			g.wLen += len(ph.taps)
			g.wide = max(g.wide, (ph.rows-1)*g.vw+pl.w)
		} else {
			g.wLen += ph.rows * len(ph.taps)
		}
		g.phases = append(g.phases, ph)
	}
	return g
}

// weights fills wbuf with each phase's tap weights of the channel's
// kernel wc, once per output row.
func (g *convDWdX) weights(wbuf, wc []float32) {
	for _, ph := range g.phases {
		nt := len(ph.taps)
		if nt == 0 {
			continue
		}
		row := wbuf[ph.wOff : ph.wOff+nt]
		for i, t := range ph.taps {
			row[i] = wc[t]
		}
		if g.wide > 0 {
			continue // one row of outputs per phase
		}
		for r := 1; r < ph.rows; r++ {
			copy(wbuf[ph.wOff+r*nt:ph.wOff+(r+1)*nt], row)
		}
	}
}

// run computes one plane of dX (H×W) from its plane of dY (OH×OW), with
// v (g.vLen floats) as scratch for V, wbuf from weights and wide (g.wide
// floats) for the wide runs.
func (g *convDWdX) run(k *simd.Kernels, pl *convGrad, dx, dy, v, wbuf, wide []float32) {
	// V: dY's rows spread by the horizontal stride, zeros elsewhere.
	clear(v)
	oxb := min(pl.ow, winCeilDiv(g.vw-g.left, pl.sw)) // columns that land in V
	for oy := 0; oy < pl.oh; oy++ {
		src := dy[oy*pl.ow : oy*pl.ow+oxb]
		dst := v[(g.top+oy)*g.vw+g.left:]
		if pl.sw == 1 {
			copy(dst, src)
			continue
		}
		for i, val := range src {
			dst[i*pl.sw] = val
		}
	}
	for _, ph := range g.phases {
		nt := len(ph.taps)
		if nt == 0 {
			// No tap reaches these rows: their gradient is zero.
			for a := 0; a < ph.rows; a++ {
				clear(dx[(ph.py+a*pl.sh)*pl.w:][:pl.w])
			}
			continue
		}
		if g.wide > 0 {
			n := (ph.rows-1)*g.vw + pl.w
			k.DWConv(wide[:n], v, ph.offs, wbuf[ph.wOff:ph.wOff+nt], nil, 1, n, n, 0)
			k.Gather(dx[ph.py*pl.w:], wide, ph.rows, pl.w, pl.sh*pl.w, g.vw, 1)
			continue
		}
		k.DWConv(dx[ph.py*pl.w:], v, ph.offs, wbuf[ph.wOff:ph.wOff+ph.rows*nt], nil, ph.rows, pl.w, pl.sh*pl.w, g.vw)
	}
}

// convDWPhases is the stride phase planes of one zero-padded input plane
// (see depthwiseGrad): planes of hq × wq, plane s holding padded input
// (a·sh + ry, b·sw + rx) at a·wq + b, and where each tap reads.
type convDWPhases struct {
	hq, wq, planeLen int
	tapOff           []int // tap t's first element: plane·planeLen + qy·wq + qx
	fills            []convDWFill
}

// convDWFill is one phase plane's copy of the input: rows [aLo, aHi) and
// columns [bLo, bHi) of the plane come from the input (the rest is
// padding).
type convDWFill struct {
	ry, rx, aLo, aHi, bLo, bHi int
}

// dwPhases lays out the phase planes of the convolution's input.
func (pl *convGrad) dwPhases() *convDWPhases {
	ps := &convDWPhases{tapOff: make([]int, pl.ksz)}
	qyMax, qxMax := (pl.kh-1)*pl.dh/pl.sh, (pl.kw-1)*pl.dw/pl.sw
	ps.hq, ps.wq = pl.oh+qyMax, pl.ow+qxMax
	ps.planeLen = ps.hq * ps.wq
	slot := map[[2]int]int{}
	for ky := 0; ky < pl.kh; ky++ {
		for kx := 0; kx < pl.kw; kx++ {
			ry, rx := ky*pl.dh%pl.sh, kx*pl.dw%pl.sw
			s, ok := slot[[2]int{ry, rx}]
			if !ok {
				s = len(ps.fills)
				slot[[2]int{ry, rx}] = s
				f := convDWFill{ry: ry, rx: rx}
				f.aLo, f.aHi = convPhaseRange(ry, pl.pt, pl.sh, pl.h, ps.hq)
				f.bLo, f.bHi = convPhaseRange(rx, pl.pl, pl.sw, pl.w, ps.wq)
				ps.fills = append(ps.fills, f)
			}
			ps.tapOff[ky*pl.kw+kx] = s*ps.planeLen + ky*pl.dh/pl.sh*ps.wq + kx*pl.dw/pl.sw
		}
	}
	return ps
}

// convPhaseRange returns the indices a in [0, n) whose input coordinate
// a·s + r - pad lies in [0, size), as [lo, hi) (empty: lo == hi).
func convPhaseRange(r, pad, s, size, n int) (lo, hi int) {
	if pad > r {
		lo = winCeilDiv(pad-r, s)
	}
	lo = min(lo, n)
	hi = min(max(winCeilDiv(size+pad-r, s), lo), n)
	return lo, hi
}

// fillPlane writes phase plane s of the input plane src (H×W) into dst
// (planeLen floats, zeros in the padding).
func (ps *convDWPhases) fillPlane(k *simd.Kernels, dst []float32, s int, src []float32, pl *convGrad) {
	clear(dst[:ps.planeLen])
	f := ps.fills[s]
	if f.aLo >= f.aHi || f.bLo >= f.bHi {
		return
	}
	iy, ix := f.aLo*pl.sh+f.ry-pl.pt, f.bLo*pl.sw+f.rx-pl.pl
	k.Gather(dst[f.aLo*ps.wq+f.bLo:], src[iy*pl.w+ix:], f.aHi-f.aLo, f.bHi-f.bLo, ps.wq, pl.sh*pl.w, pl.sw)
}
