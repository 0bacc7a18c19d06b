// Package summary describes a model layer by layer: each node's operator,
// output shape, parameters, multiply-accumulates (MACs) and receptive field
// on the input (its size and jump, the effective stride), with totals, as
// text or as a Graphviz graph. It backs `runinfer summary`.
//
// Shapes come from the runtime's static shape inference
// (runtime.Session.InferShapes) for the input shapes given. See Of for the
// receptive-field rules, Layer for what Params and MACs count.
package summary
