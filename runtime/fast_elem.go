package runtime

import (
	"math"
	"slices"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Fast float32 elementwise ops: Relu, LeakyRelu and Clip (with constant
// bounds) through the tier's BiasAct kernel, Add (and Sub of a scalar or
// vector) through AddTo/BiasAct, and Mul, Sub and Div in plain loops, for operands of the output's shape, scalars, and
// vectors along one axis (a per-channel bias or scale). Other broadcasts
// and types run the reference op. Each may compute in place over a full-size
// input whose buffer dies at the step.

func init() {
	fastOps["Relu"] = chooseAct
	fastOps["LeakyRelu"] = chooseAct
	fastOps["Clip"] = chooseAct
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
// Relu, LeakyRelu, and Clip whose bounds are constant float32 scalars with
// lo <= hi (Clip with lo > hi gives hi everywhere, which Act does not).
// in are the node's input values (nil when omitted).
func actOfValues(n *ir.Node, in []*planValue) (simd.Act, bool) {
	if len(in) == 0 || in[0] == nil || in[0].dtype != ir.Float32 {
		return simd.Act{}, false
	}
	switch n.Op {
	case "Relu":
		return simd.Act{Kind: simd.ActRelu}, true
	case "LeakyRelu":
		return simd.Act{Kind: simd.ActLeakyRelu, Alpha: n.AttrFloat("alpha", 0.01)}, true
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		for j, bound := range []*float32{&lo, &hi} {
			if j+1 >= len(in) || in[j+1] == nil {
				continue
			}
			v := in[j+1]
			if v.kind != valConst || v.dtype != ir.Float32 || v.konst.Len() != 1 {
				return simd.Act{}, false
			}
			*bound = v.konst.F32()[0]
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
		ax, ok := vectorAxis(vec.shape, o.shape)
		if !ok {
			return nil, nil
		}
		k.mode, k.full = binChannel, full
		k.outer, k.c, k.inner = prod(o.shape[:ax]), o.shape[ax], prod(o.shape[ax+1:])
		segs := k.outer * k.c
		k.segsPerItem = max(1, elemChunk/max(1, k.inner))
		k.nItems = (segs + k.segsPerItem - 1) / k.segsPerItem
		return k, nil
	}
	k.nItems = (total + elemChunk - 1) / elemChunk
	return k, nil
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
		scaleSlice(y, x, v)
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

// scaleSlice sets y[i] = x[i] * v; y may be x.
func scaleSlice(y, x []float32, v float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y4, x4 := (*[4]float32)(y[i:]), (*[4]float32)(x[i:])
		y4[0], y4[1], y4[2], y4[3] = x4[0]*v, x4[1]*v, x4[2]*v, x4[3]*v
	}
	for ; i < len(y); i++ {
		y[i] = x[i] * v
	}
}
