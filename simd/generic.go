package simd

// genericKernels is the pure-Go table every tier starts from.
func genericKernels() *Kernels {
	return &Kernels{
		Tier:    Generic,
		Gemm:    GemmKernel{ID: "f32-gemm-4x8-generic", MR: 4, NR: 8, Fn: gemm4x8Generic},
		BiasAct: biasActGeneric,
		AddTo:   addToGeneric,
	}
}

func biasActGeneric(x []float32, bias float32, act Act) {
	switch act.Kind {
	case ActNone:
		for i := range x {
			x[i] += bias
		}
	case ActRelu:
		for i, v := range x {
			if y := v + bias; y < 0 { // not max(): it would turn -0 into +0
				x[i] = 0
			} else {
				x[i] = y
			}
		}
	default:
		for i, v := range x {
			x[i] = act.Apply(v + bias)
		}
	}
}

func addToGeneric(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// gemm4x8Generic is the portable GemmKernel: a 4×8 tile kept in locals so
// the compiler can hold it in registers.
func gemm4x8Generic(k int, a, b, c []float32, ldc int, acc bool) {
	var t [4][8]float32
	a = a[:k*4]
	b = b[:k*8]
	for p := 0; p < k; p++ {
		ap := a[p*4 : p*4+4 : p*4+4]
		bp := b[p*8 : p*8+8 : p*8+8]
		for i := 0; i < 4; i++ {
			ai := ap[i]
			row := &t[i]
			row[0] += ai * bp[0]
			row[1] += ai * bp[1]
			row[2] += ai * bp[2]
			row[3] += ai * bp[3]
			row[4] += ai * bp[4]
			row[5] += ai * bp[5]
			row[6] += ai * bp[6]
			row[7] += ai * bp[7]
		}
	}
	for i := 0; i < 4; i++ {
		row := c[i*ldc : i*ldc+8 : i*ldc+8]
		if acc {
			for j := range row {
				row[j] += t[i][j]
			}
		} else {
			copy(row, t[i][:])
		}
	}
}
