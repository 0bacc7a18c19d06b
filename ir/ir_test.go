package ir

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestConvOutSizeFollowsTheFormula(t *testing.T) {
	for _, c := range []struct {
		name                            string
		in, k, stride, dil, pb, pe, out int
		ceil                            bool
	}{
		{"3x3 same padding", 5, 3, 1, 1, 1, 1, 5, false},
		{"stride 2 floor", 6, 3, 2, 1, 0, 0, 2, false},
		{"stride 2 ceil adds the partial window", 6, 3, 2, 1, 0, 0, 3, true},
		{"ceil drops a window starting in the end padding", 4, 2, 3, 1, 0, 2, 2, true},
		{"ceil keeps a window starting inside the input", 4, 3, 2, 1, 1, 1, 3, true},
		{"dilation 2 widens the kernel to 5", 7, 3, 1, 2, 0, 0, 3, false},
		{"asymmetric pads", 4, 3, 1, 1, 0, 2, 4, false},
		{"kernel equals input", 4, 4, 1, 1, 0, 0, 1, false},
		{"stride larger than kernel", 10, 1, 4, 1, 0, 0, 3, false},
		{"ceil with exact fit changes nothing", 7, 3, 2, 1, 0, 0, 3, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ConvOutSize(c.in, c.k, c.stride, c.dil, c.pb, c.pe, c.ceil)
			if err != nil || got != c.out {
				t.Fatalf("ConvOutSize = %d, %v; want %d", got, err, c.out)
			}
		})
	}
}

func TestConvOutSizeRejectsImpossibleGeometry(t *testing.T) {
	for _, c := range []struct {
		name                  string
		in, k, stride, dil, p int
		want                  string
	}{
		{"kernel larger than padded input", 2, 5, 1, 1, 1, "larger than the padded input 4"},
		{"dilated kernel larger", 4, 3, 1, 2, 0, "effective kernel 5"},
		{"stride 0", 4, 3, 0, 1, 0, "stride 0"},
		{"dilation 0", 4, 3, 1, 0, 0, "dilation 0"},
		{"kernel 0", 4, 0, 1, 1, 0, "kernel size 0"},
		{"negative pad", 4, 3, 1, 1, -1, "negative padding"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ConvOutSize(c.in, c.k, c.stride, c.dil, c.p, c.p, false)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestAutoPadSplitsOddPadding(t *testing.T) {
	for _, c := range []struct {
		mode          string
		in, k, stride int
		begin, end    int
	}{
		{"SAME_UPPER", 5, 4, 1, 1, 2},
		{"SAME_LOWER", 5, 4, 1, 2, 1},
		{"SAME_UPPER", 7, 3, 2, 1, 1},
		{"SAME_UPPER", 6, 3, 2, 0, 1},
		{"VALID", 6, 3, 2, 0, 0},
	} {
		b, e, err := AutoPad(c.mode, c.in, c.k, c.stride, 1)
		if err != nil || b != c.begin || e != c.end {
			t.Errorf("AutoPad(%s, in %d, k %d, s %d) = %d, %d, %v; want %d, %d", c.mode, c.in, c.k, c.stride, b, e, err, c.begin, c.end)
		}
		if c.mode != "VALID" {
			out, _ := ConvOutSize(c.in, c.k, c.stride, 1, b, e, false)
			if want := (c.in + c.stride - 1) / c.stride; out != want {
				t.Errorf("%s keeps %d outputs, want ceil(in/stride) = %d", c.mode, out, want)
			}
		}
	}
	if _, _, err := AutoPad("SAME", 4, 3, 1, 1); err == nil {
		t.Error("unknown auto_pad accepted")
	}
}

func TestBroadcastShapes(t *testing.T) {
	got, err := BroadcastShapes([]int{8, 1, 6, 1}, []int{7, 1, 5}, []int{})
	if err != nil || len(got) != 4 || got[0] != 8 || got[1] != 7 || got[2] != 6 || got[3] != 5 {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := BroadcastShapes([]int{2, 3}, []int{4, 3}); err == nil {
		t.Fatal("2 vs 4 broadcast")
	}
}

func TestNumElementsRefusesOverflowAndHugeShapes(t *testing.T) {
	for _, shape := range [][]int{{math.MaxInt / 2, math.MaxInt / 2}, {MaxElements/2 + 1, 3}, {-1, 2}, {math.MaxInt, 4}} {
		if _, err := NumElements(shape); err == nil {
			t.Errorf("NumElements(%v) succeeded", shape)
		}
	}
	if _, err := NewTensor(Float32, []int{1 << 16, 1 << 16, 2}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("NewTensor of 2^33 elements: %v", err)
	}
	if n, err := NumElements([]int{0, math.MaxInt}); err != nil || n != 0 {
		t.Errorf("empty tensor: %d, %v", n, err)
	}
}

func TestFloat16RoundTripsEveryValue(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := Float16ToFloat32(uint16(h))
		back := Float32ToFloat16(f)
		if math.IsNaN(float64(f)) {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("%#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestFloat32ToFloat16RoundsToNearestEven(t *testing.T) {
	for _, c := range []struct {
		f    float32
		want uint16
	}{
		{1, 0x3c00},
		{65504, 0x7bff},        // largest finite
		{65520, 0x7c00},        // rounds up to infinity
		{1 + 1.0/2048, 0x3c00}, // exactly half an ulp above 1: ties to even (down)
		{1 + 3.0/2048, 0x3c02}, // 1.5 ulps: ties to even (up)
		{5.960464e-08, 0x0001}, // smallest subnormal
		{2.9e-08, 0x0000},      // below half the smallest subnormal
		{float32(math.Inf(-1)), 0xfc00},
	} {
		if got := Float32ToFloat16(c.f); got != c.want {
			t.Errorf("Float32ToFloat16(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
	if got := BFloat16ToFloat32(Float32ToBFloat16(1.00390625)); got != 1 { // tie -> even
		t.Errorf("bfloat16 tie rounded to %v", got)
	}
}

func TestValidateOrdersNodesAndFindsCycles(t *testing.T) {
	g := NewGraph("g")
	g.Inputs = []*ValueInfo{{Name: "x"}}
	g.Outputs = []*ValueInfo{{Name: "z"}}
	g.Nodes = []*Node{
		{Op: "B", Inputs: []string{"y"}, Outputs: []string{"z"}},
		{Op: "A", Inputs: []string{"x"}, Outputs: []string{"y"}},
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if g.Nodes[0].Op != "A" {
		t.Fatalf("not topologically sorted: %s first", g.Nodes[0].Op)
	}
	g.Nodes[1].Inputs = []string{"z"} // B reads its own output's descendant
	g.Nodes[0].Inputs = []string{"z"}
	if err := g.Validate(); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Fatalf("cycle: err = %v", err)
	}
	dup := NewGraph("d")
	dup.Inputs = []*ValueInfo{{Name: "x"}}
	dup.Nodes = []*Node{{Op: "A", Inputs: []string{"x"}, Outputs: []string{"x"}}}
	if err := dup.Validate(); err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Fatalf("redefinition: err = %v", err)
	}
}
