package graphopt

import "github.com/runinfer/runinfer/ir"

// ValueType is a value's element type and shape as an Env resolves it
// statically. A dimension of -1 is not static: it depends on a symbolic
// input dimension (such as the batch size).
type ValueType struct {
	DType ir.DType
	Shape []int
}

// Static reports whether every dimension is known.
func (v ValueType) Static() bool {
	for _, d := range v.Shape {
		if d < 0 {
			return false
		}
	}
	return true
}

// Env is what passes need from outside the IR: evaluating a node and
// resolving shapes. The runtime provides one (runtime.OptimizerEnv); graphopt
// cannot import the runtime. Any field may be nil: the passes that need it
// then leave the nodes it would have decided.
type Env struct {
	// Eval computes n's outputs from concrete inputs (nil for omitted
	// optional inputs). When limit > 0 it must refuse, with an error and
	// before allocating, any output of more than limit elements.
	Eval func(n *ir.Node, in []*ir.Tensor, limit int) ([]*ir.Tensor, error)

	// Shapes resolves the types of g's values from the declared input
	// shapes, by value name; values it cannot resolve are absent. It
	// returns nil when it cannot resolve the graph at all.
	Shapes func(g *ir.Graph) map[string]ValueType

	// MaxFoldElements caps the elements of a tensor constant folding may
	// create beyond the size of the constants it consumes (0 means
	// DefaultMaxFoldElements): folding never materializes a huge tensor
	// (a ConstantOfShape or Expand to a full activation size, say).
	MaxFoldElements int

	// Portable restricts Optimize to rewrites standard ONNX can express:
	// passes that create runtime-only operators are skipped (runinfer opt
	// writes models for any ONNX runtime).
	Portable bool
}

// DefaultMaxFoldElements is the folding cap of an Env that leaves it unset:
// 2^16 elements, the size of the shape arithmetic exporters emit with room
// to spare.
const DefaultMaxFoldElements = 1 << 16

func (e *Env) foldCap() int {
	if e == nil || e.MaxFoldElements <= 0 {
		return DefaultMaxFoldElements
	}
	return e.MaxFoldElements
}

func (e *Env) shapes(g *ir.Graph) map[string]ValueType {
	if e == nil || e.Shapes == nil {
		return nil
	}
	return e.Shapes(g)
}
