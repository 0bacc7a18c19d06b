package runtime

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// ce64 is the mean softmax cross-entropy in float64, written plainly
// (log of the sum of exponentials, no shift), for moderate logits.
func ce64(x []float64, n, c int, labels []int64) float64 {
	s := 0.0
	for i := range n {
		z := 0.0
		for j := range c {
			z += math.Exp(x[i*c+j])
		}
		s += math.Log(z) - x[i*c+int(labels[i])]
	}
	return s / float64(n)
}

func TestSoftmaxCrossEntropy(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, shape := range [][]int{{1, 1}, {1, 2}, {4, 10}, {7, 3, 1, 1}, {16, 1000}} {
		n, c := shape[0], shape[1]
		x := mapTensor(randTensor(r, shape...), func(v float32) float32 { return 5 * v })
		labels := make([]int64, n)
		for i := range labels {
			labels[i] = int64(r.IntN(c))
		}
		loss, grad, correct, err := softmaxCrossEntropy(x, labels)
		if err != nil {
			t.Fatal(err)
		}
		x64 := to64(x).F64()
		if want := ce64(x64, n, c, labels); math.Abs(loss-want) > 1e-12*math.Max(1, want) {
			t.Errorf("%v: loss %.15g, want %.15g", shape, loss, want)
		}
		if len(grad.Shape) != len(shape) || grad.Len() != n*c {
			t.Fatalf("%v: gradient shape %v", shape, grad.Shape)
		}
		for _, j := range probeIndices(r, n*c, 64) {
			h := 1e-6
			old := x64[j]
			x64[j] = old + h
			lp := ce64(x64, n, c, labels)
			x64[j] = old - h
			lm := ce64(x64, n, c, labels)
			x64[j] = old
			num := (lp - lm) / (2 * h)
			if a := float64(grad.F32()[j]); math.Abs(a-num) > 1e-6+1e-5*math.Abs(num) {
				t.Errorf("%v: d/dx[%d] = %.8g, finite difference %.8g", shape, j, a, num)
			}
		}
		want := 0
		for i := range n {
			best := 0
			for j := range c {
				if x64[i*c+j] > x64[i*c+best] {
					best = j
				}
			}
			if best == int(labels[i]) {
				want++
			}
		}
		if correct != want {
			t.Errorf("%v: correct %d, want %d", shape, correct, want)
		}
	}
}

func TestSoftmaxCrossEntropyExtreme(t *testing.T) {
	// Logits far beyond exp's range: the shifted form stays finite.
	x, _ := ir.FromFloat32([]int{2, 3}, []float32{1000, -1000, 0, -500, -400, -500})
	loss, grad, correct, err := softmaxCrossEntropy(x, []int64{1, 1})
	if err != nil {
		t.Fatal(err)
	}
	// Row 0: -log softmax = 2000 (exactly, to float64). Row 1: log(1 +
	// 2e^-100) ≈ 2e^-100.
	if want := 1000.0; math.Abs(loss-want) > 1e-9 {
		t.Errorf("loss %v, want %v", loss, want)
	}
	g := grad.F32()
	wantG := []float32{0.5, -0.5, 0, 0, 0, 0}
	for i := range g {
		if math.Abs(float64(g[i]-wantG[i])) > 1e-7 {
			t.Errorf("gradient %v, want %v", g, wantG)
			break
		}
	}
	if correct != 1 {
		t.Errorf("correct %d, want 1", correct)
	}
}

func TestSoftmaxCrossEntropyErrors(t *testing.T) {
	x := randTensor(rand.New(rand.NewPCG(1, 1)), 2, 3)
	for _, tc := range []struct {
		x      *ir.Tensor
		labels []int64
		want   string
	}{
		{x, []int64{0, 3}, "label 3 of row 1 is out of range: the model has 3 classes"},
		{x, []int64{-2, 0}, "label -2 of row 0"},
		{x, []int64{0}, "1 labels for 2 rows"},
		{randTensor(rand.New(rand.NewPCG(1, 1)), 2, 3, 2, 1), []int64{0, 0}, "N×C"},
		{randTensor(rand.New(rand.NewPCG(1, 1)), 6), []int64{0}, "N×C"},
		{randTensor(rand.New(rand.NewPCG(1, 1)), 0, 3), nil, "empty batch"},
		{randTensor(rand.New(rand.NewPCG(1, 1)), 2, 0), []int64{0, 0}, "no classes"},
	} {
		if _, _, _, err := softmaxCrossEntropy(tc.x, tc.labels); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: %v, want an error containing %q", tc.x, tc.labels, err, tc.want)
		}
	}
}
