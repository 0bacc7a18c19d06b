package runtime

import (
	"slices"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Fast float32 Gemm and MatMul whose weight operand B is a constant 2-D
// matrix. Up to gemvMaxM rows of activations (a fully connected layer at
// batch 1 or a small batch) run as matrix-vector products over the
// row-major N×K weights, op(B)ᵀ, with simd.GemvBatch (fastGemv): a stream
// over the weights, which Gemm's usual transB=1 layout provides as they
// are, with no copy. Larger M go through simd.GemmPacked, whose packed
// operand is its left one, so the kernel computes the transposed product
//
//	Yᵀ (N×M) = (alpha·op(B))ᵀ (N×K, packed once per session) · op(A)ᵀ (K×M)
//
// with Gemm's beta·C (when it is a constant that varies along N only) as
// the per-row bias of the epilogue, and a fused activation. For M = 1 (a
// single image) Yᵀ is Y; otherwise it goes through a temporary buffer and
// is transposed into Y.

func init() {
	fastOps["Gemm"] = chooseGemm
	fastOps["MatMul"] = chooseGemm
}

// fastGemm is Y = act(op(A)·W + bias) for the packed W.
type fastGemm struct {
	pa      *simd.PackedA // N×K
	m, n, k int
	transA  bool
	bias    []float32 // len N or nil
	act     simd.Act
}

func chooseGemm(pc *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(out) != 1 {
		return nil, nil
	}
	a, b, o := in[0], in[1], out[0]
	if a.dtype != ir.Float32 || b.dtype != ir.Float32 || b.kind != valConst || len(b.shape) != 2 {
		return nil, nil
	}
	k := &fastGemm{}
	alpha, beta := float32(1), float32(1)
	transB := false
	var c *planValue
	if n.Op == "Gemm" {
		if len(a.shape) != 2 {
			return nil, nil
		}
		m, kk, nn, err := gemmDims(n, a.shape, b.shape)
		if err != nil {
			return nil, err
		}
		k.m, k.k, k.n = m, kk, nn
		k.transA = n.AttrInt("transA", 0) != 0
		transB = n.AttrInt("transB", 0) != 0
		alpha, beta = n.AttrFloat("alpha", 1), n.AttrFloat("beta", 1)
		if len(in) > 2 {
			c = in[2]
		}
	} else {
		if len(a.shape) < 1 {
			return nil, nil
		}
		k.k, k.n = b.shape[0], b.shape[1]
		if a.shape[len(a.shape)-1] != k.k {
			return nil, nil
		}
		k.m = prod(a.shape[:len(a.shape)-1])
	}
	if len1(o.shape) != k.m*k.n || k.m == 0 || k.n == 0 {
		return nil, nil
	}
	if c != nil {
		bias, ok := gemmBias(c, k.n, beta)
		if !ok {
			return nil, nil
		}
		k.bias = bias
	}
	if k.m <= gemvMaxM {
		return chooseGemv(pc, n, b, k, alpha, transB)
	}
	v, err := pc.prepare(prepKey{node: n, kind: "gemm"}, func() (any, error) {
		w := b.konst.F32()
		if alpha != 1 {
			w = slices.Clone(w)
			for i := range w {
				w[i] *= alpha
			}
		}
		if transB { // B is N×K already
			return pc.ex.kern.PackA(k.n, k.k, w, k.k), nil
		}
		return pc.ex.kern.PackAStrided(k.n, k.k, w, 1, k.n), nil
	})
	if err != nil {
		return nil, err
	}
	k.pa = v.(*simd.PackedA)
	return k, nil
}

// gemmBias returns beta·C as one value per output column, when C is a
// constant that varies along the columns only ([N], [1,N], a scalar).
func gemmBias(c *planValue, n int, beta float32) ([]float32, bool) {
	if c.kind != valConst || c.dtype != ir.Float32 {
		return nil, false
	}
	data := c.konst.F32()
	bias := make([]float32, n)
	switch {
	case len(data) == 1:
		for j := range bias {
			bias[j] = beta * data[0]
		}
	case len(data) == n && (len(c.shape) == 1 || (len(c.shape) == 2 && c.shape[0] == 1)):
		for j := range bias {
			bias[j] = beta * data[j]
		}
	default:
		return nil, false
	}
	return bias, true
}

// tempFloats is the transposed result's buffer (none for one row).
func (k *fastGemm) tempFloats() int {
	if k.m == 1 {
		return 0
	}
	return k.m * k.n
}

func (k *fastGemm) run(rc *runCtx, in, out []*ir.Tensor) error {
	x, y := in[0].F32(), out[0].F32()
	if k.transA { // A is stored K×M: op(A)ᵀ is A itself
		rc.dense = simd.DenseB{Data: x, Stride: k.m}
	} else {
		rc.dense = simd.DenseB{Data: x, Stride: k.k, Trans: true}
	}
	ep := simd.Epilogue{Bias: k.bias, Act: k.act}
	if k.m == 1 {
		rc.kern.GemmPacked(k.pa, 1, &rc.dense, y, 1, ep, rc.pool)
		return nil
	}
	t := rc.tmp[:k.m*k.n]
	rc.kern.GemmPacked(k.pa, k.m, &rc.dense, t, k.m, ep, rc.pool)
	transpose(y, t, k.n, k.m)
	return nil
}

// transpose writes the r×c row-major matrix src into dst as c×r, in
// blocks that stay in cache.
func transpose(dst, src []float32, r, c int) {
	const bs = 32
	for i0 := 0; i0 < r; i0 += bs {
		for j0 := 0; j0 < c; j0 += bs {
			for i := i0; i < min(r, i0+bs); i++ {
				row := src[i*c : i*c+c]
				for j := j0; j < min(c, j0+bs); j++ {
					dst[j*r+i] = row[j]
				}
			}
		}
	}
}

func (k *fastGemm) withAct(a simd.Act) fastKernel {
	if k.act.Kind != simd.ActNone {
		return nil
	}
	c := *k
	c.act = a
	return &c
}

func (k *fastGemm) withResidual() fastKernel { return nil }

// gemvMaxM is the largest M that runs as matrix-vector products: the
// kernels multiply each weight they load with up to 4 (AVX-512) or 2
// (AVX2) rows of A, and GemvBatch walks the weights in L2-sized row blocks
// that the further passes reuse, so the weights come from memory once
// whatever M. simd's BenchmarkFC (AlexNet, VGG and ResNet-50 FC shapes,
// AVX-512, 1 and 2 threads): 2-4× the packed GEMM (one weight stream,
// tiles mostly padding) at M = 1 to 4, about 1.5× at M = 8; at M = 16 the
// packed GEMM is level or ahead.
const gemvMaxM = 8

// fastGemv is Y = act(alpha·op(A)·op(B) + bias) for small M, with op(B)ᵀ
// as row-major N×K weights.
type fastGemv struct {
	w       []float32 // N×K: op(B)ᵀ
	m, n, k int
	transA  bool
	alpha   float32
	bias    []float32 // len N or nil
	act     simd.Act
}

// chooseGemv builds the fastGemv of a Gemm or MatMul whose dimensions,
// transA and bias chooseGemm has resolved in g. With transB the constant
// B is already N×K and is used in place (alpha is applied to the sums,
// not to a copy); otherwise its transpose is built once per session.
func chooseGemv(pc *planCtx, n *ir.Node, b *planValue, g *fastGemm, alpha float32, transB bool) (fastKernel, error) {
	k := &fastGemv{m: g.m, n: g.n, k: g.k, transA: g.transA, alpha: alpha, bias: g.bias}
	if transB {
		k.w = b.konst.F32()
		return k, nil
	}
	v, err := pc.prepare(prepKey{node: n, kind: "gemv-bt"}, func() (any, error) {
		wt := make([]float32, k.n*k.k)
		transpose(wt, b.konst.F32(), k.k, k.n)
		return wt, nil
	})
	if err != nil {
		return nil, err
	}
	k.w = v.([]float32)
	return k, nil
}

// tempFloats is op(A) transposed back to M×K, when A is stored K×M (M > 1).
func (k *fastGemv) tempFloats() int {
	if k.transA && k.m > 1 {
		return k.m * k.k
	}
	return 0
}

func (k *fastGemv) run(rc *runCtx, in, out []*ir.Tensor) error {
	x := in[0].F32()
	if k.transA && k.m > 1 {
		t := rc.tmp[:k.m*k.k]
		transpose(t, x, k.k, k.m)
		x = t
	}
	rc.kern.GemvBatch(out[0].F32(), k.n, k.w, k.k, x, k.k, k.m, k.n, k.k, k.alpha,
		simd.Epilogue{Bias: k.bias, Act: k.act}, rc.pool)
	return nil
}

func (k *fastGemv) withAct(a simd.Act) fastKernel {
	if k.act.Kind != simd.ActNone {
		return nil
	}
	c := *k
	c.act = a
	return &c
}

func (k *fastGemv) withResidual() fastKernel { return nil }
