package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkWinograd times the 3×3 stride-1 layers of the zoo's models with
// each algorithm, in one run so they can be compared side by side:
//
//	go test ./simd -run '^$' -bench Winograd -benchtime 20x -count 3
//
// GFLOP/s is effective: the direct convolution's flops (2·M·C·9·OH·OW)
// over the time, whatever the algorithm does. auto is what PrepareConv
// chooses.
var winoBenchConvs = []struct {
	name string
	c    convCase
}{
	{"resnet/64-64@56", cc(64, 56, 56, 64, 3, 1, 1)},
	{"resnet/128-128@28", cc(128, 28, 28, 128, 3, 1, 1)},
	{"resnet/256-256@14", cc(256, 14, 14, 256, 3, 1, 1)},
	{"resnet/512-512@7", cc(512, 7, 7, 512, 3, 1, 1)},
	{"squeezenet/16-64@55", cc(16, 55, 55, 64, 3, 1, 1)},
	{"squeezenet/32-128@27", cc(32, 27, 27, 128, 3, 1, 1)},
	{"squeezenet/48-192@13", cc(48, 13, 13, 192, 3, 1, 1)},
	{"squeezenet/64-256@13", cc(64, 13, 13, 256, 3, 1, 1)},
	{"googlenet/64-192@56", cc(64, 56, 56, 192, 3, 1, 1)},
	{"googlenet/96-128@28", cc(96, 28, 28, 128, 3, 1, 1)},
	{"googlenet/16-32@28", cc(16, 28, 28, 32, 3, 1, 1)},
	{"googlenet/112-224@14", cc(112, 14, 14, 224, 3, 1, 1)},
	{"googlenet/24-64@14", cc(24, 14, 14, 64, 3, 1, 1)},
	{"googlenet/160-320@7", cc(160, 7, 7, 320, 3, 1, 1)},
}

func BenchmarkWinograd(b *testing.B) {
	k := Best()
	r := rand.New(rand.NewPCG(1, 2))
	for _, bc := range winoBenchConvs {
		c := bc.c
		w, bias := randSlice(r, c.M*c.C*9), randSlice(r, c.M)
		x := randSlice(r, c.C*c.H*c.W)
		y := make([]float32, c.M*c.H*c.W)
		flops := 2 * float64(c.M) * float64(c.C*9) * float64(c.H*c.W)
		for _, algo := range []ConvAlgo{ConvDirect, ConvWinograd2, ConvWinograd4, ConvAuto} {
			p := c.params()
			p.Algo = algo
			pc, err := k.PrepareConv(p, w, bias)
			if err != nil {
				b.Fatal(err)
			}
			for _, threads := range []int{1, 2} {
				b.Run(fmt.Sprintf("%s/%v/t%d", bc.name, algo, threads), func(b *testing.B) {
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
}
