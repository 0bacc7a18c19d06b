//go:build !purego

#include "textflag.h"

// f32-gemm-8x8-neon: the 8×8 tile lives in V16..V31 (row i in V(16+2i),
// columns 0-3, and V(17+2i), columns 4-7). Each step of k loads 8 A values
// (V0, V1) and 8 B values and issues 16 FMLA-by-element instructions.
// Go's assembler has no by-element FMLA and no vector FADD, so those are
// encoded with WORD; each comment gives the instruction in Arm syntax.

// func gemm8x8NEONAsm(k int, a, b, c *float32, ldc int, acc bool)
TEXT ·gemm8x8NEONAsm(SB), NOSPLIT, $0-41
	MOVD	k+0(FP), R0
	MOVD	a+8(FP), R1
	MOVD	b+16(FP), R2
	MOVD	c+24(FP), R3
	MOVD	ldc+32(FP), R4
	MOVBU	acc+40(FP), R5
	LSL	$2, R4, R4 // row stride in bytes

	VEOR	V16.B16, V16.B16, V16.B16
	VEOR	V17.B16, V17.B16, V17.B16
	VEOR	V18.B16, V18.B16, V18.B16
	VEOR	V19.B16, V19.B16, V19.B16
	VEOR	V20.B16, V20.B16, V20.B16
	VEOR	V21.B16, V21.B16, V21.B16
	VEOR	V22.B16, V22.B16, V22.B16
	VEOR	V23.B16, V23.B16, V23.B16
	VEOR	V24.B16, V24.B16, V24.B16
	VEOR	V25.B16, V25.B16, V25.B16
	VEOR	V26.B16, V26.B16, V26.B16
	VEOR	V27.B16, V27.B16, V27.B16
	VEOR	V28.B16, V28.B16, V28.B16
	VEOR	V29.B16, V29.B16, V29.B16
	VEOR	V30.B16, V30.B16, V30.B16
	VEOR	V31.B16, V31.B16, V31.B16

	LSR	$1, R0, R7 // R7 = k/2 double steps
	AND	$1, R0, R0 // R0 = k%2 single step left
	CBZ	R7, single

pair:
	// A and B of steps p and p+1: A(p) in V0,V1, A(p+1) in V2,V3,
	// B(p) in V4,V5, B(p+1) in V6,V7.
	VLD1.P	64(R1), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P	64(R2), [V4.S4, V5.S4, V6.S4, V7.S4]

	// step p
	WORD	$0x4f801090	// fmla v16.4s, v4.4s, v0.s[0]
	WORD	$0x4f8010b1	// fmla v17.4s, v5.4s, v0.s[0]
	WORD	$0x4fa01092	// fmla v18.4s, v4.4s, v0.s[1]
	WORD	$0x4fa010b3	// fmla v19.4s, v5.4s, v0.s[1]
	WORD	$0x4f801894	// fmla v20.4s, v4.4s, v0.s[2]
	WORD	$0x4f8018b5	// fmla v21.4s, v5.4s, v0.s[2]
	WORD	$0x4fa01896	// fmla v22.4s, v4.4s, v0.s[3]
	WORD	$0x4fa018b7	// fmla v23.4s, v5.4s, v0.s[3]
	WORD	$0x4f811098	// fmla v24.4s, v4.4s, v1.s[0]
	WORD	$0x4f8110b9	// fmla v25.4s, v5.4s, v1.s[0]
	WORD	$0x4fa1109a	// fmla v26.4s, v4.4s, v1.s[1]
	WORD	$0x4fa110bb	// fmla v27.4s, v5.4s, v1.s[1]
	WORD	$0x4f81189c	// fmla v28.4s, v4.4s, v1.s[2]
	WORD	$0x4f8118bd	// fmla v29.4s, v5.4s, v1.s[2]
	WORD	$0x4fa1189e	// fmla v30.4s, v4.4s, v1.s[3]
	WORD	$0x4fa118bf	// fmla v31.4s, v5.4s, v1.s[3]

	// step p+1
	WORD	$0x4f8210d0	// fmla v16.4s, v6.4s, v2.s[0]
	WORD	$0x4f8210f1	// fmla v17.4s, v7.4s, v2.s[0]
	WORD	$0x4fa210d2	// fmla v18.4s, v6.4s, v2.s[1]
	WORD	$0x4fa210f3	// fmla v19.4s, v7.4s, v2.s[1]
	WORD	$0x4f8218d4	// fmla v20.4s, v6.4s, v2.s[2]
	WORD	$0x4f8218f5	// fmla v21.4s, v7.4s, v2.s[2]
	WORD	$0x4fa218d6	// fmla v22.4s, v6.4s, v2.s[3]
	WORD	$0x4fa218f7	// fmla v23.4s, v7.4s, v2.s[3]
	WORD	$0x4f8310d8	// fmla v24.4s, v6.4s, v3.s[0]
	WORD	$0x4f8310f9	// fmla v25.4s, v7.4s, v3.s[0]
	WORD	$0x4fa310da	// fmla v26.4s, v6.4s, v3.s[1]
	WORD	$0x4fa310fb	// fmla v27.4s, v7.4s, v3.s[1]
	WORD	$0x4f8318dc	// fmla v28.4s, v6.4s, v3.s[2]
	WORD	$0x4f8318fd	// fmla v29.4s, v7.4s, v3.s[2]
	WORD	$0x4fa318de	// fmla v30.4s, v6.4s, v3.s[3]
	WORD	$0x4fa318ff	// fmla v31.4s, v7.4s, v3.s[3]

	SUBS	$1, R7, R7
	BNE	pair

single:
	CBZ	R0, store
	VLD1.P	32(R1), [V0.S4, V1.S4]
	VLD1.P	32(R2), [V2.S4, V3.S4]
	WORD	$0x4f801050	// fmla v16.4s, v2.4s, v0.s[0]
	WORD	$0x4f801071	// fmla v17.4s, v3.4s, v0.s[0]
	WORD	$0x4fa01052	// fmla v18.4s, v2.4s, v0.s[1]
	WORD	$0x4fa01073	// fmla v19.4s, v3.4s, v0.s[1]
	WORD	$0x4f801854	// fmla v20.4s, v2.4s, v0.s[2]
	WORD	$0x4f801875	// fmla v21.4s, v3.4s, v0.s[2]
	WORD	$0x4fa01856	// fmla v22.4s, v2.4s, v0.s[3]
	WORD	$0x4fa01877	// fmla v23.4s, v3.4s, v0.s[3]
	WORD	$0x4f811058	// fmla v24.4s, v2.4s, v1.s[0]
	WORD	$0x4f811079	// fmla v25.4s, v3.4s, v1.s[0]
	WORD	$0x4fa1105a	// fmla v26.4s, v2.4s, v1.s[1]
	WORD	$0x4fa1107b	// fmla v27.4s, v3.4s, v1.s[1]
	WORD	$0x4f81185c	// fmla v28.4s, v2.4s, v1.s[2]
	WORD	$0x4f81187d	// fmla v29.4s, v3.4s, v1.s[2]
	WORD	$0x4fa1185e	// fmla v30.4s, v2.4s, v1.s[3]
	WORD	$0x4fa1187f	// fmla v31.4s, v3.4s, v1.s[3]

store:
	MOVD	R3, R6
	CBZ	R5, overwrite

	// acc: c = c + tile, row by row
	VLD1	(R6), [V0.S4, V1.S4]
	WORD	$0x4e30d410	// fadd v16.4s, v0.4s, v16.4s
	WORD	$0x4e31d431	// fadd v17.4s, v1.4s, v17.4s
	VST1.P	[V16.S4, V17.S4], (R6)(R4)
	VLD1	(R6), [V0.S4, V1.S4]
	WORD	$0x4e32d412	// fadd v18.4s, v0.4s, v18.4s
	WORD	$0x4e33d433	// fadd v19.4s, v1.4s, v19.4s
	VST1.P	[V18.S4, V19.S4], (R6)(R4)
	VLD1	(R6), [V0.S4, V1.S4]
	WORD	$0x4e34d414	// fadd v20.4s, v0.4s, v20.4s
	WORD	$0x4e35d435	// fadd v21.4s, v1.4s, v21.4s
	VST1.P	[V20.S4, V21.S4], (R6)(R4)
	VLD1	(R6), [V0.S4, V1.S4]
	WORD	$0x4e36d416	// fadd v22.4s, v0.4s, v22.4s
	WORD	$0x4e37d437	// fadd v23.4s, v1.4s, v23.4s
	VST1.P	[V22.S4, V23.S4], (R6)(R4)
	VLD1	(R6), [V0.S4, V1.S4]
	WORD	$0x4e38d418	// fadd v24.4s, v0.4s, v24.4s
	WORD	$0x4e39d439	// fadd v25.4s, v1.4s, v25.4s
	VST1.P	[V24.S4, V25.S4], (R6)(R4)
	VLD1	(R6), [V0.S4, V1.S4]
	WORD	$0x4e3ad41a	// fadd v26.4s, v0.4s, v26.4s
	WORD	$0x4e3bd43b	// fadd v27.4s, v1.4s, v27.4s
	VST1.P	[V26.S4, V27.S4], (R6)(R4)
	VLD1	(R6), [V0.S4, V1.S4]
	WORD	$0x4e3cd41c	// fadd v28.4s, v0.4s, v28.4s
	WORD	$0x4e3dd43d	// fadd v29.4s, v1.4s, v29.4s
	VST1.P	[V28.S4, V29.S4], (R6)(R4)
	VLD1	(R6), [V0.S4, V1.S4]
	WORD	$0x4e3ed41e	// fadd v30.4s, v0.4s, v30.4s
	WORD	$0x4e3fd43f	// fadd v31.4s, v1.4s, v31.4s
	VST1.P	[V30.S4, V31.S4], (R6)(R4)
	RET

overwrite:
	VST1.P	[V16.S4, V17.S4], (R6)(R4)
	VST1.P	[V18.S4, V19.S4], (R6)(R4)
	VST1.P	[V20.S4, V21.S4], (R6)(R4)
	VST1.P	[V22.S4, V23.S4], (R6)(R4)
	VST1.P	[V24.S4, V25.S4], (R6)(R4)
	VST1.P	[V26.S4, V27.S4], (R6)(R4)
	VST1.P	[V28.S4, V29.S4], (R6)(R4)
	VST1.P	[V30.S4, V31.S4], (R6)(R4)
	RET
