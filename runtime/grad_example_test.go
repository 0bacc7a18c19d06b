package runtime_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// scaleModel is a tiny two-class model: logits = x ⊙ w + b for x of shape
// N×2, with w and b its parameters.
func scaleModel() *ir.Model {
	g := ir.NewGraph("scale")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(2)}}}}
	g.Outputs = []*ir.ValueInfo{{Name: "logits", DType: ir.Float32}}
	g.Initializers["w"], _ = ir.FromFloat32([]int{2}, []float32{0.1, -0.1})
	g.Initializers["b"], _ = ir.FromFloat32([]int{2}, []float32{0, 0})
	g.Nodes = []*ir.Node{
		{Name: "scale", Op: "Mul", Inputs: []string{"x", "w"}, Outputs: []string{"xw"}},
		{Name: "shift", Op: "Add", Inputs: []string{"xw", "b"}, Outputs: []string{"logits"}},
	}
	return &ir.Model{Graph: g, Metadata: map[string]string{"classes": "low,high"}}
}

// Training a two-parameter classifier with plain gradient descent: a
// point belongs to class 0 when its first coordinate is the larger.
func ExampleTrainer() {
	tr, err := runtime.NewTrainer(scaleModel(), &runtime.TrainOptions{Training: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("parameters:", tr.Params())

	r := rand.New(rand.NewPCG(1, 2))
	batch := func(n int) (*ir.Tensor, []int64) {
		x := make([]float32, 2*n)
		labels := make([]int64, n)
		for i := range n {
			x[2*i], x[2*i+1] = float32(r.Float64()), float32(r.Float64())
			if x[2*i+1] > x[2*i] {
				labels[i] = 1
			}
		}
		t, _ := ir.FromFloat32([]int{n, 2}, x)
		return t, labels
	}
	ctx := context.Background()
	var first, last *runtime.StepResult
	for step := range 300 {
		x, labels := batch(32)
		res, err := tr.Step(ctx, x, labels, false)
		if err != nil {
			fmt.Println(err)
			return
		}
		if step == 0 {
			first = res
		}
		last = res
		// SGD: the optimizer updates the live parameters in place.
		for _, name := range tr.Params() {
			p, g := tr.Param(name).F32(), res.Grads[name].F32()
			for i := range p {
				p[i] -= 4 * g[i]
			}
		}
	}
	fmt.Println("loss went down:", last.Loss < first.Loss/2)

	x, labels := batch(1000)
	tr.SetTraining(false)
	res, err := tr.Step(ctx, x, labels, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("accuracy above 90%:", res.Correct > 900)
	// Output:
	// parameters: [w b]
	// loss went down: true
	// accuracy above 90%: true
}

// TestTrainerModelRoundTrip: Model() written as ONNX and read back runs in
// an inference Session to the trainer's own Forward, with the updated
// weights and the metadata.
func TestTrainerModelRoundTrip(t *testing.T) {
	m := scaleModel()
	tr, err := runtime.NewTrainer(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr.Param("w").F32()[0] = 3
	tr.Param("b").F32()[1] = -0.5
	data, err := onnx.Encode(tr.Model())
	if err != nil {
		t.Fatal(err)
	}
	back, err := onnx.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Metadata["classes"] != "low,high" {
		t.Errorf("metadata %v", back.Metadata)
	}
	if got := back.Graph.Initializers["w"].F32(); !slices.Equal(got, []float32{3, -0.1}) {
		t.Errorf("w after the round trip = %v", got)
	}
	if m.Graph.Initializers["w"].F32()[0] != 0.1 {
		t.Error("the caller's model changed")
	}
	s, err := runtime.NewSession(back, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := ir.FromFloat32([]int{3, 2}, []float32{1, 2, -1, 0.5, 0, 4})
	out, err := s.Run(context.Background(), map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	want, err := tr.Forward(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out[0].F32(), want.F32()) {
		t.Errorf("session %v, trainer %v", out[0].F32(), want.F32())
	}
	// A later change to the trainer does not reach the returned model.
	mm := tr.Model()
	tr.Param("w").F32()[0] = 7
	if mm.Graph.Initializers["w"].F32()[0] != 3 {
		t.Error("Model() shares its tensors with the trainer")
	}
}
