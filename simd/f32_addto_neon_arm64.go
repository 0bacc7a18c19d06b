//go:build !purego

package simd

import "unsafe"

// addToNEON is the neon tier's AddTo: the assembly handles the largest
// multiple of 4 elements and Go the last 0-3.
func addToNEON(dst, src []float32) {
	src = src[:len(dst)]
	n := len(dst) &^ 3
	addToNEONAsm(unsafe.SliceData(dst), unsafe.SliceData(src), n)
	for i := n; i < len(dst); i++ {
		dst[i] += src[i]
	}
}

// addToNEONAsm implements, for n a multiple of 4 and dst and src pointing
// at n floats each,
//
//	for i := range n {
//		dst[i] += src[i]
//	}
//
//go:noescape
func addToNEONAsm(dst, src *float32, n int)
