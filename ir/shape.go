package ir

import (
	"fmt"
	"strconv"
	"strings"
)

// Dim is one dimension of a static shape: a known size, a named symbolic size
// (ONNX dim_param, such as "batch"), or unknown (Size < 0 and no Param).
type Dim struct {
	Size  int64
	Param string
}

// Known reports whether the dimension has a concrete size.
func (d Dim) Known() bool { return d.Size >= 0 }

// KnownDim returns a concrete dimension.
func KnownDim(n int64) Dim { return Dim{Size: n} }

// SymDim returns a symbolic dimension named p.
func SymDim(p string) Dim { return Dim{Size: -1, Param: p} }

// UnknownDim returns an anonymous unknown dimension.
func UnknownDim() Dim { return Dim{Size: -1} }

func (d Dim) String() string {
	switch {
	case d.Known():
		return strconv.FormatInt(d.Size, 10)
	case d.Param != "":
		return d.Param
	}
	return "?"
}

// Shape is a static shape whose dimensions may be symbolic. A nil Shape with
// Ranked false means the rank itself is unknown.
type Shape struct {
	Dims   []Dim
	Ranked bool
}

// ShapeOf returns a fully known shape.
func ShapeOf(dims ...int) Shape {
	s := Shape{Dims: make([]Dim, len(dims)), Ranked: true}
	for i, d := range dims {
		s.Dims[i] = KnownDim(int64(d))
	}
	return s
}

// Rank returns the number of dimensions, or -1 when unranked.
func (s Shape) Rank() int {
	if !s.Ranked {
		return -1
	}
	return len(s.Dims)
}

// Concrete returns the shape as ints when every dimension is known.
func (s Shape) Concrete() ([]int, bool) {
	if !s.Ranked {
		return nil, false
	}
	out := make([]int, len(s.Dims))
	for i, d := range s.Dims {
		if !d.Known() {
			return nil, false
		}
		out[i] = int(d.Size)
	}
	return out, true
}

func (s Shape) String() string {
	if !s.Ranked {
		return "[*]"
	}
	parts := make([]string, len(s.Dims))
	for i, d := range s.Dims {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// ConvOutSize computes one spatial output size of a convolution or pooling
// window: floor((in + padBegin + padEnd - effective kernel)/stride) + 1, or
// ceil instead of floor when ceil is set (then a last window that would start
// entirely inside the end padding is dropped, as ONNX and PyTorch do). It
// fails, naming the numbers, when no output position exists.
func ConvOutSize(in, kernel, stride, dilation, padBegin, padEnd int, ceil bool) (int, error) {
	if stride <= 0 {
		return 0, fmt.Errorf("stride %d must be positive", stride)
	}
	if dilation <= 0 {
		return 0, fmt.Errorf("dilation %d must be positive", dilation)
	}
	if kernel <= 0 {
		return 0, fmt.Errorf("kernel size %d must be positive", kernel)
	}
	if padBegin < 0 || padEnd < 0 {
		return 0, fmt.Errorf("negative padding %d,%d", padBegin, padEnd)
	}
	eff := (kernel-1)*dilation + 1
	span := in + padBegin + padEnd - eff
	if span < 0 {
		return 0, fmt.Errorf("effective kernel %d (kernel %d, dilation %d) is larger than the padded input %d (input %d, pads %d+%d)",
			eff, kernel, dilation, in+padBegin+padEnd, in, padBegin, padEnd)
	}
	out := span/stride + 1
	if ceil && span%stride != 0 {
		out++
		if (out-1)*stride >= in+padBegin {
			out--
		}
	}
	return out, nil
}

// AutoPad resolves ONNX auto_pad for one spatial axis and returns the begin and
// end padding. mode is "SAME_UPPER", "SAME_LOWER" or "VALID"; SAME keeps
// ceil(in/stride) outputs, with the odd padding at the end (UPPER) or the
// beginning (LOWER).
func AutoPad(mode string, in, kernel, stride, dilation int) (int, int, error) {
	switch mode {
	case "VALID":
		return 0, 0, nil
	case "SAME_UPPER", "SAME_LOWER":
		if stride <= 0 {
			return 0, 0, fmt.Errorf("stride %d must be positive", stride)
		}
		out := (in + stride - 1) / stride
		eff := (kernel-1)*dilation + 1
		total := (out-1)*stride + eff - in
		if total < 0 {
			total = 0
		}
		if mode == "SAME_UPPER" {
			return total / 2, total - total/2, nil
		}
		return total - total/2, total / 2, nil
	}
	return 0, 0, fmt.Errorf("unknown auto_pad %q", mode)
}

// BroadcastShapes returns the numpy-style broadcast of concrete shapes.
func BroadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			switch {
			case d == out[off+i] || d == 1:
			case out[off+i] == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v cannot be broadcast together (dimension %d: %d vs %d)", shapes, off+i, out[off+i], d)
			}
		}
	}
	return out, nil
}

// FormatShape writes a concrete shape as Shape.String does: "[1,3,224,224]".
func FormatShape(shape []int) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
