package runtime

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

func TestFastConcatMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 51))
	for _, c := range []struct {
		shapes [][]int
		axis   int64
	}{
		{[][]int{{1, 3, 4, 5}, {1, 2, 4, 5}, {1, 1, 4, 5}}, 1},
		{[][]int{{2, 3, 4, 5}, {2, 5, 4, 5}}, 1},
		{[][]int{{2, 3}, {4, 3}}, 0},
		{[][]int{{2, 3, 4}, {2, 3, 1}}, -1},
		{[][]int{{2, 0, 4}, {2, 3, 4}}, 1},
		{[][]int{{5}}, 0},
	} {
		t.Run(fmt.Sprintf("%v axis %d", c.shapes, c.axis), func(t *testing.T) {
			g := graphSpec{outputs: []string{"y"}}
			feeds := map[string]*ir.Tensor{}
			var ins []string
			for i, s := range c.shapes {
				name := fmt.Sprintf("x%d", i)
				g.inputs = append(g.inputs, in(name, ir.Float32, s...))
				// Concatenate computed values, as in a network.
				g.nodes = append(g.nodes, nd("Relu", []string{name}, []string{name + "r"}))
				ins = append(ins, name+"r")
				feeds[name] = randF32(rng, s...)
			}
			g.nodes = append(g.nodes, nd("Concat", ins, []string{"c"}, ir.IntAttr("axis", c.axis)),
				nd("Relu", []string{"c"}, []string{"y"}))
			sum := checkPlanned(t, g, feeds, 0)
			axis := int(c.axis)
			if axis < 0 {
				axis += len(c.shapes[0])
			}
			if prod(c.shapes[0][:axis]) > 1 {
				wantSteps(t, sum, "fast Concat")
				return
			}
			// Outer size 1: the Relus write straight into the concat's
			// buffer, which is the whole arena.
			total := 0
			for _, s := range c.shapes {
				total += prod(s)
			}
			if strings.Contains(sum, "Concat") || !strings.HasPrefix(sum, fmt.Sprintf("arena %d bytes", roundUp(4*total))) {
				t.Errorf("want a zero-copy concat in an arena of %d bytes:\n%s", roundUp(4*total), sum)
			}
		})
	}
}

func TestZeroCopyConcatEdgeCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 53))
	x := func() map[string]*ir.Tensor { return map[string]*ir.Tensor{"x": randF32(rng, 1, 2, 3, 3)} }
	for _, c := range []struct {
		name  string
		nodes []*ir.Node
		steps []string
	}{
		{"the same value twice is copied", []*ir.Node{
			nd("Relu", []string{"x"}, []string{"a"}),
			nd("Concat", []string{"a", "a"}, []string{"c"}, ir.IntAttr("axis", 1)),
			nd("Relu", []string{"c"}, []string{"y"}),
		}, []string{"fast Relu", "fast Concat", "fast Relu"}},
		{"a graph input is copied", []*ir.Node{
			nd("Relu", []string{"x"}, []string{"a"}),
			nd("Concat", []string{"a", "x"}, []string{"c"}, ir.IntAttr("axis", 1)),
			nd("Relu", []string{"c"}, []string{"y"}),
		}, []string{"fast Relu", "fast Concat", "fast Relu"}},
		{"an input read again after the concat, in place", []*ir.Node{
			nd("Relu", []string{"x"}, []string{"a"}),
			nd("LeakyRelu", []string{"x"}, []string{"b"}),
			nd("Concat", []string{"a", "b"}, []string{"c"}, ir.IntAttr("axis", 1)),
			nd("Relu", []string{"a"}, []string{"a2"}), // must not run in place over a
			nd("Concat", []string{"c", "a2"}, []string{"y"}, ir.IntAttr("axis", 1)),
		}, []string{"fast Relu", "fast LeakyRelu", "fast Relu", "fast Concat"}},
		{"nested concats", []*ir.Node{
			nd("Relu", []string{"x"}, []string{"a"}),
			nd("LeakyRelu", []string{"x"}, []string{"b"}),
			nd("Concat", []string{"a", "b"}, []string{"c"}, ir.IntAttr("axis", 1)),
			nd("Relu", []string{"c"}, []string{"d"}),
			nd("Concat", []string{"c", "d"}, []string{"e"}, ir.IntAttr("axis", 1)),
			nd("Relu", []string{"e"}, []string{"y"}),
		}, []string{"fast Relu", "fast LeakyRelu", "fast Relu", "fast Concat", "fast Relu"}},
		{"an aliased input is copied", []*ir.Node{
			nd("Relu", []string{"x"}, []string{"a"}),
			nd("Identity", []string{"a"}, []string{"b"}),
			nd("Relu", []string{"x"}, []string{"p"}),
			nd("Concat", []string{"b", "p"}, []string{"c"}, ir.IntAttr("axis", 1)),
			nd("Relu", []string{"c"}, []string{"y"}),
		}, []string{"fast Relu", "fast Relu", "fast Concat", "fast Relu"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 2, 3, 3)}, outputs: []string{"y"}, nodes: c.nodes}
			sum := checkPlanned(t, g, x(), 0)
			wantSteps(t, sum, c.steps...)
			if n := strings.Count(sum, "\n") - 1; n != len(c.steps) {
				t.Errorf("plan has %d steps, want %d:\n%s", n, len(c.steps), sum)
			}
		})
	}
}

func TestFastConcatOfIntegersAndBools(t *testing.T) {
	b1, _ := ir.FromSlice([]int{2}, []bool{true, false})
	b2, _ := ir.FromSlice([]int{1}, []bool{true})
	g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Int64, 2), in("b", ir.Int64, 3), in("p", ir.Bool, 2), in("q", ir.Bool, 1)},
		outputs: []string{"y", "z"},
		nodes: []*ir.Node{
			nd("Concat", []string{"a", "b"}, []string{"c"}, ir.IntAttr("axis", 0)),
			nd("Neg", []string{"c"}, []string{"y"}),
			nd("Concat", []string{"p", "q"}, []string{"d"}, ir.IntAttr("axis", 0)),
			nd("Not", []string{"d"}, []string{"z"}),
		}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"a": i64s(1, 2), "b": i64s(3, 4, 5), "p": b1, "q": b2}, 0)
	wantSteps(t, sum, "fast Concat", "fast Concat", "ref Neg", "ref Not")
}

func TestShapeOpsAreZeroCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(52, 52))
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 2, 3, 4)}, outputs: []string{"y"},
		inits: map[string]*ir.Tensor{"shape": i64s(6, 4), "axes": i64s(0)},
		nodes: []*ir.Node{
			nd("Relu", []string{"x"}, []string{"r"}),
			nd("Reshape", []string{"r", "shape"}, []string{"a"}),
			nd("Flatten", []string{"a"}, []string{"b"}, ir.IntAttr("axis", 0)),
			nd("Squeeze", []string{"b", "axes"}, []string{"c"}),
			nd("Unsqueeze", []string{"c", "axes"}, []string{"d"}),
			nd("Identity", []string{"d"}, []string{"e"}),
			nd("Dropout", []string{"e"}, []string{"f"}),
			nd("Relu", []string{"f"}, []string{"y"}),
		}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 2, 3, 4)}, 0)
	wantSteps(t, sum, "fast Relu", "fast Relu")
	if sum[:len("arena 128 bytes, 2 steps")] != "arena 128 bytes, 2 steps" {
		t.Errorf("want one 96-byte buffer and two steps:\n%s", sum)
	}
}

func TestZeroCopyConcatWithAnAliasedOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(54, 54))
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 2, 3, 3)}, outputs: []string{"y"},
		nodes: []*ir.Node{
			nd("Relu", []string{"x"}, []string{"a"}),
			nd("LeakyRelu", []string{"x"}, []string{"b"}),
			nd("Concat", []string{"a", "b"}, []string{"c"}, ir.IntAttr("axis", 1)),
			nd("Flatten", []string{"c"}, []string{"f"}),
			nd("Relu", []string{"f"}, []string{"y"}),
		}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, 1, 2, 3, 3)}, 0)
	if strings.Contains(sum, "Concat") {
		t.Errorf("want a zero-copy concat:\n%s", sum)
	}
}

func TestFastTransposeMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(52, 52))
	for _, c := range []struct {
		shape []int
		perm  []int64 // nil: the default (reversed axes)
	}{
		{[]int{1, 6, 40, 30}, []int64{0, 2, 3, 1}}, // NCHW to NHWC
		{[]int{2, 5, 4, 3}, []int64{0, 2, 3, 1}},
		{[]int{2, 3, 4}, nil},
		{[]int{7, 9}, []int64{1, 0}},
		{[]int{7, 9}, []int64{0, 1}},
		{[]int{1, 1, 1}, []int64{2, 0, 1}},
		{[]int{3, 1, 4, 1, 5}, []int64{4, 3, 2, 1, 0}},
		{[]int{2, 3, 4, 5, 6, 2}, []int64{5, 1, 3, 0, 4, 2}},
		{[]int{2, 3, 4, 5}, []int64{0, 1, 3, 2}},
		{[]int{2, 0, 4}, []int64{2, 1, 0}},
		{[]int{}, nil},
		{[]int{5}, nil},
	} {
		t.Run(fmt.Sprintf("%v_perm%v", c.shape, c.perm), func(t *testing.T) {
			var attrs []*ir.Attr
			if c.perm != nil {
				attrs = append(attrs, ir.IntsAttr("perm", c.perm))
			}
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, c.shape...)}, outputs: []string{"y"},
				nodes: []*ir.Node{
					nd("Relu", []string{"x"}, []string{"r"}),
					nd("Transpose", []string{"r"}, []string{"t"}, attrs...),
					nd("Relu", []string{"t"}, []string{"y"}),
				}}
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, c.shape...)}, 0)
			wantSteps(t, sum, "fast Transpose")
		})
	}
}

func TestFastTransposeOfIntegersAndBools(t *testing.T) {
	b, _ := ir.FromSlice([]int{2, 3}, []bool{true, false, false, true, true, false})
	a, _ := ir.FromInt64([]int{2, 3}, []int64{1, 2, 3, 4, 5, 6})
	g := graphSpec{inputs: []*ir.ValueInfo{in("a", ir.Int64, 2, 3), in("p", ir.Bool, 2, 3)},
		outputs: []string{"y", "z"},
		nodes: []*ir.Node{
			nd("Transpose", []string{"a"}, []string{"c"}),
			nd("Neg", []string{"c"}, []string{"y"}),
			nd("Transpose", []string{"p"}, []string{"d"}, ir.IntsAttr("perm", []int64{1, 0})),
			nd("Not", []string{"d"}, []string{"z"}),
		}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"a": a, "p": b}, 0)
	wantSteps(t, sum, "fast Transpose", "fast Transpose", "ref Neg", "ref Not")
}

func TestFastSliceMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 53))
	for _, c := range []struct {
		shape                     []int
		starts, ends, axes, steps []int64 // axes, steps nil: omitted
	}{
		{[]int{1, 4420, 4}, []int64{0}, []int64{2}, []int64{2}, nil}, // UltraFace's box decoding
		{[]int{1, 4420, 4}, []int64{2}, []int64{4}, []int64{-1}, nil},
		{[]int{5, 6, 7}, []int64{1, 2}, []int64{4, 6}, nil, nil},
		{[]int{5, 6, 7}, []int64{-1, 0, 1}, []int64{-4, 6, 7}, []int64{0, 1, 2}, []int64{-1, 2, 3}},
		{[]int{5, 6, 7}, []int64{10}, []int64{-10}, []int64{1}, []int64{-2}},
		{[]int{5, 6, 7}, []int64{3}, []int64{3}, []int64{2}, nil}, // empty
		{[]int{5, 6, 7}, []int64{0}, []int64{math.MaxInt64}, []int64{-2}, []int64{1}},
		{[]int{8}, []int64{math.MaxInt64}, []int64{math.MinInt64}, []int64{0}, []int64{-1}},
		{[]int{2, 3, 4, 5, 6}, []int64{1, 1, 1}, []int64{3, 4, 5}, []int64{1, 2, 4}, []int64{1, 2, 2}},
		{[]int{3, 4}, []int64{2, 3}, []int64{3, 4}, nil, nil}, // one element
	} {
		t.Run(fmt.Sprintf("%v_%v_%v_%v_%v", c.shape, c.starts, c.ends, c.axes, c.steps), func(t *testing.T) {
			g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, c.shape...)}, outputs: []string{"y"},
				inits: map[string]*ir.Tensor{"s": i64s(c.starts...), "e": i64s(c.ends...)}}
			ins := []string{"r", "s", "e"}
			if c.axes != nil || c.steps != nil {
				g.inits["a"] = i64s(c.axes...)
				ins = append(ins, "a")
			}
			if c.steps != nil {
				g.inits["p"] = i64s(c.steps...)
				ins = append(ins, "p")
			}
			g.nodes = []*ir.Node{
				nd("Relu", []string{"x"}, []string{"r"}),
				nd("Slice", ins, []string{"t"}),
				nd("Relu", []string{"t"}, []string{"y"}),
			}
			sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rng, c.shape...)}, 0)
			wantSteps(t, sum, "fast Slice")
		})
	}
}

func TestSliceWithRuntimeBoundsRunsTheReference(t *testing.T) {
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 4, 5), in("s", ir.Int64, 1)}, outputs: []string{"y"},
		inits: map[string]*ir.Tensor{"e": i64s(4)},
		nodes: []*ir.Node{nd("Slice", []string{"x", "s", "e"}, []string{"t"}), nd("Relu", []string{"t"}, []string{"y"})}}
	sum := checkPlanned(t, g, map[string]*ir.Tensor{"x": randF32(rand.New(rand.NewPCG(54, 54)), 4, 5), "s": i64s(1)}, 0)
	if strings.Contains(sum, "fast Slice") {
		t.Errorf("a Slice with run-time bounds ran a fast kernel:\n%s", sum)
	}
}

// An alias op whose output is a graph output copies into the output's own
// buffer, with no allocation beyond the output (a classifier's final
// Flatten, a detector's final Reshape).
func TestAliasOpAsGraphOutputCopies(t *testing.T) {
	g := graphSpec{inputs: []*ir.ValueInfo{in("x", ir.Float32, 1, 6, 4, 2)}, outputs: []string{"y", "z"},
		inits: map[string]*ir.Tensor{"shape": i64s(1, -1, 2)},
		nodes: []*ir.Node{
			nd("Relu", []string{"x"}, []string{"r"}),
			nd("Flatten", []string{"r"}, []string{"y"}),
			nd("Reshape", []string{"r", "shape"}, []string{"z"}),
		}}
	feeds := map[string]*ir.Tensor{"x": randF32(rand.New(rand.NewPCG(55, 55)), 1, 6, 4, 2)}
	sum := checkPlanned(t, g, feeds, 0)
	wantSteps(t, sum, "fast Flatten", "fast Reshape")
	s, err := NewSession(g.model(), &Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	runSession(t, s, feeds)
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop arenas on purpose; allocation counts are checked without -race")
	}
	allocs := testing.AllocsPerRun(20, func() { runSession(t, s, feeds) })
	// Per output the Tensor, its shape, its data and the data boxed in an
	// interface; plus the result slice.
	if allocs > 9 {
		t.Errorf("a steady-state run allocates %v times, want at most 9", allocs)
	}
}
