package train

import (
	"context"
	"errors"
	"fmt"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// tinyCNN is a small classifier of 3×8×8 images:
//
//	Conv 3→4 3×3 stride 2 pad 1, Relu, Conv 4→8 4×4, Relu,
//	Conv 8→classes 1×1 (the head), Flatten.
//
// Weights are PyTorch-style uniform(±1/√fan_in) from a fixed seed.
func tinyCNN(t *testing.T, classes int) *ir.Model {
	rng := rand.New(rand.NewPCG(11, 12))
	b := newGraph(t, "image", "N", 3, 8, 8)
	w := func(name string, shape ...int) string {
		n, _ := ir.NumElements(shape)
		fan := n / shape[0]
		if len(shape) == 1 {
			fan = 8
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32((2*rng.Float64() - 1) / math.Sqrt(float64(fan)))
		}
		return b.init(name, shape, v)
	}
	b.node("Conv", []string{"image", w("conv1.weight", 4, 3, 3, 3), w("conv1.bias", 4)}, "c1",
		ir.IntsAttr("strides", []int64{2, 2}), ir.IntsAttr("pads", []int64{1, 1, 1, 1}))
	b.node("Relu", []string{"c1"}, "r1")
	b.node("Conv", []string{"r1", w("conv2.weight", 8, 4, 4, 4), w("conv2.bias", 8)}, "c2")
	b.node("Relu", []string{"c2"}, "r2")
	b.node("Conv", []string{"r2", w("fc.weight", classes, 8, 1, 1), w("fc.bias", classes)}, "c3")
	b.node("Flatten", []string{"c3"}, "logits")
	m := b.model("logits", "N", classes)
	m.Metadata = nil
	return m
}

// colourData writes an ImageFolder of noisy red, green and blue images of
// assorted sizes, n per class.
func colourData(t *testing.T, n int) string {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(21, 22))
	cols := map[string][3]int{"red": {220, 30, 30}, "green": {30, 200, 40}, "blue": {40, 40, 230}}
	for name, c := range cols {
		for i := range n {
			w, h := 10+rng.IntN(10), 10+rng.IntN(10)
			writeImage(t, filepath.Join(dir, name, fmt.Sprintf("%02d.png", i)), w, h, func(x, y int) color.RGBA {
				j := func(v int) uint8 { return uint8(max(0, min(255, v+rng.IntN(61)-30))) }
				return color.RGBA{j(c[0]), j(c[1]), j(c[2]), 255}
			})
		}
	}
	return dir
}

func quietSettings() Settings {
	s := DefaultSettings()
	s.Epochs, s.Batch, s.LR, s.Preset, s.ValSplit = 6, 4, 0.05, "unit", 0.25
	return s
}

func TestFinetuneLearnsColours(t *testing.T) {
	data := colourData(t, 8)
	out := filepath.Join(t.TempDir(), "colours.onnx")
	var log strings.Builder
	cfg := Config{Settings: quietSettings(), ModelIR: tinyCNN(t, 3), Data: data, Out: out, Threads: 1, Log: &log}
	res, err := Finetune(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if len(res.History) != 6 {
		t.Fatalf("%d epochs of history", len(res.History))
	}
	first, last := res.History[0], res.History[len(res.History)-1]
	if last.ValImages != 6 || last.ValAccuracy != 1 || last.TrainLoss >= first.TrainLoss {
		t.Errorf("first epoch %+v, last %+v: want all 6 validation images right and a falling loss\n%s", first, last, log.String())
	}
	if !reflect.DeepEqual(res.Classes, []string{"blue", "green", "red"}) || res.Steps != 6*4 {
		t.Errorf("classes %v, %d steps (want 6 epochs of 18/4 = 4 full batches)", res.Classes, res.Steps)
	}
	t.Logf("log:\n%s", log.String())
	if !strings.Contains(log.String(), "validation accuracy") {
		t.Errorf("log lacks the validation accuracy:\n%s", log.String())
	}

	// The written model: standard ONNX with the class names and the
	// preprocessing in its metadata.
	m, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	prep, ok, err := imageprep.FromMetadata(m.Metadata)
	if err != nil || !ok {
		t.Fatalf("metadata %v: %v", m.Metadata, err)
	}
	if !reflect.DeepEqual(prep.Labels, res.Classes) || prep.Preset != imageprep.PresetUnit || prep.Crop != imageprep.DefaultCropFraction {
		t.Errorf("metadata %+v", prep)
	}
	// A session on it gives the trainer's logits, and the right classes.
	sess, err := runtime.NewSession(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := runtime.NewTrainer(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := ImageFolder(data, nil)
	l, err := NewLoader(d, LoaderOptions{Height: 8, Width: 8, Channels: 3, Norm: imageprep.Norm{Scale: 1.0 / 255}, Batch: 24})
	if err != nil {
		t.Fatal(err)
	}
	b := collect(t, l, 0, 0)[0]
	outs, err := sess.Run(context.Background(), map[string]*ir.Tensor{"image": b.X})
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := tr.Forward(context.Background(), b.X)
	if err != nil {
		t.Fatal(err)
	}
	sv, fv := outs[0].F32(), fwd.F32()
	right := 0
	for i := range sv {
		if math.Abs(float64(sv[i]-fv[i])) > 1e-4*(1+math.Abs(float64(fv[i]))) {
			t.Fatalf("logit %d: session %g, trainer %g", i, sv[i], fv[i])
		}
	}
	for i, label := range b.Labels {
		row := sv[i*3 : i*3+3]
		best := 0
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
		}
		if best == int(label) {
			right++
		}
	}
	if right < 23 {
		t.Errorf("the written model classifies %d of 24 images right", right)
	}
}

// weights returns the model's float initializers.
func weights(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	m, err := onnx.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w := map[string][]float32{}
	for n, tt := range m.Graph.Initializers {
		if tt.DType == ir.Float32 {
			w[n] = tt.F32()
		}
	}
	return w
}

func TestFinetuneResumeAfterInterruptionMatchesAnUninterruptedRun(t *testing.T) {
	data := colourData(t, 6)
	model := tinyCNN(t, 3)
	dir := t.TempDir()
	s := quietSettings()
	s.Epochs, s.Optimizer, s.LR = 3, "adamw", 0.01
	// Uninterrupted.
	full := filepath.Join(dir, "full.onnx")
	if _, err := Finetune(context.Background(), Config{Settings: s, ModelIR: model, Data: data, Out: full, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	// Interrupted in the middle of epoch 2 (after its first batch), then
	// resumed.
	part := filepath.Join(dir, "part.onnx")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := Finetune(ctx, Config{Settings: s, ModelIR: model, Data: data, Out: part, Threads: 1,
		AfterStep: func(epoch, batch int, step int64) {
			if epoch == 1 && batch == 1 {
				cancel()
			}
		}})
	if !errors.Is(err, ErrInterrupted) || res == nil || !res.Interrupted {
		t.Fatalf("interrupted run: %v, %+v", err, res)
	}
	if !strings.Contains(err.Error(), "epoch 2, batch 1 of 3") || !strings.Contains(err.Error(), "--resume "+part+".ckpt") {
		t.Errorf("interruption message %q", err)
	}
	ck, err := LoadCheckpoint(part + ".ckpt")
	if err != nil {
		t.Fatal(err)
	}
	if ck.Epoch != 1 || ck.Batch != 1 || ck.Step != 4 || len(ck.History) != 1 {
		t.Errorf("checkpoint at epoch %d batch %d step %d with %d epochs of history", ck.Epoch, ck.Batch, ck.Step, len(ck.History))
	}
	if _, err := os.Stat(part); err != nil {
		t.Errorf("no model written on interruption: %v", err)
	}
	// Resume (the settings come from the checkpoint, not from cfg).
	res, err = Finetune(context.Background(), Config{Settings: Settings{}, Resume: part + ".ckpt", Data: data, Out: part, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.History) != 3 || res.Steps != 9 {
		t.Errorf("resumed: %d epochs of history, %d steps", len(res.History), res.Steps)
	}
	a, b := weights(t, full), weights(t, part)
	if len(a) == 0 || !reflect.DeepEqual(a, b) {
		for n := range a {
			if !reflect.DeepEqual(a[n], b[n]) {
				t.Errorf("%s differs: %v vs %v", n, a[n][:min(3, len(a[n]))], b[n][:min(3, len(b[n]))])
			}
		}
	}
	// Resuming a finished run needs more epochs; with them it goes on.
	if _, err := Finetune(context.Background(), Config{Resume: full + ".ckpt", Data: data, Out: full, Threads: 1}); err == nil || !strings.Contains(err.Error(), "finished 3 of 3") {
		t.Errorf("resuming a finished run: %v", err)
	}
	// ... on data that has changed meanwhile: a warning.
	writeImage(t, filepath.Join(data, "red", "new.png"), 9, 9, solid(color.RGBA{200, 0, 0, 255}))
	var log strings.Builder
	res, err = Finetune(context.Background(), Config{Settings: Settings{Epochs: 4}, Resume: full + ".ckpt", Data: data, Out: full, Threads: 1, Log: &log})
	if err != nil || len(res.History) != 4 {
		t.Errorf("one more epoch: %v, %d epochs", err, len(res.History))
	}
	if !strings.Contains(log.String(), "has changed since the checkpoint (18 images then, 19 now)") {
		t.Errorf("no warning about the changed data:\n%s", log.String())
	}
	// An interruption after the last batch of an epoch ends that epoch
	// (without validation) and saves the start of the next.
	ctx3, cancel3 := context.WithCancel(context.Background())
	defer cancel3()
	edge := filepath.Join(dir, "edge.onnx")
	_, err = Finetune(ctx3, Config{Settings: s, ModelIR: model, Data: data, Out: edge, Threads: 1,
		AfterStep: func(epoch, batch int, step int64) {
			if epoch == 0 && batch == 3 {
				cancel3()
			}
		}})
	if !errors.Is(err, ErrInterrupted) || !strings.Contains(err.Error(), "epoch 2, batch 0 of 3") {
		t.Errorf("interrupted at the end of an epoch: %v", err)
	}
	if ck, err := LoadCheckpoint(edge + ".ckpt"); err != nil || ck.Epoch != 1 || ck.Batch != 0 || len(ck.History) != 1 || ck.History[0].ValImages != 0 {
		t.Errorf("checkpoint at the end of an epoch: %+v, %v", ck, err)
	}
	// An interruption before any step saves the starting point.
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := Finetune(ctx2, Config{Settings: s, ModelIR: model, Data: data, Out: filepath.Join(dir, "never.onnx"), Threads: 1}); !errors.Is(err, ErrInterrupted) {
		t.Errorf("cancelled before starting: %v", err)
	}
}

func TestFinetuneHeadAndFreeze(t *testing.T) {
	data := colourData(t, 4)
	dir := t.TempDir()
	model := tinyCNN(t, 5) // five classes; the data has three
	s := quietSettings()
	s.Epochs = 2
	_, err := Finetune(context.Background(), Config{Settings: s, ModelIR: model, Data: data, Out: filepath.Join(dir, "x.onnx"), Threads: 1})
	if err == nil || !strings.Contains(err.Error(), "--head 3") {
		t.Errorf("5-class model on 3 classes: %v", err)
	}
	s.Head = 4
	if _, err := Finetune(context.Background(), Config{Settings: s, ModelIR: model, Data: data, Out: filepath.Join(dir, "x.onnx"), Threads: 1}); err == nil || !strings.Contains(err.Error(), "3 class folders") {
		t.Errorf("--head 4 on 3 classes: %v", err)
	}
	s.Head, s.Freeze = 3, AllButHead
	out := filepath.Join(dir, "head.onnx")
	var log strings.Builder
	if _, err := Finetune(context.Background(), Config{Settings: s, ModelIR: model, Data: data, Out: out, Threads: 1, Log: &log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "4 of 6 parameters frozen, 2 trained") {
		t.Errorf("log:\n%s", log.String())
	}
	got := weights(t, out)
	for _, n := range []string{"conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias"} {
		if !reflect.DeepEqual(got[n], model.Graph.Initializers[n].F32()) {
			t.Errorf("frozen %s changed", n)
		}
	}
	if len(got["fc.weight"]) != 3*8 || len(got["fc.bias"]) != 3 {
		t.Errorf("head sizes %d %d", len(got["fc.weight"]), len(got["fc.bias"]))
	}
	// The caller's model is untouched.
	if model.Graph.Initializers["fc.weight"].Len() != 5*8 {
		t.Error("Finetune changed the caller's model")
	}
	// A pattern freezing only conv1.
	s.Freeze = "conv1.*"
	out2 := filepath.Join(dir, "conv1.onnx")
	if _, err := Finetune(context.Background(), Config{Settings: s, ModelIR: model, Data: data, Out: out2, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	got = weights(t, out2)
	if !reflect.DeepEqual(got["conv1.weight"], model.Graph.Initializers["conv1.weight"].F32()) ||
		reflect.DeepEqual(got["conv2.weight"], model.Graph.Initializers["conv2.weight"].F32()) {
		t.Error("conv1.* froze the wrong parameters")
	}
}

func TestFinetuneRefusesBadInput(t *testing.T) {
	data := colourData(t, 2)
	dir := t.TempDir()
	out := filepath.Join(dir, "m.onnx")
	model := tinyCNN(t, 3)
	one := t.TempDir()
	writeImage(t, filepath.Join(one, "only", "a.png"), 4, 4, solid(color.RGBA{}))
	gray := newGraph(t, "x", "N", 3, 8, 8)
	gray.node("Relu", []string{"x"}, "y")
	cases := []struct {
		name string
		cfg  func(c *Config)
		want string
	}{
		{"missing data", func(c *Config) { c.Data = filepath.Join(dir, "nope") }, "does not exist"},
		{"one class", func(c *Config) { c.Data = one }, "at least two"},
		{"val split 1.5", func(c *Config) { c.ValSplit = 1.5 }, "validation split"},
		{"val split NaN", func(c *Config) { c.ValSplit = math.NaN() }, "validation split"},
		{"negative head", func(c *Config) { c.Head = -1 }, "--head"},
		{"zero epochs", func(c *Config) { c.Epochs = 0 }, "epochs"},
		{"huge batch", func(c *Config) { c.Batch = 1 << 20 }, "batch size"},
		{"bad lr", func(c *Config) { c.LR = -1 }, "learning rate"},
		{"bad optimizer", func(c *Config) { c.Optimizer = "lion" }, "unknown optimizer"},
		{"bad schedule", func(c *Config) { c.Schedule = "zigzag" }, "unknown schedule"},
		{"bad preset", func(c *Config) { c.Preset = "sepia" }, "preset"},
		{"bad freeze", func(c *Config) { c.Freeze = "re:(" }, "freeze"},
		{"freeze nothing matched", func(c *Config) { c.Freeze = "nope.*" }, "matches no initializer"},
		{"nesterov without momentum", func(c *Config) { c.Nesterov, c.Momentum = true, 0 }, "Nesterov"},
		{"out in a missing folder", func(c *Config) { c.Out = filepath.Join(dir, "no", "m.onnx") }, "folder does not exist"},
		{"out is the checkpoint", func(c *Config) { c.Checkpoint = c.Out }, "same file"},
		{"no model", func(c *Config) { c.ModelIR = nil }, "no model"},
		{"model file missing", func(c *Config) { c.ModelIR, c.Model = nil, filepath.Join(dir, "none.onnx") }, "none.onnx"},
		{"no head to replace", func(c *Config) { c.ModelIR, c.Head = gray.model("y", "N", 3, 8, 8), 3 }, "no classifier layer"},
		{"resume missing", func(c *Config) { c.Resume = filepath.Join(dir, "none.ckpt") }, "none.ckpt"},
		{"resume garbage", func(c *Config) {
			p := filepath.Join(dir, "garbage.ckpt")
			os.WriteFile(p, []byte("garbage"), 0o644)
			c.Resume = p
		}, "not a valid runinfer checkpoint"},
	}
	for _, tc := range cases {
		cfg := Config{Settings: quietSettings(), ModelIR: model, Data: data, Out: out, Threads: 1}
		tc.cfg(&cfg)
		_, err := Finetune(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
	// A checkpoint of other classes.
	s := quietSettings()
	s.Epochs = 1
	if _, err := Finetune(context.Background(), Config{Settings: s, ModelIR: model, Data: data, Out: out, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	for _, c := range []string{"cat", "dog", "eel"} {
		writeImage(t, filepath.Join(other, c, "1.png"), 8, 8, solid(color.RGBA{}))
		writeImage(t, filepath.Join(other, c, "2.png"), 8, 8, solid(color.RGBA{}))
	}
	if _, err := Finetune(context.Background(), Config{Settings: Settings{Epochs: 3}, Resume: out + ".ckpt", Data: other, Out: out}); err == nil || !strings.Contains(err.Error(), "trained on classes") {
		t.Errorf("resume on other classes: %v", err)
	}
}

func TestFinetuneStripsSoftmaxAndRelaxesBatch(t *testing.T) {
	data := colourData(t, 3)
	m := tinyCNN(t, 3)
	g := m.Graph
	// Fixed batch 1, a Reshape to [1, 3] and a final Softmax.
	g.Inputs[0].Shape.Dims[0] = ir.KnownDim(1)
	g.Nodes[len(g.Nodes)-1] = &ir.Node{Op: "Reshape", Inputs: []string{"c3", "shape"}, Outputs: []string{"flat"}}
	g.Initializers["shape"], _ = ir.FromInt64([]int{2}, []int64{1, 3})
	g.Nodes = append(g.Nodes, &ir.Node{Op: "Softmax", Inputs: []string{"flat"}, Outputs: []string{"logits"}})
	g.Outputs[0].Shape = shapeOf(1, 3)
	out := filepath.Join(t.TempDir(), "m.onnx")
	s := quietSettings()
	s.Epochs = 1
	var log strings.Builder
	if _, err := Finetune(context.Background(), Config{Settings: s, ModelIR: m, Data: data, Out: out, Threads: 1, Log: &log}); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "ends in Softmax") {
		t.Errorf("log:\n%s", log.String())
	}
	w, err := onnx.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if d := w.Graph.Inputs[0].Shape.Dims[0]; d.Known() {
		t.Errorf("the batch dimension is still fixed: %v", w.Graph.Inputs[0].Shape)
	}
	for _, n := range w.Graph.Nodes {
		if n.Op == "Softmax" {
			t.Error("the Softmax is still there")
		}
	}
}

func TestFinetuneAllButHeadPastAnOpWithoutGradient(t *testing.T) {
	data := colourData(t, 3)
	m := tinyCNN(t, 3)
	g := m.Graph
	// Floor (no gradient) after the first convolution: only a head-only
	// run can train this model.
	for _, n := range g.Nodes {
		if n.Op == "Relu" && n.Inputs[0] == "c1" {
			n.Inputs[0] = "floored"
		}
	}
	g.Nodes = append([]*ir.Node{g.Nodes[0], {Op: "Floor", Inputs: []string{"c1"}, Outputs: []string{"floored"}}}, g.Nodes[1:]...)
	fs, _ := ParseFreeze(AllButHead)
	params, err := defaultParams(m, fs, "")
	if err != nil || !reflect.DeepEqual(params, []string{"fc.weight", "fc.bias"}) {
		t.Fatalf("candidates %v, %v; want the head's", params, err)
	}
	if _, err := newDefaultTrainer(m); err == nil {
		t.Fatal("the default trainer accepted Floor on a gradient path")
	}
	s := quietSettings()
	s.Epochs, s.Freeze = 1, AllButHead
	out := filepath.Join(t.TempDir(), "m.onnx")
	if _, err := Finetune(context.Background(), Config{Settings: s, ModelIR: m, Data: data, Out: out, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	w := weights(t, out)
	if reflect.DeepEqual(w["fc.weight"], m.Graph.Initializers["fc.weight"].F32()) || !reflect.DeepEqual(w["conv2.weight"], m.Graph.Initializers["conv2.weight"].F32()) {
		t.Error("all-but-head did not train exactly the head")
	}
}

// newDefaultTrainer builds a trainer with the default parameters.
func newDefaultTrainer(m *ir.Model) (*runtime.Trainer, error) {
	return runtime.NewTrainer(m, &runtime.TrainOptions{Threads: 1})
}

func TestFinetuneBatchNormStatistics(t *testing.T) {
	data := colourData(t, 3)
	m := tinyCNN(t, 3)
	g := m.Graph
	// BatchNormalization after the first convolution.
	ones := []float32{1, 1, 1, 1}
	tensor := func(name string, v []float32) string {
		tt, err := ir.FromFloat32([]int{4}, v)
		if err != nil {
			t.Fatal(err)
		}
		g.Initializers[name] = tt
		return name
	}
	bn := &ir.Node{Op: "BatchNormalization", Inputs: []string{"c1", tensor("bn.scale", ones), tensor("bn.bias", make([]float32, 4)),
		tensor("bn.mean", make([]float32, 4)), tensor("bn.var", ones)}, Outputs: []string{"bn1"}}
	for _, n := range g.Nodes {
		if n.Op == "Relu" && n.Inputs[0] == "c1" {
			n.Inputs[0] = "bn1"
		}
	}
	g.Nodes = append([]*ir.Node{g.Nodes[0], bn}, g.Nodes[1:]...)
	for _, frozen := range []bool{false, true} {
		s := quietSettings()
		s.Epochs, s.FrozenBN = 1, frozen
		out := filepath.Join(t.TempDir(), "bn.onnx")
		if _, err := Finetune(context.Background(), Config{Settings: s, ModelIR: m, Data: data, Out: out, Threads: 1}); err != nil {
			t.Fatal(err)
		}
		w := weights(t, out)
		same := reflect.DeepEqual(w["bn.mean"], make([]float32, 4)) && reflect.DeepEqual(w["bn.var"], ones)
		if same != frozen {
			t.Errorf("frozen BN %v: running mean %v, var %v", frozen, w["bn.mean"], w["bn.var"])
		}
		if reflect.DeepEqual(w["bn.scale"], ones) {
			t.Errorf("frozen BN %v: the BN scale did not train", frozen)
		}
	}
}
