package simd

import (
	"fmt"
	"math/bits"
)

// genericKernels is the pure-Go table every tier starts from.
func genericKernels() *Kernels {
	return &Kernels{
		Tier:         Generic,
		Gemm:         GemmKernel{ID: "f32-gemm-4x8-generic", MR: 4, NR: 8, Fn: gemm4x8Generic},
		BiasAct:      biasActGeneric,
		AddTo:        addToGeneric,
		DWConv:       dwConvGeneric,
		Gather:       gatherGeneric,
		DWRows:       dwRowsGeneric,
		Winograd:     winoGeneric,
		MaxPool2D:    maxPool2DGeneric,
		AvgPool2D:    avgPool2DGeneric,
		Gemv:         gemvGeneric,
		ScaleBiasAct: scaleBiasActGeneric,
	}
}

func biasActGeneric(x []float32, bias float32, act Act) {
	switch act.Kind {
	case ActNone:
		for i := range x {
			x[i] += bias
		}
	case ActRelu:
		for i, v := range x {
			if y := v + bias; y < 0 { // not max(): it would turn -0 into +0
				x[i] = 0
			} else {
				x[i] = y
			}
		}
	case ActSigmoid:
		for i, v := range x {
			x[i] = sigmoid32(v + bias)
		}
	case ActSiLU:
		for i, v := range x {
			x[i] = silu32(v + bias)
		}
	default:
		for i, v := range x {
			x[i] = act.Apply(v + bias)
		}
	}
}

func addToGeneric(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// gemm4x8Generic is the portable GemmKernel: a 4×8 tile kept in locals so
// the compiler can hold it in registers.
func gemm4x8Generic(k int, a, b, c []float32, ldc int, acc bool) {
	var t [4][8]float32
	a = a[:k*4]
	b = b[:k*8]
	for p := 0; p < k; p++ {
		ap := a[p*4 : p*4+4 : p*4+4]
		bp := b[p*8 : p*8+8 : p*8+8]
		for i := 0; i < 4; i++ {
			ai := ap[i]
			row := &t[i]
			row[0] += ai * bp[0]
			row[1] += ai * bp[1]
			row[2] += ai * bp[2]
			row[3] += ai * bp[3]
			row[4] += ai * bp[4]
			row[5] += ai * bp[5]
			row[6] += ai * bp[6]
			row[7] += ai * bp[7]
		}
	}
	for i := 0; i < 4; i++ {
		row := c[i*ldc : i*ldc+8 : i*ldc+8]
		if acc {
			for j := range row {
				row[j] += t[i][j]
			}
		} else {
			copy(row, t[i][:])
		}
	}
}

// checkDWConv panics unless a DWConv call with these arguments stays inside
// its slices (see Kernels.DWConv); every tier's DWConv calls it first, as
// the assembly does not check. It returns the number of taps.
func checkDWConv(ld, ls int, offs []int, lw, lb, rows, n, ldd, lds int) int {
	taps := len(offs)
	maxOff := 0
	ok := rows >= 0 && n >= 0 && lds >= 0 && ldd >= n
	for _, o := range offs {
		ok = ok && o >= 0
		maxOff = max(maxOff, o)
	}
	if ok && rows > 0 && n > 0 {
		ok = rowsFit(ld, rows, n, ldd, 0) && rowsFit(ls, rows, n, lds, maxOff) &&
			rowsFit(lw, rows, taps, taps, 0) && (lb == 0 || lb >= rows)
	}
	if !ok {
		panic(fmt.Sprintf("simd: DWConv called with len(dst)=%d, len(src)=%d, %d offsets (max %d), %d weights, %d biases, rows=%d, n=%d, ldd=%d, lds=%d",
			ld, ls, taps, maxOff, lw, lb, rows, n, ldd, lds))
	}
	return taps
}

// rowsFit reports whether (rows-1)*ld + extra + n <= l, for rows >= 1 and
// the rest >= 0, without overflowing (and without a division: it runs on
// every call).
func rowsFit(l, rows, n, ld, extra int) bool {
	if extra > l || n > l-extra {
		return false
	}
	hi, lo := bits.Mul(uint(rows-1), uint(ld))
	return hi == 0 && lo <= uint(l-extra-n)
}

// dwConvGeneric is the portable DWConv: per row, the bias, then the taps
// in groups of three, each group one pass over the row (4 loads and a
// store per output, rather than 2 loads and a store per tap).
func dwConvGeneric(dst, src []float32, offs []int, w, bias []float32, rows, n, ldd, lds int) {
	taps := checkDWConv(len(dst), len(src), offs, len(w), len(bias), rows, n, ldd, lds)
	if n == 0 {
		return
	}
	for r := 0; r < rows; r++ {
		d := dst[r*ldd : r*ldd+n : r*ldd+n]
		s := src[r*lds:]
		wr := w[r*taps : (r+1)*taps]
		var b float32
		if bias != nil {
			b = bias[r]
		}
		t := 0
		switch taps % 3 {
		case 0:
			for i := range d {
				d[i] = b
			}
		case 1:
			w0, s0 := wr[0], s[offs[0]:][:n]
			for i := range d {
				d[i] = b + w0*s0[i]
			}
			t = 1
		case 2:
			w0, w1 := wr[0], wr[1]
			s0, s1 := s[offs[0]:][:n], s[offs[1]:][:n]
			for i := range d {
				d[i] = b + w0*s0[i] + w1*s1[i]
			}
			t = 2
		}
		for ; t < taps; t += 3 {
			w0, w1, w2 := wr[t], wr[t+1], wr[t+2]
			s0, s1, s2 := s[offs[t]:][:n], s[offs[t+1]:][:n], s[offs[t+2]:][:n]
			for i := range d {
				d[i] += w0*s0[i] + w1*s1[i] + w2*s2[i]
			}
		}
	}
}

// checkGather panics unless a Gather call with these arguments stays
// inside its slices (see Kernels.Gather); every tier's Gather calls it.
func checkGather(ld, ls, rows, n, ldd, lds, stride int) {
	ok := rows >= 0 && n >= 0 && lds >= 0 && ldd >= n && stride >= 1
	if ok && rows > 0 && n > 0 {
		hi, lo := bits.Mul(uint(n-1), uint(stride))
		ok = hi == 0 && lo < uint(ls) && rowsFit(ld, rows, n, ldd, 0) && rowsFit(ls, rows, int(lo)+1, lds, 0)
	}
	if !ok {
		panic(fmt.Sprintf("simd: Gather called with len(dst)=%d, len(src)=%d, rows=%d, n=%d, ldd=%d, lds=%d, stride %d",
			ld, ls, rows, n, ldd, lds, stride))
	}
}

// gatherGeneric is the portable Gather.
func gatherGeneric(dst, src []float32, rows, n, ldd, lds, stride int) {
	checkGather(len(dst), len(src), rows, n, ldd, lds, stride)
	if n == 0 {
		return
	}
	for r := 0; r < rows; r++ {
		d, s := dst[r*ldd:r*ldd+n], src[r*lds:]
		if stride == 1 {
			copy(d, s)
			continue
		}
		s = s[:(n-1)*stride+1]
		for i := range d {
			d[i] = s[i*stride]
		}
	}
}
