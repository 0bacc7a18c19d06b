package runtime

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/runinfer/runinfer/ir"
)

// Profile collects the wall time of every step of planned runs: attach it
// to a context with WithProfile and pass that context to Session.Run. One
// Profile may be shared by concurrent runs. Reference runs
// (Options.Reference) are not profiled.
//
// The clock is read twice per step, which costs well under a microsecond
// per run on the models this runtime targets.
type Profile struct {
	mu    sync.Mutex
	runs  int
	index map[*step]int
	steps []StepTime
}

// StepTime is the accumulated time of one step of a plan: one node, or a
// node with the nodes fused into its epilogue.
type StepTime struct {
	Nodes  []string // the step's node names, the fused ones after the first
	Values []string // each of those nodes' first output (unique, unlike names)
	Op     string   // the op, with fused ops appended: "Conv+Add+Relu"
	Kernel string   // how it ran: a fast kernel's name, "reference", "alias" or "dynamic"
	Shape  []int    // the first output's shape
	Calls  int
	Total  time.Duration
}

type profileKey struct{}

// WithProfile returns a context under which Session.Run adds each step's
// time to p.
func WithProfile(ctx context.Context, p *Profile) context.Context {
	return context.WithValue(ctx, profileKey{}, p)
}

func profileFrom(ctx context.Context) *Profile {
	p, _ := ctx.Value(profileKey{}).(*Profile)
	return p
}

// Runs is the number of runs recorded.
func (p *Profile) Runs() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.runs
}

// Steps returns a copy of the per-step totals, in the order the steps
// first ran.
func (p *Profile) Steps() []StepTime {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]StepTime, len(p.steps))
	for i, s := range p.steps {
		s.Nodes = slices.Clone(s.Nodes)
		s.Values = slices.Clone(s.Values)
		s.Shape = slices.Clone(s.Shape)
		out[i] = s
	}
	return out
}

// Reset forgets everything recorded.
func (p *Profile) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.runs, p.index, p.steps = 0, nil, nil
}

// record adds one run of plan pl whose step i took durs[i].
func (p *Profile) record(pl *plan, durs []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.index == nil {
		p.index = map[*step]int{}
	}
	p.runs++
	for i := range pl.steps {
		st := &pl.steps[i]
		if st.dead {
			continue
		}
		j, ok := p.index[st]
		if !ok {
			j = len(p.steps)
			p.index[st] = j
			p.steps = append(p.steps, pl.stepTime(st))
		}
		p.steps[j].Calls++
		p.steps[j].Total += durs[i]
	}
}

// stepTime describes st with no time recorded yet.
func (pl *plan) stepTime(st *step) StepTime {
	ops := []string{opLabel(st.node)}
	names := []string{st.node.Name}
	values := []string{firstOutput(st.node)}
	for _, f := range st.fused {
		ops = append(ops, f.Op)
		names = append(names, f.Name)
		values = append(values, firstOutput(f))
	}
	var shape []int
	if len(st.out) > 0 && st.out[0] >= 0 {
		shape = slices.Clone(pl.values[st.out[0]].shape)
	}
	return StepTime{Nodes: names, Values: values, Op: strings.Join(ops, "+"), Kernel: st.kernelName(), Shape: shape}
}

func firstOutput(n *ir.Node) string {
	if len(n.Outputs) == 0 {
		return ""
	}
	return n.Outputs[0]
}

// kernelName says how a step runs: a fast kernel's own name when it has
// one, else its type's.
func (st *step) kernelName() string {
	switch st.kind {
	case stepFast:
		if n, ok := st.k.(interface{ name() string }); ok {
			return n.name()
		}
		s := strings.TrimPrefix(strings.TrimPrefix(fmt.Sprintf("%T", st.k), "*"), "runtime.")
		return strings.TrimPrefix(s, "fast")
	case stepAlias:
		return "alias"
	case stepRef:
		return "reference"
	case stepDynamic:
		return "dynamic"
	}
	return "?"
}
