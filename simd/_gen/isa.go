package main

import (
	"fmt"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// isa describes one amd64 tier's vector registers.
type isa struct {
	name  string // tier name, as in kernel IDs: "avx2"
	ident string // as in Go identifiers: "AVX2"
	lanes int    // float32 lanes per vector register
	nregs int    // vector registers the tier may use (VEX: 16, EVEX: 32)
}

var (
	avx2   = isa{name: "avx2", ident: "AVX2", lanes: 8, nregs: 16}
	avx512 = isa{name: "avx512", ident: "AVX512", lanes: 16, nregs: 32}
)

// vbytes is the size of one vector register in bytes.
func (s isa) vbytes() int { return 4 * s.lanes }

var zregs = []reg.VecPhysical{
	reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7,
	reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15,
	reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
	reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31,
}

// v returns the tier's full-width vector register i (Y for AVX2, Z for AVX-512).
func (s isa) v(i int) reg.Register {
	if i < 0 || i >= s.nregs {
		panic(fmt.Sprintf("%s has no vector register %d", s.name, i))
	}
	if s.lanes == 8 {
		return zregs[i].AsY()
	}
	return zregs[i]
}

// x returns the xmm view of vector register i (for scalar tails).
func (s isa) x(i int) reg.Register {
	if i < 0 || i >= 16 {
		panic(fmt.Sprintf("no VEX xmm register %d", i))
	}
	return zregs[i].AsX()
}

// mem is a memory operand base+disp.
func mem(base reg.Register, disp int) operand.Mem { return operand.Mem{Base: base, Disp: disp} }

// paramAddr is the frame address of a scalar parameter.
func paramAddr(c *build.Context, name string) operand.Mem {
	b, err := c.Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// loadBase loads the base pointer of slice parameter name into r.
func loadBase(c *build.Context, name string, r reg.Register) {
	c.Load(c.Param(name).Base(), r)
}

// imm is a non-negative immediate; the Go assembler picks its encoding.
func imm(x int) operand.Constant {
	if x < 0 || x > 1<<31-1 {
		panic(fmt.Sprintf("immediate %d out of range", x))
	}
	if x < 1<<7 {
		return operand.U8(x)
	}
	return operand.U32(x)
}
