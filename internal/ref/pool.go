package ref

import "math"

// PoolGeom is a 2-D pooling over planes of H×W floats (row-major), each
// giving OH×OW outputs: output (oy, ox) reduces the taps
// (oy*SH - PT + t*DH, ox*SW - PL + u*DW), t < KH, u < KW, that lie inside
// the plane. Strides and dilations are at least 1.
type PoolGeom struct {
	H, W, OH, OW   int
	KH, KW, SH, SW int
	DH, DW, PT, PL int
}

// taps calls visit with the input value of every in-plane tap of output
// (oy, ox) of plane x.
func (g PoolGeom) taps(x []float32, oy, ox int, visit func(v float64)) {
	for t := 0; t < g.KH; t++ {
		iy := oy*g.SH - g.PT + t*g.DH
		if iy < 0 || iy >= g.H {
			continue
		}
		for u := 0; u < g.KW; u++ {
			ix := ox*g.SW - g.PL + u*g.DW
			if ix < 0 || ix >= g.W {
				continue
			}
			visit(float64(x[iy*g.W+ix]))
		}
	}
}

// MaxPool2D returns the planes×OH×OW maxima of planes of x, straight from
// the definition: -Inf for a window with no in-plane tap, NaN for one
// with a NaN tap.
func MaxPool2D(g PoolGeom, planes int, x []float32) []float64 {
	out := make([]float64, planes*g.OH*g.OW)
	for p := 0; p < planes; p++ {
		xp := x[p*g.H*g.W:]
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				m := math.Inf(-1)
				g.taps(xp, oy, ox, func(v float64) {
					if math.IsNaN(v) || math.IsNaN(m) {
						m = math.NaN()
					} else if v > m {
						m = v
					}
				})
				out[(p*g.OH+oy)*g.OW+ox] = m
			}
		}
	}
	return out
}

// AvgPool2D returns, for planes of x, each output's sum of in-plane taps
// times scale[oy*OW+ox] (NaN when scale is infinite and there are no
// taps, as 0/0), and the magnitude |scale|·Σ|tap|. An output has at most
// KH·KW terms: ref.Tol(KH·KW, mag) bounds a float32 kernel's error.
func AvgPool2D(g PoolGeom, planes int, x, scale []float32) (val, mag []float64) {
	val = make([]float64, planes*g.OH*g.OW)
	mag = make([]float64, len(val))
	for p := 0; p < planes; p++ {
		xp := x[p*g.H*g.W:]
		for oy := 0; oy < g.OH; oy++ {
			for ox := 0; ox < g.OW; ox++ {
				var s, a float64
				g.taps(xp, oy, ox, func(v float64) { s += v; a += math.Abs(v) })
				sc := float64(scale[oy*g.OW+ox])
				o := (p*g.OH+oy)*g.OW + ox
				val[o], mag[o] = s*sc, a*math.Abs(sc)
			}
		}
	}
	return val, mag
}
