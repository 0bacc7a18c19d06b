package runtime

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// shNode builds a node with nIn inputs (an index listed in omitted gets the
// empty name, marking an omitted optional input) and nOut outputs.
func shNode(op string, nIn, nOut int, omitted []int, attrs ...*ir.Attr) *ir.Node {
	n := &ir.Node{Op: op}
	for i := 0; i < nIn; i++ {
		n.Inputs = append(n.Inputs, fmt.Sprintf("in%d", i))
	}
	for _, i := range omitted {
		n.Inputs[i] = ""
	}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, fmt.Sprintf("out%d", i))
	}
	for _, a := range attrs {
		n.SetAttr(a)
	}
	return n
}

// shT wraps data as a tensor of the given shape, failing the test on error.
func shT(t testing.TB, shape []int, data any) *ir.Tensor {
	t.Helper()
	x, err := ir.FromSlice(shape, data)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// shInts is a 1-D int64 tensor.
func shInts(t testing.TB, v ...int64) *ir.Tensor { return shT(t, []int{len(v)}, v) }

// shIota is a float32 tensor of the given shape holding 0, 1, 2, ...
func shIota(t testing.TB, shape ...int) *ir.Tensor {
	n := prod(shape)
	d := make([]float32, n)
	for i := range d {
		d[i] = float32(i)
	}
	return shT(t, shape, d)
}

// shCase is one node evaluation: either the outputs it must produce exactly
// (dtype, shape and elements) or a substring of the error it must return.
type shCase struct {
	name string
	node *ir.Node
	in   []*ir.Tensor
	want []*ir.Tensor
	err  string
}

func shRunCases(t *testing.T, cases []shCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := execNode(c.node, c.in)
			if c.err != "" {
				if err == nil {
					t.Fatalf("got outputs %v, want an error containing %q", got, c.err)
				}
				if !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %q does not contain %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("got %d outputs, want %d", len(got), len(c.want))
			}
			for i, w := range c.want {
				g := got[i]
				if g.DType != w.DType || fmt.Sprint(g.Shape) != fmt.Sprint(w.Shape) {
					t.Fatalf("output %d is %v%v, want %v%v", i, g.DType, g.Shape, w.DType, w.Shape)
				}
				if fmt.Sprint(g.Data) != fmt.Sprint(w.Data) {
					t.Fatalf("output %d is %v, want %v", i, g.Data, w.Data)
				}
			}
		})
	}
}

func TestShapeListsTheSelectedDimensions(t *testing.T) {
	x := shIota(t, 2, 3, 4)
	shRunCases(t, []shCase{
		{name: "all dimensions by default", node: shNode("Shape", 1, 1, nil), in: []*ir.Tensor{x}, want: []*ir.Tensor{shInts(t, 2, 3, 4)}},
		{name: "start 1", node: shNode("Shape", 1, 1, nil, ir.IntAttr("start", 1)), in: []*ir.Tensor{x}, want: []*ir.Tensor{shInts(t, 3, 4)}},
		{name: "end -1", node: shNode("Shape", 1, 1, nil, ir.IntAttr("end", -1)), in: []*ir.Tensor{x}, want: []*ir.Tensor{shInts(t, 2, 3)}},
		{name: "out of range start and end clamp", node: shNode("Shape", 1, 1, nil, ir.IntAttr("start", -10), ir.IntAttr("end", 10)), in: []*ir.Tensor{x}, want: []*ir.Tensor{shInts(t, 2, 3, 4)}},
		{name: "start after end gives an empty list", node: shNode("Shape", 1, 1, nil, ir.IntAttr("start", 2), ir.IntAttr("end", 1)), in: []*ir.Tensor{x}, want: []*ir.Tensor{shInts(t)}},
		{name: "a scalar has an empty shape", node: shNode("Shape", 1, 1, nil), in: []*ir.Tensor{shT(t, nil, []bool{true})}, want: []*ir.Tensor{shInts(t)}},
	})
}

func TestReshapeResolvesZeroAndMinusOne(t *testing.T) {
	x := shIota(t, 2, 3, 4)
	data := x.F32()
	reshape := func(attrs ...*ir.Attr) *ir.Node { return shNode("Reshape", 2, 1, nil, attrs...) }
	shRunCases(t, []shCase{
		{name: "explicit shape keeps element order", node: reshape(), in: []*ir.Tensor{x, shInts(t, 4, 6)}, want: []*ir.Tensor{shT(t, []int{4, 6}, data)}},
		{name: "0 copies the input dimension and -1 takes the rest", node: reshape(), in: []*ir.Tensor{x, shInts(t, 0, -1)}, want: []*ir.Tensor{shT(t, []int{2, 12}, data)}},
		{name: "-1 in the middle", node: reshape(), in: []*ir.Tensor{x, shInts(t, 3, -1, 2)}, want: []*ir.Tensor{shT(t, []int{3, 4, 2}, data)}},
		{name: "allowzero keeps a literal 0", node: reshape(ir.IntAttr("allowzero", 1)), in: []*ir.Tensor{shT(t, []int{3, 0}, []float32{}), shInts(t, 0, 3)}, want: []*ir.Tensor{shT(t, []int{0, 3}, []float32{})}},
		{name: "strings reshape too", node: reshape(), in: []*ir.Tensor{shT(t, []int{2, 2}, []string{"a", "b", "c", "d"}), shInts(t, 4)}, want: []*ir.Tensor{shT(t, []int{4}, []string{"a", "b", "c", "d"})}},
		{name: "to a scalar", node: reshape(), in: []*ir.Tensor{shT(t, []int{1, 1}, []int32{7}), shInts(t)}, want: []*ir.Tensor{shT(t, nil, []int32{7})}},
		{name: "two -1 are an error", node: reshape(), in: []*ir.Tensor{x, shInts(t, -1, -1)}, err: "more than one -1"},
		{name: "a different element count is an error", node: reshape(), in: []*ir.Tensor{x, shInts(t, 5, 5)}, err: "25 elements"},
		{name: "-1 that cannot divide is an error", node: reshape(), in: []*ir.Tensor{x, shInts(t, 5, -1)}, err: "cannot be inferred"},
		{name: "0 beyond the input rank is an error", node: reshape(), in: []*ir.Tensor{shIota(t, 6), shInts(t, 6, 0)}, err: "rank 1"},
		{name: "0 and -1 with allowzero is an error", node: reshape(ir.IntAttr("allowzero", 1)), in: []*ir.Tensor{shT(t, []int{0}, []float32{}), shInts(t, 0, -1)}, err: "both 0 and -1"},
		{name: "dimensions below -1 are an error", node: reshape(), in: []*ir.Tensor{x, shInts(t, -2, 12)}, err: "invalid dimension -2"},
		{name: "a hostile shape is an error", node: reshape(), in: []*ir.Tensor{x, shInts(t, 1<<40, 1<<40)}, err: "too large"},
		{name: "a float shape is an error", node: reshape(), in: []*ir.Tensor{x, shT(t, []int{1}, []float32{24})}, err: "integer"},
	})
}

func TestReshapeInferNeedsTheShapeValue(t *testing.T) {
	_, err := ops["Reshape"].infer(shNode("Reshape", 2, 1, nil), []*Arg{
		{DType: ir.Float32, Shape: []int{2, 3}}, {DType: ir.Int64, Shape: []int{2}}})
	if !errors.Is(err, errNeedValue) {
		t.Fatalf("got %v, want errNeedValue", err)
	}
}

func TestFlattenSplitsTheShapeAtTheAxis(t *testing.T) {
	x := shT(t, []int{2, 3, 4}, make([]bool, 24))
	flat := func(axis int64) *ir.Node { return shNode("Flatten", 1, 1, nil, ir.IntAttr("axis", axis)) }
	shape := func(s ...int) *ir.Tensor { return shT(t, s, make([]bool, 24)) }
	shRunCases(t, []shCase{
		{name: "default axis 1", node: shNode("Flatten", 1, 1, nil), in: []*ir.Tensor{x}, want: []*ir.Tensor{shape(2, 12)}},
		{name: "axis 0 gives a leading 1", node: flat(0), in: []*ir.Tensor{x}, want: []*ir.Tensor{shape(1, 24)}},
		{name: "axis equal to the rank gives a trailing 1", node: flat(3), in: []*ir.Tensor{x}, want: []*ir.Tensor{shape(24, 1)}},
		{name: "negative axis counts from the end", node: flat(-1), in: []*ir.Tensor{x}, want: []*ir.Tensor{shape(6, 4)}},
		{name: "axis beyond the rank is an error", node: flat(4), in: []*ir.Tensor{x}, err: "out of range"},
		{name: "axis below -rank is an error", node: flat(-4), in: []*ir.Tensor{x}, err: "out of range"},
	})
}

func TestSqueezeAndUnsqueezeChangeOnlyTheShape(t *testing.T) {
	data := []int64{1, 2, 3, 4, 5, 6}
	x := shT(t, []int{1, 3, 1, 2}, data)
	y := shT(t, []int{3, 2}, data)
	sq := shNode("Squeeze", 2, 1, nil)
	sqAll := shNode("Squeeze", 1, 1, nil)
	unsq := shNode("Unsqueeze", 2, 1, nil)
	shRunCases(t, []shCase{
		{name: "squeeze without axes drops every 1", node: sqAll, in: []*ir.Tensor{x}, want: []*ir.Tensor{y}},
		{name: "squeeze with an omitted axes input drops every 1", node: shNode("Squeeze", 2, 1, []int{1}), in: []*ir.Tensor{x, nil}, want: []*ir.Tensor{y}},
		{name: "squeeze a negative axis", node: sq, in: []*ir.Tensor{x, shInts(t, -2)}, want: []*ir.Tensor{shT(t, []int{1, 3, 2}, data)}},
		{name: "squeeze an axis that is not 1 is an error", node: sq, in: []*ir.Tensor{x, shInts(t, 1)}, err: "size is not 1"},
		{name: "squeeze an axis out of range is an error", node: sq, in: []*ir.Tensor{x, shInts(t, 4)}, err: "out of range"},
		{name: "squeeze the same axis twice is an error", node: sq, in: []*ir.Tensor{x, shInts(t, 0, -4)}, err: "twice"},
		{name: "unsqueeze at both ends", node: unsq, in: []*ir.Tensor{y, shInts(t, 0, 3)}, want: []*ir.Tensor{shT(t, []int{1, 3, 2, 1}, data)}},
		{name: "unsqueeze with unsorted axes", node: unsq, in: []*ir.Tensor{y, shInts(t, 3, 0)}, want: []*ir.Tensor{shT(t, []int{1, 3, 2, 1}, data)}},
		{name: "unsqueeze a negative axis counts in the output rank", node: unsq, in: []*ir.Tensor{y, shInts(t, -1)}, want: []*ir.Tensor{shT(t, []int{3, 2, 1}, data)}},
		{name: "unsqueeze a scalar", node: unsq, in: []*ir.Tensor{shT(t, nil, []int64{9}), shInts(t, 0)}, want: []*ir.Tensor{shT(t, []int{1}, []int64{9})}},
		{name: "unsqueeze the same axis twice is an error", node: unsq, in: []*ir.Tensor{y, shInts(t, 1, 1)}, err: "twice"},
		{name: "unsqueeze an axis out of range is an error", node: unsq, in: []*ir.Tensor{y, shInts(t, 3)}, err: "out of range"},
	})
}

func TestIdentityCopiesAnyType(t *testing.T) {
	x := shT(t, []int{2}, []string{"x", "y"})
	shRunCases(t, []shCase{
		{name: "strings", node: shNode("Identity", 1, 1, nil), in: []*ir.Tensor{x}, want: []*ir.Tensor{x}},
		{name: "uint16", node: shNode("Identity", 1, 1, nil), in: []*ir.Tensor{shT(t, []int{1}, []uint16{65535})}, want: []*ir.Tensor{shT(t, []int{1}, []uint16{65535})}},
	})
}

func TestExpandBroadcastsBothWays(t *testing.T) {
	col := shT(t, []int{3, 1}, []float32{1, 2, 3})
	shRunCases(t, []shCase{
		{name: "column to a larger rank", node: shNode("Expand", 2, 1, nil), in: []*ir.Tensor{col, shInts(t, 2, 1, 4)},
			want: []*ir.Tensor{shT(t, []int{2, 3, 4}, []float32{1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3})}},
		{name: "a smaller shape keeps the input's dimensions", node: shNode("Expand", 2, 1, nil), in: []*ir.Tensor{col, shInts(t, 1)}, want: []*ir.Tensor{col}},
		{name: "a size-0 dimension gives an empty tensor", node: shNode("Expand", 2, 1, nil), in: []*ir.Tensor{col, shInts(t, 3, 0)}, want: []*ir.Tensor{shT(t, []int{3, 0}, []float32{})}},
		{name: "bools", node: shNode("Expand", 2, 1, nil), in: []*ir.Tensor{shT(t, nil, []bool{true}), shInts(t, 2)}, want: []*ir.Tensor{shT(t, []int{2}, []bool{true, true})}},
		{name: "incompatible dimensions are an error", node: shNode("Expand", 2, 1, nil), in: []*ir.Tensor{col, shInts(t, 2, 2)}, err: "cannot be broadcast"},
		{name: "a negative dimension is an error", node: shNode("Expand", 2, 1, nil), in: []*ir.Tensor{col, shInts(t, -3, 1)}, err: "negative"},
		{name: "a hostile size is an error", node: shNode("Expand", 2, 1, nil), in: []*ir.Tensor{col, shInts(t, 1<<50, 1)}, err: "too large"},
		{name: "a hostile shape is an error", node: shNode("Expand", 2, 1, nil), in: []*ir.Tensor{col, shInts(t, 1<<30, 3, 1<<30)}, err: "too large"},
	})
}

func TestTileRepeatsEachAxis(t *testing.T) {
	x := shT(t, []int{2, 2}, []int32{1, 2, 3, 4})
	tile := shNode("Tile", 2, 1, nil)
	shRunCases(t, []shCase{
		{name: "repeat columns", node: tile, in: []*ir.Tensor{x, shInts(t, 1, 2)}, want: []*ir.Tensor{shT(t, []int{2, 4}, []int32{1, 2, 1, 2, 3, 4, 3, 4})}},
		{name: "repeat rows", node: tile, in: []*ir.Tensor{x, shInts(t, 2, 1)}, want: []*ir.Tensor{shT(t, []int{4, 2}, []int32{1, 2, 3, 4, 1, 2, 3, 4})}},
		{name: "repeat both", node: tile, in: []*ir.Tensor{shT(t, []int{1, 2}, []string{"a", "b"}), shInts(t, 2, 2)}, want: []*ir.Tensor{shT(t, []int{2, 4}, []string{"a", "b", "a", "b", "a", "b", "a", "b"})}},
		{name: "zero repeats give an empty tensor", node: tile, in: []*ir.Tensor{x, shInts(t, 0, 1)}, want: []*ir.Tensor{shT(t, []int{0, 2}, []int32{})}},
		{name: "one repeat per axis is required", node: tile, in: []*ir.Tensor{x, shInts(t, 2)}, err: "rank 2"},
		{name: "negative repeats are an error", node: tile, in: []*ir.Tensor{x, shInts(t, 1, -1)}, err: "negative"},
		{name: "hostile repeats are an error", node: tile, in: []*ir.Tensor{x, shInts(t, 1<<40, 1<<40)}, err: "too large"},
		{name: "repeats that overflow int64 are an error", node: tile, in: []*ir.Tensor{x, shInts(t, math.MaxInt64, 1)}, err: "too large"},
	})
}

func TestTransposePermutesAxes(t *testing.T) {
	perm := func(p ...int64) *ir.Node { return shNode("Transpose", 1, 1, nil, ir.IntsAttr("perm", p)) }
	shRunCases(t, []shCase{
		{name: "default reverses the axes", node: shNode("Transpose", 1, 1, nil), in: []*ir.Tensor{shIota(t, 2, 3)}, want: []*ir.Tensor{shT(t, []int{3, 2}, []float32{0, 3, 1, 4, 2, 5})}},
		// out[k,i,j] = in[i,j,k] for in of shape 2x1x3 holding 0..5.
		{name: "a 3-D rotation", node: perm(2, 0, 1), in: []*ir.Tensor{shIota(t, 2, 1, 3)}, want: []*ir.Tensor{shT(t, []int{3, 2, 1}, []float32{0, 3, 1, 4, 2, 5})}},
		{name: "bools", node: perm(1, 0), in: []*ir.Tensor{shT(t, []int{1, 3}, []bool{true, false, true})}, want: []*ir.Tensor{shT(t, []int{3, 1}, []bool{true, false, true})}},
		{name: "a repeated axis is an error", node: perm(0, 0), in: []*ir.Tensor{shIota(t, 2, 3)}, err: "not a permutation"},
		{name: "the wrong length is an error", node: perm(0), in: []*ir.Tensor{shIota(t, 2, 3)}, err: "rank 2"},
		{name: "an axis out of range is an error", node: perm(0, 2), in: []*ir.Tensor{shIota(t, 2, 3)}, err: "not a permutation"},
	})
}

func TestConcatJoinsAlongTheAxis(t *testing.T) {
	a := shT(t, []int{2, 1}, []int64{1, 2})
	b := shT(t, []int{2, 2}, []int64{3, 4, 5, 6})
	concat := func(axis int64) *ir.Node { return shNode("Concat", 2, 1, nil, ir.IntAttr("axis", axis)) }
	shRunCases(t, []shCase{
		{name: "columns", node: concat(1), in: []*ir.Tensor{a, b}, want: []*ir.Tensor{shT(t, []int{2, 3}, []int64{1, 3, 4, 2, 5, 6})}},
		{name: "negative axis", node: concat(-1), in: []*ir.Tensor{a, b}, want: []*ir.Tensor{shT(t, []int{2, 3}, []int64{1, 3, 4, 2, 5, 6})}},
		{name: "rows", node: concat(0), in: []*ir.Tensor{b, b}, want: []*ir.Tensor{shT(t, []int{4, 2}, []int64{3, 4, 5, 6, 3, 4, 5, 6})}},
		{name: "an empty input adds nothing", node: concat(1), in: []*ir.Tensor{shT(t, []int{2, 0}, []int64{}), a}, want: []*ir.Tensor{a}},
		{name: "three string inputs", node: shNode("Concat", 3, 1, nil, ir.IntAttr("axis", 0)),
			in:   []*ir.Tensor{shT(t, []int{1}, []string{"a"}), shT(t, []int{2}, []string{"b", "c"}), shT(t, []int{1}, []string{"d"})},
			want: []*ir.Tensor{shT(t, []int{4}, []string{"a", "b", "c", "d"})}},
		{name: "mismatched dimensions are an error", node: concat(0), in: []*ir.Tensor{a, b}, err: "dimension 1 differs"},
		{name: "mismatched types are an error", node: concat(0), in: []*ir.Tensor{a, shT(t, []int{2, 1}, []int32{1, 2})}, err: "int32"},
		{name: "mismatched ranks are an error", node: concat(0), in: []*ir.Tensor{a, shInts(t, 1)}, err: "ranks differ"},
		{name: "an axis out of range is an error", node: concat(2), in: []*ir.Tensor{a, b}, err: "out of range"},
		{name: "a missing axis attribute is an error", node: shNode("Concat", 2, 1, nil), in: []*ir.Tensor{a, b}, err: "axis attribute is required"},
	})
}

func TestSplitCutsIntoParts(t *testing.T) {
	x := shT(t, []int{6}, []float32{1, 2, 3, 4, 5, 6})
	f := func(v ...float32) *ir.Tensor { return shT(t, []int{len(v)}, v) }
	m := shT(t, []int{2, 3}, []int8{1, 2, 3, 4, 5, 6})
	shRunCases(t, []shCase{
		{name: "equal parts from the output count", node: shNode("Split", 1, 3, nil), in: []*ir.Tensor{x}, want: []*ir.Tensor{f(1, 2), f(3, 4), f(5, 6)}},
		{name: "explicit sizes", node: shNode("Split", 2, 2, nil), in: []*ir.Tensor{x, shInts(t, 1, 5)}, want: []*ir.Tensor{f(1), f(2, 3, 4, 5, 6)}},
		{name: "a zero size part", node: shNode("Split", 2, 2, nil), in: []*ir.Tensor{x, shInts(t, 0, 6)}, want: []*ir.Tensor{f(), f(1, 2, 3, 4, 5, 6)}},
		{name: "an omitted split input splits equally", node: shNode("Split", 2, 2, []int{1}), in: []*ir.Tensor{x, nil}, want: []*ir.Tensor{f(1, 2, 3), f(4, 5, 6)}},
		{name: "num_outputs with an uneven last part", node: shNode("Split", 1, 4, nil, ir.IntAttr("num_outputs", 4)),
			in: []*ir.Tensor{x}, want: []*ir.Tensor{f(1, 2), f(3, 4), f(5, 6), f()}},
		{name: "7 into 3 parts is 3, 3, 1", node: shNode("Split", 1, 3, nil, ir.IntAttr("num_outputs", 3)),
			in: []*ir.Tensor{shT(t, []int{7}, []float32{1, 2, 3, 4, 5, 6, 7})}, want: []*ir.Tensor{f(1, 2, 3), f(4, 5, 6), f(7)}},
		{name: "along axis 1", node: shNode("Split", 2, 2, nil, ir.IntAttr("axis", 1)), in: []*ir.Tensor{m, shInts(t, 2, 1)},
			want: []*ir.Tensor{shT(t, []int{2, 2}, []int8{1, 2, 4, 5}), shT(t, []int{2, 1}, []int8{3, 6})}},
		{name: "along a negative axis", node: shNode("Split", 1, 3, nil, ir.IntAttr("axis", -1)), in: []*ir.Tensor{m},
			want: []*ir.Tensor{shT(t, []int{2, 1}, []int8{1, 4}), shT(t, []int{2, 1}, []int8{2, 5}), shT(t, []int{2, 1}, []int8{3, 6})}},
		{name: "sizes that do not add up are an error", node: shNode("Split", 2, 2, nil), in: []*ir.Tensor{x, shInts(t, 2, 3)}, err: "sums to 5"},
		{name: "the wrong number of sizes is an error", node: shNode("Split", 2, 2, nil), in: []*ir.Tensor{x, shInts(t, 6)}, err: "2 outputs"},
		{name: "negative sizes are an error", node: shNode("Split", 2, 2, nil), in: []*ir.Tensor{x, shInts(t, -1, 7)}, err: "invalid size"},
		{name: "num_outputs unlike the outputs is an error", node: shNode("Split", 1, 2, nil, ir.IntAttr("num_outputs", 3)), in: []*ir.Tensor{x}, err: "num_outputs is 3"},
		{name: "5 into 4 parts is an error", node: shNode("Split", 1, 4, nil), in: []*ir.Tensor{shIota(t, 5)}, err: "cannot be split"},
		{name: "an axis out of range is an error", node: shNode("Split", 1, 2, nil, ir.IntAttr("axis", 1)), in: []*ir.Tensor{x}, err: "out of range"},
	})
}

func TestDropoutPassesDataThroughInInference(t *testing.T) {
	x := shT(t, []int{3}, []float32{1, 2, 3})
	mask := shT(t, []int{3}, []bool{true, true, true})
	ratio := shT(t, nil, []float32{0.5})
	shRunCases(t, []shCase{
		{name: "one output", node: shNode("Dropout", 1, 1, nil), in: []*ir.Tensor{x}, want: []*ir.Tensor{x}},
		{name: "the mask is all true", node: shNode("Dropout", 2, 2, nil), in: []*ir.Tensor{x, ratio}, want: []*ir.Tensor{x, mask}},
		{name: "training_mode false", node: shNode("Dropout", 3, 2, nil), in: []*ir.Tensor{x, ratio, shT(t, nil, []bool{false})}, want: []*ir.Tensor{x, mask}},
		{name: "training_mode with ratio 0 is the identity", node: shNode("Dropout", 3, 2, nil),
			in: []*ir.Tensor{x, shT(t, nil, []float32{0}), shT(t, nil, []bool{true})}, want: []*ir.Tensor{x, mask}},
		{name: "training_mode with a ratio is an error", node: shNode("Dropout", 3, 1, nil), in: []*ir.Tensor{x, ratio, shT(t, nil, []bool{true})}, err: "training mode is not supported in inference"},
		{name: "training_mode with the default ratio is an error", node: shNode("Dropout", 3, 1, []int{1}), in: []*ir.Tensor{x, nil, shT(t, nil, []bool{true})}, err: "training mode is not supported in inference"},
	})
}

func TestConstantOutputsItsValue(t *testing.T) {
	val := shT(t, []int{2}, []float64{1.5, -2})
	withAttr := func(a *ir.Attr) *ir.Node { return shNode("Constant", 0, 1, nil, a) }
	shRunCases(t, []shCase{
		{name: "value tensor", node: withAttr(&ir.Attr{Name: "value", Type: ir.AttrTensor, T: val}), want: []*ir.Tensor{val}},
		{name: "value_float", node: withAttr(ir.FloatAttr("value_float", 2.5)), want: []*ir.Tensor{shT(t, nil, []float32{2.5})}},
		{name: "value_floats", node: withAttr(&ir.Attr{Name: "value_floats", Type: ir.AttrFloats, Floats: []float32{1, 2}}), want: []*ir.Tensor{shT(t, []int{2}, []float32{1, 2})}},
		{name: "value_int", node: withAttr(ir.IntAttr("value_int", 7)), want: []*ir.Tensor{shT(t, nil, []int64{7})}},
		{name: "value_ints", node: withAttr(ir.IntsAttr("value_ints", []int64{3, 4})), want: []*ir.Tensor{shInts(t, 3, 4)}},
		{name: "value_string", node: withAttr(ir.StringAttr("value_string", "hi")), want: []*ir.Tensor{shT(t, nil, []string{"hi"})}},
		{name: "value_strings", node: withAttr(&ir.Attr{Name: "value_strings", Type: ir.AttrStrings, Strings: []string{"a", "b"}}), want: []*ir.Tensor{shT(t, []int{2}, []string{"a", "b"})}},
		{name: "no value is an error", node: shNode("Constant", 0, 1, nil), err: "no value attribute"},
	})
}

func TestConstantOfShapeFillsTheShape(t *testing.T) {
	value := func(v *ir.Tensor) *ir.Attr { return &ir.Attr{Name: "value", Type: ir.AttrTensor, T: v} }
	cos := shNode("ConstantOfShape", 1, 1, nil)
	shRunCases(t, []shCase{
		{name: "float32 zeros by default", node: cos, in: []*ir.Tensor{shInts(t, 2, 3)}, want: []*ir.Tensor{shT(t, []int{2, 3}, make([]float32, 6))}},
		{name: "the value's type and value", node: shNode("ConstantOfShape", 1, 1, nil, value(shT(t, []int{1}, []int64{7}))), in: []*ir.Tensor{shInts(t, 2)}, want: []*ir.Tensor{shInts(t, 7, 7)}},
		{name: "bool value", node: shNode("ConstantOfShape", 1, 1, nil, value(shT(t, []int{1}, []bool{true}))), in: []*ir.Tensor{shInts(t, 1, 2)}, want: []*ir.Tensor{shT(t, []int{1, 2}, []bool{true, true})}},
		{name: "an empty shape gives a scalar", node: cos, in: []*ir.Tensor{shInts(t)}, want: []*ir.Tensor{shT(t, nil, []float32{0})}},
		{name: "a zero dimension gives an empty tensor", node: cos, in: []*ir.Tensor{shInts(t, 0, 5)}, want: []*ir.Tensor{shT(t, []int{0, 5}, []float32{})}},
		{name: "a hostile shape is an error", node: cos, in: []*ir.Tensor{shInts(t, 1<<50)}, err: "too large"},
		{name: "a hostile product is an error", node: cos, in: []*ir.Tensor{shInts(t, 1<<20, 1<<20, 1<<20)}, err: "too large"},
		{name: "a negative dimension is an error", node: cos, in: []*ir.Tensor{shInts(t, 2, -1)}, err: "negative"},
		{name: "a multi-element value is an error", node: shNode("ConstantOfShape", 1, 1, nil, value(shInts(t, 1, 2))), in: []*ir.Tensor{shInts(t, 2)}, err: "one element"},
	})
}

func TestGatherPicksAlongTheAxis(t *testing.T) {
	x := shT(t, []int{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	gather := func(axis int64) *ir.Node { return shNode("Gather", 2, 1, nil, ir.IntAttr("axis", axis)) }
	shRunCases(t, []shCase{
		{name: "rows", node: gather(0), in: []*ir.Tensor{x, shInts(t, 2, 0)}, want: []*ir.Tensor{shT(t, []int{2, 2}, []float32{5, 6, 1, 2})}},
		{name: "columns with a negative index", node: gather(1), in: []*ir.Tensor{x, shInts(t, -1)}, want: []*ir.Tensor{shT(t, []int{3, 1}, []float32{2, 4, 6})}},
		{name: "a scalar index drops the axis", node: gather(0), in: []*ir.Tensor{x, shT(t, nil, []int32{1})}, want: []*ir.Tensor{shT(t, []int{2}, []float32{3, 4})}},
		{name: "2-D indices", node: gather(0), in: []*ir.Tensor{shT(t, []int{3}, []string{"a", "b", "c"}), shT(t, []int{2, 2}, []int64{0, 1, 2, 0})},
			want: []*ir.Tensor{shT(t, []int{2, 2}, []string{"a", "b", "c", "a"})}},
		{name: "negative axis", node: gather(-1), in: []*ir.Tensor{x, shInts(t, 1, 1)}, want: []*ir.Tensor{shT(t, []int{3, 2}, []float32{2, 2, 4, 4, 6, 6})}},
		{name: "an index past the end is an error", node: gather(0), in: []*ir.Tensor{x, shInts(t, 3)}, err: "index 3 is out of range"},
		{name: "an index before the start is an error", node: gather(0), in: []*ir.Tensor{x, shInts(t, -4)}, err: "index -4 is out of range"},
		{name: "float indices are an error", node: gather(0), in: []*ir.Tensor{x, shT(t, []int{1}, []float32{0})}, err: "integer"},
		{name: "an axis out of range is an error", node: gather(2), in: []*ir.Tensor{x, shInts(t, 0)}, err: "out of range"},
	})
}

func TestSliceSelectsRangesWithSteps(t *testing.T) {
	x := shT(t, []int{6}, []int64{0, 10, 20, 30, 40, 50})
	m := shIota(t, 3, 4)
	slice := shNode("Slice", 5, 1, nil)
	slice3 := shNode("Slice", 3, 1, nil)
	v := func(vals ...int64) *ir.Tensor { return shInts(t, vals...) }
	shRunCases(t, []shCase{
		{name: "a range with step 2", node: slice, in: []*ir.Tensor{x, v(1), v(6), v(0), v(2)}, want: []*ir.Tensor{v(10, 30, 50)}},
		{name: "default axes and steps", node: slice3, in: []*ir.Tensor{x, v(2), v(4)}, want: []*ir.Tensor{v(20, 30)}},
		{name: "negative starts and ends count from the end", node: slice3, in: []*ir.Tensor{x, v(-3), v(-1)}, want: []*ir.Tensor{v(30, 40)}},
		{name: "reverse with INT64_MIN end", node: slice, in: []*ir.Tensor{x, v(-1), v(math.MinInt64), v(0), v(-1)}, want: []*ir.Tensor{v(50, 40, 30, 20, 10, 0)}},
		{name: "negative step 2 from past the end clamps", node: slice, in: []*ir.Tensor{x, v(100), v(0), v(0), v(-2)}, want: []*ir.Tensor{v(50, 30, 10)}},
		{name: "INT64_MAX end", node: slice3, in: []*ir.Tensor{x, v(4), v(math.MaxInt64)}, want: []*ir.Tensor{v(40, 50)}},
		{name: "a start past the end gives nothing", node: slice3, in: []*ir.Tensor{x, v(10), v(20)}, want: []*ir.Tensor{v()}},
		{name: "end before start gives nothing", node: slice3, in: []*ir.Tensor{x, v(4), v(2)}, want: []*ir.Tensor{v()}},
		{name: "a huge step takes one element", node: slice, in: []*ir.Tensor{x, v(1), v(6), v(0), v(math.MaxInt64)}, want: []*ir.Tensor{v(10)}},
		{name: "INT64_MIN step takes one element", node: slice, in: []*ir.Tensor{x, v(-2), v(math.MinInt64), v(0), v(math.MinInt64)}, want: []*ir.Tensor{v(40)}},
		{name: "a negative axis of a matrix", node: slice, in: []*ir.Tensor{m, v(1), v(3), v(-1), v(1)}, want: []*ir.Tensor{shT(t, []int{3, 2}, []float32{1, 2, 5, 6, 9, 10})}},
		{name: "two axes in reverse order", node: shNode("Slice", 4, 1, nil), in: []*ir.Tensor{m, v(1, 2), v(3, 3), v(1, 0)},
			want: []*ir.Tensor{shT(t, []int{1, 2}, []float32{9, 10})}},
		{name: "int32 parameters", node: slice3, in: []*ir.Tensor{x, shT(t, []int{1}, []int32{1}), shT(t, []int{1}, []int32{3})}, want: []*ir.Tensor{v(10, 20)}},
		{name: "step 0 is an error", node: slice, in: []*ir.Tensor{x, v(0), v(6), v(0), v(0)}, err: "step 0"},
		{name: "a repeated axis is an error", node: shNode("Slice", 4, 1, nil), in: []*ir.Tensor{m, v(0, 0), v(1, 1), v(0, -2)}, err: "twice"},
		{name: "an axis out of range is an error", node: shNode("Slice", 4, 1, nil), in: []*ir.Tensor{m, v(0), v(1), v(2)}, err: "out of range"},
		{name: "starts and ends of different lengths are an error", node: slice3, in: []*ir.Tensor{x, v(0, 1), v(1)}, err: "different lengths"},
		{name: "more starts than axes is an error", node: slice3, in: []*ir.Tensor{x, v(0, 0), v(1, 1)}, err: "rank 1"},
	})
}

func TestPadModes(t *testing.T) {
	x := shT(t, []int{3}, []float32{1, 2, 3})
	f := func(v ...float32) *ir.Tensor { return shT(t, []int{len(v)}, v) }
	mode := func(m string) *ir.Node { return shNode("Pad", 2, 1, nil, ir.StringAttr("mode", m)) }
	shRunCases(t, []shCase{
		{name: "constant zeros by default", node: shNode("Pad", 2, 1, nil), in: []*ir.Tensor{x, shInts(t, 1, 2)}, want: []*ir.Tensor{f(0, 1, 2, 3, 0, 0)}},
		{name: "constant value", node: shNode("Pad", 3, 1, nil), in: []*ir.Tensor{x, shInts(t, 2, 1), shT(t, nil, []float32{9})}, want: []*ir.Tensor{f(9, 9, 1, 2, 3, 9)}},
		{name: "reflect", node: mode("reflect"), in: []*ir.Tensor{x, shInts(t, 2, 2)}, want: []*ir.Tensor{f(3, 2, 1, 2, 3, 2, 1)}},
		{name: "reflect further than the axis repeats the reflection", node: mode("reflect"), in: []*ir.Tensor{x, shInts(t, 5, 0)}, want: []*ir.Tensor{f(2, 1, 2, 3, 2, 1, 2, 3)}},
		{name: "reflect a single element repeats it", node: mode("reflect"), in: []*ir.Tensor{f(4), shInts(t, 1, 2)}, want: []*ir.Tensor{f(4, 4, 4, 4)}},
		{name: "edge", node: mode("edge"), in: []*ir.Tensor{x, shInts(t, 2, 2)}, want: []*ir.Tensor{f(1, 1, 1, 2, 3, 3, 3)}},
		{name: "wrap", node: mode("wrap"), in: []*ir.Tensor{x, shInts(t, 2, 2)}, want: []*ir.Tensor{f(2, 3, 1, 2, 3, 1, 2)}},
		{name: "negative pads crop", node: shNode("Pad", 2, 1, nil), in: []*ir.Tensor{f(1, 2, 3, 4), shInts(t, -1, 1)}, want: []*ir.Tensor{f(2, 3, 4, 0)}},
		{name: "edge after a crop uses the kept edge", node: mode("edge"), in: []*ir.Tensor{f(1, 2, 3, 4), shInts(t, 1, -2)}, want: []*ir.Tensor{f(1, 1, 2)}},
		{name: "a 2-D pad on both axes", node: shNode("Pad", 3, 1, nil), in: []*ir.Tensor{shT(t, []int{1, 2}, []int32{1, 2}), shInts(t, 1, 0, 0, 1), shT(t, nil, []int32{7})},
			want: []*ir.Tensor{shT(t, []int{2, 3}, []int32{7, 7, 7, 1, 2, 7})}},
		{name: "the axes input selects the padded axes", node: shNode("Pad", 4, 1, []int{2}), in: []*ir.Tensor{shT(t, []int{2, 2}, []float32{1, 2, 3, 4}), shInts(t, 1, 0), nil, shInts(t, -1)},
			want: []*ir.Tensor{shT(t, []int{2, 3}, []float32{0, 1, 2, 0, 3, 4})}},
		{name: "strings with a constant", node: shNode("Pad", 3, 1, nil), in: []*ir.Tensor{shT(t, []int{1}, []string{"a"}), shInts(t, 1, 1), shT(t, nil, []string{"-"})},
			want: []*ir.Tensor{shT(t, []int{3}, []string{"-", "a", "-"})}},
		{name: "the wrong number of pads is an error", node: shNode("Pad", 2, 1, nil), in: []*ir.Tensor{x, shInts(t, 1)}, err: "want 2"},
		{name: "cropping more than the axis is an error", node: shNode("Pad", 2, 1, nil), in: []*ir.Tensor{x, shInts(t, -2, -2)}, err: "crop more"},
		{name: "reflecting an empty axis is an error", node: mode("reflect"), in: []*ir.Tensor{f(), shInts(t, 1, 1)}, err: "no elements"},
		{name: "an unknown mode is an error", node: mode("mirror"), in: []*ir.Tensor{x, shInts(t, 1, 1)}, err: "unknown mode"},
		{name: "a constant of another type is an error", node: shNode("Pad", 3, 1, nil), in: []*ir.Tensor{x, shInts(t, 1, 1), shT(t, nil, []int64{1})}, err: "constant_value is int64"},
		{name: "hostile pads are an error", node: shNode("Pad", 2, 1, nil), in: []*ir.Tensor{x, shInts(t, 1<<50, 0)}, err: "too large"},
	})
}

func TestDepthToSpaceAndSpaceToDepth(t *testing.T) {
	x := shIota(t, 1, 8, 1, 1)
	blocks := func(op string, b int64, mode string) *ir.Node {
		n := shNode(op, 1, 1, nil, ir.IntAttr("blocksize", b))
		if mode != "" {
			n.SetAttr(ir.StringAttr("mode", mode))
		}
		return n
	}
	// DCR: out[c, i, j] = in[(i*2+j)*2 + c]; CRD: out[c, i, j] = in[c*4 + i*2 + j].
	dcr := shT(t, []int{1, 2, 2, 2}, []float32{0, 2, 4, 6, 1, 3, 5, 7})
	crd := shT(t, []int{1, 2, 2, 2}, []float32{0, 1, 2, 3, 4, 5, 6, 7})
	// A 1x1x2x4 image with blocksize 2: out channel (i*2+j) at (0, x) reads in(2*0+i, 2*x+j).
	img := shIota(t, 1, 1, 2, 4)
	shRunCases(t, []shCase{
		{name: "DCR is the default", node: blocks("DepthToSpace", 2, ""), in: []*ir.Tensor{x}, want: []*ir.Tensor{dcr}},
		{name: "CRD", node: blocks("DepthToSpace", 2, "CRD"), in: []*ir.Tensor{x}, want: []*ir.Tensor{crd}},
		{name: "SpaceToDepth inverts DCR", node: blocks("SpaceToDepth", 2, ""), in: []*ir.Tensor{dcr}, want: []*ir.Tensor{x}},
		{name: "SpaceToDepth of a wide image", node: blocks("SpaceToDepth", 2, ""), in: []*ir.Tensor{img},
			want: []*ir.Tensor{shT(t, []int{1, 4, 1, 2}, []float32{0, 2, 1, 3, 4, 6, 5, 7})}},
		{name: "channels not divisible by blocksize^2 are an error", node: blocks("DepthToSpace", 3, ""), in: []*ir.Tensor{x}, err: "not divisible"},
		{name: "spatial sizes not divisible by blocksize are an error", node: blocks("SpaceToDepth", 3, ""), in: []*ir.Tensor{img}, err: "not divisible"},
		{name: "a 3-D input is an error", node: blocks("DepthToSpace", 2, ""), in: []*ir.Tensor{shIota(t, 8, 1, 1)}, err: "4-D"},
		{name: "blocksize 0 is an error", node: blocks("SpaceToDepth", 0, ""), in: []*ir.Tensor{img}, err: "positive"},
		{name: "an unknown mode is an error", node: blocks("DepthToSpace", 2, "RCD"), in: []*ir.Tensor{x}, err: "unknown mode"},
		{name: "a huge blocksize is an error", node: blocks("DepthToSpace", 1<<40, ""), in: []*ir.Tensor{x}, err: "too large"},
	})
}

// shWild draws integers that stress parameter handling: small values around
// zero and the extremes of int64.
func shWild(rng *rand.Rand) int64 {
	switch rng.IntN(8) {
	case 0:
		return []int64{math.MinInt64, math.MaxInt64, -1 << 40, 1 << 40, 1 << 34, -(1 << 34)}[rng.IntN(6)]
	case 1:
		return int64(rng.IntN(64)) - 32
	}
	return int64(rng.IntN(7)) - 3
}

func shWilds(rng *rand.Rand, n int) *ir.Tensor {
	v := make([]int64, n)
	for i := range v {
		v[i] = shWild(rng)
	}
	return &ir.Tensor{DType: ir.Int64, Shape: []int{n}, Data: v}
}

// TestShapeOpsNeverPanicOnWildParameters feeds random, often hostile,
// parameters to every op in this file: each must either succeed with a
// consistent output or return an error, never panic or allocate wildly.
func TestShapeOpsNeverPanicOnWildParameters(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	ran := 0
	defer func() { t.Logf("%d of 3000 configurations were valid and ran", ran) }()
	for iter := 0; iter < 3000; iter++ {
		rank := rng.IntN(4)
		shape := make([]int, rank)
		for i := range shape {
			shape[i] = rng.IntN(4)
		}
		x := shIota(t, shape...)
		k := rng.IntN(5)
		var n *ir.Node
		var in []*ir.Tensor
		switch rng.IntN(17) {
		case 0:
			n, in = shNode("Reshape", 2, 1, nil, ir.IntAttr("allowzero", int64(rng.IntN(2)))), []*ir.Tensor{x, shWilds(rng, k)}
		case 1:
			n, in = shNode("Squeeze", 2, 1, nil), []*ir.Tensor{x, shWilds(rng, k)}
		case 2:
			n, in = shNode("Unsqueeze", 2, 1, nil), []*ir.Tensor{x, shWilds(rng, k)}
		case 3:
			n, in = shNode("Expand", 2, 1, nil), []*ir.Tensor{x, shWilds(rng, k)}
		case 4:
			n, in = shNode("Tile", 2, 1, nil), []*ir.Tensor{x, shWilds(rng, rank)}
		case 5:
			n, in = shNode("Slice", 5, 1, nil), []*ir.Tensor{x, shWilds(rng, k), shWilds(rng, k), shWilds(rng, k), shWilds(rng, k)}
		case 6:
			m := []string{"constant", "reflect", "edge", "wrap"}[rng.IntN(4)]
			n, in = shNode("Pad", 4, 1, []int{2}, ir.StringAttr("mode", m)), []*ir.Tensor{x, shWilds(rng, 2*k), nil, shWilds(rng, k)}
		case 7:
			n, in = shNode("Pad", 2, 1, nil, ir.StringAttr("mode", []string{"constant", "reflect", "edge", "wrap"}[rng.IntN(4)])), []*ir.Tensor{x, shWilds(rng, 2*rank)}
		case 8:
			n, in = shNode("Gather", 2, 1, nil, ir.IntAttr("axis", shWild(rng))), []*ir.Tensor{x, shWilds(rng, k)}
		case 9:
			n, in = shNode("Split", 2, k+1, nil, ir.IntAttr("axis", shWild(rng))), []*ir.Tensor{x, shWilds(rng, k+1)}
		case 10:
			n, in = shNode("Split", 1, k+1, nil, ir.IntAttr("axis", shWild(rng)), ir.IntAttr("num_outputs", shWild(rng))), []*ir.Tensor{x}
		case 11:
			n, in = shNode("Concat", 2, 1, nil, ir.IntAttr("axis", shWild(rng))), []*ir.Tensor{x, x}
		case 12:
			n, in = shNode("Transpose", 1, 1, nil, ir.IntsAttr("perm", shWilds(rng, rank).I64())), []*ir.Tensor{x}
		case 13:
			n, in = shNode("Flatten", 1, 1, nil, ir.IntAttr("axis", shWild(rng))), []*ir.Tensor{x}
		case 14:
			op := []string{"DepthToSpace", "SpaceToDepth"}[rng.IntN(2)]
			n, in = shNode(op, 1, 1, nil, ir.IntAttr("blocksize", shWild(rng))), []*ir.Tensor{x}
		case 15:
			n, in = shNode("ConstantOfShape", 1, 1, nil), []*ir.Tensor{shWilds(rng, k)}
		case 16:
			n, in = shNode("Shape", 1, 1, nil, ir.IntAttr("start", shWild(rng)), ir.IntAttr("end", shWild(rng))), []*ir.Tensor{x}
		}
		// Shapes up to the element limit are legal; only run modest ones.
		if o, err := ops[n.Op].infer(n, argsOf(in)); err == nil && len(o) > 0 && prod(o[0].Shape) > 1<<16 {
			continue
		}
		outs, err := execNode(n, in)
		if err != nil {
			continue
		}
		ran++
		for _, o := range outs {
			if o.Len() != prod(o.Shape) {
				t.Fatalf("%s on %v with %v: output %v holds %d elements", n.Op, shape, in[1:], o.Shape, o.Len())
			}
		}
	}
}
