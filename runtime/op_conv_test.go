package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// Helpers shared by the Conv, pooling and normalization tests (prefixed wt
// for "window test").

// wtNode builds a node with nin inputs and nout outputs named x0.. and y0...
func wtNode(op string, nin, nout int, attrs ...*ir.Attr) *ir.Node {
	n := &ir.Node{Op: op}
	for i := range nin {
		n.Inputs = append(n.Inputs, fmt.Sprintf("x%d", i))
	}
	for i := range nout {
		n.Outputs = append(n.Outputs, fmt.Sprintf("y%d", i))
	}
	for _, a := range attrs {
		if a != nil {
			n.SetAttr(a)
		}
	}
	return n
}

// wtInts returns an ints attribute, or nil (no attribute) for a nil slice.
func wtInts(name string, v []int) *ir.Attr {
	if v == nil {
		return nil
	}
	s := make([]int64, len(v))
	for i, e := range v {
		s[i] = int64(e)
	}
	return ir.IntsAttr(name, s)
}

// wtRand returns a float32 tensor of the given shape with values in [-1, 1).
func wtRand(t *testing.T, rng *rand.Rand, shape ...int) *ir.Tensor {
	t.Helper()
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = float32(rng.Float64()*2 - 1)
	}
	x, err := ir.FromFloat32(shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// wtF64 converts a float32 tensor's data to a float64 slice.
func wtF64(x *ir.Tensor) []float64 {
	out := make([]float64, x.Len())
	for i := range out {
		out[i] = x.Float64At(i)
	}
	return out
}

// wtToF64 converts a float32 tensor to a float64 tensor.
func wtToF64(t *testing.T, x *ir.Tensor) *ir.Tensor {
	t.Helper()
	if x == nil {
		return nil
	}
	y, err := ir.FromSlice(x.Shape, wtF64(x))
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// wtClose fails unless got has shape wantShape and every element is within
// tol (absolute plus relative) of want.
func wtClose(t *testing.T, got *ir.Tensor, wantShape []int, want []float64, tol float64) {
	t.Helper()
	if fmt.Sprint(got.Shape) != fmt.Sprint(wantShape) {
		t.Fatalf("output shape %v, want %v", got.Shape, wantShape)
	}
	if got.Len() != len(want) {
		t.Fatalf("output has %d elements, want %d", got.Len(), len(want))
	}
	bad := 0
	for i, w := range want {
		g := got.Float64At(i)
		if math.IsNaN(w) && math.IsNaN(g) {
			continue
		}
		if math.Abs(g-w) > tol*(1+math.Abs(w)) {
			if bad < 5 {
				t.Errorf("element %d = %v, want %v", i, g, w)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d elements differ", bad, len(want))
	}
}

// wtOdometer advances idx within dims row-major; false once it wraps.
func wtOdometer(idx, dims []int) bool {
	for a := len(idx) - 1; a >= 0; a-- {
		idx[a]++
		if idx[a] < dims[a] {
			return true
		}
		idx[a] = 0
	}
	return false
}

// wtFlat is the row-major flat index of idx within dims.
func wtFlat(idx, dims []int) int {
	f := 0
	for a := range dims {
		f = f*dims[a] + idx[a]
	}
	return f
}

// wtOnes returns n ones.
func wtOnes(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// wtSamePads computes SAME_UPPER / SAME_LOWER padding directly from the ONNX
// definition: the output keeps ceil(in/stride) positions.
func wtSamePads(upper bool, in, k, s, d int) (int, int) {
	out := (in + s - 1) / s
	need := (out-1)*s + (k-1)*d + 1 - in
	if need < 0 {
		need = 0
	}
	small := need / 2
	if upper {
		return small, need - small
	}
	return need - small, small
}

// convCase describes one Conv configuration; nil slices mean "attribute
// absent".
type convCase struct {
	name             string
	x, w             []int
	bias             bool
	strides, pads    []int
	dilations        []int
	group            int
	autoPad          string
	kernelShape      bool // also set the kernel_shape attribute
	float64s         bool
	outputShapeT     []int // ConvTranspose only
	outputPaddingT   []int // ConvTranspose only
	outputShapeTFull bool  // ConvTranspose: give output_shape as N x M x D...
}

func (c convCase) attrs() []*ir.Attr {
	as := []*ir.Attr{wtInts("strides", c.strides), wtInts("pads", c.pads), wtInts("dilations", c.dilations)}
	if c.group != 0 {
		as = append(as, ir.IntAttr("group", int64(c.group)))
	}
	if c.autoPad != "" {
		as = append(as, ir.StringAttr("auto_pad", c.autoPad))
	}
	if c.kernelShape {
		as = append(as, wtInts("kernel_shape", c.w[2:]))
	}
	return as
}

// naiveConv is an independent float64 N-D convolution: every output element
// is a direct sum over its group's input channels and kernel taps, skipping
// taps that land in the padding.
func naiveConv(c convCase, x, w, b []float64) ([]int, []float64) {
	r := len(c.x) - 2
	strides, dil, group := c.strides, c.dilations, c.group
	if strides == nil {
		strides = wtOnes(r)
	}
	if dil == nil {
		dil = wtOnes(r)
	}
	if group == 0 {
		group = 1
	}
	padB, padE := make([]int, r), make([]int, r)
	switch c.autoPad {
	case "SAME_UPPER", "SAME_LOWER":
		for a := range r {
			padB[a], padE[a] = wtSamePads(c.autoPad == "SAME_UPPER", c.x[2+a], c.w[2+a], strides[a], dil[a])
		}
	case "VALID":
	default:
		if c.pads != nil {
			copy(padB, c.pads[:r])
			copy(padE, c.pads[r:])
		}
	}
	inSp, kSp := c.x[2:], c.w[2:]
	outSp := make([]int, r)
	for a := range r {
		outSp[a] = (inSp[a]+padB[a]+padE[a]-((kSp[a]-1)*dil[a]+1))/strides[a] + 1
	}
	N, C, M := c.x[0], c.x[1], c.w[0]
	cg, mg := C/group, M/group
	shape := append([]int{N, M}, outSp...)
	y := make([]float64, prod(shape))
	xs := append([]int{N, C}, inSp...)
	ws := c.w
	oi := 0
	for n := range N {
		for m := range M {
			g := m / mg
			o := make([]int, r)
			for {
				s := 0.0
				if b != nil {
					s = b[m]
				}
				for ci := range cg {
					ch := g*cg + ci
					k := make([]int, r)
					for {
						in := make([]int, r)
						inside := true
						for a := range r {
							in[a] = o[a]*strides[a] - padB[a] + k[a]*dil[a]
							if in[a] < 0 || in[a] >= inSp[a] {
								inside = false
							}
						}
						if inside {
							xv := x[wtFlat(append([]int{n, ch}, in...), xs)]
							wv := w[wtFlat(append([]int{m, ci}, k...), ws)]
							s += xv * wv
						}
						if !wtOdometer(k, kSp) {
							break
						}
					}
				}
				y[oi] = s
				oi++
				if !wtOdometer(o, outSp) {
					break
				}
			}
		}
	}
	return shape, y
}

func TestConvMatchesNaiveConvolution(t *testing.T) {
	cases := []convCase{
		{name: "1x1 kernel", x: []int{1, 3, 4, 5}, w: []int{2, 3, 1, 1}, bias: true},
		{name: "kernel equal to the input", x: []int{1, 2, 3, 3}, w: []int{4, 2, 3, 3}, bias: true},
		{name: "kernel equal to the input with kernel_shape given", x: []int{1, 2, 3, 3}, w: []int{4, 2, 3, 3}, kernelShape: true},
		{name: "stride larger than the kernel", x: []int{1, 1, 7, 8}, w: []int{1, 1, 2, 2}, strides: []int{3, 4}},
		{name: "dilation", x: []int{1, 2, 9, 9}, w: []int{3, 2, 3, 3}, dilations: []int{2, 3}, bias: true},
		{name: "dilation with padding and stride", x: []int{2, 2, 9, 8}, w: []int{3, 2, 3, 2}, dilations: []int{2, 3}, pads: []int{2, 1, 3, 2}, strides: []int{2, 3}},
		{name: "two groups", x: []int{2, 4, 6, 6}, w: []int{6, 2, 3, 3}, group: 2, bias: true},
		{name: "depthwise", x: []int{1, 3, 5, 5}, w: []int{3, 1, 3, 3}, group: 3, pads: []int{1, 1, 1, 1}},
		{name: "depthwise with channel multiplier", x: []int{1, 3, 5, 5}, w: []int{6, 1, 3, 3}, group: 3, bias: true},
		{name: "asymmetric pads", x: []int{1, 1, 5, 6}, w: []int{2, 1, 3, 2}, pads: []int{1, 0, 2, 1}},
		{name: "pads larger than the kernel", x: []int{1, 1, 3, 3}, w: []int{1, 1, 2, 2}, pads: []int{3, 0, 0, 4}},
		{name: "non-square input and kernel", x: []int{1, 2, 4, 7}, w: []int{2, 2, 2, 3}, strides: []int{1, 2}},
		{name: "batch of three", x: []int{3, 2, 5, 5}, w: []int{2, 2, 3, 3}, bias: true, pads: []int{1, 1, 1, 1}},
		{name: "1-D", x: []int{2, 3, 10}, w: []int{4, 3, 3}, strides: []int{2}, pads: []int{1, 2}, dilations: []int{2}, bias: true},
		{name: "3-D", x: []int{1, 2, 4, 5, 6}, w: []int{3, 2, 2, 3, 2}, pads: []int{1, 0, 1, 0, 1, 1}, strides: []int{1, 2, 1}, bias: true},
		{name: "3-D grouped with dilation", x: []int{2, 4, 5, 5, 5}, w: []int{2, 2, 2, 2, 2}, group: 2, dilations: []int{2, 1, 2}},
		{name: "4-D spatial", x: []int{1, 2, 3, 4, 3, 4}, w: []int{2, 2, 2, 2, 1, 3}, pads: []int{0, 1, 0, 1, 1, 0, 1, 0}},
		{name: "SAME_UPPER with stride 2", x: []int{1, 2, 5, 6}, w: []int{2, 2, 3, 3}, strides: []int{2, 2}, autoPad: "SAME_UPPER"},
		{name: "SAME_LOWER with stride 2", x: []int{1, 2, 5, 6}, w: []int{2, 2, 3, 3}, strides: []int{2, 2}, autoPad: "SAME_LOWER"},
		{name: "SAME_UPPER with even kernel and dilation", x: []int{1, 1, 7, 7}, w: []int{1, 1, 2, 4}, dilations: []int{2, 1}, autoPad: "SAME_UPPER"},
		{name: "SAME_LOWER with stride larger than the kernel", x: []int{1, 1, 7, 7}, w: []int{1, 1, 1, 2}, strides: []int{3, 3}, autoPad: "SAME_LOWER"},
		{name: "VALID ignores pads", x: []int{1, 1, 6, 6}, w: []int{1, 1, 3, 3}, autoPad: "VALID", pads: []int{1, 1, 1, 1}},
		{name: "float64 grouped", x: []int{2, 4, 6, 5}, w: []int{4, 2, 3, 2}, group: 2, bias: true, pads: []int{1, 0, 1, 1}, float64s: true},
		{name: "empty batch", x: []int{0, 2, 3, 3}, w: []int{1, 2, 2, 2}, bias: true},
		{name: "large enough to need several im2col chunks", x: []int{1, 64, 32, 32}, w: []int{2, 64, 5, 5}, bias: true},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, w := wtRand(t, rng, c.x...), wtRand(t, rng, c.w...)
			in := []*ir.Tensor{x, w}
			var b []float64
			if c.bias {
				bt := wtRand(t, rng, c.w[0])
				in = append(in, bt)
				b = wtF64(bt)
			}
			wantShape, want := naiveConv(c, wtF64(x), wtF64(w), b)
			tol := 1e-5
			if c.float64s {
				for i := range in {
					in[i] = wtToF64(t, in[i])
				}
				tol = 1e-12
			}
			got, err := execNode(wtNode("Conv", len(in), 1, c.attrs()...), in)
			if err != nil {
				t.Fatal(err)
			}
			wtClose(t, got[0], wantShape, want, tol)
		})
	}
}

func TestConvHandComputedExample(t *testing.T) {
	// 1-D: x = [1 2 3 4], w = [1 -1], pads 1/0, bias 10:
	// padded x = [0 1 2 3 4] -> [0-1, 1-2, 2-3, 3-4] + 10.
	x, _ := ir.FromFloat32([]int{1, 1, 4}, []float32{1, 2, 3, 4})
	w, _ := ir.FromFloat32([]int{1, 1, 2}, []float32{1, -1})
	b, _ := ir.FromFloat32([]int{1}, []float32{10})
	got, err := execNode(wtNode("Conv", 3, 1, wtInts("pads", []int{1, 0})), []*ir.Tensor{x, w, b})
	if err != nil {
		t.Fatal(err)
	}
	wtClose(t, got[0], []int{1, 1, 4}, []float64{9, 9, 9, 9}, 0)
}

func TestConvRejectsImpossibleConfigurations(t *testing.T) {
	cases := []struct {
		name  string
		x, w  []int
		b     []int
		attrs []*ir.Attr
		want  string // substring of the error
	}{
		{"kernel larger than the padded input", []int{1, 1, 3, 3}, []int{1, 1, 5, 2}, nil, []*ir.Attr{wtInts("pads", []int{0, 0, 1, 0})}, "effective kernel 5"},
		{"dilated kernel larger than the input", []int{1, 1, 5, 5}, []int{1, 1, 3, 3}, nil, []*ir.Attr{wtInts("dilations", []int{3, 1})}, "effective kernel 7"},
		{"stride 0", []int{1, 1, 3, 3}, []int{1, 1, 1, 1}, nil, []*ir.Attr{wtInts("strides", []int{0, 1})}, "strides[0] = 0"},
		{"negative dilation", []int{1, 1, 3, 3}, []int{1, 1, 1, 1}, nil, []*ir.Attr{wtInts("dilations", []int{1, -2})}, "dilations[1] = -2"},
		{"negative pads", []int{1, 1, 3, 3}, []int{1, 1, 1, 1}, nil, []*ir.Attr{wtInts("pads", []int{0, -1, 0, 0})}, "pads[1] = -1"},
		{"wrong number of pads", []int{1, 1, 3, 3}, []int{1, 1, 1, 1}, nil, []*ir.Attr{wtInts("pads", []int{1, 1})}, "has 2 values"},
		{"channels not divisible by group", []int{1, 3, 3, 3}, []int{2, 1, 1, 1}, nil, []*ir.Attr{ir.IntAttr("group", 2)}, "3 channels, not divisible by group 2"},
		{"weight channels differ from input channels per group", []int{1, 4, 3, 3}, []int{2, 3, 1, 1}, nil, []*ir.Attr{ir.IntAttr("group", 2)}, "3 input channels per group"},
		{"output channels not divisible by group", []int{1, 4, 3, 3}, []int{3, 2, 1, 1}, nil, []*ir.Attr{ir.IntAttr("group", 2)}, "3 output channels, not divisible by group 2"},
		{"group 0", []int{1, 4, 3, 3}, []int{2, 4, 1, 1}, nil, []*ir.Attr{ir.IntAttr("group", 0)}, "group 0"},
		{"kernel_shape disagrees with W", []int{1, 1, 5, 5}, []int{1, 1, 3, 3}, nil, []*ir.Attr{wtInts("kernel_shape", []int{3, 2})}, "does not match"},
		{"W rank differs from X rank", []int{1, 1, 5, 5}, []int{1, 1, 3}, nil, nil, "ranks must match"},
		{"X without spatial axes", []int{1, 1}, []int{1, 1}, nil, nil, "rank 3 or more"},
		{"bias of the wrong length", []int{1, 1, 5, 5}, []int{2, 1, 3, 3}, []int{3}, nil, "want [2]"},
		{"unknown auto_pad", []int{1, 1, 5, 5}, []int{1, 1, 3, 3}, nil, []*ir.Attr{ir.StringAttr("auto_pad", "SAME")}, `auto_pad "SAME"`},
		{"kernel of size 0", []int{1, 1, 5, 5}, []int{1, 1, 0, 3}, nil, nil, "kernel size 0"},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []*ir.Tensor{wtRand(t, rng, c.x...), wtRand(t, rng, c.w...)}
			if c.b != nil {
				in = append(in, wtRand(t, rng, c.b...))
			}
			_, err := execNode(wtNode("Conv", len(in), 1, c.attrs...), in)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}

func TestConvRejectsMixedTypes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	x := wtRand(t, rng, 1, 1, 3, 3)
	w := wtToF64(t, wtRand(t, rng, 1, 1, 1, 1))
	if _, err := execNode(wtNode("Conv", 2, 1), []*ir.Tensor{x, w}); err == nil || !strings.Contains(err.Error(), "float64") {
		t.Fatalf("got %v, want an element type error", err)
	}
	xi, _ := ir.FromSlice([]int{1, 1, 1, 1}, []int64{1})
	if _, err := execNode(wtNode("Conv", 2, 1), []*ir.Tensor{xi, xi}); err == nil || !strings.Contains(err.Error(), "int64") {
		t.Fatalf("got %v, want an element type error", err)
	}
}

// naiveConvTranspose is an independent float64 transposed convolution: it
// scatters every input element times every tap to position
// i*stride + k*dilation - padBegin, keeping the ones inside the output. The
// output size and padding come straight from the ONNX formulas.
func naiveConvTranspose(c convCase, x, w, b []float64) ([]int, []float64) {
	r := len(c.x) - 2
	strides, dil, group := c.strides, c.dilations, c.group
	if strides == nil {
		strides = wtOnes(r)
	}
	if dil == nil {
		dil = wtOnes(r)
	}
	if group == 0 {
		group = 1
	}
	outPad := c.outputPaddingT
	if outPad == nil {
		outPad = make([]int, r)
	}
	inSp, kSp := c.x[2:], c.w[2:]
	padB := make([]int, r)
	outSp := make([]int, r)
	for a := range r {
		full := strides[a]*(inSp[a]-1) + outPad[a] + (kSp[a]-1)*dil[a] + 1
		target := -1
		switch {
		case c.outputShapeT != nil:
			target = c.outputShapeT[a]
		case c.autoPad == "SAME_UPPER" || c.autoPad == "SAME_LOWER":
			target = inSp[a] * strides[a]
		}
		switch {
		case target >= 0:
			total := full - target
			half := int(math.Floor(float64(total) / 2)) // Python's total // 2
			if c.autoPad == "SAME_UPPER" {
				padB[a] = half
			} else {
				padB[a] = total - half
			}
			outSp[a] = target
		case c.autoPad == "VALID" || c.pads == nil:
			outSp[a] = full
		default:
			padB[a] = c.pads[a]
			outSp[a] = full - c.pads[a] - c.pads[r+a]
		}
	}
	N, C := c.x[0], c.x[1]
	mg := c.w[1]
	M := mg * group
	cg := C / group
	shape := append([]int{N, M}, outSp...)
	y := make([]float64, prod(shape))
	ys := shape
	for n := range N {
		for m := range M {
			if b != nil {
				o := make([]int, r)
				for {
					y[wtFlat(append([]int{n, m}, o...), ys)] = b[m]
					if !wtOdometer(o, outSp) {
						break
					}
				}
			}
		}
		for ch := range C {
			g := ch / cg
			i := make([]int, r)
			for {
				xv := x[wtFlat(append([]int{n, ch}, i...), c.x)]
				for mi := range mg {
					k := make([]int, r)
					for {
						o := make([]int, r)
						inside := true
						for a := range r {
							o[a] = i[a]*strides[a] + k[a]*dil[a] - padB[a]
							if o[a] < 0 || o[a] >= outSp[a] {
								inside = false
							}
						}
						if inside {
							wv := w[wtFlat(append([]int{ch, mi}, k...), c.w)]
							y[wtFlat(append([]int{n, g*mg + mi}, o...), ys)] += xv * wv
						}
						if !wtOdometer(k, kSp) {
							break
						}
					}
				}
				if !wtOdometer(i, inSp) {
					break
				}
			}
		}
	}
	return shape, y
}

func (c convCase) attrsT() []*ir.Attr {
	as := c.attrs()
	as = append(as, wtInts("output_padding", c.outputPaddingT))
	if c.outputShapeT != nil {
		os := c.outputShapeT
		if c.outputShapeTFull {
			os = append([]int{c.x[0], c.w[1] * max(1, c.group)}, os...)
		}
		as = append(as, wtInts("output_shape", os))
	}
	return as
}

func TestConvTransposeMatchesNaiveScatter(t *testing.T) {
	cases := []convCase{
		{name: "defaults", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}},
		{name: "1x1 kernel with bias", x: []int{2, 3, 4, 5}, w: []int{3, 2, 1, 1}, bias: true},
		{name: "strides larger than the kernel", x: []int{1, 2, 3, 4}, w: []int{2, 2, 2, 2}, strides: []int{3, 4}},
		{name: "strides and pads", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{3, 2}, pads: []int{1, 2, 1, 2}},
		{name: "asymmetric pads", x: []int{1, 2, 4, 3}, w: []int{2, 1, 3, 3}, strides: []int{2, 2}, pads: []int{0, 1, 2, 0}, bias: true},
		{name: "output_padding", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{3, 2}, outputPaddingT: []int{1, 1}},
		{name: "dilations", x: []int{1, 1, 3, 3}, w: []int{1, 1, 2, 2}, dilations: []int{2, 2}},
		{name: "dilations, strides and pads", x: []int{2, 2, 4, 3}, w: []int{2, 3, 3, 2}, dilations: []int{2, 3}, strides: []int{2, 1}, pads: []int{1, 1, 2, 0}, bias: true},
		{name: "groups", x: []int{1, 4, 3, 3}, w: []int{4, 3, 2, 2}, group: 2, strides: []int{2, 2}, bias: true},
		{name: "depthwise", x: []int{2, 3, 3, 4}, w: []int{3, 1, 3, 3}, group: 3, strides: []int{2, 1}},
		{name: "output_shape larger than the full output", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{3, 2}, outputShapeT: []int{10, 8}},
		{name: "output_shape smaller than the full output", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{2, 2}, outputShapeT: []int{4, 5}},
		{name: "output_shape with output_padding", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{3, 2}, outputShapeT: []int{10, 8}, outputPaddingT: []int{1, 1}},
		{name: "output_shape given as the whole shape", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{2, 2}, outputShapeT: []int{6, 7}, outputShapeTFull: true},
		{name: "output_shape with SAME_UPPER", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{2, 2}, outputShapeT: []int{6, 4}, autoPad: "SAME_UPPER"},
		{name: "SAME_UPPER", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{2, 2}, autoPad: "SAME_UPPER"},
		{name: "SAME_LOWER", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{2, 2}, autoPad: "SAME_LOWER"},
		{name: "SAME_UPPER with stride larger than the kernel", x: []int{1, 1, 3, 4}, w: []int{1, 1, 2, 2}, strides: []int{3, 3}, autoPad: "SAME_UPPER"},
		{name: "VALID", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, strides: []int{2, 2}, autoPad: "VALID", pads: []int{1, 1, 1, 1}},
		{name: "1-D", x: []int{2, 2, 5}, w: []int{2, 3, 3}, strides: []int{2}, pads: []int{1, 0}, bias: true},
		{name: "3-D", x: []int{1, 1, 3, 4, 5}, w: []int{1, 2, 3, 3, 3}},
		{name: "3-D with strides, pads and groups", x: []int{1, 2, 3, 3, 2}, w: []int{2, 2, 2, 3, 2}, group: 2, strides: []int{2, 1, 3}, pads: []int{1, 0, 0, 0, 1, 1}, bias: true},
		{name: "kernel_shape given", x: []int{1, 1, 3, 3}, w: []int{1, 2, 3, 3}, kernelShape: true, strides: []int{2, 2}},
		{name: "float64", x: []int{1, 2, 3, 3}, w: []int{2, 2, 3, 3}, strides: []int{2, 2}, pads: []int{1, 1, 0, 0}, bias: true, float64s: true},
		{name: "empty batch", x: []int{0, 2, 3, 3}, w: []int{2, 1, 2, 2}, bias: true},
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, w := wtRand(t, rng, c.x...), wtRand(t, rng, c.w...)
			in := []*ir.Tensor{x, w}
			var b []float64
			if c.bias {
				bt := wtRand(t, rng, c.w[1]*max(1, c.group))
				in = append(in, bt)
				b = wtF64(bt)
			}
			wantShape, want := naiveConvTranspose(c, wtF64(x), wtF64(w), b)
			tol := 1e-5
			if c.float64s {
				for i := range in {
					in[i] = wtToF64(t, in[i])
				}
				tol = 1e-12
			}
			got, err := execNode(wtNode("ConvTranspose", len(in), 1, c.attrsT()...), in)
			if err != nil {
				t.Fatal(err)
			}
			wtClose(t, got[0], wantShape, want, tol)
		})
	}
}

func TestConvTransposeHandComputedSameUpper(t *testing.T) {
	// 1-D, x = [0 1 2], kernel [1 1 1], stride 2: the full output is
	// [0 0 1 1 3 2 2]; SAME_UPPER keeps 3*2 = 6 values and drops the odd
	// padding at the end.
	x, _ := ir.FromFloat32([]int{1, 1, 3}, []float32{0, 1, 2})
	w, _ := ir.FromFloat32([]int{1, 1, 3}, []float32{1, 1, 1})
	got, err := execNode(wtNode("ConvTranspose", 2, 1, wtInts("strides", []int{2}), ir.StringAttr("auto_pad", "SAME_UPPER")), []*ir.Tensor{x, w})
	if err != nil {
		t.Fatal(err)
	}
	wtClose(t, got[0], []int{1, 1, 6}, []float64{0, 0, 1, 1, 3, 2}, 0)
}

func TestConvTransposeRejectsImpossibleConfigurations(t *testing.T) {
	cases := []struct {
		name  string
		x, w  []int
		b     []int
		attrs []*ir.Attr
		want  string
	}{
		{"pads removing the whole output", []int{1, 1, 2, 2}, []int{1, 1, 2, 2}, nil, []*ir.Attr{wtInts("pads", []int{2, 0, 1, 0})}, "output size 0"},
		{"stride 0", []int{1, 1, 2, 2}, []int{1, 1, 2, 2}, nil, []*ir.Attr{wtInts("strides", []int{1, 0})}, "strides[1] = 0"},
		{"W input channels differ from X channels", []int{1, 2, 2, 2}, []int{3, 1, 2, 2}, nil, nil, "3 input channels, but X has 2"},
		{"channels not divisible by group", []int{1, 3, 2, 2}, []int{3, 1, 2, 2}, nil, []*ir.Attr{ir.IntAttr("group", 2)}, "not divisible by group 2"},
		{"bias of the wrong length", []int{1, 2, 2, 2}, []int{2, 3, 2, 2}, []int{2}, []*ir.Attr{ir.IntAttr("group", 2)}, "want [6]"},
		{"output_shape of the wrong length", []int{1, 1, 2, 2}, []int{1, 1, 2, 2}, nil, []*ir.Attr{wtInts("output_shape", []int{3})}, "output_shape [3] has 1 values"},
		{"output_shape zero", []int{1, 1, 2, 2}, []int{1, 1, 2, 2}, nil, []*ir.Attr{wtInts("output_shape", []int{3, 0})}, "output_shape[1] = 0"},
		{"negative output_padding", []int{1, 1, 2, 2}, []int{1, 1, 2, 2}, nil, []*ir.Attr{wtInts("output_padding", []int{-1, 0})}, "output_padding[0] = -1"},
		{"kernel_shape disagrees with W", []int{1, 1, 2, 2}, []int{1, 1, 2, 2}, nil, []*ir.Attr{wtInts("kernel_shape", []int{2})}, "kernel_shape [2] has 1 axes"},
		{"huge stride", []int{1, 1, 2, 2}, []int{1, 1, 2, 2}, nil, []*ir.Attr{wtInts("strides", []int{1 << 30, 1 << 30})}, "too large"},
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []*ir.Tensor{wtRand(t, rng, c.x...), wtRand(t, rng, c.w...)}
			if c.b != nil {
				in = append(in, wtRand(t, rng, c.b...))
			}
			_, err := execNode(wtNode("ConvTranspose", len(in), 1, c.attrs...), in)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
		})
	}
}
