// Command _gen generates runinfer's amd64 assembly kernels (package simd)
// with avo. Each kernel ID becomes a pair of files named after it, e.g.
// f32_gemm_6x16_avx2_amd64.s and its Go declarations
// f32_gemm_6x16_avx2_amd64.go, both built with amd64 && !purego.
//
// Run it through go generate (simd/gen.go):
//
//	go generate ./simd
//
// which runs "cd _gen && go run . -out ..". The output depends only on this
// program and avo's version (pinned in go.mod), never on how it was
// invoked, so CI can regenerate and diff.
//
// With -explore, it instead writes the GEMM tile variants compared when the
// shipped tile sizes were chosen, with a test and benchmark for them
// (f32_gemm_explore_*), into the -out directory; a later plain run removes
// them again. See README.md here.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/buildtags"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
)

// unit is one generated file pair.
type unit struct {
	base string // file name without "_amd64.s" / "_amd64.go"
	gen  func(c *build.Context)
}

// shipped lists the kernels the simd package uses.
var shipped = []unit{
	{"f32_gemm_6x16_avx2", func(c *build.Context) { gemm(c, avx2Gemm) }},
	{"f32_gemm_" + avx512Gemm.shape() + "_avx512", func(c *build.Context) { gemm(c, avx512Gemm) }},
	{"f32_biasact_avx2", func(c *build.Context) { biasAct(c, avx2) }},
	{"f32_biasact_avx512", func(c *build.Context) { biasAct(c, avx512) }},
	{"f32_scalebias_avx2", func(c *build.Context) { scaleBias(c, avx2) }},
	{"f32_scalebias_avx512", func(c *build.Context) { scaleBias(c, avx512) }},
	{"f32_addto_avx2", func(c *build.Context) { addTo(c, avx2) }},
	{"f32_addto_avx512", func(c *build.Context) { addTo(c, avx512) }},
	{"f32_dwconv_avx2", func(c *build.Context) { dwconv(c, avx2) }},
	{"f32_dwconv_avx512", func(c *build.Context) { dwconv(c, avx512) }},
	{"f32_gather_avx2", func(c *build.Context) { gather(c, avx2, 1); gather(c, avx2, 2) }},
	{"f32_gather_avx512", func(c *build.Context) { gather(c, avx512, 1); gather(c, avx512, 2) }},
	{"f32_dwrows_avx2", dwrowsUnit(avx2)},
	{"f32_dwrows_avx512", dwrowsUnit(avx512)},
	{"f32_dw3x3_avx512", func(c *build.Context) { dw3x3(c, dwrowsTable(c, avx512)) }},
	{"f32_fmapeak_avx2", func(c *build.Context) { fmaPeak(c, avx2) }},
	{"f32_fmapeak_avx512", func(c *build.Context) { fmaPeak(c, avx512) }},
	{"f32_wino_avx2", winoUnit(avx2)},
	{"f32_wino_avx512", winoUnit(avx512)},
	{"f32_pool2d_avx2", func(c *build.Context) { pools(c, avx2) }},
	{"f32_pool2d_avx512", func(c *build.Context) { pools(c, avx512) }},
	{"f32_gemv_4xm_avx2", func(c *build.Context) { gemvs(c, avx2Gemvs) }},
	{"f32_gemv_4xm_avx512", func(c *build.Context) { gemvs(c, avx512Gemvs) }},
}

func main() {
	log.SetFlags(0)
	log.SetPrefix("simd/_gen: ")
	// avo's build package registers its own flags on flag.CommandLine;
	// this program has its own set.
	fs := flag.NewFlagSet("simd/_gen", flag.ExitOnError)
	out := fs.String("out", "..", "directory to write the generated files into (the simd package)")
	explore := fs.Bool("explore", false, "write only the GEMM tile variants (f32_gemm_explore_amd64.*) for benchmarking")
	fs.Parse(os.Args[1:]) // ExitOnError: never returns an error

	units := shipped
	if *explore {
		units = []unit{{"f32_gemm_explore", exploreGemms}}
	}
	made := map[string]bool{}
	for _, u := range units {
		if err := generate(*out, u); err != nil {
			log.Fatalf("%s: %v", u.base, err)
		}
		made[u.base+"_amd64.s"], made[u.base+"_amd64.go"] = true, true
	}
	if !*explore {
		if err := removeStale(*out, made); err != nil {
			log.Fatal(err)
		}
	}
	if *explore {
		for name, src := range map[string][]byte{
			"f32_gemm_explore_table_amd64.go": exploreTable(),
			"f32_gemm_explore_amd64_test.go":  exploreTest(),
		} {
			if err := writeIfChanged(filepath.Join(*out, name), src); err != nil {
				log.Fatal(err)
			}
		}
	}
}

// exploreTable is a Go file listing the exploration variants as
// GemmKernels (wrapped in the simd package's checks) with their tiers.
func exploreTable() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// %s\n\n//go:build amd64 && !purego\n\npackage simd\n\n", cfg.GeneratedWarning())
	b.WriteString("// ExploreKernels are the GEMM tile variants of _gen -explore, for\n")
	b.WriteString("// f32_gemm_explore_amd64_test.go. Never committed.\n")
	b.WriteString("var ExploreKernels = []struct {\n\tTier Tier\n\tKernel GemmKernel\n}{\n")
	for _, g := range exploreSpecs {
		fmt.Fprintf(&b, "\t{%s, asmGemm(%q, %d, %d, %s)},\n", g.s.ident, g.variantName(), g.mr, g.nr(), g.variantName())
	}
	b.WriteString("}\n")
	return gofmt(b.Bytes())
}

// exploreTest is the test and benchmark of the exploration variants: the
// same correctness check (tileCheck) and timing (benchTile) as the shipped
// kernels get.
func exploreTest() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// %s\n\n//go:build amd64 && !purego\n\npackage simd_test\n\n", cfg.GeneratedWarning())
	b.WriteString(`import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/runinfer/runinfer/simd"
)

func TestExplore(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, e := range simd.ExploreKernels {
		if !simd.Supported(e.Tier) {
			continue
		}
		g := e.Kernel
		for _, k := range tileKs {
			for _, acc := range []bool{false, true} {
				a, b, c0 := tileRandom(rng, k*g.MR), tileRandom(rng, k*g.NR), tileRandom(rng, g.MR*g.NR)
				tileCheck(t, fmt.Sprintf("%s k=%d acc=%v", g.ID, k, acc), g, k, a, b, c0, g.NR+3, acc)
			}
		}
	}
}

// BenchmarkExplore/<variant>/k=<k> is BenchmarkGemmKernel for each variant;
// <variant>/stream/k=<k> is BenchmarkGemmKernelStream.
func BenchmarkExplore(b *testing.B) {
	for _, e := range simd.ExploreKernels {
		if !simd.Supported(e.Tier) {
			continue
		}
		g := e.Kernel
		for _, k := range []int{64, 192, 256, 576, 1152, 2304} {
			b.Run(fmt.Sprintf("%s/k=%d", g.ID, k), func(b *testing.B) { benchTile(b, e.Tier, g, k, 1) })
		}
		for _, k := range []int{192, 384} {
			panels := max(1, (384<<10)/(4*k*g.MR))
			b.Run(fmt.Sprintf("%s/stream/k=%d", g.ID, k), func(b *testing.B) { benchTile(b, e.Tier, g, k, panels) })
		}
	}
}
`)
	return gofmt(b.Bytes())
}

func gofmt(src []byte) []byte {
	out, err := format.Source(src)
	if err != nil {
		log.Fatal(err)
	}
	return out
}

// cfg names the generator in the "Code generated" header. It is fixed (not
// taken from os.Args) so the output is reproducible byte for byte.
var cfg = printer.Config{Name: "simd/_gen (go generate ./simd)", Pkg: "simd"}

func generate(dir string, u unit) error {
	c := build.NewContext()
	c.Constraint(buildtags.Term("amd64"))
	c.Constraint(buildtags.Not("purego"))
	u.gen(c)
	f, err := c.Result()
	if err != nil {
		return err
	}
	if err := pass.Compile.Execute(f); err != nil {
		return err
	}
	asm, err := printer.NewGoAsm(cfg).Print(f)
	if err != nil {
		return err
	}
	stubs, err := printer.NewStubs(cfg).Print(f)
	if err != nil {
		return err
	}
	if err := writeIfChanged(filepath.Join(dir, u.base+"_amd64.s"), asm); err != nil {
		return err
	}
	return writeIfChanged(filepath.Join(dir, u.base+"_amd64.go"), stubs)
}

// removeStale deletes files in dir that this program generated earlier
// (they start with its header) but no longer does, such as a kernel whose
// tile changed.
func removeStale(dir string, made map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	header := []byte("// " + cfg.GeneratedWarning() + "\n")
	for _, e := range entries {
		name := e.Name()
		if made[name] || !e.Type().IsRegular() || !(strings.HasSuffix(name, "_amd64.s") || strings.HasSuffix(name, "_amd64.go") || strings.HasSuffix(name, "_amd64_test.go")) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if bytes.HasPrefix(data, header) {
			log.Printf("removing %s (no longer generated)", name)
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeIfChanged leaves an identical file alone, so regenerating does not
// touch modification times (and rebuilds) needlessly.
func writeIfChanged(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
