//go:build !purego

package simd

import "unsafe"

// dwConvNEON is the neon tier's DWConv: the assembly computes the largest
// multiple of 4 outputs of each row and Go the last 0-3, summing the taps
// in the same order.
func dwConvNEON(dst, src []float32, offs []int, w, bias []float32, rows, n, ldd, lds int) {
	taps := checkDWConv(len(dst), len(src), offs, len(w), len(bias), rows, n, ldd, lds)
	if rows == 0 || n == 0 {
		return
	}
	n4 := n &^ 3
	if n4 > 0 {
		var pb *float32
		if bias != nil {
			pb = unsafe.SliceData(bias)
		}
		dwConvNEONAsm(unsafe.SliceData(dst), unsafe.SliceData(src), unsafe.SliceData(offs), unsafe.SliceData(w), pb,
			taps, rows, n4, ldd, lds)
	}
	for r := 0; r < rows; r++ {
		d, s, wr := dst[r*ldd:], src[r*lds:], w[r*taps:(r+1)*taps]
		for i := n4; i < n; i++ {
			var v float32
			if bias != nil {
				v = bias[r]
			}
			for t, o := range offs {
				v += wr[t] * s[o+i]
			}
			d[i] = v
		}
	}
}

// dwConvNEONAsm implements, for n a multiple of 4 (rows and n > 0), offs
// pointing at taps values, w at rows×taps, bias at rows or nil, and dst
// and src at every element the loop touches,
//
//	for r := range rows {
//		for i := range n {
//			s := bias[r] // 0 when bias is nil
//			for t := range taps {
//				s += w[r*taps+t] * src[r*lds+offs[t]+i] // fused multiply-add
//			}
//			dst[r*ldd+i] = s
//		}
//	}
//
//go:noescape
func dwConvNEONAsm(dst, src *float32, offs *int, w, bias *float32, taps, rows, n, ldd, lds int)
