package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

func runUsage(w io.Writer) {
	fmt.Fprint(w, `usage: runinfer run [flags] MODEL IN.pb... -o DIR

Runs MODEL on inputs read from ONNX TensorProto files (the format of the ONNX
test data, input_0.pb ...) and writes each output to DIR/output_<i>.pb, in
the model's output order, with the output's name inside.

A file whose tensor is named after a model input feeds that input; any other
file feeds the input at its own position in the argument list.

Flags:
`)
	fs, _, _ := runFlags()
	printDefaults(w, fs)
}

func runFlags() (*flag.FlagSet, *string, *levelFlag) {
	fs := newFlagSet("run")
	out := fs.String("o", "", "write output_<i>.pb files to `DIR` (created if missing; required)")
	level := &levelFlag{}
	fs.Var(level, "opt", optFlagUsage)
	return fs, out, level
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs, outDir, level := runFlags()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		runUsage(stdout)
		return exitOK
	}
	if err == nil && len(pos) == 0 {
		err = usagef("need a model: runinfer run MODEL IN.pb... -o DIR")
	}
	if err == nil && *outDir == "" {
		err = usagef("-o DIR is required (the directory for output_<i>.pb)")
	}
	if err != nil {
		return report(stderr, "run", err)
	}
	if err := runModel(pos[0], pos[1:], *outDir, level.level, stdout); err != nil {
		return report(stderr, "run", err)
	}
	return exitOK
}

func runModel(modelPath string, inFiles []string, outDir string, level graphopt.Level, stdout io.Writer) error {
	if st, err := os.Stat(outDir); err == nil && !st.IsDir() {
		return usagef("-o %s: not a directory", outDir)
	}
	_, sess, err := openSession(modelPath, &runtime.Options{Optimize: level})
	if err != nil {
		return err
	}
	ins := sess.Inputs()
	if len(inFiles) > len(ins) {
		return usagef("%d input files for a model with %d inputs (%s)", len(inFiles), len(ins), valueNames(ins))
	}
	feeds := map[string]*ir.Tensor{}
	from := map[string]string{} // input name -> file
	for i, path := range inFiles {
		t, name, err := onnx.ReadTensor(path)
		if err != nil {
			return withPath(path, err, "onnx: ")
		}
		target := ""
		for _, vi := range ins {
			if name != "" && vi.Name == name {
				target = name
			}
		}
		if target == "" {
			target = ins[i].Name
		}
		if prev, dup := from[target]; dup {
			return usagef("input %q is given twice: by %s and by %s", target, prev, path)
		}
		feeds[target] = t
		from[target] = path
	}
	var missing []*ir.ValueInfo
	for _, vi := range ins {
		if _, ok := feeds[vi.Name]; !ok {
			missing = append(missing, vi)
		}
	}
	if len(missing) > 0 {
		return usagef("no tensor file for input(s) %s", describeValues(missing))
	}
	outs, err := sess.Run(context.Background(), feeds)
	if err != nil {
		return withPath(modelPath, err, "runtime: ")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("-o %s: %w", outDir, err)
	}
	for i, t := range outs {
		name := sess.Outputs()[i].Name
		path := filepath.Join(outDir, fmt.Sprintf("output_%d.pb", i))
		if err := onnx.WriteTensor(path, name, t); err != nil {
			return withPath(path, err, "onnx: ")
		}
		fmt.Fprintf(stdout, "%s\t%s\t%v%s\n", path, name, t.DType, dimsString(t.Shape))
	}
	return nil
}

func describeValues(vs []*ir.ValueInfo) string {
	s := ""
	for i, v := range vs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%q (%v%v)", v.Name, v.DType, v.Shape)
	}
	return s
}

func dimsString(shape []int) string {
	s := "["
	for i, d := range shape {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(d)
	}
	return s + "]"
}
