package conformance

import (
	"testing"

	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// importOnly are operators the importer rewrites away entirely.
var importOnly = map[string]bool{"Upsample": true, "Scatter": true}

// TestImporterAndRuntimeAgreeOnOps keeps the importer's operator table and
// the runtime's in step: every op the importer accepts must run (or be
// rewritten away), so a model never loads and then fails at session creation.
func TestImporterAndRuntimeAgreeOnOps(t *testing.T) {
	for _, op := range onnx.SupportedOps() {
		if !runtime.IsSupported(op) && !importOnly[op] {
			t.Errorf("the importer accepts %s but the runtime does not implement it", op)
		}
	}
	for _, op := range runtime.SupportedOps() {
		if !onnx.IsSupportedOp(op) {
			t.Errorf("the runtime implements %s but the importer does not accept it", op)
		}
	}
}
