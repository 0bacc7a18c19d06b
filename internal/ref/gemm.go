package ref

import "math"

// GemmTile returns the MR×NR tile (row-major, element (i, j) at
// val[i*nr+j]) that a simd.GemmKernel computes from packed panels, and its
// magnitudes: straight from the definition,
//
//	val[i*nr+j] = (acc ? c0[i*nr+j] : 0) + sum_{p<k} a[p*mr+i]·b[p*nr+j]
//
// where a holds k·mr floats (k-major: the mr values of step p are
// contiguous), b holds k·nr floats (k-major), and c0 is the tile's previous
// contents (read only when acc). Each output has k product terms plus, with
// acc, c0: ref.Tol(k+1, mag) bounds a float32 kernel's error.
func GemmTile(k, mr, nr int, a, b, c0 []float32, acc bool) (val, mag []float64) {
	val = make([]float64, mr*nr)
	mag = make([]float64, mr*nr)
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			var s, g float64
			if acc {
				s = float64(c0[i*nr+j])
				g = math.Abs(s)
			}
			for p := 0; p < k; p++ {
				t := float64(a[p*mr+i]) * float64(b[p*nr+j])
				s += t
				g += math.Abs(t)
			}
			val[i*nr+j], mag[i*nr+j] = s, g
		}
	}
	return val, mag
}
