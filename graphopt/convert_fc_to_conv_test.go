package graphopt_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// fcShapesEnv is the runtime's optimizer Env: shapes by static inference at
// the declared input size, as runinfer fcn uses.
func fcShapesEnv() *graphopt.Env { return runtime.OptimizerEnv(0) }

// fcBuilder builds small test graphs with random weights.
type fcBuilder struct {
	g   *ir.Graph
	rng *rand.Rand
	n   int
}

func newFCBuilder(name string, inShape ...int) (*fcBuilder, string) {
	g := ir.NewGraph(name)
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.ShapeOf(inShape...)}}
	return &fcBuilder{g: g, rng: rand.New(rand.NewSource(int64(len(name))))}, "x"
}

// weight adds a random initializer (uniform in ±1/sqrt(fan-in) so that
// activations stay of order one).
func (b *fcBuilder) weight(name string, fanIn int, shape ...int) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	data := make([]float32, n)
	s := 1 / math.Sqrt(float64(fanIn))
	for i := range data {
		data[i] = float32((b.rng.Float64()*2 - 1) * s)
	}
	b.g.Initializers[name], _ = ir.FromFloat32(shape, data)
	return name
}

func (b *fcBuilder) ints(name string, v ...int64) string {
	b.g.Initializers[name], _ = ir.FromInt64([]int{len(v)}, v)
	return name
}

func (b *fcBuilder) index(name string, v int64) string {
	b.g.Initializers[name] = ir.Scalar(v)
	return name
}

func (b *fcBuilder) scalar(name string, v float32) string {
	b.g.Initializers[name] = ir.Scalar(v)
	return name
}

func (b *fcBuilder) node(op string, ins []string, attrs ...*ir.Attr) string {
	b.n++
	out := fmt.Sprintf("v%d", b.n)
	n := &ir.Node{Op: op, Inputs: ins, Outputs: []string{out}}
	for _, a := range attrs {
		n.SetAttr(a)
	}
	b.g.Nodes = append(b.g.Nodes, n)
	return out
}

func (b *fcBuilder) conv(x string, cin, cout, k int) string {
	b.n++
	w := b.weight(fmt.Sprintf("conv%d_w", b.n), cin*k*k, cout, cin, k, k)
	bias := b.weight(fmt.Sprintf("conv%d_b", b.n), 1, cout)
	return b.node("Conv", []string{x, w, bias}, ir.IntsAttr("kernel_shape", []int64{int64(k), int64(k)}))
}

// output makes value x, the output of the last node, the graph output name.
func (b *fcBuilder) output(x, name string, shape ...int) *ir.Graph {
	last := b.g.Nodes[len(b.g.Nodes)-1]
	if last.Outputs[0] != x {
		panic("output: " + x + " is not the last node's output")
	}
	last.Outputs[0] = name
	b.g.Outputs = []*ir.ValueInfo{{Name: name, DType: ir.Float32, Shape: ir.ShapeOf(shape...)}}
	return b.g
}

// backbone: conv 3x3 (3->4) + Relu + MaxPool 2/2 + conv 3x3 (4->4) + Relu,
// no padding: 14x14 -> 4x4 with a total stride of 2.
func (b *fcBuilder) backbone(x string) string {
	x = b.node("Relu", []string{b.conv(x, 3, 4, 3)})
	x = b.node("MaxPool", []string{x}, ir.IntsAttr("kernel_shape", []int64{2, 2}), ir.IntsAttr("strides", []int64{2, 2}))
	return b.node("Relu", []string{b.conv(x, 4, 4, 3)})
}

type fcCase struct {
	name  string
	build func() *ir.Graph
	moved bool // a 1x1 conv moves before the pool
	// global: a squeeze-and-excitation gate sees the whole input, so map
	// positions equal crops only at the declared size.
	global bool
}

func fcCases() []fcCase {
	return []fcCase{
		{name: "flatten_gemm_gemm_softmax", build: func() *ir.Graph {
			b, x := newFCBuilder("flatten_gemm_gemm_softmax", 1, 3, 14, 14)
			x = b.node("Flatten", []string{b.backbone(x)}, ir.IntAttr("axis", 1))
			x = b.node("Gemm", []string{x, b.weight("fc1_w", 64, 8, 64), b.weight("fc1_b", 1, 8)}, ir.IntAttr("transB", 1))
			x = b.node("Relu", []string{x})
			x = b.node("Dropout", []string{x})
			x = b.node("Gemm", []string{x, b.weight("fc2_w", 8, 8, 5), b.weight("fc2_b", 1, 1, 5)},
				ir.FloatAttr("alpha", 0.5), ir.FloatAttr("beta", 2))
			x = b.node("Softmax", []string{x}, ir.IntAttr("axis", -1))
			return b.output(x, "probs", 1, 5)
		}},
		{name: "reshape_const_0_minus1_matmul_add", build: func() *ir.Graph {
			b, x := newFCBuilder("reshape_const_0_minus1_matmul_add", 1, 3, 14, 14)
			x = b.node("Reshape", []string{b.backbone(x), b.ints("shape", 0, -1)})
			x = b.node("MatMul", []string{x, b.weight("fc1_w", 64, 64, 6)})
			x = b.node("Add", []string{b.weight("fc1_b", 1, 6), x})
			x = b.node("Relu", []string{x})
			x = b.node("MatMul", []string{x, b.weight("fc2_w", 6, 6, 5)})
			x = b.node("Add", []string{x, b.weight("fc2_b", 1, 1, 5)})
			return b.output(x, "logits", 1, 5)
		}},
		{name: "reshape_const_1_chw_gemm", build: func() *ir.Graph {
			b, x := newFCBuilder("reshape_const_1_chw_gemm", 1, 3, 14, 14)
			x = b.node("Reshape", []string{b.backbone(x), b.ints("shape", 1, 64)})
			x = b.node("Gemm", []string{x, b.weight("fc_w", 64, 5, 64), b.scalar("fc_b", 0.25)}, ir.IntAttr("transB", 1))
			return b.output(x, "logits", 1, 5)
		}},
		{name: "reshape_shape_computed_gemm", build: func() *ir.Graph {
			b, x := newFCBuilder("reshape_shape_computed_gemm", 1, 3, 14, 14)
			f := b.backbone(x)
			s := b.node("Shape", []string{f})
			s = b.node("Gather", []string{s, b.index("zero", 0)}, ir.IntAttr("axis", 0))
			s = b.node("Unsqueeze", []string{s, b.ints("axes0", 0)})
			s = b.node("Concat", []string{s, b.ints("minus1", -1)}, ir.IntAttr("axis", 0))
			x = b.node("Reshape", []string{f, s})
			x = b.node("Gemm", []string{x, b.weight("fc_w", 64, 5, 64), b.weight("fc_b", 1, 5)}, ir.IntAttr("transB", 1))
			return b.output(x, "logits", 1, 5)
		}},
		{name: "gap_flatten_gemm_imported_softmax", moved: true, build: func() *ir.Graph {
			// The Shape/Flatten/Softmax/Reshape chain is how the importer
			// writes an opset<13 Softmax.
			b, x := newFCBuilder("gap_flatten_gemm_imported_softmax", 1, 3, 14, 14)
			x = b.node("GlobalAveragePool", []string{b.backbone(x)})
			x = b.node("Flatten", []string{x}, ir.IntAttr("axis", 1))
			x = b.node("Gemm", []string{x, b.weight("fc_w", 4, 5, 4), b.weight("fc_b", 1, 5)}, ir.IntAttr("transB", 1))
			s := b.node("Shape", []string{x})
			x = b.node("Flatten", []string{x}, ir.IntAttr("axis", 1))
			x = b.node("Softmax", []string{x}, ir.IntAttr("axis", -1))
			x = b.node("Reshape", []string{x, s})
			return b.output(x, "probs", 1, 5)
		}},
		{name: "gap_clip_reshape_matmul_clip_add_clip", build: func() *ir.Graph {
			// mobilenetv2-12 (dequantized): a Clip between the pool and the
			// classifier keeps the convolution after the pool.
			b, x := newFCBuilder("gap_clip_reshape_matmul_clip_add_clip", 1, 3, 14, 14)
			f := b.backbone(x)
			x = b.node("GlobalAveragePool", []string{f})
			x = b.node("Clip", []string{x, b.scalar("lo0", 0), b.scalar("hi0", 0.3)})
			s := b.node("Shape", []string{f})
			s = b.node("Gather", []string{s, b.index("zero", 0)}, ir.IntAttr("axis", 0))
			s = b.node("Unsqueeze", []string{s, b.ints("axes0", 0)})
			s = b.node("Concat", []string{s, b.ints("minus1", -1)}, ir.IntAttr("axis", 0))
			x = b.node("Reshape", []string{x, s})
			x = b.node("MatMul", []string{x, b.weight("fc_w", 4, 4, 5)})
			x = b.node("Clip", []string{x, b.scalar("lo1", -0.2), b.scalar("hi1", 0.2)})
			x = b.node("Add", []string{x, b.weight("fc_b", 1, 5)})
			x = b.node("Clip", []string{x, b.scalar("lo2", -0.3), b.scalar("hi2", 0.3)})
			x = b.node("Identity", []string{x})
			return b.output(x, "output", 1, 5)
		}},
		{name: "reducemean_gemm", moved: true, build: func() *ir.Graph {
			b, x := newFCBuilder("reducemean_gemm", 1, 3, 14, 14)
			x = b.node("ReduceMean", []string{b.backbone(x), b.ints("axes", 2, 3)}, ir.IntAttr("keepdims", 0))
			x = b.node("Gemm", []string{x, b.weight("fc_w", 4, 5, 4), b.weight("fc_b", 1, 5)}, ir.IntAttr("transB", 1))
			return b.output(x, "logits", 1, 5)
		}},
		{name: "avgpool_covering_padded_reshape_gemm", moved: true, build: func() *ir.Graph {
			// light-inception-v1: a 5x5 average pool with end padding over a
			// 4x4 map (count_include_pad=0) is a global average.
			b, x := newFCBuilder("avgpool_covering_padded_reshape_gemm", 1, 3, 14, 14)
			x = b.node("AveragePool", []string{b.backbone(x)}, ir.IntsAttr("kernel_shape", []int64{5, 5}), ir.IntsAttr("pads", []int64{0, 0, 1, 1}))
			x = b.node("Dropout", []string{x})
			x = b.node("Reshape", []string{x, b.ints("shape", 1, 4)})
			x = b.node("Gemm", []string{x, b.weight("fc_w", 4, 5, 4), b.weight("fc_b", 1, 5)}, ir.IntAttr("transB", 1))
			return b.output(x, "logits", 1, 5)
		}},
		{name: "globalmaxpool_flatten_gemm", build: func() *ir.Graph {
			b, x := newFCBuilder("globalmaxpool_flatten_gemm", 1, 3, 14, 14)
			x = b.node("GlobalMaxPool", []string{b.backbone(x)})
			x = b.node("Flatten", []string{x}, ir.IntAttr("axis", 1))
			x = b.node("Gemm", []string{x, b.weight("fc_w", 4, 5, 4), b.weight("fc_b", 1, 5)}, ir.IntAttr("transB", 1))
			return b.output(x, "logits", 1, 5)
		}},
		{name: "gap_conv1x1", build: func() *ir.Graph {
			// light-densenet121: the classifier is a 1x1 convolution after
			// the pool, and the output stays 4-D.
			b, x := newFCBuilder("gap_conv1x1", 1, 3, 14, 14)
			x = b.node("GlobalAveragePool", []string{b.backbone(x)})
			x = b.conv(x, 4, 5, 1)
			return b.output(x, "scores", 1, 5, 1, 1)
		}},
		{name: "squeeze_excitation_then_gap_gemm", moved: true, global: true, build: func() *ir.Graph {
			// The SE block's pool is multiplied back into the map: it stays
			// global; only the head's pool becomes a window.
			b, x := newFCBuilder("squeeze_excitation_then_gap_gemm", 1, 3, 14, 14)
			f := b.backbone(x)
			s := b.node("GlobalAveragePool", []string{f})
			s = b.node("Relu", []string{b.conv(s, 4, 2, 1)})
			s = b.node("Sigmoid", []string{b.conv(s, 2, 4, 1)})
			x = b.node("Mul", []string{f, s})
			x = b.node("GlobalAveragePool", []string{x})
			x = b.node("Flatten", []string{x}, ir.IntAttr("axis", 1))
			x = b.node("Gemm", []string{x, b.weight("fc_w", 4, 5, 4), b.weight("fc_b", 1, 5)}, ir.IntAttr("transB", 1))
			return b.output(x, "logits", 1, 5)
		}},
	}
}

func fcRun(t *testing.T, g *ir.Graph, x *ir.Tensor) *ir.Tensor {
	t.Helper()
	s, err := runtime.NewSession(&ir.Model{Graph: g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*ir.Tensor{g.Inputs[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func fcRandomImage(rng *rand.Rand, c, h, w int) *ir.Tensor {
	t, _ := ir.NewTensor(ir.Float32, []int{1, c, h, w})
	for i := range t.F32() {
		t.F32()[i] = rng.Float32()*2 - 1
	}
	return t
}

// fcCrop cuts the h×w window at (y, x) out of a [1,C,H,W] tensor.
func fcCrop(t *ir.Tensor, y, x, h, w int) *ir.Tensor {
	c, H, W := t.Shape[1], t.Shape[2], t.Shape[3]
	out, _ := ir.NewTensor(ir.Float32, []int{1, c, h, w})
	for ch := range c {
		for i := range h {
			copy(out.F32()[(ch*h+i)*w:(ch*h+i+1)*w], t.F32()[(ch*H+y+i)*W+x:])
		}
	}
	_ = W
	return out
}

// fcTolerance bounds the difference between a score computed by the
// converted network and by the original: the same products summed in
// another order (convolution instead of matrix product kernels), at most 64
// terms per dot product through two or three layers of values of order one,
// so a few hundred float32 ulps of the largest magnitude involved; 1e-5
// absolute plus 1e-5 relative leaves a wide margin while still catching any
// misplaced weight (which changes scores by ~0.1).
func fcClose(a, b float32) bool {
	return math.Abs(float64(a-b)) <= 1e-5+1e-5*math.Abs(float64(b))
}

func TestConvertFCToConvPatterns(t *testing.T) {
	for _, tc := range fcCases() {
		t.Run(tc.name, func(t *testing.T) {
			orig := tc.build()
			before := dump(t, orig)
			conv := tc.build()
			res, err := graphopt.ConvertFCToConv(conv, fcShapesEnv())
			if err != nil {
				t.Fatal(err)
			}
			after := dump(t, conv)
			golden(t, "convert_fc_to_conv/"+tc.name, "# before\n"+before+"\n# after\n"+after+"\n# converted\n"+strings.Join(res.Converted, "\n")+"\n")
			if res.Window != [2]int{14, 14} || res.Jump != [2]int{2, 2} {
				t.Errorf("window %v jump %v, want [14 14] and [2 2]", res.Window, res.Jump)
			}
			for _, n := range conv.Nodes {
				switch n.Op {
				case "Gemm", "MatMul", "Flatten", "Reshape", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean":
					if !(tc.name == "squeeze_excitation_then_gap_gemm" && n.Op == "GlobalAveragePool") {
						t.Errorf("%s left in the converted graph", n.Describe())
					}
				}
			}
			if moved := strings.Contains(strings.Join(res.Converted, " "), "moved before the pool"); moved != tc.moved {
				t.Errorf("conv moved before the pool: %v, want %v", moved, tc.moved)
			}
			fcCheckCrops(t, orig, conv, res, tc.global, rand.New(rand.NewSource(7)))
		})
	}
}

// fcCheckCrops runs the converted graph at the declared size (a 1x1 map equal
// to the original output) and at larger sizes, where map position (i, j)
// must equal the original network on the crop at (i·jump, j·jump).
func fcCheckCrops(t *testing.T, orig, conv *ir.Graph, res *graphopt.FCConversion, declaredOnly bool, rng *rand.Rand) {
	t.Helper()
	wh, ww := res.Window[0], res.Window[1]
	jh, jw := res.Jump[0], res.Jump[1]
	sizes := [][2]int{{wh, ww}, {wh + 3*jh, ww + 2*jw}, {wh + jh + 1, ww + 4*jw + 1}}
	if declaredOnly {
		sizes = sizes[:1]
	}
	for _, size := range sizes {
		x := fcRandomImage(rng, 3, size[0], size[1])
		m := fcRun(t, conv, x)
		if len(m.Shape) != 4 || m.Shape[0] != 1 {
			t.Fatalf("input %v: map shape %v, want [1,K,h,w]", size, m.Shape)
		}
		K, mh, mw := m.Shape[1], m.Shape[2], m.Shape[3]
		if wantH, wantW := (size[0]-wh)/jh+1, (size[1]-ww)/jw+1; mh != wantH || mw != wantW {
			t.Fatalf("input %v: map %dx%d, want %dx%d", size, mh, mw, wantH, wantW)
		}
		for i := range mh {
			for j := range mw {
				want := fcRun(t, orig, fcCrop(x, i*jh, j*jw, wh, ww)).F32()
				if len(want) != K {
					t.Fatalf("original output has %d values, map has %d classes", len(want), K)
				}
				for k := range K {
					got := m.F32()[(k*mh+i)*mw+j]
					if !fcClose(got, want[k]) {
						t.Fatalf("input %v, position (%d,%d), class %d: map %v, crop %v", size, i, j, k, got, want[k])
					}
				}
			}
		}
	}
}

func TestConvertFCToConvDeclaresSymbolicShapes(t *testing.T) {
	g := fcCases()[0].build()
	if _, err := graphopt.ConvertFCToConv(g, fcShapesEnv()); err != nil {
		t.Fatal(err)
	}
	if got := g.Inputs[0].Shape.String(); got != "[1,3,H,W]" {
		t.Errorf("input shape %s, want [1,3,H,W]", got)
	}
	if got := g.Outputs[0].Shape.String(); got != "[1,5,h,w]" {
		t.Errorf("output shape %s, want [1,5,h,w]", got)
	}
}

func TestConvertFCToConvRefusesHeadsThatCannotSlide(t *testing.T) {
	cases := map[string]func() *ir.Graph{
		"argmax": func() *ir.Graph {
			b, x := newFCBuilder("argmax", 1, 3, 14, 14)
			x = b.node("GlobalAveragePool", []string{b.backbone(x)})
			x = b.node("Flatten", []string{x}, ir.IntAttr("axis", 1))
			x = b.node("Gemm", []string{x, b.weight("fc_w", 4, 5, 4)}, ir.IntAttr("transB", 1))
			x = b.node("ArgMax", []string{x}, ir.IntAttr("axis", 1))
			g := b.output(x, "class", 1, 1)
			g.Outputs[0].DType = ir.Int64
			return g
		},
		"flattened map as output": func() *ir.Graph {
			b, x := newFCBuilder("flat", 1, 3, 14, 14)
			x = b.node("Flatten", []string{b.backbone(x)}, ir.IntAttr("axis", 1))
			return b.output(x, "features", 1, 64)
		},
		"bias per flattened element": func() *ir.Graph {
			b, x := newFCBuilder("perelem", 1, 3, 14, 14)
			x = b.node("Flatten", []string{b.backbone(x)}, ir.IntAttr("axis", 1))
			x = b.node("Add", []string{x, b.weight("perelem", 1, 64)})
			x = b.node("Gemm", []string{x, b.weight("fc_w", 64, 5, 64)}, ir.IntAttr("transB", 1))
			return b.output(x, "logits", 1, 5)
		},
		"no head": func() *ir.Graph {
			b, x := newFCBuilder("nohead", 1, 3, 14, 14)
			x = b.backbone(x)
			return b.output(x, "features", 1, 4, 4, 4)
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			g := build()
			before := dump(t, g)
			_, err := graphopt.ConvertFCToConv(g, fcShapesEnv())
			if err == nil {
				t.Fatal("converted")
			}
			t.Log(err)
			if name != "flattened map as output" && !errors.Is(err, graphopt.ErrNoClassifierHead) {
				t.Errorf("error %v does not wrap ErrNoClassifierHead", err)
			}
			if after := dump(t, g); after != before {
				t.Errorf("the graph changed although the conversion failed:\n%s", after)
			}
		})
	}
}

// TestConvertFCToConvOnSharedModels converts real exports, one per pattern:
// GlobalAveragePool + Flatten + Gemm moved before the pool (resnet20),
// GlobalAveragePool + Clip + Shape-computed Reshape + MatMul + Clip + Add
// (mobilenetv2-12), a Conv classifier before the pool and the importer's
// Softmax chain (squeezenet1.0), a constant Reshape + MatMul + Add on a 4x4
// map (mnist-8), a padded covering AveragePool with Reshape-computed
// weights (light-inception-v1) and three fully connected layers on a
// Reshape-flattened 6x6 map with weights made by ConstantOfShape
// (light-bvlc-alexnet). At the declared size the converted 1x1 map must
// equal the original output (float32 rounding of reordered sums: 1e-4
// relative to the largest score); at a larger size it must run and give the
// expected map size.
func TestConvertFCToConvOnSharedModels(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: whole networks run in the full test")
	}
	for _, name := range []string{"cifar10-resnet20", "mobilenetv2-12", "squeezenet1.0", "mnist-8", "light-inception-v1", "light-bvlc-alexnet"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnx.Load(filepath.Join(testenv.Shared(t, "models", name), "model.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(3))
			in := m.Graph.Inputs[0]
			shape := []int{1, int(in.Shape.Dims[1].Size), int(in.Shape.Dims[2].Size), int(in.Shape.Dims[3].Size)}
			x := fcRandomImage(rng, shape[1], shape[2], shape[3])
			want := fcRun(t, m.Graph, x).F32()
			g := m.Graph
			res, err := graphopt.ConvertFCToConv(g, runtime.OptimizerEnv(0))
			if err != nil {
				t.Fatal(err)
			}
			t.Log(strings.Join(res.Converted, "; "))
			got := fcRun(t, g, x)
			if len(got.Shape) != 4 || got.Shape[2] != 1 || got.Shape[3] != 1 || got.Len() != len(want) {
				t.Fatalf("map %v at the declared size, want [1,%d,1,1]", got.Shape, len(want))
			}
			scale := 0.0
			for _, v := range want {
				scale = max(scale, math.Abs(float64(v)))
			}
			for i, v := range want {
				if d := math.Abs(float64(got.F32()[i] - v)); d > 1e-4*scale {
					t.Fatalf("class %d: map %v, original %v", i, got.F32()[i], v)
				}
			}
			big := fcRandomImage(rng, shape[1], shape[2]+2*res.Jump[0], shape[3]+3*res.Jump[1])
			if s := fcRun(t, g, big).Shape; s[2] != 3 || s[3] != 4 {
				t.Errorf("map %v two and three jumps beyond the declared size, want 3x4", s)
			}
		})
	}
}
