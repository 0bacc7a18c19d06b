package main

import (
	"fmt"
	"math"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The transforms of the Winograd convolutions F(2×2, 3×3) and F(4×4, 3×3)
// (simd.WinoTransforms): f32WinoIn<m><TIER>Asm and f32WinoOut<m><TIER>Asm.
// Both take a row of n tiles m columns apart, one vector lane per tile,
// a group of lanes (16 or 8 tiles) at a time.
//
// In (V = Bᵀ d B): per group and row ξ of Bᵀ, the column pass first, on
// the raw input rows: s = Σ_i Bᵀ[ξ][i]·row_i over the m+1 vectors that
// cover the group's m·lanes+2 input columns (FMAs with the rows as memory
// operands). Then the row pass needs, for each j < a, the lane vector of
// s at columns m·t+j: an m-way deinterleave of s (j < m), and the same
// shifted by one tile for j = m, m+1, which takes the first values of the
// extra vector. AVX-512 deinterleaves with two levels of VPERMT2PS
// (indices 0, 2, ..., 30 and 1, 3, ..., 31) and shifts with VALIGND;
// AVX2 with a 4×4 transpose within 128-bit lanes (VUNPCKLPS/VUNPCKHPS,
// VSHUFPS), VPERMPS to restore the tile order, and VPERMPS+VBLENDPS to
// shift, or for m = 2 VSHUFPS+VPERMPD. The a outputs of the row pass are
// stored to rows ξ·a+ν of dst: K1-masked for AVX-512 (all lanes but in
// the last group), VMASKMOVPS in the last group for AVX2.
//
// Out (Y = Aᵀ M A): per group and output row i, w_ν = Σ_ξ Aᵀ[i][ξ]·M_ξν
// for each ν (memory operands), the m outputs o_j = Σ_ν Aᵀ[j][ν]·w_ν,
// then an m-way interleave (VPERMT2PS with indices 0, 16, 1, 17, ... and
// 8, 24, ...; AVX2: VPERMPS then a transpose within 128-bit lanes, or
// VUNPCK*PS+VPERM2F128 for m = 2) into m vectors of m·lanes consecutive
// outputs, stored whole: the caller leaves room for whole groups.
//
// Bᵀ and Aᵀ rows are evaluated as in winoBRows and winoARows: the
// coefficients ±1 as adds, the others as FMAs with broadcast constants.

// winoTerm is coef·(row or column index).
type winoTerm struct{ coef, idx int }

// winoBRows are the rows of Bᵀ as sums of terms, the first with
// coefficient 1.
var winoBRows = map[int][][]winoTerm{
	2: {
		{{1, 0}, {-1, 2}},
		{{1, 1}, {1, 2}},
		{{1, 2}, {-1, 1}},
		{{1, 1}, {-1, 3}},
	},
	4: {
		{{1, 4}, {-5, 2}, {4, 0}},
		{{1, 3}, {1, 4}, {-4, 1}, {-4, 2}},
		{{1, 4}, {-1, 3}, {4, 1}, {-4, 2}},
		{{1, 4}, {-1, 2}, {2, 3}, {-2, 1}},
		{{1, 4}, {-1, 2}, {-2, 3}, {2, 1}},
		{{1, 5}, {-5, 3}, {4, 1}},
	},
}

// winoARows are the rows of Aᵀ, likewise.
var winoARows = map[int][][]winoTerm{
	2: {
		{{1, 0}, {1, 1}, {1, 2}},
		{{1, 1}, {-1, 2}, {-1, 3}},
	},
	4: {
		{{1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}},
		{{1, 1}, {-1, 2}, {2, 3}, {-2, 4}},
		{{1, 1}, {1, 2}, {4, 3}, {4, 4}},
		{{1, 1}, {-1, 2}, {8, 3}, {-8, 4}, {1, 5}},
	},
}

// winoTab is the layout of a kernel's constants (RODATA).
const (
	wtMask  = 0   // AVX-512: 17 uint16 masks 1<<r-1; AVX2: 8 all-ones words, then 8 zeros
	wtCoef  = 64  // float32 2, 4, 5, 8
	wtIdx0  = 128 // AVX-512 VPERMT2PS indices; AVX2 VPERMPS indices (tile order)
	wtIdx1  = 192 // AVX-512 second VPERMT2PS indices; AVX2 VPERMPS rotation 1..7, 0
	wtBytes = 256
)

var winoCoefs = []int{2, 4, 5, 8}

// winoGen emits one transform kernel.
type winoGen struct {
	c      *build.Context
	s      isa
	m, a   int
	avx512 bool
	tab    reg.Register
	coef   map[int]reg.Register // |coefficient| -> its broadcast
	k1     bool                 // stores masked by K1 (AVX-512)
	maskv  reg.Register         // AVX2: VMASKMOVPS mask, when the group is the last
}

func newWinoGen(c *build.Context, s isa, m int, name, sig string, doc []string, idx0, idx1 []int) *winoGen {
	g := &winoGen{c: c, s: s, m: m, a: m + 2, avx512: s.lanes == 16, tab: reg.RAX, coef: map[int]reg.Register{}}
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr(sig)
	c.Pragma("noescape")
	c.Doc(doc...)
	t := c.StaticGlobal(name + "Tab")
	c.DataAttributes(attr.RODATA | attr.NOPTR)
	if g.avx512 {
		for r := 0; r <= 16; r++ {
			c.AddDatum(wtMask+2*r, operand.U16(1<<r-1))
		}
		c.AddDatum(wtMask+34, operand.U16(0))
		c.AddDatum(wtMask+36, operand.U32(0))
		c.AddDatum(wtMask+40, operand.U64(0))
		c.AddDatum(wtMask+48, operand.U64(0))
		c.AddDatum(wtMask+56, operand.U64(0))
	} else {
		for i := 0; i < 16; i++ {
			v := uint32(0)
			if i < 8 {
				v = 0xffffffff
			}
			c.AddDatum(wtMask+4*i, operand.U32(v))
		}
	}
	for i, v := range winoCoefs {
		c.AddDatum(wtCoef+4*i, operand.U32(math.Float32bits(float32(v)))) // (avo prints F32(2) as the integer 2)
	}
	for i := len(winoCoefs); i < 16; i++ {
		c.AddDatum(wtCoef+4*i, operand.U32(0))
	}
	// DATA entries must come in increasing order.
	for k, idx := range [][]int{idx0, idx1} {
		for i := 0; i < 16; i++ {
			v := 0
			if i < len(idx) {
				v = idx[i]
			}
			c.AddDatum(wtIdx0+64*k+4*i, operand.U32(uint32(v)))
		}
	}
	c.LEAQ(t, g.tab)
	return g
}

// loadCoefs broadcasts the coefficients the terms use into registers
// taken from free (highest first).
func (g *winoGen) loadCoefs(rows map[int][][]winoTerm, free *[]reg.Register) {
	for _, row := range rows[g.m] {
		for _, t := range row {
			a := max(t.coef, -t.coef)
			if a == 1 || g.coef[a] != nil {
				continue
			}
			r := (*free)[len(*free)-1]
			*free = (*free)[:len(*free)-1]
			pos := -1
			for i, v := range winoCoefs {
				if v == a {
					pos = i
				}
			}
			g.c.VBROADCASTSS(mem(g.tab, wtCoef+4*pos), r)
			g.coef[a] = r
		}
	}
}

// comb emits dst = Σ terms, each term's operand given by op(idx) (a
// register or memory operand). The first term has coefficient 1.
func (g *winoGen) comb(dst reg.Register, terms []winoTerm, op func(int) operand.Op) {
	c := g.c
	for n, t := range terms {
		o := op(t.idx)
		switch {
		case n == 0:
			if t.coef != 1 {
				panic("first term must have coefficient 1")
			}
			if r, ok := o.(reg.Register); ok {
				if r != dst {
					c.VMOVAPS(r, dst)
				}
			} else {
				c.VMOVUPS(o, dst)
			}
		case t.coef == 1:
			c.VADDPS(o, dst, dst)
		case t.coef == -1:
			c.VSUBPS(o, dst, dst)
		case t.coef > 0:
			c.VFMADD231PS(o, g.coef[t.coef], dst)
		default:
			c.VFNMADD231PS(o, g.coef[-t.coef], dst)
		}
	}
}

// store writes v to the memory operand: K1-masked (AVX-512), with
// VMASKMOVPS in the last group (AVX2), or whole.
func (g *winoGen) store(v reg.Register, m operand.Mem) {
	switch {
	case g.k1:
		g.c.VMOVUPS(v, reg.K1, m)
	case g.maskv != nil:
		g.c.VMASKMOVPS(v, g.maskv, m)
	default:
		g.c.VMOVUPS(v, m)
	}
}

// winoIn emits f32WinoIn<m><TIER>Asm.
func winoIn(c *build.Context, s isa, m int) {
	name := fmt.Sprintf("f32WinoIn%d%sAsm", m, s.ident)
	a := m + 2
	var idx0, idx1 []int
	if s.lanes == 16 {
		for i := 0; i < 16; i++ {
			idx0, idx1 = append(idx0, 2*i), append(idx1, 2*i+1)
		}
	} else {
		idx0 = []int{0, 4, 1, 5, 2, 6, 3, 7} // transposed order 0 2 4 6 | 1 3 5 7 back to 0..7
		idx1 = []int{1, 2, 3, 4, 5, 6, 7, 0}
	}
	g := newWinoGen(c, s, m, name, "func(dst []float32, ldd int, src []float32, lds, n int)", []string{
		name + " is the F(" + fmt.Sprintf("%d×%d", m, m) + ", 3×3) input transform of the " + s.name + " tier, unchecked:",
		"the caller guarantees what checkWinoIn checks (see WinoTransforms.In).",
		"With a = " + fmt.Sprint(a) + " and Bᵀ the transform matrix:",
		"",
		"\tfor t := 0; t < n; t++ {",
		fmt.Sprintf("\t\t// d[i][j] = src[i*lds + %d*t + j], i, j < %d", m, a),
		fmt.Sprintf("\t\tfor xi := 0; xi < %d; xi++ {", a),
		fmt.Sprintf("\t\t\tfor nu := 0; nu < %d; nu++ {", a),
		fmt.Sprintf("\t\t\t\tdst[(xi*%d+nu)*ldd + t] = Σ_i Σ_j Bᵀ[xi][i] * Bᵀ[nu][j] * d[i][j]", a),
		"\t\t\t}",
		"\t\t}",
		"\t}",
	}, idx0, idx1)
	var (
		pd, ps, p3          = reg.RDI, reg.RSI, reg.R10 // the group's dst column, its input rows 0 and 3
		ldd, lds            = reg.R8, reg.R9            // strides in bytes
		ldd3, ldd5          = reg.R12, reg.R13
		pq                  = reg.R11 // dst rows ξ·a
		left                = reg.RCX
		t                   = reg.RDX
		lanes               = s.lanes
		vb                  = s.vbytes()
		nch                 = m + 1 // vectors of s per group
		avx512              = g.avx512
		free                = winoRegs(s)
		idxE, idxO          reg.Register // AVX-512 deinterleave indices
		idxFix, tmpR, maskv reg.Register // AVX2: tile order, rotation, last group's mask
	)
	take := func() reg.Register {
		r := free[len(free)-1]
		free = free[:len(free)-1]
		return r
	}
	c.Load(c.Param("n"), left)
	c.TESTQ(left, left)
	c.JLE(operand.LabelRef("done"))
	g.loadCoefs(winoBRows, &free)
	if avx512 {
		idxE, idxO = take(), take()
		c.VMOVUPS(mem(g.tab, wtIdx0), idxE)
		c.VMOVUPS(mem(g.tab, wtIdx1), idxO)
	} else {
		if m == 4 {
			idxFix = take()
			c.VMOVUPS(mem(g.tab, wtIdx0), idxFix)
		}
		maskv, tmpR = take(), take()
	}
	loadBase(c, "dst", pd)
	loadBase(c, "src", ps)
	c.Load(c.Param("ldd"), ldd)
	c.SHLQ(operand.U8(2), ldd)
	c.Load(c.Param("lds"), lds)
	c.SHLQ(operand.U8(2), lds)
	c.LEAQ(operand.Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)
	c.LEAQ(operand.Mem{Base: ldd, Index: ldd, Scale: 4}, ldd5)
	c.LEAQ(operand.Mem{Base: ps, Index: lds, Scale: 2}, p3)
	c.ADDQ(lds, p3)

	// row returns input row i, vector k of the group.
	row := func(i, k int) operand.Mem {
		base := ps
		if i >= 3 {
			base, i = p3, i-3
		}
		mm := operand.Mem{Base: base, Disp: k * vb}
		if i > 0 {
			mm.Index, mm.Scale = lds, uint8(i)
		}
		return mm
	}
	// out returns dst row ξ·a+ν of the group (pq at row ξ·a).
	out := func(nu int) operand.Mem {
		mm := operand.Mem{Base: pq}
		switch nu {
		case 0:
		case 1, 2, 4:
			mm.Index, mm.Scale = ldd, uint8(nu)
		case 3:
			mm.Index, mm.Scale = ldd3, 1
		case 5:
			mm.Index, mm.Scale = ldd5, 1
		}
		return mm
	}
	sv := make([]reg.Register, nch)
	for k := range sv {
		sv[k] = take()
	}
	// Temporaries of the deinterleave, which also hold the outputs.
	tv := []reg.Register{take(), take(), take(), take()}
	if avx512 && m == 4 {
		tv = append(tv, take(), take())
	}

	// body emits one group (masked when g.k1 or g.maskv is set).
	body := func() {
		c.MOVQ(pd, pq)
		for xi := 0; xi < a; xi++ {
			c.Commentf("ξ = %d: the column pass over %d vectors, then the deinterleave.", xi, nch)
			for k := 0; k < nch; k++ {
				g.comb(sv[k], winoBRows[m][xi], func(i int) operand.Op { return row(i, k) })
			}
			var d []reg.Register // d[j]: s at columns m·t+j
			switch {
			case avx512 && m == 4:
				t0, t2, d0, d1, d4, d5 := tv[0], tv[1], tv[2], tv[3], tv[4], tv[5]
				c.VMOVAPS(sv[0], t0)
				c.VPERMT2PS(sv[1], idxE, t0) // even lanes of (s0, s1)
				c.VPERMT2PS(sv[1], idxO, sv[0])
				c.VMOVAPS(sv[2], t2)
				c.VPERMT2PS(sv[3], idxE, t2)
				c.VPERMT2PS(sv[3], idxO, sv[2])
				c.VMOVAPS(t0, d0)
				c.VPERMT2PS(t2, idxE, d0) // columns 4t
				c.VPERMT2PS(t2, idxO, t0) // 4t+2
				c.VMOVAPS(sv[0], d1)
				c.VPERMT2PS(sv[2], idxE, d1)            // 4t+1
				c.VPERMT2PS(sv[2], idxO, sv[0])         // 4t+3
				c.VALIGND(operand.U8(1), d0, sv[4], d4) // 4t+4: d0 shifted, s4[0] last
				c.VALIGND(operand.U8(1), sv[4], sv[4], sv[1])
				c.VALIGND(operand.U8(1), d1, sv[1], d5) // 4t+5
				d = []reg.Register{d0, d1, t0, sv[0], d4, d5}
			case avx512:
				d0, d2, d3 := tv[0], tv[1], tv[2]
				c.VMOVAPS(sv[0], d0)
				c.VPERMT2PS(sv[1], idxE, d0)
				c.VPERMT2PS(sv[1], idxO, sv[0])
				c.VALIGND(operand.U8(1), d0, sv[2], d2)
				c.VALIGND(operand.U8(1), sv[2], sv[2], sv[1])
				c.VALIGND(operand.U8(1), sv[0], sv[1], d3)
				d = []reg.Register{d0, sv[0], d2, d3}
			case m == 4:
				u0 := tv[0]
				c.VUNPCKLPS(sv[1], sv[0], u0)    // per 128 bits: tiles 0|1, 2|3 rows a0 b0 a1 b1
				c.VUNPCKHPS(sv[1], sv[0], sv[1]) // a2 b2 a3 b3
				c.VUNPCKLPS(sv[3], sv[2], sv[0])
				c.VUNPCKHPS(sv[3], sv[2], sv[3])
				c.VSHUFPS(operand.U8(0x44), sv[0], u0, sv[2]) // column 4t, tiles 0 2 4 6 | 1 3 5 7
				c.VSHUFPS(operand.U8(0xee), sv[0], u0, u0)    // 4t+1
				c.VSHUFPS(operand.U8(0x44), sv[3], sv[1], sv[0])
				c.VSHUFPS(operand.U8(0xee), sv[3], sv[1], sv[1])
				for _, r := range []reg.Register{sv[2], u0, sv[0], sv[1]} {
					c.VPERMPS(r, idxFix, r) // tiles 0..7
				}
				d4, d5 := tv[1], tv[2]
				c.VMOVUPS(mem(g.tab, wtIdx1), tmpR)
				c.VPERMPS(sv[2], tmpR, d4) // columns 4t+4: rotate, then s4[0] into the last lane
				c.VBROADCASTSS(xmm(sv[4]), sv[3])
				c.VBLENDPS(operand.U8(0x80), sv[3], d4, d4)
				c.VPERMPS(u0, tmpR, d5)
				c.VPERMPS(sv[4], tmpR, sv[4])
				c.VBROADCASTSS(xmm(sv[4]), sv[4])
				c.VBLENDPS(operand.U8(0x80), sv[4], d5, d5)
				d = []reg.Register{sv[2], u0, sv[0], sv[1], d4, d5}
			default:
				d0, d2, d3 := tv[0], tv[1], tv[2]
				c.VSHUFPS(operand.U8(0x88), sv[1], sv[0], d0) // even columns, per 128 bits a0 a2 b0 b2
				c.VPERMPD(operand.U8(0xd8), d0, d0)
				c.VSHUFPS(operand.U8(0xdd), sv[1], sv[0], sv[0])
				c.VPERMPD(operand.U8(0xd8), sv[0], sv[0])
				c.VMOVUPS(mem(g.tab, wtIdx1), tmpR)
				c.VPERMPS(d0, tmpR, d2)
				c.VBROADCASTSS(xmm(sv[2]), sv[1])
				c.VBLENDPS(operand.U8(0x80), sv[1], d2, d2)
				c.VPERMPS(sv[0], tmpR, d3)
				c.VPERMPS(sv[2], tmpR, sv[2])
				c.VBROADCASTSS(xmm(sv[2]), sv[2])
				c.VBLENDPS(operand.U8(0x80), sv[2], d3, d3)
				d = []reg.Register{d0, sv[0], d2, d3}
			}
			c.Comment("The row pass: outputs (ξ, ν) for each ν.")
			// Free registers for the outputs: every s vector not in d.
			var outs []reg.Register
			for _, r := range append(append([]reg.Register{}, sv...), tv...) {
				used := false
				for _, x := range d {
					used = used || x == r
				}
				if !used {
					outs = append(outs, r)
				}
			}
			opD := func(j int) operand.Op { return d[j] }
			if m == 4 {
				// ν = 1, 2 share A = d4 - 4·d2 and B = d3 - 4·d1; ν = 3,
				// 4 share C = d4 - d2 and E = d3 - d1.
				v, ra, rb := outs[0], outs[1], outs[2]
				g.comb(v, winoBRows[4][0], opD)
				g.store(v, out(0))
				g.comb(ra, []winoTerm{{1, 4}, {-4, 2}}, opD)
				g.comb(rb, []winoTerm{{1, 3}, {-4, 1}}, opD)
				c.VADDPS(rb, ra, v)
				g.store(v, out(1))
				c.VSUBPS(rb, ra, v)
				g.store(v, out(2))
				c.VSUBPS(d[2], d[4], ra)
				c.VSUBPS(d[1], d[3], rb)
				c.VMOVAPS(ra, v)
				c.VFMADD231PS(rb, g.coef[2], v)
				g.store(v, out(3))
				c.VFNMADD231PS(rb, g.coef[2], ra)
				g.store(ra, out(4))
				g.comb(v, winoBRows[4][5], opD)
				g.store(v, out(5))
			} else {
				for nu := 0; nu < 4; nu++ {
					g.comb(outs[nu%2], winoBRows[2][nu], opD)
					g.store(outs[nu%2], out(nu))
				}
			}
			if xi < a-1 {
				c.LEAQ(operand.Mem{Base: pq, Index: ldd, Scale: 4}, pq)
				if m == 4 {
					c.LEAQ(operand.Mem{Base: pq, Index: ldd, Scale: 2}, pq)
				}
			}
		}
	}

	c.Label("group")
	if avx512 {
		g.k1 = true
		c.MOVQ(operand.U32(lanes), t)
		c.CMPQ(left, t)
		c.CMOVQLT(left, t)
		c.KMOVW(operand.Mem{Base: g.tab, Index: t, Scale: 2, Disp: wtMask}, reg.K1)
		body()
	} else {
		c.CMPQ(left, imm(lanes))
		c.JL(operand.LabelRef("last"))
		body()
		c.JMP(operand.LabelRef("next"))
		c.Label("last")
		c.Comment("The last group, of left < 8 tiles: masked stores.")
		c.MOVQ(left, t)
		c.NEGQ(t) // the mask of left lanes is at tab + 4·(8-left)
		c.VMOVUPS(operand.Mem{Base: g.tab, Index: t, Scale: 4, Disp: wtMask + 4*lanes}, maskv)
		g.maskv = maskv
		body()
		g.maskv = nil
	}
	c.Label("next")
	c.ADDQ(imm(vb), pd)
	c.ADDQ(imm(m*vb), ps)
	c.ADDQ(imm(m*vb), p3)
	c.SUBQ(imm(lanes), left)
	c.JG(operand.LabelRef("group"))
	c.Label("done")
	c.VZEROUPPER()
	c.RET()
}

// winoOut emits f32WinoOut<m><TIER>Asm.
func winoOut(c *build.Context, s isa, m int) {
	name := fmt.Sprintf("f32WinoOut%d%sAsm", m, s.ident)
	a := m + 2
	var idx0, idx1 []int
	if s.lanes == 16 {
		for i := 0; i < 8; i++ {
			idx0 = append(idx0, i, 16+i)
			idx1 = append(idx1, 8+i, 24+i)
		}
	} else {
		idx0 = []int{0, 2, 4, 6, 1, 3, 5, 7} // tiles 0 2 4 6 | 1 3 5 7 for the transpose
	}
	g := newWinoGen(c, s, m, name, "func(dst []float32, ldd int, src []float32, lds, n int)", []string{
		name + " is the F(" + fmt.Sprintf("%d×%d", m, m) + ", 3×3) output transform of the " + s.name + " tier, unchecked:",
		"the caller guarantees what checkWinoOut checks (see WinoTransforms.Out).",
		"With a = " + fmt.Sprint(a) + " and Aᵀ the transform matrix:",
		"",
		"\tfor t := 0; t < n; t++ {",
		fmt.Sprintf("\t\t// mm[xi][nu] = src[(xi*%d+nu)*lds + t], xi, nu < %d", a, a),
		fmt.Sprintf("\t\tfor i := 0; i < %d; i++ {", m),
		fmt.Sprintf("\t\t\tfor j := 0; j < %d; j++ {", m),
		fmt.Sprintf("\t\t\t\tdst[i*ldd + %d*t + j] = Σ_xi Σ_nu Aᵀ[i][xi] * Aᵀ[j][nu] * mm[xi][nu]", m),
		"\t\t\t}",
		"\t\t}",
		"\t}",
		"",
		fmt.Sprintf("It writes whole groups of %d tiles (the outputs past %d*n are", s.lanes, m),
		"unspecified) and reads whole groups of src.",
	}, idx0, idx1)
	var (
		pd, ps, p  = reg.RDI, reg.RSI, reg.R10 // the group's dst and src columns; the current ν
		ldd, lds   = reg.R8, reg.R9
		ldd3       = reg.R12
		la, lb, lc = reg.R11, reg.R13, reg.R14 // a·lds, 3a·lds, 5a·lds
		left       = reg.RCX
		vb         = s.vbytes()
		avx512     = g.avx512
		free       = winoRegs(s)
		idxA, idxB reg.Register
	)
	take := func() reg.Register {
		r := free[len(free)-1]
		free = free[:len(free)-1]
		return r
	}
	c.Load(c.Param("n"), left)
	c.TESTQ(left, left)
	c.JLE(operand.LabelRef("done"))
	g.loadCoefs(winoARows, &free)
	idxA = take()
	c.VMOVUPS(mem(g.tab, wtIdx0), idxA)
	if avx512 {
		idxB = take()
		c.VMOVUPS(mem(g.tab, wtIdx1), idxB)
	}
	loadBase(c, "dst", pd)
	loadBase(c, "src", ps)
	c.Load(c.Param("ldd"), ldd)
	c.SHLQ(operand.U8(2), ldd)
	c.Load(c.Param("lds"), lds)
	c.SHLQ(operand.U8(2), lds)
	c.LEAQ(operand.Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)
	c.IMUL3Q(imm(a), lds, la)
	c.IMUL3Q(imm(3*a), lds, lb)
	c.IMUL3Q(imm(5*a), lds, lc)
	// in returns M row ξ·a+ν of the group (p at row ν).
	in := func(xi int) operand.Mem {
		mm := operand.Mem{Base: p}
		switch xi {
		case 0:
		case 1, 2, 4:
			mm.Index, mm.Scale = la, uint8(xi)
		case 3:
			mm.Index, mm.Scale = lb, 1
		case 5:
			mm.Index, mm.Scale = lc, 1
		}
		return mm
	}
	w := make([]reg.Register, a)
	for i := range w {
		w[i] = take()
	}
	o := make([]reg.Register, m)
	for i := range o {
		o[i] = take()
	}
	t1, t2 := take(), take()

	c.Label("group")
	for i := 0; i < m; i++ {
		c.Commentf("Output row %d: Aᵀ row %d of each column ν, then the row pass.", i, i)
		c.MOVQ(ps, p)
		for nu := 0; nu < a; nu++ {
			g.comb(w[nu], winoARows[m][i], func(xi int) operand.Op { return in(xi) })
			if nu < a-1 {
				c.ADDQ(lds, p)
			}
		}
		opW := func(j int) operand.Op { return w[j] }
		if m == 4 {
			// p12 = w1+w2 (t1), d12 = w1-w2 (w2), p34 = w3+w4 (t2),
			// d34 = w3-w4 (w4).
			c.VADDPS(w[2], w[1], t1)
			c.VSUBPS(w[2], w[1], w[2])
			c.VADDPS(w[4], w[3], t2)
			c.VSUBPS(w[4], w[3], w[4])
			c.VADDPS(t1, w[0], o[0])
			c.VADDPS(t2, o[0], o[0])
			c.VMOVAPS(w[2], o[1])
			c.VFMADD231PS(w[4], g.coef[2], o[1])
			c.VMOVAPS(t1, o[2])
			c.VFMADD231PS(t2, g.coef[4], o[2])
			c.VMOVAPS(w[2], o[3])
			c.VFMADD231PS(w[4], g.coef[8], o[3])
			c.VADDPS(w[5], o[3], o[3])
		} else {
			g.comb(o[0], winoARows[2][0], opW)
			g.comb(o[1], winoARows[2][1], opW)
		}
		c.Comment("Interleave: outputs m·t+j in order.")
		row := operand.Mem{Base: pd}
		switch i {
		case 1, 2:
			row.Index, row.Scale = ldd, uint8(i)
		case 3:
			row.Index, row.Scale = ldd3, 1
		}
		at := func(k int) operand.Mem { r := row; r.Disp = k * vb; return r }
		switch {
		case avx512 && m == 4:
			c.VMOVAPS(o[0], t1)
			c.VPERMT2PS(o[2], idxA, t1) // o0 o2 pairs, tiles 0..7
			c.VPERMT2PS(o[2], idxB, o[0])
			c.VMOVAPS(o[1], t2)
			c.VPERMT2PS(o[3], idxA, t2)
			c.VPERMT2PS(o[3], idxB, o[1])
			c.VMOVAPS(t1, o[2])
			c.VPERMT2PS(t2, idxA, o[2]) // tiles 0..3
			c.VPERMT2PS(t2, idxB, t1)   // 4..7
			c.VMOVAPS(o[0], o[3])
			c.VPERMT2PS(o[1], idxA, o[3]) // 8..11
			c.VPERMT2PS(o[1], idxB, o[0]) // 12..15
			for k, r := range []reg.Register{o[2], t1, o[3], o[0]} {
				c.VMOVUPS(r, at(k))
			}
		case avx512:
			c.VMOVAPS(o[0], t1)
			c.VPERMT2PS(o[1], idxA, t1)
			c.VPERMT2PS(o[1], idxB, o[0])
			c.VMOVUPS(t1, at(0))
			c.VMOVUPS(o[0], at(1))
		case m == 4:
			for _, r := range o {
				c.VPERMPS(r, idxA, r) // tiles 0 2 4 6 | 1 3 5 7
			}
			c.VUNPCKLPS(o[1], o[0], t1)
			c.VUNPCKHPS(o[1], o[0], o[1])
			c.VUNPCKLPS(o[3], o[2], t2)
			c.VUNPCKHPS(o[3], o[2], o[3])
			c.VSHUFPS(operand.U8(0x44), t2, t1, o[0]) // tiles 0 | 1
			c.VSHUFPS(operand.U8(0xee), t2, t1, o[2]) // 2 | 3
			c.VSHUFPS(operand.U8(0x44), o[3], o[1], t1)
			c.VSHUFPS(operand.U8(0xee), o[3], o[1], t2)
			for k, r := range []reg.Register{o[0], o[2], t1, t2} {
				c.VMOVUPS(r, at(k))
			}
		default:
			c.VUNPCKLPS(o[1], o[0], t1) // tiles 0 1 | 4 5
			c.VUNPCKHPS(o[1], o[0], t2) // 2 3 | 6 7
			c.VPERM2F128(operand.U8(0x20), t2, t1, o[0])
			c.VPERM2F128(operand.U8(0x31), t2, t1, o[1])
			c.VMOVUPS(o[0], at(0))
			c.VMOVUPS(o[1], at(1))
		}
	}
	c.ADDQ(imm(m*vb), pd)
	c.ADDQ(imm(vb), ps)
	c.SUBQ(imm(s.lanes), left)
	c.JG(operand.LabelRef("group"))
	c.Label("done")
	c.VZEROUPPER()
	c.RET()
}

// winoUnit emits every transform of tier s.
func winoUnit(s isa) func(c *build.Context) {
	return func(c *build.Context) {
		for _, m := range []int{2, 4} {
			winoIn(c, s, m)
			winoOut(c, s, m)
		}
	}
}

// winoRegs lists the vector registers of tier s, for take() to hand out
// from the end.
func winoRegs(s isa) []reg.Register {
	var r []reg.Register
	for i := 0; i < s.nregs; i++ {
		r = append(r, s.v(i))
	}
	return r
}

// xmm is the xmm view of vector register r.
func xmm(r reg.Register) reg.Register {
	for _, z := range zregs {
		if z == r || z.AsY() == r {
			return z.AsX()
		}
	}
	panic(fmt.Sprintf("no xmm view of %v", r))
}
