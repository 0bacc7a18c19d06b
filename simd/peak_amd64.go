//go:build amd64 && !purego

package simd

// peakLoop returns tier t's register-only FMA loop, or nil for the portable
// scalar loop. The loop runs n iterations and returns the FLOPs done.
func peakLoop(t Tier) func(n int) (flops int) {
	switch t {
	case AVX2:
		return f32FMAPeakAVX2Asm
	case AVX512:
		return f32FMAPeakAVX512Asm
	}
	return nil
}
