// Package runtime executes runinfer IR graphs.
//
// A Session is built once from an ir.Model and then run many times, from any
// number of goroutines at once. Float16 and bfloat16 models are lowered at
// session creation to compute in float32 inside, while their inputs and
// outputs keep the declared 16-bit types.
//
// Execution goes through a plan compiled once per input-shape signature
// (plan.go): shapes resolved, a fast implementation chosen per node (Conv,
// Gemm and MatMul on the simd package's packed kernels with weights packed
// once, fused bias/activation/residual epilogues, pooling, in-place
// element-wise ops, zero-copy reshapes), every intermediate placed in one
// arena by liveness (arena.go). Plans are immutable and cached (a small LRU
// under a mutex); each Run takes a per-run arena from a pool, so steady-state
// runs allocate only their outputs, and intra-op parallelism uses one worker
// pool per session (Options.Threads).
//
// Each operator also lives in an op_*.go file that registers an infer
// function (output types and shapes, with attribute validation) and a run
// function: the pure-Go reference computation, used where no fast path
// applies and, with Options.Reference, as the oracle the fast paths are
// tested against. This package must not import the protobuf bindings or the
// onnx package: it sees only the IR.
package runtime
