//go:build !purego

package simd

import "unsafe"

// gemvNEON is the neon tier's Gemv: gemvNEONAsm for one vector at a time,
// behind checkGemv (the assembly needs at least one row and one column to
// point at).
func gemvNEON(y []float32, ldy int, w []float32, ldw int, x []float32, ldx int, m, n, k int) {
	checkGemv(len(y), len(w), len(x), ldy, ldw, ldx, m, n, k)
	if n == 0 {
		return
	}
	for v := 0; v < m; v++ {
		yv := y[v*ldy : v*ldy+n]
		if k == 0 {
			clear(yv)
			continue
		}
		gemvNEONAsm(unsafe.SliceData(yv), unsafe.SliceData(w), unsafe.SliceData(x[v*ldx:]), n, k, ldw)
	}
}

// gemvNEONAsm is the f32-gemv-4x1-neon kernel for one vector, unchecked:
// y, w and x point at n, (n-1)*ldw+k and k floats, n, k >= 1, ldw >= k. It
// computes, with fused multiply-adds in the order f32_gemv_4x1_neon_arm64.s
// describes,
//
//	for i := 0; i < n; i++ {
//		s := float32(0)
//		for p := 0; p < k; p++ {
//			s += w[i*ldw+p] * x[p]
//		}
//		y[i] = s
//	}
//
//go:noescape
func gemvNEONAsm(y, w, x *float32, n, k, ldw int)
