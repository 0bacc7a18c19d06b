package runtime

import (
	"math"

	"github.com/runinfer/runinfer/ir"
)

// Fast float32 Exp and Softmax (opset-13 semantics: one axis). Both use
// exp64, a float64 exponential accurate to a few parts in 1e9 (far below a
// float32 rounding), so a float32 Exp is float32(math.Exp(x)) or one ulp
// from it, and Softmax keeps the reference's float64 sums.

func init() {
	fastOps["Exp"] = chooseExp
	fastOps["Softmax"] = chooseSoftmax
}

const (
	log2e   = 1.4426950408889634 // 1/ln 2
	ln2     = 0.6931471805599453
	expHigh = 709.782712893384 // ln(MaxFloat64): exp64 gives +Inf above
	expLow  = -745.0           // and 0 below (math.Exp(-745.2) is 0)
)

// exp64 is e^t: t = n·ln2 + r with |r| <= ln2/2, e^r by its Taylor series
// to degree 8 (relative error below 1e-9 for |r| <= 0.35), times 2^n. NaN
// gives NaN, ±Inf give +Inf and 0. Loops call expCore directly where they
// can (see expSlice).
func exp64(t float64) float64 {
	if expInRange(t) {
		return expCore(t)
	}
	return expEdge(t)
}

// expInRange reports whether expCore computes e^t: n = round(t/ln2) in
// [-1022, 1023], so that 2^n is one normal float64.
func expInRange(t float64) bool { return t >= -708 && t <= 709 }

// expCore is e^t for expInRange(t).
func expCore(t float64) float64 {
	// n = round(t/ln2): adding and subtracting 1.5·2^52 rounds to an
	// integer (|t/ln2| < 1100 here).
	const shifter = 0x1.8p52
	n := (t*log2e + shifter) - shifter
	r := t - n*ln2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040+r*(1.0/40320))))))))
	return p * math.Float64frombits(uint64(int64(n)+1023)<<52)
}

// expEdge is e^t outside expInRange: NaN, the overflow to +Inf, and the
// subnormal results, where 2^n takes two factors.
func expEdge(t float64) float64 {
	switch {
	case t != t:
		return t
	case t > expHigh:
		return math.Inf(1)
	case t < expLow:
		return 0
	}
	const shifter = 0x1.8p52
	n := (t*log2e + shifter) - shifter
	r := t - n*ln2
	p := 1 + r*(1+r*(1.0/2+r*(1.0/6+r*(1.0/24+r*(1.0/120+r*(1.0/720+r*(1.0/5040+r*(1.0/40320))))))))
	ni := int64(n)
	h := ni / 2
	return p * math.Float64frombits(uint64(h+1023)<<52) * math.Float64frombits(uint64(ni-h+1023)<<52)
}

// fastExp is a float32 Exp.
type fastExp struct{}

func chooseExp(_ *planCtx, _ *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) != 1 || in[0] == nil || in[0].dtype != ir.Float32 || len(out) != 1 {
		return nil, nil
	}
	return fastExp{}, nil
}

func (fastExp) inPlace() []int { return []int{0} }

func (k fastExp) run(rc *runCtx, in, out []*ir.Tensor) error {
	rc.f[0], rc.f[1] = in[0].F32(), out[0].F32()
	rc.parallel((len(rc.f[1])+elemChunk-1)/elemChunk, k)
	return nil
}

func (fastExp) part(rc *runCtx, i int) {
	x, y := rc.f[0], rc.f[1]
	lo, hi := i*elemChunk, min(len(y), (i+1)*elemChunk)
	expSlice(y[lo:hi], x[lo:hi], 0)
}

// expSlice sets dst[j] = e^(src[j] - shift) in float64, rounded to float32,
// and returns the float64 sum of the exponentials. When every argument is in
// expInRange (one quick pass checks), the loop has no branch, which makes
// it about 3 times faster (measured: 8.4 against 28 ns per value).
func expSlice(dst, src []float32, shift float64) float64 {
	dst = dst[:len(src)]
	in := true
	for _, v := range src {
		if t := float64(v) - shift; !expInRange(t) {
			in = false
			break
		}
	}
	sum := 0.0
	if in {
		for j, v := range src {
			e := expCore(float64(v) - shift)
			dst[j] = float32(e)
			sum += e
		}
		return sum
	}
	for j, v := range src {
		e := exp64(float64(v) - shift)
		dst[j] = float32(e)
		sum += e
	}
	return sum
}

// fastSoftmax is a float32 Softmax over one axis: the input is viewed as
// outer × size × inner, and each of the outer×inner lines of size elements
// (inner apart) is normalized.
type fastSoftmax struct {
	outer, size, inner   int
	linesPerItem, nItems int
}

func chooseSoftmax(_ *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) != 1 || in[0] == nil || in[0].dtype != ir.Float32 || len(out) != 1 {
		return nil, nil
	}
	shape := in[0].shape
	axis, err := normAxis(n.AttrInt("axis", -1), len(shape))
	if err != nil {
		return nil, err
	}
	k := &fastSoftmax{outer: prod(shape[:axis]), size: shape[axis], inner: prod(shape[axis+1:])}
	lines := k.outer * k.inner
	k.linesPerItem = max(1, elemChunk/max(1, k.size))
	k.nItems = (lines + k.linesPerItem - 1) / k.linesPerItem
	return k, nil
}

// inPlace: every line reads its elements before it writes them.
func (k *fastSoftmax) inPlace() []int { return []int{0} }

func (k *fastSoftmax) run(rc *runCtx, in, out []*ir.Tensor) error {
	if k.size == 0 {
		return nil
	}
	rc.f[0], rc.f[1] = in[0].F32(), out[0].F32()
	rc.parallel(k.nItems, k)
	return nil
}

// part normalizes lines [i·linesPerItem, (i+1)·linesPerItem) as the
// reference does: subtract the line's maximum (NaN when the line has a NaN;
// 0 when every element is -Inf), sum the exponentials in float64, divide.
// The exponentials wait in the output (as float32) for the sum.
func (k *fastSoftmax) part(rc *runCtx, i int) {
	x, y := rc.f[0], rc.f[1]
	l0, l1 := i*k.linesPerItem, min(k.outer*k.inner, (i+1)*k.linesPerItem)
	for l := l0; l < l1; l++ {
		a, c := l/k.inner, l%k.inner
		base := a*k.size*k.inner + c
		if k.inner == 1 {
			softmaxLine(x[base:base+k.size], y[base:base+k.size])
			continue
		}
		m := math.Inf(-1)
		for j := 0; j < k.size; j++ {
			if v := float64(x[base+j*k.inner]); v > m || v != v {
				m = v
			}
		}
		if math.IsInf(m, -1) {
			m = 0
		}
		sum := 0.0
		for j := 0; j < k.size; j++ {
			e := exp64(float64(x[base+j*k.inner]) - m)
			y[base+j*k.inner] = float32(e)
			sum += e
		}
		for j := 0; j < k.size; j++ {
			y[base+j*k.inner] = float32(float64(y[base+j*k.inner]) / sum)
		}
	}
}

// softmaxLine normalizes one contiguous line x into y.
func softmaxLine(x, y []float32) {
	y = y[:len(x)]
	m := math.Inf(-1)
	for _, v := range x {
		if v := float64(v); v > m || v != v {
			m = v
		}
	}
	if math.IsInf(m, -1) {
		m = 0
	}
	sum := expSlice(y, x, m)
	for j, v := range y {
		y[j] = float32(float64(v) / sum)
	}
}
