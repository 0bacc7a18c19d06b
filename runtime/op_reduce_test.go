package runtime

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// ewNaiveReduce reduces x (shape) over the axes marked in reduced, from the
// definition: every output element scans the whole input for its members.
func ewNaiveReduce(op string, x []float64, shape []int, reduced []bool, keep bool) ([]int, []float64) {
	var outShape, keptShape []int
	for d, s := range shape {
		switch {
		case !reduced[d]:
			outShape = append(outShape, s)
			keptShape = append(keptShape, s)
		case keep:
			outShape = append(outShape, 1)
		}
	}
	if outShape == nil {
		outShape = []int{}
	}
	out := make([]float64, prod(keptShape))
	for o := range out {
		oidx := ewUnflatten(o, keptShape)
		var vals []float64
		for i, v := range x {
			idx := ewUnflatten(i, shape)
			k, match := 0, true
			for d := range shape {
				if !reduced[d] {
					match = match && idx[d] == oidx[k]
					k++
				}
			}
			if match {
				vals = append(vals, v)
			}
		}
		switch op {
		case "ReduceSum", "ReduceMean":
			s := 0.0
			for _, v := range vals {
				s += v
			}
			if op == "ReduceMean" {
				s /= float64(len(vals))
			}
			out[o] = s
		case "ReduceMax":
			m := math.Inf(-1)
			for _, v := range vals {
				m = math.Max(m, v)
			}
			out[o] = m
		}
	}
	return outShape, out
}

func TestReduceMatchesNaiveDefinition(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	shape := []int{3, 2, 4}
	x := ewRandF32(t, rng, shape...)
	axesCases := [][]int64{{0}, {1}, {2}, {-1}, {0, 2}, {2, 0}, {-3, -2, -1}, {}, nil}
	for _, op := range []string{"ReduceSum", "ReduceMean", "ReduceMax"} {
		for _, axes := range axesCases {
			for _, keep := range []int64{0, 1} {
				t.Run(fmt.Sprintf("%s_axes%v_keepdims%d", op, axes, keep), func(t *testing.T) {
					reduced := make([]bool, 3)
					for _, a := range axes {
						reduced[(a+3)%3] = true
					}
					if len(axes) == 0 {
						reduced = []bool{true, true, true}
					}
					wantShape, want := ewNaiveReduce(op, ewF64(x), shape, reduced, keep == 1)
					in := []*ir.Tensor{x}
					if axes != nil {
						in = append(in, ewT(t, []int{len(axes)}, axes))
					}
					got := ewRun(t, ewNode(op, len(in), ir.IntAttr("keepdims", keep)), in...)
					ewCheck(t, got, ir.Float32, wantShape, want, 1e-6)
				})
			}
		}
	}
}

func TestReduceKeepsDimsByDefault(t *testing.T) {
	x := ewT(t, []int{2, 2}, []float64{1, 2, 3, 4})
	got := ewRun(t, ewNode("ReduceSum", 2), x, ewT(t, []int{1}, []int64{1}))
	ewCheck(t, got, ir.Float64, []int{2, 1}, []float64{3, 7}, 0)
}

func TestReduceWithEmptyAxesAndNoopIsIdentity(t *testing.T) {
	x := ewT(t, []int{2, 2}, []float32{1, 2, 3, 4})
	noop := ir.IntAttr("noop_with_empty_axes", 1)
	for _, op := range []string{"ReduceSum", "ReduceMean", "ReduceMax"} {
		got := ewRun(t, ewNode(op, 2, noop), x, ewT(t, []int{0}, []int64{}))
		ewCheck(t, got, ir.Float32, []int{2, 2}, []float64{1, 2, 3, 4}, 0)
		got = ewRun(t, ewNode(op, 1, noop), x)
		ewCheck(t, got, ir.Float32, []int{2, 2}, []float64{1, 2, 3, 4}, 0)
	}
}

func TestReduceOverEmptySets(t *testing.T) {
	x := ewT(t, []int{2, 0}, []float32{})
	axes := ewT(t, []int{1}, []int64{1})
	ewCheck(t, ewRun(t, ewNode("ReduceSum", 2), x, axes), ir.Float32, []int{2, 1}, []float64{0, 0}, 0)
	ewCheck(t, ewRun(t, ewNode("ReduceMax", 2), x, axes), ir.Float32, []int{2, 1}, []float64{math.Inf(-1), math.Inf(-1)}, 0)
	ewCheck(t, ewRun(t, ewNode("ReduceMean", 2), x, axes), ir.Float32, []int{2, 1}, []float64{math.NaN(), math.NaN()}, 0)
	xi := ewT(t, []int{0, 2}, []int32{})
	ewCheck(t, ewRun(t, ewNode("ReduceMax", 2, ir.IntAttr("keepdims", 0)), xi, ewT(t, []int{1}, []int64{0})),
		ir.Int32, []int{2}, []float64{math.MinInt32, math.MinInt32}, 0)
	ewFails(t, "empty set", ewNode("ReduceMean", 2), xi, ewT(t, []int{1}, []int64{0}))
	// Reducing the non-empty axis of an empty tensor gives an empty result.
	ewCheck(t, ewRun(t, ewNode("ReduceSum", 2), xi, ewT(t, []int{1}, []int64{1})), ir.Int32, []int{0, 1}, nil, 0)
}

func TestReduceOnIntegers(t *testing.T) {
	x := ewT(t, []int{2, 3}, []int64{-1, -2, -4, 5, 6, 8})
	axes := ewT(t, []int{1}, []int64{1})
	ewCheck(t, ewRun(t, ewNode("ReduceSum", 2), x, axes), ir.Int64, []int{2, 1}, []float64{-7, 19}, 0)
	// Mean truncates toward zero: -7/3 -> -2, 19/3 -> 6.
	ewCheck(t, ewRun(t, ewNode("ReduceMean", 2), x, axes), ir.Int64, []int{2, 1}, []float64{-2, 6}, 0)
	ewCheck(t, ewRun(t, ewNode("ReduceMax", 2), x, axes), ir.Int64, []int{2, 1}, []float64{-1, 8}, 0)
	u := ewT(t, []int{2}, []uint8{200, 100})
	ewCheck(t, ewRun(t, ewNode("ReduceMax", 1, ir.IntAttr("keepdims", 0)), u), ir.Uint8, []int{}, []float64{200}, 0)
	// A 32-bit mean does not overflow in its accumulator.
	big := ewT(t, []int{2}, []int32{math.MaxInt32, math.MaxInt32 - 2})
	ewCheck(t, ewRun(t, ewNode("ReduceMean", 1), big), ir.Int32, []int{1}, []float64{math.MaxInt32 - 1}, 0)
}

func TestReduceMaxPropagatesNaNAndReducesBools(t *testing.T) {
	x := ewT(t, []int{3}, []float64{1, math.NaN(), 2})
	ewCheck(t, ewRun(t, ewNode("ReduceMax", 1), x), ir.Float64, []int{1}, []float64{math.NaN()}, 0)
	b := ewT(t, []int{2, 2}, []bool{false, false, false, true})
	got := ewRun(t, ewNode("ReduceMax", 2, ir.IntAttr("keepdims", 0)), b, ewT(t, []int{1}, []int64{1}))
	if got.DType != ir.Bool || got.Data.([]bool)[0] || !got.Data.([]bool)[1] {
		t.Fatalf("got %v %v, want bool [false true]", got.DType, got.Data)
	}
}

func TestReduceRejectsBadAxes(t *testing.T) {
	x := ewT(t, []int{2, 3}, make([]float32, 6))
	ewFails(t, "axis 2 is out of range", ewNode("ReduceSum", 2), x, ewT(t, []int{1}, []int64{2}))
	ewFails(t, "appears twice", ewNode("ReduceMean", 2), x, ewT(t, []int{2}, []int64{1, -1}))
	ewFails(t, "axes has element type int32", ewNode("ReduceMax", 2), x, ewT(t, []int{1}, []int32{0}))
	ewFails(t, "axes must be 1-D", ewNode("ReduceSum", 2), x, ewT(t, []int{1, 1}, []int64{0}))
	ewFails(t, "element type string", ewNode("ReduceSum", 1), ewT(t, []int{1}, []string{"a"}))
	ewFails(t, "element type int8", ewNode("ReduceSum", 1), ewT(t, []int{1}, []int8{1}))
}

func TestReduceInferNeedsTheAxesValue(t *testing.T) {
	def := ops["ReduceSum"]
	_, err := def.infer(ewNode("ReduceSum", 2), []*Arg{
		{DType: ir.Float32, Shape: []int{2, 3}},
		{DType: ir.Int64, Shape: []int{1}},
	})
	if !errors.Is(err, errNeedValue) {
		t.Fatalf("err = %v, want errNeedValue", err)
	}
	outs, err := def.infer(ewNode("ReduceSum", 1, ir.IntAttr("keepdims", 0)), []*Arg{{DType: ir.Float32, Shape: []int{2, 3}}})
	if err != nil || len(outs[0].Shape) != 0 {
		t.Fatalf("reduce-all infer = %v, %v; want a scalar", outs, err)
	}
}
