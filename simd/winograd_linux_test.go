//go:build linux

package simd

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestWinogradGuardPage runs every tier's Winograd transforms with src and
// dst ending at an inaccessible page (guardPage), each exactly as long as
// WinoTransforms says it must be: In reads its slack and writes n floats
// per row, Out reads whole groups and writes them, and nothing further.
func TestWinogradGuardPage(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	src := guardPage(t, 1<<14)
	dst := guardPage(t, 1<<14)
	for i := range src {
		src[i] = r.Float32()
	}
	for _, tier := range Available() {
		for _, tr := range ForTier(tier).Winograd {
			m, a := tr.M, tr.M+2
			for n := 1; n <= 40; n++ {
				w := m*roundUp(n, winoGroup) + winoGroup
				lds, ldd := w+1, n+2
				tr.In(dst[len(dst)-((a*a-1)*ldd+n):], ldd, src[len(src)-((a-1)*lds+w):], lds, n)
				g := roundUp(n, winoGroup)
				ldd, lds = m*g+3, g+1
				tr.Out(dst[len(dst)-((m-1)*ldd+m*g):], ldd, src[len(src)-((a*a-1)*lds+g):], lds, n)
			}
		}
	}
}

// threadCPU is the calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID):
// unlike the wall clock, it does not count the time other processes take
// the core away, which on a shared machine is most of the noise.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// TestWinogradStudy measures what winoChoose is based on: for each layer
// of winoBenchConvs (and a few with small channel counts), the direct
// convolution, F(2×2) and F(4×4) on one thread, interleaved, with 8 MB
// of other data read between runs (an inference's other layers), as the
// thread's CPU time; it logs the best and median of 40 runs (5 on the
// generic tier) and what PrepareConv chooses. It runs only when
// RUNINFER_WINOGRAD_STUDY is set, to "best" or "generic":
//
//	RUNINFER_WINOGRAD_STUDY=best go test ./simd -run WinogradStudy -v
func TestWinogradStudy(t *testing.T) {
	env := os.Getenv("RUNINFER_WINOGRAD_STUDY")
	if env == "" {
		t.Skip("set RUNINFER_WINOGRAD_STUDY=best or generic to run")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	k, reps := Best(), 40
	if env == "generic" {
		k, reps = ForTier(Generic), 5
	}
	list := slices.Clone(winoBenchConvs)
	for _, c := range []convCase{cc(3, 224, 224, 64, 3, 1, 1), cc(4, 56, 56, 32, 3, 1, 1), cc(8, 56, 56, 8, 3, 1, 1),
		cc(32, 56, 56, 4, 3, 1, 1), cc(16, 14, 14, 16, 3, 1, 1), cc(32, 7, 7, 32, 3, 1, 1), cc(64, 5, 5, 64, 3, 1, 1)} {
		list = append(list, struct {
			name string
			c    convCase
		}{fmt.Sprintf("small/%d-%d@%d", c.C, c.M, c.H), c})
	}
	flush := make([]float32, 2<<20)
	var sink float32
	r := rand.New(rand.NewPCG(1, 2))
	algos := []ConvAlgo{ConvDirect, ConvWinograd2, ConvWinograd4}
	for _, bc := range list {
		c := bc.c
		w, bias := randSlice(r, c.M*c.C*9), randSlice(r, c.M)
		x := randSlice(r, c.C*c.H*c.W)
		y := make([]float32, c.M*c.H*c.W)
		pcs := make([]*PreparedConv, len(algos))
		for i, a := range algos {
			p := c.params()
			p.Algo = a
			var err error
			if pcs[i], err = k.PrepareConv(p, w, bias); err != nil {
				t.Fatal(err)
			}
		}
		auto, err := k.PrepareConv(c.params(), w, bias)
		if err != nil {
			t.Fatal(err)
		}
		times := make([][]time.Duration, len(algos))
		for range reps {
			for i, pc := range pcs {
				for j := 0; j < len(flush); j += 16 {
					sink += flush[j]
				}
				start := threadCPU()
				if err := pc.Run(x, y, nil, Act{Kind: ActRelu}, nil); err != nil {
					t.Fatal(err)
				}
				times[i] = append(times[i], threadCPU()-start)
			}
		}
		line := fmt.Sprintf("%-24s", bc.name)
		for i, a := range algos {
			slices.Sort(times[i])
			line += fmt.Sprintf("  %v %.3f/%.3f ms", a, times[i][0].Seconds()*1e3, times[i][reps/2].Seconds()*1e3)
		}
		choice := "direct"
		if auto.wino != nil {
			choice = fmt.Sprintf("F(%d×%d)", auto.wino.m, auto.wino.m)
		}
		t.Logf("%s  (best/median)  chosen: %s", line, choice)
	}
	_ = sink
}
