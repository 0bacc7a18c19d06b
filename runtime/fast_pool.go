package runtime

import (
	"math"

	"github.com/runinfer/runinfer/ir"
)

// Fast float32 MaxPool and AveragePool over NCHW inputs with two spatial
// axes (any kernel, stride, dilation, padding, ceil_mode, count_include_pad;
// no Indices output), and GlobalAveragePool of any rank. Window bounds are
// precomputed per output row and column, so the inner loops only walk
// in-image taps. Planes are computed in parallel.

func init() {
	fastOps["MaxPool"] = choosePool
	fastOps["AveragePool"] = choosePool
	fastOps["GlobalAveragePool"] = chooseGlobalAvg
}

// fastPool2D is a 2-D max or average pooling, computed row by row (see
// row); the output columns each kernel column reaches inside the image are
// precomputed, so the inner loops do no window bookkeeping.
type fastPool2D struct {
	max                   bool
	planes                int
	h, w, oh, ow          int
	kh, kw                int
	sh, sw, dh, dw        int
	padT, padL            int
	oxLo, oxHi            []int // per kernel column: output columns with the tap inside the image
	inLo, inHi            int   // output columns with every tap inside the image
	div                   []float32
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
		h:      g.in[0], w: g.in[1], oh: g.out[0], ow: g.out[1],
		kh: g.kernel[0], kw: g.kernel[1],
		sh: g.stride[0], sw: g.stride[1], dh: g.dil[0], dw: g.dil[1],
		padT: g.padB[0], padL: g.padB[1],
	}
	k.oxLo, k.oxHi = make([]int, k.kw), make([]int, k.kw)
	k.inLo, k.inHi = 0, k.ow
	for u := range k.kw {
		k.oxLo[u], k.oxHi[u] = tapRange(u*k.dw-k.padL, k.sw, k.w, k.ow)
		k.inLo, k.inHi = max(k.inLo, k.oxLo[u]), min(k.inHi, k.oxHi[u])
	}
	if !k.max {
		// The divisor of each output: the taps inside the image, or with
		// count_include_pad those inside the padded input.
		rows, cols := g.axisTaps(0), g.axisTaps(1)
		inclPad := n.AttrInt("count_include_pad", 0) == 1
		k.div = make([]float32, k.oh*k.ow)
		for oy := range k.oh {
			for ox := range k.ow {
				d := (rows.k1[oy] - rows.k0[oy]) * (cols.k1[ox] - cols.k0[ox])
				if rows.k1[oy] < rows.k0[oy] || cols.k1[ox] < cols.k0[ox] {
					d = 0
				}
				if inclPad {
					d = rows.padded[oy] * cols.padded[ox]
				}
				k.div[oy*k.ow+ox] = float32(d)
			}
		}
	}
	k.planesPerItem = max(1, (1<<16)/max(1, k.oh*k.ow*k.kh*k.kw))
	k.nItems = (k.planes + k.planesPerItem - 1) / k.planesPerItem
	return k, nil
}

// tapRange returns the output positions [lo, hi) (within [0, out)) whose
// input position o*stride + off lies inside [0, in).
func tapRange(off, stride, in, out int) (lo, hi int) {
	if off < 0 {
		lo = (-off + stride - 1) / stride
	}
	if in-off > 0 {
		hi = (in - off + stride - 1) / stride
	}
	lo = min(lo, out)
	return lo, min(max(hi, lo), out)
}

func (k *fastPool2D) run(rc *runCtx, in, out []*ir.Tensor) error {
	rc.f[0], rc.f[1] = in[0].F32(), out[0].F32()
	rc.parallel(k.nItems, k)
	return nil
}

// tempFloats is one input-wide row per parallel item.
func (k *fastPool2D) tempFloats() int { return k.nItems * k.w }

func (k *fastPool2D) part(rc *runCtx, i int) {
	x, y := rc.f[0], rc.f[1]
	v := rc.tmp[i*k.w : (i+1)*k.w]
	inSp, outSp := k.h*k.w, k.oh*k.ow
	for pl := i * k.planesPerItem; pl < min(k.planes, (i+1)*k.planesPerItem); pl++ {
		src := x[pl*inSp : (pl+1)*inSp]
		dst := y[pl*outSp : (pl+1)*outSp]
		for oy := range k.oh {
			k.row(src, dst[oy*k.ow:(oy+1)*k.ow], v, oy)
		}
		if !k.max {
			for j, d := range k.div[:len(dst)] {
				dst[j] /= d
			}
		}
	}
}

// row computes output row oy: the maximum or the sum over its taps, using v
// (one input row) as scratch.
// MaxPool propagates NaN (a NaN tap makes the output NaN, as in the
// reference) and gives -Inf for a window with no tap inside the image.
//
// The window is separable: first the in-image kernel rows are combined
// column by column into one input-wide row (contiguous loops), then each
// output takes its kernel columns from that row. Go's max is branchless and
// propagates NaN; every loop's iterations are independent, so none is bound
// by max's latency.
func (k *fastPool2D) row(src, d, v []float32, oy int) {
	init := float32(0)
	if k.max {
		init = float32(math.Inf(-1))
	}
	// The in-image kernel rows; two or three (the common kernels) are
	// combined in one pass.
	var rows [3][]float32
	n, first := 0, 0
	for t := range k.kh {
		iy := oy*k.sh - k.padT + t*k.dh
		if iy < 0 || iy >= k.h {
			continue
		}
		if n == 0 {
			first = t
		}
		if n < len(rows) {
			rows[n] = src[iy*k.w : (iy+1)*k.w]
		}
		n++
	}
	switch {
	case n == 3 && k.max:
		r0, r1, r2 := rows[0], rows[1][:len(rows[0])], rows[2][:len(rows[0])]
		v = v[:len(r0)]
		for j, x := range r0 {
			v[j] = max(max(x, r1[j]), r2[j])
		}
	case n == 2 && k.max:
		r0, r1 := rows[0], rows[1][:len(rows[0])]
		v = v[:len(r0)]
		for j, x := range r0 {
			v[j] = max(x, r1[j])
		}
	case n > 0:
		copy(v, rows[0])
		for t := first + 1; t < k.kh; t++ {
			iy := oy*k.sh - k.padT + t*k.dh
			if iy < 0 || iy >= k.h {
				continue
			}
			row := src[iy*k.w : (iy+1)*k.w]
			if k.max {
				for j, x := range row {
					v[j] = max(v[j], x)
				}
			} else {
				for j, x := range row {
					v[j] += x
				}
			}
		}
	}
	if n == 0 {
		for i := range d {
			d[i] = init
		}
		return
	}
	if k.max && k.dw == 1 && (k.kw == 2 || k.kw == 3) && k.inLo < k.inHi {
		// The common narrow windows: unrolled over the interior, where
		// every tap is inside the row; the edges tap by tap.
		for ox := 0; ox < len(d); ox++ {
			if ox == k.inLo {
				ox = k.inHi - 1
				continue
			}
			m := init
			for u := range k.kw {
				if k.oxLo[u] <= ox && ox < k.oxHi[u] {
					m = max(m, v[ox*k.sw-k.padL+u])
				}
			}
			d[ox] = m
		}
		dd := d[k.inLo:k.inHi]
		off := k.inLo*k.sw - k.padL
		if k.kw == 3 {
			for j := range dd {
				p := v[off+j*k.sw : off+j*k.sw+3]
				dd[j] = max(max(p[0], p[1]), p[2])
			}
		} else {
			for j := range dd {
				p := v[off+j*k.sw : off+j*k.sw+2]
				dd[j] = max(p[0], p[1])
			}
		}
		return
	}
	for i := range d {
		d[i] = init
	}
	for u := range k.kw {
		lo, hi := k.oxLo[u], k.oxHi[u]
		if lo >= hi {
			continue
		}
		base := lo*k.sw - k.padL + u*k.dw
		dd := d[lo:hi]
		s := v[base : base+(len(dd)-1)*k.sw+1]
		switch {
		case k.max && k.sw == 1:
			for j, x := range s {
				dd[j] = max(dd[j], x)
			}
		case k.max:
			for j := range dd {
				dd[j] = max(dd[j], s[j*k.sw])
			}
		case k.sw == 1:
			for j, x := range s {
				dd[j] += x
			}
		default:
			for j := range dd {
				dd[j] += s[j*k.sw]
			}
		}
	}
}

// fastGlobalAvg is GlobalAveragePool: the mean of every N×C plane.
type fastGlobalAvg struct {
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
	return k, nil
}

func (k *fastGlobalAvg) run(rc *runCtx, in, out []*ir.Tensor) error {
	rc.f[0], rc.f[1] = in[0].F32(), out[0].F32()
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
