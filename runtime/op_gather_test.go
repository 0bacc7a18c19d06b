package runtime

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// gthCase is one indexing-op case: a node, its inputs, and the expected
// output shape and values (compared as float64) or an error substring.
type gthCase struct {
	name    string
	n       *ir.Node
	in      []*ir.Tensor
	shape   []int
	want    []float64
	wantErr string
	dt      ir.DType // output element type; 0 means input 0's type
}

func gthRunCases(t *testing.T, cases []gthCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.wantErr != "" {
				ewFails(t, c.wantErr, c.n, c.in...)
				return
			}
			dt := c.dt
			if dt == 0 {
				dt = c.in[0].DType
			}
			ewCheck(t, ewRun(t, c.n, c.in...), dt, c.shape, c.want, 1e-6)
		})
	}
}

// gthI64 returns its arguments as an int64 slice.
func gthI64(v ...int64) []int64 { return v }

func TestGatherElementsPicksAlongTheAxis(t *testing.T) {
	data := ewT(t, []int{2, 2}, []float32{1, 2, 3, 4})
	ax := func(a int64) *ir.Attr { return ir.IntAttr("axis", a) }
	gthRunCases(t, []gthCase{
		{name: "axis 1", n: ewNode("GatherElements", 2, ax(1)), in: []*ir.Tensor{data, ewT(t, []int{2, 2}, gthI64(0, 0, 1, 0))},
			shape: []int{2, 2}, want: []float64{1, 1, 4, 3}},
		{name: "axis 0 with a negative index", n: ewNode("GatherElements", 2), in: []*ir.Tensor{data, ewT(t, []int{2, 2}, []int32{1, 0, 0, -1})},
			shape: []int{2, 2}, want: []float64{3, 2, 1, 4}},
		{name: "indices smaller than data", n: ewNode("GatherElements", 2, ax(-1)), in: []*ir.Tensor{data, ewT(t, []int{1, 3}, gthI64(1, 1, 0))},
			shape: []int{1, 3}, want: []float64{2, 2, 1}},
		{name: "index past the end", n: ewNode("GatherElements", 2, ax(1)), in: []*ir.Tensor{data, ewT(t, []int{2, 1}, gthI64(0, 2))},
			wantErr: "index 2 is out of range"},
		{name: "index before the start", n: ewNode("GatherElements", 2), in: []*ir.Tensor{data, ewT(t, []int{1, 1}, gthI64(-3))},
			wantErr: "out of range"},
		{name: "rank mismatch", n: ewNode("GatherElements", 2), in: []*ir.Tensor{data, ewT(t, []int{2}, gthI64(0, 0))},
			wantErr: "ranks must match"},
		{name: "indices larger than data off the axis", n: ewNode("GatherElements", 2), in: []*ir.Tensor{data, ewT(t, []int{1, 3}, gthI64(0, 0, 0))},
			wantErr: "exceeds data shape"},
		{name: "float indices", n: ewNode("GatherElements", 2), in: []*ir.Tensor{data, ewT(t, []int{1, 1}, []float32{0})},
			wantErr: "integer"},
		{name: "axis out of range", n: ewNode("GatherElements", 2, ax(2)), in: []*ir.Tensor{data, ewT(t, []int{1, 1}, gthI64(0))},
			wantErr: "out of range for rank"},
	})
	t.Run("strings", func(t *testing.T) {
		got := ewRun(t, ewNode("GatherElements", 2), ewT(t, []int{3}, []string{"a", "b", "c"}), ewT(t, []int{2}, gthI64(2, 0)))
		if !reflect.DeepEqual(got.Data, []string{"c", "a"}) {
			t.Fatalf("got %v, want [c a]", got.Data)
		}
	})
}

func TestGatherNDGathersSlicesByIndexTuples(t *testing.T) {
	d22 := ewT(t, []int{2, 2}, []int32{0, 1, 2, 3})
	d222 := ewT(t, []int{2, 2, 2}, []float32{0, 1, 2, 3, 4, 5, 6, 7})
	bd := func(b int64) *ir.Attr { return ir.IntAttr("batch_dims", b) }
	gthRunCases(t, []gthCase{
		{name: "full tuples pick elements", n: ewNode("GatherND", 2), in: []*ir.Tensor{d22, ewT(t, []int{2, 2}, gthI64(0, 0, 1, 1))},
			shape: []int{2}, want: []float64{0, 3}},
		{name: "short tuples pick rows", n: ewNode("GatherND", 2), in: []*ir.Tensor{d22, ewT(t, []int{2, 1}, gthI64(1, 0))},
			shape: []int{2, 2}, want: []float64{2, 3, 0, 1}},
		{name: "negative index", n: ewNode("GatherND", 2), in: []*ir.Tensor{d22, ewT(t, []int{1, 2}, gthI64(-1, -2))},
			shape: []int{1}, want: []float64{2}},
		{name: "batch_dims 1", n: ewNode("GatherND", 2, bd(1)), in: []*ir.Tensor{d222, ewT(t, []int{2, 1}, gthI64(1, 0))},
			shape: []int{2, 2}, want: []float64{2, 3, 4, 5}},
		{name: "batch_dims 1 with several tuples per batch", n: ewNode("GatherND", 2, bd(1)), in: []*ir.Tensor{d222, ewT(t, []int{2, 2, 2}, gthI64(0, 1, 1, 0, 1, 1, 0, 0))},
			shape: []int{2, 2}, want: []float64{1, 2, 7, 4}},
		{name: "index out of range", n: ewNode("GatherND", 2), in: []*ir.Tensor{d22, ewT(t, []int{1, 2}, gthI64(0, 2))},
			wantErr: "index 2 is out of range"},
		{name: "tuple longer than the rank", n: ewNode("GatherND", 2), in: []*ir.Tensor{d22, ewT(t, []int{1, 3}, gthI64(0, 0, 0))},
			wantErr: "want 1 to 2"},
		{name: "batch dims that differ", n: ewNode("GatherND", 2, bd(1)), in: []*ir.Tensor{d222, ewT(t, []int{3, 1}, gthI64(0, 0, 0))},
			wantErr: "batch dimension 0 differs"},
		{name: "batch_dims too large", n: ewNode("GatherND", 2, bd(2)), in: []*ir.Tensor{d222, ewT(t, []int{2, 1}, gthI64(0, 0))},
			wantErr: "batch_dims 2"},
	})
}

func TestScatterElementsWritesOrReducesUpdates(t *testing.T) {
	zeros := ewT(t, []int{3, 3}, make([]float32, 9))
	row := ewT(t, []int{1, 5}, []float32{1, 2, 3, 4, 5})
	ints := ewT(t, []int{1, 3}, []int32{5, 5, 5})
	red := func(r string) *ir.Attr { return ir.StringAttr("reduction", r) }
	ax1 := ir.IntAttr("axis", 1)
	gthRunCases(t, []gthCase{
		{name: "axis 0 assignment", n: ewNode("ScatterElements", 3),
			in:    []*ir.Tensor{zeros, ewT(t, []int{2, 3}, gthI64(1, 0, 2, 0, 2, 1)), ewT(t, []int{2, 3}, []float32{1, 1.1, 1.2, 2, 2.1, 2.2})},
			shape: []int{3, 3}, want: []float64{2, 1.1, 0, 1, 0, 2.2, 0, 2.1, 1.2}},
		{name: "negative index on axis 1", n: ewNode("ScatterElements", 3, ax1),
			in:    []*ir.Tensor{row, ewT(t, []int{1, 2}, gthI64(1, -2)), ewT(t, []int{1, 2}, []float32{1.1, 2.1})},
			shape: []int{1, 5}, want: []float64{1, 1.1, 3, 2.1, 5}},
		{name: "add accumulates duplicates", n: ewNode("ScatterElements", 3, ax1, red("add")),
			in:    []*ir.Tensor{row, ewT(t, []int{1, 2}, gthI64(1, 1)), ewT(t, []int{1, 2}, []float32{1.1, 2.1})},
			shape: []int{1, 5}, want: []float64{1, 5.2, 3, 4, 5}},
		{name: "mul on int32", n: ewNode("ScatterElements", 3, ax1, red("mul")),
			in:    []*ir.Tensor{ints, ewT(t, []int{1, 3}, gthI64(0, 0, 2)), ewT(t, []int{1, 3}, []int32{2, 3, -1})},
			shape: []int{1, 3}, want: []float64{30, 5, -5}},
		{name: "max", n: ewNode("ScatterElements", 3, ax1, red("max")),
			in:    []*ir.Tensor{ints, ewT(t, []int{1, 2}, gthI64(0, 1)), ewT(t, []int{1, 2}, []int32{7, 3})},
			shape: []int{1, 3}, want: []float64{7, 5, 5}},
		{name: "min", n: ewNode("ScatterElements", 3, ax1, red("min")),
			in:    []*ir.Tensor{ints, ewT(t, []int{1, 2}, gthI64(0, 1)), ewT(t, []int{1, 2}, []int32{7, 3})},
			shape: []int{1, 3}, want: []float64{5, 3, 5}},
		{name: "index out of range", n: ewNode("ScatterElements", 3, ax1),
			in: []*ir.Tensor{row, ewT(t, []int{1, 1}, gthI64(5)), ewT(t, []int{1, 1}, []float32{0})}, wantErr: "index 5 is out of range"},
		{name: "updates shape differs from indices", n: ewNode("ScatterElements", 3, ax1),
			in: []*ir.Tensor{row, ewT(t, []int{1, 2}, gthI64(0, 1)), ewT(t, []int{1, 1}, []float32{0})}, wantErr: "must match"},
		{name: "updates of another type", n: ewNode("ScatterElements", 3, ax1),
			in: []*ir.Tensor{row, ewT(t, []int{1, 1}, gthI64(0)), ewT(t, []int{1, 1}, []float64{0})}, wantErr: "element type"},
		{name: "unknown reduction", n: ewNode("ScatterElements", 3, red("avg")),
			in: []*ir.Tensor{row, ewT(t, []int{1, 1}, gthI64(0)), ewT(t, []int{1, 1}, []float32{0})}, wantErr: "unknown reduction"},
		{name: "add on bool", n: ewNode("ScatterElements", 3, red("add")),
			in: []*ir.Tensor{ewT(t, []int{1}, []bool{true}), ewT(t, []int{1}, gthI64(0)), ewT(t, []int{1}, []bool{true})}, wantErr: "reduction add"},
	})
	t.Run("bool assignment", func(t *testing.T) {
		got := ewRun(t, ewNode("ScatterElements", 3), ewT(t, []int{3}, []bool{false, false, false}), ewT(t, []int{1}, gthI64(1)), ewT(t, []int{1}, []bool{true}))
		if !reflect.DeepEqual(got.Data, []bool{false, true, false}) {
			t.Fatalf("got %v", got.Data)
		}
	})
}

func TestScatterNDWritesOrReducesSlices(t *testing.T) {
	vec := ewT(t, []int{8}, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	mat := ewT(t, []int{2, 2}, []int64{1, 2, 3, 4})
	red := func(r string) *ir.Attr { return ir.StringAttr("reduction", r) }
	gthRunCases(t, []gthCase{
		{name: "elements", n: ewNode("ScatterND", 3),
			in:    []*ir.Tensor{vec, ewT(t, []int{4, 1}, gthI64(4, 3, 1, 7)), ewT(t, []int{4}, []float32{9, 10, 11, 12})},
			shape: []int{8}, want: []float64{1, 11, 3, 10, 9, 6, 7, 12}},
		{name: "a row", n: ewNode("ScatterND", 3),
			in:    []*ir.Tensor{mat, ewT(t, []int{1, 1}, gthI64(-1)), ewT(t, []int{1, 2}, []int64{5, 6})},
			shape: []int{2, 2}, want: []float64{1, 2, 5, 6}},
		{name: "mul on repeated rows", n: ewNode("ScatterND", 3, red("mul")),
			in:    []*ir.Tensor{mat, ewT(t, []int{2, 1}, gthI64(0, 0)), ewT(t, []int{2, 2}, []int64{2, 3, 4, 5})},
			shape: []int{2, 2}, want: []float64{8, 30, 3, 4}},
		{name: "add on a full index", n: ewNode("ScatterND", 3, red("add")),
			in:    []*ir.Tensor{mat, ewT(t, []int{1, 2}, gthI64(1, 0)), ewT(t, []int{1}, []int64{10})},
			shape: []int{2, 2}, want: []float64{1, 2, 13, 4}},
		{name: "updates of the wrong shape", n: ewNode("ScatterND", 3),
			in: []*ir.Tensor{mat, ewT(t, []int{1, 1}, gthI64(0)), ewT(t, []int{1, 3}, []int64{1, 2, 3})}, wantErr: "updates have shape"},
		{name: "index out of range", n: ewNode("ScatterND", 3),
			in: []*ir.Tensor{mat, ewT(t, []int{1, 1}, gthI64(2)), ewT(t, []int{1, 2}, []int64{1, 2})}, wantErr: "index 2 is out of range"},
	})
}

func TestNonZeroListsCoordinatesOfNonZeroElements(t *testing.T) {
	gthRunCases(t, []gthCase{
		{name: "2-D bool", n: ewNode("NonZero", 1), in: []*ir.Tensor{ewT(t, []int{2, 2}, []bool{true, false, true, true})},
			shape: []int{2, 3}, dt: ir.Int64, want: []float64{0, 1, 1, 0, 0, 1}},
		{name: "NaN counts as non-zero", n: ewNode("NonZero", 1), in: []*ir.Tensor{ewT(t, []int{3}, []float64{0, math.NaN(), math.Copysign(0, -1)})},
			shape: []int{1, 1}, dt: ir.Int64, want: []float64{1}},
		{name: "scalar is treated as a vector", n: ewNode("NonZero", 1), in: []*ir.Tensor{ewT(t, nil, []int32{5})},
			shape: []int{1, 1}, dt: ir.Int64, want: []float64{0}},
		{name: "all zero", n: ewNode("NonZero", 1), in: []*ir.Tensor{ewT(t, []int{2, 3}, make([]uint8, 6))},
			shape: []int{2, 0}, dt: ir.Int64, want: []float64{}},
		{name: "strings are rejected", n: ewNode("NonZero", 1), in: []*ir.Tensor{ewT(t, []int{1}, []string{"a"})},
			wantErr: "element type"},
	})
	t.Run("output type is int64", func(t *testing.T) {
		got := ewRun(t, ewNode("NonZero", 1), ewT(t, []int{1}, []float32{1}))
		if got.DType != ir.Int64 {
			t.Fatalf("dtype %v, want int64", got.DType)
		}
	})
	t.Run("unknown values leave the shape unknown", func(t *testing.T) {
		_, err := inferNonZero(ewNode("NonZero", 1), []*Arg{{DType: ir.Float32, Shape: []int{2}}})
		if !errors.Is(err, errNeedValue) {
			t.Fatalf("err %v, want errNeedValue", err)
		}
	})
}

func TestCompressSelectsSlicesByCondition(t *testing.T) {
	data := ewT(t, []int{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	cond := func(v ...bool) *ir.Tensor { return ewT(t, []int{len(v)}, v) }
	ax := func(a int64) *ir.Attr { return ir.IntAttr("axis", a) }
	gthRunCases(t, []gthCase{
		{name: "axis 0", n: ewNode("Compress", 2, ax(0)), in: []*ir.Tensor{data, cond(false, true, true)},
			shape: []int{2, 2}, want: []float64{3, 4, 5, 6}},
		{name: "axis 1", n: ewNode("Compress", 2, ax(1)), in: []*ir.Tensor{data, cond(false, true)},
			shape: []int{3, 1}, want: []float64{2, 4, 6}},
		{name: "negative axis", n: ewNode("Compress", 2, ax(-1)), in: []*ir.Tensor{data, cond(true, false)},
			shape: []int{3, 1}, want: []float64{1, 3, 5}},
		{name: "short condition drops the rest", n: ewNode("Compress", 2, ax(0)), in: []*ir.Tensor{data, cond(true)},
			shape: []int{1, 2}, want: []float64{1, 2}},
		{name: "long condition is cut to the axis", n: ewNode("Compress", 2, ax(0)), in: []*ir.Tensor{data, cond(false, false, true, true)},
			shape: []int{1, 2}, want: []float64{5, 6}},
		{name: "no axis flattens", n: ewNode("Compress", 2), in: []*ir.Tensor{data, cond(false, true, false, false, true)},
			shape: []int{2}, want: []float64{2, 5}},
		{name: "nothing selected", n: ewNode("Compress", 2, ax(1)), in: []*ir.Tensor{data, cond(false, false)},
			shape: []int{3, 0}, want: []float64{}},
		{name: "non-bool condition", n: ewNode("Compress", 2), in: []*ir.Tensor{data, ewT(t, []int{1}, gthI64(1))},
			wantErr: "want bool"},
		{name: "axis out of range", n: ewNode("Compress", 2, ax(2)), in: []*ir.Tensor{data, cond(true)},
			wantErr: "out of range"},
	})
}

func TestReverseSequenceReversesEachBatchPrefix(t *testing.T) {
	x := make([]float32, 16)
	for i := range x {
		x[i] = float32(i)
	}
	data := ewT(t, []int{4, 4}, x)
	attrs := func(b, tm int64) []*ir.Attr {
		return []*ir.Attr{ir.IntAttr("batch_axis", b), ir.IntAttr("time_axis", tm)}
	}
	gthRunCases(t, []gthCase{
		// time along rows, batch along columns: column j reverses its first
		// lens[j] entries.
		{name: "time axis 0", n: ewNode("ReverseSequence", 2, attrs(1, 0)...), in: []*ir.Tensor{data, ewT(t, []int{4}, gthI64(4, 3, 2, 1))},
			shape: []int{4, 4}, want: []float64{12, 9, 6, 3, 8, 5, 2, 7, 4, 1, 10, 11, 0, 13, 14, 15}},
		{name: "batch axis 0", n: ewNode("ReverseSequence", 2, attrs(0, 1)...), in: []*ir.Tensor{data, ewT(t, []int{4}, gthI64(1, 2, 3, 0))},
			shape: []int{4, 4}, want: []float64{0, 1, 2, 3, 5, 4, 6, 7, 10, 9, 8, 11, 12, 13, 14, 15}},
		{name: "length past the time axis", n: ewNode("ReverseSequence", 2), in: []*ir.Tensor{data, ewT(t, []int{4}, gthI64(5, 1, 1, 1))},
			wantErr: "out of range"},
		{name: "negative length", n: ewNode("ReverseSequence", 2), in: []*ir.Tensor{data, ewT(t, []int{4}, gthI64(1, -1, 1, 1))},
			wantErr: "out of range"},
		{name: "same batch and time axis", n: ewNode("ReverseSequence", 2, attrs(0, 0)...), in: []*ir.Tensor{data, ewT(t, []int{4}, gthI64(1, 1, 1, 1))},
			wantErr: "0 and 1"},
		{name: "lengths not matching the batch", n: ewNode("ReverseSequence", 2), in: []*ir.Tensor{data, ewT(t, []int{3}, gthI64(1, 1, 1))},
			wantErr: "batch size"},
		{name: "rank-1 input", n: ewNode("ReverseSequence", 2), in: []*ir.Tensor{ewT(t, []int{2}, []float32{1, 2}), ewT(t, []int{1}, gthI64(1))},
			wantErr: "rank 2 or more"},
	})
}
