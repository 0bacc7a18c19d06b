package simd

import (
	"fmt"
	"math"
)

// Pool2D is the geometry of a 2-D max or average pooling over planes of
// H×W floats (row-major), each giving a plane of OH×OW outputs. Output
// (oy, ox) reduces the taps
//
//	(iy, ix) = (oy*SH - PadT + t*DH, ox*SW - PadL + u*DW),  t < KH, u < KW,
//
// that lie inside the plane (0 <= iy < H, 0 <= ix < W); taps outside it
// (padding, and ceil_mode's extra windows) are skipped, so PadT and PadL
// place the windows and OH and OW end them.
//
// Every field is >= 0, and KH, KW, SH, SW, DH and DW are >= 1; each is at
// most MaxPoolDim.
type Pool2D struct {
	H, W, OH, OW int
	KH, KW       int
	SH, SW       int
	DH, DW       int
	PadT, PadL   int
}

// MaxPoolDim bounds every Pool2D field, so that no product of two of them
// overflows an int on 64-bit platforms.
const MaxPoolDim = 1 << 24

const (
	// poolBlock is the most output rows whose vertical pass the kernels
	// finish before their horizontal pass starts (see Pool2D.TempLen).
	poolBlock = 8
	// poolLanes is the widest vector (float32 lanes) of any tier; the
	// scratch rows are sized for it.
	poolLanes = 16
)

// rowLen is the length of one scratch row: the image's W columns at
// PadL, with room on both sides for every tap of OW outputs rounded up
// to whole vectors of poolLanes.
func (g *Pool2D) rowLen() int {
	n := max(g.PadL+g.W, g.SW*roundUp(g.OW, poolLanes)+(g.KW-1)*g.DW)
	return roundUp(n, poolLanes)
}

// TempLen is the length of the scratch buffer (tmp) MaxPool2D and
// AvgPool2D need for g: up to poolBlock rows of pooled columns, each
// padded with the reduction's identity (-Inf or 0) on both sides, so the
// horizontal pass has no edge cases.
func (g *Pool2D) TempLen() int {
	if g.OH <= 0 || g.OW <= 0 {
		return 0
	}
	return min(g.OH, poolBlock) * g.rowLen()
}

// Valid reports whether every field is in range (see Pool2D).
func (g *Pool2D) Valid() bool {
	for _, v := range []int{g.H, g.W, g.OH, g.OW, g.KH, g.KW, g.SH, g.SW, g.DH, g.DW, g.PadT, g.PadL} {
		if v < 0 || v > MaxPoolDim {
			return false
		}
	}
	if g.KH < 1 || g.KW < 1 || g.SH < 1 || g.SW < 1 || g.DH < 1 || g.DW < 1 {
		return false
	}
	// TempLen must fit in an int on 32-bit platforms too.
	n := max(int64(g.PadL+g.W), int64(g.SW)*int64(roundUp(g.OW, poolLanes))+int64(g.KW-1)*int64(g.DW))
	return poolBlock*(n+poolLanes) <= math.MaxInt
}

// checkPool2D panics unless a MaxPool2D or AvgPool2D call with these
// arguments stays inside its slices (scale: -1 for MaxPool2D); every
// tier's kernel calls it first, as the assembly does not check. The
// divisions keep the comparisons free of overflow.
func checkPool2D(ld, ls, lt, lsc, planes int, g *Pool2D) {
	ok := g.Valid() && planes >= 0
	if ok && planes > 0 {
		if in := g.H; in > 0 && g.W > 0 {
			ok = g.W <= ls/in && planes <= ls/(in*g.W)
		}
		if out := g.OH; ok && out > 0 && g.OW > 0 {
			ok = g.OW <= ld/out && planes <= ld/(out*g.OW) && lt >= g.TempLen() &&
				(lsc < 0 || g.OW <= lsc/out)
		}
	}
	if !ok {
		panic(fmt.Sprintf("simd: pooling called with len(dst)=%d, len(src)=%d, len(tmp)=%d, len(scale)=%d, planes=%d, geometry %+v",
			ld, ls, lt, lsc, planes, *g))
	}
}

// maxPool2DGeneric is the portable MaxPool2D.
func maxPool2DGeneric(dst, src, tmp []float32, planes int, g *Pool2D) {
	checkPool2D(len(dst), len(src), len(tmp), -1, planes, g)
	pool2DGeneric(dst, src, tmp, nil, planes, g)
}

// avgPool2DGeneric is the portable AvgPool2D.
func avgPool2DGeneric(dst, src, tmp, scale []float32, planes int, g *Pool2D) {
	checkPool2D(len(dst), len(src), len(tmp), len(scale), planes, g)
	pool2DGeneric(dst, src, tmp, scale, planes, g)
}

// pool2DGeneric computes MaxPool2D (scale == nil) or AvgPool2D, output
// row by output row, in one scratch row v: the image columns sit at
// v[PadL:PadL+W] between identities (-Inf for max, 0 for sums). Each row
// first combines its in-image kernel rows column by column into v (the
// vertical pass), then each output takes its KW taps from v (the
// horizontal pass). Go's max propagates NaN, as a sum does.
func pool2DGeneric(dst, src, tmp, scale []float32, planes int, g *Pool2D) {
	if planes == 0 || g.OH == 0 || g.OW == 0 {
		return
	}
	isMax := scale == nil
	id := float32(0)
	if isMax {
		id = float32(math.Inf(-1))
	}
	v := tmp[:g.rowLen()]
	for i := range v {
		v[i] = id
	}
	mid := v[g.PadL : g.PadL+g.W]
	inSp, outSp := g.H*g.W, g.OH*g.OW
	var rows [3][]float32
	for p := range planes {
		x := src[p*inSp : (p+1)*inSp]
		y := dst[p*outSp : (p+1)*outSp]
		for oy := range g.OH {
			// The in-image kernel rows: the first three in rows, the
			// rest combined in a second pass.
			n := 0
			for t := range g.KH {
				iy := oy*g.SH - g.PadT + t*g.DH
				if iy < 0 || iy >= g.H {
					continue
				}
				if n < len(rows) {
					rows[n] = x[iy*g.W : (iy+1)*g.W]
				}
				n++
			}
			poolRows(mid, rows[:min(n, len(rows))], id, isMax)
			if n > len(rows) {
				seen := 0
				for t := range g.KH {
					iy := oy*g.SH - g.PadT + t*g.DH
					if iy < 0 || iy >= g.H {
						continue
					}
					if seen++; seen <= len(rows) {
						continue
					}
					r := x[iy*g.W : (iy+1)*g.W]
					if isMax {
						for j, e := range r {
							mid[j] = max(mid[j], e)
						}
					} else {
						for j, e := range r {
							mid[j] += e
						}
					}
				}
			}
			d := y[oy*g.OW : (oy+1)*g.OW]
			poolCols(d, v, g, isMax)
			if !isMax {
				for j, s := range scale[oy*g.OW : (oy+1)*g.OW] {
					d[j] *= s
				}
			}
		}
	}
}

// poolRows sets mid to the column-wise max (isMax) or sum of up to three
// rows, or to id when there are none.
func poolRows(mid []float32, rows [][]float32, id float32, isMax bool) {
	switch len(rows) {
	case 0:
		for j := range mid {
			mid[j] = id
		}
	case 1:
		copy(mid, rows[0])
	case 2:
		r0, r1 := rows[0][:len(mid)], rows[1][:len(mid)]
		if isMax {
			for j := range mid {
				mid[j] = max(r0[j], r1[j])
			}
		} else {
			for j := range mid {
				mid[j] = r0[j] + r1[j]
			}
		}
	default:
		r0, r1, r2 := rows[0][:len(mid)], rows[1][:len(mid)], rows[2][:len(mid)]
		if isMax {
			for j := range mid {
				mid[j] = max(r0[j], r1[j], r2[j])
			}
		} else {
			for j := range mid {
				mid[j] = r0[j] + r1[j] + r2[j]
			}
		}
	}
}

// poolCols sets d[ox] to the max (isMax) or sum of v[ox*SW + u*DW] for
// u < KW; the common windows have their own loops.
func poolCols(d, v []float32, g *Pool2D, isMax bool) {
	sw := g.SW
	switch {
	case g.KW == 3 && g.DW == 1 && isMax:
		v = v[:(len(d)-1)*sw+3]
		for i := range d {
			p := v[i*sw : i*sw+3 : i*sw+3]
			d[i] = max(p[0], p[1], p[2])
		}
	case g.KW == 2 && g.DW == 1 && isMax:
		v = v[:(len(d)-1)*sw+2]
		for i := range d {
			p := v[i*sw : i*sw+2 : i*sw+2]
			d[i] = max(p[0], p[1])
		}
	case g.KW == 3 && g.DW == 1:
		v = v[:(len(d)-1)*sw+3]
		for i := range d {
			p := v[i*sw : i*sw+3 : i*sw+3]
			d[i] = p[0] + p[1] + p[2]
		}
	default:
		dw := g.DW
		for i := range d {
			p := v[i*sw : i*sw+(g.KW-1)*dw+1]
			s := p[0]
			for u := dw; u < len(p); u += dw {
				if isMax {
					s = max(s, p[u])
				} else {
					s += p[u]
				}
			}
			d[i] = s
		}
	}
}
