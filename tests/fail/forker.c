/* forker: a tree that never stops changing, for checkpoints taken while processes
 * and threads come and go.
 *
 *   forker DIR
 *
 * The top process forks a short-lived child again and again (each exits at once,
 * and is reaped a little later, so zombies come and go too) and keeps two workers:
 * one does the same one level down, the other starts and joins threads without
 * pause. Each of the three counts its rounds in DIR/top, DIR/w1, DIR/w2 (a decimal
 * number rewritten in place), so a test sees every part go on. Runs until killed;
 * the workers die with the top (PR_SET_PDEATHSIG). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void count(int fd, unsigned long n)
{
	char b[32];
	int len = snprintf(b, sizeof(b), "%lu\n", n);

	if (pwrite(fd, b, (size_t)len, 0) != len)
		_exit(3);
}

static int open_counter(const char *dir, const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "forker: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

/* Fork a child that exits at once; reap the ones before now and then. */
static void __attribute__((noreturn)) fork_loop(int fd)
{
	for (unsigned long n = 1;; n++) {
		pid_t c = fork();

		if (c == 0)
			_exit(0);
		if (n % 4 == 0)
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
		count(fd, n);
		usleep(500);
	}
}

static void *nothing(void *arg)
{
	return arg;
}

static void __attribute__((noreturn)) thread_loop(int fd)
{
	for (unsigned long n = 1;; n++) {
		pthread_t t[3];

		for (int i = 0; i < 3; i++)
			if (pthread_create(&t[i], NULL, nothing, NULL) != 0)
				_exit(4);
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		count(fd, n);
		usleep(200);
	}
}

int main(int argc, char **argv)
{
	pid_t top = getpid();

	if (argc != 2) {
		fprintf(stderr, "usage: forker DIR\n");
		return 2;
	}
	for (int w = 1; w <= 2; w++) {
		pid_t c = fork();

		if (c < 0)
			return 1;
		if (c == 0) {
			int fd = open_counter(argv[1], w == 1 ? "w1" : "w2");

			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != top)
				_exit(0);
			if (w == 1)
				fork_loop(fd);
			thread_loop(fd);
		}
	}
	fork_loop(open_counter(argv[1], "top"));
}
