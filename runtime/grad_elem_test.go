package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// lightNode builds a node of op whose inputs are named i0, i1, ... ("" for
// nil entries of in) and outputs o0, o1, ...
func lightNode(op string, in []*ir.Tensor, nOut int, attrs ...*ir.Attr) *ir.Node {
	n := &ir.Node{Op: op, Attrs: map[string]*ir.Attr{}}
	for i, t := range in {
		name := ""
		if t != nil {
			name = fmt.Sprintf("i%d", i)
		}
		n.Inputs = append(n.Inputs, name)
	}
	for i := range nOut {
		n.Outputs = append(n.Outputs, fmt.Sprintf("o%d", i))
	}
	for _, a := range attrs {
		n.SetAttr(a)
	}
	return n
}

// mapTensor returns a copy of t with f applied to every element.
func mapTensor(t *ir.Tensor, f func(float32) float32) *ir.Tensor {
	c := t.Clone()
	for i, v := range c.F32() {
		c.F32()[i] = f(v)
	}
	return c
}

// awayFrom pushes values within 1e-2 of any kink k to k ± 1e-2, so that a
// finite difference never straddles one.
func awayFrom(kinks ...float32) func(float32) float32 {
	return func(v float32) float32 {
		for _, k := range kinks {
			if d := v - k; d > -1e-2 && d < 1e-2 {
				if d < 0 {
					return k - 1e-2
				}
				return k + 1e-2
			}
		}
		return v
	}
}

func TestGradUnary(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	shapes := [][]int{{}, {1}, {7}, {2, 3, 4, 5}, {1, 1, 1, 1}, {3, 0, 2}}
	type unaryCase struct {
		op    string
		attrs []*ir.Attr
		scale float32
		kinks []float32
		pos   bool
	}
	cases := []unaryCase{
		{op: "Relu", scale: 1, kinks: []float32{0}},
		{op: "LeakyRelu", scale: 1, kinks: []float32{0}},
		{op: "LeakyRelu", attrs: []*ir.Attr{ir.FloatAttr("alpha", 0.3)}, scale: 2, kinks: []float32{0}},
		{op: "Sigmoid", scale: 6},
		{op: "Tanh", scale: 3},
		{op: "HardSigmoid", scale: 4, kinks: []float32{-2.5, 2.5}},
		{op: "HardSigmoid", attrs: []*ir.Attr{ir.FloatAttr("alpha", 0.5), ir.FloatAttr("beta", 0.2)}, scale: 3, kinks: []float32{-0.4, 1.6}},
		{op: "HardSwish", scale: 5, kinks: []float32{-3, 3}},
		{op: "Identity", scale: 1},
		{op: "Neg", scale: 1},
		{op: "Exp", scale: 3},
		{op: "Sqrt", scale: 1, pos: true},
	}
	for _, uc := range cases {
		for _, sh := range shapes {
			x := mapTensor(randTensor(r, sh...), func(v float32) float32 {
				v *= uc.scale
				if uc.pos {
					v = float32(math.Abs(float64(v))) + 0.1
				}
				return awayFrom(uc.kinks...)(v)
			})
			name := fmt.Sprintf("%s%v/%v", uc.op, uc.attrs, sh)
			checkGradCase(t, name, gradCase{node: lightNode(uc.op, []*ir.Tensor{x}, 1, uc.attrs...), in: []*ir.Tensor{x}})
		}
	}
}

// TestGradUnaryKinks pins the derivative chosen at the points where the
// function has none (PyTorch's choices).
func TestGradUnaryKinks(t *testing.T) {
	cases := []struct {
		op   string
		x    float32
		want float32
	}{
		{"Relu", 0, 0},
		{"LeakyRelu", 0, 0.01},
		{"HardSwish", -3, -0.5},
		{"HardSwish", -3.5, 0},
		{"HardSwish", 3, 1.5},
		{"HardSigmoid", -2.5, 0},
		{"HardSigmoid", 2.5, 0},
	}
	for _, tc := range cases {
		x := ir.Scalar(tc.x)
		n := lightNode(tc.op, []*ir.Tensor{x}, 1)
		out, err := EvalNode(n, []*ir.Tensor{x}, 0)
		if err != nil {
			t.Fatal(err)
		}
		din, err := gradOps[tc.op].backward(&gradCtx{}, n, []*ir.Tensor{x}, out, nil, []*ir.Tensor{ir.Scalar(float32(1))}, []bool{true})
		if err != nil {
			t.Fatal(err)
		}
		if got := din[0].F32()[0]; got != tc.want {
			t.Errorf("%s'(%v) = %v, want %v", tc.op, tc.x, got, tc.want)
		}
	}
}

func TestGradClip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	lo, hi := ir.Scalar(float32(-0.5)), ir.Scalar(float32(0.25))
	six := ir.Scalar(float32(6))
	zero := ir.Scalar(float32(0))
	for _, sh := range [][]int{{}, {5}, {2, 3, 4, 4}} {
		x := mapTensor(randTensor(r, sh...), awayFrom(-0.5, 0.25))
		for _, b := range [][2]*ir.Tensor{{lo, hi}, {lo, nil}, {nil, hi}, {nil, nil}} {
			in := []*ir.Tensor{x, b[0], b[1]}
			if b[1] == nil {
				in = in[:2]
				if b[0] == nil {
					in = in[:1]
				}
			}
			checkGradCase(t, fmt.Sprintf("%v/%d", sh, len(in)), gradCase{node: lightNode("Clip", in, 1), in: in})
		}
		// ReLU6 on values spread over [-8, 8).
		x6 := mapTensor(randTensor(r, sh...), func(v float32) float32 { return awayFrom(0, 6)(8 * v) })
		in := []*ir.Tensor{x6, zero, six}
		checkGradCase(t, fmt.Sprintf("relu6/%v", sh), gradCase{node: lightNode("Clip", in, 1), in: in})
	}
	// The bounds are not differentiated: the gradient passes at them.
	x, err := ir.FromFloat32([]int{4}, []float32{-0.5, 0.25, -1, 1})
	if err != nil {
		t.Fatal(err)
	}
	in := []*ir.Tensor{x, lo, hi}
	n := lightNode("Clip", in, 1)
	out, _ := EvalNode(n, in, 0)
	g, _ := ir.FromFloat32([]int{4}, []float32{1, 2, 3, 4})
	din, err := clipBackward(&gradCtx{}, n, in, out, nil, []*ir.Tensor{g}, []bool{true, false, false})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 2, 0, 0}
	for i, v := range din[0].F32() {
		if v != want[i] {
			t.Errorf("Clip gradient %v, want %v", din[0].F32(), want)
			break
		}
	}
}

func TestGradBinary(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	pairs := [][2][]int{
		{{2, 3, 4, 5}, {2, 3, 4, 5}},
		{{2, 3, 4, 5}, {1, 3, 1, 1}},
		{{1, 3, 1, 1}, {2, 3, 4, 5}},
		{{2, 3, 4, 5}, {5}},
		{{3, 1, 5}, {1, 4, 1}},
		{{}, {2, 3}},
		{{2, 3}, {}},
		{{4, 1}, {3}},
		{{1}, {1}},
		{{2, 0, 3}, {1, 3}},
		{{6, 1, 2}, {6, 5, 2}},
	}
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for _, p := range pairs {
			a := randTensor(r, p[0]...)
			b := randTensor(r, p[1]...)
			if op == "Div" {
				b = mapTensor(b, func(v float32) float32 {
					if v < 0 {
						return v - 0.5
					}
					return v + 0.5
				})
			}
			in := []*ir.Tensor{a, b}
			checkGradCase(t, fmt.Sprintf("%s/%v/%v", op, p[0], p[1]), gradCase{node: lightNode(op, in, 1), in: in})
			// One input's gradient alone.
			checkGradCase(t, fmt.Sprintf("%s/%v/%v/only1", op, p[0], p[1]), gradCase{node: lightNode(op, in, 1), in: in, need: []int{1}})
		}
	}
}

// TestGradBinaryBigReduction checks the bias-like reduction of many terms
// (summed in float64) against an exact expectation.
func TestGradBinaryBigReduction(t *testing.T) {
	x, _ := ir.NewTensor(ir.Float32, []int{8, 4, 64, 64})
	bias, _ := ir.NewTensor(ir.Float32, []int{1, 4, 1, 1})
	in := []*ir.Tensor{x, bias}
	n := lightNode("Add", in, 1)
	g := mapTensor(zerosLike(x), func(float32) float32 { return 0.1 })
	din, err := gradOps["Add"].backward(&gradCtx{}, n, in, nil, nil, []*ir.Tensor{g}, []bool{false, true})
	if err != nil {
		t.Fatal(err)
	}
	want := float32(0.1 * 8 * 64 * 64) // float32(0.1) summed exactly in float64 rounds to this
	for _, v := range din[1].F32() {
		if math.Abs(float64(v-want)) > 1e-6*float64(want) {
			t.Fatalf("bias gradient %v, want %v", v, want)
		}
	}
}

// TestGradMaskKeyRange checks the integer-key range test of the Clip and
// Relu gradients against float comparisons, on the special values (±0,
// ±Inf, NaNs of both signs, denormals, the bounds and their neighbours)
// and random ones, for bounds of every kind.
func TestGradMaskKeyRange(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	inf := float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	special := []float32{0, negZero, inf, -inf, float32(math.NaN()), -float32(math.NaN()),
		math.Float32frombits(1), -math.Float32frombits(1), math.Float32frombits(0x7fffff), math.MaxFloat32, -math.MaxFloat32,
		math.Float32frombits(0x7f800001), math.Float32frombits(0xff800001)}
	bounds := [][2]float32{{0, 6}, {negZero, 6}, {-1, 1}, {-inf, inf}, {-inf, 0}, {-inf, negZero}, {0, 0}, {2, 2},
		{math.Float32frombits(1), inf}, {-3.5, -0.25}, {0.5, inf}, {-inf, -2}}
	for i := 0; i < 20; i++ {
		a, b := float32(r.NormFloat64()*4), float32(r.NormFloat64()*4)
		bounds = append(bounds, [2]float32{min(a, b), max(a, b)})
	}
	for _, bd := range bounds {
		lo, hi := bd[0], bd[1]
		x := slices.Clone(special)
		for _, v := range []float32{lo, hi} {
			x = append(x, v, math.Nextafter32(v, inf), math.Nextafter32(v, -inf), -v)
		}
		for range 200 {
			x = append(x, float32(r.NormFloat64()*8))
		}
		g := make([]float32, len(x))
		for i := range g {
			g[i] = float32(i + 1)
		}
		got := make([]float32, len(x))
		klo, span := f32KeyRange(lo, hi)
		maskKeyRange(x, g, got, klo, span)
		for i, v := range x {
			want := float32(0)
			if v >= lo && v <= hi {
				want = g[i]
			}
			if got[i] != want {
				t.Errorf("range [%v, %v], x = %v (%#x): got %v, want %v", lo, hi, v, math.Float32bits(v), got[i], want)
			}
		}
	}
}
