package onnx

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/runinfer/runinfer/ir"
	pb "github.com/runinfer/runinfer/onnx/onnxpb"
)

// tensorCtx says where external data may be read from.
type tensorCtx struct {
	dir string // the model's directory; "" forbids external data
}

// tensorFromProto converts a TensorProto into an IR tensor, checking that the
// data present matches the declared shape before allocating anything.
func (c *tensorCtx) tensorFromProto(tp *pb.TensorProto) (*ir.Tensor, error) {
	if tp == nil {
		return nil, errors.New("missing tensor")
	}
	dt := ir.DType(tp.GetDataType())
	if !dt.Supported() {
		return nil, fmt.Errorf("tensor %q: element type %v is not supported", tp.GetName(), dt)
	}
	shape := make([]int, len(tp.Dims))
	for i, d := range tp.Dims {
		if d < 0 || d > ir.MaxElements {
			return nil, fmt.Errorf("tensor %q: invalid dimension %d in %v", tp.GetName(), d, tp.Dims)
		}
		shape[i] = int(d)
	}
	n, err := ir.NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	if tp.GetSegment() != nil {
		return nil, fmt.Errorf("tensor %q: segmented tensors are not supported", tp.GetName())
	}
	raw := tp.RawData
	if tp.GetDataLocation() == pb.TensorProto_EXTERNAL {
		raw, err = c.readExternal(tp, n, dt)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
		}
	}
	t := &ir.Tensor{DType: dt, Shape: shape}
	if raw != nil || tp.GetDataLocation() == pb.TensorProto_EXTERNAL {
		if dt == ir.String {
			return nil, fmt.Errorf("tensor %q: string tensors cannot use raw_data", tp.GetName())
		}
		// In 64 bits: on a 32-bit platform n*size could wrap around and let
		// a short buffer pass.
		if want := uint64(n) * uint64(dt.Size()); uint64(len(raw)) != want {
			return nil, fmt.Errorf("tensor %q: %v%v needs %d bytes of raw data, found %d", tp.GetName(), dt, shape, want, len(raw))
		}
		t.Data = decodeRaw(dt, raw, n)
		return t, nil
	}
	t.Data, err = decodeTyped(tp, dt, n)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", tp.GetName(), err)
	}
	return t, nil
}

func decodeRaw(dt ir.DType, raw []byte, n int) any {
	le := binary.LittleEndian
	switch dt {
	case ir.Float32:
		s := make([]float32, n)
		for i := range s {
			s[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return s
	case ir.Float64:
		s := make([]float64, n)
		for i := range s {
			s[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return s
	case ir.Int8:
		s := make([]int8, n)
		for i := range s {
			s[i] = int8(raw[i])
		}
		return s
	case ir.Uint8:
		return append([]uint8(nil), raw[:n]...)
	case ir.Bool:
		s := make([]bool, n)
		for i := range s {
			s[i] = raw[i] != 0
		}
		return s
	case ir.Int16:
		s := make([]int16, n)
		for i := range s {
			s[i] = int16(le.Uint16(raw[2*i:]))
		}
		return s
	case ir.Uint16, ir.Float16, ir.BFloat16:
		s := make([]uint16, n)
		for i := range s {
			s[i] = le.Uint16(raw[2*i:])
		}
		return s
	case ir.Int32:
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(le.Uint32(raw[4*i:]))
		}
		return s
	case ir.Uint32:
		s := make([]uint32, n)
		for i := range s {
			s[i] = le.Uint32(raw[4*i:])
		}
		return s
	case ir.Int64:
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(le.Uint64(raw[8*i:]))
		}
		return s
	case ir.Uint64:
		s := make([]uint64, n)
		for i := range s {
			s[i] = le.Uint64(raw[8*i:])
		}
		return s
	}
	return nil
}

func countErr(field string, got, want int) error {
	return fmt.Errorf("%s has %d values, the shape needs %d", field, got, want)
}

// decodeTyped reads the typed repeated fields, where ONNX stores small
// integer types widened into int32_data and float16 bit patterns likewise.
func decodeTyped(tp *pb.TensorProto, dt ir.DType, n int) (any, error) {
	switch dt {
	case ir.Float32:
		if len(tp.FloatData) != n {
			return nil, countErr("float_data", len(tp.FloatData), n)
		}
		return append([]float32(nil), tp.FloatData...), nil
	case ir.Float64:
		if len(tp.DoubleData) != n {
			return nil, countErr("double_data", len(tp.DoubleData), n)
		}
		return append([]float64(nil), tp.DoubleData...), nil
	case ir.Int64:
		if len(tp.Int64Data) != n {
			return nil, countErr("int64_data", len(tp.Int64Data), n)
		}
		return append([]int64(nil), tp.Int64Data...), nil
	case ir.Uint32, ir.Uint64:
		if len(tp.Uint64Data) != n {
			return nil, countErr("uint64_data", len(tp.Uint64Data), n)
		}
		if dt == ir.Uint64 {
			return append([]uint64(nil), tp.Uint64Data...), nil
		}
		s := make([]uint32, n)
		for i, v := range tp.Uint64Data {
			s[i] = uint32(v)
		}
		return s, nil
	case ir.String:
		if len(tp.StringData) != n {
			return nil, countErr("string_data", len(tp.StringData), n)
		}
		s := make([]string, n)
		for i, b := range tp.StringData {
			s[i] = string(b)
		}
		return s, nil
	}
	// Everything else lives in int32_data.
	if len(tp.Int32Data) != n {
		return nil, countErr("int32_data", len(tp.Int32Data), n)
	}
	src := tp.Int32Data
	switch dt {
	case ir.Int32:
		return append([]int32(nil), src...), nil
	case ir.Int8:
		s := make([]int8, n)
		for i, v := range src {
			s[i] = int8(v)
		}
		return s, nil
	case ir.Uint8:
		s := make([]uint8, n)
		for i, v := range src {
			s[i] = uint8(v)
		}
		return s, nil
	case ir.Int16:
		s := make([]int16, n)
		for i, v := range src {
			s[i] = int16(v)
		}
		return s, nil
	case ir.Uint16, ir.Float16, ir.BFloat16:
		s := make([]uint16, n)
		for i, v := range src {
			s[i] = uint16(v)
		}
		return s, nil
	case ir.Bool:
		s := make([]bool, n)
		for i, v := range src {
			s[i] = v != 0
		}
		return s, nil
	}
	return nil, fmt.Errorf("element type %v is not supported", dt)
}

// readExternal reads a tensor's bytes from a file beside the model. The
// location must be a relative path that stays inside the model's directory
// (after resolving symbolic links); offset and length must lie in the file.
func (c *tensorCtx) readExternal(tp *pb.TensorProto, n int, dt ir.DType) ([]byte, error) {
	if c.dir == "" {
		return nil, errors.New("uses external data, but the model was not loaded from a file (use onnx.Load or DecodeOptions.Dir)")
	}
	var loc string
	offset, length := int64(0), int64(-1)
	for _, kv := range tp.ExternalData {
		var err error
		switch kv.GetKey() {
		case "location":
			loc = kv.GetValue()
		case "offset":
			offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("external data %s=%q: %w", kv.GetKey(), kv.GetValue(), err)
		}
	}
	path, err := c.resolve(loc)
	if err != nil {
		return nil, err
	}
	want := int64(n) * int64(dt.Size())
	if length >= 0 && length != want {
		return nil, fmt.Errorf("external data length %d does not match %v%v (%d bytes)", length, dt, tp.Dims, want)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("external data %q is not a regular file", loc)
	}
	if offset < 0 || offset > st.Size() || st.Size()-offset < want {
		return nil, fmt.Errorf("external data %q: %d bytes at offset %d lie outside the file (%d bytes)", loc, want, offset, st.Size())
	}
	buf := make([]byte, want)
	if _, err := f.ReadAt(buf, offset); err != nil && !(errors.Is(err, io.EOF) && want == 0) {
		return nil, fmt.Errorf("external data %q: %w", loc, err)
	}
	return buf, nil
}

// resolve maps an external-data location to a path inside c.dir, rejecting
// absolute paths, paths that climb out with "..", and symbolic links that
// lead outside.
func (c *tensorCtx) resolve(loc string) (string, error) {
	if loc == "" {
		return "", errors.New("external data has no location")
	}
	if strings.ContainsRune(loc, 0) {
		return "", fmt.Errorf("external data location %q contains a NUL byte", loc)
	}
	if filepath.IsAbs(loc) || filepath.VolumeName(loc) != "" || strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, `\`) {
		return "", fmt.Errorf("external data location %q is absolute; it must be relative to the model's directory", loc)
	}
	clean := filepath.Clean(filepath.FromSlash(loc))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("external data location %q escapes the model's directory", loc)
	}
	base, err := filepath.EvalSymlinks(c.dir)
	if err != nil {
		return "", fmt.Errorf("model directory: %w", err)
	}
	full, err := filepath.EvalSymlinks(filepath.Join(base, clean))
	if err != nil {
		return "", fmt.Errorf("external data: %w", err)
	}
	rel, err := filepath.Rel(base, full)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("external data location %q resolves outside the model's directory", loc)
	}
	return full, nil
}

// tensorToProto converts an IR tensor to a TensorProto with raw_data (typed
// string_data for strings).
func tensorToProto(name string, t *ir.Tensor) (*pb.TensorProto, error) {
	tp := &pb.TensorProto{DataType: proto.Int32(int32(t.DType))}
	if name != "" {
		tp.Name = proto.String(name)
	}
	for _, d := range t.Shape {
		tp.Dims = append(tp.Dims, int64(d))
	}
	if s, ok := t.Data.([]string); ok {
		for _, v := range s {
			tp.StringData = append(tp.StringData, []byte(v))
		}
		return tp, nil
	}
	raw, err := encodeRaw(t)
	if err != nil {
		return nil, err
	}
	tp.RawData = raw
	return tp, nil
}

func encodeRaw(t *ir.Tensor) ([]byte, error) {
	le := binary.LittleEndian
	n := t.Len()
	size := t.DType.Size()
	if size == 0 || n < 0 {
		return nil, fmt.Errorf("cannot encode %v tensor", t.DType)
	}
	buf := make([]byte, n*size)
	switch s := t.Data.(type) {
	case []float32:
		for i, v := range s {
			le.PutUint32(buf[4*i:], math.Float32bits(v))
		}
	case []float64:
		for i, v := range s {
			le.PutUint64(buf[8*i:], math.Float64bits(v))
		}
	case []int8:
		for i, v := range s {
			buf[i] = byte(v)
		}
	case []uint8:
		copy(buf, s)
	case []bool:
		for i, v := range s {
			if v {
				buf[i] = 1
			}
		}
	case []int16:
		for i, v := range s {
			le.PutUint16(buf[2*i:], uint16(v))
		}
	case []uint16:
		for i, v := range s {
			le.PutUint16(buf[2*i:], v)
		}
	case []int32:
		for i, v := range s {
			le.PutUint32(buf[4*i:], uint32(v))
		}
	case []uint32:
		for i, v := range s {
			le.PutUint32(buf[4*i:], v)
		}
	case []int64:
		for i, v := range s {
			le.PutUint64(buf[8*i:], uint64(v))
		}
	case []uint64:
		for i, v := range s {
			le.PutUint64(buf[8*i:], v)
		}
	default:
		return nil, fmt.Errorf("cannot encode tensor data %T", t.Data)
	}
	return buf, nil
}
