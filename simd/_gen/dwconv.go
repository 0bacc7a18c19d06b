package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// dwVectors is the most vector accumulators a DWConv chunk keeps: 8 covers
// two FMA ports of 4-cycle latency, and a chunk of 8 zmm (128 floats)
// holds a whole MobileNet row of 112.
const dwVectors = 8

// dwconv emits f32DWConv<TIER>Asm, the DWConv kernel (simd.Kernels.DWConv).
//
// Each row (a channel) starts its accumulators at the channel's bias and
// is cut into chunks of up to dwVectors vectors. A chunk's
// accumulators stay in registers for all taps: per tap, one offset load,
// one weight broadcast and one FMA per vector with the input as a memory
// operand; then one store per vector. Taps go in pairs, the even-numbered
// and odd-numbered ones into separate accumulators where the registers
// allow (see dwAccumulators), for more independent FMA chains in short
// chunks. The last vector of every chunk is masked (all lanes for
// whole chunks): a K1-masked FMA and store for
// AVX-512 (faults suppressed on the masked lanes), VMASKMOVPS for AVX2.
// The row's last, partial chunk of c < dwVectors vectors runs the code
// emitted for c, picked by a compare ladder.
func dwconv(c *build.Context, s isa) {
	name := "f32DWConv" + s.ident + "Asm"
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(dst, src []float32, offs []int, w, bias []float32, rows, n, ldd, lds int)")
	c.Pragma("noescape")
	order := []string{
		"guarantees what checkDWConv checks. It computes, with fused multiply-adds",
		"in tap order,",
	}
	if a, b := dwAccumulators(s, 1); a[0] != b[0] {
		order = []string{
			"guarantees what checkDWConv checks. It computes, with fused multiply-adds",
			"into the bias plus the even-numbered taps and into the sum of the",
			"odd-numbered taps (each in order), which are added at the end,",
		}
	}
	c.Doc(append([]string{name + " is the DWConv kernel of the " + s.name + " tier, unchecked: the caller"}, append(order,
		"",
		"\ttaps := len(offs)",
		"\tfor r := 0; r < rows; r++ {",
		"\t\tfor i := 0; i < n; i++ {",
		"\t\t\ts := bias[r] // 0 when bias is nil",
		"\t\t\tfor t := 0; t < taps; t++ {",
		"\t\t\t\ts += w[r*taps+t] * src[r*lds+offs[t]+i]",
		"\t\t\t}",
		"\t\t\tdst[r*ldd+i] = s",
		"\t\t}",
		"\t}",
	)...)...)
	avx512 := s.lanes == 16
	var masks operand.Mem
	if avx512 {
		// dwmask<>[r] = 1<<r - 1: the K1 of a last vector with r lanes;
		// then the bias of rows when bias is nil, 0.
		masks = c.StaticGlobal("dwmask")
		c.DataAttributes(attr.RODATA | attr.NOPTR)
		for r := 0; r <= s.lanes; r++ {
			c.AddDatum(2*r, operand.U16(1<<r-1))
		}
		c.AddDatum(dwZero(s), operand.U32(0))
	} else {
		// dwmask<> is 8 all-ones words then 8 zeros: the 8 words at
		// index 8-r are the VMASKMOVPS mask of a last vector with r
		// lanes; its last word is also the bias of rows when bias is nil.
		masks = c.StaticGlobal("dwmask")
		c.DataAttributes(attr.RODATA | attr.NOPTR)
		for i := 0; i < 2*s.lanes; i++ {
			v := uint32(0)
			if i < s.lanes {
				v = 0xffffffff
			}
			c.AddDatum(4*i, operand.U32(v))
		}
	}

	var (
		pd, ps     = reg.RDI, reg.RSI // current dst and src rows
		poffs, pw  = reg.R8, reg.R9   // one past the last offset and weight
		negTaps    = reg.R10          // -len(offs)
		rows       = reg.R11
		cd, cs     = reg.RBX, reg.RDX // current chunk of the row
		left       = reg.RCX          // outputs left in the row
		t, off     = reg.RAX, reg.R12 // tap index (-taps..-1) and its offset
		pmask      = reg.R13          // dwmask
		pb         = reg.R14          // the row's bias (dwZero when bias is nil)
		vb         = s.vbytes()
		chunk      = dwVectors * s.lanes
		wv, wv2    = s.v(dwVectors), s.v(dwVectors + 1) // the broadcast weights of a pair of taps
		maskv, tmp reg.Register                         // AVX2: the last vector's mask, its masked input
	)
	if !avx512 {
		maskv, tmp = s.v(dwVectors+2), s.v(dwVectors+3)
	}
	c.Load(c.Param("rows"), rows)
	c.TESTQ(rows, rows)
	c.JLE(operand.LabelRef("done"))
	c.Load(c.Param("n"), left)
	c.TESTQ(left, left)
	c.JLE(operand.LabelRef("done"))
	c.Load(c.Param("offs").Len(), negTaps)
	loadBase(c, "offs", poffs)
	c.LEAQ(operand.Mem{Base: poffs, Index: negTaps, Scale: 8}, poffs)
	loadBase(c, "w", pw)
	c.LEAQ(operand.Mem{Base: pw, Index: negTaps, Scale: 4}, pw)
	c.NEGQ(negTaps)
	loadBase(c, "dst", pd)
	loadBase(c, "src", ps)
	c.LEAQ(masks, pmask)
	loadBase(c, "bias", pb)
	c.Load(c.Param("bias").Len(), t)
	c.TESTQ(t, t)
	c.JNE(operand.LabelRef("row"))
	c.LEAQ(mem(pmask, dwZero(s)), pb)

	c.Label("row")
	c.MOVQ(pd, cd)
	c.MOVQ(ps, cs)
	c.Load(c.Param("n"), left)

	c.Label("chunk")
	c.CMPQ(left, imm(chunk))
	c.JL(operand.LabelRef("partial"))
	c.Commentf("A whole chunk of %d vectors: the last one's mask is all lanes.", dwVectors)
	if avx512 {
		c.KMOVW(mem(pmask, 2*s.lanes), reg.K1)
	} else {
		c.VPCMPEQD(maskv, maskv, maskv)
	}
	c.JMP(operand.LabelRef(fmt.Sprintf("vec%d", dwVectors)))

	c.Label("partial")
	c.Comment("The row's last chunk: ceil(left/lanes) vectors, the last with",
		"r = (left-1)%lanes + 1 lanes.")
	c.LEAQ(operand.Mem{Base: left, Disp: -1}, t)
	c.ANDQ(imm(s.lanes-1), t)
	if avx512 {
		c.KMOVW(operand.Mem{Base: pmask, Index: t, Scale: 2, Disp: 2}, reg.K1)
	} else {
		c.NEGQ(t) // mask at dwmask + 4*(lanes-r) = dwmask + 4*(lanes-1) - 4*t
		c.VMOVUPS(operand.Mem{Base: pmask, Index: t, Scale: 4, Disp: 4 * (s.lanes - 1)}, maskv)
	}
	c.LEAQ(operand.Mem{Base: left, Disp: s.lanes - 1}, t)
	c.SHRQ(operand.U8(log2(s.lanes)), t) // vectors
	for v := 1; v < dwVectors; v++ {
		c.CMPQ(t, imm(v))
		c.JE(operand.LabelRef(fmt.Sprintf("vec%d", v)))
	}
	c.JMP(operand.LabelRef(fmt.Sprintf("vec%d", dwVectors)))

	for nv := 1; nv <= dwVectors; nv++ {
		c.Label(fmt.Sprintf("vec%d", nv))
		c.Commentf("Chunk of %d vector(s).", nv)
		accA, accB := dwAccumulators(s, nv)
		c.VBROADCASTSS(mem(pb, 0), accA[0])
		for v := 0; v < nv; v++ {
			if v > 0 {
				c.VMOVAPS(accA[0], accA[v])
			}
			if accB[v] != accA[v] {
				zero(c, s, accB[v])
			}
		}
		// tap emits the FMAs of the tap at index t (-taps..-1) plus
		// delta into acc, with its weight in wr.
		tap := func(delta int, acc []reg.Register, wr reg.Register) {
			c.MOVQ(operand.Mem{Base: poffs, Index: t, Scale: 8, Disp: 8 * delta}, off)
			c.VBROADCASTSS(operand.Mem{Base: pw, Index: t, Scale: 4, Disp: 4 * delta}, wr)
			for v := 0; v < nv; v++ {
				in := operand.Mem{Base: cs, Index: off, Scale: 4, Disp: v * vb}
				switch {
				case v < nv-1:
					c.VFMADD231PS(in, wr, acc[v])
				case avx512:
					c.VFMADD231PS(in, wr, reg.K1, acc[v]) // merge-masked: the other lanes are not stored
				default:
					c.VMASKMOVPS(in, maskv, tmp)
					c.VFMADD231PS(tmp, wr, acc[v])
				}
			}
		}
		c.Comment("Taps in pairs: t+2 indexes the pair after the current one.")
		c.LEAQ(operand.Mem{Base: negTaps, Disp: 2}, t)
		c.CMPQ(t, imm(0))
		c.JG(operand.LabelRef(fmt.Sprintf("last%d", nv)))
		c.Label(fmt.Sprintf("pairs%d", nv))
		tap(-2, accA, wv)
		tap(-1, accB, wv2)
		c.ADDQ(imm(2), t)
		c.JLE(operand.LabelRef(fmt.Sprintf("pairs%d", nv)))
		c.Label(fmt.Sprintf("last%d", nv))
		c.SUBQ(imm(2), t)
		c.JE(operand.LabelRef(fmt.Sprintf("sum%d", nv)))
		tap(0, accA, wv)
		c.Label(fmt.Sprintf("sum%d", nv))
		for v := 0; v < nv; v++ {
			if accB[v] != accA[v] {
				c.VADDPS(accB[v], accA[v], accA[v])
			}
		}
		for v := 0; v < nv; v++ {
			out := mem(cd, v*vb)
			switch {
			case v < nv-1:
				c.VMOVUPS(accA[v], out)
			case avx512:
				c.VMOVUPS(accA[v], reg.K1, out)
			default:
				c.VMASKMOVPS(accA[v], maskv, out)
			}
		}
		c.JMP(operand.LabelRef("next"))
	}

	c.Label("next")
	c.ADDQ(imm(dwVectors*vb), cd)
	c.ADDQ(imm(dwVectors*vb), cs)
	c.SUBQ(imm(chunk), left)
	c.JG(operand.LabelRef("chunk"))
	c.Comment("Next row: its weights, bias (unless nil), output and input.")
	c.MOVQ(negTaps, t)
	c.SHLQ(operand.U8(2), t)
	c.SUBQ(t, pw)
	c.CMPQ(lenAddr(c, "bias"), operand.U8(0))
	c.JE(operand.LabelRef("nobias"))
	c.ADDQ(operand.U8(4), pb)
	c.Label("nobias")
	c.Load(c.Param("ldd"), t)
	c.LEAQ(operand.Mem{Base: pd, Index: t, Scale: 4}, pd)
	c.Load(c.Param("lds"), t)
	c.LEAQ(operand.Mem{Base: ps, Index: t, Scale: 4}, ps)
	c.DECQ(rows)
	c.JNE(operand.LabelRef("row"))

	c.Label("done")
	c.VZEROUPPER()
	c.RET()
}

// lenAddr is the frame address of slice parameter name's length.
func lenAddr(c *build.Context, name string) operand.Mem {
	b, err := c.Param(name).Len().Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// dwZero is the offset in dwmask<> of a float32 zero.
func dwZero(s isa) int {
	if s.lanes == 16 {
		return 36 // past the 17 masks
	}
	return 4 * (2*s.lanes - 1) // the last word
}

// dwAccumulators returns the registers of a chunk of nv vectors: the sums
// of the even-numbered taps (a) and of the odd-numbered ones (b). They are
// separate, for twice the independent FMA chains, where the register file
// has room for a whole chunk's two sets (AVX-512), and otherwise the same
// registers. The choice must not depend on nv: every output is summed in
// the same order whatever chunk it falls in, so results do not depend on
// how a caller cuts its rows.
func dwAccumulators(s isa, nv int) (a, b []reg.Register) {
	split := 2*dwVectors+4 <= s.nregs // accumulators, weights, mask, temporary
	for v := 0; v < nv; v++ {
		a = append(a, s.v(v))
		if split {
			b = append(b, s.v(dwVectors+4+v))
		} else {
			b = append(b, s.v(v))
		}
	}
	return a, b
}

func log2(x int) int {
	n := 0
	for 1<<n < x {
		n++
	}
	if 1<<n != x {
		panic(fmt.Sprintf("%d is not a power of 2", x))
	}
	return n
}
