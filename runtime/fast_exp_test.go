package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func TestExp64MatchesMathExp(t *testing.T) {
	check := func(x float64) {
		t.Helper()
		got, want := exp64(x), math.Exp(x)
		// Go's assembly math.Exp differs by platform at the ends of the
		// range (amd64 overflows at 709.7, where the pure-Go one is finite;
		// arm64 flushes e^-745 to 0, where the correctly rounded value is
		// the smallest subnormal). Scaled products are portable oracles.
		switch {
		case x > 709 && x < 710:
			want = math.Exp(x-1) * math.E
		case x < -700 && x > -750:
			want = math.Exp(x+700) * math.Exp(-700)
			if math.Abs(got-want) > max(4*0x1p-1074, 1e-9*want) {
				t.Fatalf("exp64(%v) = %v, want %v", x, got, want)
			}
			return
		}
		switch {
		case math.IsNaN(want) || math.IsInf(want, 0) || want == 0:
			if !(math.IsNaN(got) && math.IsNaN(want)) && got != want {
				t.Fatalf("exp64(%v) = %v, want %v", x, got, want)
			}
		case want < 0x1p-1022: // subnormal: an absolute error of a few units
			if math.Abs(got-want) > 4*0x1p-1074 {
				t.Fatalf("exp64(%v) = %v, want %v", x, got, want)
			}
		case math.Abs(got-want) > 1e-9*want:
			t.Fatalf("exp64(%v) = %v, want %v (relative error %.3g)", x, got, want, math.Abs(got-want)/want)
		}
	}
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1, -1,
		ln2 / 2, -ln2 / 2, 88.72283935546875, 88.7228, 89, -87.33, -103.97, -104, -150,
		709, 709.7, 709.79, 710, -708, -740, -744.4, -745, -745.2, -746, 1e300, -1e300} {
		check(x)
	}
	rng := rand.New(rand.NewPCG(30, 30))
	for range 100000 {
		check(rng.Float64()*240 - 120)
		check(rng.Float64()*4 - 2)
	}
	// As a float32 Exp: the float32 of math.Exp, or a neighbour.
	for range 100000 {
		x := float32(rng.Float64()*220 - 110)
		got, want := float32(exp64(float64(x))), float32(math.Exp(float64(x)))
		if got != want && math.Nextafter32(want, got) != got {
			t.Fatalf("float32 exp(%v) = %v, want %v", x, got, want)
		}
	}
}

func TestFastExpMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	for _, shape := range [][]int{{}, {1}, {7}, {3, 5}, {1, 4420, 2}, {2, 40000}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, shape...)}, outputs: []string{"y"},
				nodes: []*ir.Node{nd("Exp", []string{"x"}, []string{"y"})}}
			x := scaled(randF32(rng, shape...), 100)
			if d := x.F32(); len(d) >= 7 {
				copy(d, []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 88.72, 89, -104, 0})
			}
			// The float32 results may be one ulp from the reference's.
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": x}, 0x1p-23)
			wantSteps(t, sum, "fast Exp")
		})
	}
}

func TestFastSoftmaxMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 32))
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	for _, c := range []struct {
		shape []int
		axis  int
		edge  []float32 // the first elements of the input
	}{
		{[]int{1, 4420, 2}, -1, nil},
		{[]int{1, 4420, 2}, 1, nil},
		{[]int{2, 3, 5}, 0, nil},
		{[]int{2, 3, 5}, 1, nil},
		{[]int{1, 1000}, -1, nil},
		{[]int{3, 1}, -1, nil},
		{[]int{5}, 0, nil},
		{[]int{4, 3}, -1, []float32{nan, 1, 2, inf, 0, 1, -inf, -inf, -inf, 100, -100, 50}},
		{[]int{2, 2, 3}, 1, []float32{-inf, 1, nan, -inf, inf, 0}},
		{[]int{2, 0, 3}, 1, nil},
		{[]int{300, 300}, -1, nil},
	} {
		t.Run(fmt.Sprintf("%v_axis%d", c.shape, c.axis), func(t *testing.T) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, c.shape...)}, outputs: []string{"y"},
				nodes: []*ir.Node{nd("Softmax", []string{"x"}, []string{"y"}, ir.IntAttr("axis", int64(c.axis)))}}
			x := scaled(randF32(rng, c.shape...), 20)
			copy(x.F32(), c.edge)
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": x}, 0x1p-22)
			wantSteps(t, sum, "fast Softmax")
		})
	}
}
