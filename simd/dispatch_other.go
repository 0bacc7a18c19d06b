//go:build (!amd64 && !arm64) || purego

package simd

func available() []Tier { return []Tier{Generic} }

func upgrade(t Tier, k *Kernels) {}
