package imageprep

import (
	"image"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func vi(dt ir.DType, dims ...ir.Dim) *ir.ValueInfo {
	return &ir.ValueInfo{Name: "x", DType: dt, Shape: ir.Shape{Dims: dims, Ranked: true}}
}

func k(n int64) ir.Dim           { return ir.KnownDim(n) }
func sym(p string) ir.Dim        { return ir.SymDim(p) }
func layoutPtr(l Layout) *Layout { return &l }

func TestInputSpecReadsSizeChannelsAndLayout(t *testing.T) {
	cases := []struct {
		name string
		in   *ir.ValueInfo
		opts SpecOptions
		want Spec
	}{
		{"an NCHW colour input", vi(ir.Float32, k(1), k(3), k(224), k(224)), SpecOptions{},
			Spec{1, 3, 224, 224, NCHW, ir.Float32}},
		{"an NHWC colour input (last dim 3, dim 1 not)", vi(ir.Float32, k(1), k(224), k(224), k(3)), SpecOptions{},
			Spec{1, 3, 224, 224, NHWC, ir.Float32}},
		{"an NCHW grayscale input", vi(ir.Float32, k(1), k(1), k(28), k(28)), SpecOptions{},
			Spec{1, 1, 28, 28, NCHW, ir.Float32}},
		{"an NHWC grayscale input", vi(ir.Float32, k(1), k(28), k(28), k(1)), SpecOptions{},
			Spec{1, 1, 28, 28, NHWC, ir.Float32}},
		{"dim 1 of 3 wins over a last dim of 3", vi(ir.Float32, k(1), k(3), k(5), k(3)), SpecOptions{},
			Spec{1, 3, 5, 3, NCHW, ir.Float32}},
		{"a symbolic NHWC input takes --size", vi(ir.Float16, sym("N"), sym("h"), sym("w"), k(3)), SpecOptions{Height: 240, Width: 320},
			Spec{1, 3, 240, 320, NHWC, ir.Float16}},
		{"a symbolic NCHW input takes --size", vi(ir.Float32, sym("N"), k(3), sym("h"), ir.UnknownDim()), SpecOptions{Height: 64, Width: 64},
			Spec{1, 3, 64, 64, NCHW, ir.Float32}},
		{"a size equal to the model's is accepted", vi(ir.Float32, k(1), k(3), k(224), k(224)), SpecOptions{Height: 224, Width: 224},
			Spec{1, 3, 224, 224, NCHW, ir.Float32}},
		{"a symbolic channel count is taken as colour", vi(ir.Float64, k(2), sym("c"), k(8), k(8)), SpecOptions{},
			Spec{2, 3, 8, 8, NCHW, ir.Float64}},
		{"the layout can be forced", vi(ir.Float32, k(1), k(3), k(3), k(3)), SpecOptions{Layout: layoutPtr(NHWC)},
			Spec{1, 3, 3, 3, NHWC, ir.Float32}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := InputSpec(c.in, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestInputSpecErrorsSayWhatToFix(t *testing.T) {
	cases := []struct {
		name string
		in   *ir.ValueInfo
		opts SpecOptions
		want string
	}{
		{"an integer input", vi(ir.Int64, k(1), k(3), k(2), k(2)), SpecOptions{}, "must be float32, float16 or float64"},
		{"a rank-2 input", vi(ir.Float32, k(1), k(784)), SpecOptions{}, "must be rank 4"},
		{"an unranked input", &ir.ValueInfo{Name: "x", DType: ir.Float32}, SpecOptions{}, "does not declare its shape"},
		{"four channels", vi(ir.Float32, k(1), k(4), k(8), k(8)), SpecOptions{}, "4 channels"},
		{"a symbolic size without --size", vi(ir.Float32, k(1), k(3), sym("H"), sym("W")), SpecOptions{}, "--size"},
		{"a size that contradicts the model", vi(ir.Float32, k(1), k(3), k(224), k(224)), SpecOptions{Height: 300, Width: 300}, "does not match"},
		{"an absurd size", vi(ir.Float32, k(1), k(3), sym("H"), sym("W")), SpecOptions{Height: 1 << 20, Width: 4}, "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := InputSpec(c.in, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// onePixel returns a 1×1 image of colour (r,g,b).
func onePixel(r, g, b uint8) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, 1, 1))
	m.SetRGBA(0, 0, color.RGBA{r, g, b, 255})
	return m
}

func mustNorm(t *testing.T, p Preset, ch int) Norm {
	t.Helper()
	n, err := PresetNorm(p, ch)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPresetsNormaliseAsDocumented(t *testing.T) {
	const r, g, b = 255, 128, 0
	rgb := Spec{Batch: 1, Channels: 3, Height: 1, Width: 1, DType: ir.Float32}
	gray := Spec{Batch: 1, Channels: 1, Height: 1, Width: 1, DType: ir.Float32}
	luma := (0.299*r + 0.587*g + 0.114*b) // 150.38 -> 150
	cases := []struct {
		name string
		spec Spec
		norm Norm
		want []float64
	}{
		{"imagenet is RGB/255 minus mean over std", rgb, mustNorm(t, PresetImageNet, 3),
			[]float64{(1 - 0.485) / 0.229, (128.0/255 - 0.456) / 0.224, (0 - 0.406) / 0.225}},
		{"imagenet with BGR keeps each colour's mean and std", rgb, mustNorm(t, PresetImageNet, 3).WithBGR(),
			[]float64{(0 - 0.406) / 0.225, (128.0/255 - 0.456) / 0.224, (1 - 0.485) / 0.229}},
		{"caffe is BGR 0..255", rgb, mustNorm(t, PresetCaffe, 3), []float64{b, g, r}},
		{"unit is RGB 0..1", rgb, mustNorm(t, PresetUnit, 3), []float64{1, 128.0 / 255, 0}},
		{"raw is RGB 0..255", rgb, mustNorm(t, PresetRaw, 3), []float64{r, g, b}},
		{"raw on one channel is luma 0..255", gray, mustNorm(t, PresetRaw, 1), []float64{math.Round(luma)}},
		{"unit on one channel is luma 0..1", gray, mustNorm(t, PresetUnit, 1), []float64{math.Round(luma) / 255}},
		{"imagenet on one channel uses the mean of the means", gray, mustNorm(t, PresetImageNet, 1), []float64{(math.Round(luma)/255 - 0.449) / 0.226}},
		{"caffe on one channel is luma 0..255", gray, mustNorm(t, PresetCaffe, 1), []float64{math.Round(luma)}},
		{"a custom per-channel mean and std in model channel order", rgb,
			Norm{Scale: 1, Mean: []float64{104, 117, 123}, Std: []float64{2, 4, 8}, BGR: true},
			[]float64{(b - 104) / 2.0, (g - 117) / 4.0, (r - 123) / 8.0}},
		{"a single mean and std apply to every channel", rgb, Norm{Scale: 1.0 / 255, Mean: []float64{0.5}, Std: []float64{0.5}},
			[]float64{1, (128.0/255 - 0.5) / 0.5, -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ten, err := ToTensor([]*image.RGBA{onePixel(r, g, b)}, c.spec, c.norm)
			if err != nil {
				t.Fatal(err)
			}
			got := ten.F32()
			if len(got) != len(c.want) {
				t.Fatalf("got %d values, want %d", len(got), len(c.want))
			}
			for i := range got {
				if math.Abs(float64(got[i])-c.want[i]) > 1e-6*math.Max(1, math.Abs(c.want[i])) {
					t.Errorf("channel %d = %.7g, want %.7g", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestPresetNormRejectsUnknownNames(t *testing.T) {
	if _, err := PresetNorm("vgg", 3); err == nil || !strings.Contains(err.Error(), "imagenet, caffe, unit or raw") {
		t.Fatalf("err = %v", err)
	}
	if DefaultPreset(1) != PresetRaw || DefaultPreset(3) != PresetImageNet {
		t.Fatal("default presets are raw for gray and imagenet for colour")
	}
}

func TestToTensorRejectsInconsistentNormalisation(t *testing.T) {
	rgb := Spec{Batch: 1, Channels: 3, Height: 1, Width: 1, DType: ir.Float32}
	gray := rgb
	gray.Channels = 1
	img := []*image.RGBA{onePixel(1, 2, 3)}
	for _, c := range []struct {
		name string
		spec Spec
		norm Norm
		want string
	}{
		{"two means for three channels", rgb, Norm{Scale: 1, Mean: []float64{1, 2}}, "mean has 2 values"},
		{"a zero std", rgb, Norm{Scale: 1, Std: []float64{1, 0, 1}}, "non-zero"},
		{"BGR on a gray input", gray, Norm{Scale: 1, BGR: true}, "3-channel"},
		{"a zero scale", rgb, Norm{}, "scale"},
		{"a NaN mean", rgb, Norm{Scale: 1, Mean: []float64{math.NaN()}}, "not finite"},
	} {
		if _, err := ToTensor(img, c.spec, c.norm); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	if _, err := ToTensor([]*image.RGBA{noise(2, 2, 1)}, rgb, Norm{Scale: 1}); err == nil {
		t.Error("an image of the wrong size was accepted")
	}
}

// twoByThree is a 3x2 image whose pixels whose red, green and blue values name their position
// and channel: value = 100*channel + 10*y + x (channel 0 = R).
func twoByThree() *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, 3, 2))
	for y := range 2 {
		for x := range 3 {
			v := uint8(10*y + x)
			m.SetRGBA(x, y, color.RGBA{v, 100 + v, 200 + v, 255})
		}
	}
	return m
}

func TestToTensorLaysOutNCHWAndNHWC(t *testing.T) {
	raw := Norm{Scale: 1}
	imgs := []*image.RGBA{twoByThree(), twoByThree()}
	for _, layout := range []Layout{NCHW, NHWC} {
		spec := Spec{Batch: 2, Channels: 3, Height: 2, Width: 3, Layout: layout, DType: ir.Float32}
		ten, err := ToTensor(imgs, spec, raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := ten.Shape; len(got) != 4 || got[0] != 2 {
			t.Fatalf("%v: shape %v", layout, got)
		}
		d := ten.F32()
		for b := range 2 {
			for c := range 3 {
				for y := range 2 {
					for x := range 3 {
						var i int
						if layout == NCHW {
							i = ((b*3+c)*2+y)*3 + x
						} else {
							i = ((b*2+y)*3+x)*3 + c
						}
						if want := float32(100*c + 10*y + x); d[i] != want {
							t.Fatalf("%v: element (b%d c%d y%d x%d) = %g, want %g", layout, b, c, y, x, d[i], want)
						}
					}
				}
			}
		}
	}
}

func TestToTensorConvertsToFloat16AndFloat64(t *testing.T) {
	norm := mustNorm(t, PresetImageNet, 3)
	img := []*image.RGBA{twoByThree()}
	spec := Spec{Batch: 1, Channels: 3, Height: 2, Width: 3, DType: ir.Float32}
	f32, err := ToTensor(img, spec, norm)
	if err != nil {
		t.Fatal(err)
	}
	spec.DType = ir.Float16
	f16, err := ToTensor(img, spec, norm)
	if err != nil {
		t.Fatal(err)
	}
	if f16.DType != ir.Float16 {
		t.Fatalf("dtype %v, want float16", f16.DType)
	}
	bits, ok := f16.Data.([]uint16)
	if !ok || len(bits) != len(f32.F32()) {
		t.Fatalf("float16 data is %T of %d", f16.Data, len(bits))
	}
	for i, v := range f32.F32() {
		h := ir.Float16ToFloat32(bits[i])
		// float16 has an 11-bit significand: relative error at most 2^-11.
		if math.Abs(float64(h-v)) > math.Abs(float64(v))/2048+1e-7 {
			t.Errorf("element %d: float16 %g, float32 %g", i, h, v)
		}
	}
	spec.DType = ir.Float64
	f64, err := ToTensor(img, spec, norm)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range f32.F32() {
		if math.Abs(f64.F64()[i]-float64(v)) > 1e-6 {
			t.Errorf("element %d: float64 %g, float32 %g", i, f64.F64()[i], v)
		}
	}
	spec.DType = ir.Int32
	if _, err := ToTensor(img, spec, norm); err == nil {
		t.Error("an int32 image tensor was made")
	}
}

func TestLumaIsExactForGrayAndMatchesPIL(t *testing.T) {
	for v := range 256 {
		if got := Luma(uint8(v), uint8(v), uint8(v)); got != uint8(v) {
			t.Fatalf("Luma(%d,%d,%d) = %d", v, v, v, got)
		}
	}
	// PIL: L = R*299/1000 + G*587/1000 + B*114/1000, rounded.
	for _, c := range [][3]uint8{{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {12, 200, 99}} {
		want := math.Round(0.299*float64(c[0]) + 0.587*float64(c[1]) + 0.114*float64(c[2]))
		if got := Luma(c[0], c[1], c[2]); math.Abs(float64(got)-want) > 0.5 {
			t.Errorf("Luma%v = %d, want %g", c, got, want)
		}
	}
}

func TestPreprocessMakesABatchOfOne(t *testing.T) {
	spec := Spec{Batch: 1, Channels: 1, Height: 4, Width: 4, DType: ir.Float32}
	ten, err := Preprocess(noise(20, 10, 3), spec, Norm{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := ten.Shape; len(got) != 4 || got[0] != 1 || got[1] != 1 || got[2] != 4 || got[3] != 4 {
		t.Fatalf("shape %v, want [1 1 4 4]", got)
	}
}

func TestParseLayout(t *testing.T) {
	if l, err := ParseLayout("NHWC"); err != nil || l != NHWC {
		t.Errorf("ParseLayout(NHWC) = %v, %v", l, err)
	}
	if l, err := ParseLayout("nchw"); err != nil || l != NCHW {
		t.Errorf("ParseLayout(nchw) = %v, %v", l, err)
	}
	if _, err := ParseLayout("chw"); err == nil {
		t.Error("ParseLayout(chw) succeeded")
	}
}
