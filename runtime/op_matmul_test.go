package runtime

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// ewNaiveMatMul multiplies numpy-style from the definition: 1-D operands are
// promoted, batch dims broadcast, and the promoted dims dropped again.
func ewNaiveMatMul(a []float64, as []int, b []float64, bs []int) ([]int, []float64) {
	am, bm := as, bs
	if len(as) == 1 {
		am = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bm = []int{bs[0], 1}
	}
	m, k, n := am[len(am)-2], am[len(am)-1], bm[len(bm)-1]
	rank := max(len(am), len(bm))
	batch := make([]int, rank-2)
	for i := range batch {
		batch[i] = 1
		for _, s := range [][]int{am[:len(am)-2], bm[:len(bm)-2]} {
			j := i - (rank - 2 - len(s))
			if j >= 0 && s[j] != 1 {
				batch[i] = s[j]
			}
		}
	}
	full := append(append([]int(nil), batch...), m, n)
	out := make([]float64, prod(full))
	for o := range out {
		idx := ewUnflatten(o, full)
		bi, i, j := idx[:len(batch)], idx[len(batch)], idx[len(batch)+1]
		sum := 0.0
		for p := 0; p < k; p++ {
			ai := ewSourceIndex(append(append([]int(nil), bi...), i, p), am)
			bj := ewSourceIndex(append(append([]int(nil), bi...), p, j), bm)
			sum += a[ai] * b[bj]
		}
		out[o] = sum
	}
	shape := append([]int(nil), batch...)
	if len(as) > 1 {
		shape = append(shape, m)
	}
	if len(bs) > 1 {
		shape = append(shape, n)
	}
	return shape, out
}

func TestMatMulMatchesNaiveProduct(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	cases := [][2][]int{
		{{3, 4}, {4, 2}},
		{{4}, {4}},
		{{4}, {4, 3}},
		{{2, 4}, {4}},
		{{5}, {2, 5, 3}},
		{{2, 3, 5}, {5}},
		{{2, 3, 4}, {2, 4, 3}},
		{{1, 2, 3, 4}, {1, 2, 4, 3}},
		{{2, 1, 2, 3}, {3, 3, 2}},
		{{3, 2}, {4, 2, 5}},
		{{0, 3}, {3, 2}},
		{{2, 0}, {0, 3}},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v_x_%v", c[0], c[1]), func(t *testing.T) {
			a, b := ewRandF32(t, rng, c[0]...), ewRandF32(t, rng, c[1]...)
			shape, want := ewNaiveMatMul(ewF64(a), c[0], ewF64(b), c[1])
			ewCheck(t, ewRun(t, ewNode("MatMul", 2), a, b), ir.Float32, shape, want, 1e-5)
		})
	}
}

func TestMatMulHandComputed(t *testing.T) {
	a := ewT(t, []int{2, 2}, []float64{1, 2, 3, 4})
	b := ewT(t, []int{2, 2}, []float64{5, 6, 7, 8})
	ewCheck(t, ewRun(t, ewNode("MatMul", 2), a, b), ir.Float64, []int{2, 2}, []float64{19, 22, 43, 50}, 0)
	v := ewT(t, []int{2}, []float64{1, 1})
	ewCheck(t, ewRun(t, ewNode("MatMul", 2), v, v), ir.Float64, []int{}, []float64{2}, 0)
}

func TestMatMulOnIntegersWraps(t *testing.T) {
	a := ewT(t, []int{1, 2}, []int32{1 << 30, 3})
	b := ewT(t, []int{2, 1}, []int32{4, -2})
	ewCheck(t, ewRun(t, ewNode("MatMul", 2), a, b), ir.Int32, []int{1, 1}, []float64{-6}, 0)
	ua := ewT(t, []int{2}, []uint64{1 << 62, 5})
	ub := ewT(t, []int{2}, []uint64{2, 3})
	ewCheck(t, ewRun(t, ewNode("MatMul", 2), ua, ub), ir.Uint64, []int{}, []float64{1<<63 + 15}, 0)
}

func TestMatMulWithEmptyMatricesAndHugeBatchIsCheap(t *testing.T) {
	a := ewT(t, []int{1 << 20, 0, 3}, []float32{})
	b := ewT(t, []int{3, 2}, make([]float32, 6))
	ewCheck(t, ewRun(t, ewNode("MatMul", 2), a, b), ir.Float32, []int{1 << 20, 0, 2}, nil, 0)
}

func TestMatMulRejectsBadShapesAndTypes(t *testing.T) {
	f := func(shape ...int) *ir.Tensor { return ewT(t, shape, make([]float32, prod(shape))) }
	ewFails(t, "inner dimensions differ", ewNode("MatMul", 2), f(2, 3), f(4, 2))
	ewFails(t, "inner dimensions differ", ewNode("MatMul", 2), f(3), f(4))
	ewFails(t, "rank >= 1", ewNode("MatMul", 2), f(), f(3))
	ewFails(t, "batch dimensions", ewNode("MatMul", 2), f(2, 2, 3), f(3, 3, 2))
	ewFails(t, "B has element type float64", ewNode("MatMul", 2), f(2, 2), ewT(t, []int{2, 2}, make([]float64, 4)))
	ewFails(t, "element type int8", ewNode("MatMul", 2), ewT(t, []int{1, 1}, []int8{1}), ewT(t, []int{1, 1}, []int8{1}))
}

// ewNaiveGemm computes alpha*op(A)*op(B) + beta*C from the definition.
func ewNaiveGemm(a []float64, as []int, b []float64, bs []int, c []float64, cs []int, ta, tb bool, alpha, beta float64) []float64 {
	m, k := as[0], as[1]
	if ta {
		m, k = k, m
	}
	n := bs[1]
	if tb {
		n = bs[0]
	}
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for p := 0; p < k; p++ {
				var av, bv float64
				if ta {
					av = a[p*as[1]+i]
				} else {
					av = a[i*as[1]+p]
				}
				if tb {
					bv = b[j*bs[1]+p]
				} else {
					bv = b[p*bs[1]+j]
				}
				s += av * bv
			}
			out[i*n+j] = alpha * s
			if c != nil {
				out[i*n+j] += beta * c[ewSourceIndex([]int{i, j}, cs)]
			}
		}
	}
	return out
}

func TestGemmMatchesNaiveDefinition(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	type gemmCase struct {
		as, bs, cs  []int // cs nil: no C
		ta, tb      bool
		alpha, beta float32
	}
	cases := []gemmCase{
		{[]int{3, 5}, []int{5, 4}, nil, false, false, 1, 1},
		{[]int{3, 5}, []int{5, 4}, []int{1, 4}, false, false, 0.5, 1},
		{[]int{2, 7}, []int{7, 4}, []int{4}, false, false, 1, 0.5},
		{[]int{6, 3}, []int{6, 4}, []int{3, 4}, true, false, 1, 1},
		{[]int{3, 6}, []int{4, 6}, []int{3, 1}, false, true, 1, 1},
		{[]int{4, 3}, []int{5, 4}, []int{1, 5}, true, true, 0.25, 0.35},
		{[]int{2, 3}, []int{3, 4}, []int{}, false, false, 1, 1},
		{[]int{3, 7}, []int{7, 3}, []int{1}, false, false, 1, 1},
		{[]int{2, 0}, []int{0, 3}, []int{2, 3}, false, false, 1, 2},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%v_%v_%v_t%v%v", c.as, c.bs, c.cs, c.ta, c.tb), func(t *testing.T) {
			attrs := []*ir.Attr{ir.FloatAttr("alpha", c.alpha), ir.FloatAttr("beta", c.beta)}
			if c.ta {
				attrs = append(attrs, ir.IntAttr("transA", 1))
			}
			if c.tb {
				attrs = append(attrs, ir.IntAttr("transB", 1))
			}
			a, b := ewRandF32(t, rng, c.as...), ewRandF32(t, rng, c.bs...)
			in := []*ir.Tensor{a, b}
			var cv []float64
			if c.cs != nil {
				ct := ewRandF32(t, rng, c.cs...)
				in = append(in, ct)
				cv = ewF64(ct)
			}
			want := ewNaiveGemm(ewF64(a), c.as, ewF64(b), c.bs, cv, c.cs, c.ta, c.tb, float64(c.alpha), float64(c.beta))
			m, n := c.as[0], c.bs[1]
			if c.ta {
				m = c.as[1]
			}
			if c.tb {
				n = c.bs[0]
			}
			got := ewRun(t, ewNode("Gemm", len(in), attrs...), in...)
			ewCheck(t, got, ir.Float32, []int{m, n}, want, 1e-5)
		})
	}
}

func TestGemmOnIntegers(t *testing.T) {
	a := ewT(t, []int{2, 2}, []int64{1, 2, 3, 4})
	b := ewT(t, []int{2, 2}, []int64{5, 6, 7, 8})
	c := ewT(t, []int{2}, []int64{100, 200})
	ewCheck(t, ewRun(t, ewNode("Gemm", 3), a, b, c), ir.Int64, []int{2, 2}, []float64{119, 222, 143, 250}, 0)
	half := ewRun(t, ewNode("Gemm", 3, ir.FloatAttr("alpha", 0.5), ir.FloatAttr("beta", -1)), a, b, c)
	ewCheck(t, half, ir.Int64, []int{2, 2}, []float64{9.5 - 100 + 0.5, 11 - 200, 21.5 - 100 + 0.5, 25 - 200}, 0)
}

func TestGemmRejectsBadShapes(t *testing.T) {
	f := func(shape ...int) *ir.Tensor { return ewT(t, shape, make([]float32, prod(shape))) }
	ewFails(t, "inner dimensions differ", ewNode("Gemm", 2), f(2, 3), f(4, 2))
	ewFails(t, "inner dimensions differ", ewNode("Gemm", 2, ir.IntAttr("transA", 1)), f(2, 3), f(3, 2))
	ewFails(t, "must be matrices", ewNode("Gemm", 2), f(2, 3, 1), f(3, 2))
	ewFails(t, "must be matrices", ewNode("Gemm", 2), f(3), f(3, 2))
	ewFails(t, "C shape [3] does not broadcast to [2 2]", ewNode("Gemm", 3), f(2, 3), f(3, 2), f(3))
	ewFails(t, "C shape [3 2] does not broadcast", ewNode("Gemm", 3), f(2, 3), f(3, 2), f(3, 2))
	ewFails(t, "C has element type float64", ewNode("Gemm", 3), f(2, 3), f(3, 2), ewT(t, []int{1}, []float64{1}))
}
