package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func TestGradReshapes(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	x := randTensor(r, 2, 3, 4)
	cases := []struct {
		name  string
		op    string
		in    []*ir.Tensor
		attrs []*ir.Attr
	}{
		{"Flatten", "Flatten", []*ir.Tensor{x}, nil},
		{"Flatten0", "Flatten", []*ir.Tensor{x}, []*ir.Attr{ir.IntAttr("axis", 0)}},
		{"Flatten-1", "Flatten", []*ir.Tensor{x}, []*ir.Attr{ir.IntAttr("axis", -1)}},
		{"Reshape", "Reshape", []*ir.Tensor{x, i64s(4, -1)}, nil},
		{"Reshape0", "Reshape", []*ir.Tensor{x, i64s(0, 12)}, nil},
		{"Squeeze", "Squeeze", []*ir.Tensor{randTensor(r, 1, 3, 1, 2), i64s(0, -2)}, nil},
		{"SqueezeAll", "Squeeze", []*ir.Tensor{randTensor(r, 1, 3, 1, 2)}, nil},
		{"Unsqueeze", "Unsqueeze", []*ir.Tensor{x, i64s(0, 4)}, nil},
		{"Transpose", "Transpose", []*ir.Tensor{x}, []*ir.Attr{ir.IntsAttr("perm", []int64{1, 2, 0})}},
		{"TransposeDefault", "Transpose", []*ir.Tensor{x}, nil},
		{"Transpose4", "Transpose", []*ir.Tensor{randTensor(r, 2, 3, 2, 5)}, []*ir.Attr{ir.IntsAttr("perm", []int64{0, 2, 3, 1})}},
		{"TransposeScalar", "Transpose", []*ir.Tensor{randTensor(r)}, nil},
		{"Concat1", "Concat", []*ir.Tensor{x, randTensor(r, 2, 1, 4), randTensor(r, 2, 5, 4)}, []*ir.Attr{ir.IntAttr("axis", 1)}},
		{"Concat-1", "Concat", []*ir.Tensor{x, randTensor(r, 2, 3, 2)}, []*ir.Attr{ir.IntAttr("axis", -1)}},
		{"Concat0", "Concat", []*ir.Tensor{x, randTensor(r, 1, 3, 4)}, []*ir.Attr{ir.IntAttr("axis", 0)}},
		{"ConcatEmpty", "Concat", []*ir.Tensor{x, randTensor(r, 2, 0, 4)}, []*ir.Attr{ir.IntAttr("axis", 1)}},
		{"ConcatOne", "Concat", []*ir.Tensor{x}, []*ir.Attr{ir.IntAttr("axis", 2)}},
	}
	for _, tc := range cases {
		checkGradCase(t, tc.name, gradCase{node: lightNode(tc.op, tc.in, 1, tc.attrs...), in: tc.in})
	}
}

func TestGradSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	x := randTensor(r, 2, 6, 3)
	cases := []struct {
		name  string
		in    []*ir.Tensor
		nOut  int
		attrs []*ir.Attr
	}{
		{"input", []*ir.Tensor{x, i64s(1, 2, 3)}, 3, []*ir.Attr{ir.IntAttr("axis", 1)}},
		{"equal", []*ir.Tensor{x}, 2, []*ir.Attr{ir.IntAttr("axis", 1)}},
		{"num_outputs", []*ir.Tensor{x}, 4, []*ir.Attr{ir.IntAttr("axis", 1), ir.IntAttr("num_outputs", 4)}},
		{"last", []*ir.Tensor{x, i64s(2, 0, 1)}, 3, []*ir.Attr{ir.IntAttr("axis", -1)}},
		{"first", []*ir.Tensor{x}, 2, nil},
	}
	for _, tc := range cases {
		checkGradCase(t, tc.name, gradCase{node: lightNode("Split", tc.in, tc.nOut, tc.attrs...), in: tc.in})
	}
	// Outputs nothing depends on (a nil gradient) count as zero.
	in := []*ir.Tensor{x, i64s(1, 5)}
	n := lightNode("Split", in, 2, ir.IntAttr("axis", 1))
	out, err := EvalNode(n, in, 0)
	if err != nil {
		t.Fatal(err)
	}
	g := mapTensor(zerosLike(out[1]), func(float32) float32 { return 1 })
	din, err := splitBackward(&gradCtx{}, n, in, out, nil, []*ir.Tensor{nil, g}, []bool{true, false})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range din[0].F32() {
		want := float32(1)
		if (i/3)%6 == 0 {
			want = 0
		}
		if v != want {
			t.Fatalf("Split gradient[%d] = %v, want %v", i, v, want)
		}
	}
}

func TestGradPad(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	x := randTensor(r, 2, 3, 4, 5)
	modes := []string{"constant", "reflect", "edge", "wrap"}
	pads := [][]int64{
		{0, 0, 1, 2, 0, 0, 2, 1},
		{0, 0, 3, 4, 0, 0, 3, 4}, // wider than the axis: reflect and wrap go around
		{0, 0, -1, 1, 0, 1, 2, -2},
		{1, 1, 0, 0, 0, 0, 0, 0},
	}
	for _, mode := range modes {
		for _, p := range pads {
			in := []*ir.Tensor{x, i64s(p...)}
			if mode == "constant" {
				in = append(in, ir.Scalar(float32(0.5)))
			}
			checkGradCase(t, fmt.Sprintf("%s/%v", mode, p), gradCase{node: lightNode("Pad", in, 1, ir.StringAttr("mode", mode)), in: in})
		}
	}
	// Pads on selected axes (opset 18's axes input).
	in := []*ir.Tensor{x, i64s(1, 2, 0, 3), nil, i64s(-1, 1)}
	checkGradCase(t, "axes", gradCase{node: lightNode("Pad", in, 1, ir.StringAttr("mode", "reflect")), in: in})
	// A scalar.
	in = []*ir.Tensor{randTensor(r), i64s()}
	checkGradCase(t, "scalar", gradCase{node: lightNode("Pad", in, 1), in: in})
}

func TestGradSoftmax(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		for _, sh := range [][]int{{5}, {3, 7}, {2, 3, 4}, {2, 1, 3}, {4, 10}} {
			x := mapTensor(randTensor(r, sh...), func(v float32) float32 { return 4 * v })
			for axis := -len(sh); axis < len(sh); axis++ {
				in := []*ir.Tensor{x}
				checkGradCase(t, fmt.Sprintf("%s/%v/axis%d", op, sh, axis), gradCase{node: lightNode(op, in, 1, ir.IntAttr("axis", int64(axis))), in: in})
			}
			in := []*ir.Tensor{x}
			checkGradCase(t, fmt.Sprintf("%s/%v/default", op, sh), gradCase{node: lightNode(op, in, 1), in: in})
		}
	}
	// Saturated: one large logit.
	x, _ := ir.FromFloat32([]int{2, 4}, []float32{30, 0, -1, 2, -50, 1, 1, 1})
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		checkGradCase(t, op+"/saturated", gradCase{node: lightNode(op, []*ir.Tensor{x}, 1), in: []*ir.Tensor{x}})
	}
}

func TestGradDropout(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	x := randTensor(r, 4, 50, 10)
	ratio := ir.Scalar(float32(0.3))
	on, off := ir.Scalar(true), ir.Scalar(false)

	// Inference semantics: identity, with every mask bit set.
	for _, in := range [][]*ir.Tensor{{x}, {x, ratio}, {x, ratio, off}} {
		checkGradCase(t, fmt.Sprintf("inference/%d", len(in)), gradCase{node: lightNode("Dropout", in, 2), in: in})
	}
	// Training_mode true, but the trainer in inference semantics: identity.
	in := []*ir.Tensor{x, ratio, on}
	c := &gradCtx{rng: rand.New(rand.NewPCG(1, 1))}
	out, _, err := dropoutForward(c, lightNode("Dropout", in, 1), in)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range out[0].F32() {
		if v != x.F32()[i] {
			t.Fatal("Dropout dropped in inference semantics")
		}
	}

	// Training: the mask the forward draws (the checker seeds its rng with
	// 7, 7, as here) makes the float64 reference.
	for _, in := range [][]*ir.Tensor{{x}, {x, ratio}, {x, ratio, on}} {
		n := lightNode("Dropout", in, 2)
		c := &gradCtx{training: true, rng: rand.New(rand.NewPCG(7, 7))}
		out, _, err := dropoutForward(c, n, in)
		if err != nil {
			t.Fatal(err)
		}
		mask := out[1].Data.([]bool)
		p := 0.5
		if len(in) > 1 {
			p = 0.3
		}
		kept := 0
		for _, k := range mask {
			if k {
				kept++
			}
		}
		// 2000 Bernoulli draws: the kept fraction is within 4.5 standard
		// deviations of 1-p.
		if f, sd := float64(kept)/float64(len(mask)), math.Sqrt(p*(1-p)/float64(len(mask))); math.Abs(f-(1-p)) > 4.5*sd {
			t.Errorf("Dropout ratio %g kept %.3f of the elements", p, f)
		}
		fwd64 := func(in []*ir.Tensor) ([]*ir.Tensor, error) {
			y := in[0].Clone()
			for i, v := range y.F64() {
				if mask[i] {
					y.F64()[i] = v / (1 - p)
				} else {
					y.F64()[i] = 0
				}
			}
			return []*ir.Tensor{y, out[1]}, nil
		}
		checkGradCase(t, fmt.Sprintf("training/%d", len(in)), gradCase{node: n, in: in, training: true, fwd64: fwd64})
	}
	// Training with training_mode false, or ratio 0: identity.
	for _, in := range [][]*ir.Tensor{{x, ratio, off}, {x, ir.Scalar(float32(0))}} {
		c := &gradCtx{training: true, rng: rand.New(rand.NewPCG(1, 1))}
		out, _, err := dropoutForward(c, lightNode("Dropout", in, 1), in)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range out[0].F32() {
			if v != x.F32()[i] {
				t.Fatalf("Dropout %v dropped", in[1:])
			}
		}
	}
	// Bad ratios.
	for _, bad := range []float32{-0.1, 1, float32(math.NaN())} {
		in := []*ir.Tensor{x, ir.Scalar(bad)}
		c := &gradCtx{training: true, rng: rand.New(rand.NewPCG(1, 1))}
		if _, _, err := dropoutForward(c, lightNode("Dropout", in, 1), in); err == nil {
			t.Errorf("Dropout with ratio %v: no error", bad)
		}
	}
}
