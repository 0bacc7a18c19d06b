package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// gather emits f32Gather<stride><TIER>Asm, the Gather kernel
// (simd.Kernels.Gather) for stride 1 (a copy of rows) and 2, which build
// the phase planes of depthwise convolutions and copy their wide output
// out. Each row is a loop of whole vectors, then a remainder: one K-masked
// vector (AVX-512, faults suppressed on the masked lanes) or a scalar loop
// (AVX2). For stride 2, each output vector keeps the even lanes of two
// input vectors: VPERMT2PS with the indices 0, 2, ..., 30 (AVX-512), or
// VSHUFPS then VPERMPD to undo its lane interleaving (AVX2). A row reads
// exactly the (n-1)*stride+1 inputs it uses: the whole-vector loop runs
// while two whole input vectors are left, so the remainder may take one
// output fewer than a vector's worth of inputs would suggest.
func gather(c *build.Context, s isa, stride int) {
	name := fmt.Sprintf("f32Gather%d%sAsm", stride, s.ident)
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(dst, src []float32, rows, n, ldd, lds int)")
	c.Pragma("noescape")
	c.Doc(
		name+" copies rows of every "+map[int]string{1: "", 2: "second "}[stride]+"float, unchecked: the",
		"caller guarantees what checkGather checks.",
		"",
		"\tfor r := 0; r < rows; r++ {",
		"\t\tfor i := 0; i < n; i++ {",
		fmt.Sprintf("\t\t\tdst[r*ldd+i] = src[r*lds+%s]", map[int]string{1: "i", 2: "2*i"}[stride]),
		"\t\t}",
		"\t}",
	)
	var (
		left, in = reg.RCX, reg.RDX // outputs and inputs left in the row
		pd, ps   = reg.RDI, reg.RSI
		rd, rs   = reg.R8, reg.R9 // row starts
		rows     = reg.R10
		tab      = reg.RAX
		vb       = s.vbytes()
		avx512   = s.lanes == 16
		idx      = s.v(s.nregs - 1)
		v, v1    = s.v(0), s.v(1)
	)
	if avx512 {
		// gather<stride><>: the 16-bit mask 1<<r - 1 of the last r <= 16
		// outputs (offset 0); for stride 2, the 32-bit load mask 1<<m - 1
		// of the last m < 32 inputs (offset 64+4m) and the 16
		// permutation indices 2i (offset 192).
		t := c.StaticGlobal(fmt.Sprintf("gather%d", stride))
		c.DataAttributes(attr.RODATA | attr.NOPTR)
		for r := 0; r <= 16; r++ {
			c.AddDatum(2*r, operand.U16(1<<r-1))
		}
		if stride == 2 {
			for m := 0; m < 32; m++ {
				c.AddDatum(64+4*m, operand.U32(uint32(1<<m-1)))
			}
			for i := 0; i < 16; i++ {
				c.AddDatum(192+4*i, operand.U32(2*i))
			}
		}
		c.LEAQ(t, tab)
		if stride == 2 {
			c.VMOVUPS(mem(tab, 192), idx)
		}
	}
	c.Load(c.Param("rows"), rows)
	c.TESTQ(rows, rows)
	c.JLE(operand.LabelRef("done"))
	c.Load(c.Param("n"), left)
	c.TESTQ(left, left)
	c.JLE(operand.LabelRef("done"))
	loadBase(c, "dst", rd)
	loadBase(c, "src", rs)

	c.Label("row")
	c.MOVQ(rd, pd)
	c.MOVQ(rs, ps)
	c.Load(c.Param("n"), left)
	if stride == 2 {
		c.LEAQ(operand.Mem{Base: left, Index: left, Scale: 1, Disp: -1}, in) // 2n-1 inputs
		c.CMPQ(in, imm(2*s.lanes))
	} else {
		c.CMPQ(left, imm(s.lanes))
	}
	c.JL(operand.LabelRef("tail"))
	c.Label("loop")
	c.VMOVUPS(mem(ps, 0), v)
	if stride == 2 {
		if avx512 {
			c.VPERMT2PS(mem(ps, vb), idx, v) // v = even lanes of (v, next vector)
		} else {
			c.VMOVUPS(mem(ps, vb), v1)
			c.VSHUFPS(operand.U8(0x88), v1, v, v) // per 128-bit lane: a0 a2 b0 b2 | a4 a6 b4 b6
			c.VPERMPD(operand.U8(0xd8), v, v)     // 64-bit pairs 0 2 1 3: a0 a2 a4 a6 b0 b2 b4 b6
		}
	}
	c.VMOVUPS(v, mem(pd, 0))
	c.ADDQ(imm(stride*vb), ps)
	c.ADDQ(imm(vb), pd)
	c.SUBQ(imm(s.lanes), left)
	if stride == 2 {
		c.SUBQ(imm(2*s.lanes), in)
		c.CMPQ(in, imm(2*s.lanes))
	} else {
		c.CMPQ(left, imm(s.lanes))
	}
	c.JGE(operand.LabelRef("loop"))

	c.Label("tail")
	c.TESTQ(left, left)
	c.JE(operand.LabelRef("next"))
	switch {
	case avx512 && stride == 2:
		c.Comment("Remainder: r <= 16 outputs from m < 32 inputs, masked.")
		c.KMOVW(operand.Mem{Base: tab, Index: in, Scale: 4, Disp: 64}, reg.K1)
		c.KMOVW(operand.Mem{Base: tab, Index: in, Scale: 4, Disp: 66}, reg.K2)
		c.KMOVW(operand.Mem{Base: tab, Index: left, Scale: 2}, reg.K3)
		c.VMOVUPS_Z(mem(ps, 0), reg.K1, v)
		c.VMOVUPS_Z(mem(ps, vb), reg.K2, v1)
		c.VPERMT2PS(v1, idx, v)
		c.VMOVUPS(v, reg.K3, mem(pd, 0))
	case avx512:
		c.Comment("Remainder: r < 16 outputs, masked.")
		c.KMOVW(operand.Mem{Base: tab, Index: left, Scale: 2}, reg.K1)
		c.VMOVUPS_Z(mem(ps, 0), reg.K1, v)
		c.VMOVUPS(v, reg.K1, mem(pd, 0))
	default:
		c.Commentf("Remainder: r <= %d scalars.", s.lanes)
		c.Label("scalar")
		c.MOVL(mem(ps, 0), reg.R11L)
		c.MOVL(reg.R11L, mem(pd, 0))
		c.ADDQ(imm(4*stride), ps)
		c.ADDQ(imm(4), pd)
		c.DECQ(left)
		c.JNE(operand.LabelRef("scalar"))
	}
	c.Label("next")
	c.Load(c.Param("ldd"), reg.R11)
	c.LEAQ(operand.Mem{Base: rd, Index: reg.R11, Scale: 4}, rd)
	c.Load(c.Param("lds"), reg.R11)
	c.LEAQ(operand.Mem{Base: rs, Index: reg.R11, Scale: 4}, rs)
	c.DECQ(rows)
	c.JNE(operand.LabelRef("row"))

	c.Label("done")
	c.VZEROUPPER()
	c.RET()
}
