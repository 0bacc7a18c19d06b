// Package graphopt rewrites runinfer IR graphs into equivalent, cheaper ones.
//
// Each rewrite lives in its own verb-named file (fold_constants.go,
// fold_batchnorm.go, fuse_conv_activation.go, ...) as a function that
// changes the graph in place and reports whether it changed anything; the
// order in which Optimize runs them, per level, lives in pipeline.go.
// Every pass must keep the graph's outputs numerically the same on every
// input (up to float32 rounding where it refolds arithmetic, as BatchNorm
// folding does); the tests check that by running the graph before and after.
//
// Rewrites never modify a tensor or an attribute value in place: the graph
// may share them with the caller's (see ir.Graph.Clone). They build new ones.
//
// This package sees only the IR: it must not import onnx or protobuf. It may
// not import runtime either, so that the runtime can optimize graphs itself;
// passes that need to evaluate a node or know value shapes get them from an
// Env, which the runtime provides (runtime.OptimizerEnv).
package graphopt

import (
	"fmt"
	"strings"
)

// Level selects how much rewriting Optimize does.
type Level int

// Optimization levels.
const (
	// Default is the zero value: where a Level is optional (as in
	// runtime.Options) it selects All; Optimize treats it as All.
	Default Level = iota
	// None leaves the graph as imported.
	None
	// Basic applies the rewrites standard ONNX can express: Identity,
	// inference-Dropout, no-op pool and dead-node elimination, constant
	// folding (and Reshape targets computed from shapes),
	// BatchNormalization folding and per-channel Mul/Add absorbed into the
	// preceding Conv or Gemm. The result is still a standard ONNX graph.
	Basic
	// All is Basic plus fusions into runtime-only operators (domain
	// "runinfer", such as FusedConv: a Conv with its residual Add and
	// activation), which only the runinfer runtime executes.
	All
)

// Domain is the operator domain of the runtime-only nodes All creates.
const Domain = "runinfer"

// String returns the level's name as ParseLevel reads it.
func (l Level) String() string {
	switch l {
	case Default:
		return "default"
	case None:
		return "none"
	case Basic:
		return "basic"
	case All:
		return "all"
	}
	return fmt.Sprintf("Level(%d)", int(l))
}

// ParseLevel reads a level name: "none", "basic" or "all" (any case).
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none":
		return None, nil
	case "basic":
		return Basic, nil
	case "all":
		return All, nil
	}
	return None, fmt.Errorf("unknown optimization level %q (want none, basic or all)", s)
}

// effective maps Default to All and leaves the other levels alone.
func (l Level) effective() Level {
	if l == Default {
		return All
	}
	return l
}
