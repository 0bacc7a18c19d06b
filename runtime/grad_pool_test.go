package runtime

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// gpCase is one pooling test case.
type gpCase struct {
	x                     []int
	kernel, strides, pads []int
	dils                  []int
	ceil, inclPad         bool
	autoPad               string
}

func (tc gpCase) String() string {
	return fmt.Sprintf("x%v_k%v_s%v_p%v_d%v_ceil%v_incl%v%s", tc.x, tc.kernel, tc.strides, tc.pads, tc.dils, tc.ceil, tc.inclPad, tc.autoPad)
}

func (tc gpCase) node(op string, nout int) *ir.Node {
	attrs := []*ir.Attr{wtInts("kernel_shape", tc.kernel), wtInts("strides", tc.strides), wtInts("pads", tc.pads), wtInts("dilations", tc.dils)}
	if tc.ceil {
		attrs = append(attrs, ir.IntAttr("ceil_mode", 1))
	}
	if tc.inclPad {
		attrs = append(attrs, ir.IntAttr("count_include_pad", 1))
	}
	if tc.autoPad != "" {
		attrs = append(attrs, ir.StringAttr("auto_pad", tc.autoPad))
	}
	return wtNode(op, 1, nout, attrs...)
}

// gpCases cover non-overlapping and overlapping windows, strides 1-3,
// asymmetric pads, ceil_mode windows cut at the end, dilation, auto_pad,
// non-square shapes, batch 3 and odd channel counts, 1-D and 3-D.
var gpCases = []gpCase{
	{x: []int{1, 2, 6, 6}, kernel: []int{2, 2}, strides: []int{2, 2}},
	{x: []int{3, 3, 7, 5}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}},
	{x: []int{1, 3, 5, 6}, kernel: []int{3, 3}, strides: []int{1, 1}, pads: []int{1, 1, 1, 1}},
	{x: []int{2, 1, 6, 6}, kernel: []int{3, 3}, strides: []int{2, 2}, ceil: true},
	{x: []int{1, 2, 7, 8}, kernel: []int{3, 2}, strides: []int{3, 2}, pads: []int{0, 1, 2, 0}, ceil: true},
	{x: []int{1, 2, 9, 9}, kernel: []int{3, 3}, strides: []int{2, 2}, dils: []int{2, 2}, pads: []int{1, 1, 1, 1}},
	{x: []int{1, 3, 7, 7}, kernel: []int{3, 3}, strides: []int{2, 2}, autoPad: "SAME_UPPER"},
	{x: []int{1, 2, 6, 7}, kernel: []int{2, 3}, strides: []int{2, 2}, autoPad: "SAME_LOWER"},
	{x: []int{1, 2, 8, 8}, kernel: []int{5, 5}, strides: []int{3, 3}, pads: []int{2, 2, 2, 2}, ceil: true},
	{x: []int{2, 3, 11}, kernel: []int{3}, strides: []int{2}, pads: []int{1, 0}, ceil: true},
	{x: []int{1, 2, 4, 5, 4}, kernel: []int{2, 3, 2}, strides: []int{2, 1, 2}, pads: []int{0, 1, 1, 1, 0, 0}},
}

func TestGradMaxPoolFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	for _, tc := range gpCases {
		for _, nout := range []int{1, 2} {
			checkGradCase(t, fmt.Sprintf("%v/out%d", tc, nout), gradCase{node: tc.node("MaxPool", nout), in: []*ir.Tensor{randTensor(rng, tc.x...)}})
		}
	}
}

func TestGradAveragePoolFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	for _, tc := range gpCases {
		for _, incl := range []bool{false, true} {
			tc.inclPad = incl
			checkGradCase(t, tc.String(), gradCase{node: tc.node("AveragePool", 1), in: []*ir.Tensor{randTensor(rng, tc.x...)}})
		}
	}
}

// TestGradMaxPoolIndices: the Indices output equals the reference op's,
// in both storage orders.
func TestGradMaxPoolIndices(t *testing.T) {
	rng := rand.New(rand.NewPCG(85, 86))
	for _, tc := range gpCases {
		for _, so := range []int64{0, 1} {
			n := tc.node("MaxPool", 2)
			n.SetAttr(ir.IntAttr("storage_order", so))
			in := []*ir.Tensor{randTensor(rng, tc.x...)}
			want, err := EvalNode(n, in, 0)
			if err != nil {
				t.Fatal(err)
			}
			c := &gradCtx{k: simd.Best(), par: gcPool, limit: 1 << 24}
			got, _, err := maxPoolGradForward(c, n, in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[0].F32(), want[0].F32()) || !slices.Equal(got[1].I64(), want[1].I64()) {
				t.Errorf("%v storage_order %d: got %v %v, want %v %v", tc, so, got[0].F32(), got[1].I64(), want[0].F32(), want[1].I64())
			}
		}
	}
}

// TestGradMaxPoolTies: in a constant input every window ties, and each
// output's gradient goes to its window's first in-input tap in row-major
// order (PyTorch's choice).
func TestGradMaxPoolTies(t *testing.T) {
	for _, tc := range gpCases {
		if len(tc.x) != 4 {
			continue
		}
		n := tc.node("MaxPool", 1)
		x, err := ir.NewTensor(ir.Float32, tc.x)
		if err != nil {
			t.Fatal(err)
		}
		for i := range x.F32() {
			x.F32()[i] = 0.5
		}
		in := []*ir.Tensor{x}
		c := &gradCtx{k: simd.Best(), limit: 1 << 24}
		out, saved, err := maxPoolGradForward(c, n, in)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		dy := randTensor(rng, out[0].Shape...)
		din, err := maxPoolGradBackward(c, n, in, out, saved, []*ir.Tensor{dy}, []bool{true})
		if err != nil {
			t.Fatal(err)
		}
		// The expected gradient, from the window geometry.
		g, err := planPool(n, tc.x)
		if err != nil {
			t.Fatal(err)
		}
		want := make([]float32, x.Len())
		planes, inSp, outSp := tc.x[0]*tc.x[1], tc.x[2]*tc.x[3], g.out[0]*g.out[1]
		for pl := 0; pl < planes; pl++ {
			for oy := 0; oy < g.out[0]; oy++ {
				for ox := 0; ox < g.out[1]; ox++ {
					first := -1
					for ky := 0; ky < g.kernel[0] && first < 0; ky++ {
						for kx := 0; kx < g.kernel[1] && first < 0; kx++ {
							iy := oy*g.stride[0] - g.padB[0] + ky*g.dil[0]
							ix := ox*g.stride[1] - g.padB[1] + kx*g.dil[1]
							if iy >= 0 && iy < tc.x[2] && ix >= 0 && ix < tc.x[3] {
								first = iy*tc.x[3] + ix
							}
						}
					}
					if first >= 0 {
						want[pl*inSp+first] += dy.F32()[pl*outSp+oy*g.out[1]+ox]
					}
				}
			}
		}
		if !slices.Equal(din[0].F32(), want) {
			t.Errorf("%v: gradient %v, want %v", tc, din[0].F32(), want)
		}
	}
}

func TestGradGlobalPoolFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(87, 88))
	for _, op := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
		for _, sh := range [][]int{{2, 3, 4, 5}, {3, 5}, {1, 2, 7}, {2, 1, 2, 3, 2}} {
			checkGradCase(t, fmt.Sprintf("%s/%v", op, sh), gradCase{node: wtNode(op, 1, 1), in: []*ir.Tensor{randTensor(rng, sh...)}})
		}
	}
}

// TestGradPoolThreads: on 4 threads the results equal the serial ones.
func TestGradPoolThreads(t *testing.T) {
	rng := rand.New(rand.NewPCG(89, 90))
	tc := gpCase{x: []int{4, 40, 13, 11}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, ceil: true}
	x := randTensor(rng, tc.x...)
	for _, op := range []string{"MaxPool", "AveragePool", "GlobalMaxPool", "GlobalAveragePool"} {
		n := tc.node(op, 1)
		if op[0] == 'G' {
			n = wtNode(op, 1, 1)
		}
		g := gradOps[op]
		var ref []*ir.Tensor
		for _, par := range []simd.Parallel{nil, gcPool} {
			c := &gradCtx{k: simd.Best(), par: par, limit: 1 << 24}
			var out []*ir.Tensor
			var saved any
			var err error
			if g.forward != nil {
				out, saved, err = g.forward(c, n, []*ir.Tensor{x})
			} else {
				out, err = EvalNode(n, []*ir.Tensor{x}, 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			dy := randTensor(rand.New(rand.NewPCG(3, 4)), out[0].Shape...)
			din, err := g.backward(c, n, []*ir.Tensor{x}, out, saved, []*ir.Tensor{dy}, []bool{true})
			if err != nil {
				t.Fatal(err)
			}
			got := []*ir.Tensor{out[0], din[0]}
			if ref == nil {
				ref = got
				continue
			}
			for i := range got {
				if !slices.Equal(got[i].F32(), ref[i].F32()) {
					t.Errorf("%s: result %d differs on 4 threads", op, i)
				}
			}
		}
	}
}

func TestGradPoolErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	c := &gradCtx{k: simd.Best(), limit: 1 << 10}
	for _, tc := range []struct {
		name string
		op   string
		n    *ir.Node
		x    *ir.Tensor
	}{
		{"no kernel", "MaxPool", wtNode("MaxPool", 1, 1), randTensor(rng, 1, 1, 4, 4)},
		{"rank 2", "MaxPool", gpCase{kernel: []int{2}}.node("MaxPool", 1), randTensor(rng, 4, 4)},
		{"kernel rank", "AveragePool", gpCase{kernel: []int{2}}.node("AveragePool", 1), randTensor(rng, 1, 1, 4, 4)},
		{"too large", "AveragePool", gpCase{kernel: []int{1, 1}}.node("AveragePool", 1), randTensor(rng, 1, 1, 40, 40)},
		{"global rank 1", "GlobalMaxPool", wtNode("GlobalMaxPool", 1, 1), randTensor(rng, 4)},
	} {
		if _, _, err := gradOps[tc.op].forward(c, tc.n, []*ir.Tensor{tc.x}); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	// Backward without the forward's saved argmax is an error.
	n := gpCase{kernel: []int{2, 2}}.node("MaxPool", 1)
	x := randTensor(rng, 1, 1, 4, 4)
	if _, err := maxPoolGradBackward(c, n, []*ir.Tensor{x}, nil, nil, []*ir.Tensor{randTensor(rng, 1, 1, 3, 3)}, []bool{true}); err == nil {
		t.Error("MaxPool backward without saved: no error")
	}
}
