package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// Softmax and LogSoftmax with opset-13 semantics: normalization along a
// single axis (default -1). Both subtract the axis maximum before
// exponentiating and accumulate in float64.

func init() {
	register("Softmax", 1, 1, inferSoftmax, func(n *ir.Node, in, out []*ir.Tensor) error {
		return runSoftmax(n, in, out, false)
	})
	register("LogSoftmax", 1, 1, inferSoftmax, func(n *ir.Node, in, out []*ir.Tensor) error {
		return runSoftmax(n, in, out, true)
	})
}

func inferSoftmax(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := checkDType("input", in[0].DType, floatDTypes); err != nil {
		return nil, err
	}
	if _, err := normAxis(n.AttrInt("axis", -1), len(in[0].Shape)); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func runSoftmax(n *ir.Node, in, out []*ir.Tensor, logOut bool) error {
	x := in[0]
	axis, err := normAxis(n.AttrInt("axis", -1), len(x.Shape))
	if err != nil {
		return err
	}
	outer := prod(x.Shape[:axis])
	size := x.Shape[axis]
	inner := prod(x.Shape[axis+1:])
	switch xs := x.Data.(type) {
	case []float32:
		softmaxTyped(xs, out[0].Data.([]float32), outer, size, inner, logOut)
	case []float64:
		softmaxTyped(xs, out[0].Data.([]float64), outer, size, inner, logOut)
	default:
		return fmt.Errorf("element type %v is not supported", x.DType)
	}
	return nil
}

// softmaxTyped normalizes each of the outer*inner lines of length size
// (elements inner apart) of x into o.
func softmaxTyped[T float32 | float64](x, o []T, outer, size, inner int, logOut bool) {
	if size == 0 {
		return
	}
	for a := 0; a < outer; a++ {
		for c := 0; c < inner; c++ {
			base := a*size*inner + c
			m := math.Inf(-1)
			for k := 0; k < size; k++ {
				if v := float64(x[base+k*inner]); v > m || v != v {
					m = v
				}
			}
			if math.IsInf(m, -1) {
				m = 0 // every element is -Inf: let the result be NaN or -Inf naturally
			}
			sum := 0.0
			for k := 0; k < size; k++ {
				sum += math.Exp(float64(x[base+k*inner]) - m)
			}
			if logOut {
				ls := math.Log(sum)
				for k := 0; k < size; k++ {
					i := base + k*inner
					o[i] = T(float64(x[i]) - m - ls)
				}
			} else {
				for k := 0; k < size; k++ {
					i := base + k*inner
					o[i] = T(math.Exp(float64(x[i])-m) / sum)
				}
			}
		}
	}
}
