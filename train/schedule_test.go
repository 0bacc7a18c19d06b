package train

import (
	"math"
	"strings"
	"testing"
)

func TestSchedules(t *testing.T) {
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*(1+math.Abs(b)) }
	c := Constant{0.3}
	for _, s := range []int{0, 1, 1000} {
		if c.LR(s) != 0.3 {
			t.Errorf("constant LR(%d) = %g", s, c.LR(s))
		}
	}
	sd := StepDecay{Rate: 1, Every: 3, Gamma: 0.1}
	for s, want := range []float64{1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01} {
		if got := sd.LR(s); !near(got, want) {
			t.Errorf("step LR(%d) = %g, want %g", s, got, want)
		}
	}
	// Cosine from 1 to 0.1 over 4 steps: 1, 0.1+0.9·(1+cos(π/4))/2, 0.55, ...
	cs := Cosine{Rate: 1, Min: 0.1, Total: 4}
	for s, want := range []float64{1, 0.1 + 0.45*(1+math.Sqrt2/2), 0.55, 0.1 + 0.45*(1-math.Sqrt2/2), 0.1, 0.1} {
		if got := cs.LR(s); !near(got, want) {
			t.Errorf("cosine LR(%d) = %g, want %g", s, got, want)
		}
	}
	// Warmup of 3 steps: 1/4, 2/4, 3/4 of the rate, then the cosine over
	// the 2 remaining steps: 1, 0.5 (min 0).
	cw := Cosine{Rate: 2, Total: 5, Warmup: 3}
	for s, want := range []float64{0.5, 1, 1.5, 2, 1, 0} {
		if got := cw.LR(s); !near(got, want) {
			t.Errorf("warm cosine LR(%d) = %g, want %g", s, got, want)
		}
	}
	// The schedule is monotone after warmup and stays within [Min, Rate].
	big := Cosine{Rate: 0.1, Min: 0.001, Total: 1000, Warmup: 50}
	prev := math.Inf(1)
	for s := 50; s < 1100; s++ {
		lr := big.LR(s)
		if lr > prev+1e-15 || lr < 0.001-1e-15 || lr > 0.1 {
			t.Fatalf("LR(%d) = %g after %g", s, lr, prev)
		}
		prev = lr
	}
}

func TestNewSchedule(t *testing.T) {
	s, err := NewSchedule(ScheduleOptions{Kind: "step", Rate: 0.5, Every: 10, Gamma: 0.5})
	if err != nil || s.LR(25) != 0.125 {
		t.Errorf("step: %v, %v", s, err)
	}
	s, err = NewSchedule(ScheduleOptions{Kind: "cosine", Rate: 0.5, Total: 10})
	if err != nil || s.LR(0) != 0.5 || s.LR(10) != 0 {
		t.Errorf("cosine: %v, %v", s, err)
	}
	s, err = NewSchedule(ScheduleOptions{Rate: 0.5})
	if err != nil || s.LR(99) != 0.5 {
		t.Errorf("const: %v, %v", s, err)
	}
	for _, o := range []struct {
		o    ScheduleOptions
		want string
	}{
		{ScheduleOptions{Kind: "const", Rate: 0}, "learning rate"},
		{ScheduleOptions{Kind: "const", Rate: math.NaN()}, "learning rate"},
		{ScheduleOptions{Kind: "step", Rate: 1, Every: 0, Gamma: 0.1}, "period"},
		{ScheduleOptions{Kind: "step", Rate: 1, Every: 1, Gamma: 0}, "gamma"},
		{ScheduleOptions{Kind: "cosine", Rate: 1, Total: 0}, "total"},
		{ScheduleOptions{Kind: "cosine", Rate: 1, Total: 5, Min: 2}, "minimum"},
		{ScheduleOptions{Kind: "cosine", Rate: 1, Total: 5, Warmup: 5}, "warmup"},
		{ScheduleOptions{Kind: "linear", Rate: 1}, "unknown schedule"},
	} {
		if _, err := NewSchedule(o.o); err == nil || !strings.Contains(err.Error(), o.want) {
			t.Errorf("%+v: %v, want an error mentioning %q", o.o, err, o.want)
		}
	}
}
