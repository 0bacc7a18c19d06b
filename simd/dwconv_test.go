package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
)

// TestDWConv checks every tier's DWConv against ref.DWConv for n = 0..70
// (below, at and above every vector width and chunk), 0 to 3 rows, row
// strides equal to and above n, with and without a bias, and tap sets of 0
// to 25 taps with random and depthwise-like offsets. dst sits inside guard
// values (also in the gaps between rows when ldd > n); src is exactly as
// long as the call needs and must not change. Tolerance ref.Tol(taps+1,
// Σ|terms|).
func TestDWConv(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	type tapSet struct {
		name string
		offs []int
	}
	taps := []tapSet{
		{"none", nil},
		{"one", []int{0}},
		{"one-shifted", []int{5}},
		{"two", []int{3, 0}},
		{"3x3-wide", []int{0, 1, 2, 75, 76, 77, 150, 151, 152}}, // a 3×3 over rows of 75
		{"3x3-phases", []int{0, 200, 1, 39, 239, 40, 78, 278, 79}},
		{"repeated", []int{4, 4, 4, 0}},
	}
	for _, k := range []int{5, 25} {
		o := make([]int, k)
		for i := range o {
			o[i] = r.IntN(300)
		}
		taps = append(taps, tapSet{fmt.Sprintf("random%d", k), o})
	}
	for _, tier := range Available() {
		kern := ForTier(tier)
		for _, ts := range taps {
			w := randSlice(r, 3*len(ts.offs))
			maxOff := 0
			for _, o := range ts.offs {
				maxOff = max(maxOff, o)
			}
			for n := 0; n <= 70; n++ {
				for rows := 0; rows <= 3; rows++ {
					for _, gap := range []int{0, 3} {
						ldd, lds := n+gap, n+[]int{0, 1, 17}[(n+rows)%3]
						var bias []float32
						if (n+gap)%2 == 0 {
							bias = randSlice(r, rows)
						}
						what := fmt.Sprintf("%s DWConv taps %s n=%d rows=%d ldd=%d lds=%d bias=%v", tier, ts.name, n, rows, ldd, lds, bias != nil)
						srcLen := 0
						if rows > 0 && n > 0 {
							srcLen = (rows-1)*lds + maxOff + n
						}
						src := randSlice(r, srcLen)
						src0 := append([]float32(nil), src...)
						dstLen := 0
						if rows > 0 {
							dstLen = (rows-1)*ldd + n
						}
						dst, all := guarded(dstLen)
						dst = dst[:dstLen:dstLen]
						wr := w[:rows*len(ts.offs)]
						kern.DWConv(dst, src, ts.offs, wr, bias, rows, n, ldd, lds)
						checkGuards(t, what, all, func(i int) bool { return i%max(ldd, 1) < n })
						if rows == 0 || n == 0 {
							continue
						}
						want, mag := ref.DWConv(src, ts.offs, wr, bias, rows, n, lds)
						for ri := 0; ri < rows; ri++ {
							for i := 0; i < n; i++ {
								got, wv, m := float64(dst[ri*ldd+i]), want[ri*n+i], mag[ri*n+i]
								if tol := ref.Tol(len(ts.offs)+1, m); !(math.Abs(got-wv) <= tol) {
									t.Fatalf("%s: (%d, %d) = %v, want %v (tolerance %g)", what, ri, i, got, wv, tol)
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
		}
	}
}

// TestDWConvSplit checks that every tier's DWConv computes each output
// bit for bit the same however the caller cuts its rows (one call, or
// calls of any lengths and rows), which Run's result being independent of
// its Parallel relies on.
func TestDWConvSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	offs := []int{0, 1, 2, 40, 41, 42, 80, 81, 82, 7, 300}
	const n, rows, lds = 333, 3, 400
	src := randSlice(r, (rows-1)*lds+300+n)
	w := randSlice(r, rows*len(offs))
	bias := randSlice(r, rows)
	for _, tier := range Available() {
		k := ForTier(tier)
		whole := make([]float32, rows*n)
		k.DWConv(whole, src, offs, w, bias, rows, n, n, lds)
		for _, cut := range []int{1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 64, 100, 127, 129, 200} {
			for ri := 0; ri < rows; ri++ {
				part := make([]float32, n)
				for i0 := 0; i0 < n; i0 += cut {
					i1 := min(n, i0+cut)
					k.DWConv(part[i0:i1], src[ri*lds+i0:], offs, w[ri*len(offs):(ri+1)*len(offs)], bias[ri:ri+1], 1, i1-i0, i1-i0, 0)
				}
				for i := range part {
					if math.Float32bits(part[i]) != math.Float32bits(whole[ri*n+i]) {
						t.Fatalf("%s: row %d cut every %d: output %d = %v, in one call %v", tier, ri, cut, i, part[i], whole[ri*n+i])
					}
				}
			}
		}
	}
}

// TestDWConvChecks checks that every tier's DWConv panics on arguments
// that would take it outside its slices, and accepts the tightest valid
// ones.
func TestDWConvChecks(t *testing.T) {
	offs, w, bias := []int{0, 2, 7}, make([]float32, 9), make([]float32, 3)
	type args struct {
		dst, src   int
		offs       []int
		w, bias    []float32
		rows, n    int
		ldd, lds   int
		shouldFail bool
	}
	cases := []args{
		{dst: 2*10 + 5, src: 2*12 + 7 + 5, offs: offs, w: w, bias: bias, rows: 3, n: 5, ldd: 10, lds: 12},
		{dst: 2*10 + 5, src: 2*12 + 7 + 5, offs: offs, w: w, rows: 3, n: 5, ldd: 10, lds: 12},
		{dst: 0, src: 0, offs: offs, w: nil, rows: 0, n: 5, ldd: 5, lds: 0},
		{dst: 0, src: 0, offs: offs, w: nil, rows: 3, n: 0, ldd: 0, lds: 0},
		{dst: 2*10 + 4, src: 2*12 + 7 + 5, offs: offs, w: w, rows: 3, n: 5, ldd: 10, lds: 12, shouldFail: true},
		{dst: 2*10 + 5, src: 2*12 + 7 + 4, offs: offs, w: w, rows: 3, n: 5, ldd: 10, lds: 12, shouldFail: true},
		{dst: 2*10 + 5, src: 2*12 + 7 + 5, offs: offs, w: w[:8], rows: 3, n: 5, ldd: 10, lds: 12, shouldFail: true},
		{dst: 2*10 + 5, src: 2*12 + 7 + 5, offs: offs, w: w, bias: bias[:2], rows: 3, n: 5, ldd: 10, lds: 12, shouldFail: true},
		{dst: 100, src: 100, offs: []int{0, -1, 2}, w: w, rows: 1, n: 5, ldd: 5, lds: 5, shouldFail: true},
		{dst: 100, src: 100, offs: offs, w: w, rows: -1, n: 5, ldd: 5, lds: 5, shouldFail: true},
		{dst: 100, src: 100, offs: offs, w: w, rows: 1, n: -1, ldd: 5, lds: 5, shouldFail: true},
		{dst: 100, src: 100, offs: offs, w: w, rows: 2, n: 5, ldd: 4, lds: 5, shouldFail: true},
		{dst: 100, src: 100, offs: offs, w: w, rows: 2, n: 5, ldd: 5, lds: -1, shouldFail: true},
		{dst: 100, src: 100, offs: offs, w: w, rows: math.MaxInt / 4, n: 5, ldd: 1 << 20, lds: 5, shouldFail: true},
		{dst: 100, src: 100, offs: []int{math.MaxInt}, w: w, rows: 1, n: 5, ldd: 5, lds: 5, shouldFail: true},
	}
	for _, tier := range Available() {
		k := ForTier(tier)
		for i, c := range cases {
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				k.DWConv(make([]float32, c.dst), make([]float32, c.src), c.offs, c.w, c.bias, c.rows, c.n, c.ldd, c.lds)
				return false
			}()
			if panicked != c.shouldFail {
				t.Errorf("%s case %d %+v: panicked = %v", tier, i, c, panicked)
			}
		}
	}
}

// TestDepthwise runs depthwise convolutions (the DWConv path of Run) on
// every tier and thread count against ref.Conv2D, under tunings that
// force every way of cutting the output: the defaults, one-row bands
// computed row by row (phase planes filled row by row), and small bands
// computed as wide runs. The cases
// cover padded and unpadded inputs (phase planes built or not), both
// strides, dilations, kernels from 1×1 to 5×5, rows below and above every
// vector width, and batches. Tolerance as in TestConv.
func TestDepthwise(t *testing.T) {
	pools := testPools(t)
	dw := func(c convCase) convCase { c.M, c.Group = c.C, c.C; return c }
	with := func(c convCase, f func(*convCase)) convCase { f(&c); return c }
	cases := []convCase{
		dw(cc(3, 9, 9, 0, 3, 1, 1)),
		dw(cc(2, 20, 37, 0, 3, 1, 1)),
		dw(cc(2, 21, 40, 0, 3, 2, 1)),
		dw(cc(3, 12, 20, 0, 3, 1, 0)), // unpadded: reads the input plane
		with(dw(cc(2, 13, 22, 0, 3, 1, 0)), func(c *convCase) { c.SH = 2 }),
		with(dw(cc(2, 11, 35, 0, 3, 1, 0)), func(c *convCase) { c.DH, c.DW = 2, 3 }),
		with(dw(cc(2, 15, 33, 0, 3, 1, 2)), func(c *convCase) { c.DH, c.DW = 2, 2 }),
		dw(cc(2, 19, 19, 0, 5, 1, 2)),
		dw(cc(2, 19, 41, 0, 5, 2, 2)),
		dw(cc(3, 7, 7, 0, 3, 1, 1)),
		dw(cc(3, 14, 14, 0, 3, 2, 1)),
		dw(cc(2, 5, 70, 0, 1, 1, 0)), // 1×1
		dw(cc(2, 6, 31, 0, 1, 2, 1)),
		with(dw(cc(2, 9, 17, 0, 3, 1, 1)), func(c *convCase) { c.SH, c.SW = 1, 3 }),
		with(dw(cc(2, 10, 18, 0, 3, 1, 0)), func(c *convCase) { c.PT, c.PL, c.PB, c.PR = 0, 2, 1, 0 }),
		with(dw(cc(2, 8, 24, 0, 3, 1, 1)), func(c *convCase) { c.KH, c.KW = 1, 3 }),
		with(dw(cc(3, 9, 29, 0, 3, 1, 1)), func(c *convCase) { c.N = 3 }),
		dw(cc(2, 1, 1, 0, 3, 1, 1)),
		dw(cc(17, 7, 7, 0, 3, 1, 1)), // grouped channels, with a remainder group
		dw(cc(9, 6, 13, 0, 3, 2, 1)),
		with(dw(cc(11, 5, 9, 0, 3, 1, 0)), func(c *convCase) { c.N = 2 }),
		with(dw(cc(40, 4, 4, 0, 3, 1, 1)), func(c *convCase) { c.N = 2 }),
		with(dw(cc(1, 1, 50, 0, 3, 1, 1)), func(c *convCase) { c.KH, c.PT, c.PB = 1, 0, 0 }),
	}
	r := rand.New(rand.NewPCG(17, 19))
	saved := [3]int{dwBand, dwGroupFloats, dwPhaseBand}
	defer func() { dwBand, dwGroupFloats, dwPhaseBand = saved[0], saved[1], saved[2] }()
	// The defaults; one channel per task in one-row bands; whole images
	// per task.
	grouped := false // some task had several channels
	defer func() {
		if !grouped {
			t.Error("no case grouped channels")
		}
	}()
	for _, tuning := range [][3]int{saved, {1, 0, 1}, {40, 1 << 30, 100}} {
		dwBand, dwGroupFloats, dwPhaseBand = tuning[0], tuning[1], tuning[2]
		for ci, c := range cases {
			oh, ow := ref.ConvGeom(c).Out()
			x := randSlice(r, c.N*c.C*c.H*c.W)
			w := randSlice(r, c.M*c.KH*c.KW)
			var bias, res []float32
			if ci%3 != 1 {
				bias = randSlice(r, c.M)
			}
			if ci%4 >= 2 {
				res = randSlice(r, c.N*c.M*oh*ow)
			}
			act := testActs[ci%len(testActs)]
			want, mag := ref.Conv2D(ref.ConvGeom(c), x, w, bias, res)
			for _, tier := range Available() {
				k := ForTier(tier)
				pc, err := k.PrepareConv(c.params(), w, bias)
				if err != nil {
					t.Fatalf("%v: %v", c, err)
				}
				if !pc.depthwise {
					t.Fatalf("%v: not depthwise", c)
				}
				grouped = grouped || pc.dwGroup > 1 && c.C > 1
				var first []float32
				for pi, par := range pools {
					what := fmt.Sprintf("%s %v band %d group %d (prepass %v) act=%v res=%v bias=%v threads=%d",
						tier, c, dwBand, pc.dwGroup, pc.dwPrepass, act, res != nil, bias != nil, testThreads[pi])
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
}

// TestGather checks every tier's Gather bit for bit against the
// definition for n = 0..70, 0 to 3 rows, strides 1 to 3 (1 and 2 are the
// vectorized ones), row strides equal to and above what the rows need,
// src exactly as long as the call reads, dst inside guard values (also
// between rows); then TestGatherChecks the panics.
func TestGather(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, tier := range Available() {
		k := ForTier(tier)
		for stride := 1; stride <= 3; stride++ {
			for n := 0; n <= 70; n++ {
				for rows := 0; rows <= 3; rows++ {
					span := 0 // inputs a row reads
					if n > 0 {
						span = (n-1)*stride + 1
					}
					ldd, lds := n+rows%2*3, span+(n%3)*5
					what := fmt.Sprintf("%s Gather rows=%d n=%d ldd=%d lds=%d stride=%d", tier, rows, n, ldd, lds, stride)
					srcLen, dstLen := 0, 0
					if rows > 0 && n > 0 {
						srcLen, dstLen = (rows-1)*lds+span, (rows-1)*ldd+n
					}
					src := randSlice(r, srcLen)
					dst, all := guarded(dstLen)
					dst = dst[:dstLen:dstLen]
					k.Gather(dst, src, rows, n, ldd, lds, stride)
					checkGuards(t, what, all, func(i int) bool { return i%max(ldd, 1) < n })
					for ri := 0; ri < rows && n > 0; ri++ {
						for i := 0; i < n; i++ {
							got, want := dst[ri*ldd+i], src[ri*lds+i*stride]
							if math.Float32bits(got) != math.Float32bits(want) {
								t.Fatalf("%s: (%d, %d) = %v, want src[%d] = %v", what, ri, i, got, ri*lds+i*stride, want)
							}
						}
					}
				}
			}
		}
	}
}

// TestGatherChecks checks that every tier's Gather panics on arguments
// that would take it outside its slices, and accepts the tightest valid
// ones.
func TestGatherChecks(t *testing.T) {
	type args struct {
		dst, src, rows, n, ldd, lds, stride int
		shouldFail                          bool
	}
	cases := []args{
		{dst: 2*9 + 5, src: 2*12 + 9, rows: 3, n: 5, ldd: 9, lds: 12, stride: 2},
		{dst: 2*9 + 5, src: 2*12 + 5, rows: 3, n: 5, ldd: 9, lds: 12, stride: 1},
		{dst: 0, src: 0, rows: 0, n: 5, ldd: 5, lds: 0, stride: 2},
		{dst: 0, src: 0, rows: 3, n: 0, ldd: 0, lds: 0, stride: 2},
		{dst: 2*9 + 4, src: 2*12 + 9, rows: 3, n: 5, ldd: 9, lds: 12, stride: 2, shouldFail: true},
		{dst: 2*9 + 5, src: 2*12 + 8, rows: 3, n: 5, ldd: 9, lds: 12, stride: 2, shouldFail: true},
		{dst: 100, src: 100, rows: 1, n: 5, ldd: 5, lds: 5, stride: 0, shouldFail: true},
		{dst: 100, src: 100, rows: -1, n: 5, ldd: 5, lds: 5, stride: 1, shouldFail: true},
		{dst: 100, src: 100, rows: 1, n: -1, ldd: 5, lds: 5, stride: 1, shouldFail: true},
		{dst: 100, src: 100, rows: 2, n: 5, ldd: 4, lds: 5, stride: 1, shouldFail: true},
		{dst: 100, src: 100, rows: 2, n: 5, ldd: 5, lds: -1, stride: 1, shouldFail: true},
		{dst: 100, src: 100, rows: 1, n: 5, ldd: 5, lds: 5, stride: math.MaxInt / 2, shouldFail: true},
		{dst: 100, src: 100, rows: math.MaxInt / 4, n: 5, ldd: 1 << 20, lds: 5, stride: 1, shouldFail: true},
	}
	for _, tier := range Available() {
		k := ForTier(tier)
		for i, c := range cases {
			panicked := func() (p bool) {
				defer func() { p = recover() != nil }()
				k.Gather(make([]float32, c.dst), make([]float32, c.src), c.rows, c.n, c.ldd, c.lds, c.stride)
				return false
			}()
			if panicked != c.shouldFail {
				t.Errorf("%s case %d %+v: panicked = %v", tier, i, c, panicked)
			}
		}
	}
}

// BenchmarkDWConv times DWConv alone on 3×3 depthwise channels of
// MobileNetV2 shapes with padding 1 (input and output in L1/L2), as
// depthwiseTask calls it: the wide output of one channel (1ch), or of 16
// channels in one call (16ch). GFLOP/s counts the 18 flops of each useful
// output.
//
//	go test ./simd -run '^$' -bench DWConv -benchtime 2000x
func BenchmarkDWConv(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tier := range Available() {
		k := ForTier(tier)
		for _, hw := range []int{112, 56, 28, 14, 7} {
			wq := hw + 2
			plane := (hw + 3) * wq
			n := (hw-1)*wq + hw
			offs := []int{0, 1, 2, wq, wq + 1, wq + 2, 2 * wq, 2*wq + 1, 2*wq + 2}
			for _, ch := range []int{1, 16} {
				src := randSlice(r, ch*plane)
				w := randSlice(r, ch*9)
				bias := randSlice(r, ch)
				dst := make([]float32, ch*hw*wq)
				b.Run(fmt.Sprintf("%s/%dx%d/%dch", tier, hw, hw, ch), func(b *testing.B) {
					for b.Loop() {
						k.DWConv(dst, src, offs, w, bias, ch, n, hw*wq, plane)
					}
					b.ReportMetric(18*float64(ch*hw*hw)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// dwLayer is a depthwise shape of a network: 3×3, padding 1, c
// channels of h×w, with how often it occurs.
type dwLayer struct {
	c, h, w, stride, count int
}

// mobilenetV2DW are the 17 depthwise convolutions of MobileNetV2 (1.0,
// 224×224), ultrafaceDW the 18 of UltraFace RFB-320 (240×320).
var (
	mobilenetV2DW = []dwLayer{
		{32, 112, 112, 1, 1}, {96, 112, 112, 2, 1}, {144, 56, 56, 1, 1}, {144, 56, 56, 2, 1},
		{192, 28, 28, 1, 2}, {192, 28, 28, 2, 1}, {384, 14, 14, 1, 4}, {576, 14, 14, 1, 2},
		{576, 14, 14, 2, 1}, {960, 7, 7, 1, 3},
	}
	ultrafaceDW = []dwLayer{
		{16, 120, 160, 1, 1}, {32, 120, 160, 2, 1}, {32, 60, 80, 1, 1}, {32, 60, 80, 2, 1},
		{64, 30, 40, 1, 4}, {64, 30, 40, 2, 1}, {128, 15, 20, 1, 4}, {128, 15, 20, 2, 1},
		{256, 8, 10, 1, 3}, {64, 8, 10, 2, 1},
	}
)

// BenchmarkDepthwise times Run on each depthwise shape of MobileNetV2
// (ReLU6 fused, as in the network) and UltraFace RFB-320 (ReLU) with the
// best tier, serial (t1) and on a 2-thread Pool (t2), and all of a
// network's layers back to back (all), reporting GFLOP/s (18 flops per
// output):
//
//	go test ./simd -run '^$' -bench Depthwise -benchtime 20x -count 5
func BenchmarkDepthwise(b *testing.B) {
	k := Best()
	r := rand.New(rand.NewPCG(1, 2))
	type layer struct {
		pc    *PreparedConv
		x, y  []float32
		flops float64
	}
	for _, net := range []struct {
		name   string
		layers []dwLayer
		act    Act
	}{
		{"mobilenetv2", mobilenetV2DW, Act{Kind: ActClip, Alpha: 0, Beta: 6}},
		{"ultraface", ultrafaceDW, Act{Kind: ActRelu}},
	} {
		var layers []layer
		var names []string
		for _, l := range net.layers {
			c := cc(l.c, l.h, l.w, l.c, 3, l.stride, 1)
			c.Group = l.c
			oh, ow := ref.ConvGeom(c).Out()
			pc, err := k.PrepareConv(c.params(), randSlice(r, l.c*9), randSlice(r, l.c))
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < l.count; i++ {
				layers = append(layers, layer{pc, randSlice(r, l.c*l.h*l.w), make([]float32, l.c*oh*ow), 18 * float64(l.c*oh*ow)})
			}
			if l.h == l.w {
				names = append(names, fmt.Sprintf("dw3x3s%d-%d@%d", l.stride, l.c, l.h))
			} else {
				names = append(names, fmt.Sprintf("dw3x3s%d-%d@%dx%d", l.stride, l.c, l.h, l.w))
			}
		}
		run := func(b *testing.B, ls []layer, threads int) {
			var par Parallel
			if threads > 1 {
				p := NewPool(threads)
				defer p.Close()
				par = p
			}
			var flops float64
			for _, l := range ls {
				flops += l.flops
			}
			for b.Loop() {
				for _, l := range ls {
					if err := l.pc.Run(l.x, l.y, nil, net.act, par); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		}
		for _, threads := range []int{1, 2} {
			i := 0
			for li, l := range net.layers {
				ls := layers[i : i+1]
				i += l.count
				b.Run(fmt.Sprintf("%s/%s/%s/t%d", net.name, names[li], k.Tier, threads), func(b *testing.B) { run(b, ls, threads) })
			}
			b.Run(fmt.Sprintf("%s/all/%s/t%d", net.name, k.Tier, threads), func(b *testing.B) { run(b, layers, threads) })
		}
	}
}
