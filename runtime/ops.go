package runtime

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/runinfer/runinfer/ir"
)

// Arg is what an op's infer function sees of one input: its element type and
// concrete shape, and its data when known (initializers, constants, and every
// input at run time). Optional inputs that are omitted are nil.
type Arg struct {
	DType ir.DType
	Shape []int
	Val   *ir.Tensor // nil when the value is not known statically
}

// Out describes one output that infer promises run will fill.
type Out struct {
	DType ir.DType
	Shape []int
}

// errNeedValue is returned by infer when an output shape depends on an input
// whose value is unknown (static inference then leaves the output unknown; at
// run time every value is known, so it never surfaces there).
var errNeedValue = errors.New("output shape depends on a value that is not known yet")

// opDef is one IR operator's reference implementation.
//
// infer computes every output's dtype and concrete shape from the inputs and
// validates attributes; it must not allocate large buffers. run computes the
// outputs into tensors already allocated with the inferred types and shapes
// (zero-filled). Both receive the node for its attributes. Errors must say
// what is wrong with numbers; the caller prefixes the node's description.
type opDef struct {
	infer func(n *ir.Node, in []*Arg) ([]Out, error)
	run   func(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error
	// minIn and maxIn bound the number of inputs (maxIn < 0: unbounded).
	minIn, maxIn int
}

// ops is the operator table, filled by init functions in the op_*.go files
// and read-only afterwards.
var ops = map[string]opDef{}

func register(op string, minIn, maxIn int,
	infer func(n *ir.Node, in []*Arg) ([]Out, error),
	run func(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error) {
	if _, dup := ops[op]; dup {
		panic("runtime: op registered twice: " + op)
	}
	ops[op] = opDef{infer: infer, run: run, minIn: minIn, maxIn: maxIn}
}

// opKey is a node's key in ops and fastOps: the op name in the default
// domain, "domain.Op" in another (runtime-only ops such as
// runinfer.FusedConv).
func opKey(n *ir.Node) string {
	if n.Domain == "" {
		return n.Op
	}
	return n.Domain + "." + n.Op
}

// SupportedOps lists the IR operators the runtime implements in the default
// domain, sorted.
func SupportedOps() []string {
	names := make([]string, 0, len(ops))
	for k := range ops {
		if strings.Contains(k, ".") {
			continue // a runtime-only op of another domain
		}
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// IsSupported reports whether the runtime implements op in the default domain.
func IsSupported(op string) bool { _, ok := ops[op]; return ok }

// argsOf describes concrete tensors as Args (all values known).
func argsOf(in []*ir.Tensor) []*Arg {
	args := make([]*Arg, len(in))
	for i, t := range in {
		if t != nil {
			args[i] = &Arg{DType: t.DType, Shape: t.Shape, Val: t}
		}
	}
	return args
}

// execNode infers and runs one node on concrete inputs, bounded only by
// ir.MaxElements.
func execNode(n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, error) {
	return execNodeLimited(n, in, 0)
}

// execNodeLimited infers and runs one node on concrete inputs; when limit > 0
// no output may exceed limit elements, checked before anything is allocated.
func execNodeLimited(n *ir.Node, in []*ir.Tensor, limit int) ([]*ir.Tensor, error) {
	def, ok := ops[opKey(n)]
	if !ok {
		return nil, fmt.Errorf("%s: operator %q in domain %q is not supported", n.Describe(), n.Op, n.Domain)
	}
	if err := checkArity(def, n); err != nil {
		return nil, err
	}
	outs, err := safeInfer(def, n, argsOf(in))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Describe(), err)
	}
	for i, o := range outs {
		if limit <= 0 {
			break
		}
		cnt, err := ir.NumElements(o.Shape)
		if err != nil {
			return nil, fmt.Errorf("%s: output %d: %w", n.Describe(), i, err)
		}
		if cnt > limit {
			return nil, fmt.Errorf("%s: output %d has shape %s (%d elements), above the session limit of %d: %w",
				n.Describe(), i, ir.FormatShape(o.Shape), cnt, limit, ir.ErrTooLarge)
		}
	}
	res := make([]*ir.Tensor, len(outs))
	for i, o := range outs {
		t, err := ir.NewTensor(o.DType, o.Shape)
		if err != nil {
			return nil, fmt.Errorf("%s: output %d: %w", n.Describe(), i, err)
		}
		res[i] = t
	}
	if err := safeRun(def, n, in, res); err != nil {
		return nil, fmt.Errorf("%s: %w", n.Describe(), err)
	}
	return res, nil
}

// checkArity verifies the node's input count and that required inputs are
// named (an omitted optional input is "").
func checkArity(def opDef, n *ir.Node) error {
	if len(n.Inputs) < def.minIn || (def.maxIn >= 0 && len(n.Inputs) > def.maxIn) {
		if def.maxIn < 0 {
			return fmt.Errorf("%s: has %d inputs, want at least %d", n.Describe(), len(n.Inputs), def.minIn)
		}
		return fmt.Errorf("%s: has %d inputs, want %d to %d", n.Describe(), len(n.Inputs), def.minIn, def.maxIn)
	}
	for i := 0; i < def.minIn; i++ {
		if n.Inputs[i] == "" {
			return fmt.Errorf("%s: required input %d is missing", n.Describe(), i)
		}
	}
	return nil
}

// ErrInternal is wrapped by errors that come from a bug in an operator
// implementation (a recovered panic) rather than from the model or input.
var ErrInternal = errors.New("internal error")

// safeInfer and safeRun are the boundary that keeps a bug in one operator
// from crashing the host program: a panic becomes an error naming the op.
func safeInfer(def opDef, n *ir.Node, in []*Arg) (outs []Out, err error) {
	defer func() {
		if r := recover(); r != nil {
			outs, err = nil, fmt.Errorf("%w: %s shape inference panicked: %v (please report this with the model)", ErrInternal, n.Op, r)
		}
	}()
	return def.infer(n, in)
}

func safeRun(def opDef, n *ir.Node, in, out []*ir.Tensor) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s panicked: %v (please report this with the model)", ErrInternal, n.Op, r)
		}
	}()
	return def.run(n, in, out)
}
