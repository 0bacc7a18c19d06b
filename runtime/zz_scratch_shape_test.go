package runtime

// Temporary scratch harness (to be deleted): runs official node tests
// directly through execNode, bypassing the session.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
)

func TestScratchNodeData(t *testing.T) {
	pat := os.Getenv("SCRATCH_NODE")
	if pat == "" {
		t.Skip("SCRATCH_NODE not set")
	}
	re := regexp.MustCompile(pat)
	dirs, _ := filepath.Glob("/usr/share/libonnx-testdata/data/node/test_*")
	sort.Strings(dirs)
	for _, dir := range dirs {
		name := filepath.Base(dir)
		if !re.MatchString(name) {
			continue
		}
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Load(filepath.Join(dir, "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			g := m.Graph
			sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
			for _, set := range sets {
				vals := map[string]*ir.Tensor{}
				for k, v := range g.Initializers {
					vals[k] = v
				}
				for i, vi := range g.Inputs {
					tt, _, err := onnx.ReadTensor(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
					if err != nil {
						t.Fatal(err)
					}
					vals[vi.Name] = tt
				}
				for _, n := range g.Nodes {
					in := make([]*ir.Tensor, len(n.Inputs))
					for j, nm := range n.Inputs {
						if nm != "" {
							in[j] = vals[nm]
						}
					}
					outs, err := execNode(n, in)
					if err != nil {
						t.Fatal(err)
					}
					for j, nm := range n.Outputs {
						if nm != "" && j < len(outs) {
							vals[nm] = outs[j]
						}
					}
				}
				for i, vo := range g.Outputs {
					want, _, err := onnx.ReadTensor(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
					if err != nil {
						t.Fatal(err)
					}
					got := vals[vo.Name]
					if err := scratchCompare(got, want); err != nil {
						t.Errorf("output %d: %v\n got %v\nwant %v", i, err, scratchData(got), scratchData(want))
					}
				}
			}
		})
	}
}

func scratchData(t *ir.Tensor) any {
	if t == nil {
		return nil
	}
	return t.Data
}

func scratchCompare(got, want *ir.Tensor) error {
	if got == nil {
		return fmt.Errorf("missing")
	}
	if got.DType != want.DType || fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		return fmt.Errorf("got %v%v want %v%v", got.DType, got.Shape, want.DType, want.Shape)
	}
	if want.DType == ir.String {
		if fmt.Sprint(got.Data) != fmt.Sprint(want.Data) {
			return fmt.Errorf("strings differ")
		}
		return nil
	}
	for i := 0; i < got.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		if math.IsNaN(g) && math.IsNaN(w) {
			continue
		}
		if math.Abs(g-w) > 1e-5+1e-3*math.Abs(w) {
			return fmt.Errorf("element %d: %v want %v", i, g, w)
		}
	}
	return nil
}
