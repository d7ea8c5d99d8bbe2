/* state/proc.c: the process itself: ids, name, exe and cwd, umask, personality, nice,
 * OOM score, affinity, timer slack, THP and subreaper flags, resource limits.
 *
 * Not saved here: credentials (creds.c), memory layout and mm fields (memory.c).
 * Restore runs in the new process before its memory is replaced (cwd, umask, session,
 * nice, ...) and, for rlimits, from cr_restart with prlimit() just before credentials
 * change: without CAP_SYS_RESOURCE a hard limit can only be lowered, so a limit above
 * cr_restart's own is kept at cr_restart's and said so. */
#define LOG_PREFIX "proc: "
#include "state.h"

#include "../err.h"
#include "../image.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_GET_MDWE
#define PR_GET_MDWE 66 /* linux/prctl.h, newer than our headers */
#endif

#include "../banned.h"

static const char *const rlimit_names[MODEL_NRLIMIT] = {
    "cpu",     "fsize", "data",  "stack",      "core",     "rss",  "nproc",  "nofile",
    "memlock", "as",    "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime",
};

/* readlink of /proc/PID/NAME, with " (deleted)" kept: the caller decides. */
static char *read_link(pid_t pid, const char *name)
{
	char path[64], *buf;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	buf = malloc(MODEL_MAX_PATH);
	if (!buf)
		return NULL;
	n = readlink(path, buf, MODEL_MAX_PATH - 1);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* /proc/PID/NAME as one number in base (personality is hex without "0x", with leading
 * zeros that base 0 would take for octal). */
static int read_int_file(pid_t pid, const char *name, int base, int64_t *ret)
{
	char path[64];
	struct buf b;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, name);
	buf_init(&b);
	rc = buf_read_file(&b, path);
	if (rc == 0)
		*ret = strtoll((char *)b.data, NULL, base);
	buf_fini(&b);
	return rc;
}

static int proc_collect(struct dump_ctx *c, struct err *err)
{
	struct proc_img *p = c->p;
	struct proc_stat st;
	int64_t v = 0;
	cpu_set_t cpus;
	int rc;

	rc = procfs_stat(p->pid, 0, &st);
	if (rc < 0)
		return err_code(err, rc, "cannot read /proc/%d/stat", p->pid);
	p->ppid = (pid_t)st.f[4];
	p->pgid = (pid_t)st.f[5];
	p->sid = (pid_t)st.f[6];
	p->nice = (int32_t)(int64_t)st.f[19];
	p->exit_signal = (int32_t)st.f[38];
	snprintf(p->comm, sizeof(p->comm), "%.15s", st.comm);

	p->exe = read_link(p->pid, "exe");
	p->cwd = read_link(p->pid, "cwd");
	if (!p->cwd)
		return err_sys(err, "cannot read the working directory of pid %d", p->pid);

	rc = read_int_file(p->pid, "personality", 16, &v);
	if (rc < 0)
		return err_code(err, rc, "cannot read /proc/%d/personality", p->pid);
	p->personality = (uint32_t)v;
	rc = read_int_file(p->pid, "oom_score_adj", 10, &v);
	if (rc < 0)
		return err_code(err, rc, "cannot read /proc/%d/oom_score_adj", p->pid);
	p->oom_score_adj = (int32_t)v;
	rc = read_int_file(p->pid, "timerslack_ns", 10, &v);
	if (rc < 0)
		return err_code(err, rc, "cannot read /proc/%d/timerslack_ns", p->pid);
	p->timer_slack_ns = (uint64_t)v;

	CPU_ZERO(&cpus);
	if (sched_getaffinity(p->pid, sizeof(cpus), &cpus) < 0)
		return err_sys(err, "cannot read the CPU affinity of pid %d", p->pid);
	memcpy(p->cpus_allowed, &cpus,
	       sizeof(cpus) < sizeof(p->cpus_allowed) ? sizeof(cpus) : sizeof(p->cpus_allowed));
	/* From inside: prlimit() on another process needs its uids to be ours, or
	 * CAP_SYS_RESOURCE, even to read. */
	{
		struct inject_call calls[MODEL_NRLIMIT];
		struct rlimit rl[MODEL_NRLIMIT];
		/* The table first, the limits after it: one batch of calls. */
		uint64_t out = DUMP_BATCH_OUT(c);

		for (int i = 0; i < MODEL_NRLIMIT; i++)
			calls[i] = (struct inject_call){
			    SYS_prlimit64, {0, (uint64_t)i, 0, out + i * sizeof(rl[0]), 0, 0}, 0};
		if (inject_batch(&c->inj, c->code, c->memfd, c->scratch, calls, MODEL_NRLIMIT,
				 err) < 0)
			return err->code;
		if (pread(c->memfd, rl, sizeof(rl), (off_t)out) != sizeof(rl))
			return err_sys(err, "cannot read the limits of pid %d", p->pid);
		for (int i = 0; i < MODEL_NRLIMIT; i++) {
			if (calls[i].ret < 0)
				return err_code(err, (int)calls[i].ret,
						"cannot read limit %s of pid %d", rlimit_names[i],
						p->pid);
			p->rlim[i].cur = rl[i].rlim_cur;
			p->rlim[i].max = rl[i].rlim_max;
		}
	}

	/* What only the process can tell, in one batch (umask: its status says). */
	{
		struct inject_call calls[3] = {
		    {SYS_prctl, {PR_GET_THP_DISABLE, 0, 0, 0, 0, 0}, 0},
		    {SYS_prctl, {PR_GET_CHILD_SUBREAPER, DUMP_BATCH_OUT(c), 0, 0, 0, 0}, 0},
		    {SYS_prctl, {PR_GET_MDWE, 0, 0, 0, 0, 0}, 0},
		};
		char text[4096];
		uint64_t um = 0;
		int32_t sub = 0;

		rc = procfs_status(p->pid, text, sizeof(text));
		if (rc == 0)
			rc = procfs_field_u64(text, "Umask", 8, &um);
		if (rc < 0)
			return err_code(err, rc, "cannot read the umask of pid %d", p->pid);
		p->umask = (uint32_t)um;
		if (inject_batch(&c->inj, c->code, c->memfd, c->scratch, calls, 3, err) < 0)
			return err->code;
		/* Memory-deny-write-execute can be set but never cleared, and a restart
		 * needs writable code for a while: not restored yet. */
		if (calls[2].ret > 0)
			return err_set(err, -ENOTSUP,
				       "pid %d denies itself writable executable memory "
				       "(PR_SET_MDWE %#llx): not supported yet",
				       p->pid, (unsigned long long)calls[2].ret);
		p->thp_disable = calls[0].ret > 0;
		if (calls[1].ret == 0 &&
		    pread(c->memfd, &sub, sizeof(sub), (off_t)(DUMP_BATCH_OUT(c))) == sizeof(sub))
			p->child_subreaper = sub;
	}
	return 0;
}

static int proc_encode(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	const struct proc_img *p = c->p;
	struct buf b;
	int rc;

	buf_init(&b);
	put_u32(&b, (uint32_t)p->pid);
	put_u32(&b, (uint32_t)p->ppid);
	put_u32(&b, (uint32_t)p->pgid);
	put_u32(&b, (uint32_t)p->sid);
	put_u32(&b, p->flags);
	put_i32(&b, p->exit_signal);
	put_i32(&b, p->exit_status);
	put_str(&b, p->comm);
	put_str(&b, p->exe);
	put_str(&b, p->cwd);
	put_u32(&b, p->umask);
	put_u32(&b, p->personality);
	put_i32(&b, p->nice);
	put_i32(&b, p->oom_score_adj);
	put_i32(&b, p->thp_disable);
	put_i32(&b, p->child_subreaper);
	put_u64(&b, p->timer_slack_ns);
	for (int i = 0; i < 16; i++)
		put_u64(&b, p->cpus_allowed[i]);
	put_u32(&b, MODEL_NRLIMIT);
	for (int i = 0; i < MODEL_NRLIMIT; i++) {
		put_u64(&b, p->rlim[i].cur);
		put_u64(&b, p->rlim[i].max);
	}
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory encoding pid %d", p->pid)
		   : img_write_record(w, REC_PROC, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

static int proc_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		       struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;
	uint32_t pid;
	char *s;

	wr_init(&rd, rec->payload, rec->len);
	pid = get_u32(&rd);
	if (rd.bad || pid == 0 || pid > 0x3fffffff)
		return img_rec_corrupt(r, rec, "invalid pid", err);
	if (model_find_proc(m, (pid_t)pid))
		return img_rec_corrupt(r, rec, "a second record for the same process", err);
	p = model_grow((void **)&m->procs, &m->nprocs, sizeof(*p));
	if (!p)
		return err_set(err, -ENOMEM, "out of memory");
	p->pid = (pid_t)pid;
	p->ppid = (pid_t)get_u32(&rd);
	p->pgid = (pid_t)get_u32(&rd);
	p->sid = (pid_t)get_u32(&rd);
	p->flags = get_u32(&rd);
	p->exit_signal = get_i32(&rd);
	p->exit_status = get_i32(&rd);
	s = get_str(&rd, MODEL_COMM_LEN - 1);
	if (s)
		snprintf(p->comm, sizeof(p->comm), "%s", s);
	free(s);
	p->exe = get_str(&rd, MODEL_MAX_PATH);
	p->cwd = get_str(&rd, MODEL_MAX_PATH);
	p->umask = get_u32(&rd);
	p->personality = get_u32(&rd);
	p->nice = get_i32(&rd);
	p->oom_score_adj = get_i32(&rd);
	p->thp_disable = get_i32(&rd);
	p->child_subreaper = get_i32(&rd);
	p->timer_slack_ns = get_u64(&rd);
	for (int i = 0; i < 16; i++)
		p->cpus_allowed[i] = get_u64(&rd);
	if (get_u32(&rd) != MODEL_NRLIMIT)
		wr_fail(&rd, "unexpected number of resource limits");
	for (int i = 0; i < MODEL_NRLIMIT; i++) {
		p->rlim[i].cur = get_u64(&rd);
		p->rlim[i].max = get_u64(&rd);
	}
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	if ((p->flags & ~(uint32_t)(PROC_STOPPED | PROC_ZOMBIE)) ||
	    p->flags == (PROC_STOPPED | PROC_ZOMBIE) || p->exit_signal < 0 || p->exit_signal > 64 ||
	    (p->exit_status & ~0xffff))
		return img_rec_corrupt(r, rec, "field out of range", err);
	if (p->flags & PROC_ZOMBIE)
		return 0; /* a zombie has nothing else */
	if (!p->cwd || p->cwd[0] != '/')
		return img_rec_corrupt(r, rec, "working directory is not an absolute path", err);
	if (p->umask > 0777 || p->nice < -20 || p->nice > 19 || p->oom_score_adj < -1000 ||
	    p->oom_score_adj > 1000 || p->exit_status || p->thp_disable < 0 ||
	    p->thp_disable > 1 || p->child_subreaper < 0 || p->child_subreaper > 1)
		return img_rec_corrupt(r, rec, "field out of range", err);
	for (int i = 0; i < MODEL_NRLIMIT; i++)
		if (p->rlim[i].cur > p->rlim[i].max)
			return img_rec_corrupt(r, rec, "a soft resource limit above its hard limit",
					       err);
	{
		uint64_t any = 0;

		for (int i = 0; i < 16; i++)
			any |= p->cpus_allowed[i];
		if (!any)
			return img_rec_corrupt(r, rec, "a process allowed on no CPU", err);
	}
	return 0;
}

/* In the new process, before its memory is replaced. */
static int proc_child(struct rst_ctx *c, struct err *err)
{
	struct proc_img *p = c->rp->p;
	char buf[24], cwd_buf[MODEL_MAX_PATH];
	const char *cwd;
	int fd, n;

	cwd = rst_path(c, p->cwd, cwd_buf, sizeof(cwd_buf), err);
	if (!cwd)
		return err->code;
	if (chdir(cwd) < 0)
		return err_sys(err, "pid %d: cannot enter working directory '%s'", p->pid, cwd);
	umask(p->umask);
	if (personality(p->personality) < 0)
		return err_sys(err, "pid %d: cannot set personality %#x", p->pid, p->personality);
	/* A lower nice value than ours needs CAP_SYS_NICE or RLIMIT_NICE: without, the
	 * process runs on at ours. */
	if (setpriority(PRIO_PROCESS, 0, p->nice) < 0) {
		int e = errno;

		kmsg_add(KMSG_WARN, "pid %d: cannot set nice value %d, keeping %d: %s", p->pid,
			 p->nice, getpriority(PRIO_PROCESS, 0), strerror(e));
	}
	/* Below 0 needs CAP_SYS_RESOURCE; the process keeps cr_restart's value then. */
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	n = snprintf(buf, sizeof(buf), "%d", p->oom_score_adj);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		kmsg_add(KMSG_WARN, "pid %d: cannot set oom_score_adj %d: %s", p->pid,
			 p->oom_score_adj, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (p->timer_slack_ns && prctl(PR_SET_TIMERSLACK, p->timer_slack_ns, 0, 0, 0) < 0)
		return err_sys(err, "pid %d: cannot set timer slack", p->pid);
	/* Both ways: the new process inherited cr_restart's. */
	if (prctl(PR_SET_THP_DISABLE, p->thp_disable, 0, 0, 0) < 0)
		return err_sys(err, "pid %d: cannot set THP disable to %d", p->pid, p->thp_disable);
	if (prctl(PR_SET_CHILD_SUBREAPER, p->child_subreaper, 0, 0, 0) < 0)
		return err_sys(err, "pid %d: cannot set child subreaper to %d", p->pid,
			       p->child_subreaper);
	if (sched_setaffinity(0, sizeof(p->cpus_allowed), (cpu_set_t *)p->cpus_allowed) < 0)
		kmsg_add(KMSG_WARN, "pid %d: cannot restore CPU affinity: %s", p->pid,
			 strerror(errno));
	return 0;
}

/* Limits, from outside, while the new process still has cr_restart's credentials. */
static int proc_restore(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	struct proc_img *p = rp->p;

	(void)err;
	for (int i = 0; i < MODEL_NRLIMIT; i++) {
		struct rlimit now, want;

		if (prlimit(rp->pid, (__rlimit_resource_t)i, NULL, &now) < 0)
			continue;
		want.rlim_max = p->rlim[i].max;
		want.rlim_cur = p->rlim[i].cur;
		if (want.rlim_max > now.rlim_max) {
			kmsg_add(KMSG_WARN,
				 "pid %d: hard limit %s %llu is above cr_restart's %llu, keeping "
				 "%llu",
				 p->pid, rlimit_names[i], (unsigned long long)want.rlim_max,
				 (unsigned long long)now.rlim_max,
				 (unsigned long long)now.rlim_max);
			want.rlim_max = now.rlim_max;
		}
		if (want.rlim_cur > want.rlim_max)
			want.rlim_cur = want.rlim_max;
		if (want.rlim_cur == now.rlim_cur && want.rlim_max == now.rlim_max)
			continue;
		if (prlimit(rp->pid, (__rlimit_resource_t)i, &want, NULL) < 0)
			kmsg_add(KMSG_WARN, "pid %d: cannot set limit %s: %s", p->pid,
				 rlimit_names[i], strerror(errno));
	}
	return 0;
}

static void proc_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	(void)m;
	out_i64(o, "pid", p->pid);
	out_i64(o, "ppid", p->ppid);
	out_i64(o, "pgid", p->pgid);
	out_i64(o, "sid", p->sid);
	out_str(o, "comm", p->comm);
	if (p->flags & PROC_ZOMBIE) {
		out_bool(o, "zombie", true);
		out_hex(o, "wait_status", (uint64_t)p->exit_status);
		return;
	}
	out_str(o, "exe", p->exe);
	out_str(o, "cwd", p->cwd);
	out_bool(o, "stopped", p->flags & PROC_STOPPED);
	out_i64(o, "exit_signal", p->exit_signal);
	out_hex(o, "umask", p->umask);
	out_hex(o, "personality", p->personality);
	out_i64(o, "nice", p->nice);
	out_i64(o, "oom_score_adj", p->oom_score_adj);
	out_obj_begin(o, "rlimits");
	for (int i = 0; i < MODEL_NRLIMIT; i++) {
		char v[64];

		if (p->rlim[i].cur == RLIM_INFINITY && p->rlim[i].max == RLIM_INFINITY)
			snprintf(v, sizeof(v), "unlimited");
		else
			snprintf(v, sizeof(v), "%lld/%lld",
				 p->rlim[i].cur == RLIM_INFINITY ? -1LL : (long long)p->rlim[i].cur,
				 p->rlim[i].max == RLIM_INFINITY ? -1LL
								 : (long long)p->rlim[i].max);
		out_str(o, rlimit_names[i], v);
	}
	out_obj_end(o);
}

const struct state_ops proc_ops = {
    .name = "process",
    .recs = {REC_PROC},
    .collect = proc_collect,
    .encode = proc_encode,
    .decode = proc_decode,
    .child = proc_child,
    .restore = proc_restore,
    .describe = proc_describe,
};
