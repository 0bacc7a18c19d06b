package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/runinfer/runinfer/imageprep"
	"github.com/runinfer/runinfer/models/digits"
	"github.com/runinfer/runinfer/onnx"
)

// TestGenWritesAModelAndSamples runs a tiny training (two epochs of 1600
// images): the loss must fall, and the model and samples must be written
// with the metadata classification reads.
func TestGenWritesAModelAndSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for 200 steps; skipped with -short")
	}
	dir := t.TempDir()
	c := config{out: filepath.Join(dir, "d.onnx"), samples: filepath.Join(dir, "s"), seed: 3, testSeed: 9,
		epochs: 2, n: 1600, testN: 200, batch: 32, lr: 3e-3, wd: 1e-4, warmup: 0.5, threads: 1, renderWorkers: 1}
	var out bytes.Buffer
	if err := run(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	rows := regexp.MustCompile(`(?m)^\s+(\d)\s+([0-9.]+)\s`).FindAllStringSubmatch(out.String(), -1)
	if len(rows) != 2 {
		t.Fatalf("want 2 epoch lines:\n%s", out.String())
	}
	l1, _ := strconv.ParseFloat(rows[0][2], 64)
	l2, _ := strconv.ParseFloat(rows[1][2], 64)
	if !(l2 < l1 && l1 < 2.4) {
		t.Errorf("loss %g then %g: want it below ln 10 and falling", l1, l2)
	}
	acc := regexp.MustCompile(`held-out accuracy of .*: ([0-9.]+)%`).FindStringSubmatch(out.String())
	if acc == nil {
		t.Fatalf("no held-out accuracy in:\n%s", out.String())
	}
	if a, _ := strconv.ParseFloat(acc[1], 64); a < 25 {
		t.Errorf("held-out accuracy %g%% after 3200 images: want well above chance (10%%)", a)
	}
	m, err := onnx.Load(c.out)
	if err != nil {
		t.Fatal(err)
	}
	if prep, ok, err := imageprep.FromMetadata(m.Metadata); err != nil || !ok || len(prep.Labels) != 10 || prep.Preset != imageprep.PresetUnit {
		t.Errorf("metadata %v: %+v, %v, %v", m.Metadata, prep, ok, err)
	}
	for d := range digits.Classes {
		if _, err := os.Stat(filepath.Join(c.samples, strconv.Itoa(d)+".png")); err != nil {
			t.Errorf("sample %d: %v", d, err)
		}
	}
}

func TestGenRejectsBadFlags(t *testing.T) {
	good := config{out: filepath.Join(t.TempDir(), "d.onnx"), epochs: 1, n: 64, testN: 10, batch: 64, lr: 1e-3, threads: 1}
	for _, mod := range []func(*config){
		func(c *config) { c.epochs = 0 },
		func(c *config) { c.n = 10 },
		func(c *config) { c.batch = 0 },
		func(c *config) { c.lr = -1 },
		func(c *config) { c.testN = 0 },
		func(c *config) { c.threads = -1 },
		func(c *config) { c.n = digits.MaxSetSize + 1 },
	} {
		c := good
		mod(&c)
		if err := run(context.Background(), c, &bytes.Buffer{}); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}
