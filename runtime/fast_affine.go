package runtime

import (
	"math"
	"slices"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Fast per-channel affine maps y = act(x·scale[c] + bias[c]) through the
// tier's ScaleBiasAct: inference BatchNormalization (scale and bias
// precomputed at plan time from its constant parameters), Mul by a constant
// scalar or per-channel vector, and such a Mul followed by an Add of a
// constant of the same layout (graphopt turns a BatchNormalization it cannot
// fold into a Conv into exactly that), each absorbing a following
// activation (the plan's epilogue fusion, see planBuilder.fuse).

func init() {
	fastOps["BatchNormalization"] = chooseBatchNorm
}

// negZero is the bias of a plain scale: x·s + (-0) is x·s exactly, a zero
// product's sign included (x·s + 0 would turn -0 into +0).
var negZero = float32(math.Copysign(0, -1))

// fastAffine computes y = act(x·scale[c] + bias[c]), the input x (operand
// src) viewed as outer × c × inner blocks: block j uses channel j mod c.
type fastAffine struct {
	src         int
	c, inner    int
	scale, bias []float32 // c values each; bias nil: none
	act         simd.Act
}

// newAffine returns a fastAffine over operand src of a tensor laid out as
// blocks of inner elements cycling through c channels.
func newAffine(src, c, inner int, scale, bias []float32) *fastAffine {
	return &fastAffine{src: src, c: c, inner: inner, scale: scale, bias: bias}
}

// chooseBatchNorm binds an inference BatchNormalization of a float32
// N×C×... input whose scale, B, mean and var are float32 constants: s =
// scale/√(var+ε) and b = B − mean·s, computed in float64 as the reference
// does and rounded once, then y = x·s + b (one FMA on the vector tiers).
// Only the Y output may be used (the optional statistics outputs run the
// reference op).
func chooseBatchNorm(_ *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) != 5 || len(out) != 1 || n.AttrInt("training_mode", 0) != 0 {
		return nil, nil
	}
	x := in[0]
	if x == nil || x.dtype != ir.Float32 || len(x.shape) < 2 {
		return nil, nil
	}
	c := x.shape[1]
	var p [4][]float32
	for i := range p {
		v := in[1+i]
		if v == nil || v.kind != valConst || v.dtype != ir.Float32 || !slices.Equal(v.shape, []int{c}) {
			return nil, nil
		}
		p[i] = v.konst.F32()
	}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	scale, bias := make([]float32, c), make([]float32, c)
	for j := range c {
		a := float64(p[0][j]) / math.Sqrt(float64(p[3][j])+eps)
		scale[j] = float32(a)
		bias[j] = float32(float64(p[1][j]) - float64(p[2][j])*a)
	}
	return newAffine(0, c, prod(x.shape[2:]), scale, bias), nil
}

func (k *fastAffine) inPlace() []int { return []int{k.src} }

func (k *fastAffine) run(rc *runCtx, in, out []*ir.Tensor) error {
	rc.f[0], rc.f[1] = in[k.src].F32(), out[0].F32()
	rc.parallel((len(rc.f[1])+elemChunk-1)/elemChunk, k)
	return nil
}

// part computes elements [i·elemChunk, (i+1)·elemChunk), one
// ScaleBiasAct call per channel block they overlap.
func (k *fastAffine) part(rc *runCtx, i int) {
	x, y := rc.f[0], rc.f[1]
	lo, hi := i*elemChunk, min(len(y), (i+1)*elemChunk)
	for lo < hi {
		blk := lo / k.inner
		end := min(hi, (blk+1)*k.inner)
		ch := blk % k.c
		b := negZero
		if k.bias != nil {
			b = k.bias[ch]
		}
		rc.kern.ScaleBiasAct(y[lo:end], x[lo:end], k.scale[ch], b, k.act)
		lo = end
	}
}

func (k *fastAffine) withAct(a simd.Act) fastKernel {
	if k.act.Kind != simd.ActNone {
		return nil
	}
	c := *k
	c.act = a
	return &c
}

func (k *fastAffine) withResidual() fastKernel { return nil }

// withBias returns the kernel followed by an Add of a constant of the same
// layout (c values, or one for every channel), or nil.
func (k *fastAffine) withBias(v *planValue, out []int) fastKernel {
	if k.bias != nil || k.act.Kind != simd.ActNone || v.kind != valConst || v.dtype != ir.Float32 {
		return nil
	}
	vals := v.konst.F32()
	var bias []float32
	switch {
	case len(vals) == 1:
		bias = make([]float32, k.c)
		for j := range bias {
			bias[j] = vals[0]
		}
	default:
		_, c, inner, ok := channelLayout(v.shape, out)
		if !ok || c != k.c || inner != k.inner {
			return nil
		}
		bias = vals
	}
	c := *k
	c.bias = bias
	return &c
}

// fuseElementwise runs before the epilogue fusion of planBuilder.fuse: it
// merges x·gate(x) into one activation step (fuseGates) and a fastAffine
// Mul with the Add of a constant that alone reads it (the step moves to
// the Add, whose output it computes), so that the epilogue fusion then
// finds a Conv followed by SiLU, or an affine step followed by Relu.
func (b *planBuilder) fuseElementwise(outSet map[int]bool) {
	b.fuseGates(outSet)
	p := b.p
	count, reader := b.readers(outSet)
	for i := range p.steps {
		st := &p.steps[i]
		k, ok := st.k.(*fastAffine)
		if st.dead || st.kind != stepFast || !ok || len(st.out) != 1 || len(st.fused) != 0 {
			continue
		}
		o := st.out[0]
		if count[o] != 1 || outSet[o] {
			continue
		}
		r := reader[o]
		add := &p.steps[r]
		if add.dead || add.kind == stepDynamic || add.node.Op != "Add" || len(add.in) != 2 || len(add.out) != 1 {
			continue
		}
		other := add.in[0]
		if other == o {
			other = add.in[1]
		}
		if other < 0 || other == o || !slices.Equal(p.values[add.out[0]].shape, p.values[o].shape) {
			continue
		}
		k2 := k.withBias(&p.values[other], p.values[o].shape)
		if k2 == nil {
			continue
		}
		fused := *st
		fused.k, fused.out = k2, add.out
		fused.fused = []*ir.Node{add.node}
		st.dead = true
		p.steps[r] = fused
	}
}
