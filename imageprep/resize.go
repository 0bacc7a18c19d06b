package imageprep

import (
	"errors"
	"fmt"
	"image"
	"math"

	"golang.org/x/image/draw"
)

// DefaultCropFraction is the share of the resized image's shorter side that
// the centre crop keeps: 224/256, the ImageNet evaluation convention (resize
// to 256, crop 224).
const DefaultCropFraction = 224.0 / 256.0

// resampler is the resampling kernel. draw.BiLinear is the tent filter, and
// draw's Kernel.Scale widens it by the shrink factor when downscaling, which
// is exactly PIL's antialiased Image.resize(BILINEAR): the transform
// torchvision's Resize applies to PIL images, and so the one most
// ImageNet-trained models saw in training and evaluation. ApproxBiLinear
// samples only 4 neighbours whatever the shrink factor and aliases badly when
// a multi-megapixel photo becomes 256 pixels; CatmullRom is sharper than
// what the models were trained on and slower.
var resampler = draw.BiLinear

// maxScaleWork bounds the temporary buffer of the separable resize (resized
// width × source height entries of 32 bytes: 128 MiB). Beyond it, which only
// happens for extreme aspect ratios, the source is first cut down along its
// long side to the part the crop needs.
const maxScaleWork = 4 << 20

// ResizeCrop resizes img so that the centre crop of fraction cropFraction
// (0 means DefaultCropFraction; 1 means no margin) covers an h×w box, and
// returns that h×w crop. For a square h×w this is "resize the shorter side to
// h/cropFraction, then cut the centre h×w"; for other shapes the image is
// scaled (keeping its aspect ratio) just enough to cover an
// (h/cropFraction)×(w/cropFraction) box. The resized long side is rounded
// down, as torchvision does; the crop is centred, with any odd pixel left on
// the right or bottom.
//
// An image that already is exactly w×h is copied unchanged: it is taken to be
// prepared already (cropped digits, CIFAR thumbnails, 224×224 tiles), where
// resizing to 256 and cropping back would only blur it and cut its border.
//
// Transparency is dropped (see the package documentation). The result is an
// opaque *image.RGBA with bounds (0,0)-(w,h).
func ResizeCrop(img image.Image, h, w int, cropFraction float64) (*image.RGBA, error) {
	if img == nil {
		return nil, errors.New("imageprep: nil image")
	}
	if h <= 0 || w <= 0 {
		return nil, fmt.Errorf("imageprep: target size %dx%d must be positive", h, w)
	}
	if int64(h)*int64(w) > DefaultMaxPixels {
		return nil, fmt.Errorf("imageprep: target size %dx%d is above %d pixels: %w", h, w, DefaultMaxPixels, ErrTooLarge)
	}
	if cropFraction == 0 {
		cropFraction = DefaultCropFraction
	}
	if !(cropFraction > 0 && cropFraction <= 1) {
		return nil, fmt.Errorf("imageprep: crop fraction %g must be in (0, 1]", cropFraction)
	}
	b := img.Bounds()
	iw, ih := b.Dx(), b.Dy()
	if iw <= 0 || ih <= 0 {
		return nil, fmt.Errorf("imageprep: image has no pixels (%dx%d)", iw, ih)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	if iw == w && ih == h {
		src := img
		if !opaqueImage(img) {
			src = dropAlpha(img, b)
		}
		draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Src)
		return dst, nil
	}

	// The box the resized image must cover, and the resized size: the
	// binding side gets exactly its box length, the other side its
	// proportional length rounded down, never less than its own box.
	th := max(h, int(math.Round(float64(h)/cropFraction)))
	tw := max(w, int(math.Round(float64(w)/cropFraction)))
	var nw, nh int
	if int64(th)*int64(iw) >= int64(tw)*int64(ih) { // th/ih >= tw/iw: height binds
		nh = th
		nw = max(tw, int(int64(th)*int64(iw)/int64(ih)))
	} else {
		nw = tw
		nh = max(th, int(int64(tw)*int64(ih)/int64(iw)))
	}
	offX, offY := (nw-w)/2, (nh-h)/2

	sx0, sx1, dx0, dx1 := 0, iw, 0, nw
	sy0, sy1, dy0, dy1 := 0, ih, 0, nh
	if int64(nw)*int64(ih) > maxScaleWork || int64(nh)*int64(iw) > maxScaleWork {
		sx0, sx1, dx0, dx1 = window(iw, nw, offX, w)
		sy0, sy1, dy0, dy1 = window(ih, nh, offY, h)
	}
	sr := image.Rect(b.Min.X+sx0, b.Min.Y+sy0, b.Min.X+sx1, b.Min.Y+sy1)
	src := img
	if !opaqueImage(img) {
		src = dropAlpha(img, sr)
	}
	dr := image.Rect(dx0-offX, dy0-offY, dx1-offX, dy1-offY)
	resampler.Scale(dst, dr, src, sr, draw.Src, nil)
	return dst, nil
}

// window chooses, along one axis of a source of length s resized to n, the
// source range [s0,s1) and its resized range [d0,d1) that cover the crop
// [off, off+c) with a margin wider than the kernel's reach. The resized range
// is the source range's exact image rounded to whole pixels, so the scale
// changes by less than one pixel over the window: invisible, and only used
// when resizing the whole image would need an outsized buffer.
func window(s, n, off, c int) (s0, s1, d0, d1 int) {
	scale := float64(n) / float64(s)
	margin := 2 + math.Ceil(math.Max(1, scale)) // resized pixels
	s0 = max(0, int(math.Floor((float64(off)-margin)/scale)))
	s1 = min(s, int(math.Ceil((float64(off+c)+margin)/scale)))
	d0 = int(math.Round(float64(s0) * scale))
	d1 = int(math.Round(float64(s1) * scale))
	if s0 == 0 {
		d0 = 0
	}
	if s1 == s {
		d1 = n
	}
	// The rounded range must still contain the crop.
	d0 = min(d0, off)
	d1 = max(d1, off+c)
	return s0, s1, d0, d1
}
