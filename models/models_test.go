package models_test

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/runinfer/runinfer"
	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/models"
	"github.com/runinfer/runinfer/models/digits"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// heldOutSeed differs from the seeds models/gen trains (1 and up) and
// validates (1001) with: these images were never seen in training.
const heldOutSeed = 4242

func defaultModel(t *testing.T) *ir.Model {
	t.Helper()
	m, err := onnx.Decode(models.Default())
	if err != nil {
		t.Fatalf("decoding the embedded %s: %v", models.DefaultName, err)
	}
	return m
}

// TestDefaultModelMetadata checks what classification reads from the
// model: the class names and the preprocessing, and the input and output
// it expects.
func TestDefaultModelMetadata(t *testing.T) {
	m := defaultModel(t)
	var labels []string
	if err := json.Unmarshal([]byte(m.Metadata[imageprep.MetaLabels]), &labels); err != nil {
		t.Fatalf("%s: %v", imageprep.MetaLabels, err)
	}
	if strings.Join(labels, ",") != "0,1,2,3,4,5,6,7,8,9" {
		t.Errorf("labels %q", labels)
	}
	prep, ok, err := imageprep.FromMetadata(m.Metadata)
	if err != nil || !ok {
		t.Fatalf("FromMetadata: ok %v, %v", ok, err)
	}
	if prep.Preset != imageprep.PresetUnit || prep.Crop != 1 || prep.Invert || prep.Mean != nil || prep.Std != nil {
		t.Errorf("preprocessing %+v, want the unit preset with crop 1", prep)
	}
	g := m.Graph
	if len(g.Inputs) != 1 || g.Inputs[0].Name != digits.Input || g.Inputs[0].Shape.String() != "[N,1,28,28]" {
		t.Errorf("inputs %v", g.Inputs)
	}
	if len(g.Outputs) != 1 || g.Outputs[0].Name != digits.Output || g.Outputs[0].Shape.String() != "[N,10]" {
		t.Errorf("outputs %v", g.Outputs)
	}
}

// TestDefaultModelAccuracy renders a fresh held-out set and requires the
// embedded model to classify at least 98% of it correctly, and at least
// 97% of each polarity and of the font it never saw in training.
func TestDefaultModelAccuracy(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 2000
	}
	set, err := digits.Generate(heldOutSeed, n, digits.Test, 0)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := runtime.NewSession(defaultModel(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := digits.Evaluate(context.Background(), sess, set)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out accuracy %.2f%% (%d of %d)", 100*r.Accuracy(), r.Correct, r.Total)
	if r.Accuracy() < 0.98 {
		t.Errorf("held-out accuracy %.2f%% (%d of %d), want at least 98%%", 100*r.Accuracy(), r.Correct, r.Total)
	}
	seen := map[string]bool{}
	for _, g := range r.Groups() {
		t.Logf("  %-24s %6.2f%% (%d of %d)", g.Name, 100*g.Accuracy(), g.Correct, g.Total)
		seen[g.Name] = true
		if g.Name == "light on dark" || g.Name == "dark on light" || g.Name == "font "+digits.HeldOutFont {
			if g.Accuracy() < 0.97 {
				t.Errorf("%s: accuracy %.2f%% (%d of %d), want at least 97%%", g.Name, 100*g.Accuracy(), g.Correct, g.Total)
			}
		}
	}
	for _, g := range []string{"light on dark", "dark on light", "font " + digits.HeldOutFont} {
		if !seen[g] {
			t.Errorf("the held-out set has no %s images", g)
		}
	}
}

// classifyFile prepares an image file as runinfer's classify command does
// for this model (decode, resize to 28×28 with no crop margin, gray, 0..1)
// and returns the predicted class.
func classifyFile(t *testing.T, sess *runtime.Session, path string) int {
	t.Helper()
	img, _, err := imageprep.DecodeFile(path, 0)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	m, err := imageprep.ResizeCrop(img, digits.Size, digits.Size, 1)
	if err != nil {
		t.Fatal(err)
	}
	spec := imageprep.Spec{Batch: 1, Channels: 1, Height: digits.Size, Width: digits.Size, DType: ir.Float32}
	norm, err := imageprep.PresetNorm(imageprep.PresetUnit, 1)
	if err != nil {
		t.Fatal(err)
	}
	x, err := imageprep.ToTensor([]*image.RGBA{m}, spec, norm)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := sess.Run(context.Background(), map[string]*ir.Tensor{digits.Input: x})
	if err != nil {
		t.Fatal(err)
	}
	v := outs[0].F32()
	best := 0
	for k := range v {
		if v[k] > v[best] {
			best = k
		}
	}
	return best
}

// TestSamples runs the committed sample images, named after their digit,
// through the model, and checks that both polarities are among them.
func TestSamples(t *testing.T) {
	files, err := filepath.Glob("samples/*.png")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < digits.Classes {
		t.Fatalf("%d sample images in samples/, want one per digit", len(files))
	}
	sess, err := runtime.NewSession(defaultModel(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	polarity := map[bool]int{}
	for _, f := range files {
		want, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(f), ".png"))
		if err != nil {
			t.Fatalf("%s: sample files are named <digit>.png", f)
		}
		if got := classifyFile(t, sess, f); got != want {
			t.Errorf("%s: classified as %d", f, got)
		}
		img, _, err := imageprep.DecodeFile(f, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The corner pixel is ground: light ground means dark digits.
		r, _, _, _ := img.At(0, 0).RGBA()
		polarity[r > 0x8000]++
	}
	if polarity[true] == 0 || polarity[false] == 0 {
		t.Errorf("samples by light ground: %v; want both polarities", polarity)
	}
}

// TestDefaultIsACopy checks that a caller changing Default's bytes does not
// change the embedded model.
func TestDefaultIsACopy(t *testing.T) {
	a := models.Default()
	a[0] ^= 0xff
	if b := models.Default(); b[0] == a[0] {
		t.Error("Default returned the embedded bytes themselves")
	}
	if _, err := os.Stat(models.DefaultName); err != nil {
		t.Errorf("%s is not in the package directory: %v", models.DefaultName, err)
	}
}

// Classify a sample image with the embedded default model.
func ExampleDefault() {
	sess, err := runinfer.OpenBytes(models.Default(), nil)
	if err != nil {
		panic(err)
	}
	img, _, err := imageprep.DecodeFile("samples/7.png", 0)
	if err != nil {
		panic(err)
	}
	spec := imageprep.Spec{Batch: 1, Channels: 1, Height: 28, Width: 28}
	norm, _ := imageprep.PresetNorm(imageprep.PresetUnit, 1) // pixels 0..1
	x, err := imageprep.Preprocess(img, spec, norm)
	if err != nil {
		panic(err)
	}
	outs, err := sess.Run(context.Background(), map[string]*runinfer.Tensor{sess.Inputs()[0].Name: x})
	if err != nil {
		panic(err)
	}
	probs := imageprep.Probabilities(outs[0].F32())
	best := imageprep.TopK(probs, 1)[0]
	fmt.Println("digit", best.Index)
	// Output: digit 7
}
