package runtime

import (
	"context"
	"errors"
	"fmt"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
)

// ErrUnsupported is wrapped by errors about operators the runtime does not
// implement.
var ErrUnsupported = errors.New("not supported")

// Options configures a Session. The zero value is ready to use.
type Options struct {
	// MaxTensorElements bounds the elements of any tensor the session creates
	// while running (0 means DefaultMaxTensorElements; at most
	// ir.MaxElements). It turns a hostile input shape or a shape computed
	// from hostile data into an error instead of an out-of-memory crash.
	MaxTensorElements int

	// Threads is the number of goroutines one run may use (0 means
	// GOMAXPROCS). Each session keeps its own pool of helpers. Results do
	// not depend on it.
	Threads int

	// Tier names the SIMD kernel tier to use: "generic", "avx2", "avx512"
	// or "neon" (see package simd). Empty means simd.Best(), which honours
	// RUNINFER_SIMD. A tier this CPU or build lacks is an error.
	Tier string

	// Reference runs every node with its reference implementation in a
	// freshly allocated tensor, as a plain interpreter: no plan, no fast
	// kernels, no fusion (for tests and timing comparisons). It runs the
	// graph Optimize made: set Optimize to graphopt.None as well for the
	// graph exactly as imported.
	Reference bool

	// Optimize is the graphopt level NewSession rewrites its copy of the
	// graph at (the caller's model is never changed). The zero value,
	// graphopt.Default, means graphopt.All: constant folding, BatchNorm
	// folding, scale/shift absorption, Identity/Dropout/dead-node
	// elimination, then Conv fused with its residual Add and activation
	// into runinfer.FusedConv nodes. graphopt.Basic stops before the
	// fusions (the plan still fuses Conv with Relu, Clip, LeakyRelu and a
	// residual Add by itself); graphopt.None runs the graph as imported.
	// Outputs agree at every level up to float32 rounding.
	Optimize graphopt.Level
}

// DefaultMaxTensorElements is the per-tensor limit of a session whose
// options leave it unset: 2^30 elements, 4 GiB of float32.
const DefaultMaxTensorElements = 1 << 30

// Session runs one model. It is safe for concurrent use by many goroutines.
type Session struct {
	graph   *ir.Graph // lowered: float16/bfloat16 replaced by float32
	inputs  []*ir.ValueInfo
	outputs []*ir.ValueInfo
	opts    Options
	// lastUse[i] lists the values whose last reader is node i, so Run can
	// drop them and let the garbage collector reuse their memory.
	lastUse [][]string
	keep    map[string]bool // graph outputs and initializers: never dropped
	exec    *executor       // plans, kernels and workers (plan.go)
}

// NewSession prepares m for execution. The model is not modified.
func NewSession(m *ir.Model, opts *Options) (*Session, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("runtime: nil model")
	}
	s := &Session{}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxTensorElements <= 0 || s.opts.MaxTensorElements > ir.MaxElements {
		s.opts.MaxTensorElements = min(DefaultMaxTensorElements, ir.MaxElements)
		if opts != nil && opts.MaxTensorElements > ir.MaxElements {
			s.opts.MaxTensorElements = ir.MaxElements
		}
	}
	g, err := prepareGraph(m.Graph)
	if err != nil {
		return nil, err
	}
	if s.opts.Optimize != graphopt.None {
		if err := graphopt.OptimizeWith(g, s.opts.Optimize, OptimizerEnv(s.opts.MaxTensorElements)); err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
		if err := checkOps(g); err != nil {
			return nil, err
		}
		if err := g.Validate(); err != nil {
			return nil, fmt.Errorf("runtime: optimized graph: %w", err)
		}
	}
	s.graph = g
	if err := s.checkStatic(); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	s.inputs = m.Graph.Inputs
	s.outputs = m.Graph.Outputs
	s.keep = map[string]bool{}
	for _, o := range g.Outputs {
		s.keep[o.Name] = true
	}
	for name := range g.Initializers {
		s.keep[name] = true
	}
	last := map[string]int{}
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				last[in] = i
			}
		}
	}
	s.lastUse = make([][]string, len(g.Nodes))
	for name, i := range last {
		if !s.keep[name] {
			s.lastUse[i] = append(s.lastUse[i], name)
		}
	}
	if err := s.initExec(); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	return s, nil
}

// prepareGraph returns a lowered copy of g (the caller's graph is never
// changed) whose operators the runtime implements and which validates.
func prepareGraph(g *ir.Graph) (*ir.Graph, error) {
	lg, err := lower(g)
	if err != nil {
		return nil, err
	}
	if err := checkOps(lg); err != nil {
		return nil, err
	}
	if err := lg.Validate(); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	return lg, nil
}

// checkOps checks every node's operator is one the runtime implements (in
// the default domain, or a runtime-only one such as runinfer.FusedConv) and
// its input count.
func checkOps(g *ir.Graph) error {
	for _, n := range g.Nodes {
		def, ok := ops[opKey(n)]
		if !ok {
			if n.Domain != "" {
				return fmt.Errorf("runtime: %s: operator domain %q: %w", n.Describe(), n.Domain, ErrUnsupported)
			}
			return fmt.Errorf("runtime: %s: operator %q: %w", n.Describe(), n.Op, ErrUnsupported)
		}
		if err := checkArity(def, n); err != nil {
			return fmt.Errorf("runtime: %w", err)
		}
	}
	return nil
}

// checkStatic runs shape inference at creation when every input shape is
// fixed, so a model that cannot run (a kernel larger than its input, mismatched
// channels) is rejected at load time with the node and numbers named.
func (s *Session) checkStatic() error {
	for _, vi := range s.graph.Inputs {
		if _, ok := vi.Shape.Concrete(); !ok {
			return nil // symbolic dimensions: resolved when Run sees real shapes
		}
	}
	_, err := s.InferShapes(nil)
	return err
}

// Inputs describes the values Run needs, with their declared types and
// (possibly symbolic) shapes.
func (s *Session) Inputs() []*ir.ValueInfo { return s.inputs }

// Outputs describes the values Run returns, in order.
func (s *Session) Outputs() []*ir.ValueInfo { return s.outputs }

// Graph returns the lowered graph the session executes (read-only).
func (s *Session) Graph() *ir.Graph { return s.graph }

// Run computes the model's outputs, in Outputs order, from the named inputs.
// Every declared input must be given, with its declared element type and a
// shape that matches the declared one wherever that dimension is fixed.
// Cancelling ctx stops the run between nodes.
func (s *Session) Run(ctx context.Context, inputs map[string]*ir.Tensor) ([]*ir.Tensor, error) {
	if !s.opts.Reference {
		return s.runPlanned(ctx, inputs)
	}
	vals := make(map[string]*ir.Tensor, len(s.graph.Initializers)+len(inputs))
	for name, t := range s.graph.Initializers {
		vals[name] = t
	}
	lts, err := s.checkInputs(inputs, nil)
	if err != nil {
		return nil, err
	}
	for i, vi := range s.inputs {
		vals[vi.Name] = lts[i]
	}
	limit := s.opts.MaxTensorElements
	for i, n := range s.graph.Nodes {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("runtime: run cancelled before %s: %w", n.Describe(), err)
		}
		in := make([]*ir.Tensor, len(n.Inputs))
		for j, name := range n.Inputs {
			if name != "" {
				in[j] = vals[name]
			}
		}
		out, err := execNodeLimited(n, in, limit)
		if err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
		for j, name := range n.Outputs {
			if name != "" && j < len(out) {
				vals[name] = out[j]
			}
		}
		for _, name := range s.lastUse[i] {
			delete(vals, name)
		}
	}
	res := make([]*ir.Tensor, len(s.outputs))
	for i, vi := range s.outputs {
		t, ok := vals[vi.Name]
		if !ok {
			return nil, fmt.Errorf("runtime: output %q was not computed", vi.Name)
		}
		ot, err := raise(t, vi.DType)
		if err != nil {
			return nil, fmt.Errorf("runtime: output %q: %w", vi.Name, err)
		}
		res[i] = ot
	}
	return res, nil
}

// checkInputs validates the caller's inputs against the declared ones and
// appends them to dst in Inputs order, in the session's internal types
// (float16 widened to float32). Passing a stack-backed dst keeps the
// planned path free of allocations.
func (s *Session) checkInputs(inputs map[string]*ir.Tensor, dst []*ir.Tensor) ([]*ir.Tensor, error) {
	for name := range inputs {
		if !s.isInput(name) {
			return nil, fmt.Errorf("runtime: %q is not an input of the model (inputs: %s)", name, s.inputNames())
		}
	}
	for _, vi := range s.inputs {
		t, ok := inputs[vi.Name]
		if !ok || t == nil {
			return nil, fmt.Errorf("runtime: input %q (%v%v) is missing", vi.Name, vi.DType, vi.Shape)
		}
		lt, err := checkInput(vi, t)
		if err != nil {
			return nil, fmt.Errorf("runtime: input %q: %w", vi.Name, err)
		}
		dst = append(dst, lt)
	}
	return dst, nil
}

func (s *Session) isInput(name string) bool {
	for _, vi := range s.inputs {
		if vi.Name == name {
			return true
		}
	}
	return false
}

func (s *Session) inputNames() string {
	out := ""
	for i, vi := range s.inputs {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%q", vi.Name)
	}
	return out
}

// checkInput validates a caller's tensor against the declared input and
// returns it in the session's internal type (float16 widened to float32).
func checkInput(vi *ir.ValueInfo, t *ir.Tensor) (*ir.Tensor, error) {
	if t.DType != vi.DType && vi.DType != ir.Undefined {
		return nil, fmt.Errorf("has element type %v, the model declares %v", t.DType, vi.DType)
	}
	n, err := ir.NumElements(t.Shape)
	if err != nil {
		return nil, err
	}
	if got := t.Len(); got != n {
		return nil, fmt.Errorf("shape %s needs %d elements, data has %d", ir.FormatShape(t.Shape), n, got)
	}
	if vi.Shape.Ranked {
		if len(t.Shape) != len(vi.Shape.Dims) {
			return nil, fmt.Errorf("has shape %s (rank %d), the model declares %v (rank %d)", ir.FormatShape(t.Shape), len(t.Shape), vi.Shape, len(vi.Shape.Dims))
		}
		for i, d := range vi.Shape.Dims {
			if d.Known() && int64(t.Shape[i]) != d.Size {
				return nil, fmt.Errorf("has shape %s, the model declares %v (dimension %d must be %d)", ir.FormatShape(t.Shape), vi.Shape, i, d.Size)
			}
		}
	}
	return widen(t)
}
