package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/runtime"
	"github.com/runinfer/runinfer/summary"
)

func summaryUsage(w io.Writer) {
	fmt.Fprint(w, `usage: runinfer summary [flags] MODEL

Describes MODEL layer by layer: per node the op, output shape, parameters,
multiply-accumulates (MACs), and the receptive field (rf) and jump
(effective stride) of its output on the input, then the totals.

params counts the float elements of the initializers a node reads, each
initializer once, at the first node that uses it (an Identity of an
initializer passes it on to its reader). MACs counts Conv (output elements
x input channels per group x kernel taps, so depthwise convolutions count
their own small share), ConvTranspose (input elements x output channels per
group x taps), Gemm and MatMul (output elements x the summed dimension);
other ops (pooling, element-wise, normalization) count 0.

rf and jump are in input pixels, computed with r_out = r_in + (k-1)*d*j_in
and j_out = j_in*s per spatial axis through Conv, MaxPool, AveragePool,
LpPool, ConvTranspose (jump divided by the stride), Resize/Upsample (jump
scaled by the resize ratio; linear adds one input tap, cubic three),
DepthToSpace, SpaceToDepth and strided Slice. Pad and shape-only or
element-wise ops pass the field through; a node reading several image-
dependent values (Add, Concat, Mul) takes the largest field of its inputs.
One number is printed when the spatial axes agree, else HxW; a fractional
jump (after upsampling) prints as a fraction and its rf rounds up. "all"
means the whole input: after Gemm/MatMul (fully connected layers), global
pooling, and reductions or normalizations over spatial axes. "-" means the
value does not depend on the pixels (weights, shapes).

The model is summarized as stored; --opt basic (or all) summarizes it after
runinfer's standard-ONNX rewrites (as runinfer opt writes it: BatchNorm
folded into convolutions, constants folded, Identity and Dropout removed).
A symbolic batch (leading) dimension is taken as 1; other symbolic
dimensions need --shape. --format dot writes a Graphviz graph instead (one
box per node labelled with its op and output shape, one edge per value):
runinfer summary --format dot MODEL | dot -Tsvg -o model.svg

Flags:
`)
	fs, _ := summaryFlags()
	printDefaults(w, fs)
}

// summaryOpts are summary's flags.
type summaryOpts struct {
	shapes shapeFlags
	format string
	opt    string
}

func summaryFlags() (*flag.FlagSet, *summaryOpts) {
	o := &summaryOpts{}
	fs := newFlagSet("summary")
	fs.Var(&o.shapes, "shape", "input shape `[NAME=]D1,D2,...` (repeat for several inputs; needed for symbolic dimensions)")
	fs.StringVar(&o.format, "format", "text", "output `format`: text (a table) or dot (Graphviz)")
	fs.StringVar(&o.opt, "opt", "none", "optimization `LEVEL` to summarize at: none (the model as stored), basic or all (standard-ONNX rewrites only)")
	return fs, o
}

func summaryCmd(args []string, stdout, stderr io.Writer) int {
	fs, o := summaryFlags()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		summaryUsage(stdout)
		return exitOK
	}
	if err == nil && len(pos) != 1 {
		err = usagef("need exactly one model: runinfer summary MODEL")
	}
	if err == nil && o.format != "text" && o.format != "dot" {
		err = usagef("--format %q: want text or dot", o.format)
	}
	var level graphopt.Level
	if err == nil {
		if level, err = graphopt.ParseLevel(o.opt); err != nil {
			err = usagef("--opt: %v", err)
		}
	}
	if err != nil {
		return report(stderr, "summary", err)
	}
	s, err := summarize(pos[0], o.shapes, level)
	if err != nil {
		return report(stderr, "summary", err)
	}
	if o.format == "dot" {
		err = s.WriteDot(stdout)
	} else {
		err = s.WriteText(stdout)
	}
	if err != nil {
		return report(stderr, "summary", err)
	}
	return exitOK
}

// summarize loads the model at path, optimizes it at level (standard ONNX
// rewrites only) and summarizes it for the --shape flags.
func summarize(path string, shapeArgs []string, level graphopt.Level) (*summary.Summary, error) {
	m, err := loadModel(path)
	if err != nil {
		return nil, err
	}
	if level != graphopt.None {
		if err := runtime.Optimize(m.Graph, level, true); err != nil {
			return nil, withPath(path, err, "")
		}
	}
	shapes, err := benchShapes(m.Graph.Inputs, shapeArgs)
	if err != nil {
		return nil, err
	}
	sum, err := summary.Of(m, shapes)
	if err != nil {
		return nil, withPath(path, err, "runtime: ")
	}
	return sum, nil
}
