package runtime

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// gcConv describes one Conv test case.
type gcConv struct {
	n, c, h, w, m int // h = 0: a 1-D convolution over w
	kh, kw        int
	strides, dils []int
	pads          []int
	autoPad       string
	group         int
	bias          bool
}

func (tc gcConv) String() string {
	return fmt.Sprintf("x%dx%dx%dx%d_m%d_k%dx%d_s%v_d%v_p%v%s_g%d_b%v",
		tc.n, tc.c, tc.h, tc.w, tc.m, tc.kh, tc.kw, tc.strides, tc.dils, tc.pads, tc.autoPad, tc.group, tc.bias)
}

// node returns the Conv node and random inputs of the case.
func (tc gcConv) node(rng *rand.Rand) (*ir.Node, []*ir.Tensor) {
	g := max(tc.group, 1)
	nin := 2
	if tc.bias {
		nin = 3
	}
	attrs := []*ir.Attr{wtInts("strides", tc.strides), wtInts("dilations", tc.dils), wtInts("pads", tc.pads)}
	if tc.autoPad != "" {
		attrs = append(attrs, ir.StringAttr("auto_pad", tc.autoPad))
	}
	if tc.group > 0 {
		attrs = append(attrs, ir.IntAttr("group", int64(tc.group)))
	}
	n := wtNode("Conv", nin, 1, attrs...)
	var x, w *ir.Tensor
	if tc.h == 0 {
		x = randTensor(rng, tc.n, tc.c, tc.w)
		w = randTensor(rng, tc.m, tc.c/g, tc.kw)
	} else {
		x = randTensor(rng, tc.n, tc.c, tc.h, tc.w)
		w = randTensor(rng, tc.m, tc.c/g, tc.kh, tc.kw)
	}
	in := []*ir.Tensor{x, w}
	if tc.bias {
		in = append(in, randTensor(rng, tc.m))
	}
	return n, in
}

// gcConvCases are the finite-difference cases: 1×1, 3×3, 5×5 and
// non-square kernels; strides 1, 2, 3; symmetric, asymmetric and auto
// pads; dilation 2; groups 1, 2, C (depthwise) and a channel multiplier;
// odd channel counts; batches 1 and 3; 1-D.
var gcConvCases = []gcConv{
	{n: 1, c: 3, h: 5, w: 5, m: 4, kh: 1, kw: 1, bias: true},
	{n: 3, c: 4, h: 6, w: 7, m: 3, kh: 1, kw: 1, strides: []int{2, 2}},
	{n: 2, c: 5, h: 4, w: 3, m: 7, kh: 1, kw: 1, pads: []int{1, 0, 0, 1}, bias: true},
	{n: 1, c: 3, h: 6, w: 6, m: 5, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, bias: true},
	{n: 3, c: 2, h: 7, w: 8, m: 3, kh: 3, kw: 3, strides: []int{2, 2}, pads: []int{0, 1, 1, 0}, bias: true},
	{n: 1, c: 2, h: 11, w: 9, m: 2, kh: 5, kw: 5, strides: []int{3, 3}, pads: []int{2, 2, 2, 2}},
	{n: 1, c: 3, h: 9, w: 9, m: 2, kh: 3, kw: 3, dils: []int{2, 2}, pads: []int{2, 2, 2, 2}, bias: true},
	{n: 2, c: 3, h: 8, w: 10, m: 3, kh: 3, kw: 2, strides: []int{1, 3}, dils: []int{2, 1}, pads: []int{1, 0, 2, 1}},
	{n: 2, c: 4, h: 6, w: 5, m: 6, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, group: 2, bias: true},
	{n: 1, c: 6, h: 5, w: 6, m: 3, kh: 3, kw: 3, strides: []int{2, 1}, group: 3},
	{n: 1, c: 5, h: 7, w: 6, m: 5, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, group: 5, bias: true},
	{n: 3, c: 3, h: 8, w: 7, m: 3, kh: 3, kw: 3, strides: []int{2, 2}, pads: []int{1, 0, 0, 1}, group: 3, bias: true},
	{n: 1, c: 2, h: 9, w: 10, m: 2, kh: 5, kw: 5, dils: []int{2, 2}, pads: []int{3, 3, 3, 3}, group: 2},
	{n: 2, c: 3, h: 7, w: 9, m: 3, kh: 2, kw: 3, strides: []int{3, 2}, pads: []int{0, 1, 1, 0}, group: 3},
	{n: 1, c: 2, h: 5, w: 5, m: 2, kh: 2, kw: 2, pads: []int{2, 2, 1, 2}, group: 2, bias: true},
	{n: 1, c: 3, h: 6, w: 5, m: 3, kh: 1, kw: 1, strides: []int{2, 1}, group: 3},
	{n: 2, c: 3, h: 6, w: 6, m: 6, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, group: 3, bias: true},
	{n: 1, c: 3, h: 7, w: 7, m: 4, kh: 3, kw: 3, strides: []int{2, 2}, autoPad: "SAME_UPPER", bias: true},
	{n: 1, c: 2, h: 8, w: 7, m: 3, kh: 4, kw: 4, strides: []int{2, 2}, autoPad: "SAME_LOWER"},
	{n: 1, c: 3, h: 7, w: 6, m: 2, kh: 3, kw: 3, strides: []int{2, 2}, autoPad: "VALID"},
	{n: 1, c: 4, h: 6, w: 6, m: 4, kh: 3, kw: 3, autoPad: "SAME_UPPER", group: 4},
	{n: 2, c: 3, w: 10, m: 4, kw: 3, strides: []int{2}, pads: []int{1, 0}, bias: true},
	{n: 1, c: 2, w: 9, m: 2, kw: 3, dils: []int{2}, pads: []int{2, 2}, group: 2},
	{n: 3, c: 7, h: 3, w: 4, m: 5, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, bias: true},
}

func TestGradConvFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range gcConvCases {
		n, in := tc.node(rng)
		checkGradCase(t, tc.String(), gradCase{node: n, in: in, maxProbe: 40})
	}
}

// TestGradConvPointwisePaths runs the pointwise cases through dW's GEMM
// (instead of Gemv) and through Gemv in pieces smaller than an image.
func TestGradConvPointwisePaths(t *testing.T) {
	defer func(a, b int) { convGemvMax, convGemvPiece = a, b }(convGemvMax, convGemvPiece)
	rng := rand.New(rand.NewPCG(15, 16))
	for _, tune := range [][2]int{{0, 2048}, {1 << 20, 7}} {
		convGemvMax, convGemvPiece = tune[0], tune[1]
		for _, tc := range gcConvCases {
			if tc.kw != 1 || tc.kh != 1 {
				continue
			}
			n, in := tc.node(rng)
			checkGradCase(t, fmt.Sprintf("%v/%v", tune, tc), gradCase{node: n, in: in, maxProbe: 40})
		}
	}
}

// TestGradConvSubImageSegments shrinks the segments below one image, so
// that dX's col2im and dW's packing start and end inside output rows.
func TestGradConvSubImageSegments(t *testing.T) {
	defer func(a, b, c int) { convSegMin, convSegFloats, convGemvMax = a, b, c }(convSegMin, convSegFloats, convGemvMax)
	convSegMin, convSegFloats = 7, 64
	rng := rand.New(rand.NewPCG(13, 14))
	for _, gemvMax := range []int{convGemvMax, 0} {
		convGemvMax = gemvMax
		for _, tc := range []gcConv{
			{n: 2, c: 3, h: 7, w: 6, m: 4, kh: 3, kw: 3, strides: []int{2, 1}, pads: []int{1, 1, 0, 1}, bias: true},
			{n: 2, c: 4, h: 5, w: 9, m: 3, kh: 1, kw: 1},
			{n: 1, c: 4, h: 6, w: 6, m: 4, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, group: 2},
			{n: 2, c: 2, h: 9, w: 5, m: 3, kh: 3, kw: 2, strides: []int{2, 2}, dils: []int{2, 1}, pads: []int{2, 0, 1, 1}},
		} {
			n, in := tc.node(rng)
			checkGradCase(t, fmt.Sprintf("gemv%d/%v", gemvMax, tc), gradCase{node: n, in: in, maxProbe: 40})
		}
	}
}

// gcConvOracle computes the Conv gradients in float64 by direct loops:
// for every output element and tap, dX and dW get dY times the other
// factor. It reads the geometry from the reference plan.
func gcConvOracle(t *testing.T, n *ir.Node, in []*ir.Tensor, dy []float32) (dx, dw, db []float64) {
	t.Helper()
	cp, err := planConv(n, argsOf(in))
	if err != nil {
		t.Fatal(err)
	}
	g := cp.geom
	xs, ws := in[0].Shape, in[1].Shape
	h, w, kh, kw := 1, xs[2], 1, ws[2]
	oh, ow := 1, g.out[0]
	sh, sw, dh, dw_, pt, pl := 1, g.stride[0], 1, g.dil[0], 0, g.padB[0]
	if len(xs) == 4 {
		h, w, kh, kw, oh, ow = xs[2], xs[3], ws[2], ws[3], g.out[0], g.out[1]
		sh, sw, dh, dw_, pt, pl = g.stride[0], g.stride[1], g.dil[0], g.dil[1], g.padB[0], g.padB[1]
	}
	N, C, M := xs[0], xs[1], ws[0]
	cg, mg := C/cp.group, M/cp.group
	x, wt := in[0].F32(), in[1].F32()
	dx = make([]float64, len(x))
	dw = make([]float64, len(wt))
	db = make([]float64, M)
	for b := 0; b < N; b++ {
		for m := 0; m < M; m++ {
			gi := m / mg
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					d := float64(dy[((b*M+m)*oh+oy)*ow+ox])
					db[m] += d
					for ci := 0; ci < cg; ci++ {
						c := gi*cg + ci
						for ky := 0; ky < kh; ky++ {
							iy := oy*sh - pt + ky*dh
							if iy < 0 || iy >= h {
								continue
							}
							for kx := 0; kx < kw; kx++ {
								ix := ox*sw - pl + kx*dw_
								if ix < 0 || ix >= w {
									continue
								}
								xi := ((b*C+c)*h+iy)*w + ix
								wi := ((m*cg+ci)*kh+ky)*kw + kx
								dx[xi] += d * float64(wt[wi])
								dw[wi] += d * float64(x[xi])
							}
						}
					}
				}
			}
		}
	}
	return dx, dw, db
}

// gcClose fails unless got matches want within tol relative to the
// largest |want|.
func gcClose(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	big := 0.0
	for _, v := range want {
		big = math.Max(big, math.Abs(v))
	}
	bad := 0
	for i, v := range want {
		if d := math.Abs(float64(got[i]) - v); !(d <= tol*math.Max(big, 1)) {
			if bad < 5 {
				t.Errorf("%s[%d] = %v, want %v", what, i, got[i], v)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values off", what, bad, len(want))
	}
}

// gcPool is a worker pool shared by the tests that run with threads.
var gcPool = simd.NewPool(4)

// TestGradConvOracleThreads checks larger convolutions against the
// direct float64 oracle, serially and on 4 threads, which takes the
// segment-parallel, group-parallel and split-product paths.
func TestGradConvOracleThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	cases := []gcConv{
		{n: 4, c: 8, h: 20, w: 20, m: 16, kh: 1, kw: 1, bias: true},
		{n: 3, c: 16, h: 14, w: 13, m: 24, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, bias: true},
		{n: 2, c: 12, h: 15, w: 15, m: 8, kh: 3, kw: 3, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
		{n: 5, c: 32, h: 4, w: 4, m: 40, kh: 1, kw: 1},
		{n: 3, c: 160, h: 4, w: 3, m: 128, kh: 1, kw: 1, bias: true},
		{n: 2, c: 24, h: 9, w: 9, m: 24, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, group: 24, bias: true},
		{n: 2, c: 16, h: 11, w: 10, m: 16, kh: 3, kw: 3, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, group: 16},
		{n: 2, c: 16, h: 8, w: 8, m: 32, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, group: 8},
		{n: 2, c: 6, w: 40, m: 5, kw: 5, pads: []int{2, 2}},
		{n: 3, c: 4, w: 700, m: 4, kw: 3, strides: []int{2}, pads: []int{1, 1}, group: 4},
	}
	defer func(a, b int) { convSegMin, convSegFloats = a, b }(convSegMin, convSegFloats)
	for ti, tune := range [][2]int{{convSegMin, convSegFloats}, {16, 256}} {
		convSegMin, convSegFloats = tune[0], tune[1]
		for _, tc := range cases {
			n, in := tc.node(rng)
			for _, tier := range simd.Available() {
				for _, par := range []simd.Parallel{nil, gcPool} {
					t.Run(fmt.Sprintf("seg%d/%v/%v/threads%d", ti, tc, tier, simd.ThreadsOf(par)), func(t *testing.T) {
						c := &gradCtx{k: simd.ForTier(tier), par: par, limit: 1 << 26}
						out, saved, err := convGradForward(c, n, in)
						if err != nil {
							t.Fatal(err)
						}
						dy := randTensor(rng, out[0].Shape...)
						need := []bool{true, true, tc.bias}
						din, err := convGradBackward(c, n, in, out, saved, []*ir.Tensor{dy}, need)
						if err != nil {
							t.Fatal(err)
						}
						dx, dw, db := gcConvOracle(t, n, in, dy.F32())
						gcClose(t, "dX", din[0].F32(), dx, 1e-5)
						gcClose(t, "dW", din[1].F32(), dw, 1e-5)
						if tc.bias {
							gcClose(t, "dB", din[2].F32(), db, 1e-5)
						}
					})
				}
			}
		}
	}
}

// TestGradConvNeedSubsets asks for each input alone and checks that only
// it is returned.
func TestGradConvNeedSubsets(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	tc := gcConv{n: 2, c: 4, h: 6, w: 6, m: 4, kh: 3, kw: 3, pads: []int{1, 1, 1, 1}, bias: true}
	for _, g := range []int{1, 4} {
		tc.group = g
		n, in := tc.node(rng)
		for i := range in {
			need := make([]bool, 3)
			need[i] = true
			checkGradCase(t, fmt.Sprintf("g%d/need%d", g, i), gradCase{node: n, in: in, need: []int{i}, maxProbe: 16})
			c := &gradCtx{k: simd.Best(), limit: 1 << 26}
			out, saved, err := convGradForward(c, n, in)
			if err != nil {
				t.Fatal(err)
			}
			din, err := convGradBackward(c, n, in, out, saved, []*ir.Tensor{randTensor(rng, out[0].Shape...)}, need)
			if err != nil {
				t.Fatal(err)
			}
			for j := range din {
				if (din[j] != nil) != (j == i) {
					t.Errorf("group %d, need only %d: gradient %d is %v", g, i, j, din[j])
				}
			}
		}
	}
}

// TestGradConvNilDout: no gradient flowing in gives zero gradients.
func TestGradConvNilDout(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	n, in := gcConv{n: 1, c: 2, h: 4, w: 4, m: 3, kh: 3, kw: 3, bias: true}.node(rng)
	c := &gradCtx{k: simd.Best(), limit: 1 << 26}
	out, saved, err := convGradForward(c, n, in)
	if err != nil {
		t.Fatal(err)
	}
	din, err := convGradBackward(c, n, in, out, saved, []*ir.Tensor{nil}, []bool{true, true, true})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range din {
		for _, v := range d.F32() {
			if v != 0 {
				t.Fatalf("gradient %d has %v, want zeros", i, v)
			}
		}
	}
}

// TestGradConvErrors checks that bad inputs give errors, not panics.
func TestGradConvErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	c := &gradCtx{k: simd.Best(), limit: 1 << 20}
	for _, tc := range []struct {
		name string
		n    *ir.Node
		in   []*ir.Tensor
		want error
	}{
		{"3-D conv", wtNode("Conv", 2, 1), []*ir.Tensor{randTensor(rng, 1, 2, 3, 3, 3), randTensor(rng, 2, 2, 1, 1, 1)}, ErrUnsupported},
		{"channel mismatch", wtNode("Conv", 2, 1), []*ir.Tensor{randTensor(rng, 1, 2, 3, 3), randTensor(rng, 2, 3, 1, 1)}, nil},
		{"bad bias", wtNode("Conv", 3, 1), []*ir.Tensor{randTensor(rng, 1, 2, 3, 3), randTensor(rng, 2, 2, 1, 1), randTensor(rng, 3)}, nil},
		{"too large", wtNode("Conv", 2, 1), []*ir.Tensor{randTensor(rng, 1, 1, 1, 1), randTensor(rng, 1<<21, 1, 1, 1)}, ir.ErrTooLarge},
		{"kernel too big", wtNode("Conv", 2, 1), []*ir.Tensor{randTensor(rng, 1, 1, 2, 2), randTensor(rng, 1, 1, 3, 3)}, nil},
	} {
		_, _, err := convGradForward(c, tc.n, tc.in)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}
	// A gradient of the wrong shape is an error.
	n, in := gcConv{n: 1, c: 2, h: 4, w: 4, m: 3, kh: 3, kw: 3}.node(rng)
	out, saved, err := convGradForward(c, n, in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := convGradBackward(c, n, in, out, saved, []*ir.Tensor{randTensor(rng, 1, 3, 2, 3)}, []bool{true, true}); err == nil {
		t.Error("wrong dY shape: no error")
	}
}

// TestGradHeavyEmptyBatch runs every heavy op on a batch of 0 images:
// empty outputs and gradients, no panic.
func TestGradHeavyEmptyBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	conv := func(g int, k int) (*ir.Node, []*ir.Tensor) {
		return gcConv{n: 0, c: 4, h: 5, w: 5, m: 4, kh: k, kw: k, group: g, bias: true}.node(rng)
	}
	type tc struct {
		name     string
		n        *ir.Node
		in       []*ir.Tensor
		training bool
	}
	var cases []tc
	for _, g := range []int{1, 4} {
		for _, k := range []int{1, 3} {
			n, in := conv(g, k)
			cases = append(cases, tc{fmt.Sprintf("conv g%d k%d", g, k), n, in, false})
		}
	}
	pool := gpCase{kernel: []int{2, 2}}
	x0 := randTensor(rng, 0, 3, 4, 4)
	cases = append(cases,
		tc{"maxpool", pool.node("MaxPool", 2), []*ir.Tensor{x0}, false},
		tc{"avgpool", pool.node("AveragePool", 1), []*ir.Tensor{x0}, false},
		tc{"globalmax", wtNode("GlobalMaxPool", 1, 1), []*ir.Tensor{x0}, false},
		tc{"globalavg", wtNode("GlobalAveragePool", 1, 1), []*ir.Tensor{x0}, false},
		tc{"matmul", wtNode("MatMul", 2, 1), []*ir.Tensor{randTensor(rng, 0, 3, 4), randTensor(rng, 4, 5)}, false},
		tc{"bn", gnNode(1), []*ir.Tensor{x0, randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3), randTensor(rng, 3)}, false})
	for _, cs := range cases {
		op := gradOps[opKey(cs.n)]
		c := &gradCtx{k: simd.Best(), par: gcPool, training: cs.training, limit: 1 << 20}
		var out []*ir.Tensor
		var saved any
		var err error
		if op.forward != nil {
			out, saved, err = op.forward(c, cs.n, cs.in)
		} else {
			out, err = EvalNode(cs.n, cs.in, 0)
		}
		if err != nil {
			t.Errorf("%s: forward: %v", cs.name, err)
			continue
		}
		need := make([]bool, len(cs.in))
		for i := range need {
			need[i] = op.differentiable(i)
		}
		din, err := op.backward(c, cs.n, cs.in, out, saved, out[:1], need)
		if err != nil {
			t.Errorf("%s: backward: %v", cs.name, err)
			continue
		}
		for i, d := range din {
			if need[i] && (d == nil || !slices.Equal(d.Shape, cs.in[i].Shape) || slices.ContainsFunc(d.F32(), func(v float32) bool { return v != 0 })) {
				t.Errorf("%s: gradient %d = %v, want zeros of shape %v", cs.name, i, d, cs.in[i].Shape)
			}
		}
	}
}
