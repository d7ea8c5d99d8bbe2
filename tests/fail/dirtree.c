/* dirtree: a small process tree to checkpoint into a directory (tests/cli/dir.sh).
 *
 *   dirtree DIR
 *
 * The top process counts as counter does (every 2 ms, DIR/top.count holds a 20-digit
 * number at offset 0) and has three children: a zombie, which exited at once with
 * status 7 and is never waited for; and a writer and a reader joined by a pipe that
 * the top does not hold. The writer puts one line into the pipe, creates DIR/written
 * to say so, and sleeps. The reader waits for DIR/go to exist (looking every 5 ms),
 * then reads the line and writes it to DIR/got, and sleeps. So the line is in flight
 * in the pipe, held by the kernel, until the test creates DIR/go. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE "through the pipe\n"

static void nap(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void __attribute__((noreturn)) sleep_forever(void)
{
	for (;;)
		nap(1000);
}

static void path(char *buf, size_t n, const char *dir, const char *name)
{
	snprintf(buf, n, "%s/%s", dir, name);
}

static void __attribute__((noreturn)) writer(const char *dir, int wfd)
{
	char p[4096];
	int fd;

	if (write(wfd, LINE, strlen(LINE)) != (ssize_t)strlen(LINE))
		_exit(2);
	path(p, sizeof(p), dir, "written");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		_exit(2);
	close(fd);
	sleep_forever();
}

static void __attribute__((noreturn)) reader(const char *dir, int rfd)
{
	char p[4096], line[64];
	size_t got = 0;
	int fd;

	path(p, sizeof(p), dir, "go");
	while (access(p, F_OK) < 0)
		nap(5);
	while (got < strlen(LINE)) {
		ssize_t k = read(rfd, line + got, strlen(LINE) - got);

		if (k <= 0)
			_exit(3);
		got += (size_t)k;
	}
	path(p, sizeof(p), dir, "got");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, got) != (ssize_t)got)
		_exit(2);
	close(fd);
	sleep_forever();
}

int main(int argc, char **argv)
{
	char p[4096], line[32];
	unsigned long long n = 0;
	int fd, pp[2];
	pid_t k;

	if (argc != 2) {
		fprintf(stderr, "usage: dirtree DIR\n");
		return 2;
	}
	path(p, sizeof(p), argv[1], "top.count");
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || pipe(pp) < 0)
		return 2;
	k = fork();
	if (k == 0)
		_exit(7);
	if (k < 0)
		return 2;
	k = fork();
	if (k == 0) {
		close(pp[0]);
		writer(argv[1], pp[1]);
	}
	if (k < 0)
		return 2;
	k = fork();
	if (k == 0) {
		close(pp[1]);
		reader(argv[1], pp[0]);
	}
	if (k < 0)
		return 2;
	close(pp[0]);
	close(pp[1]);
	for (;;) {
		snprintf(line, sizeof(line), "%020llu\n", ++n);
		if (pwrite(fd, line, 21, 0) != 21)
			return 4;
		nap(2);
	}
}
