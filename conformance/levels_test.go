package conformance

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

var levels = []graphopt.Level{graphopt.None, graphopt.Basic, graphopt.All}

// TestSharedModelsAtEveryLevel runs the first data set of every model in
// ../shared/models with the graph optimized at each level (TestSharedModels
// covers the default, All, on every data set), within the whole-network
// tolerance.
func TestSharedModelsAtEveryLevel(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: whole networks run in the full test (go test ./conformance)")
	}
	dirs, _ := filepath.Glob(filepath.Join(testenv.Shared(t, "models"), "*"))
	if len(dirs) == 0 {
		t.Fatal("no models found in shared/models")
	}
	for _, level := range levels {
		for _, dir := range dirs {
			t.Run(level.String()+"/"+filepath.Base(dir), func(t *testing.T) {
				c, err := Open(dir)
				if errors.Is(err, ErrOutOfScope) {
					t.Skip(err)
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(c.Sets) == 0 {
					t.Fatal("no test_data_set_*")
				}
				if c.Session, err = runtime.NewSession(c.Model, &runtime.Options{Optimize: level}); err != nil {
					t.Fatal(err)
				}
				if err := c.RunSet(c.Sets[0], netTol); err != nil {
					t.Fatalf("%s: %v", filepath.Base(c.Sets[0]), err)
				}
			})
		}
	}
}

// TestZooModelsAgreeAtEveryLevel runs the torch exports of
// ~/.cache/runinfer-zoo (random weights, no reference data) on a random
// input at every level, planned and as the reference interpreter, and
// compares each with the reference interpreter on the graph as imported.
// They cover the fusions the shared models lack: HardSwish and
// HardSigmoid (mobilenet_v3_large), x·Sigmoid(x) (efficientnet_b0),
// residual Adds (resnet, resnext).
func TestZooModelsAgreeAtEveryLevel(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: whole networks run in the full test (go test ./conformance)")
	}
	home, _ := os.UserHomeDir()
	paths, _ := filepath.Glob(filepath.Join(home, ".cache", "runinfer-zoo", "*", "model.onnx"))
	if len(paths) == 0 {
		t.Skip("no torch exports in ~/.cache/runinfer-zoo (../shared/tools/zoo/export.sh makes them)")
	}
	for _, path := range paths {
		name := filepath.Base(filepath.Dir(path))
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(5, 5))
			feeds := map[string]*ir.Tensor{}
			for _, vi := range m.Graph.Inputs {
				shape := make([]int, len(vi.Shape.Dims))
				for i, d := range vi.Shape.Dims {
					shape[i] = 1
					if d.Known() {
						shape[i] = int(d.Size)
					}
				}
				x, _ := ir.NewTensor(ir.Float32, shape)
				for i := range x.F32() {
					x.F32()[i] = rng.Float32()*2 - 1
				}
				feeds[vi.Name] = x
			}
			run := func(opts *runtime.Options) []*ir.Tensor {
				s, err := runtime.NewSession(m, opts)
				if err != nil {
					t.Fatal(err)
				}
				out, err := s.Run(context.Background(), feeds)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			want := run(&runtime.Options{Reference: true, Optimize: graphopt.None})
			for _, level := range levels {
				for _, ref := range []bool{false, true} {
					if ref && level == graphopt.None {
						continue
					}
					got := run(&runtime.Options{Reference: ref, Optimize: level})
					for i := range want {
						if err := Compare(got[i], want[i], netTol); err != nil {
							t.Errorf("level %v (reference %v), output %d: %v", level, ref, i, err)
						}
					}
				}
			}
		})
	}
}
