package train

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// BenchmarkFinetuneMobileNetV2 times one training step of MobileNetV2-12
// with a new 3-class head at batch 8 (forward, loss, backward, SGD update;
// no image decoding), at 1 and 2 threads, training every parameter and
// only the head. It reports images per second.
//
//	go test ./train -run '^$' -bench FinetuneMobileNetV2 -benchtime 5x
func BenchmarkFinetuneMobileNetV2(b *testing.B) {
	path := testenv.Shared(b, "models", "mobilenetv2-12", "model.onnx")
	base, err := onnx.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ReplaceHead(base, 3, rand.New(rand.NewPCG(1, 2))); err != nil {
		b.Fatal(err)
	}
	const batch = 8
	rng := rand.New(rand.NewPCG(3, 4))
	x := randTensor(b, rng, batch, 3, 224, 224)
	labels := make([]int64, batch)
	for i := range labels {
		labels[i] = int64(i % 3)
	}
	for _, freeze := range []string{"", AllButHead} {
		for _, threads := range []int{1, 2} {
			name := fmt.Sprintf("all/threads=%d", threads)
			if freeze != "" {
				name = fmt.Sprintf("head/threads=%d", threads)
			}
			b.Run(name, func(b *testing.B) {
				opts := &runtime.TrainOptions{Threads: threads, Training: true}
				if freeze != "" {
					h, err := FindHead(base.Graph)
					if err != nil {
						b.Fatal(err)
					}
					keep := map[string]bool{h.Weight: true, h.Bias: true}
					opts.Trainable = func(n string) bool { return keep[n] }
				}
				tr, err := runtime.NewTrainer(base, opts)
				if err != nil {
					b.Skipf("the trainer cannot train MobileNetV2 yet: %v", err)
				}
				opt := &SGD{Momentum: 0.9, Threads: threads}
				names := tr.Params()
				params := make([]Param, len(names))
				for i, n := range names {
					params[i] = Param{Name: n, Value: tr.Param(n).F32()}
				}
				step := func() {
					r, err := tr.Step(context.Background(), x, labels, false)
					if err != nil {
						b.Fatal(err)
					}
					for i := range params {
						params[i].Grad = r.Grads[params[i].Name].F32()
					}
					if err := opt.Step(params, 0.001); err != nil {
						b.Fatal(err)
					}
				}
				step() // warm up
				b.ResetTimer()
				for range b.N {
					step()
				}
				b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "img/s")
			})
		}
	}
}

// BenchmarkOptimizers times one update of MobileNetV2-sized parameters
// (about 2.2M floats in 100 tensors) by SGD with momentum and by AdamW.
//
//	go test ./train -run '^$' -bench Optimizers
func BenchmarkOptimizers(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var params []Param
	for i := range 100 {
		n := 22000 + 10*i
		v, g := make([]float32, n), make([]float32, n)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
			g[j] = float32(rng.NormFloat64()) * 0.01
		}
		params = append(params, Param{Name: fmt.Sprint("p", i), Value: v, Grad: g})
	}
	for _, o := range []struct {
		name string
		opt  Optimizer
	}{
		{"sgd", &SGD{Momentum: 0.9}},
		{"sgd-1thread", &SGD{Momentum: 0.9, Threads: 1}},
		{"sgd-nesterov-wd", &SGD{Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4}},
		{"adamw", NewAdamW()},
	} {
		b.Run(o.name, func(b *testing.B) {
			for b.Loop() {
				if err := o.opt.Step(params, 1e-6); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOptimizerThreadsAgree: an update split over goroutines (parameters
// above the serial threshold, cut into pieces) gives bit-identical
// parameters and state to a serial one, for every optimizer setting.
func TestOptimizerThreadsAgree(t *testing.T) {
	mk := func() []Param {
		rng := rand.New(rand.NewPCG(7, 8))
		var ps []Param
		for i, n := range []int{3, 5*optPiece + 17, 1000, 2*optPiece - 1} {
			v, g := make([]float32, n), make([]float32, n)
			for j := range v {
				v[j] = float32(rng.NormFloat64())
				g[j] = float32(rng.NormFloat64())
			}
			ps = append(ps, Param{Name: fmt.Sprint("p", i), Value: v, Grad: g})
		}
		return ps
	}
	opts := func(threads int) []Optimizer {
		a := NewAdamW()
		a.Threads = threads
		return []Optimizer{
			&SGD{Threads: threads},
			&SGD{Momentum: 0.9, Threads: threads},
			&SGD{Momentum: 0.9, Dampening: 0.3, WeightDecay: 0.01, Threads: threads},
			&SGD{Momentum: 0.8, Nesterov: true, WeightDecay: 0.02, Threads: threads},
			a,
		}
	}
	serial, par := opts(1), opts(3)
	for i := range serial {
		ps, pp := mk(), mk()
		for step := range 3 {
			if err := serial[i].Step(ps, 0.01*float64(step+1)); err != nil {
				t.Fatal(err)
			}
			if err := par[i].Step(pp, 0.01*float64(step+1)); err != nil {
				t.Fatal(err)
			}
		}
		for j := range ps {
			for k, v := range ps[j].Value {
				if math.Float32bits(v) != math.Float32bits(pp[j].Value[k]) {
					t.Fatalf("optimizer %d (%s): parameter %s[%d] = %v serially, %v on 3 goroutines", i, serial[i].Kind(), ps[j].Name, k, v, pp[j].Value[k])
				}
			}
		}
		if !reflect.DeepEqual(serial[i].State(), par[i].State()) {
			t.Fatalf("optimizer %d (%s): state differs between serial and parallel updates", i, serial[i].Kind())
		}
	}
}
