package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Helpers shared by the plan and fast-kernel tests: small graphs are built
// in code, run through a planned session (every tier this CPU has, several
// thread counts) and through a Reference session (the plain interpreter of
// the reference ops, which accumulate in float64), and compared.

// graphSpec is a model under test.
type graphSpec struct {
	inputs  []*ir.ValueInfo
	outputs []string
	nodes   []*ir.Node
	inits   map[string]*ir.Tensor
}

func (g graphSpec) model() *ir.Model {
	gr := ir.NewGraph("t")
	gr.Inputs = g.inputs
	for _, o := range g.outputs {
		gr.Outputs = append(gr.Outputs, &ir.ValueInfo{Name: o})
	}
	gr.Nodes = g.nodes
	for k, v := range g.inits {
		gr.Initializers[k] = v
	}
	return &ir.Model{Graph: gr}
}

// in declares a graph input with a fixed shape; a negative dimension is
// symbolic.
func in(name string, dt ir.DType, shape ...int) *ir.ValueInfo {
	dims := make([]ir.Dim, len(shape))
	for i, d := range shape {
		if d < 0 {
			dims[i] = ir.SymDim(fmt.Sprintf("d%d", i))
		} else {
			dims[i] = ir.KnownDim(int64(d))
		}
	}
	return &ir.ValueInfo{Name: name, DType: dt, Shape: ir.Shape{Ranked: true, Dims: dims}}
}

// nd makes a node; attrs are added with SetAttr.
func nd(op string, ins, outs []string, attrs ...*ir.Attr) *ir.Node {
	n := &ir.Node{Op: op, Inputs: ins, Outputs: outs, Attrs: map[string]*ir.Attr{}}
	for _, a := range attrs {
		n.SetAttr(a)
	}
	return n
}

func ints(v ...int64) []int64 { return v }

// randF32 is a float32 tensor of uniform values in [-1, 1).
func randF32(rng *rand.Rand, shape ...int) *ir.Tensor {
	n := prod(shape)
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.Float64()*2 - 1)
	}
	t, err := ir.FromFloat32(shape, v)
	if err != nil {
		panic(err)
	}
	return t
}

// scaled multiplies a float32 tensor's values by s in place.
func scaled(t *ir.Tensor, s float32) *ir.Tensor {
	for i := range t.F32() {
		t.F32()[i] *= s
	}
	return t
}

func scalarF32(v float32) *ir.Tensor {
	t, _ := ir.FromFloat32([]int{}, []float32{v})
	return t
}

func i64s(v ...int64) *ir.Tensor {
	t, _ := ir.FromInt64([]int{len(v)}, v)
	return t
}

// tolFor is the tolerance of a float32 result whose elements are sums of up
// to k products of magnitude at most scale: the fast kernels accumulate in
// float32 in a different order than the float64 reference, so each element
// may differ by a few float32 roundings of the partial sums:
// |got-want| <= 4·eps32·k·scale + 1e-7 (eps32 = 2^-23).
func tolFor(k int, scale float64) float64 {
	return 4*math.Pow(2, -23)*float64(max(k, 1))*scale + 1e-7
}

// runSession runs s on feeds and fails the test on error.
func runSession(t *testing.T, s *Session, feeds map[string]*ir.Tensor) []*ir.Tensor {
	t.Helper()
	out, err := s.Run(context.Background(), feeds)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshot deep-copies the feeds so a test can check Run left them alone.
func snapshot(feeds map[string]*ir.Tensor) map[string]*ir.Tensor {
	c := map[string]*ir.Tensor{}
	for k, v := range feeds {
		c[k] = v.Clone()
	}
	return c
}

// compareTensors fails unless got matches want: same type and shape,
// floats within tol (NaN where NaN), everything else exactly.
func compareTensors(t *testing.T, what string, got, want *ir.Tensor, tol float64) {
	t.Helper()
	if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
		t.Fatalf("%s: got %v%v, want %v%v", what, got.DType, got.Shape, want.DType, want.Shape)
	}
	for i := 0; i < want.Len(); i++ {
		g, w := got.Float64At(i), want.Float64At(i)
		if math.IsNaN(g) || math.IsNaN(w) {
			if math.IsNaN(g) != math.IsNaN(w) {
				t.Fatalf("%s: element %d is %v, want %v", what, i, g, w)
			}
			continue
		}
		if g == w {
			continue
		}
		if !want.DType.IsFloat() || math.Abs(g-w) > tol*max(1, math.Abs(w)) {
			t.Fatalf("%s: element %d is %v, want %v (|diff| %.3g, tolerance %.3g)", what, i, g, w, math.Abs(g-w), tol)
		}
	}
}

// threadCounts are the thread counts every planned run is checked with.
var threadCounts = []int{1, 3}

// checkPlanned runs the model planned (every available tier, threadCounts)
// and as the reference interpreter, and compares every output within tol.
// Results must also be identical across thread counts, and the feeds must
// be left unchanged. It returns the plan summary of the best tier for the
// feeds' shapes, for tests to check which kernels ran.
func checkPlanned(t *testing.T, g graphSpec, feeds map[string]*ir.Tensor, tol float64) string {
	t.Helper()
	m := g.model()
	// The graph as given (graphopt.None): these tests check the plan's own
	// kernels, aliases and fusions.
	ref, err := NewSession(m, &Options{Reference: true, Optimize: graphopt.None})
	if err != nil {
		t.Fatal(err)
	}
	want := runSession(t, ref, feeds)
	before := snapshot(feeds)
	summary := ""
	for _, tier := range simd.Available() {
		var first []*ir.Tensor
		for _, th := range threadCounts {
			s, err := NewSession(m, &Options{Tier: tier.String(), Threads: th, Optimize: graphopt.None})
			if err != nil {
				t.Fatal(err)
			}
			got := runSession(t, s, feeds)
			got2 := runSession(t, s, feeds) // a second run reuses the pooled arena
			for i := range want {
				what := fmt.Sprintf("%s, %d threads, output %s", tier, th, g.outputs[i])
				compareTensors(t, what, got[i], want[i], tol)
				compareTensors(t, what+" (second run)", got2[i], got[i], 0)
				if first != nil {
					compareTensors(t, what+" vs 1 thread", got[i], first[i], 0)
				}
			}
			if first == nil {
				first = got
			}
			if tier == simd.Available()[len(simd.Available())-1] && summary == "" {
				summary = planSummaryFor(t, s, feeds)
			}
		}
	}
	for k, v := range before {
		compareTensors(t, "input "+k+" after the runs", feeds[k], v, 0)
	}
	return summary
}

// planSummaryFor returns the summary of the plan s uses for feeds.
func planSummaryFor(t *testing.T, s *Session, feeds map[string]*ir.Tensor) string {
	t.Helper()
	var dts []ir.DType
	var shs [][]int
	for _, vi := range s.graph.Inputs {
		dts = append(dts, feeds[vi.Name].DType)
		shs = append(shs, feeds[vi.Name].Shape)
	}
	p, err := s.planFor(dts, shs)
	if err != nil {
		t.Fatal(err)
	}
	return p.summary()
}

// wantSteps fails unless every line is a step of the summary.
func wantSteps(t *testing.T, summary string, lines ...string) {
	t.Helper()
	have := map[string]int{}
	for _, l := range strings.Split(summary, "\n")[1:] {
		have[strings.Join(strings.Fields(l), " ")]++
	}
	for _, l := range lines {
		if have[l] == 0 {
			t.Errorf("plan has no step %q:\n%s", l, summary)
		}
		have[l]--
	}
}

// smallConvNet: Conv(3x3)+bias -> Relu -> MaxPool -> Conv(1x1) -> Add
// (residual from the pool) -> Relu -> Concat with the pool -> GlobalAveragePool
// -> Flatten -> Gemm (transB) -> output.
func smallConvNet(rng *rand.Rand, batch int) graphSpec {
	return graphSpec{
		inputs:  []*ir.ValueInfo{in("x", ir.Float32, batch, 3, 12, 10)},
		outputs: []string{"y"},
		inits: map[string]*ir.Tensor{
			"w1": randF32(rng, 8, 3, 3, 3), "b1": randF32(rng, 8),
			"w2": randF32(rng, 8, 8, 1, 1),
			"fc": randF32(rng, 5, 16), "fb": randF32(rng, 5),
		},
		nodes: []*ir.Node{
			nd("Conv", []string{"x", "w1", "b1"}, []string{"c1"}, ir.IntsAttr("pads", ints(1, 1, 1, 1))),
			nd("Relu", []string{"c1"}, []string{"r1"}),
			nd("MaxPool", []string{"r1"}, []string{"p1"}, ir.IntsAttr("kernel_shape", ints(2, 2)), ir.IntsAttr("strides", ints(2, 2))),
			nd("Conv", []string{"p1", "w2"}, []string{"c2"}),
			nd("Add", []string{"c2", "p1"}, []string{"a2"}),
			nd("Relu", []string{"a2"}, []string{"r2"}),
			nd("Concat", []string{"r2", "p1"}, []string{"cat"}, ir.IntAttr("axis", 1)),
			nd("GlobalAveragePool", []string{"cat"}, []string{"gap"}),
			nd("Flatten", []string{"gap"}, []string{"flat"}),
			nd("Gemm", []string{"flat", "fc", "fb"}, []string{"y"}, ir.IntAttr("transB", 1)),
		},
	}
}

func TestPlanMatchesReferenceOnASmallConvNet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, batch := range []int{1, 2} {
		g := smallConvNet(rng, batch)
		feeds := map[string]*ir.Tensor{"x": randF32(rng, batch, 3, 12, 10)}
		sum := checkPlanned(t, g, feeds, tolFor(27*8*16, 1))
		wantSteps(t, sum, "fast Conv+Relu", "fast MaxPool", "fast Conv+Add+Relu", "fast GlobalAveragePool", "fast Gemm")
		// With one image the channel concat is zero-copy: the pool and the
		// second conv write into their halves of its buffer.
		if hasConcat := strings.Contains(sum, "Concat"); hasConcat != (batch > 1) {
			t.Errorf("batch %d: Concat step present = %v:\n%s", batch, hasConcat, sum)
		}
		if strings.Contains(sum, "Flatten") {
			t.Errorf("Flatten should be a zero-copy alias, not a step:\n%s", sum)
		}
	}
}

func TestRunAllocatesOnlyItsOutputs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	rng := rand.New(rand.NewPCG(2, 2))
	g := smallConvNet(rng, 1)
	for _, th := range []int{1, 2} {
		s, err := NewSession(g.model(), &Options{Threads: th})
		if err != nil {
			t.Fatal(err)
		}
		feeds := map[string]*ir.Tensor{"x": randF32(rng, 1, 3, 12, 10)}
		ctx := context.Background()
		runSession(t, s, feeds) // warm the plan and the arena pool
		allocs := testing.AllocsPerRun(50, func() {
			if _, err := s.Run(ctx, feeds); err != nil {
				t.Fatal(err)
			}
		})
		// One output from ir.NewTensor (the Tensor, its shape, its data and
		// the data boxed in an interface), plus the result slice.
		if allocs > 5 {
			t.Errorf("%d threads: a steady-state run allocates %v times, want at most 5", th, allocs)
		}
	}
}

func TestConcurrentRunsOfOneSessionAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	g := smallConvNet(rng, -1) // symbolic batch: several plans
	s, err := NewSession(g.model(), &Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewSession(g.model(), &Options{Reference: true})
	if err != nil {
		t.Fatal(err)
	}
	type job struct {
		x    *ir.Tensor
		want []*ir.Tensor
	}
	var jobs []job
	for i := range 6 {
		x := randF32(rng, 1+i%3, 3, 12, 10)
		feeds := map[string]*ir.Tensor{"x": x}
		jobs = append(jobs, job{x, runSession(t, ref, feeds)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for gi := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range 6 {
				j := jobs[(gi+it)%len(jobs)]
				out, err := s.Run(context.Background(), map[string]*ir.Tensor{"x": j.x})
				if err != nil {
					errs <- err
					return
				}
				tol := tolFor(27*8*16, 1)
				for i, v := range out[0].F32() {
					if w := j.want[0].F32()[i]; math.Abs(float64(v-w)) > tol*max(1, math.Abs(float64(w))) {
						errs <- fmt.Errorf("goroutine %d: element %d is %v, want %v", gi, i, v, w)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestPlanCacheKeepsTheMostRecentShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	g := smallConvNet(rng, -1)
	s, err := NewSession(g.model(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for b := 1; b <= planCacheSize+3; b++ {
		runSession(t, s, map[string]*ir.Tensor{"x": randF32(rng, b, 3, 12, 10)})
	}
	s.exec.mu.Lock()
	n := len(s.exec.plans)
	newest := s.exec.plans[0].shapes[0][0]
	s.exec.mu.Unlock()
	if n != planCacheSize || newest != planCacheSize+3 {
		t.Fatalf("cache holds %d plans, newest for batch %d; want %d, %d", n, newest, planCacheSize, planCacheSize+3)
	}
	// A hit moves the plan to the front.
	runSession(t, s, map[string]*ir.Tensor{"x": randF32(rng, 5, 3, 12, 10)})
	if got := s.exec.plans[0].shapes[0][0]; got != 5 {
		t.Fatalf("after a hit the newest plan is for batch %d, want 5", got)
	}
}

func TestSessionTierOption(t *testing.T) {
	m := smallConvNet(rand.New(rand.NewPCG(5, 5)), 1).model()
	if _, err := NewSession(m, &Options{Tier: "sse9"}); err == nil || !strings.Contains(err.Error(), "sse9") {
		t.Errorf("unknown tier: err = %v", err)
	}
	for _, tier := range []simd.Tier{simd.Generic, simd.NEON, simd.AVX2, simd.AVX512} {
		_, err := NewSession(m, &Options{Tier: tier.String()})
		if simd.Supported(tier) && err != nil {
			t.Errorf("tier %s is supported here but NewSession failed: %v", tier, err)
		}
		if !simd.Supported(tier) && (err == nil || !strings.Contains(err.Error(), "not available")) {
			t.Errorf("tier %s is not supported here: err = %v", tier, err)
		}
	}
}

// TestArenaNeverOverlapsLiveBuffers checks assignOffsets on random
// lifetimes: buffers live at the same step never share bytes.
func TestArenaNeverOverlapsLiveBuffers(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	for trial := range 300 {
		steps := 1 + rng.IntN(30)
		st := make([]storage, 1+rng.IntN(40))
		total := 0
		for i := range st {
			f := rng.IntN(steps)
			st[i] = storage{bytes: roundUp(rng.IntN(5000)), first: f, last: f + rng.IntN(steps-f)}
			total += st[i].bytes
		}
		size := assignOffsets(st, steps)
		if size > total {
			t.Fatalf("trial %d: arena %d bytes, more than the %d of all buffers", trial, size, total)
		}
		for i, a := range st {
			if a.off%arenaAlign != 0 || a.off+a.bytes > size {
				t.Fatalf("trial %d: buffer %d at %d+%d in an arena of %d", trial, i, a.off, a.bytes, size)
			}
			for j, b := range st[:i] {
				liveTogether := a.first <= b.last && b.first <= a.last
				overlap := a.off < b.off+b.bytes && b.off < a.off+a.bytes && a.bytes > 0 && b.bytes > 0
				if liveTogether && overlap {
					t.Fatalf("trial %d: buffers %d %+v and %d %+v are live together and overlap", trial, i, a, j, b)
				}
			}
		}
	}
}

func TestArenaReusesDeadBuffers(t *testing.T) {
	// A chain of 10 same-size Convs needs two buffers, not ten.
	rng := rand.New(rand.NewPCG(7, 7))
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 4, 8, 8)}, outputs: []string{"y"},
		inits: map[string]*ir.Tensor{"w": scaled(randF32(rng, 4, 4, 3, 3), 1.0/6)}}
	prev := "x"
	for i := range 10 {
		out := fmt.Sprintf("c%d", i)
		if i == 9 {
			out = "y"
		}
		g.nodes = append(g.nodes, nd("Conv", []string{prev, "w"}, []string{out}, ir.IntsAttr("pads", ints(1, 1, 1, 1))))
		prev = out
	}
	s, err := NewSession(g.model(), nil)
	if err != nil {
		t.Fatal(err)
	}
	p := s.exec.plans[0]
	if one := 4 * 8 * 8 * 4; p.arena != 2*one {
		t.Errorf("arena is %d bytes, want %d (two buffers of %d)", p.arena, 2*one, one)
	}
	checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 1, 4, 8, 8)}, tolFor(36*10, 1))
}

func TestActivationsRunInPlaceOverDyingInputs(t *testing.T) {
	// x -> Add(x, b) -> Relu -> Mul(., s) -> y: Relu and Mul reuse Add's
	// buffer, so the arena holds one tensor.
	rng := rand.New(rand.NewPCG(8, 8))
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 3, 5, 5)}, outputs: []string{"y"},
		inits: map[string]*ir.Tensor{"b": randF32(rng, 3, 1, 1), "s": scalarF32(0.5)},
		nodes: []*ir.Node{
			nd("Add", []string{"x", "b"}, []string{"a"}),
			nd("Relu", []string{"a"}, []string{"r"}),
			nd("Mul", []string{"r", "s"}, []string{"m"}),
			nd("Relu", []string{"m"}, []string{"y"}),
		}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 3, 5, 5)}, 1e-6)
	wantSteps(t, sum, "fast Add", "fast Relu", "fast Mul+Relu")
	if !strings.HasPrefix(sum, fmt.Sprintf("arena %d bytes", roundUp(2*3*5*5*4))) {
		t.Errorf("in-place steps should share one buffer:\n%s", sum)
	}
}

func TestAliasesNeverWriteThroughToInputs(t *testing.T) {
	// Reshape of the graph input, then an activation that could run in
	// place: the caller's tensor must stay untouched (checkPlanned checks).
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 6)}, outputs: []string{"y", "z"},
		inits: map[string]*ir.Tensor{"shape": i64s(3, 4)},
		nodes: []*ir.Node{
			nd("Reshape", []string{"x", "shape"}, []string{"r"}),
			nd("Relu", []string{"r"}, []string{"r2"}),
			nd("Relu", []string{"r2"}, []string{"y"}),
			nd("Identity", []string{"x"}, []string{"z"}),
		}}
	rng := rand.New(rand.NewPCG(9, 9))
	checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 6)}, 0)
}

func TestOutputsThatAreInputsOrConstantsAreReturned(t *testing.T) {
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 3)}, outputs: []string{"x", "c", "y"},
		inits: map[string]*ir.Tensor{"c": i64s(7, 8)},
		nodes: []*ir.Node{nd("Relu", []string{"x"}, []string{"y"})}}
	s, err := NewSession(g.model(), nil)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := ir.FromFloat32([]int{3}, []float32{-1, 2, -3})
	out := runSession(t, s, map[string]*ir.Tensor{"x": x})
	if !slices.Equal(out[0].F32(), []float32{-1, 2, -3}) || !slices.Equal(out[1].I64(), []int64{7, 8}) || !slices.Equal(out[2].F32(), []float32{0, 2, 0}) {
		t.Fatalf("outputs %v %v %v", out[0], out[1], out[2])
	}
	out[1].I64()[0] = 99 // must not reach the session's initializer
	if again := runSession(t, s, map[string]*ir.Tensor{"x": x}); again[1].I64()[0] != 7 {
		t.Fatal("a caller's change to a returned constant reached the session")
	}
}

func TestDataDependentShapesRunDynamically(t *testing.T) {
	// Reshape to a shape fed at run time, between planned steps.
	g := graphSpec{
		inputs:  []*ir.ValueInfo{in("x", ir.Float32, 2, 3, 4, 4), in("shape", ir.Int64, 2)},
		outputs: []string{"y"},
		nodes: []*ir.Node{
			nd("Relu", []string{"x"}, []string{"r"}),
			nd("Reshape", []string{"r", "shape"}, []string{"f"}),
			nd("Relu", []string{"f"}, []string{"y"}),
		}}
	rng := rand.New(rand.NewPCG(10, 10))
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 3, 4, 4), "shape": i64s(6, 16)}, 0)
	wantSteps(t, sum, "fast Relu", "dynamic Reshape", "dynamic Relu")
}

func TestRunTimeErrorsNameTheNode(t *testing.T) {
	// Reshape to a shape fed at run time that does not fit.
	g := graphSpec{
		inputs:  []*ir.ValueInfo{in("x", ir.Float32, 2, 3), in("shape", ir.Int64, 2)},
		outputs: []string{"y"},
		nodes:   []*ir.Node{nd("Reshape", []string{"x", "shape"}, []string{"y"})},
	}
	s, err := NewSession(g.model(), nil)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := ir.FromFloat32([]int{2, 3}, make([]float32, 6))
	_, err = s.Run(context.Background(), map[string]*ir.Tensor{"x": x, "shape": i64s(4, 4)})
	if err == nil || !strings.Contains(err.Error(), "Reshape") {
		t.Fatalf("err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Run(ctx, map[string]*ir.Tensor{"x": x, "shape": i64s(3, 2)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: err = %v", err)
	}
}

func TestOpsThatReplaceOutputSlicesKeepTheArenaConsistent(t *testing.T) {
	// BatchNormalization's running statistics outputs are produced by
	// replacing the output slice; a Reshape (zero-copy alias) reads one.
	rng := rand.New(rand.NewPCG(14, 14))
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 3, 2, 2)}, outputs: []string{"y", "z"},
		inits: map[string]*ir.Tensor{
			"s": randF32(rng, 3), "b": randF32(rng, 3), "m": randF32(rng, 3), "v": scaled(randF32(rng, 3), 0),
			"shape": i64s(3, 1),
		},
		nodes: []*ir.Node{
			nd("BatchNormalization", []string{"x", "s", "b", "m", "v"}, []string{"y", "rm", "rv"}),
			nd("Reshape", []string{"rm", "shape"}, []string{"r"}),
			nd("Relu", []string{"r"}, []string{"z"}),
		}}
	checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 1, 3, 2, 2)}, 1e-6)
}

func TestPreparedWeightsFollowTheCachedPlans(t *testing.T) {
	// A fully convolutional net fed many image sizes: a Conv is packed per
	// size, and packings of evicted plans are dropped.
	rng := rand.New(rand.NewPCG(15, 15))
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 2, -1, -1)}, outputs: []string{"y"},
		inits: map[string]*ir.Tensor{"w": randF32(rng, 3, 2, 3, 3)},
		nodes: []*ir.Node{nd("Conv", []string{"x", "w"}, []string{"y"})}}
	s, err := NewSession(g.model(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for size := 3; size < 3+planCacheSize+4; size++ {
		runSession(t, s, map[string]*ir.Tensor{"x": randF32(rng, 1, 2, size, size)})
		runSession(t, s, map[string]*ir.Tensor{"x": randF32(rng, 1, 2, size, size+1)})
	}
	s.exec.prepMu.Lock()
	n := len(s.exec.prepared)
	s.exec.prepMu.Unlock()
	if n != planCacheSize {
		t.Fatalf("%d prepared convolutions kept, want %d (one per cached plan)", n, planCacheSize)
	}
}

func TestDroppedSessionsStopTheirWorkers(t *testing.T) {
	m := smallConvNet(rand.New(rand.NewPCG(16, 16)), 1).model()
	base := goruntime.NumGoroutine()
	for range 20 {
		s, err := NewSession(m, &Options{Threads: 4})
		if err != nil {
			t.Fatal(err)
		}
		runSession(t, s, map[string]*ir.Tensor{"x": randF32(rand.New(rand.NewPCG(1, 2)), 1, 3, 12, 10)})
	}
	// 20 sessions × 3 workers were started; collecting the sessions closes
	// their pools.
	for try := 0; ; try++ {
		goruntime.GC()
		n := goruntime.NumGoroutine()
		if n <= base+3 {
			break
		}
		if try == 100 {
			t.Fatalf("%d goroutines remain, %d before the sessions", n, base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestInPlaceOutputsMayHaveAliases(t *testing.T) {
	// s = a + b runs in place over a dying operand although s is then
	// viewed through a Flatten that a later step reads.
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 3, 4)}, outputs: []string{"y"},
		nodes: []*ir.Node{
			nd("Relu", []string{"x"}, []string{"a"}),
			nd("LeakyRelu", []string{"x"}, []string{"b"}),
			nd("Add", []string{"a", "b"}, []string{"s"}),
			nd("Flatten", []string{"s"}, []string{"f"}),
			nd("Relu", []string{"f"}, []string{"y"}),
		}}
	rng := rand.New(rand.NewPCG(17, 17))
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 3, 4)}, 1e-6)
	if want := fmt.Sprintf("arena %d bytes", 2*roundUp(4*24)); !strings.HasPrefix(sum, want) {
		t.Errorf("want %s (a and b; s in place over one of them):\n%s", want, sum)
	}
}
