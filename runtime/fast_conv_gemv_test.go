package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// A 1×1 convolution of 1×1 maps (squeeze-excitation gates, classifiers
// after global pooling) runs as matrix-vector products, with its bias,
// residual and activation; above gemvMaxM images it takes the GEMM path.
func TestConvOfOneByOneMapsRunsAsGemv(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	for _, tc := range []struct {
		batch, c, m int
		residual    bool
	}{
		{1, 1, 1, false}, {1, 96, 4, false}, {1, 4, 96, true}, {3, 37, 19, true}, {gemvMaxM, 64, 33, false}, {gemvMaxM + 1, 16, 8, true},
	} {
		t.Run(fmt.Sprintf("N%d_C%d_M%d_res%v", tc.batch, tc.c, tc.m, tc.residual), func(t *testing.T) {
			g := graphSpec{
				inputs:  []*ir.ValueInfo{in("x", ir.Float32, tc.batch, tc.c, 1, 1), in("r", ir.Float32, tc.batch, tc.m, 1, 1)},
				outputs: []string{"y"},
				inits:   map[string]*ir.Tensor{"w": randF32(rng, tc.m, tc.c, 1, 1), "b": randF32(rng, tc.m)},
				nodes:   []*ir.Node{nd("Conv", []string{"x", "w", "b"}, []string{"c"})},
			}
			last := "c"
			if tc.residual {
				g.nodes = append(g.nodes, nd("Add", []string{"c", "r"}, []string{"a"}))
				last = "a"
			}
			g.nodes = append(g.nodes, nd("Sigmoid", []string{last}, []string{"y"}))
			feeds := map[string]*ir.Tensor{"x": randF32(rng, tc.batch, tc.c, 1, 1), "r": randF32(rng, tc.batch, tc.m, 1, 1)}
			sum := checkPlanned(t, g, feeds, tolFor(tc.c+2, 1))
			want := "fast Conv+Sigmoid"
			if tc.residual {
				want = "fast Conv+Add+Sigmoid"
			}
			wantSteps(t, sum, want)
			s, err := NewSession(g.model(), nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := s.planFor([]ir.DType{ir.Float32, ir.Float32}, [][]int{feeds["x"].Shape, feeds["r"].Shape})
			if err != nil {
				t.Fatal(err)
			}
			kernel := ""
			for i := range p.steps {
				if p.steps[i].node.Op == "Conv" || p.steps[i].node.Op == "FusedConv" {
					kernel = p.steps[i].kernelName()
				}
			}
			if wantK := map[bool]string{true: "conv-gemv", false: "conv-gemm"}[tc.batch <= gemvMaxM]; kernel != wantK {
				t.Errorf("kernel %q, want %q", kernel, wantK)
			}
		})
	}
}
