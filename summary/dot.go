package summary

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteDot writes the model as a Graphviz digraph: one box per layer,
// labelled with its op and output shape (its name as the tooltip), an
// ellipse per graph input and output, and one edge per value from the node
// (or input) that produces it to each node (or output) that reads it.
// Initializers are not drawn. Render it with, for example,
// `dot -Tsvg model.dot -o model.svg`.
func (s *Summary) WriteDot(w io.Writer) error {
	bw := bufio.NewWriter(w)
	name := s.Name
	if name == "" {
		name = "model"
	}
	fmt.Fprintf(bw, "digraph %s {\n", dotQuote(name))
	fmt.Fprintln(bw, "  rankdir=TB;")
	fmt.Fprintln(bw, `  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];`)
	fmt.Fprintln(bw, `  edge [fontname="Helvetica", fontsize=9];`)

	// producer maps a value to the DOT node that makes it.
	producer := map[string]string{}
	for i, v := range s.Inputs {
		id := fmt.Sprintf("input%d", i)
		producer[v.Name] = id
		fmt.Fprintf(bw, "  %s [shape=ellipse, label=%s];\n", id, dotQuote(v.Name+"\n"+shapeString(v.Shape)))
	}
	for i, l := range s.Layers {
		id := fmt.Sprintf("n%d", i)
		shapes := make([]string, len(l.Outputs))
		for j, o := range l.Outputs {
			shapes[j] = shapeString(o.Shape)
			producer[o.Name] = id
		}
		fmt.Fprintf(bw, "  %s [label=%s, tooltip=%s];\n", id, dotQuote(l.Op+"\n"+strings.Join(shapes, " ")), dotQuote(l.Name))
	}
	for i, v := range s.Outputs {
		fmt.Fprintf(bw, "  output%d [shape=ellipse, label=%s];\n", i, dotQuote(v.Name+"\n"+shapeString(v.Shape)))
	}
	edge := func(value, to string) {
		if from, ok := producer[value]; ok {
			fmt.Fprintf(bw, "  %s -> %s [tooltip=%s];\n", from, to, dotQuote(value))
		}
	}
	for i, l := range s.Layers {
		seen := map[string]bool{}
		for _, in := range l.Node.Inputs {
			if in != "" && !seen[in] {
				seen[in] = true
				edge(in, fmt.Sprintf("n%d", i))
			}
		}
	}
	for i, v := range s.Outputs {
		edge(v.Name, fmt.Sprintf("output%d", i))
	}
	fmt.Fprintln(bw, "}")
	return bw.Flush()
}

// dotQuote writes s as a DOT string: quoted, with quotes and backslashes
// escaped and newlines as DOT's centred line break \n.
func dotQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
