//go:build !purego

#include "textflag.h"

// The Gemv kernel of the neon tier (f32-gemv-4x1-neon: four rows, one
// vector): rows in groups of four (four concurrent memory streams), then
// one at a time through the same steps, so that a row's sum does not
// depend on the group it falls in. Per row, accumulator u (of four, 4
// lanes each) sums vectors u, u+4, u+8, ... of the row's product with x
// with FMLA; the 0-3 vectors left over after the last step of 16 columns
// go to accumulators 0, 1, 2 in turn and the last k%4 columns to a scalar
// sum (FMADD, in order). The accumulators are added as (a0+a1)+(a2+a3),
// the lanes pairwise ((l0+l1)+(l2+l3)), and the scalar sum last. Go's
// assembler has no vector FADD or FADDP, so those are encoded with WORD;
// each comment gives the instruction in Arm syntax.
//
// Registers: R0 y, R1 the current row of w, R2 x, R3 rows left, R5 ldw in
// bytes, R6 steps of 16 columns per row, R7 vectors left over (0-3), R8
// tail columns (0-3), R10-R13 the rows' current columns, R14 x's, R15 a
// counter; V0-V3 x, V4-V15 weights, V16-V31 the accumulators (row r:
// V16+4r..V19+4r), F8-F11 the scalar sums.

// func gemvNEONAsm(y, w, x *float32, n, k, ldw int)
TEXT ·gemvNEONAsm(SB), NOSPLIT, $0-48
	MOVD	y+0(FP), R0
	MOVD	w+8(FP), R1
	MOVD	x+16(FP), R2
	MOVD	n+24(FP), R3
	MOVD	k+32(FP), R4
	MOVD	ldw+40(FP), R5
	LSL	$2, R5, R5
	LSR	$4, R4, R6
	UBFX	$2, R4, $2, R7
	AND	$3, R4, R8
	CBZ	R3, done
	CMP	$4, R3
	BLT	rows1

rows4:
	MOVD	R1, R10
	ADD	R5, R10, R11
	ADD	R5, R11, R12
	ADD	R5, R12, R13
	MOVD	R2, R14
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
	MOVD	R6, R15
	CBZ	R15, left4

loop4:
	VLD1.P	64(R14), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P	64(R10), [V4.S4, V5.S4, V6.S4, V7.S4]
	VFMLA	V0.S4, V4.S4, V16.S4
	VFMLA	V1.S4, V5.S4, V17.S4
	VFMLA	V2.S4, V6.S4, V18.S4
	VFMLA	V3.S4, V7.S4, V19.S4
	VLD1.P	64(R11), [V8.S4, V9.S4, V10.S4, V11.S4]
	VFMLA	V0.S4, V8.S4, V20.S4
	VFMLA	V1.S4, V9.S4, V21.S4
	VFMLA	V2.S4, V10.S4, V22.S4
	VFMLA	V3.S4, V11.S4, V23.S4
	VLD1.P	64(R12), [V12.S4, V13.S4, V14.S4, V15.S4]
	VFMLA	V0.S4, V12.S4, V24.S4
	VFMLA	V1.S4, V13.S4, V25.S4
	VFMLA	V2.S4, V14.S4, V26.S4
	VFMLA	V3.S4, V15.S4, V27.S4
	VLD1.P	64(R13), [V4.S4, V5.S4, V6.S4, V7.S4]
	VFMLA	V0.S4, V4.S4, V28.S4
	VFMLA	V1.S4, V5.S4, V29.S4
	VFMLA	V2.S4, V6.S4, V30.S4
	VFMLA	V3.S4, V7.S4, V31.S4
	SUBS	$1, R15, R15
	BNE	loop4

left4:
	// The vectors left over go to accumulators 0, 1, 2 in turn.
	CMP	$1, R7
	BLT	tail4
	VLD1.P	16(R14), [V0.S4]
	VLD1.P	16(R10), [V4.S4]
	VFMLA	V0.S4, V4.S4, V16.S4
	VLD1.P	16(R11), [V5.S4]
	VFMLA	V0.S4, V5.S4, V20.S4
	VLD1.P	16(R12), [V6.S4]
	VFMLA	V0.S4, V6.S4, V24.S4
	VLD1.P	16(R13), [V7.S4]
	VFMLA	V0.S4, V7.S4, V28.S4
	CMP	$2, R7
	BLT	tail4
	VLD1.P	16(R14), [V0.S4]
	VLD1.P	16(R10), [V4.S4]
	VFMLA	V0.S4, V4.S4, V17.S4
	VLD1.P	16(R11), [V5.S4]
	VFMLA	V0.S4, V5.S4, V21.S4
	VLD1.P	16(R12), [V6.S4]
	VFMLA	V0.S4, V6.S4, V25.S4
	VLD1.P	16(R13), [V7.S4]
	VFMLA	V0.S4, V7.S4, V29.S4
	CMP	$3, R7
	BLT	tail4
	VLD1.P	16(R14), [V0.S4]
	VLD1.P	16(R10), [V4.S4]
	VFMLA	V0.S4, V4.S4, V18.S4
	VLD1.P	16(R11), [V5.S4]
	VFMLA	V0.S4, V5.S4, V22.S4
	VLD1.P	16(R12), [V6.S4]
	VFMLA	V0.S4, V6.S4, V26.S4
	VLD1.P	16(R13), [V7.S4]
	VFMLA	V0.S4, V7.S4, V30.S4

tail4:
	// The last k%4 columns, in scalar sums F8.. (one per row).
	VEOR	V8.B16, V8.B16, V8.B16
	VEOR	V9.B16, V9.B16, V9.B16
	VEOR	V10.B16, V10.B16, V10.B16
	VEOR	V11.B16, V11.B16, V11.B16
	CBZ	R8, sum4
	MOVD	R8, R15

scalar4:
	FMOVS.P	4(R14), F0
	FMOVS.P	4(R10), F4
	FMADDS	F0, F8, F4, F8
	FMOVS.P	4(R11), F5
	FMADDS	F0, F9, F5, F9
	FMOVS.P	4(R12), F6
	FMADDS	F0, F10, F6, F10
	FMOVS.P	4(R13), F7
	FMADDS	F0, F11, F7, F11
	SUBS	$1, R15, R15
	BNE	scalar4

sum4:
	// Per row: (a0+a1)+(a2+a3), its lanes pairwise, then the scalar tail.
	WORD	$0x4e31d610	// fadd v16.4s, v16.4s, v17.4s
	WORD	$0x4e33d652	// fadd v18.4s, v18.4s, v19.4s
	WORD	$0x4e32d610	// fadd v16.4s, v16.4s, v18.4s
	WORD	$0x6e30d600	// faddp v0.4s, v16.4s, v16.4s
	WORD	$0x7e30d800	// faddp s0, v0.2s
	FADDS	F8, F0, F0
	FMOVS	F0, 0(R0)
	WORD	$0x4e35d694	// fadd v20.4s, v20.4s, v21.4s
	WORD	$0x4e37d6d6	// fadd v22.4s, v22.4s, v23.4s
	WORD	$0x4e36d694	// fadd v20.4s, v20.4s, v22.4s
	WORD	$0x6e34d680	// faddp v0.4s, v20.4s, v20.4s
	WORD	$0x7e30d800	// faddp s0, v0.2s
	FADDS	F9, F0, F0
	FMOVS	F0, 4(R0)
	WORD	$0x4e39d718	// fadd v24.4s, v24.4s, v25.4s
	WORD	$0x4e3bd75a	// fadd v26.4s, v26.4s, v27.4s
	WORD	$0x4e3ad718	// fadd v24.4s, v24.4s, v26.4s
	WORD	$0x6e38d700	// faddp v0.4s, v24.4s, v24.4s
	WORD	$0x7e30d800	// faddp s0, v0.2s
	FADDS	F10, F0, F0
	FMOVS	F0, 8(R0)
	WORD	$0x4e3dd79c	// fadd v28.4s, v28.4s, v29.4s
	WORD	$0x4e3fd7de	// fadd v30.4s, v30.4s, v31.4s
	WORD	$0x4e3ed79c	// fadd v28.4s, v28.4s, v30.4s
	WORD	$0x6e3cd780	// faddp v0.4s, v28.4s, v28.4s
	WORD	$0x7e30d800	// faddp s0, v0.2s
	FADDS	F11, F0, F0
	FMOVS	F0, 12(R0)
	ADD	$16, R0, R0
	ADD	R5<<2, R1, R1
	SUB	$4, R3, R3
	CMP	$4, R3
	BGE	rows4
	CBZ	R3, done

rows1:
	MOVD	R1, R10
	MOVD	R2, R14
	VEOR	V16.B16, V16.B16, V16.B16
	VEOR	V17.B16, V17.B16, V17.B16
	VEOR	V18.B16, V18.B16, V18.B16
	VEOR	V19.B16, V19.B16, V19.B16
	MOVD	R6, R15
	CBZ	R15, left1

loop1:
	VLD1.P	64(R14), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P	64(R10), [V4.S4, V5.S4, V6.S4, V7.S4]
	VFMLA	V0.S4, V4.S4, V16.S4
	VFMLA	V1.S4, V5.S4, V17.S4
	VFMLA	V2.S4, V6.S4, V18.S4
	VFMLA	V3.S4, V7.S4, V19.S4
	SUBS	$1, R15, R15
	BNE	loop1

left1:
	// The vectors left over go to accumulators 0, 1, 2 in turn.
	CMP	$1, R7
	BLT	tail1
	VLD1.P	16(R14), [V0.S4]
	VLD1.P	16(R10), [V4.S4]
	VFMLA	V0.S4, V4.S4, V16.S4
	CMP	$2, R7
	BLT	tail1
	VLD1.P	16(R14), [V0.S4]
	VLD1.P	16(R10), [V4.S4]
	VFMLA	V0.S4, V4.S4, V17.S4
	CMP	$3, R7
	BLT	tail1
	VLD1.P	16(R14), [V0.S4]
	VLD1.P	16(R10), [V4.S4]
	VFMLA	V0.S4, V4.S4, V18.S4

tail1:
	// The last k%4 columns, in scalar sums F8.. (one per row).
	VEOR	V8.B16, V8.B16, V8.B16
	CBZ	R8, sum1
	MOVD	R8, R15

scalar1:
	FMOVS.P	4(R14), F0
	FMOVS.P	4(R10), F4
	FMADDS	F0, F8, F4, F8
	SUBS	$1, R15, R15
	BNE	scalar1

sum1:
	// Per row: (a0+a1)+(a2+a3), its lanes pairwise, then the scalar tail.
	WORD	$0x4e31d610	// fadd v16.4s, v16.4s, v17.4s
	WORD	$0x4e33d652	// fadd v18.4s, v18.4s, v19.4s
	WORD	$0x4e32d610	// fadd v16.4s, v16.4s, v18.4s
	WORD	$0x6e30d600	// faddp v0.4s, v16.4s, v16.4s
	WORD	$0x7e30d800	// faddp s0, v0.2s
	FADDS	F8, F0, F0
	FMOVS	F0, 0(R0)
	ADD	$4, R0, R0
	ADD	R5, R1, R1
	SUBS	$1, R3, R3
	BNE	rows1

done:
	RET
