package runinfer_test

import (
	"fmt"

	"github.com/runinfer/runinfer"
	"github.com/runinfer/runinfer/ir"
)

// A Conv followed by a BatchNormalization and a Relu: OptimizeModel folds
// the BatchNormalization into the Conv's weights and keeps standard ONNX
// operators; a session at the default level (runinfer.OptAll) would also
// fuse the Relu into the Conv.
func ExampleOptimizeModel() {
	g := ir.NewGraph("example")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.ShapeOf(1, 1, 4, 4)}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float32}}
	g.Initializers["w"], _ = ir.FromFloat32([]int{2, 1, 1, 1}, []float32{1, -1})
	for _, name := range []string{"scale", "bias", "mean", "var"} {
		g.Initializers[name], _ = ir.FromFloat32([]int{2}, []float32{1, 0.5})
	}
	g.Nodes = []*ir.Node{
		{Op: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}},
		{Op: "BatchNormalization", Inputs: []string{"c", "scale", "bias", "mean", "var"}, Outputs: []string{"n"}},
		{Op: "Relu", Inputs: []string{"n"}, Outputs: []string{"y"}},
	}
	opt, err := runinfer.OptimizeModel(&ir.Model{Graph: g}, runinfer.OptBasic)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range opt.Graph.Nodes {
		fmt.Println(n.Op)
	}
	// Output:
	// Conv
	// Relu
}
