package imageprep

import (
	"bytes"
	"flag"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"github.com/runinfer/runinfer/ir"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzDecodeImage from the synthetic seeds")

// fuzzMaxPixels keeps each fuzz input cheap; the limit logic is the same at
// any size.
const fuzzMaxPixels = 1 << 16

// FuzzDecodeImage feeds arbitrary bytes through decoding, resizing and tensor
// packing. It calls decode, not Decode, so that a panic inside a decoder is
// found here instead of being turned into an error by Decode's recover.
func FuzzDecodeImage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s.data)
	}
	spec := Spec{Batch: 1, Channels: 3, Height: 7, Width: 5, DType: ir.Float16}
	norm, err := PresetNorm(PresetImageNet, 3)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, format, err := decode(data, fuzzMaxPixels)
		if err != nil {
			return
		}
		b := img.Bounds()
		if b.Empty() || int64(b.Dx())*int64(b.Dy()) > fuzzMaxPixels {
			t.Fatalf("%s decoded to bounds %v despite the limit", format, b)
		}
		m, err := ResizeCrop(img, spec.Height, spec.Width, 0)
		if err != nil {
			t.Fatalf("ResizeCrop of a decoded %s %v: %v", format, b, err)
		}
		if _, err := ToTensor([]*image.RGBA{m}, spec, norm); err != nil {
			t.Fatalf("ToTensor: %v", err)
		}
	})
}

type seed struct {
	name string
	data []byte
}

// fuzzSeeds are small valid and nearly valid files of every format.
func fuzzSeeds(t testing.TB) []seed {
	alpha := image.NewNRGBA(image.Rect(0, 0, 3, 3))
	for i := range alpha.Pix {
		alpha.Pix[i] = uint8(40 * i)
	}
	gray := image.NewGray(image.Rect(0, 0, 4, 2))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(30 * i)
	}
	png := encodePNG(t, gradient(4, 3))
	return []seed{
		{"png_rgb", png},
		{"png_gray", encodePNG(t, gray)},
		{"png_alpha", encodePNG(t, alpha)},
		{"png_truncated", png[:len(png)-7]},
		{"png_huge_header", pngWithSize(t, 1<<20, 1<<20)},
		{"jpeg", encodeJPEG(t, gradient(8, 8))},
		{"jpeg_gray", encodeJPEG(t, gray)},
		{"gif", encodeGIF(t, gradient(5, 5))},
		{"bmp", encodeBMP(t, gradient(4, 4))},
		{"webp_lossless", solidWebP(3, 2, color.NRGBA{10, 20, 30, 255})},
		{"webp_alpha", solidWebP(2, 2, color.NRGBA{200, 100, 0, 128})},
	}
}

func corpusFile(data []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
}

// TestFuzzSeedCorpusIsUpToDate checks the checked-in seed corpus against the
// generators above; run with -update-corpus to rewrite it.
func TestFuzzSeedCorpusIsUpToDate(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeImage")
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range fuzzSeeds(t) {
		path := filepath.Join(dir, "seed_"+s.name)
		want := corpusFile(s.data)
		if *updateCorpus {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run go test ./imageprep -run TestFuzzSeedCorpusIsUpToDate -update-corpus)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its generator (run with -update-corpus)", path)
		}
	}
}
