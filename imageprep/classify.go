package imageprep

import (
	"math"
	"sort"
)

// Class is one ranked class of a classifier output.
type Class struct {
	Index       int
	Probability float32
}

// IsDistribution reports whether scores already are probabilities: every
// value non-negative (and finite) and the sum within 1e-3 of one.
func IsDistribution(scores []float32) bool {
	if len(scores) == 0 {
		return false
	}
	sum := 0.0
	for _, v := range scores {
		if !(v >= 0) || math.IsInf(float64(v), 0) { // also rejects NaN
			return false
		}
		sum += float64(v)
	}
	return math.Abs(sum-1) <= 1e-3
}

// Softmax returns exp(s_i) / Σ exp(s_j), computed in float64 after
// subtracting the maximum so large logits do not overflow. NaN scores get
// probability NaN and do not disturb the others; +Inf scores share all the
// probability.
func Softmax(scores []float32) []float32 {
	out := make([]float32, len(scores))
	m := math.Inf(-1)
	for _, v := range scores {
		if f := float64(v); f > m {
			m = f
		}
	}
	if math.IsInf(m, 1) {
		n := 0
		for _, v := range scores {
			if math.IsInf(float64(v), 1) {
				n++
			}
		}
		for i, v := range scores {
			if math.IsInf(float64(v), 1) {
				out[i] = float32(1 / float64(n))
			} else if math.IsNaN(float64(v)) {
				out[i] = float32(math.NaN())
			}
		}
		return out
	}
	e := make([]float64, len(scores))
	sum := 0.0
	for i, v := range scores {
		if math.IsNaN(float64(v)) {
			continue
		}
		e[i] = math.Exp(float64(v) - m)
		sum += e[i]
	}
	for i, v := range scores {
		if math.IsNaN(float64(v)) || sum == 0 {
			out[i] = float32(math.NaN())
			continue
		}
		out[i] = float32(e[i] / sum)
	}
	return out
}

// Probabilities returns scores unchanged (copied) when they already are a
// probability distribution (see IsDistribution), and their softmax otherwise.
// Models differ in whether they end with a Softmax; this makes both kinds
// print comparable numbers.
func Probabilities(scores []float32) []float32 {
	if IsDistribution(scores) {
		return append([]float32(nil), scores...)
	}
	return Softmax(scores)
}

// TopK returns the k highest-probability classes, best first; ties keep the
// lower index first and NaN ranks below everything. k larger than the number
// of classes returns them all; k <= 0 returns none.
func TopK(probs []float32, k int) []Class {
	if k <= 0 {
		return nil
	}
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	less := func(a, b int) bool { // a ranks before b
		pa, pb := float64(probs[a]), float64(probs[b])
		switch {
		case math.IsNaN(pa) != math.IsNaN(pb):
			return math.IsNaN(pb)
		case pa != pb && !math.IsNaN(pa):
			return pa > pb
		}
		return a < b
	}
	sort.SliceStable(idx, func(i, j int) bool { return less(idx[i], idx[j]) })
	k = min(k, len(idx))
	out := make([]Class, k)
	for i := range k {
		out[i] = Class{Index: idx[i], Probability: probs[idx[i]]}
	}
	return out
}
