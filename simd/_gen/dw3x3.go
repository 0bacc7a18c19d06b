package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// dw3x3 emits f32DW3x3AVX512Asm: DWRows for the taps of a 3×3 kernel
// whose kernel rows are consecutive source rows (stride and dilation 1
// vertically, stride 1 horizontally), the depthwise convolutions most
// networks are made of. Unlike dwrows, which loads the input once per
// tap, it loads each source row vector once per chunk and kernel column
// and multiplies it into every output row of the chunk that reads it, so
// a chunk of R output rows loads R+2 rows, not 3R: the FMAs take
// register operands, and the nine weights stay in registers per channel.
//
// A chunk is R rows of nv vectors (R·nv <= dwVectors): rows of up to
// dwrowsRows vectors go whole, dwVectors/vr rows at a time; longer rows
// go in column chunks of dw3x3Cols vectors, dw3x3Rows rows at a time. A
// chunk's loads are zero-masked per kernel column on the row's first and
// last vectors, as dwrows masks its taps (masked taps add w·0). Each
// output sums its nine taps in order into one accumulator, starting from
// the bias; then the clamp and the stores, as in dwrows.
func dw3x3(c *build.Context, tab dwrowsConsts) {
	s := avx512
	name := "f32DW3x3" + s.ident + "Asm"
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(dst, src []float32, cols []int, masks []uint16, w, bias []float32, chans, rows, n, ldw, lsc, lsr, ldc, ldr int, lo, hi float32)")
	c.Pragma("noescape")
	c.Doc(
		name+" is DWRows for a 3×3 kernel on consecutive source rows, unchecked:",
		"the caller guarantees what checkDWRows checks for the taps",
		"offs[3*ky+kx] = ky*lsr + cols[kx], that every vector of a row but its",
		"first and last reads every column in full, and that masks holds the three",
		"runs of 3 masks dw3x3 (simd/_gen) describes. It computes, with fused",
		"multiply-adds in tap order (a masked tap adds w·0),",
		"",
		"\tfor c := 0; c < chans; c++ {",
		"\t\tfor r := 0; r < rows; r++ {",
		"\t\t\tfor i := 0; i < n; i++ {",
		"\t\t\t\ts := bias[c] // 0 when bias is empty",
		"\t\t\t\tfor t := 0; t < 9; t++ {",
		"\t\t\t\t\tif column t%3's mask holds i {",
		"\t\t\t\t\t\ts += w[c*ldw+t] * src[c*lsc+(r+t/3)*lsr+cols[t%3]+i]",
		"\t\t\t\t\t}",
		"\t\t\t\t}",
		"\t\t\t\tif s < lo { s = lo }",
		"\t\t\t\tif s > hi { s = hi }",
		"\t\t\t\tdst[c*ldc+r*ldr+i] = s",
		"\t\t\t}",
		"\t\t}",
		"\t}",
	)
	var (
		cd, cs   = reg.RDI, reg.RSI // the chunk's dst and src (row 0, column 0 of the chunk)
		left     = reg.RCX          // outputs left in the row from the chunk on
		p        = reg.RAX          // the source row a chunk loads, then the dst row it stores
		c0       = reg.R8           // cols[0..2]
		c1       = reg.R9
		c2       = reg.R10
		scratch  = reg.R11
		pm0, pmL = reg.R12, reg.R13 // the masks of the chunk's first and last vectors
		rl       = reg.RDX          // lsr·4
		pw       = reg.RBX          // the channel's weights
		pb       = reg.R14          // the channel's bias (dwrmask's zero when bias is empty)
		vb       = s.vbytes()
		wts      = func(t int) reg.Register { return s.v(t) } // Z0..Z8
		acc      = func(i int) reg.Register { return s.v(9 + i) }
		in       = func(i int) reg.Register { return s.v(9 + dwVectors + i) }
		vlo, vhi = s.v(9 + 2*dwVectors), s.v(10 + 2*dwVectors)
		vbias    = s.v(11 + 2*dwVectors)
		// K1..K6: the chunk's masks, first and last vector of column
		// 0, 1, 2; K7 its last store.
		kFirst = []reg.Register{reg.K1, reg.K3, reg.K5}
		kLast  = []reg.Register{reg.K2, reg.K4, reg.K6}
		cols   = []reg.Register{c0, c1, c2}
	)
	chansLeft, rowsLeft := c.AllocLocal(8), c.AllocLocal(8)
	chanDst, chanSrc := c.AllocLocal(8), c.AllocLocal(8)
	rowDst, rowSrc := c.AllocLocal(8), c.AllocLocal(8)
	loop := dwLoop{chansLeft, rowsLeft, chanDst, chanSrc, rowDst, rowSrc}
	groupRows := c.AllocLocal(8)   // rows in the current group
	chunkFloats := c.AllocLocal(8) // outputs of a chunk that does not end the row
	masks := tab.tab

	loop.entry(c, scratch, vlo, vhi)
	loadBase(c, "cols", scratch)
	for i, r := range cols {
		c.MOVQ(mem(scratch, 8*i), r)
	}
	c.Load(c.Param("lsr"), rl)
	c.SHLQ(operand.U8(2), rl)
	loadBase(c, "w", pw)
	loop.bases(c, tab, scratch, pb)

	c.Label("chan")
	c.Comment("The channel's weights and bias, broadcast.")
	for t := 0; t < 9; t++ {
		c.VBROADCASTSS(mem(pw, 4*t), wts(t))
	}
	c.VBROADCASTSS(mem(pb, 0), vbias)
	c.Load(c.Param("rows"), scratch)
	c.MOVQ(scratch, rowsLeft)
	c.MOVQ(chanDst, scratch)
	c.MOVQ(scratch, rowDst)
	c.MOVQ(chanSrc, scratch)
	c.MOVQ(scratch, rowSrc)

	c.Label("group")
	c.Comment("A group of rows: R = min(Rmax, rows left), Rmax by the row's vectors.")
	c.MOVQ(rowDst, cd)
	c.MOVQ(rowSrc, cs)
	c.Load(c.Param("n"), left)
	c.MOVQ(rowsLeft, scratch)
	// rmax is the group's rows for rows of vr vectors (0: long rows).
	rmaxOf := func(vr int) int {
		if vr > dwrowsRows {
			return dw3x3Rows
		}
		return dwVectors / vr
	}
	for vr := 1; vr <= dwrowsRows+1; vr++ {
		if vr > 1 {
			c.Label(fmt.Sprintf("g%d", vr))
		}
		if vr <= dwrowsRows {
			c.CMPQ(left, imm(vr*s.lanes))
			c.JG(operand.LabelRef(fmt.Sprintf("g%d", vr+1)))
		}
		rm := rmaxOf(vr)
		c.CMPQ(scratch, imm(rm))
		c.JL(operand.LabelRef(fmt.Sprintf("g%dset", vr)))
		c.MOVQ(operand.U32(rm), scratch)
		c.Label(fmt.Sprintf("g%dset", vr))
		c.MOVQ(scratch, groupRows)
		c.JMP(operand.LabelRef("first"))
	}

	c.Label("first")
	c.Comment("The group's chunks: cw vectors (the whole row, or dw3x3Cols of a long one);",
		"the first takes the first masks.")
	maskRun := func(p reg.Register, run int) {
		loadBase(c, "masks", p)
		if run > 0 {
			c.ADDQ(imm(6*run), p)
		}
	}
	maskRun(pm0, 0)
	c.MOVQ(operand.U32(dw3x3Cols*s.lanes), scratch)
	c.CMPQ(left, imm(dwrowsRows*s.lanes))
	c.JG(operand.LabelRef("cwset"))
	c.MOVQ(left, scratch)
	c.Label("cwset")
	c.MOVQ(scratch, chunkFloats)

	c.Label("chunk")
	c.MOVQ(chunkFloats, scratch)
	c.CMPQ(left, scratch)
	c.JLE(operand.LabelRef("lastchunk"))
	c.Commentf("A chunk of %d vectors that does not end the row.", dw3x3Cols)
	maskRun(pmL, 2)
	c.KXNORW(reg.K7, reg.K7, reg.K7)
	c.MOVQ(operand.U32(dw3x3Cols), scratch)
	c.JMP(operand.LabelRef("pick"))
	c.Label("lastchunk")
	c.Comment("The row's last chunk: ceil(left/lanes) vectors, the last masks and",
		"the tail's store mask.")
	maskRun(pmL, 1)
	c.LEAQ(operand.Mem{Base: left, Disp: -1}, scratch)
	c.ANDQ(imm(s.lanes-1), scratch)
	c.LEAQ(masks, p)
	c.KMOVW(operand.Mem{Base: p, Index: scratch, Scale: 2, Disp: 2}, reg.K7)
	c.LEAQ(operand.Mem{Base: left, Disp: s.lanes - 1}, scratch)
	c.SHRQ(operand.U8(log2(s.lanes)), scratch)

	// pick jumps to the body of groupRows rows of scratch vectors.
	c.Label("pick")
	c.Comment("The masks of the chunk's first and last vectors, per column.")
	for x := 0; x < 3; x++ {
		c.KMOVW(mem(pm0, 2*x), kFirst[x])
		c.KMOVW(mem(pmL, 2*x), kLast[x])
	}
	c.MOVQ(groupRows, p)
	type shape struct{ nr, nv int }
	var shapes []shape
	for nv := 1; nv <= dwrowsRows; nv++ {
		for nr := 1; nr*nv <= dwVectors; nr++ {
			shapes = append(shapes, shape{nr, nv})
		}
	}
	for nv := 1; nv <= dwrowsRows; nv++ {
		c.CMPQ(scratch, imm(nv))
		c.JNE(operand.LabelRef(fmt.Sprintf("pick%d", nv+1)))
		for nr := 1; nr*nv <= dwVectors; nr++ {
			c.CMPQ(p, imm(nr))
			c.JE(operand.LabelRef(fmt.Sprintf("b%dx%d", nr, nv)))
		}
		c.Label(fmt.Sprintf("pick%d", nv+1))
	}
	c.JMP(operand.LabelRef("done")) // unreachable

	for _, sh := range shapes {
		nr, nv := sh.nr, sh.nv
		c.Label(fmt.Sprintf("b%dx%d", nr, nv))
		c.Commentf("%d rows of %d vector(s).", nr, nv)
		if nv == 1 {
			for x := 0; x < 3; x++ {
				c.KANDW(kLast[x], kFirst[x], kFirst[x])
			}
		}
		for i := 0; i < nr*nv; i++ {
			c.VMOVAPS(vbias, acc(i))
		}
		c.MOVQ(cs, p)
		for j := 0; j < nr+2; j++ {
			if j > 0 {
				c.ADDQ(rl, p)
			}
			for x := 0; x < 3; x++ {
				for v := 0; v < nv; v++ {
					m := operand.Mem{Base: p, Index: cols[x], Scale: 4, Disp: v * vb}
					switch {
					case v == 0:
						c.VMOVUPS_Z(m, kFirst[x], in(v))
					case v == nv-1:
						c.VMOVUPS_Z(m, kLast[x], in(v))
					default:
						c.VMOVUPS(m, in(v))
					}
				}
				for ky := 0; ky < 3; ky++ {
					k := j - ky
					if k < 0 || k >= nr {
						continue
					}
					for v := 0; v < nv; v++ {
						c.VFMADD231PS(in(v), wts(3*ky+x), acc(k*nv+v))
					}
				}
			}
		}
		for i := 0; i < nr*nv; i++ {
			c.VMAXPS(acc(i), vlo, acc(i))
			c.VMINPS(acc(i), vhi, acc(i))
		}
		c.Load(c.Param("ldr"), scratch)
		c.SHLQ(operand.U8(2), scratch)
		c.MOVQ(cd, p)
		for k := 0; k < nr; k++ {
			if k > 0 {
				c.ADDQ(scratch, p)
			}
			for v := 0; v < nv; v++ {
				if v < nv-1 {
					c.VMOVUPS(acc(k*nv+v), mem(p, v*vb))
				} else {
					c.VMOVUPS(acc(k*nv+v), reg.K7, mem(p, v*vb))
				}
			}
		}
		c.MOVQ(operand.U32(nv), scratch)
		c.JMP(operand.LabelRef("next"))
	}

	c.Label("next")
	c.Comment("scratch vectors done: the next chunk of the group, whose first vectors",
		"read in full.")
	c.SHLQ(operand.U8(log2(vb)), scratch)
	c.ADDQ(scratch, cd)
	c.ADDQ(scratch, cs)
	c.SHRQ(operand.U8(2), scratch)
	c.SUBQ(scratch, left)
	c.JLE(operand.LabelRef("groupend"))
	maskRun(pm0, 2)
	c.JMP(operand.LabelRef("chunk"))

	c.Label("groupend")
	c.MOVQ(groupRows, scratch)
	loop.next(c, "group", scratch, p, rl, pw, pb)
}

// dw3x3Cols and dw3x3Rows are the chunk of long rows in dw3x3: vectors
// along the row and rows. 2×4 loads 6 source rows of 2 vectors per
// column for 72 FMAs.
const (
	dw3x3Cols = 2
	dw3x3Rows = 4
)
