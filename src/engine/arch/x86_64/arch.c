/* arch.c: x86_64 registers, xstate and the syscall ABI as seen through ptrace. */
#include "arch.h"

#include "../../err.h"
#include "../../../util/buf.h"
#include "../../../util/wire.h"

#include <cpuid.h>
#include <elf.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <time.h>

#include "../../banned.h"

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

/* The kernel's internal restart codes (include/linux/errno.h). */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

#define NR_NANOSLEEP 35
#define NR_RESTART_SYSCALL 219
#define NR_CLOCK_NANOSLEEP 230

const uint8_t arch_syscall_insn[] = {0x0f, 0x05, 0xcc}; /* syscall; int3 */
const size_t arch_syscall_insn_len = sizeof(arch_syscall_insn);

/* The batch: rdi = table of struct inject_call (64 bytes each), rsi = count.
 *	mov r12, rdi; mov r13, rsi
 * 1:	test r13, r13; jz 2f
 *	mov rax, [r12]; mov rdi, [r12+8]; mov rsi, [r12+16]; mov rdx, [r12+24]
 *	mov r10, [r12+32]; mov r8, [r12+40]; mov r9, [r12+48]
 *	syscall; mov [r12+56], rax
 *	add r12, 64; dec r13; jmp 1b
 * 2:	int3 */
const uint8_t arch_batch_code[] = {
    0x49, 0x89, 0xfc, 0x49, 0x89, 0xf5, 0x4d, 0x85, 0xed, 0x74, 0x32, 0x49, 0x8b, 0x04,
    0x24, 0x49, 0x8b, 0x7c, 0x24, 0x08, 0x49, 0x8b, 0x74, 0x24, 0x10, 0x49, 0x8b, 0x54,
    0x24, 0x18, 0x4d, 0x8b, 0x54, 0x24, 0x20, 0x4d, 0x8b, 0x44, 0x24, 0x28, 0x4d, 0x8b,
    0x4c, 0x24, 0x30, 0x0f, 0x05, 0x49, 0x89, 0x44, 0x24, 0x38, 0x49, 0x83, 0xc4, 0x40,
    0x49, 0xff, 0xcd, 0xeb, 0xc9, 0xcc};
const size_t arch_batch_code_len = sizeof(arch_batch_code);

void arch_regs_set_batch(struct arch_regs *r, uint64_t code, uint64_t table, uint64_t n)
{
	r->gp.rip = code;
	r->gp.orig_rax = (uint64_t)-1; /* as for a call: no restart fix-up */
	r->gp.rdi = table;
	r->gp.rsi = n;
	r->gp.eflags &= ~0x100ull;
}

static uint64_t xgetbv0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

void arch_cpu_probe(struct arch_cpu *cpu)
{
	unsigned int a, b, c, d;

	memset(cpu, 0, sizeof(*cpu));
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) {
		cpu->xcr0 = 3; /* x87 and SSE only, no XSAVE */
		cpu->xstate_size = 512;
		return;
	}
	cpu->xcr0 = xgetbv0();
	__cpuid_count(0xd, 0, a, b, c, d);
	cpu->xstate_size = b;
}

int arch_get_regs(pid_t tid, struct arch_regs *r, struct err *err)
{
	struct iovec iov = {.iov_base = &r->gp, .iov_len = sizeof(r->gp)};

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return err_sys(err, "cannot read the registers of thread %d", tid);
	if (iov.iov_len != sizeof(r->gp))
		return err_set(err, -EIO, "thread %d: unexpected register set size %zu", tid,
			       iov.iov_len);
	return 0;
}

int arch_set_regs(pid_t tid, const struct arch_regs *r, struct err *err)
{
	struct iovec iov = {.iov_base = (void *)&r->gp, .iov_len = sizeof(r->gp)};

	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov) < 0)
		return err_sys(err, "cannot set the registers of thread %d", tid);
	return 0;
}

int arch_get_xstate(pid_t tid, void *buf, uint32_t size, uint32_t *ret_len, struct err *err)
{
	struct iovec iov = {.iov_base = buf, .iov_len = size};

	if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0)
		return err_sys(err, "cannot read the extended FPU state of thread %d", tid);
	*ret_len = (uint32_t)iov.iov_len;
	return 0;
}

int arch_set_xstate(pid_t tid, const void *buf, uint32_t len, struct err *err)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};

	if (ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov) < 0)
		return err_sys(err, "cannot set the extended FPU state of thread %d", tid);
	return 0;
}

void arch_regs_set_syscall(struct arch_regs *r, uint64_t ip, long nr, const uint64_t args[6])
{
	r->gp.rip = ip;
	r->gp.rax = (uint64_t)nr;
	/* orig_rax -1: no restart fix-up may rewind ip when the injected call returns. */
	r->gp.orig_rax = (uint64_t)-1;
	r->gp.rdi = args[0];
	r->gp.rsi = args[1];
	r->gp.rdx = args[2];
	r->gp.r10 = args[3];
	r->gp.r8 = args[4];
	r->gp.r9 = args[5];
	r->gp.eflags &= ~0x100ull; /* no trap flag left over */
}

long arch_regs_retval(const struct arch_regs *r)
{
	return (long)r->gp.rax;
}

uint64_t arch_regs_ip(const struct arch_regs *r)
{
	return r->gp.rip;
}

uint64_t arch_regs_sp(const struct arch_regs *r)
{
	return r->gp.rsp;
}

long arch_regs_syscall_nr(const struct arch_regs *r)
{
	return (long)r->gp.orig_rax;
}

int arch_regs_eintr_call(const struct arch_regs *r)
{
	/* signal(7): never restarted, and ended by a stop. The second column: runs
	 * with a signal mask of its own. */
	static const struct {
		long nr;
		int temp_mask;
	} calls[] = {
		{65, 0},   /* semop */
		{128, 0},  /* rt_sigtimedwait */
		{208, 0},  /* io_getevents */
		{220, 0},  /* semtimedop */
		{232, 0},  /* epoll_wait */
		{281, 1},  /* epoll_pwait */
		{333, 1},  /* io_pgetevents */
		{441, 1},  /* epoll_pwait2 */
	};

	if ((long)r->gp.rax != -EINTR)
		return 0;
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++)
		if ((long)r->gp.orig_rax == calls[i].nr)
			return 1 + calls[i].temp_mask;
	return 0;
}

void arch_regs_restart_call(struct arch_regs *r)
{
	r->gp.rax = (uint64_t)-ERESTARTNOHAND;
}

long arch_syscall_from_code(const struct arch_regs *r, const uint8_t code[ARCH_CODE_PEEK])
{
	long nr = (long)r->gp.orig_rax;
	int32_t imm;

	if (nr != NR_RESTART_SYSCALL)
		return nr;
	/* glibc's wrappers load the number right before the call: b8 imm32; 0f 05. */
	if (code[0] != 0xb8 || code[5] != 0x0f || code[6] != 0x05)
		return -1;
	memcpy(&imm, code + 1, sizeof(imm));
	return imm >= 0 && imm < 4096 && imm != NR_RESTART_SYSCALL ? imm : -1;
}

const char *arch_regs_fix_restart(struct arch_regs *r, long nr)
{
	long ret = (long)r->gp.rax;

	if ((long)r->gp.orig_rax < 0)
		return NULL;
	switch (ret) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		/* Left as they are: when the thread runs, the kernel restarts the call or,
		 * if a signal with a handler is pending by then, returns EINTR (or restarts
		 * it after the handler, for SA_RESTART), as it would have without us. */
		return "system call restarts when the thread runs";
	case -ERESTART_RESTARTBLOCK:
		break;
	default:
		return NULL;
	}
	/* The restart block (what restart_syscall() would resume) stayed with the old
	 * task. Restart the call itself instead, as -ERESTARTNOHAND: a handler gets EINTR
	 * just as it would have; with none the kernel calls it again. */
	if (nr < 0 || nr == NR_RESTART_SYSCALL) {
		r->gp.rax = (uint64_t)-EINTR;
		r->gp.orig_rax = (uint64_t)-1;
		return "interrupted system call (unknown) returns EINTR";
	}
	r->gp.orig_rax = (uint64_t)nr;
	r->gp.rax = (uint64_t)-ERESTARTNOHAND;
	/* A relative sleep has written the time left to its rem argument: sleep for
	 * that (restart_syscall() would have too). Other calls start again from their
	 * arguments: an absolute sleep or futex wait loses nothing, a poll() timeout or
	 * a relative futex timeout starts over. */
	if (nr == NR_NANOSLEEP && r->gp.rsi) {
		r->gp.rdi = r->gp.rsi;
		return "sleep resumes for the time left";
	}
	if (nr == NR_CLOCK_NANOSLEEP && !(r->gp.rsi & TIMER_ABSTIME) && r->gp.r10) {
		r->gp.rdx = r->gp.r10;
		return "sleep resumes for the time left";
	}
	return "system call restarts from its arguments";
}

void arch_regs_encode(struct buf *b, const struct arch_regs *r)
{
	const uint64_t *w = (const uint64_t *)&r->gp;

	put_u32(b, (uint32_t)ARCH_NGPREGS);
	for (size_t i = 0; i < ARCH_NGPREGS; i++)
		put_u64(b, w[i]);
}

void arch_regs_decode(struct wire_rd *rd, struct arch_regs *r)
{
	uint64_t *w = (uint64_t *)&r->gp;

	if (get_u32(rd) != ARCH_NGPREGS) {
		wr_fail(rd, "register count does not match this architecture");
		return;
	}
	for (size_t i = 0; i < ARCH_NGPREGS; i++)
		w[i] = get_u64(rd);
}

bool arch_regs_valid(const struct arch_regs *r, const char **why)
{
	if (r->gp.cs != 0x33) {
		*why = "code segment is not 64-bit user mode";
		return false;
	}
	if (r->gp.ss != 0x2b) {
		*why = "stack segment is not user mode";
		return false;
	}
	if (r->gp.rip >= (1ull << 56)) {
		*why = "instruction pointer outside user space";
		return false;
	}
	return true;
}
