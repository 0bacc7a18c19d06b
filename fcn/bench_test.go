package fcn_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/runinfer/runinfer/fcn"
	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// BenchmarkFCNVersusSlidingWindows times one fully convolutional pass over a
// 448x448 image (an 8x8 score map: 64 windows of 224x224 at stride 32)
// against classifying the same 64 crops one by one with the original model,
// and reports both times per image and their ratio (speedup). The 64 crops
// share most of their pixels; the converted network computes each feature
// once.
//
//	go test ./fcn -run - -bench FCNVersusSlidingWindows -benchtime 3x
func BenchmarkFCNVersusSlidingWindows(b *testing.B) {
	models := []struct{ name, path string }{
		{"mobilenetv2-12", ""},
		{"alexnet", ""},
	}
	for _, m := range models {
		b.Run(m.name, func(b *testing.B) {
			var path string
			if m.name == "alexnet" {
				home, _ := os.UserHomeDir()
				path = filepath.Join(home, ".cache", "runinfer-zoo", "alexnet", "model.onnx")
				if _, err := os.Stat(path); err != nil {
					b.Skip("the model zoo's alexnet is not in ~/.cache/runinfer-zoo")
				}
			} else {
				path = filepath.Join(testenv.Shared(b, "models", m.name), "model.onnx")
			}
			benchSliding(b, path)
		})
	}
}

func benchSliding(b *testing.B, path string) {
	model, err := onnx.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	net, err := fcn.New(model, nil)
	if err != nil {
		b.Fatal(err)
	}
	orig, err := runtime.NewSession(model, nil)
	if err != nil {
		b.Fatal(err)
	}
	wh, ww := net.Window()
	jh, jw := net.Jump()
	const positions = 8
	h, w := wh+(positions-1)*jh, ww+(positions-1)*jw
	x := imagenetTensor(b, loadPhoto(b), h, w)
	crops := make([]*ir.Tensor, 0, positions*positions)
	for i := range positions {
		for j := range positions {
			crops = append(crops, crop(x, i*jh, j*jw, wh, ww))
		}
	}
	ctx := context.Background()
	input := orig.Inputs()[0].Name
	// Warm up both (plans are compiled per input shape on first use).
	sm, err := net.Run(ctx, x)
	if err != nil {
		b.Fatal(err)
	}
	if sm.Height != positions || sm.Width != positions {
		b.Fatalf("map %dx%d, want %dx%d", sm.Height, sm.Width, positions, positions)
	}
	if _, err := orig.Run(ctx, map[string]*ir.Tensor{input: crops[0]}); err != nil {
		b.Fatal(err)
	}
	var tFCN, tWin time.Duration
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := net.Run(ctx, x); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		for _, c := range crops {
			if _, err := orig.Run(ctx, map[string]*ir.Tensor{input: c}); err != nil {
				b.Fatal(err)
			}
		}
		tFCN += t1.Sub(t0)
		tWin += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(tFCN.Seconds()*1e3/n, "ms-fcn")
	b.ReportMetric(tWin.Seconds()*1e3/n, "ms-64-windows")
	b.ReportMetric(tWin.Seconds()/tFCN.Seconds(), "speedup")
}
