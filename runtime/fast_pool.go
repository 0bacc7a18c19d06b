package runtime

import (
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Fast float32 MaxPool and AveragePool over NCHW inputs with two spatial
// axes (any kernel, stride, dilation, padding, ceil_mode, count_include_pad;
// no Indices output), on the kernel table's MaxPool2D and AvgPool2D (whole
// planes per call), and GlobalAveragePool of any rank. Planes are computed
// in parallel.

func init() {
	fastOps["MaxPool"] = choosePool
	fastOps["AveragePool"] = choosePool
	fastOps["GlobalAveragePool"] = chooseGlobalAvg
}

// fastPool2D is a 2-D max or average pooling of every N×C plane.
type fastPool2D struct {
	max                   bool
	g                     simd.Pool2D
	scale                 []float32 // average: 1/divisor per output of a plane
	planes                int
	planesPerItem, nItems int
}

func choosePool(_ *planCtx, n *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) != 1 || in[0] == nil || len(out) != 1 {
		return nil, nil
	}
	x := in[0]
	if x.dtype != ir.Float32 || len(x.shape) != 4 {
		return nil, nil
	}
	g, err := planPool(n, x.shape)
	if err != nil {
		return nil, err
	}
	k := &fastPool2D{
		max:    n.Op == "MaxPool",
		planes: x.shape[0] * x.shape[1],
		g: simd.Pool2D{
			H: g.in[0], W: g.in[1], OH: g.out[0], OW: g.out[1],
			KH: g.kernel[0], KW: g.kernel[1], SH: g.stride[0], SW: g.stride[1],
			DH: g.dil[0], DW: g.dil[1], PadT: g.padB[0], PadL: g.padB[1],
		},
	}
	if !k.g.Valid() {
		return nil, nil // beyond the kernels' range: the reference runs it
	}
	if !k.max {
		// The reciprocal divisor of each output: the taps inside the
		// image, or with count_include_pad those inside the padded input
		// (+Inf for a window with none: 0 times it is NaN, as 0/0).
		rows, cols := g.axisTaps(0), g.axisTaps(1)
		inclPad := n.AttrInt("count_include_pad", 0) == 1
		k.scale = make([]float32, k.g.OH*k.g.OW)
		for oy := range k.g.OH {
			for ox := range k.g.OW {
				d := max(0, rows.k1[oy]-rows.k0[oy]) * max(0, cols.k1[ox]-cols.k0[ox])
				if inclPad {
					d = rows.padded[oy] * cols.padded[ox]
				}
				k.scale[oy*k.g.OW+ox] = float32(1 / float64(d))
			}
		}
	}
	// Items of about 2^17 window taps, some 10 µs for the vector kernels
	// (about 0.1 ns per tap).
	k.planesPerItem = max(1, (1<<17)/max(1, k.g.OH*k.g.OW*k.g.KH*k.g.KW))
	k.nItems = (k.planes + k.planesPerItem - 1) / k.planesPerItem
	return k, nil
}

func (k *fastPool2D) run(rc *runCtx, in, out []*ir.Tensor) error {
	rc.f[0], rc.f[1] = in[0].F32(), out[0].F32()
	rc.parallel(k.nItems, k)
	return nil
}

// tempFloats is the kernels' scratch for each parallel item.
func (k *fastPool2D) tempFloats() int { return k.nItems * k.g.TempLen() }

func (k *fastPool2D) part(rc *runCtx, i int) {
	x, y := rc.f[0], rc.f[1]
	t := k.g.TempLen()
	tmp := rc.tmp[i*t : (i+1)*t]
	inSp, outSp := k.g.H*k.g.W, k.g.OH*k.g.OW
	p0, p1 := i*k.planesPerItem, min(k.planes, (i+1)*k.planesPerItem)
	src, dst := x[p0*inSp:p1*inSp], y[p0*outSp:p1*outSp]
	if k.max {
		rc.kern.MaxPool2D(dst, src, tmp, p1-p0, &k.g)
	} else {
		rc.kern.AvgPool2D(dst, src, tmp, k.scale, p1-p0, &k.g)
	}
}

// fastGlobalAvg is GlobalAveragePool: the mean of every N×C plane.
type fastGlobalAvg struct {
	ones                  []float32 // size ones (nil when planes are empty)
	planes, size          int
	planesPerItem, nItems int
}

func chooseGlobalAvg(_ *planCtx, _ *ir.Node, in, out []*planValue) (fastKernel, error) {
	if len(in) != 1 || in[0] == nil || len(out) != 1 || in[0].dtype != ir.Float32 || len(in[0].shape) < 2 {
		return nil, nil
	}
	x := in[0]
	k := &fastGlobalAvg{planes: x.shape[0] * x.shape[1], size: prod(x.shape[2:])}
	k.planesPerItem = max(1, elemChunk/max(1, k.size))
	k.nItems = (k.planes + k.planesPerItem - 1) / k.planesPerItem
	if k.size > 0 {
		k.ones = make([]float32, k.size)
		for i := range k.ones {
			k.ones[i] = 1
		}
	}
	return k, nil
}

// run computes the planes' sums as dot products with a vector of ones
// (Kernels.GemvBatch: vectorized, several planes streamed at once, split
// over the threads), scaled by 1/size; empty planes give NaN (0/0) in
// part.
func (k *fastGlobalAvg) run(rc *runCtx, in, out []*ir.Tensor) error {
	x, y := in[0].F32(), out[0].F32()
	if k.ones != nil {
		rc.kern.GemvBatch(y, k.planes, x, k.size, k.ones, k.size, 1, k.planes, k.size, 1/float32(k.size), simd.Epilogue{}, rc.pool)
		return nil
	}
	rc.f[0], rc.f[1] = x, y
	rc.parallel(k.nItems, k)
	return nil
}

func (k *fastGlobalAvg) part(rc *runCtx, i int) {
	x, y := rc.f[0], rc.f[1]
	for pl := i * k.planesPerItem; pl < min(k.planes, (i+1)*k.planesPerItem); pl++ {
		y[pl] = meanF32(x[pl*k.size : (pl+1)*k.size])
	}
}

// meanF32 is the mean of v (NaN when empty) summed in four lanes.
func meanF32(v []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(v); i += 4 {
		q := (*[4]float32)(v[i:])
		s0 += q[0]
		s1 += q[1]
		s2 += q[2]
		s3 += q[3]
	}
	for ; i < len(v); i++ {
		s0 += v[i]
	}
	return (s0 + s1 + s2 + s3) / float32(len(v))
}
