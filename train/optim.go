package train

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// Param is one parameter as an optimizer sees it: its values, updated in
// place, and the gradient of the loss with respect to them.
type Param struct {
	Name  string
	Value []float32
	Grad  []float32
}

// Optimizer updates parameters from their gradients. Its state (momentum
// buffers, moment estimates, step counts) is kept per parameter name.
type Optimizer interface {
	// Step updates every parameter in place at learning rate lr. Names
	// must be unique and each Grad as long as its Value; a parameter whose
	// size differs from the one its state was built for is an error.
	Step(params []Param, lr float64) error
	// State returns a deep copy of the optimizer's state, for a checkpoint.
	State() *OptimizerState
	// SetState replaces the state with a copy of s (from State, possibly
	// through a checkpoint). s.Kind must be the optimizer's Kind.
	SetState(s *OptimizerState) error
	// Kind names the algorithm: "sgd" or "adamw".
	Kind() string
}

// OptimizerState is an optimizer's per-parameter state.
type OptimizerState struct {
	Kind   string
	Params map[string]*ParamState
}

// ParamState is the state of one parameter: the number of updates it has
// had and the optimizer's buffers, each as long as the parameter (SGD with
// momentum: the momentum buffer; AdamW: the first and second moment
// estimates). Buffers is empty before the first update.
type ParamState struct {
	Step    int64
	Buffers [][]float32
}

// Names returns the parameter names of s, sorted.
func (s *OptimizerState) Names() []string {
	names := make([]string, 0, len(s.Params))
	for n := range s.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *OptimizerState) clone() *OptimizerState {
	c := &OptimizerState{Kind: s.Kind, Params: make(map[string]*ParamState, len(s.Params))}
	for n, p := range s.Params {
		q := &ParamState{Step: p.Step, Buffers: make([][]float32, len(p.Buffers))}
		for i, b := range p.Buffers {
			q.Buffers[i] = slices.Clone(b)
		}
		c.Params[n] = q
	}
	return c
}

// checkState validates s for an optimizer of the given kind keeping nbuf
// buffers per updated parameter.
func checkState(s *OptimizerState, kind string, nbuf int) error {
	if s == nil {
		return errors.New("train: nil optimizer state")
	}
	if s.Kind != kind {
		return fmt.Errorf("train: optimizer state is for %q, not %q", s.Kind, kind)
	}
	for name, p := range s.Params {
		if p == nil {
			return fmt.Errorf("train: optimizer state of %q is missing", name)
		}
		if p.Step < 0 {
			return fmt.Errorf("train: optimizer state of %q has step %d", name, p.Step)
		}
		if len(p.Buffers) != 0 && len(p.Buffers) != nbuf {
			return fmt.Errorf("train: optimizer state of %q has %d buffers, %s keeps %d", name, len(p.Buffers), kind, nbuf)
		}
		for _, b := range p.Buffers[min(1, len(p.Buffers)):] {
			if len(b) != len(p.Buffers[0]) {
				return fmt.Errorf("train: optimizer state of %q has buffers of different lengths", name)
			}
		}
	}
	return nil
}

// checkStep validates the arguments of a Step.
func checkStep(params []Param, lr float64) error {
	if math.IsNaN(lr) || math.IsInf(lr, 0) || lr < 0 {
		return fmt.Errorf("train: learning rate %g must be finite and non-negative", lr)
	}
	seen := make(map[string]bool, len(params))
	for _, p := range params {
		if seen[p.Name] {
			return fmt.Errorf("train: parameter %q given twice", p.Name)
		}
		seen[p.Name] = true
		if len(p.Grad) != len(p.Value) {
			return fmt.Errorf("train: parameter %q has %d values but a gradient of %d", p.Name, len(p.Value), len(p.Grad))
		}
	}
	return nil
}

// stateFor returns the state of p, checking that its buffers fit.
func stateFor(st map[string]*ParamState, p Param) (*ParamState, error) {
	s := st[p.Name]
	if s == nil {
		s = &ParamState{}
		st[p.Name] = s
	}
	if len(s.Buffers) > 0 && len(s.Buffers[0]) != len(p.Value) {
		return nil, fmt.Errorf("train: optimizer state of %q has %d values, the parameter %d", p.Name, len(s.Buffers[0]), len(p.Value))
	}
	return s, nil
}

func finiteNonNeg(name string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("train: %s %g must be finite and non-negative", name, v)
	}
	return nil
}

// SGD is stochastic gradient descent with optional momentum, dampening,
// Nesterov momentum and L2 weight decay, exactly as PyTorch's
// torch.optim.SGD: with g the gradient and θ the parameter, each step does
//
//	g ← g + WeightDecay·θ                      (coupled L2 penalty)
//	b ← g on the first step, else Momentum·b + (1−Dampening)·g
//	g ← g + Momentum·b  (Nesterov)   or   g ← b
//	θ ← θ − lr·g
//
// with the momentum lines skipped when Momentum is 0. The arithmetic is
// done in float64 per element and the results rounded to float32.
//
// Threads bounds the goroutines an update uses (0: GOMAXPROCS); parameters
// are updated in pieces, each element by the same arithmetic whatever the
// split, so results do not depend on it.
type SGD struct {
	Momentum    float64
	Dampening   float64
	Nesterov    bool
	WeightDecay float64
	Threads     int

	state map[string]*ParamState
}

// Kind returns "sgd".
func (o *SGD) Kind() string { return "sgd" }

func (o *SGD) check() error {
	for _, v := range []struct {
		n string
		x float64
	}{{"momentum", o.Momentum}, {"dampening", o.Dampening}, {"weight decay", o.WeightDecay}} {
		if err := finiteNonNeg(v.n, v.x); err != nil {
			return err
		}
	}
	if o.Nesterov && (o.Momentum <= 0 || o.Dampening != 0) {
		return errors.New("train: Nesterov momentum needs a momentum above 0 and no dampening")
	}
	return nil
}

// Step applies one SGD update to every parameter.
func (o *SGD) Step(params []Param, lr float64) error {
	states, err := beginStep(o.check(), &o.state, params, lr)
	if err != nil {
		return err
	}
	mu, damp, wd := o.Momentum, o.Dampening, o.WeightDecay
	first := make([]bool, len(params))
	for j, s := range states {
		first[j] = len(s.Buffers) == 0
		if mu != 0 && first[j] {
			s.Buffers = [][]float32{make([]float32, len(params[j].Value))}
		}
	}
	optParallel(o.Threads, params, func(j, lo, hi int) {
		var buf []float32
		if mu != 0 {
			buf = states[j].Buffers[0][lo:hi]
		}
		p := params[j]
		sgdUpdate(p.Value[lo:hi], p.Grad[lo:hi], buf, lr, mu, damp, wd, o.Nesterov, first[j])
	})
	for _, s := range states {
		s.Step++
	}
	return nil
}

// sgdUpdate applies SGD's rule (see SGD) to v with gradients g and
// momentum buffer buf (nil without momentum; first: its first step), with
// a loop of its own for the common cases.
func sgdUpdate(v, g, buf []float32, lr, mu, damp, wd float64, nesterov, first bool) {
	g = g[:len(v)]
	switch {
	case mu != 0 && !first && !nesterov && wd == 0:
		buf = buf[:len(v)]
		for i, x := range v {
			th := float64(x)
			b := mu*float64(buf[i]) + (1-damp)*float64(g[i])
			buf[i] = float32(b)
			v[i] = float32(th - lr*b)
		}
	case mu == 0 && wd == 0:
		for i, x := range v {
			v[i] = float32(float64(x) - lr*float64(g[i]))
		}
	default:
		for i, x := range v {
			th := float64(x)
			gi := float64(g[i])
			if wd != 0 {
				gi += wd * th
			}
			if mu != 0 {
				b := gi
				if !first {
					b = mu*float64(buf[i]) + (1-damp)*gi
				}
				buf[i] = float32(b)
				if nesterov {
					gi += mu * b
				} else {
					gi = b
				}
			}
			v[i] = float32(th - lr*gi)
		}
	}
}

// beginStep starts an optimizer's update: it returns cfgErr (the result
// of the optimizer's own settings check) if not nil, else checks the
// parameters and learning rate and returns every parameter's state,
// creating the state map *st and missing entries.
func beginStep(cfgErr error, st *map[string]*ParamState, params []Param, lr float64) ([]*ParamState, error) {
	if cfgErr != nil {
		return nil, cfgErr
	}
	if err := checkStep(params, lr); err != nil {
		return nil, err
	}
	if *st == nil {
		*st = map[string]*ParamState{}
	}
	return statesFor(*st, params)
}

// statesFor returns the state of every parameter (creating missing
// ones), checking them all before anything is updated.
func statesFor(st map[string]*ParamState, params []Param) ([]*ParamState, error) {
	states := make([]*ParamState, len(params))
	for j, p := range params {
		s, err := stateFor(st, p)
		if err != nil {
			return nil, err
		}
		states[j] = s
	}
	return states, nil
}

// optPiece is the most elements of one piece of an update.
const optPiece = 1 << 15

// optParallel calls body(j, lo, hi) over pieces [lo, hi) of every
// parameter j, on up to threads goroutines (0: GOMAXPROCS), or on the
// caller's alone when the update is small.
func optParallel(threads int, params []Param, body func(j, lo, hi int)) {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	type piece struct{ j, lo, hi int }
	var pieces []piece
	total := 0
	for j, p := range params {
		n := len(p.Value)
		total += n
		for lo := 0; lo < n; lo += optPiece {
			pieces = append(pieces, piece{j, lo, min(n, lo+optPiece)})
		}
	}
	workers := min(threads, len(pieces))
	if workers < 2 || total < 4*optPiece {
		for _, pc := range pieces {
			body(pc.j, pc.lo, pc.hi)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(pieces) {
					return
				}
				body(pieces[i].j, pieces[i].lo, pieces[i].hi)
			}
		}()
	}
	wg.Wait()
}

// State returns a copy of the optimizer's state.
func (o *SGD) State() *OptimizerState {
	return (&OptimizerState{Kind: o.Kind(), Params: o.state}).clone()
}

// SetState replaces the optimizer's state with a copy of s.
func (o *SGD) SetState(s *OptimizerState) error {
	if err := checkState(s, o.Kind(), 1); err != nil {
		return err
	}
	o.state = s.clone().Params
	return nil
}

// AdamW is Adam with decoupled weight decay, exactly as PyTorch's
// torch.optim.AdamW (amsgrad off): with g the gradient, θ the parameter and
// t the parameter's step count (from 1), each step does
//
//	θ ← θ − lr·WeightDecay·θ
//	m ← Beta1·m + (1−Beta1)·g
//	v ← Beta2·v + (1−Beta2)·g²
//	θ ← θ − lr · (m / (1−Beta1^t)) / (√(v / (1−Beta2^t)) + Eps)
//
// with m and v starting at zero. The arithmetic is done in float64 per
// element and the results rounded to float32. The zero value is not
// usable: PyTorch's defaults are NewAdamW's.
//
// Threads bounds the goroutines an update uses, as SGD's.
type AdamW struct {
	Beta1, Beta2 float64
	Eps          float64
	WeightDecay  float64
	Threads      int

	state map[string]*ParamState
}

// NewAdamW returns AdamW with PyTorch's defaults: betas (0.9, 0.999), eps
// 1e-8, weight decay 0.01.
func NewAdamW() *AdamW { return &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.01} }

// Kind returns "adamw".
func (o *AdamW) Kind() string { return "adamw" }

func (o *AdamW) check() error {
	for _, b := range []struct {
		n string
		x float64
	}{{"beta1", o.Beta1}, {"beta2", o.Beta2}} {
		if !(b.x >= 0 && b.x < 1) {
			return fmt.Errorf("train: AdamW %s %g must be in [0, 1)", b.n, b.x)
		}
	}
	if !(o.Eps > 0) || math.IsInf(o.Eps, 0) {
		return fmt.Errorf("train: AdamW eps %g must be positive and finite", o.Eps)
	}
	return finiteNonNeg("weight decay", o.WeightDecay)
}

// Step applies one AdamW update to every parameter.
func (o *AdamW) Step(params []Param, lr float64) error {
	states, err := beginStep(o.check(), &o.state, params, lr)
	if err != nil {
		return err
	}
	b1, b2, eps := o.Beta1, o.Beta2, o.Eps
	decay := 1 - lr*o.WeightDecay
	steps, bcs := make([]float64, len(params)), make([]float64, len(params))
	for j, s := range states {
		if len(s.Buffers) == 0 {
			n := len(params[j].Value)
			s.Buffers = [][]float32{make([]float32, n), make([]float32, n)}
		}
		s.Step++
		bc1 := 1 - math.Pow(b1, float64(s.Step))
		bcs[j] = math.Sqrt(1 - math.Pow(b2, float64(s.Step)))
		steps[j] = lr / bc1
	}
	optParallel(o.Threads, params, func(j, lo, hi int) {
		step, sqrtBC2 := steps[j], bcs[j]
		p := params[j]
		val, grad := p.Value[lo:hi], p.Grad[lo:hi]
		m, v := states[j].Buffers[0][lo:hi], states[j].Buffers[1][lo:hi]
		grad, m, v = grad[:len(val)], m[:len(val)], v[:len(val)]
		for i, x := range val {
			th := float64(x) * decay
			g := float64(grad[i])
			mi := b1*float64(m[i]) + (1-b1)*g
			vi := b2*float64(v[i]) + (1-b2)*g*g
			m[i], v[i] = float32(mi), float32(vi)
			val[i] = float32(th - step*mi/(math.Sqrt(vi)/sqrtBC2+eps))
		}
	})
	return nil
}

// State returns a copy of the optimizer's state.
func (o *AdamW) State() *OptimizerState {
	return (&OptimizerState{Kind: o.Kind(), Params: o.state}).clone()
}

// SetState replaces the optimizer's state with a copy of s.
func (o *AdamW) SetState(s *OptimizerState) error {
	if err := checkState(s, o.Kind(), 2); err != nil {
		return err
	}
	for name, p := range s.Params {
		if p.Step > 0 && len(p.Buffers) != 2 {
			return fmt.Errorf("train: AdamW state of %q has %d steps but no moment estimates", name, p.Step)
		}
	}
	o.state = s.clone().Params
	return nil
}
