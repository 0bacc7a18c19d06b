package summary

import (
	"math/big"
	"strconv"
	"strings"
)

// FieldKind says what a receptive field describes.
type FieldKind uint8

const (
	// NoField: the value does not depend on the input's pixels (weights,
	// shapes, constants), or the model has no spatial input.
	NoField FieldKind = iota
	// Local: each element depends on a window of the input, Field.Size
	// pixels wide per spatial axis, and adjacent elements' windows are
	// Field.Jump pixels apart.
	Local
	// All: each element depends on the whole input (after a fully connected
	// layer, a global pooling, or a normalization over the spatial axes).
	All
	// Unknown: the arithmetic cannot follow the value (for example a
	// convolution over a tensor whose spatial rank changed).
	Unknown
)

// Frac is an exact non-negative fraction Num/Den (Den > 0), in lowest terms.
// Jumps are fractions after upsampling (a 2× upsample halves the jump).
type Frac struct{ Num, Den int64 }

// String writes the fraction as an integer when it is one ("32"), else as
// "Num/Den" ("1/2").
func (f Frac) String() string {
	if f.Den == 1 {
		return strconv.FormatInt(f.Num, 10)
	}
	return strconv.FormatInt(f.Num, 10) + "/" + strconv.FormatInt(f.Den, 10)
}

// Ceil returns the smallest integer not below f.
func (f Frac) Ceil() int64 {
	if f.Den <= 0 {
		return 0
	}
	return (f.Num + f.Den - 1) / f.Den
}

// Field is the receptive field of a layer's output on the model's input, per
// spatial axis (H then W for NCHW tensors), with the usual arithmetic: a
// window of k taps with dilation d and stride s turns a field of size r and
// jump j into r + (k−1)·d·j and j·s.
type Field struct {
	Kind FieldKind
	// Size and Jump hold one entry per spatial axis when Kind is Local.
	// Size is in input pixels; it is a whole number except after upsampling
	// (see the package documentation), where the printed size rounds up.
	Size, Jump []Frac
}

// SizeString writes the field's size: one number when every axis agrees
// ("195"), else one per axis joined by "x" ("195x131"); "all" for the whole
// input, "-" for no field and "?" for an unknown one. Fractional sizes are
// rounded up.
func (f Field) SizeString() string {
	return f.format(f.Size, func(x Frac) string { return strconv.FormatInt(x.Ceil(), 10) }, "all")
}

// JumpString writes the distance in input pixels between adjacent outputs,
// as SizeString does; it is "-" for a field covering the whole input.
func (f Field) JumpString() string {
	return f.format(f.Jump, Frac.String, "-")
}

func (f Field) format(v []Frac, one func(Frac) string, all string) string {
	switch f.Kind {
	case NoField:
		return "-"
	case All:
		return all
	case Unknown:
		return "?"
	}
	if len(v) == 0 {
		return "1"
	}
	parts := make([]string, len(v))
	same := true
	for i, x := range v {
		parts[i] = one(x)
		same = same && parts[i] == parts[0]
	}
	if same {
		return parts[0]
	}
	return strings.Join(parts, "x")
}

// field is the working form of Field, in exact rationals.
type field struct {
	kind FieldKind
	r, j []*big.Rat
}

var (
	noField      = field{kind: NoField}
	allField     = field{kind: All}
	unknownField = field{kind: Unknown}
)

// pixel is the field of an input with n spatial axes: one pixel, jump 1.
func pixel(n int) field {
	f := field{kind: Local, r: make([]*big.Rat, n), j: make([]*big.Rat, n)}
	for i := range n {
		f.r[i] = big.NewRat(1, 1)
		f.j[i] = big.NewRat(1, 1)
	}
	return f
}

// window applies a sliding window per spatial axis: k taps, d apart (in the
// layer's input elements), moved by s elements per output. A nil slice means
// 1 on every axis. A field whose axis count differs from len(k) becomes
// unknown.
func (f field) window(k, d, s []*big.Rat) field {
	if f.kind != Local {
		return f
	}
	n := len(f.r)
	for _, v := range [][]*big.Rat{k, d, s} {
		if v != nil && len(v) != n {
			return unknownField
		}
	}
	at := func(v []*big.Rat, i int) *big.Rat {
		if v == nil {
			return big.NewRat(1, 1)
		}
		return v[i]
	}
	out := field{kind: Local, r: make([]*big.Rat, n), j: make([]*big.Rat, n)}
	for i := range n {
		// r + (k−1)·d·j
		grow := new(big.Rat).Sub(at(k, i), big.NewRat(1, 1))
		grow.Mul(grow, at(d, i))
		grow.Mul(grow, f.j[i])
		out.r[i] = new(big.Rat).Add(f.r[i], grow)
		out.j[i] = new(big.Rat).Mul(f.j[i], at(s, i))
	}
	return out
}

// merge combines the fields of several inputs into the output's: an output
// that reads several values sees the union of their windows, so the result
// takes the largest size and jump per axis (exact when the inputs' windows
// are centred alike, as in residual and concatenation blocks; an upper
// bound otherwise). All wins over everything, then Unknown.
func merge(fs ...field) field {
	out := noField
	for _, f := range fs {
		switch {
		case f.kind == NoField:
		case f.kind == All || out.kind == All:
			out = allField
		case f.kind == Unknown || out.kind == Unknown:
			out = unknownField
		case out.kind == NoField:
			out = f
		case len(out.r) != len(f.r):
			out = unknownField
		default:
			m := field{kind: Local, r: make([]*big.Rat, len(f.r)), j: make([]*big.Rat, len(f.r))}
			for i := range f.r {
				m.r[i] = maxRat(out.r[i], f.r[i])
				m.j[i] = maxRat(out.j[i], f.j[i])
			}
			out = m
		}
	}
	return out
}

// whole is the field of an output that mixes every position of its input:
// All, unless the input does not depend on the pixels at all.
func whole(fs ...field) field {
	if merge(fs...).kind == NoField {
		return noField
	}
	return allField
}

func maxRat(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// export converts f to a Field; values too large for int64 fractions (never
// met in real models) make it Unknown.
func (f field) export() Field {
	out := Field{Kind: f.kind}
	if f.kind != Local {
		return out
	}
	conv := func(v []*big.Rat) ([]Frac, bool) {
		res := make([]Frac, len(v))
		for i, x := range v {
			if !x.Num().IsInt64() || !x.Denom().IsInt64() {
				return nil, false
			}
			res[i] = Frac{x.Num().Int64(), x.Denom().Int64()}
		}
		return res, true
	}
	var ok1, ok2 bool
	out.Size, ok1 = conv(f.r)
	out.Jump, ok2 = conv(f.j)
	if !ok1 || !ok2 {
		return Field{Kind: Unknown}
	}
	return out
}

// rats converts integers to rationals.
func rats(v []int64) []*big.Rat {
	out := make([]*big.Rat, len(v))
	for i, x := range v {
		out[i] = big.NewRat(x, 1)
	}
	return out
}

// ones returns n copies of 1 as int64s.
func ones(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = 1
	}
	return out
}
