/* seize.h: freeze every thread of a process with PTRACE_SEIZE + PTRACE_INTERRUPT, and
 * let it go again exactly as it was. */
#ifndef CREST_SEIZE_H
#define CREST_SEIZE_H

#include "arch/x86_64/arch.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

struct seized_thread {
	pid_t tid;
	struct arch_regs regs; /* as found; put back on release if dirty */
	uint64_t sigmask;      /* as found */
	bool dirty;
};

struct seize_set {
	pid_t pid;
	bool stopped; /* the process was in group stop (state T) when seized */
	struct seized_thread *th;
	uint32_t nth;
	int late_sigs[8]; /* stop signals that arrived while we worked; re-sent on release */
	int nlate;
};

/* Freeze pid: seize and interrupt every thread, scanning /proc/PID/task again until
 * no new thread appears. On failure nothing stays seized. */
int seize_proc(struct seize_set *s, pid_t pid, struct err *err);
/* Put back registers and masks that injection changed, detach every thread, then
 * send sig (0: none) to the process. Never fails: a thread that vanished is gone. */
void seize_release(struct seize_set *s, int sig);
struct seized_thread *seize_find(struct seize_set *s, pid_t tid);

#endif
