package graphopt

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/runinfer/runinfer/ir"
)

// ErrNoClassifierHead is wrapped by ConvertFCToConv's error when the graph has
// no fully connected layer or global pool that it could turn into a
// convolution.
var ErrNoClassifierHead = errors.New("no convertible classifier head")

// Symbolic dimension names ConvertFCToConv gives the spatial size of the
// image inputs and of the score maps.
const (
	InputHeightDim = "H"
	InputWidthDim  = "W"
	MapHeightDim   = "h"
	MapWidthDim    = "w"
)

// FCConversion describes what ConvertFCToConv did.
type FCConversion struct {
	// Window is the spatial size (height, width) of the image inputs as the
	// model declared them: the crop that one score-map position classifies.
	Window [2]int
	// Jump is the network's total stride (height, width) up to the
	// classifier: moving one score-map position moves the classified crop by
	// Jump input pixels.
	Jump [2]int
	// Converted lists the rewritten nodes, as "Gemm node (output "fc") ->
	// Conv 6x6", in graph order.
	Converted []string
}

// ConvertFCToConv rewrites a classifier into a fully convolutional network
// that runs on inputs of any size at least the declared one and returns a
// map of class scores, one per position of a crop window sliding over the
// input; at the declared size the map is 1×1 and equals the original output.
//
//   - A Gemm, or a MatMul (+ Add of a constant bias), that reads a flattened
//     C×H×W feature map becomes a Conv with an H×W kernel (the weights
//     reshaped; transB, alpha, beta and the bias folded in).
//   - Fully connected layers after that become 1×1 convolutions; the
//     element-wise ops between them (Relu, Clip, Dropout, BatchNormalization,
//     Add or Mul of per-class constants, ...) work on the 4-D maps as they
//     did on vectors, and a Softmax over the classes works over the channel
//     axis.
//   - A global pool (GlobalAveragePool, GlobalMaxPool, ReduceMean or
//     ReduceMax over the spatial axes, or an AveragePool or MaxPool whose
//     window covers the map) becomes a stride-1 pool with the map's
//     declared size as its window; when a fully connected layer follows an
//     average pool directly, its 1×1 convolution moves before the pool
//     (both are linear), so class scores exist at every feature position.
//   - The flattening before the fully connected layer disappears whatever
//     form the exporter gave it: Flatten, Squeeze, or Reshape to a constant
//     or Shape-computed [N,-1] or [1,C·H·W]; shapes tell, not patterns.
//
// The image inputs' spatial dimensions become the symbolic InputHeightDim
// and InputWidthDim, and each converted output is declared [N, classes,
// MapHeightDim, MapWidthDim]; declared intermediate value types are dropped,
// and so are Identity, inference Dropout and dead nodes.
// env.Shapes gives the static shapes at the declared input size, whose
// spatial dimensions must therefore be known (a symbolic batch is fine).
//
// Global pools elsewhere (squeeze-and-excitation blocks that multiply the
// pooled values back into the feature map) are left as they are. A head that
// cannot run per position (an ArgMax, a bias per flattened element, a
// flattened map used as an output) is an error naming the node; the graph is
// then unchanged but for its nodes, put in topological order. The conversion
// is not part of Optimize's levels: moving the classifier before the pool
// multiplies its cost for ordinary inference.
func ConvertFCToConv(g *ir.Graph, env *Env) (*FCConversion, error) {
	if env == nil || env.Shapes == nil {
		return nil, errors.New("graphopt: ConvertFCToConv needs an Env that resolves shapes")
	}
	if err := g.Validate(); err != nil { // also orders the nodes
		return nil, fmt.Errorf("graphopt: %w", err)
	}
	vts := env.Shapes(g)
	if vts == nil {
		return nil, errors.New("graphopt: the graph's shapes cannot be resolved at its declared input size")
	}
	shp := make(map[string][]int, len(vts))
	for name, vt := range vts {
		shp[name] = vt.Shape
	}
	var err error
	c := &fcConverter{g: g, env: env, shapes: shp, prod: g.Producers(), cons: g.Consumers(), evaluated: map[string]*ir.Tensor{}}
	seeds := map[*ir.Node]bool{}
	for _, n := range g.Nodes {
		if c.isSeed(n) {
			seeds[n] = true
		}
	}
	// Plan with every candidate seed; a seed whose descendants cannot run
	// per position (a squeeze-and-excitation pool multiplied back into the
	// map) is dropped and the plan redone.
	var firstErr error
	var p *fcPlan
	for {
		if len(seeds) == 0 {
			if firstErr != nil {
				return nil, fmt.Errorf("graphopt: %w: %v", ErrNoClassifierHead, firstErr)
			}
			return nil, fmt.Errorf("graphopt: %w: found no fully connected layer after a flattened feature map, and no global pool", ErrNoClassifierHead)
		}
		var bad map[*ir.Node]bool
		p, bad, err = c.plan(seeds)
		if err == nil {
			break
		}
		if firstErr == nil {
			firstErr = err
		}
		removed := false
		for s := range bad {
			if seeds[s] {
				delete(seeds, s)
				removed = true
			}
		}
		if !removed {
			return nil, fmt.Errorf("graphopt: %w", err)
		}
	}
	if err := c.checkOutputs(p); err != nil {
		return nil, fmt.Errorf("graphopt: %w", err)
	}
	res := &FCConversion{}
	if err := c.geometry(p, res); err != nil {
		return nil, fmt.Errorf("graphopt: %w", err)
	}
	for _, f := range p.apply {
		f()
	}
	if _, err := EliminateIdentity(g); err != nil {
		return nil, err
	}
	if _, err := EliminateDropout(g); err != nil {
		return nil, err
	}
	c.moveConvBeforePool(p)
	for _, n := range g.Nodes {
		if d, ok := p.converted[n]; ok {
			res.Converted = append(res.Converted, d)
		}
	}
	// Order the swapped nodes before dead-node elimination, which walks the
	// nodes backwards.
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("graphopt: after converting fully connected layers: %w", err)
	}
	if _, err := EliminateDead(g); err != nil {
		return nil, err
	}
	c.relaxShapes(p)
	return res, nil
}

// headKind is what a value of the classifier head holds.
type headKind int

const (
	// vecMap: the original value is [N,K] (or [N,K,1,1]); the converted one
	// is [N,K,h,w], one vector per position.
	vecMap headKind = iota + 1
	// flatMap: the original value is a flattened [N,C·H·W] feature map; the
	// converted one is the [N,C,H',W'] map itself, waiting for the fully
	// connected layer that becomes an H×W convolution.
	flatMap
	// headShape: an integer value computed from a head value's shape (only
	// allowed to feed Reshapes of head values; it ends up dead).
	headShape
)

// headVal is the state of one head value during planning.
type headVal struct {
	kind    headKind
	c, h, w int // channels and (flatMap) the flattened map's spatial size
	oldRank int // rank of the original value (2 or 4)
	seeds   map[*ir.Node]bool
}

type fcConverter struct {
	g   *ir.Graph
	env *Env
	// evaluated caches constants computed with env.Eval.
	evaluated map[string]*ir.Tensor
	shapes    map[string][]int
	prod      map[string]*ir.Node
	cons      map[string][]*ir.Node
	fresh     int
}

// fcPlan is the result of planning: the rewrites to apply and what they
// touch.
type fcPlan struct {
	vals      map[string]*headVal
	apply     []func()
	converted map[*ir.Node]string
	pools     map[*ir.Node]bool // stride-1 average pools made from seeds: candidates to move a 1×1 conv before
	fcConvs   map[*ir.Node]bool // 1×1 convs made from fully connected layers
	folded    map[*ir.Node]bool // bias Adds folded into the Conv made from their MatMul
	seedNodes []*ir.Node        // seeds in graph order
}

func (c *fcConverter) shape(name string) ([]int, bool) {
	if t, ok := c.g.Initializers[name]; ok {
		return t.Shape, true
	}
	s, ok := c.shapes[name]
	return s, ok
}

// isSeed reports whether n collapses a 4-D feature map into per-image
// values: a global pool, or a flattening of a feature map.
func (c *fcConverter) isSeed(n *ir.Node) bool {
	if n.Domain != "" || len(n.Inputs) == 0 || len(n.Outputs) == 0 {
		return false
	}
	xs, ok := c.shape(n.Inputs[0])
	if !ok || len(xs) != 4 {
		return false
	}
	os, ok := c.shape(n.Outputs[0])
	if !ok {
		return false
	}
	switch n.Op {
	case "GlobalAveragePool", "GlobalMaxPool":
		return true
	case "ReduceMean", "ReduceMax":
		axes, ok := c.reduceAxes(n)
		return ok && slices.Equal(axes, []int{2, 3})
	case "AveragePool", "MaxPool":
		return len(n.Outputs) == 1 && len(os) == 4 && os[2] == 1 && os[3] == 1 && c.poolCovers(n, xs)
	case "Flatten", "Reshape", "Squeeze":
		return len(os) == 2 && os[0] == xs[0] && os[1] == xs[1]*xs[2]*xs[3]
	}
	return false
}

// reduceAxes returns a ReduceMean/ReduceMax node's axes over a rank-4 input,
// normalized and sorted.
func (c *fcConverter) reduceAxes(n *ir.Node) ([]int, bool) {
	var axes []int64
	if n.Input(1) != "" {
		t, ok := c.g.Initializers[n.Input(1)]
		if !ok {
			return nil, false
		}
		v, err := t.Int64s()
		if err != nil {
			return nil, false
		}
		axes = v
	} else if n.HasAttr("axes") {
		axes = n.AttrInts("axes")
	} else {
		return nil, false
	}
	out := make([]int, len(axes))
	for i, a := range axes {
		if a < 0 {
			a += 4
		}
		out[i] = int(a)
	}
	sort.Ints(out)
	return out, true
}

// poolCovers reports whether a pooling node's single window covers its whole
// input and averages (or maximizes) over exactly the input's elements.
func (c *fcConverter) poolCovers(n *ir.Node, xs []int) bool {
	if n.AttrString("auto_pad", "NOTSET") != "NOTSET" {
		return false
	}
	k := n.AttrInts("kernel_shape")
	pads := n.AttrInts("pads")
	if len(k) != 2 {
		return false
	}
	for _, d := range n.AttrInts("dilations") {
		if d != 1 {
			return false
		}
	}
	if len(pads) == 0 {
		pads = []int64{0, 0, 0, 0}
	}
	if len(pads) != 4 {
		return false
	}
	hasPads := pads[0] != 0 || pads[1] != 0 || pads[2] != 0 || pads[3] != 0
	if n.Op == "AveragePool" && hasPads && n.AttrInt("count_include_pad", 0) != 0 {
		return false
	}
	// The single window starts at -padBegin and must reach the end.
	return pads[0] >= 0 && pads[1] >= 0 && k[0]-pads[0] >= int64(xs[2]) && k[1]-pads[1] >= int64(xs[3])
}

// fcPlanError is a node that cannot run per position.
func fcPlanError(n *ir.Node, format string, a ...any) error {
	return fmt.Errorf("%s: %s", n.Describe(), fmt.Sprintf(format, a...))
}

// plan walks the graph in order, tracking the head values that descend from
// seeds, and records the rewrite of each node. On failure it returns the
// seeds whose head reached the failing node.
func (c *fcConverter) plan(seeds map[*ir.Node]bool) (*fcPlan, map[*ir.Node]bool, error) {
	p := &fcPlan{
		vals:      map[string]*headVal{},
		converted: map[*ir.Node]string{},
		pools:     map[*ir.Node]bool{},
		fcConvs:   map[*ir.Node]bool{},
		folded:    map[*ir.Node]bool{},
	}
	for _, n := range c.g.Nodes {
		var hv []*headVal
		union := map[*ir.Node]bool{}
		for _, in := range n.Inputs {
			if v := p.vals[in]; v != nil {
				hv = append(hv, v)
				for s := range v.seeds {
					union[s] = true
				}
			}
		}
		if len(hv) == 0 {
			if seeds[n] {
				if err := c.planSeed(p, n); err != nil {
					return nil, map[*ir.Node]bool{n: true}, err
				}
			}
			continue
		}
		out, err := c.planHead(p, n)
		if err != nil {
			return nil, union, err
		}
		for i, o := range n.Outputs {
			if o == "" || (i > 0 && out.kind != headShape) {
				continue
			}
			v := *out
			v.seeds = union
			p.vals[o] = &v
		}
	}
	return p, nil, nil
}

func (c *fcConverter) planSeed(p *fcPlan, n *ir.Node) error {
	xs, _ := c.shape(n.Inputs[0])
	os, _ := c.shape(n.Outputs[0])
	C, H, W := xs[1], xs[2], xs[3]
	v := &headVal{kind: vecMap, c: C, h: 1, w: 1, oldRank: len(os), seeds: map[*ir.Node]bool{n: true}}
	switch n.Op {
	case "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "AveragePool", "MaxPool":
		op := "AveragePool"
		if strings.HasSuffix(n.Op, "MaxPool") || n.Op == "ReduceMax" {
			op = "MaxPool"
		}
		desc := fmt.Sprintf("%s -> %s %dx%d stride 1", n.Describe(), op, H, W)
		p.converted[n] = desc
		if op == "AveragePool" {
			p.pools[n] = true
		}
		p.apply = append(p.apply, func() {
			n.Op = op
			n.Inputs = n.Inputs[:1]
			n.Attrs = nil
			n.SetAttr(ir.IntsAttr("kernel_shape", []int64{int64(H), int64(W)}))
			n.SetAttr(ir.IntsAttr("strides", []int64{1, 1}))
		})
	default: // a flattening
		if H*W != 1 {
			v = &headVal{kind: flatMap, c: C, h: H, w: W, oldRank: 2, seeds: v.seeds}
		}
		p.apply = append(p.apply, fcIdentity(n))
	}
	p.seedNodes = append(p.seedNodes, n)
	p.vals[n.Outputs[0]] = v
	return nil
}

// identity returns the rewrite of n into an Identity of its first input.
func fcIdentity(n *ir.Node) func() {
	return func() {
		n.Op = "Identity"
		n.Inputs = n.Inputs[:1]
		n.Outputs = n.Outputs[:1]
		n.Attrs = nil
	}
}

// fcUnaryOps work element by element on one data input (extra inputs, such as
// Clip's bounds, must be constant scalars).
var fcUnaryOps = map[string]bool{
	"Identity": true, "Dropout": true, "Relu": true, "Clip": true, "LeakyRelu": true, "Sigmoid": true,
	"Tanh": true, "HardSigmoid": true, "HardSwish": true, "Elu": true, "Selu": true, "Celu": true,
	"Gelu": true, "Softplus": true, "Softsign": true, "Exp": true, "Log": true, "Abs": true, "Neg": true,
	"Sqrt": true, "Reciprocal": true, "Erf": true, "Mish": true, "ThresholdedRelu": true, "Cast": true,
	"Floor": true, "Ceil": true, "Round": true, "Sign": true,
}

// fcBinaryOps broadcast element-wise over their inputs.
var fcBinaryOps = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Max": true, "Min": true, "Pow": true,
	"PRelu": true, "Sum": true, "Mean": true,
}

func (c *fcConverter) planHead(p *fcPlan, n *ir.Node) (*headVal, error) {
	if n.Domain != "" {
		return nil, fcPlanError(n, "operator domain %q cannot run per position", n.Domain)
	}
	// Shape arithmetic on head values: allowed, as long as only Reshapes of
	// head values read it (checked when it reaches anything else).
	x := p.vals[n.Input(0)]
	if n.Op == "Shape" {
		return &headVal{kind: headShape}, nil
	}
	anyShape := false
	for _, in := range n.Inputs {
		if v := p.vals[in]; v != nil && v.kind == headShape {
			anyShape = true
		}
	}
	if anyShape && (x == nil || x.kind == headShape) && n.Op != "Reshape" {
		switch n.Op {
		case "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Mul", "Div", "Add", "Sub", "ReduceProd", "Identity":
			return &headVal{kind: headShape}, nil
		}
		return nil, fcPlanError(n, "computes with the classifier's output shape, which changes with the input size")
	}
	if x == nil || x.kind == headShape {
		if n.Op == "Reshape" && x == nil {
			return nil, fcPlanError(n, "reshapes a value with a shape computed from the classifier's output")
		}
		if !fcBinaryOps[n.Op] && n.Op != "Concat" {
			return nil, fcPlanError(n, "reads a classifier value in input position other than the first")
		}
	}
	if p.folded[n] {
		for _, in := range n.Inputs {
			if v := p.vals[in]; v != nil && v.kind == vecMap {
				return fcCopy(v), nil
			}
		}
	}
	outShape, _ := c.shape(n.Outputs[0])
	switch {
	case fcUnaryOps[n.Op]:
		for i, in := range n.Inputs[1:] {
			if in == "" {
				continue
			}
			t := c.constant(in)
			if t == nil || t.Len() != 1 {
				return nil, fcPlanError(n, "input %d is not a constant scalar", i+1)
			}
		}
		if n.Op == "Dropout" && len(n.Outputs) > 1 && n.Outputs[1] != "" && len(c.cons[n.Outputs[1]]) > 0 {
			return nil, fcPlanError(n, "its mask is used")
		}
		return fcCopy(x), nil
	case fcBinaryOps[n.Op]:
		return c.planBinary(p, n)
	case n.Op == "Flatten" || n.Op == "Reshape" || n.Op == "Squeeze" || n.Op == "Unsqueeze":
		N := x.batch(c, n)
		want2 := []int{N, x.c * x.h * x.w}
		switch {
		case slices.Equal(outShape, want2):
			p.apply = append(p.apply, fcIdentity(n))
			v := fcCopy(x)
			v.oldRank = 2
			return v, nil
		case x.kind == vecMap && slices.Equal(outShape, []int{N, x.c, 1, 1}):
			p.apply = append(p.apply, fcIdentity(n))
			v := fcCopy(x)
			v.oldRank = 4
			return v, nil
		}
		return nil, fcPlanError(n, "gives shape %v, not one vector per image", outShape)
	case n.Op == "Softmax" || n.Op == "LogSoftmax" || n.Op == "Hardmax":
		if x.kind != vecMap {
			return nil, fcPlanError(n, "normalizes a flattened feature map")
		}
		axis := n.AttrInt("axis", -1)
		if axis < 0 {
			axis += int64(x.oldRank)
		}
		if axis != 1 {
			return nil, fcPlanError(n, "axis %d is not the class axis", axis)
		}
		p.apply = append(p.apply, func() { n.SetAttr(ir.IntAttr("axis", 1)) })
		return fcCopy(x), nil
	case n.Op == "Gemm" || n.Op == "MatMul":
		return c.planFC(p, n, x)
	case n.Op == "Conv":
		return c.planConv1x1(n, x)
	case n.Op == "BatchNormalization":
		if x.kind != vecMap {
			return nil, fcPlanError(n, "normalizes a flattened feature map")
		}
		for _, in := range n.Inputs[1:] {
			if c.constant(in) == nil {
				return nil, fcPlanError(n, "has non-constant statistics")
			}
		}
		if len(n.Outputs) > 1 {
			return nil, fcPlanError(n, "is in training mode")
		}
		return fcCopy(x), nil
	case n.Op == "Concat":
		return c.planConcat(p, n)
	}
	return nil, fcPlanError(n, "cannot run per position of a score map")
}

func fcCopy(v *headVal) *headVal { c := *v; return &c }

// batch returns the batch size of head value v read by n.
func (v *headVal) batch(c *fcConverter, n *ir.Node) int {
	if s, ok := c.shape(n.Inputs[0]); ok && len(s) > 0 {
		return s[0]
	}
	return -1
}

// constant returns the value of a constant input: an initializer, or the
// output of nodes computing from initializers alone (exporters reshape or
// transpose weights; structure-only models make them with
// ConstantOfShape), evaluated with env.Eval when the Env has one (views
// through Reshape, Flatten, Squeeze, Unsqueeze and Identity need no
// evaluation: the data is shared, only the shape changes).
func (c *fcConverter) constant(name string) *ir.Tensor {
	return c.constantDepth(name, 16)
}

func (c *fcConverter) constantDepth(name string, depth int) *ir.Tensor {
	if name == "" {
		return nil
	}
	if t, ok := c.g.Initializers[name]; ok {
		return t
	}
	if t, ok := c.evaluated[name]; ok {
		return t
	}
	n := c.prod[name]
	if depth == 0 || n == nil || n.Domain != "" || len(n.Inputs) == 0 && n.Op != "Constant" {
		return nil
	}
	var t *ir.Tensor
	switch n.Op {
	case "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity":
		src := c.constantDepth(n.Inputs[0], depth-1)
		s, ok := c.shapes[name]
		if src == nil || !ok {
			return nil
		}
		var err error
		if t, err = src.Reshaped(s); err != nil {
			return nil
		}
	case "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli":
		return nil
	default:
		if c.env == nil || c.env.Eval == nil {
			return nil
		}
		in := make([]*ir.Tensor, len(n.Inputs))
		for i, x := range n.Inputs {
			if x == "" {
				continue
			}
			if in[i] = c.constantDepth(x, depth-1); in[i] == nil {
				return nil
			}
		}
		outs, err := c.env.Eval(n, in, 0)
		if err != nil {
			return nil
		}
		for i, o := range n.Outputs {
			if o != "" && i < len(outs) {
				c.evaluated[o] = outs[i]
			}
		}
		t = c.evaluated[name]
	}
	c.evaluated[name] = t
	return t
}

func (c *fcConverter) planBinary(p *fcPlan, n *ir.Node) (*headVal, error) {
	var ref *headVal
	for _, in := range n.Inputs {
		if v := p.vals[in]; v != nil {
			if v.kind == headShape {
				return nil, fcPlanError(n, "mixes a shape computation with class scores")
			}
			if ref != nil && (v.kind != ref.kind || v.c != ref.c || v.h != ref.h || v.w != ref.w) {
				return nil, fcPlanError(n, "combines classifier values of different kinds")
			}
			if ref == nil || v.oldRank > ref.oldRank {
				ref = v
			}
		}
	}
	type fix struct {
		i int
		t *ir.Tensor
	}
	var fixes []fix
	for i, in := range n.Inputs {
		if in == "" || p.vals[in] != nil {
			continue
		}
		t := c.constant(in)
		if t == nil {
			return nil, fcPlanError(n, "mixes the classifier's values with a feature map (input %q)", in)
		}
		if t.Len() == 1 && len(t.Shape) <= ref.oldRank {
			continue
		}
		if ref.kind != vecMap {
			return nil, fcPlanError(n, "applies constant %q %v element by element to a flattened feature map", in, t.Shape)
		}
		switch ref.oldRank {
		case 2:
			if !(slices.Equal(t.Shape, []int{ref.c}) || slices.Equal(t.Shape, []int{1, ref.c})) {
				return nil, fcPlanError(n, "constant %q has shape %v, not one value per class (%d)", in, t.Shape, ref.c)
			}
			nt, err := t.Reshaped([]int{1, ref.c, 1, 1})
			if err != nil {
				return nil, fcPlanError(n, "%v", err)
			}
			fixes = append(fixes, fix{i, nt})
		case 4:
			s := t.Shape
			if len(s) > 4 || (len(s) >= 1 && s[len(s)-1] != 1) || (len(s) >= 2 && s[len(s)-2] != 1) {
				return nil, fcPlanError(n, "constant %q has shape %v, which varies over positions", in, t.Shape)
			}
		}
	}
	for _, f := range fixes {
		name := c.newName(n.Inputs[f.i] + "_per_position")
		t := f.t
		i := f.i
		p.apply = append(p.apply, func() {
			c.g.Initializers[name] = t
			n.Inputs[i] = name
		})
	}
	v := fcCopy(ref)
	v.seeds = nil
	return v, nil
}

func (c *fcConverter) newName(base string) string {
	for {
		c.fresh++
		name := fmt.Sprintf("%s_%d", base, c.fresh)
		if _, taken := c.g.Initializers[name]; taken {
			continue
		}
		if _, taken := c.prod[name]; taken {
			continue
		}
		if _, taken := c.shapes[name]; taken {
			continue
		}
		return name
	}
}

// planFC turns a Gemm or MatMul reading a head value into a Conv.
func (c *fcConverter) planFC(p *fcPlan, n *ir.Node, x *headVal) (*headVal, error) {
	if p.vals[n.Input(0)] == nil || x.oldRank != 2 {
		return nil, fcPlanError(n, "does not multiply a flattened feature map by constant weights")
	}
	if x.kind == headShape {
		return nil, fcPlanError(n, "multiplies a shape")
	}
	b := c.constant(n.Input(1))
	if b == nil || len(b.Shape) != 2 || b.DType != ir.Float32 {
		return nil, fcPlanError(n, "weights %q are not a constant float32 matrix", n.Input(1))
	}
	D := x.c * x.h * x.w
	var K int
	trans := false
	alpha, beta := float32(1), float32(1)
	var bias *ir.Tensor
	biasAdd := (*ir.Node)(nil)
	if n.Op == "Gemm" {
		if n.AttrInt("transA", 0) != 0 {
			return nil, fcPlanError(n, "transA is set")
		}
		trans = n.AttrInt("transB", 0) != 0
		alpha, beta = n.AttrFloat("alpha", 1), n.AttrFloat("beta", 1)
		if n.Input(2) != "" {
			if bias = c.constant(n.Input(2)); bias == nil || bias.DType != ir.Float32 {
				return nil, fcPlanError(n, "bias %q is not a constant float32 tensor", n.Input(2))
			}
		}
	}
	if trans {
		K = b.Shape[0]
		if b.Shape[1] != D {
			return nil, fcPlanError(n, "weights %v do not match the %d inputs", b.Shape, D)
		}
	} else {
		K = b.Shape[1]
		if b.Shape[0] != D {
			return nil, fcPlanError(n, "weights %v do not match the %d inputs", b.Shape, D)
		}
	}
	if n.Op == "MatMul" {
		// Fold a following Add of a per-class constant into the bias.
		if cs := c.cons[n.Outputs[0]]; len(cs) == 1 && cs[0].Op == "Add" && cs[0].Domain == "" && !c.isGraphOutput(n.Outputs[0]) {
			a := cs[0]
			other := a.Input(1)
			if other == n.Outputs[0] {
				other = a.Input(0)
			}
			if t := c.constant(other); t != nil && t.DType == ir.Float32 && other != n.Outputs[0] {
				if t.Len() == 1 || slices.Equal(t.Shape, []int{K}) || slices.Equal(t.Shape, []int{1, K}) {
					bias, biasAdd = t, a
					p.folded[a] = true
				}
			}
		}
	}
	var bvals []float32
	if bias != nil {
		switch {
		case bias.Len() == 1:
			bvals = make([]float32, K)
			for i := range bvals {
				bvals[i] = bias.F32()[0]
			}
		case slices.Equal(bias.Shape, []int{K}) || slices.Equal(bias.Shape, []int{1, K}):
			bvals = append([]float32(nil), bias.F32()...)
		default:
			return nil, fcPlanError(n, "bias %v is not one value per output", bias.Shape)
		}
		for i := range bvals {
			bvals[i] *= beta
		}
	}
	src := b.F32()
	w := make([]float32, K*D)
	for k := range K {
		for d := range D {
			if trans {
				w[k*D+d] = alpha * src[k*D+d]
			} else {
				w[k*D+d] = alpha * src[d*K+k]
			}
		}
	}
	wt, err := ir.FromFloat32([]int{K, x.c, x.h, x.w}, w)
	if err != nil {
		return nil, fcPlanError(n, "%v", err)
	}
	wName := c.newName(n.Input(1) + "_conv")
	bName := ""
	var bt *ir.Tensor
	if bvals != nil {
		bt, _ = ir.FromFloat32([]int{K}, bvals)
		base := n.Input(1) + "_bias"
		if bias != nil && n.Input(2) != "" {
			base = n.Input(2) + "_conv"
		}
		bName = c.newName(base)
	}
	h, wd := x.h, x.w
	p.converted[n] = fmt.Sprintf("%s -> Conv %dx%d", n.Describe(), h, wd)
	p.apply = append(p.apply, func() {
		c.g.Initializers[wName] = wt
		n.Op = "Conv"
		n.Attrs = nil
		n.SetAttr(ir.IntsAttr("kernel_shape", []int64{int64(h), int64(wd)}))
		n.SetAttr(ir.IntsAttr("strides", []int64{1, 1}))
		n.Inputs = []string{n.Inputs[0], wName}
		if bt != nil {
			c.g.Initializers[bName] = bt
			n.Inputs = append(n.Inputs, bName)
		}
		if biasAdd != nil {
			fcIdentity(biasAdd)()
			biasAdd.Inputs[0] = n.Outputs[0]
		}
	})
	if h == 1 && wd == 1 {
		p.fcConvs[n] = true
	}
	return &headVal{kind: vecMap, c: K, h: 1, w: 1, oldRank: 2}, nil
}

func (c *fcConverter) isGraphOutput(name string) bool {
	for _, o := range c.g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// planConv1x1 accepts a 1×1 convolution over a vector map (a classifier
// written as a convolution after a global pool).
func (c *fcConverter) planConv1x1(n *ir.Node, x *headVal) (*headVal, error) {
	w := c.constant(n.Input(1))
	if x.kind != vecMap || w == nil || len(w.Shape) != 4 || w.Shape[2] != 1 || w.Shape[3] != 1 {
		return nil, fcPlanError(n, "is not a 1×1 convolution of per-image vectors with constant weights")
	}
	for _, s := range n.AttrInts("strides") {
		if s != 1 {
			return nil, fcPlanError(n, "has stride %d", s)
		}
	}
	for _, q := range n.AttrInts("pads") {
		if q != 0 {
			return nil, fcPlanError(n, "pads the map")
		}
	}
	if ap := n.AttrString("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return nil, fcPlanError(n, "pads the map (auto_pad %s)", ap)
	}
	if n.Input(2) != "" && c.constant(n.Input(2)) == nil {
		return nil, fcPlanError(n, "has a non-constant bias")
	}
	return &headVal{kind: vecMap, c: w.Shape[0], h: 1, w: 1, oldRank: 4}, nil
}

func (c *fcConverter) planConcat(p *fcPlan, n *ir.Node) (*headVal, error) {
	total := 0
	rank := 0
	for _, in := range n.Inputs {
		v := p.vals[in]
		if v == nil || v.kind != vecMap {
			return nil, fcPlanError(n, "concatenates a classifier value with something else")
		}
		if rank != 0 && v.oldRank != rank {
			return nil, fcPlanError(n, "concatenates values of different ranks")
		}
		rank = v.oldRank
		total += v.c
	}
	axis := n.AttrInt("axis", 0)
	if axis < 0 {
		axis += int64(rank)
	}
	if axis != 1 {
		return nil, fcPlanError(n, "concatenates along axis %d, not the class axis", axis)
	}
	p.apply = append(p.apply, func() { n.SetAttr(ir.IntAttr("axis", 1)) })
	return &headVal{kind: vecMap, c: total, h: 1, w: 1, oldRank: rank}, nil
}

// checkOutputs rejects heads whose outputs are not per-position vectors.
func (c *fcConverter) checkOutputs(p *fcPlan) error {
	for _, o := range c.g.Outputs {
		v := p.vals[o.Name]
		if v == nil {
			continue
		}
		switch v.kind {
		case flatMap:
			return fmt.Errorf("graph output %q is a flattened feature map, which has no per-position form", o.Name)
		case headShape:
			return fmt.Errorf("graph output %q is computed from the classifier's shape", o.Name)
		}
	}
	// A head shape value still read by a node that survives must not exist:
	// every reader of one is a Reshape of a head value (made an Identity) or
	// shape arithmetic that dies with it. planHead enforces the first part.
	return nil
}

// geometry fills the window (declared input size) and the total stride.
func (c *fcConverter) geometry(p *fcPlan, res *FCConversion) error {
	found := false
	for _, vi := range c.g.Inputs {
		s, ok := c.shape(vi.Name)
		if !ok || len(s) != 4 {
			continue
		}
		h, w, ok := fcImageDims(vi, s)
		if !ok {
			continue
		}
		if !found {
			res.Window = [2]int{h, w}
			found = true
		}
	}
	if !found {
		return errors.New("the model has no 4-D image input whose spatial size is declared")
	}
	// Total stride: follow the first non-constant input back from the first
	// seed to a graph input, multiplying strides of convolutions and pools.
	res.Jump = [2]int{1, 1}
	if len(p.seedNodes) == 0 {
		return nil
	}
	name := p.seedNodes[0].Inputs[0]
	for range len(c.g.Nodes) + 1 {
		n := c.prod[name]
		if n == nil {
			break
		}
		switch n.Op {
		case "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "ConvInteger", "QLinearConv":
			if s := n.AttrInts("strides"); len(s) == 2 {
				res.Jump[0] *= int(s[0])
				res.Jump[1] *= int(s[1])
			}
		}
		next := ""
		for _, in := range n.Inputs {
			if in != "" && c.constant(in) == nil {
				next = in
				break
			}
		}
		if next == "" {
			break
		}
		name = next
	}
	return nil
}

// fcImageDims returns the height and width of a 4-D image input with concrete
// shape s: NCHW unless the declaration has 1 or 3 channels last and not at
// dimension 1.
func fcImageDims(vi *ir.ValueInfo, s []int) (int, int, bool) {
	h, w := s[2], s[3]
	if fcNHWC(vi) {
		h, w = s[1], s[2]
	}
	return h, w, h > 0 && w > 0
}

func fcNHWC(vi *ir.ValueInfo) bool {
	d := vi.Shape.Dims
	if len(d) != 4 {
		return false
	}
	is13 := func(x ir.Dim) bool { return x.Known() && (x.Size == 1 || x.Size == 3) }
	return is13(d[3]) && !is13(d[1])
}

// moveConvBeforePool swaps a stride-1 average pool made from a global pool
// with the 1×1 convolution (made from a fully connected layer) that is its
// only reader: average and convolution are both linear, and the pool has no
// padding, so the bias passes through unchanged.
func (c *fcConverter) moveConvBeforePool(p *fcPlan) {
	cons := c.g.Consumers()
	for pool := range p.pools {
		out := pool.Outputs[0]
		rs := cons[out]
		if len(rs) != 1 || c.isGraphOutput(out) {
			continue
		}
		conv := rs[0]
		if !p.fcConvs[conv] || conv.Inputs[0] != out {
			continue
		}
		convOut := conv.Outputs[0]
		conv.Inputs[0] = pool.Inputs[0]
		conv.Outputs[0] = out
		pool.Inputs[0] = out
		pool.Outputs[0] = convOut
		p.converted[conv] += " (moved before the pool)"
	}
}

// relaxShapes makes the image inputs' spatial sizes symbolic, declares the
// converted outputs as score maps and drops declared intermediate types.
func (c *fcConverter) relaxShapes(p *fcPlan) {
	for _, vi := range c.g.Inputs {
		if vi.Shape.Rank() != 4 {
			continue
		}
		dims := append([]ir.Dim(nil), vi.Shape.Dims...)
		if fcNHWC(vi) {
			dims[1], dims[2] = ir.SymDim(InputHeightDim), ir.SymDim(InputWidthDim)
		} else {
			dims[2], dims[3] = ir.SymDim(InputHeightDim), ir.SymDim(InputWidthDim)
		}
		vi.Shape = ir.Shape{Dims: dims, Ranked: true}
	}
	for _, o := range c.g.Outputs {
		v := p.vals[o.Name]
		if v == nil || v.kind != vecMap {
			continue
		}
		batch := ir.UnknownDim()
		if o.Shape.Rank() >= 1 {
			batch = o.Shape.Dims[0]
		}
		o.Shape = ir.Shape{Dims: []ir.Dim{batch, ir.KnownDim(int64(v.c)), ir.SymDim(MapHeightDim), ir.SymDim(MapWidthDim)}, Ranked: true}
	}
	c.g.ValueInfos = map[string]*ir.ValueInfo{}
}
