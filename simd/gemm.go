package simd

import (
	"fmt"
	"sync"
)

// The f32 GEMM driver: C = A·B for a pre-packed A and a B that packs itself
// (a dense matrix, or an image read through a convolution's window: im2col
// fused into packing), blocked for the caches, split over threads, with the
// fused epilogue (residual, bias, activation) applied while each block of C
// is still in cache. The innermost work is the tier's micro-kernel
// (Kernels.Gemm), which always sees full MR×NR tiles.
//
// Tasks are blocks of rows [i0,i1) and columns [j0,j1) of one GEMM's C.
// The row block is as tall as keeps its A block ((i1-i0)·kc floats) in L2,
// and is split further only when there are not enough column blocks for
// the threads; when a GEMM has several row blocks, B is packed once up
// front (over all of K) and shared by them. Loop nest of one task:
//
//	for each K block [p0, p0+kc):        kc sized so a B panel (kc·NR) sits in L1
//	    for each NR-column panel of B:   packed a few panels at a time, unless shared
//	        for each MR panel of A:      micro-kernel, accumulating from the 2nd K block
//	        in the last K block, every few panels: the epilogue on those
//	        columns of C (all rows), while they are still in cache
//
// Every task sums K in the same blocks, in the same order, with the same
// tile grid (tiles start at multiples of MR and NR from the origin), so
// the result does not depend on the number of threads or on how the work
// is split: it is bit-identical for any Parallel.

// PackedA is an M×K matrix packed for one micro-kernel row count MR:
// ceil(M/MR) panels of K·MR floats; panel r holds rows r·MR..r·MR+MR-1,
// k-major (the MR values of column p are contiguous), rows past M zero.
// Build it once (at model load) with Kernels.PackA; it is read-only
// afterwards and may be shared by concurrent GemmPacked calls of any tier
// with the same MR.
type PackedA struct {
	m, k, mr int
	data     []float32
}

// Rows returns M.
func (pa *PackedA) Rows() int { return pa.m }

// Cols returns K.
func (pa *PackedA) Cols() int { return pa.k }

// panel returns the slice of row panel r for columns [p0, p0+kc).
func (pa *PackedA) panel(r, p0, kc int) []float32 {
	off := r*pa.k*pa.mr + p0*pa.mr
	return pa.data[off : off+kc*pa.mr]
}

// PackA packs the row-major m×kd matrix a (element (i, p) at a[i*lda+p])
// for this tier's micro-kernel.
func (k *Kernels) PackA(m, kd int, a []float32, lda int) *PackedA {
	return k.PackAStrided(m, kd, a, lda, 1)
}

// PackAStrided packs the m×kd matrix whose element (i, p) is
// a[i*rowStride+p*colStride]: PackAStrided(m, kd, a, 1, lda) packs the
// transpose of a row-major kd×m matrix. It panics if a is too short.
func (k *Kernels) PackAStrided(m, kd int, a []float32, rowStride, colStride int) *PackedA {
	if m < 0 || kd < 0 {
		panic(fmt.Sprintf("simd: PackA: negative size %d×%d", m, kd))
	}
	mr := k.Gemm.MR
	np := (m + mr - 1) / mr
	pa := &PackedA{m: m, k: kd, mr: mr, data: make([]float32, np*kd*mr)}
	if m > 0 && kd > 0 {
		_ = a[(m-1)*rowStride+(kd-1)*colStride]
	}
	for r := 0; r < np; r++ {
		rows := min(mr, m-r*mr)
		dst := pa.data[r*kd*mr : (r+1)*kd*mr]
		for i := 0; i < rows; i++ {
			src := (r*mr + i) * rowStride
			for p := 0; p < kd; p++ {
				dst[p*mr+i] = a[src+p*colStride]
			}
		}
	}
	return pa
}

// BSource is the right-hand operand of GemmPacked: a virtual K×N matrix
// that packs pieces of itself on demand.
type BSource interface {
	// PackB packs rows p0..p0+kc-1 of columns j0..j0+n-1 into ceil(n/nr)
	// panels of kc·nr floats each, k-major within a panel: element
	// (p0+p, j0+q) goes to dst[(q/nr)*kc*nr + p*nr + q%nr], and the columns
	// of the last panel past n are zero. It may be called concurrently for
	// different pieces, and must not retain dst.
	PackB(dst []float32, p0, kc, j0, n, nr int)
}

// DenseB is a BSource over a stored matrix: element (p, j) is
// Data[p*Stride+j], or Data[j*Stride+p] when Trans is set (B stored
// transposed, N×K). Pass a *DenseB that outlives the call (a field of a
// long-lived struct) to keep GemmPacked free of allocations.
type DenseB struct {
	Data   []float32
	Stride int
	Trans  bool
}

// PackB implements BSource.
func (d *DenseB) PackB(dst []float32, p0, kc, j0, n, nr int) {
	np := (n + nr - 1) / nr
	dst = dst[:np*kc*nr]
	if d.Trans {
		for q := 0; q < np; q++ {
			w := min(nr, n-q*nr)
			pan := dst[q*kc*nr : (q+1)*kc*nr]
			for jj := 0; jj < w; jj++ {
				src := d.Data[(j0+q*nr+jj)*d.Stride+p0:][:kc]
				for p, v := range src {
					pan[p*nr+jj] = v
				}
			}
			if w < nr {
				for p := 0; p < kc; p++ {
					clear(pan[p*nr+w : (p+1)*nr])
				}
			}
		}
		return
	}
	packPanels(dst, d.Data, nil, p0*d.Stride+j0, d.Stride, kc, n, nr)
}

// packPanels packs kc rows of n columns into PackB's panel layout, panel
// by panel (writes stream through one panel at a time): row p starts at
// src[offs[p]+base], or at src[base+p*stride] when offs is nil.
func packPanels(dst, src []float32, offs []int, base, stride, kc, n, nr int) {
	np := ceilDiv(n, nr)
	for q := 0; q < np; q++ {
		pan := dst[q*kc*nr : (q+1)*kc*nr]
		col := base + q*nr
		if w := n - q*nr; w < nr {
			for p := 0; p < kc; p++ {
				o := col + p*stride
				if offs != nil {
					o = col + offs[p]
				}
				d := pan[p*nr : p*nr+nr]
				copy(d, src[o:o+w])
				clear(d[w:])
			}
			continue
		}
		if offs == nil {
			switch nr {
			case 16:
				for p := 0; p < kc; p++ {
					copy16(pan[p*16:p*16+16], src[col+p*stride:])
				}
			default:
				for p := 0; p < kc; p++ {
					copyNR(pan[p*nr:p*nr+nr], src[col+p*stride:])
				}
			}
			continue
		}
		switch nr {
		case 16:
			for p, o := range offs[:kc] {
				copy16(pan[p*16:p*16+16], src[col+o:])
			}
		default:
			for p, o := range offs[:kc] {
				copyNR(pan[p*nr:p*nr+nr], src[col+o:])
			}
		}
	}
}

// copy16 copies 16 floats in 16-byte moves (small enough to inline).
func copy16(d, s []float32) {
	s, d = s[:16], d[:16]
	*(*[4]float32)(d) = *(*[4]float32)(s)
	*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
	*(*[4]float32)(d[8:]) = *(*[4]float32)(s[8:])
	*(*[4]float32)(d[12:]) = *(*[4]float32)(s[12:])
}

// copyNR copies len(d) floats from s to d (len(s) >= len(d)) in 16-byte
// moves when the length allows.
func copyNR(d, s []float32) {
	switch len(d) {
	case 8:
		s = s[:8]
		*(*[4]float32)(d) = *(*[4]float32)(s)
		*(*[4]float32)(d[4:]) = *(*[4]float32)(s[4:])
	case 16:
		copy16(d, s)
	case 32:
		copy16(d, s)
		copy16(d[16:], s[16:])
	default:
		copy(d, s)
	}
}

// packRow writes src (consecutive columns q, q+1, ... of row p of a block)
// into the panel layout of PackB; the offset advances without division.
func packRow(dst []float32, kc, nr, p, q int, src []float32) {
	step := kc * nr
	di := q/nr*step + p*nr
	if off := q % nr; off != 0 {
		w := min(nr-off, len(src))
		copy(dst[di+off:di+off+w], src[:w])
		src = src[w:]
		di += step
	}
	for ; len(src) >= nr; src = src[nr:] {
		copyNR(dst[di:di+nr], src)
		di += step
	}
	if len(src) > 0 {
		copy(dst[di:di+len(src)], src)
	}
}

// packRowStrided is packRow for cnt source values src[0], src[s], src[2s], ...
func packRowStrided(dst []float32, kc, nr, p, q int, src []float32, s, cnt int) {
	if cnt <= 0 {
		return
	}
	src = src[:(cnt-1)*s+1]
	for cnt > 0 {
		pan, off := q/nr, q%nr
		w := min(nr-off, cnt)
		d := dst[pan*kc*nr+p*nr+off:][:w]
		for i := range d {
			d[i] = src[i*s]
		}
		src = src[min(len(src), w*s):]
		q += w
		cnt -= w
	}
}

// zeroRow writes cnt zeros at columns q.. of row p of a block.
func zeroRow(dst []float32, kc, nr, p, q, cnt int) {
	for cnt > 0 {
		pan, off := q/nr, q%nr
		w := min(nr-off, cnt)
		clear(dst[pan*kc*nr+p*nr+off:][:w])
		q += w
		cnt -= w
	}
}

// padPanels zeroes the columns past n in the last panel of a block.
func padPanels(dst []float32, kc, nr, n int) {
	if w := n % nr; w != 0 {
		pan := dst[(n/nr)*kc*nr:][:kc*nr]
		for p := 0; p < kc; p++ {
			clear(pan[p*nr+w : (p+1)*nr])
		}
	}
}

// Epilogue is what GemmPacked (and a convolution) does to each row i of C
// after the product, in this order:
//
//	c = A·B                       (the sum over K)
//	c += Residual[i*ResidualStride + j]   when Residual != nil
//	c = Act(c + Bias[i])          (Bias[i] taken as 0 when Bias is nil)
//
// that is c = act(A·B + residual + bias), the fusion of ONNX's Conv → Add →
// Relu (a bias added before or after the residual differs only by float
// rounding). Residual must not overlap C. The zero Epilogue does nothing.
type Epilogue struct {
	Bias           []float32 // one per row of C, or nil
	Residual       []float32 // same shape as C, or nil
	ResidualStride int       // row stride of Residual
	Act            Act
}

// gemmProblem is one or more GEMMs with the same M, N, K that a job
// computes: GemmPacked's single product, or a convolution's product per
// (image, group).
type gemmProblem interface {
	a(q int) *PackedA
	// source returns GEMM q's B; it may keep its state in ws.
	source(q int, ws *workspace) BSource
	// out returns GEMM q's C, its row stride, and its epilogue; or a nil C
	// when the product goes through a workspace tile and finish.
	out(q int) (c []float32, ldc int, ep Epilogue)
	// finish copies rows [i0, i1), columns [j0, j1) of GEMM q's product,
	// held in tile (row stride ldt, first element (i0, j0)), to the output
	// and applies the epilogue. Only called when out returns a nil C.
	finish(q int, tile []float32, ldt, i0, i1, j0, j1 int)
}

// tuning holds the blocking parameters; tests shrink them to exercise
// every edge with small matrices.
var tuning = struct {
	l1Bytes   int // budget for one B micro-panel (kc·NR floats): sets kc
	l2ABytes  int // budget for a task's A block (rows·kc floats): sets the row block
	l2CBytes  int // budget for a task's block of C (rows·nc floats): sets nc
	minMTask  int // smallest row block when rows are split over threads, in MR panels
	sharedMax int // largest up-front packed B (floats) before falling back to per-task packing
	packBytes int // bytes of each row of B read in one run when packing
	epBytes   int // bytes of C the epilogue follows the product at
	epMinCols int // but at least this many columns at a time
	forceKC   int // > 0: use this kc
	forceNC   int // > 0: use this nc (rounded up to NR)
	forceMC   int // > 0: use at most this many rows per task (rounded up to MR)
}{
	l1Bytes:   24 << 10,
	l2ABytes:  384 << 10,
	l2CBytes:  384 << 10,
	minMTask:  4,
	sharedMax: 16 << 20,
	packBytes: 4096,
	epBytes:   128 << 10,
	epMinCols: 128,
}

// gemmPlan is the blocking of a batch of GEMMs.
type gemmPlan struct {
	m, n, k        int
	mr, nr         int
	kc, nc         int // K block, column block (task width)
	packW          int // columns packed at a time (multiple of NR)
	mTask          int // rows per task (multiple of MR)
	tasksM, tasksN int // task grid per GEMM
	count          int // number of GEMMs
	shared         bool
	npad           int // N rounded up to NR (shared layout)
	packTasks      int // up-front packing tasks per GEMM (shared only)
	panelsPerPack  int
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func roundUp(a, b int) int { return ceilDiv(a, b) * b }

// planGemm chooses the blocking for count GEMMs of m×k by k×n on threads
// goroutines. Only the task split depends on threads; kc and the tile grid
// do not, which keeps results independent of it.
func planGemm(g GemmKernel, m, n, k, count, threads int) gemmPlan {
	mr, nr := g.MR, g.NR
	p := gemmPlan{m: m, n: n, k: k, mr: mr, nr: nr, count: count, npad: roundUp(n, nr)}
	kcMax := min(512, max(16, tuning.l1Bytes/(4*max(mr, nr))))
	if tuning.forceKC > 0 {
		kcMax = tuning.forceKC
	}
	if k > 0 {
		p.kc = ceilDiv(k, ceilDiv(k, kcMax))
	}
	kc := max(p.kc, 1)
	// Rows: as many as keep the A block in L2; each row block packs B
	// again, which costs 1/(2·rows) of the flops.
	mMax := max(mr, tuning.l2ABytes/(4*kc)/mr*mr)
	if tuning.forceMC > 0 {
		mMax = roundUp(tuning.forceMC, mr)
	}
	m = max(m, 1)
	p.tasksM = ceilDiv(m, mMax)
	p.mTask = roundUp(ceilDiv(m, p.tasksM), mr)
	p.tasksM = ceilDiv(m, p.mTask)
	// Columns: a task's block of C stays in L2 for the epilogue.
	p.nc = min(4096, max(nr, tuning.l2CBytes/(4*p.mTask)/nr*nr))
	if threads > 1 {
		// Aim for about four tasks per thread, in columns first (no
		// redundant packing), but keep tasks at least 4 panels wide.
		want := ceilDiv(4*threads, count*p.tasksM)
		p.nc = min(p.nc, max(4*nr, roundUp(ceilDiv(n, want), nr)))
	}
	if tuning.forceNC > 0 {
		p.nc = roundUp(tuning.forceNC, nr)
	}
	p.tasksN = max(1, ceilDiv(n, p.nc))
	p.packW = min(p.nc, max(nr, roundUp(tuning.packBytes/4, nr)))
	fits := mulAtMost(tuning.sharedMax, count, k, p.npad)
	if threads > 1 && count*p.tasksN*p.tasksM < 2*threads && fits {
		// Too few blocks to feed the threads: split the rows further
		// (sharing B, below).
		tm := ceilDiv(4*threads, count*p.tasksN)
		mt := max(roundUp(ceilDiv(m, tm), mr), tuning.minMTask*mr)
		if tm = ceilDiv(m, mt); tm > p.tasksM {
			p.mTask, p.tasksM = mt, tm
		}
	}
	if threads > 1 {
		// Blocks are split evenly in panels (see blockRange); make the
		// number of tasks a multiple of threads where blocks stay at
		// least two panels, so no thread is left with one extra task.
		if r := count * p.tasksM * p.tasksN % threads; r != 0 && count*p.tasksM*p.tasksN < 8*threads {
			if count*p.tasksM == 1 && ceilDiv(n, p.nr) >= 2*threads*ceilDiv(p.tasksN, threads) {
				p.tasksN = roundUp(p.tasksN, threads)
			} else if count*p.tasksN == 1 && ceilDiv(m, mr) >= 2*threads*ceilDiv(p.tasksM, threads) {
				p.tasksM = roundUp(p.tasksM, threads)
			}
		}
	}
	if p.tasksM > 1 && k > 0 && fits {
		// Several row blocks: pack B once, up front, for all of them.
		p.shared = true
		p.panelsPerPack = max(1, ceilDiv(p.npad/nr*count, 4*threads))
		p.packTasks = ceilDiv(p.npad/nr, p.panelsPerPack)
	}
	return p
}

// tasks is the number of product tasks over all GEMMs.
func (p *gemmPlan) tasks() int { return p.count * p.tasksM * p.tasksN }

// workspace is one goroutine's scratch, reused through wsPool so that
// steady-state calls allocate nothing.
type workspace struct {
	b    []float32 // packed B block
	tile []float32 // MR×NR edge tile
	c    []float32 // a task's block of C when the problem copies out
	conv convSource
	dw   dwScratch // a depthwise convolution's phase planes
	// dwBlock is the DWRows geometry of a depthwise task (here, so that
	// passing it does not allocate).
	dwBlock DWBlock
}

var wsPool = sync.Pool{New: func() any { return new(workspace) }}

// grow returns s resized to n, reallocating only when it is too small.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n, n+n/4)
	}
	return s[:n]
}

// gemmJob is one driver call: a problem, its plan and its phase. Jobs are
// pooled; run is bound to the job once so handing it to a Parallel does not
// allocate.
type gemmJob struct {
	k      *Kernels
	plan   gemmPlan
	prob   gemmProblem
	phase  int       // jobPack or jobGemm
	shared []float32 // B packed up front: count × (npad/NR panels of K·NR)
	xq     []float32 // a convolution's phase planes (convWide)
	run    func(lo, hi int)

	single singleGemm // GemmPacked's problem
	conv   convProblem
}

const (
	jobPack = iota
	jobGemm
	jobDepthwise
	jobGrouped
	jobPrepass
)

var jobPool = sync.Pool{New: func() any {
	j := new(gemmJob)
	j.run = j.runTasks
	return j
}}

func getJob(k *Kernels) *gemmJob {
	j := jobPool.Get().(*gemmJob)
	j.k = k
	return j
}

func putJob(j *gemmJob) {
	j.prob = nil
	j.single = singleGemm{}
	j.conv = convProblem{}
	j.k = nil
	jobPool.Put(j)
}

// execute runs the planned problem: the up-front packing phase when the
// plan shares B, then the product tasks.
func (j *gemmJob) execute(par Parallel) {
	p := &j.plan
	if p.m == 0 || p.n == 0 || p.count == 0 {
		return
	}
	if p.shared {
		j.shared = grow(j.shared, p.count*p.k*p.npad)
		j.phase = jobPack
		ForEach(par, p.count*p.packTasks, j.run)
	}
	j.phase = jobGemm
	ForEach(par, p.tasks(), j.run)
}

func (j *gemmJob) runTasks(lo, hi int) {
	ws := wsPool.Get().(*workspace)
	for t := lo; t < hi; t++ {
		switch j.phase {
		case jobPack:
			j.packTask(ws, t)
		case jobGemm:
			j.gemmTask(ws, t)
		case jobDepthwise:
			j.conv.depthwiseTask(ws, t)
		case jobGrouped:
			j.conv.groupedTask(ws, t)
		case jobPrepass:
			j.conv.prepassTask(t)
		}
	}
	wsPool.Put(ws)
}

// packTask packs a run of B panels of one GEMM over all of K into the
// shared buffer.
func (j *gemmJob) packTask(ws *workspace, t int) {
	p := &j.plan
	q, r := t/p.packTasks, t%p.packTasks
	jp0 := r * p.panelsPerPack
	jp1 := min(p.npad/p.nr, jp0+p.panelsPerPack)
	j0, j1 := jp0*p.nr, min(p.n, jp1*p.nr)
	dst := j.shared[q*p.k*p.npad+jp0*p.k*p.nr : q*p.k*p.npad+jp1*p.k*p.nr]
	j.prob.source(q, ws).PackB(dst, 0, p.k, j0, j1-j0, p.nr)
}

// blockRange is block b of n indices split into blocks evenly, in whole
// panels of size w: no block has more than ceilDiv(ceilDiv(n, w), blocks)
// panels, so none exceeds the plan's mTask or nc. Only the split moves;
// each element's sum is computed the same way whatever the split.
func blockRange(b, blocks, n, w int) (lo, hi int) {
	panels := ceilDiv(n, w)
	lo = b * panels / blocks * w
	hi = min(n, (b+1)*panels/blocks*w)
	return lo, hi
}

// gemmTask computes one block of one GEMM's C and applies its epilogue.
func (j *gemmJob) gemmTask(ws *workspace, t int) {
	p := &j.plan
	per := p.tasksM * p.tasksN
	q, r := t/per, t%per
	i0, i1 := blockRange(r/p.tasksN, p.tasksM, p.m, p.mr)
	j0, j1 := blockRange(r%p.tasksN, p.tasksN, p.n, p.nr)
	c, ldc, ep := j.prob.out(q)
	// cb is C's block (first element (i0, j0)) with stride ld: in C
	// itself, or in the workspace when the problem copies out.
	cb, ld := c, ldc
	if c != nil {
		cb = c[i0*ldc+j0:]
	} else {
		ld = j1 - j0
		ws.c = grow(ws.c, (i1-i0)*ld)
		cb = ws.c
	}
	// done applies the epilogue to columns [ja, jb) of the block, once
	// their sums are final.
	done := func(ja, jb int) {
		if c != nil {
			j.k.epilogue(&ep, c, ldc, i0, i1, ja, jb)
		} else {
			j.prob.finish(q, cb[ja-j0:], ld, i0, i1, ja, jb)
		}
	}
	if p.k == 0 {
		for i := 0; i < i1-i0; i++ {
			clear(cb[i*ld : i*ld+j1-j0])
		}
		done(j0, j1)
		return
	}
	pa := j.prob.a(q)
	ws.tile = grow(ws.tile, p.mr*p.nr)
	var src BSource
	if !p.shared {
		src = j.prob.source(q, ws)
		ws.b = grow(ws.b, p.kc*p.packW)
	}
	// In the last K block the epilogue follows every few panels, while
	// their columns of C (epW wide, all rows) are still in cache, but in
	// runs long enough that its per-call cost does not matter.
	epW := max(roundUp(tuning.epMinCols, p.nr), tuning.epBytes/(4*(i1-i0))/p.nr*p.nr)
	for p0 := 0; p0 < p.k; p0 += p.kc {
		kc := min(p.kc, p.k-p0)
		last := p0+kc >= p.k
		epFrom := j0
		// Pack a few panels at a time, each row of B read as one
		// sequential run; each panel then stays in L1 while every row
		// panel of A passes over it.
		for jb := j0; jb < j1; jb += p.packW {
			jbe := min(j1, jb+p.packW)
			if !p.shared {
				src.PackB(ws.b, p0, kc, jb, jbe-jb, p.nr)
			}
			for jr := jb; jr < jbe; jr += p.nr {
				var bpan []float32
				if p.shared {
					off := q*p.k*p.npad + jr*p.k + p0*p.nr
					bpan = j.shared[off : off+kc*p.nr]
				} else {
					off := (jr - jb) * kc
					bpan = ws.b[off : off+kc*p.nr]
				}
				je := min(j1, jr+p.nr)
				j.k.panelKernel(pa, p0, kc, bpan, i0, i1, je-jr, cb[jr-j0:], ld, p0 > 0, ws.tile)
				if last && (je-epFrom >= epW || je == j1) {
					done(epFrom, je)
					epFrom = je
				}
			}
		}
	}
}

// panelKernel multiplies rows [i0, i1) of pa (columns p0..p0+kc) by the
// packed B panel bpan (w <= NR valid columns) into C at c (row stride
// ldc, first element (i0, the panel's first column)), accumulating when
// acc is set. Partial tiles go through tile, so the micro-kernel always
// computes a full one.
func (k *Kernels) panelKernel(pa *PackedA, p0, kc int, bpan []float32, i0, i1, w int, c []float32, ldc int, acc bool, tile []float32) {
	mr, nr, fn := k.Gemm.MR, k.Gemm.NR, k.Gemm.Fn
	for ir := i0; ir < i1; ir += mr {
		h := min(mr, i1-ir)
		apan := pa.panel(ir/mr, p0, kc)
		co := (ir - i0) * ldc
		if h == mr && w == nr {
			fn(kc, apan, bpan, c[co:co+(mr-1)*ldc+nr], ldc, acc)
			continue
		}
		fn(kc, apan, bpan, tile, nr, false)
		for i := 0; i < h; i++ {
			row := c[co+i*ldc : co+i*ldc+w]
			t := tile[i*nr : i*nr+w]
			if acc {
				for x, v := range t {
					row[x] += v
				}
			} else {
				copy(row, t)
			}
		}
	}
}

// epilogue applies ep to rows [i0, i1), columns [j0, j1) of C.
func (k *Kernels) epilogue(ep *Epilogue, c []float32, ldc, i0, i1, j0, j1 int) {
	if ep.Residual == nil && ep.Bias == nil && ep.Act.Kind == ActNone {
		return
	}
	for i := i0; i < i1; i++ {
		row := c[i*ldc+j0 : i*ldc+j1]
		if ep.Residual != nil {
			k.AddTo(row, ep.Residual[i*ep.ResidualStride+j0:i*ep.ResidualStride+j1])
		}
		var b float32
		if ep.Bias != nil {
			b = ep.Bias[i]
		}
		if ep.Bias != nil || ep.Act.Kind != ActNone {
			k.BiasAct(row, b, ep.Act)
		}
	}
}

// singleGemm is GemmPacked's problem.
type singleGemm struct {
	pa  *PackedA
	b   BSource
	c   []float32
	ldc int
	ep  Epilogue
}

func (s *singleGemm) a(int) *PackedA                                 { return s.pa }
func (s *singleGemm) source(int, *workspace) BSource                 { return s.b }
func (s *singleGemm) out(int) ([]float32, int, Epilogue)             { return s.c, s.ldc, s.ep }
func (s *singleGemm) finish(int, []float32, int, int, int, int, int) {}

// GemmPacked computes C = A·B for the packed M×K matrix pa and the K×n
// matrix b, then applies ep to each row (see Epilogue). Row i of C is
// c[i*ldc : i*ldc+n]; nothing else in c is written. par splits the work
// (nil: serial); the result is bit-identical for every par. Steady-state
// calls allocate nothing (scratch comes from internal pools) provided b is
// a pointer that already lives on the heap.
//
// It panics when pa was packed for a different MR, or when c, ep.Bias or
// ep.Residual are too short: these are programming errors, not input
// errors.
func (k *Kernels) GemmPacked(pa *PackedA, n int, b BSource, c []float32, ldc int, ep Epilogue, par Parallel) {
	if pa.mr != k.Gemm.MR {
		panic(fmt.Sprintf("simd: GemmPacked: A packed for MR=%d, kernel %s has MR=%d", pa.mr, k.Gemm.ID, k.Gemm.MR))
	}
	if n < 0 {
		panic("simd: GemmPacked: negative n")
	}
	if pa.m == 0 || n == 0 {
		return
	}
	if ldc < n || len(c) < (pa.m-1)*ldc+n {
		panic(fmt.Sprintf("simd: GemmPacked: C has %d floats with stride %d, need %d×%d", len(c), ldc, pa.m, n))
	}
	if ep.Bias != nil && len(ep.Bias) < pa.m {
		panic(fmt.Sprintf("simd: GemmPacked: %d biases for %d rows", len(ep.Bias), pa.m))
	}
	if ep.Residual != nil && (ep.ResidualStride < n || len(ep.Residual) < (pa.m-1)*ep.ResidualStride+n) {
		panic(fmt.Sprintf("simd: GemmPacked: residual has %d floats with stride %d, need %d×%d", len(ep.Residual), ep.ResidualStride, pa.m, n))
	}
	j := getJob(k)
	j.single = singleGemm{pa: pa, b: b, c: c, ldc: ldc, ep: ep}
	j.prob = &j.single
	j.plan = planGemm(k.Gemm, pa.m, n, pa.k, 1, ThreadsOf(par))
	j.execute(par)
	putJob(j)
}
