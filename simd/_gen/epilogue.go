package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// cmpLT is VCMPPS's less-than predicate (LT_OS): false when either operand
// is NaN, as Go's < is.
const cmpLT = 1

// lmode says how much an elementwise step loads and stores.
type lmode int

const (
	full   lmode = iota // one whole vector
	masked              // AVX-512 remainder: the lanes set in K1 (faults suppressed on the others)
	scalar              // AVX2 remainder: one float32 in the low lane of an xmm register
)

// ld loads from m into v as mode says; masked loads zero the other lanes.
func ld(c *build.Context, mode lmode, m operand.Mem, v reg.Register) {
	switch mode {
	case full:
		c.VMOVUPS(m, v)
	case masked:
		c.VMOVUPS_Z(m, reg.K1, v)
	case scalar:
		c.VMOVSS(m, v)
	}
}

// st stores v to m as mode says.
func st(c *build.Context, mode lmode, v reg.Register, m operand.Mem) {
	switch mode {
	case full:
		c.VMOVUPS(v, m)
	case masked:
		c.VMOVUPS(v, reg.K1, m)
	case scalar:
		c.VMOVSS(v, m)
	}
}

// epilogue describes an in-place elementwise kernel: x[i] = f(x[i], ...).
type epilogue struct {
	// first is the first vector register the loop may use; those below
	// hold broadcast parameters.
	first int
	// scratch registers each element step needs.
	scratch int
	// step emits: load the element(s) at byte offset off of every pointer
	// into v, compute, leaving the result in v. w maps a register index to
	// the register of the step's width; sc are the scratch indices.
	step func(c *build.Context, mode lmode, off int, v reg.Register, w func(int) reg.Register, sc []int)
}

const epUnroll = 4

// elementwise emits the loop every epilogue shares over n elements at the
// pointers ptrs (ptrs[0] is the in-place output): epUnroll vectors per
// iteration, then single vectors, then the remainder (a K1-masked vector
// for AVX-512, a scalar loop for AVX2).
func elementwise(c *build.Context, s isa, n reg.Register, ptrs []reg.Register, e epilogue) {
	if n != reg.RCX {
		panic("elementwise: n must be CX (the masked remainder shifts by CL)")
	}
	per := 1 + e.scratch
	if e.first+epUnroll*per > s.nregs {
		panic("epilogue needs too many registers")
	}
	slot := func(u int) (int, []int) {
		base := e.first + u*per
		sc := make([]int, e.scratch)
		for i := range sc {
			sc[i] = base + 1 + i
		}
		return base, sc
	}
	vb := s.vbytes()
	advance := func(bytes int) {
		for _, p := range ptrs {
			c.ADDQ(imm(bytes), p)
		}
	}
	vectors := func(count int) {
		for u := 0; u < count; u++ {
			v, sc := slot(u)
			e.step(c, full, u*vb, s.v(v), s.v, sc)
		}
		for u := 0; u < count; u++ {
			v, _ := slot(u)
			st(c, full, s.v(v), mem(ptrs[0], u*vb))
		}
	}

	c.Commentf("%d vectors per iteration.", epUnroll)
	c.SUBQ(imm(epUnroll*s.lanes), n)
	c.JL(operand.LabelRef("one"))
	c.Label("loop")
	vectors(epUnroll)
	advance(epUnroll * vb)
	c.SUBQ(imm(epUnroll*s.lanes), n)
	c.JGE(operand.LabelRef("loop"))

	c.Label("one")
	c.Comment("Single vectors.")
	c.ADDQ(imm((epUnroll-1)*s.lanes), n)
	c.JL(operand.LabelRef("tail"))
	c.Label("oneloop")
	vectors(1)
	advance(vb)
	c.SUBQ(imm(s.lanes), n)
	c.JGE(operand.LabelRef("oneloop"))

	c.Label("tail")
	c.ADDQ(imm(s.lanes), n)
	c.JE(operand.LabelRef("done"))
	v, sc := slot(0)
	if s.lanes == 16 {
		c.Commentf("Remainder: one vector masked to its n < %d lanes.", s.lanes)
		c.MOVL(operand.U32(1), reg.EAX)
		c.SHLL(reg.CL, reg.EAX)
		c.DECL(reg.EAX)
		c.KMOVW(reg.EAX, reg.K1) // K1 = 1<<n - 1
		e.step(c, masked, 0, s.v(v), s.v, sc)
		st(c, masked, s.v(v), mem(ptrs[0], 0))
	} else {
		c.Commentf("Remainder: n < %d scalars.", s.lanes)
		c.Label("scalar")
		e.step(c, scalar, 0, s.x(v), s.x, sc)
		st(c, scalar, s.x(v), mem(ptrs[0], 0))
		advance(4)
		c.DECQ(n)
		c.JNE(operand.LabelRef("scalar"))
	}
	c.Label("done")
	c.VZEROUPPER()
	c.RET()
}

// act is one fused activation's kernel.
type act struct {
	name   string // Go identifier part: "Relu"
	params string // extra float32 parameters after bias
	doc    string // the pure-Go loop body applied to v = x[i] + bias
	// setup broadcasts parameters into fixed registers 1..3 (0 holds bias).
	setup func(c *build.Context, s isa)
	// scratch registers op needs (AVX2; AVX-512 uses K2 instead of mask registers).
	scratch func(s isa) int
	op      func(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int)
}

// Fixed registers of the biasAct kernels.
const (
	rBias  = 0
	rZero  = 1
	rAlpha = 2 // LeakyRelu's alpha, Clip's lower bound
	rBeta  = 3 // Clip's upper bound
)

func none(isa) int { return 0 }

var acts = []act{
	{
		name:    "Add",
		doc:     "x[i] += bias",
		setup:   func(*build.Context, isa) {},
		scratch: none,
		op:      func(*build.Context, isa, reg.Register, func(int) reg.Register, []int) {},
	},
	{
		name: "Relu",
		doc:  "v := x[i] + bias; if v < 0 { v = 0 }; x[i] = v // NaN and -0 pass through",
		setup: func(c *build.Context, s isa) {
			zero(c, s, s.v(rZero))
		},
		scratch: none,
		op: func(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int) {
			// MAXPS returns its second (Go: first) operand unless the
			// first is greater: 0 > v ? 0 : v.
			c.VMAXPS(v, w(rZero), v)
		},
	},
	{
		name:   "Clip",
		params: ", lo, hi float32",
		doc:    "v := x[i] + bias; if v < lo { v = lo } else if v > hi { v = hi }; x[i] = v // NaN passes through",
		setup: func(c *build.Context, s isa) {
			c.VBROADCASTSS(paramAddr(c, "lo"), s.v(rAlpha))
			c.VBROADCASTSS(paramAddr(c, "hi"), s.v(rBeta))
		},
		scratch: func(s isa) int {
			if s.lanes == 16 {
				return 0
			}
			return 1
		},
		op: func(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int) {
			if s.lanes == 16 {
				c.VCMPPS(operand.U8(cmpLT), w(rAlpha), v, reg.K2) // K2 = v < lo
				c.VMINPS(v, w(rBeta), v)                          // v = hi < v ? hi : v
				c.VMOVAPS(w(rAlpha), reg.K2, v)                   // v = lo where K2
				return
			}
			m := w(sc[0])
			c.VCMPPS(operand.U8(cmpLT), w(rAlpha), v, m) // m = v < lo
			c.VMINPS(v, w(rBeta), v)                     // v = hi < v ? hi : v
			c.VBLENDVPS(m, w(rAlpha), v, v)              // v = m ? lo : v
		},
	},
	{
		name:   "LeakyRelu",
		params: ", alpha float32",
		doc:    "v := x[i] + bias; if v < 0 { v = alpha * v }; x[i] = v // NaN and -0 pass through",
		setup: func(c *build.Context, s isa) {
			zero(c, s, s.v(rZero))
			c.VBROADCASTSS(paramAddr(c, "alpha"), s.v(rAlpha))
		},
		scratch: func(s isa) int {
			if s.lanes == 16 {
				return 0
			}
			return 2
		},
		op: func(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int) {
			if s.lanes == 16 {
				c.VCMPPS(operand.U8(cmpLT), w(rZero), v, reg.K2) // K2 = v < 0
				c.VMULPS(w(rAlpha), v, reg.K2, v)                // v = v*alpha where K2
				return
			}
			m, t := w(sc[0]), w(sc[1])
			c.VCMPPS(operand.U8(cmpLT), w(rZero), v, m) // m = v < 0
			c.VMULPS(w(rAlpha), v, t)                   // t = v*alpha
			c.VBLENDVPS(m, t, v, v)                     // v = m ? t : v
		},
	},
}

// biasAct emits one kernel per fused activation: f32Bias<Act><TIER>Asm.
func biasAct(c *build.Context, s isa) {
	for _, a := range acts {
		name := fmt.Sprintf("f32Bias%s%sAsm", a.name, s.ident)
		c.Function(name)
		c.Attributes(attr.NOSPLIT)
		c.SignatureExpr("func(x []float32, bias float32" + a.params + ")")
		c.Pragma("noescape")
		c.Doc(
			name+" applies the bias and the activation in place:",
			"",
			"\tfor i := range x {",
			"\t\t"+a.doc,
			"\t}",
		)
		c.VBROADCASTSS(paramAddr(c, "bias"), s.v(rBias))
		a.setup(c, s)
		n, px := reg.RCX, reg.RSI
		c.Load(c.Param("x").Len(), n)
		loadBase(c, "x", px)
		e := epilogue{
			first:   4,
			scratch: a.scratch(s),
			step: func(c *build.Context, mode lmode, off int, v reg.Register, w func(int) reg.Register, sc []int) {
				ld(c, mode, mem(px, off), v)
				c.VADDPS(w(rBias), v, v) // v = v + bias
				a.op(c, s, v, w, sc)
			},
		}
		elementwise(c, s, n, []reg.Register{px}, e)
	}
}

// addTo emits f32AddTo<TIER>Asm.
func addTo(c *build.Context, s isa) {
	name := "f32AddTo" + s.ident + "Asm"
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(dst, src []float32)")
	c.Pragma("noescape")
	c.Doc(
		name+" adds src to dst, unchecked: the caller guarantees len(src) >= len(dst).",
		"",
		"\tfor i := range dst {",
		"\t\tdst[i] += src[i]",
		"\t}",
	)
	n, pd, ps := reg.RCX, reg.RSI, reg.RDX
	c.Load(c.Param("dst").Len(), n)
	loadBase(c, "dst", pd)
	loadBase(c, "src", ps)
	e := epilogue{
		first:   0,
		scratch: 1,
		step: func(c *build.Context, mode lmode, off int, v reg.Register, w func(int) reg.Register, sc []int) {
			ld(c, mode, mem(pd, off), v)
			if mode == full {
				c.VADDPS(mem(ps, off), v, v)
				return
			}
			t := w(sc[0])
			ld(c, mode, mem(ps, off), t)
			c.VADDPS(t, v, v) // v = v + t
		},
	}
	elementwise(c, s, n, []reg.Register{pd, ps}, e)
}

// fmaPeak emits f32FMAPeak<TIER>Asm: n iterations of independent
// register-only FMAs (enough chains to cover two FMA ports of 4-cycle
// latency), returning the FLOPs done.
func fmaPeak(c *build.Context, s isa) {
	chains := s.nregs - 4 // 12 for AVX2, 28 for AVX-512
	flopsPerIter := chains * s.lanes * 2
	name := "f32FMAPeak" + s.ident + "Asm"
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(n int) (flops int)")
	c.Doc(
		fmt.Sprintf("%s runs n iterations of %d independent %d-lane FMAs on registers", name, chains, s.lanes),
		fmt.Sprintf("only (no loads) and returns the FLOPs done, n*%d: the tier's peak.", flopsPerIter),
	)
	n := reg.RCX
	c.Load(c.Param("n"), n)
	for i := 0; i < chains+2; i++ {
		zero(c, s, s.v(i))
	}
	c.TESTQ(n, n)
	c.JLE(operand.LabelRef("done"))
	c.Label("loop")
	for i := 0; i < chains; i++ {
		c.VFMADD231PS(s.v(chains), s.v(chains+1), s.v(i))
	}
	c.DECQ(n)
	c.JNE(operand.LabelRef("loop"))
	c.Label("done")
	c.Load(c.Param("n"), reg.RAX)
	c.IMUL3Q(imm(flopsPerIter), reg.RAX, reg.RAX)
	c.Store(reg.RAX, c.Return("flops"))
	c.VZEROUPPER()
	c.RET()
}
