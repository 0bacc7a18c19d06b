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

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
)

// cli runs the program in-process.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	if strings.Contains(e.String(), "goroutine ") || strings.Contains(e.String(), "internal error") {
		t.Errorf("stderr shows a crash:\n%s", e.String())
	}
	return o.String(), e.String(), code
}

func expectExit(t *testing.T, code, want int, stderr string, wantMsg ...string) {
	t.Helper()
	if code != want {
		t.Errorf("exit code %d, want %d (stderr: %s)", code, want, stderr)
	}
	for _, m := range wantMsg {
		if !strings.Contains(stderr, m) {
			t.Errorf("stderr %q does not mention %q", stderr, m)
		}
	}
}

// testModel describes a tiny synthetic classifier: the class scores are the
// mean of each input channel, so a pure-colour image's ranking is known.
type testModel struct {
	dtype  ir.DType
	dims   []ir.Dim // input shape
	nhwc   bool
	params bool // add an unused initializer, for the parameter count
}

func dims(d ...any) []ir.Dim {
	out := make([]ir.Dim, len(d))
	for i, x := range d {
		switch v := x.(type) {
		case int:
			out[i] = ir.KnownDim(int64(v))
		case string:
			out[i] = ir.SymDim(v)
		}
	}
	return out
}

// write saves the model under dir and returns its path.
func (tm testModel) write(t *testing.T, dir, name string) string {
	t.Helper()
	g := ir.NewGraph("test")
	dt := tm.dtype
	if dt == ir.Undefined {
		dt = ir.Float32
	}
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: dt, Shape: ir.Shape{Dims: tm.dims, Ranked: true}}}
	c := tm.dims[1]
	if tm.nhwc {
		c = tm.dims[3]
		axes, err := ir.FromInt64([]int{2}, []int64{1, 2})
		if err != nil {
			t.Fatal(err)
		}
		g.Initializers["axes"] = axes
		n := &ir.Node{Op: "ReduceMean", Inputs: []string{"x", "axes"}, Outputs: []string{"y"}}
		n.SetAttr(ir.IntAttr("keepdims", 0))
		g.Nodes = append(g.Nodes, n)
	} else {
		g.Nodes = append(g.Nodes,
			&ir.Node{Op: "GlobalAveragePool", Inputs: []string{"x"}, Outputs: []string{"pooled"}},
			&ir.Node{Op: "Flatten", Inputs: []string{"pooled"}, Outputs: []string{"y"}})
	}
	if tm.params {
		w, err := ir.FromFloat32([]int{2, 5}, make([]float32, 10))
		if err != nil {
			t.Fatal(err)
		}
		g.Initializers["unused"] = w
	}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: dt, Shape: ir.Shape{Dims: []ir.Dim{tm.dims[0], c}, Ranked: true}}}
	m := &ir.Model{Graph: g, Opsets: map[string]int64{"": 21}, IRVersion: 10, ProducerName: "runinfer-test", ProducerVersion: "1"}
	path := filepath.Join(dir, name)
	if err := onnx.Save(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

func solidPNG(t *testing.T, dir, name string, w, h int, c color.Color) string {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
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

func TestHelpListsTheSubcommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		out, _, code := cli(t, args...)
		if code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
		for _, want := range []string{"classify", "run", "info", "version", "help", "MODEL IMAGE..."} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: usage does not mention %q:\n%s", args, want, out)
			}
		}
	}
	for _, sub := range []string{"classify", "run", "info", "version"} {
		out, _, code := cli(t, "help", sub)
		if code != 0 || !strings.Contains(out, "usage: runinfer") {
			t.Errorf("help %s: exit %d, output %q", sub, code, out)
		}
	}
	out, _, code := cli(t, "run", "-h")
	if code != 0 || !strings.Contains(out, "output_<i>.pb") {
		t.Errorf("run -h: exit %d, output %q", code, out)
	}
	out, _, code = cli(t, "-preset", "caffe", "-h")
	if code != 0 || !strings.Contains(out, "--preset") && !strings.Contains(out, "-preset") {
		t.Errorf("classify -h: exit %d, output %q", code, out)
	}
}

func TestNoArgumentsIsAUsageError(t *testing.T) {
	_, errOut, code := cli(t)
	expectExit(t, code, 2, errOut, "Usage:")
}

func TestVersion(t *testing.T) {
	out, _, code := cli(t, "version")
	if code != 0 || !strings.HasPrefix(out, "runinfer ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	_, errOut, code := cli(t, "version", "extra")
	expectExit(t, code, 2, errOut, "no arguments")
}

func TestUsageErrorsExitWithTwo(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 8, 8)}.write(t, dir, "m.onnx")
	gray := testModel{dims: dims(1, 1, 8, 8)}.write(t, dir, "gray.onnx")
	symbolic := testModel{dims: dims("N", 3, "H", "W")}.write(t, dir, "sym.onnx")
	img := solidPNG(t, dir, "red.png", 8, 8, color.RGBA{255, 0, 0, 255})
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"an unknown flag", []string{"--frobnicate", model, img}, []string{"runinfer: flag provided but not defined: -frobnicate", "runinfer help classify"}},
		{"a model without images", []string{model}, []string{"need a model and at least one image"}},
		{"a malformed --size", []string{"--size", "big", model, img}, []string{`--size "big"`, "224 or 240x320"}},
		{"a --size the model contradicts", []string{"--size", "300", model, img}, []string{"size 300 does not match the height 8"}},
		{"a symbolic size without --size", []string{symbolic, img}, []string{"symbolic height", "--size H[xW]"}},
		{"--top 0", []string{"--top", "0", model, img}, []string{"--top 0"}},
		{"an unknown preset", []string{"--preset", "vgg", model, img}, []string{"unknown preset", "imagenet, caffe, unit or raw"}},
		{"a mean that is not a number", []string{"--mean", "1,x,3", model, img}, []string{`"x" is not a number`}},
		{"two means for three channels", []string{"--mean", "1,2", model, img}, []string{"mean has 2 values", "3 channels"}},
		{"--bgr on a grayscale model", []string{"--bgr", gray, img}, []string{"--bgr", "1 channel"}},
		{"a bad --layout", []string{"--layout", "chw", model, img}, []string{"unknown layout"}},
		{"a bad --crop", []string{"--crop", "1.5", model, img}, []string{"--crop 1.5"}},
		{"an unknown --output", []string{"--output", "nope", model, img}, []string{`--output "nope"`, `"y"`}},
		{"run without -o", []string{"run", model}, []string{"runinfer run: -o DIR is required"}},
		{"run with an unknown flag", []string{"run", "-x", model}, []string{"flag provided but not defined: -x"}},
		{"info without a model", []string{"info"}, []string{"runinfer info: need exactly one model"}},
		{"help for an unknown command", []string{"help", "frob"}, []string{`unknown command "frob"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := cli(t, c.args...)
			expectExit(t, code, 2, errOut, c.want...)
			if out != "" {
				t.Errorf("stdout is not empty: %q", out)
			}
		})
	}
}

func TestFileAndModelErrorsExitWithOne(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 8, 8)}.write(t, dir, "m.onnx")
	img := solidPNG(t, dir, "red.png", 8, 8, color.RGBA{255, 0, 0, 255})
	notImage := filepath.Join(dir, "cat.jpg")
	if err := os.WriteFile(notImage, []byte("this is not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(dir, "truncated.png")
	data, _ := os.ReadFile(img)
	if err := os.WriteFile(truncated, data[:len(data)-20], 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(dir, "huge.png")
	if err := os.WriteFile(huge, hugePNGHeader(t), 0o644); err != nil {
		t.Fatal(err)
	}
	notModel := filepath.Join(dir, "notmodel.onnx")
	if err := os.WriteFile(notModel, []byte("\xff\xff\xff garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	labels2 := filepath.Join(dir, "two.txt")
	if err := os.WriteFile(labels2, []byte("a\nb\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"a missing image", []string{model, filepath.Join(dir, "nope.jpg")}, []string{"runinfer: " + filepath.Join(dir, "nope.jpg") + ": no such file"}},
		{"a file that is not an image", []string{model, notImage}, []string{"runinfer: " + notImage + ": image: unknown format (want JPEG, PNG, GIF, BMP or WebP)"}},
		{"a truncated image", []string{model, truncated}, []string{truncated + ": image:", "PNG"}},
		{"an image too large to decode", []string{model, huge}, []string{"megapixels", "above the limit"}},
		{"a directory as an image", []string{model, dir}, []string{dir + ": is a directory"}},
		{"a missing model", []string{filepath.Join(dir, "nope.onnx"), img}, []string{"nope.onnx: no such file"}},
		{"a directory as the model", []string{dir, img}, []string{"is a directory"}},
		{"a file that is not a model", []string{notModel, img}, []string{"notmodel.onnx", "not a valid ONNX model"}},
		{"a label file of the wrong length", []string{"--labels", labels2, model, img}, []string{"2 labels", "3 classes"}},
		{"a missing label file", []string{"--labels", filepath.Join(dir, "none.txt"), model, img}, []string{"none.txt: no such file"}},
		{"info on a missing model", []string{"info", filepath.Join(dir, "nope.onnx")}, []string{"runinfer info: ", "no such file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := cli(t, c.args...)
			expectExit(t, code, 1, errOut, c.want...)
		})
	}
}

// hugePNGHeader is a PNG whose header claims 60000x60000 pixels.
func hugePNGHeader(t *testing.T) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1))); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	put := func(off int, v uint32) {
		data[off], data[off+1], data[off+2], data[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	put(16, 15000)
	put(20, 15000)
	put(29, crcIEEE(data[12:29]))
	return data
}
