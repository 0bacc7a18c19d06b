package ir

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// MaxElements bounds the element count of any tensor the IR will create
// (2^32, 16 GiB of float32; less where int is 32 bits). It keeps a hostile shape (a 2^50-element claim)
// from turning into a runaway allocation; sessions apply a lower default
// limit on what they compute (runtime.Options.MaxTensorElements).
const MaxElements = min(1<<32, math.MaxInt)

// ErrTooLarge is wrapped by errors about shapes whose element count overflows
// or exceeds MaxElements.
var ErrTooLarge = errors.New("tensor too large")

// NumElements returns the product of a concrete shape's dimensions, failing on
// negative dimensions, overflow or more than MaxElements elements.
func NumElements(shape []int) (int, error) {
	n := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > MaxElements {
			return 0, fmt.Errorf("shape %v: %w (limit %d elements)", shape, ErrTooLarge, uint64(MaxElements))
		}
		n = lo
	}
	return int(n), nil
}

// Tensor is a dense, row-major tensor with a concrete shape. Data holds a
// slice whose Go type follows DType: []float32, []float64, []int8, []uint8,
// []int16, []uint16 (also float16 and bfloat16 bit patterns), []int32,
// []uint32, []int64, []uint64, []bool or []string.
type Tensor struct {
	DType DType
	Shape []int
	Data  any
}

// NewTensor allocates a zero tensor of the given type and shape.
func NewTensor(dt DType, shape []int) (*Tensor, error) {
	n, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	data, err := makeSlice(dt, n)
	if err != nil {
		return nil, err
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), Data: data}, nil
}

func makeSlice(dt DType, n int) (any, error) {
	switch dt {
	case Float32:
		return make([]float32, n), nil
	case Float64:
		return make([]float64, n), nil
	case Int8:
		return make([]int8, n), nil
	case Uint8:
		return make([]uint8, n), nil
	case Int16:
		return make([]int16, n), nil
	case Uint16, Float16, BFloat16:
		return make([]uint16, n), nil
	case Int32:
		return make([]int32, n), nil
	case Uint32:
		return make([]uint32, n), nil
	case Int64:
		return make([]int64, n), nil
	case Uint64:
		return make([]uint64, n), nil
	case Bool:
		return make([]bool, n), nil
	case String:
		return make([]string, n), nil
	}
	return nil, fmt.Errorf("unsupported tensor element type %v", dt)
}

// FromFloat32 wraps data (not copied) as a float32 tensor of the given shape.
func FromFloat32(shape []int, data []float32) (*Tensor, error) {
	return wrap(Float32, shape, data, len(data))
}

// FromInt64 wraps data (not copied) as an int64 tensor of the given shape.
func FromInt64(shape []int, data []int64) (*Tensor, error) {
	return wrap(Int64, shape, data, len(data))
}

// FromSlice wraps a slice of any supported Go element type (not copied).
// Float16 and bfloat16 data must be wrapped with Wrap and an explicit DType.
func FromSlice(shape []int, data any) (*Tensor, error) {
	var dt DType
	switch data.(type) {
	case []float32:
		dt = Float32
	case []float64:
		dt = Float64
	case []int8:
		dt = Int8
	case []uint8:
		dt = Uint8
	case []int16:
		dt = Int16
	case []uint16:
		dt = Uint16
	case []int32:
		dt = Int32
	case []uint32:
		dt = Uint32
	case []int64:
		dt = Int64
	case []uint64:
		dt = Uint64
	case []bool:
		dt = Bool
	case []string:
		dt = String
	default:
		return nil, fmt.Errorf("unsupported tensor data type %T", data)
	}
	return Wrap(dt, shape, data)
}

// Wrap wraps data (not copied) as a tensor of type dt, checking that the
// slice's Go type matches dt and its length matches the shape.
func Wrap(dt DType, shape []int, data any) (*Tensor, error) {
	probe, err := makeSlice(dt, 0)
	if err != nil {
		return nil, err
	}
	if fmt.Sprintf("%T", probe) != fmt.Sprintf("%T", data) {
		return nil, fmt.Errorf("%v tensor needs %T data, got %T", dt, probe, data)
	}
	return wrap(dt, shape, data, sliceLen(data))
}

func wrap(dt DType, shape []int, data any, n int) (*Tensor, error) {
	want, err := NumElements(shape)
	if err != nil {
		return nil, err
	}
	if want != n {
		return nil, fmt.Errorf("shape %v needs %d elements, data has %d", shape, want, n)
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), Data: data}, nil
}

// Scalar returns a rank-0 tensor holding v.
func Scalar[T float32 | float64 | int64 | int32 | bool](v T) *Tensor {
	t, err := FromSlice(nil, []T{v})
	if err != nil {
		panic(err) // unreachable: the type set is supported and one element fits a scalar
	}
	return t
}

func sliceLen(data any) int {
	switch s := data.(type) {
	case []float32:
		return len(s)
	case []float64:
		return len(s)
	case []int8:
		return len(s)
	case []uint8:
		return len(s)
	case []int16:
		return len(s)
	case []uint16:
		return len(s)
	case []int32:
		return len(s)
	case []uint32:
		return len(s)
	case []int64:
		return len(s)
	case []uint64:
		return len(s)
	case []bool:
		return len(s)
	case []string:
		return len(s)
	}
	return -1
}

// Len returns the number of elements.
func (t *Tensor) Len() int { return sliceLen(t.Data) }

// Rank returns the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// F32 returns the float32 data, or nil if the tensor is not float32.
func (t *Tensor) F32() []float32 { s, _ := t.Data.([]float32); return s }

// F64 returns the float64 data, or nil if the tensor is not float64.
func (t *Tensor) F64() []float64 { s, _ := t.Data.([]float64); return s }

// I64 returns the int64 data, or nil if the tensor is not int64.
func (t *Tensor) I64() []int64 { s, _ := t.Data.([]int64); return s }

// I32 returns the int32 data, or nil if the tensor is not int32.
func (t *Tensor) I32() []int32 { s, _ := t.Data.([]int32); return s }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{DType: t.DType, Shape: append([]int(nil), t.Shape...)}
	switch s := t.Data.(type) {
	case []float32:
		c.Data = append([]float32(nil), s...)
	case []float64:
		c.Data = append([]float64(nil), s...)
	case []int8:
		c.Data = append([]int8(nil), s...)
	case []uint8:
		c.Data = append([]uint8(nil), s...)
	case []int16:
		c.Data = append([]int16(nil), s...)
	case []uint16:
		c.Data = append([]uint16(nil), s...)
	case []int32:
		c.Data = append([]int32(nil), s...)
	case []uint32:
		c.Data = append([]uint32(nil), s...)
	case []int64:
		c.Data = append([]int64(nil), s...)
	case []uint64:
		c.Data = append([]uint64(nil), s...)
	case []bool:
		c.Data = append([]bool(nil), s...)
	case []string:
		c.Data = append([]string(nil), s...)
	}
	return c
}

// Reshaped returns a tensor sharing t's data with another shape of the same
// element count.
func (t *Tensor) Reshaped(shape []int) (*Tensor, error) {
	return wrap(t.DType, shape, t.Data, t.Len())
}

// Float64At returns element i converted to float64 (bools as 0/1, float16 and
// bfloat16 decoded). It panics on string tensors and out-of-range i.
func (t *Tensor) Float64At(i int) float64 {
	switch s := t.Data.(type) {
	case []float32:
		return float64(s[i])
	case []float64:
		return s[i]
	case []int8:
		return float64(s[i])
	case []uint8:
		return float64(s[i])
	case []int16:
		return float64(s[i])
	case []uint16:
		switch t.DType {
		case Float16:
			return float64(Float16ToFloat32(s[i]))
		case BFloat16:
			return float64(BFloat16ToFloat32(s[i]))
		}
		return float64(s[i])
	case []int32:
		return float64(s[i])
	case []uint32:
		return float64(s[i])
	case []int64:
		return float64(s[i])
	case []uint64:
		return float64(s[i])
	case []bool:
		if s[i] {
			return 1
		}
		return 0
	}
	panic(fmt.Sprintf("Float64At on %v tensor", t.DType))
}

// Int64s returns the elements of an integer tensor as int64 (copied). It is
// meant for small shape-like tensors (axes, pads, shapes, indices).
func (t *Tensor) Int64s() ([]int64, error) {
	if !t.DType.IsInt() {
		return nil, fmt.Errorf("expected an integer tensor, got %v", t.DType)
	}
	out := make([]int64, t.Len())
	for i := range out {
		switch s := t.Data.(type) {
		case []int64:
			out[i] = s[i]
		case []uint64:
			if s[i] > math.MaxInt64 {
				return nil, fmt.Errorf("value %d out of int64 range", s[i])
			}
			out[i] = int64(s[i])
		default:
			out[i] = int64(t.Float64At(i))
		}
	}
	return out, nil
}

// ToFloat32 returns t converted to a new float32 tensor (t itself if it
// already is one).
func (t *Tensor) ToFloat32() (*Tensor, error) {
	if t.DType == Float32 {
		return t, nil
	}
	if t.DType == String {
		return nil, errors.New("cannot convert a string tensor to float32")
	}
	out := make([]float32, t.Len())
	if s, ok := t.Data.([]uint16); ok && t.DType == Float16 {
		for i, h := range s {
			out[i] = Float16ToFloat32(h)
		}
	} else {
		for i := range out {
			out[i] = float32(t.Float64At(i))
		}
	}
	return &Tensor{DType: Float32, Shape: append([]int(nil), t.Shape...), Data: out}, nil
}

func (t *Tensor) String() string {
	return t.DType.String() + FormatShape(t.Shape)
}
