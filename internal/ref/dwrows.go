package ref

import "math"

// DWRows is the float64 oracle of simd's Kernels.DWRows before its clamp:
// chans×rows×n sums (channel-major, then row) of the bias and the taps t
// whose column range lo[t] <= i < hi[t] holds output i, tap t of channel
// c weighing w[c*ldw+t] and reading src[c*srcChan+r*srcRow+offs[t]+i*stride];
// and the sums of the terms' magnitudes, for the tolerance. bias may be
// empty.
func DWRows(src []float32, offs, lo, hi []int, w []float32, ldw int, bias []float32, chans, rows, n, srcChan, srcRow, stride int) (val, mag []float64) {
	val = make([]float64, chans*rows*n)
	mag = make([]float64, chans*rows*n)
	for c := 0; c < chans; c++ {
		for r := 0; r < rows; r++ {
			for i := 0; i < n; i++ {
				var s, a float64
				if len(bias) > 0 {
					s, a = float64(bias[c]), math.Abs(float64(bias[c]))
				}
				for t, o := range offs {
					if i < lo[t] || i >= hi[t] {
						continue
					}
					p := float64(w[c*ldw+t]) * float64(src[c*srcChan+r*srcRow+o+i*stride])
					s += p
					a += math.Abs(p)
				}
				j := (c*rows+r)*n + i
				val[j], mag[j] = s, a
			}
		}
	}
	return val, mag
}
