package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// Gradients of Softmax and LogSoftmax along one axis (opset-13 semantics;
// the importer rewrites the older "coerce to 2-D" forms into Flatten, the
// op on the last axis, and Reshape, whose gradients compose). With y the
// output and g its gradient, along each line:
//
//	Softmax:    dx = y·(g - Σ g·y)
//	LogSoftmax: dx = g - exp(y)·Σ g
//
// The sums are taken in float64.

func init() {
	registerGrad("Softmax", gradOp{backward: func(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
		return softmaxBackward(c, n, in, out, dout, need, false)
	}})
	registerGrad("LogSoftmax", gradOp{backward: func(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
		return softmaxBackward(c, n, in, out, dout, need, true)
	}})
}

func softmaxBackward(c *gradCtx, n *ir.Node, in, out, dout []*ir.Tensor, need []bool, logOut bool) ([]*ir.Tensor, error) {
	din := make([]*ir.Tensor, len(in))
	if !need[0] {
		return din, nil
	}
	shape := in[0].Shape
	axis, err := normAxis(n.AttrInt("axis", -1), len(shape))
	if err != nil {
		return nil, err
	}
	if out[0].DType != ir.Float32 || dout[0].DType != ir.Float32 || out[0].Len() != in[0].Len() || dout[0].Len() != in[0].Len() {
		return nil, fmt.Errorf("%s gradient needs float32 output and gradient of the input's size", n.Op)
	}
	outer, size, inner := prod(shape[:axis]), shape[axis], prod(shape[axis+1:])
	y, g := out[0].F32(), dout[0].F32()
	d := c.likeF32(in[0]) // every line is written
	r := d.F32()
	parFor(c, outer*inner, func(lo, hi int) {
		for line := lo; line < hi; line++ {
			base := (line/inner)*size*inner + line%inner
			s := 0.0
			for k := 0; k < size; k++ {
				i := base + k*inner
				if logOut {
					s += float64(g[i])
				} else {
					s += float64(g[i]) * float64(y[i])
				}
			}
			for k := 0; k < size; k++ {
				i := base + k*inner
				if logOut {
					r[i] = float32(float64(g[i]) - math.Exp(float64(y[i]))*s)
				} else {
					r[i] = float32(float64(y[i]) * (float64(g[i]) - s))
				}
			}
		}
	})
	din[0] = d
	return din, nil
}
