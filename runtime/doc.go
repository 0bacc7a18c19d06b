// Package runtime executes runinfer IR graphs.
//
// A Session is built once from an ir.Model and then run many times, from any
// number of goroutines at once: Run keeps all per-call state on its own stack
// and never mutates the session. Float16 and bfloat16 models are lowered at
// session creation to compute in float32 inside, while their inputs and
// outputs keep the declared 16-bit types.
//
// Each operator lives in an op_*.go file that registers an infer function
// (output types and shapes, with attribute validation) and a run function
// (the pure-Go reference computation). This package must not import the
// protobuf bindings or the onnx package: it sees only the IR.
package runtime
