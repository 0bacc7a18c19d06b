package runtime

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
)

// Gradients of the operators that move data without arithmetic: Flatten,
// Reshape, Squeeze, Unsqueeze (a reshape of the gradient), Transpose (the
// inverse permutation), Concat and Split (each other's backward), Pad (the
// gradient of every output element goes back to the element it copies;
// padding constants get nothing), and Dropout.

func init() {
	for _, op := range []string{"Flatten", "Reshape", "Squeeze", "Unsqueeze"} {
		registerGrad(op, gradOp{backward: reshapeBackward, diff: []int{0}})
	}
	registerGrad("Transpose", gradOp{backward: transposeBackward})
	registerGrad("Concat", gradOp{backward: concatBackward})
	registerGrad("Split", gradOp{backward: splitBackward, diff: []int{0}})
	registerGrad("Pad", gradOp{backward: padBackward, diff: []int{0}})
	registerGrad("Dropout", gradOp{forward: dropoutForward, backward: dropoutBackward, diff: []int{0}})
}

func reshapeBackward(_ *gradCtx, n *ir.Node, in, _ []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	din := make([]*ir.Tensor, len(in))
	if !need[0] {
		return din, nil
	}
	if dout[0].Len() != in[0].Len() {
		return nil, fmt.Errorf("%s gradient has %d elements, the input %d", n.Op, dout[0].Len(), in[0].Len())
	}
	d, err := dout[0].Reshaped(append([]int(nil), in[0].Shape...))
	if err != nil {
		return nil, err
	}
	din[0] = d
	return din, nil
}

func transposeBackward(c *gradCtx, n *ir.Node, in, _ []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	din := make([]*ir.Tensor, len(in))
	if !need[0] {
		return din, nil
	}
	perm, err := transposePerm(n, len(in[0].Shape))
	if err != nil {
		return nil, err
	}
	inv := make([]int64, len(perm))
	for i, p := range perm {
		inv[p] = int64(i)
	}
	t := &ir.Node{Op: "Transpose", Inputs: []string{"dy"}, Outputs: []string{"dx"}, Attrs: map[string]*ir.Attr{}}
	t.SetAttr(ir.IntsAttr("perm", inv))
	out, err := execNodeLimited(t, []*ir.Tensor{dout[0]}, c.limit)
	if err != nil {
		return nil, err
	}
	din[0] = out[0]
	return din, nil
}

func concatBackward(c *gradCtx, n *ir.Node, in, _ []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	din := make([]*ir.Tensor, len(in))
	shape := dout[0].Shape
	axis, err := normAxis(n.AttrInt("axis", 0), len(shape))
	if err != nil {
		return nil, err
	}
	g := dout[0].F32()
	outer, inner := prod(shape[:axis]), prod(shape[axis+1:])
	outRow := shape[axis] * inner
	at := 0
	for i, x := range in {
		row := x.Shape[axis] * inner
		if need[i] {
			d := c.likeF32(x) // written whole
			r := d.F32()
			for o := 0; o < outer; o++ {
				copy(r[o*row:(o+1)*row], g[o*outRow+at:])
			}
			din[i] = d
		}
		at += row
	}
	return din, nil
}

func splitBackward(c *gradCtx, n *ir.Node, in, _ []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	din := make([]*ir.Tensor, len(in))
	if !need[0] {
		return din, nil
	}
	axis, sizes, err := splitSizes(n, argsOf(in))
	if err != nil {
		return nil, err
	}
	shape := in[0].Shape
	outer, inner := prod(shape[:axis]), prod(shape[axis+1:])
	inRow := shape[axis] * inner
	d := c.zerosLike(in[0]) // outputs nothing depends on get zeros
	r := d.F32()
	at := 0
	for i, s := range sizes {
		row := s * inner
		if i < len(dout) && dout[i] != nil {
			g := dout[i].F32()
			if len(g) != outer*row {
				return nil, fmt.Errorf("Split gradient %d has %d elements, want %d", i, len(g), outer*row)
			}
			for o := 0; o < outer; o++ {
				copy(r[o*inRow+at:o*inRow+at+row], g[o*row:])
			}
		}
		at += row
	}
	din[0] = d
	return din, nil
}

// padBackward sends each output element's gradient to the input element
// it was copied from (several, in reflect, edge and wrap modes, add up).
func padBackward(c *gradCtx, n *ir.Node, in, _ []*ir.Tensor, _ any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	din := make([]*ir.Tensor, len(in))
	if !need[0] {
		return din, nil
	}
	p, err := planPad(n, argsOf(in), false)
	if err != nil {
		return nil, err
	}
	shape := in[0].Shape
	d := c.zerosLike(in[0])
	r, g := d.F32(), dout[0].F32()
	if len(g) != prod(p.out) {
		return nil, fmt.Errorf("Pad gradient has %d elements, the output %d", len(g), prod(p.out))
	}
	rank := len(shape)
	if rank == 0 {
		copy(r, g)
		din[0] = d
		return din, nil
	}
	st, ost := stridesOf(shape), stridesOf(p.out)
	// src[i][o] is the input offset output position o of axis i copies
	// (-1: the constant).
	src := make([][]int, rank)
	for i, dim := range shape {
		b, e := p.begin[i], p.end[i]
		lo := int(max(-b, 0))
		kept := dim - lo - int(max(-e, 0))
		pb := int(max(b, 0))
		m := make([]int, p.out[i])
		for o := range m {
			if s := padSource(p.mode, o-pb, kept); s >= 0 {
				m[o] = (lo + s) * st[i]
			} else {
				m[o] = -1
			}
		}
		src[i] = m
	}
	var walk func(ax, so, oo int)
	walk = func(ax, so, oo int) {
		if ax == rank-1 {
			for o, s := range src[ax] {
				if s >= 0 {
					r[so+s] += g[oo+o]
				}
			}
			return
		}
		for o, s := range src[ax] {
			if s >= 0 {
				walk(ax+1, so+s, oo+o*ost[ax])
			}
		}
	}
	walk(0, 0, 0)
	din[0] = d
	return din, nil
}

// dropoutSaved is what a training-mode Dropout keeps for its backward.
type dropoutSaved struct {
	mask  []bool // nil: nothing was dropped
	scale float32
}

// dropoutParams reads Dropout's ratio (input 1, default 0.5) and whether
// it drops: in training semantics, unless a training_mode input (2) says
// false.
func dropoutParams(c *gradCtx, in []*ir.Tensor) (ratio float64, active bool, err error) {
	ratio = 0.5
	if len(in) > 1 && in[1] != nil {
		if !in[1].DType.IsFloat() || in[1].Len() != 1 {
			return 0, false, fmt.Errorf("ratio must be one float, got %v", in[1])
		}
		ratio = in[1].Float64At(0)
	}
	if !(ratio >= 0 && ratio < 1) {
		return 0, false, fmt.Errorf("ratio %g is outside [0, 1)", ratio)
	}
	active = c.training && ratio > 0
	if len(in) > 2 && in[2] != nil {
		if in[2].DType != ir.Bool || in[2].Len() != 1 {
			return 0, false, fmt.Errorf("training_mode must be one bool, got %v", in[2])
		}
		if !in[2].Data.([]bool)[0] {
			active = false
		}
	}
	return ratio, active, nil
}

// dropoutForward keeps each element with probability 1-ratio, scaled by
// 1/(1-ratio), in training semantics; otherwise it is the identity. The
// optional mask output is true where an element was kept.
func dropoutForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	if len(n.Outputs) > 2 {
		return nil, nil, fmt.Errorf("has %d outputs, want at most 2", len(n.Outputs))
	}
	x := in[0]
	if x.DType != ir.Float32 {
		return nil, nil, fmt.Errorf("input is %v, training runs on float32", x.DType)
	}
	ratio, active, err := dropoutParams(c, in)
	if err != nil {
		return nil, nil, err
	}
	y := c.likeF32(x)
	copy(y.F32(), x.F32())
	saved := &dropoutSaved{scale: 1}
	var mask []bool
	if len(n.Outputs) > 1 || active {
		mask = make([]bool, x.Len())
		for i := range mask {
			mask[i] = true
		}
	}
	if active {
		saved.scale = float32(1 / (1 - ratio))
		ys := y.F32()
		for i := range ys {
			if c.rng.Float64() < ratio {
				mask[i] = false
				ys[i] = 0
			} else {
				ys[i] *= saved.scale
			}
		}
		saved.mask = mask
	}
	out := []*ir.Tensor{y}
	if len(n.Outputs) > 1 {
		m, err := ir.FromSlice(append([]int(nil), x.Shape...), mask)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, m)
	}
	return out, saved, nil
}

func dropoutBackward(c *gradCtx, _ *ir.Node, in, _ []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	din := make([]*ir.Tensor, len(in))
	if !need[0] {
		return din, nil
	}
	s, _ := saved.(*dropoutSaved)
	if s == nil || s.mask == nil {
		din[0] = dout[0]
		return din, nil
	}
	d := c.likeF32(in[0]) // written whole
	r, g := d.F32(), dout[0].F32()
	for i, keep := range s.mask {
		if keep {
			r[i] = g[i] * s.scale
		} else {
			r[i] = 0
		}
	}
	din[0] = d
	return din, nil
}
