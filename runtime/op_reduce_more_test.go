package runtime

import (
	"math"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func TestMoreReductionsMatchHandComputedValues(t *testing.T) {
	// x (2x2): [[1, -2], [3, 4]]
	x := []float32{1, -2, 3, 4}
	ax := func(v ...int64) *ir.Tensor { return lgI64(t, []int{len(v)}, v...) }
	noKeep := ir.IntAttr("keepdims", 0)
	cases := []struct {
		name  string
		op    string
		axes  *ir.Tensor // nil: input omitted
		attrs []*ir.Attr
		shape []int
		want  []float64
	}{
		{"min over axis 1", "ReduceMin", ax(1), nil, []int{2, 1}, []float64{-2, 3}},
		{"min over everything", "ReduceMin", nil, nil, []int{1, 1}, []float64{-2}},
		{"min over axis 0 without keepdims", "ReduceMin", ax(0), []*ir.Attr{noKeep}, []int{2}, []float64{1, -2}},
		{"prod over axis 0", "ReduceProd", ax(0), nil, []int{1, 2}, []float64{3, -8}},
		{"prod over everything without keepdims", "ReduceProd", nil, []*ir.Attr{noKeep}, []int{}, []float64{-24}},
		{"sum of squares over axis -1", "ReduceSumSquare", ax(-1), nil, []int{2, 1}, []float64{5, 25}},
		{"L1 over axis 1", "ReduceL1", ax(1), nil, []int{2, 1}, []float64{3, 7}},
		{"L1 over both axes", "ReduceL1", ax(0, 1), nil, []int{1, 1}, []float64{10}},
		{"L2 over axis 1", "ReduceL2", ax(1), nil, []int{2, 1}, []float64{math.Sqrt(5), 5}},
		{"log-sum over axis 0", "ReduceLogSum", ax(0), nil, []int{1, 2}, []float64{math.Log(4), math.Log(2)}},
		{"log-sum of a negative sum is NaN", "ReduceLogSum", ax(1), nil, []int{2, 1}, []float64{lgNaN, math.Log(7)}},
		{"log-sum-exp over axis 1", "ReduceLogSumExp", ax(1), nil, []int{2, 1},
			[]float64{math.Log(math.E + math.Exp(-2)), math.Log(math.Exp(3) + math.Exp(4))}},
		{"empty axes reduce everything", "ReduceL1", ax(), nil, []int{1, 1}, []float64{10}},
		{"noop min copies", "ReduceMin", ax(), []*ir.Attr{ir.IntAttr("noop_with_empty_axes", 1)}, []int{2, 2}, []float64{1, -2, 3, 4}},
		{"noop sum of squares squares", "ReduceSumSquare", nil, []*ir.Attr{ir.IntAttr("noop_with_empty_axes", 1)}, []int{2, 2}, []float64{1, 4, 9, 16}},
		{"noop L1 takes magnitudes", "ReduceL1", ax(), []*ir.Attr{ir.IntAttr("noop_with_empty_axes", 1)}, []int{2, 2}, []float64{1, 2, 3, 4}},
		{"noop log-sum takes logs", "ReduceLogSum", ax(), []*ir.Attr{ir.IntAttr("noop_with_empty_axes", 1)}, []int{2, 2},
			[]float64{0, lgNaN, math.Log(3), math.Log(4)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []*ir.Tensor{lgT(t, []int{2, 2}, append([]float32(nil), x...))}
			nin := 1
			if c.axes != nil {
				in, nin = append(in, c.axes), 2
			}
			got := lgRun(t, lgNode(c.op, nin, 1, c.attrs...), in...)[0]
			lgWantF(t, got, ir.Float32, c.shape, c.want, 1e-6)
		})
	}
}

func TestLogSumExpDoesNotOverflowOnLargeInputs(t *testing.T) {
	got := lgRun(t, lgNode("ReduceLogSumExp", 1, 1), lgT(t, []int{3}, []float64{1000, 1000, math.Inf(-1)}))[0]
	lgWantF(t, got, ir.Float64, []int{1}, []float64{1000 + math.Ln2}, 1e-15)
	got = lgRun(t, lgNode("ReduceLogSumExp", 1, 1), lgT(t, []int{2}, []float64{math.Inf(1), 0}))[0]
	lgWantF(t, got, ir.Float64, []int{1}, []float64{math.Inf(1)}, 0)
}

func TestMoreReductionsOverEmptySetsGiveTheIdentity(t *testing.T) {
	x := lgT(t, []int{2, 0}, []float64{})
	axes := lgI64(t, []int{1}, 1)
	for op, want := range map[string]float64{
		"ReduceMin": math.Inf(1), "ReduceProd": 1, "ReduceSumSquare": 0, "ReduceL1": 0,
		"ReduceL2": 0, "ReduceLogSum": math.Inf(-1), "ReduceLogSumExp": math.Inf(-1),
	} {
		t.Run(op, func(t *testing.T) {
			got := lgRun(t, lgNode(op, 2, 1), x, axes)[0]
			lgWantF(t, got, ir.Float64, []int{2, 1}, []float64{want, want}, 0)
		})
	}
	got := lgRun(t, lgNode("ReduceMin", 1, 1), lgT(t, []int{0}, []uint8{}))[0]
	lgWant(t, got, []int{1}, []uint8{255})
	got = lgRun(t, lgNode("ReduceMin", 1, 1), lgT(t, []int{0}, []int32{}))[0]
	lgWant(t, got, []int{1}, []int32{math.MaxInt32})
}

func TestMoreReductionsOnIntegersAndBools(t *testing.T) {
	cases := []struct {
		name string
		op   string
		x    any
		want any
	}{
		{"int32 product", "ReduceProd", []int32{2, 3, -4}, []int32{-24}},
		{"int64 min", "ReduceMin", []int64{5, -7, 2}, []int64{-7}},
		{"uint32 sum of squares", "ReduceSumSquare", []uint32{1, 2, 3}, []uint32{14}},
		{"int64 L1", "ReduceL1", []int64{-5, 2, -1}, []int64{8}},
		{"int64 L2 truncates", "ReduceL2", []int64{3, 4, 1}, []int64{5}}, // sqrt(26) = 5.09
		{"int32 log-sum truncates", "ReduceLogSum", []int32{10, 10, 1}, []int32{3}},
		{"int8 min", "ReduceMin", []int8{4, -3, 9}, []int8{-3}},
		{"bool min is all", "ReduceMin", []bool{true, false, true}, []bool{false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := lgRun(t, lgNode(c.op, 1, 1), lgT(t, []int{3}, c.x))[0]
			lgWant(t, got, []int{1}, c.want)
		})
	}
}

func TestMoreReductionsRejectBadAxesAndTypes(t *testing.T) {
	x := lgT(t, []int{2, 2}, []float32{1, 2, 3, 4})
	cases := []struct {
		name string
		n    *ir.Node
		in   []*ir.Tensor
		want string
	}{
		{"axis out of range", lgNode("ReduceMin", 2, 1), []*ir.Tensor{x, lgI64(t, []int{1}, 2)}, "out of range"},
		{"duplicate axis", lgNode("ReduceL2", 2, 1), []*ir.Tensor{x, lgI64(t, []int{2}, 1, -1)}, "twice"},
		{"int32 axes", lgNode("ReduceProd", 2, 1), []*ir.Tensor{x, lgT(t, []int{1}, []int32{0})}, "int64"},
		{"2-D axes", lgNode("ReduceL1", 2, 1), []*ir.Tensor{x, lgI64(t, []int{1, 1}, 0)}, "1-D"},
		{"product of int8", lgNode("ReduceProd", 1, 1), []*ir.Tensor{lgT(t, []int{1}, []int8{1})}, "element type"},
		{"L1 of bools", lgNode("ReduceL1", 1, 1), []*ir.Tensor{lgT(t, []int{1}, []bool{true})}, "element type"},
		{"min of strings", lgNode("ReduceMin", 1, 1), []*ir.Tensor{lgT(t, []int{1}, []string{"a"})}, "element type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { lgFails(t, c.want, c.n, c.in...) })
	}
}
