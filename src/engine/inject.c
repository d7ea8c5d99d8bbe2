/* inject.c: system calls run inside a stopped thread through ptrace. */
#define LOG_PREFIX "inject: "
#include "inject.h"

#include "err.h"
#include "log.h"
#include "ptrace_util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banned.h"

int inject_init(struct injector *in, pid_t tid, uint64_t gadget, const struct arch_regs *base,
		struct err *err)
{
	uint64_t all = ~0ull;

	memset(in, 0, sizeof(*in));
	in->tid = tid;
	in->gadget = gadget;
	in->base = *base;
	if (!gadget)
		return err_set(err, -ENOSYS, "thread %d: no system call instruction to use", tid);
	/* SIGKILL and SIGSTOP stay deliverable; everything else waits. */
	if (ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(all), &all) < 0)
		return err_sys(err, "cannot block the signals of thread %d", tid);
	return 0;
}

long inject_syscall(struct injector *in, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		    uint64_t a3, uint64_t a4, uint64_t a5, struct err *err)
{
	const uint64_t args[6] = {a0, a1, a2, a3, a4, a5};
	struct arch_regs r = in->base;
	int st, rc;

	arch_regs_set_syscall(&r, in->gadget, nr, args);
	if (arch_set_regs(in->tid, &r, err) < 0)
		return INJECT_FAILED;
	if (ptrace(PTRACE_SINGLESTEP, in->tid, NULL, NULL) < 0) {
		err_sys(err, "cannot run system call %ld in thread %d", nr, in->tid);
		return INJECT_FAILED;
	}
	for (int guard = 0; guard < 64; guard++) {
		rc = ptu_wait(in->tid, &st);
		if (rc < 0) {
			err_code(err, rc, "waiting for system call %ld in thread %d", nr, in->tid);
			return INJECT_FAILED;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st)) {
			err_set(err, -ESRCH, "thread %d died during system call %ld", in->tid, nr);
			return INJECT_FAILED;
		}
		if (!WIFSTOPPED(st))
			continue;
		if (WSTOPSIG(st) == SIGTRAP && ptu_event(st) == 0)
			break; /* the single step completed */
		if (ptu_event(st) == PTRACE_EVENT_CLONE) {
			unsigned long child = 0;

			ptrace(PTRACE_GETEVENTMSG, in->tid, NULL, &child);
			in->new_child = (pid_t)child;
		} else if (ptu_event(st) == 0 && in->nlate < 8) {
			/* A stop signal (the rest are blocked): hand it back later. */
			in->late_sigs[in->nlate++] = WSTOPSIG(st);
		}
		if (ptrace(PTRACE_SINGLESTEP, in->tid, NULL, NULL) < 0) {
			err_sys(err, "cannot resume system call %ld in thread %d", nr, in->tid);
			return INJECT_FAILED;
		}
	}
	if (arch_get_regs(in->tid, &r, err) < 0)
		return INJECT_FAILED;
	if (arch_regs_ip(&r) != in->gadget + 2) {
		err_set(err, -EFAULT, "thread %d: system call %ld did not run (ip %#llx)", in->tid,
			nr, (unsigned long long)arch_regs_ip(&r));
		return INJECT_FAILED;
	}
	return arch_regs_retval(&r);
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
