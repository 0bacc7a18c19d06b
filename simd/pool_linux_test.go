//go:build linux

package simd

import (
	"math/rand/v2"
	"testing"
)

// TestPool2DGuardPage runs MaxPool2D and AvgPool2D on every tier with
// dst, src, tmp and scale each ending at an inaccessible page, for widths
// 1 to 40 and the windows the assembly handles: the masked remainders
// must touch nothing past what the loops use.
func TestPool2DGuardPage(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	const n = 1 << 14
	src, dst, tmp, scale := guardPage(t, n), guardPage(t, n), guardPage(t, n), guardPage(t, n)
	for i := range src {
		src[i], scale[i] = r.Float32(), r.Float32()
	}
	for _, tier := range Available() {
		k := ForTier(tier)
		for w := 1; w <= 40; w++ {
			for _, c := range []poolCase{
				newPoolCase(2, 5, w, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, false),
				newPoolCase(2, 6, w, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, true),
				newPoolCase(2, 6, w, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, true),
				newPoolCase(1, 4, w, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, false),
			} {
				g := c.g
				in, out, sc := c.planes*g.H*g.W, c.planes*g.OH*g.OW, g.OH*g.OW
				k.MaxPool2D(dst[n-out:], src[n-in:], tmp[n-g.TempLen():], c.planes, &g)
				k.AvgPool2D(dst[n-out:], src[n-in:], tmp[n-g.TempLen():], scale[n-sc:], c.planes, &g)
			}
		}
	}
}
