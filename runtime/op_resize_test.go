package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// rzNode builds a Resize node; scales (input 2) or sizes (input 3) is given,
// the other inputs omitted unless roi is set.
func rzNode(withROI, withSizes bool, attrs ...*ir.Attr) *ir.Node {
	omit := []int{1, 3}
	if withSizes {
		omit = []int{1, 2}
	}
	if withROI {
		omit = omit[1:]
	}
	return shNode("Resize", 4, 1, omit, attrs...)
}

// rzInputs lays out Resize inputs; nil slices become omitted inputs.
func rzInputs(t *testing.T, x *ir.Tensor, roi []float32, scales []float32, sizes []int64) []*ir.Tensor {
	in := []*ir.Tensor{x, nil, nil, nil}
	if roi != nil {
		in[1] = shT(t, []int{len(roi)}, roi)
	}
	if scales != nil {
		in[2] = shT(t, []int{len(scales)}, scales)
	}
	if sizes != nil {
		in[3] = shT(t, []int{len(sizes)}, sizes)
	}
	return in
}

// rzCase is one float Resize evaluation checked within 1e-5.
type rzCase struct {
	name   string
	attrs  []*ir.Attr
	x      *ir.Tensor
	roi    []float32
	scales []float32
	sizes  []int64
	shape  []int
	want   []float64
}

func rzRunCases(t *testing.T, cases []rzCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := rzNode(c.roi != nil, c.sizes != nil, c.attrs...)
			got, err := execNode(n, rzInputs(t, c.x, c.roi, c.scales, c.sizes))
			if err != nil {
				t.Fatal(err)
			}
			y := got[0]
			if y.DType != c.x.DType || fmt.Sprint(y.Shape) != fmt.Sprint(c.shape) {
				t.Fatalf("output is %v%v, want %v%v", y.DType, y.Shape, c.x.DType, c.shape)
			}
			for i, w := range c.want {
				if g := y.Float64At(i); math.Abs(g-w) > 1e-5*(1+math.Abs(w)) {
					t.Fatalf("element %d is %v, want %v (all: %v)", i, g, w, y.Data)
				}
			}
		})
	}
}

func rzF(t *testing.T, shape []int, v ...float32) *ir.Tensor { return shT(t, shape, v) }

func rzMode(mode, coord string) []*ir.Attr {
	return []*ir.Attr{ir.StringAttr("mode", mode), ir.StringAttr("coordinate_transformation_mode", coord)}
}

func TestResizeNearestModes(t *testing.T) {
	x4 := rzF(t, []int{4}, 10, 20, 30, 40)
	x3 := rzF(t, []int{3}, 10, 20, 30)
	nearest := func(coord, nm string) []*ir.Attr {
		return append(rzMode("nearest", coord), ir.StringAttr("nearest_mode", nm))
	}
	// half_pixel with scale 2 maps output x to x/2 - 0.25: -0.25, 0.25, 0.75, ... 3.25.
	// asymmetric with scale 2 maps x to x/2: 0, 0.5, 1, ... 2.5 (ties at .5).
	rzRunCases(t, []rzCase{
		{name: "round_prefer_floor is the default", attrs: rzMode("nearest", "half_pixel"), x: x4, scales: []float32{2}, shape: []int{8},
			want: []float64{10, 10, 20, 20, 30, 30, 40, 40}},
		{name: "floor", attrs: nearest("half_pixel", "floor"), x: x4, scales: []float32{2}, shape: []int{8},
			want: []float64{10, 10, 10, 20, 20, 30, 30, 40}},
		{name: "ceil clamps at the end", attrs: nearest("half_pixel", "ceil"), x: x4, scales: []float32{2}, shape: []int{8},
			want: []float64{10, 20, 20, 30, 30, 40, 40, 40}},
		{name: "round_prefer_floor rounds ties down", attrs: nearest("asymmetric", "round_prefer_floor"), x: x3, scales: []float32{2}, shape: []int{6},
			want: []float64{10, 10, 20, 20, 30, 30}},
		{name: "round_prefer_ceil rounds ties up", attrs: nearest("asymmetric", "round_prefer_ceil"), x: x3, scales: []float32{2}, shape: []int{6},
			want: []float64{10, 20, 20, 30, 30, 30}},
		{name: "upsample-style 2x3 nearest (floor) on the last two axes", attrs: nearest("asymmetric", "floor"), x: rzF(t, []int{1, 1, 2, 2}, 1, 2, 3, 4),
			scales: []float32{1, 1, 2, 3}, shape: []int{1, 1, 4, 6},
			want: []float64{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}},
		// Downsampling 4 -> 2 with half_pixel: x -> 2x + 0.5 = 0.5, 2.5 -> indices 0 and 2.
		{name: "downsample by sizes", attrs: rzMode("nearest", "half_pixel"), x: x4, sizes: []int64{2}, shape: []int{2}, want: []float64{10, 30}},
	})
}

func TestResizeNearestMovesAnyElementType(t *testing.T) {
	n := rzNode(false, false, rzMode("nearest", "asymmetric")...)
	for _, c := range []struct {
		x, want *ir.Tensor
	}{
		{shT(t, []int{2}, []string{"a", "b"}), shT(t, []int{4}, []string{"a", "a", "b", "b"})},
		{shT(t, []int{2}, []bool{true, false}), shT(t, []int{4}, []bool{true, true, false, false})},
		{shT(t, []int{2}, []int64{-5, 1 << 60}), shT(t, []int{4}, []int64{-5, -5, 1 << 60, 1 << 60})},
	} {
		got, err := execNode(n, rzInputs(t, c.x, nil, []float32{2}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got[0].Shape, got[0].Data) != fmt.Sprint(c.want.Shape, c.want.Data) {
			t.Errorf("%v: got %v, want %v", c.x.DType, got[0].Data, c.want.Data)
		}
	}
}

func TestResizeLinearCoordinateModes(t *testing.T) {
	x := rzF(t, []int{2}, 0, 10)
	x3 := rzF(t, []int{3}, 0, 10, 20)
	rzRunCases(t, []rzCase{
		// x -> (x+0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25; outside positions take the edge.
		{name: "half_pixel", attrs: rzMode("linear", "half_pixel"), x: x, scales: []float32{2}, shape: []int{4}, want: []float64{0, 2.5, 7.5, 10}},
		{name: "asymmetric", attrs: rzMode("linear", "asymmetric"), x: x, scales: []float32{2}, shape: []int{4}, want: []float64{0, 5, 10, 10}},
		{name: "align_corners", attrs: rzMode("linear", "align_corners"), x: x, sizes: []int64{3}, shape: []int{3}, want: []float64{0, 5, 10}},
		// Scale 1.7 gives 3.4 -> 3 outputs; the symmetric mode shifts by
		// (1 - 3/3.4) so output 1 lands on 0.5 where half_pixel gives 0.382.
		{name: "half_pixel_symmetric", attrs: rzMode("linear", "half_pixel_symmetric"), x: x, scales: []float32{1.7}, shape: []int{3},
			want: []float64{0, 10 * (1 - 3/3.4 + 1.5/float64(float32(1.7)) - 0.5), 10}},
		{name: "half_pixel with the same scale", attrs: rzMode("linear", "half_pixel"), x: x, scales: []float32{1.7}, shape: []int{3},
			want: []float64{0, 10 * (1.5/float64(float32(1.7)) - 0.5), 10 * (2.5/float64(float32(1.7)) - 0.5)}},
		{name: "pytorch_half_pixel with one output takes position -0.5", attrs: rzMode("linear", "pytorch_half_pixel"), x: x3, sizes: []int64{1}, shape: []int{1}, want: []float64{0}},
		{name: "half_pixel with one output takes the center", attrs: rzMode("linear", "half_pixel"), x: x3, sizes: []int64{1}, shape: []int{1}, want: []float64{10}},
		// roi 0.5..1.5 on 4 inputs, 3 outputs: x -> 1.5x + 1.5 = 1.5, 3, 4.5 (outside: extrapolated).
		{name: "tf_crop_and_resize extrapolates outside the crop", attrs: append(rzMode("linear", "tf_crop_and_resize"), ir.FloatAttr("extrapolation_value", 7)),
			x: rzF(t, []int{4}, 0, 10, 20, 30), roi: []float32{0.5, 1.5}, sizes: []int64{3}, shape: []int{3}, want: []float64{15, 30, 7}},
	})
}

func TestResizeLinearIsMultilinear(t *testing.T) {
	// Bilinear on [[1,2],[3,4]] to 3x3 with aligned corners.
	rzRunCases(t, []rzCase{
		{name: "bilinear", attrs: rzMode("linear", "align_corners"), x: rzF(t, []int{1, 1, 2, 2}, 1, 2, 3, 4), sizes: []int64{1, 1, 3, 3}, shape: []int{1, 1, 3, 3},
			want: []float64{1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4}},
		{name: "axes attribute resizes only the listed axes", attrs: append(rzMode("linear", "align_corners"), ir.IntsAttr("axes", []int64{-1})),
			x: rzF(t, []int{2, 2}, 1, 2, 3, 4), sizes: []int64{3}, shape: []int{2, 3}, want: []float64{1, 1.5, 2, 3, 3.5, 4}},
	})
	// Trilinear interpolation of a linear function v = 4i + 2j + k is exact:
	// with aligned corners, output (a, b, c) of 3x3x3 samples i=a/2 etc.
	want := make([]float64, 27)
	for a := 0; a < 3; a++ {
		for b := 0; b < 3; b++ {
			for c := 0; c < 3; c++ {
				want[a*9+b*3+c] = 2*float64(a) + float64(b) + 0.5*float64(c)
			}
		}
	}
	rzRunCases(t, []rzCase{{name: "trilinear", attrs: rzMode("linear", "align_corners"), x: shIota(t, 2, 2, 2), sizes: []int64{3, 3, 3}, shape: []int{3, 3, 3}, want: want}})
}

func TestResizeCubic(t *testing.T) {
	// With A = -0.75, a position halfway between samples weighs its four
	// neighbours -0.09375, 0.59375, 0.59375, -0.09375; integer positions copy,
	// and taps past the ends read the edge sample.
	x := rzF(t, []int{4}, 0, 10, 20, 30)
	rzRunCases(t, []rzCase{
		{name: "asymmetric upsample", attrs: rzMode("cubic", "asymmetric"), x: x, scales: []float32{2}, shape: []int{8},
			want: []float64{0, 4.0625, 10, 15, 20, 25.9375, 30, 30.9375}},
		// exclude_outside drops the taps past the edges and renormalizes:
		// x=1: (0.59375*0 + 0.59375*10 - 0.09375*20) / 1.09375;
		// x=5: (-0.09375*10 + 0.59375*20 + 0.59375*30) / 1.09375; x=7: (-0.09375*20 + 0.59375*30) / 0.5.
		{name: "exclude_outside", attrs: append(rzMode("cubic", "asymmetric"), ir.IntAttr("exclude_outside", 1)), x: x, scales: []float32{2}, shape: []int{8},
			want: []float64{0, 4.0625 / 1.09375, 10, 15, 20, 28.75 / 1.09375, 30, 31.875}},
		// A = -0.5 at ratio 0.5: weights -0.0625, 0.5625, 0.5625, -0.0625.
		{name: "cubic_coeff_a", attrs: append(rzMode("cubic", "asymmetric"), ir.FloatAttr("cubic_coeff_a", -0.5)), x: x, scales: []float32{2}, shape: []int{8},
			want: []float64{0, 0.5625*10 - 0.0625*20, 10, 15, 20, -0.0625*10 + 0.5625*20 + 0.5*30, 30, -0.0625*20 + 0.5625*30 + 0.5*30}},
	})
}

func TestResizeAntialiasWidensTheFilterWhenDownsampling(t *testing.T) {
	// Scale 0.5, half_pixel: outputs sit at 0.5 and 2.5. The linear filter
	// stretched by 2 weighs offsets -1..2 around the left sample by
	// 0.125, 0.375, 0.375, 0.125 (edges clamped).
	x := rzF(t, []int{4}, 0, 10, 20, 30)
	rzRunCases(t, []rzCase{
		{name: "linear", attrs: append(rzMode("linear", "half_pixel"), ir.IntAttr("antialias", 1)), x: x, scales: []float32{0.5}, shape: []int{2},
			want: []float64{0.375*10 + 0.125*20, 0.125*10 + 0.375*20 + 0.5*30}},
		{name: "without antialias", attrs: rzMode("linear", "half_pixel"), x: x, scales: []float32{0.5}, shape: []int{2}, want: []float64{5, 25}},
		{name: "upsampling is unchanged", attrs: append(rzMode("linear", "half_pixel"), ir.IntAttr("antialias", 1)), x: rzF(t, []int{2}, 0, 10), scales: []float32{2}, shape: []int{4},
			want: []float64{0, 2.5, 7.5, 10}},
	})
}

func TestResizeIntegerInterpolationTruncates(t *testing.T) {
	n := rzNode(false, false, rzMode("linear", "asymmetric")...)
	got, err := execNode(n, rzInputs(t, shT(t, []int{2}, []uint8{0, 255}), nil, []float32{4}, nil))
	if err != nil {
		t.Fatal(err)
	}
	// 0, 63.75, 127.5, 191.25, 255, ...
	if want := []uint8{0, 63, 127, 191, 255, 255, 255, 255}; fmt.Sprint(got[0].Data) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got[0].Data, want)
	}
}

func TestResizeKeepAspectRatioPolicies(t *testing.T) {
	x := shIota(t, 1, 1, 2, 4)
	for _, c := range []struct {
		policy string
		shape  []int
	}{
		{"stretch", []int{1, 1, 4, 4}},
		{"not_larger", []int{1, 1, 2, 4}},  // min(4/2, 4/4) = 1
		{"not_smaller", []int{1, 1, 4, 8}}, // max(4/2, 4/4) = 2
	} {
		n := rzNode(false, true, ir.StringAttr("keep_aspect_ratio_policy", c.policy), ir.IntsAttr("axes", []int64{2, 3}))
		got, err := execNode(n, rzInputs(t, x, nil, nil, []int64{4, 4}))
		if err != nil {
			t.Fatalf("%s: %v", c.policy, err)
		}
		if fmt.Sprint(got[0].Shape) != fmt.Sprint(c.shape) {
			t.Errorf("%s: shape %v, want %v", c.policy, got[0].Shape, c.shape)
		}
	}
	n := rzNode(false, true, ir.StringAttr("keep_aspect_ratio_policy", "not_smaller"), ir.IntsAttr("axes", []int64{3, 2}))
	got, err := execNode(n, rzInputs(t, shIota(t, 1, 1, 1, 2), nil, nil, []int64{3, 1}))
	if err != nil {
		t.Fatal(err)
	}
	// axes (3, 2) with sizes (3, 1): scales 1.5 and 1 -> 1.5; W: round(2*1.5) = 3, H: round(1.5) = 2.
	if fmt.Sprint(got[0].Shape) != "[1 1 2 3]" {
		t.Errorf("shape %v, want [1 1 2 3]", got[0].Shape)
	}
}

func TestResizeRejectsBadParameters(t *testing.T) {
	x := shIota(t, 1, 1, 2, 2)
	for _, c := range []struct {
		name   string
		node   *ir.Node
		in     []*ir.Tensor
		errSub string
	}{
		{"neither scales nor sizes", shNode("Resize", 1, 1, nil), []*ir.Tensor{x}, "one of scales and sizes"},
		{"both scales and sizes", shNode("Resize", 4, 1, []int{1}), []*ir.Tensor{x, nil, shT(t, []int{4}, []float32{1, 1, 2, 2}), shInts(t, 1, 1, 4, 4)}, "both scales and sizes"},
		{"scales of the wrong length", rzNode(false, false), rzInputs(t, x, nil, []float32{2, 2}, nil), "2 values for 4"},
		{"a zero scale", rzNode(false, false), rzInputs(t, x, nil, []float32{1, 1, 0, 2}, nil), "positive"},
		{"a negative scale", rzNode(false, false), rzInputs(t, x, nil, []float32{1, 1, -1, 2}, nil), "positive"},
		{"a hostile scale", rzNode(false, false), rzInputs(t, x, nil, []float32{1, 1, 1e30, 1}, nil), "too large"},
		{"hostile scales together", rzNode(false, false), rzInputs(t, x, nil, []float32{1, 1, 1 << 20, 1 << 20}, nil), "too large"},
		{"hostile sizes", rzNode(false, true), rzInputs(t, x, nil, nil, []int64{1, 1, 1 << 40, 1}), "too large"},
		{"negative sizes", rzNode(false, true), rzInputs(t, x, nil, nil, []int64{1, 1, -2, 2}), "negative"},
		{"sizes on an empty axis", rzNode(false, true), rzInputs(t, shT(t, []int{0, 2}, []float32{}), nil, nil, []int64{2, 2}), "size 0"},
		{"an unknown mode", rzNode(false, false, ir.StringAttr("mode", "area")), rzInputs(t, x, nil, []float32{1, 1, 2, 2}, nil), "unknown mode"},
		{"an unknown coordinate mode", rzNode(false, false, ir.StringAttr("coordinate_transformation_mode", "center")), rzInputs(t, x, nil, []float32{1, 1, 2, 2}, nil), "coordinate_transformation_mode"},
		{"an unknown nearest mode", rzNode(false, false, ir.StringAttr("nearest_mode", "up")), rzInputs(t, x, nil, []float32{1, 1, 2, 2}, nil), "nearest_mode"},
		{"an unknown policy", rzNode(false, true, ir.StringAttr("keep_aspect_ratio_policy", "fit")), rzInputs(t, x, nil, nil, []int64{1, 1, 4, 4}), "keep_aspect_ratio_policy"},
		{"linear on strings", rzNode(false, false, ir.StringAttr("mode", "linear")), rzInputs(t, shT(t, []int{1}, []string{"a"}), nil, []float32{2}, nil), "numeric"},
		{"tf_crop_and_resize without roi", rzNode(false, false, ir.StringAttr("coordinate_transformation_mode", "tf_crop_and_resize")), rzInputs(t, x, nil, []float32{1, 1, 2, 2}, nil), "roi"},
		{"roi of the wrong length", rzNode(true, false, ir.StringAttr("coordinate_transformation_mode", "tf_crop_and_resize")), rzInputs(t, x, []float32{0, 1}, []float32{1, 1, 2, 2}, nil), "roi has 2 values"},
		{"axes out of range", rzNode(false, false, ir.IntsAttr("axes", []int64{4})), rzInputs(t, x, nil, []float32{2}, nil), "out of range"},
		{"repeated axes", rzNode(false, false, ir.IntsAttr("axes", []int64{2, -2})), rzInputs(t, x, nil, []float32{2, 2}, nil), "twice"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := execNode(c.node, c.in)
			if err == nil || !strings.Contains(err.Error(), c.errSub) {
				t.Fatalf("got error %v, want one containing %q", err, c.errSub)
			}
		})
	}
}

func TestResizeInferReportsTheShapeWithoutROI(t *testing.T) {
	n := rzNode(true, false, ir.StringAttr("coordinate_transformation_mode", "tf_crop_and_resize"))
	outs, err := ops["Resize"].infer(n, []*Arg{
		{DType: ir.Float32, Shape: []int{1, 3, 4, 4}},
		{DType: ir.Float32, Shape: []int{8}},
		{DType: ir.Float32, Shape: []int{4}, Val: shT(t, []int{4}, []float32{1, 1, 0.5, 2})},
		nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(outs[0].Shape) != "[1 3 2 8]" {
		t.Fatalf("shape %v, want [1 3 2 8]", outs[0].Shape)
	}
}

// TestResizeNeverPanicsOnWildParameters runs random configurations with
// hostile scales, sizes, roi and attributes: each must succeed or fail with
// an error.
func TestResizeNeverPanicsOnWildParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	floats := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, -1, 1e-30, 1e30, 0.3, 0.5, 1, 1.5, 2, 3.7, 1e6}
	ran := 0
	for iter := 0; iter < 2000; iter++ {
		rank := 1 + rng.IntN(3)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = rng.IntN(5)
		}
		var x *ir.Tensor
		switch rng.IntN(4) {
		case 0:
			x = shT(t, shape, make([]int8, prod(shape)))
		case 1:
			x = shT(t, shape, make([]bool, prod(shape)))
		default:
			x = shIota(t, shape...)
		}
		naxes := rank
		attrs := []*ir.Attr{
			ir.StringAttr("mode", []string{"nearest", "linear", "cubic"}[rng.IntN(3)]),
			ir.StringAttr("coordinate_transformation_mode", []string{"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel",
				"align_corners", "asymmetric", "tf_crop_and_resize", "tf_half_pixel_for_nn"}[rng.IntN(7)]),
			ir.StringAttr("nearest_mode", []string{"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}[rng.IntN(4)]),
			ir.StringAttr("keep_aspect_ratio_policy", []string{"stretch", "not_larger", "not_smaller"}[rng.IntN(3)]),
			ir.IntAttr("antialias", int64(rng.IntN(2))),
			ir.IntAttr("exclude_outside", int64(rng.IntN(2))),
			ir.FloatAttr("cubic_coeff_a", floats[rng.IntN(len(floats))]),
		}
		if rng.IntN(3) == 0 {
			naxes = 1 + rng.IntN(rank)
			axes := make([]int64, naxes)
			for i := range axes {
				axes[i] = shWild(rng)
			}
			attrs = append(attrs, ir.IntsAttr("axes", axes))
		}
		rf := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = floats[rng.IntN(len(floats))]
			}
			return v
		}
		roi := rf(2 * naxes)
		var scales []float32
		var sizes []int64
		if rng.IntN(2) == 0 {
			scales = rf(naxes)
		} else {
			sizes = shWilds(rng, naxes).I64()
			for i := range sizes {
				if rng.IntN(2) == 0 {
					sizes[i] = int64(rng.IntN(9))
				}
			}
		}
		n := rzNode(true, sizes != nil, attrs...)
		in := rzInputs(t, x, roi, scales, sizes)
		// Shapes up to the element limit are legal; only run modest ones.
		if o, err := ops["Resize"].infer(n, argsOf(in)); err == nil && prod(o[0].Shape) > 1<<16 {
			continue
		}
		outs, err := execNode(n, in)
		if err != nil {
			continue
		}
		ran++
		if outs[0].Len() != prod(outs[0].Shape) {
			t.Fatalf("output %v holds %d elements", outs[0].Shape, outs[0].Len())
		}
	}
	t.Logf("%d of 2000 configurations were valid and ran", ran)
}
