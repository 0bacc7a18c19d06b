//go:build !linux

package simd

// osYield does nothing here: spinYield's runtime.Gosched is all these
// systems get (on Linux it also yields the OS thread; see yield_linux.go).
func osYield() {}
