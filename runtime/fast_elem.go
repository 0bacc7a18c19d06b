package runtime

import (
	"math"
	"slices"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Fast float32 elementwise ops: Relu, LeakyRelu, Clip (with constant
// bounds), Sigmoid, HardSigmoid and HardSwish through the tier's BiasAct
// kernel, Add (and Sub of a scalar or vector) through AddTo/BiasAct, Mul by
// a scalar or vector through ScaleBiasAct (by a constant one: fastAffine,
// fast_affine.go), and Mul, Sub and Div of full operands in plain loops, for
// operands of the output's shape, scalars, and vectors along one axis or
// over the leading axes (a per-channel bias or scale, [N, C, 1, 1] included).
// Other broadcasts and types run the reference op. Each may compute in place
// over a full-size input whose buffer dies at the step. The plan fuses
// x·Sigmoid(x) and x·HardSigmoid(x) (alpha 1/6, beta 1/2) into one SiLU or
// HardSwish step (fuseGates).

func init() {
	fastOps["Relu"] = chooseAct
	fastOps["LeakyRelu"] = chooseAct
	fastOps["Clip"] = chooseAct
	fastOps["Sigmoid"] = chooseAct
	fastOps["HardSigmoid"] = chooseAct
	fastOps["HardSwish"] = chooseAct
	fastOps["Add"] = chooseBinary
	fastOps["Mul"] = chooseBinary
	fastOps["Sub"] = chooseBinary
	fastOps["Div"] = chooseBinary
}

// elemChunk is the number of elements one parallel item of an elementwise
// kernel covers (large enough that handing it to a thread pays).
const elemChunk = 1 << 15

// sameStart reports whether two slices start at the same element (the
// output shares the input's buffer).
func sameStart(a, b []float32) bool { return len(a) > 0 && len(b) > 0 && &a[0] == &b[0] }

// actOfValues recognises an activation node a BiasAct epilogue computes:
// Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, and Clip whose bounds
// are constant float32 scalars with lo <= hi (Clip with lo > hi gives hi
// everywhere, which Act does not). in are the node's input values (nil when
// omitted). Sigmoid is within a few float32 ulps of the reference (see
// simd's BiasAct tests); the others are exact or one rounding away.
func actOfValues(n *ir.Node, in []*planValue) (simd.Act, bool) {
	if len(in) == 0 || in[0] == nil || in[0].dtype != ir.Float32 {
		return simd.Act{}, false
	}
	return actOfNode(n, func(j int) (float32, bool, bool) {
		if j >= len(in) || in[j] == nil {
			return 0, false, true
		}
		v := in[j]
		if v.kind != valConst || v.dtype != ir.Float32 || v.konst.Len() != 1 {
			return 0, true, false
		}
		return v.konst.F32()[0], true, true
	})
}

// actOfNode is actOfValues and actOfTensors without the inputs' storage:
// bound(j) gives Clip's input j (1: min, 2: max) as its value, whether it
// is present, and whether it is a float32 scalar known now.
func actOfNode(n *ir.Node, bound func(j int) (v float32, present, ok bool)) (simd.Act, bool) {
	switch n.Op {
	case "Relu":
		return simd.Act{Kind: simd.ActRelu}, true
	case "Sigmoid":
		return simd.Act{Kind: simd.ActSigmoid}, true
	case "HardSigmoid":
		return simd.Act{Kind: simd.ActHardSigmoid, Alpha: n.AttrFloat("alpha", 0.2), Beta: n.AttrFloat("beta", 0.5)}, true
	case "HardSwish":
		return simd.Act{Kind: simd.ActHardSwish}, true
	case "LeakyRelu":
		return simd.Act{Kind: simd.ActLeakyRelu, Alpha: n.AttrFloat("alpha", 0.01)}, true
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		for j, b := range []*float32{&lo, &hi} {
			v, present, ok := bound(j + 1)
			if !ok {
				return simd.Act{}, false
			}
			if present {
				*b = v
			}
		}
		if !(lo <= hi) {
			return simd.Act{}, false
		}
		return simd.Act{Kind: simd.ActClip, Alpha: lo, Beta: hi}, true
	}
	return simd.Act{}, false
}

// fastAct applies an activation: y = act(x).
type fastAct struct{ act simd.Act }

func chooseAct(_ *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	a, ok := actOfValues(n, in)
	if !ok || len(out) != 1 {
		return nil, nil
	}
	return &fastAct{act: a}, nil
}

func (k *fastAct) inPlace() []int { return []int{0} }

func (k *fastAct) run(rc *runCtx, in, out []*ir.Tensor) error {
	rc.f[0], rc.f[1] = in[0].F32(), out[0].F32()
	rc.parallel((len(rc.f[1])+elemChunk-1)/elemChunk, k)
	return nil
}

func (k *fastAct) part(rc *runCtx, i int) {
	x, y := rc.f[0], rc.f[1]
	lo, hi := i*elemChunk, min(len(y), (i+1)*elemChunk)
	seg := y[lo:hi]
	if !sameStart(x, y) {
		copy(seg, x[lo:hi])
	}
	rc.kern.BiasAct(seg, 0, k.act)
}

// binMode is how the operands of a fast binary op are laid out.
type binMode uint8

const (
	binSame    binMode = iota // both operands have the output's shape
	binScalar                 // operand 1-full is a single value
	binChannel                // operand 1-full varies along one axis only
)

// binOp is the operation of a fastBinary.
type binOp uint8

const (
	opAdd binOp = iota
	opMul
	opSub
	opDiv
)

// fastBinary computes Add, Mul, Sub or Div of float32 operands. full is
// the index of an operand with the output's shape; the other one is laid
// out as mode says (for Sub and Div, full = 1 makes the other operand the
// left one). For binChannel the output is viewed as outer × c × inner and
// the vector operand has c values.
type fastBinary struct {
	op                  binOp
	mode                binMode
	full                int
	outer, c, inner     int
	segsPerItem, nItems int
}

func chooseBinary(_ *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) != 2 || in[0] == nil || in[1] == nil || len(out) != 1 {
		return nil, nil
	}
	a, b, o := in[0], in[1], out[0]
	if a.dtype != ir.Float32 || b.dtype != ir.Float32 {
		return nil, nil
	}
	k := &fastBinary{op: map[string]binOp{"Add": opAdd, "Mul": opMul, "Sub": opSub, "Div": opDiv}[n.Op]}
	total := len1(o.shape)
	switch {
	case slices.Equal(a.shape, o.shape) && slices.Equal(b.shape, o.shape):
		k.mode = binSame
	case k.op == opMul && slices.Equal(a.shape, o.shape) && len1(b.shape) == 1 && b.kind == valConst:
		return newAffine(0, 1, max(total, 1), b.konst.F32(), nil), nil
	case k.op == opMul && slices.Equal(b.shape, o.shape) && len1(a.shape) == 1 && a.kind == valConst:
		return newAffine(1, 1, max(total, 1), a.konst.F32(), nil), nil
	case slices.Equal(a.shape, o.shape) && len1(b.shape) == 1:
		k.mode, k.full = binScalar, 0
	case slices.Equal(b.shape, o.shape) && len1(a.shape) == 1:
		k.mode, k.full = binScalar, 1
	default:
		full, vec := 0, b
		if !slices.Equal(a.shape, o.shape) {
			full, vec = 1, a
			if !slices.Equal(b.shape, o.shape) {
				return nil, nil
			}
		}
		outer, c, inner, ok := channelLayout(vec.shape, o.shape)
		if !ok {
			return nil, nil
		}
		if k.op == opMul && vec.kind == valConst {
			return newAffine(full, c, inner, vec.konst.F32(), nil), nil
		}
		k.mode, k.full = binChannel, full
		k.outer, k.c, k.inner = outer, c, inner
		segs := k.outer * k.c
		k.segsPerItem = max(1, elemChunk/max(1, k.inner))
		k.nItems = (segs + k.segsPerItem - 1) / k.segsPerItem
		return k, nil
	}
	k.nItems = (total + elemChunk - 1) / elemChunk
	return k, nil
}

// channelLayout views out as outer × c × inner with a vector operand of
// shape v (numpy-broadcast to out) holding c values, one per block of
// inner elements, cycling: v varies along one axis only (vectorAxis), or v
// is out's leading dimensions followed by 1s (a per-sample, per-channel
// [N, C, 1, 1] scale: outer 1, c = N·C).
func channelLayout(v, out []int) (outer, c, inner int, ok bool) {
	if ax, ok := vectorAxis(v, out); ok {
		return prod(out[:ax]), out[ax], prod(out[ax+1:]), true
	}
	if len(v) != len(out) {
		return 0, 0, 0, false
	}
	k := len(v)
	for k > 0 && v[k-1] == 1 {
		k--
	}
	if !slices.Equal(v[:k], out[:k]) {
		return 0, 0, 0, false
	}
	return 1, prod(out[:k]), prod(out[k:]), true
}

// vectorAxis reports the one axis along which shape v (numpy-broadcast to
// out) varies, when all its other dimensions are 1.
func vectorAxis(v, out []int) (int, bool) {
	if len(v) > len(out) {
		return 0, false
	}
	off := len(out) - len(v)
	ax := -1
	for i, d := range v {
		if d == 1 {
			continue
		}
		if d != out[off+i] || ax >= 0 {
			return 0, false
		}
		ax = off + i
	}
	return ax, ax >= 0
}

func (k *fastBinary) inPlace() []int {
	if k.mode == binSame {
		return []int{0, 1}
	}
	return []int{k.full}
}

func (k *fastBinary) run(rc *runCtx, in, out []*ir.Tensor) error {
	rc.f[0], rc.f[1], rc.f[2] = in[k.full].F32(), in[1-k.full].F32(), out[0].F32()
	rc.parallel(k.nItems, k)
	return nil
}

func (k *fastBinary) part(rc *runCtx, i int) {
	a, b, y := rc.f[0], rc.f[1], rc.f[2]
	if k.mode == binChannel {
		s0, s1 := i*k.segsPerItem, min(k.outer*k.c, (i+1)*k.segsPerItem)
		for s := s0; s < s1; s++ {
			lo, hi := s*k.inner, (s+1)*k.inner
			k.vector(rc, y[lo:hi], a[lo:hi], b[s%k.c])
		}
		return
	}
	lo, hi := i*elemChunk, min(len(y), (i+1)*elemChunk)
	if k.mode == binScalar {
		k.vector(rc, y[lo:hi], a[lo:hi], b[0])
		return
	}
	ys, as, bs := y[lo:hi], a[lo:hi], b[lo:hi]
	switch k.op {
	case opMul:
		mulSlices(ys, as, bs)
		return
	case opSub:
		bs = bs[:len(ys)]
		for j, x := range as[:len(ys)] {
			ys[j] = x - bs[j]
		}
		return
	case opDiv:
		bs = bs[:len(ys)]
		for j, x := range as[:len(ys)] {
			ys[j] = x / bs[j]
		}
		return
	}
	switch {
	case sameStart(ys, as):
		rc.kern.AddTo(ys, bs)
	case sameStart(ys, bs):
		rc.kern.AddTo(ys, as)
	default:
		copy(ys, as)
		rc.kern.AddTo(ys, bs)
	}
}

// vector computes y = x op v (or v op x for Sub and Div when the full
// operand is the right one) for one segment. x - v is x + (-v) exactly.
func (k *fastBinary) vector(rc *runCtx, y, x []float32, v float32) {
	x = x[:len(y)]
	switch {
	case k.op == opMul:
		// x·v + (-0) is x·v exactly, the sign of a zero product included.
		rc.kern.ScaleBiasAct(y, x, v, negZero, simd.Act{})
		return
	case k.op == opSub && k.full == 1:
		for j, e := range x {
			y[j] = v - e
		}
		return
	case k.op == opDiv && k.full == 1:
		for j, e := range x {
			y[j] = v / e
		}
		return
	case k.op == opDiv:
		for j, e := range x {
			y[j] = e / v
		}
		return
	case k.op == opSub:
		v = -v
	}
	if !sameStart(y, x) {
		copy(y, x)
	}
	rc.kern.BiasAct(y, v, simd.Act{})
}

// mulSlices sets y[i] = a[i] * b[i]; y may be a or b.
func mulSlices(y, a, b []float32) {
	a, b = a[:len(y)], b[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y4, a4, b4 := (*[4]float32)(y[i:]), (*[4]float32)(a[i:]), (*[4]float32)(b[i:])
		y4[0], y4[1], y4[2], y4[3] = a4[0]*b4[0], a4[1]*b4[1], a4[2]*b4[2], a4[3]*b4[3]
	}
	for ; i < len(y); i++ {
		y[i] = a[i] * b[i]
	}
}

// stepAct is the activation a step computes, for the epilogue fusion: a
// fast activation step's own (a fused x·gate(x) step computes SiLU or
// HardSwish), else what actOfValues recognises in its node.
func stepAct(st *step, in []*planValue) (simd.Act, bool) {
	if k, ok := st.k.(*fastAct); ok && st.kind == stepFast {
		return k.act, true
	}
	return actOfValues(st.node, in)
}

// gated is the activation x·gate(x) computes for a fast gate activation:
// SiLU for Sigmoid, HardSwish for HardSigmoid with alpha 1/6 and beta 1/2.
func gated(a simd.Act) (simd.Act, bool) {
	switch {
	case a.Kind == simd.ActSigmoid:
		return simd.Act{Kind: simd.ActSiLU}, true
	case a.Kind == simd.ActHardSigmoid && a.Alpha == float32(1.0/6) && a.Beta == 0.5:
		return simd.Act{Kind: simd.ActHardSwish}, true
	}
	return simd.Act{}, false
}

// fuseGates merges a fast Sigmoid or HardSigmoid step s = gate(x) whose
// output only a Mul(x, s) (either order, no broadcast) reads into one step
// computing the Mul's output from x: SiLU or HardSwish. The step runs at the
// Mul's position (x is live there, as the Mul read it).
func (b *planBuilder) fuseGates(outSet map[int]bool) {
	p := b.p
	count, reader := b.readers(outSet)
	for i := range p.steps {
		st := &p.steps[i]
		k, ok := st.k.(*fastAct)
		if st.dead || st.kind != stepFast || !ok || len(st.out) != 1 || len(st.in) != 1 || len(st.fused) != 0 {
			continue
		}
		a, ok := gated(k.act)
		x, s := st.in[0], st.out[0]
		if !ok || x < 0 || count[s] != 1 || outSet[s] {
			continue
		}
		r := reader[s]
		mul := &p.steps[r]
		if mul.dead || mul.kind == stepDynamic || mul.node.Op != "Mul" || len(mul.in) != 2 || len(mul.out) != 1 {
			continue
		}
		if !(mul.in[0] == x && mul.in[1] == s || mul.in[0] == s && mul.in[1] == x) {
			continue
		}
		if y := &p.values[mul.out[0]]; y.dtype != ir.Float32 || !slices.Equal(y.shape, p.values[x].shape) ||
			!slices.Equal(p.values[s].shape, p.values[x].shape) {
			continue
		}
		fused := *st
		fused.k = &fastAct{act: a}
		fused.in = slices.Clone(st.in)
		fused.out = mul.out
		fused.fused = []*ir.Node{mul.node}
		st.dead = true
		p.steps[r] = fused
	}
}
