//go:build !purego

package simd

import "unsafe"

// gemm8x8NEON is the NEON GemmKernel (f32-gemm-8x8-neon): MR = NR = 8. It
// checks the panel and tile bounds, as gemm4x8Generic does, then runs the
// assembly.
func gemm8x8NEON(k int, a, b, c []float32, ldc int, acc bool) {
	a = a[:k*8]
	b = b[:k*8]
	c = c[:7*ldc+8]
	gemm8x8NEONAsm(k, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, acc)
}

// gemm8x8NEONAsm computes one 8×8 tile; a and b hold k·8 floats each (a
// and b are not read when k is 0) and c has room for 7*ldc+8 floats. It
// implements
//
//	var t [8][8]float32
//	for p := 0; p < k; p++ {
//		for i := 0; i < 8; i++ {
//			for j := 0; j < 8; j++ {
//				t[i][j] += a[p*8+i] * b[p*8+j] // fused multiply-add
//			}
//		}
//	}
//	for i := 0; i < 8; i++ {
//		for j := 0; j < 8; j++ {
//			if acc {
//				c[i*ldc+j] += t[i][j]
//			} else {
//				c[i*ldc+j] = t[i][j]
//			}
//		}
//	}
//
//go:noescape
func gemm8x8NEONAsm(k int, a, b, c *float32, ldc int, acc bool)
