package main

import (
	"errors"
	"io/fs"
	"strings"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// wrapped is an error with a rewritten message that still unwraps to its
// cause.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

// withPath returns err's message without the package prefix, starting with
// path (added unless the message already starts with it).
func withPath(path string, err error, pkgPrefix string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &wrapped{path + ": no such file", err}
	}
	msg := strings.TrimPrefix(err.Error(), pkgPrefix)
	if !strings.HasPrefix(msg, path) {
		msg = path + ": " + msg
	}
	return &wrapped{msg, err}
}

// loadModel reads an ONNX model file, or for defaultModelArg the embedded
// default model.
func loadModel(path string) (*ir.Model, error) {
	if path == defaultModelArg {
		return loadDefaultModel()
	}
	m, err := onnx.Load(path)
	if err != nil {
		return nil, withPath(path, err, "onnx: ")
	}
	return m, nil
}

// openSession loads a model and prepares a session for it (opts may be nil).
func openSession(path string, opts *runtime.Options) (*ir.Model, *runtime.Session, error) {
	m, err := loadModel(path)
	if err != nil {
		return nil, nil, err
	}
	s, err := runtime.NewSession(m, opts)
	if err != nil {
		return nil, nil, withPath(path, err, "runtime: ")
	}
	return m, s, nil
}
