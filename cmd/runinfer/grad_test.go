package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
)

// gradTestModel writes logits = x ⊙ w + b (x: N×3) whose parameters have
// awkward names: path separators, "..", a leading dot, and two names that
// sanitize to the same file.
func gradTestModel(t *testing.T, dir string) (path string, w, b []float32) {
	t.Helper()
	g := ir.NewGraph("g")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.Shape{Ranked: true, Dims: dims("N", 3)}}}
	g.Outputs = []*ir.ValueInfo{{Name: "logits", DType: ir.Float32}}
	w, b = []float32{0.5, -1, 2}, []float32{0.1, 0.2, -0.3}
	g.Initializers["../../evil/w"], _ = ir.FromFloat32([]int{3}, w)
	g.Initializers["..\\b"], _ = ir.FromFloat32([]int{3}, b)
	g.Initializers[".hidden"], _ = ir.FromFloat32([]int{3}, []float32{1, 1, 1})
	g.Initializers["__b"], _ = ir.FromFloat32([]int{3}, []float32{0, 0, 0})
	g.Nodes = []*ir.Node{
		{Op: "Mul", Inputs: []string{"x", "../../evil/w"}, Outputs: []string{"m"}},
		{Op: "Add", Inputs: []string{"m", "..\\b"}, Outputs: []string{"a"}},
		{Op: "Mul", Inputs: []string{"a", ".hidden"}, Outputs: []string{"h"}},
		{Op: "Add", Inputs: []string{"h", "__b"}, Outputs: []string{"logits"}},
	}
	path = filepath.Join(dir, "m.onnx")
	if err := onnx.Save(path, &ir.Model{Graph: g}); err != nil {
		t.Fatal(err)
	}
	return path, w, b
}

func TestGradWritesLossAndGradients(t *testing.T) {
	root := t.TempDir()
	model, w, b := gradTestModel(t, root)
	xv := []float32{1, 2, 3, -1, 0, 1}
	x, _ := ir.FromFloat32([]int{2, 3}, xv)
	in := writeTensor(t, root, "x.pb", "x", x)
	lt, _ := ir.FromInt64([]int{2}, []int64{2, 0})
	labels := writeTensor(t, root, "labels.pb", "labels", lt)
	out := filepath.Join(root, "deep", "out")
	stdout, stderr, code := cli(t, "grad", model, in, labels, "-o", out, "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}

	// The expected values, in float64: logits = x·w + b, loss the mean
	// cross-entropy, dL/dlogits = (softmax - onehot)/N.
	lab := []int{2, 0}
	loss := 0.0
	dl := make([]float64, 6)
	for i := range 2 {
		z := make([]float64, 3)
		s := 0.0
		for j := range 3 {
			z[j] = float64(xv[i*3+j])*float64(w[j]) + float64(b[j])
			s += math.Exp(z[j])
		}
		loss += math.Log(s) - z[lab[i]]
		for j := range 3 {
			dl[i*3+j] = math.Exp(z[j]) / s / 2
		}
		dl[i*3+lab[i]] -= 0.5
	}
	loss /= 2
	if !strings.HasPrefix(stdout, "loss ") {
		t.Fatalf("stdout %q", stdout)
	}
	if got, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(stdout, "loss ")), 64); err != nil || math.Abs(got-loss) > 1e-6 {
		t.Errorf("printed loss %q, want %v", stdout, loss)
	}
	read := func(rel string) (*ir.Tensor, string) {
		t.Helper()
		x, name, err := onnx.ReadTensor(filepath.Join(out, rel))
		if err != nil {
			t.Fatal(err)
		}
		return x, name
	}
	near := func(what string, got *ir.Tensor, want []float64) {
		t.Helper()
		if got.DType != ir.Float32 || got.Len() != len(want) {
			t.Fatalf("%s: %v, want %d float32 values", what, got, len(want))
		}
		for i, v := range got.F32() {
			if math.Abs(float64(v)-want[i]) > 1e-6 {
				t.Errorf("%s = %v, want %v", what, got.F32(), want)
				return
			}
		}
	}
	lo, name := read("loss.pb")
	if name != "loss" || len(lo.Shape) != 0 {
		t.Errorf("loss.pb: %q %v, want a scalar named loss", name, lo)
	}
	near("loss", lo, []float64{loss})
	gi, name := read("grad_input.pb")
	if name != "x" || !slices.Equal(gi.Shape, []int{2, 3}) {
		t.Errorf("grad_input.pb: %q %v", name, gi)
	}
	wantGX, wantGW, wantGB := make([]float64, 6), make([]float64, 3), make([]float64, 3)
	for i := range 2 {
		for j := range 3 {
			wantGX[i*3+j] = dl[i*3+j] * float64(w[j])
			wantGW[j] += dl[i*3+j] * float64(xv[i*3+j])
			wantGB[j] += dl[i*3+j]
		}
	}
	near("grad_input", gi, wantGX)

	// Every gradient file is inside DIR/grad, named as documented, with
	// the real name inside.
	files := map[string]string{
		"_.._.._evil_w.pb": "../../evil/w",
		"_.._b.pb":         "..\\b",
		"_.hidden.pb":      ".hidden",
		"__b.pb":           "__b",
	}
	entries, err := os.ReadDir(filepath.Join(out, "grad"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	var want []string
	for f := range files {
		want = append(want, f)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("grad/ holds %v, want %v", got, want)
	}
	for f, n := range files {
		if _, name := read(filepath.Join("grad", f)); name != n {
			t.Errorf("grad/%s holds %q, want %q", f, name, n)
		}
	}
	gw, _ := read(filepath.Join("grad", "_.._.._evil_w.pb"))
	near("grad w", gw, wantGW)
	gb, _ := read(filepath.Join("grad", "_.._b.pb"))
	near("grad b", gb, wantGB)
	if _, err := os.Stat(filepath.Join(root, "evil")); err == nil {
		t.Error("a file was written outside DIR")
	}
	if _, err := os.Stat(filepath.Join(root, "deep", "evil")); err == nil {
		t.Error("a file was written outside DIR")
	}
}

func TestGradFileNames(t *testing.T) {
	used := map[string]bool{}
	for _, c := range []struct{ in, want string }{
		{"conv1.weight", "conv1.weight.pb"},
		{"conv1/weight", "conv1_weight.pb"},
		{"conv1_weight", "conv1_weight~2.pb"},
		{"CONV1_WEIGHT", "CONV1_WEIGHT~3.pb"}, // the same files as the two above on a case-insensitive disk
		{"..", "_...pb"},
		{"", "_.pb"},
		{"/", "_~2.pb"},
		{"é", "_~3.pb"},
	} {
		got := gradFileName(c.in, used)
		if got != c.want {
			t.Errorf("gradFileName(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.ContainsAny(got, `/\`) || got == "." || got == ".." {
			t.Errorf("gradFileName(%q) = %q is not a plain file name", c.in, got)
		}
	}
	long := strings.Repeat("x", 300)
	a, b := gradFileName(long, used), gradFileName(long+"y", used)
	if len(a) > 130 || len(b) > 130 || a == b {
		t.Errorf("long names: %q, %q", a, b)
	}
}

func TestGradErrors(t *testing.T) {
	root := t.TempDir()
	model, _, _ := gradTestModel(t, root)
	x, _ := ir.FromFloat32([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	in := writeTensor(t, root, "x.pb", "x", x)
	li, _ := ir.FromInt64([]int{2}, []int64{0, 1})
	labels := writeTensor(t, root, "labels.pb", "labels", li)
	lf, _ := ir.FromFloat32([]int{2}, []float32{0, 1})
	floatLabels := writeTensor(t, root, "flabels.pb", "labels", lf)
	l2, _ := ir.FromInt64([]int{2, 1}, []int64{0, 1})
	labels2D := writeTensor(t, root, "labels2d.pb", "labels", l2)
	lbig, _ := ir.FromInt64([]int{2}, []int64{0, 7})
	bigLabels := writeTensor(t, root, "lbig.pb", "labels", lbig)
	l3, _ := ir.FromInt64([]int{3}, []int64{0, 1, 2})
	labels3 := writeTensor(t, root, "labels3.pb", "labels", l3)
	xb, _ := ir.FromFloat32([]int{2, 4}, make([]float32, 8))
	badX := writeTensor(t, root, "xb.pb", "x", xb)
	garbage := filepath.Join(root, "garbage.pb")
	os.WriteFile(garbage, []byte("\xff\xff\xff not a tensor"), 0o644)
	afile := filepath.Join(root, "afile")
	os.WriteFile(afile, nil, 0o644)
	out := filepath.Join(root, "out")
	missing := filepath.Join(root, "missing.pb")

	for _, c := range []struct {
		name string
		args []string
		code int
		msg  []string
	}{
		{"no -o", []string{model, in, labels}, exitUsage, []string{"-o DIR is required"}},
		{"too few", []string{model, in, "-o", out}, exitUsage, []string{"need MODEL IN.pb LABELS.pb"}},
		{"too many", []string{model, in, labels, labels, "-o", out}, exitUsage, []string{"need MODEL IN.pb LABELS.pb"}},
		{"negative threads", []string{model, in, labels, "-o", out, "--threads", "-2"}, exitUsage, []string{"--threads -2"}},
		{"-o is a file", []string{model, in, labels, "-o", afile}, exitUsage, []string{"not a directory"}},
		{"missing model", []string{missing, in, labels, "-o", out}, exitFailure, []string{"missing.pb: no such file"}},
		{"missing input", []string{model, missing, labels, "-o", out}, exitFailure, []string{"missing.pb: no such file"}},
		{"missing labels", []string{model, in, missing, "-o", out}, exitFailure, []string{"missing.pb: no such file"}},
		{"corrupt labels", []string{model, in, garbage, "-o", out}, exitFailure, []string{"garbage.pb"}},
		{"float labels", []string{model, in, floatLabels, "-o", out}, exitFailure, []string{"flabels.pb", "float32[2]", "integer"}},
		{"2-D labels", []string{model, in, labels2D, "-o", out}, exitFailure, []string{"labels2d.pb", "1-D"}},
		{"label out of range", []string{model, in, bigLabels, "-o", out}, exitFailure, []string{"label 7 of row 1 is out of range"}},
		{"label count", []string{model, in, labels3, "-o", out}, exitFailure, []string{"3 labels for 2 rows"}},
		{"input shape", []string{model, badX, labels, "-o", out}, exitFailure, []string{"dimension 1 must be 3"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := cli(t, append([]string{"grad"}, c.args...)...)
			expectExit(t, code, c.code, stderr, c.msg...)
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run created the output directory")
	}
	stdout, _, code := cli(t, "help", "grad")
	if code != 0 || !strings.Contains(stdout, "grad/<name>.pb") || !strings.Contains(stdout, "--training") {
		t.Errorf("help grad: %d %q", code, stdout)
	}
}

// TestGradMatchesPyTorch runs a ../shared/gradcheck case through the
// command and compares its files with PyTorch's (tolerances as in the
// runtime's TestGradcheckShared: rtol 1e-3, atol 1e-4 of the tensor's
// largest magnitude, for float32 sums taken in different orders).
func TestGradMatchesPyTorch(t *testing.T) {
	dir := testenv.Shared(t, "gradcheck", "residual_block")
	out := t.TempDir()
	_, stderr, code := cli(t, "grad", filepath.Join(dir, "model.onnx"), filepath.Join(dir, "input_0.pb"), filepath.Join(dir, "labels.pb"), "-o", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	compare := func(got, want string) {
		t.Helper()
		g, _, err := onnx.ReadTensor(got)
		if err != nil {
			t.Fatal(err)
		}
		w, _, err := onnx.ReadTensor(want)
		if err != nil {
			t.Fatal(err)
		}
		if g.Len() != w.Len() {
			t.Fatalf("%s has %d values, PyTorch's %d", got, g.Len(), w.Len())
		}
		big := 0.0
		for i := range w.Len() {
			big = math.Max(big, math.Abs(w.Float64At(i)))
		}
		for i := range w.Len() {
			if e := math.Abs(g.Float64At(i) - w.Float64At(i)); e > 1e-4*big+1e-3*math.Abs(w.Float64At(i)) {
				t.Errorf("%s[%d] = %v, PyTorch %v", filepath.Base(got), i, g.Float64At(i), w.Float64At(i))
				return
			}
		}
	}
	compare(filepath.Join(out, "loss.pb"), filepath.Join(dir, "expected", "loss.pb"))
	compare(filepath.Join(out, "grad_input.pb"), filepath.Join(dir, "expected", "grad_input.pb"))
	want, err := os.ReadDir(filepath.Join(dir, "expected", "grad"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadDir(filepath.Join(out, "grad"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("%d gradient files, PyTorch wrote %d", len(got), len(want))
	}
	for _, e := range want {
		compare(filepath.Join(out, "grad", e.Name()), filepath.Join(dir, "expected", "grad", e.Name()))
	}
}
