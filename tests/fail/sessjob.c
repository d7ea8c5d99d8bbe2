/* sessjob: a session leader with two process groups, for tests/cli/session.sh.
 * It makes its own session; a1 leads group A, which a2 joins; b1 leads group B.
 * Every process then sleeps. The leader writes "ready" to the file named by argv[1]
 * once all ids are set. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void sleep_forever(void)
{
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	pid_t a1, b1;
	int p[2];
	char c;

	if (argc != 2 || setsid() < 0 || pipe(p) < 0)
		return 2;
	a1 = fork();
	if (a1 == 0) {
		pid_t a2;

		setpgid(0, 0);
		a2 = fork();
		if (a2 == 0) {
			close(p[0]);
			sleep_forever();
		}
		setpgid(a2, getpid());
		if (write(p[1], "a", 1) != 1)
			_exit(2);
		sleep_forever();
	}
	b1 = fork();
	if (b1 == 0) {
		setpgid(0, 0);
		if (write(p[1], "b", 1) != 1)
			_exit(2);
		sleep_forever();
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1 || read(p[0], &c, 1) != 1)
		return 2;
	close(p[0]);
	{
		int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0 || write(fd, "ready\n", 6) != 6)
			return 2;
		close(fd);
	}
	sleep_forever();
}
