package imageprep

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
)

func sharedPath(t *testing.T, rel ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{"..", "..", "shared"}, rel...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("RUNINFER_REQUIRE_SHARED") == "1" {
			t.Fatalf("RUNINFER_REQUIRE_SHARED=1 but %s is not available: %v", p, err)
		}
		t.Skipf("skipping: %s not available (%v); set RUNINFER_REQUIRE_SHARED=1 to make this a failure", p, err)
	}
	return p
}

// TestPreprocessingMatchesTheReferenceInputs compares our tensors with the
// model test inputs in ../shared, which were made from the same photos by
// PIL-based preprocessing (each test set's SOURCE.txt names the photo and
// the preprocessing). Decoders and rounding differ slightly, so the check is
// on the mean absolute difference, in 8-bit pixel levels.
func TestPreprocessingMatchesTheReferenceInputs(t *testing.T) {
	cifar := Norm{Scale: 1.0 / 255, Mean: []float64{0.4914, 0.4822, 0.4465}, Std: []float64{0.2023, 0.1994, 0.2010}}
	imagenet, _ := PresetNorm(PresetImageNet, 3)
	caffe, _ := PresetNorm(PresetCaffe, 3)
	cases := []struct {
		name       string
		set        []string
		photo      []string
		norm       Norm
		crop       float64
		levelScale float64 // tensor units per pixel level (for the mean over channels)
		maxMean    float64 // in pixel levels
	}{
		{"ImageNet preset, resize 256 crop 224 (cat)", []string{"mobilenetv2-12", "test_data_set_0"}, []string{"winml", "cat.jpg"}, imagenet, 0, 1 / (255 * 0.226), 0.5},
		{"ImageNet preset, resize 256 crop 224 (pelican)", []string{"mobilenetv2-12", "test_data_set_2"}, []string{"wonnx", "pelican.jpeg"}, imagenet, 0, 1 / (255 * 0.226), 0.6},
		{"caffe preset, resize 256 crop 224 (dog)", []string{"squeezenet1.0", "test_data_set_1"}, []string{"pytorch_hub", "dog.jpg"}, caffe, 0, 1, 0.5},
		{"an image of the input size is used as is", []string{"cifar10-resnet20", "test_data_set_0"}, []string{"sclblonnx", "horse5.png"}, cifar, 0, 1 / (255 * 0.2009), 0.01},
		{"crop fraction 1 is a plain resize (cat to 32x32)", []string{"cifar10-resnet20", "test_data_set_1"}, []string{"winml", "cat.jpg"}, cifar, 1, 1 / (255 * 0.2009), 0.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ref, _, err := onnx.ReadTensor(filepath.Join(append(append([]string{sharedPath(t, "models")}, c.set...), "input_0.pb")...))
			if err != nil {
				t.Fatal(err)
			}
			img, _, err := DecodeFile(sharedPath(t, append([]string{"images"}, c.photo...)...), 0)
			if err != nil {
				t.Fatal(err)
			}
			spec := Spec{Batch: 1, Channels: ref.Shape[1], Height: ref.Shape[2], Width: ref.Shape[3], DType: ir.Float32}
			m, err := ResizeCrop(img, spec.Height, spec.Width, c.crop)
			if err != nil {
				t.Fatal(err)
			}
			x, err := ToTensor([]*image.RGBA{m}, spec, c.norm)
			if err != nil {
				t.Fatal(err)
			}
			rf, err := ref.ToFloat32()
			if err != nil {
				t.Fatal(err)
			}
			a, b := rf.F32(), x.F32()
			if len(a) != len(b) {
				t.Fatalf("reference has %d values, ours %d", len(a), len(b))
			}
			sum := 0.0
			for i := range a {
				sum += math.Abs(float64(a[i] - b[i]))
			}
			mean := sum / float64(len(a)) / c.levelScale
			t.Logf("mean absolute difference: %.3f pixel levels", mean)
			if mean > c.maxMean {
				t.Errorf("mean absolute difference %.3f pixel levels, want at most %.2f (geometry or filter differs from the reference)", mean, c.maxMean)
			}
		})
	}
}
