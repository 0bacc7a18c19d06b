package runtime

import (
	"errors"
	"math"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func TestSizeCountsElements(t *testing.T) {
	for _, c := range []struct {
		shape []int
		data  any
		want  int64
	}{
		{[]int{2, 3}, make([]float32, 6), 6},
		{nil, []string{"x"}, 1},
		{[]int{0, 5}, []bool{}, 0},
	} {
		got := lgRun(t, lgNode("Size", 1, 1), lgT(t, c.shape, c.data))[0]
		lgWant(t, got, []int{}, []int64{c.want})
	}
}

func TestRangeProducesCeilOfSpanOverDelta(t *testing.T) {
	s := func(v any) *ir.Tensor { return lgT(t, nil, v) }
	cases := []struct {
		name              string
		start, lim, delta any
		shape             []int
		want              any
	}{
		{"int32 negative delta", []int32{10}, []int32{4}, []int32{-3}, []int{2}, []int32{10, 7}},
		{"int16 exact multiple", []int16{0}, []int16{6}, []int16{2}, []int{3}, []int16{0, 2, 4}},
		{"empty when the bounds are reversed", []int64{5}, []int64{1}, []int64{1}, []int{0}, []int64{}},
		{"int64 span wider than int64", []int64{math.MinInt64}, []int64{math.MaxInt64}, []int64{math.MaxInt64}, []int{3},
			[]int64{math.MinInt64, -1, math.MaxInt64 - 1}},
		{"float32", []float32{1}, []float32{5}, []float32{2}, []int{2}, []float32{1, 3}},
		{"float64 fractional delta", []float64{0}, []float64{1}, []float64{0.25}, []int{4}, []float64{0, 0.25, 0.5, 0.75}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := lgRun(t, lgNode("Range", 3, 1), s(c.start), s(c.lim), s(c.delta))[0]
			lgWant(t, got, c.shape, c.want)
		})
	}
	got := lgRun(t, lgNode("Range", 3, 1), s([]float32{0}), s([]float32{1}), s([]float32{0.3}))[0]
	lgWantF(t, got, ir.Float32, []int{4}, []float64{0, 0.3, 0.6, 0.9}, 1e-6)
}

func TestRangeRejectsHostileAndMalformedBounds(t *testing.T) {
	s := func(v any) *ir.Tensor { return lgT(t, nil, v) }
	cases := []struct {
		name string
		in   []*ir.Tensor
		want string
	}{
		{"zero delta", []*ir.Tensor{s([]int32{0}), s([]int32{5}), s([]int32{0})}, "delta is 0"},
		{"float zero delta", []*ir.Tensor{s([]float32{0}), s([]float32{5}), s([]float32{0})}, "delta is 0"},
		{"NaN limit", []*ir.Tensor{s([]float64{0}), s([]float64{math.NaN()}), s([]float64{1})}, "non-finite"},
		{"mixed types", []*ir.Tensor{s([]int32{0}), s([]int64{5}), s([]int32{1})}, "element type"},
		{"non-scalar start", []*ir.Tensor{lgT(t, []int{2}, []int64{0, 1}), s([]int64{5}), s([]int64{1})}, "scalar"},
		{"uint8 bounds", []*ir.Tensor{s([]uint8{0}), s([]uint8{5}), s([]uint8{1})}, "element type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { lgFails(t, c.want, lgNode("Range", 3, 1), c.in...) })
	}
	for _, c := range []struct {
		name string
		in   []*ir.Tensor
	}{
		{"int64 with 10^18 elements", []*ir.Tensor{s([]int64{0}), s([]int64{1e18}), s([]int64{1})}},
		{"int64 full span by 1", []*ir.Tensor{s([]int64{math.MinInt64}), s([]int64{math.MaxInt64}), s([]int64{1})}},
		{"float with 10^60 elements", []*ir.Tensor{s([]float64{0}), s([]float64{1e30}), s([]float64{1e-30})}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := execNode(lgNode("Range", 3, 1), c.in)
			if !errors.Is(err, ir.ErrTooLarge) {
				t.Fatalf("error %v, want ir.ErrTooLarge", err)
			}
		})
	}
}

func TestCastLikeTakesTheTypeOfItsSecondInput(t *testing.T) {
	x := lgT(t, []int{2}, []float32{1.7, -2.2})
	lgWant(t, lgRun(t, lgNode("CastLike", 2, 1), x, lgI64(t, []int{1}, 0))[0], []int{2}, []int64{1, -2})
	lgWant(t, lgRun(t, lgNode("CastLike", 2, 1), x, lgT(t, nil, []bool{false}))[0], []int{2}, []bool{true, true})
	got := lgRun(t, lgNode("CastLike", 2, 1), lgT(t, []int{2}, []string{"0.5", "-3"}), lgT(t, []int{0}, []float64{}))[0]
	lgWant(t, got, []int{2}, []float64{0.5, -3})
}

func TestEyeLikePutsOnesOnTheKthDiagonal(t *testing.T) {
	t.Run("float32 3x4 with k=1", func(t *testing.T) {
		got := lgRun(t, lgNode("EyeLike", 1, 1, ir.IntAttr("k", 1)), lgT(t, []int{3, 4}, make([]float32, 12)))[0]
		lgWant(t, got, []int{3, 4}, []float32{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1})
	})
	t.Run("dtype int32 from a float input with k=-2", func(t *testing.T) {
		n := lgNode("EyeLike", 1, 1, ir.IntAttr("k", -2), ir.IntAttr("dtype", int64(ir.Int32)))
		got := lgRun(t, n, lgT(t, []int{3, 3}, make([]float64, 9)))[0]
		lgWant(t, got, []int{3, 3}, []int32{0, 0, 0, 0, 0, 0, 1, 0, 0})
	})
	t.Run("bool 2x2 default k", func(t *testing.T) {
		got := lgRun(t, lgNode("EyeLike", 1, 1), lgT(t, []int{2, 2}, make([]bool, 4)))[0]
		lgWant(t, got, []int{2, 2}, []bool{true, false, false, true})
	})
	t.Run("k beyond the matrix gives zeros", func(t *testing.T) {
		got := lgRun(t, lgNode("EyeLike", 1, 1, ir.IntAttr("k", math.MinInt64)), lgI64(t, []int{2, 2}, 5, 5, 5, 5))[0]
		lgWant(t, got, []int{2, 2}, []int64{0, 0, 0, 0})
	})
	lgFails(t, "2-D", lgNode("EyeLike", 1, 1), lgT(t, []int{2}, []float32{0, 0}))
	lgFails(t, "output", lgNode("EyeLike", 1, 1, ir.IntAttr("dtype", int64(ir.String))), lgT(t, []int{1, 1}, []float32{0}))
}

func TestCumSumRunsForwardBackwardInclusiveAndExclusive(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	axis0 := lgT(t, nil, []int32{0})
	for _, c := range []struct {
		name  string
		attrs []*ir.Attr
		want  []float64
	}{
		{"inclusive", nil, []float64{1, 3, 6, 10}},
		{"exclusive", []*ir.Attr{ir.IntAttr("exclusive", 1)}, []float64{0, 1, 3, 6}},
		{"reverse", []*ir.Attr{ir.IntAttr("reverse", 1)}, []float64{10, 9, 7, 4}},
		{"reverse exclusive", []*ir.Attr{ir.IntAttr("reverse", 1), ir.IntAttr("exclusive", 1)}, []float64{9, 7, 4, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := lgRun(t, lgNode("CumSum", 2, 1, c.attrs...), lgT(t, []int{4}, append([]float64(nil), x...)), axis0)[0]
			lgWantF(t, got, ir.Float64, []int{4}, c.want, 0)
		})
	}
	// m (2x3): [[1,2,3],[4,5,6]]
	m := lgT(t, []int{2, 3}, []int32{1, 2, 3, 4, 5, 6})
	lgWant(t, lgRun(t, lgNode("CumSum", 2, 1), m, lgI64(t, nil, 0))[0], []int{2, 3}, []int32{1, 2, 3, 5, 7, 9})
	lgWant(t, lgRun(t, lgNode("CumSum", 2, 1), m, lgI64(t, []int{1}, -1))[0], []int{2, 3}, []int32{1, 3, 6, 4, 9, 15})

	lgFails(t, "out of range", lgNode("CumSum", 2, 1), m, lgI64(t, nil, 2))
	lgFails(t, "axis has element type", lgNode("CumSum", 2, 1), m, lgT(t, nil, []float32{0}))
	lgFails(t, "scalar", lgNode("CumSum", 2, 1), m, lgI64(t, []int{2}, 0, 1))
	lgFails(t, "element type", lgNode("CumSum", 2, 1), lgT(t, []int{1}, []int8{1}), axis0)
}

func TestOneHotPlacesOnValuesAlongAxis(t *testing.T) {
	idx := lgI64(t, []int{4}, 0, 2, -1, 5) // 5 is out of range: all off
	depth := lgT(t, nil, []float32{3})
	vals := lgT(t, []int{2}, []float32{0, 1})
	got := lgRun(t, lgNode("OneHot", 3, 1), idx, depth, vals)[0]
	lgWant(t, got, []int{4, 3}, []float32{1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0})
	got = lgRun(t, lgNode("OneHot", 3, 1, ir.IntAttr("axis", 0)), idx, depth, vals)[0]
	lgWant(t, got, []int{3, 4}, []float32{1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0})

	// 2-D float indices (truncated), string values, axis 1 of 3.
	fi := lgT(t, []int{2, 1}, []float64{1.7, -0.5})
	got = lgRun(t, lgNode("OneHot", 3, 1, ir.IntAttr("axis", 1)), fi, lgI64(t, []int{1}, 2), lgT(t, []int{2}, []string{"off", "on"}))[0]
	lgWant(t, got, []int{2, 2, 1}, []string{"off", "on", "on", "off"})
}

func TestOneHotRejectsBadDepthValuesAndAxis(t *testing.T) {
	idx := lgI64(t, []int{2}, 0, 1)
	vals := lgT(t, []int{2}, []float32{0, 1})
	cases := []struct {
		name string
		n    *ir.Node
		in   []*ir.Tensor
		want string
	}{
		{"zero depth", lgNode("OneHot", 3, 1), []*ir.Tensor{idx, lgI64(t, nil, 0), vals}, "depth is 0"},
		{"NaN depth", lgNode("OneHot", 3, 1), []*ir.Tensor{idx, lgT(t, nil, []float64{math.NaN()}), vals}, "depth is NaN"},
		{"three values", lgNode("OneHot", 3, 1), []*ir.Tensor{idx, lgI64(t, nil, 2), lgT(t, []int{3}, []float32{0, 1, 2})}, "values"},
		{"two depths", lgNode("OneHot", 3, 1), []*ir.Tensor{idx, lgI64(t, []int{2}, 2, 2), vals}, "depth has shape"},
		{"axis out of range", lgNode("OneHot", 3, 1, ir.IntAttr("axis", 2)), []*ir.Tensor{idx, lgI64(t, nil, 2), vals}, "out of range"},
		{"string indices", lgNode("OneHot", 3, 1), []*ir.Tensor{lgT(t, []int{1}, []string{"0"}), lgI64(t, nil, 2), vals}, "indices"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { lgFails(t, c.want, c.n, c.in...) })
	}
	t.Run("hostile depth fails before allocating", func(t *testing.T) {
		_, err := execNode(lgNode("OneHot", 3, 1), []*ir.Tensor{lgI64(t, []int{1000}, make([]int64, 1000)...), lgI64(t, nil, 1<<40), vals})
		if !errors.Is(err, ir.ErrTooLarge) {
			t.Fatalf("error %v, want ir.ErrTooLarge", err)
		}
	})
}

func TestTriluKeepsTheUpperOrLowerTriangle(t *testing.T) {
	// m (3x4): [[1,2,3,4],[5,6,7,8],[9,10,11,12]]
	m := lgI64(t, []int{3, 4}, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	up := ir.IntAttr("upper", 1)
	low := ir.IntAttr("upper", 0)
	cases := []struct {
		name  string
		upper *ir.Attr
		k     *ir.Tensor
		want  []int64
	}{
		{"upper", nil, nil, []int64{1, 2, 3, 4, 0, 6, 7, 8, 0, 0, 11, 12}},
		{"lower", low, nil, []int64{1, 0, 0, 0, 5, 6, 0, 0, 9, 10, 11, 0}},
		{"upper k=-1", up, lgI64(t, nil, -1), []int64{1, 2, 3, 4, 5, 6, 7, 8, 0, 10, 11, 12}},
		{"lower k=1", low, lgI64(t, []int{1}, 1), []int64{1, 2, 0, 0, 5, 6, 7, 0, 9, 10, 11, 12}},
		{"upper k beyond the columns", up, lgI64(t, nil, 4), make([]int64, 12)},
		{"lower k=MinInt64", low, lgI64(t, nil, math.MinInt64), make([]int64, 12)},
		{"lower k=MaxInt64", low, lgI64(t, nil, math.MaxInt64), []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{"upper k=MaxInt64", up, lgI64(t, nil, math.MaxInt64), make([]int64, 12)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var attrs []*ir.Attr
			if c.upper != nil {
				attrs = append(attrs, c.upper)
			}
			in := []*ir.Tensor{m}
			if c.k != nil {
				in = append(in, c.k)
			}
			got := lgRun(t, lgNode("Trilu", len(in), 1, attrs...), in...)[0]
			lgWant(t, got, []int{3, 4}, c.want)
		})
	}
	t.Run("a batch of bool matrices", func(t *testing.T) {
		b := lgT(t, []int{2, 2, 2}, []bool{true, true, true, true, false, true, true, false})
		got := lgRun(t, lgNode("Trilu", 1, 1, low), b)[0]
		lgWant(t, got, []int{2, 2, 2}, []bool{true, false, true, true, false, false, true, false})
	})
	lgFails(t, "rank 2", lgNode("Trilu", 1, 1), lgI64(t, []int{3}, 1, 2, 3))
	lgFails(t, "k has element type", lgNode("Trilu", 2, 1), m, lgT(t, nil, []int32{1}))
}
