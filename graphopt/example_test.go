package graphopt_test

import (
	"fmt"
	"os"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/runtime"
)

// Optimizing a Conv → Mul by a per-channel constant → Relu graph at level
// All with the runtime's Env: the Mul is absorbed into the Conv's weights
// and bias, then the Relu is fused into a runinfer.FusedConv. Dump prints
// the result with the shapes the Env resolves (this is what `runinfer info
// --graph` shows).
func ExampleOptimizeWith() {
	g := ir.NewGraph("example")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.ShapeOf(1, 1, 4, 4)}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float32}}
	g.Initializers["w"], _ = ir.FromFloat32([]int{2, 1, 1, 1}, []float32{1, -1})
	g.Initializers["s"], _ = ir.FromFloat32([]int{2, 1, 1}, []float32{2, 3})
	g.Nodes = []*ir.Node{
		{Name: "conv", Op: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}},
		{Name: "scale", Op: "Mul", Inputs: []string{"c", "s"}, Outputs: []string{"m"}},
		{Name: "relu", Op: "Relu", Inputs: []string{"m"}, Outputs: []string{"y"}},
	}
	env := runtime.OptimizerEnv(0)
	if err := graphopt.OptimizeWith(g, graphopt.All, env); err != nil {
		fmt.Println(err)
		return
	}
	shapes, _ := runtime.GraphShapes(g)
	graphopt.Dump(os.Stdout, g, shapes)
	// Output:
	// graph "example"
	// input x: float32[1,1,4,4]
	// init w_bias_folded: float32[2] = [0 0]
	// init w_folded: float32[2,1,1,1] = [2 -3]
	// FusedConv@runinfer "conv" (x:float32[1,1,4,4], w_folded:float32[2,1,1,1], w_bias_folded:float32[2]) -> (y:float32[1,2,4,4]) activation="Relu"
	// output y: float32[*]
}
