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
	fastOps["runinfer.FusedConv"] = chooseFusedConv
}

// chooseFusedConv runs a runinfer.FusedConv (graphopt level All) as the
// fast Conv with its residual Z and activation in the epilogue (an
// activation simd has no kind for, such as HardSwish with other parameters
// than 1/6 and 1/2, runs as a Go loop after it), when Z is a float32 value
// of the output's shape. Otherwise the reference op runs it.
func chooseFusedConv(pc *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	act, err := fusedActOf(n)
	if err != nil {
		return nil, err
	}
	if len(out) != 1 {
		return nil, nil
	}
	a, ok := simdAct(act)
	var z *planValue
	if len(in) > 3 && in[3] != nil {
		z = in[3]
		if !residualFits(z, out[0], out[0]) {
			return nil, nil
		}
	}
	k, err := chooseConv(pc, n, in[:min(3, len(in))], out)
	if k == nil || err != nil {
		return k, err
	}
	fc := k.(*fastConv)
	fc.residual = z != nil
	if ok {
		fc.act = a
	} else {
		fc.post = &act
	}
	return fc, nil
}

// simdAct maps a FusedConv activation to simd's fused epilogue.
func simdAct(a fusedAct) (simd.Act, bool) {
	p := func(i int) float32 { return float32(a.params[i]) }
	switch a.name {
	case "":
		return simd.Act{Kind: simd.ActNone}, true
	case "Relu":
		return simd.Act{Kind: simd.ActRelu}, true
	case "Clip":
		if !(p(0) <= p(1)) {
			return simd.Act{}, false
		}
		return simd.Act{Kind: simd.ActClip, Alpha: p(0), Beta: p(1)}, true
	case "LeakyRelu":
		return simd.Act{Kind: simd.ActLeakyRelu, Alpha: p(0)}, true
	case "HardSigmoid":
		return simd.Act{Kind: simd.ActHardSigmoid, Alpha: p(0), Beta: p(1)}, true
	case "HardSwish":
		// simd's HardSwish is x·HardSigmoid(x) with alpha 1/6, beta 1/2.
		if len(a.params) == 0 || (p(0) == float32(1.0/6) && p(1) == 0.5) {
			return simd.Act{Kind: simd.ActHardSwish}, true
		}
	case "Sigmoid":
		return simd.Act{Kind: simd.ActSigmoid}, true
	case "SiLU":
		return simd.Act{Kind: simd.ActSiLU}, true
	}
	return simd.Act{}, false
}

// fastConv runs a prepared convolution with its fused epilogue.
type fastConv struct {
	pc       *simd.PreparedConv
	gemv     *convGemv // instead of pc: a 1×1 convolution of 1×1 maps
	act      simd.Act
	residual bool // the last input is added before the activation
	// post, when set, is a FusedConv activation simd has no kind for,
	// applied by a Go loop after the kernel (act is then ActNone).
	post *fusedAct
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
	if batch := x.shape[0]; p.H == 1 && p.W == 1 && p.KH == 1 && p.KW == 1 && p.Group == 1 && batch <= gemvMaxM &&
		p.PadTop == 0 && p.PadLeft == 0 && p.PadBottom == 0 && p.PadRight == 0 {
		// A 1×1 convolution of a 1×1 map (a squeeze-excitation gate,
		// a classifier after global pooling) is a fully connected
		// layer: M×C weights, row-major as they are.
		return &fastConv{gemv: &convGemv{w: w.konst.F32(), bias: bias, batch: batch, m: p.M, c: p.C}}, nil
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

// convGemv is a 1×1 convolution of 1×1 maps as matrix-vector products:
// y[n,m] = Σ_c w[m,c]·x[n,c] + bias[m] for batch ≤ gemvMaxM images.
type convGemv struct {
	w, bias     []float32 // the constant M×C weights and the bias (or nil)
	batch, m, c int
}

func (k *fastConv) run(rc *runCtx, in, out []*ir.Tensor) error {
	var res []float32
	if k.residual {
		res = in[len(in)-1].F32()
	}
	if g := k.gemv; g != nil {
		x, y := in[0].F32(), out[0].F32()
		if res == nil {
			rc.kern.GemvBatch(y, g.m, g.w, g.c, x, g.c, g.batch, g.m, g.c, 1, simd.Epilogue{Bias: g.bias, Act: k.act}, rc.pool)
		} else {
			// The residual comes before the activation: bias first,
			// then the sum, then the activation.
			rc.kern.GemvBatch(y, g.m, g.w, g.c, x, g.c, g.batch, g.m, g.c, 1, simd.Epilogue{Bias: g.bias}, rc.pool)
			rc.kern.AddTo(y, res)
			if k.act.Kind != simd.ActNone {
				rc.kern.BiasAct(y, 0, k.act)
			}
		}
	} else if err := k.pc.Run(in[0].F32(), out[0].F32(), res, k.act, rc.pool); err != nil {
		return err
	}
	if k.post != nil {
		round := func(v float64) float64 { return float64(float32(v)) }
		y := out[0].F32()
		for i, v := range y {
			y[i] = float32(k.post.apply(float64(v), round))
		}
	}
	return nil
}

// name is the step's kernel in profiles: "conv-" and the algorithm.
func (k *fastConv) name() string {
	if k.gemv != nil {
		return "conv-gemv"
	}
	return "conv-" + k.pc.Algorithm()
}

func (k *fastConv) withAct(a simd.Act) fastKernel {
	if k.act.Kind != simd.ActNone || k.post != nil {
		return nil
	}
	c := *k
	c.act = a
	return &c
}

func (k *fastConv) withResidual() fastKernel {
	if k.residual || k.act.Kind != simd.ActNone || k.post != nil {
		return nil
	}
	c := *k
	c.residual = true
	return &c
}
