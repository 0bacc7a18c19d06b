package train

import (
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// Hand-computed scalar cases: θ0 = 1, lr 0.1, gradients 1 then 2.
func TestOptimizersMatchHandComputedSteps(t *testing.T) {
	cases := []struct {
		name string
		opt  Optimizer
		want [2]float64 // θ after step 1 and step 2
	}{
		// θ1 = 1 − 0.1·1; θ2 = 0.9 − 0.1·2.
		{"plain", &SGD{}, [2]float64{0.9, 0.7}},
		// b1 = 1, θ1 = 0.9; b2 = 0.9·1 + 2 = 2.9, θ2 = 0.9 − 0.29.
		{"momentum", &SGD{Momentum: 0.9}, [2]float64{0.9, 0.61}},
		// b2 = 0.9·1 + 0.5·2 = 1.9, θ2 = 0.9 − 0.19.
		{"dampening", &SGD{Momentum: 0.9, Dampening: 0.5}, [2]float64{0.9, 0.71}},
		// g1 = 1 + 0.9·1 = 1.9, θ1 = 0.81; b2 = 2.9, g2 = 2 + 0.9·2.9 = 4.61,
		// θ2 = 0.81 − 0.461.
		{"nesterov", &SGD{Momentum: 0.9, Nesterov: true}, [2]float64{0.81, 0.349}},
		// g1 = 1 + 0.1·1 = 1.1, θ1 = 0.89; g2 = 2 + 0.1·0.89 = 2.089, θ2 = 0.6811.
		{"weight decay", &SGD{WeightDecay: 0.1}, [2]float64{0.89, 0.6811}},
		// θ1 = 0.99 − 0.1·(0.1/0.1)/(√(0.001/0.001)+1e-8) ≈ 0.89;
		// θ2 = 0.89·0.99 − 0.1·(0.29/0.19)/(√(0.004999/0.001999)+1e-8).
		{"adamw", &AdamW{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 0.1},
			[2]float64{0.99 - 0.1/(1+1e-8), 0.89*0.99 - 0.1*(0.29/0.19)/(math.Sqrt(0.004999/0.001999)+1e-8)}},
	}
	for _, c := range cases {
		v := []float32{1}
		for i, g := range []float32{1, 2} {
			if err := c.opt.Step([]Param{{Name: "w", Value: v, Grad: []float32{g}}}, 0.1); err != nil {
				t.Fatal(err)
			}
			if math.Abs(float64(v[0])-c.want[i]) > 2e-6 {
				t.Errorf("%s: θ after step %d = %.7f, want %.7f", c.name, i+1, v[0], c.want[i])
			}
		}
	}
}

// Float64 oracles, written from PyTorch's documented update rules.
type sgdOracle struct {
	mu, damp, wd float64
	nesterov     bool
	buf          map[string][]float64
}

func (o *sgdOracle) step(theta, grad map[string][]float64, lr float64) {
	for name, th := range theta {
		g := grad[name]
		b, had := o.buf[name]
		if !had {
			b = make([]float64, len(th))
		}
		for i := range th {
			d := g[i] + o.wd*th[i]
			if o.mu != 0 {
				if had {
					b[i] = o.mu*b[i] + (1-o.damp)*d
				} else {
					b[i] = d
				}
				if o.nesterov {
					d += o.mu * b[i]
				} else {
					d = b[i]
				}
			}
			th[i] -= lr * d
		}
		o.buf[name] = b
	}
}

type adamOracle struct {
	b1, b2, eps, wd float64
	m, v            map[string][]float64
	t               int
}

func (o *adamOracle) step(theta, grad map[string][]float64, lr float64) {
	o.t++
	for name, th := range theta {
		g := grad[name]
		if o.m[name] == nil {
			o.m[name], o.v[name] = make([]float64, len(th)), make([]float64, len(th))
		}
		m, v := o.m[name], o.v[name]
		for i := range th {
			th[i] -= lr * o.wd * th[i]
			m[i] = o.b1*m[i] + (1-o.b1)*g[i]
			v[i] = o.b2*v[i] + (1-o.b2)*g[i]*g[i]
			mh := m[i] / (1 - math.Pow(o.b1, float64(o.t)))
			vh := v[i] / (1 - math.Pow(o.b2, float64(o.t)))
			th[i] -= lr * mh / (math.Sqrt(vh) + o.eps)
		}
	}
}

func TestOptimizersMatchFloat64OraclesOverSeveralSteps(t *testing.T) {
	type oracle interface {
		step(theta, grad map[string][]float64, lr float64)
	}
	cases := []struct {
		name string
		opt  Optimizer
		ref  oracle
	}{
		{"sgd", &SGD{}, &sgdOracle{buf: map[string][]float64{}}},
		{"sgd momentum wd", &SGD{Momentum: 0.9, WeightDecay: 5e-4}, &sgdOracle{mu: 0.9, wd: 5e-4, buf: map[string][]float64{}}},
		{"sgd nesterov wd", &SGD{Momentum: 0.8, Nesterov: true, WeightDecay: 0.01}, &sgdOracle{mu: 0.8, wd: 0.01, nesterov: true, buf: map[string][]float64{}}},
		{"sgd dampening", &SGD{Momentum: 0.5, Dampening: 0.3}, &sgdOracle{mu: 0.5, damp: 0.3, buf: map[string][]float64{}}},
		{"adamw", NewAdamW(), &adamOracle{b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.01, m: map[string][]float64{}, v: map[string][]float64{}}},
		{"adamw odd betas", &AdamW{Beta1: 0.5, Beta2: 0.9, Eps: 1e-3, WeightDecay: 0.2}, &adamOracle{b1: 0.5, b2: 0.9, eps: 1e-3, wd: 0.2, m: map[string][]float64{}, v: map[string][]float64{}}},
	}
	for _, c := range cases {
		rng := rand.New(rand.NewPCG(1, 2))
		sizes := map[string]int{"a": 7, "b": 1, "c": 33}
		theta := map[string][]float64{}
		vals := map[string][]float32{}
		for n, sz := range sizes {
			vals[n] = make([]float32, sz)
			theta[n] = make([]float64, sz)
			for i := range sz {
				vals[n][i] = float32(rng.NormFloat64())
				theta[n][i] = float64(vals[n][i])
			}
		}
		lrs := []float64{0.1, 0.05, 0.2, 0.01, 0.1}
		for step, lr := range lrs {
			grad := map[string][]float64{}
			var params []Param
			for _, n := range []string{"a", "b", "c"} {
				g := make([]float32, sizes[n])
				grad[n] = make([]float64, sizes[n])
				for i := range g {
					g[i] = float32(rng.NormFloat64() * 3)
					grad[n][i] = float64(g[i])
				}
				params = append(params, Param{Name: n, Value: vals[n], Grad: g})
			}
			if err := c.opt.Step(params, lr); err != nil {
				t.Fatal(err)
			}
			c.ref.step(theta, grad, lr)
			for n, th := range theta {
				for i := range th {
					if d := math.Abs(float64(vals[n][i]) - th[i]); d > 1e-5*(1+math.Abs(th[i])) {
						t.Fatalf("%s step %d: %s[%d] = %.8g, oracle %.8g", c.name, step+1, n, i, vals[n][i], th[i])
					}
				}
			}
		}
	}
}

func TestOptimizerStateExportsAndResumes(t *testing.T) {
	for _, mk := range []func() Optimizer{
		func() Optimizer { return &SGD{Momentum: 0.9, Nesterov: true, WeightDecay: 1e-3} },
		func() Optimizer { return NewAdamW() },
	} {
		a, b := mk(), mk()
		rng := rand.New(rand.NewPCG(3, 4))
		va := []float32{1, -2, 3}
		grads := make([][]float32, 6)
		for i := range grads {
			grads[i] = []float32{float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())}
		}
		for i := range 3 {
			if err := a.Step([]Param{{"w", va, grads[i]}}, 0.1); err != nil {
				t.Fatal(err)
			}
		}
		st := a.State()
		vb := append([]float32(nil), va...)
		if err := b.SetState(st); err != nil {
			t.Fatal(err)
		}
		// The exported state is a copy: stepping a must not change it.
		before := st.clone()
		for i := 3; i < 6; i++ {
			if err := a.Step([]Param{{"w", va, grads[i]}}, 0.1); err != nil {
				t.Fatal(err)
			}
			if err := b.Step([]Param{{"w", vb, grads[i]}}, 0.1); err != nil {
				t.Fatal(err)
			}
		}
		if !reflect.DeepEqual(st, before) {
			t.Errorf("%s: stepping changed an exported state", a.Kind())
		}
		if !reflect.DeepEqual(va, vb) {
			t.Errorf("%s: resumed optimizer gives %v, the original %v", a.Kind(), vb, va)
		}
		if got := a.State().Params["w"].Step; got != 6 {
			t.Errorf("%s: step count %d, want 6", a.Kind(), got)
		}
	}
}

func TestOptimizerErrors(t *testing.T) {
	p := func(n string, v, g int) Param { return Param{n, make([]float32, v), make([]float32, g)} }
	cases := []struct {
		opt    Optimizer
		params []Param
		lr     float64
		want   string
	}{
		{&SGD{}, []Param{p("a", 2, 3)}, 0.1, "gradient of 3"},
		{&SGD{}, []Param{p("a", 2, 2), p("a", 2, 2)}, 0.1, "twice"},
		{&SGD{}, []Param{p("a", 2, 2)}, math.NaN(), "learning rate"},
		{&SGD{}, []Param{p("a", 2, 2)}, -1, "learning rate"},
		{&SGD{Nesterov: true}, nil, 0.1, "Nesterov"},
		{&SGD{Momentum: 0.9, Dampening: 0.1, Nesterov: true}, nil, 0.1, "Nesterov"},
		{&SGD{Momentum: -1}, nil, 0.1, "momentum"},
		{&SGD{WeightDecay: math.Inf(1)}, nil, 0.1, "weight decay"},
		{&AdamW{}, nil, 0.1, "eps"},
		{&AdamW{Beta1: 1, Eps: 1e-8}, nil, 0.1, "beta1"},
		{&AdamW{Beta2: -0.1, Eps: 1e-8}, nil, 0.1, "beta2"},
	}
	for _, c := range cases {
		err := c.opt.Step(c.params, c.lr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%T %+v: err %v, want one mentioning %q", c.opt, c.opt, err, c.want)
		}
	}
	// A parameter that changed size against its state.
	o := &SGD{Momentum: 0.9}
	if err := o.Step([]Param{p("a", 2, 2)}, 0.1); err != nil {
		t.Fatal(err)
	}
	if err := o.Step([]Param{p("a", 3, 3)}, 0.1); err == nil || !strings.Contains(err.Error(), "state of \"a\" has 2 values") {
		t.Errorf("size change: %v", err)
	}
	// States of the wrong kind or shape.
	if err := NewAdamW().SetState((&SGD{}).State()); err == nil {
		t.Error("AdamW accepted an SGD state")
	}
	bad := &OptimizerState{Kind: "adamw", Params: map[string]*ParamState{"x": {Step: 1, Buffers: [][]float32{{1}}}}}
	if err := NewAdamW().SetState(bad); err == nil {
		t.Error("AdamW accepted one buffer")
	}
	bad = &OptimizerState{Kind: "adamw", Params: map[string]*ParamState{"x": {Step: 1, Buffers: [][]float32{{1}, {1, 2}}}}}
	if err := NewAdamW().SetState(bad); err == nil {
		t.Error("AdamW accepted buffers of different lengths")
	}
	if err := (&SGD{}).SetState(nil); err == nil {
		t.Error("SGD accepted a nil state")
	}
}
