// Package digits renders the data set runinfer's default model is trained
// on, and builds that model's network.
//
// The data are the digits 0 to 9 drawn from the Go fonts
// (golang.org/x/image/font/gofont) as 28×28 grayscale images, each with its
// own random font, size, aspect, position, rotation (±12°), shear, elastic
// warp, stroke weight, blur, background gradient, noise and polarity: light
// digits on a dark ground as in MNIST, or dark digits on a light ground as
// in a photo of a printed digit. Everything is a pure function of a seed,
// so a set can be rendered again bit for bit.
//
// What is held out: the Test split draws from different random streams than
// the Train split for the same seed, and it uses a font the Train split
// never shows, Go Medium Italic (HeldOutFont); one Test image in ten is in
// that font. Test sets are also rendered from seeds other than the one the
// model was trained with.
package digits

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gobolditalic"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/gofont/gomediumitalic"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/gomonobold"
	"golang.org/x/image/font/gofont/gomonobolditalic"
	"golang.org/x/image/font/gofont/gomonoitalic"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
	"golang.org/x/image/vector"
)

// Size is the side of the square images, in pixels.
const Size = 28

// Classes is the number of classes: the digits 0 to 9, class k being digit k.
const Classes = 10

// HeldOutFont is the font the Train split never uses.
const HeldOutFont = "gomediumitalic"

// fontData lists the Go fonts by name, in a fixed order (the Font field of
// Params indexes it). Go Small Caps is left out: its digits are Go
// Regular's.
var fontData = []struct {
	name string
	ttf  []byte
}{
	{"goregular", goregular.TTF},
	{"gobold", gobold.TTF},
	{"goitalic", goitalic.TTF},
	{"gobolditalic", gobolditalic.TTF},
	{"gomedium", gomedium.TTF},
	{HeldOutFont, gomediumitalic.TTF},
	{"gomono", gomono.TTF},
	{"gomonobold", gomonobold.TTF},
	{"gomonoitalic", gomonoitalic.TTF},
	{"gomonobolditalic", gomonobolditalic.TTF},
}

// Fonts returns the names of the fonts, indexed as Params.Font indexes them.
func Fonts() []string {
	names := make([]string, len(fontData))
	for i, f := range fontData {
		names[i] = f.name
	}
	return names
}

// heldOut is the index of HeldOutFont in fontData.
const heldOut = 5

// glyph is one digit of one font: its outline at ppem pixels per em, and
// the outline's bounding box.
type glyph struct {
	segs   sfnt.Segments
	bounds fixed.Rectangle26_6
}

const ppem = 64

var (
	glyphsOnce sync.Once
	glyphs     [][Classes]glyph // by font, then digit
	glyphsErr  error
)

// loadGlyphs parses the fonts and extracts the outlines of the digits, once.
func loadGlyphs() ([][Classes]glyph, error) {
	glyphsOnce.Do(func() {
		var buf sfnt.Buffer
		gs := make([][Classes]glyph, len(fontData))
		for i, fd := range fontData {
			f, err := sfnt.Parse(fd.ttf)
			if err != nil {
				glyphsErr = fmt.Errorf("digits: font %s: %w", fd.name, err)
				return
			}
			for d := range Classes {
				idx, err := f.GlyphIndex(&buf, rune('0'+d))
				if err == nil && idx == 0 {
					err = fmt.Errorf("no glyph")
				}
				if err != nil {
					glyphsErr = fmt.Errorf("digits: font %s, digit %d: %w", fd.name, d, err)
					return
				}
				segs, err := f.LoadGlyph(&buf, idx, fixed.I(ppem), nil)
				if err != nil {
					glyphsErr = fmt.Errorf("digits: font %s, digit %d: %w", fd.name, d, err)
					return
				}
				b, _, err := f.GlyphBounds(&buf, idx, fixed.I(ppem), font.HintingNone)
				if err != nil {
					glyphsErr = fmt.Errorf("digits: font %s, digit %d: %w", fd.name, d, err)
					return
				}
				gs[i][d] = glyph{segs: append(sfnt.Segments(nil), segs...), bounds: b}
			}
		}
		glyphs = gs
	})
	return glyphs, glyphsErr
}

// Params are the parameters of one rendered image. Render is a pure
// function of them; RandomParams draws them.
type Params struct {
	Digit int // 0..9
	Font  int // index into Fonts()
	// Height is the height of the digit's bounding box in pixels before
	// rotation and shear; Aspect scales its width relative to the font's.
	Height, Aspect float64
	// Rotation in degrees, counter-clockwise; Shear is the horizontal shear
	// (x += Shear·y, y pointing up), applied before the rotation.
	Rotation, Shear float64
	// DX, DY move the digit's centre from the image centre, in pixels
	// (right and down). The digit is kept inside the image.
	DX, DY float64
	// Weight thickens (> 0, up to 2) or thins (< 0, down to -1) the
	// strokes: each unit adds or removes about one pixel of stroke width.
	Weight float64
	// Warp is the amplitude in pixels of a smooth random displacement of
	// the outline (an elastic distortion, as handwriting varies), drawn
	// from a generator seeded with WarpSeed; 0: none.
	Warp     float64
	WarpSeed uint64
	// Blur is the standard deviation of a Gaussian blur, in pixels (0:
	// none).
	Blur float64
	// Background and Foreground are the intensities (0 black, 1 white) of
	// the ground and of the digit; Gradient adds up to ±Gradient to the
	// ground across the image, in direction GradientAngle (radians).
	Background, Foreground  float64
	Gradient, GradientAngle float64
	// Noise is the standard deviation of Gaussian pixel noise, drawn from
	// a generator seeded with NoiseSeed.
	Noise     float64
	NoiseSeed uint64
}

// Split selects the training or the held-out distribution.
type Split int

const (
	// Train draws from every font but HeldOutFont.
	Train Split = iota
	// Test draws from every font, HeldOutFont included, uniformly.
	Test
)

// String returns "train" or "test".
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Test:
		return "test"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

// RandomParams draws the parameters of an image of digit d for split s.
func RandomParams(rng *rand.Rand, d int, s Split) Params {
	p := Params{Digit: d}
	if s == Test {
		p.Font = rng.IntN(len(fontData))
	} else {
		p.Font = rng.IntN(len(fontData) - 1)
		if p.Font >= heldOut {
			p.Font++
		}
	}
	uni := func(lo, hi float64) float64 { return lo + (hi-lo)*rng.Float64() }
	p.Height = uni(13, 25)
	p.Aspect = uni(0.75, 1.6)
	p.Rotation = uni(-12, 12)
	p.Shear = uni(-0.15, 0.15)
	// The digit's centre may wander a sixth of the free room either way in
	// most images and anywhere in the rest.
	reach := 0.18
	if rng.IntN(4) == 0 {
		reach = 0.5
	}
	free := Size - p.Height
	p.DX = uni(-reach, reach) * free
	p.DY = uni(-reach, reach) * free
	// Thickening up to two pixels for the light fonts, less for the heavy
	// ones, and less for small digits, whose holes would fill.
	heavy := 2.0
	switch name := fontData[p.Font].name; {
	case strings.Contains(name, "bold"):
		heavy = 0.8
	case strings.Contains(name, "medium"):
		heavy = 1.2
	}
	heavy *= min(max((p.Height-8)/17, 0.3), 1)
	p.Weight = uni(-0.6, heavy)
	if rng.IntN(3) != 0 {
		p.Warp = uni(0, 1.5)
	}
	p.WarpSeed = rng.Uint64()
	if rng.IntN(2) == 0 {
		p.Blur = uni(0.3, 1.0)
	}
	// Polarity: half light-on-dark, half dark-on-light, each with some
	// contrast loss.
	bg, fg := uni(0, 0.25), uni(0.65, 1)
	if rng.IntN(2) == 0 {
		bg, fg = 1-bg, 1-fg
	}
	p.Background, p.Foreground = bg, fg
	if rng.IntN(2) == 0 {
		p.Gradient = uni(0, 0.12)
		p.GradientAngle = uni(0, 2*math.Pi)
	}
	if rng.IntN(3) != 0 {
		p.Noise = uni(0, 0.06)
	}
	p.NoiseSeed = rng.Uint64()
	return p
}

// ss is the supersampling factor the outline is rasterized at.
const ss = 2

// Render draws the image Params p describe.
func Render(p Params) (*image.Gray, error) {
	if p.Digit < 0 || p.Digit >= Classes {
		return nil, fmt.Errorf("digits: digit %d out of range 0..9", p.Digit)
	}
	if p.Font < 0 || p.Font >= len(fontData) {
		return nil, fmt.Errorf("digits: font %d out of range 0..%d", p.Font, len(fontData)-1)
	}
	for _, v := range []float64{p.Height, p.Aspect, p.Rotation, p.Shear, p.DX, p.DY, p.Weight, p.Warp, p.Blur,
		p.Background, p.Foreground, p.Gradient, p.GradientAngle, p.Noise} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("digits: parameters must be finite: %+v", p)
		}
	}
	if !(p.Height >= 2 && p.Height <= Size) || !(p.Aspect >= 0.25 && p.Aspect <= 4) {
		return nil, fmt.Errorf("digits: height %g (want 2..%d) or aspect %g (want 0.25..4) out of range", p.Height, Size, p.Aspect)
	}
	if !(p.Weight >= -1 && p.Weight <= 2) || !(p.Warp >= 0 && p.Warp <= 3) {
		return nil, fmt.Errorf("digits: weight %g (want -1..2) or warp %g (want 0..3) out of range", p.Weight, p.Warp)
	}
	gs, err := loadGlyphs()
	if err != nil {
		return nil, err
	}
	g := gs[p.Font][p.Digit]

	// The affine map from glyph coordinates (pixels at ppem, y down) to
	// supersampled image coordinates: centre the bounding box at the
	// origin, scale, shear, rotate, move to the image centre plus the
	// offset, then shrink and shift as needed to stay inside the image.
	cx := float64(g.bounds.Min.X+g.bounds.Max.X) / 128
	cy := float64(g.bounds.Min.Y+g.bounds.Max.Y) / 128
	bh := float64(g.bounds.Max.Y-g.bounds.Min.Y) / 64
	s := p.Height / bh
	sx, sy := s*p.Aspect, s
	sin, cos := math.Sincos(-p.Rotation * math.Pi / 180) // y points down
	// m = R · Shear · diag(sx, sy); shear with y down: x -= Shear·y.
	m00, m01 := cos*sx, (cos*(-p.Shear)-sin)*sy
	m10, m11 := sin*sx, (sin*(-p.Shear)+cos)*sy
	bx := [4]float64{float64(g.bounds.Min.X)/64 - cx, float64(g.bounds.Max.X)/64 - cx, float64(g.bounds.Min.X)/64 - cx, float64(g.bounds.Max.X)/64 - cx}
	by := [4]float64{float64(g.bounds.Min.Y)/64 - cy, float64(g.bounds.Min.Y)/64 - cy, float64(g.bounds.Max.Y)/64 - cy, float64(g.bounds.Max.Y)/64 - cy}
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for i := range 4 {
		x := m00*bx[i] + m01*by[i]
		y := m10*bx[i] + m11*by[i]
		x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
	}
	w := newWarp(p.Warp, p.WarpSeed)
	// The margin keeps the ink inside the image: stroke thickening adds
	// up to a pixel (1.5 with antialiasing), the warp moves points by up to
	// w.bound.
	margin := 2 + w.bound
	room := Size - 2*margin
	if k := min(room/(x1-x0), room/(y1-y0)); k < 1 {
		m00, m01, m10, m11 = k*m00, k*m01, k*m10, k*m11
		x0, x1, y0, y1 = k*x0, k*x1, k*y0, k*y1
	}
	tx := Size/2 + p.DX
	ty := Size/2 + p.DY
	tx = min(max(tx, margin-x0), Size-margin-x1)
	ty = min(max(ty, margin-y0), Size-margin-y1)
	pt := func(q fixed.Point26_6) (float32, float32) {
		x := float64(q.X)/64 - cx
		y := float64(q.Y)/64 - cy
		u, v := w.apply(m00*x+m01*y+tx, m10*x+m11*y+ty)
		return float32(ss * u), float32(ss * v)
	}

	const n = Size * ss
	z := vector.NewRasterizer(n, n)
	for _, seg := range g.segs {
		switch seg.Op {
		case sfnt.SegmentOpMoveTo:
			z.MoveTo(pt(seg.Args[0]))
		case sfnt.SegmentOpLineTo:
			z.LineTo(pt(seg.Args[0]))
		case sfnt.SegmentOpQuadTo:
			ax, ay := pt(seg.Args[0])
			bx, by := pt(seg.Args[1])
			z.QuadTo(ax, ay, bx, by)
		case sfnt.SegmentOpCubeTo:
			ax, ay := pt(seg.Args[0])
			bx, by := pt(seg.Args[1])
			cx, cy := pt(seg.Args[2])
			z.CubeTo(ax, ay, bx, by, cx, cy)
		}
	}
	z.ClosePath()
	hi := image.NewAlpha(image.Rect(0, 0, n, n))
	z.Draw(hi, hi.Bounds(), image.Opaque, image.Point{})

	cov := make([]float64, n*n)
	for i, a := range hi.Pix {
		cov[i] = float64(a) / 255
	}
	if p.Weight != 0 {
		cov = morph(cov, n, p.Weight)
	}
	// Down to Size×Size by averaging ss×ss blocks.
	a := make([]float64, Size*Size)
	for y := range Size {
		for x := range Size {
			var sum float64
			for j := range ss {
				for i := range ss {
					sum += cov[(y*ss+j)*n+x*ss+i]
				}
			}
			a[y*Size+x] = sum / (ss * ss)
		}
	}
	if p.Blur > 0 {
		a = blur(a, Size, p.Blur)
	}

	img := image.NewGray(image.Rect(0, 0, Size, Size))
	rng := rand.New(rand.NewPCG(p.NoiseSeed, 0x6e6f697365))
	gx, gy := math.Cos(p.GradientAngle), math.Sin(p.GradientAngle)
	for y := range Size {
		for x := range Size {
			u := (float64(x)+0.5)/Size - 0.5
			v := (float64(y)+0.5)/Size - 0.5
			bg := p.Background + p.Gradient*2*(u*gx+v*gy)
			c := a[y*Size+x]
			val := bg + (p.Foreground-bg)*c
			if p.Noise > 0 {
				val += p.Noise * rng.NormFloat64()
			}
			img.Pix[y*img.Stride+x] = uint8(math.Round(255 * min(max(val, 0), 1)))
		}
	}
	return img, nil
}

// warp is a smooth random displacement field: per axis, a sum of plane
// waves with wavelengths of 12 to 36 pixels.
type warp struct {
	amp   [2][3]float64 // amplitude of each wave, pixels
	k     [2][3][2]float64
	phase [2][3]float64
	bound float64 // the largest displacement along either axis
}

func newWarp(amplitude float64, seed uint64) *warp {
	w := &warp{}
	if amplitude == 0 {
		return w
	}
	rng := rand.New(rand.NewPCG(seed, 0x77617270))
	for ax := range 2 {
		var sum float64
		for i := range 3 {
			w.amp[ax][i] = amplitude * rng.NormFloat64() / math.Sqrt(3)
			dir := 2 * math.Pi * rng.Float64()
			freq := 2 * math.Pi / (12 + 24*rng.Float64())
			w.k[ax][i] = [2]float64{freq * math.Cos(dir), freq * math.Sin(dir)}
			w.phase[ax][i] = 2 * math.Pi * rng.Float64()
			sum += math.Abs(w.amp[ax][i])
		}
		w.bound = max(w.bound, sum)
	}
	return w
}

// apply displaces the point (x, y).
func (w *warp) apply(x, y float64) (float64, float64) {
	if w.bound == 0 {
		return x, y
	}
	var d [2]float64
	for ax := range 2 {
		for i := range 3 {
			d[ax] += w.amp[ax][i] * math.Sin(w.k[ax][i][0]*x+w.k[ax][i][1]*y+w.phase[ax][i])
		}
	}
	return x + d[0], y + d[1]
}

// morph thickens (w > 0) or thins (w < 0) the coverage map c (n×n): each
// whole unit of |w| replaces it by its 3×3 dilation or erosion, and the
// fraction left blends it with one more.
func morph(c []float64, n int, w float64) []float64 {
	w = min(max(w, -1), 2)
	for w >= 1 {
		c = morph1(c, n, 1)
		w--
	}
	for w <= -1 {
		c = morph1(c, n, -1)
		w++
	}
	if w == 0 {
		return c
	}
	return morph1(c, n, w)
}

// morph1 blends the coverage map c with its 3×3 dilation (w > 0) or
// erosion (w < 0), |w| ≤ 1 being the blend weight.
func morph1(c []float64, n int, w float64) []float64 {
	out := make([]float64, len(c))
	for y := range n {
		for x := range n {
			e := c[y*n+x]
			for j := max(y-1, 0); j <= min(y+1, n-1); j++ {
				for i := max(x-1, 0); i <= min(x+1, n-1); i++ {
					if w > 0 {
						e = max(e, c[j*n+i])
					} else {
						e = min(e, c[j*n+i])
					}
				}
			}
			aw := math.Abs(w)
			out[y*n+x] = c[y*n+x] + aw*(e-c[y*n+x])
		}
	}
	return out
}

// blur applies a separable Gaussian blur of standard deviation sigma to
// the n×n map a, treating the outside as 0.
func blur(a []float64, n int, sigma float64) []float64 {
	r := int(math.Ceil(2.5 * sigma))
	k := make([]float64, 2*r+1)
	var sum float64
	for i := range k {
		d := float64(i - r)
		k[i] = math.Exp(-d * d / (2 * sigma * sigma))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	tmp := make([]float64, len(a))
	out := make([]float64, len(a))
	blurPass(tmp, a, k, n, false)
	blurPass(out, tmp, k, n, true)
	return out
}

// blurPass sets the n×n map dst to src convolved with the kernel k
// (centred) along rows, or along columns when vertical is set, treating
// the outside as 0.
func blurPass(dst, src, k []float64, n int, vertical bool) {
	r := len(k) / 2
	for y := range n {
		for x := range n {
			p, step := x, 1 // position along the pass and its stride in src
			if vertical {
				p, step = y, n
			}
			var s float64
			for i, w := range k {
				if q := p + i - r; q >= 0 && q < n {
					s += w * src[y*n+x+(i-r)*step]
				}
			}
			dst[y*n+x] = s
		}
	}
}
