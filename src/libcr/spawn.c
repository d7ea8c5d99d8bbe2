/* spawn.c: start cr_checkpoint or cr_restart from inside an application.
 *
 * The application may have threads holding locks, handlers for SIGCHLD, a loop of
 * wait(-1) and descriptors of every kind: none of that may leak into the tool or see
 * it. So, as posix_spawn does, the first child shares our memory (CLONE_VM |
 * CLONE_VFORK, all signals blocked) and has no exit signal, so that only a wait with
 * __WALL sees it; it runs nothing but system calls.
 *
 * A checkpoint tool must not be part of what it checkpoints, which may be our own
 * tree, group or session (docs/libcr.md): that first child starts a new session,
 * forks a waiter and exits, so the waiter is nobody's descendant here and in no
 * group of ours. The waiter forks the tool (cr_checkpoint), collects its stderr, and
 * when it is gone writes "S <wait status>", then "L <length>" and the messages to the
 * result pipe. A restart tool is our direct child instead: the restored processes
 * must become our children when it exits (req.c). */
#include "libcr/lib.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_LEN (256u << 10)
#define LOG_MAX (32u << 10)
#define MAX_MOVES 6

struct move {
	int from, to;
};

struct spawn_arg {
	const struct spawn_req *sr;
	struct move mv[MAX_MOVES];
	int nmv;
	int close_from; /* close every descriptor from this one up; -1: keep them */
	int log_r;      /* the waiter's end of the tool's stderr */
};

/* The waiter's copy of the tool's messages. Only ever written in the waiter, a copy
 * of this process made by fork: this process's own copy stays untouched. */
static char waiter_log[LOG_MAX];

static __attribute__((noreturn)) void raw_exit(int code)
{
	for (;;)
		syscall(SYS_exit_group, code);
}

static pid_t raw_fork(void)
{
	return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

static void put_num(char **p, long v)
{
	char tmp[24];
	int n = 0;

	if (v < 0) {
		*(*p)++ = '-';
		v = -v;
	}
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(tmp));
	while (n)
		*(*p)++ = tmp[--n];
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void report(int fd, char kind, long v)
{
	char line[32], *p = line;

	*p++ = kind;
	*p++ = ' ';
	put_num(&p, v);
	*p++ = '\n';
	write_all(fd, line, (size_t)(p - line));
}

/* In the child that becomes the tool: descriptors in place, signals as a new program
 * expects them, exec. Returns only on failure, with errno set. */
static void exec_tool(struct spawn_arg *a)
{
	int top = 0, tmp[MAX_MOVES];
	struct sigaction dfl;
	sigset_t none;

	for (int i = 0; i < a->nmv; i++)
		if (a->mv[i].to >= top)
			top = a->mv[i].to + 1;
	/* Through temporary numbers above every target, so no move clobbers the
	 * source of another, and each target comes out without close-on-exec. */
	for (int i = 0; i < a->nmv; i++) {
		tmp[i] = fcntl(a->mv[i].from, F_DUPFD, top);
		if (tmp[i] < 0)
			return;
	}
	for (int i = 0; i < a->nmv; i++)
		if (dup2(tmp[i], a->mv[i].to) < 0)
			return;
	for (int i = 0; i < a->nmv; i++)
		close(tmp[i]);
	if (a->close_from >= 0)
		syscall(SYS_close_range, a->close_from, ~0u, 0);
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < 65; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, (size_t)8);
	sigemptyset(&none);
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, (size_t)8);
	execve(a->sr->path, a->sr->argv, a->sr->envp);
}

/* The waiter: not our descendant, in a session of its own. */
static __attribute__((noreturn)) void waiter(struct spawn_arg *a)
{
	int res = a->sr->res_w, logr = a->log_r, lo = res < logr ? res : logr;
	int hi = res < logr ? logr : res, st = 0;
	size_t len = 0;
	char head[64], *p = head;
	pid_t tool;

	tool = raw_fork();
	if (tool == 0) {
		exec_tool(a);
		report(SPAWN_RES_FD, 'X', errno);
		raw_exit(127);
	}
	/* Keep only the two pipes: the tool's stderr must reach EOF when the tool
	 * and its children are gone, and nothing of the application's stays open. */
	if (lo > 0)
		syscall(SYS_close_range, 0, lo - 1, 0);
	if (hi > lo + 1)
		syscall(SYS_close_range, lo + 1, hi - 1, 0);
	syscall(SYS_close_range, hi + 1, ~0u, 0);
	if (tool < 0) {
		report(res, 'X', errno);
		raw_exit(1);
	}
	for (;;) {
		char sink[512];
		ssize_t n;

		if (len < sizeof(waiter_log))
			n = read(logr, waiter_log + len, sizeof(waiter_log) - len);
		else
			n = read(logr, sink, sizeof(sink));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (len < sizeof(waiter_log))
			len += (size_t)n;
	}
	while (syscall(SYS_wait4, tool, &st, 0, NULL) < 0 && errno == EINTR)
		;
	*p++ = 'S';
	*p++ = ' ';
	put_num(&p, st);
	*p++ = '\n';
	*p++ = 'L';
	*p++ = ' ';
	put_num(&p, (long)len);
	*p++ = '\n';
	write_all(res, head, (size_t)(p - head));
	write_all(res, waiter_log, len);
	raw_exit(0);
}

/* The first child: it shares our memory and runs system calls only. */
static int first_child(void *p)
{
	struct spawn_arg *a = p;
	pid_t w;

	if (!a->sr->detached) {
		exec_tool(a);
		report(a->sr->res_w, 'X', errno);
		raw_exit(127);
	}
	if (setsid() < 0)
		raw_exit(1);
	w = raw_fork();
	if (w == 0)
		waiter(a);
	raw_exit(w < 0 ? 1 : 0);
}

pid_t spawn_tool(const struct spawn_req *sr)
{
	struct spawn_arg a;
	sigset_t all, old;
	int pipe_log[2] = {-1, -1}, devnull = -1, st, err = 0;
	char *stack;
	pid_t pid = -1;

	memset(&a, 0, sizeof(a));
	a.sr = sr;
	a.close_from = -1;
	a.log_r = -1;
	if (sr->detached) {
		devnull = lib_fd_high(open("/dev/null", O_RDWR | O_CLOEXEC));
		if (devnull < 0 || pipe2(pipe_log, O_CLOEXEC) < 0) {
			err = errno;
			goto out;
		}
		pipe_log[0] = lib_fd_high(pipe_log[0]);
		pipe_log[1] = lib_fd_high(pipe_log[1]);
		a.log_r = pipe_log[0];
		a.mv[a.nmv++] = (struct move){devnull, 0};
		a.mv[a.nmv++] = (struct move){devnull, 1};
		a.mv[a.nmv++] = (struct move){pipe_log[1], 2};
		a.mv[a.nmv++] = (struct move){sr->dest_fd, SPAWN_DEST_FD};
		a.mv[a.nmv++] = (struct move){sr->res_w, SPAWN_RES_FD};
		a.close_from = SPAWN_RES_FD + 1;
	} else {
		if (sr->dest_fd >= 0)
			a.mv[a.nmv++] = (struct move){sr->dest_fd, sr->dest_fd};
		a.mv[a.nmv++] = (struct move){sr->res_w, sr->res_w};
	}
	stack = mmap(NULL, STACK_LEN, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED) {
		err = errno;
		goto out;
	}
	/* The child starts with every signal blocked: no handler of ours may run in it.
	 * No exit signal: the application's wait() and SIGCHLD never see it. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = clone(first_child, stack + STACK_LEN, CLONE_VM | CLONE_VFORK, &a);
	if (pid < 0)
		err = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	munmap(stack, STACK_LEN);
	if (pid < 0)
		goto out;
	if (sr->detached) {
		/* It has already left (vfork): collect it. */
		while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
			;
		pid = 0;
	}
out:
	if (devnull >= 0)
		close(devnull);
	if (pipe_log[0] >= 0)
		close(pipe_log[0]);
	if (pipe_log[1] >= 0)
		close(pipe_log[1]);
	return err ? -err : pid;
}
