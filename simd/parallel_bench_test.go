package simd

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
)

// Thread scaling of small model layers (50–500 µs), the sizes where the
// cost of handing work to a Pool matters: compare t1 with t2.
//
//	go test ./simd -run '^$' -bench 'SmallConv' -benchtime 200x -count 3
var smallConvs = []struct {
	name string
	c    convCase
}{
	{"ultraface/stem-3x3s2-3-16@240x320", cc(3, 240, 320, 16, 3, 2, 1)},
	{"ultraface/dw3x3-16@120x160", dwLike(16, 120, 160, 1)},
	{"ultraface/1x1-16-32@120x160", cc(16, 120, 160, 32, 1, 1, 0)},
	{"squeezenet/3x3-64-256@13", cc(64, 13, 13, 256, 3, 1, 1)},
	{"squeezenet/3x3-16-64@55", cc(16, 55, 55, 64, 3, 1, 1)},
	{"squeezenet/1x1-128-16@55", cc(128, 55, 55, 16, 1, 1, 0)},
	{"squeezenet/1x1-512-1000@13", cc(512, 13, 13, 1000, 1, 1, 0)},
	{"squeezenet/1x1-16-64@55", cc(16, 55, 55, 64, 1, 1, 0)},
	{"mobilenetv2/dw3x3-144@56", dwCase(144, 56, 1)},
	{"mobilenetv2/dw3x3-192@28", dwCase(192, 28, 1)},
	{"mobilenetv2/dw3x3-960@7", dwCase(960, 7, 1)},
	{"mobilenetv2/1x1-192-32@28", cc(192, 28, 28, 32, 1, 1, 0)},
	{"mobilenetv2/1x1-144-24@56", cc(144, 56, 56, 24, 1, 1, 0)},
	{"mobilenetv2/1x1-96-576@14", cc(96, 14, 14, 576, 1, 1, 0)},
}

func BenchmarkSmallConv(b *testing.B) {
	k := Best()
	r := rand.New(rand.NewPCG(1, 2))
	pool := NewPool(2)
	defer pool.Close()
	for _, bc := range smallConvs {
		c := bc.c
		oh, ow := ref.ConvGeom(c).Out()
		p := c.params()
		p.Algo = ConvAuto
		pc, err := k.PrepareConv(p, randSlice(r, c.M*c.C/c.Group*c.KH*c.KW), randSlice(r, c.M))
		if err != nil {
			b.Fatal(err)
		}
		x := randSlice(r, c.C*c.H*c.W)
		y := make([]float32, c.M*oh*ow)
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/t%d", bc.name, threads), func(b *testing.B) {
				var par Parallel
				if threads > 1 {
					par = pool
				}
				for b.Loop() {
					if err := pc.Run(x, y, nil, Act{Kind: ActRelu}, par); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// dwLike is a 3×3 depthwise convolution of c channels of h×w, stride s.
func dwLike(c, h, w, s int) convCase {
	x := cc(c, h, w, c, 3, s, 1)
	x.Group = c
	return x
}
