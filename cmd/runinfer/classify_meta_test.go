package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/onnx"
)

// withMetadata rewrites the model at path with the given metadata entries.
func withMetadata(t *testing.T, path string, md map[string]string) string {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m.Metadata = md
	out := strings.TrimSuffix(path, ".onnx") + "-meta.onnx"
	if err := onnx.Save(out, m); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestClassifyUsesTheModelsMetadata(t *testing.T) {
	dir := t.TempDir()
	plain := testModel{dims: dims(1, 3, 8, 8)}.write(t, dir, "m.onnx")
	img := solidPNG(t, dir, "teal.png", 20, 12, color.RGBA{10, 200, 120, 255})
	model := withMetadata(t, plain, map[string]string{
		"runinfer.labels":     `["rot","grün","blau"]`,
		"runinfer.preprocess": `{"preset":"raw"}`,
	})
	// No flags: the names and the raw preset come from the model
	// (the means are R=10, G=200, B=120).
	out, errOut, code := cli(t, "--top", "3", model, img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], "1  grün") || !strings.HasSuffix(lines[1], "2  blau") || !strings.HasSuffix(lines[2], "0  rot") {
		t.Errorf("output:\n%s\nwant grün, blau, rot", out)
	}
	// The raw preset gives probability ~1 to green (190 above the next);
	// the default imagenet preset would give a margin of a few units only.
	if !strings.HasPrefix(strings.TrimSpace(lines[0]), "100.000%") {
		t.Errorf("top line %q: the model's raw preset was not used", lines[0])
	}

	// --labels overrides the model's names.
	lbl := filepath.Join(dir, "l.txt")
	if err := os.WriteFile(lbl, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code = cli(t, "--top", "1", "--labels", lbl, model, img)
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "1  b") {
		t.Errorf("--labels: exit %d, output %q", code, out)
	}
	// --preset overrides the model's preset: caffe makes channel 0 blue.
	d := parseJSON(t, mustCLI(t, "--json", "--top", "3", "--preset", "caffe", model, img))
	if p := d.Results[0].Predictions; p[0].Index != 1 || p[1].Index != 0 || p[0].Label != "grün" {
		t.Errorf("--preset caffe: %+v", p)
	}
	// --bgr overrides the model's channel order (and keeps its raw preset).
	d = parseJSON(t, mustCLI(t, "--json", "--top", "3", "--bgr", model, img))
	if p := d.Results[0].Predictions; p[0].Index != 1 || p[1].Index != 0 || p[1].Probability > 1e-6 {
		t.Errorf("--bgr: %+v", p)
	}
}

func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args, code, errOut)
	}
	return out
}

func TestClassifyMetadataInvertAndCrop(t *testing.T) {
	dir := t.TempDir()
	plain := testModel{dims: dims(1, 3, 4, 4)}.write(t, dir, "m.onnx")
	teal := solidPNG(t, dir, "teal.png", 20, 12, color.RGBA{10, 200, 120, 255})
	inv := withMetadata(t, plain, map[string]string{"runinfer.preprocess": `{"preset":"unit","invert":true}`})
	// Inverted means (unit preset): R=245/255, G=55/255, B=135/255.
	d := parseJSON(t, mustCLI(t, "--json", "--top", "3", inv, teal))
	if p := d.Results[0].Predictions; p[0].Index != 0 || p[1].Index != 2 || p[2].Index != 1 {
		t.Errorf("invert from metadata: %+v, want 0, 2, 1", p)
	}
	d = parseJSON(t, mustCLI(t, "--json", "--top", "3", "--invert=false", inv, teal))
	if p := d.Results[0].Predictions; p[0].Index != 1 || p[1].Index != 2 {
		t.Errorf("--invert=false: %+v, want 1, 2, 0", p)
	}

	// A 40x40 image, red except for a green centre 8x8: the metadata's crop
	// of 0.2 keeps only the green centre, the default crop mostly red.
	m := image.NewRGBA(image.Rect(0, 0, 40, 40))
	for y := range 40 {
		for x := range 40 {
			c := color.RGBA{255, 0, 0, 255}
			if x >= 16 && x < 24 && y >= 16 && y < 24 {
				c = color.RGBA{0, 255, 0, 255}
			}
			m.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "centre.png")
	if err := os.WriteFile(img, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	crop := withMetadata(t, plain, map[string]string{"runinfer.preprocess": `{"preset":"raw","crop":0.2}`})
	d = parseJSON(t, mustCLI(t, "--json", "--top", "1", crop, img))
	if p := d.Results[0].Predictions; p[0].Index != 1 {
		t.Errorf("crop 0.2 from metadata: %+v, want green", p)
	}
	d = parseJSON(t, mustCLI(t, "--json", "--top", "1", "--crop", "0.875", crop, img))
	if p := d.Results[0].Predictions; p[0].Index != 0 {
		t.Errorf("--crop 0.875 overriding the metadata: %+v, want red", p)
	}
}

func TestClassifyRejectsBadMetadata(t *testing.T) {
	dir := t.TempDir()
	plain := testModel{dims: dims(1, 3, 4, 4)}.write(t, dir, "m.onnx")
	img := solidPNG(t, dir, "g.png", 4, 4, color.RGBA{0, 255, 0, 255})
	bad := withMetadata(t, plain, map[string]string{"runinfer.preprocess": `{"preset":"sepia"}`})
	_, errOut, code := cli(t, bad, img)
	expectExit(t, code, 1, errOut, "runinfer.preprocess", "sepia")
	few := withMetadata(t, plain, map[string]string{"runinfer.labels": `["only","two"]`})
	_, errOut, code = cli(t, few, img)
	expectExit(t, code, 1, errOut, "runinfer.labels metadata has 2 labels", "3 classes")
	gray := withMetadata(t, testModel{dims: dims(1, 1, 4, 4)}.write(t, dir, "g.onnx"), map[string]string{"runinfer.preprocess": `{"bgr":true}`})
	_, errOut, code = cli(t, gray, img)
	expectExit(t, code, 1, errOut, "runinfer.preprocess", "BGR")
}
