package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// gemmSpec is one register-tiled GEMM micro-kernel: an mr×(nv·lanes) tile
// of C kept in mr·nv vector accumulators, with nv vector loads of the B
// panel and mr broadcasts of the A panel per k step.
type gemmSpec struct {
	s      isa
	mr     int  // rows of the tile (A values broadcast per k step)
	nv     int  // vector registers per row: NR = nv·lanes
	embed  bool // A via embedded-broadcast memory operands (EVEX {1to16}) instead of VBROADCASTSS into a register
	unroll int  // k steps per loop iteration
}

// The shipped kernels. The AVX-512 tile was chosen by benchmarking the
// variants in exploreSpecs (see README.md).
var (
	avx2Gemm   = gemmSpec{s: avx2, mr: 6, nv: 2, unroll: 4}
	avx512Gemm = gemmSpec{s: avx512, mr: 16, nv: 1, embed: true, unroll: 4}
)

func (g gemmSpec) nr() int { return g.nv * g.s.lanes }

func (g gemmSpec) shape() string { return fmt.Sprintf("%dx%d", g.mr, g.nr()) }

// ID is the kernel ID (simd.GemmKernel.ID).
func (g gemmSpec) ID() string { return "f32-gemm-" + g.shape() + "-" + g.s.name }

// asmName is the assembly function's name.
func (g gemmSpec) asmName() string {
	return fmt.Sprintf("f32Gemm%dx%d%sAsm", g.mr, g.nr(), g.s.ident)
}

// variantName names an exploration variant, which may share its shape with others.
func (g gemmSpec) variantName() string {
	a := "Reg"
	if g.embed {
		a = "Bcst"
	}
	return fmt.Sprintf("f32Gemm%dx%d%s%sU%d", g.mr, g.nr(), g.s.ident, a, g.unroll)
}

// regs returns the accumulator, B and A registers, panicking if the tile
// does not fit the register file.
func (g gemmSpec) regs() (acc [][]reg.Register, b, a []reg.Register) {
	n := 0
	next := func() reg.Register { r := g.s.v(n); n++; return r }
	acc = make([][]reg.Register, g.mr)
	for i := range acc {
		acc[i] = make([]reg.Register, g.nv)
		for j := range acc[i] {
			acc[i][j] = next()
		}
	}
	for j := 0; j < g.nv; j++ {
		b = append(b, next())
	}
	if !g.embed {
		a = append(a, next()) // two if there is room, for overlap
		if n < g.s.nregs {
			a = append(a, next())
		}
	}
	return acc, b, a
}

func gemm(c *build.Context, g gemmSpec) {
	gemmFunc(c, g, g.asmName())
	c.Doc(
		g.asmName()+" is the "+g.ID()+" micro-kernel, unchecked: the caller",
		"guarantees k >= 0, len(a) >= k*MR, len(b) >= k*NR, ldc >= NR and",
		"len(c) >= (MR-1)*ldc+NR. It computes, with MR = "+fmt.Sprint(g.mr)+" and NR = "+fmt.Sprint(g.nr())+",",
		"",
		"\tfor i := 0; i < MR; i++ {",
		"\t\tfor j := 0; j < NR; j++ {",
		"\t\t\tvar s float32",
		"\t\t\tfor p := 0; p < k; p++ {",
		"\t\t\t\ts += a[p*MR+i] * b[p*NR+j] // fused multiply-add: one rounding",
		"\t\t\t}",
		"\t\t\tif acc {",
		"\t\t\t\tc[i*ldc+j] += s",
		"\t\t\t} else {",
		"\t\t\t\tc[i*ldc+j] = s",
		"\t\t\t}",
		"\t\t}",
		"\t}",
	)
}

// gemmFunc emits the kernel as function name.
func gemmFunc(c *build.Context, g gemmSpec, name string) {
	if g.embed && g.s.lanes != 16 {
		panic("embedded broadcast needs AVX-512")
	}
	acc, bregs, aregs := g.regs()
	s := g.s
	vb := s.vbytes()

	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(k int, a, b, c []float32, ldc int, acc bool)")
	c.Pragma("noescape")

	var (
		pa, pb, k, pc, ldc = reg.RAX, reg.RBX, reg.RCX, reg.RDI, reg.RDX
	)
	c.Load(c.Param("k"), k)
	loadBase(c, "a", pa)
	loadBase(c, "b", pb)
	loadBase(c, "c", pc)
	c.Load(c.Param("ldc"), ldc)
	c.SHLQ(operand.U8(2), ldc) // row stride in bytes

	c.Comment("Zero the accumulators.")
	for _, row := range acc {
		for _, r := range row {
			zero(c, s, r)
		}
	}

	// step emits one k step whose A and B values sit u steps past pa, pb.
	step := func(u int) {
		for j, r := range bregs {
			c.VMOVUPS(mem(pb, 4*(u*g.nr()+j*s.lanes)), r)
		}
		for i, row := range acc {
			am := mem(pa, 4*(u*g.mr+i))
			if g.embed {
				for j, r := range row {
					c.VFMADD231PS_BCST(am, bregs[j], r)
				}
				continue
			}
			ar := aregs[i%len(aregs)]
			c.VBROADCASTSS(am, ar)
			for j, r := range row {
				c.VFMADD231PS(bregs[j], ar, r)
			}
		}
	}

	c.Commentf("Main loop: %d k steps per iteration.", g.unroll)
	c.SUBQ(imm(g.unroll), k)
	c.JL(operand.LabelRef("tail"))
	c.Label("loop")
	for u := 0; u < g.unroll; u++ {
		step(u)
	}
	c.ADDQ(imm(4*g.unroll*g.mr), pa)
	c.ADDQ(imm(4*g.unroll*g.nr()), pb)
	c.SUBQ(imm(g.unroll), k)
	c.JGE(operand.LabelRef("loop"))

	c.Label("tail")
	c.ADDQ(imm(g.unroll), k)
	c.JE(operand.LabelRef("done"))
	c.Label("tailloop")
	step(0)
	c.ADDQ(imm(4*g.mr), pa)
	c.ADDQ(imm(4*g.nr()), pb)
	c.DECQ(k)
	c.JNE(operand.LabelRef("tailloop"))

	c.Label("done")
	c.CMPB(paramAddr(c, "acc"), operand.U8(0))
	c.JE(operand.LabelRef("store"))

	c.Comment("acc: c += tile.")
	for i, row := range acc {
		for j, r := range row {
			c.VADDPS(mem(pc, j*vb), r, r)
			c.VMOVUPS(r, mem(pc, j*vb))
		}
		if i < len(acc)-1 {
			c.ADDQ(ldc, pc)
		}
	}
	c.VZEROUPPER()
	c.RET()

	c.Label("store")
	c.Comment("!acc: c = tile.")
	for i, row := range acc {
		for j, r := range row {
			c.VMOVUPS(r, mem(pc, j*vb))
		}
		if i < len(acc)-1 {
			c.ADDQ(ldc, pc)
		}
	}
	c.VZEROUPPER()
	c.RET()
}

// zero clears vector register r with an instruction the tier has (VXORPS
// on zmm needs AVX512DQ; VPXORD is AVX512F).
func zero(c *build.Context, s isa, r reg.Register) {
	if s.lanes == 16 {
		c.VPXORD(r, r, r)
	} else {
		c.VXORPS(r, r, r)
	}
}

// exploreSpecs are the AVX-512 tiles compared before choosing avx512Gemm,
// plus the AVX2 kernel's unroll alternatives.
var exploreSpecs = []gemmSpec{
	{s: avx512, mr: 14, nv: 2, embed: true, unroll: 4},
	{s: avx512, mr: 14, nv: 2, embed: false, unroll: 4},
	{s: avx512, mr: 14, nv: 2, embed: true, unroll: 1},
	{s: avx512, mr: 14, nv: 2, embed: true, unroll: 8},
	{s: avx512, mr: 12, nv: 2, embed: true, unroll: 4},
	{s: avx512, mr: 12, nv: 2, embed: false, unroll: 4},
	{s: avx512, mr: 6, nv: 4, embed: true, unroll: 4},
	{s: avx512, mr: 6, nv: 4, embed: false, unroll: 4},
	{s: avx512, mr: 8, nv: 3, embed: true, unroll: 4},
	{s: avx512, mr: 8, nv: 3, embed: false, unroll: 4},
	{s: avx512, mr: 9, nv: 3, embed: false, unroll: 4},
	{s: avx512, mr: 4, nv: 6, embed: false, unroll: 4},
	{s: avx512, mr: 7, nv: 4, embed: true, unroll: 4},
	{s: avx512, mr: 28, nv: 1, embed: true, unroll: 4},
	{s: avx512, mr: 24, nv: 1, embed: true, unroll: 4},
	{s: avx512, mr: 16, nv: 1, embed: true, unroll: 4},
	{s: avx512, mr: 16, nv: 1, embed: false, unroll: 4},
	{s: avx512, mr: 8, nv: 2, embed: true, unroll: 4},
	{s: avx512, mr: 8, nv: 2, embed: false, unroll: 4},
	{s: avx2, mr: 6, nv: 2, unroll: 1},
	{s: avx2, mr: 6, nv: 2, unroll: 4},
	{s: avx2, mr: 6, nv: 2, unroll: 8},
	{s: avx2, mr: 4, nv: 3, unroll: 4},
}

// exploreGemms emits every exploration variant plus a table of them.
func exploreGemms(c *build.Context) {
	for _, g := range exploreSpecs {
		gemmFunc(c, g, g.variantName())
		c.Doc(g.variantName() + " is exploration variant " + g.ID() + " (see simd/_gen/README.md).")
	}
}
