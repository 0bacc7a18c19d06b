// Package runinfer loads ONNX convolutional networks and runs them on the CPU
// in pure Go, with no native dependencies.
//
// The few lines an embedding program needs:
//
//	sess, err := runinfer.Open("model.onnx", nil)
//	if err != nil { ... }
//	x, _ := runinfer.NewTensor([]int{1, 3, 224, 224}, pixels)
//	outs, err := sess.Run(ctx, map[string]*runinfer.Tensor{sess.Inputs()[0].Name: x})
//
// A Session is safe for concurrent use by many goroutines. The packages
// beneath show the data flow: onnx (importer) -> ir (graph IR) -> runtime
// (session and kernels); imageprep turns photos into input tensors.
package runinfer

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// Session runs one model; see runtime.Session.
type Session = runtime.Session

// Options configures a Session; see runtime.Options.
type Options = runtime.Options

// Tensor is a dense tensor; see ir.Tensor.
type Tensor = ir.Tensor

// Open loads an ONNX model file (external data is read from its directory)
// and prepares a session for it.
func Open(path string, opts *Options) (*Session, error) {
	m, err := onnx.Load(path)
	if err != nil {
		return nil, err
	}
	s, err := runtime.NewSession(m, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// OpenBytes prepares a session for a serialized ONNX model held in memory.
// Models with external data need Open (or onnx.DecodeOptions with Dir).
func OpenBytes(model []byte, opts *Options) (*Session, error) {
	m, err := onnx.Decode(model)
	if err != nil {
		return nil, err
	}
	return runtime.NewSession(m, opts)
}

// OpenModel prepares a session for a model already in IR form.
func OpenModel(m *ir.Model, opts *Options) (*Session, error) { return runtime.NewSession(m, opts) }

// NewTensor wraps float32 data (not copied) with a shape.
func NewTensor(shape []int, data []float32) (*Tensor, error) { return ir.FromFloat32(shape, data) }
