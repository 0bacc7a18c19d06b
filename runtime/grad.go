package runtime

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"sync"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Backward mode: the engine.
//
// A Trainer keeps a private float32 copy of a model. Step runs the graph
// forward keeping every value, takes the mean softmax cross-entropy of the
// logits against integer labels, and walks the nodes in reverse asking each
// node's gradOp (grad_ops.go) for its inputs' gradients, summed over every
// consumer of a value. Only the values that depend on a parameter (or on the
// input, when its gradient is wanted) through differentiable inputs get
// gradients, and only the nodes between those and the logits run backward.

// TrainOptions configures a Trainer. The zero value is ready to use.
type TrainOptions struct {
	// Threads is the number of goroutines a step may use (0: GOMAXPROCS).
	Threads int
	// Tier names the SIMD kernel tier ("generic", "avx2", "avx512",
	// "neon"); empty means simd.Best(). A tier this CPU lacks is an error.
	Tier string
	// MaxTensorElements bounds the elements of any tensor a step creates
	// (0: DefaultMaxTensorElements; at most ir.MaxElements).
	MaxTensorElements int
	// Training selects training semantics for Step: BatchNormalization
	// normalises with the batch's statistics and updates its running
	// statistics, Dropout drops. SetTraining changes it later.
	Training bool
	// Seed seeds the random numbers of Dropout's masks.
	Seed uint64
	// Trainable narrows the parameters: a float initializer is a
	// parameter (gets a gradient and is updated) when it is read by a
	// differentiable input of a node and Trainable (when not nil) says
	// yes. BatchNormalization's mean and var (inputs 3 and 4) and inputs
	// such as Clip's bounds or Pad's constant are not differentiable;
	// every float input of an operator without a gradient counts as
	// differentiable, so that NewTrainer refuses such an operator between
	// a parameter and the logits rather than silently leaving the
	// parameter untrained. (An operator without a gradient between the
	// input and the logits only matters to a Step that asks for the
	// input's gradient.)
	Trainable func(name string) bool
}

// StepResult is what one Step computed. Its tensors are the caller's: the
// trainer never writes to them or reuses their memory.
type StepResult struct {
	// Loss is the mean softmax cross-entropy of the batch.
	Loss float64
	// Logits is the model's output as N×C float32.
	Logits *ir.Tensor
	// Correct counts the rows whose argmax equals the label.
	Correct int
	// GradInput is dLoss/dInput (nil unless asked for).
	GradInput *ir.Tensor
	// Grads holds dLoss/dParam by parameter name: float32, of the
	// parameter's shape (zeros for a parameter the loss does not depend on).
	Grads map[string]*ir.Tensor
}

// Trainer computes a model's loss and gradients on batches of labelled
// inputs, for fine-tuning and training. It owns a float32 copy of the model,
// whose parameters an optimizer updates in place through Param. Its methods
// are safe to call from several goroutines; steps run one at a time.
//
// A Trainer keeps the large buffers its steps use (activations, gradients,
// scratch) and reuses them in the steps that follow, so that after the
// first step of a given batch shape it holds about one step's worth of
// memory and allocates little more than the gradients it returns.
type Trainer struct {
	mu sync.Mutex

	model *ir.Model // the caller's model-level fields, copied (Graph nil)
	g     *ir.Graph // lowered private copy; parameters and running stats are owned
	input *ir.ValueInfo
	out   *ir.ValueInfo

	params  []string
	isParam map[string]bool

	// reqParam and reqInput mark the values that depend differentiably on
	// a parameter and on the input.
	reqParam, reqInput map[string]bool
	grad               []gradOp // per node; backward nil where the op has none
	// inputErr is why the input's gradient cannot be computed (an
	// operator without a gradient on its path), or nil.
	inputErr error
	hasGrad  []bool

	k        *simd.Kernels
	pool     *simd.Pool
	limit    int
	training bool
	rng      *rand.Rand
	// mem holds the steps' large float32 buffers between calls
	// (grad_mem.go); nil allocates afresh every time.
	mem *gradMem
}

// NewTrainer prepares m for training. The model is not modified: the
// trainer works on a copy lowered to float32 (float16 and bfloat16
// initializers are widened), run as imported with no graph optimisation.
// The model must have exactly one input, of a float type (the images), and
// its first output must be the logits (N×C or N×C×1×1). Every operator
// between the parameters (or the input) and the logits must have a gradient
// (see GradientOps); otherwise the error wraps ErrUnsupported and names the
// node.
func NewTrainer(m *ir.Model, opts *TrainOptions) (*Trainer, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("runtime: nil model")
	}
	var o TrainOptions
	if opts != nil {
		o = *opts
	}
	limit := o.MaxTensorElements
	if limit <= 0 {
		limit = DefaultMaxTensorElements
	}
	limit = min(limit, ir.MaxElements)

	g, err := prepareGraph(m.Graph)
	if err != nil {
		return nil, err
	}
	if len(g.Inputs) != 1 {
		names := make([]string, len(g.Inputs))
		for i, vi := range g.Inputs {
			names[i] = fmt.Sprintf("%q", vi.Name)
		}
		return nil, fmt.Errorf("runtime: a trainer needs a model with exactly one input (the images), this one has %d: %v", len(g.Inputs), names)
	}
	in := g.Inputs[0]
	if !in.DType.IsFloat() {
		return nil, fmt.Errorf("runtime: input %q is %v: a trainer needs a float input", in.Name, in.DType)
	}
	if len(g.Outputs) == 0 {
		return nil, errors.New("runtime: the model has no output")
	}
	out := g.Outputs[0]
	if out.DType != ir.Undefined && out.DType != ir.Float32 {
		return nil, fmt.Errorf("runtime: output %q (the logits) is %v, want float", out.Name, out.DType)
	}
	if err := checkLogitsDecl(out); err != nil {
		return nil, err
	}

	// Private copies: the optimizer updates parameters in place and
	// training updates running statistics, so no float tensor may be
	// shared with the caller's model.
	for name, t := range g.Initializers {
		if t.DType == ir.Float32 {
			g.Initializers[name] = t.Clone()
		}
	}

	// Static shapes: a fixed input shape is checked through the whole
	// graph now; dtypes, where inference resolves them, keep integer
	// values off the gradient paths.
	s := &Session{graph: g}
	var types map[string]ValueType
	if shape, ok := in.Shape.Concrete(); ok {
		types, err = s.InferShapes(map[string][]int{in.Name: shape})
		if err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
		if vt, ok := types[out.Name]; ok {
			if _, _, err := logitsDims(vt.Shape); err != nil {
				return nil, fmt.Errorf("runtime: output %q: %w", out.Name, err)
			}
		}
	} else if gs, err := GraphShapes(g); err == nil {
		types = map[string]ValueType{}
		for name, vt := range gs {
			types[name] = ValueType{DType: vt.DType}
		}
	}
	isFloat := func(name string) bool {
		if t, ok := g.Initializers[name]; ok {
			return t.DType == ir.Float32
		}
		if vt, ok := types[name]; ok {
			return vt.DType == ir.Float32
		}
		if vi, ok := g.ValueInfos[name]; ok && vi.DType != ir.Undefined {
			return vi.DType == ir.Float32
		}
		return true // unknown: assume it may carry a gradient
	}

	snap := *m // the model-level fields Model() returns, as they are now
	snap.Graph = nil
	snap.Opsets = maps.Clone(m.Opsets)
	snap.Metadata = maps.Clone(m.Metadata)
	t := &Trainer{
		model:    &snap,
		g:        g,
		input:    in,
		out:      out,
		isParam:  map[string]bool{},
		reqParam: map[string]bool{},
		reqInput: map[string]bool{},
		grad:     make([]gradOp, len(g.Nodes)),
		hasGrad:  make([]bool, len(g.Nodes)),
		limit:    limit,
		training: o.Training,
		rng:      rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		mem:      newGradMem(),
	}
	for i, n := range g.Nodes {
		t.grad[i], t.hasGrad[i] = gradOps[opKey(n)]
	}
	// diffIn reports whether gradients flow through input j of node i. An
	// op without a gradient is taken to differentiate every float input,
	// so that it is refused below rather than silently cutting a path.
	diffIn := func(i, j int) bool {
		n := g.Nodes[i]
		if n.Inputs[j] == "" || !isFloat(n.Inputs[j]) {
			return false
		}
		if opKey(n) == "BatchNormalization" && (j == 3 || j == 4) {
			return false
		}
		if !t.hasGrad[i] {
			return true
		}
		return t.grad[i].differentiable(j)
	}

	// Parameters, in order of first use.
	for i, n := range g.Nodes {
		for j, name := range n.Inputs {
			tt, ok := g.Initializers[name]
			if !ok || tt.DType != ir.Float32 || t.isParam[name] {
				continue
			}
			if diffIn(i, j) && (o.Trainable == nil || o.Trainable(name)) {
				t.isParam[name] = true
				t.params = append(t.params, name)
			}
		}
	}

	// Forward flow of "requires gradient".
	flow := func(req map[string]bool) {
		for i, n := range g.Nodes {
			hit := false
			for j, name := range n.Inputs {
				if req[name] && diffIn(i, j) {
					hit = true
					break
				}
			}
			if !hit {
				continue
			}
			for _, o := range n.Outputs {
				if o != "" && isFloat(o) {
					req[o] = true
				}
			}
		}
	}
	for _, p := range t.params {
		t.reqParam[p] = true
	}
	flow(t.reqParam)
	t.reqInput[in.Name] = true
	flow(t.reqInput)

	// Backward flow of "the loss depends on it", and the check that every
	// node between a gradient source and the logits has a gradient.
	needed := map[string]bool{out.Name: true}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		used := false
		for _, o := range n.Outputs {
			if needed[o] {
				used = true
			}
		}
		if !used {
			continue
		}
		paramPath, inputPath := false, false
		for j, name := range n.Inputs {
			if diffIn(i, j) {
				needed[name] = true
				paramPath = paramPath || t.reqParam[name]
				inputPath = inputPath || t.reqInput[name]
			}
		}
		if t.hasGrad[i] {
			continue
		}
		err := fmt.Errorf("runtime: %s: gradient of %s is not implemented: %w", n.Describe(), opKey(n), ErrUnsupported)
		if paramPath {
			return nil, err
		}
		if inputPath && t.inputErr == nil {
			// Only a Step that asks for the input's gradient needs it.
			t.inputErr = err
		}
	}

	if o.Tier != "" {
		tier, err := simd.ParseTier(o.Tier)
		if err != nil {
			return nil, fmt.Errorf("runtime: %w", err)
		}
		if !simd.Supported(tier) {
			return nil, fmt.Errorf("runtime: SIMD tier %s is not available on this CPU or build (have %v)", tier, simd.Available())
		}
		t.k = simd.ForTier(tier)
	} else {
		t.k = simd.Best()
	}
	threads := o.Threads
	if threads <= 0 {
		threads = goruntime.GOMAXPROCS(0)
	}
	t.pool = simd.NewPool(threads)
	// The workers never reference the trainer: once it is collected its
	// pool is closed and they exit.
	goruntime.AddCleanup(t, func(p *simd.Pool) { p.Close() }, t.pool)
	return t, nil
}

// checkLogitsDecl checks a declared logits shape, where it is ranked: N×C or
// N×C×1×1.
func checkLogitsDecl(vi *ir.ValueInfo) error {
	if !vi.Shape.Ranked {
		return nil
	}
	d := vi.Shape.Dims
	switch len(d) {
	case 2:
		return nil
	case 4:
		for _, x := range d[2:] {
			if x.Known() && x.Size != 1 {
				return fmt.Errorf("runtime: output %q has shape %v: the logits must be N×C or N×C×1×1", vi.Name, vi.Shape)
			}
		}
		return nil
	}
	return fmt.Errorf("runtime: output %q has shape %v: the logits must be N×C or N×C×1×1", vi.Name, vi.Shape)
}

// Params lists the trainable initializers, in the order the graph first
// reads them.
func (t *Trainer) Params() []string { return slices.Clone(t.params) }

// Param returns the live float32 tensor of a parameter (nil for a name that
// is not one). An optimizer updates its F32() in place between steps; it
// must not be changed while a Step runs.
func (t *Trainer) Param(name string) *ir.Tensor {
	if !t.isParam[name] {
		return nil
	}
	return t.g.Initializers[name]
}

// Input describes the model's input (float32 after lowering).
func (t *Trainer) Input() *ir.ValueInfo { c := *t.input; return &c }

// Output describes the logits output.
func (t *Trainer) Output() *ir.ValueInfo { c := *t.out; return &c }

// SetTraining switches Step between training semantics (batch statistics
// with running-statistic updates, Dropout active) and inference semantics.
func (t *Trainer) SetTraining(on bool) {
	t.mu.Lock()
	t.training = on
	t.mu.Unlock()
}

// Forward computes the logits of x, as N×C, with inference semantics
// (running statistics, no Dropout) whatever SetTraining says: the output
// the exported Model gives. Nothing is updated.
func (t *Trainer) Forward(ctx context.Context, x *ir.Tensor) (*ir.Tensor, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	xv, err := t.checkX(x)
	if err != nil {
		return nil, err
	}
	c := t.ctx(false)
	defer t.mem.endCall()
	vals, _, err := t.forward(ctx, c, xv, false)
	if err != nil {
		return nil, err
	}
	logits := vals[t.out.Name]
	rows, cols, err := logitsDims(logits.Shape)
	if err != nil {
		return nil, fmt.Errorf("runtime: output %q: %w", t.out.Name, err)
	}
	// A copy: the logits' buffer goes back to the pool.
	return ir.FromFloat32([]int{rows, cols}, slices.Clone(logits.F32()))
}

func (t *Trainer) ctx(training bool) *gradCtx {
	return &gradCtx{k: t.k, par: t.pool, training: training, rng: t.rng, limit: t.limit, mem: t.mem}
}

// checkX validates the caller's input against the declared one.
func (t *Trainer) checkX(x *ir.Tensor) (*ir.Tensor, error) {
	if x == nil {
		return nil, fmt.Errorf("runtime: input %q is nil", t.input.Name)
	}
	x, err := widen(x)
	if err != nil {
		return nil, fmt.Errorf("runtime: input %q: %w", t.input.Name, err)
	}
	lt, err := checkInput(t.input, x)
	if err != nil {
		return nil, fmt.Errorf("runtime: input %q: %w", t.input.Name, err)
	}
	if n, _ := ir.NumElements(lt.Shape); n > t.limit {
		return nil, fmt.Errorf("runtime: input %q has %d elements, above the limit of %d: %w", t.input.Name, n, t.limit, ir.ErrTooLarge)
	}
	return lt, nil
}

// forward runs every node, returning all values by name and the saved
// state of each node. When keep is false values are dropped after their
// last reader (and their buffers returned to c.mem). Every value a node
// makes is counted as a reference in c.mem.
func (t *Trainer) forward(ctx context.Context, c *gradCtx, x *ir.Tensor, keep bool) (map[string]*ir.Tensor, []any, error) {
	g := t.g
	vals := make(map[string]*ir.Tensor, len(g.Initializers)+len(g.Nodes)+1)
	maps.Copy(vals, g.Initializers)
	vals[t.input.Name] = x
	saved := make([]any, len(g.Nodes))
	var last map[string]int
	if !keep {
		last = map[string]int{}
		for i, n := range g.Nodes {
			for _, in := range n.Inputs {
				last[in] = i
			}
		}
	}
	for i, n := range g.Nodes {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("runtime: step cancelled before %s: %w", n.Describe(), err)
		}
		in := make([]*ir.Tensor, len(n.Inputs))
		for j, name := range n.Inputs {
			if name != "" {
				in[j] = vals[name]
			}
		}
		var out []*ir.Tensor
		var err error
		if t.hasGrad[i] && t.grad[i].forward != nil {
			out, saved[i], err = safeGradForward(t.grad[i], c, n, in)
		} else {
			out, err = EvalNode(n, in, t.limit)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("runtime: %w", err)
		}
		for j, name := range n.Outputs {
			if name != "" && j < len(out) {
				if old, ok := vals[name]; ok {
					c.mem.unref(old)
				}
				vals[name] = out[j]
				c.mem.ref(out[j])
			}
		}
		if !keep {
			for _, name := range n.Inputs {
				if last[name] == i && name != t.out.Name {
					if _, init := g.Initializers[name]; !init {
						if v, ok := vals[name]; ok {
							delete(vals, name)
							c.mem.unref(v)
						}
					}
				}
			}
		}
	}
	if _, ok := vals[t.out.Name]; !ok {
		return nil, nil, fmt.Errorf("runtime: output %q was not computed", t.out.Name)
	}
	if lo := vals[t.out.Name]; lo.DType != ir.Float32 {
		return nil, nil, fmt.Errorf("runtime: output %q (the logits) is %v, want float32", t.out.Name, lo.DType)
	}
	return vals, saved, nil
}

// Step runs x forward, takes the mean softmax cross-entropy of the logits
// against labels (one class index per row, in [0, C)), and computes the
// gradient of that loss with respect to every parameter and, when
// wantInput is set, the input. Parameters are not updated: an optimizer
// does that with the returned gradients. In training mode Step updates
// BatchNormalization's running statistics as ONNX's training semantics
// say. Cancelling ctx stops the step between nodes.
func (t *Trainer) Step(ctx context.Context, x *ir.Tensor, labels []int64, wantInput bool) (*StepResult, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if wantInput && t.inputErr != nil {
		return nil, fmt.Errorf("the input's gradient: %w", t.inputErr)
	}
	xv, err := t.checkX(x)
	if err != nil {
		return nil, err
	}
	c := t.ctx(t.training)
	// Every pooled buffer of the step returns to the pool at the end,
	// except the gradients handed to the caller (detached below).
	defer t.mem.endCall()
	vals, saved, err := t.forward(ctx, c, xv, true)
	if err != nil {
		return nil, err
	}
	logits := vals[t.out.Name]
	loss, dLogits, correct, err := softmaxCrossEntropy(logits, labels)
	if err != nil {
		return nil, fmt.Errorf("runtime: output %q: %w", t.out.Name, err)
	}
	res := &StepResult{Loss: loss, Correct: correct, Grads: make(map[string]*ir.Tensor, len(t.params))}
	n, cl, _ := logitsDims(logits.Shape)
	if res.Logits, err = ir.FromFloat32([]int{n, cl}, slices.Clone(logits.F32())); err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}

	req := func(name string) bool { return t.reqParam[name] || (wantInput && t.reqInput[name]) }
	grads := map[string]*ir.Tensor{}
	owned := map[string]bool{} // gradients this step allocated (may be added to in place)
	if req(t.out.Name) {
		grads[t.out.Name] = dLogits
		owned[t.out.Name] = true
		c.mem.ref(dLogits)
	}
	g := t.g
	var made []*ir.Tensor // the gradients the current node returned
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		nd := g.Nodes[i]
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("runtime: step cancelled in the backward pass at %s: %w", nd.Describe(), err)
		}
		dout := make([]*ir.Tensor, len(nd.Outputs))
		anyOut := false
		for j, name := range nd.Outputs {
			if name != "" {
				if d := grads[name]; d != nil {
					dout[j] = d
					anyOut = true
				}
			}
		}
		if anyOut && t.hasGrad[i] {
			in := make([]*ir.Tensor, len(nd.Inputs))
			need := make([]bool, len(nd.Inputs))
			anyIn := false
			for j, name := range nd.Inputs {
				if name == "" {
					continue
				}
				in[j] = vals[name]
				if req(name) && in[j].DType == ir.Float32 && t.grad[i].differentiable(j) &&
					!(opKey(nd) == "BatchNormalization" && (j == 3 || j == 4)) {
					need[j] = true
					anyIn = true
				}
			}
			if anyIn {
				out := make([]*ir.Tensor, len(nd.Outputs))
				for j, name := range nd.Outputs {
					if name != "" {
						out[j] = vals[name]
					}
				}
				// A gradient only this node reads (its output's, held by
				// no other name) may be overwritten by the backward.
				c.doutFree = c.doutFree[:0]
				for j, d := range dout {
					c.doutFree = append(c.doutFree, d != nil && nd.Outputs[j] != t.out.Name && c.mem.exclusive(d))
				}
				din, err := safeGradBackward(t.grad[i], c, nd, in, out, saved[i], dout, need)
				c.doutFree = c.doutFree[:0]
				if err != nil {
					return nil, fmt.Errorf("runtime: backward of %s: %w", nd.Describe(), err)
				}
				if len(din) != len(in) {
					return nil, fmt.Errorf("runtime: backward of %s: %d gradients for %d inputs: %w", nd.Describe(), len(din), len(in), ErrInternal)
				}
				for j, want := range need {
					if !want {
						continue
					}
					d := din[j]
					if d == nil || d.DType != ir.Float32 || !slices.Equal(d.Shape, in[j].Shape) || d.Len() != in[j].Len() {
						return nil, fmt.Errorf("runtime: backward of %s: gradient of input %d is %v, want float32%s: %w",
							nd.Describe(), j, d, ir.FormatShape(in[j].Shape), ErrInternal)
					}
					accumulate(c, grads, owned, nd.Inputs[j], d)
				}
				made = din
			}
		}
		// Every reader of these outputs has run backward: neither the
		// values nor their gradients are needed any more.
		for _, name := range nd.Outputs {
			if name != "" && name != t.out.Name {
				if d, ok := grads[name]; ok {
					delete(grads, name)
					c.mem.unref(d)
				}
				if v, ok := vals[name]; ok {
					delete(vals, name)
					c.mem.unref(v)
				}
			}
		}
		// Gradients the node made that were added into others (or not
		// wanted) are free now.
		for _, d := range made {
			c.mem.drop(d)
		}
		made = nil
	}
	for _, p := range t.params {
		d := grads[p]
		if d == nil {
			d = zerosLike(g.Initializers[p])
		}
		c.mem.detach(d) // the caller's now
		res.Grads[p] = d
	}
	if wantInput {
		d := grads[t.input.Name]
		if d == nil {
			d = zerosLike(xv)
		}
		c.mem.detach(d)
		res.GradInput = d
	}
	return res, nil
}

// accumulate adds d into grads[name], counting the map's references in
// c.mem. A first gradient is stored as is; a second makes a new sum owned
// by the step, which later ones add to in place (a gradOp may return views
// of its dout, which must not change).
func accumulate(c *gradCtx, grads map[string]*ir.Tensor, owned map[string]bool, name string, d *ir.Tensor) {
	cur, ok := grads[name]
	if !ok {
		grads[name] = d
		c.mem.ref(d)
		return
	}
	if !owned[name] {
		s := c.likeF32(cur)
		sd, a, b := s.F32(), cur.F32(), d.F32()
		parFor(c, len(sd), func(lo, hi int) {
			copy(sd[lo:hi], a[lo:hi])
			c.k.AddTo(sd[lo:hi], b[lo:hi])
		})
		grads[name] = s
		owned[name] = true
		c.mem.ref(s)
		c.mem.unref(cur)
		return
	}
	a, b := cur.F32(), d.F32()
	parFor(c, len(a), func(lo, hi int) { c.k.AddTo(a[lo:hi], b[lo:hi]) })
}

// safeGradForward and safeGradBackward turn a panic in a gradOp into an
// error naming the node, as safeRun does for the inference operators.
func safeGradForward(op gradOp, c *gradCtx, n *ir.Node, in []*ir.Tensor) (out []*ir.Tensor, saved any, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, saved, err = nil, nil, fmt.Errorf("%s: %w: training forward panicked: %v (please report this with the model)", n.Describe(), ErrInternal, r)
		}
	}()
	out, saved, err = op.forward(c, n, in)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", n.Describe(), err)
	}
	for j, o := range out {
		if o != nil && o.Len() > c.limit {
			return nil, nil, fmt.Errorf("%s: output %d has %d elements, above the limit of %d: %w", n.Describe(), j, o.Len(), c.limit, ir.ErrTooLarge)
		}
	}
	return out, saved, nil
}

func safeGradBackward(op gradOp, c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) (din []*ir.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			din, err = nil, fmt.Errorf("%w: panicked: %v (please report this with the model)", ErrInternal, r)
		}
	}()
	return op.backward(c, n, in, out, saved, dout, need)
}

// Model returns a copy of the model with the trainer's current parameter
// and running-statistic values: the graph as imported (no optimisation),
// lowered to float32. It shares nothing with the trainer.
func (t *Trainer) Model() *ir.Model {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := *t.model
	g := t.g.Clone()
	for name, tt := range g.Initializers {
		g.Initializers[name] = tt.Clone()
	}
	m.Graph = g
	m.Opsets = maps.Clone(t.model.Opsets)
	m.Metadata = maps.Clone(t.model.Metadata)
	return &m
}
