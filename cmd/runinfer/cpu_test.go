package main

import (
	goruntime "runtime"
	"strings"
	"testing"

	"github.com/runinfer/runinfer/simd"
)

func TestInfoCPUNamesTheTierInForce(t *testing.T) {
	stdout, stderr, code := cli(t, "info", "--cpu")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "\ntier: "+simd.Best().Tier.String()+"\n") {
		t.Errorf("no line naming tier %s:\n%s", simd.Best().Tier, stdout)
	}
	if !strings.HasPrefix(stdout, "cpu: ") {
		t.Errorf("first line should name the CPU:\n%s", stdout)
	}
	want := map[string][]string{
		"amd64": {"AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512VL", "AVX512VNNI"},
		"arm64": {"ASIMD"},
	}[goruntime.GOARCH]
	for _, f := range want {
		if !strings.Contains(stdout, f+" yes") && !strings.Contains(stdout, f+" no") {
			t.Errorf("feature %s not reported:\n%s", f, stdout)
		}
	}
	_, stderr, code = cli(t, "info", "--cpu", "model.onnx")
	expectExit(t, code, exitUsage, stderr, "--cpu")
}
