package simd

import "math"

// Depthwise convolutions on DWRows: each task has the kernel write its
// channels' output rows straight into y, bias and clamp activations
// (ReLU, ReLU6, none) included, so y is written once. With horizontal
// stride 1 or 2 the kernel reads the input planes themselves: the zero
// padding is never built, as each tap's column range (DWBlock.Lo, Hi)
// skips the padded columns and each run of output rows (a dwSeg) takes
// only the kernel rows inside the image. Larger horizontal strides, and
// column ranges the vector kernels cannot mask (dwMaskable), read phase
// planes (see phasePlanes), where every tap of every output is inside.

// dwSeg is a run of output rows [oy0, oy1) of a depthwise convolution
// that read the same kernel rows: taps [t0, t0+len(offs)) in ky-major
// order, tap t of output row oy (of a channel's source) at
// src0 + (oy-oy0)·dwSrcRow + offs[t], columns lo[t] <= ox < hi[t].
type dwSeg struct {
	oy0, oy1     int
	t0, src0     int
	offs, lo, hi []int
}

// dwDirectStride is the largest horizontal stride DWRows reads the input
// planes at (the vector kernels take 1 and 2); larger ones read phase
// planes. A variable for the tests and benchmarks that compare the two.
var dwDirectStride = 2

// dwRowsLanes are the vector widths (float32 lanes) of the tiers with a
// vector DWRows; a row must be maskable for all of them (dwMaskable).
var dwRowsLanes = []int{8, 16}

// dwMaskable reports whether the vector DWRows kernels can skip the
// padded columns of rows of n outputs by masking only a row's first and
// last vectors: every vector between them reads every tap, for each of
// dwRowsLanes.
func dwMaskable(lo, hi []int, n int) bool {
	for _, l := range dwRowsLanes {
		for t := range lo {
			if !dwRowMaskable(lo[t], hi[t], n, l) {
				return false
			}
		}
	}
	return true
}

// dwRowMaskable is dwMaskable for one tap and one vector width.
func dwRowMaskable(lo, hi, n, lanes int) bool {
	nv := ceilDiv(n, lanes)
	return nv <= 2 || (lo <= lanes && hi >= lanes*(nv-1))
}

// dwRowsTier reports whether depthwise convolutions on k run on DWRows: on
// the tiers with a vector DWRows and on the generic one. NEON has no
// DWRows assembly; its DWConv, Gather and BiasAct assembly (the phase
// planes and the wide output, depthwiseTask) are faster there.
func dwRowsTier(k *Kernels) bool { return k.Tier != NEON }

// prepareDWRows sets up the DWRows path (dwSegs, the source strides and
// the task size): the input planes themselves when the horizontal stride
// is 1 or 2 and the rows are maskable, else the phase planes
// prepareDepthwise laid out.
func (pc *PreparedConv) prepareDWRows() {
	p := &pc.p
	g := &pc.g
	oh, ow := g.oh, g.ow
	pc.dwSegs = nil
	foot := 0 // floats a channel's source takes in the workspace
	pc.dwStride = 1
	if p.StrideW <= dwDirectStride {
		// Output column ox of tap kx reads input column
		// ox·sw + dx, inside for colLo <= ox < colHi.
		colLo, colHi := make([]int, p.KW), make([]int, p.KW)
		for kx := range colLo {
			dx := kx*p.DilW - p.PadLeft // input column of output 0
			if dx < 0 {
				colLo[kx] = min(ceilDiv(-dx, p.StrideW), ow)
			}
			colHi[kx] = colLo[kx]
			if p.W-dx > 0 {
				colHi[kx] = min(max(ceilDiv(p.W-dx, p.StrideW), colLo[kx]), ow)
			}
		}
		if dwMaskable(colLo, colHi, ow) {
			pc.dwSrcRow, pc.dwSrcChan = p.StrideH*p.W, p.H*p.W
			kyRange := func(oy int) (int, int) {
				base := oy*p.StrideH - p.PadTop // input row of ky = 0
				ky0, ky1 := 0, 0
				if base < 0 {
					ky0 = ceilDiv(-base, p.DilH)
				}
				if p.H-base > 0 {
					ky1 = ceilDiv(p.H-base, p.DilH)
				}
				ky0 = min(ky0, p.KH)
				return ky0, min(max(ky1, ky0), p.KH)
			}
			for oy := 0; oy < oh; {
				ky0, ky1 := kyRange(oy)
				oy1 := oy + 1
				for oy1 < oh {
					if a, b := kyRange(oy1); a != ky0 || b != ky1 {
						break
					}
					oy1++
				}
				s := dwSeg{oy0: oy, oy1: oy1, t0: ky0 * p.KW}
				if ky0 < ky1 {
					s.src0 = (oy*p.StrideH - p.PadTop + ky0*p.DilH) * p.W
					for ky := ky0; ky < ky1; ky++ {
						for kx := 0; kx < p.KW; kx++ {
							s.offs = append(s.offs, (ky-ky0)*p.DilH*p.W+kx*p.DilW-p.PadLeft)
							s.lo = append(s.lo, colLo[kx])
							s.hi = append(s.hi, colHi[kx])
						}
					}
				}
				pc.dwSegs = append(pc.dwSegs, s)
				oy = oy1
			}
			pc.dwPrepass = false
			pc.dwStride = p.StrideW
		}
	}
	if pc.dwSegs == nil {
		// The phase planes (prepareDepthwise builds them whenever the
		// input is padded or strided horizontally; unpadded rows of
		// stride 1 are always maskable): every tap of every output
		// inside, one run of rows.
		pc.dwSrcRow, pc.dwSrcChan = pc.dwRow, g.chanStride
		pc.dwExt = (p.KH - 1) * p.DilH / p.StrideH
		foot = g.chanStride
		s := dwSeg{oy0: 0, oy1: oh, offs: pc.dwOffs, lo: make([]int, len(pc.dwOffs)), hi: make([]int, len(pc.dwOffs))}
		for t := range s.hi {
			s.hi[t] = ow
		}
		pc.dwSegs = []dwSeg{s}
	}
	pc.dwGroup = max(1, min(p.C, dwGroupFloats/(foot+oh*ow+p.H*p.W)))
}

// dwClamp returns the clamp DWRows applies for act, and whether act is
// one (ReLU, Clip with ordered bounds, or none).
func dwClamp(act Act) (lo, hi float32, ok bool) {
	inf := float32(math.Inf(1))
	switch act.Kind {
	case ActNone:
		return -inf, inf, true
	case ActRelu:
		return 0, inf, true
	case ActClip:
		if act.Alpha <= act.Beta {
			return act.Alpha, act.Beta, true
		}
	}
	return 0, 0, false
}

// dwRowsTask computes task t of a depthwise convolution on DWRows:
// dwGroup channels of one image. It builds their phase planes in the
// workspace when the convolution reads them, then has DWRows write each
// run of output rows (dwSegs) of all its channels into y. A residual, or
// an activation DWRows cannot clamp to, is applied to y afterwards, in
// bands of rows while they are in L1 when the task has one channel.
func (cp *convProblem) dwRowsTask(ws *workspace, t int) {
	pc := cp.pc
	g := &pc.g
	k := pc.k
	nc, in, out, res, w, bias := cp.dwTaskData(t)
	src := in
	khw := g.kh * g.kw
	lo, hi, clamp := dwClamp(cp.act)
	post := res != nil || !clamp
	if post {
		lo, hi, _ = dwClamp(Act{})
	}
	b := &ws.dwBlock
	*b = DWBlock{Chans: nc, N: g.ow, Stride: pc.dwStride, LDW: khw, SrcChan: pc.dwSrcChan, SrcRow: pc.dwSrcRow,
		DstChan: g.oh * g.ow, DstRow: g.ow, Min: lo, Max: hi}
	// rows computes output rows [oy0, oy1) of every channel.
	rows := func(oy0, oy1 int) {
		for i := range pc.dwSegs {
			s := &pc.dwSegs[i]
			a, e := max(oy0, s.oy0), min(oy1, s.oy1)
			if a >= e {
				continue
			}
			b.Rows, b.Offs, b.Lo, b.Hi = e-a, s.offs, s.lo, s.hi
			sv := src
			if len(s.offs) > 0 {
				sv = src[s.src0+(a-s.oy0)*pc.dwSrcRow:]
			}
			k.DWRows(out[a*g.ow:], sv, w[s.t0:], bias, b)
		}
	}
	epilogue := func(lo, hi int) { cp.dwEpilogue(out, res, lo, hi) }
	if !post && !pc.dwPrepass {
		rows(0, g.oh)
		return
	}
	// Bands of rows: one channel's phase planes are filled a band at a
	// time, so that the kernel reads them from L1.
	band := g.oh
	if nc == 1 {
		if pc.dwPrepass {
			band = max(1, dwPhaseBand/(len(g.phaseRY)*g.wq+g.ow))
		}
		if post {
			band = min(band, max(1, dwBand/g.ow))
		}
	}
	filled := 0 // phase plane rows filled
	for oy0 := 0; oy0 < g.oh; oy0 += band {
		oy1 := min(g.oh, oy0+band)
		if pc.dwPrepass {
			need := g.hq
			if oy1 < g.oh {
				need = min(need, oy1+pc.dwExt)
			}
			src = pc.phaseRows(ws, in, nc, filled, need, filled == 0)[:nc*pc.dwSrcChan]
			filled = need
		}
		rows(oy0, oy1)
		if post && nc == 1 {
			epilogue(oy0*g.ow, oy1*g.ow)
		}
	}
	if post && nc > 1 {
		epilogue(0, len(out))
	}
}
