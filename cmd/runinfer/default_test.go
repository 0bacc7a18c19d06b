package main

import (
	"bytes"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/image/bmp"
	xdraw "golang.org/x/image/draw"

	"github.com/runinfer/runinfer/models/digits"
	"github.com/runinfer/runinfer/onnx"
)

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func encodeImage(t *testing.T, img image.Image, format string) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	switch format {
	case "png":
		err = png.Encode(&b, img)
	case "jpeg":
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	case "gif":
		err = gif.Encode(&b, img, nil)
	case "bmp":
		err = bmp.Encode(&b, img)
	default:
		t.Fatalf("unknown format %s", format)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// untrainedDigitsModel writes the default model's network, untrained but
// with its metadata, under name in dir.
func untrainedDigitsModel(t *testing.T, dir, name string) string {
	t.Helper()
	m, err := digits.NewModel(1)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := onnx.Save(p, m); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestIsImageFileSniffsContent(t *testing.T) {
	dir := t.TempDir()
	img := image.NewGray(image.Rect(0, 0, 5, 4))
	model := untrainedDigitsModel(t, dir, "model.png") // a model with an image's name
	modelBytes, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		want bool
	}{
		{"photo.onnx", encodeImage(t, img, "png"), true},
		{"photo.bin", encodeImage(t, img, "jpeg"), true},
		{"anim", encodeImage(t, img, "gif"), true},
		{"old.model", encodeImage(t, img, "bmp"), true},
		// Only the RIFF/WEBP/VP8 header: the magic bytes are what counts.
		{"pic.webp.onnx", []byte("RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00"), true},
		{"digits.png", modelBytes, false},
		{"empty.png", nil, false},
		{"text.jpg", []byte("not an image at all, just text"), false},
		{"bm.png", []byte("BM but not a bitmap"), false},
	} {
		p := writeFile(t, dir, c.name, c.data)
		if got := isImageFile(p); got != c.want {
			t.Errorf("%s: isImageFile = %v, want %v", c.name, got, c.want)
		}
	}
	if isImageFile(filepath.Join(dir, "missing.png")) {
		t.Error("a missing file is an image")
	}
	if isImageFile(dir) {
		t.Error("a directory is an image")
	}
}

// TestClassifyWithoutAModelUsesTheBuiltInOne renders held-out digits of
// both polarities (as 28×28 PNGs, as larger JPEGs, and as a PNG with a
// misleading name) and classifies them with no model argument.
func TestClassifyWithoutAModelUsesTheBuiltInOne(t *testing.T) {
	dir := t.TempDir()
	set, err := digits.Generate(77, 40, digits.Test, 1)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	want := map[string]string{}
	for i := range set.Len() {
		p := set.Params[i]
		if abs := p.Foreground - p.Background; abs < 0.5 && abs > -0.5 {
			continue // keep the clearly visible ones
		}
		d := strconv.Itoa(p.Digit)
		img := set.Image(i)
		var path string
		switch len(paths) % 3 {
		case 0:
			path = writeFile(t, dir, "d"+strconv.Itoa(i)+".png", encodeImage(t, img, "png"))
		case 1:
			// A 100×100 photo-like version, resized back by classify.
			big := image.NewGray(image.Rect(0, 0, 100, 100))
			xdraw.CatmullRom.Scale(big, big.Bounds(), img, img.Bounds(), xdraw.Src, nil)
			path = writeFile(t, dir, "d"+strconv.Itoa(i)+".jpg", encodeImage(t, big, "jpeg"))
		case 2:
			path = writeFile(t, dir, "d"+strconv.Itoa(i)+".onnx", encodeImage(t, img, "png"))
		}
		paths = append(paths, path)
		want[path] = d
	}
	if len(paths) < 15 {
		t.Fatalf("only %d clear images rendered", len(paths))
	}
	out, errOut, code := cli(t, append([]string{"--json", "--top", "3"}, paths...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	doc := parseJSON(t, out)
	if doc.Model != defaultModelArg {
		t.Errorf("model %q, want %q", doc.Model, defaultModelArg)
	}
	if len(doc.Results) != len(paths) {
		t.Fatalf("%d results for %d images", len(doc.Results), len(paths))
	}
	wrong := 0
	for _, r := range doc.Results {
		if len(r.Predictions) != 3 {
			t.Fatalf("%s: predictions %+v (error %q)", r.Image, r.Predictions, r.Error)
		}
		if got := r.Predictions[0].Label; got != want[r.Image] {
			wrong++
			t.Logf("%s: digit %s classified as %s", r.Image, want[r.Image], got)
		}
	}
	// The model is 98%+ accurate on such images: allow one mistake.
	if wrong > 1 {
		t.Errorf("%d of %d digits misclassified", wrong, len(paths))
	}

	// The committed samples, in text form: one line per class, "0".."9".
	samples, err := filepath.Glob("../../models/samples/*.png")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples in models/samples: %v", err)
	}
	for _, s := range samples {
		out, errOut, code := cli(t, s)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", s, code, errOut)
		}
		first := strings.Fields(strings.SplitN(out, "\n", 2)[0])
		if len(first) != 3 || first[2] != strings.TrimSuffix(filepath.Base(s), ".png") {
			t.Errorf("%s: first line %q, want its digit", s, strings.SplitN(out, "\n", 2)[0])
		}
	}
}

// TestAModelFirstIsStillAModel checks that a model file (even one named
// like an image) is still taken as the model, its metadata naming the
// classes.
func TestAModelFirstIsStillAModel(t *testing.T) {
	dir := t.TempDir()
	model := untrainedDigitsModel(t, dir, "model.png")
	set, err := digits.Generate(5, 1, digits.Test, 1)
	if err != nil {
		t.Fatal(err)
	}
	img := writeFile(t, dir, "digit.png", encodeImage(t, set.Image(0), "png"))
	out, errOut, code := cli(t, "--json", "--top", "10", model, img)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	doc := parseJSON(t, out)
	if doc.Model != model || len(doc.Results) != 1 || len(doc.Results[0].Predictions) != 10 {
		t.Fatalf("output %s", out)
	}
	labels := map[string]bool{}
	for _, p := range doc.Results[0].Predictions {
		if p.Label != strconv.Itoa(p.Index) {
			t.Errorf("class %d is labelled %q, want the metadata's %q", p.Index, p.Label, strconv.Itoa(p.Index))
		}
		labels[p.Label] = true
	}
	if len(labels) != 10 {
		t.Errorf("labels %v", labels)
	}
}

func TestNoModelUsageMentionsTheBuiltInModel(t *testing.T) {
	_, errOut, code := cli(t)
	expectExit(t, code, 2, errOut, "Usage:", "built-in model")
	out, _, code := cli(t, "help", "classify")
	if code != 0 || !strings.Contains(out, "built-in model") {
		t.Errorf("help classify: exit %d, does not mention the built-in model:\n%s", code, out)
	}
	dir := t.TempDir()
	model := untrainedDigitsModel(t, dir, "m.onnx")
	_, errOut, code = cli(t, model)
	expectExit(t, code, 2, errOut, "need a model and at least one image", "built-in digits model")
	// A missing file is not an image: it is taken as a model.
	_, errOut, code = cli(t, filepath.Join(dir, "missing.png"), filepath.Join(dir, "other.png"))
	expectExit(t, code, 1, errOut, "missing.png: no such file")
	// A bad image after a good one, with the built-in model: reported, the
	// rest classified, exit 1.
	set, err := digits.Generate(5, 1, digits.Test, 1)
	if err != nil {
		t.Fatal(err)
	}
	good := writeFile(t, dir, "good.png", encodeImage(t, set.Image(0), "png"))
	bad := writeFile(t, dir, "bad.png", []byte("nope"))
	out, errOut, code = cli(t, good, bad)
	expectExit(t, code, 1, errOut, "bad.png")
	if !strings.Contains(out, "%") {
		t.Errorf("the good image was not classified: %q", out)
	}
}
