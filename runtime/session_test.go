package runtime

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// convReluModel: y = Relu(Conv(x, w)) with x [N,2,4,4] (N symbolic), 3x3
// kernel, 1 output channel, pads 1.
func convReluModel() *ir.Model {
	g := ir.NewGraph("t")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float32, Shape: ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(2), ir.KnownDim(4), ir.KnownDim(4)}}}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float32}}
	w := make([]float32, 18)
	for i := range w {
		w[i] = float32(i%5) - 2
	}
	g.Initializers["w"], _ = ir.FromFloat32([]int{1, 2, 3, 3}, w)
	conv := &ir.Node{Op: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"c"}, Attrs: map[string]*ir.Attr{}}
	conv.SetAttr(ir.IntsAttr("pads", []int64{1, 1, 1, 1}))
	g.Nodes = []*ir.Node{conv, {Op: "Relu", Inputs: []string{"c"}, Outputs: []string{"y"}}}
	return &ir.Model{Graph: g}
}

func ramp(n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = (float32(i%7) - 3) * scale
	}
	return v
}

func TestRunRejectsBadInputsWithClearErrors(t *testing.T) {
	s, err := NewSession(convReluModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := ir.FromFloat32([]int{1, 2, 4, 4}, ramp(32, 1))
	wrongRank, _ := ir.FromFloat32([]int{2, 4, 4}, ramp(32, 1))
	wrongDim, _ := ir.FromFloat32([]int{1, 3, 4, 4}, ramp(48, 1))
	wrongType, _ := ir.FromSlice([]int{1, 2, 4, 4}, make([]int64, 32))
	lying := &ir.Tensor{DType: ir.Float32, Shape: []int{1, 2, 4, 4}, Data: make([]float32, 5)}
	huge := &ir.Tensor{DType: ir.Float32, Shape: []int{1 << 20, 1 << 20, 1 << 20, 2}, Data: make([]float32, 1)}
	for _, c := range []struct {
		name   string
		inputs map[string]*ir.Tensor
		want   []string
	}{
		{"missing input", map[string]*ir.Tensor{}, []string{`"x"`, "missing"}},
		{"unknown name", map[string]*ir.Tensor{"x": good, "z": good}, []string{`"z"`, "not an input", `"x"`}},
		{"wrong rank", map[string]*ir.Tensor{"x": wrongRank}, []string{"rank 3", "[N,2,4,4]"}},
		{"wrong fixed dimension", map[string]*ir.Tensor{"x": wrongDim}, []string{"dimension 1 must be 2"}},
		{"wrong dtype", map[string]*ir.Tensor{"x": wrongType}, []string{"int64", "float32"}},
		{"data shorter than shape", map[string]*ir.Tensor{"x": lying}, []string{"needs 32 elements", "has 5"}},
		{"absurd shape", map[string]*ir.Tensor{"x": huge}, []string{"too large"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Run(context.Background(), c.inputs)
			if err == nil {
				t.Fatal("Run succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestRunResolvesSymbolicBatch(t *testing.T) {
	s, err := NewSession(convReluModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 3} {
		x, _ := ir.FromFloat32([]int{n, 2, 4, 4}, ramp(n*32, 1))
		out, err := s.Run(context.Background(), map[string]*ir.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		if got := out[0].Shape; len(got) != 4 || got[0] != n || got[1] != 1 || got[2] != 4 || got[3] != 4 {
			t.Fatalf("batch %d: output shape %v", n, got)
		}
	}
	shapes, err := s.InferShapes(map[string][]int{"x": {5, 2, 4, 4}})
	if err != nil {
		t.Fatal(err)
	}
	if got := shapes["y"].Shape; len(got) != 4 || got[0] != 5 {
		t.Fatalf("inferred y shape %v", got)
	}
}

func TestSessionRejectsImpossibleGeometryAtCreation(t *testing.T) {
	m := convReluModel()
	m.Graph.Inputs[0].Shape = ir.ShapeOf(1, 2, 1, 1)
	m.Graph.Nodes[0].SetAttr(ir.IntsAttr("pads", []int64{0, 0, 0, 0}))
	_, err := NewSession(m, nil)
	if err == nil {
		t.Fatal("a 3x3 kernel on a 1x1 unpadded input was accepted")
	}
	for _, w := range []string{"Conv", "kernel 3", "padded input 1"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestRunIsSafeFromManyGoroutines(t *testing.T) {
	s, err := NewSession(convReluModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := func(scale float32) []float32 {
		x, _ := ir.FromFloat32([]int{1, 2, 4, 4}, ramp(32, scale))
		out, err := s.Run(context.Background(), map[string]*ir.Tensor{"x": x})
		if err != nil {
			t.Fatal(err)
		}
		return out[0].F32()
	}
	want := map[int][]float32{}
	for k := 1; k <= 4; k++ {
		want[k] = ref(float32(k))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < 10; it++ {
				k := (g+it)%4 + 1
				x, _ := ir.FromFloat32([]int{1, 2, 4, 4}, ramp(32, float32(k)))
				out, err := s.Run(context.Background(), map[string]*ir.Tensor{"x": x})
				if err != nil {
					errs <- err.Error()
					return
				}
				for i, v := range out[0].F32() {
					if v != want[k][i] {
						errs <- "concurrent result differs from the sequential one"
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestRunHonoursCancellation(t *testing.T) {
	s, err := NewSession(convReluModel(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	x, _ := ir.FromFloat32([]int{1, 2, 4, 4}, ramp(32, 1))
	_, err = s.Run(ctx, map[string]*ir.Tensor{"x": x})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestFloat16ModelsTakeAndReturnFloat16(t *testing.T) {
	g := ir.NewGraph("h")
	g.Inputs = []*ir.ValueInfo{{Name: "x", DType: ir.Float16, Shape: ir.ShapeOf(3)}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float16, Shape: ir.ShapeOf(3)}}
	g.Initializers["b"], _ = ir.Wrap(ir.Float16, []int{3}, []uint16{ir.Float32ToFloat16(0.5), ir.Float32ToFloat16(-1), ir.Float32ToFloat16(2)})
	g.Nodes = []*ir.Node{{Op: "Mul", Inputs: []string{"x", "b"}, Outputs: []string{"y"}}}
	s, err := NewSession(&ir.Model{Graph: g}, nil)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := ir.Wrap(ir.Float16, []int{3}, []uint16{ir.Float32ToFloat16(4), ir.Float32ToFloat16(3), ir.Float32ToFloat16(-0.25)})
	out, err := s.Run(context.Background(), map[string]*ir.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	if out[0].DType != ir.Float16 {
		t.Fatalf("output dtype %v", out[0].DType)
	}
	want := []float32{2, -3, -0.5}
	for i, h := range out[0].Data.([]uint16) {
		if got := ir.Float16ToFloat32(h); got != want[i] {
			t.Errorf("y[%d] = %v, want %v", i, got, want[i])
		}
	}
	f32, _ := ir.FromFloat32([]int{3}, []float32{1, 2, 3})
	if _, err := s.Run(context.Background(), map[string]*ir.Tensor{"x": f32}); err == nil || !strings.Contains(err.Error(), "float16") {
		t.Fatalf("float32 fed to a float16 input: err = %v", err)
	}
}

func TestHostileShapesFedAtRunTimeAreRefused(t *testing.T) {
	// y = ConstantOfShape(shape): the caller controls the output size.
	g := ir.NewGraph("cos")
	g.Inputs = []*ir.ValueInfo{{Name: "shape", DType: ir.Int64, Shape: ir.ShapeOf(2)}}
	g.Outputs = []*ir.ValueInfo{{Name: "y", DType: ir.Float32}}
	g.Nodes = []*ir.Node{{Op: "ConstantOfShape", Inputs: []string{"shape"}, Outputs: []string{"y"}}}
	for _, c := range []struct {
		name  string
		opts  *Options
		shape []int64
	}{
		{"beyond the IR limit", nil, []int64{1 << 25, 1 << 25}},
		{"beyond the session limit", &Options{MaxTensorElements: 1000}, []int64{100, 100}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewSession(&ir.Model{Graph: g}, c.opts)
			if err != nil {
				t.Fatal(err)
			}
			sh, _ := ir.FromInt64([]int{2}, c.shape)
			_, err = s.Run(context.Background(), map[string]*ir.Tensor{"shape": sh})
			if !errors.Is(err, ir.ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
		})
	}
}

func TestSessionRejectsUnsupportedOps(t *testing.T) {
	m := convReluModel()
	m.Graph.Nodes[1].Op = "NotAnOp"
	_, err := NewSession(m, nil)
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "NotAnOp") {
		t.Fatalf("err = %v", err)
	}
}
