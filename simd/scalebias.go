package simd

// scaleBiasActGeneric is the portable ScaleBiasAct.
func scaleBiasActGeneric(dst, src []float32, scale, bias float32, act Act) {
	src = src[:len(dst)] // panics when src is short
	switch act.Kind {
	case ActNone:
		for i, v := range src {
			dst[i] = v*scale + bias
		}
	case ActRelu:
		for i, v := range src {
			if y := v*scale + bias; y < 0 { // not max(): it would turn -0 into +0
				dst[i] = 0
			} else {
				dst[i] = y
			}
		}
	default:
		for i, v := range src {
			dst[i] = act.Apply(v*scale + bias)
		}
	}
}
