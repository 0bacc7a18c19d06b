package simd_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
	"github.com/runinfer/runinfer/simd"
)

// The exponential-based activations (Sigmoid, SiLU) are float32
// approximations on the vector tiers: each tier's BiasAct is checked against
// the float64 oracles of internal/ref with an ulp tolerance. HardSigmoid and
// HardSwish are a product, a sum, a clamp (and HardSwish's product): within
// two roundings of the oracle.

// expActULPs is the tolerance of Sigmoid and SiLU in float32 ulps of the
// exact value. On the vector tiers e = e^-|v| is within 0.9 ulp after its
// polynomial (fitted to 2e-9) and exact scaling; SiLU's v·e, 1+e and the
// division round once each: relative errors of at most (0.9 + 0.5 + 0.5)
// units of 2^-23, which is up to 3.8 ulps of a result at the bottom of its
// binade, plus the final rounding: 4.3 ulps at worst (Sigmoid has one
// rounding less). Measured (16M random inputs in (-87, 87), and
// TestBiasActExpSweep): at most 2.34 (Sigmoid) and 3.0 (SiLU) ulps on avx2
// and avx512, 1.63 and 2.02 on generic (which finishes in float64; 1.46
// and 1.62 on arm64), and at most 2 ulps from Act.Apply. Beyond v < -87,
// e^-|v| is subnormal in float32 and the vector tiers' SiLU is off by up
// to |v|/2 subnormal spacings (52 ulps of 2^-149 at v = -104: an absolute
// error below 8e-44), which expTol allows separately.
const expActULPs = 5

// expTol is the absolute tolerance of an exponential activation's value
// want (float64) at input v: expActULPs ulps of want, and, for SiLU, |v|
// times the subnormal spacing, as e^-|v| below 2^-126 keeps fewer bits.
func expTol(kind simd.ActKind, v float64, want float64) float64 {
	tol := expActULPs * ref.ULP32(want)
	if kind == simd.ActSiLU {
		tol += 2 * math.Abs(v) * 0x1p-149
	}
	return tol
}

// oracle is the float64 value of act at v, and the absolute error a
// float32 kernel may have there.
func oracle(a simd.Act, v float32) (want, tol float64) {
	x := float64(v)
	switch a.Kind {
	case simd.ActSigmoid:
		want = ref.Sigmoid(x)
		return want, expTol(a.Kind, x, want)
	case simd.ActSiLU:
		want = ref.SiLU(x)
		return want, expTol(a.Kind, x, want)
	case simd.ActHardSigmoid:
		// round(round(alpha·v) + beta): two roundings of values at most
		// |alpha·v| + |beta|; the clamp is 1-Lipschitz.
		al, be := float64(a.Alpha), float64(a.Beta)
		want = ref.HardSigmoid(x, al, be)
		return want, 0x1p-23*(math.Abs(al*x)+math.Abs(be)) + 0x1p-149
	case simd.ActHardSwish:
		// h = clamp(round(round(float32(1/6)·v) + 1/2)) is within
		// 2^-23·(|v|/6 + 1/2) + |v|·2^-24/6 of the exact h (float32(1/6)
		// is 1/6 to 2^-24 relative), and v·h rounds once more.
		want = ref.HardSwish(x)
		ah := math.Abs(x)
		return want, ah*(0x1p-23*(ah/6+0.5)+0x1p-24*ah/6) + 0x1p-24*math.Abs(want) + 0x1p-149
	}
	panic("oracle: unknown kind")
}

var expActs = []simd.Act{
	{Kind: simd.ActSigmoid},
	{Kind: simd.ActSiLU},
	{Kind: simd.ActHardSigmoid, Alpha: 0.2, Beta: 0.5},
	{Kind: simd.ActHardSigmoid, Alpha: 1.0 / 6, Beta: 0.5},
	{Kind: simd.ActHardSigmoid, Alpha: -1, Beta: 0.25},
	{Kind: simd.ActHardSigmoid, Alpha: epNaN, Beta: 0.5},
	{Kind: simd.ActHardSigmoid, Alpha: 0.5, Beta: epNaN},
	{Kind: simd.ActHardSwish},
}

// checkAct reports whether got is within tolerance of act(v): NaN exactly
// when the oracle is NaN, infinities equal, otherwise within oracle's
// bound.
func checkAct(a simd.Act, v, got float32) error {
	want, tol := oracle(a, v)
	g := float64(got)
	switch {
	case want != want:
		if got == got {
			return fmt.Errorf("%+v(%g) = %g, want NaN", a, v, got)
		}
		return nil
	case math.IsInf(want, 0) || math.IsInf(g, 0):
		if g != want {
			return fmt.Errorf("%+v(%g) = %g, want %g", a, v, got, want)
		}
		return nil
	}
	if d := math.Abs(g - want); !(d <= tol) {
		return fmt.Errorf("%+v(%g) = %g (%#x), want %.9g: off by %.3g ulp (tolerance %.3g ulp)",
			a, v, got, math.Float32bits(got), want, d/ref.ULP32(want), tol/ref.ULP32(want))
	}
	return nil
}

// TestBiasActExp checks every tier's BiasAct for the exponential and hard
// activations against internal/ref, for lengths 0..70 (every remainder of
// the unrolled loops) inside NaN guards, with special values among the
// inputs, biases and parameters.
func TestBiasActExp(t *testing.T) {
	biases := []float32{0, epNegZ, 0.75, -3, epNaN, epInf, -epInf}
	for _, tier := range simd.Available() {
		k := simd.ForTier(tier)
		rng := rand.New(rand.NewPCG(uint64(tier), 19))
		for _, act := range expActs {
			for _, bias := range biases {
				for n := 0; n <= epMaxLen; n++ {
					in := epInput(rng, n)
					x, check := epGuarded(n, 1+n%3)
					copy(x, in)
					k.BiasAct(x, bias, act)
					for i, v := range in {
						if err := checkAct(act, v+bias, x[i]); err != nil {
							t.Fatalf("%s bias %g len %d at %d: %v", tier, bias, n, i, err)
						}
					}
					if err := check(); err != nil {
						t.Fatalf("%s BiasAct(%+v, bias %g): %v", tier, act, bias, err)
					}
				}
			}
		}
	}
}

// sweepInputs returns float32 values covering every exponent (several
// mantissas each, both signs), a dense grid over [-110, 110] (step 1e-4;
// 1e-3 with -short, for emulated runs), and the special values: NaN, ±Inf,
// ±0, subnormals, ±88, ±100, ±MaxFloat32.
func sweepInputs() []float32 {
	step, steps := float32(1e-4), 1100000
	if testing.Short() {
		step, steps = 1e-3, 110000
	}
	var xs []float32
	for e := -149; e <= 127; e++ {
		for _, m := range []float64{1, 1.1, 1.25, 1.5, 1.7, 1.9999999} {
			v := float32(math.Ldexp(m, e))
			xs = append(xs, v, -v)
		}
	}
	for i := -steps; i <= steps; i++ {
		xs = append(xs, float32(i)*step)
	}
	xs = append(xs, epNaN, epInf, -epInf, 0, epNegZ, epTiny, -epTiny, 88, -88, 100, -100,
		87.3, -87.3, 103.9, -103.9, 104, -104, 150, -150,
		math.MaxFloat32, -math.MaxFloat32, math.Float32frombits(0x007fffff), -math.Float32frombits(0x007fffff))
	return xs
}

// TestBiasActExpSweep measures each tier's largest error in ulps for
// Sigmoid and SiLU against the float64 oracle and against Act.Apply (the
// generic definition, float64 rounded once) over sweepInputs, logs it, and
// checks it against the tolerance.
func TestBiasActExpSweep(t *testing.T) {
	xs := sweepInputs()
	for _, tier := range simd.Available() {
		k := simd.ForTier(tier)
		for _, act := range []simd.Act{{Kind: simd.ActSigmoid}, {Kind: simd.ActSiLU}} {
			y := append([]float32(nil), xs...)
			k.BiasAct(y, 0, act)
			var maxRef, maxApply, maxNormal float64
			var atRef, atApply float32
			for i, v := range xs {
				if err := checkAct(act, v, y[i]); err != nil {
					t.Errorf("%s: %v", tier, err)
					continue
				}
				want := act.Apply(v)
				if want != want || math.IsInf(float64(want), 0) {
					continue
				}
				exact, _ := oracle(act, v)
				u := math.Abs(float64(y[i])-exact) / ref.ULP32(exact)
				if u > maxRef {
					maxRef, atRef = u, v
				}
				if math.Abs(float64(v)) < 87 { // e^-|v| a normal float32
					maxNormal = max(maxNormal, u)
				}
				if u := math.Abs(float64(y[i])-float64(want)) / ref.ULP32(float64(want)); u > maxApply {
					maxApply, atApply = u, v
				}
			}
			name := map[simd.ActKind]string{simd.ActSigmoid: "Sigmoid", simd.ActSiLU: "SiLU"}[act.Kind]
			t.Logf("%s %s: max error %.3f ulp vs float64 (at %g; %.3f ulp for |v| < 87), %.3f ulp vs Act.Apply (at %g), %d inputs",
				tier, name, maxRef, atRef, maxNormal, maxApply, atApply, len(xs))
		}
	}
}

// TestBiasActExpSpecials pins the special values exactly on every tier.
func TestBiasActExpSpecials(t *testing.T) {
	sig := simd.Act{Kind: simd.ActSigmoid}
	silu := simd.Act{Kind: simd.ActSiLU}
	cases := []struct {
		act  simd.Act
		x    float32
		want float32
	}{
		{sig, epInf, 1}, {sig, -epInf, 0}, {sig, 0, 0.5}, {sig, epNegZ, 0.5},
		{sig, 200, 1}, {sig, -200, 0}, {sig, math.MaxFloat32, 1}, {sig, -math.MaxFloat32, 0},
		{silu, epInf, epInf}, {silu, 0, 0}, {silu, 200, 200}, {silu, -200, epNegZ},
		{silu, math.MaxFloat32, math.MaxFloat32},
	}
	for _, tier := range simd.Available() {
		k := simd.ForTier(tier)
		for _, c := range cases {
			for _, n := range []int{1, 9, 17} { // the scalar or masked tail, and a full vector
				x := make([]float32, n)
				for i := range x {
					x[i] = c.x
				}
				k.BiasAct(x, 0, c.act)
				for i, v := range x {
					if math.Float32bits(v) != math.Float32bits(c.want) {
						t.Errorf("%s %v(%g) len %d at %d = %g (%#x), want %g", tier, c.act.Kind, c.x, n, i, v, math.Float32bits(v), c.want)
						break
					}
				}
			}
		}
		// -0 + bias -0 stays -0, and SiLU keeps its sign.
		for _, n := range []int{1, 9, 17} {
			x := make([]float32, n)
			for i := range x {
				x[i] = epNegZ
			}
			k.BiasAct(x, epNegZ, silu)
			for i, v := range x {
				if math.Float32bits(v) != math.Float32bits(epNegZ) {
					t.Errorf("%s SiLU(-0) len %d at %d = %g, want -0", tier, n, i, v)
				}
			}
		}
		for _, a := range append(expActs, sig, silu) {
			x := []float32{epNaN, epNaN, epNaN, epNaN, epNaN, epNaN, epNaN, epNaN, epNaN}
			k.BiasAct(x, 0, a)
			for i, v := range x {
				if v == v {
					t.Errorf("%s %+v(NaN) at %d = %g, want NaN", tier, a, i, v)
				}
			}
		}
	}
}

// BenchmarkBiasActExp times the exponential and hard activations on one
// 56×56 channel (in L1) and on a 96×112×112 map (the largest efficientnet_b0
// SiLU, beyond the caches), reporting bytes read and written.
func BenchmarkBiasActExp(b *testing.B) {
	acts := []struct {
		name string
		act  simd.Act
	}{
		{"sigmoid", simd.Act{Kind: simd.ActSigmoid}},
		{"silu", simd.Act{Kind: simd.ActSiLU}},
		{"hardsigmoid", simd.Act{Kind: simd.ActHardSigmoid, Alpha: 1.0 / 6, Beta: 0.5}},
		{"hardswish", simd.Act{Kind: simd.ActHardSwish}},
	}
	for _, n := range []int{56 * 56, 96 * 112 * 112} {
		for _, tier := range simd.Available() {
			k := simd.ForTier(tier)
			for _, a := range acts {
				b.Run(fmt.Sprintf("%s/%s/n=%d", tier, a.name, n), func(b *testing.B) {
					x := make([]float32, n)
					rng := rand.New(rand.NewPCG(1, 2))
					for i := range x {
						x[i] = rng.Float32()*8 - 4
					}
					x0 := append([]float32(nil), x...)
					b.SetBytes(8 * int64(n))
					for b.Loop() {
						copy(x, x0) // keep the inputs from converging to a fixed point
						k.BiasAct(x, 0, a.act)
					}
				})
			}
		}
	}
}
