package runtime

import (
	"math"
	"math/rand"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// ewNaiveSoftmax computes softmax (or log-softmax) along axis from the
// definition, one output element at a time.
func ewNaiveSoftmax(x []float64, shape []int, axis int, logOut bool) []float64 {
	out := make([]float64, len(x))
	for i := range x {
		idx := ewUnflatten(i, shape)
		sum := 0.0
		for k := 0; k < shape[axis]; k++ {
			j := append([]int(nil), idx...)
			j[axis] = k
			flat := 0
			for d := range shape {
				flat = flat*shape[d] + j[d]
			}
			sum += math.Exp(x[flat])
		}
		if logOut {
			out[i] = x[i] - math.Log(sum)
		} else {
			out[i] = math.Exp(x[i]) / sum
		}
	}
	return out
}

func TestSoftmaxMatchesDefinitionOnEveryAxis(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	shape := []int{3, 4, 5}
	x := ewRandF32(t, rng, shape...)
	xs := ewF64(x)
	for _, op := range []string{"Softmax", "LogSoftmax"} {
		for _, axis := range []int64{0, 1, 2, -1, -3} {
			t.Run(op, func(t *testing.T) {
				a := int(axis)
				if a < 0 {
					a += 3
				}
				want := ewNaiveSoftmax(xs, shape, a, op == "LogSoftmax")
				got := ewRun(t, ewNode(op, 1, ir.IntAttr("axis", axis)), x)
				ewCheck(t, got, ir.Float32, shape, want, 1e-6)
			})
		}
	}
}

func TestSoftmaxDefaultsToTheLastAxis(t *testing.T) {
	x := ewT(t, []int{2, 2}, []float64{0, math.Log(3), 1, 1})
	ewCheck(t, ewRun(t, ewNode("Softmax", 1), x), ir.Float64, []int{2, 2}, []float64{0.25, 0.75, 0.5, 0.5}, 1e-12)
	ewCheck(t, ewRun(t, ewNode("LogSoftmax", 1), x), ir.Float64, []int{2, 2},
		[]float64{math.Log(0.25), math.Log(0.75), math.Log(0.5), math.Log(0.5)}, 1e-12)
}

func TestSoftmaxIsStableForLargeInputs(t *testing.T) {
	x := ewT(t, []int{1, 3}, []float32{10000, 10001, 10002})
	// Same as softmax of [0, 1, 2].
	e := []float64{1, math.E, math.E * math.E}
	s := e[0] + e[1] + e[2]
	ewCheck(t, ewRun(t, ewNode("Softmax", 1), x), ir.Float32, []int{1, 3}, []float64{e[0] / s, e[1] / s, e[2] / s}, 1e-6)
	ewCheck(t, ewRun(t, ewNode("LogSoftmax", 1), x), ir.Float32, []int{1, 3},
		[]float64{-math.Log(s), 1 - math.Log(s), 2 - math.Log(s)}, 1e-6)
}

func TestSoftmaxRejectsBadAxesAndTypes(t *testing.T) {
	x := ewT(t, []int{2, 3}, make([]float32, 6))
	ewFails(t, "axis 2 is out of range", ewNode("Softmax", 1, ir.IntAttr("axis", 2)), x)
	ewFails(t, "axis -3 is out of range", ewNode("LogSoftmax", 1, ir.IntAttr("axis", -3)), x)
	ewFails(t, "element type int32", ewNode("Softmax", 1), ewT(t, []int{2}, []int32{1, 2}))
	ewFails(t, "out of range for rank 0", ewNode("Softmax", 1), ewT(t, nil, []float32{1}))
}

func TestSoftmaxOfAnEmptyAxisIsEmpty(t *testing.T) {
	got := ewRun(t, ewNode("Softmax", 1, ir.IntAttr("axis", 0)), ewT(t, []int{0, 2}, []float32{}))
	ewCheck(t, got, ir.Float32, []int{0, 2}, nil, 0)
}
