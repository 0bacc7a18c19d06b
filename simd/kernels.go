package simd

// Kernels is one tier's dispatch table. Every field is set in every tier
// (the generic implementation fills any slot a tier does not improve).
type Kernels struct {
	Tier Tier

	// Gemm is the f32 GEMM micro-kernel of this tier: see GemmKernel.
	Gemm GemmKernel

	// BiasAct applies x[i] = act(x[i] + bias) in place: the fused epilogue
	// of a convolution's output channel.
	BiasAct func(x []float32, bias float32, act Act)

	// AddTo computes dst[i] += src[i] (a fused residual Add); len(src) >= len(dst).
	AddTo func(dst, src []float32)
}

// ActKind selects a fused activation.
type ActKind int

// Fused activations; Alpha and Beta give their parameters.
const (
	ActNone      ActKind = iota
	ActRelu              // max(x, 0)
	ActClip              // min(max(x, Alpha), Beta): ReLU6 is Clip(0, 6)
	ActLeakyRelu         // x if x >= 0 else Alpha*x
)

// Act is a fused activation with its parameters.
type Act struct {
	Kind        ActKind
	Alpha, Beta float32
}

// Apply computes the activation of one value (the definition every kernel
// must match).
func (a Act) Apply(x float32) float32 {
	switch a.Kind {
	case ActRelu:
		if x < 0 { // NaN passes through, as in max(NaN, 0) = NaN
			return 0
		}
	case ActClip:
		if x < a.Alpha {
			return a.Alpha
		}
		if x > a.Beta {
			return a.Beta
		}
	case ActLeakyRelu:
		if x < 0 {
			return a.Alpha * x
		}
	}
	return x
}

// GemmKernel computes one MR×NR tile of C = A·B from packed panels:
//
//	for i < MR, j < NR:
//	    c[i*ldc+j] = (acc ? c[i*ldc+j] : 0) + Σ_{p<k} a[p*MR+i] * b[p*NR+j]
//
// a holds k·MR floats (A panel, k-major: the MR values of column p are
// contiguous), b holds k·NR floats (B panel, k-major). k may be 0. The
// driver pads partial panels with zeros, so the kernel always computes a
// full tile; c must have room for (MR-1)*ldc+NR floats.
type GemmKernel struct {
	ID     string // e.g. "f32-gemm-6x16-avx2"
	MR, NR int
	Fn     func(k int, a, b, c []float32, ldc int, acc bool)
}
