package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/internal/ref"
)

// Tests of the Winograd convolutions against the float64 oracles in
// internal/ref, on every tier, thread count, GEMM blocking and pass
// layout, with guards around the outputs.
//
// Tolerance: Winograd's rounding errors scale not with the direct
// convolution's Σ|x·w| but with the magnitudes of the transformed values,
// ref.WinogradMag: |Aᵀ| [Σ_c |U| ⊙ |V|] |A| (+ |bias| + |residual|), |U| =
// |G||w||Gᵀ| and |V| = |Bᵀ||d||B|. Each term of an output is rounded at
// most 6 times by the input transform (3 per side: Bᵀ's rows combine up to
// 4 values, as (d4 - d2) + 2·(d3 - d1) for instance), once when U is
// rounded to float32, C times in the sum over channels (the GEMM), at most
// 6 times by the output transform (3 per side) and twice by the epilogue:
// C+15 in all, so ref.Tol(C+15, mag) (twice the first-order bound
// (C+15)·2⁻²⁴·mag) bounds the error rigorously; a wrong tile, tap or
// transform coefficient is off by far more. For F(4×4) mag is typically
// 5-10× the direct convolution's magnitude: that, not a looser rule, is
// the error growth (TestWinogradErrorGrowth measures it).

// winoCases are the convolutions the Winograd tests run (all 3×3, stride
// 1): edge tiles (sizes not multiples of 2 or 4), pads 0, 1, 2 and
// asymmetric ones, batches, channel counts below, at and above the micro-
// kernels' MR and the transforms' lane groups.
func winoCases() []convCase {
	with := func(c convCase, f func(*convCase)) convCase { f(&c); return c }
	return []convCase{
		cc(3, 9, 9, 8, 3, 1, 1),
		cc(1, 1, 1, 1, 3, 1, 1),  // one output, one tile
		cc(2, 3, 3, 3, 3, 1, 0),  // output 1×1, no padding
		cc(5, 8, 8, 7, 3, 1, 0),  // output 6×6
		cc(4, 10, 7, 5, 3, 1, 2), // pad 2: output 12×9
		cc(17, 13, 11, 33, 3, 1, 1),
		cc(16, 12, 12, 16, 3, 1, 1),
		cc(3, 6, 70, 5, 3, 1, 1),    // rows of 18 and 35 tiles: two lane groups
		cc(40, 14, 14, 24, 3, 1, 1), // K crosses the tiny K blocks
		with(cc(3, 11, 9, 5, 3, 1, 0), func(c *convCase) { c.PT, c.PL, c.PB, c.PR = 0, 1, 2, 1 }),
		with(cc(4, 7, 10, 6, 3, 1, 0), func(c *convCase) { c.PT, c.PL, c.PB, c.PR = 2, 0, 1, 2 }),
		with(cc(2, 5, 5, 3, 3, 1, 0), func(c *convCase) { c.PT, c.PL, c.PB, c.PR = 1, 2, 0, 0 }),
		with(cc(5, 7, 7, 11, 3, 1, 1), func(c *convCase) { c.N = 2 }),
		with(cc(6, 9, 5, 3, 3, 1, 1), func(c *convCase) { c.N = 3 }),
		with(cc(20, 6, 13, 17, 3, 1, 2), func(c *convCase) { c.N = 2 }),
	}
}

// winoData is one case's data and oracle.
type winoData struct {
	x, w, bias, res []float32
	want            []float64
	mag             [2][]float64 // ref.WinogradMag for m = 2, 4
}

func newWinoData(r *rand.Rand, c convCase, i int) *winoData {
	oh, ow := ref.ConvGeom(c).Out()
	d := &winoData{x: randSlice(r, c.N*c.C*c.H*c.W), w: randSlice(r, c.M*c.C*9)}
	if i%3 != 1 {
		d.bias = randSlice(r, c.M)
	}
	if i%4 >= 2 {
		d.res = randSlice(r, c.N*c.M*oh*ow)
	}
	d.want, _ = ref.Conv2D(ref.ConvGeom(c), d.x, d.w, d.bias, d.res)
	for mi, m := range []int{2, 4} {
		d.mag[mi] = ref.WinogradMag(ref.ConvGeom(c), m, d.x, d.w, d.bias, d.res)
	}
	return d
}

func TestWinograd(t *testing.T) {
	pools := testPools(t)
	cases := winoCases()
	data := make([]*winoData, len(cases))
	r := rand.New(rand.NewPCG(21, 22))
	for i, c := range cases {
		data[i] = newWinoData(r, c, i)
	}
	savedBudget := winoPassFloats
	t.Cleanup(func() { winoPassFloats = savedBudget })
	withTuning(t, func(t *testing.T, cfg string) {
		for _, tier := range Available() {
			k := ForTier(tier)
			t.Run(tier.String(), func(t *testing.T) {
				for _, budget := range []int{savedBudget, 1} { // one pass; a pass per row of tiles
					winoPassFloats = budget
					for i, c := range cases {
						for _, algo := range []ConvAlgo{ConvWinograd2, ConvWinograd4} {
							winoCheck(t, k, pools, c, data[i], algo, testActs[i%len(testActs)], budget)
						}
					}
				}
				winoPassFloats = savedBudget
			})
		}
	})
}

// winoCheck runs c with algo on every pool against the oracle, with
// guards, and checks that the results are bit-identical across pools.
func winoCheck(t *testing.T, k *Kernels, pools []Parallel, c convCase, d *winoData, algo ConvAlgo, act Act, budget int) {
	t.Helper()
	p := c.params()
	p.Algo = algo
	pc, err := k.PrepareConv(p, d.w, d.bias)
	if err != nil {
		t.Fatalf("%v %v: %v", c, algo, err)
	}
	wc := pc.wino
	if wc == nil || wc.m != map[ConvAlgo]int{ConvWinograd2: 2, ConvWinograd4: 4}[algo] {
		t.Fatalf("%v %v: not prepared for Winograd", c, algo)
	}
	mag := d.mag[winoIndex(wc.m)]
	xc := append([]float32(nil), d.x...)
	var first []float32
	for pi, par := range pools {
		what := fmt.Sprintf("%s %s %v %v act=%v res=%v bias=%v threads=%d budget=%d (chunk %d band %d)",
			k.Gemm.ID, wc.tr.ID, c, algo, act, d.res != nil, d.bias != nil, testThreads[pi], budget, wc.chunk, wc.band)
		y, all := guarded(len(d.want))
		if err := pc.Run(d.x, y, d.res, act, par); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		checkGuards(t, what, all, func(int) bool { return true })
		checkClose(t, what, y, d.want, mag, c.C+15, act)
		for j := range xc {
			if math.Float32bits(xc[j]) != math.Float32bits(d.x[j]) {
				t.Fatalf("%s: input modified at %d", what, j)
			}
		}
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

// TestWinogradTransforms checks each tier's transforms against
// Bᵀ d B and Aᵀ m A in float64 (ref.Transform2D), tolerance ref.Tol(6,
// magnitude) (at most 3 roundings per side), for row lengths around the
// lane groups, with guards around and between the rows they write.
func TestWinogradTransforms(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tier := range Available() {
		k := ForTier(tier)
		for mi, m := range []int{2, 4} {
			tr := k.Winograd[mi]
			if tr.M != m || !strings.Contains(tr.ID, fmt.Sprintf("wino%dx%d", m, m)) {
				t.Fatalf("%v: Winograd[%d] is %s with M=%d", tier, mi, tr.ID, tr.M)
			}
			bt, _, at := ref.WinogradMatrices(m)
			a := m + 2
			for _, n := range []int{0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 50} {
				// Input transform: a rows of input, a² rows of n outputs.
				what := fmt.Sprintf("%s n=%d", tr.ID, n)
				lds := m*roundUp(n, winoGroup) + winoGroup + 3
				src := randSlice(r, (a-1)*lds+m*roundUp(n, winoGroup)+winoGroup)
				ldd := n + 5
				dst, all := guarded((a*a-1)*ldd + n)
				tr.In(dst, ldd, src, lds, n)
				checkGuards(t, what+" In", all, func(i int) bool { return i%ldd < n })
				d := make([][]float64, a)
				for i := range d {
					d[i] = make([]float64, a)
				}
				for tt := 0; tt < n; tt++ {
					for i := 0; i < a; i++ {
						for j := 0; j < a; j++ {
							d[i][j] = float64(src[i*lds+m*tt+j])
						}
					}
					want, mag := ref.Transform2D(bt, d, bt, false), ref.Transform2D(bt, d, bt, true)
					for q := 0; q < a*a; q++ {
						got := float64(dst[q*ldd+tt])
						if diff := math.Abs(got - want[q/a][q%a]); !(diff <= ref.Tol(6, mag[q/a][q%a])) {
							t.Fatalf("%s In: tile %d, (ξ,ν) = (%d,%d): %v, want %v", what, tt, q/a, q%a, got, want[q/a][q%a])
						}
					}
				}
				// Output transform: a² rows of n tiles, m rows of m·n outputs.
				lds = roundUp(n, winoGroup) + 2
				src = randSlice(r, (a*a-1)*lds+roundUp(n, winoGroup))
				w := m * roundUp(n, winoGroup)
				ldd = w + 3
				dst, all = guarded((m-1)*ldd + w)
				tr.Out(dst, ldd, src, lds, n)
				checkGuards(t, what+" Out", all, func(i int) bool { return i%ldd < w })
				for tt := 0; tt < n; tt++ {
					for i := 0; i < a; i++ {
						for j := 0; j < a; j++ {
							d[i][j] = float64(src[(i*a+j)*lds+tt])
						}
					}
					want, mag := ref.Transform2D(at, d, at, false), ref.Transform2D(at, d, at, true)
					for i := 0; i < m; i++ {
						for j := 0; j < m; j++ {
							got := float64(dst[i*ldd+m*tt+j])
							if diff := math.Abs(got - want[i][j]); !(diff <= ref.Tol(6, mag[i][j])) {
								t.Fatalf("%s Out: tile %d, (%d,%d): %v, want %v", what, tt, i, j, got, want[i][j])
							}
						}
					}
				}
			}
		}
	}
}

// TestWinogradTransformPanics checks that the transforms refuse slices
// without the slack they read and write.
func TestWinogradTransformPanics(t *testing.T) {
	for _, tier := range Available() {
		for _, tr := range ForTier(tier).Winograd {
			a := tr.M + 2
			n := 5
			lds := tr.M*roundUp(n, winoGroup) + winoGroup
			for name, f := range map[string]func(){
				"In src":  func() { tr.In(make([]float32, a*a*n), n, make([]float32, a*lds-1), lds, n) },
				"In dst":  func() { tr.In(make([]float32, a*a*n-1), n, make([]float32, a*lds), lds, n) },
				"In ldd":  func() { tr.In(make([]float32, a*a*n), n-1, make([]float32, a*lds), lds, n) },
				"Out src": func() { tr.Out(make([]float32, tr.M*lds), lds, make([]float32, a*a*16-1), 16, n) },
				"Out dst": func() { tr.Out(make([]float32, tr.M*tr.M*16-1), tr.M*16, make([]float32, a*a*16), 16, n) },
				"Out ldd": func() { tr.Out(make([]float32, tr.M*lds), tr.M*n, make([]float32, a*a*16), 16, n) },
			} {
				func() {
					defer func() {
						if recover() == nil {
							t.Errorf("%s %s: no panic", tr.ID, name)
						}
					}()
					f()
				}()
			}
		}
	}
}

func TestWinogradChoice(t *testing.T) {
	k := Best()
	w := make([]float32, 32*32*9)
	for _, c := range []struct {
		p    ConvParams
		algo ConvAlgo
		ok   bool
	}{
		{ConvParams{C: 32, H: 8, W: 8, M: 32, KH: 3, KW: 3, StrideH: 2}, ConvWinograd4, false},
		{ConvParams{C: 32, H: 8, W: 8, M: 32, KH: 3, KW: 3, DilW: 2}, ConvWinograd2, false},
		{ConvParams{C: 32, H: 8, W: 8, M: 32, KH: 3, KW: 3, Group: 2}, ConvWinograd2, false},
		{ConvParams{C: 32, H: 8, W: 8, M: 32, KH: 3, KW: 3, Group: 32}, ConvWinograd2, false},
		{ConvParams{C: 32, H: 8, W: 8, M: 32, KH: 1, KW: 1}, ConvWinograd4, false},
		{ConvParams{C: 32, H: 8, W: 8, M: 32, KH: 3, KW: 3}, ConvAlgo(7), false},
		{ConvParams{C: 32, H: 8, W: 8, M: 32, KH: 3, KW: 3}, ConvWinograd4, true},
		{ConvParams{C: 32, H: 8, W: 8, M: 32, KH: 3, KW: 3}, ConvDirect, true},
	} {
		p := c.p
		p.Algo = c.algo
		nw := p.M * p.C * p.KH * p.KW / max(1, p.Group)
		pc, err := k.PrepareConv(p, w[:nw], nil)
		if (err == nil) != c.ok {
			t.Errorf("%+v: err = %v", p, err)
			continue
		}
		if err == nil && (pc.wino != nil) != (c.algo == ConvWinograd4) {
			t.Errorf("%+v: Winograd = %v", p, pc.wino != nil)
		}
	}
	// Auto's choices that hold on every tier (see winoChoose).
	for _, tier := range Available() {
		k := ForTier(tier)
		for _, c := range []struct {
			p ConvParams
			m int // 0: direct
		}{
			{ConvParams{C: 64, H: 56, W: 56, M: 64, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}, 4},
			{ConvParams{C: 16, H: 55, W: 55, M: 64, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}, 4},
			{ConvParams{C: 128, H: 28, W: 28, M: 128, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}, 4},
			{ConvParams{C: 512, H: 7, W: 7, M: 512, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}, 2},
			{ConvParams{C: 64, H: 5, W: 5, M: 64, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}, 2},
			{ConvParams{C: 3, H: 224, W: 224, M: 64, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}, 0},
			{ConvParams{C: 256, H: 2, W: 2, M: 256, KH: 3, KW: 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1}, 0},
		} {
			p, err := c.p.normalize()
			if err != nil {
				t.Fatal(err)
			}
			if m := winoChoose(&p, k); m != c.m {
				t.Errorf("%v: %+v: auto chose m = %d, want %d", tier, c.p, m, c.m)
			}
		}
	}
	// Auto never takes Winograd where it cannot.
	for _, p := range []ConvParams{
		{C: 64, H: 56, W: 56, M: 64, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1},
		{C: 64, H: 56, W: 56, M: 64, KH: 3, KW: 3, Group: 2},
		{C: 64, H: 56, W: 56, M: 64, KH: 1, KW: 1},
	} {
		nw := p.M * p.C * p.KH * p.KW / max(1, p.Group)
		pc, err := k.PrepareConv(p, make([]float32, nw), nil)
		if err != nil || pc.wino != nil {
			t.Errorf("%+v: err %v, Winograd %v", p, err, err == nil && pc.wino != nil)
		}
	}
}

func TestWinogradAllocs(t *testing.T) {
	if poolsDrop() {
		t.Skip("sync.Pool drops items (race detector): allocation counts are meaningless")
	}
	k := Best()
	r := rand.New(rand.NewPCG(9, 10))
	pool := NewPool(2)
	defer pool.Close()
	for _, algo := range []ConvAlgo{ConvWinograd2, ConvWinograd4} {
		c := cc(16, 14, 14, 24, 3, 1, 1)
		c.N = 2
		p := c.params()
		p.Algo = algo
		pc, err := k.PrepareConv(p, randSlice(r, c.M*c.C*9), randSlice(r, c.M))
		if err != nil {
			t.Fatal(err)
		}
		x := randSlice(r, c.N*c.C*c.H*c.W)
		y := make([]float32, c.N*c.M*c.H*c.W)
		res := randSlice(r, len(y))
		for _, par := range []Parallel{nil, pool} {
			run := func() {
				if err := pc.Run(x, y, res, Act{Kind: ActRelu}, par); err != nil {
					t.Fatal(err)
				}
			}
			run()
			if a := testing.AllocsPerRun(20, run); a != 0 {
				t.Errorf("%v with %v: %v allocations per Run", algo, par, a)
			}
		}
	}
}

// TestWinogradErrorGrowth measures (and logs, with -v) the largest error
// of the direct and Winograd convolutions relative to the direct
// magnitude Σ|x·w| on random data, and checks that F(4×4) stays far
// inside the models' relative tolerance of 1e-3.
func TestWinogradErrorGrowth(t *testing.T) {
	k := Best()
	r := rand.New(rand.NewPCG(30, 31))
	for _, c := range []convCase{cc(64, 12, 12, 16, 3, 1, 1), cc(256, 8, 8, 16, 3, 1, 1), cc(512, 6, 6, 8, 3, 1, 1)} {
		x, w := randSlice(r, c.C*c.H*c.W), randSlice(r, c.M*c.C*9)
		want, mag := ref.Conv2D(ref.ConvGeom(c), x, w, nil, nil)
		line := fmt.Sprintf("K=%d:", c.C*9)
		for _, algo := range []ConvAlgo{ConvDirect, ConvWinograd2, ConvWinograd4} {
			p := c.params()
			p.Algo = algo
			y := make([]float32, len(want))
			if err := k.Conv2D(p, x, w, nil, y, nil, Act{}, nil); err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i := range y {
				worst = max(worst, math.Abs(float64(y[i])-want[i])/mag[i])
			}
			line += fmt.Sprintf("  %v %.2g", algo, worst)
			if worst > 1e-4 {
				t.Errorf("%v %v: error %.3g of the magnitude", c, algo, worst)
			}
		}
		t.Log(line)
	}
}
