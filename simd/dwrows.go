package simd

import (
	"fmt"
	"math"
	"math/bits"
)

// DWBlock is the geometry of one Kernels.DWRows call: Chans channels of
// Rows output rows of N outputs each, every output a sum over the same
// taps with the channel's weights, its bias, then a clamp:
//
//	taps := len(Offs) // == len(Lo) == len(Hi); Stride 0 counts as 1
//	for c := 0; c < Chans; c++ {
//		for r := 0; r < Rows; r++ {
//			for i := 0; i < N; i++ {
//				s := bias[c] // 0 when bias is empty
//				for t := 0; t < taps; t++ {
//					if Lo[t] <= i && i < Hi[t] {
//						s += w[c*LDW+t] * src[c*SrcChan+r*SrcRow+Offs[t]+i*Stride]
//					}
//				}
//				if s < Min { s = Min }
//				if s > Max { s = Max }
//				dst[c*DstChan+r*DstRow+i] = s
//			}
//		}
//	}
//
// Output i of a row reads tap t only for Lo[t] <= i < Hi[t]: the others
// fall in the convolution's zero padding and are skipped (a tier may
// instead add w·0 for them, as a padded input would), so Offs[t] may be
// negative as long as every read it makes lies in src. Min and Max clamp
// (ReLU is Min 0, Max +Inf; no activation -Inf, +Inf); NaN passes
// through.
type DWBlock struct {
	Chans, Rows, N  int
	Stride          int // input floats between a row's outputs (the horizontal stride)
	LDW             int // weights per channel: tap t of channel c is w[c*LDW+t]
	SrcChan, SrcRow int
	DstChan, DstRow int
	Offs, Lo, Hi    []int
	Min, Max        float32
}

// checkDWRows panics unless a DWRows call with these arguments stays inside
// its slices and b is consistent (see Kernels.DWRows); every tier's DWRows
// calls it first, as the assembly does not check. It returns the number of
// taps.
func checkDWRows(ld, ls, lw, lb int, b *DWBlock) int {
	taps := len(b.Offs)
	stride := b.stride()
	ok := b.Stride >= 0 && b.Chans >= 0 && b.Rows >= 0 && b.N >= 0 && b.LDW >= 0 && b.SrcChan >= 0 && b.SrcRow >= 0 &&
		b.DstChan >= 0 && b.DstRow >= 0 && len(b.Lo) == taps && len(b.Hi) == taps && b.Min <= b.Max
	if ok && b.Chans > 0 && b.Rows > 0 && b.N > 0 {
		// Rows and channels of dst must not overlap, and fit.
		ok = (b.Rows == 1 || b.DstRow >= b.N) && rowsFit(ld, b.Rows, b.N, b.DstRow, 0)
		if ok && b.Chans > 1 {
			hi, lo := bits.Mul(uint(b.Rows-1), uint(b.DstRow))
			span := lo + uint(b.N) // one channel's extent, no overflow past rowsFit
			ok = hi == 0 && uint(b.DstChan) >= span && chanFit(ld, b.Chans, b.DstChan, int(span))
		}
		ok = ok && (lb == 0 || lb >= b.Chans)
		if ok && taps > 0 {
			ok = b.LDW >= taps && chanFit(lw, b.Chans, b.LDW, taps)
		}
		// The furthest first element of a (channel, row) in src: only
		// taps that read anything bound it.
		h1, l1 := bits.Mul(uint(b.Chans-1), uint(b.SrcChan))
		h2, l2 := bits.Mul(uint(b.Rows-1), uint(b.SrcRow))
		last, carry := bits.Add(l1, l2, 0)
		fits := h1 == 0 && h2 == 0 && carry == 0 && last < uint(ls)
		for t := 0; ok && t < taps; t++ {
			l, h, o := b.Lo[t], b.Hi[t], b.Offs[t]
			ok = 0 <= l && l <= h && h <= b.N
			if !ok || l == h {
				continue
			}
			// First read o+l·stride >= 0; last read
			// last+o+(h-1)·stride < ls. The bounds on (h-1)·stride
			// (>= l·stride) and o keep the sums from overflowing.
			hi, lo := bits.Mul(uint(h-1), uint(stride))
			ok = fits && hi == 0 && lo <= math.MaxInt/4 && o < ls && o > -math.MaxInt/4 &&
				o+l*stride >= 0 && uint(o+int(lo)) < uint(ls)-last
		}
	}
	if !ok {
		panic(fmt.Sprintf("simd: DWRows called with len(dst)=%d, len(src)=%d, %d weights, %d biases, block %+v",
			ld, ls, lw, lb, *b))
	}
	return taps
}

// stride is b.Stride, 0 counting as 1.
func (b *DWBlock) stride() int { return max(b.Stride, 1) }

// chanFit reports whether (n-1)*ld + extent <= l, for n >= 1 and the rest
// >= 0, without overflowing.
func chanFit(l, n, ld, extent int) bool {
	if extent > l {
		return false
	}
	hi, lo := bits.Mul(uint(n-1), uint(ld))
	return hi == 0 && lo <= uint(l-extent)
}

// dwRowsGeneric is the portable DWRows. The columns every tap reads
// (the row's interior) take the taps in groups of three, one pass over
// them per group (4 loads and a store per output); the columns at the
// edges take each tap they read in turn, output by output. Then the
// clamp.
func dwRowsGeneric(dst, src, w, bias []float32, b *DWBlock) {
	taps := checkDWRows(len(dst), len(src), len(w), len(bias), b)
	if b.Chans == 0 || b.Rows == 0 || b.N == 0 {
		return
	}
	st := b.stride()
	// The interior [in0, in1): the columns all taps read.
	in0, in1 := 0, b.N
	for t := 0; t < taps; t++ {
		in0, in1 = max(in0, b.Lo[t]), min(in1, b.Hi[t])
	}
	in1 = max(in1, in0)
	span := (in1-in0-1)*st + 1
	for c := 0; c < b.Chans; c++ {
		var bv float32
		if len(bias) > 0 {
			bv = bias[c]
		}
		var wc []float32
		if taps > 0 {
			wc = w[c*b.LDW : c*b.LDW+taps]
		}
		for r := 0; r < b.Rows; r++ {
			d := dst[c*b.DstChan+r*b.DstRow:][:b.N]
			base := c*b.SrcChan + r*b.SrcRow
			// edge computes output i from the taps that read it.
			edge := func(i int) {
				s := bv
				for t, o := range b.Offs {
					if b.Lo[t] <= i && i < b.Hi[t] {
						s += wc[t] * src[base+o+i*st]
					}
				}
				d[i] = s
			}
			for i := 0; i < in0; i++ {
				edge(i)
			}
			for i := in1; i < b.N; i++ {
				edge(i)
			}
			if in0 < in1 {
				dd := d[in0:in1]
				for i := range dd {
					dd[i] = bv
				}
				t := 0
				for ; t+3 <= taps; t += 3 {
					w0, w1, w2 := wc[t], wc[t+1], wc[t+2]
					s0 := src[base+b.Offs[t]+in0*st:][:span]
					s1 := src[base+b.Offs[t+1]+in0*st:][:span]
					s2 := src[base+b.Offs[t+2]+in0*st:][:span]
					if st == 1 {
						s0, s1, s2 = s0[:len(dd)], s1[:len(dd)], s2[:len(dd)]
						for i := range dd {
							dd[i] += w0*s0[i] + w1*s1[i] + w2*s2[i]
						}
					} else {
						for i := range dd {
							dd[i] += w0*s0[i*st] + w1*s1[i*st] + w2*s2[i*st]
						}
					}
				}
				for ; t < taps; t++ {
					wt := wc[t]
					s0 := src[base+b.Offs[t]+in0*st:][:span]
					for i := range dd {
						dd[i] += wt * s0[i*st]
					}
				}
			}
			for i, v := range d {
				if v < b.Min {
					v = b.Min
				}
				if v > b.Max {
					v = b.Max
				}
				d[i] = v
			}
		}
	}
}
