//go:build !purego

#include "textflag.h"

// f32-gather-neon: the stride-2 case of the neon tier's Gather, one row:
// dst[i] = src[2i] for n outputs, n a multiple of 4 (the Go wrapper loops
// over rows and does each row's tail). Blocks of 8 outputs load 16 inputs
// (V0..V3) and keep their even lanes with UZP1 (V4, V5); a last block of
// 4 uses V0, V1 and V4. All instructions are Go's own (no WORD encodings).

// func gather2NEONAsm(dst, src *float32, n int)
TEXT ·gather2NEONAsm(SB), NOSPLIT, $0-24
	MOVD	dst+0(FP), R0
	MOVD	src+8(FP), R1
	MOVD	n+16(FP), R2
	LSR	$3, R2, R3 // blocks of 8
	AND	$7, R2, R2
	CBZ	R3, gather4

gather8:
	VLD1.P	64(R1), [V0.S4, V1.S4, V2.S4, V3.S4]
	VUZP1	V1.S4, V0.S4, V4.S4
	VUZP1	V3.S4, V2.S4, V5.S4
	VST1.P	[V4.S4, V5.S4], 32(R0)
	SUBS	$1, R3, R3
	BNE	gather8

gather4:
	CBZ	R2, done // 4 left
	VLD1	(R1), [V0.S4, V1.S4]
	VUZP1	V1.S4, V0.S4, V4.S4
	VST1	[V4.S4], (R0)

done:
	RET
