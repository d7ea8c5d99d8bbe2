/* counter: counts up, one line every fifth of a second, to stdout and to a file.
 * The demo checkpoints it, kills it, and restarts it: it carries on from where it
 * was, with its memory, its open file and its offset in that file. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "counter.log";
	struct timespec tick = {0, 200 * 1000 * 1000};
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	unsigned long n = 0;
	char line[64];

	if (fd < 0) {
		perror(path);
		return 1;
	}
	for (;;) {
		int len = snprintf(line, sizeof(line), "count %lu (pid %d)\n", n++, getpid());

		if (write(1, line, (size_t)len) < 0 || write(fd, line, (size_t)len) < 0)
			return 1;
		nanosleep(&tick, NULL);
	}
}
