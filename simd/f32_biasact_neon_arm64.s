//go:build !purego

#include "textflag.h"

// The BiasAct epilogues of the neon tier: x[i] = act(x[i] + bias) for n
// floats, n a multiple of 4 (the Go wrapper does the tail). Blocks of 16
// use V4..V7 for data, V8..V15 for masks and products; blocks of 4 use V4.
// V0 holds bias, V1 alpha (lo), V2 beta (hi), V3 zero. Go's assembler has no
// vector FADD, FMUL, FCMGT or FCMLT, so those are encoded with WORD; each
// comment gives the instruction in Arm syntax. Selections use compare masks
// and BIT, never FMAX/FMIN, so signed zeros, NaNs and lo > hi behave exactly
// as in Act.Apply.

// func biasNoneNEON(x *float32, n int, bias float32)
TEXT ·biasNoneNEON(SB), NOSPLIT, $0-20
	MOVD	x+0(FP), R0
	MOVD	n+8(FP), R1
	FMOVS	bias+16(FP), F0
	VDUP	V0.S[0], V0.S4
	LSR	$4, R1, R2 // blocks of 16
	AND	$15, R1, R1
	CBZ	R2, biasNoneNEON_4

biasNoneNEON_16:
	VLD1	(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	WORD	$0x4e20d484	// fadd v4.4s, v4.4s, v0.4s
	WORD	$0x4e20d4a5	// fadd v5.4s, v5.4s, v0.4s
	WORD	$0x4e20d4c6	// fadd v6.4s, v6.4s, v0.4s
	WORD	$0x4e20d4e7	// fadd v7.4s, v7.4s, v0.4s
	VST1.P	[V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)
	SUBS	$1, R2, R2
	BNE	biasNoneNEON_16

biasNoneNEON_4:
	LSR	$2, R1, R2 // blocks of 4
	CBZ	R2, biasNoneNEON_done

biasNoneNEON_4loop:
	VLD1	(R0), [V4.S4]
	WORD	$0x4e20d484	// fadd v4.4s, v4.4s, v0.4s
	VST1.P	[V4.S4], 16(R0)
	SUBS	$1, R2, R2
	BNE	biasNoneNEON_4loop

biasNoneNEON_done:
	RET

// func biasReluNEON(x *float32, n int, bias float32)
TEXT ·biasReluNEON(SB), NOSPLIT, $0-20
	MOVD	x+0(FP), R0
	MOVD	n+8(FP), R1
	FMOVS	bias+16(FP), F0
	VDUP	V0.S[0], V0.S4
	VEOR	V3.B16, V3.B16, V3.B16
	LSR	$4, R1, R2 // blocks of 16
	AND	$15, R1, R1
	CBZ	R2, biasReluNEON_4

biasReluNEON_16:
	VLD1	(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	WORD	$0x4e20d484	// fadd v4.4s, v4.4s, v0.4s
	WORD	$0x4e20d4a5	// fadd v5.4s, v5.4s, v0.4s
	WORD	$0x4e20d4c6	// fadd v6.4s, v6.4s, v0.4s
	WORD	$0x4e20d4e7	// fadd v7.4s, v7.4s, v0.4s
	WORD	$0x4ea0e888	// fcmlt v8.4s, v4.4s, #0.0
	VBIT	V8.B16, V3.B16, V4.B16 // x = 0 where x < 0
	WORD	$0x4ea0e8a9	// fcmlt v9.4s, v5.4s, #0.0
	VBIT	V9.B16, V3.B16, V5.B16 // x = 0 where x < 0
	WORD	$0x4ea0e8ca	// fcmlt v10.4s, v6.4s, #0.0
	VBIT	V10.B16, V3.B16, V6.B16 // x = 0 where x < 0
	WORD	$0x4ea0e8eb	// fcmlt v11.4s, v7.4s, #0.0
	VBIT	V11.B16, V3.B16, V7.B16 // x = 0 where x < 0
	VST1.P	[V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)
	SUBS	$1, R2, R2
	BNE	biasReluNEON_16

biasReluNEON_4:
	LSR	$2, R1, R2 // blocks of 4
	CBZ	R2, biasReluNEON_done

biasReluNEON_4loop:
	VLD1	(R0), [V4.S4]
	WORD	$0x4e20d484	// fadd v4.4s, v4.4s, v0.4s
	WORD	$0x4ea0e888	// fcmlt v8.4s, v4.4s, #0.0
	VBIT	V8.B16, V3.B16, V4.B16 // x = 0 where x < 0
	VST1.P	[V4.S4], 16(R0)
	SUBS	$1, R2, R2
	BNE	biasReluNEON_4loop

biasReluNEON_done:
	RET

// func biasClipNEON(x *float32, n int, bias, lo, hi float32)
TEXT ·biasClipNEON(SB), NOSPLIT, $0-28
	MOVD	x+0(FP), R0
	MOVD	n+8(FP), R1
	FMOVS	bias+16(FP), F0
	VDUP	V0.S[0], V0.S4
	FMOVS	lo+20(FP), F1
	VDUP	V1.S[0], V1.S4
	FMOVS	hi+24(FP), F2
	VDUP	V2.S[0], V2.S4
	LSR	$4, R1, R2 // blocks of 16
	AND	$15, R1, R1
	CBZ	R2, biasClipNEON_4

biasClipNEON_16:
	VLD1	(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	WORD	$0x4e20d484	// fadd v4.4s, v4.4s, v0.4s
	WORD	$0x4e20d4a5	// fadd v5.4s, v5.4s, v0.4s
	WORD	$0x4e20d4c6	// fadd v6.4s, v6.4s, v0.4s
	WORD	$0x4e20d4e7	// fadd v7.4s, v7.4s, v0.4s
	WORD	$0x6ea2e488	// fcmgt v8.4s, v4.4s, v2.4s
	WORD	$0x6ea4e42c	// fcmgt v12.4s, v1.4s, v4.4s
	VBIT	V8.B16, V2.B16, V4.B16 // x = hi where x > hi
	VBIT	V12.B16, V1.B16, V4.B16 // x = lo where x < lo (applied last: Act.Apply tests lo first)
	WORD	$0x6ea2e4a9	// fcmgt v9.4s, v5.4s, v2.4s
	WORD	$0x6ea5e42d	// fcmgt v13.4s, v1.4s, v5.4s
	VBIT	V9.B16, V2.B16, V5.B16 // x = hi where x > hi
	VBIT	V13.B16, V1.B16, V5.B16 // x = lo where x < lo (applied last: Act.Apply tests lo first)
	WORD	$0x6ea2e4ca	// fcmgt v10.4s, v6.4s, v2.4s
	WORD	$0x6ea6e42e	// fcmgt v14.4s, v1.4s, v6.4s
	VBIT	V10.B16, V2.B16, V6.B16 // x = hi where x > hi
	VBIT	V14.B16, V1.B16, V6.B16 // x = lo where x < lo (applied last: Act.Apply tests lo first)
	WORD	$0x6ea2e4eb	// fcmgt v11.4s, v7.4s, v2.4s
	WORD	$0x6ea7e42f	// fcmgt v15.4s, v1.4s, v7.4s
	VBIT	V11.B16, V2.B16, V7.B16 // x = hi where x > hi
	VBIT	V15.B16, V1.B16, V7.B16 // x = lo where x < lo (applied last: Act.Apply tests lo first)
	VST1.P	[V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)
	SUBS	$1, R2, R2
	BNE	biasClipNEON_16

biasClipNEON_4:
	LSR	$2, R1, R2 // blocks of 4
	CBZ	R2, biasClipNEON_done

biasClipNEON_4loop:
	VLD1	(R0), [V4.S4]
	WORD	$0x4e20d484	// fadd v4.4s, v4.4s, v0.4s
	WORD	$0x6ea2e488	// fcmgt v8.4s, v4.4s, v2.4s
	WORD	$0x6ea4e42c	// fcmgt v12.4s, v1.4s, v4.4s
	VBIT	V8.B16, V2.B16, V4.B16 // x = hi where x > hi
	VBIT	V12.B16, V1.B16, V4.B16 // x = lo where x < lo (applied last: Act.Apply tests lo first)
	VST1.P	[V4.S4], 16(R0)
	SUBS	$1, R2, R2
	BNE	biasClipNEON_4loop

biasClipNEON_done:
	RET

// func biasLeakyNEON(x *float32, n int, bias, alpha float32)
TEXT ·biasLeakyNEON(SB), NOSPLIT, $0-24
	MOVD	x+0(FP), R0
	MOVD	n+8(FP), R1
	FMOVS	bias+16(FP), F0
	VDUP	V0.S[0], V0.S4
	FMOVS	alpha+20(FP), F1
	VDUP	V1.S[0], V1.S4
	LSR	$4, R1, R2 // blocks of 16
	AND	$15, R1, R1
	CBZ	R2, biasLeakyNEON_4

biasLeakyNEON_16:
	VLD1	(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	WORD	$0x4e20d484	// fadd v4.4s, v4.4s, v0.4s
	WORD	$0x4e20d4a5	// fadd v5.4s, v5.4s, v0.4s
	WORD	$0x4e20d4c6	// fadd v6.4s, v6.4s, v0.4s
	WORD	$0x4e20d4e7	// fadd v7.4s, v7.4s, v0.4s
	WORD	$0x4ea0e888	// fcmlt v8.4s, v4.4s, #0.0
	WORD	$0x6e21dc8c	// fmul v12.4s, v4.4s, v1.4s
	VBIT	V8.B16, V12.B16, V4.B16 // x = alpha*x where x < 0
	WORD	$0x4ea0e8a9	// fcmlt v9.4s, v5.4s, #0.0
	WORD	$0x6e21dcad	// fmul v13.4s, v5.4s, v1.4s
	VBIT	V9.B16, V13.B16, V5.B16 // x = alpha*x where x < 0
	WORD	$0x4ea0e8ca	// fcmlt v10.4s, v6.4s, #0.0
	WORD	$0x6e21dcce	// fmul v14.4s, v6.4s, v1.4s
	VBIT	V10.B16, V14.B16, V6.B16 // x = alpha*x where x < 0
	WORD	$0x4ea0e8eb	// fcmlt v11.4s, v7.4s, #0.0
	WORD	$0x6e21dcef	// fmul v15.4s, v7.4s, v1.4s
	VBIT	V11.B16, V15.B16, V7.B16 // x = alpha*x where x < 0
	VST1.P	[V4.S4, V5.S4, V6.S4, V7.S4], 64(R0)
	SUBS	$1, R2, R2
	BNE	biasLeakyNEON_16

biasLeakyNEON_4:
	LSR	$2, R1, R2 // blocks of 4
	CBZ	R2, biasLeakyNEON_done

biasLeakyNEON_4loop:
	VLD1	(R0), [V4.S4]
	WORD	$0x4e20d484	// fadd v4.4s, v4.4s, v0.4s
	WORD	$0x4ea0e888	// fcmlt v8.4s, v4.4s, #0.0
	WORD	$0x6e21dc8c	// fmul v12.4s, v4.4s, v1.4s
	VBIT	V8.B16, V12.B16, V4.B16 // x = alpha*x where x < 0
	VST1.P	[V4.S4], 16(R0)
	SUBS	$1, R2, R2
	BNE	biasLeakyNEON_4loop

biasLeakyNEON_done:
	RET
