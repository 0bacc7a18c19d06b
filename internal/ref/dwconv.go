package ref

import "math"

// DWConv returns the rows×n block (row-major, element (r, i) at
// val[r*n+i]) that simd.Kernels.DWConv computes, and its magnitudes:
// straight from the definition, with taps = len(offs),
//
//	val[r*n+i] = bias[r] + sum_t w[r*taps+t]·src[r*lds+offs[t]+i]
//
// (bias[r] taken as 0 when bias is nil). Each output has taps product
// terms plus the bias: ref.Tol(taps+1, mag) bounds a float32 kernel's
// error.
func DWConv(src []float32, offs []int, w, bias []float32, rows, n, lds int) (val, mag []float64) {
	taps := len(offs)
	val = make([]float64, rows*n)
	mag = make([]float64, rows*n)
	for r := 0; r < rows; r++ {
		for i := 0; i < n; i++ {
			var s, a float64
			if bias != nil {
				s, a = float64(bias[r]), math.Abs(float64(bias[r]))
			}
			for t, o := range offs {
				p := float64(w[r*taps+t]) * float64(src[r*lds+o+i])
				s += p
				a += math.Abs(p)
			}
			val[r*n+i], mag[r*n+i] = s, a
		}
	}
	return val, mag
}
