package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// gnShapes are BatchNormalization input shapes: NCHW, N×C, N, a 1-D
// map, planes above and below the gathering threshold, batch 1 and 3,
// odd channel counts.
var gnShapes = [][]int{
	{2, 3, 4, 5},
	{3, 4},
	{5},
	{2, 3, 40},
	{1, 5, 6, 7},
	{3, 1, 2, 2},
}

// gnInputs returns X, scale, B, mean and var (var positive) for shape x.
func gnInputs(rng *rand.Rand, x []int) []*ir.Tensor {
	c := normChannels(x)
	in := []*ir.Tensor{randTensor(rng, x...), randTensor(rng, c), randTensor(rng, c), randTensor(rng, c), randTensor(rng, c)}
	for i, v := range in[4].F32() {
		in[4].F32()[i] = float32(math.Abs(float64(v))) + 0.2
	}
	// Shift X so that the batch mean is far from 0 (stresses the
	// two-pass variance).
	for i := range in[0].F32() {
		in[0].F32()[i] += 3
	}
	return in
}

func gnNode(nout int, attrs ...*ir.Attr) *ir.Node {
	return wtNode("BatchNormalization", 5, nout, attrs...)
}

func TestGradBatchNormInferenceFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(101, 102))
	for _, sh := range gnShapes {
		in := gnInputs(rng, sh)
		checkGradCase(t, fmt.Sprint(sh), gradCase{node: gnNode(1, ir.FloatAttr("epsilon", 1e-3)), in: in})
	}
}

// gnTrain64 is the float64 oracle of training-mode BatchNormalization:
// Y from the batch mean and biased variance over N and the spatial axes,
// and the running statistics updated with the unbiased variance.
func gnTrain64(in []*ir.Tensor, eps, mom float64) (y, runMean, runVar []float64) {
	xs := in[0].Shape
	c := normChannels(xs)
	inner := 1
	if len(xs) > 2 {
		inner = prod(xs[2:])
	}
	n := xs[0]
	x := in[0].F64()
	y = make([]float64, len(x))
	runMean, runVar = make([]float64, c), make([]float64, c)
	cnt := float64(n * inner)
	for ch := 0; ch < c; ch++ {
		s := 0.0
		for b := 0; b < n; b++ {
			for _, v := range x[(b*c+ch)*inner:][:inner] {
				s += v
			}
		}
		mean := s / cnt
		ss := 0.0
		for b := 0; b < n; b++ {
			for _, v := range x[(b*c+ch)*inner:][:inner] {
				ss += (v - mean) * (v - mean)
			}
		}
		v := ss / cnt
		a := in[1].Float64At(ch) / math.Sqrt(v+eps)
		for b := 0; b < n; b++ {
			for j, xv := range x[(b*c+ch)*inner:][:inner] {
				y[(b*c+ch)*inner+j] = (xv-mean)*a + in[2].Float64At(ch)
			}
		}
		runMean[ch] = mom*in[3].Float64At(ch) + (1-mom)*mean
		runVar[ch] = mom*in[4].Float64At(ch) + (1-mom)*v*cnt/(cnt-1)
	}
	return y, runMean, runVar
}

func TestGradBatchNormTrainingFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(103, 104))
	for _, sh := range gnShapes {
		if cnt := sh[0] * prod(sh[min(2, len(sh)):]); cnt < 2 {
			continue
		}
		in := gnInputs(rng, sh)
		fwd := func(in []*ir.Tensor) ([]*ir.Tensor, error) {
			y, _, _ := gnTrain64(in, 1e-5, 0.9)
			t, err := ir.FromSlice(slices.Clone(in[0].Shape), y)
			return []*ir.Tensor{t}, err
		}
		checkGradCase(t, fmt.Sprint(sh), gradCase{node: gnNode(1), in: in, training: true, fwd64: fwd})
	}
}

// TestGradBatchNormRunningStats checks training mode's in-place update
// of the running statistics, and its running_mean / running_var outputs,
// against the float64 oracle, on every tier, serially and on threads.
func TestGradBatchNormRunningStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(105, 106))
	for _, sh := range [][]int{{2, 3, 4, 5}, {6, 4}, {3, 2, 50}} {
		orig := gnInputs(rng, sh)
		const eps, mom = 1e-3, 0.7
		in64 := make([]*ir.Tensor, len(orig))
		for i, x := range orig {
			in64[i] = to64(x)
		}
		wantY, wantM, wantV := gnTrain64(in64, eps, mom)
		for _, tier := range simd.Available() {
			for _, par := range []simd.Parallel{nil, gcPool} {
				in := make([]*ir.Tensor, len(orig))
				for i, x := range orig {
					in[i] = x.Clone()
				}
				c := &gradCtx{k: simd.ForTier(tier), par: par, training: true, limit: 1 << 24}
				node := gnNode(3, ir.FloatAttr("epsilon", eps), ir.FloatAttr("momentum", mom))
				out, _, err := bnGradForward(c, node, in)
				if err != nil {
					t.Fatal(err)
				}
				name := fmt.Sprintf("%v/%v/threads%d", sh, tier, simd.ThreadsOf(par))
				gnClose(t, name+" Y", out[0].F32(), wantY, 1e-5)
				gnClose(t, name+" running_mean", in[3].F32(), wantM, 1e-6)
				gnClose(t, name+" running_var", in[4].F32(), wantV, 1e-6)
				if !slices.Equal(out[1].F32(), in[3].F32()) || !slices.Equal(out[2].F32(), in[4].F32()) {
					t.Errorf("%s: outputs 1, 2 are not the updated statistics", name)
				}
				if &out[1].F32()[0] == &in[3].F32()[0] {
					t.Errorf("%s: output 1 aliases input 3", name)
				}
			}
		}
	}
}

// gnClose fails unless got[i] is within tol·max(1, |want[i]|).
func gnClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	for i, w := range want {
		if d := math.Abs(float64(got[i]) - w); !(d <= tol*math.Max(1, math.Abs(w))) {
			t.Errorf("%s[%d] = %v, want %v", what, i, got[i], w)
			return
		}
	}
}

// TestGradBatchNormInferenceOutputs: in inference the optional outputs
// are the unchanged statistics and the inputs are not modified.
func TestGradBatchNormInferenceOutputs(t *testing.T) {
	rng := rand.New(rand.NewPCG(107, 108))
	in := gnInputs(rng, []int{2, 3, 4, 4})
	m0, v0 := slices.Clone(in[3].F32()), slices.Clone(in[4].F32())
	c := &gradCtx{k: simd.Best(), limit: 1 << 24}
	out, _, err := bnGradForward(c, gnNode(3, ir.IntAttr("training_mode", 1)), in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out[1].F32(), m0) || !slices.Equal(out[2].F32(), v0) || !slices.Equal(in[3].F32(), m0) || !slices.Equal(in[4].F32(), v0) {
		t.Error("inference changed the running statistics")
	}
}

// TestGradBatchNormThreads: gradients on 4 threads equal the serial ones
// (each channel is one task).
func TestGradBatchNormThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(109, 110))
	for _, training := range []bool{false, true} {
		for _, sh := range [][]int{{4, 16, 9, 9}, {8, 33}} {
			orig := gnInputs(rng, sh)
			var ref []*ir.Tensor
			for _, par := range []simd.Parallel{nil, gcPool} {
				in := make([]*ir.Tensor, len(orig))
				for i, x := range orig {
					in[i] = x.Clone()
				}
				c := &gradCtx{k: simd.Best(), par: par, training: training, limit: 1 << 24}
				out, saved, err := bnGradForward(c, gnNode(1), in)
				if err != nil {
					t.Fatal(err)
				}
				dy := randTensor(rand.New(rand.NewPCG(5, 6)), sh...)
				din, err := bnGradBackward(c, gnNode(1), in, out, saved, []*ir.Tensor{dy}, []bool{true, true, true, false, false})
				if err != nil {
					t.Fatal(err)
				}
				got := []*ir.Tensor{out[0], din[0], din[1], din[2]}
				if ref == nil {
					ref = got
					continue
				}
				for i := range got {
					if !slices.Equal(got[i].F32(), ref[i].F32()) {
						t.Errorf("training %v %v: result %d differs on 4 threads", training, sh, i)
					}
				}
			}
		}
	}
}

func TestGradBatchNormNeedSubsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(111, 112))
	for _, training := range []bool{false, true} {
		for i := 0; i < 3; i++ {
			in := gnInputs(rng, []int{2, 3, 5, 5})
			var fwd func([]*ir.Tensor) ([]*ir.Tensor, error)
			if training {
				fwd = func(in []*ir.Tensor) ([]*ir.Tensor, error) {
					y, _, _ := gnTrain64(in, 1e-5, 0.9)
					t, err := ir.FromSlice(slices.Clone(in[0].Shape), y)
					return []*ir.Tensor{t}, err
				}
			}
			checkGradCase(t, fmt.Sprintf("training%v/need%d", training, i), gradCase{node: gnNode(1), in: in, need: []int{i}, training: training, fwd64: fwd, maxProbe: 16})
		}
	}
}

func TestGradBatchNormErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(113, 114))
	for _, tc := range []struct {
		name     string
		in       []*ir.Tensor
		training bool
		nout     int
	}{
		{"bad scale", []*ir.Tensor{randTensor(rng, 2, 3, 2), randTensor(rng, 2), randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3)}, false, 1},
		{"missing var", []*ir.Tensor{randTensor(rng, 2, 3, 2), randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3)}, true, 1},
		{"one value per channel", []*ir.Tensor{randTensor(rng, 1, 3), randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3)}, true, 1},
		{"five outputs", gnInputs(rng, []int{2, 3}), true, 5},
		{"float64 training", []*ir.Tensor{to64(randTensor(rng, 2, 3)), randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3)}, true, 1},
	} {
		c := &gradCtx{k: simd.Best(), training: tc.training, limit: 1 << 20}
		if _, _, err := bnGradForward(c, gnNode(tc.nout), tc.in); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}
