//go:build !purego

#include "textflag.h"

// f32-pool2d-neon, the pooling kernels of the neon tier: runs of rows
// of the vertical pass (poolRows*) and blocks of rows of the horizontal
// pass (poolCols*), which the Go wrapper (pool2DNEON) drives over scratch
// rows padded with the identity. Every row is at least 4 floats wide;
// each is cut into vectors of 4, the last one overlapping the one before
// when the width is not a multiple of 4 (it recomputes the same values).
// Stride 2 loads with VLD2, which splits even and odd columns. Go's
// assembler has no vector FMAX, FADD or FMUL, so those are encoded with
// WORD; each comment gives the instruction in Arm syntax. FMAX returns
// NaN when either operand is NaN, so NaN propagates with no extra work.

// func poolRowsMaxNEON(dst, src *float32, rows, n, w, lds, ldt, ldd int)
TEXT ·poolRowsMaxNEON(SB), NOSPLIT, $0-64
	MOVD	dst+0(FP), R0
	MOVD	src+8(FP), R1
	MOVD	rows+16(FP), R2
	MOVD	n+24(FP), R3
	MOVD	w+32(FP), R4
	MOVD	lds+40(FP), R5
	MOVD	ldt+48(FP), R6
	MOVD	ldd+56(FP), R7
	LSL	$2, R5, R5 // strides in bytes
	LSL	$2, R6, R6
	LSL	$2, R7, R7
	SUB	$4, R4, R14
	LSL	$2, R14, R14 // byte offset of the last vector
	CBZ	R2, done
	CMP	$2, R3
	BEQ	n2row
	BGT	n3row

n1row:
	MOVD	R1, R9
	MOVD	R0, R12
	MOVD	R4, R13
n1vec:
	CMP	$4, R13
	BLT	n1tail
	VLD1.P	16(R9), [V0.S4]
	VST1.P	[V0.S4], 16(R12)
	SUB	$4, R13, R13
	B	n1vec
n1tail:
	CBZ	R13, n1next
	ADD	R14, R1, R9
	ADD	R14, R0, R12
	VLD1	(R9), [V0.S4]
	VST1	[V0.S4], (R12)
n1next:
	ADD	R5, R1, R1
	ADD	R7, R0, R0
	SUBS	$1, R2, R2
	BNE	n1row
	RET

n2row:
	MOVD	R1, R9
	ADD	R6, R9, R10
	MOVD	R0, R12
	MOVD	R4, R13
n2vec:
	CMP	$4, R13
	BLT	n2tail
	VLD1.P	16(R9), [V0.S4]
	VLD1.P	16(R10), [V1.S4]
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	VST1.P	[V0.S4], 16(R12)
	SUB	$4, R13, R13
	B	n2vec
n2tail:
	CBZ	R13, n2next
	ADD	R14, R1, R9
	ADD	R6, R9, R10
	ADD	R14, R0, R12
	VLD1	(R9), [V0.S4]
	VLD1	(R10), [V1.S4]
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	VST1	[V0.S4], (R12)
n2next:
	ADD	R5, R1, R1
	ADD	R7, R0, R0
	SUBS	$1, R2, R2
	BNE	n2row
	RET

n3row:
	MOVD	R1, R9
	ADD	R6, R9, R10
	ADD	R6, R10, R11
	MOVD	R0, R12
	MOVD	R4, R13
n3vec:
	CMP	$4, R13
	BLT	n3tail
	VLD1.P	16(R9), [V0.S4]
	VLD1.P	16(R10), [V1.S4]
	VLD1.P	16(R11), [V2.S4]
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	WORD	$0x4e22f400	// fmax v0.4s, v0.4s, v2.4s
	VST1.P	[V0.S4], 16(R12)
	SUB	$4, R13, R13
	B	n3vec
n3tail:
	CBZ	R13, n3next
	ADD	R14, R1, R9
	ADD	R6, R9, R10
	ADD	R6, R10, R11
	ADD	R14, R0, R12
	VLD1	(R9), [V0.S4]
	VLD1	(R10), [V1.S4]
	VLD1	(R11), [V2.S4]
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	WORD	$0x4e22f400	// fmax v0.4s, v0.4s, v2.4s
	VST1	[V0.S4], (R12)
n3next:
	ADD	R5, R1, R1
	ADD	R7, R0, R0
	SUBS	$1, R2, R2
	BNE	n3row
	RET

done:
	RET

// func poolRowsAddNEON(dst, src *float32, rows, n, w, lds, ldt, ldd int)
TEXT ·poolRowsAddNEON(SB), NOSPLIT, $0-64
	MOVD	dst+0(FP), R0
	MOVD	src+8(FP), R1
	MOVD	rows+16(FP), R2
	MOVD	n+24(FP), R3
	MOVD	w+32(FP), R4
	MOVD	lds+40(FP), R5
	MOVD	ldt+48(FP), R6
	MOVD	ldd+56(FP), R7
	LSL	$2, R5, R5 // strides in bytes
	LSL	$2, R6, R6
	LSL	$2, R7, R7
	SUB	$4, R4, R14
	LSL	$2, R14, R14 // byte offset of the last vector
	CBZ	R2, done
	CMP	$2, R3
	BEQ	n2row
	BGT	n3row

n1row:
	MOVD	R1, R9
	MOVD	R0, R12
	MOVD	R4, R13
n1vec:
	CMP	$4, R13
	BLT	n1tail
	VLD1.P	16(R9), [V0.S4]
	VST1.P	[V0.S4], 16(R12)
	SUB	$4, R13, R13
	B	n1vec
n1tail:
	CBZ	R13, n1next
	ADD	R14, R1, R9
	ADD	R14, R0, R12
	VLD1	(R9), [V0.S4]
	VST1	[V0.S4], (R12)
n1next:
	ADD	R5, R1, R1
	ADD	R7, R0, R0
	SUBS	$1, R2, R2
	BNE	n1row
	RET

n2row:
	MOVD	R1, R9
	ADD	R6, R9, R10
	MOVD	R0, R12
	MOVD	R4, R13
n2vec:
	CMP	$4, R13
	BLT	n2tail
	VLD1.P	16(R9), [V0.S4]
	VLD1.P	16(R10), [V1.S4]
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	VST1.P	[V0.S4], 16(R12)
	SUB	$4, R13, R13
	B	n2vec
n2tail:
	CBZ	R13, n2next
	ADD	R14, R1, R9
	ADD	R6, R9, R10
	ADD	R14, R0, R12
	VLD1	(R9), [V0.S4]
	VLD1	(R10), [V1.S4]
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	VST1	[V0.S4], (R12)
n2next:
	ADD	R5, R1, R1
	ADD	R7, R0, R0
	SUBS	$1, R2, R2
	BNE	n2row
	RET

n3row:
	MOVD	R1, R9
	ADD	R6, R9, R10
	ADD	R6, R10, R11
	MOVD	R0, R12
	MOVD	R4, R13
n3vec:
	CMP	$4, R13
	BLT	n3tail
	VLD1.P	16(R9), [V0.S4]
	VLD1.P	16(R10), [V1.S4]
	VLD1.P	16(R11), [V2.S4]
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	WORD	$0x4e22d400	// fadd v0.4s, v0.4s, v2.4s
	VST1.P	[V0.S4], 16(R12)
	SUB	$4, R13, R13
	B	n3vec
n3tail:
	CBZ	R13, n3next
	ADD	R14, R1, R9
	ADD	R6, R9, R10
	ADD	R6, R10, R11
	ADD	R14, R0, R12
	VLD1	(R9), [V0.S4]
	VLD1	(R10), [V1.S4]
	VLD1	(R11), [V2.S4]
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	WORD	$0x4e22d400	// fadd v0.4s, v0.4s, v2.4s
	VST1	[V0.S4], (R12)
n3next:
	ADD	R5, R1, R1
	ADD	R7, R0, R0
	SUBS	$1, R2, R2
	BNE	n3row
	RET

done:
	RET

// func poolColsMaxNEON(dst, v *float32, rows, ow, ldd, ldv, kw, sw int)
TEXT ·poolColsMaxNEON(SB), NOSPLIT, $0-64
	MOVD	dst+0(FP), R0
	MOVD	v+8(FP), R1
	MOVD	rows+16(FP), R2
	MOVD	ow+24(FP), R3
	MOVD	ldd+32(FP), R4
	MOVD	ldv+40(FP), R5
	MOVD	kw+48(FP), R6
	MOVD	sw+56(FP), R7
	LSL	$2, R4, R4 // strides in bytes
	LSL	$2, R5, R5
	SUB	$4, R3, R15
	LSL	$2, R15, R15 // byte offset of the last output vector
	MUL	R7, R15, R19 // and of its first scratch column
	CBZ	R2, done
	CMP	$2, R7
	BEQ	s2
	CMP	$2, R6
	BEQ	s1k2row
	BGT	s1k3row
	B	s1k1row
s2:
	CMP	$2, R6
	BEQ	s2k2row
	BGT	s2k3row
	B	s2k1row

s1k1row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R3, R13
s1k1vec:
	CMP	$4, R13
	BLT	s1k1tail
	VLD1	(R9), [V0.S4]
	VST1	[V0.S4], (R10)
	ADD	$16, R9, R9
	ADD	$16, R10, R10
	SUB	$4, R13, R13
	B	s1k1vec
s1k1tail:
	CBZ	R13, s1k1next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	VLD1	(R9), [V0.S4]
	VST1	[V0.S4], (R10)
s1k1next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	SUBS	$1, R2, R2
	BNE	s1k1row
	RET

s1k2row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R3, R13
s1k2vec:
	CMP	$4, R13
	BLT	s1k2tail
	VLD1	(R9), [V0.S4]
	ADD	$4, R9, R11
	VLD1	(R11), [V1.S4]
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	VST1	[V0.S4], (R10)
	ADD	$16, R9, R9
	ADD	$16, R10, R10
	SUB	$4, R13, R13
	B	s1k2vec
s1k2tail:
	CBZ	R13, s1k2next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	VLD1	(R9), [V0.S4]
	ADD	$4, R9, R11
	VLD1	(R11), [V1.S4]
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	VST1	[V0.S4], (R10)
s1k2next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	SUBS	$1, R2, R2
	BNE	s1k2row
	RET

s1k3row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R3, R13
s1k3vec:
	CMP	$4, R13
	BLT	s1k3tail
	VLD1	(R9), [V0.S4]
	ADD	$4, R9, R11
	VLD1	(R11), [V1.S4]
	ADD	$8, R9, R11
	VLD1	(R11), [V2.S4]
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	WORD	$0x4e22f400	// fmax v0.4s, v0.4s, v2.4s
	VST1	[V0.S4], (R10)
	ADD	$16, R9, R9
	ADD	$16, R10, R10
	SUB	$4, R13, R13
	B	s1k3vec
s1k3tail:
	CBZ	R13, s1k3next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	VLD1	(R9), [V0.S4]
	ADD	$4, R9, R11
	VLD1	(R11), [V1.S4]
	ADD	$8, R9, R11
	VLD1	(R11), [V2.S4]
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	WORD	$0x4e22f400	// fmax v0.4s, v0.4s, v2.4s
	VST1	[V0.S4], (R10)
s1k3next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	SUBS	$1, R2, R2
	BNE	s1k3row
	RET

s2k1row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R3, R13
s2k1vec:
	CMP	$4, R13
	BLT	s2k1tail
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	VST1	[V0.S4], (R10)
	ADD	$32, R9, R9
	ADD	$16, R10, R10
	SUB	$4, R13, R13
	B	s2k1vec
s2k1tail:
	CBZ	R13, s2k1next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	VST1	[V0.S4], (R10)
s2k1next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	SUBS	$1, R2, R2
	BNE	s2k1row
	RET

s2k2row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R3, R13
s2k2vec:
	CMP	$4, R13
	BLT	s2k2tail
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	VST1	[V0.S4], (R10)
	ADD	$32, R9, R9
	ADD	$16, R10, R10
	SUB	$4, R13, R13
	B	s2k2vec
s2k2tail:
	CBZ	R13, s2k2next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	VST1	[V0.S4], (R10)
s2k2next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	SUBS	$1, R2, R2
	BNE	s2k2row
	RET

s2k3row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R3, R13
s2k3vec:
	CMP	$4, R13
	BLT	s2k3tail
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	ADD	$8, R9, R11
	VLD2	(R11), [V2.S4, V3.S4] // the even ones from the next
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	WORD	$0x4e22f400	// fmax v0.4s, v0.4s, v2.4s
	VST1	[V0.S4], (R10)
	ADD	$32, R9, R9
	ADD	$16, R10, R10
	SUB	$4, R13, R13
	B	s2k3vec
s2k3tail:
	CBZ	R13, s2k3next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	ADD	$8, R9, R11
	VLD2	(R11), [V2.S4, V3.S4] // the even ones from the next
	WORD	$0x4e21f400	// fmax v0.4s, v0.4s, v1.4s
	WORD	$0x4e22f400	// fmax v0.4s, v0.4s, v2.4s
	VST1	[V0.S4], (R10)
s2k3next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	SUBS	$1, R2, R2
	BNE	s2k3row
	RET

done:
	RET

// func poolColsAvgNEON(dst, v, scale *float32, rows, ow, ldd, ldv, kw, sw int)
TEXT ·poolColsAvgNEON(SB), NOSPLIT, $0-72
	MOVD	dst+0(FP), R0
	MOVD	v+8(FP), R1
	MOVD	scale+16(FP), R8
	MOVD	rows+24(FP), R2
	MOVD	ow+32(FP), R3
	MOVD	ldd+40(FP), R4
	MOVD	ldv+48(FP), R5
	MOVD	kw+56(FP), R6
	MOVD	sw+64(FP), R7
	LSL	$2, R4, R4 // strides in bytes
	LSL	$2, R5, R5
	SUB	$4, R3, R15
	LSL	$2, R15, R15 // byte offset of the last output vector
	MUL	R7, R15, R19 // and of its first scratch column
	CBZ	R2, done
	CMP	$2, R7
	BEQ	s2
	CMP	$2, R6
	BEQ	s1k2row
	BGT	s1k3row
	B	s1k1row
s2:
	CMP	$2, R6
	BEQ	s2k2row
	BGT	s2k3row
	B	s2k1row

s1k1row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R8, R12
	MOVD	R3, R13
s1k1vec:
	CMP	$4, R13
	BLT	s1k1tail
	VLD1	(R9), [V0.S4]
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
	ADD	$16, R9, R9
	ADD	$16, R10, R10
	ADD	$16, R12, R12
	SUB	$4, R13, R13
	B	s1k1vec
s1k1tail:
	CBZ	R13, s1k1next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	ADD	R15, R8, R12
	VLD1	(R9), [V0.S4]
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
s1k1next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	ADD	R4, R8, R8
	SUBS	$1, R2, R2
	BNE	s1k1row
	RET

s1k2row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R8, R12
	MOVD	R3, R13
s1k2vec:
	CMP	$4, R13
	BLT	s1k2tail
	VLD1	(R9), [V0.S4]
	ADD	$4, R9, R11
	VLD1	(R11), [V1.S4]
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
	ADD	$16, R9, R9
	ADD	$16, R10, R10
	ADD	$16, R12, R12
	SUB	$4, R13, R13
	B	s1k2vec
s1k2tail:
	CBZ	R13, s1k2next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	ADD	R15, R8, R12
	VLD1	(R9), [V0.S4]
	ADD	$4, R9, R11
	VLD1	(R11), [V1.S4]
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
s1k2next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	ADD	R4, R8, R8
	SUBS	$1, R2, R2
	BNE	s1k2row
	RET

s1k3row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R8, R12
	MOVD	R3, R13
s1k3vec:
	CMP	$4, R13
	BLT	s1k3tail
	VLD1	(R9), [V0.S4]
	ADD	$4, R9, R11
	VLD1	(R11), [V1.S4]
	ADD	$8, R9, R11
	VLD1	(R11), [V2.S4]
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	WORD	$0x4e22d400	// fadd v0.4s, v0.4s, v2.4s
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
	ADD	$16, R9, R9
	ADD	$16, R10, R10
	ADD	$16, R12, R12
	SUB	$4, R13, R13
	B	s1k3vec
s1k3tail:
	CBZ	R13, s1k3next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	ADD	R15, R8, R12
	VLD1	(R9), [V0.S4]
	ADD	$4, R9, R11
	VLD1	(R11), [V1.S4]
	ADD	$8, R9, R11
	VLD1	(R11), [V2.S4]
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	WORD	$0x4e22d400	// fadd v0.4s, v0.4s, v2.4s
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
s1k3next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	ADD	R4, R8, R8
	SUBS	$1, R2, R2
	BNE	s1k3row
	RET

s2k1row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R8, R12
	MOVD	R3, R13
s2k1vec:
	CMP	$4, R13
	BLT	s2k1tail
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
	ADD	$32, R9, R9
	ADD	$16, R10, R10
	ADD	$16, R12, R12
	SUB	$4, R13, R13
	B	s2k1vec
s2k1tail:
	CBZ	R13, s2k1next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	ADD	R15, R8, R12
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
s2k1next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	ADD	R4, R8, R8
	SUBS	$1, R2, R2
	BNE	s2k1row
	RET

s2k2row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R8, R12
	MOVD	R3, R13
s2k2vec:
	CMP	$4, R13
	BLT	s2k2tail
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
	ADD	$32, R9, R9
	ADD	$16, R10, R10
	ADD	$16, R12, R12
	SUB	$4, R13, R13
	B	s2k2vec
s2k2tail:
	CBZ	R13, s2k2next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	ADD	R15, R8, R12
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
s2k2next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	ADD	R4, R8, R8
	SUBS	$1, R2, R2
	BNE	s2k2row
	RET

s2k3row:
	MOVD	R1, R9
	MOVD	R0, R10
	MOVD	R8, R12
	MOVD	R3, R13
s2k3vec:
	CMP	$4, R13
	BLT	s2k3tail
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	ADD	$8, R9, R11
	VLD2	(R11), [V2.S4, V3.S4] // the even ones from the next
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	WORD	$0x4e22d400	// fadd v0.4s, v0.4s, v2.4s
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
	ADD	$32, R9, R9
	ADD	$16, R10, R10
	ADD	$16, R12, R12
	SUB	$4, R13, R13
	B	s2k3vec
s2k3tail:
	CBZ	R13, s2k3next
	ADD	R19, R1, R9
	ADD	R15, R0, R10
	ADD	R15, R8, R12
	VLD2	(R9), [V0.S4, V1.S4] // even and odd columns
	ADD	$8, R9, R11
	VLD2	(R11), [V2.S4, V3.S4] // the even ones from the next
	WORD	$0x4e21d400	// fadd v0.4s, v0.4s, v1.4s
	WORD	$0x4e22d400	// fadd v0.4s, v0.4s, v2.4s
	VLD1	(R12), [V3.S4]
	WORD	$0x6e23dc00	// fmul v0.4s, v0.4s, v3.4s
	VST1	[V0.S4], (R10)
s2k3next:
	ADD	R4, R0, R0
	ADD	R5, R1, R1
	ADD	R4, R8, R8
	SUBS	$1, R2, R2
	BNE	s2k3row
	RET

done:
	RET
