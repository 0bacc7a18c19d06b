package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// poolBlock and poolUnroll are the output rows per block (simd's
// poolBlock: the scratch holds that many rows) and the vectors per
// iteration of the pooling kernels' whole-vector loops.
const (
	poolBlock  = 8
	poolUnroll = 2
)

// poolUnord is VCMPPS's unordered predicate: true where either operand
// is NaN.
const poolUnord = 3

// pool emits f32{Max,Avg}Pool2DS<sw><TIER>Asm, the MaxPool2D and
// AvgPool2D kernels (simd.Kernels) for horizontal stride sw (1 or 2),
// kernels of at most 3×3 and dilation 1.
//
// Whole planes per call, in blocks of up to poolBlock output rows that
// use the scratch tmp: one row of vw floats per output row, filled with
// the identity (-Inf or 0) once per call; the image columns sit at
// [padL, padL+w) of each row. The vertical pass reduces each output row's
// (at most 3, contiguous) in-image input rows into the middle of its
// scratch row, or fills it with the identity when there are none; then
// the horizontal pass reduces each output's kw taps from the scratch
// rows, whose identity padding leaves it no edge cases. A whole block's
// vertical pass goes first, so the horizontal loads of a scratch row do
// not wait on its stores. Rows are whole vectors, unrolled by poolUnroll,
// then one masked vector: K1-masked (faults suppressed) for AVX-512,
// VMASKMOVPS for AVX2. For stride 2 the horizontal pass reduces every
// scratch column (two vectors), then keeps the even lanes: VPERMT2PS for
// AVX-512, VSHUFPS and VPERMPD for AVX2.
//
// VMAXPS returns its second source when either is NaN, so a chain of
// them propagates only the last tap's NaN: the first two taps' is
// carried by an unordered compare, its lanes set to NaN at the end
// (an OR with the all-ones compare result for AVX2, a masked move of
// all-ones for AVX-512). (VRANGEPS does not help: it returns the other
// operand for a quiet NaN.)
func pool(c *build.Context, s isa, isMax bool, sw int) {
	p := &poolGen{c: c, s: s, isMax: isMax, sw: sw, avx512: s.lanes == 16}
	p.emit()
}

type poolGen struct {
	c      *build.Context
	s      isa
	isMax  bool
	sw     int
	avx512 bool

	name string
	tab  operand.Mem // the tail mask table

	id, nanv, idx, maskv reg.Register
}

// GP registers.
var (
	plSrc   = reg.R8  // the current input plane
	plOut   = reg.R9  // the next output row
	plLeft  = reg.R10 // planes left
	plOy    = reg.R11 // the block's first output row
	plScale = reg.R12 // the scale row of the next output row (average)
	plTmp   = reg.R13 // tmp
	plRows  = reg.R14 // rows in the block
	plR     = reg.RDX // row within the block
	plS     = reg.RSI // source cursor
	plD     = reg.RDI // destination cursor
	plLd    = reg.RBX // vertical: input row stride in bytes; horizontal: scale cursor
	plN     = reg.RCX // floats left in the row
	plT     = reg.RAX // temporary
)

func (p *poolGen) emit() {
	c, s := p.c, p.s
	op := "Avg"
	if p.isMax {
		op = "Max"
	}
	tier := s.ident
	p.name = fmt.Sprintf("f32%sPool2DS%d%sAsm", op, p.sw, tier)
	c.Function(p.name)
	c.Attributes(attr.NOSPLIT)
	if p.isMax {
		c.SignatureExpr("func(dst, src, tmp []float32, planes, h, w, oh, ow, kh, kw, sh, padT, padL, vw int)")
	} else {
		c.SignatureExpr("func(dst, src, tmp, scale []float32, planes, h, w, oh, ow, kh, kw, sh, padT, padL, vw int)")
	}
	c.Pragma("noescape")
	what, init, acc, out := "max", "m := float32(math.Inf(-1))", "m = max(m, x)", "m"
	order := "(which of -0 and +0 wins is its own)"
	if !p.isMax {
		what, init, acc, out = "average", "m := float32(0)", "m += x", "m * scale[oy*ow+ox]"
		order = "(the order of the sum is its own)"
	}
	c.Doc(
		fmt.Sprintf("%s computes planes of a 2-D %s pooling with horizontal", p.name, what),
		fmt.Sprintf("stride %d, dilation 1 and a kernel of kh×kw <= 3×3, unchecked: the caller", p.sw),
		"guarantees what checkPool2D checks, vw = Pool2D.rowLen() and len(tmp) >=",
		"Pool2D.TempLen(). It computes "+order,
		"",
		"	for p := 0; p < planes; p++ {",
		"		for oy := 0; oy < oh; oy++ {",
		"			for ox := 0; ox < ow; ox++ {",
		"				"+init,
		"				for t := 0; t < kh; t++ {",
		"					for u := 0; u < kw; u++ {",
		fmt.Sprintf("						iy, ix := oy*sh-padT+t, ox*%d-padL+u", p.sw),
		"						if 0 <= iy && iy < h && 0 <= ix && ix < w {",
		"							x := src[(p*h+iy)*w+ix]",
		"							"+acc,
		"						}",
		"					}",
		"				}",
		"				dst[(p*oh+oy)*ow+ox] = "+out,
		"			}",
		"		}",
		"	}",
	)

	// Tail masks: AVX-512, the 16-bit 1<<r - 1 at 2r; AVX2, 8 all-ones
	// words then 8 zeros (the mask of r lanes starts at word 8-r). Then,
	// for AVX-512 stride 2, the permutation indices 0, 2, ..., 30.
	p.tab = c.StaticGlobal(fmt.Sprintf("pool%s%d%s", op, p.sw, tier))
	c.DataAttributes(attr.RODATA | attr.NOPTR)
	if p.avx512 {
		for r := 0; r <= 16; r++ {
			c.AddDatum(2*r, operand.U16(1<<r-1))
		}
		if p.sw == 2 {
			for i := 0; i < 16; i++ {
				c.AddDatum(64+4*i, operand.U32(2*i))
			}
		}
	} else {
		for i := 0; i < 16; i++ {
			v := uint32(0)
			if i < 8 {
				v = 0xffffffff
			}
			c.AddDatum(4*i, operand.U32(v))
		}
	}

	p.id = s.v(s.nregs - 1)
	if p.avx512 {
		p.nanv = s.v(s.nregs - 2)
		p.idx = s.v(s.nregs - 3)
	} else {
		p.maskv = s.v(s.nregs - 2)
	}
	c.Comment("The identity, and the constants.")
	if p.isMax {
		c.MOVL(operand.U32(0xff800000), plT.As32()) // -Inf
		c.MOVQ(plT, s.x(0))
		c.VBROADCASTSS(s.x(0), p.id)
	} else {
		c.VXORPS(p.id, p.id, p.id)
	}
	if p.avx512 {
		c.VPTERNLOGD(operand.U8(0xff), p.nanv, p.nanv, p.nanv) // all ones: a NaN
		if p.sw == 2 {
			c.LEAQ(p.tab, plT)
			c.VMOVUPS(mem(plT, 64), p.idx)
		}
	}

	c.Comment("Fill the scratch rows of a block with the identity.")
	loadBase(c, "tmp", plTmp)
	c.Load(c.Param("oh"), plN)
	c.MOVQ(operand.U32(poolBlock), plT)
	c.CMPQ(plN, plT)
	c.CMOVQGT(plT, plN)
	c.IMULQ(paramAddr(c, "vw"), plN)
	c.MOVQ(plTmp, plD)
	c.TESTQ(plN, plN)
	c.JLE(operand.LabelRef("filled"))
	c.Label("fill")
	c.VMOVUPS(p.id, mem(plD, 0))
	c.ADDQ(imm(s.vbytes()), plD)
	c.SUBQ(imm(s.lanes), plN)
	c.JG(operand.LabelRef("fill"))
	c.Label("filled")

	c.Load(c.Param("planes"), plLeft)
	c.TESTQ(plLeft, plLeft)
	c.JLE(operand.LabelRef("done"))
	for _, n := range []string{"oh", "ow"} {
		c.CMPQ(paramAddr(c, n), imm(0))
		c.JLE(operand.LabelRef("done"))
	}
	loadBase(c, "src", plSrc)
	loadBase(c, "dst", plOut)

	c.Label("plane")
	c.XORQ(plOy, plOy)
	if !p.isMax {
		loadBase(c, "scale", plScale)
	}

	c.Label("block")
	c.Load(c.Param("oh"), plRows)
	c.SUBQ(plOy, plRows)
	c.MOVQ(operand.U32(poolBlock), plT)
	c.CMPQ(plRows, plT)
	c.CMOVQGT(plT, plRows)
	c.XORQ(plR, plR)

	p.vertical()

	c.Comment("The horizontal pass, by kernel width.")
	c.XORQ(plR, plR)
	c.CMPQ(paramAddr(c, "kw"), imm(2))
	c.JE(operand.LabelRef("h2"))
	c.JG(operand.LabelRef("h3"))
	for kw := 1; kw <= 3; kw++ {
		p.horizontal(kw)
	}

	c.Label("bnext")
	c.ADDQ(plRows, plOy)
	c.CMPQ(plOy, paramAddr(c, "oh"))
	c.JL(operand.LabelRef("block"))
	c.Load(c.Param("h"), plT)
	c.IMULQ(paramAddr(c, "w"), plT)
	c.LEAQ(operand.Mem{Base: plSrc, Index: plT, Scale: 4}, plSrc)
	c.DECQ(plLeft)
	c.JNE(operand.LabelRef("plane"))

	c.Label("done")
	c.VZEROUPPER()
	c.RET()
}

// vertical emits the vertical pass of a block: its rows plR = 0..plRows-1.
func (p *poolGen) vertical() {
	c := p.c
	c.Label("vrow")
	c.Comment("Input rows [lo, hi) of output row plOy+plR: n = hi-lo in BX.")
	c.MOVQ(plOy, plT)
	c.ADDQ(plR, plT)
	c.IMULQ(paramAddr(c, "sh"), plT)
	c.SUBQ(paramAddr(c, "padT"), plT) // iy0
	c.MOVQ(plT, plLd)
	c.ADDQ(paramAddr(c, "kh"), plLd)
	c.CMPQ(plLd, paramAddr(c, "h"))
	c.CMOVQGT(paramAddr(c, "h"), plLd) // hi
	c.XORQ(plN, plN)
	c.CMPQ(plT, plN)
	c.CMOVQLT(plN, plT) // lo
	c.SUBQ(plT, plLd)
	c.IMULQ(paramAddr(c, "w"), plT)
	c.LEAQ(operand.Mem{Base: plSrc, Index: plT, Scale: 4}, plS)
	c.MOVQ(plR, plT)
	c.IMULQ(paramAddr(c, "vw"), plT)
	c.ADDQ(paramAddr(c, "padL"), plT)
	c.LEAQ(operand.Mem{Base: plTmp, Index: plT, Scale: 4}, plD)
	c.Load(c.Param("w"), plN)
	c.CMPQ(plLd, imm(2))
	c.JE(operand.LabelRef("v2"))
	c.JG(operand.LabelRef("v3"))
	c.CMPQ(plLd, imm(1))
	c.JE(operand.LabelRef("v1"))

	for n := 0; n <= 3; n++ {
		c.Label(fmt.Sprintf("v%d", n))
		switch n {
		case 0:
			c.Comment("No row inside the image: the identity.")
		case 1:
			c.Comment("One row: a copy.")
		default:
			c.Commentf("%d rows.", n)
		}
		c.Load(c.Param("w"), plLd)
		c.SHLQ(operand.U8(2), plLd)
		adv := p.s.vbytes()
		p.loop(fmt.Sprintf("v%d", n), []reg.Register{plS, plD}, []int{adv, adv}, func(i int, masked bool) {
			p.vbody(n, i, masked)
		})
		c.JMP(operand.LabelRef("vnext"))
	}
	c.Label("vnext")
	c.INCQ(plR)
	c.CMPQ(plR, plRows)
	c.JL(operand.LabelRef("vrow"))
}

// horizontal emits the horizontal pass of a block for kernel width kw,
// labeled h<kw>, ending with a jump to bnext.
func (p *poolGen) horizontal(kw int) {
	c, s := p.c, p.s
	c.Label(fmt.Sprintf("h%d", kw))
	c.Label(fmt.Sprintf("h%drow", kw))
	c.MOVQ(plR, plT)
	c.IMULQ(paramAddr(c, "vw"), plT)
	c.LEAQ(operand.Mem{Base: plTmp, Index: plT, Scale: 4}, plS)
	c.MOVQ(plOut, plD)
	ptrs, advs := []reg.Register{plS, plD}, []int{p.sw * s.vbytes(), s.vbytes()}
	if !p.isMax {
		c.MOVQ(plScale, plLd)
		ptrs, advs = append(ptrs, plLd), append(advs, s.vbytes())
	}
	c.Load(c.Param("ow"), plN)
	p.loop(fmt.Sprintf("h%d", kw), ptrs, advs, func(i int, masked bool) {
		p.hbody(kw, i, masked)
	})
	c.Load(c.Param("ow"), plT)
	c.LEAQ(operand.Mem{Base: plOut, Index: plT, Scale: 4}, plOut)
	if !p.isMax {
		c.LEAQ(operand.Mem{Base: plScale, Index: plT, Scale: 4}, plScale)
	}
	c.INCQ(plR)
	c.CMPQ(plR, plRows)
	c.JL(operand.LabelRef(fmt.Sprintf("h%drow", kw)))
	c.JMP(operand.LabelRef("bnext"))
}

// loop emits a row loop over plN floats: poolUnroll whole vectors per
// iteration, then single ones, then one masked vector (its mask in K1 or
// maskv); body(i, masked) emits the i-th vector of an iteration, and
// ptrs advance by advs bytes per vector.
func (p *poolGen) loop(label string, ptrs []reg.Register, advs []int, body func(i int, masked bool)) {
	c, s := p.c, p.s
	step := func(vecs int) {
		for j, r := range ptrs {
			c.ADDQ(imm(vecs*advs[j]), r)
		}
		c.SUBQ(imm(vecs*s.lanes), plN)
	}
	c.Label(label + "u")
	c.CMPQ(plN, imm(poolUnroll*s.lanes))
	c.JL(operand.LabelRef(label + "one"))
	for i := 0; i < poolUnroll; i++ {
		body(i, false)
	}
	step(poolUnroll)
	c.JMP(operand.LabelRef(label + "u"))
	c.Label(label + "one")
	c.CMPQ(plN, imm(s.lanes))
	c.JL(operand.LabelRef(label + "tail"))
	body(0, false)
	step(1)
	c.JMP(operand.LabelRef(label + "one"))
	c.Label(label + "tail")
	c.TESTQ(plN, plN)
	c.JE(operand.LabelRef(label + "end"))
	c.LEAQ(p.tab, plT)
	if p.avx512 {
		c.KMOVW(operand.Mem{Base: plT, Index: plN, Scale: 2}, reg.K1)
	} else {
		c.NEGQ(plN)
		c.VMOVUPS(operand.Mem{Base: plT, Index: plN, Scale: 4, Disp: 32}, p.maskv)
	}
	body(0, true)
	c.Label(label + "end")
}

// regs returns the four vector registers of the i-th vector of an
// iteration.
func (p *poolGen) regs(i int) (a, b, t0, t1 reg.Register) {
	if 4*i+3 >= p.s.nregs-3 { // the top three hold the constants
		panic(fmt.Sprintf("pool: %s has no registers for vector %d of an iteration", p.s.name, i))
	}
	return p.s.v(4 * i), p.s.v(4*i + 1), p.s.v(4*i + 2), p.s.v(4*i + 3)
}

// load emits a load of the vector at m into r (masked: only the tail's
// lanes, the others zero).
func (p *poolGen) load(m operand.Mem, r reg.Register, masked bool) {
	switch {
	case !masked:
		p.c.VMOVUPS(m, r)
	case p.avx512:
		p.c.VMOVUPS_Z(m, reg.K1, r)
	default:
		p.c.VMASKMOVPS(m, p.maskv, r)
	}
}

// store emits a store of r to m (masked: only the tail's lanes).
func (p *poolGen) store(r reg.Register, m operand.Mem, masked bool) {
	switch {
	case !masked:
		p.c.VMOVUPS(r, m)
	case p.avx512:
		p.c.VMOVUPS(r, reg.K1, m)
	default:
		p.c.VMASKMOVPS(r, p.maskv, m)
	}
}

// reduce emits acc = reduce(taps) for the vectors at taps (loaded
// unmasked unless masked, the mask then covering every tap): a sum, or a
// max that propagates NaN from every tap. t0 and t1 are temporaries.
func (p *poolGen) reduce(taps []operand.Mem, acc, t0, t1 reg.Register, kreg reg.Register, masked bool) {
	c := p.c
	p.load(taps[0], acc, masked)
	if len(taps) == 1 {
		return
	}
	// other returns tap k as a source operand: the memory itself, or
	// for a masked AVX2 tail the tap loaded into a temporary.
	other := func(k int, t reg.Register) operand.Op {
		if masked && !p.avx512 {
			p.load(taps[k], t, true)
			return t
		}
		return taps[k]
	}
	if !p.isMax {
		for k := 1; k < len(taps); k++ {
			src := other(k, t0)
			if masked && p.avx512 {
				c.VADDPS(src, acc, reg.K1, acc)
			} else {
				c.VADDPS(src, acc, acc)
			}
		}
		return
	}
	// The chain keeps the last tap's NaN; the compare catches the first
	// two taps'.
	b := other(1, t0)
	switch {
	case p.avx512 && masked:
		c.VCMPPS(operand.U8(poolUnord), b, acc, reg.K1, kreg)
		c.VMAXPS(b, acc, reg.K1, acc)
	case p.avx512:
		c.VCMPPS(operand.U8(poolUnord), b, acc, kreg)
		c.VMAXPS(b, acc, acc)
	default:
		c.VCMPPS(operand.U8(poolUnord), b, acc, t1)
		c.VMAXPS(b, acc, acc)
	}
	for k := 2; k < len(taps); k++ {
		src := other(k, t0)
		if p.avx512 && masked {
			c.VMAXPS(src, acc, reg.K1, acc)
		} else {
			c.VMAXPS(src, acc, acc)
		}
	}
	if p.avx512 {
		c.VMOVAPS(p.nanv, kreg, acc)
	} else {
		c.VORPS(t1, acc, acc)
	}
}

// vbody emits the i-th vector of the vertical pass over n rows at plS,
// plS+plLd, plS+2*plLd into plD (n == 0: the identity).
func (p *poolGen) vbody(n, i int, masked bool) {
	d := i * p.s.vbytes()
	acc, _, t0, t1 := p.regs(i)
	if n == 0 {
		p.store(p.id, mem(plD, d), masked)
		return
	}
	taps := make([]operand.Mem, n)
	for k := range taps {
		taps[k] = operand.Mem{Base: plS, Disp: d}
		if k > 0 {
			taps[k].Index, taps[k].Scale = plLd, uint8(k)
		}
	}
	p.reduce(taps, acc, t0, t1, poolK(i), masked)
	p.store(acc, mem(plD, d), masked)
}

// poolK is the mask register of the i-th vector's unordered compare.
func poolK(i int) reg.Register { return []reg.Register{reg.K2, reg.K3, reg.K4, reg.K5}[i] }

// hbody emits the i-th output vector of the horizontal pass for kernel
// width kw from the scratch row at plS into plD (times the scale at plLd
// for an average). The scratch loads are never masked: the rows are long
// enough.
func (p *poolGen) hbody(kw, i int, masked bool) {
	c, s := p.c, p.s
	vb := s.vbytes()
	acc, acc2, t0, t1 := p.regs(i)
	taps := func(base int) []operand.Mem {
		t := make([]operand.Mem, kw)
		for u := range t {
			t[u] = mem(plS, base+4*u)
		}
		return t
	}
	if p.sw == 1 {
		p.reduce(taps(i*vb), acc, t0, t1, poolK(i), false)
	} else {
		p.reduce(taps(2*i*vb), acc, t0, t1, poolK(i), false)
		p.reduce(taps(2*i*vb+vb), acc2, t0, t1, poolK(i), false)
		if p.avx512 {
			c.VPERMT2PS(acc2, p.idx, acc) // the even lanes of (acc, acc2)
		} else {
			c.VSHUFPS(operand.U8(0x88), acc2, acc, acc) // per 128 bits: a0 a2 b0 b2 | a4 a6 b4 b6
			c.VPERMPD(operand.U8(0xd8), acc, acc)       // 64-bit pairs 0 2 1 3: a0 a2 a4 a6 b0 b2 b4 b6
		}
	}
	if !p.isMax {
		sc := mem(plLd, i*vb)
		switch {
		case !masked:
			c.VMULPS(sc, acc, acc)
		case p.avx512:
			c.VMULPS(sc, acc, reg.K1, acc)
		default:
			p.load(sc, t0, true)
			c.VMULPS(t0, acc, acc)
		}
	}
	p.store(acc, mem(plD, i*vb), masked)
}

// pools emits every pooling kernel of tier s: max and average for strides
// 1 and 2.
func pools(c *build.Context, s isa) {
	for _, isMax := range []bool{true, false} {
		for sw := 1; sw <= 2; sw++ {
			pool(c, s, isMax, sw)
		}
	}
}
