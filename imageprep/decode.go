package imageprep

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"

	// Decoders register themselves with package image.
	_ "image/gif"
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"
)

// DefaultMaxPixels is the largest image (width × height) Decode accepts when
// given no limit: 100 megapixels, about 400 MB once decoded to RGBA.
const DefaultMaxPixels = 100_000_000

// maxFileBytes bounds what DecodeFile reads. Compressed images are far
// smaller than their pixel limit allows, so this only stops a huge non-image
// file from being read whole.
const maxFileBytes = 1 << 30

var (
	// ErrUnknownFormat is returned for data that is none of the supported
	// image formats.
	ErrUnknownFormat = errors.New("image: unknown format (want JPEG, PNG, GIF, BMP or WebP)")
	// ErrTooLarge is wrapped by errors about images above the pixel limit.
	ErrTooLarge = errors.New("image too large")
)

// Decode decodes a JPEG, PNG, GIF (its first frame), BMP or WebP image and
// returns it with its format name ("jpeg", "png", "gif", "bmp", "webp").
// The dimensions in the header are checked against maxPixels (0 means
// DefaultMaxPixels) before any pixel memory is allocated. Malformed data gives
// an error, never a panic.
func Decode(data []byte, maxPixels int) (img image.Image, format string, err error) {
	// The standard and x/image decoders are meant not to panic on bad input;
	// this is a last line of defence so that a decoder bug is reported as an
	// error in a command-line tool rather than as a crash. FuzzDecodeImage
	// calls decode directly so that such bugs still surface when fuzzing.
	defer func() {
		if r := recover(); r != nil {
			img, format, err = nil, "", fmt.Errorf("image: the %s decoder failed on malformed data (%v)", formatName(format), r)
		}
	}()
	return decode(data, maxPixels)
}

func decode(data []byte, maxPixels int) (image.Image, string, error) {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return nil, "", ErrUnknownFormat
		}
		return nil, format, fmt.Errorf("image: corrupt %s header: %w", formatName(format), err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, format, fmt.Errorf("image: %s has no pixels (%dx%d)", formatName(format), cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return nil, format, fmt.Errorf("image: %s is %dx%d (%.1f megapixels), above the limit of %.1f megapixels: %w",
			formatName(format), cfg.Width, cfg.Height, float64(cfg.Width)*float64(cfg.Height)/1e6, float64(maxPixels)/1e6, ErrTooLarge)
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, format, fmt.Errorf("image: truncated %s data: %w", formatName(format), err)
		}
		return nil, format, fmt.Errorf("image: corrupt %s data: %w", formatName(format), err)
	}
	if b := img.Bounds(); b.Dx() != cfg.Width || b.Dy() != cfg.Height {
		// A decoder that disagrees with its own header would bypass the
		// pixel limit; refuse rather than trust either number.
		return nil, format, fmt.Errorf("image: %s header says %dx%d but the data decodes to %dx%d", formatName(format), cfg.Width, cfg.Height, b.Dx(), b.Dy())
	}
	return img, format, nil
}

// DecodeFile reads and decodes an image file (see Decode). Errors do not
// repeat the path; callers prefix it.
func DecodeFile(path string, maxPixels int) (image.Image, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", unwrapPath(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, "", unwrapPath(err)
	}
	if st.IsDir() {
		return nil, "", errors.New("is a directory, not an image file")
	}
	if st.Mode().IsRegular() && st.Size() > maxFileBytes {
		return nil, "", fmt.Errorf("file is %d bytes, above the limit of %d for an image: %w", st.Size(), maxFileBytes, ErrTooLarge)
	}
	// Look at the start first, so that a large file that is no image (or a
	// device such as /dev/zero) is refused without being read whole.
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return nil, "", unwrapPath(err)
	}
	head = head[:n]
	if _, _, err := image.DecodeConfig(bytes.NewReader(head)); errors.Is(err, image.ErrFormat) {
		if n == 0 {
			return nil, "", errors.New("image: empty file")
		}
		return nil, "", ErrUnknownFormat
	}
	rest, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1-int64(n)))
	if err != nil {
		return nil, "", unwrapPath(err)
	}
	data := append(head, rest...)
	if len(data) > maxFileBytes {
		return nil, "", fmt.Errorf("file is above the limit of %d bytes for an image: %w", maxFileBytes, ErrTooLarge)
	}
	if len(data) == 0 {
		return nil, "", errors.New("image: empty file")
	}
	return Decode(data, maxPixels)
}

// unwrapPath drops the operation and path from an *os.PathError (keeping the
// cause, so errors.Is(err, fs.ErrNotExist) still holds).
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func formatName(f string) string {
	switch f {
	case "jpeg":
		return "JPEG"
	case "png":
		return "PNG"
	case "gif":
		return "GIF"
	case "bmp":
		return "BMP"
	case "webp":
		return "WebP"
	case "":
		return "image"
	}
	return f
}

// opaqueImage reports whether every pixel of img is fully opaque, using the
// image's own Opaque method when it has one.
func opaqueImage(img image.Image) bool {
	if o, ok := img.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// dropAlpha returns the part r of img with every pixel's alpha set to fully
// opaque and its (unpremultiplied) colour kept, as PIL's convert("RGB") does.
// Compositing over black (what premultiplied colour would give) would turn
// transparent regions black instead of their stored colour.
func dropAlpha(img image.Image, r image.Rectangle) *image.NRGBA {
	out := image.NewNRGBA(r)
	if src, ok := img.(*image.NRGBA); ok {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			si := src.PixOffset(r.Min.X, y)
			di := out.PixOffset(r.Min.X, y)
			copy(out.Pix[di:di+4*r.Dx()], src.Pix[si:si+4*r.Dx()])
		}
	} else {
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
				out.SetNRGBA(x, y, c)
			}
		}
	}
	for i := 3; i < len(out.Pix); i += 4 {
		out.Pix[i] = 0xff
	}
	return out
}
