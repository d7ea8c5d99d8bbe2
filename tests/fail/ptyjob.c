/* ptyjob: a job running on a pseudo-terminal, for tests/cli/pty.sh.
 *
 *   ptyjob READYFILE [bare]
 *
 * The driver (this process) holds the pty's master. Its child leads a new session
 * whose controlling terminal is the slave (descriptors 0, 1, 2, and /dev/tty as 9), sets the
 * terminal (no echo, ^G as interrupt character, 50 rows by 132 columns) and puts its own child, a
 * shell reading commands from the terminal, in a process group of its own in the foreground; then
 * it waits for the shell. The driver (in a session of its own) copies its stdin to the master and
 * what comes out of the master to its stdout. Once the shell's group is in the foreground it writes
 * "DRIVER LEADER SHELL PTS" to READYFILE. With "bare", the leader then keeps no descriptor of the
 * terminal (/dev/null as 0, 1 and 2): it is only its controlling terminal. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "ptyjob: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void __attribute__((noreturn)) leader(const char *name, bool bare)
{
	struct winsize ws = {.ws_row = 50, .ws_col = 132};
	struct termios t;
	pid_t sh;
	int s, st;

	if (setsid() < 0)
		die("setsid");
	s = open(name, O_RDWR); /* a session leader without a terminal: it is ours now */
	if (s < 0 || dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0)
		die("slave");
	if (s > 2)
		close(s);
	/* /dev/tty, which the shell inherits too. */
	s = open("/dev/tty", O_RDWR);
	if (s < 0 || dup2(s, 9) < 0)
		die("/dev/tty");
	close(s);
	if (tcgetattr(0, &t) < 0)
		die("tcgetattr");
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	t.c_cc[VINTR] = 0x07;
	if (tcsetattr(0, TCSANOW, &t) < 0 || ioctl(0, TIOCSWINSZ, &ws) < 0)
		die("settings");
	sh = fork();
	if (sh < 0)
		die("fork");
	if (sh == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", "while read -r l; do eval \"$l\"; done", (char *)NULL);
		_exit(127);
	}
	setpgid(sh, sh);
	if (tcsetpgrp(0, sh) < 0)
		die("tcsetpgrp");
	if (bare) {
		s = open("/dev/null", O_RDWR);
		if (s < 0 || dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0)
			die("/dev/null");
		close(s);
		close(9);
	}
	while (waitpid(sh, &st, 0) < 0 && errno == EINTR)
		;
	_exit(0);
}

int main(int argc, char **argv)
{
	char name[64], buf[4096];
	bool in_open = true, told = false;
	pid_t lead;
	int m, pgrp = 0;
	unsigned int n;

	if (argc != 2 && (argc != 3 || strcmp(argv[2], "bare")))
		return 2;
	/* Its own session, led by a process of the tree: --restore-sid brings the
	 * session back with its leader, who takes the new pty as its terminal. */
	setsid();
	m = posix_openpt(O_RDWR | O_NOCTTY);
	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0 || ptsname_r(m, name, sizeof(name)) ||
	    ioctl(m, TIOCGPTN, &n) < 0)
		die("ptmx");
	lead = fork();
	if (lead < 0)
		die("fork");
	if (lead == 0) {
		close(m);
		leader(name, argc == 3);
	}
	for (;;) {
		struct pollfd p[2] = {{in_open ? 0 : -1, POLLIN, 0}, {m, POLLIN, 0}};
		ssize_t k;

		if (!told && ioctl(m, TIOCGPGRP, &pgrp) == 0 && pgrp > 0 && pgrp != lead) {
			FILE *f = fopen(argv[1], "w");

			if (!f)
				die(argv[1]);
			fprintf(f, "%d %d %d %u\n", getpid(), lead, pgrp, n);
			fclose(f);
			told = true;
		}
		if (poll(p, 2, told ? -1 : 10) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (p[0].revents) {
			k = read(0, buf, sizeof(buf));
			if (k <= 0)
				in_open = false;
			else if (write(m, buf, (size_t)k) != k)
				die("write to the master");
		}
		if (p[1].revents & POLLIN) {
			k = read(m, buf, sizeof(buf));
			if (k > 0 && write(1, buf, (size_t)k) != k)
				die("stdout");
		} else if (p[1].revents & (POLLHUP | POLLERR)) {
			return 0; /* the session is over */
		}
	}
}
