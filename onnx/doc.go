// Package onnx translates between ONNX protobuf files and runinfer's graph IR.
//
// Load and Decode read a model (initializers from raw_data or typed fields,
// float16/bfloat16, external data resolved inside the model's directory,
// Constant nodes, every attribute type) and rewrite each node into the IR's
// canonical operator semantics (ONNX opset ir.CanonicalOpset): attributes
// that later opsets turned into inputs become constant inputs, legacy
// broadcasting and axis conventions become explicit, Upsample becomes
// Resize. Save and Encode write the IR back as a model at that opset.
//
// ReadTensor/WriteTensor handle single TensorProto files, the format of the
// ONNX backend test data.
//
// Only this package imports the generated protobuf bindings (onnx/onnxpb);
// it must not import runtime or graphopt.
package onnx
