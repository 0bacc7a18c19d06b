package summary_test

import (
	"fmt"
	"log"
	"os"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/summary"
)

// Summarize a two-layer network: a 3×3 convolution with stride 2 and a 2×2
// max pooling, for a 1×3×32×32 input.
func ExampleOf() {
	g := ir.NewGraph("tiny")
	g.Inputs = []*ir.ValueInfo{{Name: "image", DType: ir.Float32, Shape: ir.Shape{Ranked: true,
		Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(3), ir.SymDim("H"), ir.SymDim("W")}}}}
	g.Outputs = []*ir.ValueInfo{{Name: "pool", DType: ir.Float32}}
	g.Initializers["w"], _ = ir.NewTensor(ir.Float32, []int{8, 3, 3, 3})
	g.Initializers["b"], _ = ir.NewTensor(ir.Float32, []int{8})
	conv := &ir.Node{Op: "Conv", Name: "conv", Inputs: []string{"image", "w", "b"}, Outputs: []string{"conv"}}
	conv.SetAttr(ir.IntsAttr("strides", []int64{2, 2}))
	pool := &ir.Node{Op: "MaxPool", Name: "pool", Inputs: []string{"conv"}, Outputs: []string{"pool"}}
	pool.SetAttr(ir.IntsAttr("kernel_shape", []int64{2, 2}))
	pool.SetAttr(ir.IntsAttr("strides", []int64{2, 2}))
	g.Nodes = []*ir.Node{conv, pool}

	s, err := summary.Of(&ir.Model{Graph: g}, map[string][]int{"image": {1, 3, 32, 32}})
	if err != nil {
		log.Fatal(err)
	}
	last := s.Layers[len(s.Layers)-1]
	fmt.Printf("%s sees %s pixels, %s apart\n\n", last.Name, last.Field.SizeString(), last.Field.JumpString())
	if err := s.WriteText(os.Stdout); err != nil {
		log.Fatal(err)
	}
	// Output:
	// pool sees 5 pixels, 4 apart
	//
	// input:  image float32[1,3,32,32]
	// output: pool float32[1,8,7,7]
	//
	// #  op       output       params    MACs  rf  jump  node
	// 0  Conv     [1,8,15,15]     224  48,600   3     2  conv
	// 1  MaxPool  [1,8,7,7]         0       0   5     4  pool
	//
	// parameters: 224
	// MACs:       48,600 (48.6k)
}
