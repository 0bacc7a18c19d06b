package runtime

import (
	"sort"
	"unsafe"

	"github.com/runinfer/runinfer/ir"
)

// This file assigns the intermediate values of a plan to offsets in one
// byte arena, by liveness, and creates the typed views a run uses.

// arenaAlign is the alignment of every buffer in an arena (a cache line,
// and enough for any SIMD load).
const arenaAlign = 64

// storage is one buffer of the arena: one or more values share it (zero-copy
// aliases such as Reshape, and outputs computed in place over an input whose
// life ends at that step).
type storage struct {
	bytes       int // size, rounded up to arenaAlign
	first, last int // steps during which it is live (inclusive)
	off         int // byte offset in the arena
}

// assignOffsets places storages in an arena by a greedy best-fit over their
// lifetimes in step order: at each step the buffers that start there take
// the smallest free block that fits (growing the arena when none does), and
// then the buffers whose last reader is that step are released. A step's
// outputs therefore never overlap its inputs (unless they share a storage on
// purpose), nor each other. It returns the arena size in bytes.
func assignOffsets(st []storage, steps int) int {
	starts := make([][]int, steps+1)
	ends := make([][]int, steps+1)
	for i, s := range st {
		f := min(max(s.first, 0), steps)
		l := min(max(s.last, f), steps)
		starts[f] = append(starts[f], i)
		ends[l] = append(ends[l], i)
	}
	var fl freeList
	for t := 0; t <= steps; t++ {
		// Larger buffers first: they are the hardest to fit.
		sort.SliceStable(starts[t], func(a, b int) bool { return st[starts[t][a]].bytes > st[starts[t][b]].bytes })
		for _, i := range starts[t] {
			st[i].off = fl.alloc(st[i].bytes)
		}
		for _, i := range ends[t] {
			fl.release(st[i].off, st[i].bytes)
		}
	}
	return fl.size
}

// freeList tracks the free blocks of a growing arena, sorted by offset.
type freeList struct {
	blocks []block
	size   int
}

type block struct{ off, n int }

// alloc returns the offset of n bytes: the smallest free block that fits,
// else a free block at the end grown to fit, else new space at the end.
func (f *freeList) alloc(n int) int {
	if n == 0 {
		return 0
	}
	best := -1
	for i, b := range f.blocks {
		if b.n >= n && (best < 0 || b.n < f.blocks[best].n) {
			best = i
		}
	}
	if best >= 0 {
		b := &f.blocks[best]
		off := b.off
		b.off += n
		b.n -= n
		if b.n == 0 {
			f.blocks = append(f.blocks[:best], f.blocks[best+1:]...)
		}
		return off
	}
	if k := len(f.blocks) - 1; k >= 0 && f.blocks[k].off+f.blocks[k].n == f.size {
		off := f.blocks[k].off
		f.blocks = f.blocks[:k]
		f.size = off + n
		return off
	}
	off := f.size
	f.size += n
	return off
}

// release returns [off, off+n) to the free list, merging neighbours.
func (f *freeList) release(off, n int) {
	if n == 0 {
		return
	}
	i := sort.Search(len(f.blocks), func(i int) bool { return f.blocks[i].off > off })
	f.blocks = append(f.blocks, block{})
	copy(f.blocks[i+1:], f.blocks[i:])
	f.blocks[i] = block{off, n}
	if i+1 < len(f.blocks) && f.blocks[i].off+f.blocks[i].n == f.blocks[i+1].off {
		f.blocks[i].n += f.blocks[i+1].n
		f.blocks = append(f.blocks[:i+1], f.blocks[i+2:]...)
	}
	if i > 0 && f.blocks[i-1].off+f.blocks[i-1].n == f.blocks[i].off {
		f.blocks[i-1].n += f.blocks[i].n
		f.blocks = append(f.blocks[:i], f.blocks[i+1:]...)
	}
}

// roundUp rounds n up to a multiple of arenaAlign.
func roundUp(n int) int { return (n + arenaAlign - 1) &^ (arenaAlign - 1) }

// arenaBytes allocates an arena of n bytes whose start is aligned to
// arenaAlign.
func arenaBytes(n int) []byte {
	if n == 0 {
		return nil
	}
	raw := make([]byte, n+arenaAlign)
	skip := int(-uintptr(unsafe.Pointer(&raw[0])) & (arenaAlign - 1))
	return raw[skip : skip+n : skip+n]
}

// arenaEligible reports whether values of type dt can live in a byte arena:
// fixed-size element types without pointers.
func arenaEligible(dt ir.DType) bool {
	switch dt {
	case ir.Float32, ir.Float64, ir.Int8, ir.Uint8, ir.Int16, ir.Uint16,
		ir.Int32, ir.Uint32, ir.Int64, ir.Uint64, ir.Bool:
		return true
	}
	return false
}

// view returns n elements of type dt stored at buf[off:] as the slice type
// ir.Tensor uses for dt. dt must be arenaEligible and the bytes in range.
func view(dt ir.DType, buf []byte, off, n int) any {
	if n == 0 {
		d, _ := makeEmpty(dt)
		return d
	}
	p := unsafe.Pointer(&buf[off])
	switch dt {
	case ir.Float32:
		return unsafe.Slice((*float32)(p), n)
	case ir.Float64:
		return unsafe.Slice((*float64)(p), n)
	case ir.Int8:
		return unsafe.Slice((*int8)(p), n)
	case ir.Uint8:
		return unsafe.Slice((*uint8)(p), n)
	case ir.Int16:
		return unsafe.Slice((*int16)(p), n)
	case ir.Uint16:
		return unsafe.Slice((*uint16)(p), n)
	case ir.Int32:
		return unsafe.Slice((*int32)(p), n)
	case ir.Uint32:
		return unsafe.Slice((*uint32)(p), n)
	case ir.Int64:
		return unsafe.Slice((*int64)(p), n)
	case ir.Uint64:
		return unsafe.Slice((*uint64)(p), n)
	case ir.Bool:
		return unsafe.Slice((*bool)(p), n)
	}
	panic("runtime: view of a type that cannot live in the arena: " + dt.String())
}

// makeEmpty returns an empty slice of dt's Go type.
func makeEmpty(dt ir.DType) (any, error) {
	t, err := ir.NewTensor(dt, []int{0})
	if err != nil {
		return nil, err
	}
	return t.Data, nil
}
