/* holder: a process holding one descriptor of a kind crest cannot checkpoint yet, for
 * tests/fail/unsupported.sh.
 *
 *   holder KIND
 *
 * Sets the object up in its working directory, prints "FD n" (the descriptor that
 * must be refused) on stdout, then serves its stdin line by line:
 *   "check"  answers "ok" if the object is as it was set up (reading what it holds
 *            and putting it back), else "bad: why";
 *   "quit"   exits 0.
 * KIND is one of: scm-rights passcred tcp-listen tcp-self udp netlink epoll-lost inotify-proc
 * io_uring packet-fifo lease packet-pipe async ptmx children seccomp mdwe ("ptmx": a
 * pty whose slave a process outside the holder's tree holds). "children" has a child
 * process (sleeping until the holder exits), "seccomp" a filter, "mdwe"
 * memory-deny-write-execute; those three print "FD -1". */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG "held data"

static const char *kind;
static int fd = -1, other = -1;

static int die(const char *what)
{
	dprintf(1, "ERROR %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Set up; returns the descriptor to report. */
static int setup(void)
{
	int sv[2];

	if (!strcmp(kind, "scm-rights")) {
		/* Both ends here, a descriptor in flight with the data. */
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = {MSG, sizeof(MSG)};
		struct msghdr mh = {NULL, 0, &iov, 1, cbuf, sizeof(cbuf), 0};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		int p[2];

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || pipe(p) < 0)
			die("socketpair");
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &p[0], sizeof(int));
		if (sendmsg(sv[1], &mh, 0) != sizeof(MSG))
			die("sendmsg");
		close(p[0]);
		close(p[1]);
		other = sv[1];
		return sv[0];
	}
	if (!strcmp(kind, "passcred")) {
		/* A datagram queued for a socket that receives its senders' credentials. */
		int one = 1;

		if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0 ||
		    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
			die("socketpair");
		if (send(sv[1], MSG, sizeof(MSG), 0) != sizeof(MSG))
			die("send");
		other = sv[1];
		return sv[0];
	}
	if (!strcmp(kind, "udp")) {
		struct sockaddr_in a = {AF_INET, 0, {htonl(INADDR_LOOPBACK)}, {0}};
		int s = socket(AF_INET, SOCK_DGRAM, 0);

		if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0)
			die("udp socket");
		return s;
	}
	if (!strcmp(kind, "netlink")) {
		int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);

		return s < 0 ? die("netlink socket") : s;
	}
	if (!strncmp(kind, "tcp-", 4)) {
		struct sockaddr_in a = {AF_INET, 0, {htonl(INADDR_LOOPBACK)}, {0}};
		socklen_t al = sizeof(a);
		int s = socket(AF_INET, SOCK_STREAM, 0), c;

		if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 5) < 0 ||
		    getsockname(s, (struct sockaddr *)&a, &al) < 0)
			die("tcp socket");
		if (!strcmp(kind, "tcp-listen"))
			return s;
		/* A connection with both ends here. */
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
			die("connect");
		other = accept(s, NULL, NULL);
		if (other < 0)
			die("accept");
		close(s);
		if (write(other, MSG, sizeof(MSG)) != sizeof(MSG))
			die("write");
		return c;
	}
	if (!strcmp(kind, "epoll-lost")) {
		/* An epoll instance watching a pipe whose read end only a process outside
		 * the tree holds (a grandchild, re-parented away): nothing here has the
		 * target to add it again with. */
		struct epoll_event ev = {EPOLLIN, {.u64 = 77}};
		int p[2], life[2], e = epoll_create1(0);
		pid_t c;

		if (e < 0 || pipe(p) < 0 || pipe(life) < 0 ||
		    epoll_ctl(e, EPOLL_CTL_ADD, p[0], &ev) < 0 || write(p[1], "x", 1) != 1)
			die("epoll");
		c = fork();
		if (c < 0)
			die("fork");
		if (c == 0) {
			char b;

			if (fork() != 0)
				_exit(0);
			/* Keeps the read end until the holder is gone (EOF on life). */
			dup2(life[0], 0);
			dup2(p[0], 1);
			syscall(SYS_close_range, 2, ~0u, 0);
			while (read(0, &b, 1) > 0)
				;
			_exit(0);
		}
		waitpid(c, NULL, 0);
		close(p[0]);
		close(life[0]);
		other = p[1];
		return e;
	}
	if (!strcmp(kind, "inotify-proc")) {
		/* A watch on a file of /proc, whose file handles do not open. */
		int i = inotify_init1(0);

		if (i < 0 || inotify_add_watch(i, "/proc/self", IN_ATTRIB) != 1)
			die("inotify");
		return i;
	}
	if (!strcmp(kind, "io_uring")) {
		struct io_uring_params p;
		int r;

		memset(&p, 0, sizeof(p));
		r = (int)syscall(__NR_io_uring_setup, 4, &p);
		return r < 0 ? die("io_uring_setup") : r;
	}
	if (!strcmp(kind, "packet-fifo")) {
		/* A named FIFO in packet mode, two packets in it. */
		int f;

		if (mkfifo("fifo", 0600) < 0)
			die("mkfifo");
		f = open("fifo", O_RDWR);
		if (f < 0 || fcntl(f, F_SETFL, O_DIRECT) < 0 || write(f, "one", 3) != 3 ||
		    write(f, "three", 5) != 5)
			die("packet fifo");
		other = f;
		return f;
	}
	if (!strcmp(kind, "lease")) {
		int f = open("leased", O_RDWR | O_CREAT | O_TRUNC, 0600);

		if (f < 0 || close(f) < 0 || (f = open("leased", O_RDONLY)) < 0 ||
		    fcntl(f, F_SETLEASE, F_RDLCK) < 0)
			die("lease");
		return f;
	}
	if (!strcmp(kind, "packet-pipe")) {
		int p[2];

		if (pipe2(p, O_DIRECT) < 0 || write(p[1], "one", 3) != 3 ||
		    write(p[1], "three", 5) != 5)
			die("packet pipe");
		other = p[1];
		return p[0];
	}
	if (!strcmp(kind, "async")) {
		/* Signal-driven I/O on the read end of a pipe: SIGIO to us. */
		int p[2];

		signal(SIGIO, SIG_IGN);
		if (pipe(p) < 0 || fcntl(p[0], F_SETOWN, getpid()) < 0 ||
		    fcntl(p[0], F_SETFL, O_ASYNC) < 0)
			die("O_ASYNC pipe");
		other = p[1];
		return p[0];
	}
	if (!strcmp(kind, "ptmx")) {
		/* A pty whose slave a process outside our tree holds: a grandchild,
		 * orphaned at once, that holds it until our end of a pipe closes. */
		int m = posix_openpt(O_RDWR | O_NOCTTY), p[2], q[2];
		pid_t c;
		char b;

		if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || pipe(p) < 0 || pipe(q) < 0)
			die("ptmx");
		c = fork();
		if (c < 0)
			die("fork");
		if (c == 0) {
			if (fork() == 0) {
				int s = open(ptsname(m), O_RDWR | O_NOCTTY);

				close(p[1]);
				close(q[0]);
				if (s < 0 || write(q[1], "s", 1) != 1)
					_exit(1);
				while (read(p[0], &b, 1) > 0)
					;
				_exit(0);
			}
			_exit(0);
		}
		waitpid(c, NULL, 0);
		close(p[0]);
		close(q[1]);
		if (read(q[0], &b, 1) != 1)
			die("slave holder");
		close(q[0]);
		other = p[1];
		return m;
	}
	if (!strcmp(kind, "seccomp")) {
		/* A filter that allows everything: only its presence matters. */
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = {1, &allow};

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
			die("seccomp");
		return -1;
	}
	if (!strcmp(kind, "mdwe")) {
		if (prctl(65 /* PR_SET_MDWE */, 1 /* PR_MDWE_REFUSE_EXEC_GAIN */, 0, 0, 0) < 0)
			die("mdwe");
		return -1;
	}
	if (!strcmp(kind, "children")) {
		pid_t c = fork();

		if (c < 0)
			die("fork");
		if (c == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(0);
			for (;;)
				pause();
		}
		return -1;
	}
	errno = EINVAL;
	return die(kind);
}

/* Is the object as setup() left it? Writes "ok" or "bad: why". */
static void check(void)
{
	char buf[64];
	ssize_t n;

	if (!strcmp(kind, "scm-rights") || !strcmp(kind, "passcred") ||
	    !strcmp(kind, "tcp-self")) {
		n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
		if (n != sizeof(MSG) || memcmp(buf, MSG, sizeof(MSG))) {
			dprintf(1, "bad: socket holds %zd bytes\n", n);
			return;
		}
	} else if (!strcmp(kind, "tcp-listen")) {
		int v = 0;
		socklen_t l = sizeof(v);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0 || v != 1) {
			dprintf(1, "bad: not listening\n");
			return;
		}
	} else if (!strcmp(kind, "epoll-lost")) {
		struct epoll_event ev;

		if (epoll_wait(fd, &ev, 1, 0) != 1 || ev.data.u64 != 77) {
			dprintf(1, "bad: epoll has no event\n");
			return;
		}
	} else if (!strcmp(kind, "inotify-proc")) {
		char path[64], info[1024];
		int f;

		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
		f = open(path, O_RDONLY);
		n = f < 0 ? -1 : read(f, info, sizeof(info) - 1);
		if (f >= 0)
			close(f);
		info[n > 0 ? n : 0] = '\0';
		if (!strstr(info, "inotify wd:1 ")) {
			dprintf(1, "bad: inotify watch gone\n");
			return;
		}
	} else if (!strcmp(kind, "lease")) {
		if (fcntl(fd, F_GETLEASE) != F_RDLCK) {
			dprintf(1, "bad: lease gone\n");
			return;
		}
	} else if (!strcmp(kind, "async")) {
		if (!(fcntl(fd, F_GETFL) & O_ASYNC) || fcntl(fd, F_GETOWN) != getpid()) {
			dprintf(1, "bad: signal-driven I/O is off\n");
			return;
		}
	} else if (!strcmp(kind, "packet-pipe") || !strcmp(kind, "packet-fifo")) {
		/* Two packets, read back one by one, then written again. */
		if (read(fd, buf, sizeof(buf)) != 3 || read(fd, buf, sizeof(buf)) != 5 ||
		    write(other, "one", 3) != 3 || write(other, "three", 5) != 5) {
			dprintf(1, "bad: packets changed\n");
			return;
		}
	}
	dprintf(1, "ok\n");
}

int main(int argc, char **argv)
{
	char line[64];
	size_t got = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: holder KIND\n");
		return 2;
	}
	kind = argv[1];
	fd = setup();
	dprintf(1, "FD %d\n", fd);
	/* Line by line, with read(2): no stdio buffer to lose or to hold. */
	for (;;) {
		ssize_t n = read(0, line + got, 1);

		if (n <= 0)
			return n < 0 ? 1 : 0;
		if (line[got] != '\n' && got < sizeof(line) - 2) {
			got++;
			continue;
		}
		line[got] = '\0';
		got = 0;
		if (!strcmp(line, "check"))
			check();
		else if (!strcmp(line, "quit"))
			return 0;
		else
			dprintf(1, "bad: unknown command %s\n", line);
	}
}
