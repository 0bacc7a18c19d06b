// Package fcn runs image classifiers fully convolutionally: the classifier's
// fully connected layers become convolutions (graphopt.ConvertFCToConv), so
// that one pass over a whole photo, at its own size, returns a map of class
// scores with one position per crop window sliding over it. The windows
// share their computation, which makes this far cheaper than classifying
// each crop; map position (i, j) scores the crop of the model's input size
// at offset (i·jump, j·jump) of the scaled photo, where jump is the
// network's total stride.
//
// Exactly so for networks without padding; with padded convolutions
// (MobileNet, ResNet) a position whose crop lies inside the photo sees real
// pixels where the crop alone saw zero padding, so inner positions differ
// from the isolated crop in the outer pixels of their receptive fields. A
// squeeze-and-excitation gate (EfficientNet) sees the whole photo.
package fcn

import (
	"context"
	"errors"
	"fmt"
	"image"
	"maps"
	"math"
	"sort"

	"github.com/runinfer/runinfer/graphopt"
	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/ir"
	"github.com/runinfer/runinfer/runtime"
)

// Convert returns a fully convolutional copy of m (m is not changed): its
// image input takes any spatial size at least the declared one and its
// class-score output becomes a [N, classes, h, w] map. Shapes come from the
// runtime's static inference at the declared size.
func Convert(m *ir.Model) (*ir.Model, *graphopt.FCConversion, error) {
	if m == nil || m.Graph == nil {
		return nil, nil, errors.New("fcn: nil model")
	}
	c := *m
	c.Graph = cloneGraph(m.Graph)
	res, err := graphopt.ConvertFCToConv(c.Graph, runtime.OptimizerEnv(0))
	if err != nil {
		return nil, nil, fmt.Errorf("fcn: %w", err)
	}
	return &c, res, nil
}

// cloneGraph copies the structure a conversion edits (nodes, their input,
// output and attribute lists, value declarations); tensors are shared, as
// conversions never modify them.
func cloneGraph(g *ir.Graph) *ir.Graph {
	c := *g
	c.Initializers = maps.Clone(g.Initializers)
	c.ValueInfos = map[string]*ir.ValueInfo{}
	for k, v := range g.ValueInfos {
		vc := *v
		c.ValueInfos[k] = &vc
	}
	cloneVIs := func(vs []*ir.ValueInfo) []*ir.ValueInfo {
		out := make([]*ir.ValueInfo, len(vs))
		for i, v := range vs {
			vc := *v
			vc.Shape.Dims = append([]ir.Dim(nil), v.Shape.Dims...)
			out[i] = &vc
		}
		return out
	}
	c.Inputs = cloneVIs(g.Inputs)
	c.Outputs = cloneVIs(g.Outputs)
	c.Nodes = make([]*ir.Node, len(g.Nodes))
	for i, n := range g.Nodes {
		nc := *n
		nc.Inputs = append([]string(nil), n.Inputs...)
		nc.Outputs = append([]string(nil), n.Outputs...)
		nc.Attrs = maps.Clone(n.Attrs)
		c.Nodes[i] = &nc
	}
	return &c
}

// Options configures a Network. The zero value uses the default
// normalisation for the input's channel count (imageprep.DefaultPreset).
type Options struct {
	// Norm is the pixel normalisation; nil means the default preset's.
	Norm *imageprep.Norm
	// Layout forces the input layout instead of detecting it.
	Layout *imageprep.Layout
	// Output names the model output holding the class scores (default: the
	// first).
	Output string
	// Session configures the runtime session (nil: defaults).
	Session *runtime.Options
}

// Network is a classifier converted to run fully convolutionally. It is
// safe for concurrent use.
type Network struct {
	sess   *runtime.Session
	conv   *graphopt.FCConversion
	spec   imageprep.Spec // at the window size
	norm   imageprep.Norm
	input  string
	output int
}

// New converts classifier m (see Convert) and prepares it to run on images.
func New(m *ir.Model, opts *Options) (*Network, error) {
	if opts == nil {
		opts = &Options{}
	}
	if m == nil || m.Graph == nil {
		return nil, errors.New("fcn: nil model")
	}
	if len(m.Graph.Inputs) != 1 {
		return nil, fmt.Errorf("fcn: the model has %d inputs; an image classifier has one", len(m.Graph.Inputs))
	}
	spec, err := imageprep.InputSpec(m.Graph.Inputs[0], imageprep.SpecOptions{Layout: opts.Layout})
	if err != nil {
		return nil, fmt.Errorf("fcn: %w", err)
	}
	if spec.Batch != 1 {
		return nil, fmt.Errorf("fcn: the model's batch size is fixed at %d; fully convolutional runs take one image", spec.Batch)
	}
	cm, res, err := Convert(m)
	if err != nil {
		return nil, err
	}
	sess, err := runtime.NewSession(cm, opts.Session)
	if err != nil {
		return nil, fmt.Errorf("fcn: the converted model: %w", err)
	}
	// A backbone with sizes written into it (a channel shuffle reshaping to
	// a constant [1,2,58,28,28], say) only runs at the declared size.
	probe := spec
	probe.Height, probe.Width = res.Window[0]+res.Jump[0], res.Window[1]+res.Jump[1]
	if _, err := sess.InferShapes(map[string][]int{m.Graph.Inputs[0].Name: probe.Shape(1)}); err != nil {
		return nil, fmt.Errorf("fcn: the network only runs at its declared %dx%d size: %w", res.Window[1], res.Window[0], err)
	}
	n := &Network{sess: sess, conv: res, spec: spec, input: m.Graph.Inputs[0].Name}
	if opts.Output != "" {
		n.output = -1
		for i, vi := range sess.Outputs() {
			if vi.Name == opts.Output {
				n.output = i
			}
		}
		if n.output < 0 {
			return nil, fmt.Errorf("fcn: the model has no output %q", opts.Output)
		}
	}
	if opts.Norm != nil {
		n.norm = *opts.Norm
	} else if n.norm, err = imageprep.PresetNorm(imageprep.DefaultPreset(spec.Channels), spec.Channels); err != nil {
		return nil, fmt.Errorf("fcn: %w", err)
	}
	if err := n.norm.Validate(spec.Channels); err != nil {
		return nil, fmt.Errorf("fcn: %w", err)
	}
	return n, nil
}

// Window returns the crop size (height, width) one map position classifies:
// the model's declared input size.
func (n *Network) Window() (h, w int) { return n.conv.Window[0], n.conv.Window[1] }

// Jump returns the network's total stride (height, width): the distance in
// input pixels between the crops of neighbouring map positions.
func (n *Network) Jump() (h, w int) { return n.conv.Jump[0], n.conv.Jump[1] }

// Conversion describes the rewrite that made the network.
func (n *Network) Conversion() *graphopt.FCConversion { return n.conv }

// Session returns the runtime session of the converted model.
func (n *Network) Session() *runtime.Session { return n.sess }

// ScaledSize returns the size (height, width) a photo of imgH×imgW is
// scaled to so that its shorter side is size, keeping its aspect ratio (the
// longer side rounded down). size 0 means the default: the photo's own size
// when both sides cover the window, else the smallest scale that makes them
// cover it. A size whose result does not cover the window is an error.
func (n *Network) ScaledSize(imgH, imgW, size int) (int, int, error) {
	wh, ww := n.Window()
	if imgH <= 0 || imgW <= 0 {
		return 0, 0, fmt.Errorf("fcn: image size %dx%d", imgW, imgH)
	}
	short, long := imgH, imgW
	if imgW < imgH {
		short, long = imgW, imgH
	}
	if size == 0 {
		if imgH >= wh && imgW >= ww {
			return imgH, imgW, nil
		}
		for size = min(wh, ww); ; size++ {
			if h, w := scale(imgH, imgW, short, long, size); h >= wh && w >= ww {
				break
			}
		}
	}
	h, w := scale(imgH, imgW, short, long, size)
	if h < wh || w < ww {
		return 0, 0, fmt.Errorf("fcn: size %d scales the %dx%d photo to %dx%d, smaller than the model's %dx%d window", size, imgW, imgH, w, h, ww, wh)
	}
	if int64(h)*int64(w) > imageprep.DefaultMaxPixels {
		return 0, 0, fmt.Errorf("fcn: size %d scales the photo to %dx%d, above %d pixels", size, w, h, imageprep.DefaultMaxPixels)
	}
	return h, w, nil
}

func scale(imgH, imgW, short, long, size int) (int, int) {
	l := int(int64(long) * int64(size) / int64(short))
	if imgH <= imgW {
		return size, l
	}
	return l, size
}

// ScoreMap is the class-score map of one image.
type ScoreMap struct {
	// Classes, Height and Width are the map's dimensions.
	Classes, Height, Width int
	// Probs holds, for each class, position (y, x), the probability at
	// Probs[(class*Height+y)*Width+x]: the model's scores turned into a
	// distribution over the classes at each position (a softmax, unless
	// they already are one).
	Probs []float32
	// ImageHeight and ImageWidth are the size of the scaled image the
	// network ran on.
	ImageHeight, ImageWidth int
	// Window and Jump are the network's crop size and total stride (height,
	// width): position (y, x) scores the crop at (y·Jump[0], x·Jump[1]) of
	// the scaled image.
	Window, Jump [2]int
}

// At returns the probability of class at position (y, x).
func (m *ScoreMap) At(class, y, x int) float32 {
	return m.Probs[(class*m.Height+y)*m.Width+x]
}

// ClassScore is one class's best position.
type ClassScore struct {
	Index int
	// Probability is the class's largest probability over the map, at
	// position (Y, X).
	Probability float32
	Y, X        int
}

// Top returns the k classes with the highest probability at any position
// of the map (the maximum over positions of each class's probability),
// best first; ties go to the lower index.
func (m *ScoreMap) Top(k int) []ClassScore {
	all := make([]ClassScore, m.Classes)
	hw := m.Height * m.Width
	for c := range m.Classes {
		best := ClassScore{Index: c, Probability: float32(math.Inf(-1))}
		for i, p := range m.Probs[c*hw : (c+1)*hw] {
			if p > best.Probability {
				best.Probability, best.Y, best.X = p, i/m.Width, i%m.Width
			}
		}
		all[c] = best
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Probability > all[j].Probability })
	return all[:min(k, len(all))]
}

// ScoreMap scales img so that its shorter side is size (0: the default of
// ScaledSize), normalises it as classification does, runs the network once
// and returns the score map.
func (n *Network) ScoreMap(ctx context.Context, img image.Image, size int) (*ScoreMap, error) {
	if img == nil {
		return nil, errors.New("fcn: nil image")
	}
	b := img.Bounds()
	h, w, err := n.ScaledSize(b.Dy(), b.Dx(), size)
	if err != nil {
		return nil, err
	}
	scaled, err := imageprep.ResizeCrop(img, h, w, 1)
	if err != nil {
		return nil, fmt.Errorf("fcn: %w", err)
	}
	spec := n.spec
	spec.Height, spec.Width = h, w
	x, err := imageprep.ToTensor([]*image.RGBA{scaled}, spec, n.norm)
	if err != nil {
		return nil, fmt.Errorf("fcn: %w", err)
	}
	return n.Run(ctx, x)
}

// Run runs the network on a preprocessed input tensor ([1,C,H,W], or
// [1,H,W,C] for an NHWC model) and returns the score map.
func (n *Network) Run(ctx context.Context, x *ir.Tensor) (*ScoreMap, error) {
	outs, err := n.sess.Run(ctx, map[string]*ir.Tensor{n.input: x})
	if err != nil {
		return nil, fmt.Errorf("fcn: %w", err)
	}
	out, err := outs[n.output].ToFloat32()
	if err != nil {
		return nil, fmt.Errorf("fcn: %w", err)
	}
	if len(out.Shape) != 4 || out.Shape[0] != 1 {
		return nil, fmt.Errorf("fcn: the converted output has shape %v, not a [1,classes,h,w] map", out.Shape)
	}
	m := &ScoreMap{Classes: out.Shape[1], Height: out.Shape[2], Width: out.Shape[3], Window: n.conv.Window, Jump: n.conv.Jump}
	if n.spec.Layout == imageprep.NHWC {
		m.ImageHeight, m.ImageWidth = x.Shape[1], x.Shape[2]
	} else {
		m.ImageHeight, m.ImageWidth = x.Shape[2], x.Shape[3]
	}
	m.Probs = probabilities(out.F32(), m.Classes, m.Height*m.Width)
	return m, nil
}

// probabilities turns the scores at each of hw positions into a
// distribution over the classes (imageprep.Probabilities per position).
func probabilities(scores []float32, classes, hw int) []float32 {
	out := make([]float32, len(scores))
	v := make([]float32, classes)
	for i := range hw {
		for c := range classes {
			v[c] = scores[c*hw+i]
		}
		p := imageprep.Probabilities(v)
		for c := range classes {
			out[c*hw+i] = p[c]
		}
	}
	return out
}
