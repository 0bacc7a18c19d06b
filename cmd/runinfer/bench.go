package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/runtime"
	"github.com/runinfer/runinfer/simd"
)

func benchUsage(w io.Writer) {
	fmt.Fprint(w, `usage: runinfer bench [flags] MODEL

Times MODEL on random inputs (fixed seed, each input's element type) and
prints one JSON line:

  {"model":..., "threads":N, "iters":K, "median_ms":..., "min_ms":...,
   "max_ms":..., "gflops":..., "tier":"avx512", "warmup":W}

gflops is the model's arithmetic (2 × multiply-adds of its Conv, Gemm and
MatMul nodes, from the inferred shapes) divided by the median time.
With --profile, tables follow the JSON line: the time per op type and the
slowest steps (a step is a node with the nodes fused into it), each with
its share of the total and, for Conv, Gemm and MatMul, its GFLOP/s.
A symbolic batch (leading) dimension is taken as 1; other symbolic
dimensions need --shape.

Flags:
`)
	fs, _ := benchFlags()
	shown := newFlagSet("bench")
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage != "" { // hidden flags have no usage text
			shown.Var(f.Value, f.Name, f.Usage)
		}
	})
	printDefaults(w, shown)
}

// benchOpts are bench's flags.
type benchOpts struct {
	threads, iters, warmup int
	tier                   string
	shapes                 shapeFlags
	reference              bool
	profile                bool
	cpuprofile             string
	opt                    levelFlag
}

// shapeFlags collects repeated --shape values: DIMS for the inputs in order,
// or NAME=DIMS.
type shapeFlags []string

func (s *shapeFlags) String() string     { return strings.Join(*s, " ") }
func (s *shapeFlags) Set(v string) error { *s = append(*s, v); return nil }

func benchFlags() (*flag.FlagSet, *benchOpts) {
	o := &benchOpts{}
	fs := newFlagSet("bench")
	fs.IntVar(&o.threads, "threads", 0, "goroutines per run (0: GOMAXPROCS)")
	fs.IntVar(&o.iters, "iters", 20, "timed runs")
	fs.IntVar(&o.warmup, "warmup", 3, "untimed runs first")
	fs.StringVar(&o.tier, "tier", "", "SIMD `tier` (generic, avx2, avx512, neon; default: the best this CPU has)")
	fs.Var(&o.shapes, "shape", "input shape `[NAME=]D1,D2,...` (repeat for several inputs; needed for symbolic dimensions)")
	fs.BoolVar(&o.reference, "reference", false, "time the reference interpreter (no plan, no fast kernels)")
	fs.Var(&o.opt, "opt", optFlagUsage)
	fs.BoolVar(&o.profile, "profile", false, "after the JSON line, print where the time goes: per op type and the slowest steps")
	// Hidden (not in the usage text): a CPU profile of the timed runs.
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "")
	return fs, o
}

func benchCmd(args []string, stdout, stderr io.Writer) int {
	fs, o := benchFlags()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		benchUsage(stdout)
		return exitOK
	}
	if err == nil && len(pos) != 1 {
		err = usagef("need exactly one model: runinfer bench MODEL")
	}
	if err == nil && (o.iters < 1 || o.warmup < 0 || o.threads < 0) {
		err = usagef("--iters must be at least 1, --warmup and --threads at least 0")
	}
	if err != nil {
		return report(stderr, "bench", err)
	}
	res, prof, err := bench(pos[0], o)
	if err != nil {
		return report(stderr, "bench", err)
	}
	line, err := json.Marshal(res)
	if err != nil {
		return report(stderr, "bench", err)
	}
	fmt.Fprintf(stdout, "%s\n", line)
	if prof != nil {
		printProfile(stdout, prof)
	}
	return exitOK
}

// benchResult is bench's JSON line.
type benchResult struct {
	Model    string  `json:"model"`
	Threads  int     `json:"threads"`
	Iters    int     `json:"iters"`
	MedianMS float64 `json:"median_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
	GFLOPS   float64 `json:"gflops"`
	Tier     string  `json:"tier"`
	Warmup   int     `json:"warmup"`
	Mode     string  `json:"mode,omitempty"`
	Opt      string  `json:"opt"` // the graph optimization level
}

func bench(path string, o *benchOpts) (*benchResult, *benchProfile, error) {
	if o.tier != "" {
		t, err := simd.ParseTier(o.tier)
		if err != nil {
			return nil, nil, usagef("--tier: %v", err)
		}
		if !simd.Supported(t) {
			return nil, nil, usagef("--tier %s is not available on this CPU (have %v)", t, simd.Available())
		}
	}
	m, err := loadModel(path)
	if err != nil {
		return nil, nil, err
	}
	threads := o.threads
	if threads == 0 {
		threads = defaultThreads()
	}
	s, err := runtime.NewSession(m, &runtime.Options{Threads: threads, Tier: o.tier, Reference: o.reference, Optimize: o.opt.level})
	if err != nil {
		return nil, nil, withPath(path, err, "runtime: ")
	}
	shapes, err := benchShapes(s.Inputs(), o.shapes)
	if err != nil {
		return nil, nil, err
	}
	flops, nodeFLOPs, err := modelFLOPs(s, shapes)
	if err != nil {
		return nil, nil, withPath(path, err, "")
	}
	feeds := map[string]*ir.Tensor{}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, vi := range s.Inputs() {
		t, err := randomTensor(rng, vi.DType, shapes[vi.Name])
		if err != nil {
			return nil, nil, fmt.Errorf("input %q: %w", vi.Name, err)
		}
		feeds[vi.Name] = t
	}
	ctx := context.Background()
	var prof *runtime.Profile
	if o.profile && !o.reference {
		prof = new(runtime.Profile)
	}
	for range o.warmup {
		if _, err := s.Run(ctx, feeds); err != nil {
			return nil, nil, withPath(path, err, "runtime: ")
		}
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return nil, nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, nil, err
		}
		defer pprof.StopCPUProfile()
	}
	if prof != nil {
		ctx = runtime.WithProfile(ctx, prof)
	}
	times := make([]float64, o.iters)
	for i := range times {
		start := time.Now()
		if _, err := s.Run(ctx, feeds); err != nil {
			return nil, nil, withPath(path, err, "runtime: ")
		}
		times[i] = float64(time.Since(start).Nanoseconds()) / 1e6
	}
	slices.Sort(times)
	med := times[len(times)/2]
	if len(times)%2 == 0 {
		med = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	tier := simd.Best().Tier.String()
	if o.tier != "" {
		t, _ := simd.ParseTier(o.tier)
		tier = t.String()
	}
	res := &benchResult{
		Model: path, Threads: threads, Iters: o.iters, Warmup: o.warmup,
		MedianMS: round3(med), MinMS: round3(times[0]), MaxMS: round3(times[len(times)-1]),
		Tier: tier, Opt: o.opt.String(),
	}
	if med > 0 {
		res.GFLOPS = round3(flops / (med / 1e3) / 1e9)
	}
	if o.reference {
		res.Mode = "reference"
	}
	var bp *benchProfile
	if prof != nil {
		bp = &benchProfile{prof: prof, flops: nodeFLOPs, medianMS: med}
	}
	return res, bp, nil
}

func round3(v float64) float64 {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 3, 64), 64)
	return r
}

// benchShapes resolves every input's concrete shape from the model and the
// --shape flags.
func benchShapes(ins []*ir.ValueInfo, flags []string) (map[string][]int, error) {
	given := map[string][]int{}
	next := 0
	for _, f := range flags {
		name, dims, named := strings.Cut(f, "=")
		if !named {
			dims = f
			if next >= len(ins) {
				return nil, usagef("--shape %s: the model has only %d inputs", f, len(ins))
			}
			name = ins[next].Name
			next++
		}
		shape, err := parseDims(dims)
		if err != nil {
			return nil, usagef("--shape %s: %v", f, err)
		}
		found := false
		for _, vi := range ins {
			found = found || vi.Name == name
		}
		if !found {
			return nil, usagef("--shape %s: the model has no input %q (inputs: %s)", f, name, valueNames(ins))
		}
		given[name] = shape
	}
	out := map[string][]int{}
	for _, vi := range ins {
		if sh, ok := given[vi.Name]; ok {
			out[vi.Name] = sh
			continue
		}
		sh, ok := batchOne(vi.Shape).Concrete()
		if !ok {
			return nil, usagef("input %q has shape %v with symbolic dimensions: give --shape (e.g. --shape %s)", vi.Name, vi.Shape, exampleShape(vi.Shape))
		}
		out[vi.Name] = sh
	}
	return out, nil
}

// batchOne makes a symbolic leading (batch) dimension of a rank-4+ input 1,
// as onnxruntime's benchmark does; other symbolic dimensions (spatial sizes)
// stay unknown and need --shape.
func batchOne(s ir.Shape) ir.Shape {
	if s.Ranked && len(s.Dims) >= 2 && !s.Dims[0].Known() {
		dims := append([]ir.Dim{ir.KnownDim(1)}, s.Dims[1:]...)
		return ir.Shape{Ranked: true, Dims: dims}
	}
	return s
}

// exampleShape suggests a concrete shape: symbolic dimensions become 1.
func exampleShape(s ir.Shape) string {
	parts := make([]string, len(s.Dims))
	for i, d := range s.Dims {
		parts[i] = "1"
		if d.Known() {
			parts[i] = strconv.FormatInt(d.Size, 10)
		}
	}
	return strings.Join(parts, ",")
}

func parseDims(s string) ([]int, error) {
	var out []int
	if strings.TrimSpace(s) == "" {
		return []int{}, nil // a scalar
	}
	for _, p := range strings.Split(s, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%q is not a dimension (want non-negative integers separated by commas)", p)
		}
		out = append(out, d)
	}
	if _, err := ir.NumElements(out); err != nil {
		return nil, err
	}
	return out, nil
}

// randomTensor fills a tensor of the given type and shape with random
// values: floats uniform in [-1, 1), integers in [0, 10), random bools.
func randomTensor(rng *rand.Rand, dt ir.DType, shape []int) (*ir.Tensor, error) {
	t, err := ir.NewTensor(dt, shape)
	if err != nil {
		return nil, err
	}
	switch d := t.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(rng.Float64()*2 - 1)
		}
	case []float64:
		for i := range d {
			d[i] = rng.Float64()*2 - 1
		}
	case []uint16: // uint16, float16, bfloat16
		for i := range d {
			switch dt {
			case ir.Float16:
				d[i] = ir.Float32ToFloat16(float32(rng.Float64()*2 - 1))
			case ir.BFloat16:
				d[i] = ir.Float32ToBFloat16(float32(rng.Float64()*2 - 1))
			default:
				d[i] = uint16(rng.IntN(10))
			}
		}
	case []int8:
		for i := range d {
			d[i] = int8(rng.IntN(10))
		}
	case []uint8:
		for i := range d {
			d[i] = uint8(rng.IntN(10))
		}
	case []int16:
		for i := range d {
			d[i] = int16(rng.IntN(10))
		}
	case []int32:
		for i := range d {
			d[i] = int32(rng.IntN(10))
		}
	case []uint32:
		for i := range d {
			d[i] = uint32(rng.IntN(10))
		}
	case []int64:
		for i := range d {
			d[i] = int64(rng.IntN(10))
		}
	case []uint64:
		for i := range d {
			d[i] = uint64(rng.IntN(10))
		}
	case []bool:
		for i := range d {
			d[i] = rng.IntN(2) == 1
		}
	default:
		return nil, fmt.Errorf("cannot make random %v data", dt)
	}
	return t, nil
}

// modelFLOPs counts 2 × the multiply-adds of the Conv, ConvTranspose, Gemm
// and MatMul nodes for the given input shapes: in all, and per node (keyed
// by its first output, which unlike a name is always present and unique).
func modelFLOPs(s *runtime.Session, shapes map[string][]int) (float64, map[string]float64, error) {
	types, err := s.InferShapes(shapes)
	if err != nil {
		return 0, nil, err
	}
	perNode := map[string]float64{}
	shape := func(name string) []int {
		if vt, ok := types[name]; ok {
			return vt.Shape
		}
		return nil
	}
	total := 0.0
	for _, n := range s.Graph().Nodes {
		if len(n.Inputs) < 2 || len(n.Outputs) == 0 {
			continue
		}
		a, b, y := shape(n.Inputs[0]), shape(n.Inputs[1]), shape(n.Outputs[0])
		if a == nil || b == nil || y == nil {
			continue
		}
		f := 0.0
		switch n.Op {
		case "Conv", "FusedConv":
			// Each output element sums C/group × kernel taps: W's shape
			// without its first dimension.
			f = 2 * float64(numel(y)) * float64(numel(b[1:]))
		case "ConvTranspose":
			// Each input element scatters into M/group × kernel taps.
			f = 2 * float64(numel(a)) * float64(numel(b[1:]))
		case "Gemm":
			k := a[1]
			if n.AttrInt("transA", 0) != 0 {
				k = a[0]
			}
			f = 2 * float64(numel(y)) * float64(k)
		case "MatMul":
			f = 2 * float64(numel(y)) * float64(a[len(a)-1])
		}
		total += f
		if f > 0 {
			perNode[n.Outputs[0]] += f
		}
	}
	return total, perNode, nil
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}
