//go:build amd64 && !purego

package simd

import "github.com/klauspost/cpuid/v2"

// available reports the tiers this CPU supports. cpuid checks that the OS
// saves the AVX and AVX-512 register state (XGETBV), not just that the CPU
// has the instructions.
func available() []Tier {
	tiers := []Tier{Generic}
	if cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
		tiers = append(tiers, AVX2)
		if cpuid.CPU.Supports(cpuid.AVX512F) {
			tiers = append(tiers, AVX512)
		}
	}
	return tiers
}

// upgrade overwrites the slots tier t improves (assembly kernels land here).
func upgrade(t Tier, k *Kernels) {}
