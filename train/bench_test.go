package train

import (
	"context"
	"fmt"
	"math/rand/v2"
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
				opt := &SGD{Momentum: 0.9}
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
