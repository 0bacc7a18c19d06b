package runinfer_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sync"

	"github.com/runinfer/runinfer"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
)

// tinyModel builds a one-layer network, y = Relu(Conv(x, w) + b) with a 1x1
// kernel mapping 2 channels to 1, and writes it as an ONNX file.
func tinyModel(dir string) string {
	g := ir.NewGraph("tiny")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.ShapeOf(1, 2, 2, 2)}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float32, Shape: ir.ShapeOf(1, 1, 2, 2)}}
	g.Initializers["w"], _ = ir.FromFloat32([]int{1, 2, 1, 1}, []float32{1, -1})
	g.Initializers["b"], _ = ir.FromFloat32([]int{1}, []float32{0.5})
	g.Nodes = []*ir.Node{
		{Op: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"}},
		{Op: "Relu", Inputs: []string{"c"}, Outputs: []string{"y"}},
	}
	path := filepath.Join(dir, "tiny.onnx")
	if err := onnx.Save(path, &ir.Model{Graph: g}); err != nil {
		log.Fatal(err)
	}
	return path
}

// Open a model file and run it once.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "runinfer-example")
	defer os.RemoveAll(dir)

	sess, err := runinfer.Open(tinyModel(dir), nil)
	if err != nil {
		log.Fatal(err)
	}
	x, _ := runinfer.NewTensor([]int{1, 2, 2, 2}, []float32{
		1, 2, 3, 4, // channel 0
		4, 3, 2, 1, // channel 1
	})
	outs, err := sess.Run(context.Background(), map[string]*runinfer.Tensor{"x": x})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sess.Inputs()[0], "->", sess.Outputs()[0])
	fmt.Println(outs[0].F32())
	// Output:
	// x: float32[1,2,2,2] -> y: float32[1,1,2,2]
	// [0 0 1.5 3.5]
}

// One session serves many goroutines at once.
func ExampleSession_Run_concurrent() {
	dir, _ := os.MkdirTemp("", "runinfer-example")
	defer os.RemoveAll(dir)
	sess, err := runinfer.Open(tinyModel(dir), nil)
	if err != nil {
		log.Fatal(err)
	}
	sums := make([]float32, 4)
	var wg sync.WaitGroup
	for i := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := float32(i)
			x, _ := runinfer.NewTensor([]int{1, 2, 2, 2}, []float32{v, v, v, v, 0, 0, 0, 0})
			outs, err := sess.Run(context.Background(), map[string]*runinfer.Tensor{"x": x})
			if err != nil {
				log.Fatal(err)
			}
			for _, y := range outs[0].F32() {
				sums[i] += y
			}
		}()
	}
	wg.Wait()
	fmt.Println(sums)
	// Output: [2 6 10 14]
}
