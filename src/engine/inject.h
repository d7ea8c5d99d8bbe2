/* inject.h: run a system call inside a stopped thread.
 *
 * The thread's registers are pointed at a `syscall` instruction (the gadget) with the
 * call's number and arguments, it is single-stepped over it, and the result is read
 * from its registers. All signals stay blocked meanwhile. inject_end() puts the
 * registers and mask back as they were. */
#ifndef CREST_INJECT_H
#define CREST_INJECT_H

#include "arch/x86_64/arch.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

struct injector {
	pid_t tid;
	uint64_t gadget;      /* address of a syscall instruction in the thread's memory */
	struct arch_regs base; /* registers to start each call from */
	pid_t new_child;      /* set when an injected clone reported a new task */
	int late_sigs[8];     /* signals that stopped the thread meanwhile (SIGSTOP...) */
	int nlate;
};

/* Prepare tid (already stopped and seized) for injection: block all its signals.
 * base: the registers to start from (usually the thread's own). */
int inject_init(struct injector *in, pid_t tid, uint64_t gadget, const struct arch_regs *base,
		struct err *err);
/* Run syscall nr; returns its raw result (a negative errno on failure of the call
 * itself), or sets err and returns a value below -4095 if the thread could not run it. */
long inject_syscall(struct injector *in, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		    uint64_t a3, uint64_t a4, uint64_t a5, struct err *err);
#define INJECT_FAILED (-100000L)

/* Where to find a syscall instruction in a process: inside its [vdso], at the same
 * offset as in ours. Returns 0 if there is none. */
uint64_t inject_vdso_gadget(uint64_t target_vdso_start);

/* Memory of another process, through /proc/PID/mem (works on read-only pages too). */
int inject_mem_write(int memfd, uint64_t addr, const void *p, size_t n);
int inject_mem_read(int memfd, uint64_t addr, void *p, size_t n);

#endif
