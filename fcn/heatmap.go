package fcn

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"golang.org/x/image/draw"
)

// HeatOpacity is how much of the colour map HeatMap blends over the photo.
const HeatOpacity = 0.55

// HeatMap draws the score map of class over photo (the image ScoreMap ran
// on, before scaling) at the photo's size: each position's probability,
// divided by the class's largest one so that the map spans the whole colour
// scale, is placed at the centre of its crop window and interpolated
// bilinearly between centres (held constant beyond the outermost ones),
// coloured from dark blue (0) through cyan, yellow and red (the maximum),
// and blended over the photo with opacity HeatOpacity.
func (m *ScoreMap) HeatMap(photo image.Image, class int) (*image.RGBA, error) {
	if class < 0 || class >= m.Classes {
		return nil, fmt.Errorf("fcn: class %d is not in 0..%d", class, m.Classes-1)
	}
	if photo == nil {
		return nil, errors.New("fcn: nil photo")
	}
	b := photo.Bounds()
	pw, ph := b.Dx(), b.Dy()
	hw := m.Height * m.Width
	vals := m.Probs[class*hw : (class+1)*hw]
	top := float32(0)
	for _, v := range vals {
		top = max(top, v)
	}
	if top <= 0 {
		top = 1
	}
	out := image.NewRGBA(image.Rect(0, 0, pw, ph))
	draw.Draw(out, out.Bounds(), photo, b.Min, draw.Src)
	// Photo pixel -> scaled-image coordinate -> map coordinate: position i
	// is centred at i·jump + window/2 of the scaled image.
	sy := float64(m.ImageHeight) / float64(ph)
	sx := float64(m.ImageWidth) / float64(pw)
	xs := make([]sample, pw)
	for px := range pw {
		xs[px] = sampleAt((float64(px)+0.5)*sx, m.Window[1], m.Jump[1], m.Width)
	}
	for py := range ph {
		ys := sampleAt((float64(py)+0.5)*sy, m.Window[0], m.Jump[0], m.Height)
		row := out.Pix[py*out.Stride:]
		for px := range pw {
			xsm := xs[px]
			v00 := vals[ys.i0*m.Width+xsm.i0]
			v01 := vals[ys.i0*m.Width+xsm.i1]
			v10 := vals[ys.i1*m.Width+xsm.i0]
			v11 := vals[ys.i1*m.Width+xsm.i1]
			top0 := float64(v00)*(1-xsm.f) + float64(v01)*xsm.f
			bot := float64(v10)*(1-xsm.f) + float64(v11)*xsm.f
			v := (top0*(1-ys.f) + bot*ys.f) / float64(top)
			c := Colormap(v)
			p := row[4*px : 4*px+4]
			p[0] = blend(p[0], c.R)
			p[1] = blend(p[1], c.G)
			p[2] = blend(p[2], c.B)
			p[3] = 255
		}
	}
	return out, nil
}

// sample is a bilinear interpolation point: between map indices i0 and i1
// at fraction f.
type sample struct {
	i0, i1 int
	f      float64
}

// sampleAt maps a scaled-image coordinate to map coordinates along one axis
// with n positions whose windows of size window start every jump pixels.
func sampleAt(coord float64, window, jump, n int) sample {
	if jump <= 0 {
		jump = 1
	}
	u := (coord - float64(window)/2) / float64(jump)
	u = math.Max(0, math.Min(float64(n-1), u))
	i0 := int(math.Floor(u))
	i1 := min(i0+1, n-1)
	return sample{i0, i1, u - float64(i0)}
}

func blend(photo, heat uint8) uint8 {
	return uint8(math.Round((1-HeatOpacity)*float64(photo) + HeatOpacity*float64(heat)))
}

// colormap stops: dark blue, blue, cyan, yellow, red, dark red (the "jet"
// map), at 0, 0.125, 0.375, 0.625, 0.875 and 1.
var colormapStops = [...]struct {
	at      float64
	r, g, b float64
}{
	{0, 0, 0, 0.5}, {0.125, 0, 0, 1}, {0.375, 0, 1, 1}, {0.625, 1, 1, 0}, {0.875, 1, 0, 0}, {1, 0.5, 0, 0},
}

// Colormap returns the heat colour of v in [0, 1] (clamped): dark blue at 0
// through blue, cyan, yellow and red to dark red at 1.
func Colormap(v float64) color.RGBA {
	if !(v >= 0) { // NaN too
		v = 0
	}
	v = math.Min(v, 1)
	for i := 1; i < len(colormapStops); i++ {
		a, b := colormapStops[i-1], colormapStops[i]
		if v <= b.at {
			f := (v - a.at) / (b.at - a.at)
			mix := func(x, y float64) uint8 { return uint8(math.Round(255 * (x + (y-x)*f))) }
			return color.RGBA{mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b), 255}
		}
	}
	return color.RGBA{128, 0, 0, 255}
}
