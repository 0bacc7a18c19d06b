package runtime

import (
	"math/rand/v2"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Benchmarks of the heavy gradient ops on real layer shapes at batch 8:
// one forward and one backward (every input's gradient) per iteration,
// on the best tier with a pool of GOMAXPROCS threads. GFLOP/s counts the
// multiply-adds of the forward, dX and dW (2 flops each).
//
//	go test ./runtime -run '^$' -bench BenchmarkGrad -benchtime 10x

// gbLayer is one benchmarked convolution.
type gbLayer struct {
	name string
	tc   gcConv
}

var gbConvLayers = []gbLayer{
	{"mobilenetv2-1x1-32to16-112", gcConv{n: 8, c: 32, h: 112, w: 112, m: 16, kh: 1, kw: 1}},
	{"mobilenetv2-dw3x3-144-56", gcConv{n: 8, c: 144, h: 56, w: 56, m: 144, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, group: 144}},
	{"mobilenetv2-dw3x3s2-144-56", gcConv{n: 8, c: 144, h: 56, w: 56, m: 144, kh: 3, kw: 3, strides: []int{2, 2}, pads: []int{0, 0, 1, 1}, group: 144}},
	{"mobilenetv2-1x1-320to1280-7", gcConv{n: 8, c: 320, h: 7, w: 7, m: 1280, kh: 1, kw: 1}},
	{"resnet-3x3-64to64-56", gcConv{n: 8, c: 64, h: 56, w: 56, m: 64, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}}},
}

// gbFlops is 2 × the multiply-adds of one forward of the case.
func (tc gcConv) gbFlops(out []int) float64 {
	g := max(tc.group, 1)
	outEl := 1
	for _, d := range out {
		outEl *= d
	}
	return 2 * float64(outEl) * float64(tc.c/g*max(tc.kh, 1)*tc.kw)
}

func BenchmarkGradConv(b *testing.B) {
	k := simd.Best()
	pool := simd.NewPool(goruntime.GOMAXPROCS(0))
	defer pool.Close()
	for _, l := range gbConvLayers {
		rng := rand.New(rand.NewPCG(1, 2))
		n, in := l.tc.node(rng)
		c := &gradCtx{k: k, par: pool, limit: 1 << 28}
		out, saved, err := convGradForward(c, n, in)
		if err != nil {
			b.Fatal(err)
		}
		dy := []*ir.Tensor{randTensor(rng, out[0].Shape...)}
		need := []bool{true, true}
		flops := l.tc.gbFlops(out[0].Shape)
		b.Run(l.name+"/fwd+bwd", func(b *testing.B) {
			for b.Loop() {
				out, saved, err := convGradForward(c, n, in)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := convGradBackward(c, n, in, out, saved, dy, need); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(3*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run(l.name+"/fwd", func(b *testing.B) {
			for b.Loop() {
				if _, _, err := convGradForward(c, n, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for _, which := range []string{"dX", "dW"} {
			need := []bool{which == "dX", which == "dW"}
			b.Run(l.name+"/bwd-"+which, func(b *testing.B) {
				for b.Loop() {
					if _, err := convGradBackward(c, n, in, out, saved, dy, need); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		// Packing the weights, which forward does every step.
		pl := saved.(*convGrad)
		b.Run(l.name+"/prepare", func(b *testing.B) {
			t0 := time.Now()
			for b.Loop() {
				if _, err := k.PrepareConv(pl.params, in[1].F32(), nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(t0).Microseconds())/float64(b.N), "us/prepare")
		})
	}
}

// BenchmarkGradOther times forward+backward of BatchNormalization
// (training mode), pooling and the classifier Gemm on ResNet/MobileNet
// shapes at batch 8, reporting GB/s of X read.
func BenchmarkGradOther(b *testing.B) {
	k := simd.Best()
	pool := simd.NewPool(goruntime.GOMAXPROCS(0))
	defer pool.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	type tc struct {
		name     string
		node     *ir.Node
		in       []*ir.Tensor
		training bool
	}
	var cases []tc
	for _, sh := range [][]int{{8, 64, 56, 56}, {8, 1280, 7, 7}} {
		in := gnInputs(rng, sh)
		cases = append(cases, tc{"bn-train-" + ir.FormatShape(sh), gnNode(1), in, true}, tc{"bn-frozen-" + ir.FormatShape(sh), gnNode(1), in, false})
	}
	mp := gpCase{kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}}
	x := randTensor(rng, 8, 64, 112, 112)
	cases = append(cases,
		tc{"maxpool3x3s2-8x64x112x112", mp.node("MaxPool", 1), []*ir.Tensor{x}, true},
		tc{"avgpool3x3s2-8x64x112x112", mp.node("AveragePool", 1), []*ir.Tensor{x}, true},
		tc{"gap-8x1280x7x7", wtNode("GlobalAveragePool", 1, 1), []*ir.Tensor{randTensor(rng, 8, 1280, 7, 7)}, true},
		tc{"fc-8x1280-to-1000", wtNode("Gemm", 3, 1, ir.IntAttr("transB", 1)),
			[]*ir.Tensor{randTensor(rng, 8, 1280), randTensor(rng, 1000, 1280), randTensor(rng, 1000)}, true})
	for _, cs := range cases {
		op := gradOps[opKey(cs.node)]
		c := &gradCtx{k: k, par: pool, training: cs.training, limit: 1 << 28}
		need := make([]bool, len(cs.in))
		for i := range need {
			need[i] = op.differentiable(i)
		}
		b.Run(cs.name, func(b *testing.B) {
			for b.Loop() {
				var out []*ir.Tensor
				var saved any
				var err error
				if op.forward != nil {
					out, saved, err = op.forward(c, cs.node, cs.in)
				} else {
					out, err = EvalNode(cs.node, cs.in, 0)
				}
				if err != nil {
					b.Fatal(err)
				}
				if _, err := op.backward(c, cs.node, cs.in, out, saved, out[:1], need); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(4*cs.in[0].Len())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
		})
	}
}
