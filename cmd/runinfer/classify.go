package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"strconv"
	"strings"

	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/labels"
	"github.com/runinfer/runinfer/runtime"
)

func classifyUsage(w io.Writer) {
	fmt.Fprint(w, `usage: runinfer [classify] [flags] MODEL IMAGE...
       runinfer [classify] [flags] IMAGE...

Classifies each image (JPEG, PNG, GIF, BMP or WebP) and prints the top
classes, best first, with their probability (a softmax is applied unless the
model's output already is a probability distribution).

With no model (the first argument is an image file, recognised by its
content), the built-in model is used: a digit classifier (0-9) for 28×28
grayscale images, light on dark or dark on light, trained by runinfer
itself (models/digits.onnx, embedded in the program).

Preprocessing: the image is resized so that its shorter side is 256/224 of
the model's input size (256 for 224x224) and the centre H×W is cut out; an
image that already has exactly the input size is used as is. The size comes
from the model's input shape, or from --size when the model leaves it
symbolic. The layout is NCHW unless the input's last dimension is 1 or 3 and
dimension 1 is not (then NHWC); --layout overrides. 1-channel inputs get
grayscale. float16 and float64 inputs are converted.

Presets (--preset; the default is imagenet for 3-channel inputs, raw for
1-channel inputs):
  imagenet  RGB/255, mean 0.485,0.456,0.406, std 0.229,0.224,0.225
  caffe     BGR, 0..255
  unit      RGB, 0..1
  raw       RGB (or gray), 0..255
--mean and --std replace the preset's values; they are applied after the
preset's scaling (0..1 or 0..255) and listed in the model's channel order
(B,G,R with --bgr or caffe). --bgr swaps an RGB preset to BGR, taking its
per-colour mean and std along.

A model that carries runinfer metadata (written by runinfer finetune: the
metadata_props keys runinfer.labels and runinfer.preprocess) is classified
with its own class names, preset, mean, std, channel order, crop and
inversion; any flag given still overrides the model's value (an explicit
--preset also drops the model's mean, std and BGR setting).

Each image is run as a batch of one (a model whose batch size is fixed at N
gets N images per run). An image that cannot be read is reported and skipped;
the exit status is then 1.
Labels: --labels FILE (one per line), else the model's runinfer.labels
metadata, else the ImageNet-1k names for 1000 classes (1001: "background"
first), else "class N".

Flags:
`)
	fs, _ := classifyFlags()
	printDefaults(w, fs)
}

type classifyOpts struct {
	top        int
	preset     string
	mean, std  string
	bgr        bool
	size       string
	layout     string
	crop       float64
	labelsFile string
	jsonOut    bool
	output     string
	opt        levelFlag
	invert     bool
	// set holds the names of the flags given on the command line, so that
	// the model's metadata fills in only the others.
	set map[string]bool
}

func classifyFlags() (*flag.FlagSet, *classifyOpts) {
	o := &classifyOpts{}
	fs := newFlagSet("classify")
	fs.IntVar(&o.top, "top", 5, "print the `K` most probable classes")
	fs.StringVar(&o.preset, "preset", "", "normalisation: imagenet, caffe, unit or raw (default by channel count)")
	fs.StringVar(&o.mean, "mean", "", "per-channel mean `a,b,c` (or one value), in the model's channel order")
	fs.StringVar(&o.std, "std", "", "per-channel std `a,b,c` (or one value), in the model's channel order")
	fs.BoolVar(&o.bgr, "bgr", false, "feed channels in BGR order")
	fs.StringVar(&o.size, "size", "", "input size `H[xW]` for models whose spatial size is symbolic")
	fs.StringVar(&o.layout, "layout", "", "force the input layout: nchw or nhwc (default: detected)")
	fs.Float64Var(&o.crop, "crop", imageprep.DefaultCropFraction, "share of the resized shorter side the centre crop keeps (1: resize only)")
	fs.StringVar(&o.labelsFile, "labels", "", "read class names from `FILE`, one per line")
	fs.BoolVar(&o.jsonOut, "json", false, "print one JSON document instead of text")
	fs.StringVar(&o.output, "output", "", "the model output holding the class scores (default: the first)")
	fs.Var(&o.opt, "opt", optFlagUsage)
	fs.BoolVar(&o.invert, "invert", false, "invert pixel values (255-v) before normalising (default: the model's metadata, else off)")
	return fs, o
}

// prediction is one ranked class, as printed.
type prediction struct {
	Index       int     `json:"index"`
	Label       string  `json:"label"`
	Probability float32 `json:"probability"`
}

// imageResult is one image's outcome.
type imageResult struct {
	Image       string       `json:"image"`
	Predictions []prediction `json:"predictions,omitempty"`
	Error       string       `json:"error,omitempty"`
}

func classifyCmd(args []string, stdout, stderr io.Writer) int {
	fs, o := classifyFlags()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		classifyUsage(stdout)
		return exitOK
	}
	if err == nil && len(pos) > 0 && isImageFile(pos[0]) {
		// runinfer IMAGE...: no model given, the built-in one.
		pos = append([]string{defaultModelArg}, pos...)
	}
	if err == nil && len(pos) < 2 {
		err = usagef("need a model and at least one image: runinfer MODEL IMAGE... (or runinfer IMAGE... for the built-in digits model)")
	}
	if err != nil {
		return report(stderr, "", err)
	}
	o.set = setFlags(fs)
	c, err := newClassifier(pos[0], o)
	if err != nil {
		return report(stderr, "", err)
	}
	results, err := c.classifyAll(pos[1:], stderr)
	if err != nil {
		return report(stderr, "", err)
	}
	failed := false
	for _, r := range results {
		failed = failed || r.Error != ""
	}
	if o.jsonOut {
		doc := struct {
			Model   string        `json:"model"`
			Results []imageResult `json:"results"`
		}{pos[0], results}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return report(stderr, "", err)
		}
	} else {
		printed := 0
		for _, r := range results {
			if r.Error != "" {
				continue
			}
			if len(results) > 1 {
				if printed > 0 {
					fmt.Fprintln(stdout)
				}
				fmt.Fprintf(stdout, "%s:\n", r.Image)
			}
			for _, p := range r.Predictions {
				fmt.Fprintf(stdout, "%7.3f%%  %4d  %s\n", 100*p.Probability, p.Index, p.Label)
			}
			printed++
		}
	}
	if failed {
		return exitFailure
	}
	return exitOK
}

// classifier holds a model prepared for classification.
type classifier struct {
	sess   *runtime.Session
	input  string
	output int // index into sess.Outputs()
	spec   imageprep.Spec
	norm   imageprep.Norm
	crop   float64
	top    int
	labels []string // from --labels or the model's metadata; nil means built-in or "class N"
	// labelsFrom names where labels came from, for error messages.
	labelsFrom string
	invert     bool
	modelID    string
}

// setFlags returns the names of the flags given on fs's command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

func newClassifier(modelPath string, o *classifyOpts) (*classifier, error) {
	// Check the flags before the (slow) model load.
	if o.top < 1 {
		return nil, usagef("--top %d: want at least 1", o.top)
	}
	if !(o.crop > 0 && o.crop <= 1) {
		return nil, usagef("--crop %g: want a fraction in (0, 1]", o.crop)
	}
	var sopts imageprep.SpecOptions
	if o.size != "" {
		h, w, err := parseSize(o.size)
		if err != nil {
			return nil, err
		}
		sopts.Height, sopts.Width = h, w
	}
	if o.layout != "" {
		l, err := imageprep.ParseLayout(o.layout)
		if err != nil {
			return nil, usagef("--layout: %v", err)
		}
		sopts.Layout = &l
	}
	if o.preset != "" {
		if _, err := imageprep.PresetNorm(imageprep.Preset(o.preset), 3); err != nil {
			return nil, usagef("--preset: %v", err)
		}
	}
	mean, err := parseFloats("--mean", o.mean)
	if err != nil {
		return nil, err
	}
	std, err := parseFloats("--std", o.std)
	if err != nil {
		return nil, err
	}
	var lbl []string
	if o.labelsFile != "" {
		if lbl, err = labels.Load(o.labelsFile); err != nil {
			return nil, withPath(o.labelsFile, err, "")
		}
		if len(lbl) == 0 {
			return nil, fmt.Errorf("%s: the label file is empty", o.labelsFile)
		}
	}

	m, sess, err := openSession(modelPath, &runtime.Options{Optimize: o.opt.level})
	if err != nil {
		return nil, err
	}
	c := &classifier{sess: sess, crop: o.crop, top: o.top, labels: lbl, labelsFrom: "the label file", invert: o.invert, modelID: modelPath}
	// The model's own metadata fills in what the flags leave unset.
	meta, _, err := imageprep.FromMetadata(m.Metadata)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modelPath, err)
	}
	if lbl == nil && meta.Labels != nil {
		c.labels, c.labelsFrom = meta.Labels, "the model's "+imageprep.MetaLabels+" metadata"
	}
	if !o.set["crop"] && meta.Crop != 0 {
		c.crop = meta.Crop
	}
	if !o.set["invert"] {
		c.invert = meta.Invert
	}
	ins := sess.Inputs()
	if len(ins) != 1 {
		names := make([]string, len(ins))
		for i, vi := range ins {
			names[i] = vi.Name
		}
		return nil, fmt.Errorf("%s: the model has %d inputs (%s); image classification needs exactly one (use runinfer run with tensor files)",
			modelPath, len(ins), strings.Join(names, ", "))
	}
	c.input = ins[0].Name
	c.spec, err = imageprep.InputSpec(ins[0], sopts)
	if err != nil {
		if errors.Is(err, imageprep.ErrNeedSize) || errors.Is(err, imageprep.ErrSizeMismatch) || errors.Is(err, imageprep.ErrBadSize) {
			return nil, usagef("%s: %v", modelPath, err)
		}
		return nil, fmt.Errorf("%s: %w", modelPath, err)
	}
	outs := sess.Outputs()
	if len(outs) == 0 {
		return nil, fmt.Errorf("%s: the model has no outputs", modelPath)
	}
	if o.output != "" {
		c.output = -1
		for i, vi := range outs {
			if vi.Name == o.output {
				c.output = i
			}
		}
		if c.output < 0 {
			return nil, usagef("--output %q: the model's outputs are %s", o.output, valueNames(outs))
		}
	}

	if o.bgr && c.spec.Channels != 3 {
		return nil, usagef("--bgr: the model's input %q has %d channel(s); BGR needs 3", c.input, c.spec.Channels)
	}
	if o.preset == "" && meta.HasPreprocess() {
		// The model's own preprocessing; --bgr, --mean and --std override
		// its fields.
		mp := meta
		if o.set["bgr"] {
			mp.BGR = o.bgr
		}
		if c.norm, err = mp.Norm(c.spec.Channels); err != nil {
			return nil, fmt.Errorf("%s: metadata %s: %w", modelPath, imageprep.MetaPreprocess, err)
		}
	} else {
		preset := imageprep.Preset(o.preset)
		if preset == "" {
			preset = imageprep.DefaultPreset(c.spec.Channels)
		}
		c.norm, err = imageprep.PresetNorm(preset, c.spec.Channels)
		if err != nil {
			return nil, usagef("--preset: %v", err)
		}
		if o.bgr {
			c.norm = c.norm.WithBGR()
		}
	}
	if mean != nil {
		c.norm.Mean = mean
	}
	if std != nil {
		c.norm.Std = std
	}
	if err := c.norm.Validate(c.spec.Channels); err != nil {
		return nil, usagef("--mean/--std: %v", err)
	}
	return c, nil
}

func valueNames(vs []*ir.ValueInfo) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(v.Name))
	}
	return b.String()
}

// classifyAll classifies the images in groups of the model's batch size.
// Problems with one image are reported on stderr and recorded in its result;
// problems with the model (a failed run, a malformed output) end everything.
func (c *classifier) classifyAll(paths []string, stderr io.Writer) ([]imageResult, error) {
	results := make([]imageResult, len(paths))
	for i, p := range paths {
		results[i].Image = p
	}
	var batch []*image.RGBA
	var idx []int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		preds, err := c.classifyBatch(batch)
		if err != nil {
			return err
		}
		for j, i := range idx {
			results[i].Predictions = preds[j]
		}
		batch, idx = batch[:0], idx[:0]
		return nil
	}
	for i, p := range paths {
		img, err := c.prepare(p)
		if err != nil {
			results[i].Error = err.Error()
			fmt.Fprintf(stderr, "runinfer: %v\n", err)
			continue
		}
		batch = append(batch, img)
		idx = append(idx, i)
		if len(batch) == c.spec.Batch {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return results, nil
}

// prepare decodes an image file and cuts it to the model's input size.
func (c *classifier) prepare(path string) (*image.RGBA, error) {
	img, _, err := imageprep.DecodeFile(path, imageprep.DefaultMaxPixels)
	if err != nil {
		return nil, fileError(path, err)
	}
	m, err := imageprep.ResizeCrop(img, c.spec.Height, c.spec.Width, c.crop)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.invert {
		imageprep.Invert(m)
	}
	return m, nil
}

// classifyBatch runs up to spec.Batch images and ranks each one's classes.
func (c *classifier) classifyBatch(imgs []*image.RGBA) ([][]prediction, error) {
	n := len(imgs)
	full := imgs
	for len(full) < c.spec.Batch { // a fixed batch size larger than what is left: pad
		full = append(full, imgs[0])
	}
	x, err := imageprep.ToTensor(full, c.spec, c.norm)
	if err != nil {
		return nil, err
	}
	outs, err := c.sess.Run(context.Background(), map[string]*ir.Tensor{c.input: x})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.modelID, err)
	}
	out := outs[c.output]
	name := c.sess.Outputs()[c.output].Name
	if !out.DType.IsFloat() && !out.DType.IsInt() {
		return nil, fmt.Errorf("%s: output %q is %v, not class scores", c.modelID, name, out.DType)
	}
	f, err := out.ToFloat32()
	if err != nil {
		return nil, fmt.Errorf("%s: output %q: %w", c.modelID, name, err)
	}
	scores := f.F32()
	if len(scores) == 0 || len(scores)%len(full) != 0 || (len(f.Shape) > 0 && len(full) > 1 && f.Shape[0] != len(full)) {
		return nil, fmt.Errorf("%s: output %q has shape %v, which does not hold class scores for a batch of %d", c.modelID, name, f.Shape, len(full))
	}
	classes := len(scores) / len(full)
	lbl := c.labels
	if lbl == nil {
		lbl = labels.ForClasses(classes)
	} else if len(lbl) != classes {
		return nil, fmt.Errorf("%s has %d labels, but output %q has %d classes", c.labelsFrom, len(lbl), name, classes)
	}
	res := make([][]prediction, n)
	for b := range n {
		probs := imageprep.Probabilities(scores[b*classes : (b+1)*classes])
		for _, k := range imageprep.TopK(probs, c.top) {
			res[b] = append(res[b], prediction{Index: k.Index, Label: labels.Name(lbl, k.Index), Probability: k.Probability})
		}
	}
	return res, nil
}

// parseSize parses "H" or "HxW".
func parseSize(s string) (int, int, error) {
	hs, ws, found := strings.Cut(strings.ToLower(s), "x")
	if !found {
		ws = hs
	}
	h, err1 := strconv.Atoi(strings.TrimSpace(hs))
	w, err2 := strconv.Atoi(strings.TrimSpace(ws))
	if err1 != nil || err2 != nil || h < 1 || w < 1 {
		return 0, 0, usagef("--size %q: want H or HxW with positive integers, such as 224 or 240x320", s)
	}
	return h, w, nil
}

// parseFloats parses a comma-separated list of finite numbers; empty gives
// nil.
func parseFloats(flagName, s string) ([]float64, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	out := make([]float64, len(parts))
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, usagef("%s %q: %q is not a number", flagName, s, strings.TrimSpace(p))
		}
		out[i] = v
	}
	return out, nil
}
