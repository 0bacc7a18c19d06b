package imageprep

import (
	"math"
	"testing"
)

func TestSoftmaxMatchesTheDefinition(t *testing.T) {
	in := []float32{1, 2, 3, -1000, 1000}
	got := Softmax(in[:3])
	den := math.Exp(1) + math.Exp(2) + math.Exp(3)
	for i, x := range []float64{1, 2, 3} {
		if want := math.Exp(x) / den; math.Abs(float64(got[i])-want) > 1e-7 {
			t.Errorf("softmax[%d] = %g, want %g", i, got[i], want)
		}
	}
	big := Softmax(in)
	if big[4] != 1 || big[3] != 0 {
		t.Errorf("softmax with large logits = %v, want the 1000 logit to take everything without overflow", big)
	}
	if s := Softmax([]float32{float32(math.Inf(1)), 0, float32(math.Inf(1))}); s[0] != 0.5 || s[1] != 0 || s[2] != 0.5 {
		t.Errorf("softmax with +Inf = %v, want the infinities to share", s)
	}
	if s := Softmax([]float32{float32(math.NaN()), 0}); !math.IsNaN(float64(s[0])) || s[1] != 1 {
		t.Errorf("softmax with NaN = %v", s)
	}
}

func TestProbabilitiesAppliesSoftmaxOnlyWhenNeeded(t *testing.T) {
	cases := []struct {
		name    string
		in      []float32
		already bool
	}{
		{"a distribution is kept", []float32{0.7, 0.2, 0.1}, true},
		{"a sum off by less than 1e-3 is kept", []float32{0.7, 0.2, 0.1009}, true},
		{"a sum off by more than 1e-3 is softmaxed", []float32{0.7, 0.2, 0.102}, false},
		{"a negative value means logits", []float32{1.1, -0.1, 0}, false},
		{"logits are softmaxed", []float32{2, 5, -3}, false},
		{"NaN is not a distribution", []float32{float32(math.NaN()), 1}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := IsDistribution(c.in); got != c.already {
				t.Fatalf("IsDistribution = %v, want %v", got, c.already)
			}
			got := Probabilities(c.in)
			want := c.in
			if !c.already {
				want = Softmax(c.in)
			}
			for i := range got {
				if got[i] != want[i] && !(math.IsNaN(float64(got[i])) && math.IsNaN(float64(want[i]))) {
					t.Fatalf("Probabilities = %v, want %v", got, want)
				}
			}
		})
	}
}

func TestTopKRanksBestFirst(t *testing.T) {
	p := []float32{0.1, 0.4, float32(math.NaN()), 0.4, 0.05, 0.05}
	got := TopK(p, 4)
	want := []Class{{1, 0.4}, {3, 0.4}, {0, 0.1}, {4, 0.05}}
	if len(got) != len(want) {
		t.Fatalf("TopK = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("TopK = %v, want %v (ties by lower index)", got, want)
		}
	}
	if all := TopK(p, 100); len(all) != len(p) || all[len(all)-1].Index != 2 {
		t.Errorf("TopK(100) = %v, want all six with NaN last", all)
	}
	if none := TopK(p, 0); len(none) != 0 {
		t.Errorf("TopK(0) = %v", none)
	}
}
