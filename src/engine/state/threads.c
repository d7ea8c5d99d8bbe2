/* state/threads.c: every thread of a process: general registers with fs/gs base, the
 * full xstate (x87, SSE, AVX, AVX-512), blocked mask, pending per-thread signals with
 * their siginfo, rseq registration, clear-child-tid address, robust futex list,
 * sigaltstack and name. A thread stopped inside a system call is saved as the kernel
 * left it, and restarted from that call when it runs again.
 *
 * Restore: the leader is the process cr_restart created; the other threads are made
 * by clone3() run inside it, each at its saved tid (set_tid). Per-thread calls run in
 * each thread; the final registers are set once crest's trampoline is gone. */
#define LOG_PREFIX "threads: "
#include "state.h"

#include "../err.h"
#include "../image.h"
#include "../log.h"
#include "../ptrace_util.h"
#include "../seize.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../banned.h"

#define MAX_THREADS 65536u
#define MAX_PENDING 4096u
#define MAX_XSTATE (64u << 10)
#define MAX_SYSCALL_NR 4095
#define ROBUST_HEAD_LEN 24 /* struct robust_list_head, the only length the kernel takes */
#define RSEQ_MIN_LEN 32    /* the original struct rseq */
#define RSEQ_MAX_LEN 4096
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1u << 31) /* linux/signal.h, which clashes with glibc's */
#endif

struct rseq_config {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

static int collect_pending(pid_t tid, int shared, struct siginfo_img **ret, uint32_t *ret_n,
			   struct err *err)
{
	struct siginfo_img *list = NULL;
	uint32_t n = 0;

	for (;;) {
		struct __ptrace_peeksiginfo_args a = {
			.off = n, .flags = shared ? PTRACE_PEEKSIGINFO_SHARED : 0u, .nr = 32};
		siginfo_t si[32];
		long k = ptrace(PTRACE_PEEKSIGINFO, tid, &a, si);
		void *nl;

		if (k < 0) {
			free(list);
			return err_sys(err, "cannot read the pending signals of thread %d", tid);
		}
		if (k == 0)
			break;
		if (n + (uint32_t)k > MAX_PENDING) {
			free(list);
			return err_set(err, -E2BIG, "thread %d: too many pending signals", tid);
		}
		nl = realloc(list, (n + (size_t)k) * sizeof(*list));
		if (!nl) {
			free(list);
			return err_set(err, -ENOMEM, "out of memory");
		}
		list = nl;
		for (long i = 0; i < k; i++)
			memcpy(list[n + i].raw, &si[i], SIGINFO_SIZE);
		n += (uint32_t)k;
	}
	*ret = list;
	*ret_n = n;
	return 0;
}

/* Which system call the thread is in, -1 if none; through restart_syscall() too. */
static long syscall_in(struct dump_ctx *c, const struct arch_regs *regs)
{
	uint8_t code[ARCH_CODE_PEEK];
	long nr = arch_regs_syscall_nr(regs);

	if (nr < 0 || arch_regs_ip(regs) < ARCH_CODE_PEEK ||
	    inject_mem_read(c->memfd, arch_regs_ip(regs) - ARCH_CODE_PEEK, code, sizeof(code)) < 0)
		return nr;
	return arch_syscall_from_code(regs, code);
}

/* Whether a signal is waiting that will be handled when the thread runs: then an EINTR
 * it got is that signal's doing. any: count blocked signals too (the thread's mask in
 * the call is not known). */
static int signal_due(const struct seized_thread *st, const struct thread_img *t, bool any,
		      struct err *err)
{
	struct siginfo_img *shared = NULL;
	uint32_t nshared = 0;
	int due = 0;

	if (collect_pending(t->tid, 1, &shared, &nshared, err) < 0)
		return err->code;
	for (uint32_t k = 0; k < t->npending + nshared && !due; k++) {
		const siginfo_t *si = (const siginfo_t *)(k < t->npending ? t->pending[k].raw
									  : shared[k - t->npending].raw);

		due = any || si->si_signo < 1 || si->si_signo > 64 ||
		      !(st->sigmask & (1ull << (si->si_signo - 1)));
	}
	free(shared);
	return due;
}

/* Freezing the thread woke its call with EINTR (see arch_regs_eintr_call): unless a
 * signal did that, have the call start again, whether the process goes on (the
 * registers release puts back) or is restarted (the saved ones). */
static int undo_freeze_eintr(struct seized_thread *st, struct thread_img *t, struct err *err)
{
	int kind = arch_regs_eintr_call(&st->regs), due;

	if (!kind)
		return 0;
	due = signal_due(st, t, kind == 2, err);
	if (due < 0)
		return due;
	if (due)
		return 0;
	log_debug("thread %d: system call %d woken by the freeze, restarted", t->tid,
		  t->syscall_nr);
	arch_regs_restart_call(&st->regs);
	st->dirty = true;
	t->regs = st->regs;
	return 0;
}

static int collect_one(struct dump_ctx *c, struct seized_thread *st, struct thread_img *t,
		       struct err *err)
{
	struct arch_cpu cpu;
	struct rseq_config rc = {0};
	struct injector in;
	stack_t ss;
	char path[96];
	struct buf b;
	long r, head_len;
	uint64_t head = 0;

	t->tid = st->tid;
	t->regs = st->regs;
	t->sigmask = st->sigmask;
	t->syscall_nr = (int32_t)syscall_in(c, &st->regs);
	arch_cpu_probe(&cpu);
	t->xstate = malloc(cpu.xstate_size);
	if (!t->xstate)
		return err_set(err, -ENOMEM, "out of memory");
	if (arch_get_xstate(t->tid, t->xstate, cpu.xstate_size, &t->xstate_len, err) < 0)
		return err->code;
	if (collect_pending(t->tid, 0, &t->pending, &t->npending, err) < 0)
		return err->code;
	if (undo_freeze_eintr(st, t, err) < 0)
		return err->code;
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, t->tid, (void *)sizeof(rc), &rc) > 0 &&
	    rc.rseq_abi_pointer) {
		t->rseq_addr = rc.rseq_abi_pointer;
		t->rseq_len = rc.rseq_abi_size;
		t->rseq_sig = rc.signature;
	}
	if (syscall(SYS_get_robust_list, t->tid, &head, &head_len) == 0) {
		t->robust_head = head;
		t->robust_len = (uint64_t)head_len;
	}

	/* Calls only the thread itself can answer. */
	if (inject_init(&in, t->tid, c->gadget, &st->regs, err) < 0)
		return err->code;
	r = inject_syscall(&in, SYS_prctl, PR_GET_TID_ADDRESS, c->scratch, 0, 0, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r == 0 && pread(c->memfd, &t->tid_address, 8, (off_t)c->scratch) != 8)
		return err_sys(err, "thread %d: cannot read its tid address", t->tid);
	r = inject_syscall(&in, SYS_sigaltstack, 0, c->scratch, 0, 0, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r == 0 && pread(c->memfd, &ss, sizeof(ss), (off_t)c->scratch) == sizeof(ss)) {
		t->altstack_sp = (uint64_t)ss.ss_sp;
		t->altstack_size = ss.ss_size;
		t->altstack_flags = ss.ss_flags & ~SS_ONSTACK;
	}
	for (int i = 0; i < in.nlate && c->seized->nlate < 8; i++)
		c->seized->late_sigs[c->seized->nlate++] = in.late_sigs[i];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", c->p->pid, t->tid);
	buf_init(&b);
	if (buf_read_file(&b, path) == 0) {
		char *nl = strchr((char *)b.data, '\n');

		if (nl)
			*nl = '\0';
		snprintf(t->comm, sizeof(t->comm), "%s", (char *)b.data);
	}
	buf_fini(&b);
	return 0;
}

static int threads_collect(struct dump_ctx *c, struct err *err)
{
	struct proc_img *p = c->p;
	struct seize_set *s = c->seized;
	int rc;

	p->threads = calloc(s->nth, sizeof(*p->threads));
	if (!p->threads)
		return err_set(err, -ENOMEM, "out of memory");
	/* The leader first: restart creates the others from it. */
	for (uint32_t i = 0, k = 1; i < s->nth; i++) {
		struct thread_img *t = s->th[i].tid == p->pid ? &p->threads[0] : &p->threads[k++];

		p->nthreads++;
		rc = collect_one(c, &s->th[i], t, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int threads_encode(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	const struct proc_img *p = c->p;
	struct buf b;
	int rc = 0;

	buf_init(&b);
	for (uint32_t i = 0; i < p->nthreads && rc == 0; i++) {
		const struct thread_img *t = &p->threads[i];

		buf_reset(&b);
		put_u32(&b, (uint32_t)p->pid);
		put_u32(&b, (uint32_t)t->tid);
		arch_regs_encode(&b, &t->regs);
		put_blob(&b, t->xstate, t->xstate_len);
		put_u64(&b, t->sigmask);
		put_u32(&b, t->npending);
		for (uint32_t k = 0; k < t->npending; k++)
			put_bytes(&b, t->pending[k].raw, SIGINFO_SIZE);
		put_u64(&b, t->rseq_addr);
		put_u32(&b, t->rseq_len);
		put_u32(&b, t->rseq_sig);
		put_u64(&b, t->tid_address);
		put_u64(&b, t->robust_head);
		put_u64(&b, t->robust_len);
		put_u64(&b, t->altstack_sp);
		put_u64(&b, t->altstack_size);
		put_i32(&b, t->altstack_flags);
		put_str(&b, t->comm);
		put_i32(&b, t->syscall_nr);
		rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
			   : img_write_record(w, REC_THREAD, REC_F_REQUIRED, b.data, b.len, err);
	}
	buf_fini(&b);
	return rc;
}

static int threads_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
			  struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;
	struct thread_img *t;
	const void *xs;
	const char *why = NULL;
	char *comm;
	uint32_t tid;

	wr_init(&rd, rec->payload, rec->len);
	p = state_rec_proc(m, &rd, rec, r, err);
	if (!p)
		return err->code;
	tid = get_u32(&rd);
	if (rd.bad || tid == 0 || tid > 0x3fffffff)
		return img_rec_corrupt(r, rec, "invalid thread id", err);
	for (uint32_t i = 0; i < p->nthreads; i++)
		if (p->threads[i].tid == (pid_t)tid)
			return img_rec_corrupt(r, rec, "a second record for the same thread", err);
	if (p->nthreads >= MAX_THREADS)
		return img_rec_corrupt(r, rec, "too many threads", err);
	t = model_grow((void **)&p->threads, &p->nthreads, sizeof(*t));
	if (!t)
		return err_set(err, -ENOMEM, "out of memory");
	t->tid = (pid_t)tid;
	arch_regs_decode(&rd, &t->regs);
	xs = get_blob(&rd, MAX_XSTATE, &t->xstate_len);
	if (xs) {
		t->xstate = malloc(t->xstate_len ? t->xstate_len : 1);
		if (!t->xstate)
			return err_set(err, -ENOMEM, "out of memory");
		memcpy(t->xstate, xs, t->xstate_len);
	}
	t->sigmask = get_u64(&rd);
	t->npending = get_count(&rd, SIGINFO_SIZE, MAX_PENDING);
	t->pending = calloc(t->npending ? t->npending : 1, sizeof(*t->pending));
	if (!t->pending)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t k = 0; k < t->npending; k++)
		get_bytes(&rd, t->pending[k].raw, SIGINFO_SIZE);
	t->rseq_addr = get_u64(&rd);
	t->rseq_len = get_u32(&rd);
	t->rseq_sig = get_u32(&rd);
	t->tid_address = get_u64(&rd);
	t->robust_head = get_u64(&rd);
	t->robust_len = get_u64(&rd);
	t->altstack_sp = get_u64(&rd);
	t->altstack_size = get_u64(&rd);
	t->altstack_flags = get_i32(&rd);
	comm = get_str(&rd, MODEL_COMM_LEN - 1);
	if (comm)
		snprintf(t->comm, sizeof(t->comm), "%s", comm);
	free(comm);
	t->syscall_nr = get_i32(&rd);
	if (t->syscall_nr < -1 || t->syscall_nr > MAX_SYSCALL_NR)
		wr_fail(&rd, "system call number out of range");
	if (t->rseq_addr ? t->rseq_len < RSEQ_MIN_LEN || t->rseq_len > RSEQ_MAX_LEN
			 : t->rseq_len || t->rseq_sig)
		wr_fail(&rd, "rseq registration with a bad length");
	if (t->robust_head && t->robust_len != ROBUST_HEAD_LEN)
		wr_fail(&rd, "robust futex list with a bad length");
	if ((uint32_t)t->altstack_flags & ~(uint32_t)(SS_DISABLE | SS_AUTODISARM))
		wr_fail(&rd, "alternate signal stack with unknown flags");
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	if (!arch_regs_valid(&t->regs, &why))
		return img_rec_corrupt(r, rec, why, err);
	if (!t->xstate_len)
		return img_rec_corrupt(r, rec, "no FPU state", err);
	for (uint32_t k = 0; k < t->npending; k++) {
		const siginfo_t *si = (const siginfo_t *)t->pending[k].raw;

		if (si->si_signo < 1 || si->si_signo > 64)
			return img_rec_corrupt(r, rec, "pending signal out of range", err);
	}
	return 0;
}

static int threads_validate(struct model *m, struct proc_img *p, struct err *err)
{
	if (!p->nthreads || p->threads[0].tid != p->pid)
		return err_set(err, -EINVAL, "pid %d: the context has no record for its main thread",
			       p->pid);
	for (uint32_t i = 0; i < p->nthreads; i++) {
		const struct thread_img *t = &p->threads[i];

		if (t->xstate_len != m->meta.xstate_size)
			return err_set(err, -EINVAL, "thread %d: FPU state of %u bytes, header says %u",
				       t->tid, t->xstate_len, m->meta.xstate_size);
	}
	return 0;
}

/* The saved FPU state must fit this CPU (cr_info reads any context; restart may not). */
static int threads_prepare(struct rst_ctx *c, struct err *err)
{
	const struct model *m = c->m;
	struct arch_cpu cpu;

	arch_cpu_probe(&cpu);
	if ((m->meta.xcr0 & ~cpu.xcr0) || m->meta.xstate_size != cpu.xstate_size)
		return err_set(err, -ENOSYS,
			       "pid %d used CPU state (XCR0 %#llx, %u bytes) that this CPU does not "
			       "have (XCR0 %#llx, %u bytes)",
			       c->rp->p->pid, (unsigned long long)m->meta.xcr0,
			       m->meta.xstate_size, (unsigned long long)cpu.xcr0, cpu.xstate_size);
	return 0;
}

/* ---- restart ---- */

static int wait_new_thread(pid_t tid, struct err *err)
{
	int st, rc;

	for (int tries = 0; tries < 16; tries++) {
		rc = ptu_wait(tid, &st);
		if (rc < 0)
			return err_code(err, rc, "waiting for new thread %d", tid);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return err_set(err, -ESRCH, "new thread %d died", tid);
		if (WIFSTOPPED(st) && ptu_event(st) == PTRACE_EVENT_STOP)
			return 0;
		ptrace(PTRACE_CONT, tid, NULL, NULL);
	}
	return err_set(err, -EIO, "new thread %d did not stop", tid);
}

static int create_thread(struct rst_ctx *c, uint32_t i, struct err *err)
{
	struct rst_proc *rp = c->rp;
	const struct thread_img *t = &rp->p->threads[i];
	struct clone_args ca;
	uint64_t a_tid, a_args;
	pid_t want = t->tid;
	long r;

	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
		   CLONE_SYSVSEM | (t->tid_address ? CLONE_CHILD_CLEARTID : 0);
	ca.child_tid = t->tid_address;
	if (c->opts->restore_pid) {
		if (rst_scratch_put(rp, 4096, &want, sizeof(want), &a_tid, err) < 0)
			return err->code;
		ca.set_tid = a_tid;
		ca.set_tid_size = 1;
	}
	if (rst_scratch_put(rp, 4096 + 64, &ca, sizeof(ca), &a_args, err) < 0)
		return err->code;
	rp->inj.new_child = 0;
	r = inject_syscall(&rp->inj, SYS_clone3, a_args, sizeof(ca), 0, 0, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r == -EEXIST)
		return err_set(err, -EBUSY, "thread id %d is in use", t->tid);
	if (r < 0)
		return err_code(err, (int)r, "pid %d: cannot create thread %d", rp->p->pid, t->tid);
	/* clone3() returns the tid as the process sees it; ptrace gives ours (they differ
	 * inside a new pid namespace). */
	rp->vtids[i] = (pid_t)r;
	rp->tids[i] = rp->inj.new_child > 0 ? rp->inj.new_child : (pid_t)r;
	return wait_new_thread(rp->tids[i], err);
}

/* Per-thread state that only the thread can set. */
static int thread_calls(struct rst_ctx *c, uint32_t i, struct injector *in, struct err *err)
{
	struct rst_proc *rp = c->rp;
	const struct thread_img *t = &rp->p->threads[i];
	pid_t tid = rp->vtids[i]; /* as the process sees it: calls run inside it */
	uint64_t a;
	long r;

#define T_CALL(what, ...)                                                                     \
	do {                                                                                  \
		r = inject_syscall(in, __VA_ARGS__, err);                                     \
		if (r == INJECT_FAILED)                                                       \
			return err->code;                                                     \
		if (r < 0)                                                                    \
			return err_code(err, (int)r, "thread %d: cannot %s", t->tid, what);   \
	} while (0)

	if (t->rseq_addr)
		T_CALL("register rseq", SYS_rseq, t->rseq_addr, t->rseq_len, 0, t->rseq_sig, 0, 0);
	/* Every new task starts without one (clone3() is no glibc fork()). */
	if (t->robust_head)
		T_CALL("set its robust futex list", SYS_set_robust_list, t->robust_head,
		       t->robust_len, 0, 0, 0, 0);
	if (i == 0)
		T_CALL("set its tid address", SYS_set_tid_address, t->tid_address, 0, 0, 0, 0, 0);
	if (t->altstack_sp || t->altstack_flags) {
		stack_t ss = {.ss_sp = (void *)t->altstack_sp,
			      .ss_size = t->altstack_size,
			      .ss_flags = t->altstack_flags};

		if (rst_scratch_put(rp, 0, &ss, sizeof(ss), &a, err) < 0)
			return err->code;
		T_CALL("set its alternate signal stack", SYS_sigaltstack, a, 0, 0, 0, 0, 0);
	}
	if (rst_scratch_put(rp, 0, t->comm, sizeof(t->comm), &a, err) < 0)
		return err->code;
	T_CALL("set its name", SYS_prctl, PR_SET_NAME, a, 0, 0, 0, 0);
	/* With fresh ids, glibc's cached tid (at the clear-child-tid address) is fixed. */
	if (!c->opts->restore_pid && t->tid_address &&
	    inject_mem_write(rp->memfd, t->tid_address, &tid, sizeof(tid)) < 0)
		return err_sys(err, "thread %d: cannot update its cached tid", t->tid);
	for (uint32_t k = 0; k < t->npending; k++) {
		siginfo_t si;

		memcpy(&si, t->pending[k].raw, sizeof(si));
		/* A single step would take a pending SIGTRAP (inject.h). */
		if (si.si_signo == SIGTRAP && inject_set_quiet(in, err) < 0)
			return err->code;
		if (rst_scratch_put(rp, 0, &si, sizeof(si), &a, err) < 0)
			return err->code;
		T_CALL("queue a pending signal", SYS_rt_tgsigqueueinfo, (uint64_t)rp->vpid,
		       (uint64_t)tid, (uint64_t)si.si_signo, a, 0, 0);
	}
#undef T_CALL
	return 0;
}

static int threads_restore(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	int rc;

	for (uint32_t i = 1; i < rp->p->nthreads; i++) {
		rc = create_thread(c, i, err);
		if (rc < 0)
			return rc;
	}
	rc = thread_calls(c, 0, &rp->inj, err);
	for (uint32_t i = 1; rc == 0 && i < rp->p->nthreads; i++) {
		struct injector in;
		struct arch_regs base;

		if (arch_get_regs(rp->tids[i], &base, err) < 0)
			return err->code;
		if (inject_init(&in, rp->tids[i], rp->inj.gadget, &base, err) < 0)
			return err->code;
		rc = thread_calls(c, i, &in, err);
	}
	return rc;
}

/* Once crest's trampoline is gone: the saved registers, FPU state and mask. */
static int threads_finish(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;

	for (uint32_t i = 0; i < rp->p->nthreads; i++) {
		const struct thread_img *t = &rp->p->threads[i];
		struct arch_regs regs = t->regs;
		const char *what = arch_regs_fix_restart(&regs, t->syscall_nr);
		uint64_t mask = t->sigmask;

		if (what)
			log_debug("thread %d: %s", t->tid, what);
		if (arch_set_regs(rp->tids[i], &regs, err) < 0 ||
		    arch_set_xstate(rp->tids[i], t->xstate, t->xstate_len, err) < 0)
			return err->code;
		if (ptrace(PTRACE_SETSIGMASK, rp->tids[i], (void *)sizeof(mask), &mask) < 0)
			return err_sys(err, "thread %d: cannot set its signal mask", t->tid);
	}
	return 0;
}

static void threads_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	(void)m;
	out_arr_begin(o, "threads");
	for (uint32_t i = 0; i < p->nthreads; i++) {
		const struct thread_img *t = &p->threads[i];

		out_obj_begin(o, NULL);
		out_i64(o, "tid", t->tid);
		out_str(o, "comm", t->comm);
		out_hex(o, "ip", arch_regs_ip(&t->regs));
		out_hex(o, "sp", arch_regs_sp(&t->regs));
		if (t->syscall_nr >= 0)
			out_i64(o, "in_syscall", t->syscall_nr);
		out_hex(o, "blocked", t->sigmask);
		out_u64(o, "pending", t->npending);
		out_u64(o, "xstate_bytes", t->xstate_len);
		if (t->altstack_sp)
			out_hex(o, "altstack", t->altstack_sp);
		out_obj_end(o);
	}
	out_arr_end(o);
}

const struct state_ops threads_ops = {
	.name = "threads",
	.recs = {REC_THREAD},
	.collect = threads_collect,
	.encode = threads_encode,
	.decode = threads_decode,
	.validate = threads_validate,
	.prepare = threads_prepare,
	.restore = threads_restore,
	.finish = threads_finish,
	.describe = threads_describe,
};
