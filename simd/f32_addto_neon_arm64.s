//go:build !purego

#include "textflag.h"

// The AddTo epilogue of the neon tier: dst[i] += src[i] for n floats, n a
// multiple of 4 (the Go wrapper does the tail). Go's assembler has no vector
// FADD, so it is encoded with WORD; each comment gives the instruction in
// Arm syntax.

// func addToNEONAsm(dst, src *float32, n int)
TEXT ·addToNEONAsm(SB), NOSPLIT, $0-24
	MOVD	dst+0(FP), R0
	MOVD	src+8(FP), R1
	MOVD	n+16(FP), R2
	LSR	$4, R2, R3 // blocks of 16
	AND	$15, R2, R2
	CBZ	R3, add4

add16:
	VLD1	(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P	64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]
	WORD	$0x4e24d400	// fadd v0.4s, v0.4s, v4.4s
	WORD	$0x4e25d421	// fadd v1.4s, v1.4s, v5.4s
	WORD	$0x4e26d442	// fadd v2.4s, v2.4s, v6.4s
	WORD	$0x4e27d463	// fadd v3.4s, v3.4s, v7.4s
	VST1.P	[V0.S4, V1.S4, V2.S4, V3.S4], 64(R0)
	SUBS	$1, R3, R3
	BNE	add16

add4:
	LSR	$2, R2, R3 // blocks of 4
	CBZ	R3, done

add4loop:
	VLD1	(R0), [V0.S4]
	VLD1.P	16(R1), [V4.S4]
	WORD	$0x4e24d400	// fadd v0.4s, v0.4s, v4.4s
	VST1.P	[V0.S4], 16(R0)
	SUBS	$1, R3, R3
	BNE	add4loop

done:
	RET
