/* ct.c: the program side of the state tests (see ct.h). */
#include "ct.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[4096];

const char *ct_dir(void)
{
	return dir;
}

int ct_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line, straight to the descriptor: stdio buffers may be the subject. */
	dprintf(1, "FAIL: %s:%d: %s\n", file, line, msg);
	return 1;
}

void ct_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int ct_main(int argc, char **argv, int (*setup)(void), int (*check)(void))
{
	char go[16];
	ssize_t n;
	size_t got = 0;

	(void)argc;
	(void)argv;
	if (!getcwd(dir, sizeof(dir)))
		dir[0] = '\0';
	if (setup() != 0) {
		dprintf(1, "FAIL: setup\n");
		return 1;
	}
	if (dprintf(1, "READY\n") < 0)
		return 1;
	/* Blocked in read(): the checkpoint meets a thread inside a system call. */
	while (got < 3) {
		/* EINTR is a failure too: a checkpoint must not interrupt system calls. */
		n = read(0, go + got, 3 - got);
		if (n <= 0) {
			dprintf(1, "FAIL: stdin closed before GO (%s)\n", n < 0 ? strerror(errno) : "EOF");
			return 1;
		}
		got += (size_t)n;
	}
	if (memcmp(go, "GO\n", 3)) {
		dprintf(1, "FAIL: expected GO\n");
		return 1;
	}
	if (check() != 0)
		return 1;
	dprintf(1, "PASS\n");
	return 0;
}
