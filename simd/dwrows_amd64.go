//go:build amd64 && !purego

package simd

import "math"

// dwRowsMaxTaps bounds the taps the assembly DWRows kernels take (the
// masks live on the stack); larger kernels run the generic loops.
const dwRowsMaxTaps = 32

// dwRowsAsm reports whether the assembly DWRows of a tier with vectors of
// lanes floats computes b (checked): few enough taps, and each tap's
// column range leaves every vector of a row but the first and the last
// in full (dwRowMaskable).
func dwRowsAsm(b *DWBlock, taps, lanes int) bool {
	if taps > dwRowsMaxTaps {
		return false
	}
	for t := 0; t < taps; t++ {
		if !dwRowMaskable(b.Lo[t], b.Hi[t], b.N, lanes) {
			return false
		}
	}
	return true
}

// dwLaneMask is the mask of the lanes j < lanes of the vector at column
// i0 whose column i0+j is in [lo, hi).
func dwLaneMask(lo, hi, i0, lanes int) uint32 {
	a, e := min(max(lo-i0, 0), lanes), min(max(hi-i0, 0), lanes)
	if a >= e {
		return 0
	}
	return (1<<e - 1) &^ (1<<a - 1)
}

// dw3x3Grid reports whether b's taps (checked, at stride 1) are a 3×3
// kernel on consecutive source rows, which f32DW3x3AVX512Asm computes:
// tap 3ky+kx at Offs[kx] + ky·SrcRow with the column range of tap kx.
func dw3x3Grid(b *DWBlock, taps int) bool {
	if taps != 9 || b.stride() != 1 || b.SrcRow > math.MaxInt/4 {
		return false
	}
	for t := 3; t < 9; t++ {
		x := t % 3
		if b.Offs[t] != b.Offs[x]+t/3*b.SrcRow || b.Lo[t] != b.Lo[x] || b.Hi[t] != b.Hi[x] {
			return false
		}
	}
	return true
}

// dwSpread moves bit j of the low 8 bits of m to bit 2j: the mask of
// the even input lanes that the outputs in m read at stride 2.
func dwSpread(m uint32) uint32 { return uint32(dwSpreadTab[m&0xff]) }

// dwSpreadTab is dwSpread of each byte.
var dwSpreadTab = func() (t [256]uint16) {
	for m := range t {
		for j := 0; j < 8; j++ {
			t[m] |= uint16(m>>j&1) << (2 * j)
		}
	}
	return t
}()

// dwRowsStart begins a tier's DWRows for vectors of lanes floats: it
// checks the call (checkDWRows) and does what the assembly does not, an
// empty block (nothing to write) or a stride above 2 or block out of the
// assembly's range (the generic loops), returning done then. Otherwise it
// returns the taps, the horizontal stride and the first output of a row's
// last vector.
func dwRowsStart(dst, src, w, bias []float32, b *DWBlock, lanes int) (taps, st, last int, done bool) {
	taps = checkDWRows(len(dst), len(src), len(w), len(bias), b)
	if b.Chans == 0 || b.Rows == 0 || b.N == 0 {
		return 0, 0, 0, true
	}
	st = b.stride()
	if st > 2 || !dwRowsAsm(b, taps, lanes) {
		dwRowsGeneric(dst, src, w, bias, b)
		return 0, 0, 0, true
	}
	return taps, st, (b.N - 1) / lanes * lanes, false
}

// dwRowsAVX512 is the avx512 tier's DWRows (f32-dwrows-avx512):
// f32DW3x3AVX512Asm (f32-dw3x3-avx512) for 3×3 kernels on consecutive
// source rows, else f32DWRowsAVX512Asm (stride 1) or
// f32DWRowsS2AVX512Asm (stride 2), behind checkDWRows, with the masks of
// each tap's (or kernel column's) first and last vectors of a row; other
// strides run the generic loops.
func dwRowsAVX512(dst, src, w, bias []float32, b *DWBlock) {
	const lanes = 16
	taps, st, last, done := dwRowsStart(dst, src, w, bias, b, lanes)
	if done {
		return
	}
	if dw3x3Grid(b, taps) {
		var m [9]uint16
		for x := 0; x < 3; x++ {
			m[x] = uint16(dwLaneMask(b.Lo[x], b.Hi[x], 0, lanes))
			m[3+x] = uint16(dwLaneMask(b.Lo[x], b.Hi[x], last, lanes))
			m[6+x] = 1<<lanes - 1
		}
		f32DW3x3AVX512Asm(dst, src, b.Offs[:3], m[:], w, bias, b.Chans, b.Rows, b.N, b.LDW,
			b.SrcChan, b.SrcRow, b.DstChan, b.DstRow, b.Min, b.Max)
		return
	}
	if st == 1 {
		var m [3 * dwRowsMaxTaps]uint16
		for t := 0; t < taps; t++ {
			m[t] = uint16(dwLaneMask(b.Lo[t], b.Hi[t], 0, lanes))
			m[taps+t] = uint16(dwLaneMask(b.Lo[t], b.Hi[t], last, lanes))
			m[2*taps+t] = 1<<lanes - 1
		}
		f32DWRowsAVX512Asm(dst, src, b.Offs, m[:3*taps], w, bias, b.Chans, b.Rows, b.N, b.LDW,
			b.SrcChan, b.SrcRow, b.DstChan, b.DstRow, b.Min, b.Max)
		return
	}
	// Stride 2: per tap the masks of the two loads, the even lanes of
	// the outputs' inputs.
	var m [3 * 2 * dwRowsMaxTaps]uint16
	for t := 0; t < taps; t++ {
		for r, o := range [2]uint32{dwLaneMask(b.Lo[t], b.Hi[t], 0, lanes), dwLaneMask(b.Lo[t], b.Hi[t], last, lanes)} {
			m[2*(r*taps+t)] = uint16(dwSpread(o))
			m[2*(r*taps+t)+1] = uint16(dwSpread(o >> 8))
		}
		m[2*(2*taps+t)], m[2*(2*taps+t)+1] = 1<<lanes-1, 0x5555
	}
	f32DWRowsS2AVX512Asm(dst, src, b.Offs, m[:6*taps], w, bias, b.Chans, b.Rows, b.N, b.LDW,
		b.SrcChan, b.SrcRow, b.DstChan, b.DstRow, b.Min, b.Max)
}

// dwRowsAVX2 is the avx2 tier's DWRows (f32-dwrows-avx2): f32DWRowsAVX2Asm
// (stride 1) or f32DWRowsS2AVX2Asm (stride 2) behind checkDWRows, with
// the VMASKMOVPS masks of each tap's first and last vectors of a row;
// other strides run the generic loops.
func dwRowsAVX2(dst, src, w, bias []float32, b *DWBlock) {
	const lanes = 8
	taps, st, last, done := dwRowsStart(dst, src, w, bias, b, lanes)
	if done {
		return
	}
	// An entry is stride masks of 8 int32: set the lanes of bits.
	set := func(e []int32, bits uint32) {
		for j := range e {
			e[j] = -int32(bits >> j & 1)
		}
	}
	var m [3 * 2 * dwRowsMaxTaps * lanes]int32
	ent := st * lanes
	for t := 0; t < taps; t++ {
		for r, o := range [2]uint32{dwLaneMask(b.Lo[t], b.Hi[t], 0, lanes), dwLaneMask(b.Lo[t], b.Hi[t], last, lanes)} {
			e := m[(r*taps+t)*ent:][:ent]
			if st == 1 {
				set(e, o)
			} else {
				set(e[:lanes], dwSpread(o))
				set(e[lanes:], dwSpread(o>>4))
			}
		}
		e := m[(2*taps+t)*ent:][:ent]
		set(e[:lanes], 1<<lanes-1)
		if st == 2 {
			set(e[lanes:], 0x55)
		}
	}
	fn := f32DWRowsAVX2Asm
	if st == 2 {
		fn = f32DWRowsS2AVX2Asm
	}
	fn(dst, src, b.Offs, m[:3*taps*ent], w, bias, b.Chans, b.Rows, b.N, b.LDW,
		b.SrcChan, b.SrcRow, b.DstChan, b.DstRow, b.Min, b.Max)
}
