package onnx

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
)

// Rewrites for operators beyond the core CNN list. This file's init runs
// after canon.go's, so its entries replace plain `keep` ones.
func init() {
	for _, op := range []string{"ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"} {
		converters[op] = convertAxesToInput(18)
	}
	converters["Hardmax"] = convertSoftmax
	for _, op := range []string{"And", "Or", "Xor", "Equal", "Greater", "Less"} {
		converters[op] = convertLegacyBroadcast
	}
	converters["TopK"] = convertTopK
	converters["Scatter"] = convertScatter
	converters["GroupNormalization"] = convertGroupNorm
	converters["CastLike"] = convertCastLike
}

// convertCastLike becomes Cast(to = like's type) when that type is known
// from the model, so that the session's float16 lowering rounds it exactly
// as it rounds a Cast.
func convertCastLike(r *rewriter, n *ir.Node) error {
	if dt := r.types[n.Input(1)]; dt != ir.Undefined && len(n.Inputs) == 2 {
		n.Op = "Cast"
		n.Inputs = n.Inputs[:1]
		n.SetAttr(ir.IntAttr("to", int64(dt)))
	}
	r.emit(n)
	return nil
}

// convertTopK moves the opset-1 k attribute to an input.
func convertTopK(r *rewriter, n *ir.Node) error {
	if r.opset < 10 {
		if !n.HasAttr("k") {
			return fmt.Errorf("needs a k attribute")
		}
		n.Inputs = []string{n.Input(0), r.ints("k", []int64{n.AttrInt("k", 0)})}
		delete(n.Attrs, "k")
	}
	r.emit(n)
	return nil
}

// convertScatter renames the deprecated Scatter (opsets 9-10) to the
// identical ScatterElements.
func convertScatter(r *rewriter, n *ir.Node) error {
	n.Op = "ScatterElements"
	r.emit(n)
	return nil
}

// convertGroupNorm maps opset 18-20 GroupNormalization, whose scale and bias
// have one value per group, to opset 21's one value per channel: each is
// repeated C/G times, with C read from X's shape at run time:
//
//	per_channel = Reshape(Expand(Unsqueeze(v, [1]), [G, C/G]), [-1])
func convertGroupNorm(r *rewriter, n *ir.Node) error {
	if r.opset >= 21 {
		r.emit(n)
		return nil
	}
	if len(n.Inputs) != 3 || n.Inputs[0] == "" || n.Inputs[1] == "" || n.Inputs[2] == "" {
		return fmt.Errorf("needs inputs X, scale and bias")
	}
	g := n.AttrInt("num_groups", 0)
	if g <= 0 {
		return fmt.Errorf("num_groups %d must be positive", g)
	}
	x := n.Inputs[0]
	shape, c, cpg, target := r.fresh("shape"), r.fresh("c"), r.fresh("cpg"), r.fresh("target")
	r.emit(r.node("Shape", []string{x}, []string{shape}))
	r.emit(r.node("Gather", []string{shape, r.ints("one", []int64{1})}, []string{c}, ir.IntAttr("axis", 0)))
	r.emit(r.node("Div", []string{c, r.ints("groups", []int64{g})}, []string{cpg}))
	r.emit(r.node("Concat", []string{r.ints("groups", []int64{g}), cpg}, []string{target}, ir.IntAttr("axis", 0)))
	for i := 1; i <= 2; i++ {
		col, wide, flat := r.fresh("col"), r.fresh("wide"), r.fresh("per_channel")
		r.emit(r.node("Unsqueeze", []string{n.Inputs[i], r.ints("axes", []int64{1})}, []string{col}))
		r.emit(r.node("Expand", []string{col, target}, []string{wide}))
		r.emit(r.node("Reshape", []string{wide, r.ints("flat", []int64{-1})}, []string{flat}))
		n.Inputs[i] = flat
	}
	r.emit(n)
	return nil
}
