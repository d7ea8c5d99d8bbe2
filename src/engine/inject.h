/* inject.h: run a system call inside a stopped thread.
 *
 * The thread's registers are pointed at a `syscall` instruction (the gadget) with the
 * call's number and arguments, it is single-stepped over it, and the result is read
 * from its registers. All signals but SIGTRAP stay blocked meanwhile; the caller puts
 * the registers and mask back as they were.
 *
 * The kernel reports a single step with a forced SIGTRAP, which resets the process's
 * SIGTRAP action to SIG_DFL if SIGTRAP is blocked or ignored, and would take a
 * SIGTRAP that was pending. So SIGTRAP stays unblocked, and a thread whose process
 * ignores SIGTRAP or has one pending is "quiet": each call is run from its entry
 * syscall-stop to its exit syscall-stop instead (two stops, no signal). Threads are
 * seized with PTRACE_O_TRACESYSGOOD for that. */
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
	bool quiet;           /* no single steps (see above) */
};

/* Prepare tid (already stopped and seized) for injection: block all its signals.
 * base: the registers to start from (usually the thread's own). */
int inject_init(struct injector *in, pid_t tid, uint64_t gadget, const struct arch_regs *base,
		struct err *err);
/* From now on run calls without single steps: a SIGTRAP was queued to the process. */
int inject_set_quiet(struct injector *in, struct err *err);
/* Run syscall nr; returns its raw result (a negative errno on failure of the call
 * itself), or sets err and returns a value below -4095 if the thread could not run it. */
long inject_syscall(struct injector *in, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		    uint64_t a3, uint64_t a4, uint64_t a5, struct err *err);
#define INJECT_FAILED (-100000L)

/* One call of a batch, as the batch code reads it (64 bytes). */
struct inject_call {
	int64_t nr;
	uint64_t a[6];
	int64_t ret; /* out: the call's raw result */
};
#define INJECT_BATCH_MAX 64

/* Run n (at most INJECT_BATCH_MAX) calls in one go: the table is written at table,
 * writable memory of the thread's process (n * 64 bytes, through memfd, its
 * /proc/PID/mem), and run by arch_batch_code, which must be at code in an executable
 * page there; each result lands in calls[i].ret. A quiet injector, or code 0, runs
 * them one by one instead. Returns 0, or sets err and returns < 0 if the thread
 * could not run them (a call that fails is only a negative ret). */
int inject_batch(struct injector *in, uint64_t code, int memfd, uint64_t table,
		 struct inject_call *calls, uint32_t n, struct err *err);

/* Where to find a syscall instruction in a process: inside its [vdso], at the same
 * offset as in ours. Returns 0 if there is none. */
uint64_t inject_vdso_gadget(uint64_t target_vdso_start);

/* Memory of another process, through /proc/PID/mem (works on read-only pages too). */
int inject_mem_write(int memfd, uint64_t addr, const void *p, size_t n);
int inject_mem_read(int memfd, uint64_t addr, void *p, size_t n);

#endif
