/* Unix sockets inside the process: stream, datagram and seqpacket socketpairs with
 * messages queued both ways (zero-length ones too, and one larger than a peek); a
 * listener on a relative path (mode 0640, SO_PASSCRED) with a connection accepted and
 * two waiting, and a seqpacket listener on an abstract name with one accepted and one
 * waiting; a datagram socket on a path holding datagrams from five senders (named by
 * an abstract name, by a path, unnamed, and two that have closed since, one of whose
 * socket file stays), and a datagram socket connected to it; a stream socket shut down
 * for writing with data in flight; one whose peer closed after sending; one bound to
 * a path whose file was removed; a peek offset, buffer sizes, a receive timeout and
 * low-water mark, O_NONBLOCK and close-on-exec; a dup()ed end.
 *
 * check() reads every byte, boundary and sender name back in order, compares every
 * name, peer name, option and flag, accepts the waiting connections in their order,
 * sees each listener's backlog still hold exactly as many more, and sends both ways on
 * every connection. No pid is compared: it runs at a new pid too. */
#include "ct.h"

#include <fcntl.h>
#include <stdbool.h>
#include <linux/kcmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BIG (1 << 17)

/* A socket and what it was at the checkpoint. */
struct sk {
	const char *what;
	int fd;
	int type;
	struct sockaddr_un name, peer;
	socklen_t namelen, peerlen;
	int fl, fdfl;
	int rcvbuf, sndbuf, passcred, peek_off, rcvlowat;
	struct timeval rcvtimeo;
};

/* clang-format off */
enum {
	S_STREAM0, S_STREAM1, S_DGRAM0, S_DGRAM1, S_SEQ0, S_SEQ1, /* socketpairs */
	S_SHUT0, S_SHUT1,                                       /* shut down for writing */
	S_GONE,                                                  /* its peer closed */
	S_L1, S_C1, S_A1, S_P1, S_P2,                            /* path listener */
	S_L2, S_C2, S_A2, S_P3,                                  /* abstract seqpacket */
	S_R, S_SABS, S_SPATH, S_SUN, S_CONN,                     /* datagram server */
	S_UNLINKED,
	NSK
};
/* clang-format on */

static struct sk sk[NSK];
static int dupfd;
static char tag[64];
static char rpath[300], spath[300], gpath[300], upath[300];

static uint8_t pattern(size_t i, int salt)
{
	return (uint8_t)((i * 2654435761u >> 7) ^ (unsigned)(salt * 37));
}

static void fill(uint8_t *b, size_t n, int salt)
{
	for (size_t i = 0; i < n; i++)
		b[i] = pattern(i, salt);
}

static socklen_t path(struct sockaddr_un *a, const char *p)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", p);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(p) + 1);
}

static int opt(int fd, int name)
{
	int v = -7;
	socklen_t l = sizeof(v);

	return getsockopt(fd, SOL_SOCKET, name, &v, &l) < 0 ? -7 : v;
}

static int note(struct sk *s)
{
	socklen_t l = sizeof(s->rcvtimeo);

	s->namelen = sizeof(s->name);
	CT_SYS(getsockname(s->fd, (struct sockaddr *)&s->name, &s->namelen));
	s->peerlen = sizeof(s->peer);
	if (getpeername(s->fd, (struct sockaddr *)&s->peer, &s->peerlen) < 0) {
		CT_EQ(errno, ENOTCONN);
		s->peerlen = 0;
	}
	CT_SYS(s->fl = fcntl(s->fd, F_GETFL));
	CT_SYS(s->fdfl = fcntl(s->fd, F_GETFD));
	s->type = opt(s->fd, SO_TYPE);
	s->rcvbuf = opt(s->fd, SO_RCVBUF);
	s->sndbuf = opt(s->fd, SO_SNDBUF);
	s->passcred = opt(s->fd, SO_PASSCRED);
	s->peek_off = opt(s->fd, SO_PEEK_OFF);
	s->rcvlowat = opt(s->fd, SO_RCVLOWAT);
	CT_SYS(getsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &s->rcvtimeo, &l));
	return 0;
}

static int verify(const struct sk *s)
{
	struct sockaddr_un a;
	socklen_t l = sizeof(a);
	struct timeval tv;

	if (getsockname(s->fd, (struct sockaddr *)&a, &l) < 0)
		CT_FAIL("%s: getsockname: %s", s->what, strerror(errno));
	if (l != s->namelen || memcmp(&a, &s->name, l))
		CT_FAIL("%s: its name changed (length %u, was %u)", s->what, l, s->namelen);
	l = sizeof(a);
	if (getpeername(s->fd, (struct sockaddr *)&a, &l) < 0) {
		if (s->peerlen)
			CT_FAIL("%s: getpeername: %s", s->what, strerror(errno));
	} else if (l != s->peerlen || memcmp(&a, &s->peer, l)) {
		CT_FAIL("%s: its peer's name changed (length %u, was %u)", s->what, l, s->peerlen);
	}
	if (fcntl(s->fd, F_GETFL) != s->fl || fcntl(s->fd, F_GETFD) != s->fdfl)
		CT_FAIL("%s: flags %#x/%d, were %#x/%d", s->what, fcntl(s->fd, F_GETFL),
			fcntl(s->fd, F_GETFD), s->fl, s->fdfl);
	if (opt(s->fd, SO_TYPE) != s->type || opt(s->fd, SO_RCVBUF) != s->rcvbuf ||
	    opt(s->fd, SO_SNDBUF) != s->sndbuf || opt(s->fd, SO_PASSCRED) != s->passcred ||
	    opt(s->fd, SO_PEEK_OFF) != s->peek_off || opt(s->fd, SO_RCVLOWAT) != s->rcvlowat)
		CT_FAIL("%s: options type %d rcvbuf %d sndbuf %d passcred %d peek_off %d lowat %d, "
			"were %d %d %d %d %d %d",
			s->what, opt(s->fd, SO_TYPE), opt(s->fd, SO_RCVBUF), opt(s->fd, SO_SNDBUF),
			opt(s->fd, SO_PASSCRED), opt(s->fd, SO_PEEK_OFF), opt(s->fd, SO_RCVLOWAT),
			s->type, s->rcvbuf, s->sndbuf, s->passcred, s->peek_off, s->rcvlowat);
	l = sizeof(tv);
	CT_SYS(getsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &l));
	CT_EQ(tv.tv_sec, s->rcvtimeo.tv_sec);
	CT_EQ(tv.tv_usec, s->rcvtimeo.tv_usec);
	return 0;
}

/* ---- what is queued where ---- */

static const uint32_t dg01[] = {0, 1, 0, 1000, 65000, 7}; /* datagrams, end 0 to end 1 */
static const uint32_t dg10[] = {300, 0};
static const uint32_t sq01[] = {5, 4000, 0, 70000}; /* seqpacket records */
static const uint32_t sq10[] = {12};
static const uint32_t l2c[] = {10, 20}, l2a[] = {3000}; /* on the abstract connection */
#define N(a) (sizeof(a) / sizeof((a)[0]))

#define STREAM01 20000
#define STREAM10 333
#define SHUT_LEN 500
#define GONE_LEN 77
#define REQ_LEN 1500
#define REPLY_LEN 2500
#define PEEK_OFF 100

/* The datagram server's queue: sender, text. */
/* clang-format off */
static const struct {
	int from; /* an index in sk, or -1/-2 for the two senders closed since */
	const char *text;
} dq[] = {
	{S_SABS, "one"},  {S_SPATH, "two"}, {S_SUN, "three"}, {-1, "four"},
	{-2, "five"},     {S_SABS, "six"},  {S_CONN, "seven"},
};
/* clang-format on */
static struct sockaddr_un gone_abs, gone_path;
static socklen_t gone_abs_len, gone_path_len;

static int send_msgs(int fd, const uint32_t *len, size_t n, int salt)
{
	static uint8_t buf[BIG];

	for (size_t i = 0; i < n; i++) {
		fill(buf, len[i], salt + (int)i);
		CT_EQ(send(fd, buf, len[i], 0), len[i]);
	}
	return 0;
}

static int send_bytes(int fd, size_t n, int salt)
{
	static uint8_t buf[BIG];

	fill(buf, n, salt);
	CT_EQ(write(fd, buf, n), n);
	return 0;
}

static int pair(int type, int a, int b)
{
	int sv[2];

	CT_SYS(socketpair(AF_UNIX, type, 0, sv));
	sk[a].fd = sv[0];
	sk[b].fd = sv[1];
	return 0;
}

static int sock(int type, int i)
{
	CT_SYS(sk[i].fd = socket(AF_UNIX, type, 0));
	return 0;
}

static int setup_pairs(void)
{
	int v;

	if (pair(SOCK_STREAM, S_STREAM0, S_STREAM1) || pair(SOCK_DGRAM, S_DGRAM0, S_DGRAM1) ||
	    pair(SOCK_SEQPACKET, S_SEQ0, S_SEQ1))
		return 1;
	if (send_bytes(sk[S_STREAM0].fd, STREAM01, 1) ||
	    send_bytes(sk[S_STREAM1].fd, STREAM10, 2) ||
	    send_msgs(sk[S_DGRAM0].fd, dg01, N(dg01), 10) ||
	    send_msgs(sk[S_DGRAM1].fd, dg10, N(dg10), 20) ||
	    send_msgs(sk[S_SEQ0].fd, sq01, N(sq01), 30) ||
	    send_msgs(sk[S_SEQ1].fd, sq10, N(sq10), 40))
		return 1;
	v = PEEK_OFF;
	CT_SYS(setsockopt(sk[S_STREAM1].fd, SOL_SOCKET, SO_PEEK_OFF, &v, sizeof(v)));
	CT_SYS(fcntl(sk[S_STREAM0].fd, F_SETFL, O_NONBLOCK));
	CT_SYS(fcntl(sk[S_SEQ1].fd, F_SETFD, FD_CLOEXEC));
	CT_SYS(dupfd = dup(sk[S_DGRAM1].fd));
	v = 10;
	CT_SYS(setsockopt(sk[S_STREAM0].fd, SOL_SOCKET, SO_RCVLOWAT, &v, sizeof(v)));

	/* Shut down for writing with data in flight; a peer that closed after sending. */
	if (pair(SOCK_STREAM, S_SHUT0, S_SHUT1) || send_bytes(sk[S_SHUT0].fd, SHUT_LEN, 3))
		return 1;
	CT_SYS(shutdown(sk[S_SHUT0].fd, SHUT_WR));
	{
		int sv[2];

		CT_SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
		if (send_bytes(sv[1], GONE_LEN, 4))
			return 1;
		close(sv[1]);
		sk[S_GONE].fd = sv[0];
	}
	return 0;
}

static int connect_to(int fd, const struct sockaddr_un *a, socklen_t l)
{
	CT_SYS(connect(fd, (const struct sockaddr *)a, l));
	return 0;
}

static int setup_listeners(void)
{
	struct sockaddr_un a, b;
	socklen_t al, bl;
	int one = 1;

	/* A relative path name, from the test's directory. */
	al = path(&a, "srv.sock");
	if (sock(SOCK_STREAM, S_L1) || sock(SOCK_STREAM, S_C1) || sock(SOCK_STREAM, S_P1) ||
	    sock(SOCK_STREAM, S_P2))
		return 1;
	CT_SYS(bind(sk[S_L1].fd, (struct sockaddr *)&a, al));
	CT_SYS(chmod("srv.sock", 0640));
	CT_SYS(listen(sk[S_L1].fd, 4));
	if (connect_to(sk[S_C1].fd, &a, al))
		return 1;
	CT_SYS(sk[S_A1].fd = accept(sk[S_L1].fd, NULL, NULL));
	CT_SYS(setsockopt(sk[S_L1].fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)));
	bl = ct_abstract(&b, tag, "p1");
	CT_SYS(bind(sk[S_P1].fd, (struct sockaddr *)&b, bl));
	bl = ct_abstract(&b, tag, "p2");
	CT_SYS(bind(sk[S_P2].fd, (struct sockaddr *)&b, bl));
	if (connect_to(sk[S_P1].fd, &a, al) || connect_to(sk[S_P2].fd, &a, al))
		return 1;
	if (send_bytes(sk[S_C1].fd, REQ_LEN, 5) || send_bytes(sk[S_A1].fd, REPLY_LEN, 6))
		return 1;
	CT_SYS(fcntl(sk[S_L1].fd, F_SETFL, O_NONBLOCK));
	CT_SYS(fcntl(sk[S_A1].fd, F_SETFL, O_NONBLOCK));

	/* Seqpacket, on an abstract name. */
	al = ct_abstract(&a, tag, "L2");
	if (sock(SOCK_SEQPACKET, S_L2) || sock(SOCK_SEQPACKET, S_C2) || sock(SOCK_SEQPACKET, S_P3))
		return 1;
	CT_SYS(bind(sk[S_L2].fd, (struct sockaddr *)&a, al));
	CT_SYS(listen(sk[S_L2].fd, 2));
	if (connect_to(sk[S_C2].fd, &a, al))
		return 1;
	CT_SYS(sk[S_A2].fd = accept4(sk[S_L2].fd, NULL, NULL, SOCK_CLOEXEC));
	if (connect_to(sk[S_P3].fd, &a, al))
		return 1;
	if (send_msgs(sk[S_C2].fd, l2c, N(l2c), 50) || send_msgs(sk[S_A2].fd, l2a, N(l2a), 60))
		return 1;
	return 0;
}

static int setup_dgram(void)
{
	struct sockaddr_un a;
	socklen_t al, rl;
	struct sockaddr_un r;
	struct timeval tv = {3, 250000};
	int g1, g2, v;

	snprintf(rpath, sizeof(rpath), "%s/dgram.sock", ct_dir());
	snprintf(spath, sizeof(spath), "%s/sender.sock", ct_dir());
	snprintf(gpath, sizeof(gpath), "%s/gone.sock", ct_dir());
	snprintf(upath, sizeof(upath), "%s/unlinked.sock", ct_dir());
	if (strlen(upath) >= sizeof(a.sun_path))
		CT_FAIL("test directory name too long for socket names");
	if (sock(SOCK_DGRAM, S_R) || sock(SOCK_DGRAM, S_SABS) || sock(SOCK_DGRAM, S_SPATH) ||
	    sock(SOCK_DGRAM, S_SUN) || sock(SOCK_DGRAM, S_CONN) || sock(SOCK_DGRAM, S_UNLINKED))
		return 1;
	rl = path(&r, rpath);
	CT_SYS(bind(sk[S_R].fd, (struct sockaddr *)&r, rl));
	al = ct_abstract(&a, tag, "s1");
	CT_SYS(bind(sk[S_SABS].fd, (struct sockaddr *)&a, al));
	al = path(&a, spath);
	CT_SYS(bind(sk[S_SPATH].fd, (struct sockaddr *)&a, al));
	CT_SYS(g1 = socket(AF_UNIX, SOCK_DGRAM, 0));
	CT_SYS(g2 = socket(AF_UNIX, SOCK_DGRAM, 0));
	gone_abs_len = ct_abstract(&gone_abs, tag, "gone");
	CT_SYS(bind(g1, (struct sockaddr *)&gone_abs, gone_abs_len));
	gone_path_len = path(&gone_path, gpath);
	CT_SYS(bind(g2, (struct sockaddr *)&gone_path, gone_path_len));
	if (connect_to(sk[S_CONN].fd, &r, rl))
		return 1;
	for (size_t i = 0; i < N(dq); i++) {
		int fd = dq[i].from == -1 ? g1 : dq[i].from == -2 ? g2 : sk[dq[i].from].fd;
		size_t n = strlen(dq[i].text);

		if (dq[i].from == S_CONN)
			CT_EQ(send(fd, dq[i].text, n, 0), n);
		else
			CT_EQ(sendto(fd, dq[i].text, n, 0, (struct sockaddr *)&r, rl), n);
	}
	close(g1);
	close(g2); /* gone.sock stays, a stale file */
	v = 100000;
	CT_SYS(setsockopt(sk[S_R].fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)));
	v = 50000;
	CT_SYS(setsockopt(sk[S_SPATH].fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)));
	CT_SYS(setsockopt(sk[S_R].fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	CT_SYS(fcntl(sk[S_R].fd, F_SETFL, O_NONBLOCK));

	/* Bound to a path whose file is removed since. */
	al = path(&a, upath);
	CT_SYS(bind(sk[S_UNLINKED].fd, (struct sockaddr *)&a, al));
	CT_SYS(unlink(upath));
	return 0;
}

static const char *const names[NSK] = {
    "stream end 0",          "stream end 1",    "datagram end 0",     "datagram end 1",
    "seqpacket end 0",       "seqpacket end 1", "shut-down end",      "end shut down to",
    "end whose peer closed", "path listener",   "its client",         "its accepted end",
    "first waiting",         "second waiting",  "seqpacket listener", "its client",
    "its accepted end",      "its waiting one", "datagram server",    "abstract sender",
    "path sender",           "unnamed sender",  "connected sender",   "unlinked",
};

static int setup(void)
{
	snprintf(tag, sizeof(tag), "crest-fd_unix-%d-%ld", (int)getpid(), (long)time(NULL));
	if (setup_pairs() || setup_listeners() || setup_dgram())
		return 1;
	for (int i = 0; i < NSK; i++) {
		sk[i].what = names[i];
		if (note(&sk[i]))
			return 1;
	}
	CT_EQ(sk[S_STREAM1].peek_off, PEEK_OFF);
	CT_EQ(sk[S_L1].passcred, 1);
	return 0;
}

/* ---- check ---- */

/* Exactly n bytes of pattern salt, then nothing (EAGAIN) or the end (eof). */
static int read_stream(int fd, size_t n, int salt, bool eof, const char *what)
{
	static uint8_t buf[BIG];
	size_t got = 0;

	while (got < n) {
		ssize_t k = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);

		if (k <= 0)
			CT_FAIL("%s: %zu bytes of %zu, then %zd (%s)", what, got, n, k,
				k < 0 ? strerror(errno) : "end");
		got += (size_t)k;
	}
	CT_EQ(got, n);
	for (size_t i = 0; i < n; i++)
		if (buf[i] != pattern(i, salt))
			CT_FAIL("%s: byte %zu is %u, not %u", what, i, buf[i], pattern(i, salt));
	if (eof) {
		CT_EQ(recv(fd, buf, 1, MSG_DONTWAIT), 0);
	} else {
		CT_EQ(recv(fd, buf, 1, MSG_DONTWAIT), -1);
		CT_EQ(errno, EAGAIN);
	}
	return 0;
}

/* The messages, each whole and on its own, then nothing. */
static int read_msgs(int fd, const uint32_t *len, size_t n, int salt, const char *what)
{
	static uint8_t buf[BIG], want[BIG];

	for (size_t i = 0; i < n; i++) {
		ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (k != (ssize_t)len[i])
			CT_FAIL("%s: message %zu is %zd bytes (%s), not %u", what, i, k,
				k < 0 ? strerror(errno) : "", len[i]);
		fill(want, len[i], salt + (int)i);
		if (memcmp(buf, want, len[i]))
			CT_FAIL("%s: message %zu differs", what, i);
	}
	CT_EQ(recv(fd, buf, 1, MSG_DONTWAIT), -1);
	CT_EQ(errno, EAGAIN);
	return 0;
}

/* A message each way: both ends still lead to each other. */
static int both_ways(int a, int b, const char *what)
{
	char buf[64];
	ssize_t n;

	CT_EQ(send(a, "ping", 4, MSG_NOSIGNAL), 4);
	n = recv(b, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != 4 || memcmp(buf, "ping", 4))
		CT_FAIL("%s: ping got %zd", what, n);
	CT_EQ(send(b, "pong!", 5, MSG_NOSIGNAL), 5);
	n = recv(a, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != 5 || memcmp(buf, "pong!", 5))
		CT_FAIL("%s: pong got %zd", what, n);
	return 0;
}

static int check_pairs(void)
{
	uint8_t buf[64];

	/* The peek offset holds: the next peek starts 100 bytes in, and moves on. */
	CT_EQ(recv(sk[S_STREAM1].fd, buf, 50, MSG_PEEK | MSG_DONTWAIT), 50);
	for (int i = 0; i < 50; i++)
		CT_EQ(buf[i], pattern(PEEK_OFF + (size_t)i, 1));
	CT_EQ(opt(sk[S_STREAM1].fd, SO_PEEK_OFF), PEEK_OFF + 50);
	if (read_stream(sk[S_STREAM1].fd, STREAM01, 1, false, "stream 0->1") ||
	    read_stream(sk[S_STREAM0].fd, STREAM10, 2, false, "stream 1->0") ||
	    read_msgs(sk[S_DGRAM1].fd, dg01, N(dg01), 10, "datagram 0->1") ||
	    read_msgs(sk[S_DGRAM0].fd, dg10, N(dg10), 20, "datagram 1->0") ||
	    read_msgs(sk[S_SEQ1].fd, sq01, N(sq01), 30, "seqpacket 0->1") ||
	    read_msgs(sk[S_SEQ0].fd, sq10, N(sq10), 40, "seqpacket 1->0"))
		return 1;
	CT_EQ(syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE, dupfd, sk[S_DGRAM1].fd), 0);
	if (both_ways(sk[S_STREAM0].fd, sk[S_STREAM1].fd, "stream pair") ||
	    both_ways(sk[S_DGRAM0].fd, dupfd, "datagram pair") ||
	    both_ways(sk[S_SEQ0].fd, sk[S_SEQ1].fd, "seqpacket pair"))
		return 1;

	/* Shut down for writing: the data, then the end; the other way still works. */
	if (read_stream(sk[S_SHUT1].fd, SHUT_LEN, 3, true, "shut-down stream"))
		return 1;
	CT_EQ(send(sk[S_SHUT0].fd, "x", 1, MSG_NOSIGNAL), -1);
	CT_EQ(errno, EPIPE);
	CT_EQ(send(sk[S_SHUT1].fd, "back", 4, MSG_NOSIGNAL), 4);
	CT_EQ(recv(sk[S_SHUT0].fd, buf, sizeof(buf), MSG_DONTWAIT), 4);
	CT_MEMEQ(buf, "back", 4);

	/* The peer closed: what it sent, then the end; nothing can be sent. */
	if (read_stream(sk[S_GONE].fd, GONE_LEN, 4, true, "stream whose peer closed"))
		return 1;
	CT_EQ(send(sk[S_GONE].fd, "x", 1, MSG_NOSIGNAL), -1);
	CT_EQ(errno, EPIPE);
	return 0;
}

/* Accept from l: the next connection must come from a socket named want. */
static int accept_next(int l, const struct sk *want, int *ret)
{
	int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
	struct sockaddr_un a;
	socklen_t al = sizeof(a);

	if (fd < 0)
		CT_FAIL("accept on %s: %s", want->what, strerror(errno));
	CT_SYS(getpeername(fd, (struct sockaddr *)&a, &al));
	if (al != want->namelen || memcmp(&a, &want->name, al))
		CT_FAIL("accept returned another connection than %s's", want->what);
	*ret = fd;
	return 0;
}

/* The listener takes exactly `room` more connections before its backlog is full. */
static int backlog_room(const struct sk *l, int type, int room)
{
	int fds[8], opened = 0, rc = 0;

	for (int n = 0; n <= room && rc == 0; n++) {
		int r;

		fds[opened] = socket(AF_UNIX, type | SOCK_NONBLOCK, 0);
		if (fds[opened] < 0) {
			rc = ct_fail(__FILE__, __LINE__, "socket: %s", strerror(errno));
			break;
		}
		r = connect(fds[opened], (const struct sockaddr *)&l->name, l->namelen);
		opened++;
		if (n < room && r < 0)
			rc = ct_fail(__FILE__, __LINE__, "%s: connection %d of %d more: %s",
				     l->what, n + 1, room, strerror(errno));
		else if (n == room && (r == 0 || errno != EAGAIN))
			rc = ct_fail(__FILE__, __LINE__, "%s: its backlog takes more than %d more",
				     l->what, room);
	}
	for (int i = 0; i < opened; i++)
		close(fds[i]);
	return rc;
}

/* Accept what is left: backlog_room()'s connections, whose clients have gone. */
static int drain(int l)
{
	int fd;
	char ch;

	CT_SYS(fcntl(l, F_SETFL, O_NONBLOCK));
	while ((fd = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		CT_EQ(recv(fd, &ch, 1, MSG_DONTWAIT), 0);
		close(fd);
	}
	CT_EQ(errno, EAGAIN);
	return 0;
}

static int check_listeners(void)
{
	struct stat st;
	int a, b, c;

	CT_SYS(stat("srv.sock", &st));
	CT_TRUE(S_ISSOCK(st.st_mode));
	CT_EQ(st.st_mode & 07777, 0640);
	CT_EQ(opt(sk[S_L1].fd, SO_ACCEPTCONN), 1);
	CT_EQ(opt(sk[S_L2].fd, SO_ACCEPTCONN), 1);
	if (read_stream(sk[S_A1].fd, REQ_LEN, 5, false, "request") ||
	    read_stream(sk[S_C1].fd, REPLY_LEN, 6, false, "reply") ||
	    both_ways(sk[S_C1].fd, sk[S_A1].fd, "accepted connection") ||
	    read_msgs(sk[S_A2].fd, l2c, N(l2c), 50, "seqpacket requests") ||
	    read_msgs(sk[S_C2].fd, l2a, N(l2a), 60, "seqpacket reply") ||
	    both_ways(sk[S_C2].fd, sk[S_A2].fd, "accepted seqpacket connection"))
		return 1;
	/* A listener holds one more than its backlog: 4 with 2 waiting takes 3 more;
	 * 2 with 1 waiting, 2 more. */
	if (backlog_room(&sk[S_L1], SOCK_STREAM, 3) || backlog_room(&sk[S_L2], SOCK_SEQPACKET, 2))
		return 1;
	if (accept_next(sk[S_L1].fd, &sk[S_P1], &a) || accept_next(sk[S_L1].fd, &sk[S_P2], &b) ||
	    accept_next(sk[S_L2].fd, &sk[S_P3], &c))
		return 1;
	/* Accepted now, from a listener with SO_PASSCRED: they have it too. */
	CT_EQ(opt(a, SO_PASSCRED), 1);
	if (both_ways(sk[S_P1].fd, a, "first waiting connection") ||
	    both_ways(sk[S_P2].fd, b, "second waiting connection") ||
	    both_ways(sk[S_P3].fd, c, "waiting seqpacket connection"))
		return 1;
	close(a);
	close(b);
	close(c);
	return drain(sk[S_L1].fd) || drain(sk[S_L2].fd);
}

/* A datagram from `from` (len bytes of name, 0 for none) reads as text. */
static int read_from(int fd, const char *text, const void *from, socklen_t fromlen,
		     const char *what)
{
	struct sockaddr_un a;
	socklen_t al = sizeof(a);
	char buf[64];
	ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&a, &al);

	if (n != (ssize_t)strlen(text) || memcmp(buf, text, (size_t)n))
		CT_FAIL("%s: expected \"%s\", got %zd bytes (%s)", what, text, n,
			n < 0 ? strerror(errno) : "");
	if (fromlen <= offsetof(struct sockaddr_un, sun_path)) {
		if (al > offsetof(struct sockaddr_un, sun_path))
			CT_FAIL("%s: \"%s\" comes from a name, not from an unnamed socket", what,
				text);
	} else if (al != fromlen || memcmp(&a, from, al)) {
		CT_FAIL("%s: \"%s\" comes from another name (length %u, not %u)", what, text, al,
			fromlen);
	}
	return 0;
}

static int check_dgram(void)
{
	struct stat st;
	char buf[8];

	for (size_t i = 0; i < N(dq); i++) {
		const void *from = dq[i].from == -1   ? (const void *)&gone_abs
				   : dq[i].from == -2 ? (const void *)&gone_path
						      : (const void *)&sk[dq[i].from].name;
		socklen_t fl = dq[i].from == -1   ? gone_abs_len
			       : dq[i].from == -2 ? gone_path_len
						  : sk[dq[i].from].namelen;

		if (read_from(sk[S_R].fd, dq[i].text, from, fl, "datagram server"))
			return 1;
	}
	CT_EQ(recv(sk[S_R].fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	CT_EQ(errno, EAGAIN);
	/* Each sender reaches it again, under its name. */
	for (int i = S_SABS; i <= S_CONN; i++) {
		if (i == S_CONN)
			CT_EQ(send(sk[i].fd, "again", 5, 0), 5);
		else
			CT_EQ(sendto(sk[i].fd, "again", 5, 0, (struct sockaddr *)&sk[S_R].name,
				     sk[S_R].namelen),
			      5);
		if (read_from(sk[S_R].fd, "again", &sk[i].name, sk[i].namelen, "datagram server"))
			return 1;
	}
	/* The files: the server's and the sender's are there, the closed sender's stale
	 * one still is, the removed one still is not. */
	CT_SYS(stat(rpath, &st));
	CT_TRUE(S_ISSOCK(st.st_mode));
	CT_SYS(stat(spath, &st));
	CT_TRUE(S_ISSOCK(st.st_mode));
	CT_SYS(stat(gpath, &st));
	CT_TRUE(S_ISSOCK(st.st_mode));
	CT_EQ(stat(upath, &st), -1);
	CT_EQ(errno, ENOENT);
	return 0;
}

static int check(void)
{
	for (int i = 0; i < NSK; i++)
		if (verify(&sk[i]))
			return 1;
	return check_pairs() || check_listeners() || check_dgram();
}

CT_MAIN(setup, check)
