//go:build !amd64 || purego

package simd

// peakLoop returns nil: without assembly every tier uses the portable
// scalar loop.
func peakLoop(Tier) func(n int) (flops int) { return nil }
