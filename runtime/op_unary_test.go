package runtime

import (
	"math"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func TestFloatActivationsMatchTheirFormulas(t *testing.T) {
	xs := []float64{-3, -1, -0.25, 0, 0.3, 1, 2.5}
	cases := []struct {
		name  string
		attrs []*ir.Attr
		f     func(x float64) float64
	}{
		{"Sqrt", nil, math.Sqrt},
		{"Reciprocal", nil, func(x float64) float64 { return 1 / x }},
		{"Exp", nil, math.Exp},
		{"Log", nil, math.Log},
		{"Neg", nil, func(x float64) float64 { return -x }},
		{"Abs", nil, math.Abs},
		{"Floor", nil, math.Floor},
		{"Ceil", nil, math.Ceil},
		{"Erf", nil, math.Erf},
		{"Relu", nil, func(x float64) float64 { return math.Max(x, 0) }},
		{"Tanh", nil, func(x float64) float64 { return (math.Exp(2*x) - 1) / (math.Exp(2*x) + 1) }},
		{"Sigmoid", nil, func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }},
		{"Softplus", nil, func(x float64) float64 { return math.Log(1 + math.Exp(x)) }},
		{"Softsign", nil, func(x float64) float64 { return x / (1 + math.Abs(x)) }},
		{"LeakyRelu", nil, func(x float64) float64 { return math.Max(x, 0) + 0.01*math.Min(x, 0) }},
		{"LeakyRelu", []*ir.Attr{ir.FloatAttr("alpha", 0.1)}, func(x float64) float64 { return math.Max(x, 0) + 0.1*math.Min(x, 0) }},
		{"Elu", nil, func(x float64) float64 { return math.Max(x, 0) + math.Min(math.Exp(x)-1, 0) }},
		{"Elu", []*ir.Attr{ir.FloatAttr("alpha", 2)}, func(x float64) float64 { return math.Max(x, 0) + 2*math.Min(math.Exp(x)-1, 0) }},
		{"Selu", nil, func(x float64) float64 {
			if x > 0 {
				return 1.0507009873554805 * x
			}
			return 1.0507009873554805 * 1.6732632423543772 * (math.Exp(x) - 1)
		}},
		{"Selu", []*ir.Attr{ir.FloatAttr("alpha", 2), ir.FloatAttr("gamma", 3)}, func(x float64) float64 {
			if x > 0 {
				return 3 * x
			}
			return 3 * 2 * (math.Exp(x) - 1)
		}},
		{"HardSigmoid", nil, func(x float64) float64 { return math.Max(0, math.Min(1, 0.2*x+0.5)) }},
		{"HardSigmoid", []*ir.Attr{ir.FloatAttr("alpha", 0.5), ir.FloatAttr("beta", 0.6)}, func(x float64) float64 {
			return math.Max(0, math.Min(1, 0.5*x+0.6))
		}},
		{"HardSwish", nil, func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) }},
		{"ThresholdedRelu", nil, func(x float64) float64 {
			if x > 1 {
				return x
			}
			return 0
		}},
		{"ThresholdedRelu", []*ir.Attr{ir.FloatAttr("alpha", 0.2)}, func(x float64) float64 {
			if x > 0.2 {
				return x
			}
			return 0
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := make([]float64, len(xs))
			x32 := make([]float32, len(xs))
			w32 := make([]float64, len(xs))
			for i, x := range xs {
				want[i] = c.f(x)
				x32[i] = float32(x)
				w32[i] = c.f(float64(float32(x)))
			}
			got := ewRun(t, ewNode(c.name, 1, c.attrs...), ewT(t, []int{len(xs)}, append([]float64(nil), xs...)))
			ewCheck(t, got, ir.Float64, []int{len(xs)}, want, 1e-6) // attrs are float32: 1e-6, not 1e-15
			got = ewRun(t, ewNode(c.name, 1, c.attrs...), ewT(t, []int{1, len(xs)}, x32))
			ewCheck(t, got, ir.Float32, []int{1, len(xs)}, w32, 1e-6)
		})
	}
}

func TestActivationsStayFiniteForLargeInputs(t *testing.T) {
	x := ewT(t, []int{2}, []float32{-1000, 1000})
	ewCheck(t, ewRun(t, ewNode("Sigmoid", 1), x), ir.Float32, []int{2}, []float64{0, 1}, 0)
	ewCheck(t, ewRun(t, ewNode("Softplus", 1), x), ir.Float32, []int{2}, []float64{0, 1000}, 0)
	ewCheck(t, ewRun(t, ewNode("Tanh", 1), x), ir.Float32, []int{2}, []float64{-1, 1}, 0)
	ewCheck(t, ewRun(t, ewNode("Elu", 1), x), ir.Float32, []int{2}, []float64{-1, 1000}, 0)
}

func TestIntegerUnaryOps(t *testing.T) {
	cases := []struct {
		op   string
		x    any
		want []float64
	}{
		{"Abs", []int8{-128, -5, 0, 7}, []float64{-128, 5, 0, 7}}, // |-128| wraps in int8, as numpy
		{"Abs", []uint16{0, 65535}, []float64{0, 65535}},
		{"Abs", []int64{math.MinInt64 + 1, 3}, []float64{math.MaxInt64, 3}},
		{"Neg", []int32{math.MinInt32, -5, 6}, []float64{math.MinInt32, 5, -6}},
		{"Neg", []int8{1, -1}, []float64{-1, 1}},
		{"Relu", []int64{-9, 0, 9}, []float64{0, 0, 9}},
		{"Relu", []int8{-128, 127}, []float64{0, 127}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			x := ewT(t, []int{len(c.want)}, c.x)
			ewCheck(t, ewRun(t, ewNode(c.op, 1), x), x.DType, x.Shape, c.want, 0)
		})
	}
}

func TestUnaryOpsRejectUnsupportedTypes(t *testing.T) {
	cases := []struct {
		op string
		x  any
	}{
		{"Sqrt", []int32{4}},
		{"Exp", []uint8{1}},
		{"Sigmoid", []bool{true}},
		{"Neg", []uint8{1}},
		{"Relu", []uint32{1}},
		{"Abs", []string{"x"}},
		{"LeakyRelu", []int64{1}},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) { ewFails(t, "element type", ewNode(c.op, 1), ewT(t, []int{1}, c.x)) })
	}
}

func TestPReluBroadcastsSlopeToX(t *testing.T) {
	x := ewT(t, []int{2, 3}, []float32{-1, 2, -3, 4, -5, 6})
	cases := []struct {
		name  string
		slope *ir.Tensor
		want  []float64
	}{
		{"per-column slope", ewT(t, []int{3}, []float32{0.1, 0.2, 0.3}), []float64{-0.1, 2, -0.9, 4, -1, 6}},
		{"per-row slope", ewT(t, []int{2, 1}, []float32{0.5, 2}), []float64{-0.5, 2, -1.5, 4, -10, 6}},
		{"scalar slope", ewT(t, nil, []float32{-1}), []float64{1, 2, 3, 4, 5, 6}},
		{"full slope", ewT(t, []int{2, 3}, []float32{1, 1, 1, 0, 0, 0}), []float64{-1, 2, -3, 4, 0, 6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ewCheck(t, ewRun(t, ewNode("PRelu", 2), x, c.slope), ir.Float32, []int{2, 3}, c.want, 1e-6)
		})
	}
}

func TestPReluOnIntegers(t *testing.T) {
	got := ewRun(t, ewNode("PRelu", 2), ewT(t, []int{3}, []int64{-4, 0, 5}), ewT(t, []int{1}, []int64{3}))
	ewCheck(t, got, ir.Int64, []int{3}, []float64{-12, 0, 5}, 0)
}

func TestPReluRejectsSlopesThatWouldGrowX(t *testing.T) {
	x := ewT(t, []int{3}, []float32{1, 2, 3})
	ewFails(t, "does not broadcast", ewNode("PRelu", 2), x, ewT(t, []int{2, 3}, make([]float32, 6)))
	ewFails(t, "does not broadcast", ewNode("PRelu", 2), x, ewT(t, []int{2}, make([]float32, 2)))
	ewFails(t, "slope has element type float64", ewNode("PRelu", 2), x, ewT(t, []int{1}, []float64{1}))
}

func TestClipWithOptionalBounds(t *testing.T) {
	x := ewT(t, []int{5}, []float32{-3, -1, 0, 2, 4})
	lo, hi := ewT(t, nil, []float32{-1.5}), ewT(t, nil, []float32{2.5})
	cases := []struct {
		name string
		in   []*ir.Tensor
		want []float64
	}{
		{"both bounds", []*ir.Tensor{x, lo, hi}, []float64{-1.5, -1, 0, 2, 2.5}},
		{"min only", []*ir.Tensor{x, lo}, []float64{-1.5, -1, 0, 2, 4}},
		{"max only", []*ir.Tensor{x, nil, hi}, []float64{-3, -1, 0, 2, 2.5}},
		{"no bounds", []*ir.Tensor{x, nil, nil}, []float64{-3, -1, 0, 2, 4}},
		{"min above max gives max", []*ir.Tensor{x, hi, lo}, []float64{-1.5, -1.5, -1.5, -1.5, -1.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ewCheck(t, ewRun(t, ewNode("Clip", len(c.in)), c.in...), ir.Float32, []int{5}, c.want, 0)
		})
	}
}

func TestClipOnIntegersAndNaN(t *testing.T) {
	got := ewRun(t, ewNode("Clip", 3), ewT(t, []int{4}, []int8{-128, -3, 3, 127}), ewT(t, nil, []int8{-2}), ewT(t, nil, []int8{2}))
	ewCheck(t, got, ir.Int8, []int{4}, []float64{-2, -2, 2, 2}, 0)
	got = ewRun(t, ewNode("Clip", 2), ewT(t, []int{2}, []uint64{1 << 63, 3}), nil, ewT(t, nil, []uint64{5}))
	ewCheck(t, got, ir.Uint64, []int{2}, []float64{5, 3}, 0)
	got = ewRun(t, ewNode("Clip", 3), ewT(t, []int{1}, []float64{math.NaN()}), ewT(t, nil, []float64{0}), ewT(t, nil, []float64{1}))
	ewCheck(t, got, ir.Float64, []int{1}, []float64{math.NaN()}, 0)
}

func TestClipRejectsBadBounds(t *testing.T) {
	x := ewT(t, []int{2}, []float32{1, 2})
	ewFails(t, "min must be a scalar", ewNode("Clip", 2), x, ewT(t, []int{2}, []float32{0, 1}))
	ewFails(t, "max has element type float64", ewNode("Clip", 3), x, nil, ewT(t, nil, []float64{1}))
	ewFails(t, "element type bool", ewNode("Clip", 1), ewT(t, []int{1}, []bool{true}))
}
