package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// dwrowsUnit emits the DWRows kernels of tier s, for horizontal strides 1
// and 2, and the constants they share.
func dwrowsUnit(s isa) func(c *build.Context) {
	return func(c *build.Context) {
		t := dwrowsTable(c, s)
		dwrows(c, s, 1, t)
		dwrows(c, s, 2, t)
	}
}

// dwrowsConsts are the offsets of dwrowsTable's constants.
type dwrowsConsts struct {
	tab    operand.Mem
	zero   int // a float32 zero: the bias when bias is empty
	perm   int // AVX-512: the 16 indices 2i of VPERMT2PS's even lanes
	evenK  int // AVX-512: the K (0x5555) of a stride-2 vector's even inputs
	evenY  int // AVX2: the VMASKMOVPS mask of the even lanes
	tails  int // the store masks of a last vector with r lanes (see dwrows)
	nlanes int
}

// dwrowsTable emits dwrmask<>: the store masks (AVX-512: the 16-bit K of
// r lanes at 2r; AVX2: 8 all-ones words then 8 zeros, whose 8 words at
// 4(8-r) are the VMASKMOVPS mask of r lanes), a zero, and for stride 2
// the even-lane permutation and masks.
func dwrowsTable(c *build.Context, s isa) dwrowsConsts {
	t := dwrowsConsts{tab: c.StaticGlobal("dwrmask"), nlanes: s.lanes}
	c.DataAttributes(attr.RODATA | attr.NOPTR)
	if s.lanes == 16 {
		for r := 0; r <= s.lanes; r++ {
			c.AddDatum(2*r, operand.U16(1<<r-1))
		}
		t.zero, t.evenK, t.perm = 36, 40, 64
		c.AddDatum(t.zero, operand.U32(0))
		c.AddDatum(t.evenK, operand.U16(0x5555))
		for i := 0; i < 16; i++ {
			c.AddDatum(t.perm+4*i, operand.U32(2*i))
		}
		return t
	}
	for i := 0; i < 2*s.lanes; i++ {
		v := uint32(0)
		if i < s.lanes {
			v = 0xffffffff
		}
		c.AddDatum(4*i, operand.U32(v))
	}
	t.zero, t.evenY = 4*(2*s.lanes-1), 64
	for i := 0; i < s.lanes; i++ {
		v := uint32(0)
		if i%2 == 0 {
			v = 0xffffffff
		}
		c.AddDatum(t.evenY+4*i, operand.U32(v))
	}
	return t
}

// dwrows emits f32DWRows<TIER>Asm (stride 1) or f32DWRowsS2<TIER>Asm
// (stride 2), the DWRows kernel (simd.Kernels.DWRows): depthwise output
// rows written straight into their planes, the padded columns of each
// tap skipped by masks, the bias and a clamp fused.
//
// Each output row (of each channel) is cut into chunks of up to dwVectors
// vectors, as in dwconv; rows of at most dwrowsRows vectors go several to
// a chunk. A chunk's accumulators start at the channel's bias and stay in
// registers for all taps; the taps go in pairs into the even and odd
// accumulators where the registers allow (dwAccumulators). Only a row's
// first vector and its last may hold padded columns of a tap (the caller
// checks that the others do not): their loads are masked per tap, from
// the masks table the caller fills, three runs of taps entries: the first
// vector's masks, the last vector's (lanes past n cleared too), and all
// lanes (for the vectors of chunks that do not start or end the row). A
// one-vector row ands its two masks.
//
// Stride 1: per tap and vector one FMA with the input as a memory
// operand, merge-masked by a 16-bit K (AVX-512: faults suppressed on the
// other lanes; the masked taps are skipped), or an input loaded by
// VMASKMOVPS (AVX2: 8 int32 per mask). Stride 2: a vector's inputs are
// the even ones of two input vectors, loaded with zeroing masks of their
// even lanes (an entry is the pair of masks of the two loads; the second
// load never reads its last, odd lane) and combined by VPERMT2PS
// (AVX-512) or VSHUFPS and VPERMPD (AVX2); a masked tap adds w·0. Then
// each vector is clamped to [lo, hi] (VMAXPS and VMINPS: NaN passes
// through) and stored, the row's last vector masked to its lanes.
func dwrows(c *build.Context, s isa, stride int, tab dwrowsConsts) {
	name := "f32DWRows" + s.ident + "Asm"
	if stride == 2 {
		name = "f32DWRowsS2" + s.ident + "Asm"
	}
	avx512 := s.lanes == 16
	maskType, maskBytes := "[]int32", 4*s.lanes*stride
	if avx512 {
		maskType, maskBytes = "[]uint16", 2*stride
	}
	c.Function(name)
	c.Attributes(attr.NOSPLIT)
	c.SignatureExpr("func(dst, src []float32, offs []int, masks " + maskType + ", w, bias []float32, chans, rows, n, ldw, lsc, lsr, ldc, ldr int, lo, hi float32)")
	c.Pragma("noescape")
	order := []string{"runs of len(offs) masks dwrows (simd/_gen) describes. It computes, with",
		"fused multiply-adds in tap order,"}
	if a, b := dwAccumulators(s, 1); a[0] != b[0] {
		order = []string{"runs of len(offs) masks dwrows (simd/_gen) describes. It computes, with",
			"fused multiply-adds into the bias plus the even-numbered taps and into",
			"the sum of the odd-numbered taps (each in order), added at the end,"}
	}
	read := "src[c*lsc+r*lsr+offs[t]+i]"
	if stride == 2 {
		read = "src[c*lsc+r*lsr+offs[t]+2*i] // else adds w·0"
	}
	c.Doc(append(append([]string{
		name + " is the DWRows kernel of the " + s.name + " tier for horizontal stride",
		fmt.Sprintf("%d, unchecked: the caller guarantees what checkDWRows checks, that", stride),
		"every vector of a row but its first and last reads every tap in full,",
		"and that masks holds the three"},
		order...),
		"",
		"\ttaps := len(offs)",
		"\tfor c := 0; c < chans; c++ {",
		"\t\tfor r := 0; r < rows; r++ {",
		"\t\t\tfor i := 0; i < n; i++ {",
		"\t\t\t\ts := bias[c] // 0 when bias is empty",
		"\t\t\t\tfor t := 0; t < taps; t++ {",
		"\t\t\t\t\tif tap t's mask holds column i {",
		"\t\t\t\t\t\ts += w[c*ldw+t] * "+read,
		"\t\t\t\t\t}",
		"\t\t\t\t}",
		"\t\t\t\tif s < lo { s = lo }",
		"\t\t\t\tif s > hi { s = hi }",
		"\t\t\t\tdst[c*ldc+r*ldr+i] = s",
		"\t\t\t}",
		"\t\t}",
		"\t}",
	)...)
	dwrowsBody(c, s, stride, tab, maskBytes)
}

// dwrowsRows is the most vectors per row that dwrows computes several
// rows of per chunk (dwVectors/vr rows of vr vectors); longer rows go in
// chunks of dwVectors vectors along the row.
const dwrowsRows = 4

// dwrowsBody emits the kernel's code after its doc and mask table.
func dwrowsBody(c *build.Context, s isa, stride int, tab dwrowsConsts, maskBytes int) {
	avx512 := s.lanes == 16
	masks := tab.tab
	static := func(off int) operand.Mem {
		m := tab.tab
		m.Disp += off
		return m
	}
	var (
		cd, cs    = reg.RDI, reg.RSI // the chunk's dst and src
		left      = reg.RCX          // outputs left in the row (chunks along a row)
		p4        = reg.RCX          // row 4 of a chunk of rows (chunks of rows)
		t, off    = reg.RAX, reg.R12 // tap index (-taps..-1) and its offset
		poffs, pw = reg.R8, reg.R9   // one past the last offset and the channel's last weight
		scratch   = reg.R10
		pm0, pmL  = reg.R11, reg.R13 // one past the masks of the chunk's first and last vectors
		pb        = reg.R14          // the channel's bias (dwrmask's zero when bias is empty)
		rl, r3l   = reg.RDX, reg.RBX // lsr·4 and 3·lsr·4: the src rows of a chunk of rows
		vb        = s.vbytes()
		chunk     = dwVectors * s.lanes
		wv, wv2   = s.v(dwVectors), s.v(dwVectors + 1)
		vlo, vhi  reg.Register
		mA, mB    reg.Register // AVX2: a tap's first and last masks
		tmp       reg.Register // AVX2: a masked input
		// Stride 2: the two loads of a vector's inputs (combined into
		// tA), and AVX-512's permutation.
		tA, tB, idx reg.Register
	)
	if avx512 {
		vlo, vhi = s.v(dwVectors+2), s.v(dwVectors+3)
		idx, tA, tB = s.v(2*dwVectors+4), s.v(2*dwVectors+5), s.v(2*dwVectors+6)
	} else {
		mA, mB, tmp = s.v(dwVectors+2), s.v(dwVectors+3), s.v(dwVectors+4)
		vlo, vhi = s.v(dwVectors+5), s.v(dwVectors+6)
		tA, tB = mB, tmp // mA holds each load's mask in turn
	}
	// Locals: channels and rows left, the current channel's and row's
	// dst and src; AVX2: the address of the chunk's last store mask.
	chansLeft, rowsLeft := c.AllocLocal(8), c.AllocLocal(8)
	chanDst, chanSrc := c.AllocLocal(8), c.AllocLocal(8)
	rowDst, rowSrc := c.AllocLocal(8), c.AllocLocal(8)
	loop := dwLoop{chansLeft, rowsLeft, chanDst, chanSrc, rowDst, rowSrc}
	var pst operand.Mem
	if !avx512 {
		pst = c.AllocLocal(8)
	}
	taps := c.Param("offs").Len()

	loop.entry(c, scratch, vlo, vhi)
	if stride == 2 && avx512 {
		c.VMOVUPS(static(tab.perm), idx)
		c.KMOVW(static(tab.evenK), reg.K6)
	}
	c.Load(taps, t)
	loadBase(c, "offs", poffs)
	c.LEAQ(operand.Mem{Base: poffs, Index: t, Scale: 8}, poffs)
	loadBase(c, "w", pw)
	c.LEAQ(operand.Mem{Base: pw, Index: t, Scale: 4}, pw)
	c.Load(c.Param("lsr"), rl)
	c.SHLQ(operand.U8(2), rl)
	c.LEAQ(operand.Mem{Base: rl, Index: rl, Scale: 2}, r3l)
	loop.bases(c, tab, scratch, pb)

	c.Label("chan")
	c.Load(c.Param("rows"), scratch)
	c.MOVQ(scratch, rowsLeft)
	c.MOVQ(chanDst, scratch)
	c.MOVQ(scratch, rowDst)
	c.MOVQ(chanSrc, scratch)
	c.MOVQ(scratch, rowSrc)

	// tailMask sets the store mask of a last vector with (n-1)%lanes+1
	// lanes, n in r (which it keeps): K5, or the AVX2 mask's address in
	// pst; it uses t.
	tailMask := func(r reg.Register) {
		c.LEAQ(operand.Mem{Base: r, Disp: -1}, t)
		c.ANDQ(imm(s.lanes-1), t)
		c.LEAQ(masks, scratch)
		if avx512 {
			c.KMOVW(operand.Mem{Base: scratch, Index: t, Scale: 2, Disp: 2}, reg.K5)
		} else {
			c.NEGQ(t) // mask at dwrmask + 4*(lanes-r) = dwrmask + 4*(lanes-1) - 4*t
			c.LEAQ(operand.Mem{Base: scratch, Index: t, Scale: 4, Disp: 4 * (s.lanes - 1)}, scratch)
			c.MOVQ(scratch, pst)
		}
	}
	// maskEnds points pm0 and pmL past the first and the last masks.
	maskEnds := func() {
		c.Load(taps, scratch)
		loadBase(c, "masks", pm0)
		c.IMUL3Q(imm(maskBytes), scratch, scratch)
		c.ADDQ(scratch, pm0)
		c.LEAQ(operand.Mem{Base: pm0, Index: scratch, Scale: 1}, pmL)
	}

	c.Label("row")
	c.MOVQ(rowDst, cd)
	c.MOVQ(rowSrc, cs)
	c.Load(c.Param("n"), left)
	c.CMPQ(left, imm(dwrowsRows*s.lanes))
	c.JG(operand.LabelRef("long"))
	c.Commentf("Rows of vr <= %d vectors: chunks of %d/vr rows (fewer at the channel's end),", dwrowsRows, dwVectors)
	c.Comment("each vector of a row masked by its tap's first or last mask (both when vr = 1).")
	maskEnds()
	tailMask(left)
	c.MOVQ(rowsLeft, scratch)
	for vr := 1; vr <= dwrowsRows; vr++ {
		if vr > 1 {
			c.Label(fmt.Sprintf("vr%d", vr))
		}
		if vr < dwrowsRows {
			c.CMPQ(left, imm(vr*s.lanes))
			c.JG(operand.LabelRef(fmt.Sprintf("vr%d", vr+1)))
		}
		c.Commentf("Rows of %d vector(s): chunks of up to %d rows.", vr, dwVectors/vr)
		rmax := dwVectors / vr
		c.CMPQ(scratch, imm(rmax))
		c.JGE(operand.LabelRef(fmt.Sprintf("rows%dx%d", rmax, vr)))
		for r := rmax - 1; r >= 2; r-- {
			c.CMPQ(scratch, imm(r))
			c.JE(operand.LabelRef(fmt.Sprintf("rows%dx%d", r, vr)))
		}
		c.Comment("One row left: a chunk along the row, which it ends.")
		c.JMP(operand.LabelRef(fmt.Sprintf("vec%d", vr)))
	}

	c.Label("long")
	c.Comment("Longer rows: the first chunk masks its first vector with the first masks.")
	maskEnds()

	c.Label("chunk")
	c.CMPQ(left, imm(chunk))
	c.JG(operand.LabelRef("whole"))
	c.Comment("The row's last chunk: ceil(left/lanes) vectors, the last with",
		"r = (left-1)%lanes + 1 lanes, masked with the last masks.")
	c.Load(taps, scratch)
	loadBase(c, "masks", pmL)
	c.IMUL3Q(imm(2*maskBytes), scratch, scratch)
	c.ADDQ(scratch, pmL) // the last masks' end
	tailMask(left)
	c.LEAQ(operand.Mem{Base: left, Disp: s.lanes - 1}, t)
	c.SHRQ(operand.U8(log2(s.lanes)), t) // vectors
	for v := 1; v < dwVectors; v++ {
		c.CMPQ(t, imm(v))
		c.JE(operand.LabelRef(fmt.Sprintf("vec%d", v)))
	}
	c.JMP(operand.LabelRef(fmt.Sprintf("vec%d", dwVectors)))

	c.Label("whole")
	c.Commentf("A chunk of %d vectors that does not end the row: its last vector", dwVectors)
	c.Comment("reads and stores all lanes.")
	c.Load(taps, scratch)
	loadBase(c, "masks", pmL)
	c.IMUL3Q(imm(3*maskBytes), scratch, scratch)
	c.ADDQ(scratch, pmL) // the all-lanes masks' end
	if avx512 {
		c.KXNORW(reg.K5, reg.K5, reg.K5)
	} else {
		c.LEAQ(masks, scratch)
		c.MOVQ(scratch, pst)
	}
	c.JMP(operand.LabelRef(fmt.Sprintf("vec%d", dwVectors)))

	// Chunks of nr rows of nv vectors each: nr = 1 is a chunk along a
	// row (then next), nr > 1 a chunk of rows (then nextrows).
	type shape struct{ nr, nv int }
	var shapes []shape
	for nv := 1; nv <= dwVectors; nv++ {
		shapes = append(shapes, shape{1, nv})
	}
	for vr := 1; vr <= dwrowsRows; vr++ {
		for nr := 2; nr <= dwVectors/vr; nr++ {
			shapes = append(shapes, shape{nr, vr})
		}
	}
	for _, sh := range shapes {
		nr, nv := sh.nr, sh.nv
		if nr == 1 {
			c.Label(fmt.Sprintf("vec%d", nv))
			c.Commentf("Chunk of %d vector(s) along a row.", nv)
		} else {
			c.Label(fmt.Sprintf("rows%dx%d", nr, nv))
			c.Commentf("Chunk of %d rows of %d vector(s).", nr, nv)
		}
		accA, accB := dwAccumulators(s, nr*nv)
		c.VBROADCASTSS(mem(pb, 0), accA[0])
		for v := 0; v < nr*nv; v++ {
			if v > 0 {
				c.VMOVAPS(accA[0], accA[v])
			}
			if accB[v] != accA[v] {
				zero(c, s, accB[v])
			}
		}
		// in is the input of row k, vector v of the tap: off is its
		// offset (nr = 1) or the address of row 0 (nr > 1), p4 that
		// of row 4.
		in := func(k, v int) operand.Mem {
			d := v * vb * stride
			switch k {
			case 0:
				if nr == 1 {
					return operand.Mem{Base: cs, Index: off, Scale: 4, Disp: d}
				}
				return operand.Mem{Base: off, Disp: d}
			case 1:
				return operand.Mem{Base: off, Index: rl, Scale: 1, Disp: d}
			case 2:
				return operand.Mem{Base: off, Index: rl, Scale: 2, Disp: d}
			case 3:
				return operand.Mem{Base: off, Index: r3l, Scale: 1, Disp: d}
			case 4:
				return operand.Mem{Base: off, Index: rl, Scale: 4, Disp: d}
			case 5:
				return operand.Mem{Base: p4, Index: rl, Scale: 1, Disp: d}
			case 6:
				return operand.Mem{Base: p4, Index: rl, Scale: 2, Disp: d}
			}
			return operand.Mem{Base: p4, Index: r3l, Scale: 1, Disp: d}
		}
		// tap2 emits the loads and FMAs of a stride-2 tap (tap's
		// second half): per vector, the inputs are the even lanes of
		// the two vectors at in(k, v) and a vector further.
		tap2 := func(delta int, acc []reg.Register, wr reg.Register, in func(k, v int) operand.Mem) {
			second := func(m operand.Mem) operand.Mem { m.Disp += vb; return m }
			if avx512 {
				// K1, K2: the first vector's masks of the two loads;
				// K3, K4: the last vector's; K6 the even lanes.
				ent := func(p reg.Register, half int) operand.Mem {
					return operand.Mem{Base: p, Index: t, Scale: 4, Disp: maskBytes*delta + 2*half}
				}
				c.KMOVW(ent(pm0, 0), reg.K1)
				c.KMOVW(ent(pm0, 1), reg.K2)
				c.KMOVW(ent(pmL, 0), reg.K3)
				c.KMOVW(ent(pmL, 1), reg.K4)
				if nv == 1 {
					c.KANDW(reg.K3, reg.K1, reg.K1)
					c.KANDW(reg.K4, reg.K2, reg.K2)
				}
				for k := 0; k < nr; k++ {
					for v := 0; v < nv; v++ {
						a := acc[k*nv+v]
						switch {
						case v == 0:
							c.VMOVUPS_Z(in(k, v), reg.K1, tA)
							c.VMOVUPS_Z(second(in(k, v)), reg.K2, tB)
						case v == nv-1:
							c.VMOVUPS_Z(in(k, v), reg.K3, tA)
							c.VMOVUPS_Z(second(in(k, v)), reg.K4, tB)
						default:
							c.VMOVUPS(in(k, v), tA)
							c.VMOVUPS_Z(second(in(k, v)), reg.K6, tB)
						}
						c.VPERMT2PS(tB, idx, tA) // tA = even lanes of (tA, tB)
						c.VFMADD231PS(tA, wr, a)
					}
				}
				return
			}
			// AVX2: an entry is the two loads' masks, 32 bytes each,
			// at t·64 (scratch = t·16, scaled by 4). mA takes each
			// mask in turn.
			ent := func(p reg.Register, half int) operand.Mem {
				return operand.Mem{Base: p, Index: scratch, Scale: 4, Disp: maskBytes*delta + 32*half}
			}
			load := func(m operand.Mem, v, half int, dst reg.Register) {
				switch {
				case v == 0:
					c.VMOVUPS(ent(pm0, half), mA)
					if nv == 1 {
						c.VANDPS(ent(pmL, half), mA, mA)
					}
				case v == nv-1:
					c.VMOVUPS(ent(pmL, half), mA)
				case half == 0:
					c.VMOVUPS(m, dst)
					return
				default:
					c.VMOVUPS(static(tab.evenY), mA)
				}
				c.VMASKMOVPS(m, mA, dst)
			}
			for k := 0; k < nr; k++ {
				for v := 0; v < nv; v++ {
					load(in(k, v), v, 0, tA)
					load(second(in(k, v)), v, 1, tB)
					c.VSHUFPS(operand.U8(0x88), tB, tA, tA) // per 128-bit lane: a0 a2 b0 b2 | a4 a6 b4 b6
					c.VPERMPD(operand.U8(0xd8), tA, tA)     // a0 a2 a4 a6 b0 b2 b4 b6
					c.VFMADD231PS(tA, wr, acc[k*nv+v])
				}
			}
		}
		// tap emits the FMAs of the tap at index t (-taps..-1) plus
		// delta into acc, with its weight in wr; AVX-512 takes its
		// masks into k0 and k1.
		tap := func(delta int, acc []reg.Register, wr reg.Register, k0, k1 reg.Register) {
			c.MOVQ(operand.Mem{Base: poffs, Index: t, Scale: 8, Disp: 8 * delta}, off)
			if nr > 1 {
				c.LEAQ(operand.Mem{Base: cs, Index: off, Scale: 4}, off)
			}
			if nr > 5 {
				c.LEAQ(operand.Mem{Base: off, Index: rl, Scale: 4}, p4)
			}
			c.VBROADCASTSS(operand.Mem{Base: pw, Index: t, Scale: 4, Disp: 4 * delta}, wr)
			if stride == 2 {
				tap2(delta, acc, wr, in)
				return
			}
			if avx512 {
				c.KMOVW(operand.Mem{Base: pm0, Index: t, Scale: 2, Disp: 2 * delta}, k0)
				c.KMOVW(operand.Mem{Base: pmL, Index: t, Scale: 2, Disp: 2 * delta}, k1)
				if nv == 1 {
					c.KANDW(k1, k0, k0)
				}
				for k := 0; k < nr; k++ {
					for v := 0; v < nv; v++ {
						a := acc[k*nv+v]
						switch {
						case v == 0:
							c.VFMADD231PS(in(k, v), wr, k0, a)
						case v == nv-1:
							c.VFMADD231PS(in(k, v), wr, k1, a)
						default:
							c.VFMADD231PS(in(k, v), wr, a)
						}
					}
				}
				return
			}
			// AVX2: the masks of tap t are 32 bytes each, at t·32
			// (scratch = t·8, scaled by 4).
			c.VMOVUPS(operand.Mem{Base: pm0, Index: scratch, Scale: 4, Disp: maskBytes * delta}, mA)
			if nv == 1 {
				c.VANDPS(operand.Mem{Base: pmL, Index: scratch, Scale: 4, Disp: maskBytes * delta}, mA, mA)
			} else {
				c.VMOVUPS(operand.Mem{Base: pmL, Index: scratch, Scale: 4, Disp: maskBytes * delta}, mB)
			}
			for k := 0; k < nr; k++ {
				for v := 0; v < nv; v++ {
					a := acc[k*nv+v]
					switch {
					case v == 0:
						c.VMASKMOVPS(in(k, v), mA, tmp)
						c.VFMADD231PS(tmp, wr, a)
					case v == nv-1:
						c.VMASKMOVPS(in(k, v), mB, tmp)
						c.VFMADD231PS(tmp, wr, a)
					default:
						c.VFMADD231PS(in(k, v), wr, a)
					}
				}
			}
		}
		lbl := func(p string) string { return fmt.Sprintf("%s%dx%d", p, nr, nv) }
		c.Comment("Taps in pairs: t+2 indexes the pair after the current one.")
		c.Load(taps, t)
		c.NEGQ(t)
		c.ADDQ(imm(2), t)
		c.JG(operand.LabelRef(lbl("last")))
		c.Label(lbl("pairs"))
		if !avx512 {
			c.MOVQ(t, scratch)
			c.SHLQ(operand.U8(log2(maskBytes/4)), scratch)
		}
		tap(-2, accA, wv, reg.K1, reg.K2)
		tap(-1, accB, wv2, reg.K3, reg.K4)
		c.ADDQ(imm(2), t)
		c.JLE(operand.LabelRef(lbl("pairs")))
		c.Label(lbl("last"))
		c.SUBQ(imm(2), t)
		c.JE(operand.LabelRef(lbl("sum")))
		if !avx512 {
			c.MOVQ(t, scratch)
			c.SHLQ(operand.U8(log2(maskBytes/4)), scratch)
		}
		tap(0, accA, wv, reg.K1, reg.K2)
		c.Label(lbl("sum"))
		for v := 0; v < nr*nv; v++ {
			if accB[v] != accA[v] {
				c.VADDPS(accB[v], accA[v], accA[v])
			}
			c.VMAXPS(accA[v], vlo, accA[v]) // lo > s ? lo : s (NaN stays)
			c.VMINPS(accA[v], vhi, accA[v]) // hi < s ? hi : s
		}
		if !avx512 {
			c.MOVQ(pst, scratch)
			c.VMOVUPS(mem(scratch, 0), mA)
		}
		// Row k of dst: cd + k·D, D = ldr·4 in scratch, 3D in off, and
		// p4 = cd + 4D.
		if nr > 1 {
			c.Load(c.Param("ldr"), scratch)
			c.SHLQ(operand.U8(2), scratch)
			c.LEAQ(operand.Mem{Base: scratch, Index: scratch, Scale: 2}, off)
			c.LEAQ(operand.Mem{Base: cd, Index: scratch, Scale: 4}, p4)
		}
		outAt := func(k, v int) operand.Mem {
			d := v * vb
			switch k {
			case 0:
				return mem(cd, d)
			case 1:
				return operand.Mem{Base: cd, Index: scratch, Scale: 1, Disp: d}
			case 2:
				return operand.Mem{Base: cd, Index: scratch, Scale: 2, Disp: d}
			case 3:
				return operand.Mem{Base: cd, Index: off, Scale: 1, Disp: d}
			case 4:
				return mem(p4, d)
			case 5:
				return operand.Mem{Base: p4, Index: scratch, Scale: 1, Disp: d}
			case 6:
				return operand.Mem{Base: p4, Index: scratch, Scale: 2, Disp: d}
			}
			return operand.Mem{Base: p4, Index: off, Scale: 1, Disp: d}
		}
		for k := 0; k < nr; k++ {
			for v := 0; v < nv; v++ {
				a, out := accA[k*nv+v], outAt(k, v)
				switch {
				case v < nv-1:
					c.VMOVUPS(a, out)
				case avx512:
					c.VMOVUPS(a, reg.K5, out)
				default:
					c.VMASKMOVPS(a, mA, out)
				}
			}
		}
		if nr == 1 {
			c.JMP(operand.LabelRef("next"))
		} else {
			c.MOVQ(operand.U32(nr), scratch)
			c.JMP(operand.LabelRef("nextrows"))
		}
	}

	c.Label("next")
	c.ADDQ(imm(dwVectors*vb), cd)
	c.ADDQ(imm(dwVectors*vb*stride), cs)
	c.SUBQ(imm(chunk), left)
	c.JLE(operand.LabelRef("rowend"))
	c.Comment("Later chunks read the first vector in full: the all-lanes masks.")
	c.Load(taps, scratch)
	loadBase(c, "masks", pm0)
	c.IMUL3Q(imm(3*maskBytes), scratch, scratch)
	c.ADDQ(scratch, pm0)
	c.JMP(operand.LabelRef("chunk"))

	c.Label("rowend")
	c.MOVQ(operand.U32(1), scratch)

	c.Label("nextrows")
	c.Comment("scratch rows done: advance the row pointers.")
	loop.next(c, "row", scratch, off, rl, pw, pb)
}

// dwLoop is the loops over channels and rows of the depthwise kernels
// (dwrows, dw3x3), in locals: channels and rows left, and the current
// channel's and row's dst and src.
type dwLoop struct {
	chansLeft, rowsLeft, chanDst, chanSrc, rowDst, rowSrc operand.Mem
}

// entry emits the kernels' start: to "done" unless chans, rows and n are
// positive, chansLeft set, and lo and hi broadcast into vlo and vhi.
func (l dwLoop) entry(c *build.Context, scratch, vlo, vhi reg.Register) {
	c.Load(c.Param("chans"), scratch)
	c.TESTQ(scratch, scratch)
	c.JLE(operand.LabelRef("done"))
	c.MOVQ(scratch, l.chansLeft)
	c.Load(c.Param("rows"), scratch)
	c.TESTQ(scratch, scratch)
	c.JLE(operand.LabelRef("done"))
	c.Load(c.Param("n"), scratch)
	c.TESTQ(scratch, scratch)
	c.JLE(operand.LabelRef("done"))
	c.VBROADCASTSS(paramAddr(c, "lo"), vlo)
	c.VBROADCASTSS(paramAddr(c, "hi"), vhi)
}

// bases emits the first channel's dst and src into chanDst and chanSrc,
// and pb pointing at bias, or at tab's zero when bias is empty.
func (l dwLoop) bases(c *build.Context, tab dwrowsConsts, scratch, pb reg.Register) {
	loadBase(c, "dst", scratch)
	c.MOVQ(scratch, l.chanDst)
	loadBase(c, "src", scratch)
	c.MOVQ(scratch, l.chanSrc)
	c.LEAQ(tab.tab, pb)
	c.LEAQ(mem(pb, tab.zero), pb)
	c.Load(c.Param("bias").Len(), scratch)
	c.TESTQ(scratch, scratch)
	c.JE(operand.LabelRef("chan"))
	loadBase(c, "bias", pb)
}

// next emits the end of the row and channel loops, with scratch holding
// the rows just done: rowSrc advances by rl bytes a row and rowDst by ldr
// floats a row (tmp is clobbered), back to rowLabel while rows are left;
// then pw advances by ldw floats, pb by one unless bias is empty, and the
// channel's dst and src by ldc and lsc floats, back to "chan" while
// channels are left; at "done" the kernel returns.
func (l dwLoop) next(c *build.Context, rowLabel string, scratch, tmp, rl, pw, pb reg.Register) {
	c.SUBQ(scratch, l.rowsLeft)
	c.MOVQ(scratch, tmp)
	c.IMULQ(rl, tmp)
	c.ADDQ(tmp, l.rowSrc)
	c.Load(c.Param("ldr"), tmp)
	c.SHLQ(operand.U8(2), tmp)
	c.IMULQ(scratch, tmp)
	c.ADDQ(tmp, l.rowDst)
	c.CMPQ(l.rowsLeft, imm(0))
	c.JG(operand.LabelRef(rowLabel))

	c.Comment("Next channel: its weights, bias (unless empty), output and input.")
	c.Load(c.Param("ldw"), scratch)
	c.LEAQ(operand.Mem{Base: pw, Index: scratch, Scale: 4}, pw)
	c.Load(c.Param("bias").Len(), scratch)
	c.TESTQ(scratch, scratch)
	c.JE(operand.LabelRef("nobias"))
	c.ADDQ(operand.U8(4), pb)
	c.Label("nobias")
	c.Load(c.Param("ldc"), scratch)
	c.SHLQ(operand.U8(2), scratch)
	c.ADDQ(scratch, l.chanDst)
	c.Load(c.Param("lsc"), scratch)
	c.SHLQ(operand.U8(2), scratch)
	c.ADDQ(scratch, l.chanSrc)
	c.DECQ(l.chansLeft)
	c.JNE(operand.LabelRef("chan"))

	c.Label("done")
	c.VZEROUPPER()
	c.RET()
}
