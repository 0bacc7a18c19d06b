package runtime

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/runinfer/runinfer/ir"
)

// Cast (opset 21) between the numeric types, bool and string.
//
// Targets float16 and bfloat16 produce float32 tensors holding values
// rounded (to nearest even, once, from the exact source value) to that
// precision: the session keeps 16-bit floats as float32 internally.
// Floating-point to integer conversion truncates toward zero (out-of-range
// values as floatToInt describes); integer narrowing wraps; anything nonzero
// (NaN included) is true. Strings parse as decimal or scientific numbers or
// the case-insensitive literals NaN, INF, +INF, -INF (and "true"/"false" for
// bool targets); numbers format as the shortest decimal that reads back as
// the same value, with NaN, INF and -INF for the special values.

func init() {
	register("Cast", 1, 1, inferCast, runCast)
}

// castTarget reads and checks the `to` attribute.
func castTarget(n *ir.Node) (ir.DType, error) {
	if !n.HasAttr("to") {
		return 0, fmt.Errorf("attribute to is missing")
	}
	to := ir.DType(n.AttrInt("to", 0))
	switch {
	case to == ir.String, to == ir.Bool, to == ir.Float16, to == ir.BFloat16:
	case checkDType("to", to, numericDTypes) != nil:
		return 0, fmt.Errorf("cast target %v (to=%d) is not supported", to, int32(to))
	}
	return to, nil
}

func inferCast(n *ir.Node, in []*Arg) ([]Out, error) {
	to, err := castTarget(n)
	if err != nil {
		return nil, err
	}
	src := in[0].DType
	if src != ir.String && src != ir.Bool && src != ir.Float16 && src != ir.BFloat16 {
		if err := checkDType("input", src, numericDTypes); err != nil {
			return nil, err
		}
	}
	return []Out{{DType: lowType(to), Shape: append([]int(nil), in[0].Shape...)}}, nil
}

func runCast(n *ir.Node, in []*ir.Tensor, out []*ir.Tensor) error {
	to, err := castTarget(n)
	if err != nil {
		return err
	}
	src, dst := in[0], out[0]
	if isHalf(src.DType) {
		if src, err = widen(src); err != nil {
			return err
		}
	}
	switch {
	case src.DType == ir.String:
		return castFromStrings(src.Data.([]string), dst, to)
	case to == ir.String:
		return castToStrings(src, dst.Data.([]string))
	case isHalf(to):
		return castToHalf(src, dst.Data.([]float32), to)
	case to == ir.Bool:
		return castToBool(src, dst.Data.([]bool))
	case src.DType == ir.Bool:
		bs := src.Data.([]bool)
		u := make([]uint8, len(bs))
		for i, b := range bs {
			if b {
				u[i] = 1
			}
		}
		return castNumeric(u, dst)
	}
	switch s := src.Data.(type) {
	case []float32:
		return castNumeric(s, dst)
	case []float64:
		return castNumeric(s, dst)
	case []int8:
		return castNumeric(s, dst)
	case []uint8:
		return castNumeric(s, dst)
	case []int16:
		return castNumeric(s, dst)
	case []uint16:
		return castNumeric(s, dst)
	case []int32:
		return castNumeric(s, dst)
	case []uint32:
		return castNumeric(s, dst)
	case []int64:
		return castNumeric(s, dst)
	case []uint64:
		return castNumeric(s, dst)
	}
	return fmt.Errorf("cannot cast %v to %v", src.DType, to)
}

// castNumeric converts s into dst, whose data is a numeric slice.
func castNumeric[S anyNumber](s []S, dst *ir.Tensor) error {
	switch d := dst.Data.(type) {
	case []float32:
		convertSlice(s, d)
	case []float64:
		convertSlice(s, d)
	case []int8:
		convertSlice(s, d)
	case []uint8:
		convertSlice(s, d)
	case []int16:
		convertSlice(s, d)
	case []uint16:
		convertSlice(s, d)
	case []int32:
		convertSlice(s, d)
	case []uint32:
		convertSlice(s, d)
	case []int64:
		convertSlice(s, d)
	case []uint64:
		convertSlice(s, d)
	default:
		return fmt.Errorf("cannot cast to %v", dst.DType)
	}
	return nil
}

// convertSlice converts element by element: floats to integers truncate
// toward zero, everything else follows Go's conversions (integers wrap,
// floats round to nearest even).
func convertSlice[S, D anyNumber](s []S, d []D) {
	if isFloatT[S]() && !isFloatT[D]() {
		for i, v := range s {
			d[i] = floatToInt[D](float64(v))
		}
		return
	}
	for i, v := range s {
		d[i] = D(v)
	}
}

func castToBool(src *ir.Tensor, d []bool) error {
	switch s := src.Data.(type) {
	case []bool:
		copy(d, s)
		return nil
	}
	for i := range d {
		d[i] = src.Float64At(i) != 0
	}
	return nil
}

// castToHalf rounds every source value to float16 or bfloat16 precision.
func castToHalf(src *ir.Tensor, d []float32, to ir.DType) error {
	switch s := src.Data.(type) {
	case []int64:
		for i, v := range s {
			d[i] = roundToHalf(float64(v), to)
		}
	case []uint64:
		for i, v := range s {
			d[i] = roundToHalf(float64(v), to)
		}
	default:
		for i := range d {
			d[i] = roundToHalf(src.Float64At(i), to)
		}
	}
	return nil
}

// roundToHalf rounds f to the nearest float16 (or bfloat16, per to) value,
// ties to even, overflowing to infinity, and returns it as float32. It
// rounds once from f itself: going through float32 first could round twice.
func roundToHalf(f float64, to ir.DType) float32 {
	toBits, fromBits := ir.Float32ToFloat16, ir.Float16ToFloat32
	infBits := uint16(0x7c00)
	if to == ir.BFloat16 {
		toBits, fromBits = ir.Float32ToBFloat16, ir.BFloat16ToFloat32
		infBits = 0x7f80
	}
	if f != f || math.IsInf(f, 0) {
		return float32(f)
	}
	a := math.Abs(f)
	maxFin := float64(fromBits(infBits - 1))
	if a >= maxFin {
		// Beyond the largest finite value: infinity from half an ulp above it.
		ulp := maxFin - float64(fromBits(infBits-2))
		if a >= maxFin+ulp/2 {
			return float32(math.Copysign(math.Inf(1), f))
		}
		return float32(math.Copysign(maxFin, f))
	}
	h := toBits(float32(a)) // magnitude bits; a < maxFin so h is finite
	v := float64(fromBits(h))
	if v == a {
		return float32(math.Copysign(v, f))
	}
	// float32(a) may have rounded a onto a tie or across one: compare with
	// the neighbour on a's side of v.
	nb := h + 1
	if v > a {
		nb = h - 1
	}
	w := float64(fromBits(nb))
	dv, dw := math.Abs(v-a), math.Abs(w-a)
	if dw < dv || (dw == dv && nb&1 == 0) {
		v = w
	}
	return float32(math.Copysign(v, f))
}

// castToStrings formats each numeric or bool element.
func castToStrings(src *ir.Tensor, d []string) error {
	switch s := src.Data.(type) {
	case []string:
		copy(d, s)
	case []bool:
		for i, b := range s {
			d[i] = "False"
			if b {
				d[i] = "True"
			}
		}
	case []float32:
		for i, v := range s {
			d[i] = formatFloat(float64(v), 32)
		}
	case []float64:
		for i, v := range s {
			d[i] = formatFloat(v, 64)
		}
	case []uint64:
		for i, v := range s {
			d[i] = strconv.FormatUint(v, 10)
		}
	case []int64:
		for i, v := range s {
			d[i] = strconv.FormatInt(v, 10)
		}
	default:
		if !src.DType.IsInt() {
			return fmt.Errorf("cannot cast %v to string", src.DType)
		}
		for i := range d {
			d[i] = strconv.FormatInt(int64(src.Float64At(i)), 10)
		}
	}
	return nil
}

// formatFloat writes the shortest decimal that parses back to v at the
// given bit size, with NaN, INF and -INF for the special values.
func formatFloat(v float64, bits int) string {
	switch {
	case v != v:
		return "NaN"
	case math.IsInf(v, 1):
		return "INF"
	case math.IsInf(v, -1):
		return "-INF"
	}
	return strconv.FormatFloat(v, 'g', -1, bits)
}

// parseNumber reads a decimal or scientific number, or NaN/INF/+INF/-INF
// (any case; also "inf"/"infinity" forms).
func parseNumber(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f, nil // ±Inf or ±0, as C's strtod gives
		}
		return 0, fmt.Errorf("cannot parse %q as a number", s)
	}
	return f, nil
}

// castFromStrings parses every element into dst's type.
func castFromStrings(s []string, dst *ir.Tensor, to ir.DType) error {
	if to == ir.String {
		copy(dst.Data.([]string), s)
		return nil
	}
	if to == ir.Bool {
		d := dst.Data.([]bool)
		for i, v := range s {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true":
				d[i] = true
			case "false":
				d[i] = false
			default:
				f, err := parseNumber(v)
				if err != nil {
					return fmt.Errorf("element %d: %w", i, err)
				}
				d[i] = f != 0
			}
		}
		return nil
	}
	if to == ir.Uint64 {
		d := dst.Data.([]uint64)
		for i, v := range s {
			t := strings.TrimSpace(v)
			if u, err := strconv.ParseUint(t, 10, 64); err == nil {
				d[i] = u
			} else if n, err := strconv.ParseInt(t, 10, 64); err == nil {
				d[i] = uint64(n)
			} else if f, err := parseNumber(v); err == nil {
				d[i] = floatToInt[uint64](f)
			} else {
				return fmt.Errorf("element %d: %w", i, err)
			}
		}
		return nil
	}
	if to.IsInt() {
		// Parse integers exactly where possible, so 64-bit values survive.
		ints := make([]int64, len(s))
		for i, v := range s {
			if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
				ints[i] = n
				continue
			}
			f, err := parseNumber(v)
			if err != nil {
				return fmt.Errorf("element %d: %w", i, err)
			}
			ints[i] = floatToInt[int64](f)
		}
		return castNumeric(ints, dst)
	}
	fs := make([]float64, len(s))
	for i, v := range s {
		f, err := parseNumber(v)
		if err != nil {
			return fmt.Errorf("element %d: %w", i, err)
		}
		fs[i] = f
	}
	if isHalf(to) {
		d := dst.Data.([]float32)
		for i, f := range fs {
			d[i] = roundToHalf(f, to)
		}
		return nil
	}
	return castNumeric(fs, dst)
}
