package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
)

// Benchmarks of the GEMM driver and convolutions on real layer shapes,
// with the best tier (RUNINFER_SIMD lowers it), serial and on a 2-thread
// Pool. They report GFLOP/s (2 flops per multiply-add, padding taps
// included, as usual for convolutions):
//
//	go test ./simd -run '^$' -bench 'Conv|Gemm' -benchtime 20x -count 3

var benchConvs = []struct {
	name string
	c    convCase
}{
	{"resnet50/stem-7x7s2-3-64@224", cc(3, 224, 224, 64, 7, 2, 3)},
	{"resnet50/3x3-64-64@56", cc(64, 56, 56, 64, 3, 1, 1)},
	{"resnet50/1x1-64-256@56", cc(64, 56, 56, 256, 1, 1, 0)},
	{"resnet50/1x1-256-64@56", cc(256, 56, 56, 64, 1, 1, 0)},
	{"resnet50/1x1s2-256-512@56", cc(256, 56, 56, 512, 1, 2, 0)},
	{"resnet50/3x3-128-128@28", cc(128, 28, 28, 128, 3, 1, 1)},
	{"resnet50/3x3s2-256-256@28", cc(256, 28, 28, 256, 3, 2, 1)},
	{"resnet50/3x3-256-256@14", cc(256, 14, 14, 256, 3, 1, 1)},
	{"resnet50/1x1-1024-256@14", cc(1024, 14, 14, 256, 1, 1, 0)},
	{"resnet50/3x3-512-512@7", cc(512, 7, 7, 512, 3, 1, 1)},
	{"resnet50/1x1-512-2048@7", cc(512, 7, 7, 2048, 1, 1, 0)},
	{"mobilenetv2/stem-3x3s2-3-32@224", cc(3, 224, 224, 32, 3, 2, 1)},
	{"mobilenetv2/dw3x3-32@112", dwCase(32, 112, 1)},
	{"mobilenetv2/1x1-32-16@112", cc(32, 112, 112, 16, 1, 1, 0)},
	{"mobilenetv2/1x1-16-96@112", cc(16, 112, 112, 96, 1, 1, 0)},
	{"mobilenetv2/dw3x3s2-96@112", dwCase(96, 112, 2)},
	{"mobilenetv2/1x1-24-144@56", cc(24, 56, 56, 144, 1, 1, 0)},
	{"mobilenetv2/dw3x3-144@56", dwCase(144, 56, 1)},
	{"mobilenetv2/1x1-144-24@56", cc(144, 56, 56, 24, 1, 1, 0)},
	{"mobilenetv2/dw3x3-192@28", dwCase(192, 28, 1)},
	{"mobilenetv2/1x1-192-32@28", cc(192, 28, 28, 32, 1, 1, 0)},
	{"mobilenetv2/dw3x3-960@7", dwCase(960, 7, 1)},
	{"mobilenetv2/1x1-320-1280@7", cc(320, 7, 7, 1280, 1, 1, 0)},
}

func dwCase(c, hw, s int) convCase {
	x := cc(c, hw, hw, c, 3, s, 1)
	x.Group = c
	return x
}

func BenchmarkConv(b *testing.B) {
	k := Best()
	r := rand.New(rand.NewPCG(1, 2))
	for _, bc := range benchConvs {
		c := bc.c
		oh, ow := ref.ConvGeom(c).Out()
		p := c.params()
		p.Algo = ConvAuto // what a model gets
		pc, err := k.PrepareConv(p, randSlice(r, c.M*c.C/c.Group*c.KH*c.KW), randSlice(r, c.M))
		if err != nil {
			b.Fatal(err)
		}
		x := randSlice(r, c.C*c.H*c.W)
		y := make([]float32, c.M*oh*ow)
		flops := 2 * float64(c.M) * float64(c.C/c.Group*c.KH*c.KW) * float64(oh*ow)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/%s/t%d", bc.name, k.Gemm.ID, threads), func(b *testing.B) {
				var par Parallel
				if threads > 1 {
					p := NewPool(threads)
					defer p.Close()
					par = p
				}
				act := Act{Kind: ActRelu}
				for b.Loop() {
					if err := pc.Run(x, y, nil, act, par); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

func BenchmarkGemm(b *testing.B) {
	k := Best()
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range []struct{ m, n, k int }{{256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024}, {64, 3136, 576}} {
		pa := k.PackA(s.m, s.k, randSlice(r, s.m*s.k), s.k)
		src := &DenseB{Data: randSlice(r, s.k*s.n), Stride: s.n}
		c := make([]float32, s.m*s.n)
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%dx%dx%d/%s/t%d", s.m, s.n, s.k, k.Gemm.ID, threads), func(b *testing.B) {
				var par Parallel
				if threads > 1 {
					p := NewPool(threads)
					defer p.Close()
					par = p
				}
				for b.Loop() {
					k.GemmPacked(pa, s.n, src, c, s.n, Epilogue{}, par)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkConvGrouped compares the implicit GEMM with the grouped direct
// kernel on ResNeXt-50 (32×4d) grouped 3×3 layers:
//
//	go test ./simd -run '^$' -bench ConvGrouped -benchtime 20x -count 3
func BenchmarkConvGrouped(b *testing.B) {
	k := Best()
	r := rand.New(rand.NewPCG(7, 8))
	grp := func(c, hw, s int) convCase {
		x := cc(c, hw, hw, c, 3, s, 1)
		x.Group = 32
		return x
	}
	for _, bc := range []struct {
		name string
		c    convCase
	}{
		{"resnext50/g32-128@56", grp(128, 56, 1)},
		{"resnext50/g32s2-256@56", grp(256, 56, 2)},
		{"resnext50/g32-256@28", grp(256, 28, 1)},
		{"resnext50/g32-512@14", grp(512, 14, 1)},
		{"resnext50/g32-1024@7", grp(1024, 7, 1)},
	} {
		c := bc.c
		oh, ow := ref.ConvGeom(c).Out()
		w, bias := randSlice(r, c.M*c.C/c.Group*c.KH*c.KW), randSlice(r, c.M)
		x, y := randSlice(r, c.C*c.H*c.W), make([]float32, c.M*oh*ow)
		flops := 2 * float64(c.M) * float64(c.C/c.Group*c.KH*c.KW) * float64(oh*ow)
		for _, algo := range []ConvAlgo{ConvDirect, ConvGrouped} {
			p := c.params()
			p.Algo = algo
			pc, err := k.PrepareConv(p, w, bias)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s", bc.name, pc.Algorithm()), func(b *testing.B) {
				for b.Loop() {
					if err := pc.Run(x, y, nil, Act{Kind: ActRelu}, nil); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
