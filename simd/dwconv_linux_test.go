//go:build linux

package simd

import (
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"
)

// guardPage returns n floats that end exactly where an inaccessible page
// begins, so that a kernel reading or writing past them faults (the other
// tests' guard values catch writes only). The memory is unmapped when the
// test ends.
func guardPage(t *testing.T, n int) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (4*n + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, size+page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size:], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[size-4*n])), n)
}

// TestKernelsGuardPage runs DWConv and Gather on every tier with src and
// dst ending at an inaccessible page, for rows up to 70 floats: the masked
// and scalar remainders must touch nothing past what the loops use.
func TestKernelsGuardPage(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	src := guardPage(t, 4096)
	dst := guardPage(t, 4096)
	for i := range src {
		src[i] = r.Float32()
	}
	offs, w := []int{0, 1, 2, 9}, []float32{1, 2, 3, 4, 5, 6, 7, 8}
	for _, tier := range Available() {
		k := ForTier(tier)
		for n := 1; n <= 70; n++ {
			for _, rows := range []int{1, 2} {
				// DWConv: rows of n outputs, src rows 11 apart.
				need := (rows-1)*11 + 9 + n
				k.DWConv(dst[len(dst)-((rows-1)*n+n):], src[len(src)-need:], offs, w[:rows*4], w[:rows], rows, n, n, 11)
				for stride := 1; stride <= 2; stride++ {
					span := (n-1)*stride + 1
					k.Gather(dst[len(dst)-((rows-1)*(n+1)+n):], src[len(src)-((rows-1)*(span+2)+span):], rows, n, n+1, span+2, stride)
				}
			}
		}
	}
}
