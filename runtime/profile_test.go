package runtime

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
)

func TestProfileRecordsEveryStepOfEveryRun(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	g := smallConvNet(rng, 1)
	// graphopt.None: the plan's own fusion names the three fused nodes.
	s, err := NewSession(g.model(), &Options{Threads: 2, Optimize: graphopt.None})
	if err != nil {
		t.Fatal(err)
	}
	feeds := map[string]*ir.Tensor{"x": randF32(rng, 1, 3, 12, 10)}
	var p Profile
	ctx := WithProfile(context.Background(), &p)
	const runs = 3
	for range runs {
		if _, err := s.Run(ctx, feeds); err != nil {
			t.Fatal(err)
		}
	}
	// A run without the profile adds nothing.
	runSession(t, s, feeds)
	if p.Runs() != runs {
		t.Fatalf("Runs() = %d, want %d", p.Runs(), runs)
	}
	steps := p.Steps()
	var ops []string
	for _, st := range steps {
		ops = append(ops, st.Op)
		if st.Calls != runs {
			t.Errorf("step %s (%v) ran %d times, want %d", st.Op, st.Nodes, st.Calls, runs)
		}
		if st.Total <= 0 {
			t.Errorf("step %s has no time", st.Op)
		}
	}
	want := []string{"Conv+Relu", "MaxPool", "Conv+Add+Relu", "GlobalAveragePool", "Gemm"}
	if !slices.Equal(ops, want) {
		t.Errorf("profiled ops %q, want %q", ops, want)
	}
	for _, st := range steps {
		if st.Op == "Conv+Add+Relu" {
			if len(st.Nodes) != 3 {
				t.Errorf("fused step names %q, want the three nodes", st.Nodes)
			}
			if !slices.Equal(st.Shape, []int{1, 8, 6, 5}) {
				t.Errorf("fused step shape %v, want [1 8 6 5]", st.Shape)
			}
		}
	}
	p.Reset()
	if p.Runs() != 0 || len(p.Steps()) != 0 {
		t.Error("Reset left records behind")
	}
}
