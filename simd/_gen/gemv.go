package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// gemvSpec is one row-dot GEMV kernel: rows dot products with each of
// vecs vectors at once, each in accs vector accumulators that take the
// consecutive vectors of a step of accs·lanes columns in turn.
type gemvSpec struct {
	s        isa
	rows     int // rows streamed at once (simd's gemvRows)
	vecs     int // vectors each weight is multiplied with once loaded
	accs     int // accumulators per row and vector = vectors of a row per loop step
	prefetch int // > 0: software-prefetch each row this many bytes ahead
	name     string
}

// The shipped kernels, by the number of vectors: four rows (four
// concurrent memory streams); as many accumulators as keep the loads, not
// the FMA latency, the limit when the weights are in cache, within the
// register file (AVX2, one vector: 4 rows × 3 + 3 x vectors = 15 of 16).
// Measured on AlexNet's fc6 (4096×9216, weights past L2) with one vector,
// one row at a time streams about 20% slower than four; two rows, eight
// rows (AVX-512, 2 accumulators), 2 instead of 4 accumulators, and
// software prefetch 512 to 2048 bytes ahead were all within the noise of
// four rows without prefetch. Several vectors (a small batch) share each
// weight load: AVX-512 up to 4 (4 rows × 4 vectors = 16 accumulators),
// AVX2 up to 2.
var (
	avx2Gemvs = []gemvSpec{
		{s: avx2, rows: 4, vecs: 1, accs: 3},
		{s: avx2, rows: 4, vecs: 2, accs: 1},
	}
	avx512Gemvs = []gemvSpec{
		{s: avx512, rows: 4, vecs: 1, accs: 4},
		{s: avx512, rows: 4, vecs: 2, accs: 2},
		{s: avx512, rows: 4, vecs: 3, accs: 2},
		{s: avx512, rows: 4, vecs: 4, accs: 1},
	}
)

func (g gemvSpec) asmName() string {
	if g.name != "" {
		return g.name
	}
	return fmt.Sprintf("f32Gemv%dx%d%sAsm", g.rows, g.vecs, g.s.ident)
}

// gemvs emits the kernels of specs.
func gemvs(c *build.Context, specs []gemvSpec) {
	for _, g := range specs {
		gemv(c, g)
	}
}

// gemv emits the Gemv kernel of spec g.
//
// Rows go in groups of g.rows, then one at a time, through the same steps,
// so that a row's sums do not depend on the group it falls in. Per row
// and vector: accumulator u sums the vectors u, u+accs, u+2·accs, ... of
// the row's product with the vector (fused multiply-adds); the vectors
// left over after the last whole step go into accumulators 0, 1, ... in
// turn, and the last partial vector (k%lanes columns, masked: K1 for
// AVX-512, VMASKMOVPS for AVX2, so nothing past the row or the vector is
// read) into accumulator 0. The accumulators are then added pairwise
// ((a0+a1)+(a2+a3)), and the lanes of the result halved repeatedly (high
// half plus low half) down to one.
func gemv(c *build.Context, g gemvSpec) {
	s := g.s
	avx512 := s.lanes == 16
	name := g.asmName()
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(y []float32, ldy int, w []float32, ldw int, x []float32, ldx int, n, k int)")
	c.Pragma("noescape")
	c.Doc(
		name+" is the "+s.name+" tier's Gemv for "+fmt.Sprint(g.vecs)+" vector(s), unchecked: the caller",
		"guarantees what checkGemv checks for m = "+fmt.Sprint(g.vecs)+". It computes, with fused multiply-adds",
		fmt.Sprintf("into %d accumulators of %d lanes per row and vector (see simd/_gen/gemv.go),", g.accs, s.lanes),
		"",
		fmt.Sprintf("\tfor v := 0; v < %d; v++ {", g.vecs),
		"\t\tfor i := 0; i < n; i++ {",
		"\t\t\ts := float32(0)",
		"\t\t\tfor p := 0; p < k; p++ {",
		"\t\t\t\ts += w[i*ldw+p] * x[v*ldx+p]",
		"\t\t\t}",
		"\t\t\ty[v*ldy+i] = s",
		"\t\t}",
		"\t}",
	)
	if g.rows != 4 && g.rows != 2 && g.rows != 1 {
		panic("gemv: rows must be 1, 2 or 4 (addressing scales)")
	}
	if g.vecs < 1 || g.vecs > 4 || (g.vecs == 4 && g.accs&(g.accs-1) != 0) {
		panic("gemv: 1 to 4 vectors; with 4, a power-of-2 number of accumulators")
	}

	// Vector registers: the x vectors first (also the reduction's
	// temporaries), then the accumulators, then (several vectors) the
	// loaded weights.
	next := 0
	alloc := func() reg.Register { r := s.v(next); next++; return r }
	xr := make([][]reg.Register, g.vecs) // [vector][u]
	for v := range xr {
		xr[v] = make([]reg.Register, g.accs)
		for u := range xr[v] {
			xr[v][u] = alloc()
		}
	}
	acc := make([][][]reg.Register, g.rows) // [row][vector][u]
	for r := range acc {
		acc[r] = make([][]reg.Register, g.vecs)
		for v := range acc[r] {
			acc[r][v] = make([]reg.Register, g.accs)
			for u := range acc[r][v] {
				acc[r][v][u] = alloc()
			}
		}
	}
	// The loaded weights (several vectors; one vector uses memory
	// operands), and AVX2's tail mask and masked weights: registers past
	// the accumulators, then x vectors the tail leaves free (x[v][u], u >=
	// 1; the tail of vector v goes to x[v][0]).
	var spare []reg.Register
	for i := next; i < s.nregs && len(spare) < 2; i++ {
		spare = append(spare, s.v(i))
	}
	for v := range xr {
		spare = append(spare, xr[v][1:]...)
	}
	if len(spare) < 2 {
		panic("gemv: no room for the weights and the tail's mask")
	}
	wt, maskv := spare[0], spare[1]
	if g.vecs > 1 && wt != s.v(next) {
		panic("gemv: no register for the loaded weights")
	}
	// The reduction's two temporaries, which must be below 16 (VEX): x
	// registers, free by then.
	t0, t1 := xr[0][0], spare[0]
	if g.vecs > 1 {
		t1 = xr[1][0]
	} else if g.accs > 1 {
		t1 = xr[0][1]
	}
	for _, t := range []reg.Register{t0, t1} {
		s.x(int(t.(reg.Physical).PhysicalIndex())) // panics at 16 and above
	}

	var (
		py    = reg.RDI // y of the current row (vector 0)
		prow  = reg.RSI // the current row of w
		ldx   = reg.R8  // x's vector stride in bytes
		ldw   = reg.R9  // row stride in bytes
		ldw3  = reg.R10 // 3·ldw
		rows  = reg.R11 // rows left
		pw    = reg.RBX // the current step of the rows
		pxq   = reg.RDX // the current step of x
		cnt   = reg.RCX // steps left in the row
		tmp   = reg.RAX
		steps = reg.R12 // whole steps per row (fewer than 4 vectors)
		ldx3  = reg.R12 // 3·ldx (4 vectors: steps come from k per row)
		rv    = reg.R13 // vectors left after the whole steps (< accs)
		tail  = reg.R14 // columns in the last, partial vector (< lanes)
		vb    = s.vbytes()
		step  = g.accs * vb
	)

	// The mask table: AVX-512, the K1 of a vector with r lanes at 2r (r <=
	// lanes); AVX2, lanes all-ones words then lanes zeros, the
	// VMASKMOVPS mask of r lanes at 4·(lanes-r).
	masks := c.StaticGlobal(name + "Mask")
	c.DataAttributes(attr.RODATA | attr.NOPTR)
	if avx512 {
		for r := 0; r <= s.lanes; r++ {
			c.AddDatum(2*r, operand.U16(1<<r-1))
		}
	} else {
		for i := 0; i < 2*s.lanes; i++ {
			v := uint32(0)
			if i < s.lanes {
				v = 0xffffffff
			}
			c.AddDatum(4*i, operand.U32(v))
		}
	}

	c.Load(c.Param("n"), rows)
	c.TESTQ(rows, rows)
	c.JLE(operand.LabelRef("done"))
	c.Comment("Steps, vectors left over and tail columns of a row, from k.")
	c.Load(c.Param("k"), tmp)
	c.MOVQ(tmp, tail)
	c.ANDQ(imm(s.lanes-1), tail)
	c.SHRQ(operand.U8(log2(s.lanes)), tmp) // whole vectors
	if g.accs&(g.accs-1) == 0 {
		c.MOVQ(tmp, rv)
		c.ANDQ(imm(g.accs-1), rv)
		if g.vecs < 4 {
			c.MOVQ(tmp, steps)
			if g.accs > 1 {
				c.SHRQ(operand.U8(log2(g.accs)), steps)
			}
		}
	} else {
		c.XORL(reg.EDX, reg.EDX)
		c.MOVQ(operand.U32(g.accs), cnt)
		c.DIVQ(cnt) // AX = vectors / accs, DX = vectors % accs
		c.MOVQ(tmp, steps)
		c.MOVQ(reg.RDX, rv)
	}
	if avx512 {
		c.LEAQ(masks, tmp)
		c.KMOVW(operand.Mem{Base: tmp, Index: tail, Scale: 2}, reg.K1)
	}
	loadBase(c, "y", py)
	loadBase(c, "w", prow)
	c.Load(c.Param("ldw"), ldw)
	c.SHLQ(operand.U8(2), ldw)
	c.LEAQ(operand.Mem{Base: ldw, Index: ldw, Scale: 2}, ldw3)
	if g.vecs > 1 {
		c.Load(c.Param("ldx"), ldx)
		c.SHLQ(operand.U8(2), ldx)
	}
	if g.vecs == 4 {
		c.LEAQ(operand.Mem{Base: ldx, Index: ldx, Scale: 2}, ldx3)
	}

	// wmem is row r of the current step, plus disp bytes.
	wmem := func(r, disp int) operand.Mem {
		switch r {
		case 0:
			return mem(pw, disp)
		case 1:
			return operand.Mem{Base: pw, Index: ldw, Scale: 1, Disp: disp}
		case 2:
			return operand.Mem{Base: pw, Index: ldw, Scale: 2, Disp: disp}
		default:
			return operand.Mem{Base: pw, Index: ldw3, Scale: 1, Disp: disp}
		}
	}
	// xmem is vector v of the current step, plus disp bytes.
	xmem := func(v, disp int) operand.Mem {
		switch v {
		case 0:
			return mem(pxq, disp)
		case 1:
			return operand.Mem{Base: pxq, Index: ldx, Scale: 1, Disp: disp}
		case 2:
			return operand.Mem{Base: pxq, Index: ldx, Scale: 2, Disp: disp}
		default:
			return operand.Mem{Base: pxq, Index: ldx3, Scale: 1, Disp: disp}
		}
	}
	// advance moves the current step on by bytes.
	advance := func(bytes int) {
		c.ADDQ(imm(bytes), pw)
		c.ADDQ(imm(bytes), pxq)
	}
	// fmas multiplies vector u of row r's current step (at disp) with the
	// x registers xs (one per vector) into accumulators u.
	fmas := func(r, u, disp int, xs []reg.Register) {
		if g.vecs == 1 {
			c.VFMADD231PS(wmem(r, disp), xs[0], acc[r][0][u])
			return
		}
		c.VMOVUPS(wmem(r, disp), wt)
		for v := range xs {
			c.VFMADD231PS(wt, xs[v], acc[r][v][u])
		}
	}
	col := func(u int) []reg.Register { // x registers of vector u of a step
		var xs []reg.Register
		for v := range xr {
			xs = append(xs, xr[v][u])
		}
		return xs
	}

	group := func(nr int) {
		lbl := func(s string) string { return fmt.Sprintf("%s%d", s, nr) }
		c.Label(lbl("rows"))
		for r := 0; r < nr; r++ {
			for v := range acc[r] {
				for u := range acc[r][v] {
					zero(c, s, acc[r][v][u])
				}
			}
		}
		c.MOVQ(prow, pw)
		loadBase(c, "x", pxq)
		if g.vecs < 4 {
			c.MOVQ(steps, cnt)
		} else {
			c.Load(c.Param("k"), cnt)
			c.SHRQ(operand.U8(log2(s.lanes*g.accs)), cnt)
		}
		c.TESTQ(cnt, cnt)
		c.JE(operand.LabelRef(lbl("left")))
		c.Label(lbl("loop"))
		for v := range xr {
			for u := range xr[v] {
				c.VMOVUPS(xmem(v, u*vb), xr[v][u])
			}
		}
		if g.prefetch > 0 {
			for r := 0; r < nr; r++ {
				for off := 0; off < step; off += 64 {
					c.PREFETCHT0(wmem(r, g.prefetch+off))
				}
			}
		}
		for r := 0; r < nr; r++ {
			for u := 0; u < g.accs; u++ {
				fmas(r, u, u*vb, col(u))
			}
		}
		advance(step)
		c.DECQ(cnt)
		c.JNE(operand.LabelRef(lbl("loop")))

		c.Label(lbl("left"))
		for u := 0; u+1 < g.accs; u++ {
			c.CMPQ(rv, imm(u+1))
			c.JL(operand.LabelRef(lbl("tail")))
			for v := range xr {
				c.VMOVUPS(xmem(v, 0), xr[v][0])
			}
			for r := 0; r < nr; r++ {
				fmas(r, u, 0, col(0))
			}
			advance(vb)
		}

		c.Label(lbl("tail"))
		c.TESTQ(tail, tail)
		c.JE(operand.LabelRef(lbl("sum")))
		if avx512 {
			for v := range xr {
				c.VMOVUPS_Z(xmem(v, 0), reg.K1, xr[v][0])
			}
			for r := 0; r < nr; r++ {
				if g.vecs == 1 {
					c.VFMADD231PS(wmem(r, 0), xr[0][0], reg.K1, acc[r][0][0]) // merge-masked: faults suppressed past the row
					continue
				}
				c.VMOVUPS_Z(wmem(r, 0), reg.K1, wt)
				for v := range xr {
					c.VFMADD231PS(wt, xr[v][0], acc[r][v][0])
				}
			}
		} else {
			c.LEAQ(masks, tmp)
			c.MOVQ(tail, cnt)
			c.NEGQ(cnt)
			c.VMOVUPS(operand.Mem{Base: tmp, Index: cnt, Scale: 4, Disp: vb}, maskv)
			for v := range xr {
				c.VMASKMOVPS(xmem(v, 0), maskv, xr[v][0])
			}
			for r := 0; r < nr; r++ {
				c.VMASKMOVPS(wmem(r, 0), maskv, wt)
				for v := range xr {
					c.VFMADD231PS(wt, xr[v][0], acc[r][v][0])
				}
			}
		}

		c.Label(lbl("sum"))
		if g.vecs > 1 {
			c.Load(c.Param("ldy"), cnt)
			c.SHLQ(operand.U8(2), cnt)
		}
		c.MOVQ(py, tmp)
		for v := range xr {
			if v > 0 {
				c.ADDQ(cnt, tmp)
			}
			for r := 0; r < nr; r++ {
				gemvReduce(c, s, acc[r][v], t0, t1)
				c.VMOVSS(asX(t0), mem(tmp, 4*r))
			}
		}
		c.ADDQ(imm(4*nr), py)
		switch nr {
		case 1:
			c.ADDQ(ldw, prow)
		default:
			c.LEAQ(operand.Mem{Base: prow, Index: ldw, Scale: uint8(nr)}, prow)
		}
	}

	if g.rows > 1 {
		c.CMPQ(rows, imm(g.rows))
		c.JL(operand.LabelRef("rows1"))
		group(g.rows)
		c.SUBQ(imm(g.rows), rows)
		c.CMPQ(rows, imm(g.rows))
		c.JGE(operand.LabelRef(fmt.Sprintf("rows%d", g.rows)))
		c.TESTQ(rows, rows)
		c.JE(operand.LabelRef("done"))
	}
	group(1)
	c.DECQ(rows)
	c.JNE(operand.LabelRef("rows1"))

	c.Label("done")
	c.VZEROUPPER()
	c.RET()
}

// asX is the xmm view of a vector register below 16.
func asX(r reg.Register) reg.Register {
	return r.(reg.VecPhysical).AsX()
}

// gemvReduce adds the accumulators accs pairwise into t0 and then the
// lanes of t0 down to its low lane (high half plus low half, repeatedly),
// with t1 as scratch. t0 and t1 are registers below 16, so the narrow
// steps are VEX-encoded (AVX-512F alone has no EVEX ymm/xmm forms).
func gemvReduce(c *build.Context, s isa, accs []reg.Register, t0, t1 reg.Register) {
	// Pairwise: level by level, the first pair's sum landing in t0.
	level := append([]reg.Register(nil), accs...)
	for len(level) > 1 {
		var nextLevel []reg.Register
		for i := 0; i+1 < len(level); i += 2 {
			dst := level[i]
			if len(nextLevel) == 0 {
				dst = t0
			}
			c.VADDPS(level[i+1], level[i], dst)
			nextLevel = append(nextLevel, dst)
		}
		if len(level)%2 == 1 {
			nextLevel = append(nextLevel, level[len(level)-1])
		}
		level = nextLevel
	}
	if level[0] != t0 {
		c.VMOVAPS(level[0], t0)
	}
	x0, x1 := asX(t0), asX(t1)
	if s.lanes == 16 {
		y0, y1 := t0.(reg.VecPhysical).AsY(), t1.(reg.VecPhysical).AsY()
		c.VEXTRACTF64X4(operand.U8(1), t0, y1)
		c.VADDPS(y1, y0, y0)
		c.VEXTRACTF128(operand.U8(1), y0, x1)
	} else {
		c.VEXTRACTF128(operand.U8(1), t0, x1)
	}
	c.VADDPS(x1, x0, x0)
	c.VMOVHLPS(x0, x0, x1)
	c.VADDPS(x1, x0, x0)
	c.VMOVSHDUP(x0, x1)
	c.VADDSS(x1, x0, x0)
}
