package simd

// Grouped convolutions with few channels per group (ResNeXt's 32 groups of
// 4 to 32 channels) run directly on the depthwise machinery instead of a
// GEMM per group, whose tiles would be mostly padding: output channel m of
// group gi is a DWConv row whose taps span the group's cg input channels,
// tap (c, ky, kx) at offset c·(plane stride) + the depthwise offset of
// (ky, kx). Every output row of a group reads the same input (lds = 0),
// the weights are the ONNX layout itself ([M][C/group][KH][KW]), and the
// phase planes, offsets and fills are the depthwise ones (prepareDepthwise).

// groupedMaxRows is the largest number of output channels per group that
// auto selection runs directly. BenchmarkConvGrouped, ResNeXt-50's grouped
// 3×3 layers (32 groups), GFLOP/s of the GEMM → the grouped kernel, one
// thread, avx512 (avx2 alike): 4 rows per group at 56×56 12 → 35, 8 at
// 28×28 21 → 41, 16 at 14×14 34 → 48, 32 at 7×7 33 → 37.
const groupedMaxRows = 32

// groupedEligible reports whether the grouped direct kernel can compute p
// (normalized): several groups, not depthwise (which has its own kernel).
func groupedEligible(p *ConvParams) bool {
	return p.Group > 1 && !(p.Group == p.C && p.M == p.C)
}

// groupedChoose reports whether auto selection takes the grouped direct
// kernel for p: few output channels per group (the GEMM's tiles would be
// mostly padding, and its K too short to pay for packing).
func groupedChoose(p *ConvParams) bool {
	return groupedEligible(p) && p.M/p.Group <= groupedMaxRows
}

// prepareGrouped sets the weights and the per-group tap offsets.
func (pc *PreparedConv) prepareGrouped(w []float32) {
	p := &pc.p
	pc.grouped = true
	pc.dw = append([]float32(nil), w...)
	pc.prepareDepthwise()
	cg := p.C / p.Group
	stride := p.H * p.W // the input planes themselves
	if pc.dwPrepass {
		stride = pc.g.chanStride
	}
	pc.grOffs = make([]int, 0, cg*len(pc.dwOffs))
	for c := 0; c < cg; c++ {
		for _, o := range pc.dwOffs {
			pc.grOffs = append(pc.grOffs, c*stride+o)
		}
	}
}

// groupedTask computes task t of a grouped convolution: one group of one
// image. It builds the group's input phase planes in the workspace (when
// the input is padded or strided horizontally), has DWConv compute the
// group's wide output (bias included), copies its columns x < OW to y and
// applies the residual and activation there.
func (cp *convProblem) groupedTask(ws *workspace, t int) {
	pc := cp.pc
	g := &pc.g
	k := pc.k
	p := &pc.p
	img, gi := t/p.Group, t%p.Group
	cg, mg := p.C/p.Group, p.M/p.Group
	hw, ohw := g.h*g.w, g.oh*g.ow
	first := img*p.C + gi*cg // input plane of the group's first channel
	in := cp.x[first*hw : (first+cg)*hw]
	o0 := img*p.M + gi*mg // output plane of its first channel
	out := cp.y[o0*ohw : (o0+mg)*ohw]
	taps := len(pc.grOffs)
	w := pc.dw[gi*mg*taps : (gi+1)*mg*taps]
	var bias []float32
	if pc.bias != nil {
		bias = pc.bias[gi*mg : (gi+1)*mg]
	}
	src := in
	if pc.dwPrepass {
		src = pc.phasePlanes(ws, in, cg)
	}
	rs := pc.dwRow
	n, ldd := (g.oh-1)*rs+g.ow, g.oh*rs
	ws.c = grow(ws.c, mg*ldd)
	k.DWConv(ws.c, src, pc.grOffs, w, bias, mg, n, ldd, 0)
	k.Gather(out, ws.c, mg*g.oh, g.ow, g.ow, rs, 1)
	if cp.res != nil {
		k.AddTo(out, cp.res[o0*ohw:(o0+mg)*ohw])
	}
	if cp.act.Kind != ActNone {
		k.BiasAct(out, 0, cp.act)
	}
}
