package simd

import (
	"fmt"
	"sync"
)

// The row-dot GEMV: fully connected layers at batch 1 (and small batches),
// where the product is a stream over the weights, each used once. The
// weights stay row-major (N×K, ONNX Gemm's transB layout) and the tier's
// Kernels.Gemv reads gemvRows rows at once: several concurrent memory
// streams, which the hardware prefetchers serve at well above one
// stream's bandwidth, with the multiply-adds hidden under the loads.
// A kernel multiplies each weight it loads with a few vectors (a small
// batch) at once; GemvBatch splits the rows over threads, and for more
// vectors than a kernel takes at once it walks the rows in blocks small
// enough to stay in L2, so that the weights come from memory once however
// many vectors there are.

// gemvRows is the number of rows every tier's Gemv kernel streams at once
// (the generic kernel's too). Tasks start at multiples of it.
const gemvRows = 4

// checkGemv panics unless a Gemv call with these arguments stays inside its
// slices (see Kernels.Gemv); every tier's Gemv calls it, as the assembly
// does not check.
func checkGemv(ly, lw, lx, ldy, ldw, ldx, m, n, k int) {
	ok := m >= 0 && n >= 0 && k >= 0 && ldw >= k
	if ok && m > 0 && n > 0 {
		ok = (m == 1 || (ldy >= n && ldx >= k)) && rowsFit(ly, m, n, ldy, 0) && rowsFit(lx, m, k, ldx, 0)
		if ok && k > 0 {
			ok = rowsFit(lw, n, k, ldw, 0)
		}
	}
	if !ok {
		panic(fmt.Sprintf("simd: Gemv called with len(y)=%d, len(w)=%d, len(x)=%d, ldy=%d, ldw=%d, ldx=%d, m=%d, n=%d, k=%d: "+
			"want m, n, k >= 0, ldw >= k, ldy >= n and ldx >= k (m > 1), len(y) >= (m-1)*ldy+n, len(x) >= (m-1)*ldx+k, len(w) >= (n-1)*ldw+k",
			ly, lw, lx, ldy, ldw, ldx, m, n, k))
	}
}

// gemvGeneric is the portable Gemv: one vector at a time (so each sum is
// independent of m), with gemv1Generic.
func gemvGeneric(y []float32, ldy int, w []float32, ldw int, x []float32, ldx int, m, n, k int) {
	checkGemv(len(y), len(w), len(x), ldy, ldw, ldx, m, n, k)
	if n == 0 {
		return
	}
	for v := 0; v < m; v++ {
		gemv1Generic(y[v*ldy:v*ldy+n], w, x[v*ldx:v*ldx+k], n, k, ldw)
	}
}

// gemv1Generic is the portable Gemv of one vector: gemvRows rows at a
// time, each summed in two interleaved float32 accumulators (even and odd
// p), added at the end. A row computed alone (the last n%4) goes through
// the same steps. The caller has checked the arguments.
func gemv1Generic(y, w, x []float32, n, k, ldw int) {
	if k == 0 {
		clear(y[:n]) // w may be empty
		return
	}
	x = x[:k]
	i := 0
	for ; i+gemvRows <= n; i += gemvRows {
		w0 := w[i*ldw : i*ldw+k : i*ldw+k]
		w1 := w[(i+1)*ldw : (i+1)*ldw+k : (i+1)*ldw+k]
		w2 := w[(i+2)*ldw : (i+2)*ldw+k : (i+2)*ldw+k]
		w3 := w[(i+3)*ldw : (i+3)*ldw+k : (i+3)*ldw+k]
		var a0, b0, a1, b1, a2, b2, a3, b3 float32
		p := 0
		for ; p+2 <= k; p += 2 {
			xe, xo := x[p], x[p+1]
			a0 += w0[p] * xe
			b0 += w0[p+1] * xo
			a1 += w1[p] * xe
			b1 += w1[p+1] * xo
			a2 += w2[p] * xe
			b2 += w2[p+1] * xo
			a3 += w3[p] * xe
			b3 += w3[p+1] * xo
		}
		if p < k {
			xe := x[p]
			a0 += w0[p] * xe
			a1 += w1[p] * xe
			a2 += w2[p] * xe
			a3 += w3[p] * xe
		}
		yy := y[i : i+4 : i+4]
		yy[0], yy[1], yy[2], yy[3] = a0+b0, a1+b1, a2+b2, a3+b3
	}
	for ; i < n; i++ {
		w0 := w[i*ldw : i*ldw+k : i*ldw+k]
		var a0, b0 float32
		p := 0
		for ; p+2 <= k; p += 2 {
			a0 += w0[p] * x[p]
			b0 += w0[p+1] * x[p+1]
		}
		if p < k {
			a0 += w0[p] * x[p]
		}
		y[i] = a0 + b0
	}
}

// gemvTuning holds GemvBatch's blocking; tests shrink it to exercise the
// edges with small matrices.
var gemvTuning = struct {
	blockBytes   int // weights per row block when several vectors reuse them (L2)
	taskBytes    int // smallest task, in bytes of weights, when splitting over threads
	tasksPerThrd int // tasks per thread (load balance on a busy machine)
}{
	blockBytes:   192 << 10,
	taskBytes:    64 << 10,
	tasksPerThrd: 4,
}

// gemvJob is one GemvBatch call, pooled; run is bound once so handing it to
// a Parallel does not allocate.
type gemvJob struct {
	k             *Kernels
	y, w, x       []float32
	ldy, ldw, ldx int
	m, n, kd      int
	alpha         float32
	ep            Epilogue
	perTask       int // rows per task (a multiple of gemvRows)
	block         int // rows per Gemv call within a task (L2-sized for several vectors)
	run           func(lo, hi int)
}

var gemvPool = sync.Pool{New: func() any {
	j := new(gemvJob)
	j.run = j.tasks
	return j
}}

// GemvBatch computes, for the row-major n×kd matrix w (row i at
// w[i*ldw:]) and the m vectors x_v = x[v*ldx : v*ldx+kd],
//
//	y[v*ldy+i] = ep.Act(alpha·Σ_{p<kd} w[i*ldw+p]·x[v*ldx+p] + ep.Bias[i])
//
// for v < m, i < n (the bias taken as 0 when ep.Bias is nil; ep.Residual
// must be nil). That is Y = act(alpha·X·Wᵀ + bias), a fully connected
// layer over m inputs, for small m: w is read from memory once, in
// several concurrent row streams (Kernels.Gemv), split over par's threads
// by rows. Each output is summed by the tier's Gemv in its own order, the
// same whatever par is, so results are bit-identical for every Parallel.
// Steady-state calls allocate nothing.
//
// It panics when a slice is too short, a stride is below kd (ldy below n
// when m > 1), or ep.Residual is set: programming errors, not input
// errors.
func (k *Kernels) GemvBatch(y []float32, ldy int, w []float32, ldw int, x []float32, ldx int, m, n, kd int, alpha float32, ep Epilogue, par Parallel) {
	if m < 0 || n < 0 || kd < 0 || ldw < kd || (m > 1 && (ldx < kd || ldy < n)) || ep.Residual != nil {
		panic(fmt.Sprintf("simd: GemvBatch: m=%d, n=%d, kd=%d, ldy=%d, ldw=%d, ldx=%d, residual %v", m, n, kd, ldy, ldw, ldx, ep.Residual != nil))
	}
	if m == 0 || n == 0 {
		return
	}
	if !rowsFit(len(y), m, n, ldy, 0) || !rowsFit(len(x), m, kd, ldx, 0) || (kd > 0 && !rowsFit(len(w), n, kd, ldw, 0)) || (ep.Bias != nil && len(ep.Bias) < n) {
		panic(fmt.Sprintf("simd: GemvBatch: len(y)=%d, len(w)=%d, len(x)=%d, %d biases for m=%d, n=%d, kd=%d, ldy=%d, ldw=%d, ldx=%d",
			len(y), len(w), len(x), len(ep.Bias), m, n, kd, ldy, ldw, ldx))
	}
	j := gemvPool.Get().(*gemvJob)
	j.k, j.y, j.w, j.x = k, y, w, x
	j.ldy, j.ldw, j.ldx, j.m, j.n, j.kd = ldy, ldw, ldx, m, n, kd
	j.alpha, j.ep = alpha, ep
	rowBytes := 4 * max(kd, 1)
	groups := ceilDiv(n, gemvRows)
	j.block = n
	if m > 1 {
		j.block = max(1, gemvTuning.blockBytes/(rowBytes*gemvRows)) * gemvRows
	}
	tasks := 1
	if threads := ThreadsOf(par); threads > 1 {
		minGroups := max(1, gemvTuning.taskBytes/(rowBytes*gemvRows))
		tasks = max(1, min(threads*gemvTuning.tasksPerThrd, groups/minGroups))
	}
	j.perTask = ceilDiv(groups, tasks) * gemvRows
	ForEach(par, ceilDiv(n, j.perTask), j.run)
	j.k, j.y, j.w, j.x, j.ep = nil, nil, nil, nil, Epilogue{}
	gemvPool.Put(j)
}

// tasks computes tasks [lo, hi): rows [t·perTask, (t+1)·perTask) of every
// vector, in blocks, each block's epilogue right after its products.
func (j *gemvJob) tasks(lo, hi int) {
	for t := lo; t < hi; t++ {
		i0, i1 := t*j.perTask, min(j.n, (t+1)*j.perTask)
		for b0 := i0; b0 < i1; b0 += j.block {
			b1 := min(i1, b0+j.block)
			j.k.Gemv(j.y[b0:], j.ldy, j.w[b0*j.ldw:], j.ldw, j.x, j.ldx, j.m, b1-b0, j.kd)
			for v := 0; v < j.m; v++ {
				j.epilogue(j.y[v*j.ldy+b0:v*j.ldy+b1], b0)
			}
		}
	}
}

// epilogue applies alpha, the bias and the activation to yv, the outputs
// of rows i0.. of one vector.
func (j *gemvJob) epilogue(yv []float32, i0 int) {
	if j.alpha != 1 {
		for i := range yv {
			yv[i] *= j.alpha
		}
	}
	if j.ep.Bias != nil {
		j.k.AddTo(yv, j.ep.Bias[i0:i0+len(yv)])
	}
	if j.ep.Act.Kind != ActNone {
		j.k.BiasAct(yv, 0, j.ep.Act)
	}
}
