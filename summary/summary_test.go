package summary_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/summary"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// net builds test graphs: zero-filled weights (only their shapes matter).
type net struct {
	t *testing.T
	g *ir.Graph
}

func newNet(t *testing.T, input string, shape ir.Shape) *net {
	g := ir.NewGraph("test")
	g.Inputs = []*ir.ValueInfo{{Name: input, DType: ir.Float32, Shape: shape}}
	return &net{t, g}
}

// init adds a zero float initializer.
func (n *net) init(name string, shape ...int) string {
	t, err := ir.NewTensor(ir.Float32, shape)
	if err != nil {
		n.t.Fatal(err)
	}
	n.g.Initializers[name] = t
	return name
}

func (n *net) ints(name string, v ...int64) string {
	t, err := ir.FromInt64([]int{len(v)}, v)
	if err != nil {
		n.t.Fatal(err)
	}
	n.g.Initializers[name] = t
	return name
}

func (n *net) floats(name string, v ...float32) string {
	t, err := ir.FromFloat32([]int{len(v)}, v)
	if err != nil {
		n.t.Fatal(err)
	}
	n.g.Initializers[name] = t
	return name
}

// node adds a named node with one output named like the node.
func (n *net) node(op, name string, inputs []string, attrs ...*ir.Attr) string {
	nd := &ir.Node{Op: op, Name: name, Inputs: inputs, Outputs: []string{name}}
	for _, a := range attrs {
		nd.SetAttr(a)
	}
	n.g.Nodes = append(n.g.Nodes, nd)
	return name
}

func (n *net) output(name string) *ir.Model {
	n.g.Outputs = []*ir.ValueInfo{{Name: name, DType: ir.Float32}}
	return &ir.Model{Graph: n.g, Opsets: map[string]int64{"": 21}}
}

func ints(v ...int64) []int64 { return v }

// alexNetLike is torchvision's AlexNet features (exact shapes) with a small
// classifier: Conv 11/4 p2, MaxPool 3/2, Conv 5 p2, MaxPool 3/2, three
// Conv 3 p1, MaxPool 3/2, Flatten, Gemm.
func alexNetLike(t *testing.T) *ir.Model {
	n := newNet(t, "input", ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("batch"), ir.KnownDim(3), ir.KnownDim(224), ir.KnownDim(224)}})
	conv := func(name, x string, cout, cin, k int, stride, pad int64) string {
		w := n.init(name+".w", cout, cin, k, k)
		b := n.init(name+".b", cout)
		c := n.node("Conv", name, []string{x, w, b},
			ir.IntsAttr("strides", ints(stride, stride)), ir.IntsAttr("pads", ints(pad, pad, pad, pad)))
		return n.node("Relu", name+".relu", []string{c})
	}
	pool := func(name, x string) string {
		return n.node("MaxPool", name, []string{x}, ir.IntsAttr("kernel_shape", ints(3, 3)), ir.IntsAttr("strides", ints(2, 2)))
	}
	x := conv("conv1", "input", 64, 3, 11, 4, 2)
	x = pool("pool1", x)
	x = conv("conv2", x, 192, 64, 5, 1, 2)
	x = pool("pool2", x)
	x = conv("conv3", x, 384, 192, 3, 1, 1)
	x = conv("conv4", x, 256, 384, 3, 1, 1)
	x = conv("conv5", x, 256, 256, 3, 1, 1)
	x = pool("pool5", x)
	x = n.node("Flatten", "flatten", []string{x})
	x = n.node("Gemm", "fc", []string{x, n.init("fc.w", 10, 256*6*6), n.init("fc.b", 10)}, ir.IntAttr("transB", 1))
	return n.output(x)
}

func layer(t *testing.T, s *summary.Summary, name string) summary.Layer {
	t.Helper()
	for _, l := range s.Layers {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("no layer %q", name)
	return summary.Layer{}
}

func TestAlexNetLastPoolSees195PixelsWithJump32(t *testing.T) {
	s, err := summary.Of(alexNetLike(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		layer      string
		shape      []int
		rf, jump   string
		params     int64
		macs       int64
		fieldKind  summary.FieldKind
		sizeNumber int64
	}{
		{"conv1", []int{1, 64, 55, 55}, "11", "4", 23296, 70276800, summary.Local, 11},
		{"pool1", []int{1, 64, 27, 27}, "19", "8", 0, 0, summary.Local, 19},
		{"conv2", []int{1, 192, 27, 27}, "51", "8", 307392, 223948800, summary.Local, 51},
		{"pool2", []int{1, 192, 13, 13}, "67", "16", 0, 0, summary.Local, 67},
		{"conv3", []int{1, 384, 13, 13}, "99", "16", 663936, 112140288, summary.Local, 99},
		{"conv4", []int{1, 256, 13, 13}, "131", "16", 884992, 149520384, summary.Local, 131},
		{"conv5", []int{1, 256, 13, 13}, "163", "16", 590080, 99680256, summary.Local, 163},
		{"pool5", []int{1, 256, 6, 6}, "195", "32", 0, 0, summary.Local, 195},
		{"flatten", []int{1, 9216}, "195", "32", 0, 0, summary.Local, 195},
		{"fc", []int{1, 10}, "all", "-", 92170, 92160, summary.All, 0},
	}
	for _, w := range want {
		l := layer(t, s, w.layer)
		if got := l.Outputs[0].Shape; ir.FormatShape(got) != ir.FormatShape(w.shape) {
			t.Errorf("%s: shape %v, want %v", w.layer, got, w.shape)
		}
		if l.Field.SizeString() != w.rf || l.Field.JumpString() != w.jump {
			t.Errorf("%s: rf %s jump %s, want %s and %s", w.layer, l.Field.SizeString(), l.Field.JumpString(), w.rf, w.jump)
		}
		if l.Params != w.params || l.MACs != w.macs {
			t.Errorf("%s: %d params %d MACs, want %d and %d", w.layer, l.Params, l.MACs, w.params, w.macs)
		}
		if l.Field.Kind != w.fieldKind {
			t.Errorf("%s: field kind %v, want %v", w.layer, l.Field.Kind, w.fieldKind)
		}
		if w.fieldKind == summary.Local && (len(l.Field.Size) != 2 || l.Field.Size[0] != (summary.Frac{Num: w.sizeNumber, Den: 1})) {
			t.Errorf("%s: field %+v", w.layer, l.Field)
		}
	}
	// torchvision's AlexNet features: 2,469,696 parameters, 655,566,528 MACs.
	if want := int64(2469696 + 92170); s.Params != want {
		t.Errorf("total params %d, want %d", s.Params, want)
	}
	if want := int64(655566528 + 92160); s.MACs != want {
		t.Errorf("total MACs %d, want %d", s.MACs, want)
	}
	if got := s.Inputs[0].Shape; ir.FormatShape(got) != "[1,3,224,224]" {
		t.Errorf("symbolic batch not taken as 1: %v", got)
	}
}

// tiny is the golden model: a shared bias through Identity, a plain, a
// depthwise strided and an asymmetric convolution, pooling, a transposed
// convolution, a nearest resize, a concatenation of two branches with
// different fields, global pooling, a fully connected layer and an unused
// initializer.
func tiny(t *testing.T) *ir.Model {
	n := newNet(t, "x", ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(3), ir.KnownDim(8), ir.KnownDim(8)}})
	b := n.node("Identity", "shared_bias", []string{n.init("b", 4)})
	c1 := n.node("Conv", "conv", []string{"x", n.init("w1", 4, 3, 3, 3), b}, ir.IntsAttr("pads", ints(1, 1, 1, 1)))
	r := n.node("Relu", "relu", []string{c1})
	dw := n.node("Conv", "depthwise", []string{r, n.init("w2", 4, 1, 3, 3), b},
		ir.IntAttr("group", 4), ir.IntsAttr("strides", ints(2, 2)), ir.IntsAttr("pads", ints(1, 1, 1, 1)))
	p := n.node("MaxPool", "pool", []string{dw}, ir.IntsAttr("kernel_shape", ints(2, 2)), ir.IntsAttr("strides", ints(2, 2)))
	up := n.node("ConvTranspose", "deconv", []string{p, n.init("w3", 4, 2, 4, 4)},
		ir.IntsAttr("strides", ints(2, 2)), ir.IntsAttr("pads", ints(1, 1, 1, 1)))
	rs := n.node("Resize", "resize", []string{up, "", n.floats("scales", 1, 1, 2, 2)})
	cat := n.node("Concat", "concat", []string{rs, r}, ir.IntAttr("axis", 1))
	c4 := n.node("Conv", "wide", []string{cat, n.init("w4", 2, 6, 1, 3)}, ir.IntsAttr("pads", ints(0, 1, 0, 1)))
	gp := n.node("GlobalAveragePool", "gap", []string{c4})
	f := n.node("Flatten", "flatten", []string{gp})
	fc := n.node("Gemm", "fc", []string{f, n.init("w5", 3, 2), n.init("b5", 3)}, ir.IntAttr("transB", 1))
	n.init("unused", 5)
	n.ints("unused_ints", 1, 2)
	return n.output(fc)
}

func TestGoldenText(t *testing.T) {
	s, err := summary.Of(tiny(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "tiny.txt", buf.Bytes())
}

func TestGoldenDot(t *testing.T) {
	s, err := summary.Of(tiny(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.WriteDot(&buf); err != nil {
		t.Fatal(err)
	}
	golden(t, "tiny.dot", buf.Bytes())
	checkDot(t, buf.String(), len(s.Layers)+len(s.Inputs)+len(s.Outputs))
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./summary -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test ./summary -update rewrites it):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

var (
	dotNode = regexp.MustCompile(`^  ([A-Za-z_][A-Za-z0-9_]*) \[(.*)\];$`)
	dotEdge = regexp.MustCompile(`^  ([A-Za-z_][A-Za-z0-9_]*) -> ([A-Za-z_][A-Za-z0-9_]*)( \[.*\])?;$`)
)

// checkDot checks the DOT text's structure: a digraph, braces balanced
// outside strings, wantNodes node statements, every edge's endpoints
// declared; and, when Graphviz is installed, that dot accepts it.
func checkDot(t *testing.T, text string, wantNodes int) {
	t.Helper()
	if !strings.HasPrefix(text, "digraph ") {
		t.Errorf("not a digraph: %.40q", text)
	}
	depth, inString, escaped := 0, false, false
	for _, c := range text {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == '{':
			depth++
		case !inString && c == '}':
			depth--
			if depth < 0 {
				t.Fatal("unbalanced braces")
			}
		}
	}
	if depth != 0 || inString {
		t.Errorf("unbalanced braces (%d) or an open string (%v)", depth, inString)
	}
	declared := map[string]bool{}
	var edges [][2]string
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	for _, line := range lines[1 : len(lines)-1] {
		if m := dotEdge.FindStringSubmatch(line); m != nil {
			edges = append(edges, [2]string{m[1], m[2]})
			continue
		}
		if m := dotNode.FindStringSubmatch(line); m != nil {
			if m[1] != "node" && m[1] != "edge" {
				declared[m[1]] = true
			}
			continue
		}
		if strings.HasPrefix(line, "  rankdir=") {
			continue
		}
		t.Errorf("unexpected DOT line %q", line)
	}
	if len(declared) != wantNodes {
		t.Errorf("%d nodes declared, want %d", len(declared), wantNodes)
	}
	if len(edges) == 0 {
		t.Error("no edges")
	}
	for _, e := range edges {
		if !declared[e[0]] || !declared[e[1]] {
			t.Errorf("edge %s -> %s has an undeclared endpoint", e[0], e[1])
		}
	}
	if lines[len(lines)-1] != "}" {
		t.Errorf("last line %q, want }", lines[len(lines)-1])
	}
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Log("Graphviz dot not installed: skipping the render check")
		return
	}
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = strings.NewReader(text)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("dot rejects the graph: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(out.String(), "<svg") {
		t.Errorf("dot wrote no SVG: %.200q", out.String())
	}
}

func TestDotQuotesNames(t *testing.T) {
	n := newNet(t, `in"put\`, ir.ShapeOf(1, 1, 4, 4))
	x := n.node("Relu", "a \"quoted\" {name}\\", []string{`in"put\`})
	m := n.output(x)
	m.Graph.Name = `g{"}`
	s, err := summary.Of(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := s.WriteDot(&buf); err != nil {
		t.Fatal(err)
	}
	checkDot(t, buf.String(), 3)
}

func TestReceptiveFieldArithmetic(t *testing.T) {
	cases := []struct {
		name     string
		build    func(n *net) string
		rf, jump string
	}{
		{"dilated conv: r = 1 + (k-1)·d", func(n *net) string {
			return n.node("Conv", "y", []string{"x", n.init("w", 1, 1, 3, 3)}, ir.IntsAttr("dilations", ints(2, 3)))
		}, "5x7", "1"},
		{"strided pools multiply the jump", func(n *net) string {
			p := n.node("AveragePool", "p", []string{"x"}, ir.IntsAttr("kernel_shape", ints(2, 2)), ir.IntsAttr("strides", ints(2, 2)))
			return n.node("LpPool", "y", []string{p}, ir.IntsAttr("kernel_shape", ints(3, 3)), ir.IntsAttr("strides", ints(3, 1)))
		}, "6", "6x2"},
		{"pad passes the field through", func(n *net) string {
			c := n.node("Conv", "c", []string{"x", n.init("w", 1, 1, 3, 3)}, ir.IntsAttr("strides", ints(2, 2)))
			return n.node("Pad", "y", []string{c, n.ints("pads", 0, 0, 1, 1, 0, 0, 1, 1)})
		}, "3", "2"},
		{"transposed conv divides the jump", func(n *net) string {
			c := n.node("Conv", "c", []string{"x", n.init("w", 1, 1, 3, 3)}, ir.IntsAttr("strides", ints(4, 4)))
			// k=3, s=2: an output reads at most ⌈3/2⌉ = 2 inputs: 3 + 1·4 = 7.
			return n.node("ConvTranspose", "y", []string{c, n.init("wt", 1, 1, 3, 3)}, ir.IntsAttr("strides", ints(2, 2)))
		}, "7", "2"},
		{"upsampling makes fractional jumps", func(n *net) string {
			return n.node("ConvTranspose", "y", []string{"x", n.init("wt", 1, 1, 2, 2)}, ir.IntsAttr("strides", ints(2, 2)))
		}, "1", "1/2"},
		{"linear resize reads two taps", func(n *net) string {
			c := n.node("Conv", "c", []string{"x", n.init("w", 1, 1, 2, 2)}, ir.IntsAttr("strides", ints(2, 2)))
			// c: r 2, j 2 on a 8x8 map; upsampled to 16x16: r = 2 + 1·2 = 4, j = 1.
			return n.node("Resize", "y", []string{c, "", n.floats("scales", 1, 1, 2, 2)}, ir.StringAttr("mode", "linear"))
		}, "4", "1"},
		{"nearest downscale multiplies the jump", func(n *net) string {
			return n.node("Resize", "y", []string{"x", "", n.floats("scales", 1, 1, 0.5, 0.25)})
		}, "1", "2x4"},
		{"space to depth is a strided window", func(n *net) string {
			return n.node("SpaceToDepth", "y", []string{"x"}, ir.IntAttr("blocksize", 2))
		}, "2", "2"},
		{"depth to space divides the jump", func(n *net) string {
			s := n.node("SpaceToDepth", "s", []string{"x"}, ir.IntAttr("blocksize", 4))
			return n.node("DepthToSpace", "y", []string{s}, ir.IntAttr("blocksize", 2))
		}, "4", "2"},
		{"strided slice multiplies the jump", func(n *net) string {
			return n.node("Slice", "y", []string{"x", n.ints("st", 0), n.ints("en", 16), n.ints("ax", 3), n.ints("sp", 2)})
		}, "1", "1x2"},
		{"Add takes the larger field", func(n *net) string {
			a := n.node("Conv", "a", []string{"x", n.init("wa", 1, 1, 5, 5)}, ir.IntsAttr("pads", ints(2, 2, 2, 2)))
			b := n.node("Conv", "b", []string{"x", n.init("wb", 1, 1, 1, 3)}, ir.IntsAttr("pads", ints(0, 1, 0, 1)))
			return n.node("Add", "y", []string{a, b})
		}, "5", "1"},
		{"squeeze-and-excitation sees everything", func(n *net) string {
			g := n.node("GlobalAveragePool", "g", []string{"x"})
			s := n.node("Sigmoid", "s", []string{g})
			return n.node("Mul", "y", []string{"x", s})
		}, "all", "-"},
		{"a reduction over channels keeps the field", func(n *net) string {
			return n.node("ReduceMean", "y", []string{"x", n.ints("axes", 1)})
		}, "1", "1"},
		{"a reduction over a spatial axis sees everything", func(n *net) string {
			return n.node("ReduceMax", "y", []string{"x", n.ints("axes", -1)})
		}, "all", "-"},
		{"instance normalization sees everything", func(n *net) string {
			return n.node("InstanceNormalization", "y", []string{"x", n.floats("sc", 1), n.floats("bi", 0)})
		}, "all", "-"},
		{"shapes do not depend on the pixels", func(n *net) string {
			return n.node("Shape", "y", []string{"x"})
		}, "-", "-"},
		{"a channel softmax keeps the field", func(n *net) string {
			return n.node("Softmax", "y", []string{"x"}, ir.IntAttr("axis", 1))
		}, "1", "1"},
		{"a spatial softmax sees everything", func(n *net) string {
			return n.node("Softmax", "y", []string{"x"}, ir.IntAttr("axis", 3))
		}, "all", "-"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newNet(t, "x", ir.ShapeOf(1, 1, 16, 16))
			m := n.output(c.build(n))
			s, err := summary.Of(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			l := s.Layers[len(s.Layers)-1]
			if l.Field.SizeString() != c.rf || l.Field.JumpString() != c.jump {
				t.Errorf("rf %s jump %s, want %s and %s", l.Field.SizeString(), l.Field.JumpString(), c.rf, c.jump)
			}
		})
	}
}

func TestMACsAndParams(t *testing.T) {
	n := newNet(t, "x", ir.ShapeOf(2, 8, 10, 10))
	dw := n.node("Conv", "dw", []string{"x", n.init("w", 8, 1, 3, 3), n.init("b", 8)}, ir.IntAttr("group", 8), ir.IntsAttr("pads", ints(1, 1, 1, 1)))
	g := n.node("Conv", "grouped", []string{dw, n.init("wg", 16, 4, 1, 1)}, ir.IntAttr("group", 2))
	ct := n.node("ConvTranspose", "ct", []string{g, n.init("wt", 16, 3, 2, 2), n.init("bt", 3)}, ir.IntsAttr("strides", ints(2, 2)))
	f := n.node("Flatten", "f", []string{ct}) // [2, 1200]
	mm := n.node("MatMul", "mm", []string{f, n.init("wm", 1200, 7)})
	gm := n.node("Gemm", "gemm", []string{mm, n.init("wgm", 5, 7)}, ir.IntAttr("transB", 1)) // [2,5]
	sh := n.node("Identity", "alias", []string{"wgm"})
	out := n.node("Gemm", "gemm2", []string{gm, sh}) // [2,5]·[5,7]: the shared weight again
	s, err := summary.Of(n.output(out), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]int64{ // params, MACs
		"dw":      {8*9 + 8, 2 * 8 * 100 * 9},
		"grouped": {16 * 4, 2 * 16 * 100 * 4},
		"ct":      {16*3*4 + 3, 2 * 16 * 100 * 3 * 4},
		"f":       {0, 0},
		"mm":      {1200 * 7, 2 * 7 * 1200},
		"gemm":    {5 * 7, 2 * 5 * 7},
		"alias":   {0, 0},
		"gemm2":   {0, 2 * 7 * 5}, // the alias's initializer is counted at gemm
	}
	var total [2]int64
	for name, w := range want {
		l := layer(t, s, name)
		if l.Params != w[0] || l.MACs != w[1] {
			t.Errorf("%s: %d params %d MACs, want %d and %d", name, l.Params, l.MACs, w[0], w[1])
		}
		total[0] += w[0]
		total[1] += w[1]
	}
	if s.Params != total[0] || s.MACs != total[1] {
		t.Errorf("totals %d params %d MACs, want %d and %d", s.Params, s.MACs, total[0], total[1])
	}
}

func TestErrors(t *testing.T) {
	sym := func() *ir.Model {
		n := newNet(t, "x", ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(3), ir.SymDim("H"), ir.SymDim("W")}})
		return n.output(n.node("Relu", "y", []string{"x"}))
	}
	if _, err := summary.Of(sym(), nil); err == nil || !strings.Contains(err.Error(), "give its shape") {
		t.Errorf("symbolic spatial dimensions: %v", err)
	}
	s, err := summary.Of(sym(), map[string][]int{"x": {2, 3, 5, 7}})
	if err != nil {
		t.Fatal(err)
	}
	if got := ir.FormatShape(s.Layers[0].Outputs[0].Shape); got != "[2,3,5,7]" {
		t.Errorf("given shape not used: %s", got)
	}
	if _, err := summary.Of(sym(), map[string][]int{"z": {1}}); err == nil || !strings.Contains(err.Error(), `no input "z"`) {
		t.Errorf("unknown input: %v", err)
	}
	if _, err := summary.Of(sym(), map[string][]int{"x": {1, 3, 5}}); err == nil || !strings.Contains(err.Error(), "rank") {
		t.Errorf("wrong rank: %v", err)
	}
	if _, err := summary.Of(sym(), map[string][]int{"x": {1, 4, 5, 5}}); err == nil {
		t.Error("a shape against the declared channels was accepted")
	}
	if _, err := summary.Of(nil, nil); err == nil {
		t.Error("nil model accepted")
	}
	n := newNet(t, "x", ir.ShapeOf(1, 1, 2, 2))
	bad := n.output(n.node("Conv", "y", []string{"x", n.init("w", 1, 1, 3, 3)}))
	if _, err := summary.Of(bad, nil); err == nil || !strings.Contains(err.Error(), "Conv") {
		t.Errorf("a kernel larger than its input: %v", err)
	}
	n = newNet(t, "x", ir.ShapeOf(1, 1, 2, 2))
	unsupported := n.output(n.node("NoSuchOp", "y", []string{"x"}))
	if _, err := summary.Of(unsupported, nil); err == nil || !strings.Contains(err.Error(), "NoSuchOp") {
		t.Errorf("an unsupported op: %v", err)
	}
}

func TestFracAndFieldStrings(t *testing.T) {
	for _, c := range []struct {
		f    summary.Frac
		str  string
		ceil int64
	}{{summary.Frac{Num: 32, Den: 1}, "32", 32}, {summary.Frac{Num: 1, Den: 2}, "1/2", 1}, {summary.Frac{Num: 7, Den: 3}, "7/3", 3}} {
		if c.f.String() != c.str || c.f.Ceil() != c.ceil {
			t.Errorf("%+v: %s %d, want %s %d", c.f, c.f.String(), c.f.Ceil(), c.str, c.ceil)
		}
	}
	f := summary.Field{Kind: summary.Local, Size: []summary.Frac{{Num: 5, Den: 2}, {Num: 3, Den: 1}}, Jump: []summary.Frac{{Num: 1, Den: 2}, {Num: 1, Den: 2}}}
	if f.SizeString() != "3" || f.JumpString() != "1/2" {
		t.Errorf("%+v: %s %s", f, f.SizeString(), f.JumpString())
	}
	for kind, want := range map[summary.FieldKind]string{summary.NoField: "- -", summary.All: "all -", summary.Unknown: "? ?"} {
		f := summary.Field{Kind: kind}
		if got := f.SizeString() + " " + f.JumpString(); got != want {
			t.Errorf("kind %d: %q, want %q", kind, got, want)
		}
	}
	if got := summary.Thousands(61100840); got != "61,100,840" {
		t.Errorf("Thousands: %s", got)
	}
}

// The zoo's torchvision exports, when present (they are not part of CI).
func TestZooAlexNet(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip(err)
	}
	path := filepath.Join(home, ".cache", "runinfer-zoo", "alexnet", "model.onnx")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("skipping: %s not available", path)
	}
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := summary.Of(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Params != 61100840 || s.MACs != 714188480 {
		t.Errorf("%d params %d MACs, want 61100840 and 714188480", s.Params, s.MACs)
	}
	var lastPool summary.Layer
	for _, l := range s.Layers {
		if l.Op == "MaxPool" {
			lastPool = l
		}
	}
	if lastPool.Field.SizeString() != "195" || lastPool.Field.JumpString() != "32" {
		t.Errorf("last pooling: rf %s jump %s, want 195 and 32", lastPool.Field.SizeString(), lastPool.Field.JumpString())
	}
}
