package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func TestFastGemmMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 41))
	type gemmCase struct {
		m, k, n        int
		transA, transB bool
		alpha, beta    float32
		c              []int // shape of C, nil for none
		steps          string
	}
	cases := []gemmCase{
		{m: 1, k: 16, n: 10, transB: true, alpha: 1, beta: 1, c: []int{10}, steps: "fast Gemm"},
		{m: 1, k: 16, n: 10, alpha: 1, beta: 1, steps: "fast Gemm"},
		{m: 3, k: 7, n: 5, alpha: 1, beta: 1, c: []int{1, 5}, steps: "fast Gemm"},
		{m: 4, k: 9, n: 33, transA: true, transB: true, alpha: 0.5, beta: 2, c: []int{}, steps: "fast Gemm"},
		{m: 17, k: 1, n: 3, transA: true, alpha: -1, beta: 0.25, c: []int{1}, steps: "fast Gemm"},
		{m: 2, k: 300, n: 40, transB: true, alpha: 1, beta: 1, c: []int{40}, steps: "fast Gemm"},
		{m: 3, k: 5, n: 4, alpha: 1, beta: 1, c: []int{3, 4}, steps: "ref Gemm"}, // C varies along M
		{m: 3, k: 5, n: 4, alpha: 1, beta: 1, c: []int{3, 1}, steps: "ref Gemm"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%dx%dx%d_tA%v_tB%v_a%v_b%v_c%v", c.m, c.k, c.n, c.transA, c.transB, c.alpha, c.beta, c.c), func(t *testing.T) {
			ashape := []int{c.m, c.k}
			if c.transA {
				ashape = []int{c.k, c.m}
			}
			bshape := []int{c.k, c.n}
			if c.transB {
				bshape = []int{c.n, c.k}
			}
			inits := map[string]*ir.Tensor{"b": randF32(rng, bshape...)}
			ins := []string{"a", "b"}
			if c.c != nil {
				inits["c"] = randF32(rng, c.c...)
				ins = append(ins, "c")
			}
			attrs := []*ir.Attr{ir.FloatAttr("alpha", c.alpha), ir.FloatAttr("beta", c.beta)}
			if c.transA {
				attrs = append(attrs, ir.IntAttr("transA", 1))
			}
			if c.transB {
				attrs = append(attrs, ir.IntAttr("transB", 1))
			}
			g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Float32, ashape...)}, outputs: []string{"y"}, inits: inits,
				nodes: []*ir.Node{nd("Gemm", ins, []string{"y"}, attrs...)}}
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"a": randF32(rng, ashape...)}, tolFor(c.k+1, 2))
			wantSteps(t, sum, c.steps)
		})
	}
}

func TestFastGemmFusesAnActivation(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 42))
	for _, m := range []int{1, 5} {
		g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Float32, m, 12)}, outputs: []string{"y"},
			inits: map[string]*ir.Tensor{"w": randF32(rng, 9, 12), "bias": randF32(rng, 9)},
			nodes: []*ir.Node{
				nd("Gemm", []string{"a", "w", "bias"}, []string{"g"}, ir.IntAttr("transB", 1)),
				nd("Relu", []string{"g"}, []string{"y"}),
			}}
		sum := checkPlanned(t, g, map[string]*ir.Tensor{"a": randF32(rng, m, 12)}, tolFor(13, 1))
		wantSteps(t, sum, "fast Gemm+Relu")
	}
}

func TestFastMatMulMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 43))
	for _, c := range []struct {
		a, b  []int
		steps string
	}{
		{[]int{1, 8}, []int{8, 6}, "fast MatMul"},
		{[]int{8}, []int{8, 6}, "fast MatMul"},
		{[]int{2, 3, 8}, []int{8, 6}, "fast MatMul"},
		{[]int{2, 1, 4, 31}, []int{31, 17}, "fast MatMul"},
		{[]int{3, 8}, []int{2, 8, 6}, "ref MatMul"}, // batched B
		{[]int{3, 8}, []int{8}, "ref MatMul"},       // vector B
	} {
		t.Run(fmt.Sprintf("%v_%v", c.a, c.b), func(t *testing.T) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Float32, c.a...)}, outputs: []string{"y"},
				inits: map[string]*ir.Tensor{"b": randF32(rng, c.b...)},
				nodes: []*ir.Node{nd("MatMul", []string{"a", "b"}, []string{"y"})}}
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"a": randF32(rng, c.a...)}, tolFor(c.a[len(c.a)-1], 1))
			wantSteps(t, sum, c.steps)
		})
	}
	// Both operands at run time: the reference op.
	g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Float32, 3, 4), in("b", ir.Float32, 4, 2)}, outputs: []string{"y"},
		nodes: []*ir.Node{nd("MatMul", []string{"a", "b"}, []string{"y"})}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"a": randF32(rng, 3, 4), "b": randF32(rng, 4, 2)}, 0)
	wantSteps(t, sum, "ref MatMul")
}
