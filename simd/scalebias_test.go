package simd_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
	"github.com/runinfer/runinfer/simd"
)

// TestScaleBiasAct checks every tier's ScaleBiasAct against internal/ref
// for lengths 0..70 inside NaN guards, in place and out of place, with
// special values among the inputs, scales and biases. The affine value is
// within two roundings of the exact one (2^-23 of its magnitude |x·s| +
// |b|; one FMA is one rounding); an activation of Lipschitz constant L
// scales that by L and adds its own error (see oracle).
func TestScaleBiasAct(t *testing.T) {
	acts := []struct {
		act simd.Act
		lip float64
	}{
		{simd.Act{Kind: simd.ActNone}, 1},
		{simd.Act{Kind: simd.ActRelu}, 1},
		{simd.Act{Kind: simd.ActClip, Alpha: 0, Beta: 6}, 1},
		{simd.Act{Kind: simd.ActLeakyRelu, Alpha: 0.1}, 1},
		{simd.Act{Kind: simd.ActSigmoid}, 0.25},
		{simd.Act{Kind: simd.ActSiLU}, 1.1},
		{simd.Act{Kind: simd.ActHardSwish}, 1.5},
	}
	params := [][2]float32{{1, 0}, {0.5, -0.25}, {-3, 2}, {0, 1}, {epNegZ, epNegZ}, {2.5e-3, 1e3}, {epNaN, 1}, {1, epInf}}
	for _, tier := range simd.Available() {
		k := simd.ForTier(tier)
		rng := rand.New(rand.NewPCG(uint64(tier), 21))
		for _, a := range acts {
			for _, p := range params {
				scale, bias := p[0], p[1]
				for n := 0; n <= epMaxLen; n++ {
					for _, inPlace := range []bool{false, true} {
						in := epInput(rng, n+2)
						dst, check := epGuarded(n, 1+n%3)
						src := append([]float32(nil), in...)
						if inPlace {
							copy(dst, in)
							src = dst
						}
						k.ScaleBiasAct(dst, src, scale, bias, a.act)
						val, mag := ref.ScaleBias(in[:n], []float32{scale}, []float32{bias}, 1)
						for i := range dst {
							if err := checkAffine(a.act, a.lip, in[i], val[i], mag[i], dst[i]); err != "" {
								t.Fatalf("%s ScaleBiasAct(%+v, scale %g, bias %g) len %d in place %v at %d: %s",
									tier, a.act, scale, bias, n, inPlace, i, err)
							}
						}
						if err := check(); err != nil {
							t.Fatalf("%s ScaleBiasAct(%+v): %v", tier, a.act, err)
						}
						if !inPlace {
							for i := range src {
								if math.Float32bits(src[i]) != math.Float32bits(in[i]) {
									t.Fatalf("%s ScaleBiasAct modified src[%d]", tier, i)
								}
							}
						}
					}
				}
			}
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s ScaleBiasAct with len(src) < len(dst) did not panic", tier)
				}
			}()
			k.ScaleBiasAct(make([]float32, 9), make([]float32, 8), 1, 0, simd.Act{})
		}()
	}
}

// checkAffine compares got with act(val) (val the exact affine value, mag
// its magnitude), returning a description of the mismatch or "".
func checkAffine(a simd.Act, lip float64, x float32, val, mag float64, got float32) string {
	g := float64(got)
	if val != val || math.IsInf(val, 0) || math.IsInf(mag, 0) {
		// NaN or infinite affine values: the exact activation of the
		// float32 value, NaN for NaN.
		want := float64(a.Apply(float32(val)))
		if want != want {
			if got == got {
				return "want NaN"
			}
			return ""
		}
		if g != want {
			return "want " + ftoa(want) + ", got " + ftoa(g)
		}
		return ""
	}
	dv := 0x1p-23 * mag
	var want, tol float64
	switch a.Kind {
	case simd.ActNone:
		want = val
	case simd.ActRelu:
		want = math.Max(val, 0)
	case simd.ActClip:
		want = math.Min(math.Max(val, float64(a.Alpha)), float64(a.Beta))
	case simd.ActLeakyRelu:
		want = val
		if val < 0 {
			want = float64(a.Alpha) * val
		}
		tol = 0x1p-24 * math.Abs(want)
	default:
		// The oracle at the float32 nearest val, whose distance to val
		// is inside dv.
		want, tol = oracle(a, float32(val))
	}
	if d := math.Abs(g - want); !(d <= tol+lip*dv+0x1p-149) {
		return "got " + ftoa(g) + ", want " + ftoa(want) + " from x = " + ftoa(float64(x))
	}
	return ""
}

func ftoa(v float64) string { return fmt.Sprintf("%.9g", v) }
