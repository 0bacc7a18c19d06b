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
	// unroll is the number of vectors per main-loop iteration (0: epUnroll).
	unroll int
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
	unroll := e.unroll
	if unroll == 0 {
		unroll = epUnroll
	}
	if e.first+unroll*per > s.nregs {
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

	c.Commentf("%d vectors per iteration.", unroll)
	c.SUBQ(imm(unroll*s.lanes), n)
	c.JL(operand.LabelRef("one"))
	c.Label("loop")
	vectors(unroll)
	advance(unroll * vb)
	c.SUBQ(imm(unroll*s.lanes), n)
	c.JGE(operand.LabelRef("loop"))

	c.Label("one")
	c.Comment("Single vectors.")
	c.ADDQ(imm((unroll-1)*s.lanes), n)
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
	// setup broadcasts parameters into fixed registers 1..3 (0 holds bias)
	// and, when consts says so, constants into registers 4..3+consts.
	setup func(c *build.Context, s isa)
	// scratch registers op needs (AVX2; AVX-512 uses K2 instead of mask registers).
	scratch func(s isa) int
	op      func(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int)
	// consts is the number of constant registers after the fixed ones
	// (nil: none); unroll the vectors per main-loop iteration (nil: epUnroll).
	consts, unroll func(s isa) int
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
	actConsts(c, s)
	for _, a := range append(acts, expActs...) {
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
		first, unroll := 4, 0
		if a.consts != nil {
			first += a.consts(s)
		}
		if a.unroll != nil {
			unroll = a.unroll(s)
		}
		e := epilogue{
			first:   first,
			unroll:  unroll,
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

// Constants of the exponential-based and hard activations, in a read-only
// table of 32-byte entries (each value 8 times), so AVX2 can use an entry
// as a ymm memory operand and AVX-512 broadcasts its first 4 bytes.
const (
	kSign    = iota // sign bit: v | kSign = -|v|
	kClamp          // -104: e^-104 rounds to 0 in float32, and n >= -150
	kLog2e          // 1/ln 2
	kShifter        // 1.5·2^23: adding it rounds to an integer (its low bits hold n)
	kLn2Hi          // ln 2 to 9 significant bits, so n·kLn2Hi is exact
	kLn2Lo          // ln 2 - kLn2Hi
	kC6             // e^r ≈ 1 + r + c2 r² + … + c6 r⁶ on |r| <= ln2/2
	kC5
	kC4
	kC3
	kC2
	kOne
	kI127  // int32 127, the float32 exponent bias
	kSixth // float32(1.0/6), HardSwish's slope
	kHalf  // 0.5
	nActConsts
)

// actConstBits are the table's values. c2..c6 minimize the relative error
// of 1 + r + c2 r² + … + c6 r⁶ against e^r on |r| <= ln2/2 (a Lawson-
// weighted least-squares fit in float64, c0 = 1 fixed; c1 rounds to 1 in
// float32): 2.0e-9, far below a float32 ulp; Horner in float32 with FMA
// stays within 0.9 ulp of e^r.
var actConstBits = [nActConsts]uint32{
	kSign:    0x80000000,
	kClamp:   0xc2d00000, // -104
	kLog2e:   0x3fb8aa3b, // 1.44269502
	kShifter: 0x4b400000, // 12582912
	kLn2Hi:   0x3f318000, // 0.693359375
	kLn2Lo:   0xb95e8083, // -2.12194442e-4
	kC6:      0x3ab5736e, // 0.00138436048
	kC5:      0x3c0933ec, // 0.00837419555
	kC4:      0x3d2aac12, // 0.0416680053
	kC3:      0x3e2aaa0c, // 0.166664302
	kC2:      0x3efffffe, // 0.49999994
	kOne:     0x3f800000,
	kI127:    127,
	kSixth:   0x3e2aaaab, // float32(1.0/6)
	kHalf:    0x3f000000,
}

// actTab is the table's symbol for tier s.
func actTab(s isa) string { return "f32ActConsts" + s.ident }

// actConsts emits the table (once per generated file).
func actConsts(c *build.Context, s isa) {
	c.StaticGlobal(actTab(s))
	c.DataAttributes(attr.RODATA | attr.NOPTR)
	for k, bits := range actConstBits {
		for j := 0; j < 8; j++ {
			c.AddDatum(32*k+4*j, operand.U32(bits))
		}
	}
}

// cmem is table entry k as a memory operand.
func cmem(s isa, k int) operand.Mem {
	return operand.Mem{Symbol: operand.Symbol{Name: actTab(s), Static: true}, Base: reg.StaticBase, Disp: 32 * k}
}

// Registers of the exponential kernels. AVX-512 keeps kSign..kOne in
// registers 4..15 (expConstReg). AVX2 has 16 registers in all: it keeps
// only kClamp and kOne in registers (2 and 3; they are register operands
// of VMAXPS and VBLENDVPS) and reads the others from the table.
const (
	expConstReg  = 4
	avx2ClampReg = rAlpha
	avx2OneReg   = rBeta
)

// cop is constant k as an operand of the step's width: a register when the
// tier holds it in one, else the table entry.
func cop(s isa, w func(int) reg.Register, k int) operand.Op {
	if s.lanes == 16 && k <= kOne {
		return w(expConstReg + k)
	}
	switch k {
	case kClamp:
		return w(avx2ClampReg)
	case kOne:
		return w(avx2OneReg)
	}
	return cmem(s, k)
}

// expSetup loads the constants the exponential kernels keep in registers.
func expSetup(c *build.Context, s isa) {
	zero(c, s, s.v(rZero))
	if s.lanes == 16 {
		for k := kSign; k <= kOne; k++ {
			c.VBROADCASTSS(cmem(s, k), s.v(expConstReg+k))
		}
		return
	}
	c.VBROADCASTSS(cmem(s, kClamp), s.v(avx2ClampReg))
	c.VBROADCASTSS(cmem(s, kOne), s.v(avx2OneReg))
}

func expConsts(s isa) int {
	if s.lanes == 16 {
		return kOne + 1
	}
	return 0
}

// expUnroll: AVX2's 12 free registers hold 3 vectors with their 3 scratch
// registers each.
func expUnroll(s isa) int {
	if s.lanes == 16 {
		return 4
	}
	return 3
}

// expNeg leaves e = e^-|v| in sc[2] and 1 + e in sc[0] (sc[1] is free
// afterwards), v unchanged:
//
//	t := max(-|v|, -104)                // NaN stays NaN
//	n := round(t·log2e)                 // shifter trick, in [-150, 0]
//	r := t - n·ln2hi - n·ln2lo          // |r| <= ln2/2 (the first step exact)
//	p := 1 + r(1 + r(c2 + r(c3 + r(c4 + r(c5 + r c6)))))
//	e := p · 2^n                        // exact scaling, one rounding when subnormal
//
// AVX-512 scales with VSCALEFPS; AVX2 multiplies by 2^n1 and 2^n2 built
// from exponent bits, n1 = n>>1 and n2 = n - n1 (each >= -75, so both are
// normal and the first product is exact).
func expNeg(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int) {
	a, b, p := w(sc[0]), w(sc[1]), w(sc[2])
	k := func(i int) operand.Op { return cop(s, w, i) }
	if s.lanes == 16 {
		c.VPORD(k(kSign), v, a) // a = -|v|
	} else {
		c.VORPS(k(kSign), v, a)
	}
	c.VMAXPS(a, k(kClamp), a)       // a = clamp > a ? clamp : a (NaN stays)
	c.VMOVUPS(k(kShifter), b)       // b = shifter
	c.VFMADD231PS(k(kLog2e), a, b)  // b += a·log2e: low bits hold n
	c.VSUBPS(k(kShifter), b, p)     // p = n (float)
	c.VFNMADD231PS(k(kLn2Hi), p, a) // a -= n·ln2hi (exact)
	c.VFNMADD231PS(k(kLn2Lo), p, a) // a = r
	if s.lanes == 16 {
		c.VMOVAPS(p, b) // b = n (float), for VSCALEFPS
	}
	c.VMOVUPS(k(kC6), p)
	for _, ck := range []int{kC5, kC4, kC3, kC2, kOne, kOne} {
		c.VFMADD213PS(k(ck), a, p) // p = p·r + ck
	}
	if s.lanes == 16 {
		c.VSCALEFPS(b, p, p) // p = p·2^n
	} else {
		c.VPSUBD(k(kShifter), b, b) // b = n (int32)
		c.VPSRAD(operand.U8(1), b, a)
		c.VPSUBD(a, b, b) // a = n1, b = n2
		c.VPADDD(k(kI127), a, a)
		c.VPSLLD(operand.U8(23), a, a)
		c.VMULPS(a, p, p) // p·2^n1, exact
		c.VPADDD(k(kI127), b, b)
		c.VPSLLD(operand.U8(23), b, b)
		c.VMULPS(b, p, p) // ·2^n2
	}
	c.VADDPS(k(kOne), p, a) // a = 1 + e
}

// expActs are the activations built on e^-|v| and the hard (piecewise
// linear) sigmoids. Sigmoid and SiLU divide exactly (VDIVPS): the
// elementwise kernels run at memory speed on large rows, and a reciprocal
// with a Newton step would add an ulp.
var expActs = []act{
	{
		name:  "Sigmoid",
		doc:   "v := x[i] + bias; x[i] = Act{Kind: ActSigmoid}.Apply(v) // to a few ulps (biasact_exp_test.go); NaN passes through",
		setup: expSetup, consts: expConsts, unroll: expUnroll,
		scratch: func(isa) int { return 3 },
		op: func(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int) {
			// v >= 0: 1/(1+e); v < 0: e/(1+e), e = e^-|v|.
			expNeg(c, s, v, w, sc)
			den, num, e := w(sc[0]), w(sc[1]), w(sc[2])
			if s.lanes == 16 {
				c.VCMPPS(operand.U8(cmpLT), w(rZero), v, reg.K2) // K2 = v < 0
				c.VMOVAPS(cop(s, w, kOne), num)
				c.VMOVAPS(e, reg.K2, num) // num = K2 ? e : 1
			} else {
				c.VBLENDVPS(v, e, cop(s, w, kOne), num) // num = sign(v) ? e : 1
			}
			expDiv(c, v, num, den)
		},
	},
	{
		name:  "SiLU",
		doc:   "v := x[i] + bias; x[i] = Act{Kind: ActSiLU}.Apply(v) // v·sigmoid(v), to a few ulps (biasact_exp_test.go); NaN passes through",
		setup: expSetup, consts: expConsts, unroll: expUnroll,
		scratch: func(isa) int { return 3 },
		op: func(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int) {
			// v >= 0: v/(1+e); v < 0: v·e/(1+e).
			expNeg(c, s, v, w, sc)
			den, num, e := w(sc[0]), w(sc[1]), w(sc[2])
			if s.lanes == 16 {
				c.VCMPPS(operand.U8(cmpLT), w(rZero), v, reg.K2) // K2 = v < 0
				c.VMOVAPS(v, num)
				c.VMULPS(e, v, reg.K2, num) // num = K2 ? v·e : v
			} else {
				c.VMULPS(e, v, num)
				c.VBLENDVPS(v, num, v, num) // num = sign(v) ? v·e : v
			}
			expDiv(c, v, num, den)
		},
	},
	{
		name:   "HardSigmoid",
		params: ", alpha, beta float32",
		doc:    "v := x[i] + bias; v = alpha*v + beta; if v < 0 { v = 0 }; if v > 1 { v = 1 }; x[i] = v // unfused, NaN passes through",
		setup: func(c *build.Context, s isa) {
			zero(c, s, s.v(rZero))
			c.VBROADCASTSS(paramAddr(c, "alpha"), s.v(rAlpha))
			c.VBROADCASTSS(paramAddr(c, "beta"), s.v(rBeta))
			c.VBROADCASTSS(cmem(s, kOne), s.v(4))
		},
		consts:  func(isa) int { return 1 },
		scratch: none,
		op: func(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int) {
			c.VMULPS(w(rAlpha), v, v) // as Act.Apply: a product, then a sum
			c.VADDPS(w(rBeta), v, v)
			c.VMAXPS(v, w(rZero), v) // 0 > v ? 0 : v (NaN stays)
			c.VMINPS(v, w(4), v)     // 1 < v ? 1 : v
		},
	},
	{
		name: "HardSwish",
		doc:  "v := x[i] + bias; h := float32(1.0/6)*v + 0.5; if h < 0 { h = 0 }; if h > 1 { h = 1 }; x[i] = v * h // unfused, NaN passes through",
		setup: func(c *build.Context, s isa) {
			zero(c, s, s.v(rZero))
			c.VBROADCASTSS(cmem(s, kSixth), s.v(rAlpha))
			c.VBROADCASTSS(cmem(s, kHalf), s.v(rBeta))
			c.VBROADCASTSS(cmem(s, kOne), s.v(4))
		},
		consts:  func(isa) int { return 1 },
		scratch: func(isa) int { return 1 },
		op: func(c *build.Context, s isa, v reg.Register, w func(int) reg.Register, sc []int) {
			h := w(sc[0])
			c.VMULPS(w(rAlpha), v, h)
			c.VADDPS(w(rBeta), h, h)
			c.VMAXPS(h, w(rZero), h)
			c.VMINPS(h, w(4), h)
			c.VMULPS(h, v, v)
		},
	},
}

// expDiv sets v = num/den (VDIVPS). A reciprocal estimate with a Newton
// step on the quotient (VRCP14PS, a product and two FMAs) measured slower
// on AVX-512 (0.42 against 0.39 ns per element in L1, best of 400 runs on
// the 2-core Xeon: the other 25 instructions, not the division, bound the
// loop), changed 13 of 3136 SiLU results by an ulp, and turned SiLU(-0)
// into +0.
func expDiv(c *build.Context, v, num, den reg.Register) {
	c.VDIVPS(den, num, v)
}

// scaleBias emits f32ScaleBias<TIER>Asm and f32ScaleBiasRelu<TIER>Asm:
// dst[i] = src[i]·scale + bias (one FMA), then Relu for the second.
func scaleBias(c *build.Context, s isa) {
	for _, relu := range []bool{false, true} {
		name, doc := "f32ScaleBias"+s.ident+"Asm", "dst[i] = src[i]*scale + bias // one fused multiply-add"
		if relu {
			name = "f32ScaleBiasRelu" + s.ident + "Asm"
			doc = "v := src[i]*scale + bias; if v < 0 { v = 0 }; dst[i] = v // one fused multiply-add; NaN and -0 pass through"
		}
		c.Function(name)
		c.Attributes(attr.NOSPLIT)
		c.SignatureExpr("func(dst, src []float32, scale, bias float32)")
		c.Pragma("noescape")
		c.Doc(
			name+" applies a scale and a bias, unchecked: the caller guarantees",
			"len(src) >= len(dst), and that dst is src or does not overlap it.",
			"",
			"\tfor i := range dst {",
			"\t\t"+doc,
			"\t}",
		)
		const rScale = 2
		c.VBROADCASTSS(paramAddr(c, "bias"), s.v(rBias))
		c.VBROADCASTSS(paramAddr(c, "scale"), s.v(rScale))
		zero(c, s, s.v(rZero))
		n, pd, ps := reg.RCX, reg.RSI, reg.RDX
		c.Load(c.Param("dst").Len(), n)
		loadBase(c, "dst", pd)
		loadBase(c, "src", ps)
		e := epilogue{
			first: 3,
			step: func(c *build.Context, mode lmode, off int, v reg.Register, w func(int) reg.Register, sc []int) {
				ld(c, mode, mem(ps, off), v)
				c.VFMADD213PS(w(rBias), w(rScale), v) // v = scale·v + bias
				if relu {
					c.VMAXPS(v, w(rZero), v) // 0 > v ? 0 : v (NaN and -0 stay)
				}
			},
		}
		elementwise(c, s, n, []reg.Register{pd, ps}, e)
	}
}
