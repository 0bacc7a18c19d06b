package simd_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/runinfer/runinfer/simd"
)

// Benchmarks report GFLOP/s and, for kernels, the share of the tier's FMA
// peak (simd.PeakGFLOPS, measured once per process). Run them with a short
// benchtime on a shared machine, e.g.
//
//	go test -run '^$' -bench 'Peak|GemmKernel' -benchtime 200ms -count 5 ./simd

// benchKs are GemmKernel depths: the driver's K blocks (64, 192) and whole
// ResNet-50 reductions (3×3×64 = 576, 3×3×256 = 2304; 1×1: 256, 1024).
var benchKs = []int{64, 192, 256, 576, 1024, 2304}

// BenchmarkPeak reports each tier's register-only FMA throughput.
func BenchmarkPeak(b *testing.B) {
	for _, tier := range simd.Available() {
		b.Run(tier.String(), func(b *testing.B) {
			var g float64
			for b.Loop() {
				g = simd.PeakGFLOPS(tier)
			}
			b.ReportMetric(g, "GFLOP/s")
		})
	}
}

// BenchmarkGemmKernel/<id>/k=<k> times one micro-kernel call on 64-byte
// aligned A and B panels that stay in cache (L1/L2, as the driver arranges),
// acc false.
func BenchmarkGemmKernel(b *testing.B) {
	for _, tier := range simd.Available() {
		g := simd.ForTier(tier).Gemm
		for _, k := range benchKs {
			b.Run(fmt.Sprintf("%s/k=%d", g.ID, k), func(b *testing.B) {
				benchTile(b, tier, g, k, 1)
			})
		}
	}
}

// BenchmarkGemmKernelStream is BenchmarkGemmKernel with the A panels of a
// whole row block (mc = 384 KiB of A, the driver's L2 budget) cycled
// through against one B panel, as in the driver's innermost loops: A comes
// from L2 rather than L1.
func BenchmarkGemmKernelStream(b *testing.B) {
	for _, tier := range simd.Available() {
		g := simd.ForTier(tier).Gemm
		for _, k := range []int{64, 192, 256} {
			panels := max(1, (384<<10)/(4*k*g.MR))
			b.Run(fmt.Sprintf("%s/k=%d", g.ID, k), func(b *testing.B) {
				benchTile(b, tier, g, k, panels)
			})
		}
	}
}

// benchTile times g at depth k over the given number of A panels (one B
// panel), reporting GFLOP/s and %peak of tier.
func benchTile(b *testing.B, tier simd.Tier, g simd.GemmKernel, k, panels int) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := benchAligned(rng, panels*k*g.MR)
	bp := benchAligned(rng, k*g.NR)
	ldc := g.NR
	c := benchAligned(rng, panels*g.MR*ldc)
	flops := 2 * g.MR * g.NR * k
	i := 0
	for b.Loop() {
		g.Fn(k, a[i*k*g.MR:(i+1)*k*g.MR], bp, c[i*g.MR*ldc:(i+1)*g.MR*ldc], ldc, false)
		if i++; i == panels {
			i = 0
		}
	}
	gflops := float64(flops) * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(gflops, "GFLOP/s")
	if peak := simd.PeakGFLOPS(tier); peak > 0 {
		b.ReportMetric(100*gflops/peak, "%peak")
	}
}

// benchAligned returns n random floats starting on a 64-byte boundary (a
// cache line, and one zmm register), as the driver's packed buffers are.
func benchAligned(rng *rand.Rand, n int) []float32 {
	buf := make([]float32, n+16)
	off := (64 - int(uintptr(unsafe.Pointer(&buf[0]))%64)) % 64 / 4
	x := buf[off : off+n : off+n]
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}

// BenchmarkBiasAct times the fused epilogue on one ResNet-50 output channel
// of 56×56 floats (in L1), reporting bytes read and written.
func BenchmarkBiasAct(b *testing.B) {
	acts := []struct {
		name string
		act  simd.Act
	}{
		{"none", simd.Act{Kind: simd.ActNone}},
		{"relu", simd.Act{Kind: simd.ActRelu}},
		{"clip", simd.Act{Kind: simd.ActClip, Alpha: 0, Beta: 6}},
		{"leakyrelu", simd.Act{Kind: simd.ActLeakyRelu, Alpha: 1}}, // alpha 1: repeated calls must not decay into subnormals
	}
	const n = 56 * 56
	for _, tier := range simd.Available() {
		k := simd.ForTier(tier)
		for _, a := range acts {
			b.Run(fmt.Sprintf("%s/%s/n=%d", tier, a.name, n), func(b *testing.B) {
				x := benchAligned(rand.New(rand.NewPCG(1, 2)), n)
				b.SetBytes(8 * n)
				for b.Loop() {
					k.BiasAct(x, 0, a.act)
				}
			})
		}
	}
}

// BenchmarkAddTo times the fused residual add on 56×56 floats.
func BenchmarkAddTo(b *testing.B) {
	const n = 56 * 56
	for _, tier := range simd.Available() {
		k := simd.ForTier(tier)
		b.Run(fmt.Sprintf("%s/n=%d", tier, n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			dst, src := benchAligned(rng, n), benchAligned(rng, n)
			b.SetBytes(12 * n)
			for b.Loop() {
				k.AddTo(dst, src)
			}
		})
	}
}
