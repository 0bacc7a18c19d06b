package runtime

import (
	"math"
	"reflect"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func ewCast(to ir.DType) *ir.Node { return ewNode("Cast", 1, ir.IntAttr("to", int64(to))) }

func TestCastBetweenNumericTypes(t *testing.T) {
	cases := []struct {
		name string
		x    any
		to   ir.DType
		want []float64
	}{
		{"float32 to int32 truncates toward zero", []float32{-1.7, -0.5, 0.5, 2.9}, ir.Int32, []float64{-1, 0, 0, 2}},
		{"float64 to int64 keeps large values", []float64{-9e15, 1e18}, ir.Int64, []float64{-9e15, 1e18}},
		{"float32 NaN to int32 is 0", []float32{float32(math.NaN())}, ir.Int32, []float64{0}},
		{"float32 to uint8 wraps like C", []float32{-1, 256, 255.9}, ir.Uint8, []float64{255, 0, 255}},
		{"float64 to float32 rounds", []float64{0.1, 1e300, -1e-50}, ir.Float32, []float64{float64(float32(0.1)), math.Inf(1), 0}},
		{"float32 to float64 is exact", []float32{0.1}, ir.Float64, []float64{float64(float32(0.1))}},
		{"int32 to uint8 wraps", []int32{300, -1, 7}, ir.Uint8, []float64{44, 255, 7}},
		{"int64 to int8 wraps", []int64{128, -129}, ir.Int8, []float64{-128, 127}},
		{"uint64 to float64", []uint64{1 << 63}, ir.Float64, []float64{1 << 63}},
		{"int64 to float32 rounds", []int64{1<<24 + 1}, ir.Float32, []float64{1 << 24}},
		{"uint8 to int16", []uint8{255}, ir.Int16, []float64{255}},
		{"float64 to uint64 above the int64 range", []float64{1 << 63}, ir.Uint64, []float64{1 << 63}},
		{"float32 beyond int64 range to int64 is the int64 minimum", []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 1e30}, ir.Int64,
			[]float64{math.MinInt64, math.MinInt64, math.MinInt64}},
		{"float32 infinity to int32 wraps the int64 minimum", []float32{float32(math.Inf(1))}, ir.Int32, []float64{0}},
		{"int16 to int16 copies", []int16{-3}, ir.Int16, []float64{-3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := ewT(t, []int{len(c.want)}, c.x)
			ewCheck(t, ewRun(t, ewCast(c.to), x), c.to, x.Shape, c.want, 0)
		})
	}
}

func TestCastToAndFromBool(t *testing.T) {
	got := ewRun(t, ewCast(ir.Bool), ewT(t, []int{4}, []float32{0, float32(math.Copysign(0, -1)), 2, float32(math.NaN())}))
	if want := []bool{false, false, true, true}; !reflect.DeepEqual(got.Data, want) {
		t.Fatalf("float32 to bool = %v, want %v", got.Data, want)
	}
	got = ewRun(t, ewCast(ir.Bool), ewT(t, []int{2}, []uint64{0, 1 << 63}))
	if want := []bool{false, true}; !reflect.DeepEqual(got.Data, want) {
		t.Fatalf("uint64 to bool = %v, want %v", got.Data, want)
	}
	b := ewT(t, []int{2}, []bool{true, false})
	ewCheck(t, ewRun(t, ewCast(ir.Float32), b), ir.Float32, []int{2}, []float64{1, 0}, 0)
	ewCheck(t, ewRun(t, ewCast(ir.Int64), b), ir.Int64, []int{2}, []float64{1, 0}, 0)
	got = ewRun(t, ewCast(ir.Bool), b)
	if !reflect.DeepEqual(got.Data, []bool{true, false}) {
		t.Fatalf("bool to bool = %v", got.Data)
	}
}

func TestCastToHalfPrecisionGivesRoundedFloat32(t *testing.T) {
	cases := []struct {
		name string
		x    any
		to   ir.DType
		want []float64
	}{
		// float16 has 10 mantissa bits: 0.1 -> 0.0999755859375 (1638/16384).
		{"float32 to float16 rounds to nearest", []float32{0.1, 1, -2.5}, ir.Float16, []float64{1638.0 / 16384, 1, -2.5}},
		{"float16 overflow", []float32{65519, 65520, -70000}, ir.Float16, []float64{65504, math.Inf(1), math.Inf(-1)}},
		{"float16 underflow and subnormals", []float32{1e-8, 3e-8, 6e-8}, ir.Float16, []float64{0, 0x1p-24, 0x1p-24}},
		{"float16 ties go to even", []float32{1 + 0x1p-11, 1 + 3*0x1p-11}, ir.Float16, []float64{1, 1 + 2*0x1p-10}},
		// 1 + 2^-11 + 2^-40 lies just above a tie; rounding through float32
		// first would land on the tie and round down to 1.
		{"float64 to float16 rounds once", []float64{1 + 0x1p-11 + 0x1p-40, 65519.999}, ir.Float16, []float64{1 + 0x1p-10, 65504}},
		{"float64 to float16 overflows at the halfway point", []float64{65520, -65520}, ir.Float16, []float64{math.Inf(1), math.Inf(-1)}},
		{"int64 to float16", []int64{2049, 100000}, ir.Float16, []float64{2048, math.Inf(1)}},
		// bfloat16 has 7 mantissa bits.
		{"float32 to bfloat16 ties go to even", []float32{1 + 0x1p-8, 1 + 3*0x1p-8, 1 + 0x1p-8 + 0x1p-20}, ir.BFloat16,
			[]float64{1, 1 + 2*0x1p-7, 1 + 0x1p-7}},
		{"float64 to bfloat16 rounds once", []float64{1 + 0x1p-8 + 0x1p-40}, ir.BFloat16, []float64{1 + 0x1p-7}},
		{"NaN stays NaN", []float32{float32(math.NaN())}, ir.Float16, []float64{math.NaN()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := ewT(t, []int{len(c.want)}, c.x)
			ewCheck(t, ewRun(t, ewCast(c.to), x), ir.Float32, x.Shape, c.want, 0)
		})
	}
}

func TestCastFromHalfTypedTensors(t *testing.T) {
	h, err := ir.Wrap(ir.Float16, []int{2}, []uint16{0x3c00, 0xc000}) // 1, -2
	if err != nil {
		t.Fatal(err)
	}
	ewCheck(t, ewRun(t, ewCast(ir.Float64), h), ir.Float64, []int{2}, []float64{1, -2}, 0)
	ewCheck(t, ewRun(t, ewCast(ir.Int32), h), ir.Int32, []int{2}, []float64{1, -2}, 0)
}

func TestCastNumbersToStrings(t *testing.T) {
	cases := []struct {
		name string
		x    any
		want []string
	}{
		{"float32 uses the shortest round-trip form", []float32{0.1, 0.9767611, 1.5, -3}, []string{"0.1", "0.9767611", "1.5", "-3"}},
		{"special float values", []float64{math.NaN(), math.Inf(1), math.Inf(-1)}, []string{"NaN", "INF", "-INF"}},
		{"float64", []float64{0.1}, []string{"0.1"}},
		{"int8", []int8{-128, 5}, []string{"-128", "5"}},
		{"uint64", []uint64{1<<64 - 1}, []string{"18446744073709551615"}},
		{"bool", []bool{true, false}, []string{"True", "False"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ewRun(t, ewCast(ir.String), ewT(t, []int{len(c.want)}, c.x))
			if got.DType != ir.String || !reflect.DeepEqual(got.Data, c.want) {
				t.Fatalf("got %v %q, want %q", got.DType, got.Data, c.want)
			}
		})
	}
}

func TestCastStringsToNumbers(t *testing.T) {
	s := ewT(t, []int{8}, []string{"0.47892547", "NaN", "INF", "+INF", "-inf", "1e-5", " 2.5 ", "-1E2"})
	ewCheck(t, ewRun(t, ewCast(ir.Float32), s), ir.Float32, []int{8},
		[]float64{float64(float32(0.47892547)), math.NaN(), math.Inf(1), math.Inf(1), math.Inf(-1), float64(float32(1e-5)), 2.5, -100}, 0)
	ints := ewT(t, []int{4}, []string{"42", "-7", "100.5", "9223372036854775807"})
	ewCheck(t, ewRun(t, ewCast(ir.Int64), ints), ir.Int64, []int{4}, []float64{42, -7, 100, math.MaxInt64}, 0)
	ewCheck(t, ewRun(t, ewCast(ir.Int8), ints), ir.Int8, []int{4}, []float64{42, -7, 100, -1}, 0)
	u := ewT(t, []int{2}, []string{"18446744073709551615", "3"})
	got := ewRun(t, ewCast(ir.Uint64), u)
	if !reflect.DeepEqual(got.Data, []uint64{1<<64 - 1, 3}) {
		t.Fatalf("string to uint64 = %v", got.Data)
	}
	b := ewRun(t, ewCast(ir.Bool), ewT(t, []int{4}, []string{"true", "FALSE", "0", "2.5"}))
	if !reflect.DeepEqual(b.Data, []bool{true, false, false, true}) {
		t.Fatalf("string to bool = %v", b.Data)
	}
	h := ewRun(t, ewCast(ir.Float16), ewT(t, []int{1}, []string{"0.1"}))
	ewCheck(t, h, ir.Float32, []int{1}, []float64{1638.0 / 16384}, 0)
	str := ewRun(t, ewCast(ir.String), ewT(t, []int{1}, []string{"abc"}))
	if !reflect.DeepEqual(str.Data, []string{"abc"}) {
		t.Fatalf("string to string = %v", str.Data)
	}
}

func TestCastRejectsBadInput(t *testing.T) {
	ewFails(t, `cannot parse "hello" as a number`, ewCast(ir.Float32), ewT(t, []int{2}, []string{"1", "hello"}))
	ewFails(t, "attribute to is missing", ewNode("Cast", 1), ewT(t, []int{1}, []float32{1}))
	ewFails(t, "cast target complex64", ewCast(ir.Complex64), ewT(t, []int{1}, []float32{1}))
	ewFails(t, "cast target dtype(99)", ewCast(99), ewT(t, []int{1}, []float32{1}))
}

func TestCastInferReportsLoweredType(t *testing.T) {
	for to, want := range map[ir.DType]ir.DType{ir.Float16: ir.Float32, ir.BFloat16: ir.Float32, ir.Int8: ir.Int8, ir.String: ir.String} {
		outs, err := ops["Cast"].infer(ewCast(to), []*Arg{{DType: ir.Float64, Shape: []int{2, 3}}})
		if err != nil || outs[0].DType != want || !reflect.DeepEqual(outs[0].Shape, []int{2, 3}) {
			t.Fatalf("Cast to %v: infer = %v, %v; want %v [2 3]", to, outs, err, want)
		}
	}
}
