package main

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// convBNModel writes a Conv → BatchNormalization → Relu → Identity model
// with a symbolic batch.
func convBNModel(t *testing.T, dir string) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(4, 4))
	g := ir.NewGraph("convbn")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.Shape{Dims: dims("N", 3, 8, 8), Ranked: true}}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float32, Shape: ir.Shape{Dims: dims("N", 4, 8, 8), Ranked: true}}}
	param := func(name string, lo float32, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = lo + rng.Float32()
		}
		g.Initializers[name], _ = ir.FromFloat32(shape, v)
	}
	param("w", -0.5, 4, 3, 3, 3)
	param("scale", 0.5, 4)
	param("bias", -0.5, 4)
	param("mean", -0.5, 4)
	param("var", 0.1, 4)
	g.Nodes = []*ir.Node{
		{Name: "conv", Op: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}, Attrs: map[string]*ir.Attr{"pads": ir.IntsAttr("pads", []int64{1, 1, 1, 1})}},
		{Name: "bn", Op: "BatchNormalization", Inputs: []string{"c", "scale", "bias", "mean", "var"}, Outputs: []string{"n"}},
		{Name: "relu", Op: "Relu", Inputs: []string{"n"}, Outputs: []string{"r"}},
		{Name: "id", Op: "Identity", Inputs: []string{"r"}, Outputs: []string{"y"}},
	}
	path := filepath.Join(dir, "convbn.onnx")
	if err := onnx.Save(path, &ir.Model{Graph: g, Opsets: map[string]int64{"": 21}}); err != nil {
		t.Fatal(err)
	}
	return path
}

// runFile runs a model file as imported (graphopt.None) on feeds.
func runFile(t *testing.T, path string, feeds map[string]*ir.Tensor) []*ir.Tensor {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(m, &runtime.Options{Optimize: graphopt.None})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// randomInputs gives every float32 input random values (symbolic dims 1).
func randomInputs(t *testing.T, path string) map[string]*ir.Tensor {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	feeds := map[string]*ir.Tensor{}
	for _, vi := range m.Graph.Inputs {
		shape := make([]int, len(vi.Shape.Dims))
		for i, d := range vi.Shape.Dims {
			shape[i] = 1
			if d.Known() {
				shape[i] = int(d.Size)
			}
		}
		x, err := ir.NewTensor(ir.Float32, shape)
		if err != nil {
			t.Fatal(err)
		}
		for i := range x.F32() {
			x.F32()[i] = rng.Float32()*2 - 1
		}
		feeds[vi.Name] = x
	}
	return feeds
}

// maxRelDiff is max|a−b| / max|b|.
func maxRelDiff(a, b *ir.Tensor) float64 {
	d, m := 0.0, 0.0
	for i := 0; i < b.Len(); i++ {
		d = max(d, math.Abs(a.Float64At(i)-b.Float64At(i)))
		m = max(m, math.Abs(b.Float64At(i)))
	}
	return d / max(m, 1e-30)
}

func TestOptWritesAStandardModelWithTheOriginalOutputs(t *testing.T) {
	dir := t.TempDir()
	in := convBNModel(t, dir)
	out := filepath.Join(dir, "opt.onnx")
	for _, level := range []string{"basic", "all"} {
		stdout, stderr, code := cli(t, "opt", in, "-o", out, "--opt", level)
		if code != 0 {
			t.Fatalf("opt --opt %s: exit %d: %s", level, code, stderr)
		}
		for _, want := range []string{"BatchNormalization      1      0", "Identity                1      0", "total                   4      2", "wrote " + out} {
			if !strings.Contains(stdout, want) {
				t.Errorf("opt --opt %s output lacks %q:\n%s", level, want, stdout)
			}
		}
		m, err := onnx.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range m.Graph.Nodes {
			if n.Domain != "" {
				t.Errorf("opt --opt %s wrote a %s.%s node", level, n.Domain, n.Op)
			}
		}
		feeds := randomInputs(t, in)
		want, got := runFile(t, in, feeds), runFile(t, out, feeds)
		if d := maxRelDiff(got[0], want[0]); d > 1e-5 {
			t.Errorf("opt --opt %s: outputs differ by %.3g (relative)", level, d)
		}
	}
	if _, stderr, code := cli(t, "opt", in, "-o", out, "--opt", "fast"); code != exitUsage {
		t.Errorf("--opt fast: exit %d, want %d (%s)", code, exitUsage, stderr)
	}
	if _, stderr, code := cli(t, "opt", in); code != exitUsage || !strings.Contains(stderr, "-o") {
		t.Errorf("opt without -o: exit %d (%s)", code, stderr)
	}
}

func TestInfoGraphPrintsTheOptimizedGraph(t *testing.T) {
	in := convBNModel(t, t.TempDir())
	stdout, stderr, code := cli(t, "info", "--graph", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"at level all: 1 nodes (4 as imported)", "runinfer.FusedConv+Relu", "x[?,3,8,8]", "-> y[?,4,8,8]"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("info --graph lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, _ = cli(t, "info", "--graph", "--opt", "none", in)
	if !strings.Contains(stdout, "BatchNormalization") || strings.Contains(stdout, "FusedConv") {
		t.Errorf("info --graph --opt none:\n%s", stdout)
	}
}

func TestOptFlagOnRunAndBench(t *testing.T) {
	dir := t.TempDir()
	in := convBNModel(t, dir)
	feeds := randomInputs(t, in)
	x := filepath.Join(dir, "x.pb")
	if err := onnx.WriteTensor(x, "x", feeds["x"]); err != nil {
		t.Fatal(err)
	}
	var outs []*ir.Tensor
	for _, level := range []string{"none", "basic", "all"} {
		od := filepath.Join(dir, level)
		if _, stderr, code := cli(t, "run", "--opt", level, in, x, "-o", od); code != 0 {
			t.Fatalf("run --opt %s: exit %d: %s", level, code, stderr)
		}
		y, _, err := onnx.ReadTensor(filepath.Join(od, "output_0.pb"))
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, y)
		stdout, stderr, code := cli(t, "bench", "--opt", level, "--iters", "1", "--warmup", "0", "--shape", "1,3,8,8", in)
		if code != 0 || !strings.Contains(stdout, `"opt":"`+level+`"`) {
			t.Errorf("bench --opt %s: exit %d: %s%s", level, code, stdout, stderr)
		}
	}
	for i := 1; i < len(outs); i++ {
		if d := maxRelDiff(outs[i], outs[0]); d > 1e-5 {
			t.Errorf("run at level %d differs from none by %.3g", i, d)
		}
	}
	if _, _, code := cli(t, "run", "--opt", "max", in, x, "-o", dir); code != exitUsage {
		t.Errorf("run --opt max: exit %d, want %d", code, exitUsage)
	}
}

// TestOptOnZooModels optimizes alexnet and resnet18 (torch exports in
// ~/.cache/runinfer-zoo) and mobilenetv2-12 (../shared/models), logs the
// operator counts before and after, checks the written model gives the
// original outputs in runinfer, and, when node and onnxruntime-node
// (../shared/tools/ort) are installed, that onnxruntime loads it and agrees.
func TestOptOnZooModels(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: whole networks run in the full test")
	}
	home, _ := os.UserHomeDir()
	models := map[string]string{
		"alexnet":        filepath.Join(home, ".cache", "runinfer-zoo", "alexnet", "model.onnx"),
		"resnet18":       filepath.Join(home, ".cache", "runinfer-zoo", "resnet18", "model.onnx"),
		"mobilenetv2-12": filepath.Join("..", "..", "..", "shared", "models", "mobilenetv2-12", "model.onnx"),
	}
	ortJS := filepath.Join("..", "..", "..", "shared", "tools", "ort", "ort.js")
	ortHome := os.Getenv("ORT_HOME")
	if ortHome == "" {
		ortHome = filepath.Join(home, ".cache", "ort-node")
	}
	_, nodeErr := exec.LookPath("node")
	_, ortErr := os.Stat(filepath.Join(ortHome, "node_modules", "onnxruntime-node"))
	_, jsErr := os.Stat(ortJS)
	haveORT := nodeErr == nil && ortErr == nil && jsErr == nil
	if !haveORT {
		t.Log("onnxruntime check skipped: needs node, onnxruntime-node under $ORT_HOME or ~/.cache/ort-node (../shared/tools/ort/install.sh) and ../shared/tools/ort/ort.js")
	}
	for _, name := range []string{"alexnet", "resnet18", "mobilenetv2-12"} {
		t.Run(name, func(t *testing.T) {
			in := models[name]
			if _, err := os.Stat(in); err != nil {
				t.Skipf("%s not available: %v", in, err)
			}
			dir := t.TempDir()
			out := filepath.Join(dir, name+".onnx")
			stdout, stderr, code := cli(t, "opt", in, "-o", out)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			t.Logf("runinfer opt %s:\n%s", name, stdout)
			feeds := randomInputs(t, in)
			want, got := runFile(t, in, feeds), runFile(t, out, feeds)
			for i := range want {
				if d := maxRelDiff(got[i], want[i]); d > 1e-4 {
					t.Errorf("output %d differs by %.3g (relative to its largest value)", i, d)
				}
			}
			if !haveORT {
				return
			}
			var args []string
			for name, x := range feeds {
				p := filepath.Join(dir, name+".pb")
				if err := onnx.WriteTensor(p, name, x); err != nil {
					t.Fatal(err)
				}
				args = append(args, p)
			}
			od := filepath.Join(dir, "ort")
			cmd := exec.Command("node", append([]string{ortJS, "run", out}, append(args, "--out", od)...)...)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("onnxruntime on the optimized model: %v\n%s", err, b)
			}
			for i := range want {
				y, _, err := onnx.ReadTensor(filepath.Join(od, "output_"+string(rune('0'+i))+".pb"))
				if err != nil {
					t.Fatal(err)
				}
				d := maxRelDiff(y, want[i])
				if d > 1e-3 {
					t.Errorf("onnxruntime's output %d on the optimized model differs from runinfer's on the original by %.3g", i, d)
				}
				t.Logf("onnxruntime on the optimized model agrees with runinfer on the original: output %d max |diff| / max |value| = %.2g", i, d)
			}
		})
	}
}
