/* lt.h: helpers for the libcr test programs of tests/libcr (header only).
 *
 * Each program runs in a scratch directory (its cwd) with CR_CHECKPOINT, CR_RESTART
 * and CR_RUN naming the tools under test, and prints one line per case: "PASS name"
 * or "FAIL name: why". Processes restored from a context print their own lines: their
 * stdout is the same pipe (cr_restart lends them its own). Every wait is bounded, and
 * every process a program starts is gone when it ends. Messages from signal handlers
 * and callbacks use lt_say(), which is async-signal-safe. */
#ifndef CREST_LT_H
#define CREST_LT_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LT_TIMEOUT 60 /* seconds any one tool may take */

static __attribute__((unused)) int lt_failures;

/* Async-signal-safe formatting of a line to fd 1: %d %u %s %x only. */
static __attribute__((unused)) void lt_vsay(const char *fmt, va_list ap)
{
	char line[512];
	size_t n = 0;

	for (const char *p = fmt; *p && n < sizeof(line) - 24; p++) {
		char tmp[24];
		int k = 0;
		unsigned long long v;
		const char *s;

		if (*p != '%') {
			line[n++] = *p;
			continue;
		}
		switch (*++p) {
		case 'd': {
			long long d = va_arg(ap, int);

			if (d < 0) {
				line[n++] = '-';
				d = -d;
			}
			v = (unsigned long long)d;
			do
				tmp[k++] = (char)('0' + v % 10);
			while (v /= 10);
			break;
		}
		case 'u':
			v = va_arg(ap, unsigned int);
			do
				tmp[k++] = (char)('0' + v % 10);
			while (v /= 10);
			break;
		case 'x':
			v = va_arg(ap, unsigned int);
			do
				tmp[k++] = "0123456789abcdef"[v % 16];
			while (v /= 16);
			break;
		case 's':
			for (s = va_arg(ap, const char *); s && *s && n < sizeof(line) - 2; s++)
				line[n++] = *s;
			continue;
		default:
			line[n++] = *p;
			continue;
		}
		while (k)
			line[n++] = tmp[--k];
	}
	line[n++] = '\n';
	if (write(1, line, n) < 0)
		return;
}

static __attribute__((unused)) void lt_say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	lt_vsay(fmt, ap);
	va_end(ap);
}

/* Record a failed check of case name; its verdict line comes from lt_verdict(). */
#define LT_CHECK(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			lt_failures++;                                                             \
			printf("  check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
			printf(__VA_ARGS__);                                                       \
			printf("\n");                                                              \
			fflush(stdout);                                                            \
		}                                                                                  \
	} while (0)

static __attribute__((unused)) int lt_verdict(const char *name)
{
	int f = lt_failures;

	if (f)
		printf("FAIL %s: %d check(s) failed\n", name, f);
	else
		printf("PASS %s\n", name);
	fflush(stdout);
	lt_failures = 0;
	return f ? 1 : 0;
}

static const char *lt_tool(const char *var, const char *dflt)
{
	const char *v = getenv(var);

	return v && *v ? v : dflt;
}

#define LT_CKPT() lt_tool("CR_CHECKPOINT", "cr_checkpoint")
#define LT_RSTRT() lt_tool("CR_RESTART", "cr_restart")
#define LT_RUN() lt_tool("CR_RUN", "cr_run")

static __attribute__((unused)) void lt_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait for pid with a bound; kill it (and return -1) when it runs over. Returns the
 * wait status otherwise. */
static __attribute__((unused)) int lt_wait(pid_t pid, int secs)
{
	int st;

	for (long waited = 0;; waited += 10) {
		pid_t w = waitpid(pid, &st, WNOHANG | __WALL);

		if (w == pid)
			return st;
		if (w < 0 && errno != EINTR)
			return -1;
		if (waited >= secs * 1000L) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, __WALL);
			return -1;
		}
		lt_sleep_ms(10);
	}
}

/* The exit code of a wait status; 128 + signal for a death by signal, -1 if none. */
static __attribute__((unused)) int lt_code(int st)
{
	if (st == -1)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* Start argv (NULL-terminated) with stdin from /dev/null. */
static __attribute__((unused)) pid_t lt_start(char *const argv[])
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* Run argv and return its exit code (see lt_code). */
static __attribute__((unused)) int lt_run(char *const argv[])
{
	pid_t pid = lt_start(argv);

	return pid < 0 ? -1 : lt_code(lt_wait(pid, LT_TIMEOUT));
}

/* cr_checkpoint with the given options (a NULL-terminated list) and target. */
static __attribute__((unused)) int lt_checkpoint(pid_t pid, const char *const *opts)
{
	char *argv[32], id[16];
	int n = 0;

	argv[n++] = (char *)LT_CKPT();
	while (opts && *opts && n < 29)
		argv[n++] = (char *)*opts++;
	snprintf(id, sizeof(id), "%d", (int)pid);
	argv[n++] = id;
	argv[n] = NULL;
	return lt_run(argv);
}

/* cr_restart of file, in the background: returns its pid (our child). */
static __attribute__((unused)) pid_t lt_restart_bg(const char *file, const char *const *opts)
{
	char *argv[32];
	int n = 0;

	argv[n++] = (char *)LT_RSTRT();
	while (opts && *opts && n < 29)
		argv[n++] = (char *)*opts++;
	argv[n++] = (char *)file;
	argv[n] = NULL;
	return lt_start(argv);
}

/* A pipe a child uses to say it is ready: lt_ready() in the child, lt_await() in the
 * parent (bounded). */
struct lt_gate {
	int fd[2];
};

static __attribute__((unused)) void lt_gate_init(struct lt_gate *g)
{
	if (pipe(g->fd) < 0) {
		perror("pipe");
		exit(2);
	}
}

static __attribute__((unused)) void lt_ready(struct lt_gate *g, int v)
{
	close(g->fd[0]);
	if (write(g->fd[1], &v, sizeof(v)) != sizeof(v))
		_exit(3);
	close(g->fd[1]);
}

/* The value the child sent, or -1 if it died or did not answer in secs. */
static __attribute__((unused)) int lt_await(struct lt_gate *g, int secs)
{
	int v = -1;

	close(g->fd[1]);
	for (long waited = 0; waited < secs * 1000L; waited += 10) {
		fd_set s;
		struct timeval tv = {0, 10000};

		FD_ZERO(&s);
		FD_SET(g->fd[0], &s);
		if (select(g->fd[0] + 1, &s, NULL, NULL, &tv) > 0) {
			if (read(g->fd[0], &v, sizeof(v)) != sizeof(v))
				v = -1;
			break;
		}
	}
	close(g->fd[0]);
	return v;
}

/* Read exactly n bytes from fd if they come within secs seconds (one read, as the
 * writers send each message whole). */
static __attribute__((unused)) bool lt_read_within(int fd, void *buf, size_t n, int secs)
{
	fd_set s;
	struct timeval tv = {secs, 0};

	FD_ZERO(&s);
	FD_SET(fd, &s);
	return select(fd + 1, &s, NULL, NULL, &tv) > 0 && read(fd, buf, n) == (ssize_t)n;
}

/* How many processes a context holds, by cr_info (next to cr_checkpoint). */
static __attribute__((unused)) int lt_processes_in(const char *file)
{
	char cmd[4200], line[256];
	const char *ck = LT_CKPT(), *slash = strrchr(ck, '/');
	int n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%.*scr_info %s", slash ? (int)(slash - ck + 1) : 0, ck, file);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !strncmp(line, "  - process:", 12);
	pclose(f);
	return n;
}

static __attribute__((unused)) pid_t lt_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

#ifdef _CRLIB_H
/* Checkpoint through libcr: scope/target of this process to file (created 0600),
 * then poll it to the end. Returns cr_poll_checkpoint()'s value; *ret_err its errno
 * when that is < 0. In a copy restarted from the context the same call returns
 * CR_POLL_CHKPT_ERR_POST with CR_ERESTARTED. keep: the descriptor stays open until the
 * request is over, as BLCR's CRUT tests do; else it is closed as soon as the request
 * is made (the tool has its own). */
static __attribute__((unused)) int lt_request_fd(const char *file, cr_scope_t scope, pid_t target,
						 unsigned int flags, int sig, int *ret_err,
						 bool keep)
{
	cr_checkpoint_args_t a;
	cr_checkpoint_handle_t h;
	int fd, rc;

	*ret_err = 0;
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		*ret_err = errno;
		return -100;
	}
	cr_initialize_checkpoint_args_t(&a);
	a.cr_scope = scope;
	a.cr_target = target;
	a.cr_fd = fd;
	a.cr_flags = flags;
	a.cr_signal = sig;
	if (cr_request_checkpoint(&a, &h) < 0) {
		*ret_err = errno;
		close(fd);
		return -101;
	}
	if (!keep)
		close(fd);
	do
		rc = cr_poll_checkpoint(&h, NULL);
	while (rc == CR_POLL_CHKPT_ERR_PRE && errno == EINTR);
	if (rc < 0)
		*ret_err = errno;
	if (keep)
		close(fd);
	return rc;
}

static __attribute__((unused)) int lt_request(const char *file, cr_scope_t scope, pid_t target,
					      unsigned int flags, int sig, int *ret_err)
{
	return lt_request_fd(file, scope, target, flags, sig, ret_err, false);
}
#endif

#endif
