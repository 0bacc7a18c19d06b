package main

import (
	"encoding/json"
	"hash/crc32"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func crcIEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

type jsonDoc struct {
	Model   string `json:"model"`
	Results []struct {
		Image       string `json:"image"`
		Error       string `json:"error"`
		Predictions []struct {
			Index       int     `json:"index"`
			Label       string  `json:"label"`
			Probability float64 `json:"probability"`
		} `json:"predictions"`
	} `json:"results"`
}

func parseJSON(t *testing.T, out string) jsonDoc {
	t.Helper()
	var d jsonDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, out)
	}
	return d
}

func TestClassifyRanksChannelMeans(t *testing.T) {
	dir := t.TempDir()
	img := solidPNG(t, dir, "teal.png", 20, 12, color.RGBA{10, 200, 120, 255})
	for _, c := range []struct {
		name  string
		model testModel
		args  []string
		order []int // class indices, best first
	}{
		// raw: the means are R=10, G=200, B=120.
		{"raw RGB", testModel{dims: dims(1, 3, 8, 8)}, []string{"--preset", "raw"}, []int{1, 2, 0}},
		// caffe: channel 0 is blue.
		{"caffe BGR", testModel{dims: dims(1, 3, 8, 8)}, []string{"--preset", "caffe"}, []int{1, 0, 2}},
		{"--bgr", testModel{dims: dims(1, 3, 8, 8)}, []string{"--preset", "unit", "--bgr"}, []int{1, 0, 2}},
		// --mean shifts channel 2 (blue) above green.
		{"a custom mean", testModel{dims: dims(1, 3, 8, 8)}, []string{"--preset", "raw", "--mean", "0,0,-100"}, []int{2, 1, 0}},
		{"an NHWC model", testModel{dims: dims(1, 8, 8, 3), nhwc: true}, []string{"--preset", "raw"}, []int{1, 2, 0}},
		{"a float16 model", testModel{dtype: ir.Float16, dims: dims(1, 3, 8, 8)}, []string{"--preset", "raw"}, []int{1, 2, 0}},
		{"a symbolic model with --size", testModel{dims: dims("N", 3, "H", "W")}, []string{"--preset", "raw", "--size", "6x10"}, []int{1, 2, 0}},
		{"a fixed batch of two", testModel{dims: dims(2, 3, 8, 8)}, []string{"--preset", "raw"}, []int{1, 2, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			model := c.model.write(t, dir, "m.onnx")
			args := append(append([]string{"--json", "--top", "3"}, c.args...), model, img)
			out, errOut, code := cli(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			d := parseJSON(t, out)
			if len(d.Results) != 1 || len(d.Results[0].Predictions) != 3 {
				t.Fatalf("unexpected results: %s", out)
			}
			sum := 0.0
			for i, p := range d.Results[0].Predictions {
				if p.Index != c.order[i] {
					t.Fatalf("ranking %+v, want indices %v", d.Results[0].Predictions, c.order)
				}
				if want := "class " + string(rune('0'+p.Index)); p.Label != want {
					t.Errorf("label %q, want %q", p.Label, want)
				}
				sum += p.Probability
			}
			if sum < 0.999 || sum > 1.001 {
				t.Errorf("probabilities sum to %g, want 1 (softmax of the means)", sum)
			}
		})
	}
}

func TestClassifySeveralImagesKeepsGoingPastABadOne(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 4, 4)}.write(t, dir, "m.onnx")
	red := solidPNG(t, dir, "red.png", 4, 4, color.RGBA{250, 0, 0, 255})
	blue := solidPNG(t, dir, "blue.png", 9, 5, color.RGBA{0, 0, 250, 255})
	bad := filepath.Join(dir, "bad.gif")
	if err := os.WriteFile(bad, []byte("GIF89a"), 0o644); err != nil {
		t.Fatal(err)
	}
	lbl := filepath.Join(dir, "rgb.txt")
	if err := os.WriteFile(lbl, []byte("red\ngreen\nblue\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli(t, "--preset", "raw", "--top", "1", "--labels", lbl, model, red, bad, blue)
	expectExit(t, code, 1, errOut, bad+": image:")
	want := red + ":\n100.000%     0  red\n\n" + blue + ":\n100.000%     2  blue\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}

	out, _, code = cli(t, "--json", "--preset", "raw", "--top", "1", "--labels", lbl, model, red, bad, blue)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	d := parseJSON(t, out)
	if len(d.Results) != 3 || d.Results[1].Error == "" || d.Results[2].Predictions[0].Label != "blue" {
		t.Errorf("JSON results %+v", d.Results)
	}
}

func TestClassifyPrintsOneImageWithoutHeader(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 4, 4)}.write(t, dir, "m.onnx")
	img := solidPNG(t, dir, "g.png", 4, 4, color.RGBA{0, 255, 0, 255})
	out, errOut, code := cli(t, "--preset", "raw", model, img, "--top", "2") // flags after the arguments work too
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], "1  class 1") {
		t.Errorf("output %q, want two lines, class 1 first", out)
	}
}

func TestClassifySubcommandNameIsOptional(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 4, 4)}.write(t, dir, "m.onnx")
	img := solidPNG(t, dir, "g.png", 4, 4, color.RGBA{0, 255, 0, 255})
	a, _, c1 := cli(t, "classify", model, img)
	b, _, c2 := cli(t, model, img)
	if c1 != 0 || c2 != 0 || a != b {
		t.Errorf("classify: %d %q; default: %d %q", c1, a, c2, b)
	}
}
