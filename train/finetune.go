package train

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/onnx"
	"github.com/runinfer/runinfer/runtime"
)

// ErrInterrupted is wrapped by the error Finetune returns when its context
// is cancelled (Ctrl-C): the current step was finished, a checkpoint saved
// and the model written.
var ErrInterrupted = errors.New("training interrupted")

// Settings are the options of a training run that a checkpoint keeps, so
// that --resume continues with them.
type Settings struct {
	// Epochs is the total number of epochs of the run.
	Epochs int `json:"epochs"`
	// Batch is the number of images per step.
	Batch int `json:"batch"`
	// LR is the base learning rate; 0 means 0.001 for SGD, 0.0001 for AdamW.
	LR float64 `json:"lr"`
	// Optimizer is "sgd" or "adamw".
	Optimizer string `json:"optimizer"`
	// Momentum and Nesterov configure SGD.
	Momentum float64 `json:"momentum"`
	Nesterov bool    `json:"nesterov,omitempty"`
	// WeightDecay is SGD's coupled L2 penalty or AdamW's decoupled decay;
	// negative means the optimizer's default (SGD 0, AdamW 0.01).
	WeightDecay float64 `json:"weight_decay"`
	// Schedule is "const", "step" or "cosine". StepEvery (epochs) and
	// Gamma configure "step" (0: a third of the epochs, 0.1); MinLR and
	// Warmup (steps) configure "cosine".
	Schedule  string  `json:"schedule"`
	StepEvery int     `json:"step_every,omitempty"`
	Gamma     float64 `json:"gamma,omitempty"`
	MinLR     float64 `json:"min_lr,omitempty"`
	Warmup    int     `json:"warmup,omitempty"`
	// Head, when positive, replaces the classifier layer by a fresh one
	// with that many classes (it must equal the number of class folders).
	Head int `json:"head,omitempty"`
	// Freeze is a FreezeSpec (see ParseFreeze).
	Freeze string `json:"freeze,omitempty"`
	// Preset, Mean, Std, BGR, Invert and Crop are the preprocessing (see
	// imageprep.ModelPrep). Empty values take the model's runinfer
	// metadata, else the defaults (imagenet for colour, raw for gray,
	// crop 0.875).
	Preset string    `json:"preset,omitempty"`
	Mean   []float64 `json:"mean,omitempty"`
	Std    []float64 `json:"std,omitempty"`
	BGR    bool      `json:"bgr,omitempty"`
	Invert bool      `json:"invert,omitempty"`
	Crop   float64   `json:"crop,omitempty"`
	// Height and Width give the input size of a model whose size is
	// symbolic.
	Height int `json:"height,omitempty"`
	Width  int `json:"width,omitempty"`
	// ValSplit is the share of each class held out for validation.
	ValSplit float64 `json:"val_split"`
	// Seed seeds the split, the shuffles, the augmentation, a new head and
	// Dropout.
	Seed uint64 `json:"seed"`
	// FrozenBN keeps BatchNormalization on its running statistics during
	// training (inference semantics); otherwise it uses batch statistics
	// and updates the running ones, as PyTorch's model.train().
	FrozenBN bool `json:"frozen_bn,omitempty"`
	// Augment is the training augmentation (zero: the defaults).
	Augment Augment `json:"augment"`
}

// DefaultSettings returns the defaults of runinfer finetune: 5 epochs of
// batches of 16, SGD with momentum 0.9 at 0.001 annealed along a cosine,
// 20% of each class held out, seed 1.
func DefaultSettings() Settings {
	return Settings{Epochs: 5, Batch: 16, Optimizer: "sgd", Momentum: 0.9, WeightDecay: -1, Schedule: "cosine", ValSplit: 0.2, Seed: 1}
}

// Limits on Settings.
const (
	MaxEpochs = 1 << 20
	MaxBatch  = 1 << 12
)

// resolve fills the optimizer-dependent defaults and checks s.
func (s *Settings) resolve() error {
	if s.Epochs < 1 || s.Epochs > MaxEpochs {
		return fmt.Errorf("train: %d epochs (want 1 to %d)", s.Epochs, MaxEpochs)
	}
	if s.Batch < 1 || s.Batch > MaxBatch {
		return fmt.Errorf("train: batch size %d (want 1 to %d)", s.Batch, MaxBatch)
	}
	switch s.Optimizer {
	case "sgd":
		if s.LR == 0 {
			// PyTorch's transfer-learning tutorial's rate: 0.01 makes
			// a whole MobileNetV2 diverge at batch 8.
			s.LR = 0.001
		}
		if s.WeightDecay < 0 {
			s.WeightDecay = 0
		}
	case "adamw":
		if s.LR == 0 {
			s.LR = 0.0001
		}
		if s.WeightDecay < 0 {
			s.WeightDecay = 0.01
		}
	default:
		return fmt.Errorf("train: unknown optimizer %q (want sgd or adamw)", s.Optimizer)
	}
	if math.IsNaN(s.LR) || math.IsInf(s.LR, 0) || s.LR <= 0 {
		return fmt.Errorf("train: learning rate %g must be positive and finite", s.LR)
	}
	if s.Schedule == "" {
		s.Schedule = "const"
	}
	if s.Schedule == "step" {
		if s.StepEvery == 0 {
			s.StepEvery = max(1, s.Epochs/3)
		}
		if s.Gamma == 0 {
			s.Gamma = 0.1
		}
	}
	if math.IsNaN(s.ValSplit) || s.ValSplit < 0 || s.ValSplit >= 1 {
		return fmt.Errorf("train: validation split %g must be in [0, 1)", s.ValSplit)
	}
	if s.Head < 0 || s.Head > MaxHeadClasses {
		return fmt.Errorf("train: --head %d (want a class count from 1 to %d)", s.Head, MaxHeadClasses)
	}
	if _, err := ParseFreeze(s.Freeze); err != nil {
		return err
	}
	if s.Height < 0 || s.Width < 0 {
		return fmt.Errorf("train: input size %dx%d", s.Height, s.Width)
	}
	if _, err := s.Augment.withDefaults(); err != nil {
		return err
	}
	return nil
}

// Config is a fine-tuning run: the Settings and where things are.
type Config struct {
	Settings
	// Model is the ONNX model file to start from (or set ModelIR).
	Model   string
	ModelIR *ir.Model
	// Data is the ImageFolder root: one sub-folder of images per class.
	Data string
	// Out is the ONNX file written at the end (and on interruption).
	Out string
	// Checkpoint is the checkpoint file written after every epoch and on
	// interruption (default Out + ".ckpt").
	Checkpoint string
	// Resume, when set, continues the run saved in this checkpoint with
	// its Settings; only Epochs (when positive) may change, to train
	// longer.
	Resume string
	// Threads bounds the trainer's goroutines (0: GOMAXPROCS); Workers
	// the images decoded at once (0: GOMAXPROCS, at most 8); Tier picks
	// the SIMD kernels ("": the best).
	Threads, Workers int
	Tier             string
	// Log receives the progress bar and messages (nil: silent).
	Log io.Writer
	// AfterStep, when set, is called after every optimizer step with the
	// epoch (from 0), the batches done in it and the total steps.
	AfterStep func(epoch, batch int, step int64)
}

// EpochStats summarises one epoch.
type EpochStats struct {
	Epoch         int     `json:"epoch"` // from 0
	TrainLoss     float64 `json:"train_loss"`
	TrainAccuracy float64 `json:"train_accuracy"`
	TrainImages   int     `json:"train_images"`
	ValLoss       float64 `json:"val_loss"`
	ValAccuracy   float64 `json:"val_accuracy"`
	ValImages     int     `json:"val_images"` // 0: no validation
	ImagesPerSec  float64 `json:"images_per_sec"`
	Seconds       float64 `json:"seconds"`
	LR            float64 `json:"lr"` // the rate of the epoch's last step
}

// Result is what a run did.
type Result struct {
	Classes    []string
	History    []EpochStats
	Steps      int64
	Out        string
	Checkpoint string
	// Interrupted is set when the context was cancelled; the error then
	// wraps ErrInterrupted.
	Interrupted bool
	// Settings are the run's settings with every default resolved.
	Settings Settings
}

// running holds the sums of a partly trained epoch (kept in checkpoints).
type running struct {
	LossSum float64 `json:"loss_sum"`
	Correct int     `json:"correct"`
	Images  int     `json:"images"`
}

// savedSettings is the checkpoint's settings member.
type savedSettings struct {
	Settings Settings `json:"settings"`
	Running  running  `json:"running"`
	// Images and Data describe the data folder the run started on (its
	// image count and a hash of the relative paths and labels), so that a
	// resume on changed data is reported.
	Images int    `json:"images"`
	Data   string `json:"data"`
}

// fingerprint hashes a dataset's relative paths and labels.
func fingerprint(d *Dataset) string {
	h := sha256.New()
	for _, s := range d.Samples {
		rel, err := filepath.Rel(d.Root, s.Path)
		if err != nil {
			rel = s.Path
		}
		fmt.Fprintf(h, "%d\x00%s\x00", s.Label, filepath.ToSlash(rel))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Finetune trains a classifier on an ImageFolder dataset: it loads the
// model (or resumes a checkpoint), optionally replaces its head and
// freezes parameters, then runs the epochs: training steps with
// augmentation, the optimizer and the schedule, a progress bar, validation
// accuracy after each epoch, and an atomic checkpoint. At the end it writes
// Out, standard ONNX with the class names and the preprocessing in its
// metadata (imageprep.MetaLabels, imageprep.MetaPreprocess).
//
// A model whose output is a Softmax has it replaced by Identity (training
// needs the logits; classification applies a softmax itself), and a fixed
// batch dimension becomes symbolic.
//
// Cancelling ctx finishes the current step, saves a checkpoint, writes Out
// and returns an error wrapping ErrInterrupted with the Result.
func Finetune(ctx context.Context, cfg Config) (*Result, error) {
	log := NewProgress(cfg.Log)
	if cfg.Data == "" {
		return nil, errors.New("train: no data folder given")
	}
	if cfg.Out == "" {
		return nil, errors.New("train: no output file given")
	}
	ckptPath := cfg.Checkpoint
	if ckptPath == "" {
		ckptPath = cfg.Out + ".ckpt"
	}
	for _, p := range []string{cfg.Out, ckptPath} {
		if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("train: cannot write %s: its folder does not exist", p)
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return nil, fmt.Errorf("train: cannot write %s: it is a folder", p)
		}
	}
	if filepath.Clean(cfg.Out) == filepath.Clean(ckptPath) {
		return nil, fmt.Errorf("train: the output model and the checkpoint are the same file %s", cfg.Out)
	}

	// Settings, and the model: from the checkpoint, or fresh.
	var ck *Checkpoint
	var run running
	var resumedData string
	var resumedImages int
	s := cfg.Settings
	if cfg.Resume != "" {
		var err error
		if ck, err = LoadCheckpoint(cfg.Resume); err != nil {
			return nil, err
		}
		var saved savedSettings
		if err := json.Unmarshal(ck.Settings, &saved); err != nil {
			return nil, fmt.Errorf("train: checkpoint %s: settings: %w", cfg.Resume, err)
		}
		epochs := saved.Settings.Epochs
		if cfg.Epochs > 0 {
			epochs = cfg.Epochs
		}
		s, run = saved.Settings, saved.Running
		s.Epochs = epochs
		resumedData, resumedImages = saved.Data, saved.Images
	}
	if err := s.resolve(); err != nil {
		return nil, err
	}
	data, err := ImageFolder(cfg.Data, nil)
	if err != nil {
		return nil, err
	}
	if len(data.Classes) < 2 {
		return nil, fmt.Errorf("train: %s has one class folder (%q); a classifier needs at least two", cfg.Data, data.Classes[0])
	}
	if s.Head > 0 && s.Head != len(data.Classes) {
		return nil, fmt.Errorf("train: --head %d, but %s has %d class folders (%s)", s.Head, cfg.Data, len(data.Classes), strings.Join(data.Classes, ", "))
	}

	var m *ir.Model
	if ck != nil {
		m = ck.Model
		if !slices.Equal(ck.Classes, data.Classes) {
			return nil, fmt.Errorf("train: the checkpoint was trained on classes %v, %s has %v", ck.Classes, cfg.Data, data.Classes)
		}
		if ck.Epoch >= s.Epochs {
			return nil, fmt.Errorf("train: the checkpoint has finished %d of %d epochs; ask for more epochs to continue", ck.Epoch, s.Epochs)
		}
		log.Message("resuming %s at epoch %d, batch %d (step %d)", cfg.Resume, ck.Epoch+1, ck.Batch, ck.Step)
		if resumedData != "" && resumedData != fingerprint(data) {
			log.Message("warning: %s has changed since the checkpoint (%d images then, %d now): the split and the order of the batches differ from the original run's",
				cfg.Data, resumedImages, len(data.Samples))
		}
	} else {
		switch {
		case cfg.ModelIR != nil:
			m = cloneModel(cfg.ModelIR)
		case cfg.Model != "":
			if m, err = onnx.Load(cfg.Model); err != nil {
				return nil, fmt.Errorf("train: %w", err)
			}
		default:
			return nil, errors.New("train: no model given")
		}
		if err := prepareModel(m, &s, log); err != nil {
			return nil, err
		}
	}
	relaxBatch(m)

	// The input and the preprocessing.
	if len(m.Graph.Inputs) != 1 {
		return nil, fmt.Errorf("train: the model has %d inputs; fine-tuning needs exactly one (the images)", len(m.Graph.Inputs))
	}
	spec, err := imageprep.InputSpec(m.Graph.Inputs[0], imageprep.SpecOptions{Height: s.Height, Width: s.Width})
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if spec.Layout != imageprep.NCHW {
		return nil, fmt.Errorf("train: the model's input %v is NHWC; fine-tuning supports NCHW inputs", m.Graph.Inputs[0].Shape)
	}
	if ck == nil {
		if err := resolvePrep(&s, m); err != nil {
			return nil, err
		}
	}
	prep := imageprep.ModelPrep{Labels: data.Classes, Preset: imageprep.Preset(s.Preset), Mean: s.Mean, Std: s.Std, BGR: s.BGR, Crop: s.Crop, Invert: s.Invert}
	norm, err := prep.Norm(spec.Channels)
	if err != nil {
		return nil, fmt.Errorf("train: preprocessing: %w", err)
	}

	// Data.
	trainSet, valSet, err := data.Split(s.ValSplit, s.Seed)
	if err != nil {
		return nil, err
	}
	lopts := LoaderOptions{Height: spec.Height, Width: spec.Width, Channels: spec.Channels, Norm: norm, Invert: s.Invert, Crop: s.Crop,
		Batch: s.Batch, Seed: s.Seed, Workers: cfg.Workers, Augment: s.Augment}
	vopts := lopts
	lopts.Train = true
	lopts.DropLast = len(trainSet.Samples) > s.Batch
	trainL, err := NewLoader(trainSet, lopts)
	if err != nil {
		return nil, err
	}
	var valL *Loader
	if len(valSet.Samples) > 0 {
		if valL, err = NewLoader(valSet, vopts); err != nil {
			return nil, err
		}
	}
	log.Message("data: %d classes (%s), %d training and %d validation images", len(data.Classes), summarise(data.Classes), len(trainSet.Samples), len(valSet.Samples))

	// The trainer, with the frozen parameters left out.
	topts := &runtime.TrainOptions{Threads: cfg.Threads, Tier: cfg.Tier, Training: !s.FrozenBN, Seed: s.Seed}
	freeze, _ := ParseFreeze(s.Freeze)
	if !freeze.Empty() {
		all, err := defaultParams(m, freeze, cfg.Tier)
		if err != nil {
			return nil, err
		}
		trainable, frozen, err := freeze.Apply(m.Graph, all)
		if err != nil {
			return nil, err
		}
		keep := map[string]bool{}
		for _, p := range trainable {
			keep[p] = true
		}
		topts.Trainable = func(name string) bool { return keep[name] }
		log.Message("freeze %q: %d of %d parameters frozen, %d trained", s.Freeze, len(frozen), len(all), len(trainable))
	}
	tr, err := runtime.NewTrainer(m, topts)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if classes, err := outputClasses(context.WithoutCancel(ctx), tr, spec); err != nil {
		return nil, err
	} else if classes != len(data.Classes) {
		return nil, fmt.Errorf("train: the model has %d classes but %s has %d class folders; replace its classifier with --head %d",
			classes, cfg.Data, len(data.Classes), len(data.Classes))
	}
	names := tr.Params()
	if len(names) == 0 {
		return nil, errors.New("train: the model has no trainable parameters")
	}
	params := make([]Param, len(names))
	for i, n := range names {
		params[i] = Param{Name: n, Value: tr.Param(n).F32()}
	}

	var opt Optimizer
	if s.Optimizer == "adamw" {
		a := NewAdamW()
		a.WeightDecay = s.WeightDecay
		a.Threads = cfg.Threads
		opt = a
	} else {
		opt = &SGD{Momentum: s.Momentum, Nesterov: s.Nesterov, WeightDecay: s.WeightDecay, Threads: cfg.Threads}
	}
	if ck != nil {
		if err := opt.SetState(ck.Optimizer); err != nil {
			return nil, fmt.Errorf("train: checkpoint %s: %w", cfg.Resume, err)
		}
	}
	stepsPerEpoch := trainL.Len()
	sched, err := NewSchedule(ScheduleOptions{Kind: s.Schedule, Rate: s.LR, Total: s.Epochs * stepsPerEpoch,
		Every: s.StepEvery * stepsPerEpoch, Gamma: s.Gamma, Min: s.MinLR, Warmup: s.Warmup})
	if err != nil {
		return nil, err
	}

	res := &Result{Classes: data.Classes, Out: cfg.Out, Checkpoint: ckptPath, Settings: s}
	dataPrint := fingerprint(data)
	startEpoch, skip := 0, 0
	var step int64
	if ck != nil {
		startEpoch, skip, step = ck.Epoch, ck.Batch, ck.Step
		res.History = slices.Clone(ck.History)
	}
	if skip == 0 {
		run = running{}
	}

	// save writes the checkpoint at (epoch, batch) and the model.
	save := func(epoch, batch int, r running) error {
		settings, err := json.Marshal(savedSettings{Settings: s, Running: r, Images: len(data.Samples), Data: dataPrint})
		if err != nil {
			return err
		}
		model := tr.Model()
		if err := SaveCheckpoint(ckptPath, &Checkpoint{Model: model, Optimizer: opt.State(), Epoch: epoch, Batch: batch, Step: step,
			Seed: s.Seed, Classes: data.Classes, Settings: settings, History: res.History}); err != nil {
			return err
		}
		return writeModel(cfg.Out, model, prep)
	}
	interrupted := func(epoch, batch int, r running) (*Result, error) {
		res.Steps, res.Interrupted = step, true
		if err := save(epoch, batch, r); err != nil {
			return res, fmt.Errorf("train: interrupted, but saving failed: %w", err)
		}
		log.Message("interrupted: checkpoint %s, model %s", ckptPath, cfg.Out)
		return res, fmt.Errorf("%w at epoch %d, batch %d of %d: checkpoint saved to %s and the model to %s; continue with --resume %s",
			ErrInterrupted, epoch+1, batch, stepsPerEpoch, ckptPath, cfg.Out, ckptPath)
	}

	for epoch := startEpoch; epoch < s.Epochs; epoch++ {
		if ctx.Err() != nil {
			return interrupted(epoch, skip, run)
		}
		tr.SetTraining(!s.FrozenBN)
		epochStart := time.Now()
		since, imagesSince, stepsSince := epochStart, 0, 0
		batch := skip
		bs := trainL.Epoch(ctx, epoch, skip)
		var lastLR float64
		for batch < stepsPerEpoch {
			if ctx.Err() != nil {
				bs.Close()
				return interrupted(epoch, batch, run)
			}
			b, err := bs.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				bs.Close()
				if ctx.Err() != nil {
					return interrupted(epoch, batch, run)
				}
				return res, err
			}
			// The step runs to its end even when ctx is cancelled
			// meanwhile: Ctrl-C finishes it, then saves.
			r, err := tr.Step(context.WithoutCancel(ctx), b.X, b.Labels, false)
			if err != nil {
				bs.Close()
				return res, fmt.Errorf("train: epoch %d, batch %d: %w", epoch+1, batch+1, err)
			}
			if math.IsNaN(r.Loss) || math.IsInf(r.Loss, 0) {
				bs.Close()
				return res, fmt.Errorf("train: the loss became %g at epoch %d, batch %d (the learning rate %g is probably too high)", r.Loss, epoch+1, batch+1, sched.LR(int(step)))
			}
			for i := range params {
				params[i].Grad = r.Grads[params[i].Name].F32()
			}
			lastLR = sched.LR(int(step))
			if err := opt.Step(params, lastLR); err != nil {
				bs.Close()
				return res, err
			}
			step++
			batch = b.Index + 1
			n := len(b.Labels)
			run.LossSum += r.Loss * float64(n)
			run.Correct += r.Correct
			run.Images += n
			imagesSince += n
			stepsSince++
			log.Update(ProgressState{Epoch: epoch + 1, Epochs: s.Epochs, Step: batch, Steps: stepsPerEpoch,
				Loss: run.LossSum / float64(run.Images), Accuracy: float64(run.Correct) / float64(run.Images),
				Images: imagesSince, StepsSince: stepsSince, Since: since, StepsLeft: (s.Epochs - epoch - 1) * stepsPerEpoch})
			if cfg.AfterStep != nil {
				cfg.AfterStep(epoch, batch, step)
			}
		}
		bs.Close()
		sec := time.Since(epochStart).Seconds()
		st := EpochStats{Epoch: epoch, TrainImages: run.Images, Seconds: sec, LR: lastLR}
		if run.Images > 0 {
			st.TrainLoss = run.LossSum / float64(run.Images)
			st.TrainAccuracy = float64(run.Correct) / float64(run.Images)
		}
		if sec > 0 {
			st.ImagesPerSec = float64(imagesSince) / sec
		}
		if valL != nil {
			vl, va, vn, err := evaluate(ctx, tr, valL)
			if err != nil && ctx.Err() == nil {
				return res, err
			}
			if err == nil {
				st.ValLoss, st.ValAccuracy, st.ValImages = vl, va, vn
			}
		}
		res.History = append(res.History, st)
		log.Done(st, s.Epochs)
		run, skip = running{}, 0
		if ctx.Err() != nil {
			return interrupted(epoch+1, 0, run)
		}
		settings, err := json.Marshal(savedSettings{Settings: s, Images: len(data.Samples), Data: dataPrint})
		if err != nil {
			return res, err
		}
		if err := SaveCheckpoint(ckptPath, &Checkpoint{Model: tr.Model(), Optimizer: opt.State(), Epoch: epoch + 1, Step: step,
			Seed: s.Seed, Classes: data.Classes, Settings: settings, History: res.History}); err != nil {
			return res, err
		}
	}
	res.Steps = step
	if err := writeModel(cfg.Out, tr.Model(), prep); err != nil {
		return res, err
	}
	log.Message("wrote %s (checkpoint %s)", cfg.Out, ckptPath)
	return res, nil
}

// defaultParams returns the parameters a trainer takes by default (every
// float initializer on a differentiable input), which freezing then
// splits. When the default trainer cannot be built because some op on the
// way lacks a gradient, all-but-head still works: the head's parameters
// are the candidates (their gradients need only the ops after the head).
func defaultParams(m *ir.Model, fs *FreezeSpec, tier string) ([]string, error) {
	probe, err := runtime.NewTrainer(m, &runtime.TrainOptions{Threads: 1, Tier: tier})
	if err == nil {
		return probe.Params(), nil
	}
	if fs.AllButHead() && errors.Is(err, runtime.ErrUnsupported) {
		if h, herr := FindHead(m.Graph); herr == nil {
			return h.Params(), nil
		}
	}
	return nil, fmt.Errorf("train: %w", err)
}

// summarise lists up to five class names.
func summarise(classes []string) string {
	if len(classes) <= 5 {
		return strings.Join(classes, ", ")
	}
	return strings.Join(classes[:5], ", ") + ", ..."
}

// cloneModel copies m deeply enough that preparing it for training leaves
// the caller's model untouched (tensors are replaced, never modified).
func cloneModel(m *ir.Model) *ir.Model {
	c := *m
	c.Graph = m.Graph.Clone()
	c.Metadata = map[string]string{}
	for k, v := range m.Metadata {
		c.Metadata[k] = v
	}
	return &c
}

// prepareModel replaces the head and a final Softmax of a fresh model.
func prepareModel(m *ir.Model, s *Settings, log *Progress) error {
	if m.Graph == nil {
		return errors.New("train: the model has no graph")
	}
	if s.Head > 0 {
		h, err := ReplaceHead(m, s.Head, rand.New(rand.NewPCG(s.Seed, 0x4ead)))
		if err != nil {
			return err
		}
		log.Message("head: %s replaced by a new %d→%d layer (%s, %s)", h.Node.Describe(), h.Features, h.Classes, h.Weight, h.Bias)
	}
	if n := finalSoftmax(m.Graph); n != nil {
		n.Op, n.Attrs = "Identity", nil
		log.Message("the model ends in %s; training uses the logits before it (the written model outputs logits)", "Softmax")
	}
	return nil
}

// finalSoftmax returns the Softmax whose output, through shape ops only, is
// the first graph output.
func finalSoftmax(g *ir.Graph) *ir.Node {
	if len(g.Outputs) == 0 {
		return nil
	}
	prod := g.Producers()
	v := g.Outputs[0].Name
	for range len(g.Nodes) {
		n := prod[v]
		if n == nil || n.Domain != "" {
			return nil
		}
		switch n.Op {
		case "Softmax":
			return n
		case "Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze":
			v = n.Input(0)
		default:
			return nil
		}
	}
	return nil
}

// relaxBatch makes a fixed batch dimension symbolic, so that batches of
// any size run: the input's and the outputs' first dimension, the
// declarations of intermediate values (re-inferred), and constant Reshape
// shapes of activations that spell a fixed batch of 1 (they get 0: "copy
// the input's dimension").
func relaxBatch(m *ir.Model) {
	g := m.Graph
	if len(g.Inputs) != 1 || !g.Inputs[0].Shape.Ranked || len(g.Inputs[0].Shape.Dims) == 0 || !g.Inputs[0].Shape.Dims[0].Known() {
		return
	}
	fixed := g.Inputs[0].Shape.Dims[0].Size
	relax := func(vi *ir.ValueInfo) {
		if vi.Shape.Ranked && len(vi.Shape.Dims) > 0 && vi.Shape.Dims[0].Known() && vi.Shape.Dims[0].Size == fixed {
			vi.Shape.Dims = slices.Clone(vi.Shape.Dims)
			vi.Shape.Dims[0] = ir.SymDim("N")
		}
	}
	relax(g.Inputs[0])
	for _, o := range g.Outputs {
		relax(o)
	}
	g.ValueInfos = map[string]*ir.ValueInfo{}
	if fixed != 1 {
		return
	}
	cons := g.Consumers()
	for _, n := range g.Nodes {
		if n.Op != "Reshape" || n.Domain != "" || n.AttrInt("allowzero", 0) != 0 {
			continue
		}
		if _, isConst := g.Initializers[n.Input(0)]; isConst {
			continue
		}
		t, ok := g.Initializers[n.Input(1)]
		if !ok {
			continue
		}
		v, err := t.Int64s()
		if err != nil || len(v) == 0 || v[0] != 1 {
			continue
		}
		nv := slices.Clone(v)
		nv[0] = 0
		nt, err := ir.FromInt64(slices.Clone(t.Shape), nv)
		if err != nil {
			continue
		}
		name := n.Input(1)
		if len(cons[name]) > 1 {
			name = freshName(g, name+".batch")
			n.Inputs[1] = name
		}
		g.Initializers[name] = nt
	}
}

// resolvePrep settles the preprocessing of a fresh run: the settings'
// values over the model's runinfer metadata over the defaults, written back
// into s so that checkpoints and the output model record them.
func resolvePrep(s *Settings, m *ir.Model) error {
	base, _, err := imageprep.FromMetadata(m.Metadata)
	if err != nil {
		return fmt.Errorf("train: the model's %w", err)
	}
	if s.Preset == "" {
		s.Preset = string(base.Preset)
		if s.Mean == nil {
			s.Mean = base.Mean
		}
		if s.Std == nil {
			s.Std = base.Std
		}
		s.BGR = s.BGR || base.BGR
	}
	if s.Preset == "" {
		s.Preset = string(imageprep.DefaultPreset(channelsOf(m)))
	}
	if s.Crop == 0 {
		s.Crop = base.CropFraction()
	}
	s.Invert = s.Invert || base.Invert
	if _, err := imageprep.PresetNorm(imageprep.Preset(s.Preset), 3); err != nil {
		return fmt.Errorf("train: --preset: %w", err)
	}
	if !(s.Crop > 0 && s.Crop <= 1) {
		return fmt.Errorf("train: crop fraction %g must be in (0, 1]", s.Crop)
	}
	return nil
}

func channelsOf(m *ir.Model) int {
	if sp, err := imageprep.InputSpec(m.Graph.Inputs[0], imageprep.SpecOptions{Height: 1, Width: 1}); err == nil {
		return sp.Channels
	}
	if d := m.Graph.Inputs[0].Shape.Dims; len(d) == 4 && d[1].Known() {
		return int(d[1].Size)
	}
	return 3
}

// outputClasses runs one blank image through the trainer to count the
// model's classes.
func outputClasses(ctx context.Context, tr *runtime.Trainer, spec imageprep.Spec) (int, error) {
	x, err := ir.NewTensor(ir.Float32, []int{1, spec.Channels, spec.Height, spec.Width})
	if err != nil {
		return 0, fmt.Errorf("train: %w", err)
	}
	logits, err := tr.Forward(ctx, x)
	if err != nil {
		return 0, fmt.Errorf("train: running the model: %w", err)
	}
	return logits.Len(), nil
}

// evaluate runs the validation set with inference semantics and returns
// the mean cross-entropy, the accuracy and the number of images.
func evaluate(ctx context.Context, tr *runtime.Trainer, l *Loader) (loss, acc float64, n int, err error) {
	bs := l.Epoch(ctx, 0, 0)
	defer bs.Close()
	correct := 0
	for {
		b, err := bs.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, 0, err
		}
		logits, err := tr.Forward(ctx, b.X)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("train: validation: %w", err)
		}
		v := logits.F32()
		rows := len(b.Labels)
		if rows == 0 || len(v)%rows != 0 {
			return 0, 0, 0, fmt.Errorf("train: validation: %d logits for %d images", len(v), rows)
		}
		c := len(v) / rows
		for i, label := range b.Labels {
			if label < 0 || int(label) >= c {
				return 0, 0, 0, fmt.Errorf("train: validation: label %d of %s is outside the model's %d classes", label, b.Paths[i], c)
			}
			row := v[i*c : (i+1)*c]
			best := 0
			mx := math.Inf(-1)
			for j, x := range row {
				if float64(x) > mx {
					mx, best = float64(x), j
				}
			}
			sum := 0.0
			for _, x := range row {
				sum += math.Exp(float64(x) - mx)
			}
			loss += mx + math.Log(sum) - float64(row[label])
			if best == int(label) {
				correct++
			}
		}
		n += rows
	}
	if n == 0 {
		return 0, 0, 0, nil
	}
	return loss / float64(n), float64(correct) / float64(n), n, nil
}

// writeModel writes the trained model with its class names and
// preprocessing in the metadata.
func writeModel(path string, m *ir.Model, prep imageprep.ModelPrep) error {
	md, err := prep.ToMetadata()
	if err != nil {
		return err
	}
	if m.Metadata == nil {
		m.Metadata = map[string]string{}
	}
	for k, v := range md {
		m.Metadata[k] = v
	}
	data, err := onnx.Encode(m)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	return WriteFileAtomic(path, data)
}
