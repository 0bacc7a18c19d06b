package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
)

// dwRowsCase is a DWRows call to test: a block (its Offs already relative
// to the first float a read touches) and how long src must be.
type dwRowsCase struct {
	name   string
	b      DWBlock
	srcLen int
}

// dwConvRowsCase builds the block of a padded convolution row set as the
// depthwise driver does: a kh×kw kernel with dilations dh, dw, left
// padding pl and horizontal stride sw over rows of width w (output width
// n), rows input rows apart by rowStride, all kernel rows inside.
func dwConvRowsCase(kh, kw, dh, dw, pl, sw, w, n, chans, rows, rowStride int) DWBlock {
	b := DWBlock{Chans: chans, Rows: rows, N: n, LDW: kh * kw, Stride: sw}
	for ky := 0; ky < kh; ky++ {
		for kx := 0; kx < kw; kx++ {
			dx := kx*dw - pl
			lo := 0
			if dx < 0 {
				lo = min(ceilDiv(-dx, sw), n)
			}
			hi := lo
			if w-dx > 0 {
				hi = min(max(ceilDiv(w-dx, sw), lo), n)
			}
			b.Offs = append(b.Offs, ky*dh*w+dx)
			b.Lo = append(b.Lo, lo)
			b.Hi = append(b.Hi, hi)
		}
	}
	b.SrcRow = rowStride
	b.SrcChan = (rows-1)*rowStride + kh*dh*w + 3
	return b
}

// finish shifts b's offsets so that the first read is src[0], sets the
// dst strides (gap floats between rows and channels) and returns the case
// with src exactly as long as the reads need.
func (b DWBlock) finish(name string, gap int) dwRowsCase {
	first, last := math.MaxInt, math.MinInt
	st := b.stride()
	for t := range b.Offs {
		if b.Lo[t] < b.Hi[t] {
			first = min(first, b.Offs[t]+b.Lo[t]*st)
			last = max(last, (b.Chans-1)*b.SrcChan+(b.Rows-1)*b.SrcRow+b.Offs[t]+(b.Hi[t]-1)*st)
		}
	}
	b.Offs = append([]int(nil), b.Offs...)
	srcLen := 0
	if first != math.MaxInt {
		for t := range b.Offs {
			b.Offs[t] -= first
		}
		srcLen = last - first + 1
	}
	b.DstRow = b.N + gap
	b.DstChan = b.Rows*b.DstRow + gap
	return dwRowsCase{name: name, b: b, srcLen: srcLen}
}

func dwRowsCases(r *rand.Rand) []dwRowsCase {
	var cases []dwRowsCase
	for _, k := range [][4]int{{3, 3, 1, 1}, {3, 3, 2, 2}, {5, 5, 1, 1}, {1, 3, 1, 1}, {3, 1, 1, 1}, {1, 1, 1, 1}, {5, 3, 1, 2}} {
		kh, kw, dh, dw := k[0], k[1], k[2], k[3]
		for _, sw := range []int{1, 2, 3} {
			for w := 1; w <= 40*sw; w += sw {
				for pl := 0; pl <= 2+(w%3); pl++ {
					pr := (w + pl) % 4
					n := (w+pl+pr-(kw-1)*dw)/sw + 1
					if w+pl+pr < (kw-1)*dw+1 {
						continue
					}
					chans, rows := 1+w%3, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 17}[(w+pl+kw)%11]
					b := dwConvRowsCase(kh, kw, dh, dw, pl, sw, w, n, chans, rows, w*(1+pl%2))
					cases = append(cases, b.finish(fmt.Sprintf("k%dx%d d%d,%d s%d w%d pl%d n%d", kh, kw, dh, dw, sw, w, pl, n), (w+pl)%2*3))
				}
			}
		}
	}
	// Long rows, in chunks along the row (3×3: the grid kernel too).
	for i, w := range []int{63, 64, 65, 79, 96, 100, 112, 127, 128, 129, 160, 200} {
		for _, k := range [][2]int{{3, 1}, {3, 2}, {5, 1}} {
			kw, sw := k[0], k[1]
			pl := kw / 2
			n := (w+2*pl-kw)/sw + 1
			b := dwConvRowsCase(3, kw, 1, 1, pl, sw, w, n, 1+i%2, 1+i%9, w)
			cases = append(cases, b.finish(fmt.Sprintf("long k3x%d s%d w%d n%d", kw, sw, w, n), i%2*5))
		}
	}
	// Random column ranges, maskable or not, empty taps among them.
	for i := 0; i < 300; i++ {
		n := 1 + r.IntN(70)
		taps := r.IntN(12)
		b := DWBlock{Chans: 1 + r.IntN(3), Rows: 1 + r.IntN(10), N: n, LDW: taps + r.IntN(2)}
		for t := 0; t < taps; t++ {
			lo := r.IntN(n + 1)
			hi := lo + r.IntN(n-lo+1)
			if r.IntN(2) == 0 {
				lo, hi = min(lo, r.IntN(4)), max(hi, n-r.IntN(4))
			}
			b.Offs = append(b.Offs, r.IntN(200)-100)
			b.Lo = append(b.Lo, lo)
			b.Hi = append(b.Hi, hi)
		}
		b.Stride = r.IntN(4)
		b.SrcRow = n*b.stride() + r.IntN(50)
		b.SrcChan = b.Rows*b.SrcRow + r.IntN(300)
		cases = append(cases, b.finish(fmt.Sprintf("random %d taps %d n%d", i, taps, n), r.IntN(3)*r.IntN(5)))
	}
	return cases
}

// dwClamps are the clamps DWRows is tested with: none, ReLU, a Clip.
var dwClamps = [][2]float32{{float32(math.Inf(-1)), float32(math.Inf(1))}, {0, float32(math.Inf(1))}, {-0.25, 0.5}}

// TestDWRows checks every tier's DWRows against ref.DWRows: the rows of
// padded convolutions (kernels 1 to 5 wide, dilations, pads 0 to 4, rows
// of 1 to 40 outputs, below, at and above every vector width and
// chunk) and random column ranges (some only the generic loops can
// mask), 1 to 3 channels of 1 to 17 rows (every chunk of rows), with and without bias, each clamp,
// dst inside guard values (also in the gaps between rows and channels),
// src exactly as long as the reads need and unchanged. Tolerance
// ref.Tol(taps+1, Σ|terms|), the clamp being 1-Lipschitz.
func TestDWRows(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	cases := dwRowsCases(r)
	for _, tier := range Available() {
		k := ForTier(tier)
		for ci, c := range cases {
			b := c.b
			b.Min, b.Max = dwClamps[ci%3][0], dwClamps[ci%3][1]
			taps := len(b.Offs)
			src := randSlice(r, c.srcLen)
			src0 := append([]float32(nil), src...)
			w := randSlice(r, (b.Chans-1)*b.LDW+taps)
			var bias []float32
			if ci%4 != 1 {
				bias = randSlice(r, b.Chans)
			}
			dstLen := (b.Chans-1)*b.DstChan + (b.Rows-1)*b.DstRow + b.N
			dst, all := guarded(dstLen)
			dst = dst[:dstLen:dstLen]
			what := fmt.Sprintf("%s DWRows %s chans=%d rows=%d dst strides %d,%d clamp [%v, %v] bias=%v",
				tier, c.name, b.Chans, b.Rows, b.DstChan, b.DstRow, b.Min, b.Max, bias != nil)
			k.DWRows(dst, src, w, bias, &b)
			checkGuards(t, what, all, func(i int) bool {
				return i%b.DstChan/b.DstRow < b.Rows && i%b.DstChan%b.DstRow < b.N
			})
			want, mag := ref.DWRows(src, b.Offs, b.Lo, b.Hi, w, b.LDW, bias, b.Chans, b.Rows, b.N, b.SrcChan, b.SrcRow, b.stride())
			for ch := 0; ch < b.Chans; ch++ {
				for row := 0; row < b.Rows; row++ {
					for i := 0; i < b.N; i++ {
						j := (ch*b.Rows+row)*b.N + i
						wv := math.Min(math.Max(want[j], float64(b.Min)), float64(b.Max))
						got := float64(dst[ch*b.DstChan+row*b.DstRow+i])
						if tol := ref.Tol(taps+1, mag[j]); !(math.Abs(got-wv) <= tol) {
							t.Fatalf("%s: (%d, %d, %d) = %v, want %v (tolerance %g)", what, ch, row, i, got, wv, tol)
						}
					}
				}
			}
			for i := range src {
				if math.Float32bits(src[i]) != math.Float32bits(src0[i]) {
					t.Fatalf("%s: src modified at %d", what, i)
				}
			}
		}
	}
}

// TestDWRowsSplit checks that every tier's DWRows computes each output
// bit for bit the same whether a block is one call or a call per channel
// and row, which Run's result being independent of its Parallel relies
// on.
func TestDWRowsSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	for i, n := range []int{1, 7, 8, 15, 16, 17, 40, 112, 130, 160, 300} {
		sw := 1 + i%2
		c := dwConvRowsCase(3, 3, 1, 1, 1, sw, n*sw, n, 3, 9, n*sw).finish("split", 2)
		b := c.b
		b.Min, b.Max = dwClamps[0][0], dwClamps[0][1]
		src := randSlice(r, c.srcLen)
		w := randSlice(r, b.Chans*b.LDW)
		bias := randSlice(r, b.Chans)
		dstLen := (b.Chans-1)*b.DstChan + (b.Rows-1)*b.DstRow + b.N
		for _, tier := range Available() {
			k := ForTier(tier)
			whole := make([]float32, dstLen)
			k.DWRows(whole, src, w, bias, &b)
			part := make([]float32, dstLen)
			for ch := 0; ch < b.Chans; ch++ {
				for row := 0; row < b.Rows; row++ {
					one := b
					one.Chans, one.Rows = 1, 1
					d := ch*b.DstChan + row*b.DstRow
					k.DWRows(part[d:d+b.N], src[ch*b.SrcChan+row*b.SrcRow:], w[ch*b.LDW:], bias[ch:ch+1], &one)
				}
			}
			for i := range whole {
				if math.Float32bits(part[i]) != math.Float32bits(whole[i]) {
					t.Fatalf("%s n=%d: output %d = %v in one call, %v per row", tier, n, i, whole[i], part[i])
				}
			}
		}
	}
}

// TestDWRowsChecks checks that every tier's DWRows panics on blocks that
// would take it outside its slices, and accepts the tightest valid ones.
func TestDWRowsChecks(t *testing.T) {
	inf := float32(math.Inf(1))
	// 2 channels of 2 rows of 5: taps at -1 (from column 1), 0, 1 (to
	// column 4); channel stride 20, row stride 7. Reads: up to
	// 20+7+1+3 = 31.
	base := DWBlock{Chans: 2, Rows: 2, N: 5, LDW: 3, SrcChan: 20, SrcRow: 7, DstChan: 12, DstRow: 6,
		Offs: []int{-1, 0, 1}, Lo: []int{1, 0, 0}, Hi: []int{5, 5, 4}, Min: -inf, Max: inf}
	with := func(f func(b *DWBlock)) DWBlock {
		b := base
		b.Offs, b.Lo, b.Hi = append([]int(nil), b.Offs...), append([]int(nil), b.Lo...), append([]int(nil), b.Hi...)
		f(&b)
		return b
	}
	type args struct {
		dst, src, w, bias int
		b                 DWBlock
		shouldFail        bool
	}
	cases := []args{
		{dst: 12 + 6 + 5, src: 32, w: 6, bias: 2, b: base},
		{dst: 12 + 6 + 5, src: 32, w: 6, b: base},
		{dst: 12 + 6 + 4, src: 32, w: 6, b: base, shouldFail: true},
		{dst: 12 + 6 + 5, src: 31, w: 6, b: base, shouldFail: true},
		{dst: 12 + 6 + 5, src: 32, w: 5, b: base, shouldFail: true},
		{dst: 12 + 6 + 5, src: 32, w: 6, bias: 1, b: base, shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Lo[0] = 0 }), shouldFail: true}, // reads src[-1]
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Lo[1] = 3; b.Hi[1] = 2 }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Hi[1] = 6 }), shouldFail: true}, // past N
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Lo[0], b.Hi[0] = 0, 0 })},       // empty tap
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Lo = b.Lo[:2] }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.DstRow = 4 }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.DstChan = 10 }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.LDW = 2 }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Min, b.Max = 1, 0 }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Min = float32(math.NaN()) }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Rows = -1 }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.SrcRow = math.MaxInt / 2 }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Offs[2] = math.MaxInt - 2 }), shouldFail: true},
		{dst: 100, src: 100, w: 6, b: with(func(b *DWBlock) { b.Chans = math.MaxInt / 8 }), shouldFail: true},
		{dst: 0, src: 0, w: 0, b: with(func(b *DWBlock) { b.Chans = 0 })},
		{dst: 0, src: 0, w: 0, b: with(func(b *DWBlock) { b.Rows = 0 })},
		{dst: 0, src: 0, w: 0, b: with(func(b *DWBlock) { b.N = 0; b.Lo = []int{0, 0, 0}; b.Hi = b.Lo })},
		// No taps: src is not read.
		{dst: 23, src: 0, w: 0, bias: 2, b: with(func(b *DWBlock) { b.Offs, b.Lo, b.Hi = nil, nil, nil })},
	}
	for _, tier := range Available() {
		k := ForTier(tier)
		for i, c := range cases {
			b := c.b
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				k.DWRows(make([]float32, c.dst), make([]float32, c.src), make([]float32, c.w), make([]float32, c.bias), &b)
				return false
			}()
			if panicked != c.shouldFail {
				t.Errorf("%s case %d %+v: panicked = %v", tier, i, c, panicked)
			}
		}
	}
}

// TestDepthwiseShapes runs Run on random depthwise geometries against
// ref.Conv2D on every tier and thread count: heights and widths 1 to 33,
// kernels 3 and 5 (and 1×3, 3×1), strides 1 and 2 on each axis (and
// horizontal stride 3, on phase planes),
// asymmetric pads up to 3, dilations 1 and 2, odd channel counts, batches
// of 1 and 2, each activation and a residual, under the tunings of
// TestDepthwise, y inside guard values. Tolerance as in TestConv.
func TestDepthwiseShapes(t *testing.T) {
	pools := testPools(t)
	r := rand.New(rand.NewPCG(35, 36))
	acts := append(append([]Act(nil), testActs...), Act{Kind: ActHardSwish}, Act{Kind: ActClip, Alpha: 0, Beta: 6})
	saved := [3]int{dwBand, dwGroupFloats, dwPhaseBand}
	defer func() { dwBand, dwGroupFloats, dwPhaseBand = saved[0], saved[1], saved[2] }()
	tried := 0
	for tried < 400 {
		k := []int{3, 5}[r.IntN(2)]
		c := convCase{N: 1 + r.IntN(2), C: 1 + 2*r.IntN(3), H: 1 + r.IntN(33), W: 1 + r.IntN(33), KH: k, KW: k,
			SH: 1 + r.IntN(2), SW: 1 + r.IntN(2), DH: 1 + r.IntN(2), DW: 1 + r.IntN(2),
			PT: r.IntN(4), PL: r.IntN(4), PB: r.IntN(4), PR: r.IntN(4)}
		switch r.IntN(8) {
		case 0:
			c.KH = 1
		case 1:
			c.KW = 1
		}
		if tried%5 == 0 {
			c.DH, c.DW = 1, 1
		}
		if tried%7 == 3 {
			c.SW = 3 // phase planes
		}
		c.M, c.Group = c.C, c.C
		if oh, ow := c.params().OutSize(); oh < 1 || ow < 1 {
			continue
		}
		ci := tried
		tried++
		oh, ow := ref.ConvGeom(c).Out()
		x := randSlice(r, c.N*c.C*c.H*c.W)
		w := randSlice(r, c.M*c.KH*c.KW)
		var bias, res []float32
		if ci%3 != 1 {
			bias = randSlice(r, c.M)
		}
		if ci%5 == 2 {
			res = randSlice(r, c.N*c.M*oh*ow)
		}
		act := acts[ci%len(acts)]
		want, mag := ref.Conv2D(ref.ConvGeom(c), x, w, bias, res)
		// The default tuning; one channel per task, phase planes and
		// bands row by row; whole images per task.
		tuning := [][3]int{saved, {1, 0, 1}, {40, 1 << 30, 100}}[ci%3]
		dwBand, dwGroupFloats, dwPhaseBand = tuning[0], tuning[1], tuning[2]
		for _, tier := range Available() {
			kern := ForTier(tier)
			pc, err := kern.PrepareConv(c.params(), w, bias)
			if err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			if !pc.depthwise {
				t.Fatalf("%v: not depthwise", c)
			}
			var first []float32
			for pi, par := range pools {
				what := fmt.Sprintf("%s %v (rows %v, prepass %v, stride %d, %d runs of rows) act=%v res=%v bias=%v threads=%d",
					tier, c, pc.dwSegs != nil, pc.dwPrepass, pc.dwStride, len(pc.dwSegs), act, res != nil, bias != nil, testThreads[pi])
				y, all := guarded(len(want))
				if err := pc.Run(x, y, res, act, par); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				checkGuards(t, what, all, func(int) bool { return true })
				checkClose(t, what, y, want, mag, c.KH*c.KW+2, act)
				if first == nil {
					first = append([]float32(nil), y...)
					continue
				}
				for j := range y {
					if math.Float32bits(y[j]) != math.Float32bits(first[j]) {
						t.Fatalf("%s: element %d = %v differs from the serial result %v", what, j, y[j], first[j])
					}
				}
			}
		}
	}
}

// BenchmarkDWRows times DWRows alone on 3×3 depthwise channels of
// MobileNetV2 shapes with padding 1 read straight from the input planes
// (input and output in L1/L2), as the depthwise driver calls it: the
// interior rows of 16 channels in one call, clamped as ReLU6. GFLOP/s
// counts the 18 flops of each output.
//
//	go test ./simd -run '^$' -bench DWRows -benchtime 2000x
func BenchmarkDWRows(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tier := range Available() {
		k := ForTier(tier)
		for _, hw := range []int{112, 56, 28, 14, 7} {
			const ch = 16
			blk := dwConvRowsCase(3, 3, 1, 1, 1, 1, hw, hw, ch, hw-2, hw)
			blk.SrcChan = hw * hw
			blk.DstRow, blk.DstChan = hw, hw*hw
			blk.Min, blk.Max = 0, 6
			for t := range blk.Offs {
				blk.Offs[t] += 1 // row oy = 1 reads from row 0 of the plane
			}
			src := randSlice(r, ch*hw*hw+16)
			w := randSlice(r, ch*9)
			bias := randSlice(r, ch)
			dst := make([]float32, ch*hw*hw)
			b.Run(fmt.Sprintf("%s/%dx%d/%dch", tier, hw, hw, ch), func(b *testing.B) {
				for b.Loop() {
					k.DWRows(dst[hw:], src, w, bias, &blk)
				}
				b.ReportMetric(18*float64(ch*(hw-2)*hw)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
