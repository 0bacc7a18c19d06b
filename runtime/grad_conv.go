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
//	                              they are (no packing)
//	dB = Σ dY                     row sums (Gemv with a vector of ones)
//
// The output positions of the batch are cut into segments (runs of whole
// images, or pieces of one image when an image alone would need too much
// scratch); segments run in parallel when their dX writes cannot overlap,
// each with its own partial dW summed in segment order. Depthwise
// convolutions (group = C = M) skip the GEMMs: dX is a depthwise
// convolution of the zero-upsampled, padded dY with the flipped kernel
// (the tier's DWConv), and dW a dot product per tap (Gemv) of dY with the
// stride phase planes of X.

func init() {
	registerGrad("Conv", gradOp{forward: convGradForward, backward: convGradBackward, diff: []int{0, 1, 2}})
}

// Helpers shared by the heavy gradient ops (grad_conv.go, grad_gemm.go,
// grad_pool.go, grad_norm.go).

// ghFor runs body over [0, n) with par, or serially when par is nil.
func ghFor(par simd.Parallel, n int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if par == nil || n == 1 {
		body(0, n)
		return
	}
	par.For(n, body)
}

// ghThreads is the number of goroutines par may use (1 for nil).
func ghThreads(par simd.Parallel) int {
	if par == nil {
		return 1
	}
	return max(1, par.Threads())
}

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

// ghNewF32 allocates a zeroed float32 tensor of shape, failing when it
// exceeds the step's element limit.
func ghNewF32(c *gradCtx, what string, shape []int) (*ir.Tensor, error) {
	if err := ghCheckLimit(c, what, shape); err != nil {
		return nil, err
	}
	return ir.NewTensor(ir.Float32, slices.Clone(shape))
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

// ghZeros returns zero gradients for the needed inputs.
func ghZeros(in []*ir.Tensor, need []bool) []*ir.Tensor {
	din := make([]*ir.Tensor, len(in))
	for i, t := range in {
		if t != nil && ghNeeds(need, i) {
			din[i] = zerosLike(t)
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
	ghFor(par, batch, func(lo, hi int) {
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
	y, err := ghNewF32(c, "Conv output", pl.yShape)
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
	din := ghZeros(in, need)
	if dy == nil {
		return din, nil
	}
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
		pl.gemmGrad(c.k, c.par, x, w, dy, dx, dw)
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
func (pl *convGrad) gemmGrad(k *simd.Kernels, par simd.Parallel, x, w, dy, dx, dw []float32) {
	threads := ghThreads(par)
	segs := pl.segments(threads)
	if threads > 1 && pl.group >= 2*threads {
		// Many groups: a group per task, each run serially.
		ghFor(par, pl.group, func(lo, hi int) {
			for g := lo; g < hi; g++ {
				pl.groupGrad(k, nil, g, segs, x, w, dy, dx, dw)
			}
		})
		return
	}
	for g := 0; g < pl.group; g++ {
		pl.groupGrad(k, par, g, segs, x, w, dy, dx, dw)
	}
}

// convGemvMax is the largest mg·cg for which a pointwise convolution's
// dW is computed by Gemv straight from X and dY (no packing) rather than
// by a GEMM (measured on avx512: Gemv is up to 9× faster for 32→16
// channels, 15% faster at 96×576, 40% slower at 160×960), and
// convGemvPiece the most positions of one Gemv call there.
var (
	convGemvMax   = 96 * 1024
	convGemvPiece = 2048
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
// ONNX order at the end. Small pointwise layers use Gemv instead
// (dwGemv).
func (pl *convGrad) groupGrad(k *simd.Kernels, par simd.Parallel, g int, segs []convSeg, x, w, dy, dx, dw []float32) {
	mg, r := pl.mg, pl.r
	var wt *simd.PackedA
	if dx != nil {
		// W_gᵀ: r × mg, element (row, m) at wg[m·r + row].
		wt = k.PackAStrided(r, mg, w[g*mg*r:(g+1)*mg*r], 1, r)
	}
	var dwg []float32
	if dw != nil {
		dwg = dw[g*mg*r : (g+1)*mg*r]
		if pl.pointwise && mg*pl.cg <= convGemvMax {
			pl.dwGemv(k, par, g, x, dy, dwg)
			dwg = nil
		}
	}
	if wt == nil && dwg == nil {
		return
	}
	threads := ghThreads(par)
	whole := true
	for _, s := range segs {
		whole = whole && pl.wholeImages(s)
	}
	safe := pl.pointwise || wt == nil || whole
	if threads > 1 && len(segs) >= threads && safe && ghMulFits(len(segs), mg, r) && len(segs)*mg*r <= 1<<22 {
		var parts []float32
		if dwg != nil {
			parts = make([]float32, len(segs)*mg*r)
		}
		ghFor(par, len(segs), func(lo, hi int) {
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

// dwGemv sets dwg (mg × cg) to dW of group g of a pointwise convolution:
// dW[m, c] = Σ_positions dY[m, ·]·X[c, ·], a Gemv (the cg rows of X
// against the mg rows of dY) per piece of at most 2048 positions of an
// image, the pieces split into fixed parts summed in order.
func (pl *convGrad) dwGemv(k *simd.Kernels, par simd.Parallel, g int, x, dy, dwg []float32) {
	mg, cg, p := pl.mg, pl.cg, pl.p
	per := winCeilDiv(p, convGemvPiece)
	items := pl.batch * per
	if items == 0 {
		return
	}
	nparts := min(items, 4*ghThreads(par))
	parts := make([]float32, nparts*mg*cg)
	ghFor(par, nparts, func(lo, hi int) {
		tb := ghGetBuf(mg * cg)
		tmp := *tb
		for j := lo; j < hi; j++ {
			acc := parts[j*mg*cg : (j+1)*mg*cg]
			i0, i1 := j*items/nparts, (j+1)*items/nparts
			for it := i0; it < i1; it++ {
				img, pc := it/per, it%per
				a, b := p*pc/per, p*(pc+1)/per
				xs := x[(img*pl.c+g*cg)*p+a:]
				ds := dy[(img*pl.m+g*mg)*p+a:]
				dst := acc
				if it > i0 {
					dst = tmp
				}
				k.Gemv(dst, cg, xs[:(cg-1)*p+b-a], p, ds[:(mg-1)*p+b-a], p, mg, cg, b-a)
				if it > i0 {
					k.AddTo(acc, tmp)
				}
			}
		}
		ghPutBuf(tb)
	})
	copy(dwg, parts[:mg*cg])
	for j := 1; j < nparts; j++ {
		k.AddTo(dwg, parts[j*mg*cg:(j+1)*mg*cg])
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
	ghFor(par, (img1-img0+1)*nc*np, func(lo2, hi2 int) {
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
// group g reads at position s.k0+q) into dx. A task per (image, channel),
// each writing its own plane.
func (pl *convGrad) col2im(k *simd.Kernels, par simd.Parallel, dcol []float32, ld, g int, s convSeg, dx []float32) {
	img0 := s.k0 / pl.p
	img1 := (s.k0 + s.n - 1) / pl.p
	hw := pl.h * pl.w
	ghFor(par, (img1-img0+1)*pl.cg, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			img, ci := img0+t/pl.cg, t%pl.cg
			// Positions [pa, pb) of this image, at column col0+pa of dcol.
			pa := max(s.k0, img*pl.p) - img*pl.p
			pb := min(s.k0+s.n, (img+1)*pl.p) - img*pl.p
			col0 := img*pl.p - s.k0
			plane := dx[(img*pl.c+g*pl.cg+ci)*hw:][:hw]
			if pl.pointwise {
				k.AddTo(plane[pa:pb], dcol[ci*ld+col0+pa:][:pb-pa])
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
// dX: with u the output gradient upsampled by the strides (dY[oy, ox] at
// (oy·sh, ox·sw), zeros between) and U its copy padded so that
// U[a, b] = u[a - (eh - pt), b - (ew - pl)] (eh = (KH-1)·dh, ew likewise),
// an H+eh by W+ew plane,
//
//	dX[iy, ix] = Σ_{ky,kx} W[KH-1-ky, KW-1-kx] · U[iy + ky·dh, ix + kx·dw]
//
// a stride-1 depthwise convolution (DWConv over U's rows, as a wide
// output of row stride W+ew).
//
// dW: tap (ky, kx) reads input (oy·sh + ky·dh - pt, ox·sw + kx·dw - pl),
// which is element (oy + qy, ox + qx) of the zero-padded input's stride
// phase plane (ky·dh mod sh, kx·dw mod sw), qy = ky·dh div sh and qx
// likewise (the forward's phase planes). With dY laid out at the phase
// planes' row stride (zeros past OW in each row), each tap is one dot
// product of dY with its phase plane shifted by (qy, qx).
func (pl *convGrad) depthwiseGrad(k *simd.Kernels, par simd.Parallel, x, w, dy, dx, dw []float32) {
	ksz, hw := pl.ksz, pl.h*pl.w
	// dX's geometry.
	eh, ew := (pl.kh-1)*pl.dh, (pl.kw-1)*pl.dw
	hp, wp := pl.h+eh, pl.w+ew
	top, left := eh-pl.pt, ew-pl.pl
	nx := (pl.h-1)*wp + pl.w // wide output
	offs := make([]int, ksz)
	for ky := 0; ky < pl.kh; ky++ {
		for kx := 0; kx < pl.kw; kx++ {
			offs[ky*pl.kw+kx] = ky*pl.dh*wp + kx*pl.dw
		}
	}
	// dW's geometry: phase planes of hq × wq, tap t at tapOff[t].
	ph := pl.dwPhases()
	nw := (pl.oh-1)*ph.wq + pl.ow // dot length
	ghFor(par, pl.c, func(lo, hi int) {
		var ub, wb, qb, yb *[]float32
		var u, wide, xq, dyw []float32
		if dx != nil {
			ub, wb = ghGetBuf(hp*wp), ghGetBuf(nx)
			u, wide = *ub, *wb
		}
		if dw != nil {
			qb, yb = ghGetBuf(len(ph.fills)*ph.planeLen), ghGetBuf(nw)
			xq, dyw = *qb, *yb
		}
		wf := make([]float32, ksz)
		acc := make([]float32, ksz)
		y1 := make([]float32, 1)
		for c := lo; c < hi; c++ {
			for t := range wf {
				wf[t] = w[c*ksz+ksz-1-t] // the flipped kernel
			}
			clear(acc)
			for img := 0; img < pl.batch; img++ {
				plane := img*pl.c + c
				g := dy[plane*pl.p:][:pl.p]
				if dx != nil {
					pl.upsample(u, g, hp, wp, top, left)
					k.DWConv(wide, u, offs, wf, nil, 1, nx, nx, 0)
					k.Gather(dx[plane*hw:][:hw], wide, pl.h, pl.w, pl.w, wp, 1)
				}
				if dw != nil {
					ph.fill(k, xq, x[plane*hw:][:hw], pl)
					for oy := 0; oy < pl.oh; oy++ {
						row := dyw[oy*ph.wq:]
						copy(row[:pl.ow], g[oy*pl.ow:(oy+1)*pl.ow])
						if oy < pl.oh-1 {
							clear(row[pl.ow:ph.wq])
						}
					}
					for t, off := range ph.tapOff {
						acc[t] += ghDot(k, dyw[:nw], xq[off:off+nw], y1)
					}
				}
			}
			if dw != nil {
				copy(dw[c*ksz:(c+1)*ksz], acc)
			}
		}
		ghPutBuf(ub, wb, qb, yb)
	})
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

// fill writes the phase planes of the input plane src (H×W) into xq.
func (ps *convDWPhases) fill(k *simd.Kernels, xq, src []float32, pl *convGrad) {
	clear(xq[:len(ps.fills)*ps.planeLen])
	for s, f := range ps.fills {
		if f.aLo >= f.aHi || f.bLo >= f.bHi {
			continue
		}
		iy, ix := f.aLo*pl.sh+f.ry-pl.pt, f.bLo*pl.sw+f.rx-pl.pl
		k.Gather(xq[s*ps.planeLen+f.aLo*ps.wq+f.bLo:], src[iy*pl.w+ix:], f.aHi-f.aLo, f.bHi-f.bLo, ps.wq, pl.sh*pl.w, pl.sw)
	}
}

// upsample writes into u (hp × wp) the plane's output gradient g (OH×OW)
// spread by the strides, at offset (top, left), zeros elsewhere; entries
// falling outside u are dropped (no input reads them).
func (pl *convGrad) upsample(u, g []float32, hp, wp, top, left int) {
	clear(u)
	// Columns ox with left + ox·sw in [0, wp).
	oxa := 0
	if left < 0 {
		oxa = winCeilDiv(-left, pl.sw)
	}
	oxb := min(pl.ow, winCeilDiv(wp-left, pl.sw))
	if oxa >= oxb {
		return
	}
	for oy := 0; oy < pl.oh; oy++ {
		a := top + oy*pl.sh
		if a < 0 || a >= hp {
			continue
		}
		src := g[oy*pl.ow+oxa : oy*pl.ow+oxb]
		dst := u[a*wp+left+oxa*pl.sw:]
		if pl.sw == 1 {
			copy(dst, src)
			continue
		}
		for i, v := range src {
			dst[i*pl.sw] = v
		}
	}
}
