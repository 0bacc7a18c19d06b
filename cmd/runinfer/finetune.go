package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/train"
)

// exitInterrupted is the exit status of a run stopped by Ctrl-C (128 +
// SIGINT, as shells report it).
const exitInterrupted = 130

func finetuneUsage(w io.Writer) {
	fmt.Fprint(w, `usage: runinfer finetune --model M --data DIR --out OUT.onnx [flags]
       runinfer finetune --resume CKPT --data DIR --out OUT.onnx [--epochs E]

Fine-tunes an ONNX image classifier on a folder of labelled images and writes
it as standard ONNX, with the class names and the preprocessing in its
metadata, so that 'runinfer OUT.onnx photo.jpg' prints the new class names
with no flags.

DIR holds one sub-folder per class, named after it, with that class's images
(JPEG, PNG, GIF, BMP, WebP; hidden files are skipped). A share of each class
(--val-split) is held out to measure the validation accuracy after every
epoch. Training images get a random resized crop (35-100% of the area,
aspect 3/4 to 4/3) and a random horizontal flip; validation images are
resized and centre-cropped as classification does.

--head N replaces the final classifier (a Gemm, MatMul or 1x1 Conv) with a
fresh one for N classes; N must be the number of class folders. A model
whose class count already matches needs no --head. --freeze takes
comma-separated globs over initializer names (* does not cross /),
regular expressions after re:, or all-but-head.

A checkpoint (--checkpoint, default OUT.onnx.ckpt) is written atomically
after every epoch. Ctrl-C finishes the current step, saves the checkpoint
and the model, and exits with status 130; --resume CKPT continues (with the
checkpoint's settings; only --epochs may be raised).

Flags:
`)
	fs, _ := finetuneFlags()
	printDefaults(w, fs)
}

type finetuneOpts struct {
	model, data, out, ckpt, resume string
	epochs, batch, head, threads   int
	workers, stepEvery, warmup     int
	lr, momentum, wd, gamma, minLR float64
	valSplit, crop                 float64
	optimizer, schedule, freeze    string
	preset, mean, std, size, tier  string
	nesterov, bgr, invert          bool
	frozenBN, noFlip               bool
	seed                           uint64
}

func finetuneFlags() (*flag.FlagSet, *finetuneOpts) {
	o := &finetuneOpts{}
	d := train.DefaultSettings()
	fs := newFlagSet("finetune")
	fs.StringVar(&o.model, "model", "", "the ONNX model to start from")
	fs.StringVar(&o.data, "data", "", "the image `DIR`: one sub-folder per class")
	fs.StringVar(&o.out, "out", "", "write the fine-tuned model to `OUT.onnx`")
	fs.StringVar(&o.ckpt, "checkpoint", "", "checkpoint `PATH` written each epoch (default OUT.onnx.ckpt)")
	fs.StringVar(&o.resume, "resume", "", "continue the run saved in `CKPT`")
	fs.IntVar(&o.epochs, "epochs", d.Epochs, "number of epochs (with --resume: the new total)")
	fs.IntVar(&o.batch, "batch", d.Batch, "images per step")
	fs.Float64Var(&o.lr, "lr", 0, "base learning rate (default 0.001 for sgd, 0.0001 for adamw)")
	fs.StringVar(&o.optimizer, "optimizer", d.Optimizer, "sgd or adamw")
	fs.Float64Var(&o.momentum, "momentum", d.Momentum, "SGD momentum")
	fs.BoolVar(&o.nesterov, "nesterov", false, "SGD with Nesterov momentum")
	fs.Float64Var(&o.wd, "weight-decay", -1, "weight decay (default 0 for sgd, 0.01 for adamw)")
	fs.StringVar(&o.schedule, "schedule", d.Schedule, "learning-rate schedule: const, step or cosine")
	fs.IntVar(&o.stepEvery, "step-every", 0, "step schedule: decay every `E` epochs (default a third of the epochs)")
	fs.Float64Var(&o.gamma, "gamma", 0, "step schedule: decay factor (default 0.1)")
	fs.Float64Var(&o.minLR, "min-lr", 0, "cosine schedule: final learning rate")
	fs.IntVar(&o.warmup, "warmup", 0, "cosine schedule: linear warmup `steps`")
	fs.IntVar(&o.head, "head", 0, "replace the final classifier with a new one for `N` classes")
	fs.StringVar(&o.freeze, "freeze", "", "freeze parameters: `PATTERN`s (globs, re:REGEXP) or all-but-head")
	fs.BoolVar(&o.frozenBN, "frozen-bn", false, "keep BatchNormalization on its running statistics while training")
	fs.StringVar(&o.preset, "preset", "", "normalisation: imagenet, caffe, unit or raw (default: the model's metadata, else by channel count)")
	fs.StringVar(&o.mean, "mean", "", "per-channel mean `a,b,c` (or one value), in the model's channel order")
	fs.StringVar(&o.std, "std", "", "per-channel std `a,b,c` (or one value), in the model's channel order")
	fs.BoolVar(&o.bgr, "bgr", false, "feed channels in BGR order")
	fs.BoolVar(&o.invert, "invert", false, "invert pixel values (255-v) before normalising")
	fs.Float64Var(&o.crop, "crop", 0, "validation centre-crop fraction (default 0.875)")
	fs.StringVar(&o.size, "size", "", "input size `H[xW]` for models whose spatial size is symbolic")
	fs.BoolVar(&o.noFlip, "no-flip", false, "no random horizontal flips (for digits, text)")
	fs.Float64Var(&o.valSplit, "val-split", d.ValSplit, "share of each class held out for validation, in [0, 1)")
	fs.Uint64Var(&o.seed, "seed", d.Seed, "random seed (split, shuffles, augmentation, new head)")
	fs.IntVar(&o.threads, "threads", 0, "threads for training (default GOMAXPROCS)")
	fs.IntVar(&o.workers, "workers", 0, "images decoded at once (default GOMAXPROCS, at most 8)")
	fs.StringVar(&o.tier, "tier", "", "SIMD kernel tier: generic, avx2, avx512 or neon (default the best)")
	return fs, o
}

// resumeFixed are the flags a resumed run takes from its checkpoint.
var resumeFixed = []string{"model", "batch", "lr", "optimizer", "momentum", "nesterov", "weight-decay", "schedule", "step-every",
	"gamma", "min-lr", "warmup", "head", "freeze", "frozen-bn", "preset", "mean", "std", "bgr", "invert", "crop", "size", "no-flip", "val-split", "seed"}

func finetuneCmd(args []string, stdout, stderr io.Writer) int {
	fs, o := finetuneFlags()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		finetuneUsage(stdout)
		return exitOK
	}
	if err != nil {
		return report(stderr, "finetune", err)
	}
	cfg, err := o.config(pos, setFlags(fs))
	if err != nil {
		return report(stderr, "finetune", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg.Log = stderr
	res, err := train.Finetune(ctx, cfg)
	if errors.Is(err, train.ErrInterrupted) {
		fmt.Fprintf(stderr, "runinfer finetune: %v\n", err)
		return exitInterrupted
	}
	if err != nil {
		return report(stderr, "finetune", errors.New(strings.TrimPrefix(err.Error(), "train: ")))
	}
	fmt.Fprintf(stdout, "wrote %s: %d classes (%s)", res.Out, len(res.Classes), strings.Join(res.Classes, ", "))
	if n := len(res.History); n > 0 && res.History[n-1].ValImages > 0 {
		last := res.History[n-1]
		fmt.Fprintf(stdout, ", validation accuracy %.1f%% on %d images", 100*last.ValAccuracy, last.ValImages)
	}
	fmt.Fprintf(stdout, "\ncheckpoint: %s\n", res.Checkpoint)
	return exitOK
}

// config checks the command line and turns it into a train.Config.
func (o *finetuneOpts) config(pos []string, set map[string]bool) (train.Config, error) {
	var cfg train.Config
	if len(pos) > 0 {
		return cfg, usagef("unexpected argument %q (give the model with --model, the data with --data)", pos[0])
	}
	switch {
	case o.data == "":
		return cfg, usagef("--data DIR is required (one sub-folder of images per class)")
	case o.out == "":
		return cfg, usagef("--out OUT.onnx is required")
	case o.model == "" && o.resume == "":
		return cfg, usagef("--model M is required (or --resume CKPT)")
	}
	if o.resume != "" {
		var clash []string
		for _, f := range resumeFixed {
			if set[f] {
				clash = append(clash, "--"+f)
			}
		}
		if len(clash) > 0 {
			return cfg, usagef("--resume continues with the checkpoint's settings; drop %s (only --epochs may change)", strings.Join(clash, ", "))
		}
	}
	s := train.DefaultSettings()
	s.Epochs, s.Batch, s.LR, s.Optimizer, s.Momentum, s.Nesterov, s.WeightDecay = o.epochs, o.batch, o.lr, o.optimizer, o.momentum, o.nesterov, o.wd
	s.Schedule, s.StepEvery, s.Gamma, s.MinLR, s.Warmup = o.schedule, o.stepEvery, o.gamma, o.minLR, o.warmup
	s.Head, s.Freeze, s.FrozenBN, s.ValSplit, s.Seed = o.head, o.freeze, o.frozenBN, o.valSplit, o.seed
	s.Preset, s.BGR, s.Invert, s.Crop = o.preset, o.bgr, o.invert, o.crop
	s.Augment.NoFlip = o.noFlip
	if o.resume != "" {
		s = train.Settings{}
		if set["epochs"] {
			s.Epochs = o.epochs
		}
	}
	if o.epochs < 1 || o.epochs > train.MaxEpochs {
		return cfg, usagef("--epochs %d: want 1 to %d", o.epochs, train.MaxEpochs)
	}
	if o.batch < 1 || o.batch > train.MaxBatch {
		return cfg, usagef("--batch %d: want 1 to %d", o.batch, train.MaxBatch)
	}
	if set["head"] && o.head < 1 {
		return cfg, usagef("--head %d: want the number of classes, at least 1", o.head)
	}
	if math.IsNaN(o.valSplit) || o.valSplit < 0 || o.valSplit >= 1 {
		return cfg, usagef("--val-split %g: want a fraction in [0, 1)", o.valSplit)
	}
	if set["lr"] && !(o.lr > 0 && !math.IsInf(o.lr, 0)) {
		return cfg, usagef("--lr %g: want a positive learning rate", o.lr)
	}
	if o.optimizer != "sgd" && o.optimizer != "adamw" {
		return cfg, usagef("--optimizer %q: want sgd or adamw", o.optimizer)
	}
	switch o.schedule {
	case "const", "constant", "step", "cosine":
	default:
		return cfg, usagef("--schedule %q: want const, step or cosine", o.schedule)
	}
	if o.preset != "" {
		if _, err := imageprep.PresetNorm(imageprep.Preset(o.preset), 3); err != nil {
			return cfg, usagef("--preset: %v", err)
		}
	}
	if set["crop"] && !(o.crop > 0 && o.crop <= 1) {
		return cfg, usagef("--crop %g: want a fraction in (0, 1]", o.crop)
	}
	if _, err := train.ParseFreeze(o.freeze); err != nil {
		return cfg, usagef("%s", strings.TrimPrefix(err.Error(), "train: "))
	}
	var err error
	if s.Mean, err = parseFloats("--mean", o.mean); err != nil {
		return cfg, err
	}
	if s.Std, err = parseFloats("--std", o.std); err != nil {
		return cfg, err
	}
	if o.size != "" {
		if s.Height, s.Width, err = parseSize(o.size); err != nil {
			return cfg, err
		}
	}
	if o.threads < 0 || o.workers < 0 {
		return cfg, usagef("--threads and --workers must not be negative")
	}
	cfg = train.Config{Settings: s, Model: o.model, Data: o.data, Out: o.out, Checkpoint: o.ckpt, Resume: o.resume,
		Threads: o.threads, Workers: o.workers, Tier: o.tier}
	return cfg, nil
}
