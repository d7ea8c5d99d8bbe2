/* fd_pty: pseudo-terminals held by the process with their master.
 *
 * Pair A: master and slave open, the slave's settings changed (no echo, its own erase
 * and interrupt characters, a 2-byte minimum read in raw mode off, 9600 baud), a window
 * size, the slave also open a second time (another description) and dup'ed; the job
 * wrote "before\n" to the slave that the master has not read yet (with ONLCR it is
 * "before\r\n" there). Pair B: a master never unlocked, in packet mode, whose slave was
 * never opened.
 *
 * After GO: the settings, window size, lock and packet mode are as they were; every
 * slave descriptor refers to the master's pts (which may be a new number after a
 * restart), the dup'ed two still share a description and the other does not; the
 * master reads "before\r\n" first and nothing else; then data written after GO flows
 * both ways: master -> slave a line read in canonical mode, slave -> master with
 * output processing. Every read is bounded by poll. */
#include "ct.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#define DUP_FD 300

static int ma, sa, sa2, mb;
static struct termios tio;
static const struct winsize ws = {.ws_row = 37, .ws_col = 121, .ws_xpixel = 800, .ws_ypixel = 600};

static int setup(void)
{
	char name[64];

	ma = posix_openpt(O_RDWR | O_NOCTTY);
	CT_SYS(ma);
	CT_SYS(grantpt(ma));
	CT_SYS(unlockpt(ma));
	CT_SYS(ptsname_r(ma, name, sizeof(name)));
	sa = open(name, O_RDWR | O_NOCTTY);
	CT_SYS(sa);
	sa2 = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	CT_SYS(sa2);
	CT_SYS(dup2(sa, DUP_FD));
	CT_SYS(tcgetattr(sa, &tio));
	tio.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	tio.c_lflag |= ICANON | ISIG;
	tio.c_oflag |= OPOST | ONLCR;
	tio.c_cc[VERASE] = 0x08;
	tio.c_cc[VINTR] = 0x05;
	tio.c_cc[VMIN] = 2;
	cfsetispeed(&tio, B9600);
	cfsetospeed(&tio, B9600);
	CT_SYS(tcsetattr(sa, TCSANOW, &tio));
	CT_SYS(tcgetattr(sa, &tio));
	CT_SYS(ioctl(ma, TIOCSWINSZ, &ws));
	CT_EQ(write(sa, "before\n", 7), 7);

	mb = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	CT_SYS(mb);
	CT_SYS(ioctl(mb, TIOCPKT, &(int){1}));
	return 0;
}

/* Read exactly n bytes from fd within a few seconds. */
static int read_n(int fd, char *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t k;

		if (poll(&p, 1, 5000) != 1)
			return -1;
		k = read(fd, buf + got, n - got);
		if (k <= 0)
			return -1;
		got += (size_t)k;
	}
	return 0;
}

static int nothing_more(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};

	return poll(&p, 1, 100) == 0;
}

static int is_slave_of(int s, int m)
{
	char path[64], link[64], want[64];
	struct stat st;
	unsigned int n;
	ssize_t k;

	if (ioctl(m, TIOCGPTN, &n) < 0 || fstat(s, &st) < 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s);
	snprintf(want, sizeof(want), "/dev/pts/%u", n);
	k = readlink(path, link, sizeof(link) - 1);
	if (k < 0)
		return 0;
	link[k] = '\0';
	return S_ISCHR(st.st_mode) && st.st_rdev == makedev(136, n) && !strcmp(link, want);
}

static int check(void)
{
	struct termios now;
	struct winsize wnow;
	char buf[64];
	int v;
	pid_t me = getpid();

	/* The settings. */
	CT_SYS(tcgetattr(sa, &now));
	CT_EQ(now.c_iflag, tio.c_iflag);
	CT_EQ(now.c_oflag, tio.c_oflag);
	CT_EQ(now.c_cflag, tio.c_cflag);
	CT_EQ(now.c_lflag, tio.c_lflag);
	CT_EQ(cfgetispeed(&now), B9600);
	CT_EQ(cfgetospeed(&now), B9600);
	CT_MEMEQ(now.c_cc, tio.c_cc, NCCS);
	CT_SYS(ioctl(sa2, TIOCGWINSZ, &wnow));
	CT_EQ(wnow.ws_row, ws.ws_row);
	CT_EQ(wnow.ws_col, ws.ws_col);
	CT_EQ(wnow.ws_xpixel, ws.ws_xpixel);
	CT_EQ(wnow.ws_ypixel, ws.ws_ypixel);
	CT_SYS(ioctl(ma, TIOCGPTLCK, &v));
	CT_EQ(v, 0);
	CT_SYS(ioctl(ma, TIOCGPKT, &v));
	CT_EQ(v, 0);
	CT_SYS(ioctl(mb, TIOCGPTLCK, &v));
	CT_EQ(v, 1);
	CT_SYS(ioctl(mb, TIOCGPKT, &v));
	CT_EQ(v, 1);
	CT_EQ(fcntl(mb, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	CT_EQ(fcntl(sa2, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	CT_EQ(fcntl(sa2, F_GETFD), FD_CLOEXEC);
	CT_EQ(fcntl(sa, F_GETFD), 0);

	/* The descriptors. */
	CT_TRUE(is_slave_of(sa, ma));
	CT_TRUE(is_slave_of(sa2, ma));
	CT_TRUE(is_slave_of(DUP_FD, ma));
	CT_EQ(syscall(SYS_kcmp, me, me, KCMP_FILE, sa, DUP_FD), 0);
	CT_TRUE(syscall(SYS_kcmp, me, me, KCMP_FILE, sa, sa2) != 0);

	/* What was in flight, then new data both ways. */
	CT_SYS(read_n(ma, buf, 8));
	CT_MEMEQ(buf, "before\r\n", 8);
	CT_TRUE(nothing_more(ma));
	CT_EQ(write(ma, "ping\n", 5), 5);
	CT_SYS(read_n(sa, buf, 5));
	CT_MEMEQ(buf, "ping\n", 5);
	CT_EQ(write(DUP_FD, "pong\n", 5), 5);
	CT_SYS(read_n(ma, buf, 6));
	CT_MEMEQ(buf, "pong\r\n", 6);
	CT_TRUE(nothing_more(ma));
	CT_TRUE(nothing_more(sa2));
	/* The locked one stays silent. */
	CT_TRUE(nothing_more(mb));
	return 0;
}

CT_MAIN(setup, check)
