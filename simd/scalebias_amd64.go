//go:build amd64 && !purego

package simd

// scaleBiasActAVX2 is the avx2 tier's ScaleBiasAct: f32ScaleBiasReluAVX2Asm
// for Relu, else f32ScaleBiasAVX2Asm followed by the tier's BiasAct for
// any other activation (a second pass over dst while it is in cache).
func scaleBiasActAVX2(dst, src []float32, scale, bias float32, act Act) {
	src = src[:len(dst)] // panics like the generic ScaleBiasAct when src is short
	switch act.Kind {
	case ActRelu:
		f32ScaleBiasReluAVX2Asm(dst, src, scale, bias)
	default:
		f32ScaleBiasAVX2Asm(dst, src, scale, bias)
		if act.Kind != ActNone {
			biasActAVX2(dst, 0, act)
		}
	}
}

// scaleBiasActAVX512 is the avx512 tier's ScaleBiasAct, as scaleBiasActAVX2.
func scaleBiasActAVX512(dst, src []float32, scale, bias float32, act Act) {
	src = src[:len(dst)]
	switch act.Kind {
	case ActRelu:
		f32ScaleBiasReluAVX512Asm(dst, src, scale, bias)
	default:
		f32ScaleBiasAVX512Asm(dst, src, scale, bias)
		if act.Kind != ActNone {
			biasActAVX512(dst, 0, act)
		}
	}
}
