package simd

import "math"

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

	// DWRows computes a block of depthwise-convolution outputs straight
	// into their planes, rows of several channels, skipping the taps that
	// fall in the zero padding, with the bias and a clamp (ReLU, ReLU6,
	// none) fused: see DWBlock for the loop. The order in which each
	// output's taps are summed, and whether they are fused multiply-adds,
	// is the tier's own, but the same for every output however a caller
	// cuts the channels and rows into calls. It panics unless b is
	// consistent and the slices hold what it touches (checkDWRows). dst
	// must not overlap src.
	DWRows func(dst, src, w, bias []float32, b *DWBlock)

	// Winograd are the input and output transforms of the Winograd
	// convolutions F(2×2, 3×3) (index 0) and F(4×4, 3×3) (index 1): see
	// WinoTransforms.
	Winograd [2]WinoTransforms

	// MaxPool2D computes planes of a 2-D max pooling of geometry g (see
	// Pool2D), plane p of src (H×W floats at p*H*W) giving plane p of dst
	// (OH×OW at p*OH*OW):
	//
	//	dst[p*OH*OW+oy*OW+ox] = max over the in-plane taps (iy, ix) of
	//	                        src[p*H*W+iy*W+ix]  (-Inf when there is none)
	//
	// A NaN tap makes the output NaN; which zero the max of -0 and +0 is
	// is the tier's own. tmp is scratch of at least g.TempLen() floats. It
	// panics unless g is valid, planes >= 0 and the slices hold what the
	// planes need. dst must not overlap src or tmp.
	MaxPool2D func(dst, src, tmp []float32, planes int, g *Pool2D)

	// AvgPool2D is MaxPool2D with each output the sum of its in-plane
	// taps (0 when there is none) times scale[oy*OW+ox] (the reciprocal
	// of its divisor): scale holds at least OH×OW values. The order of
	// the sum is the tier's own.
	AvgPool2D func(dst, src, tmp, scale []float32, planes int, g *Pool2D)

	// Gemv computes the dot products of the n rows of the row-major
	// matrix w with each of m vectors (a fully connected layer on m
	// inputs; see GemvBatch):
	//
	//	for v := 0; v < m; v++ {
	//		for i := 0; i < n; i++ {
	//			s := float32(0)
	//			for p := 0; p < k; p++ {
	//				s += w[i*ldw+p] * x[v*ldx+p]
	//			}
	//			y[v*ldy+i] = s
	//		}
	//	}
	//
	// Tiers multiply each weight they load with several vectors at once.
	// The order in which each sum is taken, and whether it uses fused
	// multiply-adds, is the tier's own and may depend on m, but not on how
	// a caller cuts the rows into calls. It panics unless m, n, k >= 0,
	// ldw >= k, and (when m, n > 0) ldy >= n and ldx >= k where m > 1,
	// len(y) >= (m-1)*ldy+n, len(x) >= (m-1)*ldx+k, and (when k > 0 too)
	// len(w) >= (n-1)*ldw+k. y must not overlap w or x.
	Gemv func(y []float32, ldy int, w []float32, ldw int, x []float32, ldx int, m, n, k int)

	// ScaleBiasAct applies a scale, a bias and an activation (a per-channel
	// affine map: inference BatchNormalization, or a Mul and an Add by
	// per-channel constants, with the activation that follows):
	//
	//	for i := range dst {
	//		dst[i] = act.Apply(src[i]*scale + bias)
	//	}
	//
	// Whether the multiply-add is fused is the tier's own. It panics unless
	// len(src) >= len(dst). dst may be src (same start) but must not
	// otherwise overlap it.
	ScaleBiasAct func(dst, src []float32, scale, bias float32, act Act)
}

// ActKind selects a fused activation.
type ActKind int

// Fused activations; Alpha and Beta give their parameters.
const (
	ActNone        ActKind = iota
	ActRelu                // max(x, 0)
	ActClip                // min(max(x, Alpha), Beta): ReLU6 is Clip(0, 6)
	ActLeakyRelu           // x if x >= 0 else Alpha*x
	ActHardSigmoid         // max(0, min(1, Alpha*x + Beta))
	ActHardSwish           // x * max(0, min(1, x/6 + 1/2))
	ActSigmoid             // 1 / (1 + e^-x)
	ActSiLU                // x * sigmoid(x) (Swish)
)

// Act is a fused activation with its parameters.
type Act struct {
	Kind        ActKind
	Alpha, Beta float32
}

// Apply computes the activation of one value: the definition every kernel
// must match, exactly for the piecewise-linear kinds and to a few ulps for
// Sigmoid and SiLU, whose vector kernels approximate e^x in float32 (see
// sigmoid.go for the measured bounds).
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
	case ActHardSigmoid:
		return hardSigmoid(x, a.Alpha, a.Beta)
	case ActHardSwish:
		return x * hardSigmoid(x, 1.0/6, 0.5)
	case ActSigmoid:
		return float32(sigmoid64(float64(x)))
	case ActSiLU:
		return float32(float64(x) * sigmoid64(float64(x)))
	}
	return x
}

// hardSigmoid is max(0, min(1, alpha*x + beta)), NaN passing through.
func hardSigmoid(x, alpha, beta float32) float32 {
	v := alpha*x + beta
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

// sigmoid64 is 1/(1+e^-x) without overflow: e^-|x| never exceeds 1.
func sigmoid64(x float64) float64 {
	e := math.Exp(-math.Abs(x))
	if x >= 0 {
		return 1 / (1 + e)
	}
	return e / (1 + e)
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
