package runtime

import (
	"fmt"
	"math"
	"math/bits"
	"slices"
	"sync"
	"unsafe"

	"github.com/runinfer/runinfer/ir"
)

// Backward mode: the trainer's float32 buffer pool.
//
// A training step of a CNN allocates hundreds of megabytes: every op's
// outputs, kept for the backward pass, every gradient, and large scratch.
// Fresh memory costs a page fault per 4 KiB page on its first write and
// the runtime's clearing besides, so a Trainer draws the step's large
// float32 buffers from a gradMem that it keeps across steps: the buffers a
// step used are idle again when it ends, and the next step (same shapes)
// takes them back without faults or clearing.
//
// Ownership. Buffers are handed out by gradCtx (newF32, floats, zerosLike,
// likeF32; gradMem.get for scratch deep inside an op) and belong to the
// call (Step or Forward) in progress. The engine
// counts the references its value and gradient maps hold to each buffer
// and returns a buffer to the idle lists as soon as the count drops to zero
// (a value after its last reader in Forward; a value and its gradient once
// the node that made them has run backward); the rest return when the call
// ends, except the ones that leave it (a StepResult's gradients), which
// are detached: they are the caller's, and the pool forgets them. A view
// of a pooled buffer that the engine cannot identify (a tensor that starts
// inside a buffer rather than at its start) pins the buffer until the call
// ends. Scratch an op allocates through gradCtx and drops is freed by the
// op (gradMem.free) or at the end of the call.
//
// Contents. A buffer asked for with zero set is cleared; otherwise it
// holds stale values from an earlier use, and the op must write every
// element. Tests set poison to fill such buffers with NaNs.
//
// Buffers are grouped in size classes (n rounded up to a multiple of an
// eighth of the power of two below it, so at most 12.5% is wasted); idle
// buffers not used by the current call or the one before are dropped when
// a call ends, so that a change of batch size does not keep the old
// shapes' memory.

// gradMemMin is the smallest buffer (floats) the pool manages; smaller
// ones are ordinary allocations.
const gradMemMin = 1024

// gradMem is a trainer's pool of float32 buffers.
type gradMem struct {
	mu   sync.Mutex
	idle map[int][]*gradBuf    // by class size
	live map[*float32]*gradBuf // handed out during the current call, by first element
	call uint64                // calls ended so far
	st   gradMemStats          // cumulative
	// poison fills every buffer handed out without zeroing with NaNs
	// (tests: an op that reads an element it did not write shows up).
	poison bool
	min    int // the smallest buffer managed (gradMemMin; tests lower it)
}

// gradBuf is one pooled buffer.
type gradBuf struct {
	data   []float32 // the class's full size
	refs   int       // references from the engine's value and gradient maps
	pinned bool      // possibly aliased by a view: kept until the call ends
	last   uint64    // the call that last took it
}

// gradMemStats counts the pool's work.
type gradMemStats struct {
	fresh, reused int   // buffers allocated anew and taken from the idle lists
	freshBytes    int64 // bytes allocated anew
	retained      int64 // bytes held (idle and live) after the last call
}

func newGradMem() *gradMem {
	return &gradMem{idle: map[int][]*gradBuf{}, live: map[*float32]*gradBuf{}, min: gradMemMin}
}

// gradClass is the size class of a buffer of n floats (n >= 1).
func gradClass(n int) int {
	b := bits.Len(uint(n - 1)) // 2^b >= n
	q := 1 << max(b-4, 0)
	return (n + q - 1) / q * q
}

// get returns n floats: cleared when zero is set, else stale.
func (m *gradMem) get(n int, zero bool) []float32 {
	if m == nil || n < max(m.min, 1) {
		return make([]float32, n)
	}
	cl := gradClass(n)
	m.mu.Lock()
	var b *gradBuf
	fresh := false // a new buffer asked for zeroed
	if l := m.idle[cl]; len(l) > 0 {
		b = l[len(l)-1]
		l[len(l)-1] = nil
		m.idle[cl] = l[:len(l)-1]
		m.st.reused++
	} else {
		b = &gradBuf{data: make([]float32, cl)}
		m.st.fresh++
		m.st.freshBytes += int64(cl) * 4
		if zero {
			zero, fresh = false, true // already clear
		}
	}
	b.refs, b.pinned, b.last = 0, false, m.call
	m.live[&b.data[0]] = b
	poison := m.poison
	m.mu.Unlock()
	d := b.data[:n]
	switch {
	case zero:
		clear(d)
	case poison && !fresh:
		nan := float32(math.NaN())
		for i := range d {
			d[i] = nan
		}
	}
	return d
}

// lookup returns the live buffer starting at d's first element (nil: none).
// m.mu is held.
func (m *gradMem) lookup(d []float32) *gradBuf {
	if cap(d) == 0 {
		return nil
	}
	return m.live[unsafe.SliceData(d)]
}

// f32Of returns t's float32 data (nil for other dtypes and nil t).
func f32Of(t *ir.Tensor) []float32 {
	if t == nil {
		return nil
	}
	d, _ := t.Data.([]float32)
	return d
}

// ref records one more map reference to t's buffer. A float32 tensor
// that is not a pooled buffer but overlaps one (a view) pins that buffer.
func (m *gradMem) ref(t *ir.Tensor) {
	d := f32Of(t)
	if m == nil || cap(d) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.lookup(d); b != nil {
		b.refs++
		return
	}
	for _, b := range m.overlapping(d) {
		b.pinned = true
	}
}

// unref drops one map reference to t's buffer, returning the buffer to the
// idle lists when none is left (and it is not pinned).
func (m *gradMem) unref(t *ir.Tensor) {
	d := f32Of(t)
	if m == nil || cap(d) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.lookup(d)
	if b == nil {
		return
	}
	if b.refs > 0 {
		b.refs--
	}
	if b.refs == 0 && !b.pinned {
		m.putLocked(b)
	}
}

// drop returns t's buffer to the idle lists when no map references it
// (a gradient that was added into another and is not used again).
func (m *gradMem) drop(t *ir.Tensor) { m.free(f32Of(t)) }

// exclusive reports whether t is a whole live buffer referenced once by
// the engine's maps (so that, once the map entry is dropped, nothing else
// can read it).
func (m *gradMem) exclusive(t *ir.Tensor) bool {
	d := f32Of(t)
	if m == nil || cap(d) == 0 {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.lookup(d)
	return b != nil && b.refs == 1 && !b.pinned
}

// free returns scratch the caller took with get and no longer uses (no
// tensor may refer to it).
func (m *gradMem) free(d []float32) {
	if m == nil || cap(d) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.lookup(d); b != nil && b.refs == 0 && !b.pinned {
		m.putLocked(b)
	}
}

// detach removes t's buffer from the pool: it leaves the call (a result
// handed to the caller) and is never reused.
func (m *gradMem) detach(t *ir.Tensor) {
	d := f32Of(t)
	if m == nil || cap(d) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.lookup(d); b != nil {
		delete(m.live, &b.data[0])
		return
	}
	for _, b := range m.overlapping(d) {
		delete(m.live, &b.data[0])
	}
}

// overlapping returns the live buffers d's memory overlaps. m.mu is held.
func (m *gradMem) overlapping(d []float32) []*gradBuf {
	var out []*gradBuf
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(d)))
	hi := lo + uintptr(cap(d))*4
	for p, b := range m.live {
		blo := uintptr(unsafe.Pointer(p))
		if lo < blo+uintptr(len(b.data))*4 && blo < hi {
			out = append(out, b)
		}
	}
	return out
}

// putLocked moves a live buffer to the idle lists. m.mu is held.
func (m *gradMem) putLocked(b *gradBuf) {
	delete(m.live, &b.data[0])
	cl := len(b.data)
	m.idle[cl] = append(m.idle[cl], b)
}

// endCall returns every buffer still live to the idle lists and drops the
// idle buffers that neither this call nor the one before used.
func (m *gradMem) endCall() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range m.live {
		cl := len(b.data)
		m.idle[cl] = append(m.idle[cl], b)
	}
	clear(m.live)
	var held int64
	for cl, l := range m.idle {
		l = slices.DeleteFunc(l, func(b *gradBuf) bool { return b.last+1 < m.call })
		if len(l) == 0 {
			delete(m.idle, cl)
			continue
		}
		m.idle[cl] = l
		held += int64(cl) * 4 * int64(len(l))
	}
	m.st.retained = held
	m.call++
}

// stats returns the pool's counters.
func (m *gradMem) stats() gradMemStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st
}

// String describes the counters (for test failures).
func (s gradMemStats) String() string {
	return fmt.Sprintf("%d fresh (%d MB), %d reused, %d MB retained", s.fresh, s.freshBytes>>20, s.reused, s.retained>>20)
}

// The gradCtx side: ops allocate through these, which fall back to
// ordinary (zeroed) allocations when the context has no pool (tests that
// call an op directly).

// floats returns n floats from the step's pool: zeroed when zero is set,
// otherwise with unspecified contents (the caller writes every element).
func (c *gradCtx) floats(n int, zero bool) []float32 {
	if c == nil {
		return make([]float32, n)
	}
	return c.mem.get(n, zero)
}

// newF32 returns a float32 tensor of shape from the step's pool (zeroed
// when zero is set), failing when it exceeds the step's element limit.
func (c *gradCtx) newF32(what string, shape []int, zero bool) (*ir.Tensor, error) {
	if err := ghCheckLimit(c, what, shape); err != nil {
		return nil, err
	}
	n, err := ir.NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return ir.FromFloat32(slices.Clone(shape), c.floats(n, zero))
}

// zerosLike returns a zeroed float32 tensor of t's shape from the step's
// pool.
func (c *gradCtx) zerosLike(t *ir.Tensor) *ir.Tensor {
	return c.shaped(t, true)
}

// likeF32 returns a float32 tensor of t's shape from the step's pool with
// unspecified contents: the caller writes every element.
func (c *gradCtx) likeF32(t *ir.Tensor) *ir.Tensor {
	return c.shaped(t, false)
}

func (c *gradCtx) shaped(t *ir.Tensor, zero bool) *ir.Tensor {
	z, err := ir.FromFloat32(slices.Clone(t.Shape), c.floats(t.Len(), zero))
	if err != nil {
		// t exists, so a tensor of its shape can be made.
		panic(fmt.Sprintf("runtime: tensor like %v: %v", t.Shape, err))
	}
	return z
}
