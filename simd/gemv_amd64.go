//go:build amd64 && !purego

package simd

// The amd64 Gemv kernels by number of vectors (see simd/_gen/gemv.go):
// AVX2 multiplies each weight with up to 2 vectors, AVX-512 with up to 4.
var (
	gemvAVX2Passes   = []gemvPass{f32Gemv4x1AVX2Asm, f32Gemv4x2AVX2Asm}
	gemvAVX512Passes = []gemvPass{f32Gemv4x1AVX512Asm, f32Gemv4x2AVX512Asm, f32Gemv4x3AVX512Asm, f32Gemv4x4AVX512Asm}
)

// gemvAVX2 is the avx2 tier's Gemv: passes of up to 2 vectors behind
// checkGemv.
func gemvAVX2(y []float32, ldy int, w []float32, ldw int, x []float32, ldx int, m, n, k int) {
	checkGemv(len(y), len(w), len(x), ldy, ldw, ldx, m, n, k)
	gemvPasses(gemvAVX2Passes, y, ldy, w, ldw, x, ldx, m, n, k)
}

// gemvAVX512 is the avx512 tier's Gemv: passes of up to 4 vectors behind
// checkGemv.
func gemvAVX512(y []float32, ldy int, w []float32, ldw int, x []float32, ldx int, m, n, k int) {
	checkGemv(len(y), len(w), len(x), ldy, ldw, ldx, m, n, k)
	gemvPasses(gemvAVX512Passes, y, ldy, w, ldw, x, ldx, m, n, k)
}

// gemvPass is an unchecked Gemv kernel for a fixed number of vectors.
type gemvPass func(y []float32, ldy int, w []float32, ldw int, x []float32, ldx int, n, k int)

// gemvPasses runs a checked Gemv call as passes of up to len(fns) vectors,
// fns[c-1] computing c of them: as many full passes as fit, then one of
// the vectors left. Each vector's sums thus depend on m, but not on n.
func gemvPasses(fns []gemvPass, y []float32, ldy int, w []float32, ldw int, x []float32, ldx int, m, n, k int) {
	if m == 0 || n == 0 {
		return
	}
	for v := 0; v < m; v += len(fns) {
		c := min(len(fns), m-v)
		fns[c-1](y[v*ldy:], ldy, w, ldw, x[v*ldx:], ldx, n, k)
	}
}
