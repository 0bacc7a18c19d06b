package fcn_test

import (
	"context"
	"fmt"
	"image"
	"math"
	"math/rand"
	"path/filepath"
	"testing"

	"github.com/runinfer/runinfer/fcn"
	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/internal/testenv"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// smallCNN is conv 3x3 (3->4) + Relu + MaxPool 2/2 + conv 3x3 (4->4) + Relu
// + Flatten + Gemm (256->16) + Relu + Gemm (16->10): no padding, declared
// input 22x22, total stride 2, random weights.
func smallCNN(seed int64) *ir.Model {
	rng := rand.New(rand.NewSource(seed))
	g := ir.NewGraph("small")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.ShapeOf(1, 3, 22, 22)}}
	g.Outputs = []*ir.ValueInfo{{Name: "logits", DType: ir.Float32, Shape: ir.ShapeOf(1, 10)}}
	w := func(name string, fanIn int, shape ...int) string {
		n := 1
		for _, d := range shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = float32((rng.Float64()*2 - 1) / math.Sqrt(float64(fanIn)))
		}
		g.Initializers[name], _ = ir.FromFloat32(shape, data)
		return name
	}
	k3 := ir.IntsAttr("kernel_shape", []int64{3, 3})
	node := func(op string, in []string, out string, attrs ...*ir.Attr) {
		n := &ir.Node{Op: op, Inputs: in, Outputs: []string{out}}
		for _, a := range attrs {
			n.SetAttr(a)
		}
		g.Nodes = append(g.Nodes, n)
	}
	node("Conv", []string{"x", w("w1", 27, 4, 3, 3, 3), w("b1", 1, 4)}, "c1", k3)
	node("Relu", []string{"c1"}, "r1")
	node("MaxPool", []string{"r1"}, "p1", ir.IntsAttr("kernel_shape", []int64{2, 2}), ir.IntsAttr("strides", []int64{2, 2}))
	node("Conv", []string{"p1", w("w2", 36, 4, 4, 3, 3), w("b2", 1, 4)}, "c2", k3)
	node("Relu", []string{"c2"}, "r2")
	node("Flatten", []string{"r2"}, "f", ir.IntAttr("axis", 1))
	node("Gemm", []string{"f", w("fc1", 256, 16, 256), w("fb1", 1, 16)}, "h1", ir.IntAttr("transB", 1))
	node("Relu", []string{"h1"}, "h2")
	node("Gemm", []string{"h2", w("fc2", 16, 16, 10), w("fb2", 1, 10)}, "logits")
	return &ir.Model{Graph: g}
}

func randomInput(rng *rand.Rand, h, w int) *ir.Tensor {
	t, _ := ir.NewTensor(ir.Float32, []int{1, 3, h, w})
	for i := range t.F32() {
		t.F32()[i] = rng.Float32()*2 - 1
	}
	return t
}

// crop cuts the h×w window at (y, x) out of a [1,C,H,W] tensor.
func crop(t *ir.Tensor, y, x, h, w int) *ir.Tensor {
	c, H, W := t.Shape[1], t.Shape[2], t.Shape[3]
	out, _ := ir.NewTensor(ir.Float32, []int{1, c, h, w})
	for ch := range c {
		for i := range h {
			copy(out.F32()[(ch*h+i)*w:(ch*h+i+1)*w], t.F32()[(ch*H+y+i)*W+x:])
		}
	}
	return out
}

// classify runs the original model and returns its class probabilities.
func classify(t testing.TB, s *runtime.Session, x *ir.Tensor) []float32 {
	t.Helper()
	out, err := s.Run(context.Background(), map[string]*ir.Tensor{s.Inputs()[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	return imageprep.Probabilities(out[0].F32())
}

// TestScoreMapPositionsEqualCrops checks the defining property on a network
// without padding: map position (i, j) equals classifying the window-sized
// crop at (i·jump, j·jump). The two compute the same dot products in another
// order (convolution kernels instead of matrix products), through a 256-term
// and a 16-term layer with values of order one: the logits agree to a few
// float32 ulps (~1e-6), and so do the softmax probabilities in [0, 1];
// 2e-6 absolute is a hundred times that and still far below the ~0.01
// change one misplaced weight makes.
func TestScoreMapPositionsEqualCrops(t *testing.T) {
	m := smallCNN(1)
	net, err := fcn.New(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if wh, ww := net.Window(); wh != 22 || ww != 22 {
		t.Fatalf("window %dx%d, want 22x22", wh, ww)
	}
	if jh, jw := net.Jump(); jh != 2 || jw != 2 {
		t.Fatalf("jump %dx%d, want 2x2", jh, jw)
	}
	orig, err := runtime.NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(2))
	for _, size := range [][2]int{{22, 22}, {32, 28}, {23, 41}} {
		x := randomInput(rng, size[0], size[1])
		sm, err := net.Run(context.Background(), x)
		if err != nil {
			t.Fatal(err)
		}
		if wantH, wantW := (size[0]-22)/2+1, (size[1]-22)/2+1; sm.Height != wantH || sm.Width != wantW || sm.Classes != 10 {
			t.Fatalf("input %v: map %dx%dx%d, want 10x%dx%d", size, sm.Classes, sm.Height, sm.Width, wantH, wantW)
		}
		worst := 0.0
		for i := range sm.Height {
			for j := range sm.Width {
				want := classify(t, orig, crop(x, 2*i, 2*j, 22, 22))
				for k, p := range want {
					d := math.Abs(float64(sm.At(k, i, j) - p))
					worst = max(worst, d)
					if d > 2e-6 {
						t.Fatalf("input %v, position (%d,%d), class %d: map %v, crop %v", size, i, j, k, sm.At(k, i, j), p)
					}
				}
			}
		}
		t.Logf("input %dx%d: %dx%d positions, largest difference %.2g", size[0], size[1], sm.Height, sm.Width, worst)
	}
}

func loadPhoto(t testing.TB) image.Image {
	t.Helper()
	img, _, err := imageprep.DecodeFile(testenv.Shared(t, "images", "ort_examples", "kimono.jpg"), imageprep.DefaultMaxPixels)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func imagenetTensor(t testing.TB, img image.Image, h, w int) *ir.Tensor {
	t.Helper()
	m, err := imageprep.ResizeCrop(img, h, w, 1)
	if err != nil {
		t.Fatal(err)
	}
	norm, _ := imageprep.PresetNorm(imageprep.PresetImageNet, 3)
	x, err := imageprep.ToTensor([]*image.RGBA{m}, imageprep.Spec{Batch: 1, Channels: 3, Height: h, Width: w, DType: ir.Float32}, norm)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func argmax(p []float32) int {
	best := 0
	for i, v := range p {
		if v > p[best] {
			best = i
		}
	}
	return best
}

// TestMobileNetV2 checks what holds for a network with padding.
// mobilenetv2-12 pads every 3x3 convolution, and each cell of its last
// feature map sees 491x491 input pixels (jump 32), so a score position,
// which pools 7x7 cells, depends on pixels up to ~230 beyond each side of
// its 224x224 crop: inside a larger photo those are real pixels where the
// crop alone has zero padding. Hence:
//
//   - at the declared size the 1x1 map equals classifying the image
//     (exactly up to float32 rounding);
//   - the map is translation-equivariant: shifting the photo by one jump
//     (32 pixels, a multiple of every stride, so every layer's sampling
//     grid shifts by whole cells) shifts the map by one position, exactly
//     for positions whose pooled receptive field does not reach the
//     shifted border;
//   - a position approximates the isolated crop: on a real photo the
//     confident positions (crop's top class above 50%) agree with the crop
//     on the top class.
func TestMobileNetV2(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: MobileNetV2 runs at 224..544 pixels")
	}
	m, err := onnx.Load(filepath.Join(testenv.Shared(t, "models", "mobilenetv2-12"), "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	net, err := fcn.New(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if jh, jw := net.Jump(); jh != 32 || jw != 32 {
		t.Fatalf("jump %dx%d, want 32x32", jh, jw)
	}
	orig, err := runtime.NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	photo := loadPhoto(t)
	ctx := context.Background()

	t.Run("declared size", func(t *testing.T) {
		// Probabilities from logits that agree to ~1e-5 relative (1280- and
		// 320-term dot products summed in other orders): 1e-4 absolute.
		x := imagenetTensor(t, photo, 224, 224)
		sm, err := net.Run(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if sm.Height != 1 || sm.Width != 1 {
			t.Fatalf("map %dx%d at 224x224, want 1x1", sm.Height, sm.Width)
		}
		want := classify(t, orig, x)
		for k, p := range want {
			if d := math.Abs(float64(sm.At(k, 0, 0) - p)); d > 1e-4 {
				t.Fatalf("class %d: map %v, classifier %v", k, sm.At(k, 0, 0), p)
			}
		}
	})

	t.Run("translation by one jump", func(t *testing.T) {
		// A: 544x544; B: A without its first 32 rows and columns (512x512,
		// map 10x10). B's cell f is A's cell f+1 and B's bottom and right
		// borders are A's, so they differ only through B's top and left
		// border. A cell's receptive field reaches 245 pixels from its
		// centre (about 32f+16 in B), clear of the border for f >= 8; a
		// position pools cells i..i+6, so positions 8 and 9 are exact.
		a := imagenetTensor(t, photo, 544, 544)
		b := crop(a, 32, 32, 512, 512)
		ma, err := net.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := net.Run(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if mb.Height != 10 || mb.Width != 10 || ma.Height != 11 {
			t.Fatalf("maps %dx%d and %dx%d, want 11x11 and 10x10", ma.Height, ma.Width, mb.Height, mb.Width)
		}
		nearBorder, inner := 0.0, 0.0
		for i := range 10 {
			for j := range 10 {
				worst := 0.0
				for k := range mb.Classes {
					worst = max(worst, math.Abs(float64(mb.At(k, i, j)-ma.At(k, i+1, j+1))))
				}
				if i >= 8 && j >= 8 {
					inner = max(inner, worst)
					if worst > 1e-5 {
						t.Errorf("position (%d,%d): shifted map differs by %.3g", i, j, worst)
					}
				} else {
					nearBorder = max(nearBorder, worst)
				}
			}
		}
		t.Logf("positions clear of the border differ by %.3g; those whose receptive field reaches it by up to %.3g", inner, nearBorder)
	})

	t.Run("crops", func(t *testing.T) {
		x := imagenetTensor(t, photo, 448, 640) // map 8x14
		sm, err := net.Run(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		if sm.Height != 8 || sm.Width != 14 {
			t.Fatalf("map %dx%d at 448x640, want 8x14", sm.Height, sm.Width)
		}
		agree, confident, worst := 0, 0, 0.0
		for _, pos := range [][2]int{{0, 0}, {0, 13}, {7, 0}, {7, 13}, {3, 6}, {4, 7}, {2, 7}, {5, 6}} {
			i, j := pos[0], pos[1]
			want := classify(t, orig, crop(x, 32*i, 32*j, 224, 224))
			got := make([]float32, sm.Classes)
			for k := range got {
				got[k] = sm.At(k, i, j)
				worst = max(worst, math.Abs(float64(got[k]-want[k])))
			}
			top := argmax(want)
			if want[top] > 0.5 {
				confident++
				if argmax(got) == top {
					agree++
				} else {
					t.Errorf("position (%d,%d): crop's top class %d (%.2f), the map's %d (%.2f)", i, j, top, want[top], argmax(got), got[argmax(got)])
				}
			}
			t.Logf("position (%d,%d): crop top %d %.3f, map top %d %.3f", i, j, top, want[top], argmax(got), got[argmax(got)])
		}
		if confident == 0 {
			t.Error("no confident crop among the positions checked")
		}
		t.Logf("%d/%d confident positions agree on the top class; probabilities differ by up to %.3g", agree, confident, worst)
	})
}

// Run a classifier on a whole image and draw the heat map of its best
// class.
func Example() {
	// A toy classifier: 1x1 conv (3 -> 2 channels), global average pool,
	// flatten, fully connected layer (2 -> 2 classes), for 8x8 images. Real
	// use loads a model: m, err := onnx.Load("mobilenetv2-12.onnx").
	g := ir.NewGraph("toy")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.ShapeOf(1, 3, 8, 8)}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float32, Shape: ir.ShapeOf(1, 2)}}
	g.Initializers["w"], _ = ir.FromFloat32([]int{2, 3, 1, 1}, []float32{1, 0, 0, 0, 0, 1}) // red, blue
	g.Initializers["fc"], _ = ir.FromFloat32([]int{2, 2}, []float32{4, 0, 0, 4})
	g.Nodes = []*ir.Node{
		{Op: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}},
		{Op: "GlobalAveragePool", Inputs: []string{"c"}, Outputs: []string{"p"}},
		{Op: "Flatten", Inputs: []string{"p"}, Outputs: []string{"f"}},
		{Op: "Gemm", Inputs: []string{"f", "fc"}, Outputs: []string{"y"}},
	}
	net, err := fcn.New(&ir.Model{Graph: g}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	// A 16x12 photo: red on the left, blue on the right.
	photo := image.NewRGBA(image.Rect(0, 0, 16, 12))
	for y := range 12 {
		for x := range 16 {
			if x < 8 {
				photo.Pix[photo.PixOffset(x, y)] = 255
			} else {
				photo.Pix[photo.PixOffset(x, y)+2] = 255
			}
			photo.Pix[photo.PixOffset(x, y)+3] = 255
		}
	}
	sm, err := net.ScoreMap(context.Background(), photo, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("map %dx%d\n", sm.Width, sm.Height)
	for _, c := range sm.Top(2) {
		fmt.Printf("class %d: %.2f at x=%d y=%d\n", c.Index, c.Probability, c.X, c.Y)
	}
	heat, _ := sm.HeatMap(photo, sm.Top(1)[0].Index)
	fmt.Println("heat map", heat.Bounds().Size())
	// Output:
	// map 9x5
	// class 1: 1.00 at x=8 y=0
	// class 0: 1.00 at x=0 y=0
	// heat map (16,12)
}
