package train

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of each optimizer step (counted from 0
// over the whole run, not per epoch).
type Schedule interface {
	LR(step int) float64
}

// Constant is a fixed learning rate.
type Constant struct{ Rate float64 }

// LR returns the fixed rate.
func (c Constant) LR(int) float64 { return c.Rate }

// StepDecay multiplies the rate by Gamma every Every steps, as PyTorch's
// StepLR: Rate · Gamma^⌊step/Every⌋. (For a decay every S epochs, Every is
// S times the steps per epoch.)
type StepDecay struct {
	Rate  float64
	Every int
	Gamma float64
}

// LR returns the decayed rate of a step.
func (s StepDecay) LR(step int) float64 {
	if s.Every <= 0 || step < 0 {
		return s.Rate
	}
	return s.Rate * math.Pow(s.Gamma, float64(step/s.Every))
}

// Cosine anneals from Rate to Min over Total steps along half a cosine, as
// PyTorch's CosineAnnealingLR, after an optional linear warmup: during the
// first Warmup steps the rate rises linearly, step s getting
// Rate·(s+1)/(Warmup+1), and the cosine then spans the remaining
// Total−Warmup steps. Steps at or past Total get Min.
type Cosine struct {
	Rate   float64
	Min    float64
	Total  int
	Warmup int
}

// LR returns the annealed rate of a step.
func (c Cosine) LR(step int) float64 {
	step = max(step, 0)
	if step < c.Warmup {
		return c.Rate * float64(step+1) / float64(c.Warmup+1)
	}
	span := c.Total - c.Warmup
	if span <= 0 || step >= c.Total {
		return c.Min
	}
	t := float64(step-c.Warmup) / float64(span)
	return c.Min + (c.Rate-c.Min)*(1+math.Cos(math.Pi*t))/2
}

// ScheduleOptions describes a schedule by name, for NewSchedule.
type ScheduleOptions struct {
	// Kind is "const" (or "constant", or empty), "step" or "cosine".
	Kind string
	// Rate is the base learning rate.
	Rate float64
	// Total is the number of steps of the whole run (cosine).
	Total int
	// Every and Gamma are the step decay's period in steps and factor.
	Every int
	Gamma float64
	// Min is the cosine's final rate; Warmup its linear warmup in steps.
	Min    float64
	Warmup int
}

// NewSchedule returns the schedule o describes, checking its values.
func NewSchedule(o ScheduleOptions) (Schedule, error) {
	if math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0) || o.Rate <= 0 {
		return nil, fmt.Errorf("train: learning rate %g must be positive and finite", o.Rate)
	}
	switch o.Kind {
	case "", "const", "constant":
		return Constant{o.Rate}, nil
	case "step":
		if o.Every <= 0 {
			return nil, fmt.Errorf("train: step schedule: period %d must be at least 1 step", o.Every)
		}
		if math.IsNaN(o.Gamma) || o.Gamma <= 0 || o.Gamma > 1 {
			return nil, fmt.Errorf("train: step schedule: gamma %g must be in (0, 1]", o.Gamma)
		}
		return StepDecay{Rate: o.Rate, Every: o.Every, Gamma: o.Gamma}, nil
	case "cosine":
		if o.Total <= 0 {
			return nil, fmt.Errorf("train: cosine schedule: %d total steps", o.Total)
		}
		if math.IsNaN(o.Min) || o.Min < 0 || o.Min > o.Rate {
			return nil, fmt.Errorf("train: cosine schedule: minimum rate %g must be in [0, %g]", o.Min, o.Rate)
		}
		if o.Warmup < 0 || o.Warmup >= o.Total {
			return nil, fmt.Errorf("train: cosine schedule: warmup of %d steps must be below the %d total", o.Warmup, o.Total)
		}
		return Cosine{Rate: o.Rate, Min: o.Min, Total: o.Total, Warmup: o.Warmup}, nil
	}
	return nil, fmt.Errorf("train: unknown schedule %q (want const, step or cosine)", o.Kind)
}
