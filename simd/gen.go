package simd

// The amd64 assembly (*_amd64.s) and its Go declarations (the generated
// *_amd64.go beside it) come from the avo program in _gen, which has its own
// go.mod. Regenerate with "go generate ./simd"; CI checks that doing so
// changes nothing.

//go:generate go run -C _gen . -out ..
