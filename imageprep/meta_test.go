package imageprep

import (
	"image"
	"reflect"
	"strings"
	"testing"
)

func TestModelPrepMetadataRoundTrip(t *testing.T) {
	for _, p := range []ModelPrep{
		{Labels: []string{"cat", "dog", "ünïcode \"quoted\""}, Preset: PresetImageNet, Crop: 1},
		{Preset: PresetRaw, Invert: true},
		{Labels: []string{}},
		{Preset: PresetUnit, Mean: []float64{0.5}, Std: []float64{0.25}, BGR: true, Crop: 0.5},
	} {
		md, err := p.ToMetadata()
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		got, ok, err := FromMetadata(md)
		if err != nil || !ok {
			t.Fatalf("%+v -> %v -> ok %v, %v", p, md, ok, err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip of %+v gave %+v (metadata %v)", p, got, md)
		}
	}
	if _, ok, err := FromMetadata(map[string]string{"other": "x"}); ok || err != nil {
		t.Errorf("metadata without our keys: ok %v, err %v", ok, err)
	}
	md, err := ModelPrep{}.ToMetadata()
	if err != nil || len(md) != 0 {
		t.Errorf("empty ModelPrep wrote %v, %v", md, err)
	}
}

func TestModelPrepReadsTheDocumentedKeys(t *testing.T) {
	md := map[string]string{
		"runinfer.labels":     `["zero","one"]`,
		"runinfer.preprocess": `{"preset":"caffe","mean":[1,2,3],"crop":0.75,"invert":true}`,
	}
	p, ok, err := FromMetadata(md)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := ModelPrep{Labels: []string{"zero", "one"}, Preset: PresetCaffe, Mean: []float64{1, 2, 3}, Crop: 0.75, Invert: true}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("got %+v, want %+v", p, want)
	}
	n, err := p.Norm(3)
	if err != nil {
		t.Fatal(err)
	}
	// caffe: BGR order, scale 1; mean replaced.
	if !n.BGR || n.Scale != 1 || !reflect.DeepEqual(n.Mean, []float64{1, 2, 3}) || n.Std != nil {
		t.Errorf("norm %+v", n)
	}
	if c := p.CropFraction(); c != 0.75 {
		t.Errorf("crop %g", c)
	}
	if c := (ModelPrep{}).CropFraction(); c != DefaultCropFraction {
		t.Errorf("default crop %g", c)
	}
	// No preset: the channel default.
	n1, err := ModelPrep{}.Norm(1)
	if err != nil || n1.Scale != 1 || n1.Mean != nil {
		t.Errorf("default 1-channel norm %+v, %v (want raw)", n1, err)
	}
	n3, err := ModelPrep{BGR: true}.Norm(3)
	if err != nil || !n3.BGR || n3.Mean[0] != 0.406 {
		t.Errorf("default 3-channel BGR norm %+v, %v (want imagenet reversed)", n3, err)
	}
	if _, err := (ModelPrep{BGR: true}).Norm(1); err == nil {
		t.Error("BGR on a 1-channel input: no error")
	}
}

func TestModelPrepRejectsMalformedMetadata(t *testing.T) {
	for _, c := range []struct {
		key, val, want string
	}{
		{MetaLabels, `{"a":1}`, "runinfer.labels"},
		{MetaLabels, `null`, "null"},
		{MetaLabels, `["a"] ["b"]`, "trailing"},
		{MetaLabels, `["a", 3]`, "runinfer.labels"},
		{MetaPreprocess, `["imagenet"]`, "runinfer.preprocess"},
		{MetaPreprocess, `{"preset":"sepia"}`, "unknown preset"},
		{MetaPreprocess, `{"crop":1.5}`, "crop"},
		{MetaPreprocess, `{"crop":-0.5}`, "crop"},
		{MetaPreprocess, `{"std":[1,0,1]}`, "non-zero"},
		{MetaPreprocess, `{"mean":[1,2]}`, "2 values"},
		{MetaPreprocess, `{"presett":"raw"}`, "unknown field"},
		{MetaPreprocess, `{"crop":1e999}`, "runinfer.preprocess"},
		{MetaPreprocess, ``, "runinfer.preprocess"},
	} {
		_, ok, err := FromMetadata(map[string]string{c.key: c.val})
		if !ok || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%s: ok %v, err %v (want an error mentioning %q)", c.key, c.val, ok, err, c.want)
		}
	}
	if _, err := (ModelPrep{Crop: 2}).ToMetadata(); err == nil {
		t.Error("ToMetadata with crop 2: no error")
	}
	if _, err := (ModelPrep{Labels: []string{"\xff"}}).ToMetadata(); err == nil {
		t.Error("ToMetadata with an invalid UTF-8 label: no error")
	}
}

func TestInvertFlipsColoursAndKeepsAlpha(t *testing.T) {
	m := image.NewRGBA(image.Rect(2, 3, 4, 4)) // offset bounds
	copy(m.Pix, []byte{0, 10, 255, 255, 100, 200, 50, 255})
	Invert(m)
	want := []byte{255, 245, 0, 255, 155, 55, 205, 255}
	if !reflect.DeepEqual(m.Pix, want) {
		t.Errorf("inverted pixels %v, want %v", m.Pix, want)
	}
	Invert(nil) // no panic
}
