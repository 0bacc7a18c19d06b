package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
)

// Tests of the GEMM driver and the worker pool against the float64 oracle
// in internal/ref, on every tier this CPU has. Tolerance: ref.Tol(k, mag),
// the rigorous float32 summation bound (k+2)·2⁻²³·Σ|terms|, so a failure
// is a bug, never noise. Output buffers carry guard values before, after
// and between rows; the driver must not touch them.

const guardLen = 19

var guardBits = math.Float32bits(float32(math.NaN())) ^ 0x1234

// guarded returns a slice of n floats surrounded by guard values, and the
// whole backing array for checkGuards.
func guarded(n int) (s, all []float32) {
	all = make([]float32, n+2*guardLen)
	g := math.Float32frombits(guardBits)
	for i := range all {
		all[i] = g
	}
	return all[guardLen : guardLen+n], all
}

// checkGuards fails when any float of all outside the written positions
// (written(i) reports whether index i of the inner slice may be written)
// lost its guard value.
func checkGuards(t *testing.T, what string, all []float32, written func(i int) bool) {
	t.Helper()
	for i, v := range all {
		inner := i - guardLen
		if inner >= 0 && inner < len(all)-2*guardLen && written(inner) {
			continue
		}
		if math.Float32bits(v) != guardBits {
			t.Fatalf("%s: guard at %d (inner index %d) overwritten with %v", what, i, inner, v)
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		switch r.IntN(16) {
		case 0:
			s[i] = 0
		default:
			s[i] = float32(r.Float64()*2 - 1)
		}
	}
	return s
}

// testThreads are the thread counts every driver test runs with; nil is
// serial.
var testThreads = []int{1, 2, 3, 7}

func testPools(t *testing.T) []Parallel {
	var ps []Parallel
	for _, n := range testThreads {
		if n == 1 {
			ps = append(ps, nil)
			continue
		}
		p := NewPool(n)
		t.Cleanup(p.Close)
		ps = append(ps, p)
	}
	return ps
}

// withTuning runs f under each blocking configuration: the defaults, and
// tiny blocks that make small matrices cross every K, row and column block
// boundary and take the shared-B path.
func withTuning(t *testing.T, f func(t *testing.T, name string)) {
	saved := tuning
	t.Cleanup(func() { tuning = saved })
	configs := []struct {
		name string
		set  func()
	}{
		{"default", func() {}},
		{"tiny", func() { // one panel per task, pack block and epilogue run
			tuning.forceKC, tuning.forceNC, tuning.minMTask = 5, 1, 1
			tuning.packBytes, tuning.epBytes, tuning.epMinCols = 1, 1, 1
		}},
		{"small", func() { // row blocks: B packed up front
			tuning.forceKC, tuning.forceNC, tuning.forceMC, tuning.minMTask = 16, 24, 7, 1
			tuning.packBytes, tuning.epMinCols = 128, 8
		}},
	}
	for _, c := range configs {
		tuning = saved
		c.set()
		t.Run(c.name, func(t *testing.T) { f(t, c.name) })
	}
	tuning = saved
}

var testActs = []Act{
	{Kind: ActNone},
	{Kind: ActRelu},
	{Kind: ActClip, Alpha: -0.25, Beta: 0.5},
	{Kind: ActLeakyRelu, Alpha: 0.125},
}

// checkClose compares got against act(want) within ref.Tol(terms, mag).
func checkClose(t *testing.T, what string, got []float32, want, mag []float64, terms int, act Act) {
	t.Helper()
	for i := range want {
		w := float64(act.Apply(float32(want[i])))
		tol := ref.Tol(terms, mag[i])
		if d := math.Abs(float64(got[i]) - w); !(d <= tol) {
			t.Fatalf("%s: element %d = %v, want %v (|diff| %.3g > tol %.3g)", what, i, got[i], w, d, tol)
		}
	}
}

func TestGemmPacked(t *testing.T) {
	pools := testPools(t)
	withTuning(t, func(t *testing.T, cfg string) {
		for _, tier := range Available() {
			k := ForTier(tier)
			mr, nr := k.Gemm.MR, k.Gemm.NR
			t.Run(tier.String(), func(t *testing.T) {
				r := rand.New(rand.NewPCG(1, uint64(tier)))
				ms := []int{1, mr - 1, mr, mr + 1, 2*mr + 3}
				ns := []int{1, nr - 1, nr, nr + 1, 3*nr + 5}
				ks := []int{0, 1, 7, 33}
				if cfg == "default" {
					ks = append(ks, 300, 1100) // crosses the default K block
				}
				idx := 0
				for _, m := range ms {
					for _, n := range ns {
						for _, kd := range ks {
							if m < 1 || n < 1 {
								continue
							}
							if kd > 100 && (m > mr+1 || n > nr+1) && idx%3 != 0 {
								idx++
								continue // keep the big-K cases few
							}
							gemmCase(t, k, r, pools, m, n, kd, idx)
							idx++
						}
					}
				}
			})
		}
	})
}

func gemmCase(t *testing.T, k *Kernels, r *rand.Rand, pools []Parallel, m, n, kd, idx int) {
	t.Helper()
	trans := idx%2 == 1
	lda := kd + idx%3
	ldb := n + idx%2
	if trans {
		ldb = kd + idx%2
	}
	ldc := n + idx%4
	a := randSlice(r, max(1, m*lda))
	var b []float32
	if trans {
		b = randSlice(r, max(1, n*ldb))
	} else {
		b = randSlice(r, max(1, kd*ldb))
	}
	var bias, res []float32
	if idx%3 != 0 {
		bias = randSlice(r, m)
	}
	if idx%4 >= 2 {
		res = randSlice(r, m*n)
	}
	act := testActs[idx%len(testActs)]
	// Oracle over a dense copy of B.
	bd := make([]float32, kd*n)
	for p := 0; p < kd; p++ {
		for j := 0; j < n; j++ {
			if trans {
				bd[p*n+j] = b[j*ldb+p]
			} else {
				bd[p*n+j] = b[p*ldb+j]
			}
		}
	}
	want, mag := ref.MatMul(m, n, kd, a, lda, bd, n, bias, res)
	pa := k.PackA(m, kd, a, lda)
	src := &DenseB{Data: b, Stride: ldb, Trans: trans}
	var first []float32
	for pi, par := range pools {
		what := fmt.Sprintf("%s m=%d n=%d k=%d trans=%v ldc=%d bias=%v res=%v act=%v threads=%d",
			k.Gemm.ID, m, n, kd, trans, ldc, bias != nil, res != nil, act, testThreads[pi])
		c, all := guarded((m-1)*ldc + n)
		ep := Epilogue{Bias: bias, Residual: res, ResidualStride: n, Act: act}
		k.GemmPacked(pa, n, src, c, ldc, ep, par)
		checkGuards(t, what, all, func(i int) bool { return i%ldc < n })
		got := make([]float32, m*n)
		for i := 0; i < m; i++ {
			copy(got[i*n:(i+1)*n], c[i*ldc:])
		}
		checkClose(t, what, got, want, mag, kd, act)
		if first == nil {
			first = got
		} else {
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(first[i]) {
					t.Fatalf("%s: element %d = %v differs from the serial result %v", what, i, got[i], first[i])
				}
			}
		}
	}
}

// checkPacked compares a PackB result with want(p, q) for p < kc, q < n,
// and zeros in the padding of the last panel.
func checkPacked(t *testing.T, what string, dst []float32, kc, n, nr int, want func(p, q int) float32) {
	t.Helper()
	np := ceilDiv(n, nr)
	for q := 0; q < np*nr; q++ {
		for p := 0; p < kc; p++ {
			got := dst[(q/nr)*kc*nr+p*nr+q%nr]
			w := float32(0)
			if q < n {
				w = want(p, q)
			}
			if math.Float32bits(got) != math.Float32bits(w) {
				t.Fatalf("%s: element (%d, %d) = %v, want %v", what, p, q, got, w)
			}
		}
	}
}

// TestDensePackB checks DenseB's packing, both layouts, for panel widths
// of every current kernel and a few odd ones.
func TestDensePackB(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	kd, n := 23, 75
	for _, trans := range []bool{false, true} {
		stride := n + 3
		if trans {
			stride = kd + 2
		}
		data := randSlice(r, max(kd*stride, n*stride))
		d := &DenseB{Data: data, Stride: stride, Trans: trans}
		at := func(p, j int) float32 {
			if trans {
				return data[j*stride+p]
			}
			return data[p*stride+j]
		}
		for _, nr := range []int{1, 4, 8, 12, 16, 32} {
			for _, c := range []struct{ p0, kc, j0, n int }{{0, kd, 0, n}, {3, 7, 5, 1}, {0, 1, nr, nr}, {10, 13, 2, 2*nr + 1}, {22, 1, 0, n}} {
				dst, all := guarded(ceilDiv(c.n, nr) * c.kc * nr)
				for i := range dst {
					dst[i] = float32(math.NaN())
				}
				d.PackB(dst, c.p0, c.kc, c.j0, c.n, nr)
				checkGuards(t, "DenseB.PackB", all, func(int) bool { return true })
				checkPacked(t, fmt.Sprintf("trans=%v nr=%d %+v", trans, nr, c), dst, c.kc, c.n, nr,
					func(p, q int) float32 { return at(c.p0+p, c.j0+q) })
			}
		}
	}
}

func TestGemmPackedPanics(t *testing.T) {
	k := Best()
	pa := k.PackA(3, 4, make([]float32, 12), 4)
	src := &DenseB{Data: make([]float32, 4*5), Stride: 5}
	other := genericKernels()
	other.Gemm.MR++
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"MR", func() { other.GemmPacked(pa, 5, src, make([]float32, 15), 5, Epilogue{}, nil) }},
		{"n", func() { k.GemmPacked(pa, -1, src, nil, 5, Epilogue{}, nil) }},
		{"C", func() { k.GemmPacked(pa, 5, src, make([]float32, 14), 5, Epilogue{}, nil) }},
		{"ldc", func() { k.GemmPacked(pa, 5, src, make([]float32, 15), 4, Epilogue{}, nil) }},
		{"bias", func() { k.GemmPacked(pa, 5, src, make([]float32, 15), 5, Epilogue{Bias: make([]float32, 2)}, nil) }},
		{"residual", func() {
			k.GemmPacked(pa, 5, src, make([]float32, 15), 5, Epilogue{Residual: make([]float32, 14), ResidualStride: 5}, nil)
		}},
		{"PackA", func() { k.PackA(-1, 2, nil, 2) }},
		{"PackA short", func() { k.PackA(2, 2, make([]float32, 3), 2) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", c.name)
				}
			}()
			c.f()
		}()
	}
	// Empty products write nothing.
	k.GemmPacked(k.PackA(0, 4, nil, 4), 5, src, nil, 5, Epilogue{}, nil)
	k.GemmPacked(pa, 0, src, nil, 0, Epilogue{}, nil)
}

// TestPackAStrided checks the transposed packing against PackA.
func TestPackAStrided(t *testing.T) {
	k := Best()
	r := rand.New(rand.NewPCG(7, 7))
	m, kd := 2*k.Gemm.MR+1, 13
	a := randSlice(r, m*kd)
	at := make([]float32, kd*m)
	for i := 0; i < m; i++ {
		for p := 0; p < kd; p++ {
			at[p*m+i] = a[i*kd+p]
		}
	}
	x, y := k.PackA(m, kd, a, kd), k.PackAStrided(m, kd, at, 1, m)
	if x.Rows() != m || x.Cols() != kd || len(x.data) != len(y.data) {
		t.Fatalf("shapes differ")
	}
	for i := range x.data {
		if x.data[i] != y.data[i] {
			t.Fatalf("packed element %d: %v vs %v", i, x.data[i], y.data[i])
		}
	}
}

// poolsDrop reports whether sync.Pool drops items on purpose, as it does
// under the race detector: allocation counts mean nothing then.
func poolsDrop() bool {
	var p sync.Pool
	for i := 0; i < 64; i++ {
		x := new(int)
		p.Put(x)
		if p.Get() != x {
			return true
		}
	}
	return false
}

func TestGemmPackedAllocs(t *testing.T) {
	if poolsDrop() {
		t.Skip("sync.Pool drops items (race detector): allocation counts are meaningless")
	}
	k := Best()
	r := rand.New(rand.NewPCG(3, 3))
	m, n, kd := 37, 300, 150
	pa := k.PackA(m, kd, randSlice(r, m*kd), kd)
	src := &DenseB{Data: randSlice(r, kd*n), Stride: n}
	c := make([]float32, m*n)
	ep := Epilogue{Bias: randSlice(r, m), Act: Act{Kind: ActRelu}}
	pool := NewPool(3)
	defer pool.Close()
	for _, par := range []Parallel{nil, pool} {
		k.GemmPacked(pa, n, src, c, n, ep, par)
		if a := testing.AllocsPerRun(20, func() { k.GemmPacked(pa, n, src, c, n, ep, par) }); a != 0 {
			t.Errorf("GemmPacked with %v allocates %v times per call", par, a)
		}
	}
}

func TestPlanGemm(t *testing.T) {
	g := GemmKernel{MR: 6, NR: 16}
	for _, c := range []struct{ m, n, k, count, threads int }{
		{64, 3136, 576, 1, 1}, {64, 3136, 576, 1, 2}, {2048, 49, 512, 1, 2}, {512, 49, 4608, 1, 16},
		{1, 1, 1, 1, 7}, {5, 1000, 0, 3, 4}, {100, 10, 3000, 1, 1},
	} {
		p := planGemm(g, c.m, c.n, c.k, c.count, c.threads)
		if c.k > 0 && (p.kc < 1 || p.kc > c.k) {
			t.Errorf("%+v: kc %d", c, p.kc)
		}
		if p.nc%g.NR != 0 || p.mTask%g.MR != 0 {
			t.Errorf("%+v: blocks not multiples of the tile: %+v", c, p)
		}
		if p.tasksN*p.nc < c.n || p.tasksM*p.mTask < c.m {
			t.Errorf("%+v: tasks do not cover C: %+v", c, p)
		}
		if p.shared != (p.tasksM > 1 && c.k > 0) {
			t.Errorf("%+v: shared %v with %d row blocks", c, p.shared, p.tasksM)
		}
		// kc must not depend on threads (bit-identical results).
		if q := planGemm(g, c.m, c.n, c.k, c.count, 1); q.kc != p.kc {
			t.Errorf("%+v: kc %d with %d threads, %d serial", c, p.kc, c.threads, q.kc)
		}
	}
}

func TestPool(t *testing.T) {
	for _, threads := range []int{1, 2, 3, 7} {
		p := NewPool(threads)
		if p.Threads() != threads {
			t.Errorf("Threads() = %d, want %d", p.Threads(), threads)
		}
		for _, n := range []int{0, 1, 2, 5, 100} {
			hits := make([]atomic.Int32, n)
			p.For(n, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					hits[i].Add(1)
				}
			})
			for i := range hits {
				if h := hits[i].Load(); h != 1 {
					t.Fatalf("threads %d n %d: index %d ran %d times", threads, n, i, h)
				}
			}
		}
		// Concurrent callers, each nesting a For inside its body.
		var wg sync.WaitGroup
		var total atomic.Int64
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for rep := 0; rep < 20; rep++ {
					p.For(6, func(lo, hi int) {
						for i := lo; i < hi; i++ {
							p.For(5, func(lo, hi int) { total.Add(int64(hi - lo)) })
						}
					})
				}
			}()
		}
		wg.Wait()
		if got := total.Load(); got != 8*20*6*5 {
			t.Errorf("threads %d: nested concurrent For ran %d bodies, want %d", threads, got, 8*20*6*5)
		}
		p.Close()
		p.Close()
		ran := 0
		p.For(3, func(lo, hi int) { ran += hi - lo })
		if ran != 3 || p.Threads() != 1 {
			t.Errorf("after Close: ran %d, Threads %d", ran, p.Threads())
		}
	}
	p0 := NewPool(0)
	defer p0.Close()
	if p0.Threads() < 1 {
		t.Errorf("NewPool(0) has no threads")
	}
}
