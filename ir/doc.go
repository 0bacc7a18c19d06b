// Package ir is runinfer's graph intermediate representation: data types,
// tensors, (possibly symbolic) shapes, attributes, values, nodes and graphs.
//
// The importer (package onnx) translates ONNX protobuf into this IR and back;
// everything downstream (graphopt, runtime) sees only the IR. A node's Op and
// attributes follow ONNX semantics at the default domain's opset CanonicalOpset:
// the importer rewrites older forms (attributes that later became inputs,
// legacy broadcasting, changed axis conventions) so that no later stage needs
// to know which opset a model was exported with.
//
// This package must not import protobuf, onnx, runtime or any kernel package.
package ir

// CanonicalOpset is the ONNX default-domain opset whose operator semantics the
// IR follows. Models imported at older opsets are rewritten to it, and models
// written back declare it.
const CanonicalOpset = 21
