package onnx

import (
	"fmt"

	"github.com/runinfer/runinfer/ir"
	pb "github.com/runinfer/runinfer/onnx/onnxpb"
)

// maxInlineDepth bounds nested model-local function calls (and so recursion).
const maxInlineDepth = 16

// inlineFunctions replaces every call of a model-local function (ModelProto.
// functions, IR version 8+) by the function's body, with its values renamed
// apart and attribute references substituted.
func (dc *decodeCtx) inlineFunctions(g *ir.Graph) error {
	if len(dc.funcs) == 0 {
		return nil
	}
	for round := 0; ; round++ {
		changed := false
		var out []*ir.Node
		for _, n := range g.Nodes {
			f, ok := dc.funcs[n.Domain+"\x00"+n.Op]
			if !ok || (n.Domain == "" && isStandardOp(n.Op)) {
				out = append(out, n)
				continue
			}
			if round >= maxInlineDepth {
				return fmt.Errorf("%s: model-local functions nest deeper than %d (recursive?)", n.Describe(), maxInlineDepth)
			}
			body, err := dc.expand(n, f)
			if err != nil {
				return fmt.Errorf("%s: inlining function %s: %w", n.Describe(), f.GetName(), err)
			}
			out = append(out, body...)
			changed = true
		}
		g.Nodes = out
		if !changed {
			return nil
		}
	}
}

func (dc *decodeCtx) expand(call *ir.Node, f *pb.FunctionProto) ([]*ir.Node, error) {
	dc.fresh++
	prefix := fmt.Sprintf("%s__fn%d__", f.GetName(), dc.fresh)
	rename := map[string]string{}
	for i, name := range f.Input {
		rename[name] = call.Input(i) // an omitted actual input stays ""
	}
	for i, name := range f.Output {
		if i < len(call.Outputs) {
			rename[name] = call.Outputs[i]
		}
	}
	mapName := func(s string) string {
		if s == "" {
			return ""
		}
		if r, ok := rename[s]; ok {
			return r
		}
		return prefix + s
	}
	// Attribute references take the call's values. (Default values in
	// FunctionProto.attribute_proto arrived after the ONNX 1.12 schema these
	// bindings are generated from; an unset reference leaves it absent.)
	attrs := call.Attrs
	var body []*ir.Node
	for _, np := range f.Node {
		n, err := dc.node(np)
		if err != nil {
			return nil, err
		}
		for i := range n.Inputs {
			n.Inputs[i] = mapName(n.Inputs[i])
		}
		for i := range n.Outputs {
			n.Outputs[i] = mapName(n.Outputs[i])
		}
		if n.Name != "" {
			n.Name = prefix + n.Name
		}
		for k, a := range n.Attrs {
			if a.RefAttrName == "" {
				continue
			}
			if v, ok := attrs[a.RefAttrName]; ok {
				c := *v
				c.Name = k
				n.Attrs[k] = &c
			} else {
				delete(n.Attrs, k) // unset reference: the attribute is absent
			}
		}
		body = append(body, n)
	}
	return body, nil
}
