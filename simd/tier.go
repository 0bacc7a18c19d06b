package simd

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// Tier is an instruction-set level.
type Tier int

// Tiers in ascending order of preference on their architecture.
const (
	Generic Tier = iota
	NEON
	AVX2
	AVX512
)

var tierNames = map[Tier]string{Generic: "generic", NEON: "neon", AVX2: "avx2", AVX512: "avx512"}

func (t Tier) String() string {
	if s, ok := tierNames[t]; ok {
		return s
	}
	return fmt.Sprintf("tier(%d)", int(t))
}

// ParseTier maps a tier name to a Tier.
func ParseTier(s string) (Tier, error) {
	for t, name := range tierNames {
		if strings.EqualFold(s, name) {
			return t, nil
		}
	}
	return Generic, fmt.Errorf("unknown SIMD tier %q (want generic, avx2, avx512 or neon)", s)
}

// Available lists the tiers this CPU and build support, generic first.
func Available() []Tier { return available() }

// Supported reports whether tier t can run here.
func Supported(t Tier) bool {
	for _, a := range available() {
		if a == t {
			return true
		}
	}
	return false
}

var (
	bestOnce sync.Once
	best     *Kernels
	bestErr  error
)

// Best returns the kernel table of the best available tier, lowered by
// RUNINFER_SIMD when set. It is computed once per process.
func Best() *Kernels {
	bestOnce.Do(func() {
		tiers := available()
		top := tiers[len(tiers)-1]
		if env := os.Getenv("RUNINFER_SIMD"); env != "" {
			want, err := ParseTier(env)
			switch {
			case err != nil:
				bestErr = fmt.Errorf("RUNINFER_SIMD: %w; using %s", err, top)
			case !Supported(want):
				bestErr = fmt.Errorf("RUNINFER_SIMD=%s is not available on this CPU (have %v); using %s", env, tiers, top)
			default:
				top = want
			}
		}
		best = ForTier(top)
	})
	return best
}

// BestWarning reports a problem with RUNINFER_SIMD, if any (Best falls back
// to the best tier and carries on).
func BestWarning() error { Best(); return bestErr }

// ForTier returns the kernel table of tier t, which must be Supported; an
// unsupported tier yields the generic table.
func ForTier(t Tier) *Kernels {
	if !Supported(t) {
		t = Generic
	}
	tablesOnce.Do(buildTables)
	return tables[t]
}

var (
	tablesOnce sync.Once
	tables     map[Tier]*Kernels
)

// buildTables fills each available tier's table in ascending order: every
// tier starts as a copy of the one below and overwrites what it improves.
func buildTables() {
	tables = map[Tier]*Kernels{}
	prev := genericKernels()
	tables[Generic] = prev
	for _, t := range available()[1:] {
		k := *prev
		k.Tier = t
		upgrade(t, &k)
		tables[t] = &k
		prev = &k
	}
}
