package simd

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolRuns checks that For covers [0, n) exactly once with non-empty
// runs of at most poolGrain indices, for counts around the grain's steps,
// with the workers spinning (back-to-back calls) and parked (a pause
// longer than poolSpin before the call).
func TestPoolRuns(t *testing.T) {
	for _, threads := range []int{2, 3, 4} {
		p := NewPool(threads)
		for _, n := range []int{1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 1000, 4099} {
			for _, pause := range []bool{false, true} {
				if pause {
					time.Sleep(2 * poolSpin)
				}
				g := poolGrain(n, threads)
				hits := make([]atomic.Int32, n)
				var bad atomic.Int32
				p.For(n, func(lo, hi int) {
					if lo < 0 || hi > n || lo >= hi || hi-lo > g {
						bad.Add(1)
						return
					}
					for i := lo; i < hi; i++ {
						hits[i].Add(1)
					}
				})
				if b := bad.Load(); b != 0 {
					t.Fatalf("threads %d n %d: %d runs out of range or longer than %d", threads, n, b, g)
				}
				for i := range hits {
					if h := hits[i].Load(); h != 1 {
						t.Fatalf("threads %d n %d pause %v: index %d ran %d times", threads, n, pause, i, h)
					}
				}
			}
		}
		p.Close()
	}
}

// TestPoolGrain checks the grain's bounds: at least 1, and at least 8
// runs per thread whenever there are that many indices.
func TestPoolGrain(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 8} {
		for n := 1; n < 3000; n += 7 {
			g := poolGrain(n, threads)
			if g < 1 || (n >= 8*threads && ceilDiv(n, g) < 8*threads) {
				t.Fatalf("poolGrain(%d, %d) = %d", n, threads, g)
			}
		}
	}
}
