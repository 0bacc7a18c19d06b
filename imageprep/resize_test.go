package imageprep

import (
	"image"
	"image/color"
	"math"
	"testing"
)

// refWeights returns the source indices and normalised weights that make
// resized coordinate X along an axis of s source pixels resized to n: the
// triangle (bilinear) filter centred on X's position in source pixel
// coordinates, widened by the shrink factor when shrinking, renormalised
// over the pixels inside the image. This is PIL's antialiased bilinear
// resize, written out directly.
func refWeights(s, n, X int) ([]int, []float64) {
	scale := float64(s) / float64(n)
	support, argScale := 1.0, 1.0
	if scale > 1 {
		support, argScale = scale, 1/scale
	}
	center := (float64(X)+0.5)*scale - 0.5
	var idx []int
	var w []float64
	total := 0.0
	for j := int(math.Floor(center - support)); j <= int(math.Ceil(center+support)); j++ {
		if j < 0 || j >= s {
			continue
		}
		t := math.Abs(center-float64(j)) * argScale
		if t >= 1 {
			continue
		}
		idx = append(idx, j)
		w = append(w, 1-t)
		total += 1 - t
	}
	for i := range w {
		w[i] /= total
	}
	return idx, w
}

// refCrop computes the h×w crop at (offX, offY) of src resized to nw×nh, in
// float64, pixel by pixel.
func refCrop(src *image.RGBA, nw, nh, offX, offY, w, h int) [][][3]float64 {
	b := src.Bounds()
	out := make([][][3]float64, h)
	for y := range h {
		out[y] = make([][3]float64, w)
		yi, yw := refWeights(b.Dy(), nh, y+offY)
		for x := range w {
			xi, xw := refWeights(b.Dx(), nw, x+offX)
			var acc [3]float64
			for a, sy := range yi {
				for c, sx := range xi {
					p := src.RGBAAt(sx, sy)
					k := yw[a] * xw[c]
					acc[0] += k * float64(p.R)
					acc[1] += k * float64(p.G)
					acc[2] += k * float64(p.B)
				}
			}
			out[y][x] = acc
		}
	}
	return out
}

func TestResizeCropMatchesTheResizeThenCropReference(t *testing.T) {
	cases := []struct {
		name               string
		src                *image.RGBA
		h, w               int
		nw, nh, offX, offY int // expected geometry, worked out by hand
		tolerance          float64
	}{
		// Shorter side 300 -> 256, long side 400*256/300 = 341.33 -> 341,
		// crop offsets (341-224)/2 = 58 and (256-224)/2 = 16.
		{"a landscape photo is resized to 341x256 and cropped at (58,16)", noise(400, 300, 1), 224, 224, 341, 256, 58, 16, 1},
		{"a portrait photo is resized to 256x341 and cropped at (16,58)", noise(300, 400, 2), 224, 224, 256, 341, 16, 58, 1},
		{"a large photo is shrunk with the widened (antialiasing) filter", noise(1000, 700, 3), 224, 224, 365, 256, 70, 16, 1},
		// 40 -> 256 (x6.4), 60*256/40 = 384.
		{"a small image is enlarged", noise(60, 40, 4), 224, 224, 384, 256, 80, 16, 1},
		// Box 274x366 (240/0.875 = 274.3, 320/0.875 = 365.7); width binds
		// (366/640 > 274/480), height 480*366/640 = 274.5 -> 274.
		{"a non-square input covers its enlarged box", noise(640, 480, 5), 240, 320, 366, 274, 23, 17, 1},
		// 32/0.875 = 36.6 -> 37; 50*37/45 = 41.1 -> 41.
		{"a small model input keeps the 256/224 margin", gradient(50, 45), 32, 32, 41, 37, 4, 2, 1},
		// Resizing the whole 8.5-million-pixel-wide image would need a huge
		// buffer, so only the window around the crop is resampled.
		{"an extremely wide image is resized through a window", noise(100000, 3, 6), 224, 224, 8533333, 256, 4266554, 16, 2},
		{"an extremely tall image is resized through a window", noise(3, 100000, 8), 224, 224, 256, 8533333, 16, 4266554, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResizeCrop(c.src, c.h, c.w, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got.Bounds() != image.Rect(0, 0, c.w, c.h) {
				t.Fatalf("bounds %v, want %dx%d", got.Bounds(), c.w, c.h)
			}
			want := refCrop(c.src, c.nw, c.nh, c.offX, c.offY, c.w, c.h)
			worst := 0.0
			for y := range c.h {
				for x := range c.w {
					p := got.RGBAAt(x, y)
					if p.A != 255 {
						t.Fatalf("pixel (%d,%d) alpha %d, want opaque", x, y, p.A)
					}
					for ch, v := range []uint8{p.R, p.G, p.B} {
						d := math.Abs(float64(v) - want[y][x][ch])
						if d > worst {
							worst = d
						}
						if d > c.tolerance {
							t.Fatalf("pixel (%d,%d) channel %d = %d, reference %.2f", x, y, ch, v, want[y][x][ch])
						}
					}
				}
			}
			t.Logf("largest difference from the reference: %.3f levels", worst)
		})
	}
}

func TestResizeCropWithCropFractionOneOnlyResizes(t *testing.T) {
	src := noise(100, 50, 9)
	got, err := ResizeCrop(src, 20, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Shorter side 50 -> 20, width 40, crop offset 10.
	want := refCrop(src, 40, 20, 10, 0, 20, 20)
	for y := range 20 {
		for x := range 20 {
			p := got.RGBAAt(x, y)
			if math.Abs(float64(p.R)-want[y][x][0]) > 1 {
				t.Fatalf("pixel (%d,%d) red %d, reference %.2f", x, y, p.R, want[y][x][0])
			}
		}
	}
}

func TestResizeCropLeavesAnImageOfTheInputSizeUnchanged(t *testing.T) {
	src := noise(28, 20, 7)
	// Offset bounds must not matter.
	shifted := &image.RGBA{Pix: src.Pix, Stride: src.Stride, Rect: image.Rect(5, 9, 33, 29)}
	got, err := ResizeCrop(shifted, 20, 28, 0)
	if err != nil {
		t.Fatal(err)
	}
	for y := range 20 {
		for x := range 28 {
			if got.RGBAAt(x, y) != src.RGBAAt(x, y) {
				t.Fatalf("pixel (%d,%d) = %v, want %v", x, y, got.RGBAAt(x, y), src.RGBAAt(x, y))
			}
		}
	}
}

func TestResizeCropDropsAlphaKeepingColour(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 8, 8))
	for i := 0; i < len(m.Pix); i += 4 {
		copy(m.Pix[i:], []uint8{200, 100, 50, 0}) // fully transparent
	}
	for _, size := range []int{8, 4} {
		got, err := ResizeCrop(m, size, size, 1)
		if err != nil {
			t.Fatal(err)
		}
		if p := got.RGBAAt(1, 1); p != (color.RGBA{200, 100, 50, 255}) {
			t.Errorf("size %d: pixel = %v, want the stored colour made opaque", size, p)
		}
	}
}

func TestResizeCropAcceptsGrayAndPalettedImages(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 30, 30))
	for i := range g.Pix {
		g.Pix[i] = 123
	}
	pal := image.NewPaletted(image.Rect(0, 0, 30, 30), color.Palette{color.RGBA{10, 20, 30, 255}})
	for _, m := range []image.Image{g, pal} {
		got, err := ResizeCrop(m, 8, 8, 0)
		if err != nil {
			t.Fatal(err)
		}
		want := color.RGBAModel.Convert(m.At(0, 0)).(color.RGBA)
		if p := got.RGBAAt(4, 4); p != want {
			t.Errorf("%T: pixel = %v, want %v", m, p, want)
		}
	}
}

func TestResizeCropRejectsBadArguments(t *testing.T) {
	m := noise(10, 10, 1)
	for _, c := range []struct {
		name string
		img  image.Image
		h, w int
		frac float64
	}{
		{"nil image", nil, 4, 4, 0},
		{"zero height", m, 0, 4, 0},
		{"negative width", m, 4, -1, 0},
		{"crop fraction above one", m, 4, 4, 1.5},
		{"negative crop fraction", m, 4, 4, -0.5},
		{"NaN crop fraction", m, 4, 4, math.NaN()},
		{"empty image", image.NewRGBA(image.Rect(0, 0, 0, 5)), 4, 4, 0},
		{"absurd target size", m, 1 << 20, 1 << 20, 0},
	} {
		if _, err := ResizeCrop(c.img, c.h, c.w, c.frac); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
}
