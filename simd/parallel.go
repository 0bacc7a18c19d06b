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

// ThreadsOf is par.Threads(), or 1 for a nil Parallel.
func ThreadsOf(par Parallel) int {
	if par == nil {
		return 1
	}
	return max(1, par.Threads())
}

// ForEach runs body over [0, n) with par, or serially when par is nil
// (or when n is 1).
func ForEach(par Parallel, n int, body func(lo, hi int)) {
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
// Work is handed out in small runs of indices (see poolGrain) from an
// atomic counter, so threads that start late or run slowly take fewer
// pieces. A body must not panic: a panic on a worker goroutine ends the
// process.
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

// waitMin is the least time For spins for the workers' last runs before
// it blocks.
const waitMin = 20 * time.Microsecond

// spinCheck is how many polls a spin loop makes between looking at the
// clock and yielding.
const spinCheck = 16

// spinYield is called by spin loops every spinCheck polls. It lets a
// goroutine sharing our P run (runtime.Gosched), and gives the OS thread's
// CPU to any thread waiting for it (osYield): when the machine's CPUs are
// oversubscribed, by other processes or by more Pools than cores, a
// spinning thread would otherwise hold a CPU that the thread doing the
// work it waits for (or the caller's serial work) needs, and make a
// parallel loop slower than a serial one.
func spinYield() {
	runtime.Gosched()
	osYield()
}

// poolJob is one For call. refs counts the goroutines that may still touch
// it (the caller and every worker it was handed to); the last to let go
// returns it to the Pool's free list.
type poolJob struct {
	pool     *Pool
	body     func(lo, hi int)
	n        int64
	grain    int64         // indices handed out at a time
	finished chan struct{} // receives once, when done reaches n
	// The counters every thread updates sit on cache lines of their own,
	// away from the fields above that every thread reads.
	_    [64]byte
	next atomic.Int64 // next index to hand out
	_    [56]byte
	done atomic.Int64 // indices finished
	refs atomic.Int32
	_    [52]byte
}

// poolGrain is the number of indices a thread takes at a time from a For
// of n indices on threads goroutines: about 8 runs per thread, so that a
// loop of many tiny bodies (a Winograd transform per channel) does not
// pay an atomic operation on a shared cache line per index, while the
// last runs are small enough to even out the threads' finishing times.
// Kernels that size their tasks for the thread count (a GEMM makes about
// four per thread) get runs of one task.
func poolGrain(n, threads int) int {
	return max(1, n/(8*threads))
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
				if spins%spinCheck == spinCheck-1 {
					if p.closed.Load() || time.Now().After(deadline) {
						break
					}
					spinYield()
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

// For calls body on runs [lo, hi) that cover [0, n) once, spread over the
// Pool's workers and the calling goroutine, and returns when all calls
// are done. After Close it runs body(0, n) on the caller.
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
	j.grain = int64(poolGrain(n, p.threads))
	j.next.Store(0)
	j.done.Store(0)
	j.refs.Store(1)
	want := min(ceilDiv(n, int(j.grain))-1, len(p.workers))
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
	start := time.Now()
	runs := j.run()
	// The workers' last runs usually finish within about one run's time
	// of ours: spin that long (twice the caller's mean run, within
	// [waitMin, poolSpin]), then block. A worker still busy after that
	// has most likely lost its CPU to another process; blocking leaves
	// this CPU idle, so the OS can move the worker onto it, where
	// spinning (even yielding) would keep it waiting for a time slice on
	// its own.
	now := time.Now()
	wait := waitMin
	if runs > 0 {
		wait = min(poolSpin, max(waitMin, 2*now.Sub(start)/time.Duration(runs)))
	}
	deadline := now.Add(wait)
	for spins := 0; j.done.Load() < j.n; spins++ {
		if spins%spinCheck == spinCheck-1 {
			if time.Now().After(deadline) {
				break
			}
			spinYield()
		}
	}
	<-j.finished
	j.release()
}

// run takes runs of indices until none are left, then counts the indices
// it did as done; whoever completes the count signals finished. It
// returns the number of runs it did.
func (j *poolJob) run() (runs int) {
	var did int64
	for {
		i := j.next.Add(j.grain) - j.grain
		if i >= j.n {
			break
		}
		hi := min(i+j.grain, j.n)
		j.body(int(i), int(hi))
		did += hi - i
		runs++
	}
	if did > 0 && j.done.Add(did) == j.n {
		j.finished <- struct{}{}
	}
	return runs
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
