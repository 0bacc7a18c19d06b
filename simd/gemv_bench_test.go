package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Benchmarks of fully connected layers at small batches on real layer
// shapes (N outputs × K inputs), with every tier's Gemv through GemvBatch
// and, for comparison, the GEMM driver with the weights packed as A (the
// path small batches took before), serial and on a 2-thread Pool. They
// report GB/s of weights read (each read once per call):
//
//	go test ./simd -run '^$' -bench 'FC' -benchtime 20x -count 3

var benchFCs = []struct {
	name string
	n, k int
}{
	{"alexnet/fc6-9216-4096", 4096, 9216},
	{"alexnet/fc7-4096-4096", 4096, 4096},
	{"alexnet/fc8-4096-1000", 1000, 4096},
	{"vgg16/fc6-25088-4096", 4096, 25088},
	{"resnet50/fc-2048-1000", 1000, 2048},
}

func BenchmarkFC(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, fc := range benchFCs {
		w := randSlice(r, fc.n*fc.k)
		bias := randSlice(r, fc.n)
		bytes := 4 * float64(fc.n) * float64(fc.k)
		for _, m := range []int{1, 2, 4, 8, 16} {
			x := randSlice(r, m*fc.k)
			y := make([]float32, m*fc.n)
			for _, threads := range []int{1, 2} {
				var par Parallel
				var pool *Pool
				if threads > 1 {
					pool = NewPool(threads)
					par = pool
				}
				for _, tier := range Available() {
					k := ForTier(tier)
					b.Run(fmt.Sprintf("%s/m%d/t%d/gemv-%s", fc.name, m, threads, tier), func(b *testing.B) {
						ep := Epilogue{Bias: bias, Act: Act{Kind: ActRelu}}
						for b.Loop() {
							k.GemvBatch(y, fc.n, w, fc.k, x, fc.k, m, fc.n, fc.k, 1, ep, par)
						}
						b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
					})
				}
				k := Best()
				pa := k.PackA(fc.n, fc.k, w, fc.k)
				b.Run(fmt.Sprintf("%s/m%d/t%d/packed-%s", fc.name, m, threads, k.Tier), func(b *testing.B) {
					d := &DenseB{Data: x, Stride: fc.k, Trans: true}
					t := make([]float32, m*fc.n)
					ep := Epilogue{Bias: bias, Act: Act{Kind: ActRelu}}
					for b.Loop() {
						k.GemmPacked(pa, m, d, t, m, ep, par)
					}
					b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
				})
				if pool != nil {
					pool.Close()
				}
			}
		}
	}
}
