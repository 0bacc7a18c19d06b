// Package ref holds naive float64 oracles for tests: the slowest, most
// obvious loops that define what the fast kernels must compute. It is never
// used by production code.
//
// Oracles return the exact-as-float64 value of each output and its
// magnitude, the sum of the absolute values of every term that went into
// it. A float32 kernel that sums n terms in any order, with or without
// fused multiply-adds, is within (n+1)·2⁻²⁴·magnitude of the exact value
// (the classic bound γₙ·Σ|terms|), so tests can use a tolerance that is
// rigorous rather than tuned: see Tol.
package ref

import "math"

// Tol is a rigorous error bound for a float32 result computed from terms
// terms whose absolute values sum to mag: (terms+2)·2⁻²³·mag (twice the
// classic γ bound, covering the final rounding to float32 and rounding of
// an activation's product), plus the smallest normal float32 to absorb
// underflow.
func Tol(terms int, mag float64) float64 {
	return float64(terms+2)*math.Ldexp(1, -23)*mag + 0x1p-126
}

// MatMul returns C = A·B (m×n) and its magnitudes for the row-major m×k A
// (element (i, p) at a[i*lda+p]) and k×n B (element (p, j) at b[p*ldb+j]),
// each element of C being sum_p a(i,p)·b(p,j) + bias[i] (bias may be nil)
// + residual[i*n+j] (residual may be nil).
func MatMul(m, n, k int, a []float32, lda int, b []float32, ldb int, bias, residual []float32) (val, mag []float64) {
	val = make([]float64, m*n)
	mag = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, g float64
			for p := 0; p < k; p++ {
				t := float64(a[i*lda+p]) * float64(b[p*ldb+j])
				s += t
				g += math.Abs(t)
			}
			if bias != nil {
				s += float64(bias[i])
				g += math.Abs(float64(bias[i]))
			}
			if residual != nil {
				s += float64(residual[i*n+j])
				g += math.Abs(float64(residual[i*n+j]))
			}
			val[i*n+j], mag[i*n+j] = s, g
		}
	}
	return val, mag
}
