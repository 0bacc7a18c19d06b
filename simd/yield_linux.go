//go:build linux

package simd

import "syscall"

// osYield gives the rest of this thread's time slice to any other thread
// waiting for this CPU (sched_yield), and returns at once when none is.
// Spin loops call it so that, when the CPUs are oversubscribed, a thread
// polling for work does not take the CPU from the thread doing it.
func osYield() {
	syscall.RawSyscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
