package runtime

import (
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Fast 2-D float32 Conv through simd.PreparedConv: weights packed once per
// session (and input size), bias, residual Add and activation fused into the
// GEMM's epilogue by the plan.

func init() {
	fastOps["Conv"] = chooseConv
}

// fastConv runs a prepared convolution with its fused epilogue.
type fastConv struct {
	pc       *simd.PreparedConv
	act      simd.Act
	residual bool // the last input is added before the activation
}

func chooseConv(pc *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(out) != 1 {
		return nil, nil
	}
	x, w := in[0], in[1]
	if x.dtype != ir.Float32 || len(x.shape) != 4 || w.kind != valConst || w.dtype != ir.Float32 {
		return nil, nil
	}
	var bias []float32
	if len(in) > 2 && in[2] != nil {
		if in[2].kind != valConst || in[2].dtype != ir.Float32 {
			return nil, nil
		}
		bias = in[2].konst.F32()
	}
	args := []*Arg{{DType: x.dtype, Shape: x.shape}, {DType: w.dtype, Shape: w.shape, Val: w.konst}}
	if bias != nil {
		args = append(args, &Arg{DType: in[2].dtype, Shape: in[2].shape, Val: in[2].konst})
	}
	cp, err := planConv(n, args)
	if err != nil {
		return nil, err
	}
	g := cp.geom
	p := simd.ConvParams{
		C: cp.inC, H: g.in[0], W: g.in[1], M: cp.outC, KH: g.kernel[0], KW: g.kernel[1],
		StrideH: g.stride[0], StrideW: g.stride[1], DilH: g.dil[0], DilW: g.dil[1],
		PadTop: g.padB[0], PadLeft: g.padB[1], PadBottom: g.padE[0], PadRight: g.padE[1],
		Group: cp.group,
	}
	if oh, ow := p.OutSize(); oh != g.out[0] || ow != g.out[1] {
		return nil, nil
	}
	v, err := pc.prepare(prepKey{node: n, kind: "conv", h: p.H, w: p.W}, func() (any, error) {
		return pc.ex.kern.PrepareConv(p, w.konst.F32(), bias)
	})
	if err != nil {
		// Sizes the kernel does not take: the reference op decides.
		return nil, nil
	}
	return &fastConv{pc: v.(*simd.PreparedConv)}, nil
}

func (k *fastConv) run(rc *runCtx, in, out []*ir.Tensor) error {
	var res []float32
	if k.residual {
		res = in[len(in)-1].F32()
	}
	return k.pc.Run(in[0].F32(), out[0].F32(), res, k.act, rc.pool)
}

func (k *fastConv) withAct(a simd.Act) fastKernel {
	if k.act.Kind != simd.ActNone {
		return nil
	}
	c := *k
	c.act = a
	return &c
}

func (k *fastConv) withResidual() fastKernel {
	if k.residual || k.act.Kind != simd.ActNone {
		return nil
	}
	c := *k
	c.residual = true
	return &c
}
