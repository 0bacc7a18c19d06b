package runtime

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Backward mode for Gemm and MatMul (float32), every product on the
// tier's packed GEMM (simd GemmPacked; the forward of a fully connected
// Gemm on at most 8 rows streams its weights through GemvBatch instead).
// Transposed operands are read through the packing strides
// (PackAStrided, DenseB.Trans), never copied.
//
// Gemm, Y = alpha·op(A)·op(B) + beta·C:
//
//	d op(A) = alpha·dY·op(B)ᵀ, d op(B) = alpha·op(A)ᵀ·dY, dC = beta·dY
//	summed over the axes C is broadcast along.
//
// MatMul (numpy semantics): dA_b = dY_b·B_bᵀ and dB_b = A_bᵀ·dY_b per
// batch matrix, summed over the batch axes an operand is broadcast along;
// a 1-D operand is a 1×K row (A) or K×1 column (B) with that axis dropped
// from Y, which leaves the data layout unchanged.

func init() {
	registerGrad("Gemm", gradOp{forward: gemmGradForward, backward: gemmGradBackward, diff: []int{0, 1, 2}})
	registerGrad("MatMul", gradOp{forward: matmulGradForward, backward: matmulGradBackward, diff: []int{0, 1}})
}

// gemmGrad is a validated float32 Gemm.
type gemmGrad struct {
	m, k, n        int
	transA, transB bool
	alpha, beta    float32
	cm, cn         int // C viewed as cm × cn (each M or N, or 1); 0 × 0 when absent
}

func planGemmGrad(n *ir.Node, in []*ir.Tensor) (*gemmGrad, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("Gemm needs inputs A and B")
	}
	if _, err := inferGemm(n, argsOf(in)); err != nil {
		return nil, err
	}
	m, k, nn, err := gemmDims(n, in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	g := &gemmGrad{m: m, k: k, n: nn,
		transA: n.AttrInt("transA", 0) != 0, transB: n.AttrInt("transB", 0) != 0,
		alpha: n.AttrFloat("alpha", 1), beta: n.AttrFloat("beta", 1)}
	if len(in) > 2 && in[2] != nil {
		cs := in[2].Shape
		g.cm, g.cn = 1, 1
		switch len(cs) {
		case 1:
			g.cn = cs[0]
		case 2:
			g.cm, g.cn = cs[0], cs[1]
		}
	}
	return g, nil
}

func gemmGradForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	if !ghAllF32(in) {
		out, err := EvalNode(n, in, c.limit)
		return out, nil, err
	}
	g, err := planGemmGrad(n, in)
	if err != nil {
		return nil, nil, err
	}
	// Every element is written when there is one (k = 0 included: the
	// GEMM writes A·B = 0, Gemv zero sums).
	y, err := ghNewF32(c, "Gemm output", []int{g.m, g.n}, g.k == 0)
	if err != nil {
		return nil, nil, err
	}
	a, b := in[0], in[1]
	yd := y.F32()
	if g.m > 0 && g.n > 0 {
		// A fully connected layer on a few rows (op(B) = Bᵀ, B stored
		// N×K) streams B through Gemv, with C added there when it is a
		// row of N; otherwise a packed GEMM.
		fused := false
		if !g.transA && g.transB && g.m <= gemvMaxM && g.k > 0 {
			var ep simd.Epilogue
			if g.cm == 1 && g.cn == g.n && g.beta == 1 {
				ep.Bias, fused = in[2].F32(), true
			}
			c.k.GemvBatch(yd, g.n, b.F32(), g.k, a.F32(), g.k, g.m, g.n, g.k, g.alpha, ep, c.par)
		} else {
			pa := ghPackA(c.k, g.m, g.k, a.F32(), a.Shape[1], g.transA)
			c.k.GemmPacked(pa, g.n, &simd.DenseB{Data: b.F32(), Stride: b.Shape[1], Trans: g.transB}, yd, g.n, simd.Epilogue{}, c.par)
			if g.alpha != 1 {
				c.k.ScaleBiasAct(yd, yd, g.alpha, 0, simd.Act{})
			}
		}
		if g.cm > 0 && !fused {
			cd := in[2].F32()
			for i := 0; i < g.m; i++ {
				row := yd[i*g.n : (i+1)*g.n]
				crow := cd[min(i, g.cm-1)*g.cn:][:g.cn]
				switch {
				case g.cn == 1:
					c.k.ScaleBiasAct(row, row, 1, g.beta*crow[0], simd.Act{})
				case g.beta == 1:
					c.k.AddTo(row, crow)
				default:
					for j, v := range crow {
						row[j] += g.beta * v
					}
				}
			}
		}
	}
	return []*ir.Tensor{y}, g, nil
}

// ghPackA packs the rows × cols matrix a (row stride ld) for the tier's
// GEMM, or its transpose when trans is set (a then stored cols × rows).
func ghPackA(k *simd.Kernels, rows, cols int, a []float32, ld int, trans bool) *simd.PackedA {
	if trans {
		return k.PackAStrided(rows, cols, a, 1, ld)
	}
	return k.PackAStrided(rows, cols, a, ld, 1)
}

func gemmGradBackward(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	if !ghAnyNeed(need) {
		return make([]*ir.Tensor, len(in)), nil
	}
	if err := ghNeedF32(in); err != nil {
		return nil, err
	}
	g, ok := saved.(*gemmGrad)
	if !ok {
		var err error
		if g, err = planGemmGrad(n, in); err != nil {
			return nil, err
		}
	}
	dy, err := ghDout(dout, 0, []int{g.m, g.n})
	if err != nil {
		return nil, err
	}
	if dy == nil {
		return ghZeros(c, in, need), nil
	}
	// Each gradient is written whole below (dA and dB by a GEMM, dC from
	// its sums), unless a GEMM has an empty dimension.
	din := ghGrads(c, in, need, g.m == 0 || g.k == 0 || g.n == 0)
	a, b := in[0], in[1]
	ad, bd := a.F32(), b.F32()
	k := c.k
	if din[0] != nil && g.m > 0 && g.k > 0 {
		da := din[0].F32()
		if !g.transA {
			// dA (m×k) = dY (m×n) · op(B)ᵀ (n×k).
			pa := k.PackAStrided(g.m, g.n, dy, g.n, 1)
			k.GemmPacked(pa, g.k, &simd.DenseB{Data: bd, Stride: b.Shape[1], Trans: !g.transB}, da, g.k, simd.Epilogue{}, c.par)
		} else {
			// dA (k×m) = op(B) (k×n) · dYᵀ (n×m).
			pa := ghPackA(k, g.k, g.n, bd, b.Shape[1], g.transB)
			k.GemmPacked(pa, g.m, &simd.DenseB{Data: dy, Stride: g.n, Trans: true}, da, g.m, simd.Epilogue{}, c.par)
		}
		if g.alpha != 1 {
			k.ScaleBiasAct(da, da, g.alpha, 0, simd.Act{})
		}
	}
	if din[1] != nil && g.k > 0 && g.n > 0 {
		db := din[1].F32()
		if !g.transB {
			// dB (k×n) = op(A)ᵀ (k×m) · dY (m×n).
			pa := ghPackA(k, g.k, g.m, ad, a.Shape[1], !g.transA)
			k.GemmPacked(pa, g.n, &simd.DenseB{Data: dy, Stride: g.n}, db, g.n, simd.Epilogue{}, c.par)
		} else {
			// dB (n×k) = dYᵀ (n×m) · op(A) (m×k).
			pa := k.PackAStrided(g.n, g.m, dy, 1, g.n)
			k.GemmPacked(pa, g.k, &simd.DenseB{Data: ad, Stride: a.Shape[1], Trans: g.transA}, db, g.k, simd.Epilogue{}, c.par)
		}
		if g.alpha != 1 {
			k.ScaleBiasAct(db, db, g.alpha, 0, simd.Act{})
		}
	}
	if len(in) > 2 && din[2] != nil {
		// dC = beta·dY summed over the broadcast axes, in float64.
		acc := make([]float64, g.cm*g.cn)
		for i := 0; i < g.m; i++ {
			row := dy[i*g.n : (i+1)*g.n]
			dst := acc[min(i, g.cm-1)*g.cn:][:g.cn]
			if g.cn == 1 {
				s := 0.0
				for _, v := range row {
					s += float64(v)
				}
				dst[0] += s
				continue
			}
			for j, v := range row {
				dst[j] += float64(v)
			}
		}
		dc := din[2].F32()
		for i, v := range acc {
			dc[i] = float32(float64(g.beta) * v)
		}
	}
	return din, nil
}

// matmulGrad is a validated float32 MatMul: its shapes and, per output
// batch matrix, the index of each operand's matrix.
type matmulGrad struct {
	s       *matmulShapes
	nb      int   // output batch matrices
	ia, ib  []int // operand matrix per output matrix
	na, nbm int   // matrices of A and of B
	aFull   bool  // A has a matrix per output matrix (no broadcast)
	bFull   bool
	bShared bool // B is one matrix shared by every output matrix
}

func planMatMulGrad(in []*ir.Tensor) (*matmulGrad, error) {
	if len(in) < 2 || in[0] == nil || in[1] == nil {
		return nil, fmt.Errorf("MatMul needs inputs A and B")
	}
	if _, err := inferMatMul(nil, argsOf(in)); err != nil {
		return nil, err
	}
	s, err := matmulShapesOf(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, err
	}
	g := &matmulGrad{s: s, nb: prod(s.batch), na: prod(s.aBatch), nbm: prod(s.bBatch)}
	if s.m*s.n == 0 || g.nb == 0 {
		g.nb = 0 // nothing to compute (and no batch walk)
		return g, nil
	}
	g.aFull, g.bFull, g.bShared = g.na == g.nb, g.nbm == g.nb, g.nbm == 1
	g.ia, g.ib = s.batchOperands(g.nb)
	return g, nil
}

// small reports whether one batch matrix product is too small to split
// over threads, so that the batch is split instead.
func (g *matmulGrad) small() bool { return g.s.m*g.s.n*max(g.s.k, 1) < 1<<16 }

func matmulGradForward(c *gradCtx, n *ir.Node, in []*ir.Tensor) ([]*ir.Tensor, any, error) {
	if !ghAllF32(in) {
		out, err := EvalNode(n, in, c.limit)
		return out, nil, err
	}
	g, err := planMatMulGrad(in)
	if err != nil {
		return nil, nil, err
	}
	y, err := ghNewF32(c, "MatMul output", g.s.out, g.nb == 0 || g.s.k == 0)
	if err != nil {
		return nil, nil, err
	}
	if g.nb == 0 {
		return []*ir.Tensor{y}, g, nil
	}
	s := g.s
	a, b, yd := in[0].F32(), in[1].F32(), y.F32()
	k := c.k
	am, bm, om := s.m*s.k, s.k*s.n, s.m*s.n
	if g.aFull && g.bShared {
		// One product: the batch's rows of A stacked.
		pa := k.PackAStrided(g.nb*s.m, s.k, a, s.k, 1)
		k.GemmPacked(pa, s.n, &simd.DenseB{Data: b, Stride: s.n}, yd, s.n, simd.Epilogue{}, c.par)
		return []*ir.Tensor{y}, g, nil
	}
	one := func(o int, par simd.Parallel) {
		pa := k.PackAStrided(s.m, s.k, a[g.ia[o]*am:], s.k, 1)
		k.GemmPacked(pa, s.n, &simd.DenseB{Data: b[g.ib[o]*bm:], Stride: s.n}, yd[o*om:(o+1)*om], s.n, simd.Epilogue{}, par)
	}
	if g.small() && simd.ThreadsOf(c.par) > 1 {
		simd.ForEach(c.par, g.nb, func(lo, hi int) {
			for o := lo; o < hi; o++ {
				one(o, nil)
			}
		})
	} else {
		for o := 0; o < g.nb; o++ {
			one(o, c.par)
		}
	}
	return []*ir.Tensor{y}, g, nil
}

func matmulGradBackward(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) ([]*ir.Tensor, error) {
	if !ghAnyNeed(need) {
		return make([]*ir.Tensor, len(in)), nil
	}
	if err := ghNeedF32(in); err != nil {
		return nil, err
	}
	g, ok := saved.(*matmulGrad)
	if !ok {
		var err error
		if g, err = planMatMulGrad(in); err != nil {
			return nil, err
		}
	}
	s := g.s
	dy, err := ghDout(dout, 0, s.out)
	if err != nil {
		return nil, err
	}
	if dy == nil || g.nb == 0 || s.k == 0 {
		return ghZeros(c, in, need), nil
	}
	// Gradients of operands with a matrix per output matrix are written
	// whole; broadcast ones accumulate.
	din := make([]*ir.Tensor, len(in))
	for i, full := range []bool{g.aFull, g.bFull} {
		if ghNeeds(need, i) {
			din[i] = c.shaped(in[i], !full)
		}
	}
	a, b := in[0].F32(), in[1].F32()
	var da, db []float32
	if din[0] != nil {
		da = din[0].F32()
	}
	if din[1] != nil {
		db = din[1].F32()
	}
	k := c.k
	am, bm, om := s.m*s.k, s.k*s.n, s.m*s.n
	if g.aFull && g.bShared {
		// The batch's rows stacked: one product each.
		rows := g.nb * s.m
		if da != nil {
			pa := k.PackAStrided(rows, s.n, dy, s.n, 1)
			k.GemmPacked(pa, s.k, &simd.DenseB{Data: b, Stride: s.n, Trans: true}, da, s.k, simd.Epilogue{}, c.par)
		}
		if db != nil {
			pa := k.PackAStrided(s.k, rows, a, 1, s.k)
			k.GemmPacked(pa, s.n, &simd.DenseB{Data: dy, Stride: s.n}, db, s.n, simd.Epilogue{}, c.par)
		}
		return din, nil
	}
	// dA_o = dY_o·B_oᵀ into dst (m×k); dB_o = A_oᵀ·dY_o into dst (k×n).
	gradA := func(o int, dst []float32, par simd.Parallel) {
		pa := k.PackAStrided(s.m, s.n, dy[o*om:], s.n, 1)
		k.GemmPacked(pa, s.k, &simd.DenseB{Data: b[g.ib[o]*bm:], Stride: s.n, Trans: true}, dst, s.k, simd.Epilogue{}, par)
	}
	gradB := func(o int, dst []float32, par simd.Parallel) {
		pa := k.PackAStrided(s.k, s.m, a[g.ia[o]*am:], 1, s.k)
		k.GemmPacked(pa, s.n, &simd.DenseB{Data: dy[o*om:], Stride: s.n}, dst, s.n, simd.Epilogue{}, par)
	}
	// Operands with a matrix per output matrix get their gradients
	// written in place, in parallel over the batch when the products are
	// small; broadcast ones accumulate in batch order through scratch.
	direct := (da == nil || g.aFull) && (db == nil || g.bFull)
	if direct && g.small() && simd.ThreadsOf(c.par) > 1 {
		simd.ForEach(c.par, g.nb, func(lo, hi int) {
			for o := lo; o < hi; o++ {
				if da != nil {
					gradA(o, da[o*am:(o+1)*am], nil)
				}
				if db != nil {
					gradB(o, db[o*bm:(o+1)*bm], nil)
				}
			}
		})
		return din, nil
	}
	var tmp []float32
	if (da != nil && !g.aFull) || (db != nil && !g.bFull) {
		tmp = make([]float32, max(am, bm))
	}
	for o := 0; o < g.nb; o++ {
		if da != nil {
			dst := da[g.ia[o]*am:][:am]
			if g.aFull {
				gradA(o, dst, c.par)
			} else {
				gradA(o, tmp[:am], c.par)
				k.AddTo(dst, tmp[:am])
			}
		}
		if db != nil {
			dst := db[g.ib[o]*bm:][:bm]
			if g.bFull {
				gradB(o, dst, c.par)
			} else {
				gradB(o, tmp[:bm], c.par)
				k.AddTo(dst, tmp[:bm])
			}
		}
	}
	return din, nil
}
