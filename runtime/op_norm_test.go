package runtime

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// wtChannelOf returns the channel of flat element i of a tensor of shape x
// (channel 0 for rank 1).
func wtChannelOf(i int, x []int) int {
	if len(x) < 2 {
		return 0
	}
	inner := prod(x[2:])
	return (i / inner) % x[1]
}

func TestBatchNormalizationAppliesTheInferenceFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	cases := []struct {
		name      string
		x         []int
		eps       float32
		f64       bool
		f64Params bool
	}{
		{name: "4-D", x: []int{2, 3, 4, 5}},
		{name: "4-D with epsilon", x: []int{1, 3, 2, 2}, eps: 0.01},
		{name: "2-D (N x C)", x: []int{4, 3}},
		{name: "1-D (one channel)", x: []int{5}},
		{name: "5-D", x: []int{1, 2, 2, 3, 2}},
		{name: "float64", x: []int{2, 3, 3}, f64: true},
		{name: "float32 input with float64 statistics", x: []int{2, 3, 3}, f64Params: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch := 1
			if len(c.x) > 1 {
				ch = c.x[1]
			}
			x := wtRand(t, rng, c.x...)
			scale, bias, mean := wtRand(t, rng, ch), wtRand(t, rng, ch), wtRand(t, rng, ch)
			vr := wtRand(t, rng, ch)
			for i, v := range vr.F32() {
				vr.F32()[i] = v*v + 0.1
			}
			eps := 1e-5
			var attrs []*ir.Attr
			if c.eps != 0 {
				attrs = append(attrs, ir.FloatAttr("epsilon", c.eps))
				eps = float64(c.eps)
			}
			xf, s, b, m, v := wtF64(x), wtF64(scale), wtF64(bias), wtF64(mean), wtF64(vr)
			want := make([]float64, len(xf))
			for i, e := range xf {
				k := wtChannelOf(i, c.x)
				want[i] = s[k]*(e-m[k])/math.Sqrt(v[k]+eps) + b[k]
			}
			in := []*ir.Tensor{x, scale, bias, mean, vr}
			tol := 1e-5
			if c.f64 {
				for i := range in {
					in[i] = wtToF64(t, in[i])
				}
				tol = 1e-12
			}
			if c.f64Params {
				for i := 1; i < 5; i++ {
					in[i] = wtToF64(t, in[i])
				}
			}
			got, err := execNode(wtNode("BatchNormalization", 5, 1, attrs...), in)
			if err != nil {
				t.Fatal(err)
			}
			if got[0].DType != in[0].DType {
				t.Fatalf("output type %v, want %v", got[0].DType, in[0].DType)
			}
			wtClose(t, got[0], c.x, want, tol)
		})
	}
}

func TestBatchNormalizationRunningStatisticsOutputsPassThrough(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	in := []*ir.Tensor{wtRand(t, rng, 1, 2, 2), wtRand(t, rng, 2), wtRand(t, rng, 2), wtRand(t, rng, 2), wtRand(t, rng, 2)}
	for i, v := range in[4].F32() {
		in[4].F32()[i] = v*v + 1
	}
	got, err := execNode(wtNode("BatchNormalization", 5, 3), in)
	if err != nil {
		t.Fatal(err)
	}
	wtClose(t, got[1], []int{2}, wtF64(in[3]), 0)
	wtClose(t, got[2], []int{2}, wtF64(in[4]), 0)
}

func TestBatchNormalizationRejectsTrainingModeAndBadParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	params := func(n int) []*ir.Tensor {
		return []*ir.Tensor{wtRand(t, rng, n), wtRand(t, rng, n), wtRand(t, rng, n), wtRand(t, rng, n)}
	}
	x := wtRand(t, rng, 1, 3, 2, 2)

	_, err := execNode(wtNode("BatchNormalization", 5, 3, ir.IntAttr("training_mode", 1)), append([]*ir.Tensor{x}, params(3)...))
	if !errors.Is(err, errBNTraining) || !strings.Contains(err.Error(), "training mode is not supported in inference") {
		t.Errorf("training_mode=1: got %v, want the training mode error", err)
	}

	_, err = execNode(wtNode("BatchNormalization", 5, 1), append([]*ir.Tensor{x}, params(2)...))
	if err == nil || !strings.Contains(err.Error(), "want [3]") {
		t.Errorf("2 parameters for 3 channels: got %v", err)
	}

	p := params(3)
	p[2], _ = ir.FromSlice([]int{3}, []int64{1, 2, 3})
	_, err = execNode(wtNode("BatchNormalization", 5, 1), append([]*ir.Tensor{x}, p...))
	if err == nil || !strings.Contains(err.Error(), "int64") {
		t.Errorf("int64 mean: got %v", err)
	}

	xi, _ := ir.FromSlice([]int{1, 3}, []int32{1, 2, 3})
	_, err = execNode(wtNode("BatchNormalization", 5, 1), append([]*ir.Tensor{xi}, params(3)...))
	if err == nil || !strings.Contains(err.Error(), "int32") {
		t.Errorf("int32 X: got %v", err)
	}
}

func TestInstanceNormalizationNormalizesEachPlane(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, c := range []struct {
		name string
		x    []int
		eps  float32
		f64  bool
	}{
		{name: "4-D", x: []int{2, 3, 4, 5}},
		{name: "3-D with epsilon", x: []int{2, 2, 7}, eps: 0.01},
		{name: "5-D float64", x: []int{1, 2, 2, 3, 2}, f64: true},
		{name: "single spatial element", x: []int{2, 2, 1, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, scale, bias := wtRand(t, rng, c.x...), wtRand(t, rng, c.x[1]), wtRand(t, rng, c.x[1])
			eps := 1e-5
			var attrs []*ir.Attr
			if c.eps != 0 {
				attrs = append(attrs, ir.FloatAttr("epsilon", c.eps))
				eps = float64(c.eps)
			}
			xf, s, b := wtF64(x), wtF64(scale), wtF64(bias)
			inner := prod(c.x[2:])
			want := make([]float64, len(xf))
			for pl := 0; pl < len(xf)/inner; pl++ {
				seg := xf[pl*inner : (pl+1)*inner]
				mean, sq := 0.0, 0.0
				for _, v := range seg {
					mean += v
				}
				mean /= float64(inner)
				for _, v := range seg {
					sq += (v - mean) * (v - mean)
				}
				sd := math.Sqrt(sq/float64(inner) + eps)
				k := pl % c.x[1]
				for j, v := range seg {
					want[pl*inner+j] = s[k]*(v-mean)/sd + b[k]
				}
			}
			in := []*ir.Tensor{x, scale, bias}
			tol := 1e-5
			if c.f64 {
				for i := range in {
					in[i] = wtToF64(t, in[i])
				}
				tol = 1e-12
			}
			got, err := execNode(wtNode("InstanceNormalization", 3, 1, attrs...), in)
			if err != nil {
				t.Fatal(err)
			}
			wtClose(t, got[0], c.x, want, tol)
		})
	}
}

func TestInstanceNormalizationRejectsBadParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	_, err := execNode(wtNode("InstanceNormalization", 3, 1), []*ir.Tensor{wtRand(t, rng, 1, 3, 2), wtRand(t, rng, 3), wtRand(t, rng, 2)})
	if err == nil || !strings.Contains(err.Error(), "B has shape [2], want [3]") {
		t.Errorf("short bias: got %v", err)
	}
	_, err = execNode(wtNode("InstanceNormalization", 3, 1), []*ir.Tensor{wtRand(t, rng, 3), wtRand(t, rng, 3), wtRand(t, rng, 3)})
	if err == nil || !strings.Contains(err.Error(), "rank 2 or more") {
		t.Errorf("rank-1 input: got %v", err)
	}
}

func TestLRNMatchesTheDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, c := range []struct {
		name                string
		x                   []int
		size                int
		alpha, beta, bias   float32
		defaults, float64In bool
	}{
		{name: "defaults, odd size", x: []int{1, 5, 3, 3}, size: 3, defaults: true},
		{name: "even size", x: []int{2, 6, 2, 3}, size: 4, alpha: 0.001, beta: 0.5, bias: 2},
		{name: "size larger than the channel count", x: []int{1, 3, 4}, size: 7, alpha: 0.1, beta: 0.75, bias: 1},
		{name: "size 1", x: []int{1, 4, 2, 2}, size: 1, alpha: 0.5, beta: 1, bias: 1},
		{name: "float64 3-D spatial", x: []int{1, 4, 2, 2, 2}, size: 2, alpha: 0.2, beta: 0.6, bias: 1.5, float64In: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			attrs := []*ir.Attr{ir.IntAttr("size", int64(c.size))}
			alpha, beta, bias := 1e-4, 0.75, 1.0
			if !c.defaults {
				attrs = append(attrs, ir.FloatAttr("alpha", c.alpha), ir.FloatAttr("beta", c.beta), ir.FloatAttr("bias", c.bias))
				alpha, beta, bias = float64(c.alpha), float64(c.beta), float64(c.bias)
			}
			x := wtRand(t, rng, c.x...)
			xf := wtF64(x)
			C, inner := c.x[1], prod(c.x[2:])
			want := make([]float64, len(xf))
			for i := range xf {
				ch := (i / inner) % C
				base := i - ch*inner
				sq := 0.0
				for k := ch - (c.size-1)/2; k <= ch+int(math.Ceil(float64(c.size-1)/2)); k++ {
					if k >= 0 && k < C {
						sq += xf[base+k*inner] * xf[base+k*inner]
					}
				}
				want[i] = xf[i] / math.Pow(bias+alpha/float64(c.size)*sq, beta)
			}
			tol := 1e-5
			if c.float64In {
				x = wtToF64(t, x)
				tol = 1e-12
			}
			got, err := execNode(wtNode("LRN", 1, 1, attrs...), []*ir.Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			wtClose(t, got[0], c.x, want, tol)
		})
	}
}

func TestLRNRejectsBadSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	x := wtRand(t, rng, 1, 3, 2, 2)
	if _, err := execNode(wtNode("LRN", 1, 1), []*ir.Tensor{x}); err == nil || !strings.Contains(err.Error(), "size attribute is required") {
		t.Errorf("missing size: got %v", err)
	}
	if _, err := execNode(wtNode("LRN", 1, 1, ir.IntAttr("size", 0)), []*ir.Tensor{x}); err == nil || !strings.Contains(err.Error(), "size 0") {
		t.Errorf("size 0: got %v", err)
	}
}
