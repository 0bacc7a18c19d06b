package runtime

import (
	"fmt"
	"math"
	"slices"
	"unsafe"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Gradients of the elementwise operators: activations (Relu, LeakyRelu,
// Clip, Sigmoid, Tanh, HardSigmoid, HardSwish, Identity, Neg, Exp, Sqrt)
// and the broadcasting arithmetic (Add, Sub, Mul, Div).
//
// At the kinks the derivative follows PyTorch's choices, so that gradients
// agree with it on the points where finite differences cannot decide:
// Relu' (0) = 0, LeakyRelu'(0) = alpha, Clip passes the gradient where
// min <= x <= max, HardSigmoid's slope is alpha strictly inside its linear
// range, HardSwish' is x/3 + 1/2 on [-3, 3] (so -1/2 at -3).

// parGrain is the element count below which light gradient loops run
// serially.
const parGrain = 1 << 15

// parFor runs body over [0, n) in pieces on c's workers when n is large.
func parFor(c *gradCtx, n int, body func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if c == nil || c.par == nil || n < 2*parGrain || c.par.Threads() < 2 {
		body(0, n)
		return
	}
	pieces := min(c.par.Threads()*4, n/parGrain)
	step := (n + pieces - 1) / pieces
	c.par.For(pieces, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			body(p*step, min(n, (p+1)*step))
		}
	})
}

// unaryDeriv returns, for a node, the derivative dy/dx as a function of
// the input x and the output y (both float64).
type unaryDeriv func(n *ir.Node) func(x, y float64) float64

var unaryDerivs = map[string]unaryDeriv{
	"Relu": func(*ir.Node) func(x, y float64) float64 {
		return func(x, _ float64) float64 {
			if x > 0 {
				return 1
			}
			return 0
		}
	},
	"LeakyRelu": func(n *ir.Node) func(x, y float64) float64 {
		alpha := float64(n.AttrFloat("alpha", 0.01))
		return func(x, _ float64) float64 {
			if x > 0 {
				return 1
			}
			return alpha
		}
	},
	"Sigmoid": func(*ir.Node) func(x, y float64) float64 {
		return func(_, y float64) float64 { return y * (1 - y) }
	},
	"Tanh": func(*ir.Node) func(x, y float64) float64 {
		return func(_, y float64) float64 { return 1 - y*y }
	},
	"HardSigmoid": func(n *ir.Node) func(x, y float64) float64 {
		alpha := float64(n.AttrFloat("alpha", 0.2))
		beta := float64(n.AttrFloat("beta", 0.5))
		return func(x, _ float64) float64 {
			if v := alpha*x + beta; v > 0 && v < 1 {
				return alpha
			}
			return 0
		}
	},
	"HardSwish": func(*ir.Node) func(x, y float64) float64 {
		return func(x, _ float64) float64 {
			switch {
			case x < -3:
				return 0
			case x <= 3:
				return x/3 + 0.5
			}
			return 1
		}
	},
	"Identity": func(*ir.Node) func(x, y float64) float64 {
		return func(_, _ float64) float64 { return 1 }
	},
	"Neg": func(*ir.Node) func(x, y float64) float64 {
		return func(_, _ float64) float64 { return -1 }
	},
	"Exp": func(*ir.Node) func(x, y float64) float64 {
		return func(_, y float64) float64 { return y }
	},
	"Sqrt": func(*ir.Node) func(x, y float64) float64 {
		return func(_, y float64) float64 { return 0.5 / y }
	},
}

func init() {
	for name, d := range unaryDerivs {
		g := gradOp{backward: unaryBackward(d), diff: []int{0}}
		switch name {
		case "Relu", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish":
			g.forward = actForward
		}
		registerGrad(name, g)
	}
	registerGrad("Clip", gradOp{forward: actForward, backward: clipBackward, diff: []int{0}})
	for _, k := range []binGrad{gradAdd, gradSub, gradMul, gradDiv} {
		g := gradOp{backward: binaryBackward(k)}
		if k == gradAdd {
			g.forward = addForward
		}
		registerGrad(k.String(), g)
	}
}

// actOfTensors recognises an activation the tier's BiasAct kernel
// computes (see actOfValues): Relu, LeakyRelu, Sigmoid, HardSigmoid,
// HardSwish, and Clip with float32 scalar bounds lo <= hi.
func actOfTensors(n *ir.Node, in []*ir.Tensor) (simd.Act, bool) {
	if len(in) == 0 || in[0] == nil || in[0].DType != ir.Float32 {
		return simd.Act{}, false
	}
	return actOfNode(n, func(j int) (float32, bool, bool) {
		if j >= len(in) || in[j] == nil {
			return 0, false, true
		}
		if v := in[j]; v.DType == ir.Float32 && v.Len() == 1 {
			return v.F32()[0], true, true
		}
		return 0, true, false
	})
}

// actForward computes an activation with the tier's BiasAct kernel (bias
// 0), in parallel pieces, or with the reference operator when actOfTensors
// does not recognise it. The inference plan uses the same kernel, so
// training and inference agree.
func actForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	a, ok := actOfTensors(n, in)
	if !ok {
		out, err := EvalNode(n, in, c.limit)
		return out, nil, err
	}
	y := c.likeF32(in[0])
	x, v := in[0].F32(), y.F32()
	// A copy then the activation in place, in pieces that stay in the
	// first-level cache between the two.
	parFor(c, len(v), func(lo, hi int) {
		for ; lo < hi; lo += actPiece {
			e := min(hi, lo+actPiece)
			copy(v[lo:e], x[lo:e])
			c.k.BiasAct(v[lo:e], 0, a)
		}
	})
	return []*ir.Tensor{y}, nil, nil
}

// actPiece is the piece (floats) actForward copies and activates at a time.
const actPiece = 4096

// addForward adds two float32 tensors of one shape (a residual
// connection) into a pooled output with the tier's AddTo; anything else
// goes to the reference operator. Float addition is exact to the float32
// rounding either way, so the two agree.
func addForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	if len(in) != 2 || in[0] == nil || in[1] == nil || in[0].DType != ir.Float32 || in[1].DType != ir.Float32 ||
		!slices.Equal(in[0].Shape, in[1].Shape) || c.k == nil {
		out, err := EvalNode(n, in, c.limit)
		return out, nil, err
	}
	y := c.likeF32(in[0])
	a, b, v := in[0].F32(), in[1].F32(), y.F32()
	parFor(c, len(v), func(lo, hi int) {
		for ; lo < hi; lo += actPiece {
			e := min(hi, lo+actPiece)
			copy(v[lo:e], a[lo:e])
			c.k.AddTo(v[lo:e], b[lo:e])
		}
	})
	return []*ir.Tensor{y}, nil, nil
}

// unaryBackward makes the backward of an elementwise op from its
// derivative.
func unaryBackward(d unaryDeriv) func(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	return func(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
		din := make([]*ir.Tensor, len(in))
		if !need[0] {
			return din, nil
		}
		if n.Op == "Identity" {
			din[0] = dout[0]
			return din, nil
		}
		if in[0].DType != ir.Float32 || out[0].DType != ir.Float32 || dout[0].DType != ir.Float32 ||
			in[0].Len() != dout[0].Len() || out[0].Len() != dout[0].Len() {
			return nil, fmt.Errorf("%s gradient needs float32 tensors of one size", n.Op)
		}
		x, y, g := in[0].F32(), out[0].F32(), dout[0].F32()
		f := d(n)
		dx := c.elemGrad(in[0], dout[0])
		r := dx.F32()
		if n.Op == "Relu" { // the common case, without a call per element
			// x > 0: the keys of the positive floats, from the smallest
			// denormal to +Inf.
			klo, span := f32KeyRange(math.Float32frombits(1), float32(math.Inf(1)))
			parFor(c, len(r), func(lo, hi int) { maskKeyRange(x[lo:hi], g[lo:hi], r[lo:hi], klo, span) })
			din[0] = dx
			return din, nil
		}
		parFor(c, len(r), func(lo, hi int) {
			for i := lo; i < hi; i++ {
				r[i] = float32(float64(g[i]) * f(float64(x[i]), float64(y[i])))
			}
		})
		din[0] = dx
		return din, nil
	}
}

// elemGrad returns the tensor an elementwise backward writes dx into,
// every element of it: dout itself when nothing else holds it and it has
// x's shape (each element is read, then written), else a pooled tensor of
// x's shape.
func (c *gradCtx) elemGrad(x, dout *ir.Tensor) *ir.Tensor {
	if c.doutReusable(0) && slices.Equal(dout.Shape, x.Shape) {
		return dout
	}
	return c.likeF32(x)
}

// clipBackward passes the gradient where min <= x <= max (absent bounds
// are unbounded); NaN inputs pass nothing.
func clipBackward(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	din := make([]*ir.Tensor, len(in))
	if !need[0] {
		return din, nil
	}
	bound := func(i int, def float32) (float32, error) {
		if i >= len(in) || in[i] == nil {
			return def, nil
		}
		v := in[i].F32()
		if len(v) != 1 {
			return 0, fmt.Errorf("Clip bound %d must be one float32, got %v", i, in[i])
		}
		return v[0], nil
	}
	lo, err := bound(1, float32(math.Inf(-1)))
	if err != nil {
		return nil, err
	}
	hi, err := bound(2, float32(math.Inf(1)))
	if err != nil {
		return nil, err
	}
	x, g := in[0].F32(), dout[0].F32()
	if len(x) != len(g) {
		return nil, fmt.Errorf("Clip gradient has %d elements, the input %d", len(g), len(x))
	}
	dx := c.elemGrad(in[0], dout[0])
	r := dx.F32()
	if !(lo <= hi) {
		// Empty range (or a NaN bound): nothing passes.
		clear(r)
		din[0] = dx
		return din, nil
	}
	klo, span := f32KeyRange(lo, hi)
	parFor(c, len(r), func(a, b int) { maskKeyRange(x[a:b], g[a:b], r[a:b], klo, span) })
	din[0] = dx
	return din, nil
}

// The activation gradients that pass dY where x lies in a range compare
// integer keys of the floats' bits rather than the floats: the key
//
//	k(x) = bits(x) ^ ((bits(x) >> 31) & 0x7fffffff)   (signed 32-bit)
//
// orders the floats as their values (-NaN < -Inf < ... < -0 < +0 < ... <
// +Inf < +NaN), so lo <= x <= hi is one unsigned comparison, k(x) - k(lo)
// <= k(hi) - k(lo), which Go compiles to a few branch-free integer
// instructions per element (about 1.5× faster than two float comparisons
// and their flag moves).

// f32Key is the ordering key of f (see above).
func f32Key(f float32) int32 {
	b := int32(math.Float32bits(f))
	return b ^ ((b >> 31) & 0x7fffffff)
}

// f32KeyRange returns the key range of the floats x with lo <= x <= hi
// (lo <= hi, neither NaN): its first key and its width. -0 and +0 are
// equal as floats, so a zero bound takes both.
func f32KeyRange(lo, hi float32) (klo int32, span uint32) {
	klo, khi := f32Key(lo), f32Key(hi)
	if lo == 0 {
		klo = f32Key(float32(math.Copysign(0, -1)))
	}
	if hi == 0 {
		khi = 0 // +0
	}
	return klo, uint32(khi - klo)
}

// maskKeyRange sets r[i] = g[i] where x[i]'s key lies in [klo, klo+span],
// else 0 (x, g and r of one length).
func maskKeyRange(x, g, r []float32, klo int32, span uint32) {
	n := len(x)
	if n == 0 {
		return
	}
	xb := unsafe.Slice((*int32)(unsafe.Pointer(&x[0])), n)
	gb := unsafe.Slice((*uint32)(unsafe.Pointer(&g[:n][0])), n)
	rb := unsafe.Slice((*uint32)(unsafe.Pointer(&r[:n][0])), n)
	s1 := uint64(span) + 1
	for i, b := range xb {
		k := b ^ ((b >> 31) & 0x7fffffff)
		// Negative (top bit set) exactly when k - klo <= span.
		d := uint64(uint32(k-klo)) - s1
		rb[i] = gb[i] & uint32(int64(d)>>63)
	}
}

// binGrad names a differentiable broadcasting binary op.
type binGrad int

const (
	gradAdd binGrad = iota
	gradSub
	gradMul
	gradDiv
)

func (k binGrad) String() string { return [...]string{"Add", "Sub", "Mul", "Div"}[k] }

// bcastRuns walks an output of shape oshape whose operands a and b (shapes
// ashape, bshape) broadcast to it, in runs along the innermost dimension:
// fn(o, ia, ib, cnt, sa, sb) covers outputs o..o+cnt-1, which read a at
// ia + k·sa and b at ib + k·sb.
func bcastRuns(oshape, ashape, bshape []int, fn func(o, ia, ib, cnt, sa, sb int)) {
	r := len(oshape)
	total := prod(oshape)
	if total == 0 {
		return
	}
	if r == 0 {
		fn(0, 0, 0, 1, 0, 0)
		return
	}
	sa, sb := broadcastStrides(ashape, r), broadcastStrides(bshape, r)
	inner := oshape[r-1]
	idx := make([]int, r-1)
	ia, ib := 0, 0
	for o := 0; o < total; o += inner {
		fn(o, ia, ib, inner, sa[r-1], sb[r-1])
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			ia += sa[d]
			ib += sb[d]
			if idx[d] < oshape[d] {
				break
			}
			ia -= sa[d] * oshape[d]
			ib -= sb[d] * oshape[d]
			idx[d] = 0
		}
	}
}

// binaryBackward computes Add/Sub/Mul/Div's input gradients, summed over
// the axes each input was broadcast along (in float64).
func binaryBackward(k binGrad) func(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	return func(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
		din := make([]*ir.Tensor, len(in))
		a, b, g := in[0].F32(), in[1].F32(), dout[0].F32()
		if in[0].DType != ir.Float32 || in[1].DType != ir.Float32 || dout[0].DType != ir.Float32 {
			return nil, fmt.Errorf("%s gradient needs float32 inputs, got %v and %v", k, in[0].DType, in[1].DType)
		}
		oshape := dout[0].Shape
		if bs, err := ir.BroadcastShapes(in[0].Shape, in[1].Shape); err != nil || !slices.Equal(bs, oshape) {
			return nil, fmt.Errorf("%s gradient: inputs %v and %v do not broadcast to the output %v", k, in[0].Shape, in[1].Shape, oshape)
		}
		full := func(i int) bool { return in[i].Len() == len(g) }
		// pass is dY itself as input i's gradient (a view in i's shape).
		pass := func(i int) (*ir.Tensor, error) {
			if slices.Equal(in[i].Shape, oshape) {
				return dout[0], nil
			}
			return dout[0].Reshaped(slices.Clone(in[i].Shape))
		}
		// Both inputs of the output's size: flat elementwise, in parallel.
		flat := full(0) && full(1)
		for i := range 2 {
			if !need[i] {
				continue
			}
			if full(i) {
				// No reduction: elementwise, in the output's layout.
				if k == gradAdd || (k == gradSub && i == 0) {
					d, err := pass(i)
					if err != nil {
						return nil, err
					}
					din[i] = d
					continue
				}
				d := c.likeF32(in[i]) // written whole
				r := d.F32()
				if flat {
					parFor(c, len(r), func(lo, hi int) {
						for j := lo; j < hi; j++ {
							r[j] = binTerm(k, i, g[j], a[j], b[j])
						}
					})
				} else {
					bcastRuns(oshape, in[0].Shape, in[1].Shape, func(o, ia, ib, cnt, sa, sb int) {
						for j := 0; j < cnt; j++ {
							r[o+j] = binTerm(k, i, g[o+j], a[ia+j*sa], b[ib+j*sb])
						}
					})
				}
				din[i] = d
				continue
			}
			acc := make([]float64, in[i].Len())
			bcastRuns(oshape, in[0].Shape, in[1].Shape, func(o, ia, ib, cnt, sa, sb int) {
				for j := 0; j < cnt; j++ {
					v := float64(binTerm(k, i, g[o+j], a[ia+j*sa], b[ib+j*sb]))
					if i == 0 {
						acc[ia+j*sa] += v
					} else {
						acc[ib+j*sb] += v
					}
				}
			})
			d := c.likeF32(in[i]) // written whole
			r := d.F32()
			for j, v := range acc {
				r[j] = float32(v)
			}
			din[i] = d
		}
		return din, nil
	}
}

// binTerm is the contribution of one output element's gradient g to input
// i's gradient, at operand values a and b.
func binTerm(k binGrad, i int, g, a, b float32) float32 {
	switch k {
	case gradAdd:
		return g
	case gradSub:
		if i == 0 {
			return g
		}
		return -g
	case gradMul:
		if i == 0 {
			return g * b
		}
		return g * a
	}
	if i == 0 {
		return g / b
	}
	return float32(-float64(g) * float64(a) / (float64(b) * float64(b)))
}
