//go:build !purego

package simd

import (
	"math"
	"unsafe"
)

// maxPool2DNEON is the neon tier's MaxPool2D (f32-pool2d-neon): the
// assembly rows and columns of pool2DNEON for rows of at least 4 floats,
// dilation 1, kernels up to 3×3 and horizontal stride 1 or 2; the
// portable loops otherwise.
func maxPool2DNEON(dst, src, tmp []float32, planes int, g *Pool2D) {
	checkPool2D(len(dst), len(src), len(tmp), -1, planes, g)
	if !poolNEON(g) {
		pool2DGeneric(dst, src, tmp, nil, planes, g)
		return
	}
	pool2DNEON(dst, src, tmp, nil, planes, g)
}

// avgPool2DNEON is the neon tier's AvgPool2D (f32-pool2d-neon), as
// maxPool2DNEON.
func avgPool2DNEON(dst, src, tmp, scale []float32, planes int, g *Pool2D) {
	checkPool2D(len(dst), len(src), len(tmp), len(scale), planes, g)
	if !poolNEON(g) {
		pool2DGeneric(dst, src, tmp, scale, planes, g)
		return
	}
	pool2DNEON(dst, src, tmp, scale, planes, g)
}

// poolNEON reports whether the assembly handles g.
func poolNEON(g *Pool2D) bool {
	return g.DH == 1 && g.DW == 1 && g.KH <= 3 && g.KW <= 3 && g.SW <= 2 && g.W >= 4 && g.OW >= 4
}

// pool2DNEON computes MaxPool2D (scale == nil) or AvgPool2D as the amd64
// kernels do: per block of up to poolBlock output rows, the vertical pass
// into scratch rows of rowLen floats (the image columns at PadL, the
// identity around them), one assembly call per run of rows with the same
// number of in-image kernel rows, then the horizontal pass over the
// block in one call. The slices handed to the assembly are cut to exactly
// what it touches, so Go checks every bound.
func pool2DNEON(dst, src, tmp, scale []float32, planes int, g *Pool2D) {
	if planes == 0 || g.OH == 0 || g.OW == 0 {
		return
	}
	isMax := scale == nil
	id := float32(0)
	if isMax {
		id = float32(math.Inf(-1))
	}
	vw := g.rowLen()
	t := tmp[:min(g.OH, poolBlock)*vw]
	for i := range t {
		t[i] = id
	}
	// taps returns the first in-image input row of output row oy and the
	// number of them.
	taps := func(oy int) (lo, n int) {
		iy := oy*g.SH - g.PadT
		lo, hi := max(iy, 0), min(iy+g.KH, g.H)
		return lo, hi - lo
	}
	// need is how far into a scratch row the horizontal pass reads.
	need := g.OW + g.KW - 1
	if g.SW == 2 {
		need = 2 * g.OW
		if g.KW == 3 {
			need += 2
		}
	}
	inSp, outSp := g.H*g.W, g.OH*g.OW
	for p := range planes {
		x := src[p*inSp : (p+1)*inSp]
		y := dst[p*outSp : (p+1)*outSp]
		for oy0 := 0; oy0 < g.OH; oy0 += poolBlock {
			rows := min(poolBlock, g.OH-oy0)
			for r := 0; r < rows; {
				lo, n := taps(oy0 + r)
				run := 1
				for r+run < rows {
					l, m := taps(oy0 + r + run)
					if m != n || l != lo+run*g.SH {
						break
					}
					run++
				}
				d := t[r*vw+g.PadL : (r+run-1)*vw+g.PadL+g.W]
				if n <= 0 {
					for rr := range run {
						row := d[rr*vw : rr*vw+g.W]
						for i := range row {
							row[i] = id
						}
					}
				} else {
					s := x[lo*g.W : (lo+(run-1)*g.SH+n)*g.W]
					if isMax {
						poolRowsMaxNEON(unsafe.SliceData(d), unsafe.SliceData(s), run, n, g.W, g.SH*g.W, g.W, vw)
					} else {
						poolRowsAddNEON(unsafe.SliceData(d), unsafe.SliceData(s), run, n, g.W, g.SH*g.W, g.W, vw)
					}
				}
				r += run
			}
			v := t[:(rows-1)*vw+need]
			o := y[oy0*g.OW : (oy0+rows)*g.OW]
			if isMax {
				poolColsMaxNEON(unsafe.SliceData(o), unsafe.SliceData(v), rows, g.OW, g.OW, vw, g.KW, g.SW)
			} else {
				sc := scale[oy0*g.OW : (oy0+rows)*g.OW]
				poolColsAvgNEON(unsafe.SliceData(o), unsafe.SliceData(v), unsafe.SliceData(sc), rows, g.OW, g.OW, vw, g.KW, g.SW)
			}
		}
	}
}

// poolRowsMaxNEON implements, for 1 <= n <= 3, w >= 4 and rows >= 0,
//
//	for r := 0; r < rows; r++ {
//		for i := 0; i < w; i++ {
//			m := src[r*lds+i]
//			for t := 1; t < n; t++ {
//				m = max(m, src[r*lds+t*ldt+i])
//			}
//			dst[r*ldd+i] = m
//		}
//	}
//
//go:noescape
func poolRowsMaxNEON(dst, src *float32, rows, n, w, lds, ldt, ldd int)

// poolRowsAddNEON is poolRowsMaxNEON with m += src[...] for the max.
//
//go:noescape
func poolRowsAddNEON(dst, src *float32, rows, n, w, lds, ldt, ldd int)

// poolColsMaxNEON implements, for 1 <= kw <= 3, sw 1 or 2, ow >= 4 and
// rows >= 0,
//
//	for r := 0; r < rows; r++ {
//		for i := 0; i < ow; i++ {
//			m := v[r*ldv+i*sw]
//			for u := 1; u < kw; u++ {
//				m = max(m, v[r*ldv+i*sw+u])
//			}
//			dst[r*ldd+i] = m
//		}
//	}
//
// reading v up to column (ow-1)*sw+kw-1 (stride 1), 2*ow-1 (stride 2,
// kw <= 2) or 2*ow+1 (stride 2, kw = 3) of each row.
//
//go:noescape
func poolColsMaxNEON(dst, v *float32, rows, ow, ldd, ldv, kw, sw int)

// poolColsAvgNEON is poolColsMaxNEON with sums for the max, each output
// then multiplied by scale[r*ldd+i].
//
//go:noescape
func poolColsAvgNEON(dst, v, scale *float32, rows, ow, ldd, ldv, kw, sw int)
