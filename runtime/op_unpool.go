package runtime

import (
	"fmt"
	"slices"

	"github.com/runinfer/runinfer/ir"
)

// MaxUnpool (opset 11..22): scatters each input value to the output position
// its index names, zero elsewhere. Indices are flat offsets into the whole
// unpooled tensor (batch and channel included), as MaxPool's Indices output
// produces them.
//
// The unpooled shape is N x C x ((in-1)*stride + kernel - pad_begin -
// pad_end) per spatial axis. When the output_shape input is given, pads are
// ignored in that formula, output_shape must be at least that shape on every
// axis, and the unpooled tensor fills its leading corner (zeros elsewhere).
// This follows the ONNX reference implementation and the official backend
// test; onnxruntime instead reads indices as offsets into output_shape (the
// two agree whenever output_shape equals the computed shape).

func init() {
	register("MaxUnpool", 2, 3, inferMaxUnpool, runMaxUnpool)
}

// unpShapes validates MaxUnpool's inputs and attributes and returns the
// unpooled shape the indices address and the output shape.
func unpShapes(n *ir.Node, in []*Arg) (unpooled, out []int, err error) {
	x, idx := in[0], in[1]
	if err := checkDType("X", x.DType, numericDTypes); err != nil {
		return nil, nil, err
	}
	r := len(x.Shape)
	if r < 3 {
		return nil, nil, fmt.Errorf("X has shape %v; MaxUnpool needs N x C x D1 x ... (rank 3 or more)", x.Shape)
	}
	if !idx.DType.IsInt() {
		return nil, nil, fmt.Errorf("indices I have element type %v, want int64", idx.DType)
	}
	if !slices.Equal(idx.Shape, x.Shape) {
		return nil, nil, fmt.Errorf("indices I have shape %v, X has shape %v: they must match", idx.Shape, x.Shape)
	}
	sp := r - 2
	if !n.HasAttr("kernel_shape") {
		return nil, nil, fmt.Errorf("the kernel_shape attribute is required")
	}
	kernel, err := winInts(n, "kernel_shape", sp, 1, 1)
	if err != nil {
		return nil, nil, err
	}
	strides, err := winInts(n, "strides", sp, 1, 1)
	if err != nil {
		return nil, nil, err
	}
	pads, err := winInts(n, "pads", 2*sp, 0, 0)
	if err != nil {
		return nil, nil, err
	}
	var req []int64
	if len(in) > 2 && in[2] != nil {
		if req, err = ints64(in[2]); err != nil {
			return nil, nil, err
		}
		if len(in[2].Shape) != 1 || len(req) != r {
			return nil, nil, fmt.Errorf("output_shape %v (shape %v) must be a 1-D tensor of %d entries (the rank of X)", req, in[2].Shape, r)
		}
		pads = make([]int, 2*sp) // output_shape replaces the pads
	}
	unpooled = append([]int(nil), x.Shape...)
	for i := 0; i < sp; i++ {
		// Every factor is below 2^31 (winMaxAttr) and the input size below
		// MaxElements, so this cannot overflow int64.
		d := int64(x.Shape[2+i]-1)*int64(strides[i]) + int64(kernel[i]) - int64(pads[i]) - int64(pads[sp+i])
		if x.Shape[2+i] == 0 {
			d = 0
		}
		if d < 0 {
			return nil, nil, fmt.Errorf("spatial axis %d: unpooled size %d is negative (input %d, kernel %d, stride %d, pads %d+%d)",
				i, d, x.Shape[2+i], kernel[i], strides[i], pads[i], pads[sp+i])
		}
		if unpooled[2+i], err = dimFromInt64(d); err != nil {
			return nil, nil, fmt.Errorf("spatial axis %d: %w", i, err)
		}
	}
	if err := checkElems(unpooled); err != nil {
		return nil, nil, err
	}
	out = unpooled
	if req != nil {
		out = make([]int, r)
		for i, v := range req {
			if out[i], err = dimFromInt64(v); err != nil {
				return nil, nil, fmt.Errorf("output_shape %v: %w", req, err)
			}
			if out[i] < unpooled[i] {
				return nil, nil, fmt.Errorf("output_shape %v is smaller than the unpooled shape %v on axis %d", req, unpooled, i)
			}
		}
		if err := checkElems(out); err != nil {
			return nil, nil, err
		}
	}
	return unpooled, out, nil
}

func inferMaxUnpool(n *ir.Node, in []*Arg) ([]Out, error) {
	_, out, err := unpShapes(n, in)
	if err != nil {
		return nil, err
	}
	return []Out{{DType: in[0].DType, Shape: out}}, nil
}

func runMaxUnpool(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	unpooled, oshape, err := unpShapes(n, argsOf(in))
	if err != nil {
		return err
	}
	idx, err := in[1].Int64s()
	if err != nil {
		return fmt.Errorf("indices I: %w", err)
	}
	total := prod(unpooled)
	ust, ost := stridesOf(unpooled), stridesOf(oshape)
	flat := slices.Equal(unpooled, oshape)
	offs := make([]int, len(idx))
	for i, v := range idx {
		if v < 0 || v >= int64(total) {
			return fmt.Errorf("index %d (element %d of I) is out of range for the unpooled shape %v (%d elements)", v, i, unpooled, total)
		}
		rem := int(v)
		if flat {
			offs[i] = rem
			continue
		}
		for d := range ust {
			offs[i] += (rem / ust[d]) * ost[d]
			rem %= ust[d]
		}
	}
	// Later elements win where indices repeat.
	return gthScatter(out[0].Data, in[0].Data, offs, 1, "none")
}
