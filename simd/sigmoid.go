package simd

import "math"

// The sigmoid of the portable tier: the range reduction and polynomial of
// the amd64 kernels (simd/_gen/epilogue.go, expNeg) in float32, the rest in
// float64: e = e^-|v| = p·2^n, then 1/(1+e) or e/(1+e) rounded once. It is
// within 2 float32 ulps of Act.Apply (see TestBiasActExpSweep) and about
// twice as fast as Apply's float64 math.Exp (BenchmarkBiasActExp/generic).

// Constants of expNeg32 (the same values as the generator's table).
const (
	expLow     = -110           // below, e (and v·e) round to 0 in float32; n stays >= -159
	expLog2e   = 1.44269502     // float32(1/ln 2)
	expShifter = 0x1.8p23       // adding it rounds a float32 below 2^22 to an integer
	expLn2Hi   = 0.693359375    // ln 2 to 9 bits: n·expLn2Hi is exact for |n| <= 2^15
	expLn2Lo   = -2.12194442e-4 // ln 2 - expLn2Hi
	expC6      = 0.00138436048
	expC5      = 0.00837419555
	expC4      = 0.0416680053
	expC3      = 0.166664302
	expC2      = 0.49999994
)

// expNeg32 is e^-|v| as p·2^n: p = e^r by the float32 polynomial, within
// an ulp, and n in [-159, 0]; scaled in float64 (exact, even where e is
// below float32's normal range). NaN gives NaN.
func expNeg32(v float32) float64 {
	t := math.Float32frombits(math.Float32bits(v) | 1<<31) // -|v|
	if !(t >= expLow) {
		if t != t {
			return float64(t)
		}
		return 0 // e^-110 makes even |v|·e round to 0
	}
	z := t*expLog2e + expShifter
	nf := z - expShifter // round(t·log2e), in [-159, 0]
	r := t - nf*expLn2Hi // exact
	r -= nf * expLn2Lo
	p := ((((expC6*r+expC5)*r+expC4)*r+expC3)*r+expC2)*r + 1
	p = p*r + 1
	return float64(p) * math.Float64frombits(uint64(int64(nf)+1023)<<52)
}

// sigmoid32 is the float32 sigmoid: 1/(1+e) for v >= 0, e/(1+e) below,
// rounded once from float64.
func sigmoid32(v float32) float32 {
	e := expNeg32(v)
	if v >= 0 {
		return float32(1 / (1 + e))
	}
	return float32(e / (1 + e))
}

// silu32 is v·sigmoid(v): v/(1+e) for v >= 0, v·e/(1+e) below, rounded
// once from float64.
func silu32(v float32) float32 {
	e := expNeg32(v)
	if v >= 0 {
		return float32(float64(v) / (1 + e))
	}
	return float32(float64(v) * e / (1 + e))
}
