package ref

import (
	"fmt"
	"math"
)

// WinogradMatrices returns Bᵀ (a×a), G (a×3) and Aᵀ (m×a), a = m+2, of
// the Winograd convolution F(m×m, 3×3) for m = 2 or 4 (Lavin and Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2016): for an a×a
// input tile d and a 3×3 kernel g, the m×m tile of their correlation
// (ONNX Conv) is Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A.
func WinogradMatrices(m int) (bt, g, at [][]float64) {
	switch m {
	case 2:
		return [][]float64{{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
			[][]float64{{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
			[][]float64{{1, 1, 1, 0}, {0, 1, -1, -1}}
	case 4:
		return [][]float64{
				{4, 0, -5, 0, 1, 0},
				{0, -4, -4, 1, 1, 0},
				{0, 4, -4, -1, 1, 0},
				{0, -2, -1, 2, 1, 0},
				{0, 2, -1, -2, 1, 0},
				{0, 4, 0, -5, 0, 1},
			}, [][]float64{
				{1.0 / 4, 0, 0},
				{-1.0 / 6, -1.0 / 6, -1.0 / 6},
				{-1.0 / 6, 1.0 / 6, -1.0 / 6},
				{1.0 / 24, 1.0 / 12, 1.0 / 6},
				{1.0 / 24, -1.0 / 12, 1.0 / 6},
				{0, 0, 1},
			}, [][]float64{
				{1, 1, 1, 1, 1, 0},
				{0, 1, -1, 2, -2, 0},
				{0, 1, 1, 4, 4, 0},
				{0, 1, -1, 8, -8, 1},
			}
	}
	panic(fmt.Sprintf("ref: no Winograd F(%d×%d, 3×3)", m, m))
}

// Transform2D returns L·X·Rᵀ for the matrices l (p×r), x (r×s) and r
// (q×s): the two-sided transforms of Winograd's algorithm (Bᵀ d B is
// Transform2D(Bᵀ, d, Bᵀ)). With abs set it uses the absolute values of
// every entry, which gives the magnitude the rounding errors of a float32
// evaluation scale with.
func Transform2D(l, x, r [][]float64, abs bool) [][]float64 {
	f := func(v float64) float64 {
		if abs {
			return math.Abs(v)
		}
		return v
	}
	t := make([][]float64, len(l)) // L·X
	for i := range l {
		t[i] = make([]float64, len(x[0]))
		for k := range x {
			for j := range x[0] {
				t[i][j] += f(l[i][k]) * f(x[k][j])
			}
		}
	}
	out := make([][]float64, len(l))
	for i := range l {
		out[i] = make([]float64, len(r))
		for j := range r {
			for k := range r[j] {
				out[i][j] += t[i][k] * f(r[j][k])
			}
		}
	}
	return out
}

// WinogradMag returns, for each output of Conv2D(g, x, w, bias, residual)
// (g a 3×3 convolution with strides, dilations and Group 1), the
// magnitude that the rounding errors of computing it by Winograd
// F(m×m, 3×3) scale with: with absolute values taken of every matrix
// entry and value,
//
//	|Aᵀ| [Σ_c (|G| |w| |Gᵀ|) ⊙ (|Bᵀ| |d| |B|)] |A| + |bias| + |residual|
//
// for the output's m×m tile, d its a×a input tile (zero in the padding and
// past the edge; tiles start at multiples of m). A float32 evaluation
// whose input transform, channel sums, output transform and epilogue
// round each term at most n times in all is within about n·2⁻²⁴ of that
// (first order), so Tol(n, mag) bounds its error. It is at least the
// direct convolution's magnitude, and typically several times it for
// m = 4.
func WinogradMag(g ConvGeom, m int, x, w, bias, residual []float32) []float64 {
	if g.KH != 3 || g.KW != 3 || g.SH != 1 || g.SW != 1 || g.DH != 1 || g.DW != 1 || g.Group != 1 {
		panic("ref: WinogradMag needs a 3×3 convolution with stride, dilation and group 1")
	}
	bt, gm, at := WinogradMatrices(m)
	a := m + 2
	oh, ow := g.Out()
	ty, tx := (oh+m-1)/m, (ow+m-1)/m
	// |U| per (output channel, input channel).
	u := make([][][]float64, g.M*g.C)
	for o := 0; o < g.M; o++ {
		for c := 0; c < g.C; c++ {
			k := make([][]float64, 3)
			for i := range k {
				k[i] = make([]float64, 3)
				for j := range k[i] {
					k[i][j] = float64(w[((o*g.C+c)*3+i)*3+j])
				}
			}
			u[o*g.C+c] = Transform2D(gm, k, gm, true)
		}
	}
	mag := make([]float64, g.N*g.M*oh*ow)
	d := make([][]float64, a)
	for i := range d {
		d[i] = make([]float64, a)
	}
	v := make([][][]float64, g.C)
	s := make([][]float64, a)
	for i := range s {
		s[i] = make([]float64, a)
	}
	for n := 0; n < g.N; n++ {
		for tyi := 0; tyi < ty; tyi++ {
			for txi := 0; txi < tx; txi++ {
				for c := 0; c < g.C; c++ {
					for i := 0; i < a; i++ {
						for j := 0; j < a; j++ {
							iy, ix := tyi*m+i-g.PT, txi*m+j-g.PL
							d[i][j] = 0
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								d[i][j] = float64(x[((n*g.C+c)*g.H+iy)*g.W+ix])
							}
						}
					}
					v[c] = Transform2D(bt, d, bt, true)
				}
				for o := 0; o < g.M; o++ {
					for i := range s {
						for j := range s[i] {
							var t float64
							for c := 0; c < g.C; c++ {
								t += u[o*g.C+c][i][j] * v[c][i][j]
							}
							s[i][j] = t
						}
					}
					y := Transform2D(at, s, at, true)
					for i := 0; i < m; i++ {
						for j := 0; j < m; j++ {
							oy, ox := tyi*m+i, txi*m+j
							if oy >= oh || ox >= ow {
								continue
							}
							idx := ((n*g.M+o)*oh+oy)*ow + ox
							t := y[i][j]
							if bias != nil {
								t += math.Abs(float64(bias[o]))
							}
							if residual != nil {
								t += math.Abs(float64(residual[idx]))
							}
							mag[idx] = t
						}
					}
				}
			}
		}
	}
	return mag
}
