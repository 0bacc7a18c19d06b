package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// poolShapeCases are the MaxPool/AveragePool layers of SqueezeNet 1.0 and
// 1.1, GoogLeNet, ResNet and Inception-style networks (one image).
var poolShapeCases = []struct {
	name string
	pc   fastPoolCase
}{
	{"squeezenet1_1/max3s2ceil/64x111x111", fastPoolCase{op: "MaxPool", n: 1, c: 64, h: 111, w: 111, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true}},
	{"squeezenet1_1/max3s2ceil/128x55x55", fastPoolCase{op: "MaxPool", n: 1, c: 128, h: 55, w: 55, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true}},
	{"squeezenet1_1/max3s2ceil/256x27x27", fastPoolCase{op: "MaxPool", n: 1, c: 256, h: 27, w: 27, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true}},
	{"squeezenet1_0/max3s2ceil/96x109x109", fastPoolCase{op: "MaxPool", n: 1, c: 96, h: 109, w: 109, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true}},
	{"googlenet/max3s2ceil/64x112x112", fastPoolCase{op: "MaxPool", n: 1, c: 64, h: 112, w: 112, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true}},
	{"googlenet/max3s2ceil/192x56x56", fastPoolCase{op: "MaxPool", n: 1, c: 192, h: 56, w: 56, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true}},
	{"googlenet/max3s2ceil/480x28x28", fastPoolCase{op: "MaxPool", n: 1, c: 480, h: 28, w: 28, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true}},
	{"googlenet/max2s2ceil/832x14x14", fastPoolCase{op: "MaxPool", n: 1, c: 832, h: 14, w: 14, kh: 2, kw: 2, sh: 2, sw: 2, dh: 1, dw: 1, ceil: true}},
	{"googlenet/max3s1p1/192x28x28", fastPoolCase{op: "MaxPool", n: 1, c: 192, h: 28, w: 28, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}}},
	{"googlenet/max3s1p1/480x14x14", fastPoolCase{op: "MaxPool", n: 1, c: 480, h: 14, w: 14, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}}},
	{"googlenet/max3s1p1/832x7x7", fastPoolCase{op: "MaxPool", n: 1, c: 832, h: 7, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}}},
	{"resnet/max3s2p1/64x112x112", fastPoolCase{op: "MaxPool", n: 1, c: 64, h: 112, w: 112, kh: 3, kw: 3, sh: 2, sw: 2, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}}},
	{"max2s2/256x28x28", fastPoolCase{op: "MaxPool", n: 1, c: 256, h: 28, w: 28, kh: 2, kw: 2, sh: 2, sw: 2, dh: 1, dw: 1}},
	{"inception/avg3s1p1/192x28x28", fastPoolCase{op: "AveragePool", n: 1, c: 192, h: 28, w: 28, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}}},
	{"inception/avg3s1p1/832x7x7", fastPoolCase{op: "AveragePool", n: 1, c: 832, h: 7, w: 7, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}}},
	{"inception/avg3s1p1incl/288x35x35", fastPoolCase{op: "AveragePool", n: 1, c: 288, h: 35, w: 35, kh: 3, kw: 3, sh: 1, sw: 1, dh: 1, dw: 1, pads: [4]int{1, 1, 1, 1}, inclPad: true}},
}

// BenchmarkFastPoolShapes times the planned MaxPool/AveragePool step alone
// (one thread, no output allocation) on the CNN layers of poolShapeCases,
// in GB/s of input read plus output written. Compare tiers with
// RUNINFER_SIMD=generic|avx2|avx512:
//
//	go test ./runtime -run X -bench FastPoolShapes -benchtime 200x -count 5
func BenchmarkFastPoolShapes(b *testing.B) {
	for _, sc := range poolShapeCases {
		pc := sc.pc
		b.Run(sc.name, func(b *testing.B) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, pc.n, pc.c, pc.h, pc.w)}, outputs: []string{"y"},
				nodes: []*ir.Node{pc.node()}}
			s, err := NewSession(g.model(), &Options{Threads: 1})
			if err != nil {
				b.Fatal(err)
			}
			x := randF32(rand.New(rand.NewPCG(27, 27)), pc.n, pc.c, pc.h, pc.w)
			p, err := s.planFor([]ir.DType{ir.Float32}, [][]int{x.Shape})
			if err != nil {
				b.Fatal(err)
			}
			st := &p.steps[0]
			rs := p.states.Get().(*runState)
			y, _ := ir.NewTensor(ir.Float32, p.values[st.out[0]].shape)
			in, out := []*ir.Tensor{x}, []*ir.Tensor{y}
			rs.rc.tmp = rs.tmp[0]
			bytes := float64(4 * (x.Len() + y.Len()))
			for b.Loop() {
				if err := st.k.run(&rs.rc, in, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(bytes*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
