//go:build !purego

#include "textflag.h"

// f32-dwconv-neon: the DWConv kernel of the neon tier, for the largest
// multiple of 4 outputs of each row (the Go wrapper does the last 0-3).
// Each row (a channel) is cut into chunks of 32, then 16, then 4 outputs,
// whose accumulators (V16..V23) start at the row's bias (V30) and stay in
// registers for all taps: per tap, one offset load, one weight broadcast
// (VLD1R into V31), the chunk's input run (V0..V7) and one FMLA per
// vector; then one store per vector. All instructions are Go's own (VFMLA
// is the vector form; no WORD encodings are needed).

// func dwConvNEONAsm(dst, src *float32, offs *int, w, bias *float32, taps, rows, n, ldd, lds int)
TEXT ·dwConvNEONAsm(SB), NOSPLIT, $0-80
	MOVD	dst+0(FP), R0
	MOVD	src+8(FP), R1
	MOVD	offs+16(FP), R2
	MOVD	w+24(FP), R3
	MOVD	bias+32(FP), R19 // nil: no bias
	MOVD	taps+40(FP), R4
	MOVD	rows+48(FP), R5
	MOVD	n+56(FP), R6
	MOVD	ldd+64(FP), R7
	MOVD	lds+72(FP), R8
	CBZ	R5, done
	CBZ	R6, done
	ADD	R4<<3, R2, R2 // one past the last offset
	ADD	R4<<2, R3, R3 // one past the last weight
	NEG	R4, R4        // tap index runs from -taps to -1
	LSL	$2, R7, R7    // row strides in bytes
	LSL	$2, R8, R8

row:
	VEOR	V30.B16, V30.B16, V30.B16 // the row's bias
	CBZ	R19, nobias
	VLD1R	(R19), [V30.S4]

nobias:
	MOVD	R0, R9  // dst chunk
	MOVD	R1, R10 // src chunk
	MOVD	R6, R11 // outputs left in the row

chunk32:
	CMP	$32, R11
	BLT	chunk16
	VMOV	V30.B16, V16.B16
	VMOV	V30.B16, V17.B16
	VMOV	V30.B16, V18.B16
	VMOV	V30.B16, V19.B16
	VMOV	V30.B16, V20.B16
	VMOV	V30.B16, V21.B16
	VMOV	V30.B16, V22.B16
	VMOV	V30.B16, V23.B16
	MOVD	R4, R12
	CBZ	R12, store32

taps32:
	MOVD	(R2)(R12<<3), R13 // offs[t]
	ADD	R13<<2, R10, R14
	ADD	R12<<2, R3, R15
	VLD1R	(R15), [V31.S4]   // w[t] in every lane
	VLD1.P	64(R14), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1	(R14), [V4.S4, V5.S4, V6.S4, V7.S4]
	VFMLA	V0.S4, V31.S4, V16.S4
	VFMLA	V1.S4, V31.S4, V17.S4
	VFMLA	V2.S4, V31.S4, V18.S4
	VFMLA	V3.S4, V31.S4, V19.S4
	VFMLA	V4.S4, V31.S4, V20.S4
	VFMLA	V5.S4, V31.S4, V21.S4
	VFMLA	V6.S4, V31.S4, V22.S4
	VFMLA	V7.S4, V31.S4, V23.S4
	ADDS	$1, R12, R12
	BNE	taps32

store32:
	VST1.P	[V16.S4, V17.S4, V18.S4, V19.S4], 64(R9)
	VST1.P	[V20.S4, V21.S4, V22.S4, V23.S4], 64(R9)
	ADD	$128, R10, R10
	SUB	$32, R11, R11
	B	chunk32

chunk16:
	CMP	$16, R11
	BLT	chunk4
	VMOV	V30.B16, V16.B16
	VMOV	V30.B16, V17.B16
	VMOV	V30.B16, V18.B16
	VMOV	V30.B16, V19.B16
	MOVD	R4, R12
	CBZ	R12, store16

taps16:
	MOVD	(R2)(R12<<3), R13
	ADD	R13<<2, R10, R14
	ADD	R12<<2, R3, R15
	VLD1R	(R15), [V31.S4]
	VLD1	(R14), [V0.S4, V1.S4, V2.S4, V3.S4]
	VFMLA	V0.S4, V31.S4, V16.S4
	VFMLA	V1.S4, V31.S4, V17.S4
	VFMLA	V2.S4, V31.S4, V18.S4
	VFMLA	V3.S4, V31.S4, V19.S4
	ADDS	$1, R12, R12
	BNE	taps16

store16:
	VST1.P	[V16.S4, V17.S4, V18.S4, V19.S4], 64(R9)
	ADD	$64, R10, R10
	SUB	$16, R11, R11

chunk4:
	CBZ	R11, nextrow // fewer than 16 left: chunks of 4
	VMOV	V30.B16, V16.B16
	MOVD	R4, R12
	CBZ	R12, store4

taps4:
	MOVD	(R2)(R12<<3), R13
	ADD	R13<<2, R10, R14
	ADD	R12<<2, R3, R15
	VLD1R	(R15), [V31.S4]
	VLD1	(R14), [V0.S4]
	VFMLA	V0.S4, V31.S4, V16.S4
	ADDS	$1, R12, R12
	BNE	taps4

store4:
	VST1.P	[V16.S4], 16(R9)
	ADD	$16, R10, R10
	SUB	$4, R11, R11
	B	chunk4

nextrow:
	SUB	R4<<2, R3, R3 // the next row's weights (R4 = -taps)
	CBZ	R19, nextrow2
	ADD	$4, R19, R19

nextrow2:
	ADD	R7, R0, R0
	ADD	R8, R1, R1
	SUBS	$1, R5, R5
	BNE	row

done:
	RET
