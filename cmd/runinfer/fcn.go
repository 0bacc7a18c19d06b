package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/runinfer/runinfer/fcn"
	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/labels"
)

func fcnUsage(w io.Writer) {
	fmt.Fprint(w, `usage: runinfer fcn [flags] MODEL IMAGE -o HEAT.png

Runs an image classifier fully convolutionally on a whole photo: its fully
connected layers become convolutions (a global pool becomes a window of the
model's input size sliding with stride 1 over the feature map), so one pass
scores every crop of the model's input size that starts at a multiple of the
network's total stride (the jump, 32 for most ImageNet models). Map position
(i, j) is the crop at (i*jump, j*jump) of the scaled photo.

The photo is scaled, keeping its aspect ratio, so that its shorter side is
--size (default: the photo's own size when it covers the model's input,
else the input size), and normalised as classify does (--preset, --mean,
--std, --bgr). It prints the score map's size (for example 7x7) and the top
classes over the map: ranked by the maximum over positions of each class's
softmax probability (the probability itself when the model ends with a
Softmax), with the position where it is reached.

It writes a heat map of the chosen class (--class; default the top one) at
the photo's own size: the class's probability at each position, divided by
its maximum, placed at the centre of the position's crop and interpolated
bilinearly, coloured from dark blue (0) through cyan and yellow to red (the
maximum) and blended over the photo. The PNG is written to a temporary file
beside HEAT.png, then renamed.

Flags:
`)
	fs, _ := fcnFlags()
	printDefaults(w, fs)
}

type fcnOpts struct {
	out        string
	class      string
	size       int
	top        int
	preset     string
	mean, std  string
	bgr        bool
	labelsFile string
}

func fcnFlags() (*flag.FlagSet, *fcnOpts) {
	o := &fcnOpts{}
	fs := newFlagSet("fcn")
	fs.StringVar(&o.out, "o", "", "write the heat map PNG to `FILE` (required)")
	fs.StringVar(&o.class, "class", "", "draw the heat map of class `NAME|INDEX` (default: the top class)")
	fs.IntVar(&o.size, "size", 0, "scale the photo so its shorter side is `S` pixels (default: its own size, at least the model's input size)")
	fs.IntVar(&o.top, "top", 5, "print the `K` best classes over the map")
	fs.StringVar(&o.preset, "preset", "", "normalisation: imagenet, caffe, unit or raw (default by channel count)")
	fs.StringVar(&o.mean, "mean", "", "per-channel mean `a,b,c` (or one value), in the model's channel order")
	fs.StringVar(&o.std, "std", "", "per-channel std `a,b,c` (or one value), in the model's channel order")
	fs.BoolVar(&o.bgr, "bgr", false, "feed channels in BGR order")
	fs.StringVar(&o.labelsFile, "labels", "", "read class names from `FILE`, one per line")
	return fs, o
}

func fcnCmd(args []string, stdout, stderr io.Writer) int {
	fs, o := fcnFlags()
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fcnUsage(stdout)
		return exitOK
	}
	switch {
	case err != nil:
	case len(pos) != 2:
		err = usagef("need a model and one image: runinfer fcn MODEL IMAGE -o HEAT.png")
	case o.out == "":
		err = usagef("-o HEAT.png is required")
	case o.top < 1:
		err = usagef("--top %d: want at least 1", o.top)
	case o.size < 0:
		err = usagef("--size %d: want a positive size", o.size)
	}
	if err != nil {
		return report(stderr, "fcn", err)
	}
	if err := runFCN(pos[0], pos[1], o, stdout); err != nil {
		return report(stderr, "fcn", err)
	}
	return exitOK
}

func runFCN(modelPath, imagePath string, o *fcnOpts, stdout io.Writer) error {
	// The heat map goes into o.out's directory (a temporary file, then a
	// rename): say now, not after the whole run, when that cannot work.
	if fi, err := os.Stat(filepath.Dir(o.out)); err != nil {
		return withPath(filepath.Dir(o.out), err, "-o: ")
	} else if !fi.IsDir() {
		return fmt.Errorf("-o %s: %s is not a directory", o.out, filepath.Dir(o.out))
	}
	var lbl []string
	if o.labelsFile != "" {
		var err error
		if lbl, err = labels.Load(o.labelsFile); err != nil {
			return withPath(o.labelsFile, err, "")
		}
	}
	m, err := loadModel(modelPath)
	if err != nil {
		return err
	}
	if len(m.Graph.Inputs) != 1 {
		return fmt.Errorf("%s: the model has %d inputs; an image classifier has one", modelPath, len(m.Graph.Inputs))
	}
	spec, err := imageprep.InputSpec(m.Graph.Inputs[0], imageprep.SpecOptions{})
	if err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	norm, err := fcnNorm(o, spec.Channels)
	if err != nil {
		return err
	}
	net, err := fcn.New(m, &fcn.Options{Norm: &norm})
	if err != nil {
		return withPath(modelPath, err, "fcn: ")
	}
	photo, _, err := imageprep.DecodeFile(imagePath, imageprep.DefaultMaxPixels)
	if err != nil {
		return fileError(imagePath, err)
	}
	b := photo.Bounds()
	if _, _, err := net.ScaledSize(b.Dy(), b.Dx(), o.size); err != nil {
		return usagef("--size: %v", strings.TrimPrefix(err.Error(), "fcn: "))
	}
	sm, err := net.ScoreMap(context.Background(), photo, o.size)
	if err != nil {
		return withPath(modelPath, err, "fcn: ")
	}
	if lbl == nil {
		lbl = labels.ForClasses(sm.Classes)
	} else if len(lbl) != sm.Classes {
		return fmt.Errorf("the label file has %d labels, but the model has %d classes", len(lbl), sm.Classes)
	}
	class := -1
	if o.class != "" {
		if class, err = parseClass(o.class, lbl, sm.Classes); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "score map: %dx%d (photo %dx%d scaled to %dx%d; window %dx%d, stride %d)\n",
		sm.Width, sm.Height, b.Dx(), b.Dy(), sm.ImageWidth, sm.ImageHeight, sm.Window[1], sm.Window[0], sm.Jump[0])
	fmt.Fprintln(stdout, "top classes (maximum over positions of the softmax probability; position x,y):")
	top := sm.Top(o.top)
	for _, c := range top {
		fmt.Fprintf(stdout, "%7.3f%%  %4d  %-28s at %d,%d\n", 100*c.Probability, c.Index, labels.Name(lbl, c.Index), c.X, c.Y)
	}
	if class < 0 {
		class = top[0].Index
	}
	heat, err := sm.HeatMap(photo, class)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, heat); err != nil {
		return err
	}
	if err := writeFileAtomic(o.out, buf.Bytes()); err != nil {
		return err
	}
	best := fcn.ClassScore{}
	for _, c := range sm.Top(sm.Classes) {
		if c.Index == class {
			best = c
		}
	}
	fmt.Fprintf(stdout, "heat map of class %d (%s; 0 to its maximum %.3f%% at %d,%d) written to %s\n",
		class, labels.Name(lbl, class), 100*best.Probability, best.X, best.Y, o.out)
	return nil
}

// fcnNorm builds the normalisation from the preset and its overrides, as
// classify does.
func fcnNorm(o *fcnOpts, channels int) (imageprep.Norm, error) {
	preset := imageprep.Preset(o.preset)
	if preset == "" {
		preset = imageprep.DefaultPreset(channels)
	}
	norm, err := imageprep.PresetNorm(preset, channels)
	if err != nil {
		return norm, usagef("--preset: %v", err)
	}
	if o.bgr {
		if channels != 3 {
			return norm, usagef("--bgr: the model's input has %d channel(s); BGR needs 3", channels)
		}
		norm = norm.WithBGR()
	}
	mean, err := parseFloats("--mean", o.mean)
	if err != nil {
		return norm, err
	}
	std, err := parseFloats("--std", o.std)
	if err != nil {
		return norm, err
	}
	if mean != nil {
		norm.Mean = mean
	}
	if std != nil {
		norm.Std = std
	}
	if err := norm.Validate(channels); err != nil {
		return norm, usagef("--mean/--std: %v", err)
	}
	return norm, nil
}

// parseClass reads --class: an index, a label (case-insensitive), or a
// part of exactly one label.
func parseClass(s string, lbl []string, classes int) (int, error) {
	if i, err := strconv.Atoi(s); err == nil {
		if i < 0 || i >= classes {
			return 0, usagef("--class %d: the model has classes 0..%d", i, classes-1)
		}
		return i, nil
	}
	want := strings.ToLower(strings.TrimSpace(s))
	var exact, partial []int
	for i := range classes {
		name := strings.ToLower(labels.Name(lbl, i))
		if name == want {
			exact = append(exact, i)
		} else if strings.Contains(name, want) {
			partial = append(partial, i)
		}
	}
	matches := exact
	if len(matches) == 0 {
		matches = partial
	}
	switch len(matches) {
	case 0:
		return 0, usagef("--class %q: no class has that name", s)
	case 1:
		return matches[0], nil
	}
	var names []string
	for _, i := range matches[:min(len(matches), 8)] {
		names = append(names, fmt.Sprintf("%d (%s)", i, labels.Name(lbl, i)))
	}
	return 0, usagef("--class %q matches %d classes: %s; give the index", s, len(matches), strings.Join(names, ", "))
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path, so a reader never sees a partial file.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fileError(path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fileError(path, err)
	}
	return nil
}
