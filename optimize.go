package runinfer

import (
	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/runtime"
)

// Optimization levels for Options.Optimize and OptimizeModel; see package
// graphopt. The zero value of Options.Optimize means OptAll.
const (
	OptNone  = graphopt.None
	OptBasic = graphopt.Basic
	OptAll   = graphopt.All
)

// OptimizeModel returns a copy of m rewritten by the graphopt passes of
// level that standard ONNX can express (constant folding, Identity, Dropout
// and dead-node elimination, BatchNormalization folding, per-channel
// scale/shift absorption). All's fusions into runtime-only operators are
// left out, so the result is a standard ONNX model any runtime loads (save
// it with onnx.Save); its outputs equal m's up to float32 rounding. m is not
// changed. This is what `runinfer opt` does.
func OptimizeModel(m *ir.Model, level graphopt.Level) (*ir.Model, error) {
	out := *m
	out.Graph = m.Graph.Clone()
	if err := runtime.Optimize(out.Graph, level, true); err != nil {
		return nil, err
	}
	return &out, nil
}
