/* libcr_hs.c: the engine's side of the handshake with crest's libcr (docs/libcr.md).
 *
 * Finding it: each crest library carries an ELF note (owner "crest") that locates its
 * control block (src/libcr/ctl.h). Every ELF object mapped from offset 0 in
 * /proc/PID/maps is looked at: its program headers and notes are read from the
 * process's memory, so renamed, deleted or statically linked copies are found too.
 *
 * Asking: with the process frozen for a moment, the request and a fresh random cookie
 * are written into the control block, the CR_SIGNUM disposition is checked (an
 * application may have replaced libcr's handler: libcr's is put back for the time of
 * the request and the library restores the application's before it is dumped), and
 * CR_SIGNUM is queued with rt_sigqueueinfo() carrying the cookie, so that the library
 * can tell it from the application's own raise() or kill(). Then the process runs its
 * callbacks and answers with phase VOTED; we poll the phase word.
 *
 * Telling: every later word (continue, failed, restarted) is written while the process
 * is frozen, before it runs again. Its threads wait in FUTEX_WAIT on the phase word;
 * the freeze ended that call with a restart code, so when they run, the kernel makes
 * the call again, which returns at once because the word changed. No wake-up has to
 * cross from our process to theirs. */
#define LOG_PREFIX "libcr: "
#include "libcr_hs.h"

#include "checkpoint.h"
#include "err.h"
#include "inject.h"
#include "log.h"
#include "ptrace_util.h"
#include "scope.h"
#include "seize.h"
#include "version.h"
#include "../libcr/ctl.h"
#include "../util/buf.h"
#include "../util/procfs.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "banned.h"

#define CR_CHECKPOINT_TEMP_FAILURE 1
#define CR_CHECKPOINT_PERM_FAILURE 2
#define CR_CHECKPOINT_OMIT 4
#define CREST_EOMITTED 2358
#define MAX_NOTES_LEN 4096

struct hs_proc {
	pid_t pid;
	int memfd;    /* /proc/PID/mem, read-write */
	uint64_t ctl; /* address of its control block; 0: no libcr */
	uint32_t kind;
	int vote;
	bool asked; /* request written and signalled */
	bool voted;
	bool omitted;
	bool ended; /* told the outcome */
	bool was_stopped;
	bool fwd_read; /* its forwards are in hs->fwd */
};

struct hs_fwd {
	uint32_t scope; /* CKPT_SCOPE_* */
	pid_t id;
};

struct libcr_hs {
	struct hs_proc *p;
	uint32_t n;
	struct hs_fwd *fwd; /* cr_forward_checkpoint(): scopes added to the request */
	uint32_t nfwd;
};

/* ---- reading a process ---- */

static int mem_read(int memfd, uint64_t addr, void *p, size_t n)
{
	ssize_t r = pread(memfd, p, n, (off_t)addr);

	return r == (ssize_t)n ? 0 : r < 0 ? -errno : -EIO;
}

static int mem_write(int memfd, uint64_t addr, const void *p, size_t n)
{
	ssize_t r = pwrite(memfd, p, n, (off_t)addr);

	return r == (ssize_t)n ? 0 : r < 0 ? -errno : -EIO;
}

static int ctl_read32(const struct hs_proc *h, uint64_t off, uint32_t *v)
{
	return mem_read(h->memfd, h->ctl + off, v, sizeof(*v));
}

static int ctl_write(const struct hs_proc *h, uint64_t off, const void *p, size_t n)
{
	return mem_write(h->memfd, h->ctl + off, p, n);
}

/* The control block of the ELF object mapped at start, or 0. */
static uint64_t note_ctl(int memfd, uint64_t start, uint64_t len)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[32];
	uint64_t bias = 0;
	bool have_bias = false;

	if (mem_read(memfd, start, &eh, sizeof(eh)) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum == 0 || eh.e_phnum > 32 || eh.e_phoff > len ||
	    eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > len ||
	    mem_read(memfd, start + eh.e_phoff, ph, eh.e_phnum * sizeof(Elf64_Phdr)) < 0)
		return 0;
	for (int i = 0; i < eh.e_phnum && !have_bias; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) {
			bias = start - (ph[i].p_vaddr & ~0xfffull);
			have_bias = true;
		}
	if (!have_bias)
		return 0;
	for (int i = 0; i < eh.e_phnum; i++) {
		uint8_t notes[MAX_NOTES_LEN];
		uint64_t at = bias + ph[i].p_vaddr, n = ph[i].p_memsz, off = 0;

		if (ph[i].p_type != PT_NOTE || n > sizeof(notes) ||
		    mem_read(memfd, at, notes, n) < 0)
			continue;
		while (off + sizeof(Elf64_Nhdr) <= n) {
			Elf64_Nhdr nh;
			uint64_t name, desc;
			struct crctl_note_desc d;

			memcpy(&nh, notes + off, sizeof(nh));
			name = off + sizeof(nh);
			desc = name + ((nh.n_namesz + 3ull) & ~3ull);
			off = desc + ((nh.n_descsz + 3ull) & ~3ull);
			if (off > n)
				break;
			if (nh.n_type != CRCTL_NOTE_TYPE ||
			    nh.n_namesz != sizeof(CRCTL_NOTE_OWNER) ||
			    memcmp(notes + name, CRCTL_NOTE_OWNER, sizeof(CRCTL_NOTE_OWNER)) ||
			    nh.n_descsz != sizeof(d))
				continue;
			memcpy(&d, notes + desc, sizeof(d));
			if (d.version != 1)
				continue;
			return at + desc + offsetof(struct crctl_note_desc, offset) +
			       (uint64_t)d.offset;
		}
	}
	return 0;
}

/* Find h->pid's libcr: the library in charge when several are loaded (the full one
 * takes over from a preloaded stub). Leaves h->ctl 0 when there is none. */
static int find_ctl(struct hs_proc *h, uint64_t *ret_vdso, struct err *err)
{
	char path[64], *line, *next;
	struct buf b;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/maps", h->pid);
	buf_init(&b);
	rc = buf_read_file(&b, path);
	if (rc < 0) {
		buf_fini(&b);
		return err_code(err, rc == -ENOENT ? -ESRCH : rc, "cannot read %s", path);
	}
	for (line = (char *)b.data; line && *line; line = next) {
		struct maps_line ml;
		struct {
			uint64_t magic;
			uint32_t version, size, kind, superseded;
		} head;
		uint64_t at;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (procfs_parse_maps_line(line, &ml) < 0)
			continue;
		if (!strcmp(ml.path, "[vdso]") && ret_vdso)
			*ret_vdso = ml.start;
		if (ml.pgoff != 0 || ml.path[0] != '/' || ml.perms[0] != 'r')
			continue;
		at = note_ctl(h->memfd, ml.start, ml.end - ml.start);
		if (!at || mem_read(h->memfd, at, &head, sizeof(head)) < 0 ||
		    head.magic != CRCTL_MAGIC || head.version != CRCTL_VERSION ||
		    head.size < sizeof(struct crctl) || head.superseded)
			continue;
		if (!h->ctl || head.kind == CRCTL_FULL) {
			h->ctl = at;
			h->kind = head.kind;
		}
	}
	buf_fini(&b);
	return 0;
}

static int open_mem(struct hs_proc *h, struct err *err)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/mem", h->pid);
	h->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (h->memfd < 0)
		return err_sys(err, "cannot open %s", path);
	return 0;
}

/* ---- the scope, before anything is frozen ---- */

static int add_pid(struct libcr_hs *hs, pid_t pid)
{
	struct hs_proc *n;

	for (uint32_t i = 0; i < hs->n; i++)
		if (hs->p[i].pid == pid)
			return 0;
	n = realloc(hs->p, (hs->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	hs->p = n;
	memset(&n[hs->n], 0, sizeof(*n));
	n[hs->n].pid = pid;
	n[hs->n].memfd = -1;
	hs->n++;
	return 1;
}

/* pid and its descendants, as they are now (the freeze finds the final set). */
static int add_tree(struct libcr_hs *hs, pid_t pid, int depth)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int rc = add_pid(hs, pid);

	/* One there already (a forwarded tree) may have descendants that are not. */
	if (rc < 0 || depth > 256)
		return rc;
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char cpath[320], *p, *end;
		struct buf b;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", pid, de->d_name);
		buf_init(&b);
		if (buf_read_file(&b, cpath) == 0) {
			for (p = (char *)b.data; p && *p; p = end) {
				long child = strtol(p, &end, 10);

				if (end == p)
					break;
				if (child > 0 && child != getpid())
					add_tree(hs, (pid_t)child, depth + 1);
			}
		}
		buf_fini(&b);
	}
	closedir(d);
	return 0;
}

/* The processes of a scope (CKPT_SCOPE_*) with id, as they are now. */
static int add_scope(struct libcr_hs *hs, uint32_t scope, pid_t id)
{
	struct dirent *de;
	DIR *d;

	if (scope == CKPT_SCOPE_PROC)
		return add_pid(hs, id) < 0 ? -ENOMEM : 0;
	if (scope == CKPT_SCOPE_TREE)
		return add_tree(hs, id, 0) < 0 ? -ENOMEM : 0;
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		struct proc_stat st;
		long pid;

		if (parse_long(de->d_name, 2, INT32_MAX, &pid) < 0 || pid == getpid() ||
		    procfs_stat((pid_t)pid, 0, &st) < 0 || st.state == 'Z')
			continue;
		if ((pid_t)st.f[scope == CKPT_SCOPE_PGRP ? 5 : 6] == id &&
		    add_pid(hs, (pid_t)pid) < 0) {
			closedir(d);
			return -ENOMEM;
		}
	}
	closedir(d);
	return 0;
}

/* ---- talking to one process ---- */

static uint64_t start_time(pid_t pid)
{
	struct proc_stat st;

	return procfs_stat(pid, 0, &st) == 0 ? st.f[22] : 0;
}

/* The number in an environment variable crest's libcr sets for its tools; 0 if
 * none. */
static long env_num(const char *name)
{
	const char *v = getenv(name);
	long n;

	if (!v || parse_long(v, 1, INT32_MAX, &n) < 0)
		return 0;
	return n;
}

/* The pipe crest's libcr reads a request's outcome from (req.c), or -1. */
static int result_fd(void)
{
	long fd = env_num("CREST_LIBCR_RESULT_FD");
	struct stat st;

	if (!fd || fstat((int)fd, &st) < 0 || !S_ISFIFO(st.st_mode))
		return -1;
	return (int)fd;
}

static void report(char kind, long v)
{
	int fd = result_fd();
	char line[48];
	int n;

	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%c %ld\n", kind, v);
	if (n > 0 && write(fd, line, (size_t)n) < 0)
		log_debug("cannot report to the requesting library: %s", strerror(errno));
}

static void dest_path(const struct ckpt_request *req, char *buf, size_t n)
{
	char link[64];
	ssize_t r;

	buf[0] = '\0';
	if (req->fd < 0) {
		/* -d: one file per process, in the directory dest_name names (made
		 * once they are all written: it may not exist yet). */
		char cwd[CRCTL_PATH_MAX];
		const char *d = req->dest_name;

		if (!d || !*d)
			return;
		if (d[0] == '/')
			cwd[0] = '\0';
		else if (!getcwd(cwd, sizeof(cwd)))
			return;
		if ((size_t)snprintf(buf, n, "%s/%s", cwd, d[0] == '/' ? d + 1 : d) >= n)
			buf[0] = '\0';
		return;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", req->fd);
	r = readlink(link, buf, n - 1);
	buf[r > 0 ? r : 0] = '\0';
	if (buf[0] != '/')
		buf[0] = '\0'; /* a pipe or socket: not in the file system */
}

/* Why pid cannot be frozen right now, when seizing failed. */
static int busy_or_traced(pid_t pid, struct err *err)
{
	char path[64];
	struct buf b;
	uint64_t tracer = 0;
	struct proc_stat ts;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	buf_init(&b);
	if (buf_read_file(&b, path) == 0)
		procfs_field_u64((char *)b.data, "TracerPid", 10, &tracer);
	buf_fini(&b);
	if (!tracer)
		return 0;
	err_clear(err);
	if (procfs_stat((pid_t)tracer, 0, &ts) == 0 &&
	    (!strcmp(ts.comm, "cr_restart") || !strcmp(ts.comm, "cr_checkpoint")))
		return err_set(err, -EBUSY, "pid %d is in another checkpoint or restart", pid);
	return err_set(err, -CREST_EPTRACED, "pid %d is being traced by pid %llu", pid,
		       (unsigned long long)tracer);
}

/* Freeze h->pid, run body on it, let it go. */
struct frozen {
	struct seize_set set;
	struct injector inj;
	bool inj_ready;
};

static int freeze(struct hs_proc *h, struct frozen *f, struct err *err)
{
	int rc;

	memset(f, 0, sizeof(*f));
	rc = seize_proc(&f->set, h->pid, err);
	if (rc < 0) {
		int why = busy_or_traced(h->pid, err);

		return why < 0 ? why : rc;
	}
	return 0;
}

/* An injector on the frozen leader, its registers and mask put back on release. */
static int injector(struct hs_proc *h, struct frozen *f, uint64_t vdso, struct err *err)
{
	struct seized_thread *t = seize_find(&f->set, h->pid);

	if (!t)
		return err_set(err, -ESRCH, "pid %d: its main thread is gone", h->pid);
	if (arch_get_regs(t->tid, &t->regs, err) < 0)
		return err->code;
	if (ptrace(PTRACE_GETSIGMASK, t->tid, (void *)sizeof(t->sigmask), &t->sigmask) < 0)
		return err_sys(err, "cannot read the signal mask of thread %d", t->tid);
	t->dirty = true;
	if (inject_init(&f->inj, t->tid, inject_vdso_gadget(vdso), &t->regs, err) < 0)
		return err->code;
	f->inj_ready = true;
	return 0;
}

/* Put libcr's CR_SIGNUM handler in place if the application replaced it (by its own
 * handler, SIG_IGN, SIG_DFL or a damaged restorer); the library puts the
 * application's back before it is dumped. */
static int ensure_handler(struct hs_proc *h, struct frozen *f, struct err *err)
{
	struct crctl_ksa own, app;
	uint32_t saved;
	long r;

	r = inject_syscall(&f->inj, SYS_rt_sigaction, CRCTL_SIGNUM, 0, h->ctl + CRCTL_OFF(app_sa),
			   8, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0)
		return err_code(err, (int)r, "pid %d: cannot read the disposition of signal %d",
				h->pid, CRCTL_SIGNUM);
	if (ctl_write(h, CRCTL_OFF(app_sa_saved), &(uint32_t){0}, 4) < 0 ||
	    mem_read(h->memfd, h->ctl + CRCTL_OFF(own_sa), &own, sizeof(own)) < 0 ||
	    mem_read(h->memfd, h->ctl + CRCTL_OFF(app_sa), &app, sizeof(app)) < 0)
		return err_sys(err, "pid %d: cannot read libcr's control block", h->pid);
	if (app.handler == own.handler && app.flags == own.flags && app.restorer == own.restorer)
		return 0;
	log_info("pid %d replaced libcr's handler of signal %d: put back for the checkpoint",
		 h->pid, CRCTL_SIGNUM);
	r = inject_syscall(&f->inj, SYS_rt_sigaction, CRCTL_SIGNUM, h->ctl + CRCTL_OFF(own_sa), 0,
			   8, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0)
		return err_code(err, (int)r, "pid %d: cannot install libcr's handler", h->pid);
	saved = 1;
	if (ctl_write(h, CRCTL_OFF(app_sa_saved), &saved, 4) < 0)
		return err_sys(err, "pid %d: cannot write libcr's control block", h->pid);
	return 0;
}

static int write_request(struct hs_proc *h, const struct ckpt_request *req, uint64_t cookie,
			 struct err *err)
{
	struct crctl c;
	char dest[CRCTL_PATH_MAX];
	long requester = env_num("CREST_LIBCR_REQUESTER");
	uint32_t phase = CRCTL_REQUESTED;
	int rc;

	memset(&c, 0, sizeof(c));
	c.cookie = cookie;
	c.requester = requester ? (int32_t)requester : getpid();
	c.target = req->pid;
	c.scope = (int32_t)req->scope;
	c.signal = req->signal;
	c.engine = getpid();
	c.engine_start = start_time(getpid());
	dest_path(req, dest, sizeof(dest));
	/* vote, result, final_signal, cookie; then requester ... engine_start. */
	rc = ctl_write(h, CRCTL_OFF(vote), (const char *)&c + CRCTL_OFF(vote),
		       CRCTL_OFF(requester) - CRCTL_OFF(vote));
	if (rc == 0)
		rc = ctl_write(h, CRCTL_OFF(requester), (const char *)&c + CRCTL_OFF(requester),
			       CRCTL_OFF(own_start) - CRCTL_OFF(requester));
	if (rc == 0)
		rc = ctl_write(h, CRCTL_OFF(nfwd), &c.nfwd, sizeof(c.nfwd));
	if (rc == 0)
		rc = ctl_write(h, CRCTL_OFF(dest), dest, strlen(dest) + 1);
	/* Last: the library acts on nothing before it sees this. */
	if (rc == 0)
		rc = ctl_write(h, CRCTL_OFF(phase), &phase, 4);
	if (rc < 0)
		return err_code(err, rc, "pid %d: cannot write libcr's control block", h->pid);
	return 0;
}

static int send_request(const struct hs_proc *h, uint64_t cookie, struct err *err)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = CRCTL_SIGNUM;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)(uintptr_t)cookie;
	if (syscall(SYS_rt_sigqueueinfo, h->pid, CRCTL_SIGNUM, &si) < 0)
		return err_sys(err, "cannot send signal %d to pid %d", CRCTL_SIGNUM, h->pid);
	return 0;
}

/* A request that could not be sent: the block as it was, the application's handler
 * back if it was replaced. */
static void undo(struct hs_proc *h, struct frozen *f)
{
	uint32_t idle = CRCTL_IDLE, saved = 0;
	struct err e = {0};

	ctl_write(h, CRCTL_OFF(phase), &idle, 4);
	if (f->inj_ready && ctl_read32(h, CRCTL_OFF(app_sa_saved), &saved) == 0 && saved) {
		inject_syscall(&f->inj, SYS_rt_sigaction, CRCTL_SIGNUM, h->ctl + CRCTL_OFF(app_sa),
			       0, 8, 0, 0, &e);
		saved = 0;
		ctl_write(h, CRCTL_OFF(app_sa_saved), &saved, 4);
	}
}

/* Ask h->pid (which has libcr) to run its callbacks. */
static int ask(struct hs_proc *h, const struct ckpt_request *req, struct err *err)
{
	struct frozen f;
	uint64_t vdso = 0, cookie = 0;
	uint32_t phase = ~0u;
	int rc;

	rc = freeze(h, &f, err);
	if (rc < 0)
		return rc;
	/* Read again, frozen: nothing may change it under us now. */
	h->ctl = 0;
	rc = find_ctl(h, &vdso, err);
	if (rc == 0 && !h->ctl)
		goto out; /* it exec'd meanwhile: a plain process now */
	if (rc == 0 && ctl_read32(h, CRCTL_OFF(phase), &phase) < 0)
		rc = err_sys(err, "pid %d: cannot read libcr's control block", h->pid);
	if (rc == 0 && phase != CRCTL_IDLE)
		rc = err_set(err, -EBUSY,
			     "pid %d is in another checkpoint or restart (its callbacks run)",
			     h->pid);
	if (rc < 0 || h->kind == CRCTL_OMIT)
		goto out;
	while (rc == 0 && !cookie)
		if (getrandom(&cookie, sizeof(cookie), 0) != sizeof(cookie))
			rc = err_sys(err, "cannot make a request cookie");
	if (rc == 0 && vdso) {
		rc = injector(h, &f, vdso, err);
		if (rc == 0)
			rc = ensure_handler(h, &f, err);
	} else if (rc == 0) {
		/* No vdso to run a system call from: trust that the handler is libcr's. */
		log_info("pid %d has no vdso: its handler of signal %d is not checked", h->pid,
			 CRCTL_SIGNUM);
	}
	if (rc == 0)
		rc = write_request(h, req, cookie, err);
	/* Queued while frozen: it is the first thing the process sees. */
	if (rc == 0)
		rc = send_request(h, cookie, err);
	if (rc == 0) {
		h->asked = true;
		h->was_stopped = f.set.stopped;
	} else if (h->ctl && phase == CRCTL_IDLE) {
		undo(h, &f);
	}
out:
	seize_release(&f.set, 0);
	/* A process in group stop runs its callbacks all the same, and stops again
	 * when they are done (BLCR does the same). */
	if (h->asked && h->was_stopped)
		kill(h->pid, SIGCONT);
	return rc;
}

/* Write the outcome: result first, then the phase the library waits on. */
static int tell(struct hs_proc *h, uint32_t phase, int32_t result, int32_t sig)
{
	int rc = ctl_write(h, CRCTL_OFF(result), &result, 4);

	if (rc == 0)
		rc = ctl_write(h, CRCTL_OFF(final_signal), &sig, 4);
	if (rc == 0)
		rc = ctl_write(h, CRCTL_OFF(phase), &phase, 4);
	if (rc == 0)
		h->ended = true;
	return rc;
}

/* The same, with the process running: freeze it for the write, so that its waiting
 * threads see the word when they run again. */
static void tell_running(struct hs_proc *h, uint32_t phase, int32_t result)
{
	struct seize_set set;
	struct err e = {0};
	uint32_t now;

	if (ctl_read32(h, CRCTL_OFF(phase), &now) < 0 ||
	    (now != CRCTL_REQUESTED && now != CRCTL_RUNNING && now != CRCTL_VOTED))
		return;
	if (seize_proc(&set, h->pid, &e) < 0) {
		/* Cannot freeze it: the library sees the word at its next look. */
		tell(h, phase, result, 0);
		return;
	}
	tell(h, phase, result, 0);
	seize_release(&set, 0);
}

/* ---- waiting for the answers ---- */

static void pause_us(long us)
{
	struct timespec ts = {us / 1000000, (us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

static int wait_votes(struct libcr_hs *hs, struct err *err)
{
	long us = 50;

	for (;;) {
		bool all = true;

		for (uint32_t i = 0; i < hs->n; i++) {
			struct hs_proc *h = &hs->p[i];
			uint32_t phase;
			int32_t vote;

			if (!h->asked || h->voted)
				continue;
			if (ctl_read32(h, CRCTL_OFF(phase), &phase) < 0)
				return err_set(err, -ESRCH, "pid %d exited during its callbacks",
					       h->pid);
			switch (phase) {
			case CRCTL_VOTED:
				if (mem_read(h->memfd, h->ctl + CRCTL_OFF(vote), &vote, 4) < 0)
					return err_set(err, -ESRCH, "pid %d exited", h->pid);
				h->vote = vote;
				h->voted = true;
				break;
			case CRCTL_REQUESTED:
			case CRCTL_RUNNING:
				all = false;
				break;
			default:
				h->ended = true;
				return err_set(err, -EIO,
					       "pid %d: libcr left the request (phase %u) before "
					       "answering",
					       h->pid, phase);
			}
		}
		if (all)
			return 0;
		if (ptu_deadline_hit)
			return err_set(err, -ETIMEDOUT,
				       "time limit reached while the checkpoint callbacks ran");
		pause_us(us);
		if (us < 5000)
			us *= 2;
	}
}

static int code_of(int vote, int dflt)
{
	int v = (int)((unsigned int)vote >> 16);

	return v ? v : dflt;
}

/* cr_forward_checkpoint() from a callback: scopes the request grows by. Each new one
 * is remembered once and its processes are added to hs (those with libcr are asked
 * in turn: they may forward further). Returns how many scopes were new, or -ENOMEM. */
static int forwards(struct libcr_hs *hs)
{
	int added = 0;

	for (uint32_t i = 0; i < hs->n; i++) {
		struct hs_proc *h = &hs->p[i];
		struct crctl_fwd fwd[CRCTL_MAX_FWD];
		uint32_t n = 0;

		if (!h->voted || h->fwd_read || ctl_read32(h, CRCTL_OFF(nfwd), &n) < 0 || n == 0)
			continue;
		h->fwd_read = true;
		if (n > CRCTL_MAX_FWD)
			n = CRCTL_MAX_FWD;
		if (mem_read(h->memfd, h->ctl + CRCTL_OFF(fwd), fwd, n * sizeof(fwd[0])) < 0)
			continue;
		for (uint32_t k = 0; k < n; k++) {
			struct hs_fwd *nf;
			bool known = false;
			int rc;

			if (fwd[k].scope < CKPT_SCOPE_PROC || fwd[k].scope > CKPT_SCOPE_TREE ||
			    fwd[k].target <= 1)
				continue; /* the library refused it already */
			for (uint32_t j = 0; j < hs->nfwd && !known; j++)
				known = hs->fwd[j].scope == (uint32_t)fwd[k].scope &&
					hs->fwd[j].id == fwd[k].target;
			if (known)
				continue;
			nf = realloc(hs->fwd, (hs->nfwd + 1) * sizeof(*nf));
			if (!nf)
				return -ENOMEM;
			hs->fwd = nf;
			hs->fwd[hs->nfwd++] = (struct hs_fwd){(uint32_t)fwd[k].scope, fwd[k].target};
			log_debug("pid %d forwarded the checkpoint to scope %d of %d", h->pid,
				  fwd[k].scope, fwd[k].target);
			rc = add_scope(hs, (uint32_t)fwd[k].scope, fwd[k].target);
			if (rc < 0)
				return rc;
			added++;
			h = &hs->p[i]; /* hs->p may have moved */
		}
	}
	return added;
}

/* Whether process h has a crest libcr (h->ctl). One that cannot even be read is left
 * to the freeze to judge. */
static bool has_libcr(struct hs_proc *h)
{
	struct err e = {0};

	if (h->memfd < 0 && (open_mem(h, &e) < 0 || find_ctl(h, NULL, &e) < 0))
		h->ctl = 0;
	return h->ctl != 0;
}

/* The libcr processes among hs->p[from...]: ask them to run their callbacks. */
static int ask_new(struct libcr_hs *hs, uint32_t from, const struct ckpt_request *req,
		   struct err *err)
{
	for (uint32_t i = from; i < hs->n; i++) {
		struct hs_proc *h = &hs->p[i];
		int rc;

		if (!has_libcr(h))
			continue;
		rc = ask(h, req, err);
		if (rc < 0)
			return rc;
		log_debug("pid %d: libcr %s", h->pid,
			  h->kind == CRCTL_OMIT ? "omit: left out" : "asked to run its callbacks");
	}
	return 0;
}

bool libcr_hs_forward(const struct libcr_hs *hs, uint32_t k, uint32_t *scope, pid_t *id)
{
	if (!hs || k >= hs->nfwd)
		return false;
	*scope = hs->fwd[k].scope;
	*id = hs->fwd[k].id;
	return true;
}

/* Act on the answers. Returns 0 if the checkpoint goes ahead. */
static int settle(struct libcr_hs *hs, struct err *err)
{
	int perm = 0, temp = 0, left = 0;
	pid_t by = 0;

	for (uint32_t i = 0; i < hs->n; i++) {
		const struct hs_proc *h = &hs->p[i];

		if (!h->voted)
			continue;
		if (h->vote & CR_CHECKPOINT_PERM_FAILURE && !perm) {
			perm = code_of(h->vote, CREST_EPERMFAIL);
			by = h->pid;
		} else if (h->vote & CR_CHECKPOINT_TEMP_FAILURE && !temp && !perm) {
			temp = code_of(h->vote, CREST_ETEMPFAIL);
			by = h->pid;
		}
	}
	if (perm) {
		/* BLCR: every process of the request dies. */
		for (uint32_t i = 0; i < hs->n; i++) {
			kill(hs->p[i].pid, SIGKILL);
			hs->p[i].ended = true;
		}
		kmsg_add(KMSG_ERROR,
			 "pid %d: a callback gave up the checkpoint for good (%d): "
			 "every process of the request was killed",
			 by, perm);
		return err_set(err, -perm,
			       "a callback of pid %d gave up the checkpoint for good (%d); the "
			       "processes were killed",
			       by, perm);
	}
	if (temp) {
		for (uint32_t i = 0; i < hs->n; i++)
			if (hs->p[i].asked && !hs->p[i].ended)
				tell_running(&hs->p[i], CRCTL_ABORTED, -temp);
		kmsg_add(KMSG_ERROR, "pid %d: a callback cancelled the checkpoint for now (%d)", by,
			 temp);
		return err_set(err, -temp,
			       "a callback of pid %d cancelled the checkpoint for now (%d)", by,
			       temp);
	}
	for (uint32_t i = 0; i < hs->n; i++) {
		struct hs_proc *h = &hs->p[i];

		if (h->kind == CRCTL_OMIT && h->ctl) {
			h->omitted = true;
			kmsg_add(KMSG_WARN, "pid %d runs with libcr_omit: left out", h->pid);
		} else if (h->voted && (h->vote & CR_CHECKPOINT_OMIT)) {
			h->omitted = true;
			tell_running(h, CRCTL_ABORTED, -CREST_EOMITTED);
			kmsg_add(KMSG_WARN, "pid %d asked to be left out", h->pid);
		}
		if (!h->omitted)
			left++;
	}
	if (!left)
		return err_set(err, -ESRCH, "every process asked to be left out of the checkpoint");
	return 0;
}

/* ---- the interface ---- */

int libcr_hs_prepare(const struct ckpt_request *req, struct libcr_hs **ret, struct err *err)
{
	struct libcr_hs *hs = calloc(1, sizeof(*hs));
	double t0 = log_now_ms();
	bool libcr = false;
	int rc;

	*ret = NULL;
	if (!hs)
		return err_set(err, -ENOMEM, "out of memory");
	rc = add_scope(hs, req->scope, req->pid);
	if (rc < 0) {
		err_code(err, rc, "cannot list the processes of the request");
		goto fail;
	}
	for (uint32_t i = 0; i < hs->n; i++)
		libcr |= has_libcr(&hs->p[i]);
	if (!libcr) {
		log_debug("no libcr in %u processes: %.3f ms", hs->n, log_now_ms() - t0);
		libcr_hs_end(hs, 0);
		return 0;
	}
	/* Those forwarded to run their callbacks too, and may forward further. */
	for (uint32_t from = 0; rc == 0;) {
		uint32_t n = hs->n;

		rc = ask_new(hs, from, req, err);
		if (rc == 0)
			rc = wait_votes(hs, err);
		if (rc == 0)
			rc = forwards(hs);
		if (rc == -ENOMEM)
			rc = err_set(err, -ENOMEM, "out of memory");
		if (rc <= 0)
			break;
		from = n;
		rc = 0;
	}
	if (rc == 0)
		rc = settle(hs, err);
	if (rc < 0)
		goto fail;
	log_debug("callbacks of %u processes: %.3f ms", hs->n, log_now_ms() - t0);
	*ret = hs;
	return 0;
fail:
	/* The exact error goes to a requesting libcr, whose tool exits with its low
	 * byte only (a callback's code can be up to 65535). */
	report('E', -rc);
	libcr_hs_end(hs, rc);
	return rc;
}

bool libcr_hs_omitted(const struct libcr_hs *hs, pid_t pid)
{
	for (uint32_t i = 0; hs && i < hs->n; i++)
		if (hs->p[i].pid == pid)
			return hs->p[i].omitted;
	return false;
}

bool libcr_hs_was_stopped(const struct libcr_hs *hs, pid_t pid)
{
	for (uint32_t i = 0; hs && i < hs->n; i++)
		if (hs->p[i].pid == pid)
			return hs->p[i].asked && hs->p[i].was_stopped;
	return false;
}

void libcr_hs_drop_omitted(const struct libcr_hs *hs, struct scope *sc)
{
	uint32_t k = 0;

	for (uint32_t i = 0; i < sc->n; i++) {
		if (!sc->p[i].zombie && libcr_hs_omitted(hs, sc->p[i].pid)) {
			log_debug("pid %d: left out at its libcr's request", sc->p[i].pid);
			seize_release(&sc->p[i].set, 0);
			continue;
		}
		sc->p[k++] = sc->p[i];
	}
	sc->n = k;
}

static bool takes_part(const struct hs_proc *h)
{
	return h->asked && h->voted && !h->omitted && !h->ended;
}

int libcr_hs_finish(struct libcr_hs *hs, const struct scope *sc, int rc, int sig, bool early)
{
	bool libcr = false;

	if (!hs)
		return sig;
	for (uint32_t i = 0; i < hs->n; i++) {
		struct hs_proc *h = &hs->p[i];
		/* A process that was stopped is stopped again after its callbacks. */
		int32_t own = sig && !early ? sig : h->was_stopped ? SIGSTOP : 0;

		if (!takes_part(h))
			continue;
		libcr = true;
		if (tell(h, rc == 0 ? CRCTL_CONTINUE : CRCTL_ABORTED, rc, rc == 0 ? own : 0) < 0)
			log_warn("pid %d: cannot tell libcr the outcome of the checkpoint: %s",
				 h->pid, strerror(errno));
	}
	if (!libcr || !sc || early)
		return sig;
	/* The other processes get the signal now, queued while frozen as the engine
	 * would. */
	for (uint32_t i = 0; sig > 0 && rc == 0 && i < sc->n; i++) {
		bool own = false;

		if (sc->p[i].zombie)
			continue;
		for (uint32_t k = 0; k < hs->n && !own; k++)
			own = hs->p[k].pid == sc->p[i].pid && hs->p[k].asked && hs->p[k].voted &&
			      !hs->p[k].omitted;
		if (!own)
			kill(sc->p[i].pid, sig);
	}
	return 0;
}

void libcr_hs_end(struct libcr_hs *hs, int rc)
{
	if (!hs)
		return;
	for (uint32_t i = 0; i < hs->n; i++) {
		struct hs_proc *h = &hs->p[i];

		if (h->asked && !h->ended)
			tell_running(h, CRCTL_ABORTED, rc < 0 ? rc : -EIO);
		if (h->memfd >= 0)
			close(h->memfd);
	}
	free(hs->p);
	free(hs->fwd);
	free(hs);
}

/* The context's absolute path, as cr_get_restart_info() gives it. */
static void src_path(const char *name, char *buf, size_t n)
{
	char link[64];
	long fd;
	ssize_t r;

	buf[0] = '\0';
	if (!name)
		return;
	if (name[0] == '<' && !strncmp(name, "<fd", 3)) {
		char num[16];
		size_t len = strcspn(name + 3, ">");

		if (len == 0 || len >= sizeof(num))
			return;
		memcpy(num, name + 3, len);
		num[len] = '\0';
		if (parse_long(num, 0, INT32_MAX, &fd) < 0)
			return;
		snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
		r = readlink(link, buf, n - 1);
		buf[r > 0 ? r : 0] = '\0';
		if (buf[0] != '/')
			buf[0] = '\0';
		return;
	}
	if (!realpath(name, buf) && (size_t)snprintf(buf, n, "%s", name) >= n)
		buf[0] = '\0';
}

int libcr_hs_restarted(pid_t pid, const char *src, int *sig, struct err *err)
{
	struct hs_proc h;
	char path[CRCTL_PATH_MAX];
	long requester = env_num("CREST_LIBCR_REQUESTER");
	uint32_t phase;
	int rc;

	report('P', pid);
	memset(&h, 0, sizeof(h));
	h.pid = pid;
	h.memfd = -1;
	rc = open_mem(&h, err);
	if (rc == 0)
		rc = find_ctl(&h, NULL, err);
	if (rc < 0 || !h.ctl)
		goto out;
	if (ctl_read32(&h, CRCTL_OFF(phase), &phase) < 0) {
		rc = err_sys(err, "pid %d: cannot read libcr's control block", pid);
		goto out;
	}
	if (phase != CRCTL_VOTED)
		goto out; /* checkpointed from outside, with no request running */
	src_path(src, path, sizeof(path));
	rc = ctl_write(&h, CRCTL_OFF(src), path, strlen(path) + 1);
	/* Asked by a libcr (req.c): ours to become its child once we exit. */
	if (rc == 0) {
		struct proc_stat st;
		int32_t reparent = 0;

		if (requester && procfs_stat(pid, 0, &st) == 0 && (pid_t)st.f[4] == getpid())
			reparent = (int32_t)requester;
		rc = ctl_write(&h, CRCTL_OFF(reparent), &reparent, sizeof(reparent));
	}
	if (rc == 0)
		rc = tell(&h, CRCTL_RESTARTED, requester ? (int32_t)requester : getpid(),
			  sig ? *sig : 0);
	if (rc < 0) {
		rc = err_code(err, rc, "pid %d: cannot tell libcr that it was restarted", pid);
		goto out;
	}
	if (sig)
		*sig = 0;
	log_debug("pid %d: libcr told it was restarted", pid);
out:
	if (h.memfd >= 0)
		close(h.memfd);
	return rc;
}
