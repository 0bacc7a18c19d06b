package graphopt_test

import (
	"context"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// clone deep-copies the graph structure (tensors are shared, never mutated).
func clone(g *ir.Graph) *ir.Graph {
	c := *g
	c.Initializers = map[string]*ir.Tensor{}
	for k, v := range g.Initializers {
		c.Initializers[k] = v
	}
	c.Nodes = nil
	for _, n := range g.Nodes {
		nc := *n
		nc.Inputs = append([]string(nil), n.Inputs...)
		nc.Outputs = append([]string(nil), n.Outputs...)
		c.Nodes = append(c.Nodes, &nc)
	}
	return &c
}

func runGraph(t *testing.T, g *ir.Graph, feeds map[string]*ir.Tensor) []*ir.Tensor {
	t.Helper()
	s, err := runtime.NewSession(&ir.Model{Graph: g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func randomFeeds(g *ir.Graph, rng *rand.Rand) map[string]*ir.Tensor {
	feeds := map[string]*ir.Tensor{}
	for _, vi := range g.Inputs {
		shape := make([]int, len(vi.Shape.Dims))
		for i, d := range vi.Shape.Dims {
			shape[i] = 1 // symbolic dimensions (batch) get 1
			if d.Known() {
				shape[i] = int(d.Size)
			}
		}
		t, _ := ir.NewTensor(ir.Float32, shape)
		for i := range t.F32() {
			t.F32()[i] = rng.Float32()*2 - 1
		}
		feeds[vi.Name] = t
	}
	return feeds
}

func sameOutputs(t *testing.T, before, after []*ir.Tensor) {
	t.Helper()
	for i := range before {
		b, a := before[i].F32(), after[i].F32()
		if len(a) != len(b) {
			t.Fatalf("output %d: %d elements, want %d", i, len(a), len(b))
		}
		for j := range b {
			if a[j] != b[j] {
				t.Fatalf("output %d element %d: %v after, %v before", i, j, a[j], b[j])
			}
		}
	}
}

// passThroughGraph: x -> Identity -> Relu -> Dropout -> Identity -> y, plus a
// dead Sigmoid branch and an unused initializer.
func passThroughGraph() *ir.Graph {
	g := ir.NewGraph("p")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.ShapeOf(2, 3)}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float32}, {Name: "x_copy", DType: ir.Float32}}
	g.Initializers["unused"] = ir.Scalar(float32(1))
	g.Nodes = []*ir.Node{
		{Op: "Identity", Inputs: []string{"x"}, Outputs: []string{"a"}},
		{Op: "Relu", Inputs: []string{"a"}, Outputs: []string{"b"}},
		{Op: "Dropout", Inputs: []string{"b"}, Outputs: []string{"c", "mask"}},
		{Op: "Sigmoid", Inputs: []string{"b"}, Outputs: []string{"dead"}},
		{Op: "Identity", Inputs: []string{"c"}, Outputs: []string{"y"}},
		{Op: "Identity", Inputs: []string{"x"}, Outputs: []string{"x_copy"}},
	}
	return g
}

func TestBasicPassesRemovePassThroughAndDeadNodesKeepingOutputs(t *testing.T) {
	g := passThroughGraph()
	feeds := randomFeeds(g, rand.New(rand.NewSource(1)))
	before := runGraph(t, g, feeds)
	opt := clone(g)
	if err := graphopt.Optimize(opt, graphopt.Basic); err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range opt.Nodes {
		ops[n.Op]++
	}
	// Relu remains; the Identity copying the graph input to a graph output
	// must stay, since neither name may change.
	if ops["Relu"] != 1 || ops["Dropout"] != 0 || ops["Sigmoid"] != 0 || ops["Identity"] != 1 || len(opt.Nodes) != 2 {
		t.Fatalf("nodes after optimization: %v", ops)
	}
	if _, ok := opt.Initializers["unused"]; ok {
		t.Fatal("unused initializer kept")
	}
	sameOutputs(t, before, runGraph(t, opt, feeds))
}

func TestLevelNoneChangesNothing(t *testing.T) {
	g := passThroughGraph()
	n := len(g.Nodes)
	if err := graphopt.Optimize(g, graphopt.None); err != nil || len(g.Nodes) != n {
		t.Fatalf("level none: %d nodes (was %d), err %v", len(g.Nodes), n, err)
	}
}

func TestDropoutWithAUsedMaskIsKept(t *testing.T) {
	g := passThroughGraph()
	g.Outputs = append(g.Outputs, &ir.ValueInfo{Name: "mask", DType: ir.Bool})
	if _, err := graphopt.EliminateDropout(g); err != nil {
		t.Fatal(err)
	}
	for _, n := range g.Nodes {
		if n.Op == "Dropout" {
			return
		}
	}
	t.Fatal("Dropout whose mask is a graph output was removed")
}

// TestBasicPassesKeepRealModelsEquivalent optimizes the shared models (which
// contain Dropout and Identity nodes) and checks outputs are unchanged.
func TestBasicPassesKeepRealModelsEquivalent(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: whole networks run in the full test")
	}
	for _, name := range []string{"squeezenet1.0", "mobilenetv2-12", "light-bvlc-alexnet"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Load(filepath.Join(testenv.Shared(t, "models", name), "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			feeds := randomFeeds(m.Graph, rand.New(rand.NewSource(2)))
			before := runGraph(t, m.Graph, feeds)
			opt := clone(m.Graph)
			if err := graphopt.Optimize(opt, graphopt.Basic); err != nil {
				t.Fatal(err)
			}
			if len(opt.Nodes) >= len(m.Graph.Nodes) {
				t.Errorf("nothing removed (%d nodes)", len(opt.Nodes))
			}
			sameOutputs(t, before, runGraph(t, opt, feeds))
		})
	}
}
