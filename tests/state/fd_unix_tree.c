/* Unix sockets between two processes: a stream socketpair with an end in each and
 * data queued both ways; a datagram socketpair both hold (one open file each end)
 * with datagrams queued; a listener in the parent with a connection from the child
 * accepted (data both ways) and one still waiting; a datagram socket on a relative
 * path in the child holding datagrams that a named socket of the parent sent. Run
 * with the harness's -T. After GO each process reads what was queued for it, the
 * waiting connection is accepted, and every connection carries a message again. */
#include "ct.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TO_CHILD 5000 /* stream, parent -> child */
#define TO_PARENT 700 /* stream, child -> parent */
#define REQUEST 100   /* accepted connection, child -> parent */
#define REPLY 200     /* accepted connection, parent -> child */

static pid_t me, child;
static int sp[2], dp[2], lfd, afd, sender;
static int c1, c2, rfd; /* the child's */
static int ready[2], gate[2], up[2];
static char tag[64];
static struct sockaddr_un laddr, c2addr, saddr, raddr;
static socklen_t llen, c2len, slen, rlen;

static uint8_t pattern(size_t i, int salt)
{
	return (uint8_t)((i * 2654435761u >> 7) ^ (unsigned)(salt * 37));
}

static int put(int fd, size_t n, int salt)
{
	static uint8_t buf[8192];

	for (size_t i = 0; i < n; i++)
		buf[i] = pattern(i, salt);
	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

/* n bytes of the pattern, then nothing: NULL, or what went wrong. */
static const char *get(int fd, size_t n, int salt)
{
	static uint8_t buf[8192];
	size_t got = 0;

	while (got < n) {
		ssize_t k = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);

		if (k <= 0)
			return "data missing";
		got += (size_t)k;
	}
	if (got != n)
		return "more data than sent";
	for (size_t i = 0; i < n; i++)
		if (buf[i] != pattern(i, salt))
			return "data differs";
	if (recv(fd, buf, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		return "data after the end";
	return NULL;
}

static const char *child_check(void)
{
	struct sockaddr_un from;
	socklen_t fl = sizeof(from);
	char buf[64];
	const char *why;

	if ((why = get(sp[1], TO_CHILD, 1)) || (why = get(c1, REPLY, 4)))
		return why;
	for (int i = 0; i < 2; i++) {
		fl = sizeof(from);
		if (recvfrom(rfd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl) !=
		    5 + i)
			return "datagram missing";
		if (memcmp(buf, i ? "second" : "first", (size_t)(5 + i)))
			return "datagram differs";
		if (fl != slen || memcmp(&from, &saddr, fl))
			return "datagram from another name";
	}
	fl = sizeof(from);
	if (getsockname(rfd, (struct sockaddr *)&from, &fl) < 0 || fl != rlen ||
	    memcmp(&from, &raddr, fl))
		return "datagram socket renamed";
	if (send(sp[1], "sp", 2, 0) != 2 || send(c1, "c1", 2, 0) != 2 || send(c2, "c2", 2, 0) != 2)
		return "cannot send";
	return NULL;
}

static void child_main(void)
{
	const char *why;
	char q;

	/* Only the ends it uses: it ends if the parent goes. */
	close(sp[0]);
	close(lfd);
	close(gate[1]);
	close(ready[0]);
	close(up[0]);
	c1 = socket(AF_UNIX, SOCK_STREAM, 0);
	c2 = socket(AF_UNIX, SOCK_STREAM, 0);
	rfd = socket(AF_UNIX, SOCK_DGRAM, 0);
	memset(&raddr, 0, sizeof(raddr));
	raddr.sun_family = AF_UNIX;
	strcpy(raddr.sun_path, "tree-dgram.sock");
	rlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof("tree-dgram.sock"));
	if (c1 < 0 || c2 < 0 || rfd < 0 || connect(c1, (struct sockaddr *)&laddr, llen) < 0 ||
	    bind(c2, (struct sockaddr *)&c2addr, c2len) < 0 ||
	    connect(c2, (struct sockaddr *)&laddr, llen) < 0 ||
	    bind(rfd, (struct sockaddr *)&raddr, rlen) < 0 || put(c1, REQUEST, 3) ||
	    put(sp[1], TO_PARENT, 2) || write(ready[1], "r", 1) != 1)
		_exit(98);
	if (read(gate[0], &q, 1) != 1)
		_exit(97);
	why = child_check();
	dprintf(up[1], "%s\n", why ? why : "ok");
	_exit(why ? 1 : 0);
}

static int setup(void)
{
	char r;

	me = getpid();
	snprintf(tag, sizeof(tag), "crest-fd_unix_tree-%d-%ld", (int)me, (long)time(NULL));
	llen = ct_abstract(&laddr, tag, "listener");
	c2len = ct_abstract(&c2addr, tag, "c2");
	slen = ct_abstract(&saddr, tag, "sender");
	CT_SYS(pipe(ready));
	CT_SYS(pipe(gate));
	CT_SYS(pipe(up));
	CT_SYS(socketpair(AF_UNIX, SOCK_STREAM, 0, sp));
	CT_SYS(socketpair(AF_UNIX, SOCK_DGRAM, 0, dp));
	CT_SYS(lfd = socket(AF_UNIX, SOCK_STREAM, 0));
	CT_SYS(bind(lfd, (struct sockaddr *)&laddr, llen));
	CT_SYS(listen(lfd, 5));
	child = fork();
	CT_SYS(child);
	if (child == 0)
		child_main();
	close(sp[1]);
	close(ready[1]);
	close(gate[0]);
	close(up[1]);
	CT_EQ(read(ready[0], &r, 1), 1);
	CT_SYS(afd = accept(lfd, NULL, NULL));
	CT_EQ(put(afd, REPLY, 4), 0);
	CT_EQ(put(sp[0], TO_CHILD, 1), 0);
	CT_EQ(send(dp[1], "one", 3, 0), 3);
	CT_EQ(send(dp[1], "", 0, 0), 0);
	CT_SYS(sender = socket(AF_UNIX, SOCK_DGRAM, 0));
	CT_SYS(bind(sender, (struct sockaddr *)&saddr, slen));
	{
		struct sockaddr_un ra = {AF_UNIX, "tree-dgram.sock"};
		socklen_t ral =
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof("tree-dgram.sock"));

		CT_EQ(sendto(sender, "first", 5, 0, (struct sockaddr *)&ra, ral), 5);
		CT_EQ(sendto(sender, "second", 6, 0, (struct sockaddr *)&ra, ral), 6);
	}
	return 0;
}

static long kcmp_file(int a, int b)
{
	return syscall(SYS_kcmp, me, child, KCMP_FILE, a, b);
}

static int check(void)
{
	struct sockaddr_un a;
	socklen_t al = sizeof(a);
	char buf[256];
	const char *why;
	int st, nfd;
	ssize_t n;

	/* Shared: both processes hold one open file of each end of the datagram pair. */
	CT_EQ(kcmp_file(dp[0], dp[0]), 0);
	CT_EQ(kcmp_file(dp[1], dp[1]), 0);
	CT_TRUE(kcmp_file(sp[0], sp[1]) != 0);
	if ((why = get(sp[0], TO_PARENT, 2)) || (why = get(afd, REQUEST, 3)))
		CT_FAIL("parent: %s", why);
	CT_EQ(recv(dp[0], buf, sizeof(buf), MSG_DONTWAIT), 3);
	CT_MEMEQ(buf, "one", 3);
	CT_EQ(recv(dp[0], buf, sizeof(buf), MSG_DONTWAIT), 0);
	CT_EQ(recv(dp[0], buf, sizeof(buf), MSG_DONTWAIT), -1);
	/* The connection still waiting is the child's second. */
	CT_SYS(nfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK));
	CT_SYS(getpeername(nfd, (struct sockaddr *)&a, &al));
	CT_EQ(al, c2len);
	CT_MEMEQ(&a, &c2addr, al);
	/* Now the child. */
	CT_EQ(write(gate[1], "g", 1), 1);
	n = read(up[0], buf, sizeof(buf) - 1);
	CT_TRUE(n > 0);
	buf[n] = '\0';
	if (strcmp(buf, "ok\n"))
		CT_FAIL("child: %s", buf);
	CT_EQ(waitpid(child, &st, 0), child);
	CT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CT_EQ(recv(sp[0], buf, sizeof(buf), 0), 2);
	CT_MEMEQ(buf, "sp", 2);
	CT_EQ(recv(afd, buf, sizeof(buf), 0), 2);
	CT_MEMEQ(buf, "c1", 2);
	CT_EQ(recv(nfd, buf, sizeof(buf), 0), 2);
	CT_MEMEQ(buf, "c2", 2);
	return 0;
}

CT_MAIN(setup, check)
