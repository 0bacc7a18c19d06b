package runtime

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	goruntime "runtime"
	"slices"
	"sync"
	"time"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// This file compiles a session's graph, for one set of input shapes, into a
// plan: every value's type and shape resolved, constants folded, each node
// bound to a fast implementation when one applies (else to its reference
// op), Conv epilogues fused, zero-copy aliases resolved, and every
// intermediate value given an offset in one arena by liveness. Plans are
// immutable once built and cached per input signature; a run takes a
// per-run arena from the plan's pool, so a steady-state run allocates only
// the output tensors it returns.

// planCacheSize is how many input signatures a session keeps plans for.
const planCacheSize = 8

// executor is a session's execution state shared by all runs: the kernel
// tier, the worker pool and the plan cache.
type executor struct {
	kern    *simd.Kernels
	threads int
	pool    *simd.Pool // nil for a reference session

	mu    sync.Mutex
	plans []*plan // most recently used first

	prepMu   sync.Mutex
	prepared map[prepKey]any // per-session prepared (packed) weights
}

// prepKey names a prepared weight: the node that reads it, what kind of
// preparation it is, and the input size it was prepared for (a Conv's
// packing depends on the image size, not on the batch).
type prepKey struct {
	node *ir.Node
	kind string
	h, w int
}

// prepare returns the session's prepared form of something, computing it on
// first use (weights are packed once per session and input size), and
// records that the plan being built uses it.
func (pc *planCtx) prepare(k prepKey, build func() (any, error)) (any, error) {
	pc.keys = append(pc.keys, k)
	ex := pc.ex
	ex.prepMu.Lock()
	defer ex.prepMu.Unlock()
	if v, ok := ex.prepared[k]; ok {
		return v, nil
	}
	v, err := build()
	if err != nil {
		return nil, err
	}
	if ex.prepared == nil {
		ex.prepared = map[prepKey]any{}
	}
	ex.prepared[k] = v
	return v, nil
}

// initExec resolves the kernel tier and thread count of the session and,
// unless the session runs the reference path, builds the plan of static
// input shapes right away.
func (s *Session) initExec() error {
	kern := simd.Best()
	if s.opts.Tier != "" {
		t, err := simd.ParseTier(s.opts.Tier)
		if err != nil {
			return err
		}
		if !simd.Supported(t) {
			return fmt.Errorf("SIMD tier %s is not available on this CPU or build (have %v)", t, simd.Available())
		}
		kern = simd.ForTier(t)
	}
	threads := s.opts.Threads
	if threads <= 0 {
		threads = goruntime.GOMAXPROCS(0)
	}
	ex := &executor{kern: kern, threads: threads}
	s.exec = ex
	if s.opts.Reference {
		return nil
	}
	ex.pool = simd.NewPool(threads)
	// The workers never reference the session, so it can be collected; then
	// its pool is closed and the workers exit.
	goruntime.AddCleanup(s, func(p *simd.Pool) { p.Close() }, ex.pool)
	dtypes := make([]ir.DType, len(s.graph.Inputs))
	shapes := make([][]int, len(s.graph.Inputs))
	for i, vi := range s.graph.Inputs {
		sh, ok := vi.Shape.Concrete()
		if !ok || vi.DType == ir.Undefined {
			return nil // resolved when Run sees real inputs
		}
		dtypes[i], shapes[i] = vi.DType, sh
	}
	_, err := s.planFor(dtypes, shapes)
	return err
}

// planFor returns the cached plan for the input signature, building it on a
// miss. dtypes and shapes are only read.
func (s *Session) planFor(dtypes []ir.DType, shapes [][]int) (*plan, error) {
	ex := s.exec
	ex.mu.Lock()
	for i, p := range ex.plans {
		if p.matches(dtypes, shapes) {
			copy(ex.plans[1:i+1], ex.plans[:i])
			ex.plans[0] = p
			ex.mu.Unlock()
			return p, nil
		}
	}
	ex.mu.Unlock()
	p, err := s.buildPlan(dtypes, shapes)
	if err != nil {
		return nil, err
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	for _, q := range ex.plans {
		if q.matches(dtypes, shapes) {
			return q, nil // built concurrently by another run
		}
	}
	var evicted *plan
	if len(ex.plans) < planCacheSize {
		ex.plans = append(ex.plans, nil)
	} else {
		evicted = ex.plans[len(ex.plans)-1]
	}
	copy(ex.plans[1:], ex.plans)
	ex.plans[0] = p
	if evicted != nil {
		ex.forget(evicted)
	}
	return p, nil
}

// forget drops the prepared weights only the evicted plan used (a Conv's
// packing depends on the image size, so a session fed many sizes would
// otherwise keep one packing per size). Called with ex.mu held.
func (ex *executor) forget(evicted *plan) {
	inUse := map[prepKey]bool{}
	for _, q := range ex.plans {
		for _, k := range q.prepared {
			inUse[k] = true
		}
	}
	ex.prepMu.Lock()
	defer ex.prepMu.Unlock()
	for _, k := range evicted.prepared {
		if !inUse[k] {
			delete(ex.prepared, k)
		}
	}
}

// valKind says where a value's data lives during a run.
type valKind uint8

const (
	valArena   valKind = iota // intermediate in the arena
	valFresh                  // allocated per run (graph outputs; strings)
	valInput                  // a graph input, as the caller gave it
	valConst                  // an initializer or a value folded at plan time
	valAlias                  // shares another non-arena value's data, set per run
	valDynamic                // shape known only at run time: computed by reference
)

// planValue is one value of a plan.
type planValue struct {
	name  string
	dtype ir.DType
	shape []int
	kind  valKind
	konst *ir.Tensor // valConst
	store int        // valArena: index into plan.stores
	off   int        // valArena: byte offset within the storage
}

// stepKind is how a step executes.
type stepKind uint8

const (
	stepRef     stepKind = iota // reference op on planned buffers
	stepFast                    // fast kernel
	stepAlias                   // out[0] takes in[0]'s data (zero copy)
	stepDynamic                 // reference op, shapes resolved at run time
)

// step is one unit of a plan: a node (or a Conv with its fused epilogue).
type step struct {
	node  *ir.Node
	kind  stepKind
	in    []int // value ids, -1 for an omitted input
	out   []int // value ids of every output the op fills
	k     fastKernel
	fused []*ir.Node // nodes absorbed into this one (epilogue fusion)
	dead  bool
	tmp   int // 1 + index of the temporary buffer's storage; 0: none
}

// describe names the step's node(s) for errors.
func (st *step) describe() string {
	d := st.node.Describe()
	for _, f := range st.fused {
		d += " + " + f.Describe()
	}
	return d
}

// plan is an executable schedule for one input signature. Immutable once
// built, except for its pool of per-run states.
type plan struct {
	dtypes   []ir.DType
	shapes   [][]int
	values   []planValue
	steps    []step // live steps only, in execution order
	stores   []storage
	arena    int // bytes
	inIDs    []int
	outIDs   []int
	fresh    []int // values allocated per run
	maxIn    int
	maxOut   int
	kern     *simd.Kernels
	pool     *simd.Pool
	prepared []prepKey // the session's prepared weights this plan uses
	states   sync.Pool
}

func (p *plan) matches(dtypes []ir.DType, shapes [][]int) bool {
	if len(dtypes) != len(p.dtypes) {
		return false
	}
	for i := range dtypes {
		if dtypes[i] != p.dtypes[i] || !slices.Equal(shapes[i], p.shapes[i]) {
			return false
		}
	}
	return true
}

// fastKernel is a fast implementation of one step. It is immutable and
// shared by concurrent runs; per-run state lives in the runCtx.
type fastKernel interface {
	// run computes out from in (out holds the planned buffers, which are
	// not zeroed; out[0] may share in[j]'s data for j in inPlace()).
	run(rc *runCtx, in, out []*ir.Tensor) error
}

// inPlacer is implemented by kernels whose first output may take over the
// buffer of one of the listed inputs (same size) when that input dies at
// the step.
type inPlacer interface{ inPlace() []int }

// temper is implemented by kernels that need a temporary float32 buffer
// while they run (it lives in the arena, for that step only).
type temper interface{ tempFloats() int }

// epilogue is implemented by kernels that can absorb a following activation
// or residual Add (Conv). Each returns a new kernel, or nil when it cannot.
type epilogue interface {
	withAct(a simd.Act) fastKernel
	withResidual() fastKernel // the residual becomes the kernel's last input
}

// planCtx is what a kernel chooser sees at plan time.
type planCtx struct {
	ex   *executor
	keys []prepKey // prepared weights the plan uses
}

// fastChooser returns a fast kernel for node n with the given input and
// output values (nil entries for omitted inputs), or nil when none applies.
type fastChooser func(pc *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error)

// fastOps maps operators to their fast implementations' choosers (filled by
// init functions in the fast_*.go files).
var fastOps = map[string]fastChooser{}

// aliasOps are the operators whose single output is its first input with
// another shape: a plan makes them zero-copy.
var aliasOps = map[string]bool{
	"Reshape": true, "Flatten": true, "Squeeze": true, "Unsqueeze": true,
	"Identity": true, "Dropout": true,
}

// planBuilder holds the state of one buildPlan call.
type planBuilder struct {
	s   *Session
	p   *plan
	ids map[string]int
}

// lookup returns the id of a named value; initializers enter the plan on
// first use.
func (b *planBuilder) lookup(name string) (int, bool) {
	if id, ok := b.ids[name]; ok {
		return id, true
	}
	t, ok := b.s.graph.Initializers[name]
	if !ok {
		return 0, false
	}
	return b.add(planValue{name: name, dtype: t.DType, shape: t.Shape, kind: valConst, konst: t}), true
}

func (b *planBuilder) add(v planValue) int {
	id := len(b.p.values)
	b.p.values = append(b.p.values, v)
	if v.name != "" {
		b.ids[v.name] = id
	}
	return id
}

// buildPlan compiles the graph for the given input types and shapes.
func (s *Session) buildPlan(dtypes []ir.DType, shapes [][]int) (*plan, error) {
	g := s.graph
	p := &plan{
		dtypes: slices.Clone(dtypes),
		kern:   s.exec.kern,
		pool:   s.exec.pool,
	}
	for _, sh := range shapes {
		p.shapes = append(p.shapes, slices.Clone(sh))
	}
	b := &planBuilder{s: s, p: p, ids: map[string]int{}}
	for i, vi := range g.Inputs {
		p.inIDs = append(p.inIDs, b.add(planValue{name: vi.Name, dtype: dtypes[i], shape: p.shapes[i], kind: valInput}))
	}
	if err := b.resolve(); err != nil {
		return nil, err
	}
	outSet := map[int]bool{}
	for _, o := range g.Outputs {
		id, ok := b.lookup(o.Name)
		if !ok {
			return nil, fmt.Errorf("output %q was not computed", o.Name)
		}
		p.outIDs = append(p.outIDs, id)
		outSet[id] = true
	}
	for id := range p.values {
		v := &p.values[id]
		if v.kind == valArena && (outSet[id] || !arenaEligible(v.dtype)) {
			v.kind = valFresh
		}
	}
	pc := &planCtx{ex: s.exec}
	if err := b.choose(pc, outSet); err != nil {
		return nil, err
	}
	p.prepared = pc.keys
	b.fuse(outSet)
	b.allocate()
	for id, v := range p.values {
		if v.kind == valFresh {
			p.fresh = append(p.fresh, id)
		}
	}
	for _, st := range p.steps {
		p.maxIn = max(p.maxIn, len(st.in))
		p.maxOut = max(p.maxOut, len(st.out))
	}
	p.states.New = func() any { return p.newState() }
	return p, nil
}

// resolve walks the nodes in order: infers every output's type and shape,
// folds nodes whose inputs are all known, marks values whose shape depends
// on run-time data as dynamic, and records a step for every other node.
func (b *planBuilder) resolve() error {
	s, p := b.s, b.p
	limit := s.opts.MaxTensorElements
	for _, n := range s.graph.Nodes {
		def := ops[opKey(n)]
		in := make([]*Arg, len(n.Inputs))
		inIDs := make([]int, len(n.Inputs))
		dynamic, allConst := false, true
		for j, name := range n.Inputs {
			inIDs[j] = -1
			if name == "" {
				continue
			}
			id, ok := b.lookup(name)
			if !ok {
				return fmt.Errorf("%s: input %q has no inferred type", n.Describe(), name)
			}
			inIDs[j] = id
			v := &p.values[id]
			if v.kind == valDynamic {
				dynamic = true
				continue
			}
			in[j] = &Arg{DType: v.dtype, Shape: v.shape, Val: v.konst}
			if v.konst == nil {
				allConst = false
			}
		}
		var outs []Out
		if !dynamic {
			var err error
			outs, err = safeInfer(def, n, in)
			switch {
			case errors.Is(err, errNeedValue):
				dynamic = true
			case err != nil:
				return fmt.Errorf("%s: %w", n.Describe(), err)
			}
		}
		st := step{node: n, in: inIDs}
		if dynamic {
			st.kind = stepDynamic
			for _, name := range n.Outputs {
				id := -1
				if name != "" {
					id = b.add(planValue{name: name, kind: valDynamic})
				}
				st.out = append(st.out, id)
			}
			p.steps = append(p.steps, st)
			continue
		}
		for i, o := range outs {
			cnt, err := ir.NumElements(o.Shape)
			if err != nil {
				return fmt.Errorf("%s: output %d: %w", n.Describe(), i, err)
			}
			if cnt > limit {
				return fmt.Errorf("%s: output %d has shape %v (%d elements), above the session limit of %d: %w",
					n.Describe(), i, o.Shape, cnt, limit, ir.ErrTooLarge)
			}
		}
		if allConst {
			// Every input is known: compute the outputs once, here.
			tin := make([]*ir.Tensor, len(in))
			for j, a := range in {
				if a != nil {
					tin[j] = a.Val
				}
			}
			vals, err := execNode(n, tin)
			if err != nil {
				return err
			}
			for j, name := range n.Outputs {
				if name != "" && j < len(vals) {
					b.add(planValue{name: name, dtype: vals[j].DType, shape: vals[j].Shape, kind: valConst, konst: vals[j]})
				}
			}
			continue
		}
		if n.Op == "Shape" && in[0] != nil {
			t := shapeValue(n, in[0].Shape)
			b.add(planValue{name: n.Outputs[0], dtype: t.DType, shape: t.Shape, kind: valConst, konst: t})
			continue
		}
		for j, o := range outs {
			name := ""
			if j < len(n.Outputs) {
				name = n.Outputs[j]
			}
			// Omitted outputs still get a buffer: the op fills every output
			// its infer promised.
			st.out = append(st.out, b.add(planValue{name: name, dtype: o.DType, shape: o.Shape, kind: valArena}))
		}
		p.steps = append(p.steps, st)
	}
	return nil
}

// choose binds each static step to a fast kernel or a zero-copy alias when
// one applies.
func (b *planBuilder) choose(pc *planCtx, outSet map[int]bool) error {
	p := b.p
	for i := range p.steps {
		st := &p.steps[i]
		if st.kind != stepRef {
			continue
		}
		n := st.node
		if b.aliasable(st) {
			if outSet[st.out[0]] {
				// A graph output has a buffer of its own: copy.
				st.kind, st.k = stepFast, fastCopy{}
			} else {
				st.kind = stepAlias
			}
			continue
		}
		choose, ok := fastOps[opKey(n)]
		if !ok {
			continue
		}
		in := make([]*planValue, len(st.in))
		for j, id := range st.in {
			if id >= 0 {
				in[j] = &p.values[id]
			}
		}
		out := make([]*planValue, len(st.out))
		for j, id := range st.out {
			out[j] = &p.values[id]
		}
		k, err := choose(pc, n, in, out)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Describe(), err)
		}
		if k != nil {
			st.kind, st.k = stepFast, k
		}
	}
	return nil
}

// aliasable reports whether a step can be a zero-copy alias (or, when its
// output is a graph output, a plain copy): an alias op whose other inputs
// (shape, axes, Dropout's ratio and training mode) are constants, so that
// the reference op's checks of their values already ran at plan time.
func (b *planBuilder) aliasable(st *step) bool {
	p := b.p
	if !aliasOps[st.node.Op] || len(st.out) != 1 || len(st.in) == 0 || st.in[0] < 0 {
		return false
	}
	src := &p.values[st.in[0]]
	if src.kind == valDynamic || src.dtype != p.values[st.out[0]].dtype {
		return false
	}
	for _, id := range st.in[1:] {
		if id >= 0 && p.values[id].kind != valConst {
			return false
		}
	}
	return true
}

// readers counts, per value, the live steps reading it (graph outputs count
// as a reader).
func (b *planBuilder) readers(outSet map[int]bool) ([]int, []int) {
	p := b.p
	count := make([]int, len(p.values))
	reader := make([]int, len(p.values)) // the last reading step
	for i, st := range p.steps {
		if st.dead {
			continue
		}
		for _, id := range st.in {
			if id >= 0 {
				count[id]++
				reader[id] = i
			}
		}
	}
	for id := range outSet {
		count[id]++
	}
	return count, reader
}

// fuse folds, into a fast Conv (or another kernel with an epilogue), a
// following activation (Relu, Clip with constant bounds, LeakyRelu, Sigmoid,
// HardSigmoid, HardSwish, or a step fuseElementwise made of x·gate(x)) and a
// residual Add (optionally followed by an
// activation) when the intermediate values have no other reader. The fused
// step runs at the position of the last absorbed node, where every input
// (the residual included) is available.
func (b *planBuilder) fuse(outSet map[int]bool) {
	p := b.p
	b.fuseElementwise(outSet) // x·gate(x), Mul then Add by constants (fast_affine.go)
	count, reader := b.readers(outSet)
	// soleReader returns the step that is the only reader of value id.
	soleReader := func(id int) (int, bool) {
		if count[id] != 1 || outSet[id] {
			return 0, false
		}
		r := reader[id]
		st := &p.steps[r]
		return r, !st.dead && st.kind != stepDynamic
	}
	for i := range p.steps {
		st := &p.steps[i]
		ep, ok := st.k.(epilogue)
		if st.dead || st.kind != stepFast || !ok || len(st.out) != 1 {
			continue
		}
		cur := *st
		at := i
		absorbed := []int{}
		// Residual Add.
		if r, ok := soleReader(cur.out[0]); ok && p.steps[r].node.Op == "Add" && len(p.steps[r].out) == 1 {
			add := &p.steps[r]
			c := cur.out[0]
			other := add.in[0]
			if other == c {
				other = add.in[1]
			}
			if other >= 0 && other != c && residualFits(&p.values[other], &p.values[c], &p.values[add.out[0]]) {
				if k := ep.withResidual(); k != nil {
					cur.k = k
					cur.in = append(slices.Clone(cur.in), other)
					cur.out = add.out
					cur.fused = append(cur.fused, add.node)
					absorbed = append(absorbed, r)
					at = r
				}
			}
		}
		// Activation.
		if r, ok := soleReader(cur.out[0]); ok {
			act := &p.steps[r]
			in := make([]*planValue, len(act.in))
			for j, id := range act.in {
				if id >= 0 {
					in[j] = &p.values[id]
				}
			}
			if a, ok := stepAct(act, in); ok && len(act.out) == 1 && act.in[0] == cur.out[0] {
				if ep2, ok := cur.k.(epilogue); ok {
					if k := ep2.withAct(a); k != nil {
						cur.k = k
						cur.out = act.out
						cur.fused = append(append(cur.fused, act.node), act.fused...)
						absorbed = append(absorbed, r)
						at = r
					}
				}
			}
		}
		if len(absorbed) == 0 {
			continue
		}
		st.dead = true
		for _, r := range absorbed {
			p.steps[r].dead = true
		}
		cur.dead = false
		p.steps[at] = cur // the intermediate values vanish
	}
	live := p.steps[:0]
	for _, st := range p.steps {
		if !st.dead {
			live = append(live, st)
		}
	}
	p.steps = live
}

// residualFits reports whether r can be a fused residual of a kernel output
// c whose sum is sum: float32, known before the run, all three one shape.
func residualFits(r, c, sum *planValue) bool {
	return r.kind != valDynamic && r.dtype == ir.Float32 && slices.Equal(r.shape, c.shape) && slices.Equal(sum.shape, c.shape)
}

// allocate gives every arena value a storage and lays the storages out in
// the arena. Values share a storage when
//
//   - an alias step makes them the same bytes under another shape (the step
//     is dropped);
//   - a Concat whose outer size is 1 (a batch-1 channel concat) can have
//     its inputs computed straight into their slices of its output (the
//     step is dropped; the inputs become views at an offset);
//   - a fast kernel computes its output in place over an input whose
//     storage dies at that step.
//
// A storage lives from the first step writing any value sharing it to the
// last step reading one.
func (b *planBuilder) allocate() {
	p := b.p
	parent := make([]int, len(p.values))
	for id := range parent {
		parent[id] = id
	}
	find := func(id int) int {
		for parent[id] != id {
			parent[id] = parent[parent[id]]
			id = parent[id]
		}
		return id
	}
	subOff := make([]int, len(p.values)) // byte offset within the root's bytes
	offset := func(id int) int {
		o := 0
		for ; parent[id] != id; id = parent[id] {
			o += subOff[id]
		}
		return o
	}
	joined := make([]bool, len(p.values)) // some other value shares its bytes
	live := p.steps[:0]
	for _, st := range p.steps {
		if st.kind == stepAlias {
			src, dst := st.in[0], st.out[0]
			if p.values[src].kind == valArena && p.values[dst].kind == valArena {
				parent[dst] = src // same bytes, another shape: no step at all
				joined[src] = true
				continue
			}
			if p.values[dst].kind == valArena {
				p.values[dst].kind = valAlias
			}
		}
		live = append(live, st)
	}
	p.steps = live
	producer := make([]int, len(p.values))
	for id := range producer {
		producer[id] = -1
	}
	for i, st := range p.steps {
		for _, id := range st.out {
			if id >= 0 {
				producer[id] = i
			}
		}
	}
	live = p.steps[:0]
	for _, st := range p.steps {
		if b.concatInPlace(&st, parent, joined, producer) {
			out := st.out[0]
			off := 0
			for _, id := range st.in {
				parent[id], subOff[id] = out, off
				off += len1(p.values[id].shape) * p.values[id].dtype.Size()
			}
			joined[out] = true
			continue
		}
		live = append(live, st)
	}
	p.steps = live
	// The steps during which each group's bytes are in use: from the first
	// step writing a member to the last step reading one (first stays -1
	// for values of fused-away steps, which no live step writes).
	gFirst := make([]int, len(p.values))
	gLast := make([]int, len(p.values))
	for id := range gFirst {
		gFirst[id], gLast[id] = -1, -1
	}
	touch := func(id, i int, write bool) {
		r := find(id)
		if write && (gFirst[r] < 0 || i < gFirst[r]) {
			gFirst[r] = i
		}
		gLast[r] = max(gLast[r], i)
	}
	for i, st := range p.steps {
		for _, id := range st.in {
			if id >= 0 {
				touch(id, i, false)
			}
		}
		for _, id := range st.out {
			if id >= 0 {
				touch(id, i, true)
			}
		}
	}
	for i, st := range p.steps {
		ip, ok := st.k.(inPlacer)
		if st.kind != stepFast || !ok || len(st.out) == 0 {
			continue
		}
		out := st.out[0]
		o := &p.values[out]
		if o.kind != valArena || find(out) != out {
			continue // the output's bytes are already part of another value's
		}
		for _, j := range ip.inPlace() {
			if j >= len(st.in) || st.in[j] < 0 {
				continue
			}
			r := find(st.in[j])
			iv := &p.values[r]
			if iv.kind != valArena || offset(st.in[j]) != 0 || iv.dtype != o.dtype || len1(iv.shape) != len1(o.shape) {
				continue
			}
			if gLast[r] == i { // the input's bytes die at this step
				parent[out] = r
				gLast[r] = max(gLast[r], gLast[out])
				break
			}
		}
	}
	storeOf := map[int]int{} // root -> storage
	for id := range p.values {
		v := &p.values[id]
		if v.kind != valArena {
			continue
		}
		r := find(id)
		s, ok := storeOf[r]
		if !ok {
			f, l := gFirst[r], gLast[r]
			if f < 0 {
				v.store = -1 // an intermediate value a fused step no longer computes
				continue
			}
			rv := &p.values[r]
			s = len(p.stores)
			p.stores = append(p.stores, storage{
				bytes: roundUp(len1(rv.shape) * rv.dtype.Size()),
				first: f,
				last:  l,
			})
			storeOf[r] = s
		}
		v.store = s
		v.off = offset(id)
	}
	for i := range p.steps {
		st := &p.steps[i]
		if t, ok := st.k.(temper); ok && st.kind == stepFast {
			if n := t.tempFloats(); n > 0 {
				p.stores = append(p.stores, storage{bytes: roundUp(4 * n), first: i, last: i})
				st.tmp = len(p.stores)
			}
		}
	}
	p.arena = assignOffsets(p.stores, len(p.steps))
}

// concatInPlace reports whether a Concat step can be dropped by computing
// its inputs in their slices of its output: its outer size is 1, its output
// is an arena value of its own, and every input is a distinct arena value
// written by a live step that shares its bytes with nothing else yet.
func (b *planBuilder) concatInPlace(st *step, parent []int, joined []bool, producer []int) bool {
	p := b.p
	k, ok := st.k.(*fastConcat)
	if st.kind != stepFast || !ok || k.outer != 1 || len(st.out) != 1 {
		return false
	}
	out := st.out[0]
	if p.values[out].kind != valArena || parent[out] != out {
		return false // (aliases of the output are fine: they view all of it)
	}
	seen := map[int]bool{}
	for _, id := range st.in {
		if id < 0 || seen[id] || p.values[id].kind != valArena || parent[id] != id || joined[id] || producer[id] < 0 {
			return false
		}
		seen[id] = true
	}
	return true
}

// len1 is the element count of a shape already checked by inference.
func len1(shape []int) int { return prod(shape) }

// runState is one run's private state: the arena, the tensor headers of
// every value, argument scratch and the parallel context. Runs take one from
// the plan's pool and give it back.
type runState struct {
	rc     runCtx
	buf    []byte
	vals   []*ir.Tensor
	tmp    [][]float32 // per step: its temporary buffer
	argIn  []*ir.Tensor
	argOut []*ir.Tensor
	durs   []time.Duration // per step, when the run is profiled
}

func (p *plan) newState() *runState {
	rs := &runState{
		buf:    arenaBytes(p.arena),
		vals:   make([]*ir.Tensor, len(p.values)),
		argIn:  make([]*ir.Tensor, p.maxIn),
		argOut: make([]*ir.Tensor, p.maxOut),
	}
	for id, v := range p.values {
		switch v.kind {
		case valArena:
			if v.store < 0 {
				continue
			}
			st := p.stores[v.store]
			rs.vals[id] = &ir.Tensor{DType: v.dtype, Shape: v.shape, Data: view(v.dtype, rs.buf, st.off+v.off, len1(v.shape))}
		case valConst:
			rs.vals[id] = v.konst
		case valAlias:
			rs.vals[id] = &ir.Tensor{DType: v.dtype, Shape: v.shape}
		}
	}
	rs.tmp = make([][]float32, len(p.steps))
	for i, st := range p.steps {
		if st.tmp > 0 {
			s := p.stores[st.tmp-1]
			rs.tmp[i] = view(ir.Float32, rs.buf, s.off, s.bytes/4).([]float32)
		}
	}
	rs.rc.kern = p.kern
	if p.pool != nil {
		rs.rc.pool = p.pool
	}
	rc := &rs.rc
	rc.forBody = func(lo, hi int) {
		for i := lo; i < hi; i++ {
			rc.body.part(rc, i)
		}
	}
	return rs
}

// release forgets the run's inputs, outputs and dynamic values, so that
// the pooled state keeps nothing of the caller's alive.
func (p *plan) release(rs *runState) {
	for id, v := range p.values {
		switch v.kind {
		case valInput, valFresh, valDynamic:
			rs.vals[id] = nil
		case valAlias:
			rs.vals[id].Data = nil
		}
	}
	clear(rs.argIn)
	clear(rs.argOut)
	rs.rc.in, rs.rc.out, rs.rc.tmp = nil, nil, nil
	rs.rc.dense = simd.DenseB{}
	clear(rs.rc.f[:])
	p.states.Put(rs)
}

// runPlanned is Run on the plan path.
func (s *Session) runPlanned(ctx context.Context, inputs map[string]*ir.Tensor) ([]*ir.Tensor, error) {
	const stackInputs = 8
	var (
		ltBuf [stackInputs]*ir.Tensor
		dtBuf [stackInputs]ir.DType
		shBuf [stackInputs][]int
	)
	lts, err := s.checkInputs(inputs, ltBuf[:0])
	if err != nil {
		return nil, err
	}
	dts, shs := dtBuf[:0], shBuf[:0]
	for _, lt := range lts {
		dts = append(dts, lt.DType)
		shs = append(shs, lt.Shape)
	}
	p, err := s.planFor(dts, shs)
	if err != nil {
		return nil, fmt.Errorf("runtime: %w", err)
	}
	rs := p.states.Get().(*runState)
	defer p.release(rs)
	for i, id := range p.inIDs {
		rs.vals[id] = lts[i]
	}
	for _, id := range p.fresh {
		v := &p.values[id]
		t, err := ir.NewTensor(v.dtype, v.shape)
		if err != nil {
			return nil, fmt.Errorf("runtime: %s: %w", v.name, err)
		}
		rs.vals[id] = t
	}
	limit := s.opts.MaxTensorElements
	prof := profileFrom(ctx)
	if prof != nil && len(rs.durs) != len(p.steps) {
		rs.durs = make([]time.Duration, len(p.steps))
	}
	var t0 time.Time
	for i := range p.steps {
		st := &p.steps[i]
		if prof != nil {
			t0 = time.Now()
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("runtime: run cancelled before %s: %w", st.node.Describe(), err)
		}
		in := rs.argIn[:len(st.in)]
		for j, id := range st.in {
			if id >= 0 {
				in[j] = rs.vals[id]
			} else {
				in[j] = nil
			}
		}
		out := rs.argOut[:len(st.out)]
		for j, id := range st.out {
			if id >= 0 {
				out[j] = rs.vals[id]
			} else {
				out[j] = nil
			}
		}
		switch st.kind {
		case stepFast:
			rs.rc.in, rs.rc.out, rs.rc.tmp = in, out, rs.tmp[i]
			if err := safeFast(st.k, &rs.rc, in, out); err != nil {
				return nil, fmt.Errorf("runtime: %s: %w", st.describe(), err)
			}
		case stepAlias:
			out[0].Data = in[0].Data
		case stepRef:
			if err := p.runRef(st, in, out); err != nil {
				return nil, fmt.Errorf("runtime: %w", err)
			}
		case stepDynamic:
			res, err := execNodeLimited(st.node, in, limit)
			if err != nil {
				return nil, fmt.Errorf("runtime: %w", err)
			}
			for j, id := range st.out {
				if id >= 0 && j < len(res) {
					rs.vals[id] = res[j]
				}
			}
		}
		if prof != nil {
			rs.durs[i] = time.Since(t0)
		}
	}
	if prof != nil {
		prof.record(p, rs.durs)
	}
	res := make([]*ir.Tensor, len(s.outputs))
	for i, vi := range s.outputs {
		id := p.outIDs[i]
		t := rs.vals[id]
		if t == nil {
			return nil, fmt.Errorf("runtime: output %q was not computed", vi.Name)
		}
		if p.values[id].kind == valConst {
			t = t.Clone() // never hand out the session's own tensors
		}
		ot, err := raise(t, vi.DType)
		if err != nil {
			return nil, fmt.Errorf("runtime: output %q: %w", vi.Name, err)
		}
		res[i] = ot
	}
	return res, nil
}

// safeFast runs a fast kernel, turning a panic (a bug) into an error.
func safeFast(k fastKernel, rc *runCtx, in, out []*ir.Tensor) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: fast kernel panicked: %v (please report this with the model)", ErrInternal, r)
		}
	}()
	return k.run(rc, in, out)
}

// runRef runs a step's reference op on planned buffers. It re-infers the
// output shapes from the actual inputs (as execNode does, so value checks
// made by infer functions still happen), zeroes the outputs and runs.
func (p *plan) runRef(st *step, in, out []*ir.Tensor) error {
	n := st.node
	def := ops[opKey(n)]
	outs, err := safeInfer(def, n, argsOf(in))
	if err != nil {
		return fmt.Errorf("%s: %w", n.Describe(), err)
	}
	if len(outs) != len(out) {
		return fmt.Errorf("%w: %s: %d outputs at run time, %d planned", ErrInternal, n.Describe(), len(outs), len(out))
	}
	for j, o := range outs {
		if o.DType != out[j].DType || !slices.Equal(o.Shape, out[j].Shape) {
			return fmt.Errorf("%w: %s: output %d is %v%v at run time, planned %v%v", ErrInternal, n.Describe(), j,
				o.DType, ir.FormatShape(o.Shape), out[j].DType, ir.FormatShape(out[j].Shape))
		}
		if p.values[st.out[j]].kind == valArena {
			clearData(out[j].Data)
		}
	}
	orig := make([]any, len(out))
	for j := range out {
		orig[j] = out[j].Data
	}
	if err := safeRun(def, n, in, out); err != nil {
		return fmt.Errorf("%s: %w", n.Describe(), err)
	}
	// An op that replaced an output's slice instead of filling it
	// (BatchNormalization's pass-through statistics do) must not detach the
	// planned buffer, which other values may share: copy back.
	for j := range out {
		if !sameSlice(out[j].Data, orig[j]) {
			got := out[j].Data
			out[j].Data = orig[j]
			if err := copyAllElems(out[j], &ir.Tensor{DType: out[j].DType, Shape: out[j].Shape, Data: got}); err != nil {
				return fmt.Errorf("%w: %s: output %d: %v", ErrInternal, n.Describe(), j, err)
			}
		}
	}
	return nil
}

// sameSlice reports whether two tensor data slices are the same slice (same
// start and length).
func sameSlice(a, b any) bool {
	ta, tb := &ir.Tensor{Data: a}, &ir.Tensor{Data: b}
	if ta.Len() != tb.Len() {
		return false
	}
	if ta.Len() == 0 {
		return true
	}
	return reflect.ValueOf(a).Pointer() == reflect.ValueOf(b).Pointer()
}

// clearData zeroes a tensor's elements.
func clearData(d any) {
	switch s := d.(type) {
	case []float32:
		clear(s)
	case []float64:
		clear(s)
	case []int8:
		clear(s)
	case []uint8:
		clear(s)
	case []int16:
		clear(s)
	case []uint16:
		clear(s)
	case []int32:
		clear(s)
	case []uint32:
		clear(s)
	case []int64:
		clear(s)
	case []uint64:
		clear(s)
	case []bool:
		clear(s)
	case []string:
		clear(s)
	}
}

// runCtx is a run's context, handed to fast kernels: the kernel table, the
// session's workers, and room for per-call values.
type runCtx struct {
	kern    *simd.Kernels
	pool    simd.Parallel // nil: serial
	body    parKernel
	forBody func(lo, hi int) // bound once per run state: no allocation per loop
	in, out []*ir.Tensor     // the current step's arguments
	tmp     []float32        // the current step's temporary buffer (temper)
	dense   simd.DenseB      // a GEMM's B operand, kept here so passing it allocates nothing
	// f holds per-call slices a kernel sets in run and reads in part (the
	// kernel itself is shared by concurrent runs).
	f [4][]float32
}

// parKernel is a parallel loop body of a kernel: item i of the current call.
// Items must write disjoint outputs, so results never depend on which
// goroutine computes which item.
type parKernel interface {
	part(rc *runCtx, i int)
}

// parallel runs k.part(rc, i) for i in [0, count) on the session's workers.
func (rc *runCtx) parallel(count int, k parKernel) {
	if count <= 0 {
		return
	}
	if count == 1 || rc.pool == nil {
		for i := range count {
			k.part(rc, i)
		}
		return
	}
	rc.body = k
	rc.pool.For(count, rc.forBody)
	rc.body = nil
}

// summary describes the plan, one line per step, for tests and debugging:
// the kind of execution, the node(s), and the arena size.
func (p *plan) summary() string {
	var b []byte
	b = fmt.Appendf(b, "arena %d bytes, %d steps\n", p.arena, len(p.steps))
	kinds := map[stepKind]string{stepRef: "ref", stepFast: "fast", stepAlias: "alias", stepDynamic: "dynamic"}
	for _, st := range p.steps {
		b = fmt.Appendf(b, "%-7s %s", kinds[st.kind], opLabel(st.node))
		for _, f := range st.fused {
			b = fmt.Appendf(b, "+%s", f.Op)
		}
		b = append(b, '\n')
	}
	return string(b)
}
