/* counter: a small process to checkpoint in the failure-path tests.
 *
 *   counter FILE [AREAS]
 *
 * Holds a little of every kind of state crest saves (anonymous memory with a pattern,
 * a pipe with both ends open and data in it, an interval timer, a signal handler, an
 * open file) and counts: every 2 ms it adds one to a counter and writes it to FILE
 * (at offset 0, as a 20-digit number and a newline), so a test can see it make
 * progress. If it finds its memory or its pipe changed, it writes "BAD ..." to FILE
 * and exits 3. With AREAS, it also maps that many more one-page anonymous areas, which
 * do not merge (their protections alternate), for a long memory map. Its stdio should
 * not be files the test cares about: a restart truncates files open for writing back
 * to their size at the checkpoint. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define AREA (64 * 1024)

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

static void bad(int fd, const char *why)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "BAD %-16.16s\n", why);

	if (pwrite(fd, line, (size_t)n, 0) < 0)
		_exit(4);
	_exit(3);
}

int main(int argc, char **argv)
{
	struct itimerval it = {{0, 0}, {1000, 0}};
	struct timespec ts = {0, 2 * 1000 * 1000};
	uint32_t *area;
	uint64_t n = 0;
	int fd, p[2], avail;

	if (argc != 2 && argc != 3) {
		fprintf(stderr, "usage: counter FILE [AREAS]\n");
		return 2;
	}
	for (long k = argc == 3 ? strtol(argv[2], NULL, 10) : 0; k > 0; k--)
		if (mmap(NULL, 4096, (k & 1) ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
			return 2;
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || pipe(p) < 0 || write(p[1], "crest", 5) != 5)
		return 2;
	area = mmap(NULL, AREA, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED)
		return 2;
	for (size_t i = 0; i < AREA / 4; i++)
		area[i] = (uint32_t)(i * 2654435761u);
	signal(SIGALRM, SIG_IGN);
	signal(SIGUSR1, on_usr1);
	if (setitimer(ITIMER_REAL, &it, NULL) < 0)
		return 2;
	for (;;) {
		char line[32];
		size_t i = (size_t)(n % (AREA / 4));

		n++;
		if (area[i] != (uint32_t)(i * 2654435761u))
			bad(fd, "memory");
		if (ioctl(p[0], FIONREAD, &avail) < 0 || avail != 5)
			bad(fd, "pipe");
		snprintf(line, sizeof(line), "%020llu\n", (unsigned long long)n);
		if (pwrite(fd, line, 21, 0) != 21)
			return 4;
		nanosleep(&ts, NULL);
	}
}
