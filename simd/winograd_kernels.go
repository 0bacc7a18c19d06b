package simd

import "fmt"

// The transforms of the Winograd convolutions F(2×2, 3×3) and F(4×4, 3×3)
// (see winograd.go): one row of tiles of one channel at a time, the n tiles
// of the row in consecutive lanes. For F(m×m, 3×3) with a = m+2:
//
//	Bᵀ (a×a)                 Aᵀ (m×a)
//	F(2×2):  1  0 -1  0      1  1  1  0
//	         0  1  1  0      0  1 -1 -1
//	         0 -1  1  0
//	         0  1  0 -1
//
//	F(4×4):  4  0 -5  0  1  0      1  1  1  1  1  0
//	         0 -4 -4  1  1  0      0  1 -1  2 -2  0
//	         0  4 -4 -1  1  0      0  1  1  4  4  0
//	         0 -2 -1  2  1  0      0  1 -1  8 -8  1
//	         0  2 -1 -2  1  0
//	         0  4  0 -5  0  1
//
// and G (the weight transform, a×3) in winoG.

// WinoTransforms are one tier's input and output transforms of the
// Winograd convolution F(m×m, 3×3), a = m+2 (M = 2 or 4). Both work on
// rows of n tiles that lie side by side, m columns apart; their vector
// versions compute whole groups of winoGroup lanes, so each states the
// slack it needs past the last tile.
//
// In is the input transform V = Bᵀ d B of each tile's a×a input d:
//
//	for t := 0; t < n; t++ {
//		// d[i][j] = src[i*lds + M*t + j], for i, j < a
//		for xi := 0; xi < a; xi++ {
//			for nu := 0; nu < a; nu++ {
//				dst[(xi*a+nu)*ldd + t] = Σ_i Σ_j Bᵀ[xi][i] * Bᵀ[nu][j] * d[i][j]
//			}
//		}
//	}
//
// summed in the tier's own order (each tier computes Bᵀ d first, then
// (Bᵀ d) B). Only dst's a² rows of n floats are written. src must hold
// every row i < a up to M*roundUp(n, winoGroup)+winoGroup floats: the
// vector tiers read that far (the values there only reach discarded
// lanes).
//
// Out is the output transform Y = Aᵀ m A of each tile's a×a matrix m:
//
//	for t := 0; t < n; t++ {
//		// m[xi][nu] = src[(xi*a+nu)*lds + t]
//		for i := 0; i < M; i++ {
//			for j := 0; j < M; j++ {
//				dst[i*ldd + M*t + j] = Σ_xi Σ_nu Aᵀ[i][xi] * Aᵀ[j][nu] * m[xi][nu]
//			}
//		}
//	}
//
// (Aᵀ m first, then (Aᵀ m) A). src's last row must hold roundUp(n,
// winoGroup) floats and dst's M rows M*roundUp(n, winoGroup): the vector
// tiers read and write whole groups, and the floats of dst past M*n are
// left unspecified.
//
// Both panic when the slices are too short for that or n, ldd or lds is
// out of range.
type WinoTransforms struct {
	ID      string // e.g. "f32-wino4x4-avx512"
	M       int    // output tile size: 2 or 4
	In, Out func(dst []float32, ldd int, src []float32, lds, n int)
}

// winoGroup is the largest vector width of the transforms, in tiles: the
// unit of their slack (see WinoTransforms).
const winoGroup = 16

// checkWinoIn panics unless an input transform call of F(m×m, 3×3) with
// these lengths stays inside its slices and within its slack (see
// WinoTransforms).
func checkWinoIn(m, ld, ldd, ls, lds, n int) {
	a := m + 2
	ok := n >= 0 && ldd >= n && lds >= 0 && n <= 1<<26
	if ok && n > 0 {
		ok = rowsFit(ld, a*a, n, ldd, 0) && rowsFit(ls, a, m*roundUp(n, winoGroup)+winoGroup, lds, 0)
	}
	if !ok {
		panic(fmt.Sprintf("simd: Winograd F(%d×%d) input transform called with len(dst)=%d, ldd=%d, len(src)=%d, lds=%d, n=%d",
			m, m, ld, ldd, ls, lds, n))
	}
}

// checkWinoOut is checkWinoIn for the output transform.
func checkWinoOut(m, ld, ldd, ls, lds, n int) {
	a := m + 2
	ok := n >= 0 && lds >= n && n <= 1<<26
	if ok && n > 0 {
		w := m * roundUp(n, winoGroup)
		ok = ldd >= w && rowsFit(ld, m, w, ldd, 0) && rowsFit(ls, a*a, roundUp(n, winoGroup), lds, 0)
	}
	if !ok {
		panic(fmt.Sprintf("simd: Winograd F(%d×%d) output transform called with len(dst)=%d, ldd=%d, len(src)=%d, lds=%d, n=%d",
			m, m, ld, ldd, ls, lds, n))
	}
}

// winoGeneric are the portable transforms, index 0 F(2×2), 1 F(4×4).
var winoGeneric = [2]WinoTransforms{
	{ID: "f32-wino2x2-generic", M: 2, In: winoIn2Generic, Out: winoOut2Generic},
	{ID: "f32-wino4x4-generic", M: 4, In: winoIn4Generic, Out: winoOut4Generic},
}

// winoIn2Generic is the portable F(2×2, 3×3) input transform: per tile,
// Bᵀ d column by column, then each row of it times B.
func winoIn2Generic(dst []float32, ldd int, src []float32, lds, n int) {
	checkWinoIn(2, len(dst), ldd, len(src), lds, n)
	if n == 0 {
		return
	}
	r0, r1, r2, r3 := src[:2*n+2], src[lds:][:2*n+2], src[2*lds:][:2*n+2], src[3*lds:][:2*n+2]
	var s [4][4]float32
	for t := 0; t < n; t++ {
		x := 2 * t
		for j := 0; j < 4; j++ {
			d0, d1, d2, d3 := r0[x+j], r1[x+j], r2[x+j], r3[x+j]
			s[0][j] = d0 - d2
			s[1][j] = d1 + d2
			s[2][j] = d2 - d1
			s[3][j] = d1 - d3
		}
		for xi := 0; xi < 4; xi++ {
			d0, d1, d2, d3 := s[xi][0], s[xi][1], s[xi][2], s[xi][3]
			o := xi*4*ldd + t
			dst[o] = d0 - d2
			dst[o+ldd] = d1 + d2
			dst[o+2*ldd] = d2 - d1
			dst[o+3*ldd] = d1 - d3
		}
	}
}

// winoOut2Generic is the portable F(2×2, 3×3) output transform.
func winoOut2Generic(dst []float32, ldd int, src []float32, lds, n int) {
	checkWinoOut(2, len(dst), ldd, len(src), lds, n)
	if n == 0 {
		return
	}
	var s [2][4]float32
	d0, d1 := dst[:2*n], dst[ldd:][:2*n]
	for t := 0; t < n; t++ {
		for nu := 0; nu < 4; nu++ {
			m0, m1, m2, m3 := src[nu*lds+t], src[(4+nu)*lds+t], src[(8+nu)*lds+t], src[(12+nu)*lds+t]
			s[0][nu] = m0 + m1 + m2
			s[1][nu] = m1 - m2 - m3
		}
		x := 2 * t
		d0[x] = s[0][0] + s[0][1] + s[0][2]
		d0[x+1] = s[0][1] - s[0][2] - s[0][3]
		d1[x] = s[1][0] + s[1][1] + s[1][2]
		d1[x+1] = s[1][1] - s[1][2] - s[1][3]
	}
}

// winoB4 computes the F(4×4) Bᵀ product of one column d0..d5.
func winoB4(d0, d1, d2, d3, d4, d5 float32) (v0, v1, v2, v3, v4, v5 float32) {
	v0 = 4*d0 - 5*d2 + d4
	v1 = d3 + d4 - 4*(d1+d2)
	v2 = d4 - d3 + 4*(d1-d2)
	v3 = d4 - d2 + 2*(d3-d1)
	v4 = d4 - d2 - 2*(d3-d1)
	v5 = 4*d1 - 5*d3 + d5
	return
}

// winoA4 computes the F(4×4) Aᵀ product of one column m0..m5.
func winoA4(m0, m1, m2, m3, m4, m5 float32) (o0, o1, o2, o3 float32) {
	p12, d12 := m1+m2, m1-m2
	p34, d34 := m3+m4, m3-m4
	o0 = m0 + p12 + p34
	o1 = d12 + 2*d34
	o2 = p12 + 4*p34
	o3 = d12 + 8*d34 + m5
	return
}

// winoIn4Generic is the portable F(4×4, 3×3) input transform: per tile,
// Bᵀ d column by column, then each row of it times B.
func winoIn4Generic(dst []float32, ldd int, src []float32, lds, n int) {
	checkWinoIn(4, len(dst), ldd, len(src), lds, n)
	if n == 0 {
		return
	}
	w := 4*n + 2
	r0, r1, r2 := src[:w], src[lds:][:w], src[2*lds:][:w]
	r3, r4, r5 := src[3*lds:][:w], src[4*lds:][:w], src[5*lds:][:w]
	var s [6][6]float32
	for t := 0; t < n; t++ {
		x := 4 * t
		for j := 0; j < 6; j++ {
			s[0][j], s[1][j], s[2][j], s[3][j], s[4][j], s[5][j] =
				winoB4(r0[x+j], r1[x+j], r2[x+j], r3[x+j], r4[x+j], r5[x+j])
		}
		for xi := 0; xi < 6; xi++ {
			r := &s[xi]
			v0, v1, v2, v3, v4, v5 := winoB4(r[0], r[1], r[2], r[3], r[4], r[5])
			o := xi*6*ldd + t
			dst[o] = v0
			dst[o+ldd] = v1
			dst[o+2*ldd] = v2
			dst[o+3*ldd] = v3
			dst[o+4*ldd] = v4
			dst[o+5*ldd] = v5
		}
	}
}

// winoOut4Generic is the portable F(4×4, 3×3) output transform.
func winoOut4Generic(dst []float32, ldd int, src []float32, lds, n int) {
	checkWinoOut(4, len(dst), ldd, len(src), lds, n)
	if n == 0 {
		return
	}
	var s [4][6]float32
	for t := 0; t < n; t++ {
		for nu := 0; nu < 6; nu++ {
			s[0][nu], s[1][nu], s[2][nu], s[3][nu] = winoA4(src[nu*lds+t], src[(6+nu)*lds+t], src[(12+nu)*lds+t],
				src[(18+nu)*lds+t], src[(24+nu)*lds+t], src[(30+nu)*lds+t])
		}
		x := 4 * t
		for i := 0; i < 4; i++ {
			r := &s[i]
			d := dst[i*ldd+x : i*ldd+x+4]
			d[0], d[1], d[2], d[3] = winoA4(r[0], r[1], r[2], r[3], r[4], r[5])
		}
	}
}
