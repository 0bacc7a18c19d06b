package main

import (
	"fmt"
	"io"
	goruntime "runtime"
	"strings"

	"github.com/klauspost/cpuid/v2"

	"github.com/runinfer/runinfer/simd"
)

// defaultThreads is the thread count of a run that does not set one.
func defaultThreads() int { return goruntime.GOMAXPROCS(0) }

// cpuFeature is one CPU feature runinfer's kernels care about.
type cpuFeature struct {
	name string
	id   cpuid.FeatureID
}

// cpuFeatures lists the features relevant to the kernel tiers of each
// architecture, spelled as golang.org/x/sys/cpu spells them.
var cpuFeatures = map[string][]cpuFeature{
	"amd64": {
		{"AVX2", cpuid.AVX2}, {"FMA3", cpuid.FMA3},
		{"AVX512F", cpuid.AVX512F}, {"AVX512BW", cpuid.AVX512BW},
		{"AVX512VL", cpuid.AVX512VL}, {"AVX512VNNI", cpuid.AVX512VNNI},
	},
	"arm64": {{"ASIMD", cpuid.ASIMD}},
}

// writeCPU prints the CPU, the features that decide the kernel tier, the
// tiers available, and the tier in force (simd.Best(), which honours
// RUNINFER_SIMD), with any warning about RUNINFER_SIMD.
func writeCPU(w io.Writer) {
	brand := strings.TrimSpace(cpuid.CPU.BrandName)
	if brand == "" {
		brand = "(unknown)"
	}
	fmt.Fprintf(w, "cpu:       %s\n", brand)
	fmt.Fprintf(w, "arch:      %s, %d logical cores, GOMAXPROCS %d\n", goruntime.GOARCH, goruntime.NumCPU(), goruntime.GOMAXPROCS(0))
	if feats, ok := cpuFeatures[goruntime.GOARCH]; ok {
		var parts []string
		for _, f := range feats {
			mark := "no"
			if cpuid.CPU.Supports(f.id) {
				mark = "yes"
			}
			parts = append(parts, f.name+" "+mark)
		}
		fmt.Fprintf(w, "features:  %s\n", strings.Join(parts, ", "))
	}
	var avail []string
	for _, t := range simd.Available() {
		avail = append(avail, t.String())
	}
	fmt.Fprintf(w, "tiers:     %s\n", strings.Join(avail, ", "))
	k := simd.Best()
	fmt.Fprintf(w, "gemm:      %s\n", k.Gemm.ID)
	if err := simd.BestWarning(); err != nil {
		fmt.Fprintf(w, "warning:   %v\n", err)
	}
	fmt.Fprintf(w, "tier: %s\n", k.Tier)
}
