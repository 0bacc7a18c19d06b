package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/runtime"
)

// benchProfile is what bench --profile prints: the per-step times of the
// timed runs and the arithmetic of each Conv/Gemm/MatMul node.
type benchProfile struct {
	prof     *runtime.Profile
	flops    map[string]float64 // per node, by its first output
	medianMS float64
}

// profileTop is how many of the slowest steps are listed.
const profileTop = 25

// printProfile writes two tables: time per op type, then the slowest
// steps. Times are means over the timed runs; their sum exceeds the median
// run by the scheduling between steps (and is below it by nothing).
func printProfile(w io.Writer, bp *benchProfile) {
	steps := bp.prof.Steps()
	runs := bp.prof.Runs()
	if runs == 0 || len(steps) == 0 {
		fmt.Fprintln(w, "\nno steps recorded")
		return
	}
	var total float64 // mean ms per run over all steps
	ms := make([]float64, len(steps))
	for i, s := range steps {
		ms[i] = float64(s.Total.Nanoseconds()) / 1e6 / float64(runs)
		total += ms[i]
	}
	stepFLOPs := func(s runtime.StepTime) float64 {
		f := 0.0
		for _, v := range s.Values {
			f += bp.flops[v]
		}
		return f
	}
	gflops := func(f, ms float64) string {
		if f == 0 || ms <= 0 {
			return ""
		}
		return fmt.Sprintf("%.1f", f/(ms/1e3)/1e9)
	}

	type group struct {
		op        string
		n         int
		ms, flops float64
	}
	byOp := map[string]*group{}
	for i, s := range steps {
		g := byOp[s.Op]
		if g == nil {
			g = &group{op: s.Op}
			byOp[s.Op] = g
		}
		g.n++
		g.ms += ms[i]
		g.flops += stepFLOPs(s)
	}
	groups := make([]*group, 0, len(byOp))
	for _, g := range byOp {
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b *group) int {
		return cmp.Or(cmp.Compare(b.ms, a.ms), strings.Compare(a.op, b.op))
	})

	fmt.Fprintf(w, "\n%d steps, %.3f ms per run in steps (median run %.3f ms), %d runs\n\n", len(steps), total, bp.medianMS, runs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tsteps\tms\t%\tGFLOP/s\t")
	for _, g := range groups {
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.1f\t%s\t\n", g.op, g.n, g.ms, 100*g.ms/total, gflops(g.flops, g.ms))
	}
	tw.Flush()

	order := make([]int, len(steps))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(ms[b], ms[a]) })
	if len(order) > profileTop {
		order = order[:profileTop]
	}
	fmt.Fprintf(w, "\nslowest %d steps\n\n", len(order))
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ms\t%\tGFLOP/s\top\tkernel\toutput\tnode")
	for _, i := range order {
		s := steps[i]
		fmt.Fprintf(tw, "%.3f\t%.1f\t%s\t%s\t%s\t%s\t%s\n", ms[i], 100*ms[i]/total, gflops(stepFLOPs(s), ms[i]),
			s.Op, s.Kernel, ir.FormatShape(s.Shape), stepName(s))
	}
	tw.Flush()
}

// stepName names a step by its first node's name, or its output when the
// node has no name.
func stepName(s runtime.StepTime) string {
	if s.Nodes[0] != "" {
		return s.Nodes[0]
	}
	return "(" + s.Values[0] + ")"
}
