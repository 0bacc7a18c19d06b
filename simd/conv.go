package simd

import (
	"errors"
	"fmt"
	"math"
)

// ConvParams is the geometry of a 2-D convolution over NCHW float32 data
// (ONNX Conv with two spatial axes). Zero strides, dilations and group
// mean 1. The batch size is not part of it: Run takes any number of images.
type ConvParams struct {
	C, H, W int // input channels, height, width
	M       int // output channels
	KH, KW  int // kernel height and width

	StrideH, StrideW int
	DilH, DilW       int
	// Pads are the zeros added before (Top, Left) and after (Bottom,
	// Right) each spatial axis: ONNX pads [top, left, bottom, right].
	PadTop, PadLeft, PadBottom, PadRight int

	Group int

	// Algo picks the algorithm (the zero value lets PrepareConv choose):
	// see ConvAlgo.
	Algo ConvAlgo
}

// convLimit bounds every product of sizes a convolution computes with,
// and convFieldLimit every single parameter, so that index arithmetic
// cannot overflow an int on 32-bit platforms.
const (
	convLimit      = math.MaxInt32 / 2
	convFieldLimit = 1 << 24
)

// mulLimit reports whether the product of vals (all >= 0) is at most
// convLimit.
func mulLimit(vals ...int) bool { return mulAtMost(convLimit, vals...) }

// mulAtMost reports whether the product of vals (all >= 0) is at most
// limit, without overflowing.
func mulAtMost(limit int, vals ...int) bool {
	for _, v := range vals {
		if v == 0 {
			return true
		}
	}
	n := 1
	for _, v := range vals {
		if n > limit/v {
			return false
		}
		n *= v
	}
	return true
}

// normalize fills defaults and validates p.
func (p ConvParams) normalize() (ConvParams, error) {
	def1 := func(v *int) {
		if *v == 0 {
			*v = 1
		}
	}
	def1(&p.StrideH)
	def1(&p.StrideW)
	def1(&p.DilH)
	def1(&p.DilW)
	def1(&p.Group)
	for _, f := range []struct {
		name string
		v    int
		min  int
	}{
		{"C", p.C, 1}, {"H", p.H, 1}, {"W", p.W, 1}, {"M", p.M, 1}, {"KH", p.KH, 1}, {"KW", p.KW, 1},
		{"StrideH", p.StrideH, 1}, {"StrideW", p.StrideW, 1}, {"DilH", p.DilH, 1}, {"DilW", p.DilW, 1},
		{"PadTop", p.PadTop, 0}, {"PadLeft", p.PadLeft, 0}, {"PadBottom", p.PadBottom, 0}, {"PadRight", p.PadRight, 0},
		{"Group", p.Group, 1},
	} {
		if f.v < f.min || f.v > convFieldLimit {
			return p, fmt.Errorf("conv: %s = %d is out of range [%d, %d]", f.name, f.v, f.min, convFieldLimit)
		}
	}
	if p.Algo < ConvAuto || p.Algo > ConvGrouped {
		return p, fmt.Errorf("conv: unknown algorithm %v", p.Algo)
	}
	if (p.Algo == ConvWinograd2 || p.Algo == ConvWinograd4) && !winoEligible(&p) {
		return p, fmt.Errorf("conv: %v needs a 3×3 kernel, stride 1, dilation 1 and one group", p.Algo)
	}
	if p.C%p.Group != 0 || p.M%p.Group != 0 {
		return p, fmt.Errorf("conv: %d input and %d output channels must both be divisible by group %d", p.C, p.M, p.Group)
	}
	if p.Algo == ConvGrouped && !groupedEligible(&p) {
		return p, fmt.Errorf("conv: %v needs several groups and is not for depthwise convolutions", p.Algo)
	}
	if !mulLimit(p.KH, p.DilH) || !mulLimit(p.KW, p.DilW) {
		return p, fmt.Errorf("conv: dilated kernel %d×%d with dilations %d, %d is too large", p.KH, p.KW, p.DilH, p.DilW)
	}
	oh, ow := p.OutSize()
	if oh < 1 || ow < 1 {
		return p, fmt.Errorf("conv: output would be %d×%d: input %d×%d with pads %d+%d, %d+%d is smaller than the dilated kernel %d×%d",
			oh, ow, p.H, p.W, p.PadTop, p.PadBottom, p.PadLeft, p.PadRight, (p.KH-1)*p.DilH+1, (p.KW-1)*p.DilW+1)
	}
	for _, s := range [][]int{
		{p.C, p.H, p.W}, {p.M, oh, ow}, {p.M, p.C / p.Group, p.KH, p.KW},
		{p.C / p.Group, p.KH, p.KW, oh, ow}, {oh, p.StrideH}, {ow, p.StrideW},
		{p.H + p.PadTop + p.PadBottom + 2*p.StrideH, p.W + p.PadLeft + p.PadRight + p.StrideW, p.C},
	} {
		if !mulLimit(s...) {
			return p, fmt.Errorf("conv: sizes %v are too large", s)
		}
	}
	return p, nil
}

// OutSize returns the output height and width (with zero strides and
// dilations taken as 1); a result below 1 means the kernel does not fit.
func (p ConvParams) OutSize() (oh, ow int) {
	out := func(in, pb, pe, k, d, s int) int {
		d, s = max(d, 1), max(s, 1)
		e := in + pb + pe - ((k-1)*d + 1)
		if e < 0 {
			return 0
		}
		return e/s + 1
	}
	return out(p.H, p.PadTop, p.PadBottom, p.KH, p.DilH, p.StrideH),
		out(p.W, p.PadLeft, p.PadRight, p.KW, p.DilW, p.StrideW)
}

// How a convolution's GEMM reads the image (its B operand).
const (
	// convPointwise: 1×1, stride 1, no padding; row p of B is input plane
	// p, and the GEMM's columns are the output pixels.
	convPointwise = iota
	// convWide: a pre-pass copies each input plane, zero-padded and split
	// into stride phases (plane (ry, rx) holds padded pixels (a·sh+ry,
	// b·sw+rx)), so that every row of B is one contiguous run of it. The
	// GEMM then computes a wide output of OH×WQ columns (WQ = padded width
	// / sw >= OW) and the columns x >= OW of each output row, which read
	// across the row's end, are dropped when the block is copied out.
	// Packing is then plain copies of whole panels.
	convWide
	// convSegment: B is packed straight from the image, one output row
	// segment at a time, with zeros for padding. Used when the wide
	// output would waste too many columns.
	convSegment
)

// convGeom is the per-image geometry the packer, pre-pass and depthwise
// kernels use.
type convGeom struct {
	cg, h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow int
	// oxLo[kx] <= ox < oxHi[kx] are the output columns whose input column
	// ox*sw - pl + kx*dw lies inside the image.
	oxLo, oxHi []int
	mode       int
	n          int // GEMM columns: oh·ow, or oh·wq for convWide

	// convPointwise and convWide: row p = (c, tap) of B starts at
	// c·chanStride + tapOff[tap] of the group's data.
	chanStride int
	tapOff     []int

	// convWide: the phase planes.
	hq, wq   int
	phaseRY  []int // stride phase of each stored plane
	phaseRX  []int
	planeLen int // (hq+1)·wq: a zero slack row absorbs reads past the end
}

func newConvGeom(p ConvParams, nr int) convGeom {
	oh, ow := p.OutSize()
	g := convGeom{cg: p.C / p.Group, h: p.H, w: p.W, kh: p.KH, kw: p.KW, sh: p.StrideH, sw: p.StrideW,
		dh: p.DilH, dw: p.DilW, pt: p.PadTop, pl: p.PadLeft, oh: oh, ow: ow,
		oxLo: make([]int, p.KW), oxHi: make([]int, p.KW)}
	for kx := 0; kx < p.KW; kx++ {
		off := kx*g.dw - g.pl // input column of ox = 0
		lo := 0
		if off < 0 {
			lo = ceilDiv(-off, g.sw)
		}
		hi := 0
		if g.w-off > 0 {
			hi = ceilDiv(g.w-off, g.sw)
		}
		lo = min(lo, ow)
		g.oxLo[kx], g.oxHi[kx] = lo, min(max(hi, lo), ow)
	}
	g.n = oh * ow
	if p.KH == 1 && p.KW == 1 && p.StrideH == 1 && p.StrideW == 1 &&
		p.PadTop == 0 && p.PadLeft == 0 && p.PadBottom == 0 && p.PadRight == 0 {
		g.mode = convPointwise
		g.chanStride = p.H * p.W
		g.tapOff = []int{0}
		return g
	}
	g.hq = ceilDiv(p.H+p.PadTop+p.PadBottom, g.sh)
	g.wq = ceilDiv(p.W+p.PadLeft+p.PadRight, g.sw)
	// The wide output costs (wq-ow)/ow more columns; take it when that
	// adds at most a quarter more NR tiles.
	if ceilDiv(oh*g.wq, nr)*4 > ceilDiv(oh*ow, nr)*5 {
		g.mode = convSegment
		return g
	}
	g.mode = convWide
	g.n = oh * g.wq
	g.setPhases()
	return g
}

// setPhases lays out the phase planes of convWide (also used by the
// depthwise kernel): planeLen, the stored phases, tapOff and chanStride,
// from hq and wq.
func (g *convGeom) setPhases() {
	g.planeLen = (g.hq + 1) * g.wq
	g.phaseRY, g.phaseRX = nil, nil
	slot := map[[2]int]int{}
	g.tapOff = make([]int, g.kh*g.kw)
	for ky := 0; ky < g.kh; ky++ {
		for kx := 0; kx < g.kw; kx++ {
			ph := [2]int{ky * g.dh % g.sh, kx * g.dw % g.sw}
			s, ok := slot[ph]
			if !ok {
				s = len(g.phaseRY)
				slot[ph] = s
				g.phaseRY = append(g.phaseRY, ph[0])
				g.phaseRX = append(g.phaseRX, ph[1])
			}
			g.tapOff[ky*g.kw+kx] = s*g.planeLen + ky*g.dh/g.sh*g.wq + kx*g.dw/g.sw
		}
	}
	g.chanStride = len(g.phaseRY) * g.planeLen
}

// prepass fills the phase planes of one input channel (convWide): dst
// gets len(phaseRY) planes of planeLen floats from the H×W plane src.
func (g *convGeom) prepass(dst, src []float32) {
	for s := range g.phaseRY {
		ry, rx := g.phaseRY[s], g.phaseRX[s]
		pl := dst[s*g.planeLen : (s+1)*g.planeLen]
		// Stored columns b with input column b·sw + rx - pl inside the row.
		off := rx - g.pl
		bLo := 0
		if off < 0 {
			bLo = min(ceilDiv(-off, g.sw), g.wq)
		}
		bHi := bLo
		if g.w-off > 0 {
			bHi = min(max(ceilDiv(g.w-off, g.sw), bLo), g.wq)
		}
		for a := 0; a < g.hq; a++ {
			row := pl[a*g.wq : (a+1)*g.wq]
			iy := a*g.sh + ry - g.pt
			if iy < 0 || iy >= g.h || bLo == bHi {
				clear(row)
				continue
			}
			in := src[iy*g.w : (iy+1)*g.w]
			clear(row[:bLo])
			d := row[bLo:bHi]
			if g.sw == 1 {
				copy(d, in[bLo+off:])
			} else {
				in = in[bLo*g.sw+off:]
				for i := range d {
					d[i] = in[i*g.sw]
				}
			}
			clear(row[bHi:])
		}
		clear(pl[g.hq*g.wq:])
	}
}

// convSource is the BSource of one (image, group): the virtual im2col
// matrix whose row p = (c·KH + ky)·KW + kx and column j = oy·OW + ox holds
// the input at channel c, row oy·sh - pt + ky·dh, column ox·sw - pl + kx·dw,
// or zero in the padding (convWide: column j = oy·WQ + x, see convWide).
type convSource struct {
	x    []float32 // the group's input planes, or its phase planes (convWide)
	g    *convGeom
	offs []int // scratch: where each packed row starts in x
	// gather, when set, is the tier's vector Gather, which packs the full
	// panels of convPointwise and convWide (see PackB); nil (the generic
	// tier, whose Gather copies with memmove) packs them with copy16.
	gather func(dst, src []float32, rows, n, ldd, lds, stride int)
}

// packRunPanels is the fewest full panels convSource.PackB packs row by
// row with Gather; fewer go panel by panel, a call per tap, which costs
// fewer calls there. (TestConvPackB covers both through its panel widths.)
const packRunPanels = 8

// PackB implements BSource, reading the image (or its phase planes)
// directly: im2col fused into packing.
func (s *convSource) PackB(dst []float32, p0, kc, j0, n, nr int) {
	g := s.g
	dst = dst[:ceilDiv(n, nr)*kc*nr]
	khw := g.kh * g.kw
	if g.mode != convSegment {
		if cap(s.offs) < kc {
			s.offs = make([]int, kc)
		}
		offs := s.offs[:kc]
		c, r := p0/khw, p0%khw
		for p := range offs {
			offs[p] = c*g.chanStride + g.tapOff[r]
			if r++; r == khw {
				c, r = c+1, 0
			}
		}
		if s.gather == nil {
			packPanels(dst, s.x, offs, j0, 0, kc, n, nr)
			return
		}
		full := n / nr
		if full >= packRunPanels {
			// Each row of B is one run of memory, read sequentially
			// (prefetched) as full·NR floats and scattered over the
			// panels by one Gather call.
			for p, o := range offs {
				s.gather(dst[p*nr:], s.x[j0+o:], full, nr, kc*nr, nr, 1)
			}
		} else {
			// Few panels: rows p, p+khw, p+2·khw, ... read the same tap
			// of consecutive channels, chanStride apart: one Gather per
			// tap and panel.
			taps := min(khw, kc)
			for q := 0; q < full; q++ {
				pan := dst[q*kc*nr : (q+1)*kc*nr]
				col := j0 + q*nr
				for p := 0; p < taps; p++ {
					s.gather(pan[p*nr:], s.x[col+offs[p]:], (kc-p+khw-1)/khw, nr, khw*nr, g.chanStride, 1)
				}
			}
		}
		if full*nr < n {
			packPanels(dst[full*kc*nr:], s.x, offs, j0+full*nr, 0, kc, n-full*nr, nr)
		}
		return
	}
	plane := g.h * g.w
	oy0, ox0 := j0/g.ow, j0%g.ow
	for p := 0; p < kc; p++ {
		c, r := (p0+p)/khw, (p0+p)%khw
		ky, kx := r/g.kw, r%g.kw
		in := s.x[c*plane : (c+1)*plane]
		lo, hi := g.oxLo[kx], g.oxHi[kx]
		xoff := kx*g.dw - g.pl
		q, oy, ox := 0, oy0, ox0
		for q < n {
			seg := min(g.ow-ox, n-q)
			end := ox + seg
			iy := oy*g.sh - g.pt + ky*g.dh
			if iy < 0 || iy >= g.h {
				zeroRow(dst, kc, nr, p, q, seg)
			} else {
				a := min(max(lo, ox), end)
				b := min(max(hi, a), end)
				if a > ox {
					zeroRow(dst, kc, nr, p, q, a-ox)
				}
				if b > a {
					row := in[iy*g.w : (iy+1)*g.w]
					ix := a*g.sw + xoff
					if g.sw == 1 {
						packRow(dst, kc, nr, p, q+a-ox, row[ix:ix+b-a])
					} else {
						packRowStrided(dst, kc, nr, p, q+a-ox, row[ix:], g.sw, b-a)
					}
				}
				if end > b {
					zeroRow(dst, kc, nr, p, q+b-ox, end-b)
				}
			}
			q += seg
			ox = 0
			oy++
		}
	}
	padPanels(dst, kc, nr, n)
}

// PreparedConv is a convolution with its weights packed for one tier,
// made once per model (PrepareConv) and run many times, concurrently if
// wanted: Run only reads it.
type PreparedConv struct {
	k         *Kernels
	p         ConvParams
	g         convGeom
	packed    []*PackedA // per group: [M/group × C/group·KH·KW]
	dw        []float32  // depthwise weights [C × KH·KW], when depthwise
	bias      []float32  // len M, or nil
	depthwise bool
	wino      *winoConv // set when Winograd computes it (winograd.go)
	grouped   bool      // the grouped direct kernel (conv_grouped.go)
	grOffs    []int     // its taps: every channel of a group, every kernel tap

	// Depthwise (see depthwiseTask): DWConv reads a channel's input as
	// its phase planes (dwPrepass; chanStride floats in the workspace per
	// channel), or as the input plane itself when there is no padding and
	// no horizontal stride. Output row oy, column x is then the sum over
	// taps t of the weights times the input at oy·dwRow + dwOffs[t] + x:
	// DWConv computes the wide output, columns oy·dwRow + x, whose columns
	// x < OW are copied to y. dwGroup channels make one task (and one
	// DWConv call) when their planes are small; a task of one channel
	// runs in bands of output rows.
	dwOffs    []int
	dwRow     int
	dwPrepass bool
	dwGroup   int
	// dwKey identifies the phase plane layout (the geometry without the
	// channel counts), dwFills where each channel's pixels go in it.
	dwKey   ConvParams
	dwFills []dwFill
	// The DWRows path (dwrows_conv.go), when dwSegs is set: the runs of
	// output rows; the strides of a channel's source (the input planes,
	// or their phase planes when dwPrepass) and DWBlock.Stride (the
	// horizontal stride, or 1 on phase planes); and how many phase plane
	// rows past its own an output row reads (dwExt).
	dwSegs              []dwSeg
	dwSrcRow, dwSrcChan int
	dwStride, dwExt     int
}

// dwFill copies the pixels of one depthwise phase plane: rows a in
// [aLo, aHi) of the plane at offset plane, columns [bLo, bHi), come from
// input row a·sh + ry - pt, columns ix0 + (b-bLo)·sw.
type dwFill struct {
	plane, ry, aLo, aHi, bLo, bHi, ix0 int
}

// dwScratch is a workspace's depthwise phase planes. Their padding is
// zeroed when the layout (key) changes and never written otherwise, so
// each channel only copies its pixels in (PreparedConv.dwFills).
type dwScratch struct {
	key ConvParams
	buf []float32
}

// PrepareConv validates p, checks that w holds M × C/Group × KH × KW
// weights (ONNX layout) and bias is nil or holds M values, and packs the
// weights for this tier. w and bias are copied.
//
// A depthwise convolution (Group == C == M) runs a direct kernel; every
// other convolution is a GEMM per (image, group) whose B operand is read
// straight from the image (see convPointwise, convWide, convSegment), or,
// for the 3×3 stride-1 convolutions where it is faster (or p.Algo asks
// for it), a Winograd convolution (see winograd.go).
func (k *Kernels) PrepareConv(p ConvParams, w, bias []float32) (*PreparedConv, error) {
	p, err := p.normalize()
	if err != nil {
		return nil, err
	}
	cg, mg := p.C/p.Group, p.M/p.Group
	kd := cg * p.KH * p.KW
	if len(w) != p.M*kd {
		return nil, fmt.Errorf("conv: weights have %d values, want M %d × C/group %d × %d × %d = %d", len(w), p.M, cg, p.KH, p.KW, p.M*kd)
	}
	if bias != nil && len(bias) != p.M {
		return nil, fmt.Errorf("conv: bias has %d values, want M = %d", len(bias), p.M)
	}
	pc := &PreparedConv{k: k, p: p, g: newConvGeom(p, k.Gemm.NR)}
	if bias != nil {
		pc.bias = append([]float32(nil), bias...)
	}
	if m := winoChoose(&p, k); m > 0 {
		if pc.wino = k.prepareWinograd(&p, w, m); pc.wino != nil {
			return pc, nil
		}
		if p.Algo != ConvAuto {
			return nil, fmt.Errorf("conv: sizes %d×%d×%d → %d are too large for %v", p.C, p.H, p.W, p.M, p.Algo)
		}
	}
	if p.Algo == ConvGrouped || (p.Algo == ConvAuto && groupedChoose(&p)) {
		pc.prepareGrouped(w)
		return pc, nil
	}
	if p.Group == p.C && p.M == p.C {
		pc.depthwise = true
		pc.dw = append([]float32(nil), w...)
		pc.prepareDepthwise()
		if dwRowsTier(k) {
			pc.prepareDWRows()
		}
		return pc, nil
	}
	pc.packed = make([]*PackedA, p.Group)
	for gi := range pc.packed {
		pc.packed[gi] = k.PackA(mg, kd, w[gi*mg*kd:(gi+1)*mg*kd], kd)
	}
	return pc, nil
}

// Params returns the normalized parameters.
func (pc *PreparedConv) Params() ConvParams { return pc.p }

// Algorithm names how the convolution runs: "winograd-f2" or
// "winograd-f4" (F(2×2,3×3), F(4×4,3×3)), "depthwise", "grouped" (the
// grouped direct kernel), or "gemm" (the implicit GEMM, per group).
func (pc *PreparedConv) Algorithm() string {
	switch {
	case pc.wino != nil:
		return fmt.Sprintf("winograd-f%d", pc.wino.m)
	case pc.depthwise:
		return "depthwise"
	case pc.grouped:
		return "grouped"
	}
	return "gemm"
}

// errConvSize is wrapped by Run's size errors.
var errConvSize = errors.New("conv: buffer size mismatch")

// Run computes y = act(conv(x) + residual + bias) (see Epilogue for the
// order) for a batch of images: x is N×C×H×W with N = len(x)/(C·H·W), y and
// residual (nil for none) are N×M×OH×OW. y must not overlap x or residual.
// par splits the work (nil: serial); results are bit-identical for every
// par. Steady-state calls allocate nothing. It returns an error when the
// buffer sizes do not match.
func (pc *PreparedConv) Run(x, y, residual []float32, act Act, par Parallel) error {
	p := &pc.p
	g := &pc.g
	chw := p.C * p.H * p.W
	if len(x)%chw != 0 {
		return fmt.Errorf("%w: input has %d values, not a multiple of C×H×W = %d", errConvSize, len(x), chw)
	}
	batch := len(x) / chw
	if !mulLimit(batch, p.M, g.oh, g.ow) || !mulLimit(batch, p.C, g.chanStride) {
		return fmt.Errorf("%w: batch of %d images is too large", errConvSize, batch)
	}
	if len(y) != batch*p.M*g.oh*g.ow {
		return fmt.Errorf("%w: output has %d values, want %d×%d×%d×%d", errConvSize, len(y), batch, p.M, g.oh, g.ow)
	}
	if residual != nil && len(residual) != len(y) {
		return fmt.Errorf("%w: residual has %d values, output %d", errConvSize, len(residual), len(y))
	}
	if batch == 0 {
		return nil
	}
	if pc.wino != nil {
		pc.runWinograd(x, y, residual, act, par, batch)
		return nil
	}
	j := getJob(pc.k)
	j.conv = convProblem{pc: pc, x: x, y: y, res: residual, act: act, batch: batch}
	switch {
	case pc.grouped:
		// A task per group of each image.
		j.phase = jobGrouped
		ForEach(par, batch*p.Group, j.run)
	case pc.depthwise:
		// Tasks of group channels of one image; threaded, at least 4
		// tasks per thread. DWRows on the input planes needs no
		// workspace, and without an epilogue pass over y a task's
		// channels share nothing: serial, one task per image (each
		// task costs a kernel call per run of rows).
		group := pc.dwGroup
		if _, _, clamp := dwClamp(act); clamp && residual == nil && pc.dwSegs != nil && !pc.dwPrepass {
			group = p.C
		}
		if th := ThreadsOf(par); th > 1 {
			group = max(1, min(group, p.C/(4*th)))
		}
		j.conv.dwGroup, j.conv.dwTasks = group, ceilDiv(p.C, group)
		j.phase = jobDepthwise
		ForEach(par, batch*j.conv.dwTasks, j.run)
	default:
		j.conv.src = x
		if g.mode == convWide {
			j.xq = grow(j.xq, batch*p.C*g.chanStride)
			j.conv.src = j.xq
			j.phase = jobPrepass
			ForEach(par, batch*p.C, j.run)
		}
		j.prob = &j.conv
		j.plan = planGemm(pc.k.Gemm, p.M/p.Group, g.n, g.cg*p.KH*p.KW, batch*p.Group, ThreadsOf(par))
		j.execute(par)
	}
	putJob(j)
	return nil
}

// Conv2D is PrepareConv followed by one Run: for one-off convolutions (it
// allocates the packed weights each call).
func (k *Kernels) Conv2D(p ConvParams, x, w, bias, y, residual []float32, act Act, par Parallel) error {
	pc, err := k.PrepareConv(p, w, bias)
	if err != nil {
		return err
	}
	return pc.Run(x, y, residual, act, par)
}

// convProblem is one Run: a GEMM per (image, group).
type convProblem struct {
	pc        *PreparedConv
	x, y, res []float32
	src       []float32 // what B reads: x, or the phase planes (convWide)
	act       Act
	batch     int

	// Depthwise: channels per task, tasks per image.
	dwGroup, dwTasks int
}

func (cp *convProblem) a(q int) *PackedA { return cp.pc.packed[q%cp.pc.p.Group] }

func (cp *convProblem) source(q int, ws *workspace) BSource {
	g := &cp.pc.g
	// q = image·group + gi, and the group's channels follow each other in
	// x and in the phase planes alike.
	per := g.cg * g.h * g.w
	if g.mode == convWide {
		per = g.cg * g.chanStride
	}
	ws.conv.x, ws.conv.g = cp.src[q*per:(q+1)*per], g
	ws.conv.gather = nil
	if k := cp.pc.k; k.Tier != Generic {
		ws.conv.gather = k.Gather
	}
	return &ws.conv
}

// outBlock returns GEMM q's output channels (y and residual) and epilogue.
func (cp *convProblem) outBlock(q int) (y, res []float32, ep Epilogue) {
	p := &cp.pc.p
	mg := p.M / p.Group
	ohw := cp.pc.g.oh * cp.pc.g.ow
	gi := q % p.Group
	off := q * mg * ohw
	ep = Epilogue{Act: cp.act, ResidualStride: ohw}
	if cp.pc.bias != nil {
		ep.Bias = cp.pc.bias[gi*mg : (gi+1)*mg]
	}
	if cp.res != nil {
		res = cp.res[off : off+mg*ohw]
		ep.Residual = res
	}
	return cp.y[off : off+mg*ohw], res, ep
}

func (cp *convProblem) out(q int) ([]float32, int, Epilogue) {
	y, _, ep := cp.outBlock(q)
	if cp.pc.g.mode == convWide && cp.pc.g.wq != cp.pc.g.ow {
		return nil, 0, ep
	}
	return y, cp.pc.g.oh * cp.pc.g.ow, ep
}

// finish copies a block of the wide output (columns oy·WQ + x) to y,
// dropping the columns x >= OW, and applies the epilogue there.
func (cp *convProblem) finish(q int, tile []float32, ldt, i0, i1, j0, j1 int) {
	g := &cp.pc.g
	k := cp.pc.k
	y, res, ep := cp.outBlock(q)
	ohw := g.oh * g.ow
	// The block's output pixels are the contiguous range [lo, hi) of y.
	lo := j0/g.wq*g.ow + min(j0%g.wq, g.ow)
	hi := j1/g.wq*g.ow + min(j1%g.wq, g.ow)
	for i := i0; i < i1; i++ {
		src := tile[(i-i0)*ldt : (i-i0)*ldt+j1-j0]
		dst := y[i*ohw : (i+1)*ohw]
		for j := j0; j < j1; {
			oy, x := j/g.wq, j%g.wq
			seg := min(g.wq-x, j1-j)
			if x < g.ow {
				w := min(seg, g.ow-x)
				copy(dst[oy*g.ow+x:oy*g.ow+x+w], src[j-j0:])
			}
			j += seg
		}
		if hi <= lo {
			continue
		}
		row := dst[lo:hi]
		if res != nil {
			k.AddTo(row, res[i*ohw+lo:i*ohw+hi])
		}
		if ep.Bias != nil || ep.Act.Kind != ActNone {
			var b float32
			if ep.Bias != nil {
				b = ep.Bias[i]
			}
			k.BiasAct(row, b, ep.Act)
		}
	}
}

// prepassTask fills the phase planes of input plane t = image·C + channel.
func (cp *convProblem) prepassTask(t int) {
	g := &cp.pc.g
	hw := g.h * g.w
	cp.pc.g.prepass(cp.src[t*g.chanStride:(t+1)*g.chanStride], cp.x[t*hw:(t+1)*hw])
}

// Depthwise tuning: a task of one channel runs in bands of about dwBand
// outputs (whole rows), which its wide output, the epilogue and the copy
// to y share in L1; smaller planes are grouped so that a task's phase
// planes and wide output come to about dwGroupFloats. On DWRows, a task
// of one channel fills its phase planes in bands of about dwPhaseBand
// floats (with their output rows).
var (
	dwBand        = 1024
	dwGroupFloats = 8192
	dwPhaseBand   = 4096
)

// prepareDepthwise sets where DWConv reads a depthwise convolution's
// input and how many channels make a task (see PreparedConv.dwOffs).
func (pc *PreparedConv) prepareDepthwise() {
	p := &pc.p
	g := &pc.g
	planes := 0 // workspace floats per channel
	if p.PadTop == 0 && p.PadLeft == 0 && p.PadBottom == 0 && p.PadRight == 0 && p.StrideW == 1 {
		// The input plane itself: output row oy reads input rows oy·sh +
		// ky·dh, columns x + kx·dw, all inside the plane.
		pc.dwRow = p.StrideH * p.W
		pc.dwOffs = make([]int, p.KH*p.KW)
		for ky := 0; ky < p.KH; ky++ {
			for kx := 0; kx < p.KW; kx++ {
				pc.dwOffs[ky*p.KW+kx] = ky*p.DilH*p.W + kx*p.DilW
			}
		}
	} else {
		g.hq = ceilDiv(p.H+p.PadTop+p.PadBottom, g.sh)
		g.wq = ceilDiv(p.W+p.PadLeft+p.PadRight, g.sw)
		g.setPhases()
		pc.dwPrepass = true
		pc.dwRow = g.wq
		pc.dwOffs = g.tapOff
		pc.dwKey = *p
		pc.dwKey.C, pc.dwKey.M, pc.dwKey.Group = 0, 0, 0
		for s := range g.phaseRY {
			ry, rx := g.phaseRY[s], g.phaseRX[s]
			// Stored columns b with input column b·sw + rx - pl inside
			// the row, and rows a with input row a·sh + ry - pt inside
			// the image (as in prepass).
			off := rx - g.pl
			f := dwFill{plane: s * g.planeLen, ry: ry}
			if off < 0 {
				f.bLo = min(ceilDiv(-off, g.sw), g.wq)
			}
			f.bHi = f.bLo
			if g.w-off > 0 {
				f.bHi = min(max(ceilDiv(g.w-off, g.sw), f.bLo), g.wq)
			}
			f.ix0 = f.bLo*g.sw + off
			if ry < g.pt {
				f.aLo = min(ceilDiv(g.pt-ry, g.sh), g.hq)
			}
			f.aHi = min(max(ceilDiv(g.h+g.pt-ry, g.sh), f.aLo), g.hq)
			if f.bLo < f.bHi && f.aLo < f.aHi {
				pc.dwFills = append(pc.dwFills, f)
			}
		}
		planes = g.chanStride
	}
	pc.dwGroup = max(1, min(p.C, dwGroupFloats/(planes+g.oh*pc.dwRow)))
}

// phasePlanes builds the phase planes of the nc input planes in (H×W
// each) in the workspace, chanStride floats per channel, and returns them.
// Their padding is zeroed only when the layout changes (see dwScratch).
func (pc *PreparedConv) phasePlanes(ws *workspace, in []float32, nc int) []float32 {
	return pc.phaseRows(ws, in, nc, 0, pc.g.hq, true)
}

// phaseRows fills rows [a0, a1) of the phase planes of the nc input
// planes in, as phasePlanes does for all rows, and returns the planes.
// start says whether these are the first rows filled for in: only then
// may the layout change.
func (pc *PreparedConv) phaseRows(ws *workspace, in []float32, nc, a0, a1 int, start bool) []float32 {
	g := &pc.g
	sc := &ws.dw
	lds, hw := g.chanStride, g.h*g.w
	if start && (sc.key != pc.dwKey || len(sc.buf) < nc*lds) {
		sc.buf = grow(sc.buf, max(nc*lds, len(sc.buf)))
		clear(sc.buf)
		sc.key = pc.dwKey
	}
	for c := 0; c < nc; c++ {
		for _, f := range pc.dwFills {
			lo, hi := max(f.aLo, a0), min(f.aHi, a1)
			if lo >= hi {
				continue
			}
			iy := lo*g.sh + f.ry - g.pt
			pc.k.Gather(sc.buf[c*lds+f.plane+lo*g.wq+f.bLo:], in[c*hw+iy*g.w+f.ix0:],
				hi-lo, f.bHi-f.bLo, g.wq, g.sh*g.w, g.sw)
		}
	}
	return sc.buf
}

// dwTaskData returns task t's share of a depthwise convolution: its nc
// channels (dwGroup, fewer at the end) of one image, their input and
// output planes, residual planes (nil without a residual), filters
// (KH·KW each) and biases (nil without).
func (cp *convProblem) dwTaskData(t int) (nc int, in, out, res, w, bias []float32) {
	pc := cp.pc
	g := &pc.g
	img, c0 := t/cp.dwTasks, t%cp.dwTasks*cp.dwGroup
	nc = min(cp.dwGroup, pc.p.C-c0)
	hw, ohw := g.h*g.w, g.oh*g.ow
	first := img*pc.p.C + c0 // plane index of channel c0 in x and y
	in = cp.x[first*hw : (first+nc)*hw]
	out = cp.y[first*ohw : (first+nc)*ohw]
	if cp.res != nil {
		res = cp.res[first*ohw : (first+nc)*ohw]
	}
	khw := g.kh * g.kw
	w = pc.dw[c0*khw : (c0+nc)*khw]
	if pc.bias != nil {
		bias = pc.bias[c0 : c0+nc]
	}
	return nc, in, out, res, w, bias
}

// dwEpilogue applies the residual (res, unless nil) and the activation to
// outputs [lo, hi) of a depthwise task's out.
func (cp *convProblem) dwEpilogue(out, res []float32, lo, hi int) {
	k := cp.pc.k
	if res != nil {
		k.AddTo(out[lo:hi], res[lo:hi])
	}
	if cp.act.Kind != ActNone {
		k.BiasAct(out[lo:hi], 0, cp.act)
	}
}

// depthwiseTask computes task t of a depthwise convolution: dwGroup
// channels of one image. It builds their phase planes in the workspace
// (when the input is padded or strided horizontally), has DWConv compute
// their wide output (bias included) into the workspace, copies its
// columns x < OW to y, and applies the residual and activation there,
// while it is in L1. A task of one channel does this in bands of rows.
func (cp *convProblem) depthwiseTask(ws *workspace, t int) {
	pc := cp.pc
	if pc.dwSegs != nil {
		cp.dwRowsTask(ws, t)
		return
	}
	g := &pc.g
	k := pc.k
	nc, in, out, res, w, bias := cp.dwTaskData(t)
	src, lds := in, g.h*g.w // each channel's input to DWConv, and their stride
	if pc.dwPrepass {
		src, lds = pc.phasePlanes(ws, in, nc), g.chanStride
	}
	rs := pc.dwRow
	// epilogue applies the residual and activation to outputs [lo, hi).
	epilogue := func(lo, hi int) { cp.dwEpilogue(out, res, lo, hi) }
	if nc > 1 {
		// Whole planes: channel c's wide output at c·OH·rs.
		n, ldd := (g.oh-1)*rs+g.ow, g.oh*rs
		ws.c = grow(ws.c, nc*ldd)
		k.DWConv(ws.c, src, pc.dwOffs, w, bias, nc, n, ldd, lds)
		k.Gather(out, ws.c, nc*g.oh, g.ow, g.ow, rs, 1)
		epilogue(0, len(out))
		return
	}
	band := max(1, dwBand/g.ow)
	for oy0 := 0; oy0 < g.oh; oy0 += band {
		oy1 := min(g.oh, oy0+band)
		n := (oy1-oy0-1)*rs + g.ow
		ws.c = grow(ws.c, n)
		k.DWConv(ws.c, src[oy0*rs:], pc.dwOffs, w, bias, 1, n, n, 0)
		k.Gather(out[oy0*g.ow:oy1*g.ow], ws.c, oy1-oy0, g.ow, g.ow, rs, 1)
		epilogue(oy0*g.ow, oy1*g.ow)
	}
}
