package train

import (
	"context"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// graphBuilder makes small hand-built models.
type graphBuilder struct {
	t *testing.T
	g *ir.Graph
}

func newGraph(t *testing.T, in string, dims ...any) *graphBuilder {
	g := ir.NewGraph("test")
	g.Inputs = []*ir.ValueInfo{{Name: in, DType: ir.Float32, Shape: shapeOf(dims...)}}
	return &graphBuilder{t, g}
}

func shapeOf(dims ...any) ir.Shape {
	s := ir.Shape{Ranked: true}
	for _, d := range dims {
		switch v := d.(type) {
		case int:
			s.Dims = append(s.Dims, ir.KnownDim(int64(v)))
		case string:
			s.Dims = append(s.Dims, ir.SymDim(v))
		}
	}
	return s
}

func (b *graphBuilder) init(name string, shape []int, v []float32) string {
	b.t.Helper()
	if v == nil {
		n, _ := ir.NumElements(shape)
		v = make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(float64(i)*1.3+float64(len(name)))) * 0.5
		}
	}
	tt, err := ir.FromFloat32(shape, v)
	if err != nil {
		b.t.Fatal(err)
	}
	b.g.Initializers[name] = tt
	return name
}

func (b *graphBuilder) ints(name string, v ...int64) string {
	tt, err := ir.FromInt64([]int{len(v)}, v)
	if err != nil {
		b.t.Fatal(err)
	}
	b.g.Initializers[name] = tt
	return name
}

func (b *graphBuilder) node(op string, in []string, out string, attrs ...*ir.Attr) *ir.Node {
	n := &ir.Node{Name: out + "_node", Op: op, Inputs: in, Outputs: []string{out}}
	for _, a := range attrs {
		n.SetAttr(a)
	}
	b.g.Nodes = append(b.g.Nodes, n)
	return n
}

func (b *graphBuilder) model(out string, dims ...any) *ir.Model {
	b.g.Outputs = []*ir.ValueInfo{{Name: out, DType: ir.Float32, Shape: shapeOf(dims...)}}
	return &ir.Model{Graph: b.g, Opsets: map[string]int64{"": 21}, IRVersion: 10, Metadata: map[string]string{"runinfer.labels": `["a","b","c"]`, "other": "kept"}}
}

// run runs m on x through a session and returns its first output.
func run(t *testing.T, m *ir.Model, x *ir.Tensor) *ir.Tensor {
	t.Helper()
	s, err := runtime.NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*ir.Tensor{m.Graph.Inputs[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func randTensor(t testing.TB, rng *rand.Rand, shape ...int) *ir.Tensor {
	n, _ := ir.NumElements(shape)
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	x, err := ir.FromFloat32(shape, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func f32(t *ir.Tensor) []float32 { return t.F32() }

// linear64 computes y[n][c] = Σ_k x[n][k]·w(k, c) + b[c] in float64.
func linear64(x []float32, n, k, c int, w func(k, c int) float64, b []float32) []float64 {
	y := make([]float64, n*c)
	for i := range n {
		for j := range c {
			s := float64(b[j])
			for q := range k {
				s += float64(x[i*k+q]) * w(q, j)
			}
			y[i*c+j] = s
		}
	}
	return y
}

func closeTo(t *testing.T, what string, got []float32, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i])-want[i]) > 1e-4*(1+math.Abs(want[i])) {
			t.Fatalf("%s[%d] = %g, want %g", what, i, got[i], want[i])
		}
	}
}

func checkInit(t *testing.T, what string, v []float32, fanIn int) {
	t.Helper()
	bound := 1 / math.Sqrt(float64(fanIn))
	for _, x := range v {
		if math.Abs(float64(x)) > bound {
			t.Fatalf("%s value %g outside ±%g", what, x, bound)
		}
	}
}

func TestReplaceHeadGemm(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, transB := range []int64{0, 1} {
		b := newGraph(t, "x", "N", 4)
		var w string
		if transB == 1 {
			w = b.init("fc.weight", []int{3, 4}, nil)
		} else {
			w = b.init("fc.weight", []int{4, 3}, nil)
		}
		in := []string{"x", w}
		if transB == 1 {
			in = append(in, b.init("fc.bias", []int{3}, nil))
		}
		b.node("Gemm", in, "logits", ir.IntAttr("transB", transB), ir.FloatAttr("alpha", 2))
		b.node("Softmax", []string{"logits"}, "prob", ir.IntAttr("axis", -1))
		m := b.model("prob", "N", 3)
		m.Graph.ValueInfos["logits"] = &ir.ValueInfo{Name: "logits", DType: ir.Float32, Shape: shapeOf("N", 3)}
		h, err := FindHead(m.Graph)
		if err != nil {
			t.Fatal(err)
		}
		if h.Node.Op != "Gemm" || h.Weight != "fc.weight" || h.Features != 4 || h.Classes != 3 || len(h.After) != 1 || h.After[0].Op != "Softmax" {
			t.Fatalf("transB %d: head %+v", transB, h)
		}
		if wantBias := map[int64]string{0: "", 1: "fc.bias"}[transB]; h.Bias != wantBias {
			t.Errorf("bias %q, want %q", h.Bias, wantBias)
		}
		h, err = ReplaceHead(m, 5, rng)
		if err != nil {
			t.Fatal(err)
		}
		wt := m.Graph.Initializers[h.Weight]
		wantShape := []int{4, 5}
		if transB == 1 {
			wantShape = []int{5, 4}
		}
		if !reflect.DeepEqual(wt.Shape, wantShape) || m.Graph.Initializers[h.Bias].Len() != 5 || h.Classes != 5 {
			t.Fatalf("transB %d: new weight %v, bias %v", transB, wt.Shape, m.Graph.Initializers[h.Bias])
		}
		checkInit(t, "weight", wt.F32(), 4)
		checkInit(t, "bias", m.Graph.Initializers[h.Bias].F32(), 4)
		if got := m.Graph.Outputs[0].Shape.String(); got != shapeOf("N", 5).String() {
			t.Errorf("output shape %s", got)
		}
		if _, ok := m.Graph.ValueInfos["logits"]; ok {
			t.Error("the stale declaration of the logits was kept")
		}
		if _, ok := m.Metadata["runinfer.labels"]; ok || m.Metadata["other"] != "kept" {
			t.Errorf("metadata %v: want the labels dropped, the rest kept", m.Metadata)
		}
		x := randTensor(t, rng, 2, 4)
		wv := wt.F32()
		want := linear64(x.F32(), 2, 4, 5, func(k, c int) float64 {
			if transB == 1 {
				return float64(wv[c*4+k])
			}
			return float64(wv[k*5+c])
		}, m.Graph.Initializers[h.Bias].F32())
		// alpha is reset to 1; then the softmax.
		for i := range 2 {
			row := want[i*5 : i*5+5]
			mx := slices.Max(row)
			s := 0.0
			for j := range row {
				row[j] = math.Exp(row[j] - mx)
				s += row[j]
			}
			for j := range row {
				row[j] /= s
			}
		}
		closeTo(t, "gemm head output", f32(run(t, m, x)), want)
	}
}

func TestReplaceHeadMatMul(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// The MobileNetV2-12 shape: MatMul, Clip, Add(bias), Clip, Identity.
	for _, withBias := range []bool{true, false} {
		b := newGraph(t, "x", 2, 6)
		b.node("MatMul", []string{"x", b.init("w", []int{6, 10}, nil)}, "mm")
		b.init("lo", []int{}, []float32{-50})
		b.init("hi", []int{}, []float32{50})
		b.node("Clip", []string{"mm", "lo", "hi"}, "mmc")
		last := "mmc"
		if withBias {
			b.node("Add", []string{"mmc", b.init("bias", []int{1, 10}, nil)}, "biased")
			last = "biased"
		}
		b.node("Clip", []string{last, "lo", "hi"}, "clipped")
		b.node("Identity", []string{"clipped"}, "out")
		m := b.model("out", 2, 10)
		h, err := FindHead(m.Graph)
		if err != nil {
			t.Fatal(err)
		}
		if h.Node.Op != "MatMul" || h.Features != 6 || h.Classes != 10 || (h.Bias == "bias") != withBias {
			t.Fatalf("head %+v", h)
		}
		h, err = ReplaceHead(m, 3, rng)
		if err != nil {
			t.Fatal(err)
		}
		if h.Bias == "" || h.BiasAdd == nil {
			t.Fatal("no bias after ReplaceHead")
		}
		if err := m.Graph.Validate(); err != nil {
			t.Fatal(err)
		}
		checkInit(t, "weight", m.Graph.Initializers["w"].F32(), 6)
		x := randTensor(t, rng, 2, 6)
		wv := m.Graph.Initializers["w"].F32()
		want := linear64(x.F32(), 2, 6, 3, func(k, c int) float64 { return float64(wv[k*3+c]) }, m.Graph.Initializers[h.Bias].F32())
		closeTo(t, "matmul head output", f32(run(t, m, x)), want)
		if got := m.Graph.Outputs[0].Shape.String(); got != shapeOf(2, 3).String() {
			t.Errorf("output shape %s", got)
		}
	}
}

func TestReplaceHeadConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// A SqueezeNet-style tail: 1×1 Conv, Relu, GlobalAveragePool, a
	// Reshape to a constant [-1, 7].
	b := newGraph(t, "x", 1, 4, 3, 3)
	b.node("Conv", []string{"x", b.init("conv10.w", []int{7, 4, 1, 1}, nil), b.init("conv10.b", []int{7}, nil)}, "c")
	b.node("Relu", []string{"c"}, "r")
	b.node("GlobalAveragePool", []string{"r"}, "p")
	b.node("Reshape", []string{"p", b.ints("shape", -1, 7)}, "out")
	m := b.model("out", 1, 7)
	h, err := ReplaceHead(m, 2, rng)
	if err != nil {
		t.Fatal(err)
	}
	if h.Node.Op != "Conv" || h.Features != 4 || !reflect.DeepEqual(m.Graph.Initializers["conv10.w"].Shape, []int{2, 4, 1, 1}) {
		t.Fatalf("head %+v, weight %v", h, m.Graph.Initializers["conv10.w"].Shape)
	}
	if got := m.Graph.Initializers["shape"].I64(); !reflect.DeepEqual(got, []int64{-1, 2}) {
		t.Errorf("reshape constant %v, want [-1 2]", got)
	}
	x := randTensor(t, rng, 1, 4, 3, 3)
	wv, bv := m.Graph.Initializers["conv10.w"].F32(), m.Graph.Initializers["conv10.b"].F32()
	want := make([]float64, 2)
	for c := range 2 {
		for p := range 9 {
			s := float64(bv[c])
			for k := range 4 {
				s += float64(x.F32()[k*9+p]) * float64(wv[c*4+k])
			}
			want[c] += math.Max(s, 0) / 9
		}
	}
	closeTo(t, "conv head output", f32(run(t, m, x)), want)
}

func TestReplaceHeadInitDistribution(t *testing.T) {
	b := newGraph(t, "x", 1, 400)
	b.node("Gemm", []string{"x", b.init("w", []int{400, 2}, nil), b.init("b", []int{2}, nil)}, "out")
	m := b.model("out", 1, 2)
	if _, err := ReplaceHead(m, 300, rand.New(rand.NewPCG(7, 8))); err != nil {
		t.Fatal(err)
	}
	v := m.Graph.Initializers["w"].F32()
	bound := 1 / 20.0
	s, s2, hi := 0.0, 0.0, 0.0
	for _, x := range v {
		s += float64(x)
		s2 += float64(x) * float64(x)
		hi = math.Max(hi, math.Abs(float64(x)))
	}
	n := float64(len(v))
	mean, variance := s/n, s2/n-(s/n)*(s/n)
	// U(-b, b): mean 0, variance b²/3; 120000 draws.
	if math.Abs(mean) > 5*bound/math.Sqrt(3*n) || math.Abs(variance/(bound*bound/3)-1) > 0.02 || hi > bound || hi < 0.99*bound {
		t.Errorf("weights: mean %g, variance %g (want %g), max |w| %g (bound %g)", mean, variance, bound*bound/3, hi, bound)
	}
}

func TestFindHeadErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	cases := []struct {
		name  string
		build func(b *graphBuilder) *ir.Model
		want  string
	}{
		{"no layer", func(b *graphBuilder) *ir.Model {
			b.node("Relu", []string{"x"}, "out")
			return b.model("out", 1, 4)
		}, "no classifier layer"},
		{"3x3 conv", func(b *graphBuilder) *ir.Model {
			b.node("Conv", []string{"x", b.init("w", []int{3, 4, 3, 3}, nil)}, "out")
			return b.model("out", 1, 3, 1, 1)
		}, "only a 1×1 Conv"},
		{"grouped conv", func(b *graphBuilder) *ir.Model {
			b.node("Conv", []string{"x", b.init("w", []int{4, 2, 1, 1}, nil)}, "out", ir.IntAttr("group", 2))
			return b.model("out", 1, 4, 1, 1)
		}, "2 groups"},
		{"computed weight", func(b *graphBuilder) *ir.Model {
			b.node("Relu", []string{"x"}, "wx")
			b.node("MatMul", []string{"x", "wx"}, "out")
			return b.model("out", 1, 4)
		}, "no constant weight"},
		{"residual add", func(b *graphBuilder) *ir.Model {
			b.node("Relu", []string{"x"}, "a")
			b.node("Add", []string{"x", "a"}, "out")
			return b.model("out", 1, 4)
		}, "not the Add of a constant bias"},
		{"wrong-size bias", func(b *graphBuilder) *ir.Model {
			b.node("MatMul", []string{"x", b.init("w", []int{4, 3}, nil)}, "mm")
			b.node("Add", []string{"mm", b.init("b", []int{2}, nil)}, "out")
			return b.model("out", 1, 3)
		}, "not a bias"},
		{"shared weight", func(b *graphBuilder) *ir.Model {
			w := b.init("w", []int{4, 4}, nil)
			b.node("MatMul", []string{"x", w}, "h")
			b.node("MatMul", []string{"h", w}, "out")
			return b.model("out", 1, 4)
		}, "also read by"},
	}
	for _, c := range cases {
		m := c.build(newGraph(t, "x", 1, 4))
		if _, err := ReplaceHead(m, 2, rng); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error mentioning %q", c.name, err, c.want)
		}
	}
	b := newGraph(t, "x", 1, 4)
	b.node("Gemm", []string{"x", b.init("w", []int{4, 3}, nil)}, "out")
	m := b.model("out", 1, 3)
	for _, n := range []int{0, -1, MaxHeadClasses + 1} {
		if _, err := ReplaceHead(m, n, rng); err == nil {
			t.Errorf("%d classes: no error", n)
		}
	}
	if _, err := ReplaceHead(m, 2, nil); err == nil {
		t.Error("nil rng: no error")
	}
	// A weight too large to allocate is refused, not attempted.
	b = newGraph(t, "x", 1, 1<<20)
	b.node("MatMul", []string{"x", b.init("w", []int{1 << 20, 1}, make([]float32, 1<<20))}, "out")
	if _, err := ReplaceHead(b.model("out", 1, 1), MaxHeadClasses, rng); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("a 2^40-value head: %v", err)
	}
}

func TestReplaceHeadMobileNetV2(t *testing.T) {
	path := testenv.Shared(t, "models", "mobilenetv2-12", "model.onnx")
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := FindHead(m.Graph)
	if err != nil {
		t.Fatal(err)
	}
	// MatMul [1280,1000], Clip, Add(bias), Clip, Identity.
	if h.Node.Op != "MatMul" || h.Weight != "classifier.1.weight_float" || h.Bias != "classifier.1.bias_float" || h.Features != 1280 || h.Classes != 1000 {
		t.Fatalf("head: %s weight %q bias %q %d->%d", h.Node.Describe(), h.Weight, h.Bias, h.Features, h.Classes)
	}
	var ops []string
	for _, n := range h.After {
		ops = append(ops, n.Op)
	}
	if !reflect.DeepEqual(ops, []string{"Clip", "Add", "Clip", "Identity"}) {
		t.Errorf("after the head: %v", ops)
	}
	feat := h.Node.Input(0)
	h, err = ReplaceHead(m, 3, rand.New(rand.NewPCG(9, 9)))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Graph.Outputs[0].Shape.String(); got != shapeOf("batch_size", 3).String() {
		t.Errorf("output shape %s", got)
	}
	// Also output the features, to compute the head by hand.
	m.Graph.Outputs = append(m.Graph.Outputs, &ir.ValueInfo{Name: feat, DType: ir.Float32})
	s, err := runtime.NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	x := randTensor(t, rand.New(rand.NewPCG(1, 1)), 2, 3, 224, 224)
	out, err := s.Run(context.Background(), map[string]*ir.Tensor{"input": x})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out[0].Shape, []int{2, 3}) || !reflect.DeepEqual(out[1].Shape, []int{2, 1280}) {
		t.Fatalf("shapes %v %v", out[0].Shape, out[1].Shape)
	}
	g := m.Graph
	wv := g.Initializers[h.Weight].F32()
	clip := func(v float64, lo, hi string) float64 {
		return math.Min(math.Max(v, float64(g.Initializers[lo].F32()[0])), float64(g.Initializers[hi].F32()[0]))
	}
	want := linear64(out[1].F32(), 2, 1280, 3, func(k, c int) float64 { return float64(wv[k*3+c]) }, make([]float32, 3))
	for i := range want {
		v := clip(want[i], "output_MatMul_quantized_qmin", "output_MatMul_quantized_qmax")
		want[i] = clip(v+float64(g.Initializers[h.Bias].F32()[i%3]), "output_quantized_qmin", "output_quantized_qmax")
	}
	closeTo(t, "mobilenet new head", out[0].F32(), want)
}
