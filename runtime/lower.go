package runtime

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
)

// lower returns a copy of g in which no value is float16 or bfloat16:
// initializers are widened to float32 and Cast/ConstantOfShape/Constant
// targets of 16-bit float types become float32 with 16-bit rounding kept by
// the Cast op. Graph inputs and outputs keep their declared types in the
// session's Inputs/Outputs; Run widens and narrows at the boundary.
func lower(g *ir.Graph) (*ir.Graph, error) {
	out := ir.NewGraph(g.Name)
	out.Doc = g.Doc
	for _, vi := range g.Inputs {
		c := *vi
		c.DType = lowType(c.DType)
		out.Inputs = append(out.Inputs, &c)
	}
	for _, vi := range g.Outputs {
		c := *vi
		c.DType = lowType(c.DType)
		out.Outputs = append(out.Outputs, &c)
	}
	for name, t := range g.Initializers {
		w, err := widen(t)
		if err != nil {
			return nil, fmt.Errorf("runtime: initializer %q: %w", name, err)
		}
		out.Initializers[name] = w
	}
	for name, vi := range g.ValueInfos {
		c := *vi
		c.DType = lowType(c.DType)
		out.ValueInfos[name] = &c
	}
	for _, n := range g.Nodes {
		c := *n
		c.Inputs = append([]string(nil), n.Inputs...)
		c.Outputs = append([]string(nil), n.Outputs...)
		c.Attrs = make(map[string]*ir.Attr, len(n.Attrs))
		for k, a := range n.Attrs {
			c.Attrs[k] = a
		}
		for k, a := range n.Attrs {
			if (a.Type == ir.AttrTensor || a.Type == ir.AttrSparseTensor) && a.T != nil && isHalf(a.T.DType) {
				w, err := widen(a.T)
				if err != nil {
					return nil, fmt.Errorf("runtime: %s: attribute %s: %w", n.Describe(), k, err)
				}
				ca := *a
				ca.T = w
				c.Attrs[k] = &ca
			}
		}
		out.Nodes = append(out.Nodes, &c)
	}
	return out, nil
}

func isHalf(dt ir.DType) bool { return dt == ir.Float16 || dt == ir.BFloat16 }

func lowType(dt ir.DType) ir.DType {
	if isHalf(dt) {
		return ir.Float32
	}
	return dt
}

// widen converts a float16 or bfloat16 tensor to float32; others pass through.
func widen(t *ir.Tensor) (*ir.Tensor, error) {
	if !isHalf(t.DType) {
		return t, nil
	}
	src, ok := t.Data.([]uint16)
	if !ok {
		return nil, fmt.Errorf("%v tensor holds %T, want []uint16", t.DType, t.Data)
	}
	dst := make([]float32, len(src))
	if t.DType == ir.Float16 {
		for i, h := range src {
			dst[i] = ir.Float16ToFloat32(h)
		}
	} else {
		for i, h := range src {
			dst[i] = ir.BFloat16ToFloat32(h)
		}
	}
	return &ir.Tensor{DType: ir.Float32, Shape: t.Shape, Data: dst}, nil
}

// raise converts an internal float32 tensor back to a declared 16-bit type.
func raise(t *ir.Tensor, want ir.DType) (*ir.Tensor, error) {
	if !isHalf(want) {
		return t, nil
	}
	src := t.F32()
	if src == nil {
		return nil, fmt.Errorf("internal value is %v, cannot narrow to %v", t.DType, want)
	}
	dst := make([]uint16, len(src))
	if want == ir.Float16 {
		for i, f := range src {
			dst[i] = ir.Float32ToFloat16(f)
		}
	} else {
		for i, f := range src {
			dst[i] = ir.Float32ToBFloat16(f)
		}
	}
	return &ir.Tensor{DType: want, Shape: t.Shape, Data: dst}, nil
}
