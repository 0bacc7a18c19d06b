//go:build arm64 && !purego

package simd

// available reports the tiers this CPU supports: ASIMD (NEON) is mandatory
// on arm64.
func available() []Tier { return []Tier{Generic, NEON} }

// upgrade overwrites the slots tier t improves (assembly kernels land here).
func upgrade(t Tier, k *Kernels) {
	if t == NEON {
		k.Gemm = GemmKernel{ID: "f32-gemm-8x8-neon", MR: 8, NR: 8, Fn: gemm8x8NEON}
		k.BiasAct = biasActNEON
		k.AddTo = addToNEON
		k.DWConv = dwConvNEON
		k.Gather = gatherNEON
		k.MaxPool2D = maxPool2DNEON
		k.AvgPool2D = avgPool2DNEON
		k.Gemv = gemvNEON
	}
}
