package runtime

import (
	"errors"
	"fmt"
	"math"

	"github.com/runinfer/runinfer/ir"
)

// BatchNormalization (inference), InstanceNormalization and LRN, for float32
// and float64. Statistics are computed in float64.

func init() {
	register("BatchNormalization", 5, 5, inferBatchNorm, runBatchNorm)
	register("InstanceNormalization", 3, 3, inferInstanceNorm, runInstanceNorm)
	register("LRN", 1, 1, inferLRN, runLRN)
}

// errBNTraining is returned for BatchNormalization with training_mode=1.
var errBNTraining = errors.New("training mode is not supported in inference (BatchNormalization training_mode=1)")

// normChannels returns the channel count of an N x C x ... input; a rank-1
// input of size N has one channel.
func normChannels(x []int) int {
	if len(x) == 1 {
		return 1
	}
	return x[1]
}

// normCheckParams checks per-channel parameter inputs: float vectors of c
// elements.
func normCheckParams(in []*Arg, names []string, first, c int) error {
	for i, name := range names {
		a := in[first+i]
		if a == nil {
			return fmt.Errorf("required input %s is missing", name)
		}
		if !a.DType.IsFloat() {
			return fmt.Errorf("%s has element type %v, want a float type", name, a.DType)
		}
		if len(a.Shape) != 1 || a.Shape[0] != c {
			return fmt.Errorf("%s has shape %v, want [%d] (one per channel)", name, a.Shape, c)
		}
	}
	return nil
}

var bnParamNames = []string{"scale", "B", "input_mean", "input_var"}

func inferBatchNorm(n *ir.Node, in []*Arg) ([]Out, error) {
	if t := n.AttrInt("training_mode", 0); t != 0 {
		return nil, errBNTraining
	}
	if err := winCheckFloat("X", in[0].DType); err != nil {
		return nil, err
	}
	x := in[0].Shape
	if len(x) < 1 {
		return nil, fmt.Errorf("X is a scalar; BatchNormalization needs N x C x ... or N")
	}
	c := normChannels(x)
	if err := normCheckParams(in, bnParamNames, 1, c); err != nil {
		return nil, err
	}
	if len(n.Outputs) > 3 {
		return nil, fmt.Errorf("has %d outputs, want at most 3", len(n.Outputs))
	}
	outs := []Out{{DType: in[0].DType, Shape: append([]int(nil), x...)}}
	// In inference the optional running_mean/running_var outputs, when
	// listed, are the unchanged input statistics.
	for i := 1; i < len(n.Outputs); i++ {
		outs = append(outs, Out{DType: in[2+i].DType, Shape: []int{c}})
	}
	return outs, nil
}

func runBatchNorm(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	if _, err := inferBatchNorm(n, argsOf(in)); err != nil {
		return err
	}
	x := in[0].Shape
	c := normChannels(x)
	var p [4][]float64
	for i, name := range bnParamNames {
		v, err := winParamVec(name, in[1+i], c)
		if err != nil {
			return err
		}
		p[i] = v
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	// y = x*a + b with a = scale/sqrt(var+eps), b = B - mean*a.
	a, b := make([]float64, c), make([]float64, c)
	for i := range c {
		a[i] = p[0][i] / math.Sqrt(p[3][i]+eps)
		b[i] = p[1][i] - p[2][i]*a[i]
	}
	inner := 1
	if len(x) > 2 {
		inner = prod(x[2:])
	}
	switch in[0].DType {
	case ir.Float32:
		normAffine(in[0].F32(), out[0].F32(), a, b, inner)
	case ir.Float64:
		normAffine(in[0].F64(), out[0].F64(), a, b, inner)
	}
	// Inference passes the running statistics through: copy them into the
	// outputs' own (possibly planned) buffers rather than replacing those.
	for i := 1; i < len(out); i++ {
		src := in[2+i]
		for j := 0; j < out[i].Len(); j++ {
			switch d := out[i].Data.(type) {
			case []float32:
				d[j] = float32(src.Float64At(j))
			case []float64:
				d[j] = src.Float64At(j)
			}
		}
	}
	return nil
}

// normAffine computes y = x*a[c] + b[c] for a tensor laid out as blocks of
// inner elements cycling through the len(a) channels.
func normAffine[T winFloat](x, y []T, a, b []float64, inner int) {
	c := len(a)
	if c == 0 || inner == 0 {
		return
	}
	for blk := 0; blk*inner < len(x); blk++ {
		ch := blk % c
		src := x[blk*inner:][:inner]
		dst := y[blk*inner:][:inner]
		for j, v := range src {
			dst[j] = T(float64(v)*a[ch] + b[ch])
		}
	}
}

var inParamNames = []string{"scale", "B"}

func inferInstanceNorm(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := winCheckFloat("input", in[0].DType); err != nil {
		return nil, err
	}
	x := in[0].Shape
	if len(x) < 2 {
		return nil, fmt.Errorf("input has shape %v; InstanceNormalization needs N x C x D1 x ... (rank 2 or more)", x)
	}
	if err := normCheckParams(in, inParamNames, 1, x[1]); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

func runInstanceNorm(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	x := in[0].Shape
	c := x[1]
	scale, err := winParamVec("scale", in[1], c)
	if err != nil {
		return err
	}
	bias, err := winParamVec("B", in[2], c)
	if err != nil {
		return err
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	inner := prod(x[2:])
	switch in[0].DType {
	case ir.Float32:
		instanceNorm(in[0].F32(), out[0].F32(), scale, bias, eps, inner)
	case ir.Float64:
		instanceNorm(in[0].F64(), out[0].F64(), scale, bias, eps, inner)
	default:
		return winCheckFloat("input", in[0].DType)
	}
	return nil
}

// instanceNorm normalizes every plane of inner elements to zero mean and unit
// (population) variance, then applies the plane's channel scale and bias.
func instanceNorm[T winFloat](x, y []T, scale, bias []float64, eps float64, inner int) {
	c := len(scale)
	if c == 0 || inner == 0 {
		return
	}
	for pl := 0; pl*inner < len(x); pl++ {
		ch := pl % c
		src := x[pl*inner:][:inner]
		dst := y[pl*inner:][:inner]
		mean := 0.0
		for _, v := range src {
			mean += float64(v)
		}
		mean /= float64(inner)
		vr := 0.0
		for _, v := range src {
			d := float64(v) - mean
			vr += d * d
		}
		vr /= float64(inner)
		a := scale[ch] / math.Sqrt(vr+eps)
		b := bias[ch] - mean*a
		for j, v := range src {
			dst[j] = T(float64(v)*a + b)
		}
	}
}

func inferLRN(n *ir.Node, in []*Arg) ([]Out, error) {
	if err := winCheckFloat("X", in[0].DType); err != nil {
		return nil, err
	}
	if len(in[0].Shape) < 2 {
		return nil, fmt.Errorf("X has shape %v; LRN needs N x C x D1 x ... (rank 2 or more)", in[0].Shape)
	}
	if _, err := lrnSize(n); err != nil {
		return nil, err
	}
	return same(in[0]), nil
}

// lrnSize reads LRN's required size attribute.
func lrnSize(n *ir.Node) (int, error) {
	if !n.HasAttr("size") {
		return 0, fmt.Errorf("the size attribute is required")
	}
	s := n.AttrInt("size", 0)
	if s < 1 || s > winMaxAttr {
		return 0, fmt.Errorf("size %d must be in [1, %d]", s, winMaxAttr)
	}
	return int(s), nil
}

func runLRN(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	size, err := lrnSize(n)
	if err != nil {
		return err
	}
	alpha := float64(n.AttrFloat("alpha", 1e-4))
	beta := float64(n.AttrFloat("beta", 0.75))
	bias := float64(n.AttrFloat("bias", 1))
	x := in[0].Shape
	switch in[0].DType {
	case ir.Float32:
		lrn(in[0].F32(), out[0].F32(), x[0], x[1], prod(x[2:]), size, alpha, beta, bias)
	case ir.Float64:
		lrn(in[0].F64(), out[0].F64(), x[0], x[1], prod(x[2:]), size, alpha, beta, bias)
	default:
		return winCheckFloat("X", in[0].DType)
	}
	return nil
}

// lrn computes y = x / (bias + alpha/size * sum of x^2 over the channels
// [c - floor((size-1)/2), c + ceil((size-1)/2)])^beta.
func lrn[T winFloat](x, y []T, batch, c, inner, size int, alpha, beta, bias float64) {
	lo, hi := (size-1)/2, size-1-(size-1)/2
	for nb := range batch {
		base := nb * c * inner
		for ch := range c {
			c0, c1 := max(0, ch-lo), min(c-1, ch+hi)
			for j := range inner {
				s := 0.0
				for k := c0; k <= c1; k++ {
					v := float64(x[base+k*inner+j])
					s += v * v
				}
				i := base + ch*inner + j
				y[i] = T(float64(x[i]) / math.Pow(bias+alpha/float64(size)*s, beta))
			}
		}
	}
}
