package simd_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
	"github.com/runinfer/runinfer/simd"
)

// tileGuard fills the memory around and between the rows of a C tile; a
// GEMM micro-kernel that writes there has overrun.
const tileGuardBits = 0x7fc0beef // a quiet NaN with a recognisable payload

var tileGuard = math.Float32frombits(tileGuardBits)

// tileKs are the k values every micro-kernel is tested at: 0, around the
// unrolled main loops (by 1, 2, 4 or 8) and their remainders, and long sums.
var tileKs = []int{0, 1, 2, 3, 7, 16, 17, 255, 256, 1000}

// TestGemmKernel diffs every tier's micro-kernel (simd.GemmKernel) against
// ref.GemmTile, the packed-panel definition in float64, on random panels
// with values in [-1, 1), for each k in tileKs, acc false and true, and row
// strides ldc = NR, NR+5 and 2·NR+3. C sits inside a buffer of NaN guards
// (before, after and between its rows) that must come back untouched, and
// the panels must come back unchanged. Tolerance: ref.Tol(k+1, Σ|terms|),
// the rigorous float32 summation bound (see internal/ref).
func TestGemmKernel(t *testing.T) {
	for _, tier := range simd.Available() {
		g := simd.ForTier(tier).Gemm
		t.Run(tier.String(), func(t *testing.T) {
			if want := fmt.Sprintf("f32-gemm-%dx%d-%s", g.MR, g.NR, tier); g.ID != want {
				t.Errorf("ID %q, want %q (IDs name the tile and the tier)", g.ID, want)
			}
			rng := rand.New(rand.NewPCG(uint64(tier), 7))
			for _, k := range tileKs {
				for _, ldc := range []int{g.NR, g.NR + 5, 2*g.NR + 3} {
					for _, acc := range []bool{false, true} {
						a := tileRandom(rng, k*g.MR)
						b := tileRandom(rng, k*g.NR)
						c0 := tileRandom(rng, g.MR*g.NR)
						name := fmt.Sprintf("%s k=%d ldc=%d acc=%v", g.ID, k, ldc, acc)
						tileCheck(t, name, g, k, a, b, c0, ldc, acc)
					}
				}
			}
		})
	}
}

// TestGemmKernelSpecials checks that NaN and infinities reach exactly the
// outputs they feed: a NaN in A's row i0 poisons row i0 only, an infinity
// in B's column j0 makes column j0 infinite (or NaN where it meets the NaN)
// and nothing else.
func TestGemmKernelSpecials(t *testing.T) {
	for _, tier := range simd.Available() {
		g := simd.ForTier(tier).Gemm
		t.Run(tier.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tier), 8))
			for _, k := range []int{1, 5, 17} {
				i0, j0, p0 := rng.IntN(g.MR), rng.IntN(g.NR), rng.IntN(k)
				a := tileRandom(rng, k*g.MR)
				b := tileRandom(rng, k*g.NR)
				for i := range a {
					a[i] = max(a[i], 0.25) // positive: +Inf·a stays +Inf
				}
				a[p0*g.MR+i0] = float32(math.NaN())
				b[p0*g.NR+j0] = float32(math.Inf(1))
				c0 := tileRandom(rng, g.MR*g.NR)
				tileCheck(t, fmt.Sprintf("%s k=%d NaN row %d, +Inf column %d", g.ID, k, i0, j0), g, k, a, b, c0, g.NR+1, true)
			}
		})
	}
}

// TestGemmKernelPanics checks that every tier's micro-kernel panics, rather
// than reading or writing out of bounds, when a slice is too short or k is
// negative.
func TestGemmKernelPanics(t *testing.T) {
	for _, tier := range simd.Available() {
		g := simd.ForTier(tier).Gemm
		const k = 5
		ldc := g.NR + 2
		// ok returns panels and C exactly long enough; the cases below
		// cut one element off one of them, capacity included (a kernel
		// may reslice within capacity).
		ok := func() (a, b, c []float32) {
			return make([]float32, k*g.MR), make([]float32, k*g.NR), make([]float32, (g.MR-1)*ldc+g.NR)
		}
		short := func(x []float32) []float32 { return x[: len(x)-1 : len(x)-1] }
		cases := []struct {
			name string
			call func()
		}{
			{"short a", func() { a, b, c := ok(); g.Fn(k, short(a), b, c, ldc, false) }},
			{"short b", func() { a, b, c := ok(); g.Fn(k, a, short(b), c, ldc, true) }},
			{"short c", func() { a, b, c := ok(); g.Fn(k, a, b, short(c), ldc, false) }},
			{"negative k", func() { a, b, c := ok(); g.Fn(-1, a, b, c, ldc, false) }},
		}
		a, b, c := ok()
		g.Fn(k, a, b, c, ldc, false) // exactly long enough: no panic
		for _, tc := range cases {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("%s: %s did not panic", g.ID, tc.name)
					}
				}()
				tc.call()
			}()
		}
	}
}

// tileCheck runs g on the panels with C (previous contents c0, MR×NR
// row-major) placed at row stride ldc inside a guarded buffer, and compares
// with ref.GemmTile.
func tileCheck(t *testing.T, name string, g simd.GemmKernel, k int, a, b, c0 []float32, ldc int, acc bool) {
	t.Helper()
	const pre, post = 7, 9
	buf := make([]float32, pre+(g.MR-1)*ldc+g.NR+post)
	for i := range buf {
		buf[i] = tileGuard
	}
	at := func(i, j int) int { return pre + i*ldc + j }
	for i := 0; i < g.MR; i++ {
		for j := 0; j < g.NR; j++ {
			buf[at(i, j)] = c0[i*g.NR+j]
		}
	}
	a0 := append([]float32(nil), a...)
	b0 := append([]float32(nil), b...)
	c := buf[pre : len(buf)-post]
	g.Fn(k, a[:k*g.MR:k*g.MR], b[:k*g.NR:k*g.NR], c, ldc, acc)

	val, mag := ref.GemmTile(k, g.MR, g.NR, a, b, c0, acc)
	bad := 0
	inside := make([]bool, len(buf))
	for i := 0; i < g.MR; i++ {
		for j := 0; j < g.NR; j++ {
			inside[at(i, j)] = true
			got, want := float64(buf[at(i, j)]), val[i*g.NR+j]
			if tileSame(got, want, ref.Tol(k+1, mag[i*g.NR+j])) {
				continue
			}
			if bad++; bad <= 5 {
				t.Errorf("%s: c[%d][%d] = %g, want %g (±%.3g)", name, i, j, got, want, ref.Tol(k+1, mag[i*g.NR+j]))
			}
		}
	}
	for i, v := range buf {
		if !inside[i] && math.Float32bits(v) != tileGuardBits {
			if bad++; bad <= 5 {
				t.Errorf("%s: wrote guard element %d (offset %d from c) = %g", name, i, i-pre, v)
			}
		}
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(a0[i]) {
			t.Fatalf("%s: modified a[%d]", name, i)
		}
	}
	for i := range b {
		if math.Float32bits(b[i]) != math.Float32bits(b0[i]) {
			t.Fatalf("%s: modified b[%d]", name, i)
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d bad elements in all", name, bad)
	}
}

// tileSame reports whether got matches want within tol, NaN matching NaN
// and an infinity matching itself.
func tileSame(got, want, tol float64) bool {
	switch {
	case math.IsNaN(want) || math.IsNaN(got):
		return math.IsNaN(want) && math.IsNaN(got)
	case math.IsInf(want, 0) || math.IsInf(got, 0):
		return got == want
	}
	return math.Abs(got-want) <= tol
}

func tileRandom(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()*2 - 1
	}
	return x
}
