package runtime

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
)

// MaxUnpool (opset 11..22): scatters each input value to the output position
// its index names, zero elsewhere. Indices are flat offsets into the whole
// output tensor (batch and channel included), as MaxPool's Indices output
// produces them.

func init() {
	register("MaxUnpool", 2, 3, inferMaxUnpool, runMaxUnpool)
}

// unpShape validates MaxUnpool's inputs and attributes and returns the
// output shape: output_shape when given, else per spatial axis
// (in-1)*stride + kernel - pad_begin - pad_end.
func unpShape(n *ir.Node, in []*Arg) ([]int, error) {
	x, idx := in[0], in[1]
	if err := checkDType("X", x.DType, numericDTypes); err != nil {
		return nil, err
	}
	r := len(x.Shape)
	if r < 3 {
		return nil, fmt.Errorf("X has shape %v; MaxUnpool needs N x C x D1 x ... (rank 3 or more)", x.Shape)
	}
	if !idx.DType.IsInt() {
		return nil, fmt.Errorf("indices I have element type %v, want int64", idx.DType)
	}
	if !gthShapesEqual(idx.Shape, x.Shape) {
		return nil, fmt.Errorf("indices I have shape %v, X has shape %v: they must match", idx.Shape, x.Shape)
	}
	sp := r - 2
	if !n.HasAttr("kernel_shape") {
		return nil, fmt.Errorf("the kernel_shape attribute is required")
	}
	kernel, err := winInts(n, "kernel_shape", sp, 1, 1)
	if err != nil {
		return nil, err
	}
	strides, err := winInts(n, "strides", sp, 1, 1)
	if err != nil {
		return nil, err
	}
	pads, err := winInts(n, "pads", 2*sp, 0, 0)
	if err != nil {
		return nil, err
	}
	out := append([]int(nil), x.Shape...)
	if len(in) > 2 && in[2] != nil {
		req, err := ints64(in[2])
		if err != nil {
			return nil, err
		}
		if len(req) != r {
			return nil, fmt.Errorf("output_shape %v has %d entries, want %d (the rank of X)", req, len(req), r)
		}
		for i, v := range req {
			if out[i], err = dimFromInt64(v); err != nil {
				return nil, fmt.Errorf("output_shape %v: %w", req, err)
			}
		}
		if out[0] != x.Shape[0] || out[1] != x.Shape[1] {
			return nil, fmt.Errorf("output_shape %v must keep X's batch and channel sizes %v", req, x.Shape[:2])
		}
	} else {
		for i := 0; i < sp; i++ {
			// Every factor is below 2^31 (winMaxAttr) and in[i] below
			// MaxElements, so this cannot overflow int64.
			d := int64(x.Shape[2+i]-1)*int64(strides[i]) + int64(kernel[i]) - int64(pads[i]) - int64(pads[sp+i])
			if x.Shape[2+i] == 0 {
				d = 0
			}
			if d < 0 {
				return nil, fmt.Errorf("spatial axis %d: output size %d is negative (input %d, kernel %d, stride %d, pads %d+%d)",
					i, d, x.Shape[2+i], kernel[i], strides[i], pads[i], pads[sp+i])
			}
			if out[2+i], err = dimFromInt64(d); err != nil {
				return nil, fmt.Errorf("spatial axis %d: %w", i, err)
			}
		}
	}
	if err := checkElems(out); err != nil {
		return nil, err
	}
	return out, nil
}

func inferMaxUnpool(n *ir.Node, in []*Arg) ([]Out, error) {
	out, err := unpShape(n, in)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func runMaxUnpool(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	if _, err := unpShape(n, argsOf(in)); err != nil {
		return err
	}
	idx, err := in[1].Int64s()
	if err != nil {
		return fmt.Errorf("indices I: %w", err)
	}
	total := out[0].Len()
	offs := make([]int, len(idx))
	for i, v := range idx {
		if v < 0 || v >= int64(total) {
			return fmt.Errorf("index %d (element %d of I) is out of range for an output of %d elements (shape %v)", v, i, total, out[0].Shape)
		}
		offs[i] = int(v)
	}
	// Later elements win where indices repeat.
	return gthScatter(out[0].Data, in[0].Data, offs, 1, "none")
}
