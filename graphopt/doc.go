// Package graphopt rewrites runinfer IR graphs into equivalent, cheaper ones.
//
// Each rewrite lives in its own verb-named file (eliminate_identity.go,
// eliminate_dead.go, ...) as a function that changes the graph in place and
// reports whether it changed anything; Optimize lists the passes in order.
// Every pass must keep the graph's outputs numerically the same on every
// input; the tests check that by running the graph before and after.
//
// This package sees only the IR: it must not import onnx or protobuf. It may
// not import runtime either, so that the runtime can optimize graphs itself.
package graphopt

import "github.com/runinfer/runinfer/ir"

// Level selects how much rewriting Optimize does.
type Level int

// Optimization levels.
const (
	// None leaves the graph as imported.
	None Level = iota
	// Basic removes nodes that compute nothing at inference time.
	Basic
)

// Pass is one rewrite: it edits g in place and reports whether it changed it.
type Pass struct {
	Name string
	Run  func(g *ir.Graph) (bool, error)
}

// Passes returns the passes of a level, in the order Optimize runs them.
func Passes(level Level) []Pass {
	if level < Basic {
		return nil
	}
	return []Pass{
		{"eliminate-identity", EliminateIdentity},
		{"eliminate-dropout", EliminateDropout},
		{"eliminate-dead", EliminateDead},
	}
}

// Optimize runs the passes of level over g until none changes it.
func Optimize(g *ir.Graph, level Level) error {
	for round := 0; round < 10; round++ {
		changed := false
		for _, p := range Passes(level) {
			c, err := p.Run(g)
			if err != nil {
				return err
			}
			changed = changed || c
		}
		if !changed {
			break
		}
	}
	return nil
}
