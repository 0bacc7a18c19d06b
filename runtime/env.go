package runtime

import (
	"fmt"
	"slices"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
)

// The runtime's side of graphopt: graphopt cannot import the runtime, so the
// passes that evaluate nodes or need shapes get them from OptimizerEnv.

// EvalNode computes one node's outputs from concrete inputs with the
// reference operators (nil for omitted optional inputs). When limit > 0 an
// output of more than limit elements is refused, before anything is
// allocated, with an error wrapping ir.ErrTooLarge. Nodes reading or making
// float16 or bfloat16 values are refused: the operators run on the widened
// types a session lowers those to.
func EvalNode(n *ir.Node, in []*ir.Tensor, limit int) ([]*ir.Tensor, error) {
	for _, t := range in {
		if t != nil && isHalf(t.DType) {
			return nil, fmt.Errorf("%s: %v input: %w", n.Describe(), t.DType, ErrUnsupported)
		}
	}
	if limit <= 0 || limit > ir.MaxElements {
		limit = ir.MaxElements
	}
	out, err := execNodeLimited(n, in, limit)
	if err != nil {
		return nil, err
	}
	for _, t := range out {
		if isHalf(t.DType) {
			return nil, fmt.Errorf("%s: %v output: %w", n.Describe(), t.DType, ErrUnsupported)
		}
	}
	return out, nil
}

// Symbolic input dimensions are given two different sizes, and shape
// inference runs once with each: a dimension that comes out the same both
// times does not depend on them (it is static); one that differs is
// reported as -1. Both are multiples of 32, so strided networks resolve.
const (
	symSizeA = 224
	symSizeB = 256
)

// GraphShapes resolves the types of g's values by static inference (see
// Session.InferShapes) from the declared input shapes, by value name.
// Dimensions that depend on a symbolic input dimension are -1; values whose
// shape depends on run-time data are absent. It fails when the graph cannot
// be resolved (an unsupported op, a shape error).
func GraphShapes(g *ir.Graph) (map[string]graphopt.ValueType, error) {
	lg, err := lower(g)
	if err != nil {
		return nil, err
	}
	if err := lg.Validate(); err != nil {
		return nil, err
	}
	for _, n := range lg.Nodes {
		if _, ok := ops[opKey(n)]; !ok {
			return nil, fmt.Errorf("%s: operator %q in domain %q: %w", n.Describe(), n.Op, n.Domain, ErrUnsupported)
		}
	}
	s := &Session{graph: lg}
	symbolic := false
	in := func(size int) map[string][]int {
		m := map[string][]int{}
		for _, vi := range lg.Inputs {
			if !vi.Shape.Ranked {
				return nil
			}
			shape := make([]int, len(vi.Shape.Dims))
			for i, d := range vi.Shape.Dims {
				shape[i] = size
				if d.Known() {
					shape[i] = int(d.Size)
				} else {
					symbolic = true
				}
			}
			m[vi.Name] = shape
		}
		return m
	}
	inA := in(symSizeA)
	if inA == nil {
		return nil, fmt.Errorf("an input has unknown rank")
	}
	a, err := s.InferShapes(inA)
	if err != nil {
		return nil, err
	}
	res := make(map[string]graphopt.ValueType, len(a))
	var b map[string]ValueType
	if symbolic {
		if b, err = s.InferShapes(in(symSizeB)); err != nil {
			return nil, err
		}
	}
	for name, va := range a {
		shape := slices.Clone(va.Shape)
		if symbolic {
			vb, ok := b[name]
			if !ok || len(vb.Shape) != len(shape) {
				continue
			}
			for i := range shape {
				if vb.Shape[i] != shape[i] {
					shape[i] = -1
				}
			}
		}
		res[name] = graphopt.ValueType{DType: va.DType, Shape: shape}
	}
	return res, nil
}

// OptimizerEnv returns the graphopt.Env the runtime optimizes with: nodes
// evaluated by EvalNode with at most limit elements per output (0 means
// DefaultMaxTensorElements; folding caps sizes lower still, see
// graphopt.Env.MaxFoldElements), shapes by GraphShapes (none when the
// graph does not resolve).
func OptimizerEnv(limit int) *graphopt.Env {
	if limit <= 0 {
		limit = DefaultMaxTensorElements
	}
	return &graphopt.Env{
		Eval: func(n *ir.Node, in []*ir.Tensor, max int) ([]*ir.Tensor, error) {
			if max <= 0 || max > limit {
				max = limit
			}
			return EvalNode(n, in, max)
		},
		Shapes: func(g *ir.Graph) map[string]graphopt.ValueType {
			m, err := GraphShapes(g)
			if err != nil {
				return nil
			}
			return m
		},
	}
}

// Optimize rewrites g in place with graphopt's passes at level, evaluating
// and resolving shapes with OptimizerEnv(0). NewSession does this on its own
// copy; this is for tools that write the result (runinfer opt), which pass
// portable to keep to standard ONNX operators.
func Optimize(g *ir.Graph, level graphopt.Level, portable bool) error {
	env := OptimizerEnv(0)
	env.Portable = portable
	return graphopt.OptimizeWith(g, level, env)
}
