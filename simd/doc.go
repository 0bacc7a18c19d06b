// Package simd holds runinfer's compute kernels and chooses, once per
// process, the best tier this CPU supports:
//
//	avx512  AVX-512F (amd64, only when the OS saves the zmm state)
//	avx2    AVX2 + FMA (amd64)
//	neon    ASIMD (arm64)
//	generic pure Go, any platform
//
// A tier is a Kernels table: filled in ascending order (generic first, then
// each higher tier overwrites the slots it improves), chosen once and never
// per element. RUNINFER_SIMD=generic|avx2|avx512|neon lowers the tier (it
// never raises it above what the CPU has); building with -tags purego
// compiles the assembly out. Kernel IDs name the whole tuple, as in
// f32-gemm-6x16-avx2, and files follow them.
//
// The amd64 assembly is generated with avo by the program in _gen (its own
// go.mod, so avo never enters users' go.sum); the arm64 assembly is written
// by hand. Every kernel of every tier is tested against the naive float64
// oracles in internal/ref.
//
// This package must not import ir, onnx or runtime.
package simd
