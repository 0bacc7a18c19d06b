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

	// DWConv computes rows×n outputs of a depthwise convolution, one row
	// per channel, as weighted sums of shifted runs of src (one tap per
	// offset) plus the channel's bias:
	//
	//	taps := len(offs)
	//	for r := 0; r < rows; r++ {
	//		for i := 0; i < n; i++ {
	//			s := bias[r] // 0 when bias is nil
	//			for t := 0; t < taps; t++ {
	//				s += w[r*taps+t] * src[r*lds+offs[t]+i]
	//			}
	//			dst[r*ldd+i] = s
	//		}
	//	}
	//
	// The order in which the taps are summed, and whether they are fused
	// multiply-adds, is the tier's own, but the same for every output
	// however a caller cuts its rows and columns into calls. It panics unless rows, n, lds and
	// every offs[t] are >= 0, ldd >= n, and (when rows and n are > 0) w
	// holds rows×taps weights, bias is nil or holds rows values, and dst
	// and src hold every element the loop touches. dst must not overlap
	// src. The convolution feeds it zero-padded planes split by stride
	// phase, where each output row is one run of such a sum (see
	// depthwiseTask).
	DWConv func(dst, src []float32, offs []int, w, bias []float32, rows, n, ldd, lds int)

	// Gather copies rows of every stride-th float:
	//
	//	for r := 0; r < rows; r++ {
	//		for i := 0; i < n; i++ {
	//			dst[r*ldd+i] = src[r*lds+i*stride]
	//		}
	//	}
	//
	// It panics unless rows, n and lds are >= 0, stride >= 1, ldd >= n,
	// and (when rows and n are > 0) dst and src hold every element the
	// loop touches. dst must not overlap src. Tiers vectorize strides 1
	// and 2: the depthwise convolution builds its phase planes with it
	// (stride 2 splits a row by horizontal stride phase) and copies its
	// wide output out.
	Gather func(dst, src []float32, rows, n, ldd, lds, stride int)
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
