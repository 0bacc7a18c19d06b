package runtime

import (
	"errors"
	"fmt"

	"github.com/runinfer/runinfer/ir"
)

// constPropLimit bounds the size of values static inference computes, so that
// it folds shape arithmetic (Shape -> Gather -> Concat -> Reshape chains) but
// never runs real layers.
const constPropLimit = 1 << 16

// ValueType is a value's element type and concrete shape, as static inference
// resolves it.
type ValueType struct {
	DType ir.DType
	Shape []int
}

// InferShapes resolves every value's dtype and concrete shape for the given
// input shapes, except values whose shape depends on data only known at run
// time (such as a Reshape target fed as a graph input), which are left out of
// the result (inputs not listed use their declared shapes, which must then
// be fully known). It propagates constants through small nodes, so shape
// computations exported as subgraphs resolve too. Errors name the node and
// the numbers, e.g. a kernel larger than its padded input.
func (s *Session) InferShapes(inputs map[string][]int) (map[string]ValueType, error) {
	args := map[string]*Arg{}
	for name, t := range s.graph.Initializers {
		args[name] = &Arg{DType: t.DType, Shape: t.Shape, Val: t}
	}
	for _, vi := range s.graph.Inputs {
		shape, ok := inputs[vi.Name]
		if !ok {
			if shape, ok = vi.Shape.Concrete(); !ok {
				return nil, fmt.Errorf("input %q has shape %v: give a concrete shape", vi.Name, vi.Shape)
			}
		} else if vi.Shape.Ranked {
			if len(shape) != len(vi.Shape.Dims) {
				return nil, fmt.Errorf("input %q: shape %s has rank %d, the model declares %v", vi.Name, ir.FormatShape(shape), len(shape), vi.Shape)
			}
			for i, d := range vi.Shape.Dims {
				if d.Known() && int64(shape[i]) != d.Size {
					return nil, fmt.Errorf("input %q: shape %s, the model declares %v", vi.Name, ir.FormatShape(shape), vi.Shape)
				}
			}
		}
		if _, err := ir.NumElements(shape); err != nil {
			return nil, fmt.Errorf("input %q: %w", vi.Name, err)
		}
		args[vi.Name] = &Arg{DType: vi.DType, Shape: shape}
	}
	unknown := map[string]bool{} // values whose shape depends on run-time data
nodes:
	for _, n := range s.graph.Nodes {
		in := make([]*Arg, len(n.Inputs))
		allKnown := true
		for j, name := range n.Inputs {
			if name == "" {
				continue
			}
			if unknown[name] {
				for _, o := range n.Outputs {
					unknown[o] = true
				}
				continue nodes
			}
			in[j] = args[name]
			if in[j] == nil {
				return nil, fmt.Errorf("%s: input %q has no inferred type", n.Describe(), name)
			}
			if in[j].Val == nil {
				allKnown = false
			}
		}
		def := ops[opKey(n)]
		outs, err := safeInfer(def, n, in)
		if errors.Is(err, errNeedValue) {
			// e.g. Reshape to a shape fed as a graph input: resolved by Run.
			for _, o := range n.Outputs {
				unknown[o] = true
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.Describe(), err)
		}
		var vals []*ir.Tensor
		switch {
		case n.Op == "Shape" && in[0] != nil:
			vals = []*ir.Tensor{shapeValue(n, in[0].Shape)}
		case allKnown && small(outs):
			tin := make([]*ir.Tensor, len(in))
			for j, a := range in {
				if a != nil {
					tin[j] = a.Val
				}
			}
			if vals, err = execNode(n, tin); err != nil {
				return nil, err
			}
		}
		for j, name := range n.Outputs {
			if name == "" || j >= len(outs) {
				continue
			}
			a := &Arg{DType: outs[j].DType, Shape: outs[j].Shape}
			if j < len(vals) {
				a.Val = vals[j]
			}
			args[name] = a
		}
	}
	res := make(map[string]ValueType, len(args))
	for name, a := range args {
		res[name] = ValueType{DType: a.DType, Shape: a.Shape}
	}
	return res, nil
}

func small(outs []Out) bool {
	for _, o := range outs {
		if n, err := ir.NumElements(o.Shape); err != nil || n > constPropLimit {
			return false
		}
	}
	return true
}

// shapeValue computes Shape's output from the input shape alone (start and
// end clamped as opset 15 specifies).
func shapeValue(n *ir.Node, shape []int) *ir.Tensor {
	r := int64(len(shape))
	clamp := func(v int64) int64 {
		if v < 0 {
			v += r
		}
		return min(max(v, 0), r)
	}
	start, end := clamp(n.AttrInt("start", 0)), clamp(n.AttrInt("end", r))
	vals := []int64{}
	for i := start; i < end; i++ {
		vals = append(vals, int64(shape[i]))
	}
	t, _ := ir.FromInt64([]int{len(vals)}, vals)
	return t
}
