package imageprep

import (
	"errors"
	"fmt"
	"image"
	"math"
	"strings"

	"github.com/runinfer/runinfer/ir"
)

// Layout is the order of a 4-D image tensor's axes.
type Layout int

// Layouts.
const (
	// NCHW is batch, channel, height, width: ONNX's (and PyTorch's) default.
	NCHW Layout = iota
	// NHWC is batch, height, width, channel: TensorFlow's default.
	NHWC
)

func (l Layout) String() string {
	if l == NHWC {
		return "NHWC"
	}
	return "NCHW"
}

// ParseLayout parses "nchw" or "nhwc" (any case).
func ParseLayout(s string) (Layout, error) {
	switch strings.ToLower(s) {
	case "nchw":
		return NCHW, nil
	case "nhwc":
		return NHWC, nil
	}
	return 0, fmt.Errorf("unknown layout %q (want nchw or nhwc)", s)
}

// Spec is what a model's image input expects.
type Spec struct {
	Batch    int // images per run: the declared batch size, or 1 when it is symbolic
	Channels int // 1 (grayscale) or 3 (colour)
	Height   int
	Width    int
	Layout   Layout
	DType    ir.DType // Float32, Float16 or Float64
}

// Shape returns the tensor shape for n images.
func (s Spec) Shape(n int) []int {
	if s.Layout == NHWC {
		return []int{n, s.Height, s.Width, s.Channels}
	}
	return []int{n, s.Channels, s.Height, s.Width}
}

// SpecOptions overrides what InputSpec reads from the model.
type SpecOptions struct {
	// Height and Width, when non-zero, give the spatial size. It must agree
	// with the model where the model's dimension is fixed.
	Height, Width int
	// Layout forces the axis order instead of detecting it.
	Layout *Layout
}

// InputSpec derives the image Spec of a model input declared as vi.
//
// The input must be rank 4, of a float type. Its layout is NHWC when the last
// dimension is 1 or 3 and dimension 1 is not (is another size, or symbolic);
// otherwise NCHW. A symbolic channel dimension is taken to be 3. The spatial
// size comes from the declaration, or from opts when the model leaves it
// symbolic; a size in opts that contradicts a fixed one is an error, as is a
// size known from neither. A symbolic batch dimension gives Batch 1.
func InputSpec(vi *ir.ValueInfo, opts SpecOptions) (Spec, error) {
	var s Spec
	switch vi.DType {
	case ir.Float32, ir.Float16, ir.Float64:
		s.DType = vi.DType
	default:
		return s, fmt.Errorf("input %q has element type %v; an image input must be float32, float16 or float64", vi.Name, vi.DType)
	}
	if !vi.Shape.Ranked {
		return s, fmt.Errorf("input %q does not declare its shape; an image input must be [N,C,H,W] or [N,H,W,C]", vi.Name)
	}
	d := vi.Shape.Dims
	if len(d) != 4 {
		return s, fmt.Errorf("input %q has shape %v (rank %d); an image input must be rank 4, [N,C,H,W] or [N,H,W,C]", vi.Name, vi.Shape, len(d))
	}
	is13 := func(x ir.Dim) bool { return x.Known() && (x.Size == 1 || x.Size == 3) }
	switch {
	case opts.Layout != nil:
		s.Layout = *opts.Layout
	case is13(d[3]) && !is13(d[1]):
		s.Layout = NHWC
	default:
		s.Layout = NCHW
	}
	cd, hd, wd := d[1], d[2], d[3]
	if s.Layout == NHWC {
		hd, wd, cd = d[1], d[2], d[3]
	}
	switch {
	case !cd.Known():
		s.Channels = 3
	case cd.Size == 1 || cd.Size == 3:
		s.Channels = int(cd.Size)
	default:
		return s, fmt.Errorf("input %q has shape %v: %d channels in %v layout; images have 1 (grayscale) or 3 (colour)", vi.Name, vi.Shape, cd.Size, s.Layout)
	}
	s.Batch = 1
	if d[0].Known() {
		if d[0].Size < 1 {
			return s, fmt.Errorf("input %q has shape %v: batch size %d", vi.Name, vi.Shape, d[0].Size)
		}
		s.Batch = int(d[0].Size)
	}
	var err error
	if s.Height, err = spatial(vi, "height", hd, opts.Height); err != nil {
		return s, err
	}
	if s.Width, err = spatial(vi, "width", wd, opts.Width); err != nil {
		return s, err
	}
	return s, nil
}

// maxSide bounds a spatial size from the model or the caller.
const maxSide = 1 << 15

// Errors InputSpec wraps when the caller's size options are what needs
// fixing (a command-line tool reports them as usage errors).
var (
	// ErrNeedSize: the model's spatial size is symbolic and none was given.
	ErrNeedSize = errors.New("the image size is needed")
	// ErrSizeMismatch: the given size contradicts the model's fixed size.
	ErrSizeMismatch = errors.New("the given size does not match the model")
	// ErrBadSize: the given size is out of range.
	ErrBadSize = errors.New("the given size is out of range")
)

// sizeError has its own message and unwraps to one of the size errors.
type sizeError struct {
	msg  string
	kind error
}

func (e *sizeError) Error() string { return e.msg }
func (e *sizeError) Unwrap() error { return e.kind }

func sizeErr(msg string, kind error) error { return &sizeError{msg, kind} }

func spatial(vi *ir.ValueInfo, what string, d ir.Dim, given int) (int, error) {
	switch {
	case d.Known() && given != 0 && int64(given) != d.Size:
		return 0, sizeErr(fmt.Sprintf("size %d does not match the %s %d of input %q %v (only models with symbolic sizes take a size)", given, what, d.Size, vi.Name, vi.Shape), ErrSizeMismatch)
	case d.Known():
		if d.Size < 1 || d.Size > maxSide {
			return 0, fmt.Errorf("input %q %v: %s %d is not a usable image size", vi.Name, vi.Shape, what, d.Size)
		}
		return int(d.Size), nil
	case given != 0:
		if given < 1 || given > maxSide {
			return 0, sizeErr(fmt.Sprintf("%s %d is out of range (1..%d)", what, given, maxSide), ErrBadSize)
		}
		return given, nil
	}
	return 0, sizeErr(fmt.Sprintf("input %q %v has a symbolic %s (%s); give the image size with --size H[xW]", vi.Name, vi.Shape, what, d), ErrNeedSize)
}

// Norm maps 8-bit pixel values v to model inputs (v·Scale − Mean[c]) / Std[c]
// for model channel c. Mean and Std have one entry per model channel, in the
// model's channel order (B, G, R when BGR is set), or a single entry for all.
type Norm struct {
	Scale float64
	Mean  []float64
	Std   []float64
	// BGR puts the colour channels in blue, green, red order.
	BGR bool
}

// Preset names a common normalisation.
type Preset string

// Presets.
const (
	// PresetImageNet is RGB scaled to 0..1, minus the ImageNet mean
	// (0.485, 0.456, 0.406), divided by the ImageNet std (0.229, 0.224,
	// 0.225): torchvision and most PyTorch-trained models. The default for
	// 3-channel inputs. On a 1-channel input it uses the averages (0.449,
	// 0.226).
	PresetImageNet Preset = "imagenet"
	// PresetCaffe is BGR 0..255 without mean subtraction (Caffe and
	// Caffe2 exports such as the model zoo's SqueezeNet 1.0).
	PresetCaffe Preset = "caffe"
	// PresetUnit is RGB (or gray) scaled to 0..1.
	PresetUnit Preset = "unit"
	// PresetRaw is RGB (or gray) 0..255. The default for 1-channel inputs
	// (the MNIST convention).
	PresetRaw Preset = "raw"
)

// Presets lists the preset names.
func Presets() []Preset { return []Preset{PresetImageNet, PresetCaffe, PresetUnit, PresetRaw} }

// DefaultPreset returns the preset used when none is named: imagenet for
// colour inputs, raw for grayscale ones.
func DefaultPreset(channels int) Preset {
	if channels == 1 {
		return PresetRaw
	}
	return PresetImageNet
}

// PresetNorm returns the normalisation of preset p for an input with the
// given channel count (1 or 3).
func PresetNorm(p Preset, channels int) (Norm, error) {
	if channels != 1 && channels != 3 {
		return Norm{}, fmt.Errorf("%d channels: images have 1 or 3", channels)
	}
	switch p {
	case PresetImageNet:
		if channels == 1 {
			return Norm{Scale: 1.0 / 255, Mean: []float64{0.449}, Std: []float64{0.226}}, nil
		}
		return Norm{Scale: 1.0 / 255, Mean: []float64{0.485, 0.456, 0.406}, Std: []float64{0.229, 0.224, 0.225}}, nil
	case PresetCaffe:
		return Norm{Scale: 1, BGR: channels == 3}, nil
	case PresetUnit:
		return Norm{Scale: 1.0 / 255}, nil
	case PresetRaw:
		return Norm{Scale: 1}, nil
	}
	return Norm{}, fmt.Errorf("unknown preset %q (want imagenet, caffe, unit or raw)", string(p))
}

// WithBGR returns n with blue-green-red channel order. Per-channel mean and
// std follow their colours (they are reversed when n was RGB).
func (n Norm) WithBGR() Norm {
	if n.BGR {
		return n
	}
	n.BGR = true
	n.Mean = reversed(n.Mean)
	n.Std = reversed(n.Std)
	return n
}

func reversed(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[len(v)-1-i] = x
	}
	return out
}

// Validate checks n for an input with the given channel count: a finite
// non-zero scale, 1 or channels values of finite mean and non-zero finite
// std, and BGR only for 3 channels.
func (n Norm) Validate(channels int) error {
	if math.IsNaN(n.Scale) || math.IsInf(n.Scale, 0) || n.Scale == 0 {
		return fmt.Errorf("scale %g must be finite and non-zero", n.Scale)
	}
	if n.BGR && channels != 3 {
		return fmt.Errorf("BGR order needs a 3-channel input, this one has %d", channels)
	}
	for _, v := range []struct {
		name string
		x    []float64
	}{{"mean", n.Mean}, {"std", n.Std}} {
		if len(v.x) > 1 && len(v.x) != channels {
			return fmt.Errorf("%s has %d values, the input has %d channels (give 1 or %d)", v.name, len(v.x), channels, channels)
		}
		if err := checkNormValues(v.name, v.x); err != nil {
			return err
		}
	}
	return nil
}

// checkNormValues checks that mean or std values (name says which) are
// finite, and std values non-zero.
func checkNormValues(name string, x []float64) error {
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("%s value %g is not finite", name, v)
		}
		if name == "std" && v == 0 {
			return errors.New("std values must be non-zero")
		}
	}
	return nil
}

func pick(v []float64, c int, def float64) float64 {
	switch len(v) {
	case 0:
		return def
	case 1:
		return v[0]
	}
	return v[c]
}

// ToTensor packs images, each exactly spec.Width×spec.Height (as ResizeCrop
// returns them), into one tensor of spec's layout and element type, with
// len(imgs) as the batch size. Colour channels come from the images' RGB
// values; 1-channel inputs get the ITU-R 601 luma (0.299 R + 0.587 G +
// 0.114 B, the weights of PIL's convert("L"), exact for gray images).
func ToTensor(imgs []*image.RGBA, spec Spec, norm Norm) (*ir.Tensor, error) {
	if len(imgs) == 0 {
		return nil, errors.New("imageprep: no images")
	}
	if spec.Channels != 1 && spec.Channels != 3 {
		return nil, fmt.Errorf("imageprep: %d channels: images have 1 or 3", spec.Channels)
	}
	if err := norm.Validate(spec.Channels); err != nil {
		return nil, fmt.Errorf("imageprep: %w", err)
	}
	h, w, c := spec.Height, spec.Width, spec.Channels
	for i, m := range imgs {
		if m == nil || m.Bounds().Dx() != w || m.Bounds().Dy() != h {
			return nil, fmt.Errorf("imageprep: image %d is not %dx%d (resize it with ResizeCrop first)", i, w, h)
		}
	}
	shape := spec.Shape(len(imgs))
	n, err := ir.NumElements(shape)
	if err != nil {
		return nil, fmt.Errorf("imageprep: %w", err)
	}
	vals := make([]float64, n)
	// Per model channel: which source channel (0=R,1=G,2=B; -1 luma) and the
	// affine map v*a + b equal to (v*Scale - mean)/std.
	src := make([]int, c)
	a := make([]float64, c)
	off := make([]float64, c)
	for ch := range c {
		switch {
		case c == 1:
			src[ch] = -1
		case norm.BGR:
			src[ch] = 2 - ch
		default:
			src[ch] = ch
		}
		m, s := pick(norm.Mean, ch, 0), pick(norm.Std, ch, 1)
		a[ch], off[ch] = norm.Scale/s, -m/s
	}
	for b, m := range imgs {
		r := m.Bounds()
		for y := range h {
			row := m.Pix[m.PixOffset(r.Min.X, r.Min.Y+y):]
			for x := range w {
				p := row[4*x : 4*x+3]
				for ch := range c {
					var v float64
					if src[ch] < 0 {
						v = float64(Luma(p[0], p[1], p[2]))
					} else {
						v = float64(p[src[ch]])
					}
					var idx int
					if spec.Layout == NHWC {
						idx = ((b*h+y)*w+x)*c + ch
					} else {
						idx = ((b*c+ch)*h+y)*w + x
					}
					vals[idx] = v*a[ch] + off[ch]
				}
			}
		}
	}
	switch spec.DType {
	case ir.Float32, ir.Undefined:
		f := make([]float32, n)
		for i, v := range vals {
			f[i] = float32(v)
		}
		return ir.FromFloat32(shape, f)
	case ir.Float16:
		// Rounding through float32 first can round twice; the error is at
		// most one float16 ulp in rare ties, far below image noise.
		f := make([]uint16, n)
		for i, v := range vals {
			f[i] = ir.Float32ToFloat16(float32(v))
		}
		return ir.Wrap(ir.Float16, shape, f)
	case ir.Float64:
		return ir.FromSlice(shape, vals)
	}
	return nil, fmt.Errorf("imageprep: cannot make %v image tensors (want float32, float16 or float64)", spec.DType)
}

// Luma is the 8-bit ITU-R 601 luma of an RGB colour, rounded, computed as
// PIL's convert("L") does; r = g = b gives that value back exactly.
func Luma(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 1<<15) >> 16)
}

// Preprocess is ResizeCrop followed by ToTensor for a single image
// (batch 1), with DefaultCropFraction.
func Preprocess(img image.Image, spec Spec, norm Norm) (*ir.Tensor, error) {
	m, err := ResizeCrop(img, spec.Height, spec.Width, 0)
	if err != nil {
		return nil, err
	}
	return ToTensor([]*image.RGBA{m}, spec, norm)
}
