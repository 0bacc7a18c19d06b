package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/runinfer/runinfer/ir"
)

// gemmKernelOf returns the fast kernel of the plan step running op for
// feeds' shapes, and the session's prepared weights' kinds.
func gemmKernelOf(t *testing.T, s *Session, feeds map[string]*ir.Tensor, op string) (fastKernel, map[string]int) {
	t.Helper()
	var dts []ir.DType
	var shs [][]int
	for _, vi := range s.graph.Inputs {
		dts = append(dts, feeds[vi.Name].DType)
		shs = append(shs, feeds[vi.Name].Shape)
	}
	p, err := s.planFor(dts, shs)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	s.exec.prepMu.Lock()
	for k := range s.exec.prepared {
		kinds[k.kind]++
	}
	s.exec.prepMu.Unlock()
	for _, st := range p.steps {
		if st.node.Op == op && st.kind == stepFast {
			return st.k, kinds
		}
	}
	t.Fatalf("no fast %s step", op)
	return nil, nil
}

// TestFastGemvMatchesReference runs Gemm on both sides of gemvMaxM (the
// matrix-vector path and the packed GEMM), with transA, transB, alpha,
// beta and every bias shape the fast kernels take, against the reference
// interpreter on every tier at 1 and 3 threads (checkPlanned, which also
// requires identical results at every thread count), and checks which
// kernel ran and which prepared weights the session holds: with transB
// the matrix-vector path uses the initializer itself.
func TestFastGemvMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	type gemvCase struct {
		m, k, n        int
		transA, transB bool
		alpha, beta    float32
		c              []int // shape of C, nil for none
	}
	var cases []gemvCase
	for i, m := range []int{1, 2, 3, 5, gemvMaxM, gemvMaxM + 1, 20} {
		for j, kn := range [][2]int{{1, 1}, {7, 5}, {16, 9}, {33, 17}, {100, 40}, {300, 13}} {
			sel := i + j
			cases = append(cases, gemvCase{
				m: m, k: kn[0], n: kn[1],
				transA: sel%3 == 1, transB: sel%2 == 0,
				alpha: []float32{1, 0.5, -2}[sel%3], beta: []float32{1, 0.25}[sel%2],
				c: [][]int{nil, {kn[1]}, {1, kn[1]}, {}, {1}}[sel%5],
			})
		}
	}
	for _, c := range cases {
		name := fmt.Sprintf("%dx%dx%d_tA%v_tB%v_a%v_b%v_c%v", c.m, c.k, c.n, c.transA, c.transB, c.alpha, c.beta, c.c)
		t.Run(name, func(t *testing.T) {
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
			feeds := map[string]*ir.Tensor{"a": randF32(rng, ashape...)}
			sum := checkPlanned(t, g, feeds, tolFor(c.k+2, 2))
			wantSteps(t, sum, "fast Gemm")

			s, err := NewSession(g.model(), &Options{Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			k, kinds := gemmKernelOf(t, s, feeds, "Gemm")
			gv, isGemv := k.(*fastGemv)
			if isGemv != (c.m <= gemvMaxM) {
				t.Fatalf("M=%d ran %T", c.m, k)
			}
			switch {
			case !isGemv:
				if kinds["gemm"] != 1 || len(kinds) != 1 {
					t.Errorf("packed GEMM: prepared %v, want one gemm", kinds)
				}
			case c.transB:
				if len(kinds) != 0 {
					t.Errorf("transB: prepared %v, want none", kinds)
				}
				if unsafe.SliceData(gv.w) != unsafe.SliceData(s.graph.Initializers["b"].F32()) {
					t.Errorf("transB: the weights are a copy of the initializer")
				}
			default:
				if kinds["gemv-bt"] != 1 || len(kinds) != 1 {
					t.Errorf("B not transposed: prepared %v, want one gemv-bt", kinds)
				}
			}
		})
	}
}

// TestFastGemvFusesActivations checks that a Gemm (or MatMul) at small M
// absorbs a following Relu or Clip and still matches the reference, with
// and without a bias.
func TestFastGemvFusesActivations(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	for _, m := range []int{1, 3} {
		for _, act := range []string{"Relu", "Clip"} {
			for _, bias := range []bool{false, true} {
				t.Run(fmt.Sprintf("m%d_%s_bias%v", m, act, bias), func(t *testing.T) {
					inits := map[string]*ir.Tensor{"w": randF32(rng, 19, 37), "lo": scalarF32(-0.2), "hi": scalarF32(0.3)}
					ins := []string{"a", "w"}
					if bias {
						inits["bias"] = randF32(rng, 19)
						ins = append(ins, "bias")
					}
					actIn := []string{"g"}
					if act == "Clip" {
						actIn = []string{"g", "lo", "hi"}
					}
					g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Float32, m, 37)}, outputs: []string{"y"}, inits: inits,
						nodes: []*ir.Node{
							nd("Gemm", ins, []string{"g"}, ir.IntAttr("transB", 1), ir.FloatAttr("alpha", 0.75)),
							nd(act, actIn, []string{"y"}),
						}}
					sum := checkPlanned(t, g, map[string]*ir.Tensor{"a": randF32(rng, m, 37)}, tolFor(39, 1))
					wantSteps(t, sum, "fast Gemm+"+act)
				})
			}
		}
	}
	g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Float32, 2, 5, 24)}, outputs: []string{"y"},
		inits: map[string]*ir.Tensor{"w": randF32(rng, 24, 11)},
		nodes: []*ir.Node{nd("MatMul", []string{"a", "w"}, []string{"g"}), nd("Relu", []string{"g"}, []string{"y"})}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"a": randF32(rng, 2, 5, 24)}, tolFor(24, 1))
	wantSteps(t, sum, "fast MatMul+Relu")
}

// TestFastGemvMatMul checks MatMul with a constant [K,N] right operand on
// 1-D to 4-D activations on both sides of gemvMaxM (M is the product of
// the leading dimensions), against the reference.
func TestFastGemvMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	for _, a := range [][]int{{40}, {1, 40}, {3, 40}, {1, 1, 40}, {2, 3, 40}, {2, 4, 40}, {3, 3, 40}, {1, 2, 2, 40}, {2, 2, 5, 40}} {
		for _, n := range []int{1, 17, 64} {
			t.Run(fmt.Sprintf("%v_x_40x%d", a, n), func(t *testing.T) {
				g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Float32, a...)}, outputs: []string{"y"},
					inits: map[string]*ir.Tensor{"b": randF32(rng, 40, n)},
					nodes: []*ir.Node{nd("MatMul", []string{"a", "b"}, []string{"y"})}}
				feeds := map[string]*ir.Tensor{"a": randF32(rng, a...)}
				sum := checkPlanned(t, g, feeds, tolFor(40, 1))
				wantSteps(t, sum, "fast MatMul")
				s, err := NewSession(g.model(), &Options{Threads: 1})
				if err != nil {
					t.Fatal(err)
				}
				m := prod(a[:len(a)-1])
				if k, _ := gemmKernelOf(t, s, feeds, "MatMul"); m <= gemvMaxM {
					if _, ok := k.(*fastGemv); !ok {
						t.Errorf("M=%d ran %T", m, k)
					}
				}
			})
		}
	}
}
