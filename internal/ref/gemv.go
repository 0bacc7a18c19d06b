package ref

import "math"

// Dense returns Y (m×n, element (v, i) at val[v*n+i]) and its magnitudes
// for a fully connected layer with row-major weights: straight from the
// definition,
//
//	val[v*n+i] = alpha·Σ_{p<k} w[i*ldw+p]·x[v*ldx+p] + bias[i]
//
// (bias may be nil), the weights being n rows of k at stride ldw and the m
// inputs k values at stride ldx. Each output has k product terms, the
// scaling by alpha and the bias: ref.Tol(k+2, mag) bounds a float32
// kernel's error before any activation.
func Dense(m, n, k int, w []float32, ldw int, x []float32, ldx int, alpha float32, bias []float32) (val, mag []float64) {
	val = make([]float64, m*n)
	mag = make([]float64, m*n)
	a := float64(alpha)
	for v := 0; v < m; v++ {
		for i := 0; i < n; i++ {
			var s, g float64
			for p := 0; p < k; p++ {
				t := float64(w[i*ldw+p]) * float64(x[v*ldx+p])
				s += t
				g += math.Abs(t)
			}
			s, g = a*s, math.Abs(a)*g
			if bias != nil {
				s += float64(bias[i])
				g += math.Abs(float64(bias[i]))
			}
			val[v*n+i], mag[v*n+i] = s, g
		}
	}
	return val, mag
}
