/* A forking server on a unix socket: the parent binds and listens on a path, accepts
 * one connection itself and then forks three workers, who share the listener and that
 * connection with it (inherited: one open file each) and all block in accept(). Run
 * with the harness's -T.
 *
 * At the checkpoint: the connection the parent accepted has data queued both ways;
 * four more connections (the parent is their client) are held by the workers that
 * accepted them, each with the worker's reply queued for the client and the client's
 * request queued for the worker, whose header the worker has read (a message it has
 * read in part); a second listener, shared too but where nobody accepts, has a
 * connection waiting in its backlog; every worker is asleep in accept().
 *
 * After GO: the listeners and the parent's connection are one open file each in the
 * parent and every worker (kcmp); the listeners listen at their names. Three new
 * clients connect one after the other, each kept by the worker that accepts it until
 * all three are served: so every worker, blocked in accept() when saved, serves one.
 * Each worker reads what is queued on the connections it holds and answers on them;
 * the first also accepts the connection waiting at the second listener, which has
 * sent its request since. Every byte queued at the checkpoint arrives once, and
 * nothing else. Then the workers are told to end, one by one, and are waited for.
 * Every wait is bounded by poll; the workers are found as the parent's children, so
 * the test also runs at new pids. */
#include "ct.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NWORK 3
#define NHOLD 4
#define WAIT_MS 10000

#define REQ0 20000 /* the parent's own connection: client -> server */
#define REP0 12000 /* server -> client */
#define HOLD_REQ(k) (9000u + 3001u * (k))
#define HOLD_REP(k) (7000u + 2003u * (k))
#define ADMIN_REQ 3000
#define ADMIN_REP 5000

enum { HOLD = 1, CHECK, QUIT };
#define CHECK_ADMIN 1 /* CHECK: also serve the connection waiting at the admin listener */
#define ACK(k) (0xac000000u | (k))

struct hdr {
	uint32_t cmd, arg;
};

/* A worker's answer to CHECK. */
struct report {
	uint32_t idx, nheld;
	char why[120];
};

static int lfd, afd; /* the listeners: the server's, the admin one */
static int s0, k0;   /* the parent's own connection: its server and client ends */
static int h[NHOLD]; /* client ends of the connections the workers hold */
static int adm;      /* client end of the connection waiting at the admin listener */
static pid_t workers[NWORK];
static struct sockaddr_un laddr, aaddr;
static socklen_t llen, alen;

static uint8_t pattern(size_t i, unsigned int salt)
{
	return (uint8_t)((i * 2654435761u >> 7) ^ (salt * 37u));
}

static int put_hdr_and(int fd, uint32_t cmd, uint32_t arg, size_t n, unsigned int salt)
{
	static uint8_t buf[sizeof(struct hdr) + 65536];
	struct hdr hd = {cmd, arg};

	if (n > sizeof(buf) - sizeof(hd))
		return -1;
	memcpy(buf, &hd, sizeof(hd));
	for (size_t i = 0; i < n; i++)
		buf[sizeof(hd) + i] = pattern(i, salt);
	/* One write: one message in the queue, of which the reader takes the header. */
	return write(fd, buf, sizeof(hd) + n) == (ssize_t)(sizeof(hd) + n) ? 0 : -1;
}

static int put(int fd, size_t n, unsigned int salt)
{
	static uint8_t buf[65536];

	if (n > sizeof(buf))
		return -1;
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern(i, salt);
	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

/* Exactly n bytes, waiting at most WAIT_MS for them: 0, or -1. */
static int get_full(int fd, void *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pf = {fd, POLLIN, 0};
		ssize_t k;

		if (poll(&pf, 1, WAIT_MS) != 1)
			return -1;
		k = recv(fd, (uint8_t *)p + got, n - got, MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

/* n bytes of the pattern, there already: NULL, or what is wrong. */
static const char *get(int fd, size_t n, unsigned int salt)
{
	static uint8_t buf[65536];
	size_t got = 0;

	if (n > sizeof(buf))
		return "too much to read";
	while (got < n) {
		ssize_t k = recv(fd, buf + got, n - got, MSG_DONTWAIT);

		if (k <= 0)
			return "data missing";
		got += (size_t)k;
	}
	for (size_t i = 0; i < n; i++)
		if (buf[i] != pattern(i, salt))
			return "data differs";
	return NULL;
}

/* Nothing more to read now. */
static bool drained(int fd)
{
	char b;

	return recv(fd, &b, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN;
}

/* Does getsockname or getpeername give fd that name? */
static bool named(int fd, int (*get_name)(int, struct sockaddr *, socklen_t *),
		  const struct sockaddr_un *want, socklen_t len)
{
	struct sockaddr_un a;
	socklen_t al = sizeof(a);

	return get_name(fd, (struct sockaddr *)&a, &al) == 0 && al == len && !memcmp(&a, want, len);
}

static socklen_t path_addr(struct sockaddr_un *a, const char *name)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof(a->sun_path), "%s/%s", ct_dir(), name);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

static int dial(const struct sockaddr_un *a, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd >= 0 && connect(fd, (const struct sockaddr *)a, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* ---- a worker ---- */

struct held {
	int fd;
	uint32_t k;
};

/* What is queued on every connection it holds, then the admin one: NULL or why not. */
static const char *serve_check(struct held *held, int nheld, uint32_t flags)
{
	static char why[120];
	const char *w = NULL;
	struct pollfd pf = {afd, POLLIN, 0};
	int c;

	for (int i = 0; i < nheld; i++) {
		uint32_t ack = ACK(held[i].k);

		if ((w = get(held[i].fd, HOLD_REQ(held[i].k), 200 + held[i].k))) {
			snprintf(why, sizeof(why), "held connection %u: %s", held[i].k, w);
			return why;
		}
		if (!drained(held[i].fd)) {
			snprintf(why, sizeof(why), "held connection %u: more data than sent",
				 held[i].k);
			return why;
		}
		if (!named(held[i].fd, getsockname, &laddr, llen))
			return "a held connection does not bear the listener's name";
		if (write(held[i].fd, &ack, sizeof(ack)) != sizeof(ack))
			return "cannot answer on a held connection";
	}
	if (!(flags & CHECK_ADMIN))
		return NULL;
	/* The connection that waited at the admin listener, its request sent since. */
	if (poll(&pf, 1, WAIT_MS) != 1)
		return "nothing waits at the admin listener";
	c = accept4(afd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return "cannot accept at the admin listener";
	{
		uint8_t b[ADMIN_REQ];

		if (get_full(c, b, sizeof(b)) < 0)
			w = "admin request missing";
		for (size_t i = 0; !w && i < sizeof(b); i++)
			if (b[i] != pattern(i, 300))
				w = "admin request differs";
	}
	if (!w && !drained(c))
		w = "admin connection: more data than sent";
	if (!w && put(c, ADMIN_REP, 301) < 0)
		w = "cannot answer the admin connection";
	close(c);
	return w;
}

static void __attribute__((noreturn)) worker_main(uint32_t idx)
{
	struct held held[NHOLD];
	int nheld = 0;

	/* A server's worker: the client's end is not its own. */
	close(k0);
	for (;;) {
		struct report rep = {idx, 0, "ok"};
		struct hdr hd;
		const char *why;
		char bye;
		int c = accept(lfd, NULL, NULL);

		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0)
			_exit(90);
		if (get_full(c, &hd, sizeof(hd)) < 0)
			_exit(91);
		switch (hd.cmd) {
		case HOLD:
			/* The reply goes at once; the rest of the request waits. */
			if (nheld == NHOLD || hd.arg >= NHOLD ||
			    put(c, HOLD_REP(hd.arg), 100 + hd.arg))
				_exit(92);
			held[nheld++] = (struct held){c, hd.arg};
			break;
		case CHECK:
			why = serve_check(held, nheld, hd.arg);
			rep.nheld = (uint32_t)nheld;
			if (why)
				snprintf(rep.why, sizeof(rep.why), "worker %u: %s", idx, why);
			if (write(c, &rep, sizeof(rep)) != sizeof(rep))
				_exit(93);
			/* Busy until the client lets go: the next one goes to another. */
			if (read(c, &bye, 1) < 0)
				_exit(94);
			close(c);
			break;
		case QUIT:
			_exit(0);
		default:
			_exit(95);
		}
	}
}

/* ---- the parent ---- */

/* The system call a process sleeps in (/proc/PID/syscall), or -1. */
static long sleeping_in(pid_t pid)
{
	char path[64], buf[256];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && sscanf(buf, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	return nr;
}

static bool in_accept(pid_t pid)
{
	long nr = sleeping_in(pid);

	return nr == SYS_accept || nr == SYS_accept4;
}

static int wait_ms(bool (*done)(int), int arg)
{
	for (int i = 0; i < WAIT_MS; i++) {
		if (done(arg))
			return 0;
		usleep(1000);
	}
	return -1;
}

static bool worker_in_accept(int i)
{
	return in_accept(workers[i]);
}

static bool hold_answered(int k)
{
	int n = 0;

	return ioctl(h[k], FIONREAD, &n) == 0 && n == (int)HOLD_REP((uint32_t)k);
}

static int setup(void)
{
	llen = path_addr(&laddr, "server.sock");
	alen = path_addr(&aaddr, "admin.sock");
	CT_SYS(lfd = socket(AF_UNIX, SOCK_STREAM, 0));
	CT_SYS(bind(lfd, (struct sockaddr *)&laddr, llen));
	CT_SYS(listen(lfd, 16));
	CT_SYS(afd = socket(AF_UNIX, SOCK_STREAM, 0));
	CT_SYS(bind(afd, (struct sockaddr *)&aaddr, alen));
	CT_SYS(listen(afd, 4));
	/* A connection the parent accepts itself, as a forking server does before it
	 * hands it to a child: every worker inherits it. */
	CT_SYS(k0 = dial(&laddr, llen));
	CT_SYS(s0 = accept(lfd, NULL, NULL));
	CT_EQ(put(k0, REQ0, 10), 0);
	CT_EQ(put(s0, REP0, 11), 0);
	for (uint32_t i = 0; i < NWORK; i++) {
		workers[i] = fork();
		CT_SYS(workers[i]);
		if (workers[i] == 0)
			worker_main(i);
	}
	for (int i = 0; i < NWORK; i++)
		if (wait_ms(worker_in_accept, i) < 0)
			CT_FAIL("worker %d (pid %d) is not in accept()", i, workers[i]);
	for (uint32_t k = 0; k < NHOLD; k++) {
		CT_SYS(h[k] = dial(&laddr, llen));
		CT_EQ(put_hdr_and(h[k], HOLD, k, HOLD_REQ(k), 200 + k), 0);
		if (wait_ms(hold_answered, (int)k) < 0)
			CT_FAIL("held connection %u: no reply from a worker", k);
	}
	/* Nobody accepts here before the checkpoint. (A waiting connection cannot
	 * carry data yet: it could not be read without accepting it.) */
	CT_SYS(adm = dial(&aaddr, alen));
	for (int i = 0; i < NWORK; i++)
		if (wait_ms(worker_in_accept, i) < 0)
			CT_FAIL("worker %d (pid %d) is not back in accept()", i, workers[i]);
	return 0;
}

/* The parent's children, as it sees them now (new pids after --no-restore-pid). */
static int find_workers(pid_t me, pid_t *w)
{
	char path[64];
	long pid;
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", me, me);
	f = fopen(path, "r");
	if (!f)
		return -1;
	for (; fscanf(f, "%ld", &pid) == 1; n++)
		if (n < NWORK)
			w[n] = (pid_t)pid;
	fclose(f);
	return n;
}

static int check_name(int fd, const struct sockaddr_un *want, socklen_t len)
{
	struct sockaddr_un a;
	socklen_t al = sizeof(a);
	struct stat st;
	int v = 0;
	socklen_t vl = sizeof(v);

	CT_SYS(getsockname(fd, (struct sockaddr *)&a, &al));
	CT_EQ(al, len);
	CT_MEMEQ(&a, want, len);
	CT_SYS(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl));
	CT_EQ(v, 1);
	CT_SYS(stat(want->sun_path, &st));
	CT_TRUE(S_ISSOCK(st.st_mode));
	return 0;
}

static int reap(pid_t pid)
{
	for (int i = 0; i < WAIT_MS; i++) {
		int st;
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				CT_FAIL("worker %d ended with status %#x", pid, st);
			return 0;
		}
		CT_SYS(r);
		usleep(1000);
	}
	CT_FAIL("worker %d did not end", pid);
}

static int check(void)
{
	pid_t me = getpid(), w[NWORK];
	struct report rep[NWORK];
	int q[NWORK], served = 0;
	uint32_t nheld = 0;
	const char *why;

	CT_EQ(find_workers(me, w), NWORK);
	/* One listener, one admin listener, one accepted connection for all. */
	for (int i = 0; i < NWORK; i++) {
		CT_EQ(syscall(SYS_kcmp, me, w[i], KCMP_FILE, lfd, lfd), 0);
		CT_EQ(syscall(SYS_kcmp, me, w[i], KCMP_FILE, afd, afd), 0);
		CT_EQ(syscall(SYS_kcmp, me, w[i], KCMP_FILE, s0, s0), 0);
	}
	if (check_name(lfd, &laddr, llen) || check_name(afd, &aaddr, alen))
		return 1;
	/* The parent's own connection: each way, what was queued, once. */
	if ((why = get(s0, REQ0, 10)) || (why = get(k0, REP0, 11)))
		CT_FAIL("the parent's connection: %s", why);
	CT_TRUE(drained(s0) && drained(k0));
	CT_TRUE(named(s0, getsockname, &laddr, llen));
	CT_TRUE(named(k0, getpeername, &laddr, llen));
	CT_TRUE(named(adm, getpeername, &aaddr, alen));
	/* The waiting client sends its request now; the first worker serves it. */
	CT_EQ(put(adm, ADMIN_REQ, 300), 0);
	for (int i = 0; i < NWORK; i++) {
		struct hdr hd = {CHECK, i == 0 ? CHECK_ADMIN : 0};

		CT_SYS(q[i] = dial(&laddr, llen));
		CT_EQ(write(q[i], &hd, sizeof(hd)), sizeof(hd));
		if (get_full(q[i], &rep[i], sizeof(rep[i])) < 0)
			CT_FAIL("new client %d: no answer from a worker", i);
		rep[i].why[sizeof(rep[i].why) - 1] = '\0';
		if (strcmp(rep[i].why, "ok"))
			CT_FAIL("new client %d: %s", i, rep[i].why);
		CT_TRUE(rep[i].idx < NWORK && !(served & (1 << rep[i].idx)));
		served |= 1 << rep[i].idx;
		nheld += rep[i].nheld;
	}
	CT_EQ(nheld, NHOLD);
	/* Each held connection: the reply queued at the checkpoint, then the answer to
	 * the request that waited, and nothing else. */
	for (uint32_t k = 0; k < NHOLD; k++) {
		uint32_t ack = 0;

		if ((why = get(h[k], HOLD_REP(k), 100 + k)))
			CT_FAIL("held connection %u: %s", k, why);
		if (get_full(h[k], &ack, sizeof(ack)) < 0)
			CT_FAIL("held connection %u: no answer", k);
		CT_EQ(ack, ACK(k));
		CT_TRUE(drained(h[k]));
		CT_TRUE(named(h[k], getpeername, &laddr, llen));
	}
	{
		uint8_t b[ADMIN_REP], e;

		if (get_full(adm, b, sizeof(b)) < 0)
			CT_FAIL("the admin connection: no answer");
		for (size_t i = 0; i < sizeof(b); i++)
			if (b[i] != pattern(i, 301))
				CT_FAIL("the admin connection: answer differs at %zu", i);
		CT_EQ(get_full(adm, &e, 1), -1); /* closed after its answer */
	}
	for (int i = 0; i < NWORK; i++) {
		CT_EQ(write(q[i], "b", 1), 1);
		close(q[i]);
	}
	/* One QUIT per worker: each ends at the first it accepts. */
	for (int i = 0; i < NWORK; i++) {
		struct hdr hd = {QUIT, 0};
		char e;
		int c;

		CT_SYS(c = dial(&laddr, llen));
		CT_EQ(write(c, &hd, sizeof(hd)), sizeof(hd));
		CT_EQ(get_full(c, &e, 1), -1); /* until the worker is gone */
		close(c);
	}
	for (int i = 0; i < NWORK; i++)
		if (reap(w[i]))
			return 1;
	return 0;
}

CT_MAIN(setup, check)
