package graphopt

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/runinfer/runinfer/ir"
)

// dumpValues is the largest initializer Dump prints the values of.
const dumpValues = 8

// Dump writes a deterministic text form of g, one line per item: the
// inputs, the initializers (sorted by name; the values of small ones), the
// nodes in order as
//
//	Op[@domain] "name" (in, ...) -> (out, ...) attr=value ...
//
// with attributes sorted, and the outputs. When shapes is not nil, each
// value a line names is followed by its type and shape where known, as in
// x:float32[1,3,224,224] (? for a dimension that is not static). The golden
// tests of the passes compare dumps; runinfer info --graph prints one.
func Dump(w io.Writer, g *ir.Graph, shapes map[string]ValueType) error {
	var b strings.Builder
	val := func(name string) string {
		if name == "" {
			return `""`
		}
		if shapes == nil {
			return name
		}
		if vt, ok := shapes[name]; ok {
			return name + ":" + typeString(vt)
		}
		if t := g.Initializers[name]; t != nil {
			return name + ":" + t.String()
		}
		return name
	}
	list := func(names []string) string {
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = val(n)
		}
		return "(" + strings.Join(parts, ", ") + ")"
	}
	fmt.Fprintf(&b, "graph %q\n", g.Name)
	for _, vi := range g.Inputs {
		fmt.Fprintf(&b, "input %s: %v%v\n", vi.Name, vi.DType, vi.Shape)
	}
	for _, name := range g.InitializerNames() {
		t := g.Initializers[name]
		fmt.Fprintf(&b, "init %s: %v%s\n", name, t, tensorValues(t))
	}
	for _, n := range g.Nodes {
		op := n.Op
		if n.Domain != "" {
			op += "@" + n.Domain
		}
		fmt.Fprintf(&b, "%s %q %s -> %s", op, n.Name, list(n.Inputs), list(n.Outputs))
		keys := make([]string, 0, len(n.Attrs))
		for k := range n.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s", attrString(n.Attrs[k]))
		}
		b.WriteByte('\n')
	}
	for _, vi := range g.Outputs {
		fmt.Fprintf(&b, "output %s: %v%v\n", vi.Name, vi.DType, vi.Shape)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func typeString(vt ValueType) string {
	dims := make([]string, len(vt.Shape))
	for i, d := range vt.Shape {
		if d < 0 {
			dims[i] = "?"
		} else {
			dims[i] = strconv.Itoa(d)
		}
	}
	return vt.DType.String() + "[" + strings.Join(dims, ",") + "]"
}

// tensorValues prints " = [v ...]" for a tensor of at most dumpValues
// elements, with float32 values rounded to 6 significant digits so the
// dumps do not depend on the last bit of folded arithmetic.
func tensorValues(t *ir.Tensor) string {
	if t.Len() > dumpValues {
		return ""
	}
	parts := make([]string, t.Len())
	for i := range parts {
		switch t.DType {
		case ir.Float32, ir.Float64:
			parts[i] = strconv.FormatFloat(t.Float64At(i), 'g', 6, 64)
		case ir.String, ir.Bool:
			parts[i] = fmt.Sprint(sliceAt(t.Data, i))
		default:
			parts[i] = strconv.FormatFloat(t.Float64At(i), 'g', -1, 64)
		}
	}
	return " = [" + strings.Join(parts, " ") + "]"
}

func sliceAt(data any, i int) any {
	switch d := data.(type) {
	case []string:
		return d[i]
	case []bool:
		return d[i]
	}
	return "?"
}

// attrString formats an attribute, floats rounded as in tensorValues.
func attrString(a *ir.Attr) string {
	switch a.Type {
	case ir.AttrFloat:
		return a.Name + "=" + strconv.FormatFloat(float64(a.F), 'g', 6, 32)
	case ir.AttrFloats:
		parts := make([]string, len(a.Floats))
		for i, f := range a.Floats {
			parts[i] = strconv.FormatFloat(float64(f), 'g', 6, 32)
		}
		return a.Name + "=[" + strings.Join(parts, " ") + "]"
	}
	return a.String()
}
