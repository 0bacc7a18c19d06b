package main

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// TestShapesDiffer checks each class's mask has the intended area (π for
// the circle and the square, 3√3/4·1.2² for the triangle) by sampling, so
// the classes differ in shape, not in size.
func TestShapesDiffer(t *testing.T) {
	want := []float64{math.Pi, math.Pi, 3 * math.Sqrt(3) / 4 * 1.44}
	const n = 400
	for c, w := range want {
		in := 0
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				u := -1.5 + 3*(float64(i)+0.5)/n
				v := -1.5 + 3*(float64(j)+0.5)/n
				if inside(c, u, v) {
					in++
				}
			}
		}
		area := float64(in) * 9 / (n * n)
		if math.Abs(area-w) > 0.02*w {
			t.Errorf("class %s: area %.4f, want %.4f", Classes[c], area, w)
		}
	}
}

func TestRunWritesFolders(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir, 2, 32, 3); err != nil {
		t.Fatal(err)
	}
	for _, c := range Classes {
		ents, err := os.ReadDir(filepath.Join(dir, c))
		if err != nil || len(ents) != 2 {
			t.Errorf("%s: %d files, %v", c, len(ents), err)
		}
	}
	for _, bad := range []struct {
		n, size int
	}{{0, 32}, {2, 8}, {2, 5000}} {
		if err := run(dir, bad.n, bad.size, 1); err == nil {
			t.Errorf("run(n=%d, size=%d) accepted", bad.n, bad.size)
		}
	}
	if err := run("", 2, 32, 1); err == nil {
		t.Error("run without -o accepted")
	}
}

func TestRenderDeterministic(t *testing.T) {
	a := Render(rand.New(rand.NewPCG(5, 5)), 2, 24)
	b := Render(rand.New(rand.NewPCG(5, 5)), 2, 24)
	for i := range a.Pix {
		if a.Pix[i] != b.Pix[i] {
			t.Fatal("same seed, different images")
		}
	}
}
