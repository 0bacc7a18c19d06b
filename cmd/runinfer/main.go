// Command runinfer classifies images with ONNX models, runs models on ONNX
// tensor files, and describes models. Run `runinfer help` for usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3"; when
// unset, the module version from the build info is used.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the model, an input file or the run failed
	exitUsage   = 2 // the command line is wrong
)

// command is one subcommand.
type command struct {
	name, args, summary string
	run                 func(args []string, stdout, stderr io.Writer) int
	usage               func(w io.Writer)
}

var commands []command

func init() {
	commands = []command{
		{"classify", "MODEL IMAGE...", "classify images (the default: `runinfer MODEL IMAGE...`)", classifyCmd, classifyUsage},
		{"run", "MODEL IN.pb... -o DIR", "run a model on ONNX TensorProto files, write output_<i>.pb", runCmd, runUsage},
		{"info", "MODEL | --ops | --cpu", "describe a model (inputs, outputs, opsets, ops), supported ops, or the CPU", infoCmd, infoUsage},
		{"bench", "MODEL", "time a model on random inputs; print one JSON line", benchCmd, benchUsage},
		{"opt", "MODEL -o OUT.onnx", "optimize a model's graph; write it as standard ONNX", optCmd, optUsage},
		{"fcn", "MODEL IMAGE -o PNG", "score every crop of a photo in one pass; heat map of a class", fcnCmd, fcnUsage},
		{"summary", "MODEL", "per layer: op, output shape, parameters, MACs, receptive field", summaryCmd, summaryUsage},
		{"grad", "MODEL IN LABELS -o DIR", "loss and gradients of a labelled batch: loss.pb, grad_input.pb, grad/<W>.pb", gradCmd, gradUsage},
		{"finetune", "--model M --data DIR --out O", "fine-tune a classifier on a folder of labelled images", finetuneCmd, finetuneUsage},
		{"version", "", "print the version", versionCmd, nil},
		{"help", "[COMMAND]", "show this help, or a command's", helpCmd, nil},
	}
}

// run is the whole program, callable in-process by tests: it parses args
// (without the program name), writes results to stdout and messages to
// stderr, and returns the exit code.
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		// Errors are reported as errors everywhere below; this only keeps an
		// unforeseen bug from printing a stack trace at a user.
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "runinfer: internal error: %v (please report this with the command that caused it)\n", r)
			code = exitFailure
		}
	}()
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "-version", "--version":
		return versionCmd(nil, stdout, stderr)
	}
	for _, c := range commands {
		if args[0] == c.name {
			return c.run(args[1:], stdout, stderr)
		}
	}
	// Anything else is `runinfer [flags] MODEL IMAGE...`. A model file named
	// like a subcommand can be given as ./run.
	return classifyCmd(args, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `runinfer runs ONNX convolutional networks on the CPU, in pure Go.

Usage:
  runinfer [flags] MODEL IMAGE...     classify images (see runinfer help classify)
  runinfer [flags] IMAGE...           classify digits with the built-in model (models/digits.onnx)
  runinfer COMMAND [flags] ARGS...

Commands:
`)
	width := 0
	for _, c := range commands {
		width = max(width, len(c.args))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %-*s %s\n", c.name, width, c.args, c.summary)
	}
	fmt.Fprint(w, `
Run 'runinfer help COMMAND' for a command's flags.
Exit status: 0 success, 1 a model, input or run failed, 2 a usage error.
`)
}

func helpCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return exitOK
	}
	for _, c := range commands {
		if args[0] == c.name && c.usage != nil {
			c.usage(stdout)
			return exitOK
		}
		if args[0] == c.name {
			fmt.Fprintf(stdout, "usage: runinfer %s %s\n\n%s\n", c.name, c.args, c.summary)
			return exitOK
		}
	}
	fmt.Fprintf(stderr, "runinfer: help: unknown command %q\nRun 'runinfer help' for the list.\n", args[0])
	return exitUsage
}

func versionCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "runinfer: version takes no arguments\n")
		return exitUsage
	}
	v := version
	goVersion := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" {
			v = bi.Main.Version
		}
		goVersion = bi.GoVersion
	}
	if v == "" {
		v = "(devel)"
	}
	fmt.Fprintf(stdout, "runinfer %s %s\n", v, goVersion)
	return exitOK
}

// usageError is a command-line mistake: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// report prints err for command cmd (empty for the default command) and
// returns the exit code it deserves.
func report(stderr io.Writer, cmd string, err error) int {
	prefix := "runinfer: "
	if cmd != "" {
		prefix = "runinfer " + cmd + ": "
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "%s%v\nRun 'runinfer help %s' for usage.\n", prefix, err, orDefault(cmd, "classify"))
		return exitUsage
	}
	fmt.Fprintf(stderr, "%s%v\n", prefix, err)
	return exitFailure
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// newFlagSet returns a flag set that reports nothing itself: parse errors
// come back from parseArgs and are printed by report.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses flags that may come before, between or after the
// positional arguments (the standard flag package stops at the first
// positional one), and returns the positional arguments. "--" ends the
// flags. A -h/-help flag returns flag.ErrHelp.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// printDefaults writes a flag set's flags, as flag.PrintDefaults does, to w.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// fileError describes a problem with a named input file without the
// operation names Go's errors carry ("open x: ...").
func fileError(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such file", path)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%s: permission denied", path)
	}
	return fmt.Errorf("%s: %w", path, err)
}
