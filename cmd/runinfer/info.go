package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

func infoUsage(w io.Writer) {
	fmt.Fprint(w, `usage: runinfer info MODEL
       runinfer info --graph [--opt LEVEL] MODEL
       runinfer info --ops
       runinfer info --cpu

Prints the model's inputs and outputs (element types and shapes; symbolic
dimensions by name, ? when unnamed), its opset imports, IR version, producer,
parameter count (elements of all initializers) and a histogram of its
operators, most frequent first. Operators are counted as imported: forms of
older opsets appear rewritten to their opset-21 equivalents (Upsample as
Resize, for example), and model-local functions inlined.

--graph prints the graph runinfer runs instead: the model optimized at
--opt LEVEL (none, basic or all; default all, as a session does), one line
per node: op, node name, inputs -> outputs, each value with its type and
shape where static inference resolves it (? for a dimension that depends on
a symbolic one). Fused nodes read runinfer.FusedConv+Add+Relu and the like:
a Conv with its residual Add and activation.

--ops lists the operators runinfer can import and run (default ONNX domain).

--cpu prints the CPU, the features the SIMD kernels use (AVX2, FMA3,
AVX512F/BW/VL/VNNI, ASIMD), and a line "tier: NAME" naming the kernel tier
in force (the best the CPU has, lowered by RUNINFER_SIMD).
`)
}

func infoCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("info")
	listOps := fs.Bool("ops", false, "list the supported operators instead of describing a model")
	showCPU := fs.Bool("cpu", false, "describe the CPU and the SIMD tier in force instead of a model")
	showGraph := fs.Bool("graph", false, "print the optimized graph, one line per node")
	var level levelFlag
	fs.Var(&level, "opt", "with --graph: optimization `LEVEL` (none, basic or all)")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		infoUsage(stdout)
		return exitOK
	}
	if err == nil && *showCPU {
		if len(pos) != 0 || *listOps {
			return report(stderr, "info", usagef("--cpu takes no model and no other flag"))
		}
		writeCPU(stdout)
		return exitOK
	}
	if err == nil && *listOps {
		if len(pos) != 0 {
			return report(stderr, "info", usagef("--ops takes no model"))
		}
		writeSupportedOps(stdout)
		return exitOK
	}
	if err == nil && len(pos) != 1 {
		err = usagef("need exactly one model: runinfer info MODEL")
	}
	if err != nil {
		return report(stderr, "info", err)
	}
	m, err := loadModel(pos[0])
	if err != nil {
		return report(stderr, "info", err)
	}
	if *showGraph {
		if err := writeGraph(stdout, m, level.level); err != nil {
			return report(stderr, "info", withPath(pos[0], err, "runtime: "))
		}
		return exitOK
	}
	writeInfo(stdout, pos[0], m)
	return exitOK
}

// writeGraph prints the model's graph optimized at level, one line per node
// with the value shapes static inference resolves.
func writeGraph(w io.Writer, m *ir.Model, level graphopt.Level) error {
	g := m.Graph.Clone()
	if err := runtime.Optimize(g, level, false); err != nil {
		return err
	}
	shapes, err := runtime.GraphShapes(g)
	if err != nil {
		shapes = nil // printed without shapes
	}
	val := func(name string) string {
		if name == "" {
			return "-"
		}
		if vt, ok := shapes[name]; ok {
			dims := make([]string, len(vt.Shape))
			for i, d := range vt.Shape {
				dims[i] = "?"
				if d >= 0 {
					dims[i] = fmt.Sprint(d)
				}
			}
			return name + "[" + strings.Join(dims, ",") + "]"
		}
		return name
	}
	list := func(names []string) string {
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = val(n)
		}
		return strings.Join(parts, ", ")
	}
	lvl := level
	if lvl == graphopt.Default {
		lvl = graphopt.All
	}
	fmt.Fprintf(w, "graph %q at level %v: %d nodes (%d as imported)\n", g.Name, lvl, len(g.Nodes), len(m.Graph.Nodes))
	for _, vi := range g.Inputs {
		fmt.Fprintf(w, "input  %s %v%v\n", vi.Name, vi.DType, vi.Shape)
	}
	for _, n := range g.Nodes {
		op := n.Op
		if n.Domain != "" && n.Domain != "ai.onnx" {
			op = n.Domain + "." + n.Op
		}
		if n.Domain == graphopt.Domain && n.Op == graphopt.FusedConv {
			if n.Input(3) != "" {
				op += "+Add" // the residual Z
			}
			if a := n.AttrString("activation", ""); a != "" {
				op += "+" + a
			}
		}
		name := n.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(w, "%-24s %-20s %s -> %s\n", op, name, list(n.Inputs), list(n.Outputs))
	}
	for _, vi := range g.Outputs {
		fmt.Fprintf(w, "output %s\n", val(vi.Name))
	}
	return nil
}

func writeInfo(w io.Writer, path string, m *ir.Model) {
	g := m.Graph
	fmt.Fprintf(w, "model:       %s\n", path)
	fmt.Fprintf(w, "IR version:  %d\n", m.IRVersion)
	producer := strings.TrimSpace(m.ProducerName + " " + m.ProducerVersion)
	if producer == "" {
		producer = "(not recorded)"
	}
	fmt.Fprintf(w, "producer:    %s\n", producer)
	domains := make([]string, 0, len(m.Opsets))
	for d := range m.Opsets {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	var ops []string
	for _, d := range domains {
		ops = append(ops, fmt.Sprintf("%s %d", domainName(d), m.Opsets[d]))
	}
	fmt.Fprintf(w, "opsets:      %s\n", strings.Join(ops, ", "))

	fmt.Fprintln(w, "inputs:")
	writeValues(w, g.Inputs)
	fmt.Fprintln(w, "outputs:")
	writeValues(w, g.Outputs)

	params := 0
	for _, t := range g.Initializers {
		params += t.Len()
	}
	fmt.Fprintf(w, "parameters:  %s in %d initializers\n", thousands(params), len(g.Initializers))

	counts := map[string]int{}
	for _, n := range g.Nodes {
		op := n.Op
		if n.Domain != "" && n.Domain != "ai.onnx" {
			op = n.Domain + "." + n.Op
		}
		counts[op]++
	}
	names := make([]string, 0, len(counts))
	for op := range counts {
		names = append(names, op)
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	width := 0
	for _, op := range names {
		width = max(width, len(op))
	}
	fmt.Fprintf(w, "ops:         %d nodes, %d kinds\n", len(g.Nodes), len(names))
	for _, op := range names {
		fmt.Fprintf(w, "  %-*s %d\n", width, op, counts[op])
	}
}

func writeValues(w io.Writer, vs []*ir.ValueInfo) {
	if len(vs) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	width := 0
	for _, v := range vs {
		width = max(width, len(v.Name))
	}
	for _, v := range vs {
		fmt.Fprintf(w, "  %-*s %v%v\n", width, v.Name, v.DType, v.Shape)
	}
}

func domainName(d string) string {
	if d == "" {
		return "ai.onnx"
	}
	return d
}

// thousands formats n with comma separators.
func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// writeSupportedOps prints the operators the importer accepts, several per
// line. (Each is run by the runtime directly or rewritten into ops it runs,
// as Upsample becomes Resize; a conformance test keeps the two in step.)
func writeSupportedOps(w io.Writer) {
	ops := onnx.SupportedOps()
	fmt.Fprintf(w, "%d operators (ONNX default domain, opsets 1 to %d):\n", len(ops), onnx.MaxOpset)
	for i := 0; i < len(ops); i += 6 {
		fmt.Fprintf(w, "  %s\n", strings.Join(ops[i:min(i+6, len(ops))], ", "))
	}
}
