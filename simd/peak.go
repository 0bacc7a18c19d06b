package simd

import (
	"runtime"
	"sync"
	"time"
)

var (
	peakMu    sync.Mutex
	peakCache = map[Tier]float64{}
)

// PeakGFLOPS measures tier t's single-core float32 FMA throughput in
// GFLOP/s: a register-only loop of independent fused multiply-adds at the
// tier's full vector width (generic: a scalar Go multiply-add loop), the
// ceiling any kernel of that tier can reach. Benchmarks divide by it to
// report a share of peak. The first call per tier takes about 50 ms: the
// best of 25 short runs, since load from other processes only slows a run
// down and a short run is likely to fit in one undisturbed time slice.
// Later calls return the cached value; nothing calls it at init.
// Unsupported tiers report 0. Frequency scaling makes the peak move with
// the machine's load, so compare %peak only between runs under similar load.
func PeakGFLOPS(t Tier) float64 {
	if !Supported(t) {
		return 0
	}
	peakMu.Lock()
	defer peakMu.Unlock()
	if g, ok := peakCache[t]; ok {
		return g
	}
	loop := peakLoop(t)
	if loop == nil {
		loop = scalarPeak
	}
	// Calibrate n so one run takes about 2 ms, then keep the best of 25.
	n := 1 << 10
	for {
		start := time.Now()
		loop(n)
		if d := time.Since(start); d > time.Millisecond || n > 1<<30 {
			n = int(float64(n) * float64(2*time.Millisecond) / float64(d+1))
			break
		}
		n *= 4
	}
	n = max(n, 1)
	best := 0.0
	for range 25 {
		start := time.Now()
		flops := loop(n)
		best = max(best, float64(flops)/time.Since(start).Seconds()/1e9)
	}
	peakCache[t] = best
	return best
}

// peakInputs are variables so the compiler cannot fold scalarPeak's loop.
var peakInputs = [2]float32{0.999, 1e-3}

// scalarPeak runs n iterations of 8 independent scalar multiply-adds (the
// generic tier's best case) and returns the FLOPs done.
func scalarPeak(n int) int {
	m, c := peakInputs[0], peakInputs[1]
	var a0, a1, a2, a3, a4, a5, a6, a7 float32
	for range n {
		a0 = a0*m + c
		a1 = a1*m + c
		a2 = a2*m + c
		a3 = a3*m + c
		a4 = a4*m + c
		a5 = a5*m + c
		a6 = a6*m + c
		a7 = a7*m + c
	}
	runtime.KeepAlive(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7) // the loop must run
	return n * 8 * 2
}
