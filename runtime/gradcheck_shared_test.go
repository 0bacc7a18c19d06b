package runtime_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
	"github.com/runinfer/runinfer/simd"
)

// The whole networks of ../shared/gradcheck (small CNNs exported from
// PyTorch in eval mode) against PyTorch's loss, logits and gradients.
//
// Tolerance: |got - want| <= rtol·|want| + atol with rtol = 1e-3 and atol =
// 1e-4·max|want| over the tensor. The atol is needed because both sides
// accumulate in float32 in different orders: an element that is a sum of
// many terms of mixed sign with a small result (a weight gradient summed
// over a batch and positions) carries an absolute error of a few float32
// ulps of the large terms, which is a large relative error of the small
// result. 1e-4 of the tensor's largest magnitude is well above that
// rounding (~1e-6 relative for these sizes) and far below any real error,
// which is of the order of the values themselves.

type gradcheckCase struct {
	InputShape    []int    `json:"input_shape"`
	Classes       int      `json:"classes"`
	Loss          float64  `json:"loss"`
	Trainable     []string `json:"trainable"`
	FrozenBuffers []string `json:"frozen_buffers"`
}

func readTensor(t *testing.T, path string) *ir.Tensor {
	t.Helper()
	x, _, err := onnx.ReadTensor(path)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func compareTensor(t *testing.T, what string, got, want *ir.Tensor, rtol float64) {
	t.Helper()
	if got == nil || got.DType != ir.Float32 || !slices.Equal(got.Shape, want.Shape) {
		t.Errorf("%s: got %v, want float32%v", what, got, want.Shape)
		return
	}
	big := 0.0
	for i := range want.Len() {
		big = math.Max(big, math.Abs(want.Float64At(i)))
	}
	atol := 1e-4 * big
	bad, worst, worstAt, maxErr := 0, 0.0, 0, 0.0
	for i, g := range got.F32() {
		w := want.Float64At(i)
		e := math.Abs(float64(g) - w)
		maxErr = math.Max(maxErr, e)
		if e > atol+rtol*math.Abs(w) {
			bad++
		}
		if r := e / (atol + rtol*math.Abs(w)); r > worst {
			worst, worstAt = r, i
		}
	}
	t.Logf("%s: worst error %.3f of the tolerance; max |error| %.2g of max |PyTorch| %.2g", what, worst, maxErr, big)
	if bad > 0 {
		t.Errorf("%s: %d of %d elements off; worst [%d] = %.7g, PyTorch %.7g (%.1f× the tolerance)",
			what, bad, got.Len(), worstAt, got.F32()[worstAt], want.Float64At(worstAt), worst)
	}
}

func TestGradcheckShared(t *testing.T) {
	dir := testenv.Shared(t, "gradcheck")
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest map[string]gradcheckCase
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	if len(manifest) == 0 {
		t.Fatal("manifest.json lists no cases")
	}
	names := make([]string, 0, len(manifest))
	for name := range manifest {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		tc := manifest[name]
		t.Run(name, func(t *testing.T) {
			cdir := filepath.Join(dir, name)
			m, err := onnx.Load(filepath.Join(cdir, "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			x := readTensor(t, filepath.Join(cdir, "input_0.pb"))
			lt := readTensor(t, filepath.Join(cdir, "labels.pb"))
			labels := lt.I64()
			if labels == nil {
				t.Fatalf("labels.pb is %v, want int64", lt.DType)
			}
			if !slices.Equal(x.Shape, tc.InputShape) {
				t.Fatalf("input_0.pb has shape %v, the manifest says %v", x.Shape, tc.InputShape)
			}
			wantLoss := readTensor(t, filepath.Join(cdir, "expected", "loss.pb")).Float64At(0)
			if math.Abs(wantLoss-tc.Loss) > 1e-6*math.Abs(tc.Loss) {
				t.Fatalf("expected/loss.pb %v disagrees with the manifest's %v", wantLoss, tc.Loss)
			}
			for _, tier := range simd.Available() {
				t.Run(tier.String(), func(t *testing.T) {
					tr, err := runtime.NewTrainer(m, &runtime.TrainOptions{Tier: tier.String(), Threads: 2})
					if err != nil {
						t.Fatal(err)
					}
					want := slices.Clone(tc.Trainable)
					slices.Sort(want)
					got := tr.Params()
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Errorf("parameters %v, the manifest's trainable %v", got, want)
					}
					res, err := tr.Step(context.Background(), x, labels, true)
					if err != nil {
						t.Fatal(err)
					}
					if math.Abs(res.Loss-wantLoss) > 1e-5*math.Abs(wantLoss) {
						t.Errorf("loss %.7g, PyTorch %.7g", res.Loss, wantLoss)
					}
					compareTensor(t, "logits", res.Logits, readTensor(t, filepath.Join(cdir, "expected", "logits.pb")), 1e-3)
					compareTensor(t, "grad_input", res.GradInput, readTensor(t, filepath.Join(cdir, "expected", "grad_input.pb")), 1e-3)
					for _, p := range tc.Trainable {
						compareTensor(t, "grad/"+p, res.Grads[p], readTensor(t, filepath.Join(cdir, "expected", "grad", p+".pb")), 1e-3)
					}
				})
			}
		})
	}
}
