// Command gen trains runinfer's default model, models/digits.onnx, from
// scratch with runinfer's own backward mode (runtime.Trainer) and optimizers
// (package train), on digits rendered from the Go fonts (package
// models/digits), and writes sample images beside it.
//
//	go run ./models/gen [-o models/digits.onnx] [-samples models/samples] [-seed 1] [-epochs 6] [-n 40000]
//
// Each epoch trains on N freshly rendered images (Train split, random
// stream seed+epoch), in shuffled batches, with AdamW and a cosine learning
// rate schedule with a linear warmup. After each epoch the model is scored
// on a held-out set (Test split, its own seed: other random streams, and a
// font the Train split never shows). At the end the trained model is saved,
// read back, and scored again on the held-out set with an inference Session,
// as the committed file will be run. The recipe and its numbers are in
// models/README.md.
//
// With the same flags, the same kernel tier and one thread, the output is
// the same file bit for bit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/models/digits"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
	"github.com/runinfer/runinfer/simd"
	"github.com/runinfer/runinfer/train"
)

type config struct {
	out, samples  string
	seed          uint64
	testSeed      uint64
	epochs        int
	n, testN      int
	batch         int
	lr, wd        float64
	warmup        float64
	threads       int
	renderWorkers int
	tier          string
}

func main() {
	var c config
	flag.StringVar(&c.out, "o", "models/digits.onnx", "write the trained model to `FILE`")
	flag.StringVar(&c.samples, "samples", "models/samples", "write sample held-out images to `DIR` (empty: none)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the initial weights, the training images and their order")
	flag.Uint64Var(&c.testSeed, "test-seed", 1001, "seed of the held-out images")
	flag.IntVar(&c.epochs, "epochs", 6, "training epochs")
	flag.IntVar(&c.n, "n", 40000, "training images rendered per epoch")
	flag.IntVar(&c.testN, "test-n", 10000, "held-out images")
	flag.IntVar(&c.batch, "batch", 64, "batch size")
	flag.Float64Var(&c.lr, "lr", 3e-3, "peak learning rate")
	flag.Float64Var(&c.wd, "wd", 1e-4, "AdamW's decoupled weight decay")
	flag.Float64Var(&c.warmup, "warmup", 0.5, "linear warmup, in epochs")
	flag.IntVar(&c.threads, "threads", 1, "threads a training step uses")
	flag.IntVar(&c.renderWorkers, "render-workers", 1, "goroutines rendering images")
	flag.StringVar(&c.tier, "tier", "", "SIMD kernel tier (default: the best this CPU has)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "gen: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	if err := run(context.Background(), c, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "gen: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, w io.Writer) error {
	if c.epochs < 1 || c.n < c.batch || c.batch < 1 || c.testN < 1 || !(c.lr > 0) || !(c.wd >= 0) || !(c.warmup >= 0) || c.threads < 0 {
		return errors.New("need -epochs ≥ 1, -batch ≥ 1, -n ≥ -batch, -test-n ≥ 1, -lr > 0, -wd ≥ 0, -warmup ≥ 0, -threads ≥ 0")
	}
	if c.n > digits.MaxSetSize || c.testN > digits.MaxSetSize {
		return fmt.Errorf("-n and -test-n are at most %d", digits.MaxSetSize)
	}
	start := time.Now()
	m, err := digits.NewModel(c.seed)
	if err != nil {
		return err
	}
	tr, err := runtime.NewTrainer(m, &runtime.TrainOptions{Threads: c.threads, Tier: c.tier, Training: true, Seed: c.seed})
	if err != nil {
		return err
	}
	test, err := digits.Generate(c.testSeed, c.testN, digits.Test, c.renderWorkers)
	if err != nil {
		return err
	}
	tier := c.tier
	if tier == "" {
		tier = simd.Best().Tier.String()
	}
	fmt.Fprintf(w, "digits: %d parameters, %d epochs × %d images, batch %d, AdamW lr %g wd %g, cosine with %.2g epochs warmup; seed %d, held-out seed %d (%d images); %d thread(s), tier %s\n",
		paramCount(tr), c.epochs, c.n, c.batch, c.lr, c.wd, c.warmup, c.seed, c.testSeed, c.testN, c.threads, tier)
	fmt.Fprintf(w, "%5s %8s %9s %9s %8s %8s\n", "epoch", "loss", "train", "held-out", "img/s", "time")

	opt := train.NewAdamW()
	opt.WeightDecay = c.wd
	stepsPerEpoch := c.n / c.batch
	total := c.epochs * stepsPerEpoch
	sched, err := train.NewSchedule(train.ScheduleOptions{Kind: "cosine", Rate: c.lr, Total: total, Warmup: int(c.warmup * float64(stepsPerEpoch))})
	if err != nil {
		return err
	}
	names := tr.Params()
	params := make([]train.Param, len(names))
	step := 0
	for epoch := range c.epochs {
		t0 := time.Now()
		set, err := digits.Generate(c.seed+uint64(epoch+1)<<32, c.n, digits.Train, c.renderWorkers)
		if err != nil {
			return err
		}
		order := rand.New(rand.NewPCG(c.seed, uint64(epoch))).Perm(set.Len())
		var lossSum float64
		correct, seen := 0, 0
		for b := range stepsPerEpoch {
			x, labels, err := set.Batch(order[b*c.batch : (b+1)*c.batch])
			if err != nil {
				return err
			}
			res, err := tr.Step(ctx, x, labels, false)
			if err != nil {
				return fmt.Errorf("epoch %d, step %d: %w", epoch+1, b, err)
			}
			for i, name := range names {
				params[i] = train.Param{Name: name, Value: tr.Param(name).F32(), Grad: res.Grads[name].F32()}
			}
			if err := opt.Step(params, sched.LR(step)); err != nil {
				return err
			}
			step++
			lossSum += res.Loss * float64(len(labels))
			correct += res.Correct
			seen += len(labels)
		}
		trainTime := time.Since(t0)
		acc, err := evalTrainer(ctx, tr, test, 500)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%5d %8.4f %8.2f%% %8.2f%% %8.0f %7.0fs\n", epoch+1, lossSum/float64(seen),
			100*float64(correct)/float64(seen), 100*acc, float64(seen)/trainTime.Seconds(), time.Since(t0).Seconds())
	}

	// The model as it will be committed: saved, read back, and run by an
	// inference session.
	final := tr.Model()
	final.Metadata = m.Metadata
	final.Doc = fmt.Sprintf("runinfer's default model: a digit classifier (28×28 grayscale, pixels 0..1) trained from scratch by runinfer on digits rendered from the Go fonts: go run ./models/gen -seed %d -epochs %d -n %d (see models/README.md)", c.seed, c.epochs, c.n)
	final.Graph.Doc = final.Doc
	if err := onnx.Save(c.out, final); err != nil {
		return err
	}
	if err := os.Chmod(c.out, 0o644); err != nil {
		return err
	}
	saved, err := onnx.Load(c.out)
	if err != nil {
		return err
	}
	sess, err := runtime.NewSession(saved, &runtime.Options{Threads: c.threads, Tier: c.tier})
	if err != nil {
		return err
	}
	r, err := digits.Evaluate(ctx, sess, test)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "held-out accuracy of %s: %.2f%% (%d of %d)\n", c.out, 100*r.Accuracy(), r.Correct, r.Total)
	for _, g := range r.Groups() {
		fmt.Fprintf(w, "  %-28s %6.2f%% (%d of %d)\n", g.Name, 100*g.Accuracy(), g.Correct, g.Total)
	}
	if c.samples != "" {
		files, err := writeSamples(c.samples, test)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "samples: %d images in %s\n", files, c.samples)
	}
	fmt.Fprintf(w, "total time %.0fs\n", time.Since(start).Seconds())
	return nil
}

func paramCount(tr *runtime.Trainer) int {
	n := 0
	for _, name := range tr.Params() {
		n += tr.Param(name).Len()
	}
	return n
}

// evalTrainer scores the trainer's current weights on set.
func evalTrainer(ctx context.Context, tr *runtime.Trainer, set *digits.Set, batch int) (float64, error) {
	correct := 0
	for lo := 0; lo < set.Len(); lo += batch {
		idx := make([]int, 0, batch)
		for i := lo; i < min(lo+batch, set.Len()); i++ {
			idx = append(idx, i)
		}
		x, labels, err := set.Batch(idx)
		if err != nil {
			return 0, err
		}
		logits, err := tr.Forward(ctx, x)
		if err != nil {
			return 0, err
		}
		for i, p := range argmax(logits) {
			if int64(p) == labels[i] {
				correct++
			}
		}
	}
	return float64(correct) / float64(set.Len()), nil
}

func argmax(logits *ir.Tensor) []int {
	v := logits.F32()
	n := len(v) / digits.Classes
	out := make([]int, n)
	for i := range n {
		row := v[i*digits.Classes : (i+1)*digits.Classes]
		best := 0
		for k, s := range row {
			if s > row[best] {
				best = k
			}
		}
		out[i] = best
	}
	return out
}

// writeSamples writes one held-out image per digit, DIR/<digit>.png: the
// first image of that digit in the set with good contrast (≥ 0.6) and no
// heavy noise, light on dark for even digits and dark on light for odd
// ones. They are chosen by how they look, not by what the model says.
func writeSamples(dir string, set *digits.Set) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	files := 0
	for d := range digits.Classes {
		wantDark := d%2 == 1 // dark digit on a light ground
		for i := range set.Len() {
			p := set.Params[i]
			if p.Digit != d || (p.Foreground < p.Background) != wantDark ||
				abs(p.Foreground-p.Background) < 0.6 || p.Noise > 0.04 {
				continue
			}
			if err := writePNG(filepath.Join(dir, fmt.Sprintf("%d.png", d)), set, i); err != nil {
				return files, err
			}
			files++
			break
		}
	}
	return files, nil
}

func writePNG(path string, set *digits.Set, i int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, set.Image(i)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
