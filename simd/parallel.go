package simd

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Parallel runs independent pieces of work, possibly on several goroutines.
// A nil Parallel means serial: the kernels call the body themselves.
//
// It is an interface rather than a bare func so that a driver can ask how
// many goroutines it may use and size its tasks accordingly (a GEMM with
// few output columns splits its rows only when there are threads to feed).
// Kernels produce bit-identical results for every Parallel, because the
// task decomposition never changes the order in which any output element
// is summed (see GemmPacked).
type Parallel interface {
	// Threads is the number of goroutines For may use at once (>= 1).
	Threads() int
	// For calls body on disjoint ranges [lo, hi) whose union is [0, n),
	// possibly concurrently, and returns when every call has returned.
	// n <= 0 calls nothing.
	For(n int, body func(lo, hi int))
}

// threadsOf is par.Threads(), or 1 for a nil Parallel.
func threadsOf(par Parallel) int {
	if par == nil {
		return 1
	}
	return max(1, par.Threads())
}

// forEach runs body over [0, n) with par, or serially when par is nil.
func forEach(par Parallel, n int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if par == nil || n == 1 {
		body(0, n)
		return
	}
	par.For(n, body)
}

// Pool is a Parallel backed by persistent worker goroutines: a For call
// hands its work to idle workers through per-worker mailboxes and spawns nothing, and
// the calling goroutine always works too, so For makes progress even when
// every worker is busy with another caller's work. A Pool is safe for
// concurrent use by many goroutines (several sessions may share one), and a
// body may itself call For on the same Pool.
//
// Work is handed out one index at a time from an atomic counter, so
// threads that start late or run slowly take fewer pieces. A body must not
// panic: a panic on a worker goroutine ends the process.
type Pool struct {
	threads int
	workers []poolWorker
	jobs    sync.Pool // *poolJob, reused so For allocates nothing
	closed  atomic.Bool
}

// poolWorker is one worker's mailbox. After a job a worker spins for up to
// poolSpin, watching slot, so that the next For, typically a few
// microseconds later in an inference, hands it work without waking a
// parked goroutine (which costs tens of microseconds); then it parks on
// wake. slot holds the queued job, nil when empty, or parkedJob while the
// worker is parked (a For that sees parkedJob takes it back and sends the
// job on wake instead).
type poolWorker struct {
	slot atomic.Pointer[poolJob]
	wake chan *poolJob // capacity 1
}

// parkedJob marks a parked worker's slot; it is never run.
var parkedJob = new(poolJob)

// poolSpin is how long an idle worker polls for work before it parks.
const poolSpin = 200 * time.Microsecond

// poolJob is one For call. refs counts the goroutines that may still touch
// it (the caller and every worker it was handed to); the last to let go
// returns it to the Pool's free list.
type poolJob struct {
	pool     *Pool
	body     func(lo, hi int)
	n        int64
	next     atomic.Int64 // next index to hand out
	done     atomic.Int64 // indices finished
	refs     atomic.Int32
	finished chan struct{} // receives once, when done reaches n
}

// NewPool starts a Pool of the given number of threads, counting the
// goroutine that calls For (so threads-1 workers are started); threads <= 0
// means runtime.GOMAXPROCS(0). Close stops the workers.
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &Pool{threads: threads, workers: make([]poolWorker, threads-1)}
	p.jobs.New = func() any { return &poolJob{pool: p, finished: make(chan struct{}, 1)} }
	for i := range p.workers {
		w := &p.workers[i]
		w.wake = make(chan *poolJob, 1)
		go w.loop(p)
	}
	return p
}

// loop runs the worker's jobs until the Pool closes.
func (w *poolWorker) loop(p *Pool) {
	for {
		j := w.slot.Load()
		if j == nil {
			// Spin, then park.
			deadline := time.Now().Add(poolSpin)
			for spins := 0; ; spins++ {
				if j = w.slot.Load(); j != nil {
					break
				}
				if spins%64 == 63 {
					if p.closed.Load() || time.Now().After(deadline) {
						break
					}
					runtime.Gosched() // let the caller run if it shares our P
				}
			}
			if j == nil {
				if w.slot.CompareAndSwap(nil, parkedJob) {
					var ok bool
					if j, ok = <-w.wake; !ok {
						return
					}
					j.run()
					j.release()
					continue
				}
				j = w.slot.Load()
			}
		}
		w.slot.Store(nil)
		j.run()
		j.release()
	}
}

// Threads returns the number of goroutines For may use.
func (p *Pool) Threads() int {
	if p.closed.Load() {
		return 1
	}
	return p.threads
}

// For calls body(i, i+1) for every i in [0, n), spread over the Pool's
// workers and the calling goroutine, and returns when all calls are done.
// After Close it runs body(0, n) on the caller.
func (p *Pool) For(n int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if n == 1 || len(p.workers) == 0 || p.closed.Load() {
		body(0, n)
		return
	}
	j := p.jobs.Get().(*poolJob)
	j.body, j.n = body, int64(n)
	j.next.Store(0)
	j.done.Store(0)
	j.refs.Store(1)
	want := min(n-1, len(p.workers))
	for i := range p.workers {
		if want == 0 {
			break
		}
		w := &p.workers[i]
		j.refs.Add(1)
		switch {
		case w.slot.CompareAndSwap(nil, j): // spinning or busy: it takes j next
			want--
		case w.slot.CompareAndSwap(parkedJob, nil): // parked: wake it
			w.wake <- j
			want--
		default: // that worker already has work queued: skip it
			j.refs.Add(-1)
		}
	}
	j.run()
	// The last pieces usually finish within microseconds: wait for them
	// briefly before parking.
	deadline := time.Now().Add(poolSpin)
	for spins := 0; j.done.Load() < j.n; spins++ {
		if spins%64 == 63 {
			if time.Now().After(deadline) {
				break
			}
			runtime.Gosched() // let the workers run if they share our P
		}
	}
	<-j.finished
	j.release()
}

// run takes indices until none are left.
func (j *poolJob) run() {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.body(int(i), int(i)+1)
		if j.done.Add(1) == j.n {
			j.finished <- struct{}{}
		}
	}
}

func (j *poolJob) release() {
	if j.refs.Add(-1) == 0 {
		j.body = nil
		j.pool.jobs.Put(j)
	}
}

// Close stops the workers once they finish their queued work; later For
// calls run serially. It must not be called concurrently with For, and
// only once.
func (p *Pool) Close() {
	if p.closed.Swap(true) {
		return
	}
	for i := range p.workers {
		close(p.workers[i].wake)
	}
}
