/* inject.c: system calls run inside a stopped thread through ptrace. */
#define LOG_PREFIX "inject: "
#include "inject.h"

#include "err.h"
#include "log.h"
#include "ptrace_util.h"
#include "../util/procfs.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banned.h"

/* Whether SIGTRAP is ignored by tid's process or pending for it: a single step (which
 * the kernel reports with a forced SIGTRAP) would then reset the action to SIG_DFL or
 * take the pending one. */
static bool trap_unsafe(pid_t tid)
{
	char text[4096];
	uint64_t ign = 0, pnd = 0, shd = 0;

	if (procfs_status(tid, text, sizeof(text)) < 0)
		return true;
	procfs_field_u64(text, "SigIgn", 16, &ign);
	procfs_field_u64(text, "SigPnd", 16, &pnd);
	procfs_field_u64(text, "ShdPnd", 16, &shd);
	return ((ign | pnd | shd) >> (SIGTRAP - 1)) & 1;
}

/* The signal mask while we work: everything blocked but SIGKILL and SIGSTOP, and
 * SIGTRAP unless the injector is quiet. A single step with SIGTRAP blocked would
 * reset the process's SIGTRAP action to SIG_DFL (the kernel's forced signals do). */
static int block_signals(struct injector *in, struct err *err)
{
	uint64_t mask = ~0ull;

	if (!in->quiet)
		mask &= ~(1ull << (SIGTRAP - 1));
	if (ptrace(PTRACE_SETSIGMASK, in->tid, (void *)sizeof(mask), &mask) < 0)
		return err_sys(err, "cannot block the signals of thread %d", in->tid);
	return 0;
}

int inject_init(struct injector *in, pid_t tid, uint64_t gadget, const struct arch_regs *base,
		struct err *err)
{
	memset(in, 0, sizeof(*in));
	in->tid = tid;
	in->gadget = gadget;
	in->base = *base;
	if (!gadget)
		return err_set(err, -ENOSYS, "thread %d: no system call instruction to use", tid);
	in->quiet = trap_unsafe(tid);
	if (in->quiet)
		log_debug("thread %d: SIGTRAP ignored or pending: calls run without single steps",
			  tid);
	return block_signals(in, err);
}

int inject_set_quiet(struct injector *in, struct err *err)
{
	if (in->quiet)
		return 0;
	in->quiet = true;
	return block_signals(in, err);
}

/* A stop that is not ours: a stop signal to hand back later, or a new task. */
static void other_stop(struct injector *in, int st)
{
	if (ptu_event(st) == PTRACE_EVENT_CLONE) {
		unsigned long child = 0;

		ptrace(PTRACE_GETEVENTMSG, in->tid, NULL, &child);
		in->new_child = (pid_t)child;
	} else if (ptu_event(st) == 0 && WSTOPSIG(st) != (SIGTRAP | 0x80) && in->nlate < 8) {
		/* A stop signal or a SIGTRAP someone sent (the rest are blocked): hand it
		 * back later. */
		in->late_sigs[in->nlate++] = WSTOPSIG(st);
	}
}

/* Whether a SIGTRAP stop is the report of our single step, not a SIGTRAP someone
 * sent. */
static bool own_step(pid_t tid)
{
	siginfo_t si;

	return ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) < 0 || si.si_code > 0;
}

/* Resume with req until the stop want(status) says is ours. */
static int run_until(struct injector *in, long nr, int req, bool (*want)(pid_t, int),
		     struct err *err)
{
	int st, rc;

	if (ptrace(req, in->tid, NULL, NULL) < 0)
		return err_sys(err, "cannot run system call %ld in thread %d", nr, in->tid);
	for (int guard = 0; guard < 64; guard++) {
		rc = ptu_wait(in->tid, &st);
		if (rc < 0)
			return err_code(err, rc, "waiting for system call %ld in thread %d", nr,
					in->tid);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return err_set(err, -ESRCH, "thread %d died during system call %ld",
				       in->tid, nr);
		if (WIFSTOPPED(st) && want(in->tid, st))
			return 0;
		if (WIFSTOPPED(st))
			other_stop(in, st);
		if (ptrace(req, in->tid, NULL, NULL) < 0)
			return err_sys(err, "cannot resume system call %ld in thread %d", nr,
				       in->tid);
	}
	return err_set(err, -EIO, "thread %d: system call %ld does not complete", in->tid, nr);
}

static bool step_done(pid_t tid, int st)
{
	return WSTOPSIG(st) == SIGTRAP && ptu_event(st) == 0 && own_step(tid);
}

/* A syscall-stop (PTRACE_O_TRACESYSGOOD is set where threads are seized). */
static bool syscall_stop(pid_t tid, int st)
{
	(void)tid;
	return WSTOPSIG(st) == (SIGTRAP | 0x80);
}

long inject_syscall(struct injector *in, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		    uint64_t a3, uint64_t a4, uint64_t a5, struct err *err)
{
	const uint64_t args[6] = {a0, a1, a2, a3, a4, a5};
	struct arch_regs r = in->base;

	arch_regs_set_syscall(&r, in->gadget, nr, args);
	if (arch_set_regs(in->tid, &r, err) < 0)
		return INJECT_FAILED;
	/* Single-stepped over the syscall instruction: one stop. Quiet: stopped at the
	 * call's entry and exit instead, two stops but no signal. */
	if (!in->quiet ? run_until(in, nr, PTRACE_SINGLESTEP, step_done, err) < 0
		       : run_until(in, nr, PTRACE_SYSCALL, syscall_stop, err) < 0 ||
			     run_until(in, nr, PTRACE_SYSCALL, syscall_stop, err) < 0)
		return INJECT_FAILED;
	if (arch_get_regs(in->tid, &r, err) < 0)
		return INJECT_FAILED;
	if (arch_regs_ip(&r) != in->gadget + 2) {
		err_set(err, -EFAULT, "thread %d: system call %ld did not run (ip %#llx)", in->tid,
			nr, (unsigned long long)arch_regs_ip(&r));
		return INJECT_FAILED;
	}
	return arch_regs_retval(&r);
}

int inject_batch(struct injector *in, uint64_t code, int memfd, uint64_t table,
		 struct inject_call *calls, uint32_t n, struct err *err)
{
	struct arch_regs r = in->base;
	size_t len = (size_t)n * sizeof(*calls);
	int rc;

	if (n == 0)
		return 0;
	if (n > INJECT_BATCH_MAX)
		return err_set(err, -E2BIG, "internal: a batch of %u calls", n);
	if (in->quiet || !code) {
		for (uint32_t i = 0; i < n; i++) {
			const uint64_t *a = calls[i].a;
			long ret = inject_syscall(in, calls[i].nr, a[0], a[1], a[2], a[3], a[4], a[5],
						  err);

			if (ret == INJECT_FAILED)
				return err->code;
			calls[i].ret = ret;
		}
		return 0;
	}
	for (uint32_t i = 0; i < n; i++)
		calls[i].ret = -ENOSYS;
	rc = inject_mem_write(memfd, table, calls, len);
	if (rc < 0)
		return err_code(err, rc, "thread %d: cannot write a batch of calls", in->tid);
	arch_regs_set_batch(&r, code, table, n);
	if (arch_set_regs(in->tid, &r, err) < 0)
		return err->code;
	/* The code ends on int3: a SIGTRAP that, unblocked and not ignored (else the
	 * injector is quiet), leaves the process's SIGTRAP action alone. */
	rc = run_until(in, calls[0].nr, PTRACE_CONT, step_done, err);
	if (rc < 0)
		return rc;
	if (arch_get_regs(in->tid, &r, err) < 0)
		return err->code;
	if (arch_regs_ip(&r) != code + arch_batch_code_len)
		return err_set(err, -EFAULT, "thread %d: a batch of calls did not run (ip %#llx)",
			       in->tid, (unsigned long long)arch_regs_ip(&r));
	rc = inject_mem_read(memfd, table, calls, len);
	if (rc < 0)
		return err_code(err, rc, "thread %d: cannot read a batch's results", in->tid);
	return 0;
}

uint64_t inject_vdso_gadget(uint64_t target_vdso_start)
{
	const uint8_t *v = (const uint8_t *)getauxval(AT_SYSINFO_EHDR);

	if (!v || !target_vdso_start)
		return 0;
	/* Any 0f 05 pair executes as `syscall` when ip points at it. The vdso is the
	 * same image in every process of this kernel. */
	for (size_t i = 0; i + 1 < 2 * 4096; i++)
		if (v[i] == 0x0f && v[i + 1] == 0x05)
			return target_vdso_start + i;
	return 0;
}

int inject_mem_write(int memfd, uint64_t addr, const void *p, size_t n)
{
	ssize_t k = pwrite(memfd, p, n, (off_t)addr);

	if (k < 0)
		return -errno;
	return (size_t)k == n ? 0 : -EIO;
}

int inject_mem_read(int memfd, uint64_t addr, void *p, size_t n)
{
	ssize_t k = pread(memfd, p, n, (off_t)addr);

	if (k < 0)
		return -errno;
	return (size_t)k == n ? 0 : -EIO;
}
