package runtime

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

func TestGradGemmFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	const m, k, n = 5, 7, 6
	cShapes := [][]int{nil, {}, {1}, {n}, {1, n}, {m, 1}, {m, n}, {1, 1}}
	for _, ta := range []int{0, 1} {
		for _, tb := range []int{0, 1} {
			for ci, cs := range cShapes {
				for _, ab := range [][2]float32{{1, 1}, {0.5, -2}} {
					if ci%2 == 1 && ab[0] != 1 {
						continue // keep the case count down
					}
					nin := 2
					if cs != nil {
						nin = 3
					}
					node := wtNode("Gemm", nin, 1, ir.IntAttr("transA", int64(ta)), ir.IntAttr("transB", int64(tb)),
						ir.FloatAttr("alpha", ab[0]), ir.FloatAttr("beta", ab[1]))
					as, bs := []int{m, k}, []int{k, n}
					if ta == 1 {
						as = []int{k, m}
					}
					if tb == 1 {
						bs = []int{n, k}
					}
					in := []*ir.Tensor{randTensor(rng, as...), randTensor(rng, bs...)}
					if cs != nil {
						in = append(in, randTensor(rng, cs...))
					}
					name := fmt.Sprintf("tA%d_tB%d_C%v_a%v_b%v", ta, tb, cs, ab[0], ab[1])
					checkGradCase(t, name, gradCase{node: node, in: in})
				}
			}
		}
	}
}

// TestGradGemmLarge checks a product large enough to be split over
// threads and blocked in K against finite differences.
func TestGradGemmLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	node := wtNode("Gemm", 3, 1, ir.IntAttr("transB", 1))
	in := []*ir.Tensor{randTensor(rng, 37, 600), randTensor(rng, 45, 600), randTensor(rng, 45)}
	checkGradCase(t, "fc", gradCase{node: node, in: in, maxProbe: 24})
}

// TestGradGemmEmpty: zero-sized products give zero or empty gradients.
func TestGradGemmEmpty(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	for _, sh := range [][2][]int{{{0, 3}, {3, 4}}, {{2, 0}, {0, 4}}, {{2, 3}, {3, 0}}} {
		node := wtNode("Gemm", 2, 1)
		in := []*ir.Tensor{randTensor(rng, sh[0]...), randTensor(rng, sh[1]...)}
		c := &gradCtx{k: simd.Best(), limit: 1 << 20}
		out, saved, err := gemmGradForward(c, node, in)
		if err != nil {
			t.Fatal(err)
		}
		din, err := gemmGradBackward(c, node, in, out, saved, []*ir.Tensor{randTensor(rng, out[0].Shape...)}, []bool{true, true})
		if err != nil {
			t.Fatal(err)
		}
		for i, d := range din {
			if !slices.Equal(d.Shape, in[i].Shape) || slices.ContainsFunc(d.F32(), func(v float32) bool { return v != 0 }) {
				t.Errorf("%v: gradient %d = %v, want zeros of shape %v", sh, i, d, in[i].Shape)
			}
		}
	}
}

// gmMatMulCases are MatMul operand shapes: 2-D, 1-D on either side and
// both, batched with and without broadcasting.
var gmMatMulCases = [][2][]int{
	{{3, 4}, {4, 5}},
	{{4}, {4, 5}},
	{{3, 4}, {4}},
	{{4}, {4}},
	{{2, 3, 4}, {4, 5}},
	{{2, 3, 4}, {2, 4, 5}},
	{{2, 1, 3, 4}, {3, 4, 5}},
	{{3, 4}, {2, 4, 5}},
	{{2, 3, 4}, {1, 4, 5}},
	{{4}, {2, 4, 5}},
	{{2, 3, 4}, {4}},
	{{1, 3, 4}, {2, 1, 4, 2}},
}

func TestGradMatMulFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	for _, sh := range gmMatMulCases {
		node := wtNode("MatMul", 2, 1)
		in := []*ir.Tensor{randTensor(rng, sh[0]...), randTensor(rng, sh[1]...)}
		checkGradCase(t, fmt.Sprintf("%v@%v", sh[0], sh[1]), gradCase{node: node, in: in})
	}
}

// TestGradMatMulThreads: on 4 threads (batch split, or products split)
// the gradients equal the serial ones exactly, the GEMM's sums being
// independent of the split.
func TestGradMatMulThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	cases := append(slices.Clone(gmMatMulCases), [2][]int{{16, 9, 12}, {16, 12, 7}}, [2][]int{{6, 40, 70}, {70, 50}},
		[2][]int{{5, 1, 8, 9}, {1, 3, 9, 4}})
	for _, sh := range cases {
		node := wtNode("MatMul", 2, 1)
		in := []*ir.Tensor{randTensor(rng, sh[0]...), randTensor(rng, sh[1]...)}
		var ref []*ir.Tensor
		for _, par := range []simd.Parallel{nil, gcPool} {
			c := &gradCtx{k: simd.Best(), par: par, limit: 1 << 24}
			out, saved, err := matmulGradForward(c, node, in)
			if err != nil {
				t.Fatal(err)
			}
			dy := randTensor(rand.New(rand.NewPCG(1, 1)), out[0].Shape...)
			din, err := matmulGradBackward(c, node, in, out, saved, []*ir.Tensor{dy}, []bool{true, true})
			if err != nil {
				t.Fatal(err)
			}
			got := append(out, din...)
			if ref == nil {
				ref = got
				continue
			}
			for i := range got {
				if !slices.Equal(got[i].F32(), ref[i].F32()) {
					t.Errorf("%v@%v: result %d differs on 4 threads", sh[0], sh[1], i)
				}
			}
		}
	}
}

func TestGradGemmErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(75, 76))
	c := &gradCtx{k: simd.Best(), limit: 1 << 10}
	for _, tc := range []struct {
		name string
		op   string
		in   []*ir.Tensor
	}{
		{"inner mismatch", "Gemm", []*ir.Tensor{randTensor(rng, 2, 3), randTensor(rng, 4, 2)}},
		{"rank 3", "Gemm", []*ir.Tensor{randTensor(rng, 2, 3, 1), randTensor(rng, 3, 2)}},
		{"bad C", "Gemm", []*ir.Tensor{randTensor(rng, 2, 3), randTensor(rng, 3, 2), randTensor(rng, 3)}},
		{"too large", "Gemm", []*ir.Tensor{randTensor(rng, 64, 1), randTensor(rng, 1, 64)}},
		{"matmul mismatch", "MatMul", []*ir.Tensor{randTensor(rng, 2, 3), randTensor(rng, 4, 2)}},
		{"matmul batch", "MatMul", []*ir.Tensor{randTensor(rng, 2, 2, 3), randTensor(rng, 3, 3, 2)}},
		{"matmul scalar", "MatMul", []*ir.Tensor{ir.Scalar[float32](1), randTensor(rng, 3, 2)}},
	} {
		node := wtNode(tc.op, len(tc.in), 1)
		op := gradOps[tc.op]
		if _, _, err := op.forward(c, node, tc.in); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
