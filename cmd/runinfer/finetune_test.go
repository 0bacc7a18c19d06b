package main

import (
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
)

// writeTinyCNN saves a small 3×8×8 classifier with a 1×1 Conv head for
// `classes` classes: Conv 3→4 3×3/2, Relu, Conv 4→8 4×4, Relu, Conv 8→classes
// 1×1, Flatten.
func writeTinyCNN(t *testing.T, dir string, classes int) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	g := ir.NewGraph("tiny")
	g.Inputs = []*ir.ValueInfo{{Name: "image", DType: ir.Float32, Shape: ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(3), ir.KnownDim(8), ir.KnownDim(8)}}}}
	w := func(name string, fan int, shape ...int) string {
		n, _ := ir.NumElements(shape)
		v := make([]float32, n)
		for i := range v {
			v[i] = float32((2*rng.Float64() - 1) / math.Sqrt(float64(fan)))
		}
		tt, err := ir.FromFloat32(shape, v)
		if err != nil {
			t.Fatal(err)
		}
		g.Initializers[name] = tt
		return name
	}
	conv1 := &ir.Node{Op: "Conv", Inputs: []string{"image", w("conv1.weight", 27, 4, 3, 3, 3), w("conv1.bias", 27, 4)}, Outputs: []string{"c1"}}
	conv1.SetAttr(ir.IntsAttr("strides", []int64{2, 2}))
	conv1.SetAttr(ir.IntsAttr("pads", []int64{1, 1, 1, 1}))
	g.Nodes = []*ir.Node{
		conv1,
		{Op: "Relu", Inputs: []string{"c1"}, Outputs: []string{"r1"}},
		{Op: "Conv", Inputs: []string{"r1", w("conv2.weight", 64, 8, 4, 4, 4), w("conv2.bias", 64, 8)}, Outputs: []string{"c2"}},
		{Op: "Relu", Inputs: []string{"c2"}, Outputs: []string{"r2"}},
		{Op: "Conv", Inputs: []string{"r2", w("fc.weight", 8, classes, 8, 1, 1), w("fc.bias", 8, classes)}, Outputs: []string{"c3"}},
		{Op: "Flatten", Inputs: []string{"c3"}, Outputs: []string{"logits"}},
	}
	g.Outputs = []*ir.ValueInfo{{Name: "logits", DType: ir.Float32, Shape: ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(int64(classes))}}}}
	path := filepath.Join(dir, fmt.Sprintf("tiny%d.onnx", classes))
	if err := onnx.Save(path, &ir.Model{Graph: g, Opsets: map[string]int64{"": 21}, IRVersion: 10}); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeColourFolder writes n noisy images of each of red, green and blue.
func writeColourFolder(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	for name, c := range map[string]color.RGBA{"red": {220, 30, 30, 255}, "green": {30, 200, 40, 255}, "blue": {40, 40, 230, 255}} {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			j := func(v uint8) uint8 { return uint8(max(0, min(255, int(v)+rng.IntN(41)-20))) }
			solidPNG(t, filepath.Join(dir, name), fmt.Sprintf("%d.png", i), 10+rng.IntN(8), 10+rng.IntN(8), color.RGBA{j(c.R), j(c.G), j(c.B), 255})
		}
	}
	return dir
}

func TestFinetuneCommandTrainsAndClassifyUsesTheNames(t *testing.T) {
	dir := t.TempDir()
	model := writeTinyCNN(t, dir, 5)
	data := writeColourFolder(t, 8)
	out := filepath.Join(dir, "colours.onnx")
	stdout, stderr, code := cli(t, "finetune", "--model", model, "--data", data, "--out", out, "--head", "3",
		"--epochs", "6", "--batch", "4", "--lr", "0.05", "--preset", "unit", "--val-split", "0.25", "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "wrote "+out+": 3 classes (blue, green, red), validation accuracy 100.0% on 6 images") {
		t.Errorf("stdout %q\nstderr:\n%s", stdout, stderr)
	}
	for _, want := range []string{"epoch 6/6: loss", "head: Conv node", "validation accuracy"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, err := os.Stat(out + ".ckpt"); err != nil {
		t.Errorf("no checkpoint: %v", err)
	}
	// No flags: the names and the preprocessing come from the model.
	img := solidPNG(t, dir, "probe.png", 12, 12, color.RGBA{35, 195, 45, 255})
	got, errOut, code := cli(t, "--top", "1", out, img)
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(got), "green") {
		t.Errorf("classify: exit %d, %q %s", code, got, errOut)
	}
	// Resume for one more epoch.
	stdout, stderr, code = cli(t, "finetune", "--resume", out+".ckpt", "--data", data, "--out", out, "--epochs", "7", "--threads", "1")
	if code != 0 || !strings.Contains(stderr, "resuming") || !strings.Contains(stderr, "epoch 7/7: loss") {
		t.Errorf("resume: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestFinetuneCommandRefusesBadArguments(t *testing.T) {
	dir := t.TempDir()
	model := writeTinyCNN(t, dir, 3)
	data := writeColourFolder(t, 2)
	out := filepath.Join(dir, "o.onnx")
	base := []string{"finetune", "--model", model, "--data", data, "--out", out}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{append(base, "--head", "0"), 2, "--head 0"},
		{append(base, "--val-split", "1.5"), 2, "--val-split 1.5"},
		{append(base, "--epochs", "0"), 2, "--epochs 0"},
		{append(base, "--optimizer", "lion"), 2, "--optimizer"},
		{append(base, "--schedule", "zigzag"), 2, "--schedule"},
		{append(base, "--freeze", "re:("), 2, "freeze"},
		{append(base, "--lr", "-1"), 2, "--lr"},
		{append(base, "extra"), 2, "unexpected argument"},
		{[]string{"finetune", "--model", model, "--data", data}, 2, "--out"},
		{[]string{"finetune", "--model", model, "--out", out}, 2, "--data"},
		{[]string{"finetune", "--data", data, "--out", out}, 2, "--model"},
		{[]string{"finetune", "--resume", "x.ckpt", "--lr", "0.1", "--data", data, "--out", out}, 2, "drop --lr"},
		{[]string{"finetune", "--model", model, "--data", filepath.Join(dir, "missing"), "--out", out}, 1, "does not exist"},
		{[]string{"finetune", "--model", filepath.Join(dir, "none.onnx"), "--data", data, "--out", out}, 1, "none.onnx"},
		{append(base, "--head", "4"), 1, "--head 4, but"},
	}
	for _, c := range cases {
		_, stderr, code := cli(t, c.args...)
		expectExit(t, code, c.code, stderr, c.want)
	}
	if out, _, code := cli(t, "help", "finetune"); code != 0 || !strings.Contains(out, "--resume CKPT") {
		t.Errorf("help finetune: %d %q", code, out)
	}
}
