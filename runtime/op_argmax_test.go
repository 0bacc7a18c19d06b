package runtime

import (
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func TestArgMaxAndArgMinPickFirstOrLastWinner(t *testing.T) {
	// x (2x3): [[1, 5, 5], [7, 2, 7]]
	x := []float32{1, 5, 5, 7, 2, 7}
	cases := []struct {
		name  string
		op    string
		attrs []*ir.Attr
		shape []int
		want  []int64
	}{
		{"argmax axis 1 keeps dims", "ArgMax", []*ir.Attr{ir.IntAttr("axis", 1)}, []int{2, 1}, []int64{1, 0}},
		{"argmax axis 1 last index", "ArgMax", []*ir.Attr{ir.IntAttr("axis", 1), ir.IntAttr("select_last_index", 1)}, []int{2, 1}, []int64{2, 2}},
		{"argmax default axis 0", "ArgMax", nil, []int{1, 3}, []int64{1, 0, 1}},
		{"argmax axis -1 without keepdims", "ArgMax", []*ir.Attr{ir.IntAttr("axis", -1), ir.IntAttr("keepdims", 0)}, []int{2}, []int64{1, 0}},
		{"argmin axis 1", "ArgMin", []*ir.Attr{ir.IntAttr("axis", 1)}, []int{2, 1}, []int64{0, 1}},
		{"argmin axis 0 without keepdims", "ArgMin", []*ir.Attr{ir.IntAttr("keepdims", 0)}, []int{3}, []int64{0, 1, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := lgRun(t, lgNode(c.op, 1, 1, c.attrs...), lgT(t, []int{2, 3}, x))[0]
			lgWant(t, got, c.shape, c.want)
		})
	}
	t.Run("ties in int32 pick the first and with select_last_index the last", func(t *testing.T) {
		xi := lgT(t, []int{4}, []int32{3, -1, 3, -1})
		lgWant(t, lgRun(t, lgNode("ArgMax", 1, 1), xi)[0], []int{1}, []int64{0})
		lgWant(t, lgRun(t, lgNode("ArgMin", 1, 1, ir.IntAttr("select_last_index", 1)), xi)[0], []int{1}, []int64{3})
	})
	t.Run("NaN wins like numpy", func(t *testing.T) {
		xn := lgT(t, []int{4}, []float64{1, lgNaN, 9, lgNaN})
		lgWant(t, lgRun(t, lgNode("ArgMax", 1, 1), xn)[0], []int{1}, []int64{1})
		lgWant(t, lgRun(t, lgNode("ArgMin", 1, 1), xn)[0], []int{1}, []int64{1})
		lgWant(t, lgRun(t, lgNode("ArgMax", 1, 1, ir.IntAttr("select_last_index", 1)), xn)[0], []int{1}, []int64{3})
	})
}

func TestHardmaxMarksTheFirstMaximumAlongAxis(t *testing.T) {
	// x (2x2x2): [[[1,4],[3,4]], [[0,0],[-1,5]]]
	x := lgT(t, []int{2, 2, 2}, []float32{1, 4, 3, 4, 0, 0, -1, 5})
	cases := []struct {
		axis int64
		want []float64
	}{
		{-1, []float64{0, 1, 0, 1, 1, 0, 0, 1}},
		{1, []float64{0, 1, 1, 0, 1, 0, 0, 1}},
		{0, []float64{1, 1, 1, 0, 0, 0, 0, 1}},
	}
	for _, c := range cases {
		got := lgRun(t, lgNode("Hardmax", 1, 1, ir.IntAttr("axis", c.axis)), x)[0]
		lgWantF(t, got, ir.Float32, []int{2, 2, 2}, c.want, 0)
	}
	got := lgRun(t, lgNode("Hardmax", 1, 1), lgT(t, []int{3}, []float64{2, 2, 1}))[0]
	lgWantF(t, got, ir.Float64, []int{3}, []float64{1, 0, 0}, 0)
}

func TestTopKReturnsSortedValuesAndIndices(t *testing.T) {
	// x (2x4): [[3, 1, 3, 2], [0, 5, -1, 5]]
	x := lgT(t, []int{2, 4}, []float32{3, 1, 3, 2, 0, 5, -1, 5})
	t.Run("largest along the last axis, ties by lower index", func(t *testing.T) {
		out := lgRun(t, lgNode("TopK", 2, 2), x, lgI64(t, []int{1}, 3))
		lgWant(t, out[0], []int{2, 3}, []float32{3, 3, 2, 5, 5, 0})
		lgWant(t, out[1], []int{2, 3}, []int64{0, 2, 3, 1, 3, 0})
	})
	t.Run("smallest along the last axis", func(t *testing.T) {
		out := lgRun(t, lgNode("TopK", 2, 2, ir.IntAttr("largest", 0)), x, lgI64(t, []int{1}, 2))
		lgWant(t, out[0], []int{2, 2}, []float32{1, 2, -1, 0})
		lgWant(t, out[1], []int{2, 2}, []int64{1, 3, 2, 0})
	})
	t.Run("along axis 0", func(t *testing.T) {
		out := lgRun(t, lgNode("TopK", 2, 2, ir.IntAttr("axis", 0)), x, lgI64(t, []int{1}, 1))
		lgWant(t, out[0], []int{1, 4}, []float32{3, 5, 3, 5})
		lgWant(t, out[1], []int{1, 4}, []int64{0, 1, 0, 1})
	})
	t.Run("k of 0 gives empty outputs", func(t *testing.T) {
		out := lgRun(t, lgNode("TopK", 2, 2), x, lgI64(t, []int{1}, 0))
		lgWant(t, out[0], []int{2, 0}, []float32{})
	})
	t.Run("NaN ranks above every number", func(t *testing.T) {
		xn := lgT(t, []int{3}, []float64{1, lgNaN, 2})
		out := lgRun(t, lgNode("TopK", 2, 2), xn, lgI64(t, []int{1}, 2))
		lgWantF(t, out[0], ir.Float64, []int{2}, []float64{lgNaN, 2}, 0)
		out = lgRun(t, lgNode("TopK", 2, 2, ir.IntAttr("largest", 0)), xn, lgI64(t, []int{1}, 3))
		lgWant(t, out[1], []int{3}, []int64{0, 2, 1})
	})
	t.Run("int64 input", func(t *testing.T) {
		out := lgRun(t, lgNode("TopK", 2, 2), lgI64(t, []int{5}, 4, -2, 9, 4, 0), lgI64(t, []int{1}, 3))
		lgWant(t, out[0], []int{3}, []int64{9, 4, 4})
		lgWant(t, out[1], []int{3}, []int64{2, 0, 3})
	})
}

func TestArgAndTopKRejectBadInputs(t *testing.T) {
	x := lgT(t, []int{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	cases := []struct {
		name string
		n    *ir.Node
		in   []*ir.Tensor
		want string
	}{
		{"ArgMax axis out of range", lgNode("ArgMax", 1, 1, ir.IntAttr("axis", 2)), []*ir.Tensor{x}, "out of range"},
		{"ArgMin on a scalar", lgNode("ArgMin", 1, 1), []*ir.Tensor{lgT(t, nil, []float32{1})}, "scalar"},
		{"ArgMax over an empty axis", lgNode("ArgMax", 1, 1, ir.IntAttr("axis", 1)), []*ir.Tensor{lgT(t, []int{2, 0}, []float32{})}, "empty"},
		{"ArgMax on strings", lgNode("ArgMax", 1, 1), []*ir.Tensor{lgT(t, []int{1}, []string{"a"})}, "element type"},
		{"Hardmax axis out of range", lgNode("Hardmax", 1, 1, ir.IntAttr("axis", -3)), []*ir.Tensor{x}, "out of range"},
		{"Hardmax on integers", lgNode("Hardmax", 1, 1), []*ir.Tensor{lgI64(t, []int{2}, 1, 2)}, "element type"},
		{"TopK with negative k", lgNode("TopK", 2, 2), []*ir.Tensor{x, lgI64(t, []int{1}, -1)}, "k is -1"},
		{"TopK with k beyond the axis", lgNode("TopK", 2, 2), []*ir.Tensor{x, lgI64(t, []int{1}, 4)}, "k is 4"},
		{"TopK with int32 k", lgNode("TopK", 2, 2), []*ir.Tensor{x, lgT(t, []int{1}, []int32{1})}, "int64"},
		{"TopK with two k values", lgNode("TopK", 2, 2), []*ir.Tensor{x, lgI64(t, []int{2}, 1, 1)}, "one element"},
		{"TopK axis out of range", lgNode("TopK", 2, 2, ir.IntAttr("axis", 5)), []*ir.Tensor{x, lgI64(t, []int{1}, 1)}, "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { lgFails(t, c.want, c.n, c.in...) })
	}
}
