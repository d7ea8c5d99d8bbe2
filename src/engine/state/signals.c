/* state/signals.c: the process's signal dispositions (handler, flags, restorer, mask)
 * and the signals pending for the whole process, with their siginfo. Per-thread masks
 * and pending signals belong to threads.c.
 *
 * Dispositions are set in the new process with the raw rt_sigaction (glibc's wrapper
 * would put its own restorer in), once every signal is blocked; pending
 * signals are queued from inside it last, with rt_sigqueueinfo, so that their
 * siginfo is kept whatever their code. */
#define LOG_PREFIX "signals: "
#include "state.h"

#include "../err.h"
#include "../image.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/wire.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../banned.h"

#define MAX_PENDING 4096u

/* The kernel's struct sigaction on x86_64. */
struct ksigaction {
	uint64_t handler, flags, restorer, mask;
};

static bool settable(int sig)
{
	return sig != SIGKILL && sig != SIGSTOP;
}

/* Every signal, default ones too: SIG_DFL keeps the flags and mask it was set with,
 * and sigaction() reports them (SigCgt/SigIgn in /proc cannot tell). */
static int collect_actions(struct dump_ctx *c, struct err *err)
{
	struct proc_img *p = c->p;
	struct inject_call calls[MODEL_NSIG];
	struct ksigaction ka[MODEL_NSIG];
	/* The table first, the actions after it: one batch of calls. */
	uint64_t out = DUMP_BATCH_OUT(c);
	int sigs[MODEL_NSIG];
	uint32_t n = 0;

	for (int sig = 1; sig <= MODEL_NSIG; sig++) {
		if (!settable(sig))
			continue;
		calls[n] = (struct inject_call){
		    SYS_rt_sigaction, {(uint64_t)sig, 0, out + n * sizeof(ka[0]), 8, 0, 0}, 0};
		sigs[n++] = sig;
	}
	if (inject_batch(&c->inj, c->code, c->memfd, c->scratch, calls, n, err) < 0)
		return err->code;
	if (pread(c->memfd, ka, n * sizeof(ka[0]), (off_t)out) != (ssize_t)(n * sizeof(ka[0])))
		return err_sys(err, "pid %d: cannot read the actions of its signals", p->pid);
	for (uint32_t k = 0; k < n; k++) {
		struct sigaction_img *a = &p->sigact[sigs[k] - 1];

		if (calls[k].ret < 0)
			return err_code(err, (int)calls[k].ret,
					"pid %d: cannot read the action of signal %d", p->pid,
					sigs[k]);
		a->handler = ka[k].handler;
		a->flags = ka[k].flags;
		a->restorer = ka[k].restorer;
		a->mask = ka[k].mask;
	}
	return 0;
}

/* The process's shared queue, in order, with each siginfo as the kernel keeps it. */
static int collect_shared_pending(struct dump_ctx *c, struct err *err)
{
	struct proc_img *p = c->p;
	struct __ptrace_peeksiginfo_args a = {.flags = PTRACE_PEEKSIGINFO_SHARED, .nr = 32};

	for (;;) {
		siginfo_t si[32];
		long k;
		void *n;

		a.off = p->nshpending;
		k = ptrace(PTRACE_PEEKSIGINFO, p->pid, &a, si);
		if (k < 0)
			return err_sys(err, "pid %d: cannot read its pending signals", p->pid);
		if (k == 0)
			return 0;
		if (p->nshpending + (uint32_t)k > MAX_PENDING)
			return err_set(err, -E2BIG, "pid %d: too many pending signals", p->pid);
		n = realloc(p->shpending, (p->nshpending + (size_t)k) * sizeof(*p->shpending));
		if (!n)
			return err_set(err, -ENOMEM, "out of memory");
		p->shpending = n;
		for (long i = 0; i < k; i++)
			memcpy(p->shpending[p->nshpending + i].raw, &si[i], SIGINFO_SIZE);
		p->nshpending += (uint32_t)k;
	}
}

static int signals_collect(struct dump_ctx *c, struct err *err)
{
	int rc = collect_actions(c, err);

	return rc < 0 ? rc : collect_shared_pending(c, err);
}

static int signals_encode(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	const struct proc_img *p = c->p;
	struct buf b;
	int rc;

	buf_init(&b);
	put_u32(&b, (uint32_t)p->pid);
	put_u32(&b, MODEL_NSIG);
	for (int i = 0; i < MODEL_NSIG; i++) {
		put_u64(&b, p->sigact[i].handler);
		put_u64(&b, p->sigact[i].flags);
		put_u64(&b, p->sigact[i].restorer);
		put_u64(&b, p->sigact[i].mask);
	}
	put_u32(&b, p->nshpending);
	for (uint32_t i = 0; i < p->nshpending; i++)
		put_bytes(&b, p->shpending[i].raw, SIGINFO_SIZE);
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
		   : img_write_record(w, REC_SIGNALS, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

static int signals_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
			  struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;

	wr_init(&rd, rec->payload, rec->len);
	p = state_rec_proc(m, &rd, rec, r, err);
	if (!p)
		return err->code;
	if (p->shpending)
		return img_rec_corrupt(r, rec, "a second signals record", err);
	if (get_u32(&rd) != MODEL_NSIG)
		return img_rec_corrupt(r, rec, "unexpected number of signals", err);
	for (int i = 0; i < MODEL_NSIG; i++) {
		p->sigact[i].handler = get_u64(&rd);
		p->sigact[i].flags = get_u64(&rd);
		p->sigact[i].restorer = get_u64(&rd);
		p->sigact[i].mask = get_u64(&rd);
	}
	p->nshpending = get_count(&rd, SIGINFO_SIZE, MAX_PENDING);
	p->shpending = calloc(p->nshpending + 1u, sizeof(*p->shpending));
	if (!p->shpending)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < p->nshpending; i++)
		get_bytes(&rd, p->shpending[i].raw, SIGINFO_SIZE);
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	for (uint32_t i = 0; i < p->nshpending; i++) {
		const siginfo_t *si = (const siginfo_t *)p->shpending[i].raw;

		if (si->si_signo < 1 || si->si_signo > 64)
			return img_rec_corrupt(r, rec, "pending signal out of range", err);
	}
	return 0;
}

static int signals_validate(struct model *m, struct proc_img *p, struct err *err)
{
	(void)m;
	if (!p->shpending)
		return err_set(err, -EINVAL, "pid %d: the context has no signals record", p->pid);
	return 0;
}

/* In the new process, before cr_restart seizes it. */
static int signals_child(struct rst_ctx *c, struct err *err)
{
	const struct proc_img *p = c->rp->p;
	uint64_t all = ~0ull;

	/* cr_restart leaves SIGCHLD open; from here on a signal would run a saved handler
	 * in memory that is still cr_restart's. threads.c sets the saved masks last. */
	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8) < 0)
		return err_sys(err, "pid %d: cannot block signals", p->pid);
	for (int sig = 1; sig <= MODEL_NSIG; sig++) {
		const struct sigaction_img *s = &p->sigact[sig - 1];
		struct ksigaction ka = {s->handler, s->flags, s->restorer, s->mask};

		if (!settable(sig))
			continue;
		if (syscall(SYS_rt_sigaction, sig, &ka, NULL, 8) < 0)
			return err_sys(err, "pid %d: cannot set the action of signal %d", p->pid,
				       sig);
	}
	return 0;
}

static int signals_restore(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	const struct proc_img *p = rp->p;

	for (uint32_t i = 0; i < p->nshpending; i++) {
		const siginfo_t *si = (const siginfo_t *)p->shpending[i].raw;
		uint64_t a;
		long r;

		if (rst_scratch_put(rp, 0, si, sizeof(*si), &a, err) < 0)
			return err->code;
		/* A single step would take a pending SIGTRAP (inject.h). */
		if (si->si_signo == SIGTRAP && inject_set_quiet(&rp->inj, err) < 0)
			return err->code;
		r = inject_syscall(&rp->inj, SYS_rt_sigqueueinfo, (uint64_t)rp->vpid,
				   (uint64_t)si->si_signo, a, 0, 0, 0, err);
		if (r == INJECT_FAILED)
			return err->code;
		if (r < 0)
			return err_code(err, (int)r, "pid %d: cannot queue pending signal %d",
					p->pid, si->si_signo);
	}
	return 0;
}

static void signals_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	(void)m;
	out_arr_begin(o, "signal_actions");
	for (int sig = 1; sig <= MODEL_NSIG; sig++) {
		const struct sigaction_img *s = &p->sigact[sig - 1];

		if (!s->handler && !s->flags && !s->mask)
			continue;
		out_obj_begin(o, NULL);
		out_i64(o, "signal", sig);
		if (s->handler == (uint64_t)(uintptr_t)SIG_IGN)
			out_str(o, "handler", "ignore");
		else if (s->handler == 0)
			out_str(o, "handler", "default");
		else
			out_hex(o, "handler", s->handler);
		out_hex(o, "flags", s->flags);
		out_hex(o, "mask", s->mask);
		out_obj_end(o);
	}
	out_arr_end(o);
	out_arr_begin(o, "pending_signals");
	for (uint32_t i = 0; i < p->nshpending; i++) {
		const siginfo_t *si = (const siginfo_t *)p->shpending[i].raw;

		out_obj_begin(o, NULL);
		out_i64(o, "signal", si->si_signo);
		out_i64(o, "code", si->si_code);
		out_obj_end(o);
	}
	out_arr_end(o);
}

const struct state_ops signals_ops = {
	.name = "signals",
	.recs = {REC_SIGNALS},
	.collect = signals_collect,
	.encode = signals_encode,
	.decode = signals_decode,
	.validate = signals_validate,
	.child = signals_child,
	.restore = signals_restore,
	.describe = signals_describe,
};
