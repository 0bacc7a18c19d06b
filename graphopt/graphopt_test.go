package graphopt_test

import (
	"bytes"
	"context"
	"flag"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

var update = flag.Bool("update", false, "rewrite the golden files of the pass tests (testdata/*.golden)")

// runGraph runs g as given (no optimization), with the reference
// interpreter, or planned (fast kernels) when planned is set.
func runGraph(t *testing.T, g *ir.Graph, feeds map[string]*ir.Tensor, planned bool) []*ir.Tensor {
	t.Helper()
	s, err := runtime.NewSession(&ir.Model{Graph: g}, &runtime.Options{Reference: !planned, Optimize: graphopt.None})
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
			shape[i] = 2 // symbolic dimensions (batch) get 2
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

// sameOutputs requires bit-identical outputs.
func sameOutputs(t *testing.T, before, after []*ir.Tensor) {
	t.Helper()
	closeOutputs(t, before, after, 0)
}

// closeOutputs requires |after − before| <= tol·max|before| element-wise
// (float32 refolding of BatchNorm into weights moves the last bits).
func closeOutputs(t *testing.T, before, after []*ir.Tensor, tol float64) {
	t.Helper()
	if len(before) != len(after) {
		t.Fatalf("%d outputs after, %d before", len(after), len(before))
	}
	for i := range before {
		b, a := before[i], after[i]
		if b.Len() != a.Len() {
			t.Fatalf("output %d: %d elements, want %d", i, a.Len(), b.Len())
		}
		scale := 0.0
		for j := 0; j < b.Len(); j++ {
			scale = max(scale, math.Abs(b.Float64At(j)))
		}
		for j := 0; j < b.Len(); j++ {
			x, y := a.Float64At(j), b.Float64At(j)
			if x == y || (math.IsNaN(x) && math.IsNaN(y)) {
				continue
			}
			if math.Abs(x-y) > tol*scale {
				t.Fatalf("output %d element %d: %v after, %v before (tolerance %g × %g)", i, j, x, y, tol, scale)
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
	before := runGraph(t, g, feeds, false)
	opt := g.Clone()
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
	if len(g.Nodes) != 6 || g.Initializers["unused"] == nil {
		t.Fatal("optimizing the clone changed the original")
	}
	sameOutputs(t, before, runGraph(t, opt, feeds, false))
}

func TestLevelNoneChangesNothing(t *testing.T) {
	g := passThroughGraph()
	n := len(g.Nodes)
	if err := graphopt.OptimizeWith(g, graphopt.None, runtime.OptimizerEnv(0)); err != nil || len(g.Nodes) != n {
		t.Fatalf("level none: %d nodes (was %d), err %v", len(g.Nodes), n, err)
	}
}

func TestParseLevel(t *testing.T) {
	for s, want := range map[string]graphopt.Level{"none": graphopt.None, "Basic": graphopt.Basic, " all": graphopt.All} {
		if got, err := graphopt.ParseLevel(s); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", s, got, err, want)
		}
		if want.String() != s && want.String() != "basic" && want.String() != "all" {
			t.Errorf("%v.String() = %q", want, want.String())
		}
	}
	if _, err := graphopt.ParseLevel("fast"); err == nil {
		t.Error(`ParseLevel("fast") succeeded`)
	}
	if len(graphopt.Passes(graphopt.Default)) != len(graphopt.Passes(graphopt.All)) {
		t.Error("Default is not All")
	}
	if len(graphopt.Passes(graphopt.Basic)) >= len(graphopt.Passes(graphopt.All)) {
		t.Error("All has no passes beyond Basic")
	}
	for _, p := range graphopt.Passes(graphopt.Basic) {
		if p.RuntimeOnly {
			t.Errorf("basic pass %s makes runtime-only ops", p.Name)
		}
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

// TestLevelsKeepRealModelsEquivalent optimizes the shared models at Basic
// and All and checks the outputs against the graph as imported (the
// reference interpreter for both, and the planned run of the optimized
// graph), within the tolerance of BatchNorm folding.
func TestLevelsKeepRealModelsEquivalent(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: whole networks run in the full test")
	}
	for _, name := range []string{"squeezenet1.0", "mobilenetv2-12", "light-bvlc-alexnet", "cifar10-resnet20"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Load(filepath.Join(testenv.Shared(t, "models", name), "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			feeds := randomFeeds(m.Graph, rand.New(rand.NewSource(2)))
			before := runGraph(t, m.Graph, feeds, false)
			for _, level := range []graphopt.Level{graphopt.Basic, graphopt.All} {
				opt := m.Graph.Clone()
				if err := graphopt.OptimizeWith(opt, level, runtime.OptimizerEnv(0)); err != nil {
					t.Fatal(err)
				}
				if len(opt.Nodes) > len(m.Graph.Nodes) || (level == graphopt.All && len(opt.Nodes) == len(m.Graph.Nodes)) {
					t.Errorf("%v: %d nodes, %d before", level, len(opt.Nodes), len(m.Graph.Nodes))
				}
				t.Logf("%v: %d nodes -> %d", level, len(m.Graph.Nodes), len(opt.Nodes))
				closeOutputs(t, before, runGraph(t, opt, feeds, false), 1e-4)
				closeOutputs(t, before, runGraph(t, opt, feeds, true), 1e-3)
			}
		})
	}
}

// golden compares got with testdata/NAME.golden; go test -update (or
// RUNINFER_UPDATE_GOLDEN=1) rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update || os.Getenv("RUNINFER_UPDATE_GOLDEN") == "1" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./graphopt -run %s -update creates it)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func dump(t *testing.T, g *ir.Graph) string {
	t.Helper()
	var b bytes.Buffer
	if err := graphopt.Dump(&b, g, nil); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
