package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
	"github.com/runinfer/runinfer/simd"
)

func TestBenchPrintsOneJSONLine(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 8, 8)}.write(t, dir, "m.onnx")
	stdout, stderr, code := cli(t, "bench", model, "--threads", "2", "--iters", "3", "--warmup", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Count(stdout, "\n") != 1 {
		t.Fatalf("want exactly one line, got %q", stdout)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("not JSON: %v: %q", err, stdout)
	}
	for _, k := range []string{"model", "threads", "iters", "median_ms", "min_ms", "max_ms", "gflops", "tier"} {
		if _, ok := res[k]; !ok {
			t.Errorf("no %q in %s", k, stdout)
		}
	}
	if res["threads"] != 2.0 || res["iters"] != 3.0 || res["model"] != model {
		t.Errorf("threads/iters/model wrong: %s", stdout)
	}
	if res["tier"] != simd.Best().Tier.String() {
		t.Errorf("tier %v, want %s", res["tier"], simd.Best().Tier)
	}
	if !(res["min_ms"].(float64) <= res["median_ms"].(float64) && res["median_ms"].(float64) <= res["max_ms"].(float64)) {
		t.Errorf("min <= median <= max does not hold: %s", stdout)
	}
}

func TestBenchNeedsShapesForSymbolicDimensions(t *testing.T) {
	dir := t.TempDir()
	// A symbolic batch alone is taken as 1 (compare.sh passes no --shape).
	batchOnly := testModel{dims: dims("N", 3, 8, 8)}.write(t, dir, "batch.onnx")
	if stdout, stderr, code := cli(t, "bench", batchOnly, "--iters", "1", "--warmup", "0"); code != 0 || !strings.Contains(stdout, `"median_ms"`) {
		t.Fatalf("symbolic batch: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	// Symbolic spatial dimensions need --shape.
	model := testModel{dims: dims("N", 3, "H", 8)}.write(t, dir, "m.onnx")
	_, stderr, code := cli(t, "bench", model, "--iters", "1")
	expectExit(t, code, exitUsage, stderr, "symbolic", "--shape", "1,3,1,8")
	for _, shape := range []string{"2,3,8,8", "x=2,3,8,8"} {
		stdout, stderr, code := cli(t, "bench", model, "--iters", "1", "--warmup", "0", "--shape", shape)
		if code != 0 || !strings.Contains(stdout, `"median_ms"`) {
			t.Errorf("--shape %s: exit %d, stdout %q, stderr %q", shape, code, stdout, stderr)
		}
	}
	_, stderr, code = cli(t, "bench", model, "--shape", "y=2,3,8,8")
	expectExit(t, code, exitUsage, stderr, `no input "y"`)
	_, stderr, code = cli(t, "bench", model, "--shape", "2,x,8,8")
	expectExit(t, code, exitUsage, stderr, "not a dimension")
	_, stderr, code = cli(t, "bench", model, "--shape", "2,4,8,8")
	expectExit(t, code, exitFailure, stderr, "[N,3,H,8]")
}

func TestBenchRejectsBadFlags(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 8, 8)}.write(t, dir, "m.onnx")
	_, stderr, code := cli(t, "bench", model, "--tier", "sse9")
	expectExit(t, code, exitUsage, stderr, "sse9")
	_, stderr, code = cli(t, "bench", model, "--iters", "0")
	expectExit(t, code, exitUsage, stderr, "--iters")
	_, stderr, code = cli(t, "bench")
	expectExit(t, code, exitUsage, stderr, "one model")
	for _, tier := range simd.Available() {
		stdout, stderr, code := cli(t, "bench", model, "--iters", "1", "--tier", tier.String())
		if code != 0 || !strings.Contains(stdout, `"tier":"`+tier.String()+`"`) {
			t.Errorf("--tier %s: exit %d, stdout %q, stderr %q", tier, code, stdout, stderr)
		}
	}
	stdout, _, code := cli(t, "bench", model, "--iters", "1", "--reference")
	if code != 0 || !strings.Contains(stdout, `"mode":"reference"`) {
		t.Errorf("--reference: exit %d, stdout %q", code, stdout)
	}
}

// flopsModel writes a small model with a Conv, a depthwise Conv, a Gemm and
// a MatMul (named nodes) and returns its path.
func flopsModel(t *testing.T) string {
	t.Helper()
	g := ir.NewGraph("f")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.Shape{Ranked: true, Dims: dims("N", 3, 8, 8)}}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float32}}
	g.Initializers["w"], _ = ir.FromFloat32([]int{4, 3, 3, 3}, make([]float32, 108))
	g.Initializers["dw"], _ = ir.FromFloat32([]int{4, 1, 3, 3}, make([]float32, 36))
	g.Initializers["fc"], _ = ir.FromFloat32([]int{10, 256}, make([]float32, 2560))
	g.Initializers["mm"], _ = ir.FromFloat32([]int{10, 7}, make([]float32, 70))
	conv := &ir.Node{Name: "conv", Op: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}}
	conv.SetAttr(ir.IntsAttr("pads", []int64{1, 1, 1, 1}))
	dw := &ir.Node{Name: "dw", Op: "Conv", Inputs: []string{"c", "dw"}, Outputs: []string{"d"}}
	dw.SetAttr(ir.IntsAttr("pads", []int64{1, 1, 1, 1}))
	dw.SetAttr(ir.IntAttr("group", 4))
	gemm := &ir.Node{Name: "fc", Op: "Gemm", Inputs: []string{"f", "fc"}, Outputs: []string{"g"}}
	gemm.SetAttr(ir.IntAttr("transB", 1))
	g.Nodes = []*ir.Node{conv, dw,
		{Op: "Flatten", Inputs: []string{"d"}, Outputs: []string{"f"}}, gemm,
		{Op: "MatMul", Inputs: []string{"g", "mm"}, Outputs: []string{"y"}}}
	m := &ir.Model{Graph: g, Opsets: map[string]int64{"": 21}, IRVersion: 10}
	path := filepath.Join(t.TempDir(), "f.onnx")
	if err := onnx.Save(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestModelFLOPsCountsConvGemmAndMatMul(t *testing.T) {
	path := flopsModel(t)
	loaded, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := runtime.NewSession(loaded, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, perNode, err := modelFLOPs(s, map[string][]int{"x": {2, 3, 8, 8}})
	if err != nil {
		t.Fatal(err)
	}
	// Keyed by each node's first output: the MatMul has no name.
	if perNode["c"] != 2*2*256*27 || perNode["g"] != 2*2*10*256 || perNode["y"] != 2*2*7*10 {
		t.Errorf("per-node FLOPs %v: want c %d, g %d, y %d", perNode, 2*2*256*27, 2*2*10*256, 2*2*7*10)
	}
	// Per image: conv 4·8·8 outputs × 27 taps, depthwise 4·8·8 × 9,
	// Gemm 10 × 256, MatMul 7 × 10; two multiply-add FLOPs each, 2 images.
	want := 2.0 * 2 * (256*27 + 256*9 + 10*256 + 7*10)
	if got != want {
		t.Fatalf("FLOPs %v, want %v", got, want)
	}
}

func TestBenchProfilePrintsWhereTheTimeGoes(t *testing.T) {
	model := flopsModel(t)
	stdout, stderr, code := cli(t, "bench", model, "--iters", "2", "--warmup", "0", "--profile")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	first, rest, _ := strings.Cut(stdout, "\n")
	var res map[string]any
	if err := json.Unmarshal([]byte(first), &res); err != nil {
		t.Fatalf("first line is not the JSON result: %v: %q", err, first)
	}
	for _, want := range []string{"2 runs", "op", "GFLOP/s", "slowest", "Gemm", "[1,4,8,8]", "conv", "dw", "fc", "(y)"} {
		if !strings.Contains(rest, want) {
			t.Errorf("profile lacks %q:\n%s", want, rest)
		}
	}
	// The reference interpreter has no plan, hence no profile.
	stdout, _, code = cli(t, "bench", model, "--iters", "1", "--warmup", "0", "--profile", "--reference")
	if code != 0 || strings.Count(stdout, "\n") != 1 {
		t.Errorf("--reference --profile: exit %d, output %q", code, stdout)
	}
}
