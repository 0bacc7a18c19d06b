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

// Finite-difference checks for gradOps, shared by the grad_*_test.go files.
//
// The loss is a random linear functional of the node's outputs,
// L = Σ_i Σ_j r_ij·out_i[j], so dL/dout_i = r_i. The analytic gradient is
// the op's backward (float32, on the tier under test) fed with r; the
// numerical one is a central difference of L computed in float64 by the
// reference operator (or by fwd64 when the op's training forward differs
// from inference).

// gradCase is one finite-difference check.
type gradCase struct {
	node *ir.Node
	in   []*ir.Tensor // float32 inputs (and int64 ones such as shapes); nil for omitted optional inputs
	// need lists the inputs whose gradient is checked (nil: every float32
	// input the op differentiates).
	need []int
	// training runs forward and backward with training semantics.
	training bool
	// fwd64 computes the outputs in float64 from float64 copies of the
	// inputs (nil: the reference operator through EvalNode).
	fwd64 func(in []*ir.Tensor) ([]*ir.Tensor, error)
	// maxProbe bounds the elements probed per input (0: 64); the probed
	// elements are chosen at random, always including the first and last.
	maxProbe int
	// rtol and atol: |analytic - numeric| <= atol + rtol·|numeric| (0: 1e-3
	// and 1e-4 scaled by the largest |numeric| of that input).
	rtol, atol float64
}

// to64 returns a float64 copy of a float32 tensor (others are returned as is).
func to64(t *ir.Tensor) *ir.Tensor {
	if t == nil || t.DType != ir.Float32 {
		return t
	}
	d := make([]float64, t.Len())
	for i, v := range t.F32() {
		d[i] = float64(v)
	}
	out, err := ir.FromSlice(append([]int(nil), t.Shape...), d)
	if err != nil {
		panic(err)
	}
	return out
}

// randTensor returns a float32 tensor of the shape with values uniform in
// [-1, 1).
func randTensor(r *rand.Rand, shape ...int) *ir.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(r.Float64()*2 - 1)
	}
	t, err := ir.FromFloat32(shape, d)
	if err != nil {
		panic(err)
	}
	return t
}

// checkGradCase runs the check on every SIMD tier this CPU has.
func checkGradCase(t *testing.T, name string, gc gradCase) {
	t.Helper()
	for _, tier := range simd.Available() {
		t.Run(fmt.Sprintf("%s/%v", name, tier), func(t *testing.T) {
			checkGradOnTier(t, gc, simd.ForTier(tier))
		})
	}
}

func checkGradOnTier(t *testing.T, gc gradCase, k *simd.Kernels) {
	t.Helper()
	op, ok := gradOps[opKey(gc.node)]
	if !ok {
		t.Fatalf("no gradient registered for %s", opKey(gc.node))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// A poisoning pool: every buffer an op takes without zeroing starts as
	// NaNs, so an element it forgets to write fails the check.
	mem := newGradMem()
	mem.poison, mem.min = true, 1
	c := &gradCtx{k: k, training: gc.training, rng: rand.New(rand.NewPCG(7, 7)), limit: 1 << 26, mem: mem}
	var out []*ir.Tensor
	var saved any
	var err error
	if op.forward != nil {
		out, saved, err = op.forward(c, gc.node, gc.in)
	} else {
		out, err = EvalNode(gc.node, gc.in, c.limit)
	}
	if err != nil {
		t.Fatalf("forward: %v", err)
	}
	// The forward must agree with the float64 one (for the inference
	// semantics, or fwd64's).
	fwd := gc.fwd64
	if fwd == nil {
		fwd = func(in []*ir.Tensor) ([]*ir.Tensor, error) { return EvalNode(gc.node, in, 0) }
	}
	in64 := make([]*ir.Tensor, len(gc.in))
	for i, x := range gc.in {
		in64[i] = to64(x)
	}
	ref, err := fwd(in64)
	if err != nil {
		t.Fatalf("float64 forward: %v", err)
	}
	for i := range out {
		if out[i].DType != ir.Float32 {
			continue
		}
		for j, v := range out[i].F32() {
			w := ref[i].Float64At(j)
			if math.Abs(float64(v)-w) > 1e-4+1e-4*math.Abs(w) || (v != v) != math.IsNaN(w) {
				t.Fatalf("forward output %d[%d] = %v, float64 reference %v", i, j, v, w)
			}
		}
	}
	// Random cotangents.
	dout := make([]*ir.Tensor, len(out))
	r := make([][]float64, len(out))
	for i, o := range out {
		if o.DType != ir.Float32 {
			continue
		}
		dout[i] = randTensor(rng, o.Shape...)
		r[i] = to64(dout[i]).F64()
	}
	need := make([]bool, len(gc.in))
	if gc.need == nil {
		for i, x := range gc.in {
			need[i] = x != nil && x.DType == ir.Float32 && op.differentiable(i)
		}
	} else {
		for _, i := range gc.need {
			need[i] = true
		}
	}
	din, err := op.backward(c, gc.node, gc.in, out, saved, dout, need)
	if err != nil {
		t.Fatalf("backward: %v", err)
	}
	if len(din) != len(gc.in) {
		t.Fatalf("backward returned %d gradients for %d inputs", len(din), len(gc.in))
	}
	loss := func(in []*ir.Tensor) float64 {
		o, err := fwd(in)
		if err != nil {
			t.Fatalf("float64 forward: %v", err)
		}
		s := 0.0
		for i := range o {
			if r[i] == nil {
				continue
			}
			for j, w := range r[i] {
				s += w * o[i].Float64At(j)
			}
		}
		return s
	}
	for i, want := range need {
		if !want {
			continue
		}
		g := din[i]
		if g == nil || g.DType != ir.Float32 || !slices.Equal(g.Shape, gc.in[i].Shape) {
			t.Fatalf("gradient of input %d: got %v, want float32 of shape %v", i, g, gc.in[i].Shape)
		}
		x := in64[i].F64()
		probes := probeIndices(rng, len(x), gc.maxProbe)
		num := make([]float64, len(probes))
		big := 0.0
		for pi, j := range probes {
			h := 1e-6 * math.Max(1, math.Abs(x[j]))
			old := x[j]
			x[j] = old + h
			lp := loss(in64)
			x[j] = old - h
			lm := loss(in64)
			x[j] = old
			num[pi] = (lp - lm) / (2 * h)
			big = math.Max(big, math.Abs(num[pi]))
		}
		rtol, atol := gc.rtol, gc.atol
		if rtol == 0 {
			rtol = 1e-3
		}
		if atol == 0 {
			atol = 1e-4 * math.Max(1, big)
		}
		for pi, j := range probes {
			a := float64(g.F32()[j])
			if !(math.Abs(a-num[pi]) <= atol+rtol*math.Abs(num[pi])) { // NaN fails
				t.Errorf("d/d input %d[%d]: backward %.7g, finite difference %.7g", i, j, a, num[pi])
			}
		}
	}
}

// probeIndices picks up to max (0: 64) distinct indices of n, always
// including 0 and n-1.
func probeIndices(r *rand.Rand, n, max int) []int {
	if max <= 0 {
		max = 64
	}
	if n <= max {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	seen := map[int]bool{0: true, n - 1: true}
	idx := []int{0, n - 1}
	for len(idx) < max {
		j := r.IntN(n)
		if !seen[j] {
			seen[j] = true
			idx = append(idx, j)
		}
	}
	return idx
}
