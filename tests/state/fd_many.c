/* Thousands of descriptors in a parent and its child, up near the limit of open files.
 *
 * The parent works under min(hard limit, 20000) open files and holds: 4000 eventfds
 * at 3... (each its own counter, value i + 1, semaphore, non-blocking and
 * close-on-exec mixed), one pipe with data in it behind 602 descriptors (300 dups of
 * each end, at sparse numbers), 16 unix socket pairs (stream and datagram, a message
 * queued each way) 400 below the limit with a dup of one end of each, signalfds,
 * timerfds and epoll instances (on the eventfds' one inode) with a dup each, and dups
 * of eventfds up to 64 below the limit. From 6600 up to those socket pairs: pipes and
 * socket pairs in turn (3250 of each under 20000), each with a message in it (each way
 * for a socket pair). cr_restart, which holds every description at once, has room for
 * them only if it keeps one descriptor per pipe end and per socket, not two. The child
 * inherits the eventfds and holds the first 256 of them at reversed numbers (its
 * descriptor 3 is the parent's 258), a permutation of the numbers cr_restart made them
 * at: installing it needs cycles broken. After GO each process must have exactly the
 * descriptors it had, each with its open file description (kcmp, between the two
 * processes too), close-on-exec flag, status flags and eventfd value; the pipe gives
 * its data through any of its descriptors and the sockets their messages, still
 * connected.
 * Run with the harness's -T (checkpoint the whole tree). */
#include "ct.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define NEFD 4000 /* eventfds, at 3 ... NEFD + 2 */
#define NREV 256  /* of them, held by the child at reversed numbers */
#define NDUP 300  /* dups of each end of the pipe */
#define PIPE_AT 6000
#define NPAIR 16 /* socket pairs, the first half stream, the rest datagram */
#define NTOP 16  /* eventfd dups just below the top */
#define MAX_LIM 20000
#define MIN_LIM 8192

#define ANON_AT 5000 /* signalfds, timerfds, epoll instances: the eventfds' inode */
#define NANON 8

#define MANY_AT 6600 /* pipes and socket pairs, two numbers each, in turn */

enum kind { K_EFD, K_ANON, K_PIPE, K_SOCK, K_TALK };

/* One descriptor of the parent, and what it must be. */
struct want {
	int fd;
	enum kind kind;
	int first;    /* the descriptor its description was made at */
	int fl;       /* F_GETFL */
	int cloexec;  /* F_GETFD */
	uint64_t val; /* eventfd value */
};

static int lim;
static int nmany;  /* pipes and socket pairs at MANY_AT */
static pid_t cpid; /* the child, as it says after GO (it has a new pid at new pids) */
static struct want *w;
static int nw;
static int *at_fd; /* index into w by descriptor number, -1 for none */
static int ask[2], answer[2];
static pid_t child;
static const char pipe_data[] = "a pipe behind six hundred descriptors";

static int add(int fd, enum kind kind, int first, uint64_t val)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	if (fd >= lim || at_fd[fd] >= 0 || fl < 0 || fdfl < 0)
		return -1;
	at_fd[fd] = nw;
	w[nw++] = (struct want){fd, kind, first, fl, fdfl, val};
	return 0;
}

/* Put fd at number to (free), close-on-exec or not, and close fd. */
static int move_to(int fd, int to, int cloexec)
{
	if (dup3(fd, to, cloexec ? O_CLOEXEC : 0) != to)
		return -1;
	return close(fd);
}

static void child_main(void)
{
	int tmp[NREV];
	char q;

	close(ask[1]);
	close(answer[0]);
	/* Everything but the eventfds and its two pipe ends goes. */
	if (syscall(SYS_close_range, 3 + NEFD, lim - 301, 0) < 0 ||
	    syscall(SYS_close_range, lim - 296, ~0u, 0) < 0)
		_exit(90);
	for (int j = 0; j < NREV; j++)
		if ((tmp[j] = fcntl(3 + j, F_DUPFD, 3 + NEFD)) < 0)
			_exit(91);
	for (int j = 0; j < NREV; j++)
		if (move_to(tmp[j], 3 + NREV - 1 - j, j % 2) < 0)
			_exit(92);
	while (read(ask[0], &q, 1) == 1) {
		pid_t me = getpid();

		if (write(answer[1], &me, sizeof(me)) != sizeof(me))
			_exit(93);
	}
	_exit(0);
}

static int setup_limit(void)
{
	struct rlimit rl;

	CT_SYS(getrlimit(RLIMIT_NOFILE, &rl));
	if (rl.rlim_max < MIN_LIM)
		CT_FAIL("the hard limit of open files is %llu; this test needs %d",
			(unsigned long long)rl.rlim_max, MIN_LIM);
	lim = rl.rlim_max > MAX_LIM ? MAX_LIM : (int)rl.rlim_max;
	rl.rlim_cur = (rlim_t)lim;
	CT_SYS(setrlimit(RLIMIT_NOFILE, &rl));
	w = calloc((size_t)lim, sizeof(*w));
	at_fd = malloc((size_t)lim * sizeof(*at_fd));
	CT_TRUE(w && at_fd);
	for (int i = 0; i < lim; i++)
		at_fd[i] = -1;
	nmany = (lim - 401 - MANY_AT) / 2; /* below the socket pairs at lim - 400 */
	return 0;
}

/* Pipe or socket pair k of the many: a message in it (each way for a pair). */
static int setup_many(void)
{
	for (int k = 0; k < nmany; k++) {
		int v[2], a = MANY_AT + 2 * k, b = a + 1;
		char m[16];

		if (k % 2 == 0) {
			CT_SYS(pipe(v));
			CT_SYS(move_to(v[0], a, k % 3 == 0));
			CT_SYS(move_to(v[1], b, k % 4 == 0));
			if (k % 5 == 0)
				CT_SYS(fcntl(a, F_SETFL, O_NONBLOCK));
			snprintf(m, sizeof(m), "p%d", k);
			CT_EQ(write(b, m, sizeof(m)), sizeof(m));
		} else {
			CT_SYS(socketpair(AF_UNIX, k % 4 == 1 ? SOCK_STREAM : SOCK_DGRAM, 0, v));
			CT_SYS(move_to(v[0], a, k % 3 == 0));
			CT_SYS(move_to(v[1], b, 0));
			snprintf(m, sizeof(m), "%d>", k);
			CT_EQ(send(a, m, sizeof(m), 0), sizeof(m));
			snprintf(m, sizeof(m), "<%d", k);
			CT_EQ(send(b, m, sizeof(m), 0), sizeof(m));
		}
		CT_SYS(add(a, k % 2 ? K_SOCK : K_PIPE, a, 0));
		CT_SYS(add(b, k % 2 ? K_SOCK : K_PIPE, b, 0));
	}
	return 0;
}

static int setup(void)
{
	int p[2], s[2];

	/* Only what this test makes, whatever the harness's caller left open. */
	CT_SYS(syscall(SYS_close_range, 3, ~0u, 0));
	if (setup_limit())
		return 1;
	/* The talk with the child, out of the way of the numbers below. */
	CT_SYS(pipe(ask));
	CT_SYS(pipe(answer));
	for (int i = 0; i < 2; i++) {
		CT_SYS(move_to(ask[i], lim - 300 + i, 1));
		CT_SYS(move_to(answer[i], lim - 298 + i, 1));
		ask[i] = lim - 300 + i;
		answer[i] = lim - 298 + i;
	}
	for (int i = 0; i < NEFD; i++) {
		int fl = (i % 7 ? 0 : EFD_SEMAPHORE) | (i % 5 ? 0 : EFD_NONBLOCK) |
			 (i % 3 ? 0 : EFD_CLOEXEC);
		int fd = eventfd(0, fl);
		uint64_t v = (uint64_t)i + 1;

		CT_EQ(fd, 3 + i);
		CT_EQ(write(fd, &v, sizeof(v)), sizeof(v));
		CT_SYS(add(fd, K_EFD, fd, v));
	}
	/* One pipe, data in it, O_NONBLOCK on its read end's description. */
	CT_SYS(pipe(p));
	CT_SYS(fcntl(p[0], F_SETFL, O_NONBLOCK));
	CT_EQ(write(p[1], pipe_data, sizeof(pipe_data)), sizeof(pipe_data));
	CT_SYS(add(p[0], K_PIPE, p[0], 0));
	CT_SYS(add(p[1], K_PIPE, p[1], 0));
	for (int k = 0; k < NDUP; k++) {
		for (int e = 0; e < 2; e++) {
			int fd = PIPE_AT + 2 * k + e;

			CT_EQ(dup3(p[e], fd, k % 2 ? O_CLOEXEC : 0), fd);
			CT_SYS(add(fd, K_PIPE, p[e], 0));
		}
	}
	for (int k = 0; k < NPAIR; k++) {
		int a = lim - 400 + 2 * k, b = a + 1;
		char m[16];

		CT_SYS(socketpair(AF_UNIX, k < NPAIR / 2 ? SOCK_STREAM : SOCK_DGRAM, 0, s));
		CT_SYS(move_to(s[0], a, k % 2));
		CT_SYS(move_to(s[1], b, 0));
		snprintf(m, sizeof(m), "%d>", k);
		CT_EQ(send(a, m, sizeof(m), 0), sizeof(m));
		snprintf(m, sizeof(m), "<%d", k);
		CT_EQ(send(b, m, sizeof(m), 0), sizeof(m));
		CT_SYS(add(a, K_SOCK, a, 0));
		CT_SYS(add(b, K_SOCK, b, 0));
		CT_EQ(dup3(a, lim - 128 + k, 0), lim - 128 + k);
		CT_SYS(add(lim - 128 + k, K_SOCK, a, 0));
	}
	/* Every anonymous-inode kind on the eventfds' one inode, each with a dup. */
	for (int k = 0; k < NANON; k++) {
		sigset_t set;
		int fd, at = ANON_AT + 3 * k;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1 + k % 2);
		CT_SYS(fd = signalfd(-1, &set, k % 2 ? SFD_CLOEXEC : 0));
		CT_SYS(move_to(fd, at, k % 2));
		CT_SYS(fd = timerfd_create(CLOCK_MONOTONIC, k % 2 ? TFD_NONBLOCK : 0));
		CT_SYS(move_to(fd, at + 1, 0));
		CT_SYS(fd = epoll_create1(k % 2 ? EPOLL_CLOEXEC : 0));
		CT_SYS(move_to(fd, at + 2, k % 2));
		for (int j = 0; j < 3; j++) {
			CT_SYS(add(at + j, K_ANON, at + j, 0));
			CT_EQ(dup3(at + j, at + j + 100, j == 1 ? O_CLOEXEC : 0), at + j + 100);
			CT_SYS(add(at + j + 100, K_ANON, at + j, 0));
		}
	}
	if (setup_many())
		return 1;
	/* The highest: eventfds shared with the low numbers. */
	for (int k = 0; k < NTOP; k++) {
		int fd = lim - 64 - NTOP + 1 + k, e = 3 + k * 97;

		CT_EQ(dup3(e, fd, k % 2 ? O_CLOEXEC : 0), fd);
		CT_SYS(add(fd, K_EFD, e, w[at_fd[e]].val));
	}
	child = fork();
	CT_SYS(child);
	if (child == 0)
		child_main();
	CT_SYS(close(ask[0]));
	CT_SYS(close(answer[1]));
	CT_SYS(add(ask[1], K_TALK, ask[1], 0));
	CT_SYS(add(answer[0], K_TALK, answer[0], 0));
	return 0;
}

/* kcmp(KCMP_FILE) of descriptor a of this process and b of process pb. */
static long kcmp_with(int a, pid_t pb, int b)
{
	return syscall(SYS_kcmp, getpid(), pb, KCMP_FILE, a, b);
}

/* A number from /proc/PID/fdinfo/FD of another process. */
static int fdinfo_of(pid_t pid, int fd, const char *key, int base, uint64_t *v)
{
	char path[64], buf[1024], line[256];

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	if (ct_read_text(path, buf, sizeof(buf)) < 0 || ct_line(buf, key, line, sizeof(line)) < 0)
		return -1;
	*v = strtoull(line + strlen(key) + 1, NULL, base);
	return 0;
}

/* The descriptors pid has, as a set over 0 ... lim - 1; -1 if one is beyond. */
static int list_fds(pid_t pid, char *have)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	memset(have, 0, (size_t)lim);
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (de->d_name[0] == '.' || *end || (pid == getpid() && fd == dirfd(d)))
			continue;
		if (fd < 0 || fd >= lim) {
			closedir(d);
			return -1;
		}
		have[fd] = 1;
		n++;
	}
	closedir(d);
	return n;
}

static int check_parent(char *have)
{
	struct rlimit rl;

	CT_SYS(getrlimit(RLIMIT_NOFILE, &rl));
	CT_EQ(rl.rlim_cur, lim);
	/* Exactly the descriptors it had: stdio and the ones set up. */
	CT_EQ(list_fds(getpid(), have), nw + 3);
	for (int fd = 0; fd < 3; fd++)
		CT_TRUE(have[fd]);
	for (int i = 0; i < nw; i++) {
		const struct want *x = &w[i];
		uint64_t v;

		if (!have[x->fd])
			CT_FAIL("descriptor %d is gone", x->fd);
		CT_EQ(fcntl(x->fd, F_GETFL), x->fl);
		CT_EQ(fcntl(x->fd, F_GETFD), x->cloexec);
		if (x->first != x->fd && ct_kcmp_file(x->fd, x->first) != 0)
			CT_FAIL("descriptor %d no longer shares %d's description", x->fd, x->first);
		if (x->kind != K_EFD)
			continue;
		/* Values are distinct: one per counter, and no two counters merged. */
		CT_SYS(ct_fdinfo_u64(x->fd, "eventfd-count", 16, &v));
		CT_EQ(v, x->val);
		CT_SYS(ct_fdinfo_u64(x->fd, "eventfd-semaphore", 10, &v));
		CT_EQ(v, (x->val - 1) % 7 == 0);
	}
	/* One inode, yet as many descriptions as were made. */
	for (int at = ANON_AT; at < ANON_AT + 3 * NANON; at++) {
		int other[2] = {at + 1, 3 + at % NEFD}; /* the next one, an eventfd */

		for (int k = 0; k < 2; k++)
			if (other[k] < ANON_AT + 3 * NANON && ct_kcmp_file(at, other[k]) == 0)
				CT_FAIL("descriptors %d and %d share a description", at, other[k]);
	}
	/* The two ends are two descriptions of one pipe, not four. */
	CT_TRUE(ct_kcmp_file(3 + NEFD, 4 + NEFD) != 0);
	CT_TRUE(ct_kcmp_file(3 + NEFD, PIPE_AT + 1) != 0);
	return 0;
}

/* Each of the many holds its message, and a new one goes through. */
static int check_many(void)
{
	for (int k = 0; k < nmany; k++) {
		int a = MANY_AT + 2 * k, b = a + 1;
		char m[16], want[16];

		if (k % 2 == 0) {
			snprintf(want, sizeof(want), "p%d", k);
			CT_EQ(read(a, m, sizeof(m)), sizeof(m));
			CT_STREQ(m, want);
			CT_EQ(write(b, "x", 1), 1);
			CT_EQ(read(a, m, sizeof(m)), 1);
			continue;
		}
		snprintf(want, sizeof(want), "%d>", k);
		CT_EQ(recv(b, m, sizeof(m), MSG_DONTWAIT), sizeof(m));
		CT_STREQ(m, want);
		snprintf(want, sizeof(want), "<%d", k);
		CT_EQ(recv(a, m, sizeof(m), MSG_DONTWAIT), sizeof(m));
		CT_STREQ(m, want);
		CT_EQ(send(a, "again", 6, 0), 6);
		CT_EQ(recv(b, m, sizeof(m), MSG_DONTWAIT), 6);
		CT_EQ(recv(a, m, sizeof(m), MSG_DONTWAIT), -1);
		CT_EQ(errno, EAGAIN);
	}
	return 0;
}

static int check_io(void)
{
	char buf[64];
	int r = PIPE_AT + 2 * (NDUP - 1), wr = PIPE_AT + 1;

	/* The data in the pipe through the last read dup, then a write through a dup. */
	CT_EQ(read(r, buf, sizeof(buf)), sizeof(pipe_data));
	CT_MEMEQ(buf, pipe_data, sizeof(pipe_data));
	CT_EQ(read(3 + NEFD, buf, sizeof(buf)), -1);
	CT_EQ(errno, EAGAIN);
	CT_EQ(write(wr, "x", 1), 1);
	CT_EQ(read(3 + NEFD, buf, sizeof(buf)), 1);
	for (int k = 0; k < NPAIR; k++) {
		int a = lim - 400 + 2 * k, b = a + 1, ad = lim - 128 + k;
		char m[16], want[16];

		snprintf(want, sizeof(want), "%d>", k);
		CT_EQ(recv(b, m, sizeof(m), MSG_DONTWAIT), sizeof(m));
		CT_STREQ(m, want);
		snprintf(want, sizeof(want), "<%d", k);
		CT_EQ(recv(ad, m, sizeof(m), MSG_DONTWAIT), sizeof(m));
		CT_STREQ(m, want);
		CT_EQ(send(ad, "again", 6, 0), 6);
		CT_EQ(recv(b, m, sizeof(m), MSG_DONTWAIT), 6);
		CT_EQ(recv(a, m, sizeof(m), MSG_DONTWAIT), -1);
		CT_EQ(errno, EAGAIN);
	}
	return check_many();
}

/* The child's table, from here: /proc and kcmp between the two processes. */
static int check_child(char *have)
{
	struct pollfd pfd = {answer[0], POLLIN, 0};

	CT_EQ(write(ask[1], "?", 1), 1);
	CT_EQ(poll(&pfd, 1, 10000), 1);
	CT_EQ(read(answer[0], &cpid, sizeof(cpid)), sizeof(cpid));
	CT_EQ(list_fds(cpid, have), 3 + NEFD + 2);
	CT_TRUE(have[0] && have[1] && have[2] && have[lim - 300] && have[lim - 297]);
	for (int fd = 3; fd < 3 + NEFD; fd++) {
		int j = fd - 3, mine = j < NREV ? 3 + NREV - 1 - j : fd;
		int cloexec = j < NREV ? (NREV - 1 - j) % 2 : j % 3 == 0;
		uint64_t fl;

		if (!have[fd])
			CT_FAIL("the child's descriptor %d is gone", fd);
		if (kcmp_with(mine, cpid, fd) != 0)
			CT_FAIL("the child's descriptor %d is not the parent's %d", fd, mine);
		CT_SYS(fdinfo_of(cpid, fd, "flags", 8, &fl));
		CT_EQ((fl & O_CLOEXEC) != 0, cloexec);
	}
	return 0;
}

static int check_end(void)
{
	int st;

	CT_SYS(close(ask[1]));
	for (int i = 0; waitpid(cpid, &st, WNOHANG) == 0; i++) {
		if (i == 10000)
			CT_FAIL("the child did not end within 10 s");
		usleep(1000);
	}
	CT_TRUE(WIFEXITED(st));
	CT_EQ(WEXITSTATUS(st), 0);
	return 0;
}

static int check(void)
{
	char *have = malloc((size_t)lim);
	int rc;

	CT_TRUE(have);
	rc = check_parent(have);
	if (rc == 0)
		rc = check_child(have);
	if (rc == 0)
		rc = check_io();
	if (rc == 0)
		rc = check_end();
	free(have);
	return rc;
}

CT_MAIN(setup, check)
