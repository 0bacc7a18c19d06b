package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

func gradUsage(w io.Writer) {
	fmt.Fprint(w, `usage: runinfer grad [flags] MODEL IN.pb LABELS.pb -o DIR

Runs MODEL forward on the batch in IN.pb (an ONNX TensorProto, the model's
single input), takes the mean softmax cross-entropy of its first output (the
logits, N×C or N×C×1×1) against the class ids in LABELS.pb (an integer
tensor of N values), runs backward, and writes to DIR (created if missing):

  DIR/loss.pb               the loss, a float32 scalar
  DIR/grad_input.pb         dLoss/dInput, named after the input
  DIR/grad/<name>.pb        dLoss/dW for every trainable initializer: the
                            float initializers read by differentiable inputs
                            (BatchNormalization's running mean and variance
                            are buffers and have none)

Each gradient file holds the initializer's real name inside. File names are
the initializer names with every character other than letters, digits, '.',
'-' and '_' replaced by '_' ('/' included, so nothing is written outside
DIR), a leading '.' prefixed with '_', and "~2", "~3"... appended when two
names map to the same file (ignoring case); names over 120 bytes are
shortened with a hash.

By default the model runs with inference semantics (BatchNormalization uses
its running statistics, Dropout passes everything): PyTorch's eval mode.
--training uses the batch's statistics and drops, as in training.

The loss is printed on standard output.

Flags:
`)
	fs, _, _, _ := gradFlags()
	printDefaults(w, fs)
}

func gradFlags() (*flag.FlagSet, *string, *int, *bool) {
	fs := newFlagSet("grad")
	out := fs.String("o", "", "write loss.pb, grad_input.pb and grad/ to `DIR` (created if missing; required)")
	threads := fs.Int("threads", 0, "goroutines to use (0: all CPUs)")
	training := fs.Bool("training", false, "training semantics: batch statistics in BatchNormalization, Dropout active")
	return fs, out, threads, training
}

func gradCmd(args []string, stdout, stderr io.Writer) int {
	fs, outDir, threads, training := gradFlags()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		gradUsage(stdout)
		return exitOK
	}
	if err == nil && len(pos) != 3 {
		err = usagef("need MODEL IN.pb LABELS.pb, got %d argument(s)", len(pos))
	}
	if err == nil && *outDir == "" {
		err = usagef("-o DIR is required (the directory for loss.pb, grad_input.pb and grad/)")
	}
	if err == nil && *threads < 0 {
		err = usagef("--threads %d: must be 0 (all CPUs) or more", *threads)
	}
	if err != nil {
		return report(stderr, "grad", err)
	}
	if err := gradModel(pos[0], pos[1], pos[2], *outDir, *threads, *training, stdout); err != nil {
		return report(stderr, "grad", err)
	}
	return exitOK
}

func gradModel(modelPath, inPath, labelsPath, outDir string, threads int, training bool, stdout io.Writer) error {
	if st, err := os.Stat(outDir); err == nil && !st.IsDir() {
		return usagef("-o %s: not a directory", outDir)
	}
	m, err := loadModel(modelPath)
	if err != nil {
		return err
	}
	tr, err := runtime.NewTrainer(m, &runtime.TrainOptions{Threads: threads, Training: training})
	if err != nil {
		return withPath(modelPath, err, "runtime: ")
	}
	x, _, err := onnx.ReadTensor(inPath)
	if err != nil {
		return withPath(inPath, err, "onnx: ")
	}
	lt, _, err := onnx.ReadTensor(labelsPath)
	if err != nil {
		return withPath(labelsPath, err, "onnx: ")
	}
	if !lt.DType.IsInt() {
		return fmt.Errorf("%s: the labels are %v%s, want an integer tensor of class ids", labelsPath, lt.DType, dimsString(lt.Shape))
	}
	if len(lt.Shape) > 1 {
		return fmt.Errorf("%s: the labels have shape %s, want one class id per row (1-D)", labelsPath, dimsString(lt.Shape))
	}
	labels, err := lt.Int64s()
	if err != nil {
		return fmt.Errorf("%s: %w", labelsPath, err)
	}
	res, err := tr.Step(context.Background(), x, labels, true)
	if err != nil {
		return fmt.Errorf("%s on %s and %s: %w", modelPath, inPath, labelsPath, err)
	}
	gradDir := filepath.Join(outDir, "grad")
	if err := os.MkdirAll(gradDir, 0o755); err != nil {
		return fmt.Errorf("-o %s: %w", outDir, err)
	}
	write := func(path, name string, t *ir.Tensor) error {
		if err := onnx.WriteTensor(path, name, t); err != nil {
			return withPath(path, err, "onnx: ")
		}
		return nil
	}
	if err := write(filepath.Join(outDir, "loss.pb"), "loss", ir.Scalar(float32(res.Loss))); err != nil {
		return err
	}
	if err := write(filepath.Join(outDir, "grad_input.pb"), tr.Input().Name, res.GradInput); err != nil {
		return err
	}
	used := map[string]bool{}
	for _, p := range tr.Params() {
		file := gradFileName(p, used)
		if err := write(filepath.Join(gradDir, file), p, res.Grads[p]); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "loss %.7g\n", res.Loss)
	return nil
}

// gradFileName maps an initializer name to a file name that stays inside
// its directory (see gradUsage), distinct from those in used (updated).
func gradFileName(name string, used map[string]bool) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	base := b.String()
	if base == "" || base[0] == '.' {
		base = "_" + base
	}
	if len(base) > 120 {
		h := fnv.New64a()
		h.Write([]byte(name))
		base = fmt.Sprintf("%s-%016x", base[:100], h.Sum64())
	}
	file := base + ".pb"
	for i := 2; used[strings.ToLower(file)]; i++ {
		file = fmt.Sprintf("%s~%d.pb", base, i)
	}
	used[strings.ToLower(file)] = true
	return file
}
