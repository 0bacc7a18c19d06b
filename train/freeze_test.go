package train

import (
	"reflect"
	"strings"
	"testing"
)

func TestFreezePatterns(t *testing.T) {
	b := newGraph(t, "x", 1, 4)
	b.node("MatMul", []string{"x", b.init("features.0.weight", []int{4, 4}, nil)}, "a")
	b.node("Add", []string{"a", b.init("features.0.bias", []int{4}, nil)}, "a2")
	b.node("MatMul", []string{"a2", b.init("features.1/w", []int{4, 4}, nil)}, "c")
	b.node("Gemm", []string{"c", b.init("fc.weight", []int{4, 3}, nil), b.init("fc.bias", []int{3}, nil)}, "out")
	m := b.model("out", 1, 3)
	params := []string{"features.0.weight", "features.0.bias", "features.1/w", "fc.weight", "fc.bias"}
	cases := []struct {
		spec   string
		frozen []string
	}{
		{"", nil},
		{"features.0.*", []string{"features.0.weight", "features.0.bias"}},
		{"features.*", []string{"features.0.weight", "features.0.bias"}}, // * does not cross /
		{"features.1/*", []string{"features.1/w"}},
		{"re:^features", []string{"features.0.weight", "features.0.bias", "features.1/w"}},
		{"re:weight$, features.1/?", []string{"features.0.weight", "features.1/w", "fc.weight"}},
		{AllButHead, []string{"features.0.weight", "features.0.bias", "features.1/w"}},
		{"fc.bias," + AllButHead, []string{"features.0.weight", "features.0.bias", "features.1/w", "fc.bias"}},
	}
	for _, c := range cases {
		f, err := ParseFreeze(c.spec)
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		tr, fr, err := f.Apply(m.Graph, params)
		if err != nil {
			t.Fatalf("%q: %v", c.spec, err)
		}
		if !reflect.DeepEqual(fr, c.frozen) {
			t.Errorf("%q froze %v, want %v", c.spec, fr, c.frozen)
		}
		if len(tr)+len(fr) != len(params) {
			t.Errorf("%q: %d trainable + %d frozen of %d", c.spec, len(tr), len(fr), len(params))
		}
	}
	if f, _ := ParseFreeze(" "); !f.Empty() {
		t.Error("blank spec is not empty")
	}

	for _, c := range []struct {
		spec, want string
	}{
		{"re:(", "missing closing"},
		{"a[", "syntax error"},
		{"a,,b", "empty item"},
	} {
		if _, err := ParseFreeze(c.spec); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error mentioning %q", c.spec, err, c.want)
		}
	}
	for _, c := range []struct {
		spec, want string
	}{
		{"classifier.*", "matches no initializer"},
		{"*,*/*", "freezes every parameter"},
		{"re:.", "freezes every parameter"},
	} {
		f, err := ParseFreeze(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Apply(m.Graph, params); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error mentioning %q", c.spec, err, c.want)
		}
	}
	// all-but-head on a model without a recognisable head.
	b = newGraph(t, "x", 1, 4)
	b.node("Relu", []string{"x"}, "out")
	f, _ := ParseFreeze(AllButHead)
	if _, _, err := f.Apply(b.model("out", 1, 4).Graph, nil); err == nil || !strings.Contains(err.Error(), AllButHead) {
		t.Errorf("all-but-head without a head: %v", err)
	}
}
