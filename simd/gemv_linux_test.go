//go:build linux

package simd

import (
	"math/rand/v2"
	"testing"
)

// TestGemvGuardPage runs every tier's Gemv with w and x ending at an
// inaccessible page (guardPage), for k up to 70, 1 to 6 rows and 1 to 5
// vectors: the vectors left over and the masked tail must read nothing
// past the last row and the last vector.
func TestGemvGuardPage(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	w := guardPage(t, 8192)
	x := guardPage(t, 1024)
	for i := range w {
		w[i] = r.Float32()
	}
	for i := range x {
		x[i] = r.Float32()
	}
	y := make([]float32, 64)
	for _, tier := range Available() {
		k := ForTier(tier)
		for kd := 1; kd <= 70; kd++ {
			for n := 1; n <= 6; n++ {
				for m := 1; m <= 5; m++ {
					ldw, ldx := kd+3, kd+1
					k.Gemv(y, 8, w[len(w)-((n-1)*ldw+kd):], ldw, x[len(x)-((m-1)*ldx+kd):], ldx, m, n, kd)
				}
			}
		}
	}
}
