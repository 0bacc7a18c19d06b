// Package conformance runs models laid out as in the ONNX test data (a
// directory holding model.onnx and test_data_set_N/{input_N.pb,output_N.pb})
// and compares runinfer's outputs with the reference outputs.
//
// Its tests drive the official ONNX backend suite that Debian's
// libonnx-testdata installs, from a manifest of the tests expected to pass
// (manifest.txt) and a list of the in-scope tests left out with reasons
// (excluded.txt), and the real models and gradient-check networks beside the
// project in ../shared.
package conformance
