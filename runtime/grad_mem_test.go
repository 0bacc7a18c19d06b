package runtime

import (
	"context"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Tests of the trainer's buffer pool (grad_mem.go).

// blockModel is a small MobileNet-like network: x[N,3,hw,hw] → Conv 3×3
// stride 2 → Clip → depthwise Conv 3×3 → Clip → pointwise Conv → Add (the
// residual: the first Clip's output is read twice) → BatchNormalization →
// MaxPool → AveragePool → GlobalAveragePool → Flatten → Gemm → logits
// [N,5]. Its activations are large enough (N·8·hw/2·hw/2 floats) for the
// pool at 16×16 images.
func blockModel(r *rand.Rand, hw int) *ir.Model {
	tg := newTGraph(-1, 3, hw, hw)
	lo, hi := tg.init("lo", ir.Scalar(float32(0))), tg.init("hi", ir.Scalar(float32(6)))
	c1 := tg.node("Conv", []string{"x", tg.init("w1", randTensor(r, 8, 3, 3, 3)), tg.init("b1", randTensor(r, 8))}, "c1",
		ir.IntsAttr("strides", []int64{2, 2}), ir.IntsAttr("pads", []int64{1, 1, 1, 1}))
	a1 := tg.node("Clip", []string{c1, lo, hi}, "a1")
	c2 := tg.node("Conv", []string{a1, tg.init("w2", randTensor(r, 8, 1, 3, 3)), tg.init("b2", randTensor(r, 8))}, "c2",
		ir.IntsAttr("pads", []int64{1, 1, 1, 1}), ir.IntAttr("group", 8))
	a2 := tg.node("Clip", []string{c2, lo, hi}, "a2")
	c3 := tg.node("Conv", []string{a2, tg.init("w3", randTensor(r, 8, 8, 1, 1))}, "c3")
	res := tg.node("Add", []string{c3, a1}, "res")
	ones := mapTensor(randTensor(r, 8), func(v float32) float32 { return 1 + v/4 })
	bn := tg.node("BatchNormalization", []string{res, tg.init("s", ones), tg.init("bb", randTensor(r, 8)),
		tg.init("rm", randTensor(r, 8)), tg.init("rv", mapTensor(randTensor(r, 8), func(v float32) float32 { return 1 + v*v }))}, "bn")
	mp := tg.node("MaxPool", []string{bn}, "mp", ir.IntsAttr("kernel_shape", []int64{2, 2}), ir.IntsAttr("strides", []int64{2, 2}))
	ap := tg.node("AveragePool", []string{mp}, "ap", ir.IntsAttr("kernel_shape", []int64{3, 3}), ir.IntsAttr("pads", []int64{1, 1, 1, 1}))
	gp := tg.node("GlobalAveragePool", []string{ap}, "gp")
	fl := tg.node("Flatten", []string{gp}, "fl")
	tg.node("Gemm", []string{fl, tg.init("wf", randTensor(r, 5, 8)), tg.init("bf", randTensor(r, 5))}, "logits", ir.IntAttr("transB", 1))
	return tg.model()
}

// TestTrainerMemoryReuse runs the same sequence of steps (training and
// inference semantics, two batch sizes, Forward in between) on trainers
// without a pool, with the default pool, and with a pool that manages
// every buffer and fills the ones handed out without zeroing with NaNs.
// Every result must be bit-identical, a result must not change when later
// steps run, and steady-state steps must take their buffers from the pool.
func TestTrainerMemoryReuse(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	m := blockModel(r, 16)
	batches := []*ir.Tensor{randTensor(r, 4, 3, 16, 16), randTensor(r, 4, 3, 16, 16), randTensor(r, 2, 3, 16, 16), randTensor(r, 4, 3, 16, 16)}
	labels := [][]int64{{0, 1, 2, 3}, {4, 3, 2, 1}, {1, 0}, {2, 2, 4, 0}}
	for _, tier := range simd.Available() {
		t.Run(tier.String(), func(t *testing.T) {
			newTr := func(mode string) *Trainer {
				tr, err := NewTrainer(m, &TrainOptions{Tier: tier.String(), Threads: 2, Training: true, Seed: 3})
				if err != nil {
					t.Fatal(err)
				}
				switch mode {
				case "none":
					tr.mem = nil
				case "poison":
					tr.mem.poison, tr.mem.min = true, 1
				}
				return tr
			}
			modes := []string{"none", "pool", "poison"}
			trs := make([]*Trainer, len(modes))
			for i, mode := range modes {
				trs[i] = newTr(mode)
			}
			type out struct {
				res    *StepResult
				logits *ir.Tensor // Forward's
			}
			type snap struct {
				loss  float64
				grads map[string][]float32
				in    []float32
			}
			take := func(res *StepResult) snap {
				s := snap{loss: res.Loss, grads: map[string][]float32{}, in: slices.Clone(res.GradInput.F32())}
				for k, v := range res.Grads {
					s.grads[k] = slices.Clone(v.F32())
				}
				return s
			}
			var first []snap // each trainer's first result, as returned
			var keep []*StepResult
			for step := 0; step < 2*len(batches); step++ {
				b := step % len(batches)
				outs := make([]out, len(trs))
				for i, tr := range trs {
					tr.SetTraining(step%3 != 2)
					res, err := tr.Step(context.Background(), batches[b], labels[b], true)
					if err != nil {
						t.Fatalf("%s step %d: %v", modes[i], step, err)
					}
					lo, err := tr.Forward(context.Background(), batches[(b+1)%len(batches)])
					if err != nil {
						t.Fatalf("%s step %d: Forward: %v", modes[i], step, err)
					}
					outs[i] = out{res, lo}
					if step == 0 {
						first = append(first, take(res))
						keep = append(keep, res)
					}
				}
				w := outs[0]
				if math.IsNaN(w.res.Loss) {
					t.Fatalf("step %d: loss NaN", step)
				}
				for i, o := range outs[1:] {
					name := modes[i+1]
					if o.res.Loss != w.res.Loss || o.res.Correct != w.res.Correct {
						t.Fatalf("%s step %d: loss %v correct %d, without the pool %v %d", name, step, o.res.Loss, o.res.Correct, w.res.Loss, w.res.Correct)
					}
					if !slices.Equal(o.res.Logits.F32(), w.res.Logits.F32()) || !slices.Equal(o.logits.F32(), w.logits.F32()) {
						t.Fatalf("%s step %d: logits differ from those without the pool", name, step)
					}
					if !slices.Equal(o.res.GradInput.F32(), w.res.GradInput.F32()) {
						t.Fatalf("%s step %d: input gradient differs from the one without the pool", name, step)
					}
					for p, g := range w.res.Grads {
						if !slices.Equal(o.res.Grads[p].F32(), g.F32()) {
							t.Fatalf("%s step %d: gradient of %s differs from the one without the pool", name, step, p)
						}
					}
				}
			}
			// The first step's results are the caller's: later steps
			// must not have written into them.
			for i, res := range keep {
				got := take(res)
				if got.loss != first[i].loss || !slices.Equal(got.in, first[i].in) {
					t.Fatalf("%s: the first step's results changed under later steps", modes[i])
				}
				for p, g := range first[i].grads {
					if !slices.Equal(got.grads[p], g) {
						t.Fatalf("%s: the first step's gradient of %s changed under later steps", modes[i], p)
					}
				}
			}
			if st := trs[1].mem.stats(); st.reused == 0 {
				t.Errorf("the pool reused nothing: %v", st)
			}
		})
	}
}

// TestTrainerMemorySteadyState: once warm, a step allocates afresh only
// what it hands to the caller (the gradients), and far less than a step
// without the pool.
func TestTrainerMemorySteadyState(t *testing.T) {
	r := rand.New(rand.NewPCG(53, 54))
	// A larger batch and images, so that the activations dwarf the
	// gradients and the engine's own bookkeeping (and the race
	// detector's).
	m := blockModel(r, 48)
	x := randTensor(r, 16, 3, 48, 48)
	labels := make([]int64, 16)
	for i := range labels {
		labels[i] = int64(i % 5)
	}
	alloc := func(tr *Trainer) uint64 {
		var ms goruntime.MemStats
		goruntime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		if _, err := tr.Step(context.Background(), x, labels, false); err != nil {
			t.Fatal(err)
		}
		goruntime.ReadMemStats(&ms)
		return ms.TotalAlloc - before
	}
	pooled, err := NewTrainer(m, &TrainOptions{Threads: 1, Training: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewTrainer(m, &TrainOptions{Threads: 1, Training: true})
	if err != nil {
		t.Fatal(err)
	}
	plain.mem = nil
	for range 2 { // warm up
		alloc(pooled)
		alloc(plain)
	}
	before := pooled.mem.stats()
	const steps = 3
	var withPool, without uint64
	for range steps {
		withPool += alloc(pooled)
		without += alloc(plain)
	}
	after := pooled.mem.stats()
	// Fresh buffers: only the detached gradients (those of at least
	// gradMemMin floats: none in this model) may be new.
	var gradBytes int64
	for _, p := range pooled.Params() {
		if n := pooled.Param(p).Len(); n >= gradMemMin {
			gradBytes += int64(gradClass(n)) * 4
		}
	}
	if fresh := after.freshBytes - before.freshBytes; fresh > steps*gradBytes {
		t.Errorf("steady-state steps allocated %d bytes of fresh buffers, want at most %d (the gradients): %v", fresh, steps*gradBytes, after)
	}
	if after.reused-before.reused == 0 {
		t.Errorf("steady-state steps reused no buffer: %v", after)
	}
	// (Without the race detector it is a few percent; with it, sync.Pool
	// drops some of the ops' scratch, which is then allocated again.)
	if withPool*3 > without {
		t.Errorf("a steady-state step allocates %d bytes with the pool, %d without: want at most a third", withPool/steps, without/steps)
	}
	t.Logf("bytes allocated per step: %d with the pool, %d without; %v", withPool/steps, without/steps, after)
}

func TestGradMemClasses(t *testing.T) {
	for _, n := range []int{1, 2, 15, 16, 17, 1000, 1024, 1025, 4097, 1 << 20, 3<<20 + 1, 123456789} {
		c := gradClass(n)
		if c < n || (n > 16 && float64(c) > float64(n)*1.125) {
			t.Errorf("gradClass(%d) = %d", n, c)
		}
		if gradClass(c) != c {
			t.Errorf("gradClass(gradClass(%d) = %d) = %d: classes must be fixed points", n, c, gradClass(c))
		}
	}
}

// TestGradMemViews: a view that starts inside a pooled buffer pins it for
// the rest of the call; detaching a view detaches the buffer; freed and
// unreferenced buffers come back.
func TestGradMemViews(t *testing.T) {
	m := newGradMem()
	a := m.get(4096, false)
	at, _ := ir.FromFloat32([]int{4096}, a)
	view, _ := ir.FromFloat32([]int{10}, a[100:110])
	m.ref(at)
	m.ref(view) // pins a
	m.unref(at)
	if b := m.get(4096, true); &b[0] == &a[0] {
		t.Fatal("a pinned buffer was handed out again")
	}
	m.endCall()
	// After the call, a is idle and comes back (with stale contents).
	b := m.get(4096, false)
	if &b[0] != &a[0] && m.stats().reused == 0 {
		t.Fatal("no idle buffer was reused after the call ended")
	}
	bt, _ := ir.FromFloat32([]int{10}, b[5:15])
	m.detach(bt)
	m.endCall()
	for range 3 {
		if c := m.get(4096, false); &c[0] == &b[0] {
			t.Fatal("a detached buffer was handed out again")
		}
	}
	// Unreferenced scratch freed mid-call is reused within the call.
	m.endCall()
	s := m.get(5000, false)
	m.free(s)
	if s2 := m.get(5000, true); &s2[0] != &s[0] {
		t.Error("freed scratch was not reused")
	} else if s2[0] != 0 || s2[4999] != 0 {
		t.Error("a buffer asked for zeroed is not")
	}
	// Idle buffers unused for two calls are dropped.
	m.endCall()
	m.endCall()
	m.endCall()
	if st := m.stats(); st.retained != 0 {
		t.Errorf("after idle calls the pool retains %d bytes", st.retained)
	}
}
