package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
)

func writeTensor(t *testing.T, dir, file, name string, x *ir.Tensor) string {
	t.Helper()
	p := filepath.Join(dir, file)
	if err := onnx.WriteTensor(p, name, x); err != nil {
		t.Fatal(err)
	}
	return p
}

func ramp(t *testing.T, shape []int) *ir.Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(i)
	}
	x, err := ir.FromFloat32(shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestRunWritesOutputsWithTheirNames(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 2, 2)}.write(t, dir, "m.onnx")
	for _, c := range []struct {
		name, tensorName string
	}{
		{"matched by name", "x"},
		{"matched by position", ""},
		{"an unknown name falls back to position", "something_else"},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := writeTensor(t, dir, "in.pb", c.tensorName, ramp(t, []int{1, 3, 2, 2}))
			outDir := filepath.Join(dir, "out", c.tensorName)
			stdout, errOut, code := cli(t, "run", model, in, "-o", outDir)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(stdout, "output_0.pb") || !strings.Contains(stdout, "float32[1,3]") {
				t.Errorf("stdout %q", stdout)
			}
			got, name, err := onnx.ReadTensor(filepath.Join(outDir, "output_0.pb"))
			if err != nil {
				t.Fatal(err)
			}
			if name != "y" {
				t.Errorf("output tensor named %q, want y", name)
			}
			// Channel means of 0..11 in blocks of four: 1.5, 5.5, 9.5.
			want := []float32{1.5, 5.5, 9.5}
			for i, v := range got.F32() {
				if v != want[i] {
					t.Fatalf("output %v, want %v", got.F32(), want)
				}
			}
		})
	}
}

func TestRunInputErrors(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims(1, 3, 2, 2)}.write(t, dir, "m.onnx")
	in := writeTensor(t, dir, "in.pb", "x", ramp(t, []int{1, 3, 2, 2}))
	in2 := writeTensor(t, dir, "in2.pb", "x", ramp(t, []int{1, 3, 2, 2}))
	wrong := writeTensor(t, dir, "wrong.pb", "x", ramp(t, []int{1, 3, 4, 4}))
	garbage := filepath.Join(dir, "garbage.pb")
	if err := os.WriteFile(garbage, []byte("\xff\xff\xff"), 0o644); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no input file for the input", []string{"run", model, "-o", out}, 2, []string{`no tensor file for input(s) "x" (float32[1,3,2,2])`}},
		{"more files than inputs", []string{"run", model, in, in2, "-o", out}, 2, []string{"2 input files for a model with 1 inputs"}},
		{"a missing tensor file", []string{"run", model, filepath.Join(dir, "none.pb"), "-o", out}, 1, []string{"none.pb: no such file"}},
		{"a corrupt tensor file", []string{"run", model, garbage, "-o", out}, 1, []string{"garbage.pb", "not a valid TensorProto"}},
		{"a tensor of the wrong shape", []string{"run", model, wrong, "-o", out}, 1, []string{"m.onnx", "dimension 2 must be 2"}},
		{"-o naming a file", []string{"run", model, in, "-o", notDir}, 2, []string{"not a directory"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, errOut, code := cli(t, c.args...)
			expectExit(t, code, c.code, errOut, c.want...)
		})
	}
}

func TestInfoDescribesTheModel(t *testing.T) {
	dir := t.TempDir()
	model := testModel{dims: dims("N", 3, 8, 8), params: true}.write(t, dir, "m.onnx")
	out, errOut, code := cli(t, "info", model)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"IR version:  10", "producer:    runinfer-test 1", "opsets:      ai.onnx 21",
		"inputs:\n  x float32[N,3,8,8]", "outputs:\n  y float32[N,3]",
		"parameters:  10 in 1 initializers", "ops:         2 nodes, 2 kinds", "  Flatten           1", "  GlobalAveragePool 1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("info output lacks %q:\n%s", want, out)
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestInfoOpsListsSupportedOperators(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run([]string{"info", "--ops"}, &out, &errw); code != 0 {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	for _, op := range []string{"Conv", "Upsample", "Resize", "BatchNormalization"} {
		if !strings.Contains(out.String(), op) {
			t.Errorf("--ops output lacks %s:\n%s", op, out.String())
		}
	}
	if code := run([]string{"info", "--ops", "model.onnx"}, &out, &errw); code != 2 {
		t.Errorf("--ops with a model: exit %d, want 2", code)
	}
}
