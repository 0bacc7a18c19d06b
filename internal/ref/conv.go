package ref

import "math"

// ConvGeom is a 2-D NCHW convolution: N images of C×H×W, M output
// channels, a KH×KW kernel, strides SH, SW, dilations DH, DW, pads top
// (PT), left (PL), bottom (PB), right (PR), and Group groups. Every field
// must be set (strides, dilations and Group at least 1).
type ConvGeom struct {
	N, C, H, W, M, KH, KW int
	SH, SW, DH, DW        int
	PT, PL, PB, PR        int
	Group                 int
}

// Out returns the output height and width.
func (g ConvGeom) Out() (oh, ow int) {
	oh = (g.H+g.PT+g.PB-((g.KH-1)*g.DH+1))/g.SH + 1
	ow = (g.W+g.PL+g.PR-((g.KW-1)*g.DW+1))/g.SW + 1
	return oh, ow
}

// Conv2D returns y (N×M×OH×OW) and its magnitudes for x (N×C×H×W),
// weights w (M×C/Group×KH×KW, ONNX layout), bias (M values, or nil) and
// residual (N×M×OH×OW, or nil): y = conv(x, w) + bias + residual, straight
// from the definition, one output at a time. Each output has
// C/Group·KH·KW product terms plus the bias and residual.
func Conv2D(g ConvGeom, x, w, bias, residual []float32) (val, mag []float64) {
	oh, ow := g.Out()
	cg, mg := g.C/g.Group, g.M/g.Group
	val = make([]float64, g.N*g.M*oh*ow)
	mag = make([]float64, len(val))
	for n := 0; n < g.N; n++ {
		for m := 0; m < g.M; m++ {
			gi := m / mg
			for oy := 0; oy < oh; oy++ {
				for ox := 0; ox < ow; ox++ {
					var s, a float64
					for c := 0; c < cg; c++ {
						for ky := 0; ky < g.KH; ky++ {
							iy := oy*g.SH - g.PT + ky*g.DH
							if iy < 0 || iy >= g.H {
								continue
							}
							for kx := 0; kx < g.KW; kx++ {
								ix := ox*g.SW - g.PL + kx*g.DW
								if ix < 0 || ix >= g.W {
									continue
								}
								xv := float64(x[((n*g.C+gi*cg+c)*g.H+iy)*g.W+ix])
								wv := float64(w[((m*cg+c)*g.KH+ky)*g.KW+kx])
								s += xv * wv
								a += math.Abs(xv * wv)
							}
						}
					}
					o := ((n*g.M+m)*oh+oy)*ow + ox
					if bias != nil {
						s += float64(bias[m])
						a += math.Abs(float64(bias[m]))
					}
					if residual != nil {
						s += float64(residual[o])
						a += math.Abs(float64(residual[o]))
					}
					val[o], mag[o] = s, a
				}
			}
		}
	}
	return val, mag
}
