/* mapped: a process that maps files and counts, for tests/fail/save.sh and fifo.sh.
 *
 *   mapped COUNTFILE [PRIVATE-FILE [SHARED-FILE [FIFO]]]   ("-" for none)
 *
 * Maps PRIVATE-FILE privately and writes into its second page (copied on write), maps
 * SHARED-FILE shared and keeps a counter in its first 8 bytes, opens FIFO for reading
 * and writing and puts a message in it. Then every 2 ms it checks both mappings
 * against the copies it keeps in anonymous memory, adds one to its count and writes
 * the count to COUNTFILE (at offset 0, 20 digits and a newline). On SIGUSR1 it reads
 * the FIFO's message back, checks it and puts it back. If anything is not as it
 * should be, it writes "BAD what" to COUNTFILE and exits 3. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MSG "the FIFO's message"

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void bad(int fd, const char *why)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "BAD %-16.16s\n", why);

	if (pwrite(fd, line, (size_t)n, 0) < 0)
		_exit(4);
	_exit(3);
}

/* Map path whole; a copy of what it shows goes to *ret_copy. */
static uint8_t *map(const char *path, int flags, size_t *ret_len, uint8_t **ret_copy)
{
	struct stat st;
	uint8_t *p;
	int fd = open(path, flags == MAP_SHARED ? O_RDWR : O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 8192)
		exit(2);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, flags, fd, 0);
	close(fd);
	*ret_copy = malloc((size_t)st.st_size);
	if (p == MAP_FAILED || !*ret_copy)
		exit(2);
	*ret_len = (size_t)st.st_size;
	return p;
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 2 * 1000 * 1000};
	uint8_t *priv = NULL, *shared = NULL, *priv_copy = NULL, *shared_copy = NULL;
	size_t priv_len = 0, shared_len = 0;
	int fd, fifo = -1;
	uint64_t n = 0;

	if (argc < 2 || argc > 5) {
		fprintf(stderr, "usage: mapped COUNTFILE [PRIVATE-FILE [SHARED-FILE [FIFO]]]\n");
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return 2;
	if (argc > 2 && strcmp(argv[2], "-")) {
		priv = map(argv[2], MAP_PRIVATE, &priv_len, &priv_copy);
		priv[4096 + 17] ^= 0xff;
		memcpy(priv_copy, priv, priv_len);
	}
	if (argc > 3 && strcmp(argv[3], "-")) {
		shared = map(argv[3], MAP_SHARED, &shared_len, &shared_copy);
		memcpy(shared_copy, shared, shared_len);
	}
	if (argc > 4 && strcmp(argv[4], "-")) {
		fifo = open(argv[4], O_RDWR | O_NONBLOCK);
		if (fifo < 0 || write(fifo, MSG, sizeof(MSG)) != sizeof(MSG))
			return 2;
	}
	signal(SIGUSR1, on_usr1);
	for (;;) {
		char line[32];

		if (priv && memcmp(priv, priv_copy, priv_len))
			bad(fd, "private mapping");
		if (shared && memcmp(shared, shared_copy, shared_len))
			bad(fd, "shared mapping");
		if (usr1) {
			char buf[64];

			usr1 = 0;
			if (read(fifo, buf, sizeof(buf)) != sizeof(MSG) ||
			    memcmp(buf, MSG, sizeof(MSG)) ||
			    write(fifo, MSG, sizeof(MSG)) != sizeof(MSG))
				bad(fd, "fifo");
		}
		n++;
		if (shared) {
			memcpy(shared, &n, sizeof(n));
			memcpy(shared_copy, &n, sizeof(n));
		}
		snprintf(line, sizeof(line), "%020llu\n", (unsigned long long)n);
		if (pwrite(fd, line, 21, 0) != 21)
			return 4;
		nanosleep(&ts, NULL);
	}
}
