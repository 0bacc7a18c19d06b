package graphopt

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
)

// Pass is one rewrite: it edits g in place and reports whether it changed it.
// env may be nil (a pass that needs it then does what it can without).
type Pass struct {
	Name string
	Run  func(g *ir.Graph, env *Env) (bool, error)
	// RuntimeOnly marks a pass whose result uses runtime-only operators
	// (domain "runinfer"): skipped when Env.Portable is set.
	RuntimeOnly bool
}

// noEnv adapts a pass that needs no Env.
func noEnv(f func(g *ir.Graph) (bool, error)) func(*ir.Graph, *Env) (bool, error) {
	return func(g *ir.Graph, _ *Env) (bool, error) { return f(g) }
}

// Passes returns the passes of a level, in the order Optimize runs them
// (each round runs them all; rounds repeat until none changes the graph).
// This is the one place the pipeline order is written down.
func Passes(level Level) []Pass {
	level = level.effective()
	if level < Basic {
		return nil
	}
	passes := []Pass{
		{Name: "eliminate-identity", Run: noEnv(EliminateIdentity)},
		{Name: "eliminate-dropout", Run: noEnv(EliminateDropout)},
		{Name: "eliminate-noop-pool", Run: noEnv(EliminateNoopPool)},
		{Name: "simplify-reshape", Run: SimplifyReshape},
		{Name: "fold-constants", Run: FoldConstants},
		{Name: "fold-batchnorm", Run: FoldBatchNorm},
		{Name: "absorb-scale-shift", Run: AbsorbScaleShift},
		{Name: "eliminate-dead", Run: noEnv(EliminateDead)},
	}
	if level >= All {
		passes = append(passes,
			// The residual first: FusedConv computes act(conv + Z), so the
			// activation after an Add joins the node the Add became.
			Pass{Name: "fuse-conv-add", Run: FuseConvAdd, RuntimeOnly: true},
			Pass{Name: "fuse-conv-activation", Run: FuseConvActivation, RuntimeOnly: true},
		)
	}
	return passes
}

// maxRounds bounds the rounds of Optimize; each pass only shrinks the graph
// or replaces nodes by fewer, so a handful of rounds reach the fixed point.
const maxRounds = 10

// Optimize runs the passes of level over g until none changes it, without an
// Env: nodes are not evaluated (constant folding does nothing) and shapes are
// unknown. The runtime calls OptimizeWith with its own Env.
func Optimize(g *ir.Graph, level Level) error { return OptimizeWith(g, level, nil) }

// OptimizeWith runs the passes of level over g, in place, until none changes
// it. g must be a valid graph (see ir.Graph.Validate, which it calls first to
// order the nodes); env supplies node evaluation and shapes (nil: none).
func OptimizeWith(g *ir.Graph, level Level, env *Env) error {
	passes := Passes(level)
	if len(passes) == 0 {
		return nil
	}
	if err := g.Validate(); err != nil {
		return fmt.Errorf("graphopt: %w", err)
	}
	for round := 0; round < maxRounds; round++ {
		changed := false
		for _, p := range passes {
			if p.RuntimeOnly && env != nil && env.Portable {
				continue
			}
			c, err := p.Run(g, env)
			if err != nil {
				return fmt.Errorf("graphopt: %s: %w", p.Name, err)
			}
			changed = changed || c
		}
		if !changed {
			break
		}
	}
	return nil
}
