//go:build arm64

package simd_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/simd"
)

// These tests check the neon tier against naive float64 loops; run them
// on an amd64 host with
//
//	GOARCH=arm64 go test -exec qemu-aarch64-static ./simd
//
// (.ci/qemu-arm64.sh does). The arch-neutral tests over simd.Available()
// cover the neon tier too; these add NEON-specific edge cases.

// neonGuard fills the memory around and between outputs; a kernel that
// writes it has overrun.
var neonGuard = math.Float32frombits(0x7fa5a5a5) // a NaN with a recognisable payload

func neonTable(t *testing.T) *simd.Kernels {
	t.Helper()
	if !simd.Supported(simd.NEON) {
		t.Skip("neon tier not built (purego)")
	}
	k := simd.ForTier(simd.NEON)
	if k.Tier != simd.NEON {
		t.Fatalf("ForTier(NEON).Tier = %v", k.Tier)
	}
	return k
}

// TestNEONGemm compares f32-gemm-8x8-neon with a float64 loop for every k in
// a list around the kernel's 2-step unrolling, row strides equal to and
// above NR, and both values of acc. Tolerance: each output is a sum of k
// products plus, with acc, the old value; float32 accumulation of n terms
// errs by at most about n·2⁻²⁴ times the sum of the terms' magnitudes, so
// the bound is 1.2e-7·(k+2)·Σ|term|.
func TestNEONGemm(t *testing.T) {
	g := neonTable(t).Gemm
	if g.ID != "f32-gemm-8x8-neon" || g.MR != 8 || g.NR != 8 {
		t.Fatalf("neon Gemm = %s %dx%d", g.ID, g.MR, g.NR)
	}
	const mr, nr = 8, 8
	rng := rand.New(rand.NewPCG(1, 2))
	for _, k := range []int{0, 1, 2, 3, 7, 16, 17, 255} {
		for _, ldc := range []int{8, 13} {
			for _, acc := range []bool{false, true} {
				a := make([]float32, k*mr)
				b := make([]float32, k*nr)
				for i := range a {
					a[i] = rng.Float32()*2 - 1
				}
				for i := range b {
					b[i] = rng.Float32()*2 - 1
				}
				// c sits at offset pad in buf, which has guards on both
				// sides and in each row's columns nr..ldc-1.
				const pad = 5
				size := (mr-1)*ldc + nr
				buf := make([]float32, pad+size+pad)
				for i := range buf {
					buf[i] = neonGuard
				}
				old := make([]float32, mr*nr)
				for i := 0; i < mr; i++ {
					for j := 0; j < nr; j++ {
						old[i*nr+j] = rng.Float32()*8 - 4
						buf[pad+i*ldc+j] = old[i*nr+j]
					}
				}
				c := buf[pad : pad+size : pad+size]
				g.Fn(k, a, b, c, ldc, acc)

				for i := 0; i < mr; i++ {
					for j := 0; j < nr; j++ {
						var want, mag float64
						if acc {
							want = float64(old[i*nr+j])
							mag = math.Abs(want)
						}
						for p := 0; p < k; p++ {
							term := float64(a[p*mr+i]) * float64(b[p*nr+j])
							want += term
							mag += math.Abs(term)
						}
						got := float64(c[i*ldc+j])
						if tol := 1.2e-7 * float64(k+2) * mag; !(math.Abs(got-want) <= tol) {
							t.Errorf("k=%d ldc=%d acc=%v: c[%d][%d] = %g, want %g (tol %g)", k, ldc, acc, i, j, got, want, tol)
						}
					}
				}
				neonCheckGuards(t, buf, func(i int) bool {
					i -= pad
					return i >= 0 && i < size && i%ldc < nr
				})
			}
		}
	}
}

// TestNEONGemmSpecials checks that NaN and infinities reach the right
// outputs and only those, and that acc keeps a NaN already in c.
func TestNEONGemmSpecials(t *testing.T) {
	g := neonTable(t).Gemm
	const k = 5
	a := make([]float32, k*8)
	b := make([]float32, k*8)
	for i := range a {
		a[i], b[i] = 1, 1
	}
	a[2*8+3] = float32(math.NaN())  // row 3 at p=2
	b[4*8+6] = float32(math.Inf(1)) // column 6 at p=4
	c := make([]float32, 8*8)
	c[1*8+1] = float32(math.NaN())
	g.Fn(k, a, b, c, 8, true)
	for i := 0; i < 8; i++ {
		for j := 0; j < 8; j++ {
			got := c[i*8+j]
			switch {
			case i == 3 || (i == 1 && j == 1):
				if !math.IsNaN(float64(got)) {
					t.Errorf("c[%d][%d] = %g, want NaN", i, j, got)
				}
			case j == 6:
				if !math.IsInf(float64(got), 1) {
					t.Errorf("c[%d][%d] = %g, want +Inf", i, j, got)
				}
			case got != k:
				t.Errorf("c[%d][%d] = %g, want %d", i, j, got, k)
			}
		}
	}
}

// neonLengths cover every remainder of the 16- and 4-wide loops.
var neonLengths = func() []int {
	var ns []int
	for n := 0; n <= 40; n++ {
		ns = append(ns, n)
	}
	return append(ns, 63, 64, 65, 255, 1000)
}()

// neonSpecials are inputs where activations are easy to get wrong.
var neonSpecials = []float32{
	0, float32(math.Copysign(0, -1)), float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)),
	1, -1, 6, 6.0000005, 5.9999995, -1e-38, 1e-45, -1e-45, math.MaxFloat32, -math.MaxFloat32,
}

// TestNEONBiasAct compares BiasAct bit for bit with Act.Apply(x+bias) (any
// NaN matches any NaN), on random values mixed with neonSpecials, for every
// activation, including Clip with lo > hi and NaN bounds.
func TestNEONBiasAct(t *testing.T) {
	kt := neonTable(t)
	nan := float32(math.NaN())
	acts := []simd.Act{
		{Kind: simd.ActNone},
		{Kind: simd.ActRelu},
		{Kind: simd.ActClip, Alpha: 0, Beta: 6},
		{Kind: simd.ActClip, Alpha: -1, Beta: 1},
		{Kind: simd.ActClip, Alpha: 2, Beta: -2},
		{Kind: simd.ActClip, Alpha: nan, Beta: 1},
		{Kind: simd.ActClip, Alpha: -1, Beta: nan},
		{Kind: simd.ActClip, Alpha: float32(math.Inf(-1)), Beta: float32(math.Inf(1))},
		{Kind: simd.ActLeakyRelu, Alpha: 0.01},
		{Kind: simd.ActLeakyRelu, Alpha: -3},
		{Kind: simd.ActLeakyRelu, Alpha: nan},
		{Kind: simd.ActKind(99)}, // unknown kinds behave as ActNone in Apply
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const pad = 3
	for _, act := range acts {
		for _, bias := range []float32{0, 0.5, -2, float32(math.Copysign(0, -1)), nan} {
			for _, n := range neonLengths {
				buf := make([]float32, pad+n+pad)
				for i := range buf {
					buf[i] = neonGuard
				}
				x := buf[pad : pad+n : pad+n]
				for i := range x {
					if rng.IntN(3) == 0 {
						x[i] = neonSpecials[rng.IntN(len(neonSpecials))]
					} else {
						x[i] = rng.Float32()*16 - 8
					}
				}
				in := append([]float32(nil), x...)
				kt.BiasAct(x, bias, act)
				for i := range x {
					want := act.Apply(in[i] + bias)
					if !neonSame(x[i], want) {
						t.Errorf("%+v bias=%g n=%d: act(%g + bias) = %g (bits %#x), want %g (bits %#x)",
							act, bias, n, in[i], x[i], math.Float32bits(x[i]), want, math.Float32bits(want))
					}
				}
				neonCheckGuards(t, buf, func(i int) bool { return i >= pad && i < pad+n })
			}
		}
	}
}

// TestNEONAddTo compares AddTo with float32 additions bit for bit, with src
// longer than dst and guards around dst.
func TestNEONAddTo(t *testing.T) {
	kt := neonTable(t)
	rng := rand.New(rand.NewPCG(5, 6))
	const pad = 3
	for _, n := range neonLengths {
		buf := make([]float32, pad+n+pad)
		for i := range buf {
			buf[i] = neonGuard
		}
		dst := buf[pad : pad+n : pad+n]
		src := make([]float32, n+7)
		for i := range src {
			src[i] = rng.Float32()*4 - 2
			if i < n {
				dst[i] = rng.Float32()*4 - 2
				if rng.IntN(4) == 0 {
					dst[i] = neonSpecials[rng.IntN(len(neonSpecials))]
				}
			}
		}
		in := append([]float32(nil), dst...)
		kt.AddTo(dst, src)
		for i := range dst {
			if want := in[i] + src[i]; !neonSame(dst[i], want) {
				t.Errorf("n=%d: %g + %g = %g, want %g", n, in[i], src[i], dst[i], want)
			}
		}
		neonCheckGuards(t, buf, func(i int) bool { return i >= pad && i < pad+n })
	}
}

// neonSame reports whether got and want have the same bits, any NaN
// matching any NaN.
func neonSame(got, want float32) bool {
	if math.IsNaN(float64(want)) {
		return math.IsNaN(float64(got))
	}
	return math.Float32bits(got) == math.Float32bits(want)
}

// neonCheckGuards fails the test for every element of buf outside the
// output (written(i) false) that no longer holds neonGuard.
func neonCheckGuards(t *testing.T, buf []float32, written func(int) bool) {
	t.Helper()
	for i, v := range buf {
		if !written(i) && math.Float32bits(v) != math.Float32bits(neonGuard) {
			t.Fatalf("guard at %d overwritten: %g (bits %#x)", i, v, math.Float32bits(v))
		}
	}
}
