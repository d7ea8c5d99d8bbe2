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

/* What cr_restart had open when it started: number and object. */
struct inherited_fd {
	int fd;
	dev_t dev;
	ino_t ino;
};
static struct inherited_fd *inherited;
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
		struct inherited_fd *n;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end || fd == dirfd(d))
			continue;
		struct stat st;

		if (fstat((int)fd, &st) < 0)
			continue;
		n = realloc(inherited, (ninherited + 1) * sizeof(*n));
		if (!n)
			break;
		inherited = n;
		inherited[ninherited++] = (struct inherited_fd){(int)fd, st.st_dev, st.st_ino};
	}
	closedir(d);
}

bool restart_fd_inherited(int fd)
{
	struct stat st;

	if (fd == excluded_fd)
		return false;
	/* The same object still: a number closed since may hold a file of ours now. */
	for (size_t i = 0; i < ninherited; i++)
		if (inherited[i].fd == fd)
			return fstat(fd, &st) == 0 && st.st_dev == inherited[i].dev &&
			       st.st_ino == inherited[i].ino;
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
 * made like any process and exits, with its saved status, once all is done.
 *
 * A saved session or group that no restored process holds (its leader is not in the
 * context, or comes back at a new pid with --no-restore-pid) is held by a
 * placeholder: a copy of cr_restart made at that id with clone3(set_tid), which makes
 * the session (setsid) or the group (setpgid) and holds it until every member is
 * in it. A session cannot be joined, only inherited: the processes of a placeholder's
 * session whose parent is not in the context are made by the placeholder, and so are
 * the placeholders of the session's other groups (those of a session that a restored
 * leader makes, by that leader). The placeholders exist before any restored process,
 * whose new pid could take their ids otherwise. A session's placeholder ends once it
 * has made its processes, which become cr_restart's children (cr_restart is a child
 * subreaper meanwhile; the namespace's init with --pidns); a group's once every
 * member has joined, before any process runs. */

struct ph {
	pid_t id;        /* the saved id it holds: its pid, in its pid namespace */
	bool session;    /* it makes session id (and leads group id); else group id */
	int maker_ph;    /* the placeholder that makes it, or -1 */
	int maker_proc;  /* the restored session leader that makes it, or -1; both -1:
			  * cr_restart (the namespace's init with --pidns) */
	bool makes_procs;
	pid_t pid;       /* as cr_restart sees it; 0 while not known */
	int pidfd;       /* --pidns: its pidfd, once found from outside */
	pid_t newgrp;    /* --restore-sid only: the group its processes form (its copy's) */
	int status_r, status_w;
};

static struct {
	struct ph *ph;
	uint32_t n;
	int *maker;     /* per process: the placeholder that makes it, or -1 */
	int go[2];      /* what makes processes waits for EOF: every placeholder exists */
	int life[2];    /* placeholders end at EOF: cr_restart died (only its copies hold
			 * the write end then, which end with it) */
	int eldest[2];  /* --pidns: the eldest's pid for init, if a placeholder made it */
	int subreaper;  /* cr_restart's PR_SET_CHILD_SUBREAPER before; -1: not changed */
} phs = {NULL, 0, NULL, {-1, -1}, {-1, -1}, {-1, -1}, -1};

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

/* Made by cr_restart (or the namespace's init) itself: not by a parent or placeholder. */
static bool made_by_top(const struct rst_ctx *c, uint32_t i)
{
	return made_by_us(c, i) && (!phs.maker || phs.maker[i] < 0);
}

static bool is_zombie(const struct rst_ctx *c, int i)
{
	return c->all[i].p->flags & PROC_ZOMBIE;
}

/* --restore-sid --restore-pid: process i makes its session again, as its leader. */
static bool makes_session(const struct rst_ctx *c, uint32_t i)
{
	const struct proc_img *p = c->all[i].p;

	return c->opts->restore_sid && c->opts->restore_pid && !is_zombie(c, (int)i) &&
	       p->sid == p->pid;
}

/* The restored process that has id as its pid, or -1: a session or group of that id
 * needs a placeholder. */
static int id_holder(const struct rst_ctx *c, pid_t id)
{
	return c->opts->restore_pid ? proc_index(c, id) : -1;
}

static int ph_find(pid_t id)
{
	for (uint32_t j = 0; j < phs.n; j++)
		if (phs.ph[j].id == id)
			return (int)j;
	return -1;
}

static const char *ph_what(const struct ph *h)
{
	return h->session ? "session" : "process group";
}

/* The first process cr_restart makes: the one it stays the parent of, and mirrors. */
static int eldest_index(const struct rst_ctx *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (made_by_us(c, i) && !is_zombie(c, (int)i))
			return (int)i;
	return -1;
}

/* Made by cr_restart (or the namespace's init) itself. */
static bool ph_top(uint32_t j)
{
	return phs.ph[j].maker_ph < 0 && phs.ph[j].maker_proc < 0;
}

/* The placeholder of id, planned once; a group's is planned after its session's. */
static int ph_add(pid_t id, bool session, int maker_ph, int maker_proc, struct err *err)
{
	int j = ph_find(id);
	struct ph *n;

	if (j >= 0) {
		struct ph *h = &phs.ph[j];

		if (h->session != session || h->maker_ph != maker_ph ||
		    h->maker_proc != maker_proc)
			return err_set(err, -EINVAL,
				       "process group %d lies in two sessions in the context", id);
		return j;
	}
	n = realloc(phs.ph, (phs.n + 1) * sizeof(*n));
	if (!n)
		return err_set(err, -ENOMEM, "out of memory");
	phs.ph = n;
	phs.ph[phs.n] = (struct ph){id, session, maker_ph, maker_proc, false, 0, -1, 0, -1, -1};
	return (int)phs.n++;
}

/* --restore-sid: who makes each session, and who makes each process so that it is
 * born in its session. */
static int plan_sessions(struct rst_ctx *c, struct err *err)
{
	for (uint32_t i = 0; i < c->n; i++) {
		struct rst_proc *rp = &c->all[i];
		const struct proc_img *p = rp->p;
		int l, j;

		if (is_zombie(c, (int)i) || makes_session(c, i))
			continue; /* a zombie is born in its parent's session */
		if (p->sid <= 0)
			return err_set(err, -EINVAL,
				       "pid %d: cannot restore its session: it was outside the pid "
				       "namespace it was saved in (use --no-restore-sid)",
				       p->pid);
		l = id_holder(c, p->sid);
		if (l >= 0) {
			/* Born into the session: its leader must be an ancestor here. */
			int a = rp->parent;

			if (!makes_session(c, (uint32_t)l))
				return err_set(err, -EBUSY,
					       "pid %d: cannot restore session %d: pid %d, restored "
					       "there, %s (use --no-restore-sid)",
					       p->pid, p->sid, p->sid,
					       is_zombie(c, l) ? "is a zombie" : "does not lead it");
			while (a >= 0 && a != l)
				a = c->all[a].parent;
			if (a < 0)
				return err_set(
				    err, -EBUSY,
				    "pid %d: cannot restore session %d: its leader is not "
				    "among its ancestors in the context (use "
				    "--no-restore-sid)",
				    p->pid, p->sid);
			continue;
		}
		j = ph_add(p->sid, true, -1, -1, err);
		if (j < 0)
			return j;
		if (rp->parent < 0) {
			phs.maker[i] = j;
			phs.ph[j].makes_procs = true;
		} else if (c->all[rp->parent].p->sid != p->sid) {
			/* It led the session, and comes back at a new pid. */
			return err_set(err, -EINVAL,
				       "pid %d: cannot restore session %d at a new pid: its parent "
				       "pid %d, in session %d, would make it there (use "
				       "--restore-pid, or --no-restore-sid)",
				       p->pid, p->sid, c->all[rp->parent].p->pid,
				       c->all[rp->parent].p->sid);
		}
	}
	return 0;
}

/* --restore-pgid: the groups that need a placeholder, and who makes it (someone of
 * the group's session: setpgid() cannot reach across sessions). */
static int plan_groups(struct rst_ctx *c, struct err *err)
{
	const struct rst_opts *o = c->opts;

	for (uint32_t i = 0; i < c->n; i++) {
		const struct proc_img *p = c->all[i].p;
		int l, j, by_ph = -1, by_proc = -1;

		if (is_zombie(c, (int)i))
			continue;
		if (p->pgid <= 0)
			return err_set(err, -EINVAL,
				       "pid %d: cannot restore its process group: it was outside the "
				       "pid namespace it was saved in (use --no-restore-pgid)",
				       p->pid);
		l = id_holder(c, p->pgid);
		if (l >= 0) {
			const struct proc_img *lp = c->all[l].p;

			if (is_zombie(c, l) || lp->pgid != p->pgid)
				return err_set(err, -EBUSY,
					       "pid %d: cannot restore process group %d: pid %d, "
					       "restored there, %s (use --no-restore-pgid)",
					       p->pid, p->pgid, p->pgid,
					       is_zombie(c, l) ? "is a zombie" : "left it");
			if (lp->sid != p->sid)
				return err_set(err, -EBUSY,
					       "pid %d: process group %d lies in another session",
					       p->pid, p->pgid);
			continue;
		}
		if (o->restore_sid && p->pgid == p->sid)
			continue; /* the session's placeholder leads it */
		if (o->restore_sid) {
			int s = id_holder(c, p->sid);

			if (s >= 0)
				by_proc = s;
			else
				by_ph = ph_find(p->sid);
		}
		j = ph_add(p->pgid, false, by_ph, by_proc, err);
		if (j < 0)
			return j;
	}
	return 0;
}

static int plan_tree(struct rst_ctx *c, struct err *err)
{
	const struct rst_opts *o = c->opts;
	int rc = 0;

	phs.maker = malloc(c->n * sizeof(*phs.maker));
	if (!phs.maker)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < c->n; i++) {
		struct rst_proc *rp = &c->all[i];
		const struct proc_img *p = rp->p;

		phs.maker[i] = -1;
		rp->parent = proc_index(c, p->ppid);
		if ((p->flags & PROC_ZOMBIE) && rp->parent < 0)
			return err_set(err, -EINVAL, "zombie pid %d has no parent in the context",
				       p->pid);
		/* Linux: a session leader leads its own group, which is not cr_restart's. */
		if (o->restore_sid && !o->restore_pgid && makes_session(c, i))
			return err_set(err, -EINVAL,
				       "pid %d: with --restore-sid it leads session %d again, and "
				       "so its own process group %d: it cannot stay in "
				       "cr_restart's group (add --restore-pgid, or use "
				       "--no-restore-sid)",
				       p->pid, p->sid, p->pid);
	}
	if (o->restore_sid)
		rc = plan_sessions(c, err);
	if (rc == 0 && o->restore_pgid)
		rc = plan_groups(c, err);
	return rc;
}

static pid_t create_process(struct rst_ctx *c, uint32_t i, struct err *err);
static pid_t ph_create(struct rst_ctx *c, uint32_t j, struct err *err);

#define PH_NAME "crest-holder"

static void close_ph_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Until every placeholder exists: EOF on the go pipe. */
static void wait_go(void)
{
	char b;

	while (read(phs.go[0], &b, 1) < 0 && errno == EINTR)
		;
}

/* Placeholder j, a copy of its maker: it makes its session or group and the
 * placeholders it makes, then (once every placeholder exists) the processes it makes.
 * A session's placeholder then ends; a group's stays until cr_restart kills it. */
static void __attribute__((noreturn)) ph_main(struct rst_ctx *c, uint32_t j, pid_t maker)
{
	struct ph *h = &phs.ph[j];
	int sfd = h->status_w, life = phs.life[0], rc = 0;
	struct err e = {0};
	char b;

	/* It ends with its maker, if that lives as long as it must (not a session's
	 * placeholder, which ends first), or when cr_restart dies (EOF on life). */
	if (h->maker_ph < 0 &&
	    (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != maker))
		_exit(1);
	kmsg_set_forward(sfd);
	prctl(PR_SET_NAME, PH_NAME, 0, 0, 0);
	close_ph_fd(&phs.go[1]);
	close_ph_fd(&phs.life[1]);
	if (h->session ? setsid() < 0 : setpgid(0, 0) < 0)
		rc = err_sys(&e, "cannot make %s %d", ph_what(h), h->id);
	for (uint32_t k = 0; rc == 0 && k < phs.n; k++)
		if (phs.ph[k].maker_ph == (int)j && ph_create(c, k, &e) < 0)
			rc = e.code;
	if (rc == 0)
		status_line(sfd, "R");
	if (rc == 0 && h->makes_procs)
		wait_go();
	for (uint32_t k = 0; rc == 0 && h->makes_procs && k < c->n; k++) {
		pid_t pid;

		if (phs.maker[k] != (int)j)
			continue;
		pid = create_process(c, k, &e);
		if (pid < 0) {
			rc = pid;
			break;
		}
		status_line(sfd, "C %u %d", k, pid);
		/* Without --restore-pgid they form one new group, the first one's (each
		 * joins it too, before it makes children: enter_session()). */
		if (!c->opts->restore_pgid) {
			if (!h->newgrp)
				h->newgrp = pid;
			setpgid(pid, h->newgrp);
		}
	}
	if (rc < 0) {
		status_line(sfd, "FAIL %d %s", rc, e.msg);
		_exit(1);
	}
	status_line(sfd, "OK");
	if (h->session)
		_exit(0);
	if (life > 0)
		syscall(SYS_close_range, 0, life - 1, 0);
	syscall(SYS_close_range, life + 1, ~0u, 0);
	while (read(life, &b, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* --restore-sid, in new process i before it makes its children. A session leader
 * restored at its pid makes its session, with what the modules attach to it (its
 * terminal), and the placeholders of the session's groups. A process that a
 * placeholder made, without --restore-pgid: cr_restart's group lies in another
 * session, so the placeholder's processes form a new one, led by the first. */
static int enter_session(struct rst_ctx *c, uint32_t i, struct err *e)
{
	struct rst_proc *rp = &c->all[i];
	int rc = 0;

	if (!c->opts->restore_sid)
		return 0;
	if (makes_session(c, i)) {
		if (setsid() < 0)
			return err_sys(e, "pid %d: cannot create its session", rp->p->pid);
		/* Before its children: they inherit what it takes (its terminal). */
		for (unsigned int k = 0; rc == 0 && k < state_count; k++)
			if (state_table[k]->session)
				rc = state_table[k]->session(c, e);
		for (uint32_t j = 0; rc == 0 && j < phs.n; j++)
			if (phs.ph[j].maker_proc == (int)i && ph_create(c, j, e) < 0)
				rc = e->code;
		return rc;
	}
	if (phs.maker[i] >= 0 && !c->opts->restore_pgid &&
	    setpgid(0, phs.ph[phs.maker[i]].newgrp) < 0)
		return err_sys(e, "pid %d: cannot make or join a process group in session %d",
			       rp->p->pid, rp->p->sid);
	return 0;
}

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
	rc = enter_session(c, i, &e);
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
	int sfd = c->init_status[1], out = c->result[1], rc = 0, first = eldest_index(c);
	struct err e = {0};
	pid_t eldest = 0;

	kmsg_set_forward(sfd);
	prctl(PR_SET_NAME, PIDNS_INIT_NAME, 0, 0, 0);
	/* The write ends only cr_restart holds. */
	close_ph_fd(&phs.go[1]);
	close_ph_fd(&phs.life[1]);
	close_ph_fd(&phs.eldest[1]);
	rc = pidns_mount_proc(&e);
	/* The placeholders first: a new pid could take their ids. */
	for (uint32_t j = 0; rc == 0 && j < phs.n; j++) {
		pid_t pid = ph_top(j) ? ph_create(c, j, &e) : 0;

		if (pid < 0)
			rc = pid;
		phs.ph[j].pid = pid;
	}
	if (rc == 0 && phs.n)
		wait_go();
	for (uint32_t k = 0; rc == 0 && k < c->n; k++) {
		pid_t pid;

		if (!made_by_top(c, k))
			continue;
		pid = create_process(c, k, &e);
		if (pid < 0) {
			rc = pid;
			break;
		}
		status_line(sfd, "C %u %d", k, pid);
		if ((int)k == first)
			eldest = pid;
	}
	/* A session's placeholder ends once it has made its processes, which are then
	 * ours: before cr_restart looks for them. It reported its own failure. */
	for (uint32_t j = 0; rc == 0 && j < phs.n; j++) {
		int st;

		if (phs.ph[j].session && phs.ph[j].pid > 0)
			while (waitpid(phs.ph[j].pid, &st, __WALL) < 0 && errno == EINTR)
				;
	}
	if (rc < 0) {
		status_line(sfd, "FAIL %d %s", rc, e.msg);
		_exit(1);
	}
	status_line(sfd, "OK");
	/* A placeholder made the eldest: cr_restart says which pid it has here. */
	if (first >= 0 && !eldest) {
		char b[32];
		ssize_t n;

		do
			n = read(phs.eldest[0], b, sizeof(b) - 1);
		while (n < 0 && errno == EINTR);
		b[n > 0 ? n : 0] = '\0';
		eldest = (pid_t)strtol(b, NULL, 10);
	}
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

/* clone3 as fork() does, at pid want if at, with exit signal sig. Like fork(): glibc's
 * cached tid in the copy is set by the kernel. */
static long clone_at(pid_t want, bool at, int sig)
{
	struct clone_args ca;
	uint64_t tid_addr = 0;

	prctl(PR_GET_TID_ADDRESS, &tid_addr, 0, 0, 0);
	memset(&ca, 0, sizeof(ca));
	ca.flags = tid_addr ? CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID : 0;
	ca.child_tid = tid_addr;
	ca.exit_signal = (uint64_t)sig;
	if (at) {
		ca.set_tid = (uint64_t)(uintptr_t)&want;
		ca.set_tid_size = 1;
	}
	return syscall(SYS_clone3, &ca, sizeof(ca));
}

/* clone3 with the saved pid (and exit signal); the child runs child_main(). */
static pid_t create_process(struct rst_ctx *c, uint32_t i, struct err *err)
{
	struct proc_img *p = c->all[i].p;
	long r = clone_at(p->pid, c->opts->restore_pid, p->exit_signal ? p->exit_signal : SIGCHLD);

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
			return err_set(
			    err, -EPERM,
			    "not allowed to create pid %d (needs CAP_CHECKPOINT_RESTORE; "
			    "try --no-restore-pid)",
			    p->pid);
		return err_sys(err, "cannot create the process for pid %d", p->pid);
	}
	return (pid_t)r;
}

/* Placeholder j, at its id, as a child of the caller; the child runs ph_main(). A
 * restored leader's placeholder must not signal it as it ends (the leader runs its
 * own code by then): exit signal 0, and cr_restart reaps it through the leader. */
static pid_t ph_create(struct rst_ctx *c, uint32_t j, struct err *err)
{
	struct ph *h = &phs.ph[j];
	const char *opt = h->session ? "sid" : "pgid";
	pid_t maker = (pid_t)syscall(SYS_getpid);
	long r = clone_at(h->id, true, h->maker_proc >= 0 ? 0 : SIGCHLD);

	if (r == 0)
		ph_main(c, j, maker);
	if (r < 0) {
		if (errno == EEXIST) {
			kmsg_add(KMSG_ERROR, "%s %d is in use", ph_what(h), h->id);
			return err_set(err, -EBUSY, "%s %d is in use (try --no-restore-%s)",
				       ph_what(h), h->id, opt);
		}
		if (errno == EPERM)
			return err_set(err, -EPERM,
				       "not allowed to make a process at pid %d to hold %s %d "
				       "(needs CAP_CHECKPOINT_RESTORE; try --no-restore-%s)",
				       h->id, ph_what(h), h->id, opt);
		return err_sys(err, "cannot make a process to hold %s %d", ph_what(h), h->id);
	}
	return (pid_t)r;
}

/* ---- cr_restart's side ---- */

/* One line from fd, read a byte at a time (what follows it stays in the pipe): 1 once
 * buf holds a whole line (without its newline), 0 if more is to come, -1 at EOF or on
 * an error. */
static int read_line_bytes(int fd, char *buf, size_t n, size_t *len)
{
	char ch;
	ssize_t k = read(fd, &ch, 1);

	if (k < 0 && errno == EINTR)
		return 0;
	if (k <= 0)
		return -1;
	if (ch == '\n') {
		buf[*len] = '\0';
		*len = 0;
		return 1;
	}
	if (*len < n - 1)
		buf[(*len)++] = ch;
	return 0;
}

/* A report line that every reporter may send: "FAIL code message" (its failure),
 * or a kmsg line. Returns the failure's code, or 0. */
static int report_common(const char *line, struct err *err)
{
	char *end;

	if (!strncmp(line, "FAIL ", 5)) {
		long code = strtol(line + 5, &end, 10);

		return err_set(err, code < 0 ? (int)code : -EIO, "%s", *end ? end + 1 : "");
	}
	if ((line[0] == 'W' || line[0] == 'E') && line[1] == ' ')
		kmsg_add(line[0] == 'W' ? KMSG_WARN : KMSG_ERROR, "%s", line + 2);
	return 0;
}

/* Every placeholder that exists before the processes holds its id ("R"), so a new pid
 * cannot take it any more: let those that make processes go. --pidns: the namespace's
 * init, which made them, may fail first. */
static int ph_ready(struct rst_ctx *c, struct err *err)
{
	uint32_t n = phs.n + 1, pending = 0;
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	char(*buf)[700] = calloc(n, sizeof(*buf));
	size_t *len = calloc(n, sizeof(*len));
	int rc = 0;

	if (!pfd || !buf || !len) {
		rc = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t j = 0; j < phs.n; j++) {
		bool early = phs.ph[j].maker_proc < 0;

		pfd[j] = (struct pollfd){early ? phs.ph[j].status_r : -1, POLLIN, 0};
		pending += early;
	}
	pfd[phs.n] = (struct pollfd){c->init_pid > 0 ? c->init_status[0] : -1, POLLIN, 0};
	while (pending && rc == 0) {
		int pr = poll(pfd, n, STATUS_TIMEOUT_MS);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			rc = err_set(err, -ETIMEDOUT, "no word from the placeholder processes");
			break;
		}
		for (uint32_t j = 0; j < n && rc == 0; j++) {
			int got;

			if (pfd[j].fd < 0 || !(pfd[j].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			/* Lines are written whole (status_line()): the rest of it is there. */
			do
				got = read_line_bytes(pfd[j].fd, buf[j], sizeof(buf[j]), &len[j]);
			while (got == 0);
			if (got < 0 && j == phs.n)
				rc = err_set(err, -ECHILD, "the new pid namespace's init died");
			else if (got < 0)
				rc = err_set(err, -ECHILD,
					     "the process that holds %s %d died while setting up",
					     ph_what(&phs.ph[j]), phs.ph[j].id);
			if (got <= 0)
				continue;
			if (j < phs.n && !strcmp(buf[j], "R")) {
				if (!c->opts->pidns)
					phs.ph[j].pid = phs.ph[j].id;
				pfd[j].fd = -1;
				pending--;
				continue;
			}
			rc = report_common(buf[j], err);
		}
	}
out:
	free(pfd);
	free(buf);
	free(len);
	close_ph_fd(&phs.go[1]);
	return rc;
}

/* Read the reports of every new process: "C index pid" for each child it made, kmsg
 * lines, then OK or FAIL; of each placeholder, the same ("R" once it holds its id). */
static int read_reports(struct rst_ctx *c, struct err *err)
{
	/* The processes, the placeholders, and last the namespace's init. */
	uint32_t n = c->n + phs.n + (c->init_pid > 0);
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	char(*buf)[4096] = calloc(n, sizeof(*buf));
	size_t *len = calloc(n, sizeof(*len));
	uint32_t pending = n;
	int rc = 0;

	if (!pfd || !buf || !len) {
		rc = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		int fd = i < c->n		 ? c->all[i].status_r
			 : i < c->n + phs.n ? phs.ph[i - c->n].status_r
					     : c->init_status[0];

		pfd[i] = (struct pollfd){fd, POLLIN, 0};
	}
	while (pending && rc == 0) {
		int pr = poll(pfd, n, STATUS_TIMEOUT_MS);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			rc = err_set(err, -ETIMEDOUT, "no word from the new processes");
			break;
		}
		for (uint32_t i = 0; i < n && rc == 0; i++) {
			const struct ph *h = i >= c->n && i < c->n + phs.n ? &phs.ph[i - c->n] : NULL;
			pid_t who = i < c->n ? c->all[i].p->pid : 1;
			char *nl;
			ssize_t k;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			k = read(pfd[i].fd, buf[i] + len[i], sizeof(buf[i]) - 1 - len[i]);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0 && h) {
				rc = err_set(err, -ECHILD,
					     "the process that holds %s %d died while setting up",
					     ph_what(h), h->id);
				break;
			}
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
				} else if (h && !strcmp(line, "R")) {
					/* A restored leader's placeholder: it holds its id. */
					if (!c->opts->pidns)
						phs.ph[i - c->n].pid = h->id;
				} else if (line[0] == 'C') {
					/* A child made: its pid as its maker sees it. */
					unsigned long kid = strtoul(line + 2, &end, 10);

					if (kid < c->n)
						c->all[kid].vpid = (pid_t)strtol(end, NULL, 10);
					if (kid < c->n && !c->opts->pidns)
						c->all[kid].pid = c->all[kid].vpid;
				} else {
					rc = report_common(line, err);
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
 * each one's NSpid line gives both. The groups' placeholders too (the sessions' have
 * ended by now). */
static int outside_pids(struct rst_ctx *c, struct err *err)
{
	uint32_t cap = c->n + phs.n + 1, found = 0, groups = 0, ph_found = 0;
	pid_t *todo = malloc(sizeof(*todo) * cap);
	uint32_t ntodo = 0;

	if (!todo)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t j = 0; j < phs.n; j++)
		groups += !phs.ph[j].session;
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

			for (long kid = strtol(p, &end, 10); end != p && ntodo < cap;
			     kid = strtol(p = end, &end, 10))
				todo[ntodo++] = (pid_t)kid;
		}
		if (at == 0) {
			buf_fini(&b);
			continue;
		}
		snprintf(path, sizeof(path), "/proc/%d/status", todo[at]);
		n = buf_read_file(&b, path) == 0
			? procfs_field_list((char *)b.data, "NSpid", nsp, 4)
			: 0;
		buf_fini(&b);
		for (uint32_t i = 0; n >= 2 && i < c->n; i++)
			if (c->all[i].vpid == (pid_t)nsp[n - 1] && !c->all[i].pid) {
				c->all[i].pid = (pid_t)nsp[0];
				found++;
			}
		for (uint32_t j = 0; n >= 2 && j < phs.n; j++)
			if (!phs.ph[j].session && phs.ph[j].id == (pid_t)nsp[n - 1] &&
			    !phs.ph[j].pid) {
				phs.ph[j].pid = (pid_t)nsp[0];
				ph_found++;
			}
	}
	free(todo);
	if (found != c->n)
		return err_set(err, -ESRCH,
			       "cannot find %u of the new processes from outside their "
			       "pid namespace",
			       c->n - found);
	if (ph_found != groups)
		return err_set(err, -ESRCH,
			       "cannot find %u of the processes that hold process groups from "
			       "outside their pid namespace",
			       groups - ph_found);
	return 0;
}

#define ZOMBIE_WAIT_MS 3000
/* An orphan's zombie waits for init, which may be slow to reap it (a tree checkpointed
 * with --kill and restarted at once leaves them). */
#define ORPHAN_WAIT_MS 15000

/* Has id a SIGKILL pending: is it dying? */
static bool killed(pid_t id)
{
	char text[4096];
	uint64_t shd = 0, own = 0;

	if (procfs_status(id, text, sizeof(text)) == 0) {
		procfs_field_u64(text, "ShdPnd", 16, &shd);
		procfs_field_u64(text, "SigPnd", 16, &own);
	}
	return ((shd | own) >> (SIGKILL - 1)) & 1;
}

/* A process on its way out: a zombie, or killed. An id it alone holds is about to be
 * free: a checkpoint with --kill killed it a moment ago, and its parent (the shell, or
 * init) has not reaped it yet. */
static bool going(pid_t pid, const struct proc_stat *st)
{
	return st->state == 'Z' || st->state == 'X' || killed(pid);
}

/* How long to wait for such a process to be reaped. */
static int going_wait_ms(const struct proc_stat *st)
{
	return st->f[4] == 1 ? ORPHAN_WAIT_MS : ZOMBIE_WAIT_MS;
}

/* Whether id is taken; one held by a process on its way out is waited for a little. */
static bool id_in_use(pid_t id)
{
	for (int waited = 0;; waited += 5) {
		struct proc_stat st;

		if (kill(id, 0) < 0 && errno == ESRCH)
			return false;
		if (procfs_stat(id, 0, &st) < 0)
			return true;
		if (!going(id, &st) || waited >= going_wait_ms(&st))
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
				return err_set(err, -EBUSY,
					       "%s %d is in use (try --no-restore-pid)",
					       i == 0 ? "pid" : "thread id", id);
			}
		}
	}
	return 0;
}

/* ---- placeholders, cr_restart's side ---- */

/* Who has id as its pid, process group or session (*as says which): 0 if nobody.
 * One on its way out only if no other has it (*dying then, and *wait_ms how long to
 * wait for it). */
static pid_t id_taker(pid_t id, const char **as, char *comm, size_t n, bool *dying,
		      int *wait_ms)
{
	struct proc_stat st;
	struct dirent *de;
	pid_t who = 0;
	DIR *d;

	*dying = false;
	if (procfs_stat(id, 0, &st) == 0) {
		*as = "pid";
		snprintf(comm, n, "%s", st.comm);
		*dying = going(id, &st);
		*wait_ms = going_wait_ms(&st);
		return id;
	}
	d = opendir("/proc");
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (de->d_name[0] < '1' || de->d_name[0] > '9' || *end ||
		    procfs_stat((pid_t)pid, 0, &st) < 0 ||
		    ((pid_t)st.f[5] != id && (pid_t)st.f[6] != id))
			continue;
		who = (pid_t)pid;
		*as = (pid_t)st.f[6] == id ? "session" : "process group";
		snprintf(comm, n, "%s", st.comm);
		*dying = going(who, &st);
		*wait_ms = going_wait_ms(&st);
		if (!*dying)
			break;
	}
	closedir(d);
	return who;
}

/* A placeholder's id must be wholly free: no process has it as its pid, group or
 * session (cr_restart included). One that only processes on their way out hold (a
 * checkpoint with --kill a moment ago) is waited for a little, as in id_in_use().
 * In a new pid namespace every id is free. */
static int ph_check_free(const struct rst_ctx *c, struct err *err)
{
	if (c->opts->pidns)
		return 0;
	for (uint32_t j = 0; j < phs.n; j++) {
		const struct ph *h = &phs.ph[j];

		for (int waited = 0;; waited += 5) {
			const char *as = "";
			char comm[64] = "";
			bool dying;
			int wait_ms = 0;
			pid_t who = id_taker(h->id, &as, comm, sizeof(comm), &dying, &wait_ms);

			if (!who)
				break;
			if (!dying || waited >= wait_ms) {
				kmsg_add(KMSG_ERROR, "%s %d is in use: pid %d (%s) has it as its %s",
					 ph_what(h), h->id, who, comm, as);
				return err_set(err, -EBUSY,
					       "%s %d is in use: pid %d (%s) has it as its %s (try "
					       "--no-restore-%s)",
					       ph_what(h), h->id, who, comm, as,
					       h->session ? "sid" : "pgid");
			}
			usleep(5000);
		}
	}
	return 0;
}

static int ph_open(struct rst_ctx *c, struct err *err)
{
	int e = eldest_index(c);

	if (!phs.n)
		return 0;
	if (pipe2(phs.go, O_CLOEXEC) < 0 || pipe2(phs.life, O_CLOEXEC) < 0)
		return err_sys(err, "cannot create a pipe");
	for (uint32_t j = 0; j < phs.n; j++) {
		int fds[2];

		if (pipe2(fds, O_CLOEXEC) < 0)
			return err_sys(err, "cannot create a pipe");
		phs.ph[j].status_r = fds[0];
		phs.ph[j].status_w = fds[1];
	}
	if (c->opts->pidns && e >= 0 && phs.maker[e] >= 0 && pipe2(phs.eldest, O_CLOEXEC) < 0)
		return err_sys(err, "cannot create a pipe");
	return 0;
}

/* Without --pidns: the placeholders cr_restart makes itself. It is a child subreaper
 * until they are all gone, so that what they made becomes its child as they end. */
static int ph_make_top(struct rst_ctx *c, struct err *err)
{
	int was = 0;

	if (!phs.n)
		return 0;
	if (prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0) < 0 ||
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		return err_sys(err, "cannot make cr_restart a child subreaper");
	phs.subreaper = was;
	for (uint32_t j = 0; j < phs.n; j++) {
		pid_t pid;

		if (!ph_top(j))
			continue;
		pid = ph_create(c, j, err);
		if (pid < 0)
			return pid;
		phs.ph[j].pid = pid;
	}
	return 0;
}

static void ph_restore_subreaper(void)
{
	if (phs.subreaper >= 0)
		prctl(PR_SET_CHILD_SUBREAPER, (unsigned long)phs.subreaper, 0, 0, 0);
	phs.subreaper = -1;
}

/* Without --pidns, once every process has reported: a session's placeholder has made
 * its processes and ends (they are ours now); reap it. */
static void ph_reap_sessions(const struct rst_ctx *c)
{
	for (uint32_t j = 0; !c->opts->pidns && j < phs.n; j++) {
		int st;

		if (!phs.ph[j].session || phs.ph[j].pid <= 0)
			continue;
		while (waitpid(phs.ph[j].pid, &st, __WALL) < 0 && errno == EINTR)
			;
		phs.ph[j].pid = 0;
	}
}

/* Every process has reported. Without --pidns the sessions' placeholders have ended:
 * reap them. With it, the namespace's init learns the eldest's pid if a placeholder
 * made it. */
static int ph_after_reports(struct rst_ctx *c, struct err *err)
{
	int e = eldest_index(c);

	ph_reap_sessions(c);
	if (phs.eldest[1] >= 0 && e >= 0) {
		if (dprintf(phs.eldest[1], "%d\n", c->all[e].vpid) < 0)
			return err_sys(err, "cannot tell the new pid namespace's init its eldest");
		close_ph_fd(&phs.eldest[1]);
	}
	return 0;
}

#define PH_END_WAIT_MS 10000

/* Wait (bounded) on a pidfd until its process has ended (reaped: until its parent has
 * reaped it too). */
static bool wait_pidfd(int fd, bool reaped)
{
	struct pollfd pfd = {fd, POLLIN, 0};

	if (!reaped)
		return poll(&pfd, 1, PH_END_WAIT_MS) == 1;
	for (int waited = 0; waited < PH_END_WAIT_MS; waited++) {
		if (syscall(SYS_pidfd_send_signal, fd, 0, NULL, 0) < 0 && errno == ESRCH)
			return true;
		usleep(1000);
	}
	return false;
}

/* End group placeholder j (every member has joined) and wait until it is reaped: by
 * us (it is our child, or became ours as its session's placeholder ended), by the
 * namespace's init, or, if a restored session leader made it, through that leader. */
static int ph_end_one(struct rst_ctx *c, struct ph *h, struct err *err)
{
	int fd = (int)syscall(SYS_pidfd_open, h->pid, 0), st, rc = 0;

	if (fd < 0)
		return err_sys(err, "cannot reach the process %d that holds %s %d", h->pid,
			       ph_what(h), h->id);
	if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0) {
		rc = err_sys(err, "cannot end the process %d that holds %s %d", h->pid,
			     ph_what(h), h->id);
	} else if (h->maker_proc >= 0) {
		struct rst_proc *lp = &c->all[h->maker_proc];
		long r;

		if (!wait_pidfd(fd, false)) {
			rc = err_set(err, -ETIMEDOUT, "the process %d that holds %s %d does not end",
				     h->pid, ph_what(h), h->id);
			goto out;
		}
		r = inject_syscall(&lp->inj, SYS_wait4, (uint64_t)h->id, 0, __WALL, 0, 0, 0, err);
		if (r == INJECT_FAILED)
			rc = err->code;
		else if (r != h->id)
			rc = err_code(err, r < 0 ? (int)r : -ECHILD,
				      "pid %d: cannot reap the process that held %s %d", lp->p->pid,
				      ph_what(h), h->id);
	} else if (!c->opts->pidns) {
		while (waitpid(h->pid, &st, __WALL) < 0 && errno == EINTR)
			;
	} else if (!wait_pidfd(fd, true)) {
		rc = err_set(err, -ETIMEDOUT, "the process %d that held %s %d is not reaped",
			     h->pid, ph_what(h), h->id);
	}
out:
	close(fd);
	if (rc == 0)
		h->pid = 0;
	return rc;
}

/* Once every process is in its group: the groups' placeholders go, before any
 * process runs. Nothing of them remains. */
static int ph_end(struct rst_ctx *c, struct err *err)
{
	for (uint32_t j = 0; j < phs.n; j++) {
		struct ph *h = &phs.ph[j];
		int rc;

		if (h->session || h->pid <= 0)
			continue;
		rc = ph_end_one(c, h, err);
		if (rc < 0)
			return rc;
	}
	ph_restore_subreaper();
	return 0;
}

/* After a failure, with cr_restart a subreaper: what the killed processes and
 * placeholders left (their children) becomes ours. Kill and reap until none is left. */
static void ph_drain(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children", syscall(SYS_gettid));
	for (int tries = 0; tries < PH_END_WAIT_MS; tries++) {
		struct buf b;
		int st;
		pid_t w = waitpid(-1, &st, __WALL | WNOHANG);

		if (w > 0 || (w < 0 && errno == EINTR))
			continue;
		if (w < 0)
			return; /* none left */
		buf_init(&b);
		if (buf_read_file(&b, path) == 0) {
			char *p = (char *)b.data, *end;

			for (long kid = strtol(p, &end, 10); end != p;
			     kid = strtol(p = end, &end, 10))
				kill((pid_t)kid, SIGKILL);
		}
		buf_fini(&b);
		usleep(1000);
	}
	log_warn("processes of this restart are still there after a failure");
}

static void ph_cleanup(void)
{
	for (uint32_t j = 0; j < phs.n; j++) {
		close_ph_fd(&phs.ph[j].status_r);
		close_ph_fd(&phs.ph[j].status_w);
	}
	for (int k = 0; k < 2; k++) {
		close_ph_fd(&phs.go[k]);
		close_ph_fd(&phs.life[k]);
		close_ph_fd(&phs.eldest[k]);
	}
	ph_restore_subreaper();
	free(phs.ph);
	free(phs.maker);
	phs.ph = NULL;
	phs.maker = NULL;
	phs.n = 0;
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
		   (void *)(long)(PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD)) < 0)
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

/* Process groups, once every process exists: the leaders restored at their pids make
 * theirs, then the others join theirs (a leader's, or a placeholder's). */
static int join_groups(struct rst_ctx *c, struct err *err)
{
	if (!c->opts->restore_pgid)
		return 0;
	for (int pass = 0; pass < 2; pass++) {
		for (uint32_t i = 0; i < c->n; i++) {
			struct rst_proc *rp = &c->all[i];
			const struct proc_img *p = rp->p;
			int leader = id_holder(c, p->pgid), j = ph_find(p->pgid);
			pid_t pgid, now;
			long r;

			if (is_zombie(c, (int)i) || (pass == 0) != (leader == (int)i))
				continue;
			if (makes_session(c, i))
				continue; /* it leads its group already */
			/* Already in it (inherited): as cr_restart sees the group. */
			now = getpgid(rp->pid);
			if ((leader >= 0 && now == c->all[leader].pid) ||
			    (leader < 0 && j >= 0 && phs.ph[j].pid > 0 && now == phs.ph[j].pid))
				continue;
			/* As the process sees it: the call runs inside it. */
			pgid = leader >= 0 ? c->all[leader].vpid : p->pgid;
			r = inject_syscall(&rp->inj, SYS_setpgid, 0, (uint64_t)pgid, 0, 0, 0, 0,
					   err);
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
 * it waits for the namespace's traced zombies, which wait for us. Without it, the
 * placeholders too; what they and the processes leave becomes ours (cr_restart is a
 * subreaper while there are placeholders): that goes last. */
static void kill_all(struct rst_ctx *c)
{
	if (c->init_pid > 0)
		kill(c->init_pid, SIGKILL);
	for (uint32_t i = 0; i < c->n; i++)
		if (c->all[i].pid > 0)
			kill(c->all[i].pid, SIGKILL);
	for (uint32_t j = 0; !c->opts->pidns && j < phs.n; j++)
		if (phs.ph[j].pid > 0)
			kill(phs.ph[j].pid, SIGKILL);
	for (uint32_t i = 0; i < c->n; i++)
		if (c->all[i].pid > 0)
			reap_or_release(c->all[i].pid);
	if (c->init_pid > 0)
		reap_or_release(c->init_pid);
	if (phs.subreaper >= 0)
		ph_drain();
	ph_restore_subreaper();
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
	ph_cleanup();
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
		rc = ph_check_free(c, err);
	if (rc == 0)
		rc = open_pipes(c, err);
	if (rc == 0)
		rc = ph_open(c, err);
	if (rc == 0)
		rc = each_proc(c, prepare_one, err);
	if (rc == 0 && fault_armed("restart:prepare"))
		rc = err_set(err, -ENOMEM, "fault injected before creating pid %d",
			     c->all[0].p->pid);
	/* The placeholders, then the processes (--pidns: the namespace's init does). */
	if (rc == 0)
		rc = c->opts->pidns ? make_init(c, err) : ph_make_top(c, err);
	if (rc == 0 && phs.n)
		rc = ph_ready(c, err);
	for (uint32_t i = 0; rc == 0 && !c->opts->pidns && i < c->n; i++) {
		pid_t pid;

		if (!made_by_top(c, i))
			continue;
		pid = create_process(c, i, err);
		if (pid < 0)
			rc = pid;
		else
			c->all[i].pid = c->all[i].vpid = pid;
	}
	/* Every process has its copies of what it needs: ours go. */
	for (uint32_t i = 0; i < c->n; i++)
		close_fd(&c->all[i].status_w);
	for (uint32_t j = 0; j < phs.n; j++)
		close_fd(&phs.ph[j].status_w);
	close_fd(&phs.go[0]);
	close_fd(&phs.eldest[0]);
	close_fd(&c->zombie_pipe[0]);
	close_fd(&c->init_status[1]);
	close_fd(&c->result[1]);
	if (rc == 0)
		rc = read_reports(c, err);
	if (rc == 0)
		rc = ph_after_reports(c, err);
	if (rc == 0 && c->opts->pidns)
		rc = outside_pids(c, err);
	if (rc == 0)
		rc = each_proc(c, restore_one, err);
	if (rc == 0)
		rc = join_groups(c, err);
	if (rc == 0)
		rc = ph_end(c, err);
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

	rc = context_load_files(req->files, req->nfiles, req->name, IMG_PAGES_DEFER, 0, ret_m, err);
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
		snprintf(msg, sizeof(msg), "%s: page data at offset %llu%s", f->name, off - f->base,
			 end);
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
