package ir

import "fmt"

// AttrType is an attribute's kind, numbered as ONNX AttributeProto.AttributeType.
type AttrType int32

// Attribute kinds.
const (
	AttrUndefined     AttrType = 0
	AttrFloat         AttrType = 1
	AttrInt           AttrType = 2
	AttrString        AttrType = 3
	AttrTensor        AttrType = 4
	AttrGraph         AttrType = 5
	AttrFloats        AttrType = 6
	AttrInts          AttrType = 7
	AttrStrings       AttrType = 8
	AttrTensors       AttrType = 9
	AttrGraphs        AttrType = 10
	AttrSparseTensor  AttrType = 11
	AttrSparseTensors AttrType = 12
	AttrTypeProto     AttrType = 13
	AttrTypeProtos    AttrType = 14
)

// Attr is a node attribute. Only the field matching Type is meaningful.
// Sparse tensors are held densified in T/Tensors (keeping their kind in
// Type), and type protos as ValueInfos without names.
type Attr struct {
	Name    string
	Type    AttrType
	F       float32
	I       int64
	S       string // ONNX strings are bytes; a Go string holds any bytes
	T       *Tensor
	G       *Graph
	Floats  []float32
	Ints    []int64
	Strings []string
	Tensors []*Tensor
	Graphs  []*Graph
	Types   []*ValueInfo
	// RefAttrName is set for attribute references inside ONNX functions.
	RefAttrName string
}

// AttrInt returns integer attribute name, or def when absent.
func (n *Node) AttrInt(name string, def int64) int64 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrInt {
		return a.I
	}
	return def
}

// AttrFloat returns float attribute name, or def when absent.
func (n *Node) AttrFloat(name string, def float32) float32 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrFloat {
		return a.F
	}
	return def
}

// AttrString returns string attribute name, or def when absent.
func (n *Node) AttrString(name string, def string) string {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrString {
		return a.S
	}
	return def
}

// AttrInts returns integer-list attribute name, or nil when absent.
func (n *Node) AttrInts(name string) []int64 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrInts {
		return a.Ints
	}
	return nil
}

// AttrFloats returns float-list attribute name, or nil when absent.
func (n *Node) AttrFloats(name string) []float32 {
	if a, ok := n.Attrs[name]; ok && a.Type == AttrFloats {
		return a.Floats
	}
	return nil
}

// AttrTensor returns tensor attribute name, or nil when absent.
func (n *Node) AttrTensor(name string) *Tensor {
	if a, ok := n.Attrs[name]; ok && (a.Type == AttrTensor || a.Type == AttrSparseTensor) {
		return a.T
	}
	return nil
}

// HasAttr reports whether attribute name is present.
func (n *Node) HasAttr(name string) bool { _, ok := n.Attrs[name]; return ok }

// SetAttr sets (or replaces) an attribute.
func (n *Node) SetAttr(a *Attr) {
	if n.Attrs == nil {
		n.Attrs = map[string]*Attr{}
	}
	n.Attrs[a.Name] = a
}

// IntAttr builds an integer attribute.
func IntAttr(name string, v int64) *Attr { return &Attr{Name: name, Type: AttrInt, I: v} }

// IntsAttr builds an integer-list attribute.
func IntsAttr(name string, v []int64) *Attr { return &Attr{Name: name, Type: AttrInts, Ints: v} }

// FloatAttr builds a float attribute.
func FloatAttr(name string, v float32) *Attr { return &Attr{Name: name, Type: AttrFloat, F: v} }

// StringAttr builds a string attribute.
func StringAttr(name string, v string) *Attr { return &Attr{Name: name, Type: AttrString, S: v} }

func (a *Attr) String() string {
	switch a.Type {
	case AttrFloat:
		return fmt.Sprintf("%s=%g", a.Name, a.F)
	case AttrInt:
		return fmt.Sprintf("%s=%d", a.Name, a.I)
	case AttrString:
		return fmt.Sprintf("%s=%q", a.Name, a.S)
	case AttrInts:
		return fmt.Sprintf("%s=%v", a.Name, a.Ints)
	case AttrFloats:
		return fmt.Sprintf("%s=%v", a.Name, a.Floats)
	case AttrStrings:
		return fmt.Sprintf("%s=%q", a.Name, a.Strings)
	case AttrTensor, AttrSparseTensor:
		return fmt.Sprintf("%s=<%v>", a.Name, a.T)
	}
	return fmt.Sprintf("%s=<%d>", a.Name, a.Type)
}
