package summary

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/runinfer/runinfer/ir"
)

// WriteText writes the summary as a table, one row per layer:
//
//	#  op       output          params        MACs   rf  jump  node
//	0  Conv     [1,64,55,55]    23,296  70,470,400   11     4  conv1
//
// rf is the receptive field on the input in pixels and jump the distance
// in input pixels between adjacent outputs, one number when the spatial
// axes agree, else one per axis (HxW); "all" is the whole input, "-" no
// field (the value does not depend on the pixels). The inputs and outputs
// come first and the totals last: parameters and MACs in full, with
// thousands separators.
func (s *Summary) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, v := range s.Inputs {
		fmt.Fprintf(bw, "input:  %s %v%s\n", v.Name, v.DType, shapeString(v.Shape))
	}
	for _, v := range s.Outputs {
		fmt.Fprintf(bw, "output: %s %v%s\n", v.Name, v.DType, shapeString(v.Shape))
	}
	fmt.Fprintln(bw)
	header := []string{"#", "op", "output", "params", "MACs", "rf", "jump", "node"}
	right := []bool{true, false, false, true, true, true, true, false}
	rows := [][]string{header}
	for i, l := range s.Layers {
		shapes := make([]string, len(l.Outputs))
		for j, o := range l.Outputs {
			shapes[j] = shapeString(o.Shape)
		}
		rows = append(rows, []string{
			strconv.Itoa(i), l.Op, strings.Join(shapes, " "),
			Thousands(l.Params), Thousands(l.MACs),
			l.Field.SizeString(), l.Field.JumpString(), l.Name,
		})
	}
	width := make([]int, len(header))
	for _, r := range rows {
		for c, cell := range r {
			width[c] = max(width[c], len(cell))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for c, cell := range r {
			if c > 0 {
				line.WriteString("  ")
			}
			pad := strings.Repeat(" ", width[c]-len(cell))
			switch {
			case right[c]:
				line.WriteString(pad + cell)
			case c == len(r)-1:
				line.WriteString(cell) // no trailing blanks
			default:
				line.WriteString(cell + pad)
			}
		}
		fmt.Fprintln(bw, line.String())
	}
	fmt.Fprintln(bw)
	fmt.Fprintf(bw, "parameters: %s%s\n", Thousands(s.Params), short(s.Params))
	fmt.Fprintf(bw, "MACs:       %s%s\n", Thousands(s.MACs), short(s.MACs))
	if s.Unused > 0 {
		fmt.Fprintf(bw, "not counted: %s parameters in initializers no node reads\n", Thousands(s.Unused))
	}
	return bw.Flush()
}

// shapeString formats a shape as "[1,3,224,224]", or "?" when unknown.
func shapeString(shape []int) string {
	if shape == nil {
		return "?"
	}
	return ir.FormatShape(shape)
}

// Thousands formats n in full with comma separators: 61,100,840.
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// short writes n with an SI suffix and about three significant digits, in
// parentheses after a space: " (61.1M)"; nothing below 1000.
func short(n int64) string {
	f := float64(n)
	for _, u := range []struct {
		scale  float64
		suffix string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if f >= u.scale {
			v := f / u.scale
			prec := 0
			switch {
			case v < 10:
				prec = 2
			case v < 100:
				prec = 1
			}
			return " (" + strconv.FormatFloat(v, 'f', prec, 64) + u.suffix + ")"
		}
	}
	return ""
}
