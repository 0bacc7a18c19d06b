package runtime

import (
	"math"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// lnNode builds a node with nin inputs and the given output names.
func lnNode(op string, nin int, outs []string, attrs ...*ir.Attr) *ir.Node {
	n := ewNode(op, nin, attrs...)
	n.Outputs = outs
	return n
}

func TestLayerNormalizationNormalizesTrailingAxesAndReturnsStatistics(t *testing.T) {
	r15, r3_8 := math.Sqrt(1.5), math.Sqrt(3.0/8)
	cases := []struct {
		name        string
		x           []float64
		shape       []int
		scale, bias []float32 // scale defaults to [1]; nil bias is omitted
		attrs       []*ir.Attr
		want        []float64
		statShape   []int
		mean, inv   []float64
	}{
		{
			name:  "last axis with scale and bias",
			x:     []float64{1, 2, 3, 4, 6, 8},
			shape: []int{2, 3},
			scale: []float32{1, 2, 3},
			bias:  []float32{0.5, 0, -1},
			attrs: []*ir.Attr{ir.FloatAttr("epsilon", 0)},
			// rows have means 2 and 6, variances 2/3 and 8/3: both normalize
			// to [-sqrt(1.5), 0, sqrt(1.5)]; then * [1,2,3] + [0.5,0,-1].
			want:      []float64{-r15 + 0.5, 0, 3*r15 - 1, -r15 + 0.5, 0, 3*r15 - 1},
			statShape: []int{2, 1},
			mean:      []float64{2, 6},
			inv:       []float64{r15, r3_8},
		},
		{
			name:      "axis 0 normalizes everything",
			x:         []float64{0, 2, 4, 6},
			shape:     []int{2, 2},
			attrs:     []*ir.Attr{ir.IntAttr("axis", 0), ir.FloatAttr("epsilon", 0)},
			want:      []float64{-3 / math.Sqrt(5), -1 / math.Sqrt(5), 1 / math.Sqrt(5), 3 / math.Sqrt(5)},
			statShape: []int{1, 1},
			mean:      []float64{3},
			inv:       []float64{1 / math.Sqrt(5)},
		},
		{
			name:      "epsilon is added to the variance",
			x:         []float64{1, 3},
			shape:     []int{1, 2},
			attrs:     []*ir.Attr{ir.FloatAttr("epsilon", 3)},
			want:      []float64{-0.5, 0.5}, // variance 1, 1/sqrt(1+3)
			statShape: []int{1, 1},
			mean:      []float64{2},
			inv:       []float64{0.5},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := make([]float32, len(c.x))
			for i, v := range c.x {
				f[i] = float32(v)
			}
			x := ewT(t, c.shape, f)
			scale := c.scale
			if scale == nil {
				scale = []float32{1}
			}
			in := []*ir.Tensor{x, ewT(t, []int{len(scale)}, scale)}
			if c.bias != nil {
				in = append(in, ewT(t, []int{len(c.bias)}, c.bias))
			}
			n := lnNode("LayerNormalization", len(in), []string{"y", "mean", "inv"}, c.attrs...)
			out, err := execNode(n, in)
			if err != nil {
				t.Fatal(err)
			}
			ewCheck(t, out[0], ir.Float32, c.shape, c.want, 1e-6)
			ewCheck(t, out[1], ir.Float32, c.statShape, c.mean, 1e-6)
			ewCheck(t, out[2], ir.Float32, c.statShape, c.inv, 1e-6)
		})
	}
}

func TestLayerNormalizationBroadcastsScaleAndHonoursStashType(t *testing.T) {
	x := ewT(t, []int{1, 2}, []float64{1, 3})
	scale := ewT(t, []int{1}, []float64{2})
	bias := ewT(t, []int{1, 1}, []float64{10})
	n := lnNode("LayerNormalization", 3, []string{"y", "mean"}, ir.FloatAttr("epsilon", 0), ir.IntAttr("stash_type", 11))
	out, err := execNode(n, []*ir.Tensor{x, scale, bias})
	if err != nil {
		t.Fatal(err)
	}
	ewCheck(t, out[0], ir.Float64, []int{1, 2}, []float64{8, 12}, 1e-12)
	ewCheck(t, out[1], ir.Float64, []int{1, 1}, []float64{2}, 1e-12)

	// Only Y listed: one output.
	out, err = execNode(lnNode("LayerNormalization", 2, []string{"y"}), []*ir.Tensor{x, scale})
	if err != nil || len(out) != 1 {
		t.Fatalf("got %d outputs, err %v; want 1 output", len(out), err)
	}
}

func TestLayerNormalizationRejectsBadInput(t *testing.T) {
	x := ewT(t, []int{2, 3}, make([]float32, 6))
	s3 := ewT(t, []int{3}, make([]float32, 3))
	cases := []struct {
		name, want string
		n          *ir.Node
		in         []*ir.Tensor
	}{
		{"axis out of range", "out of range", lnNode("LayerNormalization", 2, []string{"y"}, ir.IntAttr("axis", 2)), []*ir.Tensor{x, s3}},
		{"scale that does not broadcast", "does not broadcast", lnNode("LayerNormalization", 2, []string{"y"}), []*ir.Tensor{x, ewT(t, []int{4}, make([]float32, 4))}},
		{"bias that would grow the output", "does not broadcast", lnNode("LayerNormalization", 3, []string{"y"}), []*ir.Tensor{x, s3, ewT(t, []int{2, 2, 3}, make([]float32, 12))}},
		{"scale of another type", "element type", lnNode("LayerNormalization", 2, []string{"y"}), []*ir.Tensor{x, ewT(t, []int{3}, make([]float64, 3))}},
		{"integer input", "want float32 or float64", lnNode("LayerNormalization", 2, []string{"y"}), []*ir.Tensor{ewT(t, []int{3}, make([]int32, 3)), ewT(t, []int{3}, make([]int32, 3))}},
		{"scalar input", "scalar", lnNode("LayerNormalization", 2, []string{"y"}), []*ir.Tensor{ewT(t, nil, []float32{1}), ewT(t, nil, []float32{1})}},
		{"integer stash type", "stash_type", lnNode("LayerNormalization", 2, []string{"y"}, ir.IntAttr("stash_type", 7)), []*ir.Tensor{x, s3}},
		{"negative epsilon", "epsilon", lnNode("LayerNormalization", 2, []string{"y"}, ir.FloatAttr("epsilon", -1)), []*ir.Tensor{x, s3}},
		{"four outputs", "at most 3", lnNode("LayerNormalization", 2, []string{"y", "m", "i", "z"}), []*ir.Tensor{x, s3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { ewFails(t, c.want, c.n, c.in...) })
	}
}

func TestMeanVarianceNormalization(t *testing.T) {
	cases := []struct {
		name  string
		shape []int
		x     []float32
		attrs []*ir.Attr
		want  []float64
	}{
		// Channel 0 = {1, 3}: mean 2, std 1. Channel 1 = {2, 2}: std 0, so
		// (x-mean)/(0+1e-9) = 0.
		{"default axes N,H,W per channel", []int{1, 2, 1, 2}, []float32{1, 3, 2, 2}, nil, []float64{-1, 1, 0, 0}},
		{"explicit axes", []int{2, 2}, []float32{1, 5, 2, 2}, []*ir.Attr{ir.IntsAttr("axes", []int64{1})}, []float64{-1, 1, 0, 0}},
		{"negative axes", []int{2, 2}, []float32{1, 5, 2, 2}, []*ir.Attr{ir.IntsAttr("axes", []int64{-1})}, []float64{-1, 1, 0, 0}},
		// Over axis 0: columns {1,2} and {5,2}: means 1.5, 3.5, stds .5, 1.5.
		{"axis 0", []int{2, 2}, []float32{1, 5, 2, 2}, []*ir.Attr{ir.IntsAttr("axes", []int64{0})}, []float64{-1, 1, 1, -1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ewRun(t, ewNode("MeanVarianceNormalization", 1, c.attrs...), ewT(t, c.shape, c.x))
			ewCheck(t, got, ir.Float32, c.shape, c.want, 1e-6)
		})
	}
	t.Run("default axes need rank 4", func(t *testing.T) {
		ewFails(t, "out of range", ewNode("MeanVarianceNormalization", 1), ewT(t, []int{2, 2}, make([]float32, 4)))
	})
	t.Run("repeated axes", func(t *testing.T) {
		ewFails(t, "twice", ewNode("MeanVarianceNormalization", 1, ir.IntsAttr("axes", []int64{1, -1})), ewT(t, []int{2, 2}, make([]float32, 4)))
	})
}

func TestGroupNormalizationNormalizesGroupsThenAppliesPerChannelAffine(t *testing.T) {
	// N=1, C=4, spatial 2, two groups of two channels.
	// Group 0 = {0,2,4,6}: mean 3, variance 5. Group 1 = {10,10,10,14}:
	// mean 11, variance 3.
	x := ewT(t, []int{1, 4, 2}, []float32{0, 2, 4, 6, 10, 10, 10, 14})
	scale := ewT(t, []int{4}, []float32{1, 2, 1, 1})
	bias := ewT(t, []int{4}, []float32{0, 0, 1, 1})
	r5, r3 := math.Sqrt(5), math.Sqrt(3)
	want := []float64{-3 / r5, -1 / r5, 2 / r5, 6 / r5, 1 - 1/r3, 1 - 1/r3, 1 - 1/r3, 1 + 3/r3}
	n := ewNode("GroupNormalization", 3, ir.IntAttr("num_groups", 2), ir.FloatAttr("epsilon", 0))
	ewCheck(t, ewRun(t, n, x, scale, bias), ir.Float32, []int{1, 4, 2}, want, 1e-6)

	// One group per channel equals instance normalization; two batches.
	x2 := ewT(t, []int{2, 1, 2}, []float64{1, 3, 5, 5})
	one := ewT(t, []int{1}, []float64{1})
	zero := ewT(t, []int{1}, []float64{0})
	n2 := ewNode("GroupNormalization", 3, ir.IntAttr("num_groups", 1), ir.FloatAttr("epsilon", 0.25))
	// batch 0: mean 2, variance 1 -> +-1/sqrt(1.25); batch 1: all equal -> 0.
	ewCheck(t, ewRun(t, n2, x2, one, zero), ir.Float64, []int{2, 1, 2}, []float64{-1 / math.Sqrt(1.25), 1 / math.Sqrt(1.25), 0, 0}, 1e-12)
}

func TestGroupNormalizationRejectsBadInput(t *testing.T) {
	x := ewT(t, []int{1, 4, 2}, make([]float32, 8))
	c4 := ewT(t, []int{4}, make([]float32, 4))
	g := func(v int64) *ir.Attr { return ir.IntAttr("num_groups", v) }
	cases := []struct {
		name, want string
		n          *ir.Node
		in         []*ir.Tensor
	}{
		{"groups that do not divide the channels", "does not divide", ewNode("GroupNormalization", 3, g(3)), []*ir.Tensor{x, c4, c4}},
		{"zero groups", "does not divide", ewNode("GroupNormalization", 3, g(0)), []*ir.Tensor{x, c4, c4}},
		{"missing num_groups", "num_groups", ewNode("GroupNormalization", 3), []*ir.Tensor{x, c4, c4}},
		{"per-group scale (opset 18 form)", "one per channel", ewNode("GroupNormalization", 3, g(2)), []*ir.Tensor{x, ewT(t, []int{2}, make([]float32, 2)), c4}},
		{"rank-1 input", "rank 2 or more", ewNode("GroupNormalization", 3, g(1)), []*ir.Tensor{ewT(t, []int{4}, make([]float32, 4)), c4, c4}},
		{"bias of another type", "element type", ewNode("GroupNormalization", 3, g(2)), []*ir.Tensor{x, c4, ewT(t, []int{4}, make([]float64, 4))}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { ewFails(t, c.want, c.n, c.in...) })
	}
}
