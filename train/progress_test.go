package train

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressPlainLines(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b)
	if p.tty {
		t.Fatal("a buffer taken for a terminal")
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	p.Now = func() time.Time { return now }
	st := ProgressState{Epoch: 1, Epochs: 3, Steps: 10, Since: t0}
	for i := 1; i <= 10; i++ {
		now = t0.Add(time.Duration(i) * 2 * time.Second)
		st.Step, st.StepsSince, st.Images = i, i, 8*i
		st.Loss, st.Accuracy = 1/float64(i), 0.5
		st.StepsLeft = 20
		p.Update(st)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	// At 2 s per step: a line when 10 s have passed (steps 1, 6); the end
	// of the epoch is left to Done.
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), b.String())
	}
	if strings.Contains(b.String(), "\r") {
		t.Error("carriage return in plain output")
	}
	// Step 6: 48 images in 12 s = 4 img/s; 4 steps left at 2 s = 0:08;
	// the run has 20 more: 0:48.
	want := "epoch 1/3 [==============>         ] 6/10 loss 0.1667 acc  50.0% 4.0 img/s ETA 0:08 (run 0:48)"
	if lines[1] != want {
		t.Errorf("line\n%q, want\n%q", lines[1], want)
	}
	if !strings.HasPrefix(lines[0], "epoch 1/3 [==>                     ] 1/10 loss 1.0000") {
		t.Errorf("first line %q", lines[0])
	}
	p.Done(EpochStats{Epoch: 0, TrainLoss: 0.1, TrainAccuracy: 0.5, ValAccuracy: 0.75, ValImages: 4, ValLoss: 0.2, ImagesPerSec: 4, Seconds: 20}, 3)
	if !strings.HasSuffix(b.String(), "epoch 1/3: loss 0.1000, train accuracy 50.0%, validation accuracy 75.0% (4 images, loss 0.2000), 4.0 img/s, 0:20\n") {
		t.Errorf("summary: %q", b.String())
	}
}

func TestProgressTerminalRedrawsInPlace(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b)
	p.tty, p.Interval = true, 0 // as on a terminal
	t0 := time.Now()
	p.Now = func() time.Time { return t0.Add(time.Second) }
	p.Update(ProgressState{Epoch: 1, Epochs: 1, Step: 1, Steps: 2, Since: t0, Images: 4, StepsSince: 1})
	p.Message("hello")
	p.Update(ProgressState{Epoch: 1, Epochs: 1, Step: 2, Steps: 2, Since: t0, Images: 8, StepsSince: 2})
	p.Done(EpochStats{}, 1)
	out := b.String()
	if !strings.HasPrefix(out, "\repoch 1/1 ") || !strings.Contains(out, "\x1b[K\nhello\n\repoch 1/1") || !strings.Contains(out, "\r\x1b[Kepoch 1/1: loss") {
		t.Errorf("terminal output %q", out)
	}
	var nilP *Progress
	nilP.Update(ProgressState{})
	nilP.Message("x")
	NewProgress(nil).Done(EpochStats{}, 1)
}

func TestClock(t *testing.T) {
	for sec, want := range map[float64]string{0: "0:00", 59.4: "0:59", 61: "1:01", 3600: "1:00:00", 3725: "1:02:05", -1: "?"} {
		if got := clock(sec); got != want {
			t.Errorf("clock(%g) = %q, want %q", sec, got, want)
		}
	}
}
