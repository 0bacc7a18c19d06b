package onnx

import (
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/runinfer/runinfer/ir"
	pb "github.com/runinfer/runinfer/onnx/onnxpb"
)

// DecodeTensor parses a serialized TensorProto (as in the ONNX test-data
// layout's input_N.pb files) and returns the tensor and its name.
func DecodeTensor(data []byte) (*ir.Tensor, string, error) {
	var tp pb.TensorProto
	if err := proto.Unmarshal(data, &tp); err != nil {
		return nil, "", fmt.Errorf("onnx: not a valid TensorProto: %w", err)
	}
	t, err := (&tensorCtx{}).tensorFromProto(&tp)
	if err != nil {
		return nil, "", fmt.Errorf("onnx: %w", err)
	}
	return t, tp.GetName(), nil
}

// ReadTensor reads a TensorProto file. External data is resolved in the
// file's directory.
func ReadTensor(path string) (*ir.Tensor, string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, "", fmt.Errorf("onnx: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, "", fmt.Errorf("onnx: %s is not a regular file", path)
	}
	if st.Size() > MaxModelBytes {
		return nil, "", fmt.Errorf("onnx: %s is larger than any valid protobuf", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("onnx: %w", err)
	}
	var tp pb.TensorProto
	if err := proto.Unmarshal(data, &tp); err != nil {
		return nil, "", fmt.Errorf("onnx: %s: not a valid TensorProto: %w", path, err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, "", fmt.Errorf("onnx: %w", err)
	}
	t, err := (&tensorCtx{dir: dir}).tensorFromProto(&tp)
	if err != nil {
		return nil, "", fmt.Errorf("onnx: %s: %w", path, err)
	}
	return t, tp.GetName(), nil
}

// EncodeTensor serializes t as a TensorProto named name.
func EncodeTensor(name string, t *ir.Tensor) ([]byte, error) {
	tp, err := tensorToProto(name, t)
	if err != nil {
		return nil, fmt.Errorf("onnx: %w", err)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(tp)
}

// WriteTensor writes t as a TensorProto file, atomically.
func WriteTensor(path, name string, t *ir.Tensor) error {
	data, err := EncodeTensor(name, t)
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}
