package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// poolBenchCases are the pooling layers of SqueezeNet 1.0/1.1, GoogLeNet,
// ResNet and Inception-style networks, as C×H×W with their windows.
var poolBenchCases = []struct {
	name  string
	isMax bool
	c     poolCase
}{
	{"squeezenet1_1/max3s2/64x111x111", true, newPoolCase(64, 111, 111, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true)},
	{"squeezenet1_1/max3s2/128x55x55", true, newPoolCase(128, 55, 55, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true)},
	{"squeezenet1_1/max3s2/256x27x27", true, newPoolCase(256, 27, 27, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true)},
	{"squeezenet1_0/max3s2/96x109x109", true, newPoolCase(96, 109, 109, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true)},
	{"googlenet/max3s2/64x112x112", true, newPoolCase(64, 112, 112, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true)},
	{"googlenet/max3s2/192x56x56", true, newPoolCase(192, 56, 56, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true)},
	{"googlenet/max3s2/480x28x28", true, newPoolCase(480, 28, 28, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true)},
	{"googlenet/max3s2/832x14x14", true, newPoolCase(832, 14, 14, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true)},
	{"googlenet/max3s1/192x28x28", true, newPoolCase(192, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false)},
	{"googlenet/max3s1/480x14x14", true, newPoolCase(480, 14, 14, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false)},
	{"googlenet/max3s1/832x7x7", true, newPoolCase(832, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false)},
	{"resnet/max3s2p1/64x112x112", true, newPoolCase(64, 112, 112, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, false)},
	{"max2s2/256x28x28", true, newPoolCase(256, 28, 28, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, false)},
	{"inception/avg3s1/192x28x28", false, newPoolCase(192, 28, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false)},
	{"inception/avg3s1/832x7x7", false, newPoolCase(832, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false)},
}

// BenchmarkPool2D times MaxPool2D / AvgPool2D on every tier over whole
// layers (every plane in one call, one thread), in GB/s of input read
// plus output written. Run with e.g.
//
//	go test ./simd -run X -bench Pool2D -benchtime 200x -count 3
func BenchmarkPool2D(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, bc := range poolBenchCases {
		g, planes := bc.c.g, bc.c.planes
		src := randSlice(r, planes*g.H*g.W)
		dst := make([]float32, planes*g.OH*g.OW)
		tmp := make([]float32, g.TempLen())
		scale := make([]float32, g.OH*g.OW)
		for i := range scale {
			scale[i] = 1.0 / 9
		}
		for _, tier := range Available() {
			k := ForTier(tier)
			b.Run(fmt.Sprintf("%s/%s", bc.name, tier), func(b *testing.B) {
				bytes := 4 * float64(len(src)+len(dst))
				for b.Loop() {
					if bc.isMax {
						k.MaxPool2D(dst, src, tmp, planes, &g)
					} else {
						k.AvgPool2D(dst, src, tmp, scale, planes, &g)
					}
				}
				b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
			})
		}
	}
}
