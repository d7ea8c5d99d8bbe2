/* arch.h: what is x86_64-specific: registers, xstate, the syscall ABI for injection,
 * and how an interrupted system call is restarted. */
#ifndef CREST_ARCH_H
#define CREST_ARCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

#define ARCH_NAME "x86_64"
#define ARCH_ELF_MACHINE 62 /* EM_X86_64 */
#define ARCH_NGPREGS (sizeof(struct user_regs_struct) / sizeof(uint64_t))

struct arch_regs {
	struct user_regs_struct gp;
};

struct err;

/* The CPU's extended state: enabled features (XCR0) and the size of the
 * PTRACE_GETREGSET NT_X86_XSTATE buffer. */
struct arch_cpu {
	uint64_t xcr0;
	uint32_t xstate_size;
};
void arch_cpu_probe(struct arch_cpu *cpu);

int arch_get_regs(pid_t tid, struct arch_regs *r, struct err *err);
int arch_set_regs(pid_t tid, const struct arch_regs *r, struct err *err);
/* xstate: buf must hold cpu.xstate_size bytes; *ret_len gets what the kernel gave. */
int arch_get_xstate(pid_t tid, void *buf, uint32_t size, uint32_t *ret_len, struct err *err);
int arch_set_xstate(pid_t tid, const void *buf, uint32_t len, struct err *err);

/* Injection: make r call syscall nr(a...) at ip, with no restart fix-up pending. */
void arch_regs_set_syscall(struct arch_regs *r, uint64_t ip, long nr, const uint64_t args[6]);
long arch_regs_retval(const struct arch_regs *r);
uint64_t arch_regs_ip(const struct arch_regs *r);
uint64_t arch_regs_sp(const struct arch_regs *r);

/* A stopped thread inside a system call: orig syscall number, or -1 when in user code. */
long arch_regs_syscall_nr(const struct arch_regs *r);
/* Some calls end with EINTR rather than a restart code when a ptrace stop, such as
 * crest's freeze, wakes them (rt_sigtimedwait, epoll_wait, semop...; signal(7)).
 * Returns 0 if r is not stopped at the end of one that gave EINTR, 1 if it is, 2 if
 * it is one that runs with a signal mask of its own (so the mask ptrace reports is
 * not the one it ran with). */
int arch_regs_eintr_call(const struct arch_regs *r);
/* Make the call r is stopped at the end of start again when the thread runs, or
 * give EINTR to a signal handler that comes first (-ERESTARTNOHAND). */
void arch_regs_restart_call(struct arch_regs *r);
/* A thread that the kernel was resuming with restart_syscall() (after a stop, or an
 * earlier checkpoint it went on from) no longer shows which call that is. The
 * ARCH_CODE_PEEK bytes of code that end at its ip tell, when they are glibc's usual
 * "mov $nr, %eax; syscall". Returns the call's number (r's own when it is not in
 * restart_syscall), or -1 if it cannot be told. */
#define ARCH_CODE_PEEK 7
long arch_syscall_from_code(const struct arch_regs *r, const uint8_t code[ARCH_CODE_PEEK]);
/* Registers for a new task, as saved from a thread stopped in system call nr, such
 * that the call carries on as it would have in the old task: restarted when the
 * thread runs, or EINTR for a handler that comes first. Only the kernel's restart
 * block cannot move; such a call is restarted from its arguments (a relative sleep
 * for the time it had left). Returns a short description for diagnostics, or NULL
 * if r was not inside a call. */
const char *arch_regs_fix_restart(struct arch_regs *r, long nr);

/* The bytes of "syscall; int3" and where in them the syscall is. */
extern const uint8_t arch_syscall_insn[];
extern const size_t arch_syscall_insn_len;
/* Code that runs a table of system calls one after the other and ends on a trap
 * right after its last byte (inject_batch()); arch_regs_set_batch() points a thread's
 * registers at it. */
extern const uint8_t arch_batch_code[];
extern const size_t arch_batch_code_len;
void arch_regs_set_batch(struct arch_regs *r, uint64_t code, uint64_t table, uint64_t n);

/* Encode and decode registers in a record, and print them. */
struct buf;
struct wire_rd;
void arch_regs_encode(struct buf *b, const struct arch_regs *r);
void arch_regs_decode(struct wire_rd *rd, struct arch_regs *r);
/* Registers that must hold for any user task: segment selectors, ip in range. */
bool arch_regs_valid(const struct arch_regs *r, const char **why);

/* set/get the vdso location: ARCH_MAP_VDSO_64 needs the address of the first
 * special mapping ([vvar]). */
#define ARCH_HAVE_MAP_VDSO 1

#endif
