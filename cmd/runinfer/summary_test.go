package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/summary"
)

// summaryModel writes a small CNN: Conv 3x3/2 (8 channels), BatchNorm,
// Relu, MaxPool 2/2, GlobalAveragePool, Flatten, Gemm to 5 classes. Its
// input is [N,3,H,W] with H and W symbolic when symbolic is set, else
// [N,3,16,16].
func summaryModel(t *testing.T, symbolic bool) string {
	t.Helper()
	g := ir.NewGraph("cnn")
	h, w := ir.KnownDim(16), ir.KnownDim(16)
	if symbolic {
		h, w = ir.SymDim("H"), ir.SymDim("W")
	}
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(3), h, w}}}}
	g.Outputs = []*ir.ValueInfo{{Name: "logits", DType: ir.Float32}}
	add := func(name string, shape ...int) string {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = 0.5 + float32(i%7)/10 // positive: valid BatchNorm variances
		}
		tt, err := ir.FromFloat32(shape, data)
		if err != nil {
			t.Fatal(err)
		}
		g.Initializers[name] = tt
		return name
	}
	node := func(op, out string, in []string, attrs ...*ir.Attr) {
		n := &ir.Node{Op: op, Name: out, Inputs: in, Outputs: []string{out}}
		for _, a := range attrs {
			n.SetAttr(a)
		}
		g.Nodes = append(g.Nodes, n)
	}
	node("Conv", "conv", []string{"x", add("w", 8, 3, 3, 3)}, ir.IntsAttr("strides", []int64{2, 2}), ir.IntsAttr("pads", []int64{1, 1, 1, 1}))
	node("BatchNormalization", "bn", []string{"conv", add("scale", 8), add("bias", 8), add("mean", 8), add("var", 8)})
	node("Relu", "relu", []string{"bn"})
	node("MaxPool", "pool", []string{"relu"}, ir.IntsAttr("kernel_shape", []int64{2, 2}), ir.IntsAttr("strides", []int64{2, 2}))
	node("GlobalAveragePool", "gap", []string{"pool"})
	node("Flatten", "flat", []string{"gap"})
	node("Gemm", "logits", []string{"flat", add("fc", 5, 8), add("fcb", 5)}, ir.IntAttr("transB", 1))
	path := filepath.Join(t.TempDir(), "cnn.onnx")
	if err := onnx.Save(path, &ir.Model{Graph: g, Opsets: map[string]int64{"": 13}, IRVersion: 8}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSummaryPrintsLayersAndTotals(t *testing.T) {
	path := summaryModel(t, false)
	out, errOut, code := cli(t, "summary", path)
	expectExit(t, code, 0, errOut)
	// The command prints what the Go API writes.
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := summary.Of(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := s.WriteText(&want); err != nil {
		t.Fatal(err)
	}
	if out != want.String() {
		t.Errorf("summary output:\n%s\nwant (summary.WriteText):\n%s", out, want.String())
	}
	// conv: 8·3·3·3 = 216 weights, 8·8·8 outputs × 27 taps = 13,824 MACs,
	// rf 3 jump 2; the BatchNorm's 4×8 floats; pool: rf 3 + 1·2 = 5, jump
	// 4; Gemm: 45 parameters, 40 MACs, sees everything.
	for _, row := range []string{
		`0  Conv .* \[1,8,8,8\] +216 +13,824 +3 +2  conv`,
		`1  BatchNormalization .* 32 +0 +3 +2  bn`,
		`3  MaxPool .* \[1,8,4,4\] +0 +0 +5 +4  pool`,
		`4  GlobalAveragePool .* all +-  gap`,
		`6  Gemm .* \[1,5\] +45 +40 +all +-  logits`,
		`parameters: 293\n`,
		`MACs: +13,864 \(13.9k\)\n`,
	} {
		if !regexp.MustCompile(row).MatchString(out) {
			t.Errorf("no line matching %q in:\n%s", row, out)
		}
	}
	// --opt basic folds the BatchNorm into the convolution: 8 biases
	// replace its 32 floats.
	out, errOut, code = cli(t, "summary", "--opt", "basic", path)
	expectExit(t, code, 0, errOut)
	if strings.Contains(out, "BatchNormalization") || !strings.Contains(out, "parameters: 269\n") {
		t.Errorf("--opt basic:\n%s", out)
	}
}

func TestSummaryDot(t *testing.T) {
	out, errOut, code := cli(t, "summary", "--format", "dot", summaryModel(t, false))
	expectExit(t, code, 0, errOut)
	if !strings.HasPrefix(out, `digraph "cnn" {`) || !strings.HasSuffix(out, "}\n") {
		t.Errorf("not a DOT digraph:\n%s", out)
	}
	for _, want := range []string{`label="Conv\n[1,8,8,8]"`, `label="Gemm\n[1,5]"`, "input0 -> n0", "n6 -> output0"} {
		if !strings.Contains(out, want) {
			t.Errorf("DOT output lacks %q:\n%s", want, out)
		}
	}
}

func TestSummaryShapes(t *testing.T) {
	path := summaryModel(t, true)
	_, errOut, code := cli(t, "summary", path)
	expectExit(t, code, exitUsage, errOut, "symbolic", "--shape")
	for _, args := range [][]string{{"--shape", "1,3,32,24"}, {"--shape", "x=1,3,32,24"}, {path, "--shape=1,3,32,24"}} {
		if args[0] != path {
			args = append(args, path)
		}
		out, errOut, code := cli(t, append([]string{"summary"}, args...)...)
		expectExit(t, code, 0, errOut)
		if !strings.Contains(out, "input:  x float32[1,3,32,24]") || !strings.Contains(out, "[1,8,8,6]") {
			t.Errorf("%v:\n%s", args, out)
		}
	}
	_, errOut, code = cli(t, "summary", "--shape", "y=1,3,8,8", path)
	expectExit(t, code, exitUsage, errOut, `no input "y"`)
	_, errOut, code = cli(t, "summary", "--shape", "1,3,x,8", path)
	expectExit(t, code, exitUsage, errOut, "--shape")
	_, errOut, code = cli(t, "summary", "--shape", "1,3,8", path)
	expectExit(t, code, exitFailure, errOut, "rank")
	_, errOut, code = cli(t, "summary", "--shape", "1,3,1,1", path) // the conv gives 1x1, too small for the 2x2 pool
	expectExit(t, code, exitFailure, errOut, "MaxPool")
}

func TestSummaryErrors(t *testing.T) {
	path := summaryModel(t, false)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.onnx")
	if err := os.WriteFile(junk, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"summary"}, exitUsage, "need exactly one model"},
		{[]string{"summary", path, path}, exitUsage, "need exactly one model"},
		{[]string{"summary", "--format", "svg", path}, exitUsage, "--format"},
		{[]string{"summary", "--opt", "max", path}, exitUsage, "--opt"},
		{[]string{"summary", "--nope", path}, exitUsage, "nope"},
		{[]string{"summary", filepath.Join(dir, "missing.onnx")}, exitFailure, "no such file"},
		{[]string{"summary", junk}, exitFailure, "junk.onnx"},
	} {
		out, errOut, code := cli(t, c.args...)
		expectExit(t, code, c.code, errOut, c.msg)
		if out != "" {
			t.Errorf("%v: printed %q on stdout", c.args, out)
		}
	}
}

func TestSummaryHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "summary"}, {"summary", "-h"}} {
		out, errOut, code := cli(t, args...)
		expectExit(t, code, 0, errOut)
		for _, want := range []string{"usage: runinfer summary", "receptive field", "--format", "-shape", "-opt"} {
			if !strings.Contains(out, want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
	}
	out, _, _ := cli(t, "help")
	if !strings.Contains(out, "summary") {
		t.Errorf("help does not list summary:\n%s", out)
	}
}

// AlexNet (the Caffe model of ../shared): its last pooling sees 195×195
// pixels with a jump of 32.
func TestSummaryAlexNetReceptiveField(t *testing.T) {
	path := shared(t, "models", "light-bvlc-alexnet", "model.onnx")
	out, errOut, code := cli(t, "summary", path)
	expectExit(t, code, 0, errOut)
	var last string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "MaxPool" {
			last = line
		}
	}
	if f := strings.Fields(last); len(f) < 7 || f[5] != "195" || f[6] != "32" {
		t.Errorf("last MaxPool row %q: want rf 195 and jump 32\n%s", last, out)
	}
}
