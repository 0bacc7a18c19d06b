package graphopt_test

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/runtime"
)

// gb builds small test graphs: random float32 weights, one output per node.
type gb struct {
	g   *ir.Graph
	rng *rand.Rand
	k   int
}

func newGB(name string) *gb {
	return &gb{g: ir.NewGraph(name), rng: rand.New(rand.NewSource(int64(len(name))))}
}

// input declares a float32 input; a dimension -1 is the symbolic "N".
func (b *gb) input(name string, dims ...int) string {
	s := ir.Shape{Ranked: true}
	for _, d := range dims {
		if d < 0 {
			s.Dims = append(s.Dims, ir.SymDim("N"))
		} else {
			s.Dims = append(s.Dims, ir.KnownDim(int64(d)))
		}
	}
	b.g.Inputs = append(b.g.Inputs, &ir.ValueInfo{Name: name, DType: ir.Float32, Shape: s})
	return name
}

// w adds a random float32 initializer in [lo, lo+1).
func (b *gb) w(name string, lo float32, shape ...int) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	for i := range data {
		data[i] = lo + b.rng.Float32()
	}
	t, _ := ir.FromFloat32(shape, data)
	b.g.Initializers[name] = t
	return name
}

func (b *gb) f32(name string, shape []int, v ...float32) string {
	t, _ := ir.FromFloat32(shape, v)
	b.g.Initializers[name] = t
	return name
}

func (b *gb) i64(name string, shape []int, v ...int64) string {
	t, _ := ir.FromInt64(shape, v)
	b.g.Initializers[name] = t
	return name
}

func (b *gb) node(op string, ins []string, attrs ...*ir.Attr) string {
	b.k++
	out := fmt.Sprintf("%s_%d", strings.ToLower(op), b.k)
	n := &ir.Node{Name: fmt.Sprintf("n%d", b.k), Op: op, Inputs: ins, Outputs: []string{out}, Attrs: map[string]*ir.Attr{}}
	for _, a := range attrs {
		n.Attrs[a.Name] = a
	}
	b.g.Nodes = append(b.g.Nodes, n)
	return out
}

// conv adds a c→m 3×3 Conv with padding 1 and a bias.
func (b *gb) conv(x string, c, m int) string {
	b.k++
	w := b.w(fmt.Sprintf("w%d", b.k), -0.5, m, c, 3, 3)
	bias := b.w(fmt.Sprintf("b%d", b.k), -0.5, m)
	return b.node("Conv", []string{x, w, bias}, ir.IntsAttr("pads", []int64{1, 1, 1, 1}))
}

func (b *gb) output(names ...string) *ir.Graph {
	for _, n := range names {
		b.g.Outputs = append(b.g.Outputs, &ir.ValueInfo{Name: n, DType: ir.Float32})
	}
	return b.g
}

type passFunc func(*ir.Graph, *graphopt.Env) (bool, error)

func noEnv(f func(*ir.Graph) (bool, error)) passFunc {
	return func(g *ir.Graph, _ *graphopt.Env) (bool, error) { return f(g) }
}

var deadPass = noEnv(graphopt.EliminateDead)

// passCase is one golden test: a graph, the passes to run (in order, once),
// and what to check beyond the golden dump and numerical equivalence.
type passCase struct {
	name   string
	build  func() *ir.Graph
	passes []passFunc
	// tol bounds the reference outputs' difference (relative to the
	// largest magnitude); planned runs of the result get 10× more.
	tol   float64
	check func(t *testing.T, ops map[string]int)
}

func opsOf(g *ir.Graph) map[string]int {
	m := map[string]int{}
	for _, n := range g.Nodes {
		m[n.Op]++
	}
	return m
}

func runPassCase(t *testing.T, c passCase) {
	g := c.build()
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	env := runtime.OptimizerEnv(0)
	opt := g.Clone()
	changed := false
	for _, p := range c.passes {
		ch, err := p(opt, env)
		if err != nil {
			t.Fatal(err)
		}
		changed = changed || ch
	}
	if !changed {
		t.Error("the passes report no change")
	}
	if err := opt.Validate(); err != nil {
		t.Fatalf("optimized graph is invalid: %v\n%s", err, dump(t, opt))
	}
	golden(t, c.name, "# before\n"+dump(t, g)+"# after\n"+dump(t, opt))
	if c.check != nil {
		c.check(t, opsOf(opt))
	}
	for seed := int64(1); seed <= 3; seed++ {
		feeds := randomFeeds(g, rand.New(rand.NewSource(seed)))
		before := runGraph(t, g, feeds, false)
		closeOutputs(t, before, runGraph(t, opt, feeds, false), c.tol)
		closeOutputs(t, before, runGraph(t, opt, feeds, true), max(10*c.tol, 1e-5))
	}
}

func TestPasses(t *testing.T) {
	for _, c := range passCases() {
		t.Run(c.name, func(t *testing.T) { runPassCase(t, c) })
	}
}

func want(t *testing.T, ops map[string]int, want map[string]int) {
	t.Helper()
	for op, n := range want {
		if ops[op] != n {
			t.Errorf("%d %s nodes, want %d (all: %v)", ops[op], op, n, ops)
		}
	}
}

func passCases() []passCase {
	fold := []passFunc{graphopt.FoldConstants, deadPass}
	return []passCase{
		{name: "fold_constants_shape_chain", passes: fold, build: func() *ir.Graph {
			// The torch flatten: Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])).
			b := newGB("shape_chain")
			x := b.input("x", 1, 3, 4, 4)
			s := b.node("Shape", []string{x})
			g0 := b.node("Gather", []string{s, b.i64("zero", nil, 0)}, ir.IntAttr("axis", 0))
			u := b.node("Unsqueeze", []string{g0, b.i64("axes", []int{1}, 0)})
			c := b.node("Concat", []string{u, b.i64("minus_one", []int{1}, -1)}, ir.IntAttr("axis", 0))
			r := b.node("Reshape", []string{x, c})
			// A constant branch: bias = c1 * 2 + c2.
			m := b.node("Mul", []string{b.w("c1", 0, 48), b.f32("two", nil, 2)})
			bias := b.node("Add", []string{m, b.w("c2", 0, 48)})
			return b.output(b.node("Add", []string{b.node("Relu", []string{r}), bias}))
		}, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"Shape": 0, "Gather": 0, "Concat": 0, "Reshape": 1, "Relu": 1, "Add": 1, "Mul": 0})
		}},
		{name: "fold_constants_symbolic_batch", passes: fold, build: func() *ir.Graph {
			// The batch is symbolic: Shape(x)[0] stays, Shape(x, start=1) folds.
			b := newGB("symbolic")
			x := b.input("x", -1, 3, 4, 4)
			g0 := b.node("Gather", []string{b.node("Shape", []string{x}), b.i64("zero", nil, 0)}, ir.IntAttr("axis", 0))
			u := b.node("Unsqueeze", []string{g0, b.i64("axes", []int{1}, 0)})
			c := b.node("Concat", []string{u, b.i64("minus_one", []int{1}, -1)}, ir.IntAttr("axis", 0))
			r := b.node("Reshape", []string{x, c})
			tail := b.node("Shape", []string{x}, ir.IntAttr("start", 1))
			ch := b.node("Gather", []string{tail, b.i64("zero2", nil, 0)}, ir.IntAttr("axis", 0))
			c2 := b.node("Concat", []string{u, b.node("Unsqueeze", []string{ch, "axes"}), "minus_one"}, ir.IntAttr("axis", 0))
			return b.output(b.node("Reshape", []string{r, c2}))
		}, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"Shape": 1, "Gather": 1, "Unsqueeze": 1, "Concat": 2, "Reshape": 2})
		}},
		{name: "fold_constants_size_cap", passes: fold, build: func() *ir.Graph {
			// ConstantOfShape to 300×300 (over the cap) stays; a Transpose of
			// 400×300 weights (over the cap but no larger than its input) folds.
			b := newGB("cap")
			x := b.input("x", 300, 300)
			one, _ := ir.FromFloat32([]int{1}, []float32{1})
			big := b.node("ConstantOfShape", []string{b.i64("shape", []int{2}, 300, 300)}, &ir.Attr{Name: "value", Type: ir.AttrTensor, T: one})
			y := b.node("Add", []string{x, big})
			wt := b.node("Transpose", []string{b.w("w", -0.5, 400, 300)}, ir.IntsAttr("perm", []int64{1, 0}))
			return b.output(b.node("MatMul", []string{y, wt}))
		}, tol: 1e-6, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"ConstantOfShape": 1, "Transpose": 0, "MatMul": 1})
		}},
		{name: "simplify_reshape", passes: []passFunc{graphopt.SimplifyReshape, graphopt.FoldConstants, deadPass}, build: func() *ir.Graph {
			// The flatten after a global pool with a symbolic batch, its Shape
			// taken before the pool (as in mobilenetv2-12); and one copying
			// dimension 1 from another tensor, which stays.
			b := newGB("reshape")
			x := b.input("x", -1, 8, 4, 4)
			p := b.node("GlobalAveragePool", []string{x})
			g0 := b.node("Gather", []string{b.node("Shape", []string{x}), b.i64("zero", nil, 0)}, ir.IntAttr("axis", 0))
			u := b.node("Unsqueeze", []string{g0, b.i64("axes", []int{1}, 0)})
			y := b.node("Reshape", []string{p, b.node("Concat", []string{u, b.i64("minus_one", []int{1}, -1)}, ir.IntAttr("axis", 0))})
			g1 := b.node("Gather", []string{b.node("Shape", []string{b.input("v", 1, 8)}), b.i64("one", []int{1}, 1)}, ir.IntAttr("axis", 0))
			z := b.node("Reshape", []string{p, b.node("Concat", []string{u, g1}, ir.IntAttr("axis", 0))})
			return b.output(y, z)
		}, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"Reshape": 2, "Shape": 1, "Gather": 1, "Concat": 1})
		}},
		{name: "eliminate_noop_pool", passes: []passFunc{noEnv(graphopt.EliminateNoopPool)}, build: func() *ir.Graph {
			b := newGB("pool")
			x := b.input("x", 1, 3, 6, 6)
			y := b.node("AveragePool", []string{x}, ir.IntsAttr("kernel_shape", []int64{1, 1}), ir.IntsAttr("strides", []int64{1, 1}))
			y = b.node("MaxPool", []string{y}, ir.IntsAttr("kernel_shape", []int64{1, 1}), ir.IntsAttr("pads", []int64{0, 0, 0, 0}))
			y = b.node("MaxPool", []string{y}, ir.IntsAttr("kernel_shape", []int64{2, 2}))
			y = b.node("AveragePool", []string{y}, ir.IntsAttr("kernel_shape", []int64{1, 1}), ir.IntsAttr("strides", []int64{2, 2}))
			return b.output(y)
		}, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"MaxPool": 1, "AveragePool": 1})
		}},
		{name: "fold_batchnorm_conv", passes: []passFunc{graphopt.FoldBatchNorm, deadPass}, build: func() *ir.Graph {
			b := newGB("bn_conv")
			y := b.conv(b.input("x", 1, 3, 6, 6), 3, 4)
			bn := b.node("BatchNormalization", []string{y, b.w("gamma", 0.5, 4), b.w("beta", -0.5, 4), b.w("mean", -0.5, 4), b.w("var", 0.1, 4)},
				ir.FloatAttr("epsilon", 1e-3))
			return b.output(bn)
		}, tol: 1e-5, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"BatchNormalization": 0, "Conv": 1})
		}},
		{name: "fold_batchnorm_gemm", passes: []passFunc{graphopt.FoldBatchNorm, deadPass}, build: func() *ir.Graph {
			b := newGB("bn_gemm")
			x := b.input("x", 2, 5)
			g1 := b.node("Gemm", []string{x, b.w("w1", -0.5, 6, 5), b.w("c1", -0.5, 6)}, ir.IntAttr("transB", 1), ir.FloatAttr("beta", 0.5))
			bn1 := b.node("BatchNormalization", []string{g1, b.w("g1", 0.5, 6), b.w("b1", -0.5, 6), b.w("m1", -0.5, 6), b.w("v1", 0.1, 6)})
			g2 := b.node("Gemm", []string{bn1, b.w("w2", -0.5, 6, 3)}, ir.FloatAttr("alpha", 2))
			bn2 := b.node("BatchNormalization", []string{g2, b.w("g2", 0.5, 3), b.w("b2", -0.5, 3), b.w("m2", -0.5, 3), b.w("v2", 0.1, 3)})
			return b.output(bn2)
		}, tol: 1e-5, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"BatchNormalization": 0, "Gemm": 2})
		}},
		{name: "fold_batchnorm_lone", passes: []passFunc{graphopt.FoldBatchNorm, deadPass}, build: func() *ir.Graph {
			// After a Relu, and after a Conv whose output has another reader:
			// both become Mul + Add.
			b := newGB("bn_lone")
			r := b.node("Relu", []string{b.input("x", 1, 3, 4, 4)})
			bn1 := b.node("BatchNormalization", []string{r, b.w("g1", 0.5, 3), b.w("b1", -0.5, 3), b.w("m1", -0.5, 3), b.w("v1", 0.1, 3)})
			c := b.conv(bn1, 3, 2)
			bn2 := b.node("BatchNormalization", []string{c, b.w("g2", 0.5, 2), b.w("b2", -0.5, 2), b.w("m2", -0.5, 2), b.w("v2", 0.1, 2)})
			return b.output(bn2, b.node("Sigmoid", []string{c}))
		}, tol: 1e-5, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"BatchNormalization": 0, "Mul": 2, "Add": 2, "Conv": 1})
		}},
		{name: "absorb_scale_shift", passes: []passFunc{graphopt.AbsorbScaleShift, deadPass}, build: func() *ir.Graph {
			b := newGB("scale_shift")
			x := b.input("x", 1, 3, 5, 6)
			y := b.conv(x, 3, 4)
			y = b.node("Mul", []string{y, b.w("s1", 0.5, 4, 1, 1)})
			y = b.node("Add", []string{b.w("s2", -0.5, 1, 4, 1, 1), y})
			y = b.node("Sub", []string{y, b.f32("s3", nil, 0.25)})
			y = b.node("Div", []string{y, b.w("s4", 1, 4, 1, 1)})
			// Per column, not per channel: stays.
			z := b.node("Mul", []string{b.conv(x, 3, 2), b.w("s5", 0.5, 1, 1, 1, 6)})
			// Gemm: per-column scale and shift.
			h := b.node("Gemm", []string{b.input("v", 2, 5), b.w("gw", -0.5, 5, 3)})
			h = b.node("Mul", []string{h, b.w("s6", 0.5, 3)})
			h = b.node("Add", []string{h, b.w("s7", -0.5, 1, 3)})
			return b.output(y, z, h)
		}, tol: 1e-5, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"Conv": 2, "Gemm": 1, "Mul": 1, "Add": 0, "Sub": 0, "Div": 0})
		}},
		{name: "fuse_conv_activation", passes: []passFunc{graphopt.FuseConvActivation}, build: func() *ir.Graph {
			b := newGB("conv_act")
			y := b.input("x", 1, 4, 6, 6)
			y = b.node("Relu", []string{b.conv(y, 4, 4)})
			y = b.node("Clip", []string{b.conv(y, 4, 4), b.f32("zero", nil, 0), b.f32("six", nil, 6)})
			y = b.node("LeakyRelu", []string{b.conv(y, 4, 4)}, ir.FloatAttr("alpha", 0.1))
			y = b.node("HardSigmoid", []string{b.conv(y, 4, 4)}, ir.FloatAttr("alpha", 0.3), ir.FloatAttr("beta", 0.4))
			y = b.node("HardSwish", []string{b.conv(y, 4, 4)})
			y = b.node("Sigmoid", []string{b.conv(y, 4, 4)})
			c := b.conv(y, 4, 4)
			y = b.node("Mul", []string{c, b.node("HardSigmoid", []string{c}, ir.FloatAttr("alpha", float32(1.0/6)), ir.FloatAttr("beta", 0.5))})
			c = b.conv(y, 4, 4)
			y = b.node("Mul", []string{b.node("Sigmoid", []string{c}), c})
			// The Conv's output is also a graph output: not fused.
			c = b.conv(y, 4, 4)
			return b.output(b.node("Relu", []string{c}), c)
		}, tol: 1e-6, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"FusedConv": 8, "Conv": 1, "Relu": 1, "Mul": 0, "Sigmoid": 0, "HardSigmoid": 0})
		}},
		{name: "fuse_conv_add", passes: []passFunc{graphopt.FuseConvAdd, graphopt.FuseConvActivation}, build: func() *ir.Graph {
			// A residual block (Conv+Add+Relu), a Conv+Add without
			// activation, and an Add that broadcasts (not fused).
			b := newGB("conv_add")
			x := b.input("x", 1, 4, 6, 6)
			a := b.node("Relu", []string{b.conv(x, 4, 4)})
			y := b.node("Relu", []string{b.node("Add", []string{b.conv(a, 4, 4), a})})
			y = b.node("Add", []string{y, b.conv(y, 4, 4)})
			z := b.node("Add", []string{b.conv(y, 4, 4), b.input("bias", 1, 4, 1, 1)})
			return b.output(z)
		}, tol: 1e-6, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"FusedConv": 3, "Conv": 1, "Add": 1, "Relu": 0})
		}},
		{name: "fuse_conv_add_symbolic_batch", passes: []passFunc{graphopt.FuseConvAdd, graphopt.FuseConvActivation}, build: func() *ir.Graph {
			b := newGB("conv_add_n")
			x := b.input("x", -1, 4, 6, 6)
			a := b.node("Relu", []string{b.conv(x, 4, 4)})
			return b.output(b.node("Relu", []string{b.node("Add", []string{a, b.conv(a, 4, 4)})}))
		}, tol: 1e-6, check: func(t *testing.T, ops map[string]int) {
			want(t, ops, map[string]int{"FusedConv": 2, "Add": 0, "Relu": 0})
		}},
	}
}
