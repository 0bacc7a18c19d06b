//go:build amd64 && !purego

package simd

// poolAsm reports whether the assembly pooling kernels handle g:
// dilation 1, kernels of at most 3×3 and horizontal stride 1 or 2. Other
// geometries take the generic loops.
func poolAsm(g *Pool2D) bool {
	return g.DH == 1 && g.DW == 1 && g.KH <= 3 && g.KW <= 3 && g.SW <= 2
}

// poolAsmFn is an assembly MaxPool2D kernel; avgAsmFn an AvgPool2D one.
type poolAsmFn func(dst, src, tmp []float32, planes, h, w, oh, ow, kh, kw, sh, padT, padL, vw int)

type avgAsmFn func(dst, src, tmp, scale []float32, planes, h, w, oh, ow, kh, kw, sh, padT, padL, vw int)

// maxPool2DAsm runs s1 or s2 (by horizontal stride) behind checkPool2D,
// or the generic loops for geometries the assembly does not handle.
func maxPool2DAsm(dst, src, tmp []float32, planes int, g *Pool2D, s1, s2 poolAsmFn) {
	checkPool2D(len(dst), len(src), len(tmp), -1, planes, g)
	if planes == 0 || g.OH == 0 || g.OW == 0 {
		return
	}
	if !poolAsm(g) {
		pool2DGeneric(dst, src, tmp, nil, planes, g)
		return
	}
	fn := s1
	if g.SW == 2 {
		fn = s2
	}
	fn(dst, src, tmp, planes, g.H, g.W, g.OH, g.OW, g.KH, g.KW, g.SH, g.PadT, g.PadL, g.rowLen())
}

// avgPool2DAsm is maxPool2DAsm for AvgPool2D.
func avgPool2DAsm(dst, src, tmp, scale []float32, planes int, g *Pool2D, s1, s2 avgAsmFn) {
	checkPool2D(len(dst), len(src), len(tmp), len(scale), planes, g)
	if planes == 0 || g.OH == 0 || g.OW == 0 {
		return
	}
	if !poolAsm(g) {
		pool2DGeneric(dst, src, tmp, scale, planes, g)
		return
	}
	fn := s1
	if g.SW == 2 {
		fn = s2
	}
	fn(dst, src, tmp, scale, planes, g.H, g.W, g.OH, g.OW, g.KH, g.KW, g.SH, g.PadT, g.PadL, g.rowLen())
}

// maxPool2DAVX2 is the avx2 tier's MaxPool2D (f32-pool2d-avx2).
func maxPool2DAVX2(dst, src, tmp []float32, planes int, g *Pool2D) {
	maxPool2DAsm(dst, src, tmp, planes, g, f32MaxPool2DS1AVX2Asm, f32MaxPool2DS2AVX2Asm)
}

// avgPool2DAVX2 is the avx2 tier's AvgPool2D (f32-pool2d-avx2).
func avgPool2DAVX2(dst, src, tmp, scale []float32, planes int, g *Pool2D) {
	avgPool2DAsm(dst, src, tmp, scale, planes, g, f32AvgPool2DS1AVX2Asm, f32AvgPool2DS2AVX2Asm)
}

// maxPool2DAVX512 is the avx512 tier's MaxPool2D (f32-pool2d-avx512).
func maxPool2DAVX512(dst, src, tmp []float32, planes int, g *Pool2D) {
	maxPool2DAsm(dst, src, tmp, planes, g, f32MaxPool2DS1AVX512Asm, f32MaxPool2DS2AVX512Asm)
}

// avgPool2DAVX512 is the avx512 tier's AvgPool2D (f32-pool2d-avx512).
func avgPool2DAVX512(dst, src, tmp, scale []float32, planes int, g *Pool2D) {
	avgPool2DAsm(dst, src, tmp, scale, planes, g, f32AvgPool2DS1AVX512Asm, f32AvgPool2DS2AVX512Asm)
}
