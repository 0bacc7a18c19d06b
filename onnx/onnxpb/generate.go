// Package onnxpb holds the Go bindings for the ONNX protobuf schema, generated
// with protoc-gen-go from the onnx.proto that Debian's libonnx-dev installs.
//
// The proto package is renamed from "onnx" to "runinfer.onnx" so that a
// program linking another ONNX binding (which registers "onnx.ModelProto" in
// the global protobuf registry) does not panic at init with a name conflict.
// Nothing outside package onnx should import this package: the rest of
// runinfer works on the graph IR in package ir.
//
// Regenerate with `go generate ./onnx/onnxpb` (needs protoc and
// /usr/include/onnx/onnx.proto: apt-get install protobuf-compiler libonnx-dev).
package onnxpb

//go:generate sh gen.sh
