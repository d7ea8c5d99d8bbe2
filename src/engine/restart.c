/* restart.c: a restart as a list of phases: load, prepare, create, install, seize,
 * restore, verify, leave, finish, release.
 *
 * The new process starts as a copy of cr_restart made with clone3(set_tid), so it has
 * its saved pid from birth. It installs its descriptors and the process-wide settings
 * that plain code can set, then waits. cr_restart seizes it and, through system calls
 * run inside it with ptrace, replaces its memory with the saved one, recreates its
 * threads and the rest. Nothing of crest remains in it when it runs. */
#define LOG_PREFIX "restart: "
#include "restart.h"

#include "context.h"
#include "err.h"
#include "fault.h"
#include "image.h"
#include "inject.h"
#include "libcr_hs.h"
#include "log.h"
#include "pidns.h"
#include "ptrace_util.h"
#include "reloc.h"
#include "version.h"
#include "../util/buf.h"
#include "../util/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banned.h"

#define STATUS_TIMEOUT_MS 60000

/* A syscall instruction in our text; the new process, a copy of us, has it too. */
extern const char crest_syscall_gadget[];
__asm__(".text\n"
	".globl crest_syscall_gadget\n"
	".type crest_syscall_gadget, @function\n"
	"crest_syscall_gadget:\n"
	"\tsyscall\n"
	"\tint3\n"
	".size crest_syscall_gadget, .-crest_syscall_gadget\n");

/* ---- descriptors inherited by cr_restart ---- */

static int *inherited;
static size_t ninherited;
static int excluded_fd = -1;

void restart_note_inherited_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		int *n;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end || fd == dirfd(d))
			continue;
		n = realloc(inherited, (ninherited + 1) * sizeof(*n));
		if (!n)
			break;
		inherited = n;
		inherited[ninherited++] = (int)fd;
	}
	closedir(d);
}

bool restart_fd_inherited(int fd)
{
	if (fd == excluded_fd)
		return false;
	for (size_t i = 0; i < ninherited; i++)
		if (inherited[i] == fd)
			return fcntl(fd, F_GETFD) >= 0;
	return false;
}

/* ---- helpers for modules ---- */

const char *rst_path(const struct rst_ctx *c, const char *saved, char *buf, size_t n,
		     struct err *err)
{
	const struct rst_opts *o = c->opts;

	/* In command-line order: the first pair that covers the path is the only one
	 * applied, as BLCR does. No allocation: the new process calls this too. */
	for (size_t i = 0; o && i < o->nrelocs; i++) {
		int r = reloc_one(o->relocs[i].from, o->relocs[i].to, saved, buf, n);

		if (r < 0) {
			err_set(err, -ENAMETOOLONG,
				"pid %d: relocated, a path would be PATH_MAX bytes or longer: "
				"'%s' with --relocate %s=%s",
				c->rp ? c->rp->p->pid : 0, saved, o->relocs[i].from,
				o->relocs[i].to);
			return NULL;
		}
		if (r > 0)
			return buf;
	}
	return saved;
}

int rst_add_fd(struct rst_proc *rp, int parent_fd, int child_fd, bool owned, bool cloexec)
{
	if (rp->nmoves == rp->cap_moves) {
		uint32_t ncap = rp->cap_moves ? rp->cap_moves * 2 : 16;
		struct fd_move *n = realloc(rp->moves, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		rp->moves = n;
		rp->cap_moves = ncap;
	}
	if (child_fd < 0)
		child_fd = rp->keep_base + rp->nkeep++;
	rp->moves[rp->nmoves++] = (struct fd_move){parent_fd, child_fd, owned, cloexec, -1};
	return child_fd;
}

int rst_scratch_put(struct rst_proc *rp, uint64_t off, const void *p, size_t n, uint64_t *addr,
		    struct err *err)
{
	if (off > rp->scratch_len || n > rp->scratch_len - off)
		return err_set(err, -E2BIG, "pid %d: %zu bytes do not fit crest's scratch memory",
			       rp->p->pid, n);
	*addr = rp->scratch + off;
	if (n && inject_mem_write(rp->memfd, *addr, p, n) < 0)
		return err_sys(err, "pid %d: cannot write crest's scratch memory", rp->p->pid);
	return 0;
}

/* ---- the new process, before cr_restart takes over ---- */

static void status_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void status_line(int fd, const char *fmt, ...)
{
	char line[700];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(fd, line, (size_t)n) < 0)
		return;
}

/* ---- the new process's descriptors ----
 *
 * Each planned descriptor is a move: the object at parent_fd (cr_restart's number,
 * which the copy has too) goes to child_fd, and every other descriptor is closed.
 * The numbers are taken as they are: a process may have as many descriptors as its
 * limit allows, so there is no room for a second set. The child numbers are distinct,
 * so a move can be made once no move still to make reads the number it writes;
 * making it may free its source for the move that writes there, and so on along a
 * chain. What no chain reaches is cycles, each broken with one spare number. */

enum { MOVE_TODO, MOVE_DONE, MOVE_TODO_SPARE /* its source is a spare, closed after */ };

struct fd_plan {
	struct fd_move *mv;
	int *readers; /* by number: how many moves still to make read it */
	int *writer;  /* by number: 1 + the move that writes it, 0 if none */
};

static int install_one(struct rst_proc *rp, struct fd_plan *pl, uint32_t i, struct err *err)
{
	while (true) {
		struct fd_move *m = &pl->mv[i];
		int src = m->parent_fd, w;

		if (dup3(src, m->child_fd, m->cloexec ? O_CLOEXEC : 0) < 0)
			return err_sys(err, "pid %d: cannot install descriptor %d", rp->p->pid,
				       m->child_fd);
		if (m->tmp == MOVE_TODO_SPARE) {
			m->tmp = MOVE_DONE;
			close(src);
			return 0;
		}
		m->tmp = MOVE_DONE;
		if (--pl->readers[src] > 0)
			return 0;
		w = pl->writer[src];
		if (!w) {
			close(src); /* cr_restart's, needed by no one else */
			return 0;
		}
		if (pl->mv[w - 1].tmp == MOVE_DONE)
			return 0;    /* kept at its own number */
		i = (uint32_t)w - 1; /* free now */
	}
}

/* Close every descriptor that no move reads (cr_restart's own, other processes'). */
static int close_unplanned(struct rst_proc *rp, const struct fd_plan *pl, int hi, struct err *err)
{
	for (int fd = 0; fd < hi;) {
		int end = fd;

		while (end < hi && !pl->readers[end] &&
		       !(pl->writer[end] && pl->mv[pl->writer[end] - 1].parent_fd == end))
			end++;
		if (end > fd && syscall(SYS_close_range, fd, end - 1, 0) < 0)
			return err_sys(err, "pid %d: cannot close cr_restart's descriptors",
				       rp->p->pid);
		fd = end + 1;
	}
	if (syscall(SYS_close_range, hi, ~0u, 0) < 0)
		return err_sys(err, "pid %d: cannot close cr_restart's descriptors", rp->p->pid);
	return 0;
}

static int install_plan(struct rst_proc *rp, struct fd_plan *pl, int hi, struct err *err)
{
	struct fd_move *mv = pl->mv;
	uint32_t n = rp->nmoves;
	int rc;

	for (uint32_t i = 0; i < n; i++) {
		mv[i].tmp = MOVE_TODO;
		pl->writer[mv[i].child_fd] = (int)i + 1;
		if (mv[i].parent_fd != mv[i].child_fd)
			pl->readers[mv[i].parent_fd]++;
	}
	/* Already at its number (cr_restart's own, given to an external one). */
	for (uint32_t i = 0; i < n; i++) {
		if (mv[i].parent_fd != mv[i].child_fd)
			continue;
		if (fcntl(mv[i].child_fd, F_SETFD, mv[i].cloexec ? FD_CLOEXEC : 0) < 0)
			return err_sys(err, "pid %d: cannot install descriptor %d", rp->p->pid,
				       mv[i].child_fd);
		mv[i].tmp = MOVE_DONE;
	}
	rc = close_unplanned(rp, pl, hi, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++)
		if (mv[i].tmp == MOVE_TODO && !pl->readers[mv[i].child_fd])
			rc = install_one(rp, pl, i, err);
	for (uint32_t i = 0; rc == 0 && i < n; i++) {
		int src = mv[i].parent_fd, spare, w;

		if (mv[i].tmp != MOVE_TODO)
			continue;
		/* A cycle: this move reads its source from a spare number, which lets
		 * the move that writes the source go, and the rest of the cycle. */
		spare = fcntl(src, F_DUPFD_CLOEXEC, 0);
		if (spare < 0)
			return err_sys(err,
				       "pid %d: no spare descriptor number to install "
				       "descriptor %d",
				       rp->p->pid, mv[i].child_fd);
		mv[i].parent_fd = spare;
		mv[i].tmp = MOVE_TODO_SPARE;
		w = --pl->readers[src] ? 0 : pl->writer[src];
		if (!pl->readers[src] && !w)
			close(src);
		if (w && mv[w - 1].tmp == MOVE_TODO)
			rc = install_one(rp, pl, (uint32_t)w - 1, err);
		if (rc == 0 && mv[i].tmp != MOVE_DONE) {
			/* Only a cycle leads back here; anything else is a bug. */
			if (pl->readers[mv[i].child_fd])
				return err_set(
				    err, -EINVAL,
				    "pid %d: internal: descriptor %d cannot be installed",
				    rp->p->pid, mv[i].child_fd);
			rc = install_one(rp, pl, i, err);
		}
	}
	return rc;
}

/* Move every planned descriptor to its number and close all others. No allocation:
 * this runs in the copy of cr_restart (the plan's tables are mapped). ret_status:
 * where the status pipe is now, whatever happened. */
static int install_fds(struct rst_proc *rp, int *ret_status, struct err *err)
{
	struct fd_plan pl = {rp->moves, NULL, NULL};
	uint32_t status = UINT32_MAX;
	size_t len;
	int hi = 0, rc;

	for (uint32_t i = 0; i < rp->nmoves; i++) {
		if (rp->moves[i].parent_fd >= hi)
			hi = rp->moves[i].parent_fd + 1;
		if (rp->moves[i].child_fd >= hi)
			hi = rp->moves[i].child_fd + 1;
		if (rp->moves[i].parent_fd == rp->status_w &&
		    rp->moves[i].child_fd == rp->status_child_fd)
			status = i;
	}
	*ret_status = rp->status_w;
	len = 2 * (size_t)hi * sizeof(int);
	pl.readers = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (pl.readers == MAP_FAILED)
		return err_sys(err, "pid %d: no memory to plan its %u descriptors", rp->p->pid,
			       rp->nmoves);
	pl.writer = pl.readers + hi;
	rc = install_plan(rp, &pl, hi, err);
	munmap(pl.readers, len);
	if (status != UINT32_MAX)
		*ret_status = rp->moves[status].tmp == MOVE_DONE ? rp->status_child_fd
								 : rp->moves[status].parent_fd;
	return rc;
}

/* Descriptor fd of the new process is at or above lim, its limit of open files. */
static int over_limit(const struct rst_proc *rp, int fd, rlim_t lim, struct err *err)
{
	if (fd < rp->keep_base)
		return err_set(err, -EMFILE,
			       "pid %d: descriptor %d is above the limit of %llu open files",
			       rp->p->pid, fd, (unsigned long long)lim);
	return err_set(err, -EMFILE,
		       "pid %d: crest needs descriptors %d to %d while it restores the process, "
		       "above the limit of %llu open files",
		       rp->p->pid, rp->keep_base, rp->keep_base + rp->nkeep - 1,
		       (unsigned long long)lim);
}

/* ---- the process tree ----
 *
 * cr_restart makes the processes whose parent is not in the context; every other
 * process is made by its restored parent, while that is still a copy of cr_restart,
 * so that parent links come back as they were. A session leader (--restore-sid)
 * makes its session before its children, who are born in it. Process groups
 * (--restore-pgid) are joined once every process exists, leaders first. A zombie is
 * made like any process and exits, with its saved status, once all is done. */

static int proc_index(const struct rst_ctx *c, pid_t pid)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->all[i].p->pid == pid)
			return (int)i;
	return -1;
}

static bool made_by_us(const struct rst_ctx *c, uint32_t i)
{
	return c->all[i].parent < 0;
}

static int plan_tree(struct rst_ctx *c, struct err *err)
{
	const struct rst_opts *o = c->opts;

	for (uint32_t i = 0; i < c->n; i++) {
		struct rst_proc *rp = &c->all[i];
		const struct proc_img *p = rp->p;
		int leader;

		rp->parent = proc_index(c, p->ppid);
		if ((p->flags & PROC_ZOMBIE) && rp->parent < 0)
			return err_set(err, -EINVAL, "zombie pid %d has no parent in the context",
				       p->pid);
		if (o->restore_sid && p->sid != p->pid) {
			/* Born into the session: its leader must be an ancestor here. */
			int a = rp->parent;

			while (a >= 0 && c->all[a].p->pid != p->sid)
				a = c->all[a].parent;
			if (a < 0)
				return err_set(err, -EBUSY,
					       "pid %d: cannot restore session %d: its leader is not "
					       "among its ancestors in the context (use "
					       "--no-restore-sid)",
					       p->pid, p->sid);
		}
		leader = proc_index(c, p->pgid);
		if (o->restore_pgid && (leader < 0 || (c->all[leader].p->flags & PROC_ZOMBIE)) &&
		    p->pgid != p->pid)
			return err_set(err, -EBUSY,
				       "pid %d: cannot restore process group %d: its leader is not "
				       "in the context (use --no-restore-pgid)",
				       p->pid, p->pgid);
		if (o->restore_pgid && leader >= 0 && c->all[leader].p->sid != p->sid)
			return err_set(err, -EBUSY,
				       "pid %d: process group %d lies in another session", p->pid,
				       p->pgid);
	}
	return 0;
}

static pid_t create_process(struct rst_ctx *c, uint32_t i, struct err *err);

static void __attribute__((noreturn)) zombie_main(struct rst_ctx *c, uint32_t i)
{
	const struct proc_img *p = c->all[i].p;
	char b;
	sigset_t none;

	close(c->zombie_pipe[1]);
	prctl(PR_SET_NAME, p->comm, 0, 0, 0);
	status_line(c->all[i].status_w, "OK");
	while (read(c->zombie_pipe[0], &b, 1) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(p->exit_status)) {
		signal(WTERMSIG(p->exit_status), SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		kill(getpid(), WTERMSIG(p->exit_status));
	}
	_exit(WEXITSTATUS(p->exit_status));
}

/* The new process i, a copy of cr_restart (or of its restored parent): make its
 * children, install its descriptors, set what plain code can set, report, and wait
 * for cr_restart to take it over. */
static void __attribute__((noreturn)) child_main(struct rst_ctx *c, uint32_t i)
{
	struct rst_proc *rp = &c->all[i];
	int status_fd = rp->status_w;
	struct err e = {0};
	struct rlimit nofile;
	int rc = 0;

	c->rp = rp;
	kmsg_set_forward(status_fd);
	if (rp->p->flags & PROC_ZOMBIE)
		zombie_main(c, i);
	if (c->opts->restore_sid && rp->p->sid == rp->p->pid) {
		if (setsid() < 0)
			rc = err_sys(&e, "pid %d: cannot create its session", rp->p->pid);
		/* Before its children: they inherit what it takes (its terminal). */
		for (unsigned int k = 0; rc == 0 && k < state_count; k++)
			if (state_table[k]->session)
				rc = state_table[k]->session(c, &e);
	}
	for (uint32_t k = 0; rc == 0 && k < c->n; k++) {
		pid_t pid;

		if (c->all[k].parent != (int)i)
			continue;
		pid = create_process(c, k, &e);
		if (pid < 0)
			rc = pid;
		else
			status_line(status_fd, "C %u %d", k, pid);
	}
	/* Saved descriptors may lie above cr_restart's soft limit: the saved limits
	 * come back later, so work under the hard one meanwhile (cr_restart does too,
	 * files.c). Installing them takes no number beyond theirs and cr_restart's. */
	if (rc == 0 && getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		rlim_t lim = nofile.rlim_cur;

		if (nofile.rlim_cur < nofile.rlim_max) {
			nofile.rlim_cur = nofile.rlim_max;
			if (setrlimit(RLIMIT_NOFILE, &nofile) == 0)
				lim = nofile.rlim_max;
		}
		for (uint32_t k = 0; rc == 0 && k < rp->nmoves; k++)
			if ((rlim_t)rp->moves[k].child_fd >= lim)
				rc = over_limit(rp, rp->moves[k].child_fd, lim, &e);
	}
	if (rc == 0) {
		rc = install_fds(rp, &status_fd, &e);
		kmsg_set_forward(status_fd);
	}
	for (unsigned int k = 0; rc == 0 && k < state_count; k++)
		if (state_table[k]->child)
			rc = state_table[k]->child(c, &e);
	if (rc < 0)
		status_line(status_fd, "FAIL %d %s", rc, e.msg);
	else
		status_line(status_fd, "OK");
	for (;;)
		pause(); /* cr_restart seizes us here */
}

/* --pidns: pid 1 of a new pid namespace, with a mount namespace of its own where
 * /proc shows that namespace. It makes the processes whose parent is not in the
 * context, then reaps. When the eldest of them ends it writes its wait status for
 * cr_restart (which then exits as without --pidns) and goes on until the namespace is
 * empty: its end would kill what is left. */
static void __attribute__((noreturn)) init_main(struct rst_ctx *c)
{
	int sfd = c->init_status[1], out = c->result[1], rc = 0;
	struct err e = {0};
	pid_t eldest = 0;

	kmsg_set_forward(sfd);
	prctl(PR_SET_NAME, PIDNS_INIT_NAME, 0, 0, 0);
	rc = pidns_mount_proc(&e);
	for (uint32_t k = 0; rc == 0 && k < c->n; k++) {
		pid_t pid;

		if (!made_by_us(c, k))
			continue;
		pid = create_process(c, k, &e);
		if (pid < 0) {
			rc = pid;
			break;
		}
		status_line(sfd, "C %u %d", k, pid);
		if (!eldest && !(c->all[k].p->flags & PROC_ZOMBIE))
			eldest = pid;
	}
	if (rc < 0) {
		status_line(sfd, "FAIL %d %s", rc, e.msg);
		_exit(1);
	}
	status_line(sfd, "OK");
	/* Nothing of cr_restart's but the result pipe. */
	if (out > 0)
		syscall(SYS_close_range, 0, out - 1, 0);
	syscall(SYS_close_range, out + 1, ~0u, 0);
	for (;;) {
		int st;
		pid_t w = waitpid(-1, &st, __WALL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && !pidns_wait_other())
			_exit(0);
		if (w == eldest && out >= 0) {
			dprintf(out, "%d\n", st);
			close(out);
			out = -1;
		}
	}
}

/* clone3 with the saved pid (and exit signal); the child runs child_main(). */
static pid_t create_process(struct rst_ctx *c, uint32_t i, struct err *err)
{
	struct proc_img *p = c->all[i].p;
	struct clone_args ca;
	pid_t want = p->pid;
	uint64_t tid_addr = 0;
	long r;

	/* Like fork(): glibc's cached tid in the copy is set by the kernel. */
	prctl(PR_GET_TID_ADDRESS, &tid_addr, 0, 0, 0);
	memset(&ca, 0, sizeof(ca));
	ca.flags = tid_addr ? CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID : 0;
	ca.child_tid = tid_addr;
	ca.exit_signal = (uint64_t)(p->exit_signal ? p->exit_signal : SIGCHLD);
	if (c->opts->restore_pid) {
		ca.set_tid = (uint64_t)(uintptr_t)&want;
		ca.set_tid_size = 1;
	}
	r = syscall(SYS_clone3, &ca, sizeof(ca));
	if (r == 0)
		child_main(c, i);
	if (r < 0) {
		if (errno == EEXIST) {
			/* No process has it, yet the kernel still holds the id: a live
			 * process group or session carries it. */
			const char *how = kill(p->pid, 0) < 0 && errno == ESRCH
						  ? " as a process group or session id"
						  : "";

			kmsg_add(KMSG_ERROR, "pid %d is in use%s", p->pid, how);
			return err_set(err, -EBUSY, "pid %d is in use%s (try --no-restore-pid)",
				       p->pid, how);
		}
		if (errno == EPERM && c->opts->restore_pid)
			return err_set(err, -EPERM,
				       "not allowed to create pid %d (needs CAP_CHECKPOINT_RESTORE; "
				       "try --no-restore-pid)",
				       p->pid);
		return err_sys(err, "cannot create the process for pid %d", p->pid);
	}
	return (pid_t)r;
}

/* ---- cr_restart's side ---- */

/* Read the reports of every new process: "C index pid" for each child it made, kmsg
 * lines, then OK or FAIL. */
static int read_reports(struct rst_ctx *c, struct err *err)
{
	uint32_t n = c->n + (c->init_pid > 0); /* the last one: the namespace's init */
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	char (*buf)[4096] = calloc(n, sizeof(*buf));
	size_t *len = calloc(n, sizeof(*len));
	uint32_t pending = n;
	int rc = 0;

	if (!pfd || !buf || !len) {
		rc = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
		pfd[i] = (struct pollfd){i < c->n ? c->all[i].status_r : c->init_status[0], POLLIN,
					 0};
	while (pending && rc == 0) {
		int pr = poll(pfd, n, STATUS_TIMEOUT_MS);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			rc = err_set(err, -ETIMEDOUT, "no word from the new processes");
			break;
		}
		for (uint32_t i = 0; i < n && rc == 0; i++) {
			pid_t who = i < c->n ? c->all[i].p->pid : 1;
			char *nl;
			ssize_t k;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = read(pfd[i].fd, buf[i] + len[i], sizeof(buf[i]) - 1 - len[i]);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				rc = err_set(err, -ECHILD,
					     "pid %d: the new process died while setting up", who);
				break;
			}
			len[i] += (size_t)k;
			buf[i][len[i]] = '\0';
			while (rc == 0 && (nl = strchr(buf[i], '\n'))) {
				char *line = buf[i], *end;

				*nl = '\0';
				if (!strcmp(line, "OK")) {
					pfd[i].fd = -1;
					pending--;
				} else if (!strncmp(line, "FAIL ", 5)) {
					long code = strtol(line + 5, &end, 10);

					rc = err_set(err, code < 0 ? (int)code : -EIO, "%s",
						     *end ? end + 1 : "");
				} else if (line[0] == 'C') {
					/* A child made: its pid as its maker sees it. */
					unsigned long kid = strtoul(line + 2, &end, 10);

					if (kid < c->n)
						c->all[kid].vpid = (pid_t)strtol(end, NULL, 10);
					if (kid < c->n && !c->opts->pidns)
						c->all[kid].pid = c->all[kid].vpid;
				} else if (line[0] == 'W' || line[0] == 'E') {
					kmsg_add(line[0] == 'W' ? KMSG_WARN : KMSG_ERROR, "%s",
						 line + 2);
				}
				len[i] -= (size_t)(nl + 1 - buf[i]);
				memmove(buf[i], nl + 1, len[i] + 1);
			}
			if (len[i] >= sizeof(buf[i]) - 1)
				len[i] = 0;
		}
	}
out:
	free(pfd);
	free(buf);
	free(len);
	return rc;
}

/* Inside a new pid namespace a process knows itself by its pid there; cr_restart needs
 * the pid it has outside. The namespace's processes are the init's descendants:
 * each one's NSpid line gives both. */
static int outside_pids(struct rst_ctx *c, struct err *err)
{
	pid_t *todo = malloc(sizeof(*todo) * (c->n + 1u));
	uint32_t ntodo = 0, found = 0;

	if (!todo)
		return err_set(err, -ENOMEM, "out of memory");
	todo[ntodo++] = c->init_pid;
	for (uint32_t at = 0; at < ntodo; at++) {
		char path[64];
		struct buf b;
		uint64_t nsp[4];
		int n;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", todo[at], todo[at]);
		buf_init(&b);
		if (buf_read_file(&b, path) == 0) {
			char *p = (char *)b.data, *end;

			for (long kid = strtol(p, &end, 10); end != p && ntodo <= c->n;
			     kid = strtol(p = end, &end, 10))
				todo[ntodo++] = (pid_t)kid;
		}
		if (at == 0) {
			buf_fini(&b);
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/status", todo[at]);
		n = buf_read_file(&b, path) == 0 ? procfs_field_list((char *)b.data, "NSpid", nsp, 4)
						 : 0;
		buf_fini(&b);
		for (uint32_t i = 0; n >= 2 && i < c->n; i++)
			if (c->all[i].vpid == (pid_t)nsp[n - 1] && !c->all[i].pid) {
				c->all[i].pid = (pid_t)nsp[0];
				found++;
			}
	}
	free(todo);
	if (found != c->n)
		return err_set(err, -ESRCH, "cannot find %u of the new processes from outside their "
					    "pid namespace",
			       c->n - found);
	return 0;
}

#define ZOMBIE_WAIT_MS 3000

/* Has id a SIGKILL pending: is it dying? */
static bool killed(pid_t id)
{
	char path[64];
	struct buf b;
	uint64_t shd = 0, own = 0;

	snprintf(path, sizeof(path), "/proc/%d/status", id);
	buf_init(&b);
	if (buf_read_file(&b, path) == 0) {
		procfs_field_u64((char *)b.data, "ShdPnd", 16, &shd);
		procfs_field_u64((char *)b.data, "SigPnd", 16, &own);
	}
	buf_fini(&b);
	return ((shd | own) >> (SIGKILL - 1)) & 1;
}

/* An id taken only by a dying process or a zombie is about to be free: a checkpoint
 * with --kill killed it a moment ago, and its parent (the shell, or init) has not
 * reaped it yet. Wait a little for it. */
static bool id_in_use(pid_t id)
{
	for (int waited = 0;; waited += 5) {
		struct proc_stat st;

		if (kill(id, 0) < 0 && errno == ESRCH)
			return false;
		if (procfs_stat(id, 0, &st) < 0)
			return true;
		if ((st.state != 'Z' && st.state != 'X' && !killed(id)) ||
		    waited >= ZOMBIE_WAIT_MS)
			return true;
		usleep(5000);
	}
}

static int check_ids(const struct rst_ctx *c, struct err *err)
{
	/* In a new pid namespace every id is free. */
	if (!c->opts->restore_pid || c->opts->pidns)
		return 0;
	for (uint32_t k = 0; k < c->n; k++) {
		const struct proc_img *p = c->all[k].p;
		uint32_t nt = p->flags & PROC_ZOMBIE ? 1 : p->nthreads;

		for (uint32_t i = 0; i < nt; i++) {
			pid_t id = i == 0 ? p->pid : p->threads[i].tid;

			if (id_in_use(id)) {
				kmsg_add(KMSG_ERROR, "%s %d is in use",
					 i == 0 ? "pid" : "thread id", id);
				return err_set(err, -EBUSY, "%s %d is in use (try --no-restore-pid)",
					       i == 0 ? "pid" : "thread id", id);
			}
		}
	}
	return 0;
}

static int seize_new(struct rst_proc *rp, struct err *err)
{
	struct arch_regs regs;
	struct {
		uint64_t ptr;
		uint32_t size, sig, flags, pad;
	} rseq = {0};
	char path[64];
	int st, rc;

	if (ptrace(PTRACE_SEIZE, rp->pid, NULL,
		   (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL)) < 0)
		return err_sys(err, "cannot trace the new process %d", rp->pid);
	if (ptrace(PTRACE_INTERRUPT, rp->pid, NULL, NULL) < 0)
		return err_sys(err, "cannot stop the new process %d", rp->pid);
	for (;;) {
		rc = ptu_wait(rp->pid, &st);
		if (rc < 0)
			return err_code(err, rc, "waiting for the new process %d", rp->pid);
		if (!WIFSTOPPED(st))
			return err_set(err, -ECHILD, "the new process %d died", rp->pid);
		if (ptu_event(st) == PTRACE_EVENT_STOP)
			break;
		ptrace(PTRACE_CONT, rp->pid, NULL, NULL);
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", rp->pid);
	rp->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (rp->memfd < 0)
		return err_sys(err, "cannot open %s", path);
	if (arch_get_regs(rp->pid, &regs, err) < 0)
		return err->code;
	if (inject_init(&rp->inj, rp->pid, (uint64_t)(uintptr_t)crest_syscall_gadget, &regs, err) <
	    0)
		return err->code;
	/* The copy inherited our rseq registration: the kernel would write into memory
	 * that is about to go. */
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, rp->pid, (void *)sizeof(rseq), &rseq) > 0 &&
	    rseq.ptr) {
		long r = inject_syscall(&rp->inj, SYS_rseq, rseq.ptr, rseq.size, 1 /* UNREGISTER */,
					rseq.sig, 0, 0, err);

		if (r == INJECT_FAILED)
			return err->code;
		if (r < 0)
			return err_code(err, (int)r, "new process %d: cannot drop rseq", rp->pid);
	}
	return 0;
}

/* Process groups, once every process exists: leaders first, then members. */
static int join_groups(struct rst_ctx *c, struct err *err)
{
	if (!c->opts->restore_pgid)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < c->n; i++) {
			struct rst_proc *rp = &c->all[i];
			const struct proc_img *p = rp->p;
			int leader = proc_index(c, p->pgid);
			pid_t pgid;
			long r;

			if ((p->flags & PROC_ZOMBIE) || (pass == 0) != (p->pgid == p->pid))
				continue;
			/* As the process sees it: the call runs inside it. */
			pgid = leader >= 0 ? c->all[leader].vpid : p->pgid;
			if (leader >= 0 && getpgid(rp->pid) == c->all[leader].pid)
				continue; /* inherited, or its session made it */
			r = inject_syscall(&rp->inj, SYS_setpgid, 0, (uint64_t)pgid, 0, 0, 0, 0, err);
			if (r == INJECT_FAILED)
				return err->code;
			if (r < 0)
				return err_code(err, (int)r, "pid %d: cannot join process group %d",
						p->pid, p->pgid);
		}
	}
	return 0;
}

/* The last calls crest makes inside the process: its own descriptors and pages go. */
static int leave(struct rst_proc *rp, struct err *err)
{
	long r;

	if (rp->nkeep) {
		r = inject_syscall(&rp->inj, SYS_close_range, (uint64_t)rp->keep_base, ~0u, 0, 0, 0,
				   0, err);
		if (r == INJECT_FAILED)
			return err->code;
		if (r < 0)
			return err_code(err, (int)r, "pid %d: cannot close crest's descriptors",
					rp->p->pid);
	}
	r = inject_syscall(&rp->inj, SYS_munmap, rp->tramp, rp->tramp_len, 0, 0, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0)
		return err_code(err, (int)r, "pid %d: cannot unmap crest's restore page",
				rp->p->pid);
	return 0;
}

static void release(struct rst_proc *rp, int sig)
{
	if (sig > 0)
		kill(rp->pid, sig); /* queued while frozen: it comes before any instruction */
	for (uint32_t i = rp->p->nthreads; i-- > 0;)
		if (rp->tids[i] > 0 && ptrace(PTRACE_DETACH, rp->tids[i], NULL, NULL) < 0 &&
		    errno != ESRCH)
			log_warn("cannot let thread %d go: %s", rp->tids[i], strerror(errno));
}

/* Wait (bounded) until the process is in one of the given states (/proc stat). */
static void wait_state(const struct rst_proc *rp, const char *states)
{
	for (int waited = 0; waited < 5000; waited++) {
		struct proc_stat st;

		if (procfs_stat(rp->pid, 0, &st) < 0 || strchr(states, st.state))
			return;
		usleep(200);
	}
	log_warn("pid %d did not reach state %s", rp->pid, states);
}

/* Each phase in turn for every live process. */
static int each_proc(struct rst_ctx *c, int (*step)(struct rst_ctx *, struct err *),
		     struct err *err)
{
	for (uint32_t i = 0; i < c->n; i++) {
		int rc;

		if (c->all[i].p->flags & PROC_ZOMBIE)
			continue;
		c->rp = &c->all[i];
		rc = step(c, err);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int prepare_one(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	const struct proc_img *p = rp->p;
	int maxfd = -1, rc;

	rp->tids = calloc(p->nthreads, sizeof(*rp->tids));
	rp->vtids = calloc(p->nthreads, sizeof(*rp->vtids));
	if (!rp->tids || !rp->vtids)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd > maxfd)
			maxfd = p->fds[i].fd;
	rp->keep_base = maxfd + 1;
	rc = rst_add_fd(rp, rp->status_w, -1, false, true);
	if (rc < 0)
		return err_set(err, rc, "out of memory");
	rp->status_child_fd = rc;
	for (unsigned int i = 0; i < state_count; i++)
		if (state_table[i]->prepare && (rc = state_table[i]->prepare(c, err)) < 0)
			return rc;
	return 0;
}

static int restore_one(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	int rc;

	rp->tids[0] = rp->pid;
	rp->vtids[0] = rp->vpid;
	rc = seize_new(rp, err);
	for (unsigned int i = 0; rc == 0 && i < state_count; i++)
		if (state_table[i]->restore)
			rc = state_table[i]->restore(c, err);
	if (rc == 0 && fault_armed("restart:restore"))
		rc = err_set(err, -EIO, "fault injected after restoring pid %d", rp->p->pid);
	return rc;
}

/* Every process is in its group and crest's page still in each: what needs both. */
static int groups_one(struct rst_ctx *c, struct err *err)
{
	int rc = 0;

	for (unsigned int i = 0; rc == 0 && i < state_count; i++)
		if (state_table[i]->groups)
			rc = state_table[i]->groups(c, err);
	return rc;
}

static int finish_one(struct rst_ctx *c, struct err *err)
{
	int rc = leave(c->rp, err);

	for (unsigned int i = 0; rc == 0 && i < state_count; i++)
		if (state_table[i]->finish)
			rc = state_table[i]->finish(c, err);
	return rc;
}

/* Wait for pid to be gone for us: reaped if our child, released if we trace it (a
 * traced process that dies waits for its tracer first), at once if neither. */
static void reap_or_release(pid_t pid)
{
	int st;

	for (;;) {
		pid_t w = waitpid(pid, &st, __WALL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 || WIFEXITED(st) || WIFSIGNALED(st))
			return;
	}
}

/* Kill every process made so far, reap those that are ours and release those we
 * trace. With --pidns the namespace's init goes last: its end is the namespace's, and
 * it waits for the namespace's traced zombies, which wait for us. */
static void kill_all(struct rst_ctx *c)
{
	if (c->init_pid > 0)
		kill(c->init_pid, SIGKILL);
	for (uint32_t i = 0; i < c->n; i++)
		if (c->all[i].pid > 0)
			kill(c->all[i].pid, SIGKILL);
	for (uint32_t i = 0; i < c->n; i++)
		if (c->all[i].pid > 0)
			reap_or_release(c->all[i].pid);
	if (c->init_pid > 0)
		reap_or_release(c->init_pid);
}

static int open_pipes(struct rst_ctx *c, struct err *err)
{
	if (pipe2(c->zombie_pipe, O_CLOEXEC) < 0)
		return err_sys(err, "cannot create a pipe");
	for (uint32_t i = 0; i < c->n; i++) {
		int fds[2];

		if (pipe2(fds, O_CLOEXEC) < 0)
			return err_sys(err, "cannot create a pipe");
		c->all[i].status_r = fds[0];
		c->all[i].status_w = fds[1];
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void cleanup(struct rst_ctx *c)
{
	for (unsigned int k = 0; k < state_count; k++)
		if (state_table[k]->cleanup)
			for (uint32_t i = 0; i < c->n; i++) {
				c->rp = &c->all[i];
				state_table[k]->cleanup(c);
			}
	for (uint32_t i = 0; i < c->n; i++) {
		struct rst_proc *rp = &c->all[i];

		for (uint32_t k = 0; k < rp->nmoves; k++)
			if (rp->moves[k].owned)
				close_fd(&rp->moves[k].parent_fd);
		close_fd(&rp->status_r);
		close_fd(&rp->status_w);
		close_fd(&rp->memfd);
		free(rp->moves);
		free(rp->tids);
		free(rp->vtids);
	}
	close_fd(&c->zombie_pipe[0]);
	close_fd(&c->zombie_pipe[1]);
	close_fd(&c->init_status[0]);
	close_fd(&c->init_status[1]);
	close_fd(&c->result[0]);
	close_fd(&c->result[1]);
}

static int make_init(struct rst_ctx *c, struct err *err)
{
	struct clone_args ca;
	long r;

	if (pipe2(c->init_status, O_CLOEXEC) < 0 || pipe2(c->result, O_CLOEXEC) < 0)
		return err_sys(err, "cannot create a pipe");
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_NEWPID | CLONE_NEWNS;
	ca.exit_signal = SIGCHLD;
	r = syscall(SYS_clone3, &ca, sizeof(ca));
	if (r == 0)
		init_main(c);
	if (r < 0)
		return err_sys(err, "cannot make a new pid namespace");
	c->init_pid = (pid_t)r;
	return 0;
}

static int restore_all(struct rst_ctx *c, struct rst_result *res, struct err *err)
{
	int rc = 0;

	for (uint32_t i = 0; i < c->n; i++) {
		c->all[i].p = &c->m->procs[i];
		c->all[i].status_r = c->all[i].status_w = c->all[i].memfd = -1;
	}
	c->zombie_pipe[0] = c->zombie_pipe[1] = -1;
	c->init_status[0] = c->init_status[1] = c->result[0] = c->result[1] = -1;
	rc = plan_tree(c, err);
	if (rc == 0)
		rc = check_ids(c, err);
	if (rc == 0)
		rc = open_pipes(c, err);
	if (rc == 0)
		rc = each_proc(c, prepare_one, err);
	if (rc == 0 && fault_armed("restart:prepare"))
		rc = err_set(err, -ENOMEM, "fault injected before creating pid %d",
			     c->all[0].p->pid);
	if (rc == 0 && c->opts->pidns) {
		rc = make_init(c, err);
	} else {
		for (uint32_t i = 0; rc == 0 && i < c->n; i++) {
			pid_t pid;

			if (!made_by_us(c, i))
				continue;
			pid = create_process(c, i, err);
			if (pid < 0)
				rc = pid;
			else
				c->all[i].pid = c->all[i].vpid = pid;
		}
	}
	/* Every process has its copies of what it needs: ours go. */
	for (uint32_t i = 0; i < c->n; i++)
		close_fd(&c->all[i].status_w);
	close_fd(&c->zombie_pipe[0]);
	close_fd(&c->init_status[1]);
	close_fd(&c->result[1]);
	if (rc == 0)
		rc = read_reports(c, err);
	if (rc == 0 && c->opts->pidns)
		rc = outside_pids(c, err);
	if (rc == 0)
		rc = each_proc(c, restore_one, err);
	if (rc == 0)
		rc = join_groups(c, err);
	if (rc == 0)
		rc = each_proc(c, groups_one, err);
	if (rc == 0)
		rc = each_proc(c, finish_one, err);
	if (rc < 0) {
		kill_all(c);
		return rc;
	}
	/* Zombies exit, and stopped processes stop, before the others run: no process
	 * may see them otherwise. */
	close_fd(&c->zombie_pipe[1]);
	for (uint32_t i = 0; i < c->n; i++)
		if (c->all[i].p->flags & PROC_ZOMBIE)
			wait_state(&c->all[i], "Z");
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < c->n; i++) {
			struct rst_proc *rp = &c->all[i];
			int sig = c->opts->signal, rsig;
			struct err e = {0};

			if (rp->p->flags & PROC_ZOMBIE)
				continue;
			rp->stopped_after = (rp->p->flags & PROC_STOPPED) && sig == 0;
			if ((pass == 0) != (rp->stopped_after || sig == SIGSTOP))
				continue;
			/* libcr: a copy caught in its checkpoint learns that it was restarted,
			 * and sends itself rsig after its callbacks (docs/libcr.md); an
			 * early signal is queued now, before they run. */
			rsig = sig ? sig : rp->stopped_after ? SIGSTOP : 0;
			if (libcr_hs_restarted(rp->pid, c->img_name,
					       c->opts->signal_early ? NULL : &rsig, &e) < 0)
				log_warn("%s", e.msg);
			release(rp, rsig);
			if (pass == 0 && rsig)
				wait_state(rp, "Tt");
			if (!res->pid && made_by_us(c, i)) {
				res->pid = rp->pid;
				res->stopped = rp->stopped_after || sig == SIGSTOP;
			}
		}
	}
	res->status_fd = -1;
	if (c->init_pid > 0) {
		res->reaper = c->init_pid;
		res->status_fd = c->result[0];
		c->result[0] = -1; /* the caller's now */
	}
	return 0;
}

/* A pipe cannot be read twice: copy it into memory and work from that. */
static int make_seekable(int fd, const char *name, int *ret_fd, struct err *err)
{
	struct stat st;
	char *buf;
	int mfd;

	if (fstat(fd, &st) < 0)
		return err_sys(err, "cannot stat %s", name);
	if (S_ISDIR(st.st_mode))
		return err_set(err, -EISDIR, "%s is a directory", name);
	if (S_ISREG(st.st_mode)) {
		*ret_fd = fd;
		return 0;
	}
	mfd = memfd_create("crest-context", MFD_CLOEXEC);
	if (mfd < 0)
		return err_sys(err, "cannot hold %s in memory", name);
	buf = malloc(1 << 20);
	if (!buf) {
		close(mfd);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (;;) {
		ssize_t n = read(fd, buf, 1 << 20);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			close(mfd);
			return err_sys(err, "cannot read %s", name);
		}
		if (n == 0)
			break;
		if (write(mfd, buf, (size_t)n) != n) {
			free(buf);
			close(mfd);
			return err_sys(err, "cannot hold %s in memory", name);
		}
	}
	free(buf);
	lseek(mfd, 0, SEEK_SET);
	*ret_fd = mfd;
	return 0;
}

/* One context file (or a pipe, spooled first), loaded and mapped whole. */
static int load_file(const struct rst_request *req, int *ret_fd, struct model **ret_m,
		     uint8_t **ret_map, uint64_t *ret_len, struct err *err)
{
	struct stat st;
	uint8_t *map;
	int rc;

	excluded_fd = req->fd;
	rc = make_seekable(req->fd, req->name, ret_fd, err);
	if (rc < 0)
		return rc;
	rc = context_load(*ret_fd, req->name, IMG_PAGES_DEFER, ret_m, err);
	if (rc < 0)
		return rc;
	if (fstat(*ret_fd, &st) < 0)
		return err_sys(err, "cannot stat %s", req->name);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, *ret_fd, 0);
	if (map == MAP_FAILED)
		return err_sys(err, "cannot map %s", req->name);
	*ret_map = map;
	*ret_len = (uint64_t)st.st_size;
	return 0;
}

/* The files of a set (cr_checkpoint -d), loaded into one model and mapped into one
 * region, each at the base the loader gave it, so that every offset of the model is
 * one into the region as for a single file. */
static int load_set(const struct rst_request *req, struct model **ret_m, uint8_t **ret_map,
		    uint64_t *ret_len, struct err *err)
{
	const struct ctx_file *last = &req->files[req->nfiles - 1];
	uint64_t len;
	uint8_t *map;
	int rc;

	rc = context_load_files(req->files, req->nfiles, req->name, IMG_PAGES_DEFER, 0, ret_m,
				err);
	if (rc < 0)
		return rc;
	len = (last->base + last->size + IMG_PAGE_SIZE - 1) / IMG_PAGE_SIZE * IMG_PAGE_SIZE;
	map = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return err_sys(err, "cannot map %s", req->name);
	for (uint32_t k = 0; k < req->nfiles; k++) {
		const struct ctx_file *f = &req->files[k];

		log_debug("%s: %llu bytes at %llu in the set's layout", f->name,
			  (unsigned long long)f->size, (unsigned long long)f->base);
		if (mmap(map + f->base, f->size, PROT_READ, MAP_SHARED | MAP_FIXED, f->fd, 0) ==
		    MAP_FAILED) {
			rc = err_sys(err, "cannot map %s", f->name);
			munmap(map, len);
			return rc;
		}
	}
	*ret_map = map;
	*ret_len = len;
	return 0;
}

/* Page data is checked as it is loaded, and named by its offset in the set's layout
 * (c->img_name, c->img_map): say which file of the set holds it, and where. */
static void name_page_file(const struct rst_request *req, struct err *err)
{
	char pre[PATH_MAX + 32], msg[sizeof(err->msg)];
	unsigned long long off;
	const char *rest;
	char *end;

	snprintf(pre, sizeof(pre), "%s: page data at offset ", req->name);
	if (req->nfiles < 2 || strncmp(err->msg, pre, strlen(pre)))
		return;
	rest = err->msg + strlen(pre);
	off = strtoull(rest, &end, 10);
	if (end == rest)
		return;
	for (uint32_t k = 0; k < req->nfiles; k++) {
		const struct ctx_file *f = &req->files[k];

		if (off < f->base || off - f->base >= f->size)
			continue;
		snprintf(msg, sizeof(msg), "%s: page data at offset %llu%s", f->name,
			 off - f->base, end);
		snprintf(err->msg, sizeof(err->msg), "%s", msg);
		return;
	}
}

int restart_run(const struct rst_request *req, struct rst_result *res, struct err *err)
{
	uint8_t *map = NULL;
	uint64_t map_len = 0;
	struct model *m = NULL;
	struct rst_ctx c;
	int fd = -1, rc;

	memset(res, 0, sizeof(*res));
	memset(&c, 0, sizeof(c));
	if (req->nfiles)
		rc = load_set(req, &m, &map, &map_len, err);
	else
		rc = load_file(req, &fd, &m, &map, &map_len, err);
	if (rc < 0)
		goto out;
	c.m = m;
	c.opts = &req->opts;
	c.img_fd = req->nfiles ? req->files[0].fd : fd;
	c.img_map = map;
	c.img_len = map_len;
	/* A single file of a directory is named as itself. */
	c.img_name = req->nfiles == 1 ? req->files[0].name : req->name;
	c.n = m->nprocs;
	c.all = calloc(c.n, sizeof(*c.all));
	if (!c.all) {
		rc = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = restore_all(&c, res, err);
	cleanup(&c);
	if (rc < 0)
		name_page_file(req, err);
out:
	free(c.all);
	if (map)
		munmap(map, map_len);
	model_free(m);
	if (fd >= 0 && fd != req->fd)
		close(fd);
	return rc;
}
