// Command shapes writes a small three-class image set in the ImageFolder
// layout (DIR/circle, DIR/square, DIR/triangle) for trying out
// `runinfer finetune`: filled shapes of random colour, size, position and
// rotation over a noisy two-tone background, so that neither colour nor
// position tells the classes apart.
//
//	go run ./models/shapes -o /tmp/shapes -n 60 -size 160 -seed 1
package main

import (
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Classes are the folder names, in label order.
var Classes = []string{"circle", "square", "triangle"}

func main() {
	out := flag.String("o", "", "output `DIR` (created; must not hold other files)")
	n := flag.Int("n", 60, "images per class")
	size := flag.Int("size", 160, "image side in pixels")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := run(*out, *n, *size, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "shapes:", err)
		os.Exit(1)
	}
}

func run(dir string, n, size int, seed uint64) error {
	switch {
	case dir == "":
		return errors.New("-o DIR is required")
	case n < 1 || n > 100000:
		return fmt.Errorf("-n %d: want 1..100000 images per class", n)
	case size < 16 || size > 4096:
		return fmt.Errorf("-size %d: want 16..4096 pixels", size)
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	for _, c := range Classes {
		if err := os.MkdirAll(filepath.Join(dir, c), 0o755); err != nil {
			return err
		}
	}
	for i := 0; i < n; i++ {
		for ci, c := range Classes {
			img := Render(r, ci, size)
			p := filepath.Join(dir, c, fmt.Sprintf("%s_%04d.png", c, i))
			if err := writePNG(p, img); err != nil {
				return err
			}
		}
	}
	fmt.Printf("wrote %d images of %d classes to %s\n", n*len(Classes), len(Classes), dir)
	return nil
}

func writePNG(path string, img image.Image) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// Render draws one image of class c (an index into Classes).
func Render(r *rand.Rand, c, size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	// Background: two random colours split by a random line, plus noise.
	bg1, bg2 := randColor(r), randColor(r)
	nx, ny := math.Cos(r.Float64()*2*math.Pi), math.Sin(r.Float64()*2*math.Pi)
	off := (r.Float64() - 0.5) * float64(size)
	fg := randColor(r)
	cx := float64(size) * (0.3 + 0.4*r.Float64())
	cy := float64(size) * (0.3 + 0.4*r.Float64())
	rad := float64(size) * (0.15 + 0.15*r.Float64())
	rot := r.Float64() * 2 * math.Pi
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			fx, fy := float64(x)+0.5, float64(y)+0.5
			col := bg1
			if (fx-float64(size)/2)*nx+(fy-float64(size)/2)*ny > off {
				col = bg2
			}
			// Rotate into the shape's frame.
			dx, dy := fx-cx, fy-cy
			u := dx*math.Cos(rot) + dy*math.Sin(rot)
			v := -dx*math.Sin(rot) + dy*math.Cos(rot)
			if inside(c, u/rad, v/rad) {
				col = fg
			}
			noise := int(r.NormFloat64() * 12)
			img.SetRGBA(x, y, color.RGBA{clamp(int(col.R) + noise), clamp(int(col.G) + noise), clamp(int(col.B) + noise), 255})
		}
	}
	return img
}

// inside reports whether (u, v), in units of the shape's radius, lies in
// shape c.
func inside(c int, u, v float64) bool {
	switch c {
	case 0: // circle
		return u*u+v*v <= 1
	case 1: // square of the same area as the circle
		h := math.Sqrt(math.Pi) / 2
		return math.Abs(u) <= h && math.Abs(v) <= h
	default: // equilateral triangle with circumradius 1.2
		const R = 1.2
		for k := 0; k < 3; k++ {
			a := float64(k)*2*math.Pi/3 + math.Pi/2
			// Each edge's inward normal points at the centre; the edge lies
			// R/2 from it.
			if u*math.Cos(a)+v*math.Sin(a) > R/2 {
				return false
			}
		}
		return true
	}
}

func randColor(r *rand.Rand) color.RGBA {
	return color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
}

func clamp(v int) uint8 {
	return uint8(min(255, max(0, v)))
}
