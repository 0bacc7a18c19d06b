package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
)

// gemvKs are the k values the Gemv kernels are tested at: 0, 1, odd, and
// below, at and above each tier's vector width (8, 16) and step (AVX2 3×8,
// AVX-512 4×16; the generic kernel's 2), plus long rows.
var gemvKs = []int{0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 48, 49,
	63, 64, 65, 79, 80, 81, 127, 128, 129, 191, 192, 193, 1000, 4099}

// TestGemv checks every tier's Gemv against ref.Dense for every k in
// gemvKs, n = 0 to 9 and 13 rows (groups of 4 and the rows left over), row
// strides ldw = k, k+3 and k+16, and m = 1 to 5 and 9 vectors (every pass
// width and the passes left over) at strides ldx = k+1, ldy = n+2. y sits
// inside guard values (also between its vectors); w and x are exactly as
// long as the call needs and must not change. Tolerance ref.Tol(k,
// Σ|terms|), the rigorous float32 summation bound.
func TestGemv(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, tier := range Available() {
		kern := ForTier(tier)
		for _, k := range gemvKs {
			for _, n := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 13} {
				for _, pad := range []int{0, 3, 16} {
					for _, m := range []int{1, 2, 3, 4, 5, 9} {
						if m > 1 && (pad == 3) != (k%2 == 1) {
							continue // fewer combinations for several vectors
						}
						ldw, ldx, ldy := k+pad, k+1, n+2
						what := fmt.Sprintf("%s Gemv m=%d n=%d k=%d ldw=%d", tier, m, n, k, ldw)
						wl := 0
						if n > 0 && k > 0 {
							wl = (n-1)*ldw + k
						}
						w, x := randSlice(r, wl), randSlice(r, (m-1)*ldx+k)
						w0, x0 := append([]float32(nil), w...), append([]float32(nil), x...)
						y, all := guarded((m-1)*ldy + n)
						kern.Gemv(y, ldy, w, ldw, x, ldx, m, n, k)
						checkGuards(t, what, all, func(i int) bool { return i%ldy < n })
						want, mag := ref.Dense(m, n, k, w, ldw, x, ldx, 1, nil)
						for v := 0; v < m; v++ {
							for i := 0; i < n; i++ {
								got := float64(y[v*ldy+i])
								if tol := ref.Tol(k, mag[v*n+i]); !(math.Abs(got-want[v*n+i]) <= tol) {
									t.Fatalf("%s: y[%d][%d] = %v, want %v (tolerance %g)", what, v, i, got, want[v*n+i], tol)
								}
							}
						}
						sameBits(t, what+": w", w, w0)
						sameBits(t, what+": x", x, x0)
					}
				}
			}
		}
	}
}

func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s modified at %d: %v, was %v", what, i, got[i], want[i])
		}
	}
}

// TestGemvSplit checks that every tier's Gemv computes each row bit for
// bit the same whichever call computes it, in a group of four or alone,
// which GemvBatch's result being independent of its Parallel relies on.
func TestGemvSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, k := range []int{1, 7, 16, 33, 100, 1000} {
		for _, m := range []int{1, 2, 3, 4, 6} {
			const n = 23
			ldw := k + 5
			w, x := randSlice(r, (n-1)*ldw+k), randSlice(r, m*k)
			for _, tier := range Available() {
				kern := ForTier(tier)
				whole := make([]float32, m*n)
				kern.Gemv(whole, n, w, ldw, x, k, m, n, k)
				for _, cut := range []int{1, 2, 3, 5, 6, 7, 9} {
					part := make([]float32, m*n)
					for i0 := 0; i0 < n; i0 += cut {
						i1 := min(n, i0+cut)
						kern.Gemv(part[i0:], n, w[i0*ldw:], ldw, x, k, m, i1-i0, k)
					}
					sameBits(t, fmt.Sprintf("%s m=%d k=%d cut every %d: y (vs one call)", tier, m, k, cut), part, whole)
				}
			}
		}
	}
}

// TestGemvSpecials checks that a NaN or an infinity in a row reaches that
// row's output only, and one in x every output.
func TestGemvSpecials(t *testing.T) {
	const n, k = 9, 37
	for _, tier := range Available() {
		kern := ForTier(tier)
		for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1))} {
			for _, p := range []int{0, 17, 32, 36} { // in a whole step, the vectors left over, the tail
				w, x := make([]float32, n*k), make([]float32, k)
				for i := range w {
					w[i] = 1
				}
				for i := range x {
					x[i] = 0.5
				}
				w[5*k+p] = bad
				y := make([]float32, n)
				kern.Gemv(y, n, w, k, x, k, 1, n, k)
				for i, v := range y {
					want := float32(k) / 2
					if i == 5 {
						want = bad
					}
					if !(v == want || (math.IsNaN(float64(v)) && math.IsNaN(float64(want)))) {
						t.Fatalf("%s: %v in row 5 at %d: y[%d] = %v, want %v", tier, bad, p, i, v, want)
					}
				}
				x[p] = bad
				w[5*k+p] = 1
				kern.Gemv(y, n, w, k, x, k, 1, n, k)
				for i, v := range y {
					if !(v == bad || (math.IsNaN(float64(v)) && math.IsNaN(float64(bad)))) {
						t.Fatalf("%s: %v in x at %d: y[%d] = %v", tier, bad, p, i, v)
					}
				}
			}
		}
	}
}

// TestGemvChecks checks that every tier's Gemv panics on arguments that
// would take it outside its slices, and accepts the tightest valid ones.
func TestGemvChecks(t *testing.T) {
	type args struct {
		y, ldy, w, ldw, x, ldx, m, n, k int
		fail                            bool
	}
	for _, tier := range Available() {
		kern := ForTier(tier)
		for _, a := range []args{
			{y: 3, w: 2*10 + 7, x: 7, ldw: 10, m: 1, n: 3, k: 7},
			{y: 5 + 3, ldy: 5, w: 2*10 + 7, x: 8 + 7, ldx: 8, ldw: 10, m: 2, n: 3, k: 7},
			{y: 4*3 + 3, ldy: 3, w: 2*10 + 7, x: 4*7 + 7, ldx: 7, ldw: 10, m: 5, n: 3, k: 7},
			{},
			{y: 3, m: 1, n: 3},
			{m: 3},
			{y: 2, w: 2*10 + 7, x: 7, ldw: 10, m: 1, n: 3, k: 7, fail: true},
			{y: 3, w: 2*10 + 6, x: 7, ldw: 10, m: 1, n: 3, k: 7, fail: true},
			{y: 3, w: 2*10 + 7, x: 6, ldw: 10, m: 1, n: 3, k: 7, fail: true},
			{y: 3, w: 100, x: 7, ldw: 6, m: 1, n: 3, k: 7, fail: true},
			{y: 3, w: 100, x: 7, ldw: 10, m: 1, n: -1, k: 7, fail: true},
			{y: 3, w: 100, x: 7, ldw: 10, m: 1, n: 3, k: -1, fail: true},
			{y: 3, w: 100, x: 7, ldw: 10, m: -1, n: 3, k: 7, fail: true},
			{y: 3, w: 100, x: 7, ldw: math.MaxInt / 2, m: 1, n: 2, k: 7, fail: true},
			{y: 5 + 2, ldy: 5, w: 2*10 + 7, x: 8 + 7, ldx: 8, ldw: 10, m: 2, n: 3, k: 7, fail: true},
			{y: 5 + 3, ldy: 5, w: 2*10 + 7, x: 8 + 6, ldx: 8, ldw: 10, m: 2, n: 3, k: 7, fail: true},
			{y: 100, ldy: 2, w: 2*10 + 7, x: 100, ldx: 8, ldw: 10, m: 2, n: 3, k: 7, fail: true},
			{y: 100, ldy: 5, w: 2*10 + 7, x: 100, ldx: 6, ldw: 10, m: 2, n: 3, k: 7, fail: true},
			{y: 100, ldy: math.MaxInt / 2, w: 2*10 + 7, x: 100, ldx: 8, ldw: 10, m: 3, n: 3, k: 7, fail: true},
		} {
			func() {
				defer func() {
					if e := recover(); (e != nil) != a.fail {
						t.Errorf("%s Gemv%+v: panic %v, want panic %v", tier, a, e, a.fail)
					}
				}()
				kern.Gemv(make([]float32, a.y), a.ldy, make([]float32, a.w), a.ldw, make([]float32, a.x), a.ldx, a.m, a.n, a.k)
			}()
		}
	}
}

// testPar is a Parallel that runs pieces in reverse order on one
// goroutine, claiming threads it does not have: GemvBatch must split its
// work for them and still give the serial result.
type testPar int

func (p testPar) Threads() int { return int(p) }

func (p testPar) For(n int, body func(lo, hi int)) {
	for i := n - 1; i >= 0; i-- {
		body(i, i+1)
	}
}

// TestGemvBatch checks GemvBatch on every tier against ref.Dense with the
// activation applied, for 1 to 6 vectors, alpha 1 and not, with and
// without a bias, every activation kind, row and vector strides above the
// minimum, serially, with a real Pool of 3 threads and with testPar(5),
// under shrunken blocking (so rows split into many blocks and tasks). y
// sits inside guard values (also between its rows). Results must be
// bit-identical whatever the Parallel. Tolerance ref.Tol(k+2, Σ|terms|)
// (an activation is 1-Lipschitz, LeakyRelu's alpha being below 1).
func TestGemvBatch(t *testing.T) {
	saved := gemvTuning
	defer func() { gemvTuning = saved }()
	pool := NewPool(3)
	defer pool.Close()
	r := rand.New(rand.NewPCG(25, 26))
	acts := []Act{{}, {Kind: ActRelu}, {Kind: ActClip, Alpha: -0.5, Beta: 0.25}, {Kind: ActLeakyRelu, Alpha: 0.1}}
	for _, tiny := range []bool{false, true} {
		gemvTuning = saved
		if tiny {
			gemvTuning.blockBytes, gemvTuning.taskBytes = 1, 1
		}
		for _, tier := range Available() {
			kern := ForTier(tier)
			for _, m := range []int{1, 2, 3, 4, 6} {
				for _, sz := range [][2]int{{1, 1}, {5, 3}, {13, 40}, {64, 17}, {37, 300}} {
					n, k := sz[0], sz[1]
					ldw, ldx, ldy := k+1, k+2, n+3
					alpha := []float32{1, -0.75}[(m+n)%2]
					var bias []float32
					if (m+k)%2 == 1 {
						bias = randSlice(r, n)
					}
					act := acts[(m+n+k)%len(acts)]
					w, x := randSlice(r, (n-1)*ldw+k), randSlice(r, (m-1)*ldx+k)
					want, mag := ref.Dense(m, n, k, w, ldw, x, ldx, alpha, bias)
					var first []float32
					for pi, par := range []Parallel{nil, pool, testPar(5)} {
						what := fmt.Sprintf("%s tiny=%v m=%d n=%d k=%d alpha=%v bias=%v act=%+v par#%d", tier, tiny, m, n, k, alpha, bias != nil, act, pi)
						y, all := guarded((m-1)*ldy + n)
						kern.GemvBatch(y, ldy, w, ldw, x, ldx, m, n, k, alpha, Epilogue{Bias: bias, Act: act}, par)
						checkGuards(t, what, all, func(i int) bool { return i%ldy < n })
						for v := 0; v < m; v++ {
							for i := 0; i < n; i++ {
								got, wv := float64(y[v*ldy+i]), float64(act.Apply(float32(want[v*n+i])))
								if tol := ref.Tol(k+2, mag[v*n+i]); !(math.Abs(got-wv) <= tol) {
									t.Fatalf("%s: y[%d][%d] = %v, want %v (tolerance %g)", what, v, i, got, wv, tol)
								}
							}
						}
						if first == nil {
							first = y
						} else {
							sameBits(t, what+": y (vs serial)", y, first)
						}
					}
				}
			}
		}
	}
}

// TestGemvBatchArgs checks that GemvBatch panics on programming errors and
// does nothing for m or n = 0.
func TestGemvBatchArgs(t *testing.T) {
	k := Best()
	k.GemvBatch(nil, 5, nil, 3, nil, 3, 0, 5, 3, 1, Epilogue{}, nil)
	k.GemvBatch(nil, 0, nil, 3, nil, 3, 2, 0, 3, 1, Epilogue{}, nil)
	for i, f := range []func(){
		func() {
			k.GemvBatch(make([]float32, 4), 4, make([]float32, 12), 3, make([]float32, 3), 3, 1, 4, 3, 1, Epilogue{Residual: []float32{1}}, nil)
		},
		func() {
			k.GemvBatch(make([]float32, 3), 4, make([]float32, 12), 3, make([]float32, 3), 3, 1, 4, 3, 1, Epilogue{}, nil)
		},
		func() {
			k.GemvBatch(make([]float32, 4), 4, make([]float32, 11), 3, make([]float32, 3), 3, 1, 4, 3, 1, Epilogue{}, nil)
		},
		func() {
			k.GemvBatch(make([]float32, 4), 4, make([]float32, 12), 3, make([]float32, 2), 3, 1, 4, 3, 1, Epilogue{}, nil)
		},
		func() {
			k.GemvBatch(make([]float32, 8), 3, make([]float32, 12), 3, make([]float32, 6), 3, 2, 4, 3, 1, Epilogue{}, nil)
		},
		func() {
			k.GemvBatch(make([]float32, 4), 4, make([]float32, 12), 2, make([]float32, 3), 3, 1, 4, 3, 1, Epilogue{}, nil)
		},
		func() {
			k.GemvBatch(make([]float32, 4), 4, make([]float32, 12), 3, make([]float32, 3), 3, 1, 4, 3, 1, Epilogue{Bias: make([]float32, 3)}, nil)
		},
		func() {
			k.GemvBatch(make([]float32, 100), math.MaxInt/2, make([]float32, 12), 3, make([]float32, 9), 3, 3, 4, 3, 1, Epilogue{}, nil)
		},
		func() {
			k.GemvBatch(make([]float32, 12), 4, make([]float32, 12), 3, make([]float32, 100), math.MaxInt/2, 3, 4, 3, 1, Epilogue{}, nil)
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("case %d: no panic", i)
				}
			}()
			f()
		}()
	}
}
