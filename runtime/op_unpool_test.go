package runtime

import (
	"testing"

	"github.com/runinfer/runinfer/ir"
)

// unpAttrs returns kernel_shape and strides attributes (and pads if given).
func unpAttrs(kernel, strides, pads []int64) []*ir.Attr {
	a := []*ir.Attr{ir.IntsAttr("kernel_shape", kernel), ir.IntsAttr("strides", strides)}
	if pads != nil {
		a = append(a, ir.IntsAttr("pads", pads))
	}
	return a
}

// unpWant returns n zeros with vals placed at the given flat positions.
func unpWant(n int, at map[int]float64) []float64 {
	w := make([]float64, n)
	for i, v := range at {
		w[i] = v
	}
	return w
}

func TestMaxUnpoolScattersValuesToTheirIndices(t *testing.T) {
	k2 := unpAttrs(gthI64(2, 2), gthI64(2, 2), nil)
	x := ewT(t, []int{1, 1, 2, 2}, []float32{5, 6, 7, 8})
	idx := ewT(t, []int{1, 1, 2, 2}, gthI64(5, 7, 13, 15))
	gthRunCases(t, []gthCase{
		{name: "2-D kernel 2 stride 2 gives 4x4", n: ewNode("MaxUnpool", 2, k2...), in: []*ir.Tensor{x, idx},
			shape: []int{1, 1, 4, 4}, want: unpWant(16, map[int]float64{5: 5, 7: 6, 13: 7, 15: 8})},
		// Indices address the 4x4 unpooled tensor, which fills the leading
		// corner of the 5x5 output: (1,1),(1,3),(3,1),(3,3) -> 6, 8, 16, 18.
		{name: "larger output_shape keeps the unpooled corner", n: ewNode("MaxUnpool", 3, k2...),
			in:    []*ir.Tensor{x, idx, ewT(t, []int{4}, gthI64(1, 1, 5, 5))},
			shape: []int{1, 1, 5, 5}, want: unpWant(25, map[int]float64{6: 5, 8: 6, 16: 7, 18: 8})},
		{name: "output_shape equal to the computed shape", n: ewNode("MaxUnpool", 3, k2...),
			in:    []*ir.Tensor{x, idx, ewT(t, []int{4}, gthI64(1, 1, 4, 4))},
			shape: []int{1, 1, 4, 4}, want: unpWant(16, map[int]float64{5: 5, 7: 6, 13: 7, 15: 8})},
		// Indices are flat over batch and channel too: 7 is channel 1, (1,1).
		{name: "indices span channels", n: ewNode("MaxUnpool", 2, k2...),
			in:    []*ir.Tensor{ewT(t, []int{1, 2, 1, 1}, []float64{3, 4}), ewT(t, []int{1, 2, 1, 1}, gthI64(0, 7))},
			shape: []int{1, 2, 2, 2}, want: unpWant(8, map[int]float64{0: 3, 7: 4})},
		// 1-D: (3-1)*2 + 3 - 1 - 1 = 5 outputs; repeated index: last wins.
		{name: "1-D with pads and a repeated index", n: ewNode("MaxUnpool", 2, unpAttrs(gthI64(3), gthI64(2), gthI64(1, 1))...),
			in:    []*ir.Tensor{ewT(t, []int{1, 1, 3}, []int32{1, 2, 3}), ewT(t, []int{1, 1, 3}, gthI64(4, 0, 4))},
			shape: []int{1, 1, 5}, want: []float64{2, 0, 0, 0, 3}},
		{name: "index past the end", n: ewNode("MaxUnpool", 2, k2...), in: []*ir.Tensor{x, ewT(t, []int{1, 1, 2, 2}, gthI64(0, 1, 2, 16))},
			wantErr: "index 16"},
		{name: "negative index", n: ewNode("MaxUnpool", 2, k2...), in: []*ir.Tensor{x, ewT(t, []int{1, 1, 2, 2}, gthI64(0, -1, 2, 3))},
			wantErr: "index -1"},
		{name: "index inside output_shape but past the unpooled shape", n: ewNode("MaxUnpool", 3, k2...),
			in: []*ir.Tensor{x, ewT(t, []int{1, 1, 2, 2}, gthI64(0, 1, 2, 20)), ewT(t, []int{4}, gthI64(1, 1, 5, 5))}, wantErr: "index 20"},
		{name: "output_shape smaller than the unpooled shape", n: ewNode("MaxUnpool", 3, k2...),
			in: []*ir.Tensor{x, idx, ewT(t, []int{4}, gthI64(1, 1, 3, 4))}, wantErr: "smaller"},
		{name: "output_shape of the wrong length", n: ewNode("MaxUnpool", 3, k2...),
			in: []*ir.Tensor{x, idx, ewT(t, []int{2}, gthI64(4, 4))}, wantErr: "4 entries"},
		{name: "indices of another shape", n: ewNode("MaxUnpool", 2, k2...),
			in: []*ir.Tensor{x, ewT(t, []int{1, 1, 4}, gthI64(0, 1, 2, 3))}, wantErr: "must match"},
		{name: "missing kernel_shape", n: ewNode("MaxUnpool", 2), in: []*ir.Tensor{x, idx}, wantErr: "kernel_shape"},
		{name: "kernel of the wrong rank", n: ewNode("MaxUnpool", 2, unpAttrs(gthI64(2), gthI64(2), nil)...),
			in: []*ir.Tensor{x, idx}, wantErr: "kernel_shape"},
		{name: "pads larger than the window", n: ewNode("MaxUnpool", 2, unpAttrs(gthI64(1), gthI64(1), gthI64(2, 2))...),
			in: []*ir.Tensor{ewT(t, []int{1, 1, 1}, []float32{1}), ewT(t, []int{1, 1, 1}, gthI64(0))}, wantErr: "negative"},
		{name: "rank-2 input", n: ewNode("MaxUnpool", 2, k2...),
			in: []*ir.Tensor{ewT(t, []int{2, 2}, make([]float32, 4)), ewT(t, []int{2, 2}, make([]int64, 4))}, wantErr: "rank 3 or more"},
	})
}
