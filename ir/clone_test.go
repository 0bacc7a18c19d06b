package ir

import "testing"

func TestGraphCloneIsIndependentOfTheOriginal(t *testing.T) {
	g := NewGraph("g")
	g.Inputs = []*ValueInfo{{Name: "x", DType: Float32, Shape: ShapeOf(1, 2)}}
	g.Outputs = []*ValueInfo{{Name: "y", DType: Float32}}
	g.Initializers["w"] = Scalar(float32(2))
	g.ValueInfos["m"] = &ValueInfo{Name: "m", DType: Float32}
	g.Nodes = []*Node{{Op: "Mul", Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: map[string]*Attr{}}}
	c := g.Clone()
	c.Nodes[0].Inputs[1] = "v"
	c.Nodes[0].Outputs[0] = "z"
	c.Nodes[0].SetAttr(IntAttr("k", 1))
	c.Nodes = append(c.Nodes, &Node{Op: "Relu"})
	c.Initializers["v"] = Scalar(float32(3))
	delete(c.ValueInfos, "m")
	c.Inputs[0].Name = "x2"
	c.Outputs[0].Name = "z"
	n := g.Nodes[0]
	if len(g.Nodes) != 1 || n.Inputs[1] != "w" || n.Outputs[0] != "y" || n.HasAttr("k") ||
		g.Initializers["v"] != nil || g.ValueInfos["m"] == nil || g.Inputs[0].Name != "x" || g.Outputs[0].Name != "y" {
		t.Fatal("changing the clone changed the original")
	}
	if c.Initializers["w"] != g.Initializers["w"] {
		t.Error("tensors should be shared")
	}
}
