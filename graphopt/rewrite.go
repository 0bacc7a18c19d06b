package graphopt

import (
	"fmt"
	"regexp"

	"github.com/runinfer/runinfer/ir"
)

// Shared helpers of the rewrites.

// uses describes who reads each value: the nodes (one entry per reading
// input slot) and whether it is a graph output.
type uses struct {
	readers map[string][]*ir.Node
	output  map[string]bool
}

func usesOf(g *ir.Graph) *uses {
	u := &uses{readers: map[string][]*ir.Node{}, output: map[string]bool{}}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" {
				u.readers[in] = append(u.readers[in], n)
			}
		}
	}
	for _, o := range g.Outputs {
		u.output[o.Name] = true
	}
	return u
}

// sole returns the only node reading value (through a single input slot),
// or nil when there is none, more than one, or the value is a graph output.
func (u *uses) sole(value string) *ir.Node {
	if u.output[value] || len(u.readers[value]) != 1 {
		return nil
	}
	return u.readers[value][0]
}

// unused reports whether nothing reads value and it is not a graph output.
func (u *uses) unused(value string) bool {
	return value == "" || (!u.output[value] && len(u.readers[value]) == 0)
}

// onlyFirstOutputUsed reports whether every output of n but the first is
// omitted or unread.
func (u *uses) onlyFirstOutputUsed(n *ir.Node) bool {
	for _, o := range n.Outputs[1:] {
		if !u.unused(o) {
			return false
		}
	}
	return true
}

// constF32 returns the float32 data of initializer name, or nil.
func constF32(g *ir.Graph, name string) *ir.Tensor {
	if name == "" {
		return nil
	}
	t := g.Initializers[name]
	if t == nil || t.DType != ir.Float32 || t.F32() == nil && t.Len() != 0 {
		return nil
	}
	return t
}

// newName returns a value name starting with base that no graph input,
// initializer or node output uses.
func newName(g *ir.Graph, base string) string {
	taken := func(s string) bool {
		if _, ok := g.Initializers[s]; ok {
			return true
		}
		for _, vi := range g.Inputs {
			if vi.Name == s {
				return true
			}
		}
		for _, n := range g.Nodes {
			for _, o := range n.Outputs {
				if o == s {
					return true
				}
			}
		}
		return false
	}
	if !taken(base) {
		return base
	}
	for i := 1; ; i++ {
		s := fmt.Sprintf("%s_%d", base, i)
		if !taken(s) {
			return s
		}
	}
}

// foldedSuffix matches the suffix addConst gives names.
var foldedSuffix = regexp.MustCompile(`_folded(_[0-9]+)?$`)

// unfolded strips addConst's suffix from a name.
func unfolded(name string) string { return foldedSuffix.ReplaceAllString(name, "") }

// addConst stores data as a new float32 initializer named after base
// (base_folded, base_folded_1, ...: a name that already has such a suffix
// gets it replaced, not doubled).
func addConst(g *ir.Graph, base string, shape []int, data []float32) string {
	name := newName(g, unfolded(base)+"_folded")
	t, err := ir.FromFloat32(append([]int(nil), shape...), data)
	if err != nil {
		panic("graphopt: " + err.Error()) // shapes are built to match
	}
	g.Initializers[name] = t
	return name
}

// dropNodes removes the nodes in drop from g, keeping the order of the rest.
func dropNodes(g *ir.Graph, drop map[*ir.Node]bool) {
	if len(drop) == 0 {
		return
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if !drop[n] {
			kept = append(kept, n)
		}
	}
	for i := len(kept); i < len(g.Nodes); i++ {
		g.Nodes[i] = nil
	}
	g.Nodes = kept
}

// perChannel reads a constant operand of an elementwise op applied to an
// N x M x ... tensor of rank rank as one value per channel: it must
// broadcast to [1, M, 1, ...] at most (a scalar, [M], [M,1,...],
// [1,M,1,...], each of those with M = 1). It returns M values (float64).
// rank 2 covers a Gemm output (N x M) where the channel axis is the last.
func perChannel(t *ir.Tensor, rank, m int) ([]float64, bool) {
	if t == nil || t.DType != ir.Float32 || rank < 2 || len(t.Shape) > rank {
		return nil, false
	}
	// Right-align the constant's shape with the output's.
	full := make([]int, rank)
	for i := range full {
		full[i] = 1
	}
	copy(full[rank-len(t.Shape):], t.Shape)
	for i, d := range full {
		if i == 1 {
			if d != 1 && d != m {
				return nil, false
			}
		} else if d != 1 {
			return nil, false
		}
	}
	v := make([]float64, m)
	data := t.F32()
	for i := range v {
		if len(data) == 1 {
			v[i] = float64(data[0])
		} else {
			v[i] = float64(data[i])
		}
	}
	return v, true
}

// scaleShift rewrites the parameters of a Conv or Gemm so that its output
// becomes y·a + b per output channel (a nil: 1; b nil: 0). It reports false,
// changing nothing, when the node's weights or bias are not float32
// initializers or the layout is not one it handles.
func scaleShift(g *ir.Graph, n *ir.Node, a, b []float64) bool {
	switch n.Op {
	case "Conv":
		return scaleShiftConv(g, n, a, b)
	case "Gemm":
		return scaleShiftGemm(g, n, a, b)
	}
	return false
}

func scaleShiftConv(g *ir.Graph, n *ir.Node, a, b []float64) bool {
	wname := n.Input(1)
	w := constF32(g, wname)
	if w == nil || len(w.Shape) < 3 || n.Domain != "" {
		return false
	}
	m := w.Shape[0]
	if (a != nil && len(a) != m) || (b != nil && len(b) != m) {
		return false
	}
	var bias []float64
	if n.Input(2) != "" {
		bt := constF32(g, n.Input(2))
		if bt == nil || bt.Len() != m {
			return false
		}
		bias = make([]float64, m)
		for o, v := range bt.F32() {
			bias[o] = float64(v)
		}
	}
	if a != nil {
		per := w.Len() / m
		nw := make([]float32, w.Len())
		for o := 0; o < m; o++ {
			for i := o * per; i < (o+1)*per; i++ {
				nw[i] = float32(float64(w.F32()[i]) * a[o])
			}
		}
		n.Inputs[1] = addConst(g, wname, w.Shape, nw)
	}
	setBias(g, n, wname, m, bias, a, b)
	return true
}

// scaleShiftGemm folds a per-column scale and shift into Gemm(A, B, C):
// Y = alpha·A·op(B) + beta·C. Column j of op(B) is scaled by a[j]; the new
// C is (beta·C[j])·a[j] + b[j], a vector, with beta 1.
func scaleShiftGemm(g *ir.Graph, n *ir.Node, a, b []float64) bool {
	if n.Domain != "" {
		return false
	}
	wname := n.Input(1)
	w := constF32(g, wname)
	if w == nil || len(w.Shape) != 2 {
		return false
	}
	transB := n.AttrInt("transB", 0) != 0
	k, m := w.Shape[0], w.Shape[1]
	if transB {
		k, m = m, k
	}
	if (a != nil && len(a) != m) || (b != nil && len(b) != m) {
		return false
	}
	var c []float64 // beta·C per column
	beta := float64(n.AttrFloat("beta", 1))
	if n.Input(2) != "" {
		ct := constF32(g, n.Input(2))
		if ct == nil {
			return false
		}
		col, ok := perChannel(ct, 2, m)
		if !ok {
			// A per-row or full C does not fold into a column vector;
			// rank 1 [M] is per column too (right-aligned).
			if len(ct.Shape) == 1 && ct.Shape[0] == m {
				col = make([]float64, m)
				for j := range col {
					col[j] = float64(ct.F32()[j])
				}
			} else if ct.Len() == 1 {
				col = make([]float64, m)
				for j := range col {
					col[j] = float64(ct.F32()[0])
				}
			} else {
				return false
			}
		}
		c = col
		for j := range c {
			c[j] *= beta
		}
	}
	if a != nil {
		nw := make([]float32, w.Len())
		src := w.F32()
		for r := 0; r < w.Shape[0]; r++ {
			for q := 0; q < w.Shape[1]; q++ {
				j := q // output column of this element
				if transB {
					j = r
				}
				nw[r*w.Shape[1]+q] = float32(float64(src[r*w.Shape[1]+q]) * a[j])
			}
		}
		n.Inputs[1] = addConst(g, wname, w.Shape, nw)
	}
	setBias(g, n, wname, m, c, a, b)
	n.SetAttr(ir.FloatAttr("beta", 1))
	_ = k
	return true
}

// rankOf returns the rank of value name: from shapes, else from the Conv
// producing it (its weights' rank), else -1.
func rankOf(g *ir.Graph, shapes map[string]ValueType, prod *ir.Node, name string) int {
	if vt, ok := shapes[name]; ok {
		return len(vt.Shape)
	}
	if prod != nil && prod.Domain == "" {
		switch prod.Op {
		case "Conv":
			if w := g.Initializers[prod.Input(1)]; w != nil {
				return len(w.Shape)
			}
		case "Gemm":
			return 2
		}
	}
	return -1
}

// setBias makes n's bias (input 2) a new constant of the m values
// base[j]·a[j] + b[j], computed in float64 (a nil base or b counts as
// zeros, a nil a as ones), named after the old bias or the weights wname.
func setBias(g *ir.Graph, n *ir.Node, wname string, m int, base, a, b []float64) {
	nb := make([]float32, m)
	for j := range nb {
		v := 0.0
		if base != nil {
			v = base[j]
		}
		if a != nil {
			v *= a[j]
		}
		if b != nil {
			v += b[j]
		}
		nb[j] = float32(v)
	}
	name := n.Input(2)
	if name == "" {
		name = unfolded(wname) + "_bias"
	}
	name = addConst(g, name, []int{m}, nb)
	for len(n.Inputs) < 3 {
		n.Inputs = append(n.Inputs, "")
	}
	n.Inputs[2] = name
}
