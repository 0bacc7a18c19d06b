package digits

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/runinfer/runinfer/ir"
)

// Input and Output name the network's image input (N×1×28×28 float32,
// pixels scaled to 0..1) and its class scores (N×10 float32 logits).
const (
	Input  = "image"
	Output = "logits"
)

// Metadata keys the model carries (ONNX metadata_props) so that runinfer
// classifies with it without flags.
const (
	MetaLabels     = "runinfer.labels"
	MetaPreprocess = "runinfer.preprocess"
)

// Labels returns the class names: "0" to "9".
func Labels() []string {
	l := make([]string, Classes)
	for i := range l {
		l[i] = fmt.Sprint(i)
	}
	return l
}

// NewModel builds the untrained network, with weights and biases drawn as
// PyTorch initialises Conv2d and Linear layers (Kaiming-uniform with
// a = √5: uniform in ±1/√fan_in) from a generator seeded with seed:
//
//	Conv 1→16 3×3 pad 1, Relu, MaxPool 2×2   28×28 → 14×14
//	Conv 16→32 3×3 pad 1, Relu, MaxPool 2×2  14×14 → 7×7
//	Conv 32→64 3×3 pad 1, Relu, MaxPool 2×2  7×7 → 3×3
//	Flatten, Gemm 576→10
//
// The input's batch dimension is symbolic ("N"). The model carries the
// metadata MetaLabels (a JSON array of Labels) and MetaPreprocess (the JSON
// object {"preset":"unit","crop":1}): pixels scaled to 0..1, the image
// resized to 28×28 without a crop margin.
func NewModel(seed uint64) (*ir.Model, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6469676974))
	g := ir.NewGraph("digits")
	g.Doc = "runinfer's default model: a digit classifier trained on digits rendered from the Go fonts (models/gen)"
	g.Inputs = []*ir.ValueInfo{{Name: Input, DType: ir.Float32, Shape: ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(1), ir.KnownDim(Size), ir.KnownDim(Size)}}}}
	g.Outputs = []*ir.ValueInfo{{Name: Output, DType: ir.Float32, Shape: ir.Shape{Ranked: true, Dims: []ir.Dim{ir.SymDim("N"), ir.KnownDim(Classes)}}}}

	uniform := func(name string, shape []int, bound float64) error {
		n, err := ir.NumElements(shape)
		if err != nil {
			return err
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = float32((2*rng.Float64() - 1) * bound)
		}
		t, err := ir.FromFloat32(shape, d)
		if err != nil {
			return err
		}
		g.Initializers[name] = t
		return nil
	}
	x := Input
	cin := 1
	for i, cout := range []int{16, 32, 64} {
		w, b := fmt.Sprintf("conv%d.weight", i+1), fmt.Sprintf("conv%d.bias", i+1)
		bound := 1 / math.Sqrt(float64(cin*3*3))
		if err := uniform(w, []int{cout, cin, 3, 3}, bound); err != nil {
			return nil, err
		}
		if err := uniform(b, []int{cout}, bound); err != nil {
			return nil, err
		}
		c, r, p := fmt.Sprintf("conv%d", i+1), fmt.Sprintf("relu%d", i+1), fmt.Sprintf("pool%d", i+1)
		g.Nodes = append(g.Nodes,
			&ir.Node{Name: c, Op: "Conv", Inputs: []string{x, w, b}, Outputs: []string{c},
				Attrs: attrs(ir.IntsAttr("kernel_shape", []int64{3, 3}), ir.IntsAttr("pads", []int64{1, 1, 1, 1}),
					ir.IntsAttr("strides", []int64{1, 1}), ir.IntsAttr("dilations", []int64{1, 1}), ir.IntAttr("group", 1))},
			&ir.Node{Name: r, Op: "Relu", Inputs: []string{c}, Outputs: []string{r}},
			&ir.Node{Name: p, Op: "MaxPool", Inputs: []string{r}, Outputs: []string{p},
				Attrs: attrs(ir.IntsAttr("kernel_shape", []int64{2, 2}), ir.IntsAttr("strides", []int64{2, 2}))},
		)
		x, cin = p, cout
	}
	const features = 64 * 3 * 3
	bound := 1 / math.Sqrt(features)
	if err := uniform("fc.weight", []int{Classes, features}, bound); err != nil {
		return nil, err
	}
	if err := uniform("fc.bias", []int{Classes}, bound); err != nil {
		return nil, err
	}
	g.Nodes = append(g.Nodes,
		&ir.Node{Name: "flatten", Op: "Flatten", Inputs: []string{x}, Outputs: []string{"flatten"}, Attrs: attrs(ir.IntAttr("axis", 1))},
		&ir.Node{Name: "fc", Op: "Gemm", Inputs: []string{"flatten", "fc.weight", "fc.bias"}, Outputs: []string{Output},
			Attrs: attrs(ir.IntAttr("transB", 1))},
	)
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("digits: %w", err)
	}
	lbl, err := json.Marshal(Labels())
	if err != nil {
		return nil, err
	}
	return &ir.Model{
		Graph:        g,
		Opsets:       map[string]int64{"": 13},
		IRVersion:    7,
		ProducerName: "runinfer",
		Doc:          g.Doc,
		Metadata: map[string]string{
			MetaLabels:     string(lbl),
			MetaPreprocess: `{"preset":"unit","crop":1.0}`,
		},
	}, nil
}

func attrs(as ...*ir.Attr) map[string]*ir.Attr {
	m := make(map[string]*ir.Attr, len(as))
	for _, a := range as {
		m[a.Name] = a
	}
	return m
}
