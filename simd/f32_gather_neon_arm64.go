//go:build !purego

package simd

import "unsafe"

// gatherNEON is the neon tier's Gather: for stride 2, the assembly copies
// the largest multiple of 4 outputs of each row whose pairs of inputs lie
// inside src and Go the rest; other strides run the portable loops.
func gatherNEON(dst, src []float32, rows, n, ldd, lds, stride int) {
	if stride != 2 {
		gatherGeneric(dst, src, rows, n, ldd, lds, stride)
		return
	}
	checkGather(len(dst), len(src), rows, n, ldd, lds, stride)
	if n == 0 {
		return
	}
	for r := 0; r < rows; r++ {
		d, s := dst[r*ldd:r*ldd+n], src[r*lds:r*lds+2*n-1]
		n4 := (n - 1) &^ 3 // 2*n4 <= len(s)
		if n4 > 0 {
			gather2NEONAsm(unsafe.SliceData(d), unsafe.SliceData(s), n4)
		}
		for i := n4; i < n; i++ {
			d[i] = s[2*i]
		}
	}
}

// gather2NEONAsm implements, for n a multiple of 4, dst pointing at n
// floats and src at 2n,
//
//	for i := range n {
//		dst[i] = src[2*i]
//	}
//
//go:noescape
func gather2NEONAsm(dst, src *float32, n int)
