package runtime

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
)

// Gemm and MatMul. Floating-point products accumulate in float64 and are
// rounded once; integer products accumulate in the element type and wrap on
// overflow, as numpy does.

// matmulDTypes are MatMul's and Gemm's types (opset 13) without float16/bfloat16.
var matmulDTypes = []ir.DType{ir.Float32, ir.Float64, ir.Int32, ir.Int64, ir.Uint32, ir.Uint64}

func init() {
	register("MatMul", 2, 2, inferMatMul, runMatMul)
	register("Gemm", 2, 3, inferGemm, runGemm)
}

// matmulShapes holds MatMul's operands viewed as batches of matrices.
type matmulShapes struct {
	m, k, n      int
	aBatch       []int // batch dims of A (possibly empty)
	bBatch       []int
	batch        []int // broadcast batch dims
	out          []int // numpy output shape
	aVec, bVecOp bool
}

func matmulShapesOf(a, b []int) (*matmulShapes, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("MatMul needs operands of rank >= 1, got shapes %v and %v", a, b)
	}
	s := &matmulShapes{aVec: len(a) == 1, bVecOp: len(b) == 1}
	am, bm := a, b
	if s.aVec {
		am = []int{1, a[0]}
	}
	if s.bVecOp {
		bm = []int{b[0], 1}
	}
	s.m, s.k = am[len(am)-2], am[len(am)-1]
	kb := bm[len(bm)-2]
	s.n = bm[len(bm)-1]
	if s.k != kb {
		return nil, fmt.Errorf("inner dimensions differ: A %v has %d columns, B %v has %d rows", a, s.k, b, kb)
	}
	s.aBatch, s.bBatch = am[:len(am)-2], bm[:len(bm)-2]
	batch, err := ir.BroadcastShapes(s.aBatch, s.bBatch)
	if err != nil {
		return nil, fmt.Errorf("batch dimensions of A %v and B %v: %w", a, b, err)
	}
	s.batch = batch
	s.out = append([]int(nil), batch...)
	if !s.aVec {
		s.out = append(s.out, s.m)
	}
	if !s.bVecOp {
		s.out = append(s.out, s.n)
	}
	return s, nil
}

func inferMatMul(_ *ir.Node, in []*Arg) ([]Out, error) {
	a, b := in[0], in[1]
	if err := checkDType("A", a.DType, matmulDTypes); err != nil {
		return nil, err
	}
	if b.DType != a.DType {
		return nil, fmt.Errorf("B has element type %v but A has %v", b.DType, a.DType)
	}
	s, err := matmulShapesOf(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	if _, err := ir.NumElements(s.out); err != nil {
		return nil, err
	}
	return []Out{{DType: a.DType, Shape: s.out}}, nil
}

func runMatMul(_ *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	s, err := matmulShapesOf(in[0].Shape, in[1].Shape)
	if err != nil {
		return err
	}
	switch in[0].DType {
	case ir.Float32:
		matmulTyped[float32](s, in[0], in[1], out[0])
	case ir.Float64:
		matmulTyped[float64](s, in[0], in[1], out[0])
	case ir.Int32:
		matmulTyped[int32](s, in[0], in[1], out[0])
	case ir.Int64:
		matmulTyped[int64](s, in[0], in[1], out[0])
	case ir.Uint32:
		matmulTyped[uint32](s, in[0], in[1], out[0])
	case ir.Uint64:
		matmulTyped[uint64](s, in[0], in[1], out[0])
	default:
		return fmt.Errorf("element type %v is not supported", in[0].DType)
	}
	return nil
}

func matmulTyped[T anyNumber](s *matmulShapes, a, b, out *ir.Tensor) {
	o := out.Data.([]T)
	if len(o) == 0 {
		return
	}
	as, bs := a.Data.([]T), b.Data.([]T)
	aMat, bMat, oMat := s.m*s.k, s.k*s.n, s.m*s.n
	ias, ibs := s.batchOperands(len(o) / oMat)
	isFloat := isFloatT[T]()
	var y []float64
	if isFloat {
		y = make([]float64, oMat)
	}
	for bo, ia := range ias {
		ib := ibs[bo]
		am, bm, om := as[ia*aMat:(ia+1)*aMat], bs[ib*bMat:(ib+1)*bMat], o[bo*oMat:(bo+1)*oMat]
		if isFloat {
			gemmFloat(am, s.k, 1, bm, s.n, 1, y, s.m, s.k, s.n)
			for i, v := range y {
				om[i] = T(v)
			}
		} else {
			gemmInt(am, s.k, 1, bm, s.n, 1, om, s.m, s.k, s.n)
		}
	}
}

// batchOperands walks the first nb matrices of the broadcast batch (in
// row-major order) and returns, for each, the index of the matrix of A
// and of B it multiplies.
func (s *matmulShapes) batchOperands(nb int) (ia, ib []int) {
	ia, ib = make([]int, nb), make([]int, nb)
	r := len(s.batch)
	sa, sb := broadcastStrides(s.aBatch, r), broadcastStrides(s.bBatch, r)
	idx := make([]int, r)
	a, b := 0, 0
	for o := range nb {
		ia[o], ib[o] = a, b
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			a += sa[d]
			b += sb[d]
			if idx[d] < s.batch[d] {
				break
			}
			a -= sa[d] * idx[d]
			b -= sb[d] * idx[d]
			idx[d] = 0
		}
	}
	return ia, ib
}

// gemmFloat sets y (m x n, row-major) to the float64 product of A (m x k,
// element (i,p) at a[i*ars+p*acs]) and B (k x n, element (p,j) at
// b[p*brs+j*bcs]).
func gemmFloat[T anyNumber](a []T, ars, acs int, b []T, brs, bcs int, y []float64, m, k, n int) {
	clear(y)
	for i := 0; i < m; i++ {
		row := y[i*n : (i+1)*n]
		for p := 0; p < k; p++ {
			av := float64(a[i*ars+p*acs])
			for j := range row {
				row[j] += av * float64(b[p*brs+j*bcs])
			}
		}
	}
}

// gemmInt is gemmFloat for integer types, accumulating in T (wrapping).
func gemmInt[T anyNumber](a []T, ars, acs int, b []T, brs, bcs int, o []T, m, k, n int) {
	clear(o)
	for i := 0; i < m; i++ {
		row := o[i*n : (i+1)*n]
		for p := 0; p < k; p++ {
			av := a[i*ars+p*acs]
			for j := range row {
				row[j] += av * b[p*brs+j*bcs]
			}
		}
	}
}

// gemmDims returns M, K, N for Gemm's (possibly transposed) 2-D operands.
func gemmDims(n *ir.Node, a, b []int) (m, k, nn int, err error) {
	if len(a) != 2 || len(b) != 2 {
		return 0, 0, 0, fmt.Errorf("A and B must be matrices, got shapes %v and %v", a, b)
	}
	m, k = a[0], a[1]
	if n.AttrInt("transA", 0) != 0 {
		m, k = k, m
	}
	kb, nn := b[0], b[1]
	if n.AttrInt("transB", 0) != 0 {
		kb, nn = nn, kb
	}
	if k != kb {
		return 0, 0, 0, fmt.Errorf("inner dimensions differ: op(A) is %dx%d, op(B) is %dx%d (A %v, B %v)", m, k, kb, nn, a, b)
	}
	return m, k, nn, nil
}

func inferGemm(n *ir.Node, in []*Arg) ([]Out, error) {
	a, b := in[0], in[1]
	if err := checkDType("A", a.DType, matmulDTypes); err != nil {
		return nil, err
	}
	if b.DType != a.DType {
		return nil, fmt.Errorf("B has element type %v but A has %v", b.DType, a.DType)
	}
	m, _, nn, err := gemmDims(n, a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	if len(in) > 2 && in[2] != nil {
		c := in[2]
		if c.DType != a.DType {
			return nil, fmt.Errorf("C has element type %v but A has %v", c.DType, a.DType)
		}
		if err := checkUnidirectional("C", c.Shape, []int{m, nn}); err != nil {
			return nil, err
		}
	}
	return []Out{{DType: a.DType, Shape: []int{m, nn}}}, nil
}

func runGemm(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	switch in[0].DType {
	case ir.Float32:
		return gemmTyped[float32](n, in, out[0])
	case ir.Float64:
		return gemmTyped[float64](n, in, out[0])
	case ir.Int32:
		return gemmTyped[int32](n, in, out[0])
	case ir.Int64:
		return gemmTyped[int64](n, in, out[0])
	case ir.Uint32:
		return gemmTyped[uint32](n, in, out[0])
	case ir.Uint64:
		return gemmTyped[uint64](n, in, out[0])
	}
	return fmt.Errorf("element type %v is not supported", in[0].DType)
}

// gemmTyped computes alpha*op(A)*op(B) + beta*C. For integer types with
// alpha = beta = 1 the arithmetic is exact integer arithmetic; other scale
// factors are applied in float64 and truncated toward zero.
func gemmTyped[T anyNumber](n *ir.Node, in []*ir.Tensor, out *ir.Tensor) error {
	a, b := in[0], in[1]
	m, k, nn, err := gemmDims(n, a.Shape, b.Shape)
	if err != nil {
		return err
	}
	ars, acs := a.Shape[1], 1
	if n.AttrInt("transA", 0) != 0 {
		ars, acs = 1, a.Shape[1]
	}
	brs, bcs := b.Shape[1], 1
	if n.AttrInt("transB", 0) != 0 {
		brs, bcs = 1, b.Shape[1]
	}
	o := out.Data.([]T)
	if len(o) == 0 {
		return nil
	}
	alpha := float64(n.AttrFloat("alpha", 1))
	beta := float64(n.AttrFloat("beta", 1))
	var c *ir.Tensor
	if len(in) > 2 {
		c = in[2]
	}
	as, bs := a.Data.([]T), b.Data.([]T)
	if isFloatT[T]() {
		y := make([]float64, len(o))
		gemmFloat(as, ars, acs, bs, brs, bcs, y, m, k, nn)
		if alpha != 1 {
			for i := range y {
				y[i] *= alpha
			}
		}
		if c != nil {
			broadcastBinary(y, out.Shape, y, out.Shape, c.Data.([]T), c.Shape, func(yv float64, cv T) float64 {
				return yv + beta*float64(cv)
			})
		}
		for i, v := range y {
			o[i] = T(v)
		}
		return nil
	}
	gemmInt(as, ars, acs, bs, brs, bcs, o, m, k, nn)
	switch {
	case alpha == 1 && (c == nil || beta == 1):
		if c != nil {
			broadcastBinary(o, out.Shape, o, out.Shape, c.Data.([]T), c.Shape, func(y, cv T) T { return y + cv })
		}
	case c == nil:
		for i, v := range o {
			o[i] = floatToInt[T](alpha * float64(v))
		}
	default:
		broadcastBinary(o, out.Shape, o, out.Shape, c.Data.([]T), c.Shape, func(y, cv T) T {
			return floatToInt[T](alpha*float64(y) + beta*float64(cv))
		})
	}
	return nil
}
