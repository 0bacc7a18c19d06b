package simd_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/simd"
)

const epGuardBits = 0x7fc0f00d // a quiet NaN with a recognisable payload

var (
	epNaN    = float32(math.NaN())
	epInf    = float32(math.Inf(1))
	epNegZ   = float32(math.Copysign(0, -1))
	epTiny   = math.Float32frombits(1) // smallest subnormal
	epMaxLen = 70                      // lengths 0..epMaxLen cover every remainder of 4 vectors of 16
)

// epSpecials are mixed into the random inputs: NaN, infinities, signed
// zeros, subnormals and the Clip bounds used below.
var epSpecials = []float32{epNaN, epInf, -epInf, 0, epNegZ, epTiny, -epTiny, 6, -1, 1, 3, 5}

// epInput returns n values, mostly uniform in [-8, 8), one in four special.
func epInput(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		if rng.IntN(4) == 0 {
			x[i] = epSpecials[rng.IntN(len(epSpecials))]
		} else {
			x[i] = rng.Float32()*16 - 8
		}
	}
	return x
}

// epSame reports whether got is want bit for bit (so zeros' signs count),
// any NaN matching any NaN (payloads are not part of the contract).
func epSame(got, want float32) bool {
	if want != want {
		return got != got
	}
	return math.Float32bits(got) == math.Float32bits(want)
}

// epGuarded returns a slice of n elements inside a buffer whose other
// elements are NaN guards, starting off elements in (so vectors are not
// aligned), and a function that reports the first guard that changed.
func epGuarded(n, off int) (x []float32, check func() error) {
	buf := make([]float32, off+n+19)
	for i := range buf {
		buf[i] = math.Float32frombits(epGuardBits)
	}
	check = func() error {
		for i, v := range buf {
			if (i < off || i >= off+n) && math.Float32bits(v) != epGuardBits {
				return fmt.Errorf("wrote guard element at offset %d from x (len %d): %g", i-off, n, v)
			}
		}
		return nil
	}
	return buf[off : off+n : off+n], check
}

// TestBiasAct checks every tier's BiasAct against Act.Apply(x+bias), the
// definition, bit for bit (NaN matching any NaN), for lengths 0..70 inside
// NaN guards, with NaN, infinities, signed zeros and subnormals among the
// inputs, biases and activation parameters (including Clip with lo > hi and
// NaN bounds). Zeros' signs are compared too.
func TestBiasAct(t *testing.T) {
	acts := []simd.Act{
		{Kind: simd.ActNone},
		{Kind: simd.ActRelu},
		{Kind: simd.ActClip, Alpha: 0, Beta: 6},
		{Kind: simd.ActClip, Alpha: -1, Beta: 1},
		{Kind: simd.ActClip, Alpha: 5, Beta: 3},
		{Kind: simd.ActClip, Alpha: epNaN, Beta: 1},
		{Kind: simd.ActClip, Alpha: 0, Beta: epNaN},
		{Kind: simd.ActClip, Alpha: -epInf, Beta: epInf},
		{Kind: simd.ActClip, Alpha: epNegZ, Beta: 0},
		{Kind: simd.ActLeakyRelu, Alpha: 0.1},
		{Kind: simd.ActLeakyRelu, Alpha: -2},
		{Kind: simd.ActLeakyRelu, Alpha: 0},
		{Kind: simd.ActLeakyRelu, Alpha: epNaN},
		{Kind: simd.ActKind(99)}, // unknown kinds fall back to Apply (identity)
	}
	biases := []float32{0, epNegZ, 0.75, -3, epNaN, epInf}
	for _, tier := range simd.Available() {
		k := simd.ForTier(tier)
		rng := rand.New(rand.NewPCG(uint64(tier), 9))
		for _, act := range acts {
			for _, bias := range biases {
				for n := 0; n <= epMaxLen; n++ {
					in := epInput(rng, n)
					x, check := epGuarded(n, 1+n%3)
					copy(x, in)
					k.BiasAct(x, bias, act)
					for i, v := range in {
						want := act.Apply(v + bias)
						if !epSame(x[i], want) {
							t.Fatalf("%s BiasAct(%+v, bias %g), len %d: x[%d] = %g (%#x) from %g, want %g (%#x)",
								tier, act, bias, n, i, x[i], math.Float32bits(x[i]), v, want, math.Float32bits(want))
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

// TestAddTo checks every tier's AddTo against dst[i] + src[i] bit for bit
// (NaN matching any NaN) for lengths 0..70 inside NaN guards, with src
// longer than dst by 0..3 elements, special values among the inputs, and
// src unchanged; a src shorter than dst must panic.
func TestAddTo(t *testing.T) {
	for _, tier := range simd.Available() {
		k := simd.ForTier(tier)
		rng := rand.New(rand.NewPCG(uint64(tier), 10))
		for n := 0; n <= epMaxLen; n++ {
			for extra := 0; extra <= 3; extra++ {
				in := epInput(rng, n)
				src := epInput(rng, n+extra)
				src0 := append([]float32(nil), src...)
				dst, check := epGuarded(n, 1+extra)
				copy(dst, in)
				k.AddTo(dst, src)
				for i := range in {
					if want := in[i] + src[i]; !epSame(dst[i], want) {
						t.Fatalf("%s AddTo len %d: dst[%d] = %g, want %g + %g = %g", tier, n, i, dst[i], in[i], src[i], want)
					}
				}
				if err := check(); err != nil {
					t.Fatalf("%s AddTo: %v", tier, err)
				}
				for i := range src {
					if math.Float32bits(src[i]) != math.Float32bits(src0[i]) {
						t.Fatalf("%s AddTo len %d: modified src[%d]", tier, n, i)
					}
				}
			}
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s AddTo with len(src) < len(dst) did not panic", tier)
				}
			}()
			k.AddTo(make([]float32, 9), make([]float32, 8))
		}()
	}
}
