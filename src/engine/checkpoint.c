/* checkpoint.c: a checkpoint as a list of phases: admit, freeze, collect, write,
 * commit, release. Nothing here knows a kind of state: the modules do. Whatever
 * fails, the target is let go as it was. */
#define LOG_PREFIX "checkpoint: "
#include "checkpoint.h"

#include "context.h"
#include "err.h"
#include "fault.h"
#include "image.h"
#include "inject.h"
#include "libcr_hs.h"
#include "log.h"
#include "scope.h"
#include "seize.h"
#include "state/state.h"
#include "version.h"
#include "../util/buf.h"
#include "../util/procfs.h"
#include "../util/ranges.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "banned.h"

#define SCRATCH_LEN (64u << 10)
#define CODE_LEN 4096u
#define PF_KTHREAD 0x00200000

/* ---- the ptrace policies (--ptraced-*, --ptracer-*) ---- */

/* A traced task of the system and its tracer (a thread id). */
struct traced {
	pid_t tid, tracer;
};

/* Nothing lists a tracer's tracees: every task's status says who traces it. Reading
 * them all costs about 5 us a process; a tree admits each of its processes in turn, so
 * a scan younger than TRACED_FRESH_MS is reused. (The engine runs once per request in
 * a process of its own, cr_checkpoint's requester.) */
#define TRACED_FRESH_MS 200.0
static struct traced *traced;
static size_t ntraced;
static double traced_at = -1e9;

/* TracerPid and Threads of a status file's text. */
static void status_tracer(const char *text, uint64_t *tracer, uint64_t *threads)
{
	*tracer = *threads = 0;
	procfs_field_u64(text, "TracerPid", 10, tracer);
	procfs_field_u64(text, "Threads", 10, threads);
}

/* The same of task id's status; 0, or -1 if it cannot be read. */
static int read_status(pid_t id, uint64_t *tracer, uint64_t *threads)
{
	char text[4096];

	if (procfs_status(id, text, sizeof(text)) < 0)
		return -1;
	status_tracer(text, tracer, threads);
	return 0;
}

static int note_traced(pid_t tid, uint64_t tracer)
{
	struct traced *n;

	if (!tracer)
		return 0;
	n = realloc(traced, (ntraced + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	traced = n;
	traced[ntraced++] = (struct traced){tid, (pid_t)tracer};
	return 0;
}

static int scan_traced(void)
{
	struct dirent *de;
	DIR *d;

	if (log_now_ms() - traced_at < TRACED_FRESH_MS)
		return 0;
	ntraced = 0;
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		uint64_t tracer, threads;
		char path[300];
		long pid;

		if (parse_long(de->d_name, 1, INT32_MAX, &pid) < 0)
			continue;
		if (read_status((pid_t)pid, &tracer, &threads) < 0)
			continue;
		if (note_traced((pid_t)pid, tracer) < 0)
			goto out_nomem;
		/* Other threads may be traced alone. */
		if (threads > 1) {
			struct dirent *te;
			DIR *t;

			snprintf(path, sizeof(path), "/proc/%ld/task", pid);
			t = opendir(path);
			while (t && (te = readdir(t))) {
				long tid;

				if (parse_long(te->d_name, 1, INT32_MAX, &tid) < 0 || tid == pid)
					continue;
				if (read_status((pid_t)tid, &tracer, &threads) == 0 &&
				    note_traced((pid_t)tid, tracer) < 0) {
					closedir(t);
					goto out_nomem;
				}
			}
			if (t)
				closedir(t);
		}
	}
	closedir(d);
	traced_at = log_now_ms();
	return 0;
out_nomem:
	closedir(d);
	return -ENOMEM;
}

static bool is_thread_of(pid_t pid, pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", pid, tid);
	return access(path, F_OK) == 0;
}

/* Who traces pid (any of its threads), or 0; status: pid's status text, or NULL if it
 * could not be read. */
static pid_t tracer_of(pid_t pid, const char *status)
{
	char path[96];
	uint64_t tracer = 0, threads = 0;
	struct dirent *de;
	DIR *d;

	if (!status)
		return 0;
	status_tracer(status, &tracer, &threads);
	if (tracer || threads <= 1)
		return (pid_t)tracer;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		long tid;

		if (parse_long(de->d_name, 1, INT32_MAX, &tid) < 0 || tid == pid)
			continue;
		if (read_status((pid_t)tid, &tracer, &threads) == 0 && tracer)
			break;
		tracer = 0;
	}
	if (d)
		closedir(d);
	return (pid_t)tracer;
}

static const char *comm_of(pid_t tid, struct proc_stat *st)
{
	return procfs_stat(tid, 0, st) == 0 ? st->comm : "?";
}

/* The ptrace policies for pid: 0 take it, 1 leave it out (with a kmsg line), or a
 * negative code. Trace links are never saved, and crest freezes processes with ptrace
 * itself, so a traced process cannot be taken at all. */
static int trace_policy(pid_t pid, const char *status, uint32_t flags, struct err *err)
{
	pid_t tracer = tracer_of(pid, status), tracee = 0;
	struct proc_stat ts;
	const char *me;
	int rc;

	if (tracer) {
		const char *who = comm_of(tracer, &ts);

		/* Traced by crest itself: another checkpoint or a restart still running. */
		if (!strcmp(who, "cr_restart") || !strcmp(who, "cr_checkpoint"))
			return err_set(err, -EBUSY, "pid %d is in another checkpoint or restart",
				       pid);
		if (flags & CKPT_PTRACED_SKIP) {
			kmsg_add(KMSG_WARN,
				 "pid %d is traced by pid %d (%s): left out (--ptraced-skip)", pid,
				 tracer, who);
			return 1;
		}
		if (flags & CKPT_PTRACED_ALLOW)
			return err_set(
			    err, -CREST_EPTRACED,
			    "pid %d is traced by pid %d (%s); --ptraced-allow cannot help: "
			    "crest freezes with ptrace, a process has only one tracer "
			    "(detach %s, or use --ptraced-skip)",
			    pid, tracer, who, who);
		return err_set(err, -CREST_EPTRACED,
			       "pid %d is traced by pid %d (%s) (--ptraced-skip leaves it out)",
			       pid, tracer, who);
	}
	rc = scan_traced();
	if (rc < 0)
		return err_code(err, rc, "cannot find what pid %d traces", pid);
	for (size_t i = 0; i < ntraced && !tracee; i++)
		if (traced[i].tracer == pid || is_thread_of(pid, traced[i].tracer))
			tracee = traced[i].tid;
	if (!tracee)
		return 0;
	/* crest's own tools trace only while a request of theirs runs. */
	me = comm_of(pid, &ts);
	if (!strcmp(me, "cr_restart") || !strcmp(me, "cr_checkpoint"))
		return err_set(err, -EBUSY,
			       "pid %d (%s) is in the middle of a restart or checkpoint", pid, me);
	if (flags & CKPT_PTRACER_SKIP) {
		kmsg_add(KMSG_WARN, "pid %d traces pid %d (%s): left out (--ptracer-skip)", pid,
			 tracee, comm_of(tracee, &ts));
		return 1;
	}
	return err_set(err, -CREST_EPTRACER,
		       "pid %d traces pid %d (%s) (--ptracer-skip leaves it out)", pid, tracee,
		       comm_of(tracee, &ts));
}

/* Seccomp mode and number of filters in a status text (NULL: unknown, 0). */
static void status_seccomp(const char *status, uint64_t *mode, uint64_t *filters)
{
	*mode = *filters = 0;
	if (!status)
		return;
	procfs_field_u64(status, "Seccomp", 10, mode);
	procfs_field_u64(status, "Seccomp_filters", 10, filters);
}

/* A process under seccomp filters of its own is refused before anything is done to
 * it: they also judge the calls crest runs inside it, and may kill it for one, and
 * they could not be put back at restart. Filters it shares with us (a container's,
 * inherited by every process there, cr_restart's children too) are fine; strict mode
 * never is. status: pid's status text, or NULL. */
static int seccomp_policy(pid_t pid, const char *status, struct err *err)
{
	static uint64_t my_mode, my_filters;
	static bool mine_known;
	uint64_t mode, filters;

	status_seccomp(status, &mode, &filters);
	if (mode == 0)
		return 0;
	if (!mine_known) {
		char text[4096];

		status_seccomp(procfs_status(getpid(), text, sizeof(text)) == 0 ? text : NULL,
			       &my_mode, &my_filters);
		mine_known = true;
	}
	if (mode == 2 && my_mode == 2 && filters <= my_filters)
		return 0;
	return err_set(err, -ENOTSUP,
		       "pid %d runs under seccomp (%s): crest cannot run its calls inside it "
		       "nor give %s back at restart (not supported yet)",
		       pid, mode == 1 ? "strict mode" : "filters of its own",
		       mode == 1 ? "it" : "them");
}

/* Who may be checkpointed at all. */
int checkpoint_admit(const struct ckpt_request *req, struct err *err)
{
	pid_t pid = req->pid;
	struct proc_stat st;
	char status[4096];
	bool have;
	int rc;

	if (pid <= 0)
		return err_set(err, -ESRCH, "no process %d", pid);
	if (pid == 1)
		return err_set(err, -EPERM, "pid 1 (init) is never checkpointed");
	if (pid == getpid())
		return err_set(err, -ESRCH, "pid %d is cr_checkpoint's own worker", pid);
	rc = procfs_stat(pid, 0, &st);
	if (rc < 0)
		return err_set(err, -ESRCH, "no process %d", pid);
	if (st.f[9] & PF_KTHREAD)
		return err_set(err, -EPERM, "pid %d is a kernel thread", pid);
	if (st.state == 'Z' || st.state == 'X')
		return err_set(err, -ESRCH, "pid %d has exited (zombie)", pid);
	/* Read once for both. */
	have = procfs_status(pid, status, sizeof(status)) == 0;
	rc = seccomp_policy(pid, have ? status : NULL, err);
	if (rc < 0)
		return rc;
	return trace_policy(pid, have ? status : NULL, req->flags, err);
}

/* Run on the CPU the target last ran on. Returns whether our affinity changed. */
static bool pin_near(pid_t pid, cpu_set_t *old)
{
	struct proc_stat st;
	cpu_set_t one;
	int cpu;

	if (procfs_stat(pid, 0, &st) < 0 || sched_getaffinity(0, sizeof(*old), old) < 0)
		return false;
	cpu = (int)st.f[39];
	if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, old))
		return false;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof(one), &one) == 0;
}

static uint64_t find_vdso(pid_t pid)
{
	char path[64], *line, *next;
	struct buf b;
	uint64_t at = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	buf_init(&b);
	if (buf_read_file(&b, path) == 0) {
		for (line = (char *)b.data; line && *line; line = next) {
			struct maps_line ml;

			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			if (procfs_parse_maps_line(line, &ml) == 0 && !strcmp(ml.path, "[vdso]"))
				at = ml.start;
		}
	}
	buf_fini(&b);
	return at;
}

/* Scratch memory inside the target for what injected calls return, and after it a
 * page with the batch code (inject_batch()), placed a page clear of any neighbour so
 * it never merges with the target's own areas. */
static int map_scratch(struct dump_ctx *c, struct err *err)
{
	struct ranges rs;
	char path[64];
	uint64_t at;
	bool exec;
	long r;

	snprintf(path, sizeof(path), "/proc/%d/maps", c->p->pid);
	ranges_init(&rs);
	if (ranges_add_maps(&rs, path) < 0) {
		ranges_fini(&rs);
		return err_sys(err, "cannot read %s", path);
	}
	at = ranges_find_gap(&rs, SCRATCH_LEN + CODE_LEN, 4096, 4096, 1 << 20, 1ull << 47);
	ranges_fini(&rs);
	if (!at)
		return err_set(err, -ENOMEM, "pid %d: no room for crest's scratch page", c->p->pid);
	r = inject_syscall(&c->inj, SYS_mmap, at, SCRATCH_LEN + CODE_LEN,
			   PROT_READ | PROT_WRITE | PROT_EXEC,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0, err);
	exec = r != -EACCES && r != -EPERM;
	/* Writable code refused (memory-deny-write-execute, an LSM): no batches then. */
	if (!exec)
		r = inject_syscall(&c->inj, SYS_mmap, at, SCRATCH_LEN + CODE_LEN,
				   PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, (uint64_t)-1, 0,
				   err);
	if (r == INJECT_FAILED)
		return err->code;
	if ((uint64_t)r != at)
		return err_code(err, r < 0 ? (int)r : -EFAULT,
				"pid %d: cannot map crest's scratch page", c->p->pid);
	c->scratch = at;
	c->scratch_len = SCRATCH_LEN;
	if (exec &&
	    inject_mem_write(c->memfd, at + SCRATCH_LEN, arch_batch_code, arch_batch_code_len) == 0)
		c->code = at + SCRATCH_LEN;
	return 0;
}

static int unmap_scratch(struct dump_ctx *c, struct err *err)
{
	long r;

	if (!c->scratch)
		return 0;
	r = inject_syscall(&c->inj, SYS_munmap, c->scratch, c->scratch_len + CODE_LEN, 0, 0, 0, 0,
			   err);
	if (r == INJECT_FAILED)
		return err->code;
	c->scratch = 0;
	return r < 0 ? err_code(err, (int)r, "pid %d: cannot unmap crest's scratch page", c->p->pid)
		     : 0;
}

/* Record every thread's registers and mask, so release can put them back. */
static int snapshot_threads(struct seize_set *s, struct err *err)
{
	for (uint32_t i = 0; i < s->nth; i++) {
		struct seized_thread *t = &s->th[i];

		if (arch_get_regs(t->tid, &t->regs, err) < 0)
			return err->code;
		if (ptrace(PTRACE_GETSIGMASK, t->tid, (void *)sizeof(t->sigmask), &t->sigmask) < 0)
			return err_sys(err, "cannot read the signal mask of thread %d", t->tid);
		t->dirty = true;
	}
	return 0;
}

static int open_handles(struct dump_ctx *c, struct err *err)
{
	char path[64];

	c->pidfd = (int)syscall(SYS_pidfd_open, c->p->pid, 0);
	if (c->pidfd < 0)
		return err_sys(err, "cannot open a pidfd for pid %d", c->p->pid);
	snprintf(path, sizeof(path), "/proc/%d/mem", c->p->pid);
	c->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (c->memfd < 0)
		return err_sys(err, "cannot open %s", path);
	return 0;
}

static int collect(struct dump_ctx *c, struct err *err)
{
	struct seized_thread *leader = seize_find(c->seized, c->p->pid);
	int rc;

	rc = snapshot_threads(c->seized, err);
	if (rc < 0)
		return rc;
	c->gadget = inject_vdso_gadget(find_vdso(c->p->pid));
	rc = inject_init(&c->inj, c->p->pid, c->gadget, &leader->regs, err);
	if (rc < 0)
		return rc;
	rc = map_scratch(c, err);
	if (rc < 0)
		return rc;
	if (c->seized->stopped)
		c->p->flags |= PROC_STOPPED;
	for (unsigned int i = 0; i < state_count; i++) {
		double t0 = log_now_ms();

		if (!state_table[i]->collect)
			continue;
		rc = state_table[i]->collect(c, err);
		log_debug("pid %d: collect %s: %.3f ms", c->p->pid, state_table[i]->name,
			  log_now_ms() - t0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A zombie: what /proc still says of it, to come back as a zombie for its parent. */
static int collect_zombie(struct dump_ctx *c, struct err *err)
{
	struct proc_img *p = c->p;
	struct proc_stat st;
	int rc = procfs_stat(p->pid, 0, &st);

	if (rc < 0)
		return err_code(err, rc, "cannot read /proc/%d/stat", p->pid);
	p->flags = PROC_ZOMBIE;
	p->ppid = (pid_t)st.f[4];
	p->pgid = (pid_t)st.f[5];
	p->sid = (pid_t)st.f[6];
	p->exit_signal = (int32_t)st.f[38];
	p->exit_status = (int32_t)st.f[52];
	snprintf(p->comm, sizeof(p->comm), "%.15s", st.comm);
	return 0;
}

/* One process: its records, the process record first (everything else refers to it). */
static int write_proc(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	int rc = proc_ops.encode(c, w, err);

	if (c->p->flags & PROC_ZOMBIE)
		return rc;
	for (unsigned int i = 0; rc == 0 && i < state_count; i++)
		if (state_table[i]->encode && state_table[i] != &proc_ops)
			rc = state_table[i]->encode(c, w, err);
	return rc;
}

/* What spans processes: open files, their contents, System V objects. */
static int write_shared(struct dump_all *all, struct img_writer *w, struct err *err)
{
	int rc = 0;

	for (unsigned int i = 0; rc == 0 && i < state_count; i++)
		if (state_table[i]->encode_global)
			rc = state_table[i]->encode_global(all->m, w, err);
	return rc;
}

/* An ordinary context: every process, then what they share. */
static int write_whole(struct dump_all *all, int fd, const char *name, struct err *err)
{
	struct img_writer w;
	int rc;

	rc = img_writer_init(&w, fd, name, err);
	if (rc == 0)
		rc = context_write_header(&w, all->m, err);
	for (uint32_t i = 0; rc == 0 && i < all->n; i++)
		rc = write_proc(&all->pc[i], &w, err);
	if (rc == 0)
		rc = write_shared(all, &w, err);
	if (rc == 0)
		rc = img_write_end(&w, err);
	img_writer_fini(&w);
	return rc;
}

/* A checkpoint's identity, which every part of its set carries: random, so that
 * parts of two checkpoints of the same processes never pass for one set. */
static void set_identity(uint8_t id[CTX_SET_ID_LEN], const struct model *m)
{
	static const uint8_t zero[CTX_SET_ID_LEN];
	uint64_t t = m->meta.time_ns, p = (uint64_t)getpid();

	if (getrandom(id, CTX_SET_ID_LEN, GRND_NONBLOCK) == CTX_SET_ID_LEN &&
	    memcmp(id, zero, sizeof(zero)))
		return;
	/* No entropy yet (early boot): the time and our pid still tell checkpoints
	 * apart, and are never all zero. */
	memcpy(id, &t, sizeof(t));
	memcpy(id + sizeof(t), &p, sizeof(p));
	id[CTX_SET_ID_LEN - 1] |= 1;
}

/* Process i's part of the set: a whole context of its own holding process i, with
 * what the processes share in the first one. */
static int write_part(struct dump_all *all, const struct ckpt_request *req,
		      const uint8_t id[CTX_SET_ID_LEN], uint32_t i, struct err *err)
{
	const char *name = NULL;
	struct img_writer w;
	int fd = -1, rc;

	rc = req->open_part(req->part_arg, all->m->procs[i].pid, &fd, &name, err);
	if (rc < 0)
		return rc;
	rc = img_writer_init(&w, fd, name, err);
	if (rc == 0)
		rc = context_write_header_count(&w, all->m, 1, err);
	if (rc == 0)
		rc = context_write_part(&w, all->m, id, i + 1, err);
	if (rc == 0)
		rc = write_proc(&all->pc[i], &w, err);
	if (rc == 0 && i == 0)
		rc = write_shared(all, &w, err);
	if (rc == 0)
		rc = img_write_end(&w, err);
	img_writer_fini(&w);
	return rc;
}

/* The context, in one file or (open_part) one per process: a set of parts, or for a
 * single process an ordinary context, the same as one file. */
static int write_context(struct dump_all *all, const struct ckpt_request *req, struct err *err)
{
	uint8_t id[CTX_SET_ID_LEN];
	const char *name = NULL;
	int fd = -1, rc = 0;

	if (!req->open_part)
		return write_whole(all, req->fd, req->dest_name, err);
	if (all->n == 1) {
		rc = req->open_part(req->part_arg, all->m->procs[0].pid, &fd, &name, err);
		return rc < 0 ? rc : write_whole(all, fd, name, err);
	}
	set_identity(id, all->m);
	for (uint32_t i = 0; rc == 0 && i < all->n; i++)
		rc = write_part(all, req, id, i, err);
	return rc;
}

/* Every process of the scope, each collected on its own CPU (an injected call is a
 * round trip between us and a target thread: on one CPU it costs a few microseconds,
 * across CPUs several times that); then what spans processes. */
static int collect_all(struct dump_all *all, struct err *err)
{
	cpu_set_t old_cpus;
	int rc = 0;

	for (uint32_t i = 0; rc == 0 && i < all->n; i++) {
		struct dump_ctx *c = &all->pc[i];
		bool pinned;

		if (c->p->flags & PROC_ZOMBIE) {
			rc = collect_zombie(c, err);
			continue;
		}
		pinned = pin_near(c->p->pid, &old_cpus);
		rc = open_handles(c, err);
		if (rc == 0)
			rc = collect(c, err);
		if (pinned)
			sched_setaffinity(0, sizeof(old_cpus), &old_cpus);
	}
	for (unsigned int i = 0; rc == 0 && i < state_count; i++)
		if (state_table[i]->settle_all)
			rc = state_table[i]->settle_all(all, err);
	return rc;
}

/* Let everything go: crest's scratch pages, handles, the frozen processes. */
static int release_all(struct dump_all *all, struct scope *sc, int sig, int rc, struct err *err)
{
	for (uint32_t i = 0; i < all->n; i++) {
		struct dump_ctx *c = &all->pc[i];

		if (c->scratch) {
			struct err e2 = {0};

			/* A failure here is reported only if nothing failed before. */
			if (unmap_scratch(c, &e2) < 0 && rc == 0)
				rc = err_set(err, e2.code, "%s", e2.msg);
		}
	}
	/* After a failure every process runs on as if nothing had happened. */
	scope_release(sc, rc < 0 ? 0 : sig);
	for (uint32_t i = 0; i < all->n; i++) {
		struct dump_ctx *c = &all->pc[i];

		if (c->pidfd >= 0)
			close(c->pidfd);
		if (c->memfd >= 0)
			close(c->memfd);
		for (unsigned int k = 0; k < state_count; k++)
			if (state_table[k]->dump_cleanup)
				state_table[k]->dump_cleanup(c);
	}
	return rc;
}

static int setup(struct dump_all *all, struct scope *sc, const struct ckpt_request *req,
		 struct err *err)
{
	struct model *m = all->m;

	m->procs = calloc(sc->n, sizeof(*m->procs));
	all->pc = calloc(sc->n, sizeof(*all->pc));
	if (!m->procs || !all->pc)
		return err_set(err, -ENOMEM, "out of memory");
	m->nprocs = all->n = sc->n;
	all->dest_fd = req->fd;
	for (uint32_t i = 0; i < sc->n; i++) {
		struct dump_ctx *c = &all->pc[i];

		m->procs[i].pid = sc->p[i].pid;
		if (sc->p[i].zombie)
			m->procs[i].flags = PROC_ZOMBIE;
		c->all = all;
		c->m = m;
		c->p = &m->procs[i];
		c->seized = &sc->p[i].set;
		c->save_flags = req->flags;
		c->pidfd = c->memfd = -1;
	}
	return 0;
}

int checkpoint_run(const struct ckpt_request *req, struct err *err)
{
	struct dump_all all = {0};
	struct libcr_hs *hs = NULL;
	struct scope sc;
	uint32_t fscope;
	pid_t fid;
	double t0;
	int rc;

	all.m = model_new();
	if (!all.m)
		return err_set(err, -ENOMEM, "out of memory");
	context_meta_init(&all.m->meta);
	all.m->meta.req.scope = req->scope;
	all.m->meta.req.target = req->pid;
	all.m->meta.req.flags = req->flags;

	t0 = log_now_ms();
	/* libcr: processes that have it run their callbacks first (docs/libcr.md). */
	rc = libcr_hs_prepare(req, &hs, err);
	if (rc == 0)
		rc = scope_freeze(&sc, req, err);
	/* ... and the scopes their callbacks forwarded the checkpoint to. */
	for (uint32_t k = 0; rc == 0 && libcr_hs_forward(hs, k, &fscope, &fid); k++)
		rc = scope_add(&sc, req, fscope, fid, err);
	log_debug("freeze: %.3f ms", log_now_ms() - t0);
	if (rc < 0) {
		libcr_hs_end(hs, rc);
		model_free(all.m);
		return rc;
	}
	libcr_hs_drop_omitted(hs, &sc); /* libcr: left out at their own request */
	/* Tests: the target dies while frozen, as if it exited mid-checkpoint. */
	if (fault_armed("checkpoint:target-exits"))
		kill(sc.p[0].pid, SIGKILL);
	rc = setup(&all, &sc, req, err);
	if (rc == 0)
		rc = collect_all(&all, err);
	for (uint32_t i = 0; rc == 0 && i < all.n; i++) /* libcr: woken for its callbacks */
		if (libcr_hs_was_stopped(hs, all.m->procs[i].pid))
			all.m->procs[i].flags |= PROC_STOPPED;
	if (rc == 0 && fault_armed("checkpoint:collect"))
		rc = err_set(err, -EIO, "fault injected after collecting pid %d", req->pid);
	t0 = log_now_ms();
	if (rc == 0)
		rc = write_context(&all, req, err);
	log_debug("write: %.3f ms", log_now_ms() - t0);
	if (rc == 0 && fault_armed("checkpoint:write"))
		rc = err_set(err, -ENOSPC, "fault injected after writing pid %d", req->pid);
	if (rc == 0 && req->commit)
		rc = req->commit(req->commit_arg, err);
	/* libcr: told continue or failed while frozen; it sends itself the signal. */
	rc = release_all(&all, &sc, libcr_hs_finish(hs, &sc, rc, req->signal, req->signal_early),
			 rc, err);
	libcr_hs_end(hs, rc);
	scope_fini(&sc);
	free(all.pc);
	model_free(all.m);
	return rc;
}
