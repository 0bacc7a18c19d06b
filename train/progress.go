package train

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"
)

// Progress draws a training progress bar: on a terminal one line redrawn in
// place (carriage return), elsewhere (a log file, a pipe) plain lines at a
// calm pace (at most one every ten seconds), and a summary line at the end
// of each epoch.
type Progress struct {
	w   io.Writer
	tty bool
	// Now is the clock (time.Now unless a test sets it).
	Now func() time.Time
	// Interval is the least time between two redraws (100 ms on a
	// terminal, 10 s otherwise).
	Interval time.Duration

	last  time.Time
	drawn bool // a terminal line is open
}

// IsTerminal reports whether w is a terminal (a character device).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// NewProgress returns a progress bar writing to w (nil: nothing is
// written). Whether w is a terminal decides the style.
func NewProgress(w io.Writer) *Progress {
	p := &Progress{w: w, tty: w != nil && IsTerminal(w), Now: time.Now}
	p.Interval = 10 * time.Second
	if p.tty {
		p.Interval = 100 * time.Millisecond
	}
	return p
}

// ProgressState is what the bar shows.
type ProgressState struct {
	// Epoch (from 1) of Epochs.
	Epoch, Epochs int
	// Step batches of Steps done in this epoch.
	Step, Steps int
	// Loss is the running mean of the training loss over the epoch and
	// Accuracy the running training accuracy (0..1).
	Loss, Accuracy float64
	// Images and StepsSince are the images and steps trained since Since
	// (the start of this epoch, or the resume point), for the speed and
	// the ETA.
	Images, StepsSince int
	Since              time.Time
	// StepsLeft is the number of steps left in the whole run after this
	// epoch's, for the run's ETA (0: none).
	StepsLeft int
}

// Update redraws the bar (subject to Interval; the last step of an epoch is
// always drawn).
func (p *Progress) Update(s ProgressState) {
	if p == nil || p.w == nil {
		return
	}
	now := p.Now()
	// A terminal always shows the end of an epoch; a log gets the
	// summary line of Done instead.
	if (s.Step < s.Steps || !p.tty) && now.Sub(p.last) < p.Interval {
		return
	}
	p.last = now
	line := p.format(s, now)
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// format renders one state.
func (p *Progress) format(s ProgressState, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "epoch %d/%d ", s.Epoch, s.Epochs)
	const width = 24
	fill := 0
	if s.Steps > 0 {
		fill = min(width, s.Step*width/s.Steps)
	}
	b.WriteString("[" + strings.Repeat("=", fill))
	if fill < width {
		b.WriteString(">" + strings.Repeat(" ", width-fill-1))
	}
	fmt.Fprintf(&b, "] %d/%d loss %.4f acc %5.1f%%", s.Step, s.Steps, s.Loss, 100*s.Accuracy)
	el := now.Sub(s.Since).Seconds()
	if s.Images > 0 && el > 0 {
		rate := float64(s.Images) / el
		fmt.Fprintf(&b, " %.1f img/s", rate)
		perStep := el / float64(max(1, s.StepsSince))
		left := float64(s.Steps - s.Step)
		if left > 0 {
			fmt.Fprintf(&b, " ETA %s", clock(left*perStep))
		}
		if s.StepsLeft > 0 {
			fmt.Fprintf(&b, " (run %s)", clock((left+float64(s.StepsLeft))*perStep))
		}
	}
	return b.String()
}

// Done ends the epoch's bar with a summary line.
func (p *Progress) Done(st EpochStats, epochs int) {
	if p == nil || p.w == nil {
		return
	}
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
	line := fmt.Sprintf("epoch %d/%d: loss %.4f, train accuracy %.1f%%", st.Epoch+1, epochs, st.TrainLoss, 100*st.TrainAccuracy)
	if st.ValImages > 0 {
		line += fmt.Sprintf(", validation accuracy %.1f%% (%d images, loss %.4f)", 100*st.ValAccuracy, st.ValImages, st.ValLoss)
	}
	line += fmt.Sprintf(", %.1f img/s, %s", st.ImagesPerSec, clock(st.Seconds))
	fmt.Fprintln(p.w, line)
}

// Message prints a line, closing an open terminal bar first.
func (p *Progress) Message(format string, a ...any) {
	if p == nil || p.w == nil {
		return
	}
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
	fmt.Fprintf(p.w, format+"\n", a...)
}

// clock formats seconds as m:ss or h:mm:ss.
func clock(sec float64) string {
	if math.IsNaN(sec) || math.IsInf(sec, 0) || sec < 0 {
		return "?"
	}
	s := int(sec + 0.5)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
