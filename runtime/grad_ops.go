package runtime

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/simd"
)

// Backward mode: the operator side.
//
// A Trainer (grad.go) runs a graph forward, keeping every value, then walks
// the nodes in reverse and asks each node's gradOp for the gradients of its
// inputs from the gradients of its outputs. Each op family registers its
// gradOp from an init function in its grad_*.go file, like the inference
// operators register in ops.

// gradCtx is what a gradOp sees of the step it runs in.
type gradCtx struct {
	k   *simd.Kernels // the session's tier
	par simd.Parallel // its workers (nil: serial)
	// training selects training-mode semantics: BatchNormalization
	// normalises with the batch's statistics (and updates its running
	// statistics in place), Dropout drops. False: inference semantics.
	training bool
	rng      *rand.Rand // Dropout's masks; only used when training
	limit    int        // the largest tensor (elements) a step may create
	// mem is the trainer's buffer pool (grad_mem.go; nil: ordinary
	// allocations). Ops take their outputs, gradients and large scratch
	// from it through floats, newF32, zerosLike and likeF32.
	mem *gradMem
	// doutFree[i], set by the engine for the backward call in progress,
	// says that nothing but this call will read dout[i] again: the op may
	// overwrite it and return it as an input's gradient (see doutReusable).
	doutFree []bool
}

// doutReusable reports whether backward may overwrite dout[i] (an
// exception to "backward must not modify dout").
func (c *gradCtx) doutReusable(i int) bool {
	return c != nil && i < len(c.doutFree) && c.doutFree[i]
}

// gradOp is one operator's backward mode.
//
// forward computes the outputs of n from its inputs for a training step
// and returns, in saved, whatever backward needs beyond the inputs and
// outputs (a Dropout mask, batch statistics, an argmax). When forward is
// nil the inference operator (EvalNode) computes the outputs and saved is
// nil. forward may update non-parameter inputs in place where ONNX's
// training semantics say so (BatchNormalization's running statistics).
//
// backward receives the forward's inputs, outputs and saved value, and the
// gradients of the outputs (dout[i] is nil when nothing depends on output
// i: treat it as zero). need[i] says whether input i's gradient is wanted.
// It returns din with len(din) == len(in); din[i] must be set (same dtype
// and shape as in[i]) where need[i] is true, and is ignored elsewhere.
// Gradients are float32 tensors. backward must not modify in, out or dout,
// except a dout[i] for which c.doutReusable(i) says so.
type gradOp struct {
	forward  func(c *gradCtx, n *ir.Node, in []*ir.Tensor) (out []*ir.Tensor, saved any, err error)
	backward func(c *gradCtx, n *ir.Node, in, out []*ir.Tensor, saved any, dout []*ir.Tensor, need []bool) (din []*ir.Tensor, err error)
	// diff lists the inputs gradients flow to (nil: every input). Inputs
	// that are indices, shapes or axes (Reshape's shape, Pad's pads,
	// Split's split, Clip's min and max) are left out: a value that
	// depends on a parameter only through them gets no gradient.
	diff []int
}

// gradOps is the backward table by opKey, filled by init functions in the
// grad_*.go files and read-only afterwards.
var gradOps = map[string]gradOp{}

func registerGrad(op string, g gradOp) {
	if _, dup := gradOps[op]; dup {
		panic("runtime: gradient registered twice: " + op)
	}
	if g.backward == nil {
		panic("runtime: gradient without backward: " + op)
	}
	gradOps[op] = g
}

// differentiable reports whether gradients flow from n's outputs to input
// i of n.
func (g gradOp) differentiable(i int) bool {
	if g.diff == nil {
		return true
	}
	for _, d := range g.diff {
		if d == i {
			return true
		}
	}
	return false
}

// GradientOps lists the operators backward mode differentiates, sorted.
func GradientOps() []string {
	names := make([]string, 0, len(gradOps))
	for k := range gradOps {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// zerosLike returns a float32 tensor of t's shape, all zeros.
func zerosLike(t *ir.Tensor) *ir.Tensor {
	z, err := ir.NewTensor(ir.Float32, t.Shape)
	if err != nil {
		// t exists, so a tensor of its shape can be made.
		panic(fmt.Sprintf("runtime: zerosLike %v: %v", t.Shape, err))
	}
	return z
}
