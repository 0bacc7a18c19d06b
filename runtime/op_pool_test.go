package runtime

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// poolCase describes one windowed pooling configuration; nil slices mean
// "attribute absent".
type poolCase struct {
	name               string
	x, kernel          []int
	strides, pads, dil []int
	autoPad            string
	ceil, countPad     bool
	p                  int // LpPool p; 0 = absent (default 2)
	float64s, colMajor bool
}

func (c poolCase) attrs(op string) []*ir.Attr {
	as := []*ir.Attr{wtInts("kernel_shape", c.kernel), wtInts("strides", c.strides), wtInts("pads", c.pads), wtInts("dilations", c.dil)}
	if c.autoPad != "" {
		as = append(as, ir.StringAttr("auto_pad", c.autoPad))
	}
	if c.ceil {
		as = append(as, ir.IntAttr("ceil_mode", 1))
	}
	switch op {
	case "AveragePool":
		if c.countPad {
			as = append(as, ir.IntAttr("count_include_pad", 1))
		}
	case "LpPool":
		if c.p != 0 {
			as = append(as, ir.IntAttr("p", int64(c.p)))
		}
	case "MaxPool":
		if c.colMajor {
			as = append(as, ir.IntAttr("storage_order", 1))
		}
	}
	return as
}

// naivePoolResult holds a naive pooling computation's outputs.
type naivePoolResult struct {
	shape          []int
	max, avg, lp   []float64
	rowIdx, colIdx []int64
}

// naivePool pools x directly from the ONNX definitions: for every output
// position it walks every kernel tap, classifies it as inside the input,
// inside the padded input, or beyond it, and reduces.
func naivePool(c poolCase, x []float64) naivePoolResult {
	r := len(c.x) - 2
	strides, dil := c.strides, c.dil
	if strides == nil {
		strides = wtOnes(r)
	}
	if dil == nil {
		dil = wtOnes(r)
	}
	inSp := c.x[2:]
	padB, padE := make([]int, r), make([]int, r)
	switch c.autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		for a := range r {
			padB[a], padE[a] = wtSamePads(c.autoPad == "SAME_UPPER", inSp[a], c.kernel[a], strides[a], dil[a])
		}
	case "VALID":
	default:
		if c.pads != nil {
			copy(padB, c.pads[:r])
			copy(padE, c.pads[r:])
		}
	}
	outSp := make([]int, r)
	for a := range r {
		span := float64(inSp[a]+padB[a]+padE[a]-((c.kernel[a]-1)*dil[a]+1)) / float64(strides[a])
		if c.ceil {
			outSp[a] = int(math.Ceil(span)) + 1
			// A last window starting inside the end padding is dropped.
			if (outSp[a]-1)*strides[a] >= inSp[a]+padB[a] {
				outSp[a]--
			}
		} else {
			outSp[a] = int(math.Floor(span)) + 1
		}
	}
	p := float64(c.p)
	if p == 0 {
		p = 2
	}
	N, C := c.x[0], c.x[1]
	res := naivePoolResult{shape: append([]int{N, C}, outSp...)}
	inPlane := prod(inSp)
	for n := range N {
		for ch := range C {
			plane := n*C + ch
			o := make([]int, r)
			for {
				best, bestRow, bestCol := math.Inf(-1), int64(-1), int64(-1)
				sum, lp, inInput, inPadded := 0.0, 0.0, 0, 0
				k := make([]int, r)
				for {
					in := make([]int, r)
					input, padded := true, true
					for a := range r {
						in[a] = o[a]*strides[a] - padB[a] + k[a]*dil[a]
						if in[a] < 0 || in[a] >= inSp[a] {
							input = false
						}
						if in[a] < -padB[a] || in[a] >= inSp[a]+padE[a] {
							padded = false
						}
					}
					if padded {
						inPadded++
					}
					if input {
						inInput++
						v := x[plane*inPlane+wtFlat(in, inSp)]
						sum += v
						lp += math.Pow(math.Abs(v), p)
						if bestRow < 0 || v > best {
							best = v
							bestRow = int64(plane*inPlane + wtFlat(in, inSp))
							col, mul := 0, 1
							for a := range r {
								col += in[a] * mul
								mul *= inSp[a]
							}
							bestCol = int64(plane*inPlane + col)
						}
					}
					if !wtOdometer(k, c.kernel) {
						break
					}
				}
				div := inInput
				if c.countPad {
					div = inPadded
				}
				res.max = append(res.max, best)
				res.rowIdx = append(res.rowIdx, bestRow)
				res.colIdx = append(res.colIdx, bestCol)
				res.avg = append(res.avg, sum/float64(div))
				res.lp = append(res.lp, math.Pow(lp, 1/p))
				if !wtOdometer(o, outSp) {
					break
				}
			}
		}
	}
	return res
}

var poolCases = []poolCase{
	{name: "1-D default", x: []int{1, 3, 32}, kernel: []int{2}},
	{name: "2-D strides", x: []int{2, 3, 9, 9}, kernel: []int{3, 3}, strides: []int{2, 2}},
	{name: "2-D symmetric pads", x: []int{1, 2, 5, 5}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}},
	{name: "asymmetric pads", x: []int{1, 1, 5, 6}, kernel: []int{3, 2}, pads: []int{2, 0, 0, 1}},
	{name: "asymmetric pads counting padding", x: []int{1, 1, 5, 6}, kernel: []int{3, 2}, pads: []int{2, 0, 0, 1}, countPad: true},
	{name: "dilations", x: []int{1, 1, 6, 7}, kernel: []int{2, 3}, dil: []int{2, 2}},
	{name: "dilations, strides and pads", x: []int{2, 2, 9, 8}, kernel: []int{3, 2}, dil: []int{2, 3}, strides: []int{2, 1}, pads: []int{1, 2, 2, 1}},
	{name: "ceil mode", x: []int{1, 1, 4, 4}, kernel: []int{3, 3}, strides: []int{2, 2}, ceil: true},
	{name: "ceil mode with pads counting padding", x: []int{1, 1, 4, 5}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 1, 1}, ceil: true, countPad: true},
	{name: "ceil mode window past the padded input counting padding", x: []int{1, 2, 7, 6}, kernel: []int{3, 2}, strides: []int{3, 3}, pads: []int{0, 1, 1, 0}, ceil: true, countPad: true},
	{name: "ceil mode dropping a window that starts in the end padding", x: []int{1, 1, 5, 5}, kernel: []int{2, 2}, strides: []int{2, 2}, pads: []int{0, 0, 1, 1}, ceil: true},
	{name: "ceil mode with dilation", x: []int{1, 1, 8, 9}, kernel: []int{2, 2}, strides: []int{3, 2}, dil: []int{2, 3}, ceil: true},
	{name: "SAME_UPPER with stride", x: []int{1, 2, 5, 6}, kernel: []int{3, 2}, strides: []int{2, 2}, autoPad: "SAME_UPPER"},
	{name: "SAME_LOWER", x: []int{1, 2, 6, 6}, kernel: []int{2, 2}, autoPad: "SAME_LOWER"},
	{name: "SAME_LOWER counting padding", x: []int{1, 2, 6, 5}, kernel: []int{3, 2}, strides: []int{2, 1}, autoPad: "SAME_LOWER", countPad: true},
	{name: "VALID ignores pads", x: []int{1, 1, 6, 6}, kernel: []int{3, 3}, autoPad: "VALID", pads: []int{1, 1, 1, 1}},
	{name: "kernel equal to the input", x: []int{2, 3, 4, 5}, kernel: []int{4, 5}},
	{name: "stride larger than the kernel", x: []int{1, 2, 8, 9}, kernel: []int{2, 2}, strides: []int{3, 4}},
	{name: "1x1 kernel with stride", x: []int{1, 2, 5, 5}, kernel: []int{1, 1}, strides: []int{2, 2}},
	{name: "3-D", x: []int{1, 2, 4, 5, 6}, kernel: []int{2, 3, 2}, strides: []int{1, 2, 2}, pads: []int{1, 0, 1, 0, 1, 0}},
	{name: "4-D spatial", x: []int{1, 1, 3, 4, 3, 4}, kernel: []int{2, 2, 2, 3}, pads: []int{0, 1, 0, 1, 1, 0, 1, 0}},
	{name: "float64 with pads and ceil", x: []int{2, 2, 5, 7}, kernel: []int{3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 0, 1}, ceil: true, float64s: true},
	{name: "column-major indices", x: []int{2, 2, 5, 7}, kernel: []int{2, 3}, strides: []int{2, 2}, pads: []int{1, 0, 0, 1}, colMajor: true},
	{name: "column-major indices in 3-D", x: []int{1, 2, 4, 3, 5}, kernel: []int{2, 2, 2}, strides: []int{2, 1, 2}, colMajor: true},
	{name: "LpPool p=1", x: []int{1, 2, 5, 5}, kernel: []int{2, 2}, pads: []int{1, 0, 0, 1}, p: 1},
	{name: "LpPool p=3", x: []int{1, 2, 5, 5}, kernel: []int{3, 2}, strides: []int{2, 1}, p: 3},
}

func TestPoolsMatchNaivePooling(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, c := range poolCases {
		for _, op := range []string{"MaxPool", "AveragePool", "LpPool"} {
			t.Run(op+" "+c.name, func(t *testing.T) {
				x := wtRand(t, rng, c.x...)
				want := naivePool(c, wtF64(x))
				tol := 1e-5
				if c.float64s {
					x = wtToF64(t, x)
					tol = 1e-12
				}
				nout := 1
				if op == "MaxPool" {
					nout = 2
				}
				got, err := execNode(wtNode(op, 1, nout, c.attrs(op)...), []*ir.Tensor{x})
				if err != nil {
					t.Fatal(err)
				}
				switch op {
				case "MaxPool":
					wtClose(t, got[0], want.shape, want.max, tol)
					wantIdx := want.rowIdx
					if c.colMajor {
						wantIdx = want.colIdx
					}
					idx := got[1].I64()
					if idx == nil || len(idx) != len(wantIdx) {
						t.Fatalf("indices output is %v, want %d int64 values", got[1], len(wantIdx))
					}
					for i := range idx {
						if idx[i] != wantIdx[i] {
							t.Fatalf("index %d = %d, want %d (all: %v, want %v)", i, idx[i], wantIdx[i], idx, wantIdx)
						}
					}
				case "AveragePool":
					wtClose(t, got[0], want.shape, want.avg, tol)
				case "LpPool":
					wtClose(t, got[0], want.shape, want.lp, tol)
				}
			})
		}
	}
}

func TestAveragePoolHandComputedCeilModeDivisors(t *testing.T) {
	// x = [1 2 3 4], kernel 3, stride 2, pads 1/1, ceil mode: windows cover
	// [-1..1], [1..3], [3..5]; position 4 is end padding, 5 lies beyond the
	// padded input and never counts.
	x, _ := ir.FromFloat32([]int{1, 1, 4}, []float32{1, 2, 3, 4})
	for _, tc := range []struct {
		name     string
		countPad int64
		want     []float64
	}{
		{"excluding padding", 0, []float64{1.5, 3, 4}},
		{"including padding", 1, []float64{1, 3, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := wtNode("AveragePool", 1, 1, wtInts("kernel_shape", []int{3}), wtInts("strides", []int{2}),
				wtInts("pads", []int{1, 1}), ir.IntAttr("ceil_mode", 1), ir.IntAttr("count_include_pad", tc.countPad))
			got, err := execNode(n, []*ir.Tensor{x})
			if err != nil {
				t.Fatal(err)
			}
			wtClose(t, got[0], []int{1, 1, 3}, tc.want, 1e-7)
		})
	}
}

func TestMaxPoolHandComputedIndices(t *testing.T) {
	// 3x3 plane, kernel 2, stride 1; the largest value of each window and
	// its flat index in row-major and column-major order.
	//   1 9 2
	//   4 3 8
	//   7 5 6
	x, _ := ir.FromFloat32([]int{1, 1, 3, 3}, []float32{1, 9, 2, 4, 3, 8, 7, 5, 6})
	for _, tc := range []struct {
		order int64
		want  []int64
	}{
		{0, []int64{1, 1, 6, 5}},
		{1, []int64{3, 3, 2, 7}},
	} {
		n := wtNode("MaxPool", 1, 2, wtInts("kernel_shape", []int{2, 2}), ir.IntAttr("storage_order", tc.order))
		got, err := execNode(n, []*ir.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		wtClose(t, got[0], []int{1, 1, 2, 2}, []float64{9, 9, 7, 8}, 0)
		if idx := got[1].I64(); len(idx) != 4 || idx[0] != tc.want[0] || idx[1] != tc.want[1] || idx[2] != tc.want[2] || idx[3] != tc.want[3] {
			t.Errorf("storage_order %d: indices %v, want %v", tc.order, idx, tc.want)
		}
	}
}

func TestMaxPoolIntegerInputs(t *testing.T) {
	c := poolCase{x: []int{2, 1, 5, 5}, kernel: []int{3, 3}, pads: []int{1, 1, 1, 1}, strides: []int{2, 2}}
	rng := rand.New(rand.NewPCG(13, 14))
	t.Run("uint8", func(t *testing.T) {
		data := make([]uint8, prod(c.x))
		xf := make([]float64, len(data))
		for i := range data {
			data[i] = uint8(rng.IntN(256))
			xf[i] = float64(data[i])
		}
		x, _ := ir.FromSlice(c.x, data)
		got, err := execNode(wtNode("MaxPool", 1, 1, c.attrs("MaxPool")...), []*ir.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		want := naivePool(c, xf)
		wtClose(t, got[0], want.shape, want.max, 0)
	})
	t.Run("int8", func(t *testing.T) {
		data := make([]int8, prod(c.x))
		xf := make([]float64, len(data))
		for i := range data {
			data[i] = int8(rng.IntN(256) - 128)
			xf[i] = float64(data[i])
		}
		x, _ := ir.FromSlice(c.x, data)
		got, err := execNode(wtNode("MaxPool", 1, 1, c.attrs("MaxPool")...), []*ir.Tensor{x})
		if err != nil {
			t.Fatal(err)
		}
		want := naivePool(c, xf)
		wtClose(t, got[0], want.shape, want.max, 0)
	})
}

func TestMaxPoolOmittedIndicesOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	n := wtNode("MaxPool", 1, 2, wtInts("kernel_shape", []int{2, 2}))
	n.Outputs[1] = ""
	got, err := execNode(n, []*ir.Tensor{wtRand(t, rng, 1, 1, 3, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Len() != 4 {
		t.Fatalf("got %v, want a 2x2 Y and an (ignored) Indices output", got)
	}
}

func TestPoolsRejectImpossibleConfigurations(t *testing.T) {
	i64, _ := ir.FromSlice([]int{1, 1, 3, 3}, make([]int64, 9))
	cases := []struct {
		name  string
		op    string
		x     []int
		in    *ir.Tensor // overrides x
		nout  int
		attrs []*ir.Attr
		want  string
	}{
		{"missing kernel_shape", "MaxPool", []int{1, 1, 3, 3}, nil, 1, nil, "kernel_shape attribute is required"},
		{"kernel larger than the padded input", "AveragePool", []int{1, 1, 3, 3}, nil, 1, []*ir.Attr{wtInts("kernel_shape", []int{2, 5}), wtInts("pads", []int{0, 1, 0, 0})}, "effective kernel 5"},
		{"dilated kernel larger than the input", "MaxPool", []int{1, 1, 4, 4}, nil, 1, []*ir.Attr{wtInts("kernel_shape", []int{2, 2}), wtInts("dilations", []int{4, 1})}, "effective kernel 5"},
		{"stride 0", "LpPool", []int{1, 1, 3, 3}, nil, 1, []*ir.Attr{wtInts("kernel_shape", []int{2, 2}), wtInts("strides", []int{0, 1})}, "strides[0] = 0"},
		{"kernel_shape rank differs from the input", "MaxPool", []int{1, 1, 3, 3}, nil, 1, []*ir.Attr{wtInts("kernel_shape", []int{2})}, "has 1 axes"},
		{"zero kernel size", "MaxPool", []int{1, 1, 3, 3}, nil, 1, []*ir.Attr{wtInts("kernel_shape", []int{2, 0})}, "size 0 on spatial axis 1"},
		{"storage_order 2", "MaxPool", []int{1, 1, 3, 3}, nil, 2, []*ir.Attr{wtInts("kernel_shape", []int{2, 2}), ir.IntAttr("storage_order", 2)}, "storage_order 2"},
		{"ceil_mode 2", "MaxPool", []int{1, 1, 3, 3}, nil, 1, []*ir.Attr{wtInts("kernel_shape", []int{2, 2}), ir.IntAttr("ceil_mode", 2)}, "ceil_mode 2"},
		{"input without spatial axes", "AveragePool", []int{1, 3}, nil, 1, []*ir.Attr{wtInts("kernel_shape", []int{2})}, "rank 3 or more"},
		{"integer input to AveragePool", "AveragePool", nil, i64, 1, []*ir.Attr{wtInts("kernel_shape", []int{2, 2})}, "int64"},
		{"integer input to MaxPool", "MaxPool", nil, i64, 1, []*ir.Attr{wtInts("kernel_shape", []int{2, 2})}, "int64"},
		{"LpPool with p = 0", "LpPool", []int{1, 1, 3, 3}, nil, 1, []*ir.Attr{wtInts("kernel_shape", []int{2, 2}), ir.IntAttr("p", 0)}, "p = 0"},
		{"MaxPool with three outputs", "MaxPool", []int{1, 1, 3, 3}, nil, 3, []*ir.Attr{wtInts("kernel_shape", []int{2, 2})}, "3 outputs"},
		{"unknown auto_pad", "MaxPool", []int{1, 1, 3, 3}, nil, 1, []*ir.Attr{wtInts("kernel_shape", []int{2, 2}), ir.StringAttr("auto_pad", "FULL")}, `auto_pad "FULL"`},
		{"GlobalAveragePool on a vector", "GlobalAveragePool", []int{3}, nil, 1, nil, "rank 2 or more"},
		{"GlobalLpPool with negative p", "GlobalLpPool", []int{1, 1, 2}, nil, 1, []*ir.Attr{ir.IntAttr("p", -1)}, "p = -1"},
	}
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := c.in
			if x == nil {
				x = wtRand(t, rng, c.x...)
			}
			_, err := execNode(wtNode(c.op, 1, c.nout, c.attrs...), []*ir.Tensor{x})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestGlobalPoolsReduceEverySpatialPlane(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, shape := range [][]int{{2, 3, 5}, {1, 2, 3, 4}, {2, 2, 2, 3, 2}, {2, 3}} {
		for _, f64 := range []bool{false, true} {
			x := wtRand(t, rng, shape...)
			xf := wtF64(x)
			if f64 {
				x = wtToF64(t, x)
			}
			planes := shape[0] * shape[1]
			sp := len(xf) / planes
			var avg, mx, l2, l3 []float64
			for pl := range planes {
				s, m, q2, q3 := 0.0, math.Inf(-1), 0.0, 0.0
				for _, v := range xf[pl*sp : (pl+1)*sp] {
					s += v
					m = math.Max(m, v)
					q2 += v * v
					q3 += math.Abs(v * v * v)
				}
				avg = append(avg, s/float64(sp))
				mx = append(mx, m)
				l2 = append(l2, math.Sqrt(q2))
				l3 = append(l3, math.Cbrt(q3))
			}
			outShape := append([]int(nil), shape...)
			for i := 2; i < len(outShape); i++ {
				outShape[i] = 1
			}
			for _, tc := range []struct {
				op   string
				p    int64
				want []float64
			}{
				{"GlobalAveragePool", 0, avg}, {"GlobalMaxPool", 0, mx}, {"GlobalLpPool", 0, l2}, {"GlobalLpPool", 3, l3},
			} {
				var attrs []*ir.Attr
				if tc.p != 0 {
					attrs = append(attrs, ir.IntAttr("p", tc.p))
				}
				got, err := execNode(wtNode(tc.op, 1, 1, attrs...), []*ir.Tensor{x})
				if err != nil {
					t.Fatalf("%s on %v: %v", tc.op, shape, err)
				}
				wtClose(t, got[0], outShape, tc.want, 1e-6)
			}
		}
	}
}

func TestGlobalMaxPoolOnUint8(t *testing.T) {
	x, _ := ir.FromSlice([]int{1, 2, 2, 2}, []uint8{3, 200, 7, 0, 0, 1, 255, 9})
	got, err := execNode(wtNode("GlobalMaxPool", 1, 1), []*ir.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	wtClose(t, got[0], []int{1, 2, 1, 1}, []float64{200, 255}, 0)
}

func TestMaxPoolsPropagateNaN(t *testing.T) {
	nan := float32(math.NaN())
	x, _ := ir.FromFloat32([]int{1, 1, 1, 4}, []float32{1, nan, 3, 2})
	got, err := execNode(wtNode("MaxPool", 1, 2, wtInts("kernel_shape", []int{1, 2})), []*ir.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	wtClose(t, got[0], []int{1, 1, 1, 3}, []float64{math.NaN(), math.NaN(), 3}, 0)
	if idx := got[1].I64(); idx[0] != 1 || idx[1] != 1 || idx[2] != 2 {
		t.Errorf("indices %v, want [1 1 2]", idx)
	}
	got, err = execNode(wtNode("GlobalMaxPool", 1, 1), []*ir.Tensor{x})
	if err != nil {
		t.Fatal(err)
	}
	wtClose(t, got[0], []int{1, 1, 1, 1}, []float64{math.NaN()}, 0)
}
