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
#include "log.h"
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
				"--relocate %s=%s: '%s' becomes too long a path (PATH_MAX)",
				o->relocs[i].from, o->relocs[i].to, saved);
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

/* Move every planned descriptor to its number and close all others. No allocation:
 * this runs in the copy of cr_restart, and may meet any fd numbers. */
static int install_fds(struct rst_proc *rp, struct err *err)
{
	int hi = 0;

	for (uint32_t i = 0; i < rp->nmoves; i++) {
		if (rp->moves[i].parent_fd >= hi)
			hi = rp->moves[i].parent_fd + 1;
		if (rp->moves[i].child_fd >= hi)
			hi = rp->moves[i].child_fd + 1;
	}
	for (uint32_t i = 0; i < rp->nmoves; i++) {
		rp->moves[i].tmp = fcntl(rp->moves[i].parent_fd, F_DUPFD_CLOEXEC, hi);
		if (rp->moves[i].tmp < 0)
			return err_sys(err, "pid %d: cannot set up descriptor %d", rp->p->pid,
				       rp->moves[i].child_fd);
	}
	if (syscall(SYS_close_range, 0, hi - 1, 0) < 0)
		return err_sys(err, "pid %d: cannot close cr_restart's descriptors", rp->p->pid);
	for (uint32_t i = 0; i < rp->nmoves; i++) {
		const struct fd_move *mv = &rp->moves[i];

		if (dup3(mv->tmp, mv->child_fd, mv->cloexec ? O_CLOEXEC : 0) < 0)
			return err_sys(err, "pid %d: cannot install descriptor %d", rp->p->pid,
				       mv->child_fd);
	}
	if (syscall(SYS_close_range, hi, ~0u, 0) < 0)
		return err_sys(err, "pid %d: cannot close cr_restart's descriptors", rp->p->pid);
	return 0;
}

static void __attribute__((noreturn)) child_main(struct rst_ctx *c, int status_fd,
						 int status_child_fd)
{
	struct err e = {0};
	struct rlimit nofile;
	int rc = 0;

	kmsg_set_forward(status_fd);
	/* Saved descriptors may lie above cr_restart's soft limit: the saved limits
	 * come back later, so work under the hard one meanwhile. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	for (uint32_t i = 0; i < c->rp->nmoves; i++)
		if ((rlim_t)c->rp->moves[i].child_fd + c->rp->nmoves >= nofile.rlim_max)
			rc = err_set(&e, -EMFILE,
				     "pid %d: descriptor %d is above the limit of %llu open files",
				     c->rp->p->pid, c->rp->moves[i].child_fd,
				     (unsigned long long)nofile.rlim_max);
	if (rc == 0)
		rc = install_fds(c->rp, &e);
	if (rc == 0) {
		status_fd = status_child_fd;
		kmsg_set_forward(status_fd);
	}
	for (unsigned int i = 0; rc == 0 && i < state_count; i++)
		if (state_table[i]->child)
			rc = state_table[i]->child(c, &e);
	if (rc < 0)
		status_line(status_fd, "FAIL %d %s", rc, e.msg);
	else
		status_line(status_fd, "OK");
	for (;;)
		pause(); /* cr_restart seizes us here */
}

/* ---- cr_restart's side ---- */

/* Read the new process's report: kmsg lines, then OK or FAIL. */
static int read_status(struct rst_proc *rp, int fd, struct err *err)
{
	char buf[4096];
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		char *nl;
		ssize_t n;
		int pr = poll(&pfd, 1, STATUS_TIMEOUT_MS);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return err_set(err, -ETIMEDOUT, "pid %d: no word from the new process",
				       rp->p->pid);
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_set(err, -ECHILD, "pid %d: the new process died while setting up",
				       rp->p->pid);
		len += (size_t)n;
		buf[len] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			if (!strcmp(buf, "OK"))
				return 0;
			if (!strncmp(buf, "FAIL ", 5)) {
				char *end;
				long code = strtol(buf + 5, &end, 10);

				return err_set(err, code < 0 ? (int)code : -EIO, "%s",
					       *end ? end + 1 : "");
			}
			if (buf[0] == 'W' || buf[0] == 'E')
				kmsg_add(buf[0] == 'W' ? KMSG_WARN : KMSG_ERROR, "%s", buf + 2);
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
		}
		if (len >= sizeof(buf) - 1)
			len = 0;
	}
}

#define ZOMBIE_WAIT_MS 3000

/* An id taken only by a zombie is about to be free: its parent (after a checkpoint
 * with --kill, the shell or init) has not reaped it yet. Wait a little for it. */
static bool id_in_use(pid_t id)
{
	for (int waited = 0;; waited += 5) {
		struct proc_stat st;

		if (kill(id, 0) < 0 && errno == ESRCH)
			return false;
		if (procfs_stat(id, 0, &st) < 0)
			return true;
		if ((st.state != 'Z' && st.state != 'X') || waited >= ZOMBIE_WAIT_MS)
			return true;
		usleep(5000);
	}
}

static int check_ids(const struct rst_ctx *c, struct err *err)
{
	const struct proc_img *p = c->rp->p;

	if (!c->opts->restore_pid)
		return 0;
	for (uint32_t i = 0; i < p->nthreads; i++) {
		pid_t id = p->threads[i].tid;

		if (id_in_use(id)) {
			kmsg_add(KMSG_ERROR, "%s %d is in use", i == 0 ? "pid" : "thread id", id);
			return err_set(err, -EBUSY, "%s %d is in use (try --no-restore-pid)",
				       i == 0 ? "pid" : "thread id", id);
		}
	}
	return 0;
}

static pid_t create_process(struct rst_ctx *c, int status_w, int status_child_fd,
			    struct err *err)
{
	struct proc_img *p = c->rp->p;
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
		child_main(c, status_w, status_child_fd);
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

static void kill_new(struct rst_proc *rp)
{
	int st;

	if (rp->pid <= 0)
		return;
	kill(rp->pid, SIGKILL);
	while (waitpid(rp->pid, &st, __WALL) < 0 && errno == EINTR)
		;
}

static int restore_proc(struct rst_ctx *c, struct rst_result *res, struct err *err)
{
	struct rst_proc *rp = c->rp;
	struct proc_img *p = rp->p;
	int status[2] = {-1, -1}, status_child_fd, rc;
	int maxfd = -1;
	pid_t pid;

	rp->memfd = -1;
	rp->tids = calloc(p->nthreads, sizeof(*rp->tids));
	if (!rp->tids)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].fd > maxfd)
			maxfd = p->fds[i].fd;
	rp->keep_base = maxfd + 1;
	rc = check_ids(c, err);
	if (rc < 0)
		goto out_status;
	if (pipe2(status, O_CLOEXEC) < 0) {
		rc = err_sys(err, "cannot create a pipe");
		goto out_status;
	}
	rc = rst_add_fd(rp, status[1], -1, true, true);
	if (rc < 0)
		goto out_status;
	status_child_fd = rc;
	status[1] = -1; /* owned by the move now */
	for (unsigned int i = 0; i < state_count; i++) {
		if (!state_table[i]->prepare)
			continue;
		rc = state_table[i]->prepare(c, err);
		if (rc < 0)
			goto out_status;
	}
	if (fault_armed("restart:prepare")) {
		rc = err_set(err, -ENOMEM, "fault injected before creating pid %d", p->pid);
		goto out_status;
	}

	pid = create_process(c, rp->moves[0].parent_fd, status_child_fd, err);
	for (uint32_t i = 0; i < rp->nmoves; i++)
		if (rp->moves[i].owned)
			close(rp->moves[i].parent_fd);
	rp->nmoves = 0;
	if (pid < 0) {
		rc = pid;
		goto out_status;
	}
	rp->pid = pid;
	rp->tids[0] = pid;
	rc = read_status(rp, status[0], err);
	if (rc == 0)
		rc = seize_new(rp, err);
	for (unsigned int i = 0; rc == 0 && i < state_count; i++)
		if (state_table[i]->restore)
			rc = state_table[i]->restore(c, err);
	if (rc == 0 && fault_armed("restart:restore"))
		rc = err_set(err, -EIO, "fault injected after restoring pid %d", p->pid);
	if (rc == 0)
		rc = leave(rp, err);
	for (unsigned int i = 0; rc == 0 && i < state_count; i++)
		if (state_table[i]->finish)
			rc = state_table[i]->finish(c, err);
	if (rc < 0) {
		kill_new(rp);
		goto out_status;
	}
	rp->stopped_after = (p->flags & PROC_STOPPED) && c->opts->signal == 0;
	release(rp, c->opts->signal ? c->opts->signal : rp->stopped_after ? SIGSTOP : 0);
	res->pid = pid;
	res->stopped = rp->stopped_after || c->opts->signal == SIGSTOP;
out_status:
	if (status[0] >= 0)
		close(status[0]);
	if (status[1] >= 0)
		close(status[1]);
	for (uint32_t i = 0; i < rp->nmoves; i++)
		if (rp->moves[i].owned)
			close(rp->moves[i].parent_fd);
	for (unsigned int i = 0; i < state_count; i++)
		if (state_table[i]->cleanup)
			state_table[i]->cleanup(c);
	if (rp->memfd >= 0)
		close(rp->memfd);
	free(rp->moves);
	free(rp->tids);
	return rc;
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

int restart_run(const struct rst_request *req, struct rst_result *res, struct err *err)
{
	uint8_t *map = NULL;
	uint64_t map_len = 0;
	struct stat st;
	struct model *m = NULL;
	struct rst_proc rp;
	struct rst_ctx c;
	int fd = -1, rc;

	memset(res, 0, sizeof(*res));
	excluded_fd = req->fd;
	rc = make_seekable(req->fd, req->name, &fd, err);
	if (rc < 0)
		return rc;
	rc = context_load(fd, req->name, IMG_PAGES_DEFER, &m, err);
	if (rc < 0)
		goto out;
	if (fstat(fd, &st) < 0) {
		rc = err_sys(err, "cannot stat %s", req->name);
		goto out;
	}
	map_len = (uint64_t)st.st_size;
	map = mmap(NULL, map_len, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		map = NULL;
		rc = err_sys(err, "cannot map %s", req->name);
		goto out;
	}
	if (m->nprocs != 1) {
		rc = err_set(err, -ENOTSUP,
			     "%s holds %u processes; restarting process trees is not supported yet",
			     req->name, m->nprocs);
		goto out;
	}
	memset(&rp, 0, sizeof(rp));
	rp.p = &m->procs[0];
	memset(&c, 0, sizeof(c));
	c.m = m;
	c.opts = &req->opts;
	c.img_fd = fd;
	c.img_map = map;
	c.img_len = map_len;
	c.img_name = req->name;
	c.rp = &rp;
	rc = restore_proc(&c, res, err);
out:
	if (map)
		munmap(map, map_len);
	model_free(m);
	if (fd >= 0 && fd != req->fd)
		close(fd);
	return rc;
}
