/* state/timers.c: the three interval timers (real, virtual, profiling) and POSIX
 * timers with their ids, clocks, notification and time left.
 *
 * Time left is kept as time left: a timer resumes counting where it stopped, however
 * long the process was away (an absolute timer thus fires later by that much). POSIX
 * timers keep their ids through PR_TIMER_CREATE_RESTORE_IDS, recreated in id order so
 * that new ones go on from the highest; without it (kernels before 6.17) a process
 * with POSIX timers cannot be restarted, and says so.
 *
 * Not kept: the overrun count; which thread a timer on "the calling thread's" CPU
 * clock (CLOCK_THREAD_CPUTIME_ID) measured, as /proc does not tell (it is recreated on
 * the main thread's); a timer's signal still pending comes back as a queued copy
 * (signals.c), not as the timer's own, so a periodic timer may queue one more. */
#define LOG_PREFIX "timers: "
#include "state.h"

#include "../compat.h"
#include "../err.h"
#include "../image.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../banned.h"

#define MAX_TIMERS 65536u

/* struct sigevent as the kernel reads it on x86_64. */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};

static int64_t tv_us(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* "KIND/WHO.N": KIND is signal, thread or none (SIGEV_SIGNAL, SIGEV_THREAD,
 * SIGEV_NONE); WHO is tid when the signal goes to thread N (SIGEV_THREAD_ID), pid when
 * it goes to the process. */
static int parse_notify(struct ptimer_img *t, const char *s)
{
	static const struct {
		const char *name;
		int32_t notify;
	} kinds[] = {{"signal/", SIGEV_SIGNAL}, {"thread/", SIGEV_THREAD}, {"none/", SIGEV_NONE}};
	char *end;
	long n;

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t len = strlen(kinds[i].name);

		if (strncmp(s, kinds[i].name, len) != 0)
			continue;
		s += len;
		t->notify = kinds[i].notify;
		if (!strncmp(s, "tid.", 4))
			t->notify |= SIGEV_THREAD_ID;
		else if (strncmp(s, "pid.", 4) != 0)
			return -1;
		n = strtol(s + 4, &end, 10);
		if (end == s + 4 || *end || n < 0 || n > INT32_MAX)
			return -1;
		t->notify_tid = (int32_t)n;
		return 0;
	}
	return -1;
}

/* /proc/PID/timers: blocks of "ID:", "signal: N/VALUE", "notify: KIND/WHO.N",
 * "ClockID:". */
static int parse_timers(struct proc_img *p, char *text, struct err *err)
{
	char *line, *next;
	struct ptimer_img *t = NULL;

	for (line = text; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!strncmp(line, "ID: ", 4)) {
			if (p->nptimers >= MAX_TIMERS)
				return err_set(err, -E2BIG, "pid %d: too many timers", p->pid);
			t = model_grow((void **)&p->ptimers, &p->nptimers, sizeof(*t));
			if (!t)
				return err_set(err, -ENOMEM, "out of memory");
			t->id = (int32_t)strtol(line + 4, NULL, 10);
		} else if (t && !strncmp(line, "signal: ", 8)) {
			char *slash;

			t->signo = (int32_t)strtol(line + 8, &slash, 10);
			if (*slash == '/')
				t->sigval = strtoull(slash + 1, NULL, 16);
		} else if (t && !strncmp(line, "notify: ", 8)) {
			if (parse_notify(t, line + 8) < 0)
				return err_set(err, -ENOTSUP,
					       "pid %d: POSIX timer %d: unknown notification '%s'",
					       p->pid, t->id, line + 8);
		} else if (t && !strncmp(line, "ClockID: ", 9)) {
			t->clockid = (int32_t)strtol(line + 9, NULL, 10);
		}
	}
	return 0;
}

static int timers_collect(struct dump_ctx *c, struct err *err)
{
	struct proc_img *p = c->p;
	char path[64];
	struct buf b;
	int rc;

	{
		struct itimerval it[3];
		uint64_t out = DUMP_BATCH_OUT(c);
		struct inject_call calls[3];

		for (int which = 0; which < 3; which++)
			calls[which] = (struct inject_call){
			    SYS_getitimer, {(uint64_t)which, out + which * sizeof(it[0]), 0, 0, 0, 0},
			    0};
		if (inject_batch(&c->inj, c->code, c->memfd, c->scratch, calls, 3, err) < 0)
			return err->code;
		if (pread(c->memfd, it, sizeof(it), (off_t)out) != sizeof(it))
			return err_sys(err, "pid %d: cannot read its interval timers", p->pid);
		for (int which = 0; which < 3; which++) {
			if (calls[which].ret < 0)
				return err_set(err, -EIO, "pid %d: cannot read interval timer %d",
					       p->pid, which);
			p->itimer[which].interval_us = tv_us(&it[which].it_interval);
			p->itimer[which].value_us = tv_us(&it[which].it_value);
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/timers", p->pid);
	buf_init(&b);
	rc = buf_read_file(&b, path);
	if (rc == 0)
		rc = parse_timers(p, (char *)b.data, err);
	else if (rc == -ENOENT)
		rc = 0;
	else
		rc = err_code(err, rc, "cannot read %s", path);
	buf_fini(&b);
	for (uint32_t i = 0; rc == 0 && i < p->nptimers; i++) {
		struct ptimer_img *t = &p->ptimers[i];
		struct itimerspec its;
		long r = inject_syscall(&c->inj, SYS_timer_gettime, (uint64_t)t->id, c->scratch, 0,
					0, 0, 0, err);

		if (r == INJECT_FAILED)
			return err->code;
		if (r < 0 || pread(c->memfd, &its, sizeof(its), (off_t)c->scratch) != sizeof(its))
			return err_set(err, -EIO, "pid %d: cannot read POSIX timer %d", p->pid,
				       t->id);
		t->interval_ns = ts_ns(&its.it_interval);
		t->value_ns = ts_ns(&its.it_value);
		r = inject_syscall(&c->inj, SYS_timer_getoverrun, (uint64_t)t->id, 0, 0, 0, 0, 0,
				   err);
		if (r == INJECT_FAILED)
			return err->code;
		t->overrun = r > 0 ? (int32_t)r : 0;
	}
	return rc;
}

static int timers_encode(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	const struct proc_img *p = c->p;
	struct buf b;
	int rc;

	buf_init(&b);
	put_u32(&b, (uint32_t)p->pid);
	for (int i = 0; i < 3; i++) {
		put_i64(&b, p->itimer[i].interval_us);
		put_i64(&b, p->itimer[i].value_us);
	}
	put_u32(&b, p->nptimers);
	for (uint32_t i = 0; i < p->nptimers; i++) {
		const struct ptimer_img *t = &p->ptimers[i];

		put_i32(&b, t->id);
		put_i32(&b, t->clockid);
		put_i32(&b, t->notify);
		put_i32(&b, t->signo);
		put_u64(&b, t->sigval);
		put_i32(&b, t->notify_tid);
		put_i32(&b, t->overrun);
		put_i64(&b, t->interval_ns);
		put_i64(&b, t->value_ns);
	}
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
		   : img_write_record(w, REC_TIMERS, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

/* What timer_create() takes: a signal to the process or to one thread, or none.
 * (SIGEV_THREAD is glibc's business; the kernel takes it as a signal.) */
static bool notify_valid(int32_t notify)
{
	int32_t kind = notify & ~SIGEV_THREAD_ID;

	return notify >= 0 && notify <= (SIGEV_THREAD | SIGEV_THREAD_ID) &&
	       (kind == SIGEV_SIGNAL || kind == SIGEV_NONE || kind == SIGEV_THREAD);
}

static int timers_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
			 struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;

	wr_init(&rd, rec->payload, rec->len);
	p = state_rec_proc(m, &rd, rec, r, err);
	if (!p)
		return err->code;
	if (p->ptimers)
		return img_rec_corrupt(r, rec, "a second timers record", err);
	for (int i = 0; i < 3; i++) {
		p->itimer[i].interval_us = get_i64(&rd);
		p->itimer[i].value_us = get_i64(&rd);
		if (p->itimer[i].interval_us < 0 || p->itimer[i].value_us < 0)
			wr_fail(&rd, "negative interval timer");
	}
	p->nptimers = get_count(&rd, 40, MAX_TIMERS);
	p->ptimers = calloc(p->nptimers + 1u, sizeof(*p->ptimers));
	if (!p->ptimers)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < p->nptimers && !rd.bad; i++) {
		struct ptimer_img *t = &p->ptimers[i];

		t->id = get_i32(&rd);
		t->clockid = get_i32(&rd);
		t->notify = get_i32(&rd);
		t->signo = get_i32(&rd);
		t->sigval = get_u64(&rd);
		t->notify_tid = get_i32(&rd);
		t->overrun = get_i32(&rd);
		t->interval_ns = get_i64(&rd);
		t->value_ns = get_i64(&rd);
		if (t->id < 0 || t->signo < 0 || t->signo > 64 || t->interval_ns < 0 ||
		    t->value_ns < 0 || !notify_valid(t->notify) || t->notify_tid < 0)
			wr_fail(&rd, "POSIX timer with a bad field");
	}
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	return 0;
}

static int cmp_timer_id(const void *a, const void *b)
{
	const struct ptimer_img *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static int timers_validate(struct model *m, struct proc_img *p, struct err *err)
{
	(void)m;
	if (!p->ptimers)
		return err_set(err, -EINVAL, "pid %d: the context has no timers record", p->pid);
	/* In id order: the kernel hands out new ids after the last one restored, so the
	 * process goes on numbering its timers from its highest id, as it did. */
	qsort(p->ptimers, p->nptimers, sizeof(*p->ptimers), cmp_timer_id);
	for (uint32_t i = 0; i < p->nptimers; i++) {
		const struct ptimer_img *t = &p->ptimers[i];
		bool found = false;

		if (i && t->id == p->ptimers[i - 1].id)
			return err_set(err, -EINVAL, "pid %d: POSIX timer %d is described twice",
				       p->pid, t->id);
		if (!(t->notify & SIGEV_THREAD_ID))
			continue;
		for (uint32_t k = 0; k < p->nthreads; k++)
			found |= p->threads[k].tid == t->notify_tid;
		if (!found)
			return err_set(err, -EINVAL,
				       "pid %d: POSIX timer %d signals thread %d, which the "
				       "context does not have",
				       p->pid, t->id, t->notify_tid);
	}
	return 0;
}

static struct timespec ns_ts(int64_t ns)
{
	return (struct timespec){.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
}

static struct timeval us_tv(int64_t us)
{
	return (struct timeval){.tv_sec = us / 1000000, .tv_usec = us % 1000000};
}

/* setitimer() inside the new process. */
static int put_itimer(struct rst_proc *rp, int which, int64_t value_us, int64_t interval_us,
		      uint64_t *ret_addr, struct err *err)
{
	struct itimerval it = {us_tv(interval_us), us_tv(value_us)};
	long r;

	if (rst_scratch_put(rp, 0, &it, sizeof(it), ret_addr, err) < 0)
		return err->code;
	r = inject_syscall(&rp->inj, SYS_setitimer, (uint64_t)which, *ret_addr, 0, 0, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0)
		return err_code(err, (int)r, "pid %d: cannot set interval timer %d", rp->p->pid,
				which);
	return 0;
}

static int set_itimer(struct rst_proc *rp, int which, int64_t value_us, int64_t interval_us,
		      struct err *err)
{
	struct itimerval got;
	int64_t excess;
	uint64_t a;
	long r;

	if (put_itimer(rp, which, value_us, interval_us, &a, err) < 0)
		return err->code;
	if (which == ITIMER_REAL)
		return 0;
	/* The kernel adds a tick to a CPU-time timer so that it never fires early; what
	 * was saved had it already. Take it off, or each restart would add one. */
	r = inject_syscall(&rp->inj, SYS_getitimer, (uint64_t)which, a, 0, 0, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0 || inject_mem_read(rp->memfd, a, &got, sizeof(got)) < 0)
		return err_set(err, -EIO, "pid %d: cannot read interval timer %d back", rp->p->pid,
			       which);
	excess = tv_us(&got.it_value) - value_us;
	if (excess <= 0 || excess >= value_us)
		return 0;
	return put_itimer(rp, which, value_us - excess, interval_us, &a, err);
}

static int timers_restore(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	const struct proc_img *p = rp->p;
	uint64_t a, a2;
	long r;

	for (int which = 0; which < 3; which++) {
		if (!p->itimer[which].value_us)
			continue;
		if (set_itimer(rp, which, p->itimer[which].value_us, p->itimer[which].interval_us,
			       err) < 0)
			return err->code;
	}
	if (!p->nptimers)
		return 0;
	r = inject_syscall(&rp->inj, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS,
			   PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0)
		return err_code(err, (int)r,
				"pid %d: this kernel cannot recreate POSIX timers with their ids",
				p->pid);
	for (uint32_t i = 0; i < p->nptimers; i++) {
		const struct ptimer_img *t = &p->ptimers[i];
		struct ksigevent ev;
		struct itimerspec its = {ns_ts(t->interval_ns), ns_ts(t->value_ns)};
		int32_t id = t->id;
		pid_t tid = t->notify_tid;

		/* A thread notified by its saved tid gets its new one. */
		for (uint32_t k = 0; k < p->nthreads; k++)
			if (p->threads[k].tid == t->notify_tid)
				tid = rp->vtids[k]; /* as the process sees it */
		memset(&ev, 0, sizeof(ev));
		ev.value = t->sigval;
		ev.signo = t->signo;
		ev.notify = t->notify;
		ev.tid = t->notify & SIGEV_THREAD_ID ? tid : 0;
		if (rst_scratch_put(rp, 0, &ev, sizeof(ev), &a, err) < 0 ||
		    rst_scratch_put(rp, 256, &id, sizeof(id), &a2, err) < 0)
			return err->code;
		r = inject_syscall(&rp->inj, SYS_timer_create, (uint64_t)t->clockid, a, a2, 0, 0, 0,
				   err);
		if (r == INJECT_FAILED)
			return err->code;
		if (r < 0)
			return err_code(err, (int)r, "pid %d: cannot recreate POSIX timer %d",
					p->pid, t->id);
		if (!t->value_ns)
			continue;
		if (rst_scratch_put(rp, 512, &its, sizeof(its), &a, err) < 0)
			return err->code;
		r = inject_syscall(&rp->inj, SYS_timer_settime, (uint64_t)t->id, 0, a, 0, 0, 0,
				   err);
		if (r == INJECT_FAILED)
			return err->code;
		if (r < 0)
			return err_code(err, (int)r, "pid %d: cannot arm POSIX timer %d", p->pid,
					t->id);
	}
	r = inject_syscall(&rp->inj, SYS_prctl, PR_TIMER_CREATE_RESTORE_IDS,
			   PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0, 0, err);
	return r == INJECT_FAILED ? err->code : 0;
}

static void timers_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	static const char *const names[3] = {"real", "virtual", "prof"};

	(void)m;
	out_arr_begin(o, "itimers");
	for (int i = 0; i < 3; i++) {
		if (!p->itimer[i].value_us)
			continue;
		out_obj_begin(o, NULL);
		out_str(o, "which", names[i]);
		out_i64(o, "value_us", p->itimer[i].value_us);
		out_i64(o, "interval_us", p->itimer[i].interval_us);
		out_obj_end(o);
	}
	out_arr_end(o);
	out_arr_begin(o, "posix_timers");
	for (uint32_t i = 0; i < p->nptimers; i++) {
		const struct ptimer_img *t = &p->ptimers[i];

		out_obj_begin(o, NULL);
		out_i64(o, "id", t->id);
		out_i64(o, "clock", t->clockid);
		out_str(o, "notify",
			(t->notify & ~SIGEV_THREAD_ID) == SIGEV_NONE ? "none" : "signal");
		if ((t->notify & ~SIGEV_THREAD_ID) != SIGEV_NONE)
			out_i64(o, "signal", t->signo);
		if (t->notify & SIGEV_THREAD_ID)
			out_i64(o, "thread", t->notify_tid);
		out_i64(o, "value_ns", t->value_ns);
		out_i64(o, "interval_ns", t->interval_ns);
		out_obj_end(o);
	}
	out_arr_end(o);
}

const struct state_ops timers_ops = {
	.name = "timers",
	.recs = {REC_TIMERS},
	.collect = timers_collect,
	.encode = timers_encode,
	.decode = timers_decode,
	.validate = timers_validate,
	.restore = timers_restore,
	.describe = timers_describe,
};
