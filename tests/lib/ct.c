/* ct.c: the program side of the state tests (see ct.h). */
#include "ct.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static char dir[4096];

const char *ct_dir(void)
{
	return dir;
}

int ct_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line, straight to the descriptor: stdio buffers may be the subject. */
	dprintf(1, "FAIL: %s:%d: %s\n", file, line, msg);
	return 1;
}

void ct_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

ssize_t ct_read_text(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

int ct_line(const char *text, const char *key, char *out, size_t n)
{
	size_t k = strlen(key);

	for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, k) && p[k] == ':') {
			snprintf(out, n, "%.*s", (int)strcspn(p, "\n"), p);
			return 0;
		}
	return -1;
}

ssize_t ct_fdinfo(int fd, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	return ct_read_text(path, buf, size);
}

int ct_fdinfo_line(int fd, const char *key, char *out, size_t n)
{
	char buf[8192];

	if (ct_fdinfo(fd, buf, sizeof(buf)) < 0)
		return -1;
	return ct_line(buf, key, out, n);
}

int ct_fdinfo_u64(int fd, const char *key, int base, uint64_t *v)
{
	char line[256];

	if (ct_fdinfo_line(fd, key, line, sizeof(line)) < 0)
		return -1;
	*v = strtoull(line + strlen(key) + 1, NULL, base);
	return 0;
}

int ct_fd_link(int fd, char *out, size_t n)
{
	char path[64];
	ssize_t k;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	k = readlink(path, out, n - 1);
	if (k < 0)
		return -1;
	out[k] = '\0';
	return 0;
}

int ct_fd_is(int fd, const char *want)
{
	char got[PATH_MAX + 16];

	if (ct_fd_link(fd, got, sizeof(got)) < 0)
		return 0;
	if (strcmp(got, want)) {
		ct_log("fd %d is %s, want %s", fd, got, want);
		return 0;
	}
	return 1;
}

long ct_kcmp_file(int a, int b)
{
	return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, a, b);
}

int ct_layout(int fd, off_t *at, int max)
{
	char path[64];
	int own, n = 0;
	off_t pos = 0, end;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	own = open(path, O_RDONLY | O_CLOEXEC);
	if (own < 0)
		return -1;
	end = lseek(own, 0, SEEK_END);
	while (pos < end && n + 2 <= max) {
		off_t d = lseek(own, pos, SEEK_DATA), h;

		if (d < 0)
			break;
		h = lseek(own, d, SEEK_HOLE);
		at[n++] = d;
		at[n++] = h;
		pos = h;
	}
	close(own);
	return n;
}

ino_t ct_mapped_ino(const void *addr, size_t len, char *link, size_t n)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)addr,
		 (unsigned long)((uintptr_t)addr + len));
	if (link) {
		ssize_t k = readlink(path, link, n - 1);

		link[k > 0 ? k : 0] = '\0';
	}
	return stat(path, &st) == 0 ? st.st_ino : 0;
}

socklen_t ct_abstract(struct sockaddr_un *a, const char *tag, const char *suffix)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   (size_t)snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "%s-%s", tag,
					    suffix));
}

int ct_wait_flag(atomic_int *flag)
{
	for (int i = 0; i < 10000 && !atomic_load(flag); i++)
		usleep(1000);
	return atomic_load(flag) != 0;
}

int ct_wait_pending(int sig)
{
	sigset_t pend;

	for (int i = 0; i < 10000; i++) {
		if (sigpending(&pend) == 0 && sigismember(&pend, sig) == 1)
			return 1;
		usleep(1000);
	}
	return 0;
}

long ct_syscall_of(int tid)
{
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	/* "NR args...", "-1 sp pc" outside a call, or "running". */
	if (ct_read_text(path, buf, sizeof(buf)) < 0 || buf[0] < '0' || buf[0] > '9')
		return -1;
	return strtol(buf, NULL, 10);
}

char ct_task_state(int tid)
{
	char path[64], buf[512], *p;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	/* "tid (comm) S ...": the name may hold anything, ')' too. */
	if (ct_read_text(path, buf, sizeof(buf)) < 0 || !(p = strrchr(buf, ')')) || p[1] != ' ')
		return 0;
	return p[2];
}

int ct_blocked_in(int tid, long nr)
{
	return ct_syscall_of(tid) == nr;
}

int ct_wait_blocked(int tid, long nr)
{
	for (int i = 0; i < 10000; i++) {
		if (ct_blocked_in(tid, nr))
			return 0;
		usleep(1000);
	}
	return -1;
}

int ct_wait_asleep(int tid)
{
	for (int i = 0; i < 10000; i++) {
		if (ct_task_state(tid) == 'S')
			return 0;
		usleep(1000);
	}
	return -1;
}

/* What ct_start_blocked hands its thread: one start at a time. */
static struct {
	void *(*fn)(void *);
	void *arg;
	atomic_int tid;
} start;

static void *start_main(void *unused)
{
	void *(*fn)(void *) = start.fn;
	void *arg = start.arg;

	(void)unused;
	atomic_store(&start.tid, (int)syscall(SYS_gettid));
	return fn(arg);
}

int ct_start_blocked(pthread_t *pt, void *(*fn)(void *), void *arg, long nr)
{
	int rc;

	start.fn = fn;
	start.arg = arg;
	atomic_store(&start.tid, 0);
	rc = pthread_create(pt, NULL, start_main, NULL);
	if (rc) {
		errno = rc;
		return -1;
	}
	if (!ct_wait_flag(&start.tid) || ct_wait_blocked(atomic_load(&start.tid), nr) < 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

int ct_join(pthread_t pt, void **ret, int seconds)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += seconds;
	return pthread_timedjoin_np(pt, ret, &until);
}

int ct_main(int argc, char **argv, int (*setup)(void), int (*check)(void))
{
	char go[16];
	ssize_t n;
	size_t got = 0;

	(void)argc;
	(void)argv;
	if (!getcwd(dir, sizeof(dir)))
		dir[0] = '\0';
	if (setup() != 0) {
		dprintf(1, "FAIL: setup\n");
		return 1;
	}
	if (dprintf(1, "READY\n") < 0)
		return 1;
	/* Blocked in read(): the checkpoint meets a thread inside a system call. */
	while (got < 3) {
		/* EINTR is a failure too: a checkpoint must not interrupt system calls. */
		n = read(0, go + got, 3 - got);
		if (n <= 0) {
			dprintf(1, "FAIL: stdin closed before GO (%s)\n", n < 0 ? strerror(errno) : "EOF");
			return 1;
		}
		got += (size_t)n;
	}
	if (memcmp(go, "GO\n", 3)) {
		dprintf(1, "FAIL: expected GO\n");
		return 1;
	}
	if (check() != 0)
		return 1;
	dprintf(1, "PASS\n");
	return 0;
}
