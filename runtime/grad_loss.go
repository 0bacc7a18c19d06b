package runtime

import (
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// The loss of a training step: mean softmax cross-entropy of the logits
// against integer class labels.

// logitsDims returns N and C of a logits shape, N×C or N×C×1×1.
func logitsDims(shape []int) (n, c int, err error) {
	switch {
	case len(shape) == 2:
		return shape[0], shape[1], nil
	case len(shape) == 4 && shape[2] == 1 && shape[3] == 1:
		return shape[0], shape[1], nil
	}
	return 0, 0, fmt.Errorf("logits have shape %s, want N×C or N×C×1×1", ir.FormatShape(shape))
}

// softmaxCrossEntropy returns the mean over the batch of
// -log softmax(logits[i])[labels[i]], computed in float64, its gradient
// with respect to the logits, (softmax - onehot)/N as float32 of the
// logits' shape, and the number of rows whose argmax (the first, on ties)
// equals the label.
func softmaxCrossEntropy(logits *ir.Tensor, labels []int64) (loss float64, grad *ir.Tensor, correct int, err error) {
	if logits.DType != ir.Float32 {
		return 0, nil, 0, fmt.Errorf("logits are %v, want float32", logits.DType)
	}
	n, c, err := logitsDims(logits.Shape)
	if err != nil {
		return 0, nil, 0, err
	}
	if len(labels) != n {
		return 0, nil, 0, fmt.Errorf("%d labels for %d rows of logits", len(labels), n)
	}
	if n == 0 {
		return 0, nil, 0, fmt.Errorf("logits have shape %s: an empty batch has no mean loss", ir.FormatShape(logits.Shape))
	}
	if c == 0 {
		return 0, nil, 0, fmt.Errorf("logits have shape %s: no classes", ir.FormatShape(logits.Shape))
	}
	for i, l := range labels {
		if l < 0 || l >= int64(c) {
			return 0, nil, 0, fmt.Errorf("label %d of row %d is out of range: the model has %d classes (0 to %d)", l, i, c, c-1)
		}
	}
	grad = zerosLike(logits)
	x, d := logits.F32(), grad.F32()
	inv := 1 / float64(n)
	for i := range n {
		row := x[i*c : (i+1)*c]
		m := math.Inf(-1)
		best := 0
		for j, v := range row {
			if float64(v) > m {
				m = float64(v)
				best = j
			}
		}
		if best == int(labels[i]) {
			correct++
		}
		s := 0.0
		for _, v := range row {
			s += math.Exp(float64(v) - m)
		}
		lse := m + math.Log(s)
		loss += lse - float64(row[labels[i]])
		for j, v := range row {
			p := math.Exp(float64(v) - lse)
			if j == int(labels[i]) {
				p--
			}
			d[i*c+j] = float32(p * inv)
		}
	}
	return loss * inv, grad, correct, nil
}
