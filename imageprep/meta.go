package imageprep

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"unicode/utf8"
)

// Metadata keys (ONNX metadata_props) that describe how a classifier wants
// its images prepared and what its classes are called. runinfer finetune
// writes them; classification reads them, so a model carrying them is
// classified correctly with no flags.
const (
	// MetaLabels holds a JSON array of class names in class-index order,
	// such as ["cat","dog"].
	MetaLabels = "runinfer.labels"
	// MetaPreprocess holds a JSON object:
	//
	//	{"preset": "imagenet"|"caffe"|"unit"|"raw",  (optional: DefaultPreset by channel count)
	//	 "mean": [...], "std": [...],                  (optional; the model's channel order)
	//	 "bgr": bool,                                  (optional)
	//	 "crop": fraction,                             (optional; default DefaultCropFraction)
	//	 "invert": bool}                               (optional; 255-v before normalising)
	MetaPreprocess = "runinfer.preprocess"
)

// MaxMetaLabels bounds the number of class names FromMetadata accepts.
const MaxMetaLabels = 1 << 20

// ModelPrep is what a model's metadata says about its classes and its
// preprocessing. The zero value means "nothing known": default preset, crop
// DefaultCropFraction, no names.
type ModelPrep struct {
	// Labels are the class names in index order; nil when the model does
	// not name its classes.
	Labels []string
	// Preset is the normalisation preset; empty means DefaultPreset of
	// the input's channel count.
	Preset Preset
	// Mean and Std, when set, replace the preset's values (in the model's
	// channel order, as Norm.Mean and Norm.Std).
	Mean, Std []float64
	// BGR feeds the colour channels in blue, green, red order (see
	// Norm.WithBGR).
	BGR bool
	// Crop is the centre-crop fraction for ResizeCrop; 0 means
	// DefaultCropFraction.
	Crop float64
	// Invert replaces every 8-bit value v by 255-v before normalising
	// (dark-on-light digits for a model trained on light-on-dark ones).
	Invert bool
}

// prepJSON is the JSON form of the runinfer.preprocess value.
type prepJSON struct {
	Preset string    `json:"preset,omitempty"`
	Mean   []float64 `json:"mean,omitempty"`
	Std    []float64 `json:"std,omitempty"`
	BGR    bool      `json:"bgr,omitempty"`
	Crop   float64   `json:"crop,omitempty"`
	Invert bool      `json:"invert,omitempty"`
}

// FromMetadata reads the runinfer.labels and runinfer.preprocess entries of
// a model's metadata. ok reports whether either is present. A present but
// malformed entry (invalid JSON, an unknown preset, a crop outside (0, 1],
// non-finite or zero values, more than MaxMetaLabels names) is an error that
// names the key.
func FromMetadata(md map[string]string) (p ModelPrep, ok bool, err error) {
	if s, has := md[MetaLabels]; has {
		ok = true
		var l []string
		if err := strictJSON(s, &l); err != nil {
			return ModelPrep{}, true, fmt.Errorf("metadata %s: want a JSON array of class names: %w", MetaLabels, err)
		}
		if l == nil {
			return ModelPrep{}, true, fmt.Errorf("metadata %s: want a JSON array of class names, got null", MetaLabels)
		}
		if len(l) > MaxMetaLabels {
			return ModelPrep{}, true, fmt.Errorf("metadata %s: %d class names, above the limit of %d", MetaLabels, len(l), MaxMetaLabels)
		}
		p.Labels = l
	}
	if s, has := md[MetaPreprocess]; has {
		ok = true
		var j prepJSON
		if err := strictJSON(s, &j); err != nil {
			return ModelPrep{}, true, fmt.Errorf("metadata %s: want a JSON object such as {\"preset\":\"imagenet\"}: %w", MetaPreprocess, err)
		}
		p.Preset, p.Mean, p.Std, p.BGR, p.Crop, p.Invert = Preset(j.Preset), j.Mean, j.Std, j.BGR, j.Crop, j.Invert
		if err := p.validate(); err != nil {
			return ModelPrep{}, true, fmt.Errorf("metadata %s: %w", MetaPreprocess, err)
		}
	}
	return p, ok, nil
}

// strictJSON decodes exactly one JSON value, refusing unknown object keys
// and trailing data.
func strictJSON(s string, v any) error {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// validate checks the preprocessing fields (not the labels).
func (p ModelPrep) validate() error {
	if p.Preset != "" {
		if _, err := PresetNorm(p.Preset, 3); err != nil {
			return err
		}
	}
	if p.Crop != 0 && !(p.Crop > 0 && p.Crop <= 1) {
		return fmt.Errorf("crop %g must be a fraction in (0, 1]", p.Crop)
	}
	for _, v := range []struct {
		name string
		x    []float64
	}{{"mean", p.Mean}, {"std", p.Std}} {
		if len(v.x) != 0 && len(v.x) != 1 && len(v.x) != 3 {
			return fmt.Errorf("%s has %d values (want 1 or 3)", v.name, len(v.x))
		}
		if err := checkNormValues(v.name, v.x); err != nil {
			return err
		}
	}
	return nil
}

// HasPreprocess reports whether p says anything about preprocessing (and so
// ToMetadata writes a runinfer.preprocess entry).
func (p ModelPrep) HasPreprocess() bool {
	return p.Preset != "" || p.Mean != nil || p.Std != nil || p.BGR || p.Crop != 0 || p.Invert
}

// ToMetadata returns the metadata entries describing p: runinfer.labels when
// p has labels, runinfer.preprocess when it has any preprocessing field. The
// caller merges them into the model's metadata. Labels must be valid UTF-8.
func (p ModelPrep) ToMetadata() (map[string]string, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("imageprep: %w", err)
	}
	md := map[string]string{}
	if p.Labels != nil {
		if len(p.Labels) > MaxMetaLabels {
			return nil, fmt.Errorf("imageprep: %d class names, above the limit of %d", len(p.Labels), MaxMetaLabels)
		}
		for i, l := range p.Labels {
			if !utf8.ValidString(l) {
				return nil, fmt.Errorf("imageprep: class name %d (%q) is not valid UTF-8", i, l)
			}
		}
		b, err := json.Marshal(p.Labels)
		if err != nil {
			return nil, fmt.Errorf("imageprep: %w", err)
		}
		md[MetaLabels] = string(b)
	}
	if p.HasPreprocess() {
		b, err := json.Marshal(prepJSON{Preset: string(p.Preset), Mean: p.Mean, Std: p.Std, BGR: p.BGR, Crop: p.Crop, Invert: p.Invert})
		if err != nil {
			return nil, fmt.Errorf("imageprep: %w", err)
		}
		md[MetaPreprocess] = string(b)
	}
	return md, nil
}

// Norm returns the normalisation p describes for an input with the given
// channel count: the preset (DefaultPreset when empty), swapped to BGR when
// asked, with Mean and Std replacing the preset's when set.
func (p ModelPrep) Norm(channels int) (Norm, error) {
	preset := p.Preset
	if preset == "" {
		preset = DefaultPreset(channels)
	}
	n, err := PresetNorm(preset, channels)
	if err != nil {
		return Norm{}, err
	}
	if p.BGR {
		if channels != 3 {
			return Norm{}, fmt.Errorf("BGR order needs a 3-channel input, this one has %d", channels)
		}
		n = n.WithBGR()
	}
	if p.Mean != nil {
		n.Mean = append([]float64(nil), p.Mean...)
	}
	if p.Std != nil {
		n.Std = append([]float64(nil), p.Std...)
	}
	if err := n.Validate(channels); err != nil {
		return Norm{}, err
	}
	return n, nil
}

// CropFraction returns p.Crop, or DefaultCropFraction when it is unset.
func (p ModelPrep) CropFraction() float64 {
	if p.Crop == 0 {
		return DefaultCropFraction
	}
	return p.Crop
}

// Invert replaces every colour value v of m by 255-v in place (alpha is
// kept), as ModelPrep.Invert asks before normalisation. The luma of an
// inverted pixel is 255 minus the original luma, up to rounding.
func Invert(m *image.RGBA) {
	if m == nil {
		return
	}
	r := m.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := m.Pix[m.PixOffset(r.Min.X, y):]
		for x := 0; x < r.Dx(); x++ {
			p := row[4*x : 4*x+3]
			p[0], p[1], p[2] = 255-p[0], 255-p[1], 255-p[2]
		}
	}
}
