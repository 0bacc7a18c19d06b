package simd

import (
	"fmt"
	"sync"
)

// Winograd convolution F(m×m, 3×3) (Lavin and Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016) for 3×3 convolutions with stride
// 1, dilation 1 and one group. The output is cut into m×m tiles (m = 2 or
// 4; tiles past the output's edge are computed and dropped). For each
// tile and input channel, the a×a input d under it (a = m+2, zero in the
// padding and past the edge) becomes V = Bᵀ d B; each 3×3 kernel g becomes
// U = G g Gᵀ, once, in float64, at PrepareConv; and each output tile is
//
//	Y = Aᵀ [Σ_c U(out, c) ⊙ V(c, tile)] A
//
// (see WinoTransforms for Bᵀ and Aᵀ, winoG for G). The sum over channels
// at each of the a² positions (ξ, ν) of a tile is a GEMM, M_ξν (M×tiles) =
// U_ξν (M×C) · V_ξν (C×tiles): a² GEMMs of C-long sums where the direct
// convolution does one GEMM of 9·C-long sums, so F(4×4) multiplies 36
// times per output tile of 16 where the direct convolution does 144 (4×
// fewer), F(2×2) 16 per 4 (2.25× fewer). The transforms cost a few adds
// per value each.
//
// Run works in passes over a range of tiles (whole images, or a band of
// rows of tiles of one image, sized so that a pass's transformed input
// and products stay in cache), each in three phases of tasks:
//
//  1. input transform (inputTasks): a task per (image, channel) copies
//     the rows of the input plane the pass reads into a zero-padded
//     scratch plane, transforms each row of tiles (WinoTransforms.In),
//     and spreads the result into V, the a² GEMMs' B operands, packed
//     in the micro-kernel's panels: the GEMMs read them in place;
//  2. the a² GEMMs (gemmTasks), with the GEMM driver's blocking (planGemm)
//     and micro-kernel calls (panelKernel), into a² row-major M×N
//     matrices, N the pass's tiles (per image rounded up to NR);
//  3. output transform (outputTasks): a task per (image, output channel)
//     transforms each row of tiles (WinoTransforms.Out) into a scratch,
//     copies the rows inside the output to y, and applies the epilogue
//     there (the residual, then the bias and activation: as Epilogue).
//
// Every phase computes each value the same way whatever the thread count
// (the GEMMs sum in the same kernel calls whatever the task split, as in
// the driver, and the transforms are elementwise), so the results do not
// depend on it. (The driver itself would pack B again from V: a copy of
// every transformed value, a fifth of the time on ResNet's 56×56 layers.)
//
// Accuracy: the transforms scale values by up to 5 (Bᵀ), 8 (Aᵀ) and 1/24
// (G) and add values of different signs, so F(4×4)'s rounding errors are
// about an order of magnitude larger than the direct convolution's
// relative to the sum of |x·w|, F(2×2)'s about 2×. They remain float32
// rounding bounded by the magnitudes of the transformed values: see
// TestWinograd for the bound the tests use and TestWinogradErrorGrowth
// for measured errors.

// ConvAlgo selects how PrepareConv computes a convolution.
type ConvAlgo int

const (
	// ConvAuto lets PrepareConv choose: Winograd for 3×3 stride-1
	// convolutions of the sizes where it is faster (see winoChoose), the
	// implicit GEMM or the depthwise kernel otherwise.
	ConvAuto ConvAlgo = iota
	// ConvDirect never uses Winograd.
	ConvDirect
	// ConvWinograd2 and ConvWinograd4 force Winograd F(2×2, 3×3) and
	// F(4×4, 3×3); PrepareConv fails unless the convolution is 3×3 with
	// stride 1, dilation 1 and one group.
	ConvWinograd2
	ConvWinograd4
	// ConvGrouped forces the grouped direct kernel (conv_grouped.go);
	// PrepareConv fails unless the convolution has several groups and is
	// not depthwise. Auto takes it when a group has fewer output channels
	// than a GEMM tile has rows.
	ConvGrouped
)

func (a ConvAlgo) String() string {
	switch a {
	case ConvAuto:
		return "auto"
	case ConvDirect:
		return "direct"
	case ConvWinograd2:
		return "winograd-2x2"
	case ConvWinograd4:
		return "winograd-4x4"
	case ConvGrouped:
		return "grouped"
	}
	return fmt.Sprintf("ConvAlgo(%d)", int(a))
}

// winoEligible reports whether Winograd F(m×m, 3×3) can compute p
// (normalized).
func winoEligible(p *ConvParams) bool {
	return p.KH == 3 && p.KW == 3 && p.StrideH == 1 && p.StrideW == 1 &&
		p.DilH == 1 && p.DilW == 1 && p.Group == 1
}

// winoG are the weight transforms G (a×3) of F(2×2, 3×3) and F(4×4, 3×3).
var winoG = [2][][3]float64{
	{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
	{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	},
}

// winoIndex is the index of F(m×m, 3×3) in Kernels.Winograd and winoG.
func winoIndex(m int) int { return m / 4 }

// winoConv is a convolution prepared for Winograd F(m×m, 3×3).
type winoConv struct {
	m, a           int // output tile m×m, input tile a×a
	tr             WinoTransforms
	tilesY, tilesX int        // tiles down and across an image
	u              []*PackedA // a² matrices M×C: U_ξν, ξν = ξ·a+ν
	wp             int        // row stride of the scratch plane
	ows            int        // row stride of the output scratch
	// A pass covers chunk whole images when band == tilesY, else band
	// rows of tiles of one image (chunk == 1).
	chunk, band int
}

// winoSkew pads the strides of a Winograd Run's buffers (see winoRun).
const winoSkew = 16

// winoPassFloats is the budget of a pass's transformed input and products
// (floats): they are written by one phase and read by the next, so they
// should stay in L2. (A variable so tests can force bands.)
var winoPassFloats = 256 << 10

// prepareWinograd transforms and packs the weights w (M×C×3×3) for
// F(m×m, 3×3) and lays out the passes. It returns nil when the sizes are
// too large for one image per pass.
func (k *Kernels) prepareWinograd(p *ConvParams, w []float32, m int) *winoConv {
	oh, ow := p.OutSize()
	a := m + 2
	wc := &winoConv{m: m, a: a, tr: k.Winograd[winoIndex(m)],
		tilesY: ceilDiv(oh, m), tilesX: ceilDiv(ow, m)}
	// An image's GEMM columns: its tiles rounded up to NR.
	tpad := roundUp(wc.tilesY*wc.tilesX, k.Gemm.NR)
	if !mulLimit(a*a, max(p.C, p.M)+winoSkew, tpad) || !mulLimit(a*a, p.M, p.C) {
		return nil
	}
	wc.wp = m*roundUp(wc.tilesX, winoGroup) + winoGroup
	wc.ows = m * roundUp(wc.tilesX, winoGroup)
	if !mulLimit(m*wc.tilesY+2, wc.wp) {
		return nil
	}
	// Passes: as many images, or rows of tiles, as the budget takes. A
	// pass reads all the transformed weights (a²·M·C floats), so an image
	// is split into bands only when they are small next to its
	// transformed input and products: large weights (deep layers, small
	// images) are better read once, whatever the cache misses on V and M.
	perTile := a * a * (p.C + p.M)
	wc.chunk, wc.band = 1, wc.tilesY
	rows := winoPassFloats / max(1, perTile*wc.tilesX)
	switch {
	case rows >= wc.tilesY:
		wc.chunk = max(1, winoPassFloats/(perTile*tpad))
	case 2*a*a*p.M*p.C < perTile*tpad:
		wc.band = max(1, rows)
	}
	// U_ξν[o][c] = Σ G[ξ][ky]·g[ky][kx]·G[ν][kx], in float64.
	g := winoG[winoIndex(m)]
	mat := make([][]float32, a*a)
	for q := range mat {
		mat[q] = make([]float32, p.M*p.C)
	}
	var t [6][3]float64 // G·g
	for o := 0; o < p.M; o++ {
		for c := 0; c < p.C; c++ {
			wk := w[(o*p.C+c)*9 : (o*p.C+c)*9+9]
			for xi := 0; xi < a; xi++ {
				for kx := 0; kx < 3; kx++ {
					t[xi][kx] = g[xi][0]*float64(wk[kx]) + g[xi][1]*float64(wk[3+kx]) + g[xi][2]*float64(wk[6+kx])
				}
			}
			for xi := 0; xi < a; xi++ {
				for nu := 0; nu < a; nu++ {
					mat[xi*a+nu][o*p.C+c] = float32(t[xi][0]*g[nu][0] + t[xi][1]*g[nu][1] + t[xi][2]*g[nu][2])
				}
			}
		}
	}
	wc.u = make([]*PackedA, a*a)
	for q := range wc.u {
		wc.u[q] = k.PackA(p.M, p.C, mat[q], p.C)
	}
	return wc
}

// winoRun is one Winograd Run: its arguments and the current pass. Runs
// are pooled; their task functions are bound once, so a Run allocates
// nothing.
type winoRun struct {
	pc         *PreparedConv
	x, y, res  []float32 // the whole batch
	act        Act
	img0, imgs int // the pass's images
	ty0, ty1   int // and rows of tiles
	tpad       int // columns per image: its tiles, rounded up to NR
	n          int // imgs·tpad: the GEMMs' N
	plan       gemmPlan
	// v holds the GEMMs' B: n/NR panels each, panel jp of GEMM q at
	// (q·n/NR + jp)·vps, C rows of NR floats; mb their products, GEMM q's
	// M×n matrix at q·mbs (row-major).
	v, mb    []float32
	vps, mbs int
	inFn     func(lo, hi int)
	gemmFn   func(lo, hi int)
	outFn    func(lo, hi int)
}

var winoRunPool = sync.Pool{New: func() any {
	r := new(winoRun)
	r.inFn = r.inputTasks
	r.gemmFn = r.gemmTasks
	r.outFn = r.outputTasks
	return r
}}

// winoScratch is a task's scratch, pooled.
type winoScratch struct {
	// plane holds the zero-padded input rows of a pass (input tasks).
	// Its zeros are written when key changes and never otherwise, so a
	// channel only copies its pixels in.
	plane []float32
	key   [6]int    // wp, rows, the rows and columns the pixels go to
	t     []float32 // one channel's transformed tiles, or its output rows
	tile  []float32 // an MR×NR edge tile of the GEMM
}

var winoScratchPool = sync.Pool{New: func() any { return new(winoScratch) }}

// runWinograd is Run for a Winograd convolution (sizes checked).
func (pc *PreparedConv) runWinograd(x, y, res []float32, act Act, par Parallel, batch int) {
	wc := pc.wino
	r := winoRunPool.Get().(*winoRun)
	r.pc, r.x, r.y, r.res, r.act = pc, x, y, res, act
	for img := 0; img < batch; img += wc.chunk {
		r.img0, r.imgs = img, min(wc.chunk, batch-img)
		for ty := 0; ty < wc.tilesY; ty += wc.band {
			r.ty0, r.ty1 = ty, min(wc.tilesY, ty+wc.band)
			r.pass(par)
		}
	}
	r.pc, r.x, r.y, r.res = nil, nil, nil, nil
	winoRunPool.Put(r)
}

// pass runs the three phases of one pass.
func (r *winoRun) pass(par Parallel) {
	pc := r.pc
	p := &pc.p
	wc := pc.wino
	nr := pc.k.Gemm.NR
	a2 := wc.a * wc.a
	r.tpad = roundUp((r.ty1-r.ty0)*wc.tilesX, nr)
	r.n = r.imgs * r.tpad
	// The strides are padded by winoSkew floats: a multiple of 4 KiB
	// would put the rows that one transform call reads or writes into the
	// same L1 set.
	r.vps = p.C*nr + winoSkew
	r.mbs = p.M*r.n + winoSkew
	r.v = grow(r.v, a2*r.n/nr*r.vps)
	r.mb = grow(r.mb, a2*r.mbs+winoGroup)
	ForEach(par, r.imgs*p.C, r.inFn)
	r.plan = planGemm(pc.k.Gemm, p.M, r.n, p.C, a2, ThreadsOf(par))
	ForEach(par, r.plan.tasks(), r.gemmFn)
	ForEach(par, r.imgs*p.M, r.outFn)
}

// inputTasks transforms the input of tasks [lo, hi) of the pass: task t
// is channel t%C of the pass's image t/C. Each row of tiles goes through
// WinoTransforms.In into the scratch sc.t (a² rows of tpad tiles), which
// Gather then spreads into the GEMMs' packed B panels: row c of V_q's
// panel jp is v[(q·P + jp)·C·NR + c·NR:][:NR], P = n/NR, which for a
// channel of a one-image pass is a single stride over (q, jp).
func (r *winoRun) inputTasks(lo, hi int) {
	pc := r.pc
	p := &pc.p
	k := pc.k
	wc := pc.wino
	m, a := wc.m, wc.a
	nr := k.Gemm.NR
	rows := r.ty1 - r.ty0
	hb := m*rows + 2 // padded rows m·ty0 ... m·ty1+1
	// Input rows iy0 <= iy < iy1 land on scratch rows iy + pt - m·ty0,
	// from column pl; the rest of the scratch is zero.
	iy0 := max(0, m*r.ty0-p.PadTop)
	iy1 := max(iy0, min(p.H, m*r.ty0+hb-p.PadTop))
	sc := winoScratchPool.Get().(*winoScratch)
	if key := [6]int{wc.wp, hb, iy0 + p.PadTop - m*r.ty0, iy1 - iy0, p.PadLeft, p.W}; sc.key != key {
		sc.plane = grow(sc.plane, hb*wc.wp)
		clear(sc.plane)
		sc.key = key
	}
	plane := sc.plane
	sc.t = grow(sc.t, a*a*r.tpad)
	tp, np := r.tpad/nr, r.n/nr // panels per image and in all
	hw := p.H * p.W
	for t := lo; t < hi; t++ {
		ii, c := t/p.C, t%p.C
		in := r.x[((r.img0+ii)*p.C+c)*hw:][:hw]
		if iy1 > iy0 {
			k.Gather(plane[(iy0+p.PadTop-m*r.ty0)*wc.wp+p.PadLeft:], in[iy0*p.W:], iy1-iy0, p.W, wc.wp, p.W, 1)
		}
		for ty := 0; ty < rows; ty++ {
			wc.tr.In(sc.t[ty*wc.tilesX:], r.tpad, plane[ty*m*wc.wp:], wc.wp, wc.tilesX)
		}
		if r.imgs == 1 {
			k.Gather(r.v[c*nr:], sc.t, a*a*tp, nr, r.vps, nr, 1)
			continue
		}
		for q := 0; q < a*a; q++ {
			k.Gather(r.v[(q*np+ii*tp)*r.vps+c*nr:], sc.t[q*r.tpad:], tp, nr, r.vps, nr, 1)
		}
	}
	winoScratchPool.Put(sc)
}

// gemmTasks computes tasks [lo, hi) of the pass's a² GEMMs, blocked as
// r.plan says (the driver's blocking, gemmTask's loop nest) but with B
// already packed by the input transform: task t is a block of rows and
// columns of GEMM t/(tasksM·tasksN). Each element of C is the sum of the
// same kernel calls in the same order whatever the tasks, so results do
// not depend on the thread count.
func (r *winoRun) gemmTasks(lo, hi int) {
	pc := r.pc
	k := pc.k
	pl := &r.plan
	nr, kd := pl.nr, pl.k
	sc := winoScratchPool.Get().(*winoScratch)
	sc.tile = grow(sc.tile, pl.mr*nr)
	per := pl.tasksM * pl.tasksN
	for t := lo; t < hi; t++ {
		q, b := t/per, t%per
		i0, i1 := blockRange(b/pl.tasksN, pl.tasksM, pl.m, pl.mr)
		j0, j1 := blockRange(b%pl.tasksN, pl.tasksN, pl.n, nr)
		pa := pc.wino.u[q]
		v := r.v[q*r.n/nr*r.vps : (q+1)*r.n/nr*r.vps]
		c := r.mb[q*r.mbs+i0*r.n+j0:]
		for p0 := 0; p0 < kd; p0 += pl.kc {
			kc := min(pl.kc, kd-p0)
			for jr := j0; jr < j1; jr += nr {
				bpan := v[jr/nr*r.vps+p0*nr : jr/nr*r.vps+(p0+kc)*nr]
				k.panelKernel(pa, p0, kc, bpan, i0, i1, min(nr, j1-jr), c[jr-j0:], r.n, p0 > 0, sc.tile)
			}
		}
	}
	winoScratchPool.Put(sc)
}

// outputTasks transforms the products of tasks [lo, hi) of the pass into
// y: task t is output channel t%M of the pass's image t/M. Its rows of
// tiles go through WinoTransforms.Out into the scratch (m rows of ows
// floats each), whose rows inside the output one Gather copies to y; then
// the epilogue runs on them (the residual, then bias and activation: as
// Epilogue) while they are in cache.
func (r *winoRun) outputTasks(lo, hi int) {
	pc := r.pc
	p := &pc.p
	k := pc.k
	wc := pc.wino
	m := wc.m
	oh, ow := pc.g.oh, pc.g.ow
	ohw := oh * ow
	rows := r.ty1 - r.ty0
	y0 := m * r.ty0
	nrows := min(oh, m*r.ty1) - y0 // output rows of the pass
	sc := winoScratchPool.Get().(*winoScratch)
	sc.t = grow(sc.t, rows*m*wc.ows)
	lds := r.mbs
	for t := lo; t < hi; t++ {
		ii, o := t/p.M, t%p.M
		src := r.mb[o*r.n+ii*r.tpad:]
		for ty := 0; ty < rows; ty++ {
			wc.tr.Out(sc.t[ty*m*wc.ows:], wc.ows, src[ty*wc.tilesX:], lds, wc.tilesX)
		}
		off := ((r.img0+ii)*p.M+o)*ohw + y0*ow
		dst := r.y[off : off+nrows*ow]
		k.Gather(dst, sc.t, nrows, ow, ow, wc.ows, 1)
		if r.res != nil {
			k.AddTo(dst, r.res[off:off+nrows*ow])
		}
		if pc.bias != nil || r.act.Kind != ActNone {
			var b float32
			if pc.bias != nil {
				b = pc.bias[o]
			}
			k.BiasAct(dst, b, r.act)
		}
	}
	winoScratchPool.Put(sc)
}

// winoChoose returns the tile size m of the Winograd convolution
// F(m×m, 3×3) PrepareConv uses for p (normalized) on tier k, or 0 for
// none: what p.Algo asks for, else, for eligible convolutions with at
// least winoMinC input channels, F(4×4) when the tiles of an image fill a
// micro-panel and winoGemmCost does not prefer F(2×2), F(2×2) when it has
// at least 4 tiles, and the direct convolution otherwise.
//
// Measured (TestWinogradStudy: per-thread CPU time with caches flushed
// between runs; the 3×3 layers of ResNet, GoogLeNet and SqueezeNet; and
// the steps of the zoo's ResNets) on AVX-512: F(4×4) runs 2-2.8× as fast
// as the direct convolution from 13×13 to 56×56 outputs, F(2×2) 1.3-2×;
// on 7×7 and 5×5 F(2×2) gains 1.1-2.4×, while F(4×4)'s 4 tiles fill a
// quarter of a panel and its weights (4× the direct's) are read for them
// alone: 2× slower than the direct convolution on 512 channels. Inside a
// network, whose weights come from memory, F(2×2) beats F(4×4) on
// ResNet-50's 256-channel 14×14 layers by 13% (F(4×4) reads 9.4 MB of
// weights for 16 tiles). With 3 or 4 input channels the GEMMs' sums are
// too short to pay for the transforms. On the generic tier, whose GEMM is
// the bottleneck, F(4×4) gains 2.5-4× from 13×13 up and F(2×2) 2.2× on
// 7×7.
func winoChoose(p *ConvParams, k *Kernels) int {
	switch p.Algo {
	case ConvWinograd2:
		return 2
	case ConvWinograd4:
		return 4
	case ConvDirect:
		return 0
	}
	if !winoEligible(p) || p.C < winoMinC {
		return 0
	}
	oh, ow := p.OutSize()
	switch {
	case ceilDiv(oh, 4)*ceilDiv(ow, 4) >= k.Gemm.NR && winoGemmCost(p, 4, k) <= winoGemmCost(p, 2, k):
		return 4
	case ceilDiv(oh, 2)*ceilDiv(ow, 2) >= 4:
		return 2
	}
	return 0
}

// winoMinC is the fewest input channels PrepareConv uses Winograd for.
const winoMinC = 8

// winoGemmCost is the time of F(m×m, 3×3)'s GEMMs on p per image and
// output-input channel pair, in multiply-adds: a² GEMMs of as many columns
// as the image's tiles, rounded up to the micro-kernel's width; but when
// their weights (a²·M·C floats) are too large to stay in cache from one
// inference to the next, at least winoStreamCols columns, the work over
// which the kernel reads a weight as fast as memory delivers it.
func winoGemmCost(p *ConvParams, m int, k *Kernels) int {
	oh, ow := p.OutSize()
	a2 := (m + 2) * (m + 2)
	cols := roundUp(ceilDiv(oh, m)*ceilDiv(ow, m), k.Gemm.NR)
	if !mulAtMost(winoCachedBytes/4, a2, p.M, p.C) {
		cols = max(cols, winoStreamCols(k.Tier))
	}
	return a2 * cols
}

// winoCachedBytes is the most transformed weights winoGemmCost takes as
// cached (half of a core's L2 on current x86 servers).
const winoCachedBytes = 1 << 20

// winoStreamCols is the kernel's multiply-adds per weight at which tier t
// reads weights as fast as memory delivers them, as GEMM columns: about
// its multiply-adds per second over the floats per second of one core's
// memory bandwidth (AVX-512: ~75 G/s over ~2.5 G/s). The generic GEMM is
// slow enough never to wait for memory.
func winoStreamCols(t Tier) int {
	switch t {
	case AVX512:
		return 32
	case AVX2, NEON:
		return 16
	}
	return 0
}
