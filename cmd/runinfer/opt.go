package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"

	"github.com/runinfer/runinfer"
	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// levelFlag is an --opt flag: a graphopt level by name.
type levelFlag struct{ level graphopt.Level }

func (f *levelFlag) String() string {
	if f == nil || f.level == graphopt.Default {
		return "all"
	}
	return f.level.String()
}

func (f *levelFlag) Set(s string) error {
	l, err := graphopt.ParseLevel(s)
	if err != nil {
		return errors.New("want none, basic or all")
	}
	f.level = l
	return nil
}

// optFlagUsage is the usage text of --opt on the commands that run models.
const optFlagUsage = "graph optimization `LEVEL`: none, basic (standard ONNX rewrites: folding, elimination) or all (basic + fusions)"

func optUsage(w io.Writer) {
	fmt.Fprint(w, `usage: runinfer opt [flags] MODEL -o OUT.onnx

Rewrites MODEL with the graph optimizer and writes the result as a standard
ONNX model (opset 21) that any ONNX runtime loads and that gives the
original outputs (up to float32 rounding): constant folding (including the
Shape→Gather→Unsqueeze→Concat→Reshape chains exporters emit, when the input
shape is static), Identity, inference-Dropout and dead-node elimination,
BatchNormalization folded into the preceding Conv or Gemm (a lone one
becomes a per-channel Mul and Add), per-channel Mul/Add absorbed into the
preceding Conv or Gemm. Level all is the same for opt: its fusions make
runinfer-only operators, which a saved model leaves out (runinfer applies
them itself when it loads a model). Prints the operator counts before and
after.

--fc-as-conv also turns the fully connected classifier into convolutions
(see runinfer fcn): the result takes images of any size at least the
declared one and returns a map of class scores.

Flags:
`)
	fs, _ := optFlags()
	printDefaults(w, fs)
}

type optOpts struct {
	out      string
	level    levelFlag
	fcAsConv bool
}

func optFlags() (*flag.FlagSet, *optOpts) {
	o := &optOpts{level: levelFlag{graphopt.Basic}}
	fs := newFlagSet("opt")
	fs.StringVar(&o.out, "o", "", "write the optimized model to `OUT.onnx` (required)")
	fs.Var(&o.level, "opt", "optimization `LEVEL`: basic or all (the same here: all's fusions are runinfer-only), or none")
	fs.BoolVar(&o.fcAsConv, "fc-as-conv", false, "also convert fully connected layers to convolutions (a fully convolutional model)")
	return fs, o
}

func optCmd(args []string, stdout, stderr io.Writer) int {
	fs, o := optFlags()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		optUsage(stdout)
		return exitOK
	}
	if err == nil && len(pos) != 1 {
		err = usagef("need exactly one model: runinfer opt MODEL -o OUT.onnx")
	}
	if err == nil && o.out == "" {
		err = usagef("-o OUT.onnx is required")
	}
	if err != nil {
		return report(stderr, "opt", err)
	}
	if err := optModel(pos[0], o, stdout); err != nil {
		return report(stderr, "opt", err)
	}
	return exitOK
}

func optModel(path string, o *optOpts, w io.Writer) error {
	m, err := loadModel(path)
	if err != nil {
		return err
	}
	before := opCounts(m.Graph)
	opt, err := runinfer.OptimizeModel(m, o.level.level)
	if err != nil {
		return withPath(path, err, "runtime: ")
	}
	if o.fcAsConv {
		res, err := graphopt.ConvertFCToConv(opt.Graph, runtime.OptimizerEnv(0))
		if err != nil {
			return withPath(path, err, "graphopt: ")
		}
		for _, c := range res.Converted {
			fmt.Fprintf(w, "converted %s\n", c)
		}
		if opt, err = runinfer.OptimizeModel(opt, o.level.level); err != nil {
			return withPath(path, err, "runtime: ")
		}
	}
	writeOpCounts(w, before, opCounts(opt.Graph))
	if err := onnx.Save(o.out, opt); err != nil {
		return withPath(o.out, err, "onnx: ")
	}
	fmt.Fprintf(w, "wrote %s\n", o.out)
	return nil
}

// opCounts is a graph's operator histogram ("domain.Op" outside the
// default domain).
func opCounts(g *ir.Graph) map[string]int {
	m := map[string]int{}
	for _, n := range g.Nodes {
		op := n.Op
		if n.Domain != "" && n.Domain != "ai.onnx" {
			op = n.Domain + "." + n.Op
		}
		m[op]++
	}
	return m
}

// writeOpCounts prints an operator table: before and after counts, most
// frequent (before) first, and the totals.
func writeOpCounts(w io.Writer, before, after map[string]int) {
	var names []string
	seen := map[string]bool{}
	for _, m := range []map[string]int{before, after} {
		for op := range m {
			if !seen[op] {
				seen[op] = true
				names = append(names, op)
			}
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		if before[a] != before[b] {
			return before[a] > before[b]
		}
		if after[a] != after[b] {
			return after[a] > after[b]
		}
		return a < b
	})
	width := len("total")
	for _, op := range names {
		width = max(width, len(op))
	}
	fmt.Fprintf(w, "%-*s %6s %6s\n", width, "op", "before", "after")
	tb, ta := 0, 0
	for _, op := range names {
		fmt.Fprintf(w, "%-*s %6d %6d\n", width, op, before[op], after[op])
		tb += before[op]
		ta += after[op]
	}
	fmt.Fprintf(w, "%-*s %6d %6d\n", width, "total", tb, ta)
}
