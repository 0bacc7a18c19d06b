package ref

import "math"

// Sigmoid is 1/(1+e^-x) in float64, in the form that never overflows: for
// x >= 0 1/(1+e^-x), else e^x/(1+e^x). NaN gives NaN, ±Inf give 1 and 0.
func Sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// SiLU is x·sigmoid(x) (Swish) in float64.
func SiLU(x float64) float64 { return x * Sigmoid(x) }

// HardSigmoid is max(0, min(1, alpha·x + beta)) in float64, NaN passing
// through.
func HardSigmoid(x, alpha, beta float64) float64 {
	v := alpha*x + beta
	switch {
	case v < 0:
		return 0
	case v > 1:
		return 1
	}
	return v
}

// HardSwish is x·HardSigmoid(x, 1/6, 1/2) in float64 (the ONNX definition,
// with the exact 1/6).
func HardSwish(x float64) float64 { return x * HardSigmoid(x, 1.0/6, 0.5) }

// ScaleBias returns per-channel affine maps of a tensor laid out as blocks
// of inner elements cycling through len(scale) channels (an N×C×H×W map
// with inner = H·W), and their magnitudes:
//
//	val[i] = x[i]·scale[c] + bias[c],  mag[i] = |x[i]·scale[c]| + |bias[c]|
//
// with c = (i/inner) % len(scale). A float32 kernel computing it with one
// fused multiply-add or a product and a sum is within Tol(1, mag) (before
// any activation, which is 1-Lipschitz for Relu and Clip).
func ScaleBias(x, scale, bias []float32, inner int) (val, mag []float64) {
	val = make([]float64, len(x))
	mag = make([]float64, len(x))
	for i, v := range x {
		c := (i / inner) % len(scale)
		p := float64(v) * float64(scale[c])
		val[i] = p + float64(bias[c])
		mag[i] = math.Abs(p) + math.Abs(float64(bias[c]))
	}
	return val, mag
}

// BatchNormCoeffs returns the per-channel scale and bias of an inference
// BatchNormalization, y = x·s + b, in float64:
//
//	s = gamma/sqrt(var + eps),  b = beta - mean·s
func BatchNormCoeffs(gamma, beta, mean, variance []float32, eps float64) (s, b []float64) {
	s = make([]float64, len(gamma))
	b = make([]float64, len(gamma))
	for c := range gamma {
		s[c] = float64(gamma[c]) / math.Sqrt(float64(variance[c])+eps)
		b[c] = float64(beta[c]) - float64(mean[c])*s[c]
	}
	return s, b
}

// ULP32 is the spacing of float32 values at x's magnitude: 2^(e-23) for a
// normal |x| in [2^e, 2^(e+1)), 2^-149 for subnormals and zero. Infinite
// and NaN x give +Inf.
func ULP32(x float64) float64 {
	ax := math.Abs(x)
	if math.IsInf(ax, 0) || ax != ax {
		return math.Inf(1)
	}
	if ax < 0x1p-126 {
		return 0x1p-149
	}
	_, e := math.Frexp(ax) // ax = f·2^e, f in [0.5, 1)
	return math.Ldexp(1, e-24)
}
