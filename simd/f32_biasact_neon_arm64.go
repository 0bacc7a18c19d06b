//go:build !purego

package simd

import "unsafe"

// biasActNEON is the neon tier's BiasAct: the assembly handles the largest
// multiple of 4 elements and Go the last 0-3, with the same definitions.
// Activation kinds it does not know go to biasActGeneric.
func biasActNEON(x []float32, bias float32, act Act) {
	n := len(x) &^ 3
	p := unsafe.SliceData(x)
	switch act.Kind {
	case ActNone:
		biasNoneNEON(p, n, bias)
	case ActRelu:
		biasReluNEON(p, n, bias)
	case ActClip:
		biasClipNEON(p, n, bias, act.Alpha, act.Beta)
	case ActLeakyRelu:
		biasLeakyNEON(p, n, bias, act.Alpha)
	default:
		biasActGeneric(x, bias, act)
		return
	}
	tail := x[n:]
	for i, v := range tail {
		tail[i] = act.Apply(v + bias)
	}
}

// biasNoneNEON implements, for n a multiple of 4 and x pointing at n floats,
//
//	for i := range n {
//		x[i] += bias
//	}
//
//go:noescape
func biasNoneNEON(x *float32, n int, bias float32)

// biasReluNEON implements, for n a multiple of 4 and x pointing at n floats,
//
//	for i := range n {
//		v := x[i] + bias
//		if v < 0 { // NaN and -0 pass through
//			v = 0
//		}
//		x[i] = v
//	}
//
//go:noescape
func biasReluNEON(x *float32, n int, bias float32)

// biasClipNEON implements, for n a multiple of 4 and x pointing at n floats,
//
//	for i := range n {
//		v := x[i] + bias
//		if v < lo {
//			v = lo
//		} else if v > hi {
//			v = hi
//		}
//		x[i] = v
//	}
//
//go:noescape
func biasClipNEON(x *float32, n int, bias, lo, hi float32)

// biasLeakyNEON implements, for n a multiple of 4 and x pointing at n floats,
//
//	for i := range n {
//		v := x[i] + bias
//		if v < 0 {
//			v *= alpha
//		}
//		x[i] = v
//	}
//
//go:noescape
func biasLeakyNEON(x *float32, n int, bias, alpha float32)
