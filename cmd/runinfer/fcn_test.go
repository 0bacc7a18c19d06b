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
)

// halfPNG writes a w×h PNG whose left half is left and right half is right.
func halfPNG(t *testing.T, dir, name string, w, h int, left, right color.Color) string {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := left
			if x >= w/2 {
				c = right
			}
			m.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestFCNPrintsTheMapAndWritesTheHeatMap(t *testing.T) {
	dir := t.TempDir()
	// Class scores are the channel means over an 8x8 window.
	model := testModel{dims: dims(1, 3, 8, 8)}.write(t, dir, "m.onnx")
	photo := halfPNG(t, dir, "p.png", 16, 12, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255})
	heat := filepath.Join(dir, "heat.png")
	out, stderr, code := cli(t, "fcn", model, photo, "-o", heat, "--top", "2")
	expectExit(t, code, 0, stderr)
	for _, want := range []string{"score map: 9x5", "window 8x8, stride 1", "class 0", "class 2", "at 8,0", "at 0,0", "heat map of class"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
	f, err := os.Open(heat)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if s := img.Bounds().Size(); s != (image.Point{16, 12}) {
		t.Errorf("heat map is %v, want the photo's 16x12", s)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}

	// --class picks the heat map's class; --size scales the photo.
	out, stderr, code = cli(t, "fcn", model, photo, "-o", heat, "--class", "class 2", "--size", "8")
	expectExit(t, code, 0, stderr)
	for _, want := range []string{"score map: 3x1", "scaled to 10x8", "heat map of class 2 (class 2; 0 to its maximum 77.939% at 2,0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
}

func TestFCNUsageErrors(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 8, 8)}.write(t, dir, "m.onnx")
	photo := solidPNG(t, dir, "p.png", 16, 12, color.RGBA{255, 0, 0, 255})
	heat := filepath.Join(dir, "heat.png")
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"fcn", model, photo}, "-o HEAT.png is required"},
		{[]string{"fcn", model, "-o", heat}, "need a model and one image"},
		{[]string{"fcn", model, photo, "-o", heat, "--size", "4"}, "smaller than the model's 8x8 window"},
		{[]string{"fcn", model, photo, "-o", heat, "--class", "7"}, "classes 0..2"},
		{[]string{"fcn", model, photo, "-o", heat, "--class", "class"}, "matches 3 classes"},
		{[]string{"fcn", model, photo, "-o", heat, "--class", "zebra"}, "no class has that name"},
		{[]string{"fcn", model, photo, "-o", heat, "--top", "0"}, "--top 0"},
		{[]string{"fcn", model, photo, "-o", heat, "--preset", "nope"}, "--preset"},
	} {
		_, stderr, code := cli(t, tc.args...)
		expectExit(t, code, exitUsage, stderr, tc.msg)
	}
	if _, err := os.Stat(heat); err == nil {
		t.Error("a heat map was written although the command failed")
	}
	// An -o whose directory cannot take the file fails before the run.
	for _, tc := range []struct{ out, msg string }{
		{filepath.Join(dir, "missing", "heat.png"), "no such file"},
		{filepath.Join(photo, "heat.png"), "is not a directory"},
	} {
		stdout, stderr, code := cli(t, "fcn", model, photo, "-o", tc.out)
		expectExit(t, code, exitFailure, stderr, tc.msg)
		if stdout != "" {
			t.Errorf("-o %s: the run went ahead: %q", tc.out, stdout)
		}
	}
	out, _, code := cli(t, "help", "fcn")
	if code != 0 || !strings.Contains(out, "maximum over positions") {
		t.Errorf("help fcn: exit %d, output %q", code, out)
	}
}

func TestFCNOnMobileNetV2(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping a full-size photo in -short mode")
	}
	model := shared(t, "models", "mobilenetv2-12", "model.onnx")
	photo := shared(t, "images", "ort_examples", "kimono.jpg")
	heat := filepath.Join(t.TempDir(), "kimono.png")
	out, stderr, code := cli(t, "fcn", model, photo, "-o", heat, "--size", "448")
	expectExit(t, code, 0, stderr)
	// 448x648 -> feature map 14x21 (padded convolutions: ceil(648/32)) ->
	// 8x15 positions of a 7x7 window.
	for _, want := range []string{"score map: 15x8", "stride 32", "614  kimono"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
	if lines := strings.Split(out, "\n"); len(lines) < 3 || !strings.Contains(lines[2], "kimono") {
		t.Errorf("kimono is not the top class:\n%s", out)
	}
}
