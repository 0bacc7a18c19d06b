//go:build linux

package simd

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"unsafe"
)

// guardPageBefore returns n floats that start exactly where an
// inaccessible page ends, so that a kernel reading before them faults.
// The memory is unmapped when the test ends.
func guardPageBefore(t *testing.T, n int) []float32 {
	t.Helper()
	page := syscall.Getpagesize()
	size := (4*n + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, page+size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skipf("mmap: %v", err)
	}
	t.Cleanup(func() { syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[:page], syscall.PROT_NONE); err != nil {
		t.Skipf("mprotect: %v", err)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&mem[page])), n)
}

// TestDWRowsGuardPage runs every tier's DWRows on padded convolution rows
// whose src starts right after, or ends right before, an inaccessible
// page, and whose dst ends right before one: the masked loads of the
// padded columns, which lie outside src, and the masked stores of a
// row's last vector must not touch them.
func TestDWRowsGuardPage(t *testing.T) {
	r := rand.New(rand.NewPCG(37, 38))
	const room = 8192
	before, after := guardPageBefore(t, room), guardPage(t, room)
	dst := guardPage(t, room)
	for i := range before {
		before[i], after[i] = r.Float32(), r.Float32()
	}
	for _, tier := range Available() {
		k := ForTier(tier)
		for n := 1; n <= 70; n++ {
			for _, kw := range []int{3, 5} {
				pl := kw / 2
				w := n // same padding: output width = input width
				sw := 1 + n%2
				c := dwConvRowsCase(3, kw, 1, 1, pl, sw, w*sw, n, 2, 2, w*sw).finish(fmt.Sprintf("n%d k%d s%d", n, kw, sw), 0)
				b := c.b
				b.Min, b.Max = dwClamps[1][0], dwClamps[1][1]
				wt := make([]float32, b.Chans*b.LDW)
				for i := range wt {
					wt[i] = r.Float32()
				}
				dlen := (b.Chans-1)*b.DstChan + (b.Rows-1)*b.DstRow + b.N
				k.DWRows(dst[room-dlen:], before[:c.srcLen], wt, nil, &b)
				k.DWRows(dst[room-dlen:], after[room-c.srcLen:], wt, nil, &b)
			}
		}
	}
}
