package imageprep

import (
	"errors"
	"image"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDecodeReadsEveryFormat(t *testing.T) {
	src := gradient(12, 9)
	cases := []struct {
		name, format string
		data         []byte
		exact        bool
	}{
		{"PNG", "png", encodePNG(t, src), true},
		{"BMP", "bmp", encodeBMP(t, src), true},
		{"JPEG", "jpeg", encodeJPEG(t, src), false},
		{"GIF", "gif", encodeGIF(t, src), false},
		{"WebP", "webp", solidWebP(12, 9, color.NRGBA{10, 20, 30, 255}), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img, format, err := Decode(c.data, 0)
			if err != nil {
				t.Fatal(err)
			}
			if format != c.format {
				t.Errorf("format %q, want %q", format, c.format)
			}
			if img.Bounds().Dx() != 12 || img.Bounds().Dy() != 9 {
				t.Fatalf("bounds %v, want 12x9", img.Bounds())
			}
			if c.exact {
				for y := range 9 {
					for x := range 12 {
						if got := color.RGBAModel.Convert(img.At(x, y)); got != src.At(x, y) {
							t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got, src.At(x, y))
						}
					}
				}
			}
		})
	}
	t.Run("the WebP pixels have the encoded colour", func(t *testing.T) {
		img, _, err := Decode(solidWebP(3, 2, color.NRGBA{10, 20, 30, 255}), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := color.NRGBAModel.Convert(img.At(2, 1)); got != (color.NRGBA{10, 20, 30, 255}) {
			t.Fatalf("pixel = %v", got)
		}
		img, _, err = Decode(solidWebP(2, 2, color.NRGBA{200, 100, 0, 128}), 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := color.NRGBAModel.Convert(img.At(1, 1)); got != (color.NRGBA{200, 100, 0, 128}) {
			t.Fatalf("translucent pixel = %v", got)
		}
	})
}

func TestDecodeErrorsSayWhatIsWrong(t *testing.T) {
	png := encodePNG(t, gradient(20, 20))
	cases := []struct {
		name string
		data []byte
		max  int
		want string
		is   error
	}{
		{"text is an unknown format", []byte("hello, world"), 0, "unknown format (want JPEG, PNG, GIF, BMP or WebP)", ErrUnknownFormat},
		{"empty data is an unknown format", nil, 0, "unknown format", ErrUnknownFormat},
		{"a truncated PNG", png[:len(png)/2], 0, "PNG", nil},
		{"a PNG header claiming 15000x15000", pngWithSize(t, 15000, 15000), 0, "15000x15000 (225.0 megapixels), above the limit of 100.0 megapixels", ErrTooLarge},
		{"an image above a custom limit", png, 399, "above the limit", ErrTooLarge},
		{"a corrupt JPEG", append(encodeJPEG(t, gradient(20, 20))[:200], make([]byte, 50)...), 0, "JPEG", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := Decode(c.data, c.max)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %q, want it to mention %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Errorf("err = %v, want it to wrap %v", err, c.is)
			}
		})
	}
}

func TestDecodeFileReportsFileProblems(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "ok.png")
	empty := filepath.Join(dir, "empty.jpg")
	if err := os.WriteFile(good, encodePNG(t, gradient(5, 4)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if img, format, err := DecodeFile(good, 0); err != nil || format != "png" || img.Bounds() != image.Rect(0, 0, 5, 4) {
		t.Fatalf("DecodeFile(ok.png) = %v, %q, %v", img, format, err)
	}
	_, _, err := DecodeFile(filepath.Join(dir, "missing.jpg"), 0)
	if !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), dir) {
		t.Errorf("missing file: err = %v, want not-exist without the path", err)
	}
	if _, _, err := DecodeFile(dir, 0); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("directory: err = %v", err)
	}
	if _, _, err := DecodeFile(empty, 0); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: err = %v", err)
	}
}
