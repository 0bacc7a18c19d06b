package runtime

import (
	"slices"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Fast float32 Gemm and MatMul whose weight operand B is a constant 2-D
// matrix, through simd.GemmPacked. The driver's packed operand is its left
// one, so the kernel computes the transposed product
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
