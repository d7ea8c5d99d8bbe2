/* movable: a process whose files all live in one directory, for the --relocate and
 * changed-file tests (tests/cli/relocate.sh, tests/fail/changed.sh).
 *
 *   DIR/prog COUNT DIR [LIB]
 *
 * Run as a copy of itself in DIR (so the executable is DIR's too). It keeps DIR/file
 * open read-write at descriptor 10 and the named FIFO DIR/fifo read-write at 11, with
 * FIFO_TEXT in it, maps DIR/data privately and DIR/shared shared (read-write), loads
 * LIB (a copy of a shared library holding cos(), e.g. libm) with dlopen if given, and
 * works in DIR/work. Then every 2 ms it checks all of it (the file's and mappings'
 * contents, the bytes in the FIFO, cos(0) through the library) and counts: it writes
 * the count to COUNT (outside DIR, at offset 0, 20 digits and a newline). If a check
 * fails it writes "BAD what" to COUNT and exits 3. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FILE_FD 10
#define FIFO_FD 11
#define FIFO_TEXT "in the fifo"
#define FILE_TEXT "the open file\n"
#define DATA_TEXT "the private mapping\n"
#define SHARED_TEXT "the shared mapping\n"

static int count_fd = -1;

static void bad(const char *why)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "BAD %-16.16s\n", why);

	if (pwrite(count_fd, line, (size_t)n, 0) < 0)
		_exit(4);
	_exit(3);
}

static void *map(const char *dir, const char *name, int flags)
{
	char path[4096];
	void *p;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, flags & MAP_SHARED ? O_RDWR : O_RDONLY);
	if (fd < 0)
		return NULL;
	p = mmap(NULL, 4096, PROT_READ | (flags & MAP_SHARED ? PROT_WRITE : 0), flags, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

int main(int argc, char **argv)
{
	struct timespec ts = {0, 2 * 1000 * 1000};
	double (*cosine)(double) = NULL;
	char path[4096], buf[64];
	const char *data, *shared;
	uint64_t n = 0;
	int fd;

	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: DIR/prog COUNT DIR [LIB]\n");
		return 2;
	}
	count_fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	snprintf(path, sizeof(path), "%s/file", argv[2]);
	fd = open(path, O_RDWR);
	if (count_fd < 0 || fd < 0 || dup2(fd, FILE_FD) != FILE_FD)
		return 2;
	close(fd);
	snprintf(path, sizeof(path), "%s/fifo", argv[2]);
	fd = open(path, O_RDWR);
	if (fd < 0 || dup2(fd, FIFO_FD) != FIFO_FD ||
	    write(FIFO_FD, FIFO_TEXT, sizeof(FIFO_TEXT) - 1) != sizeof(FIFO_TEXT) - 1)
		return 2;
	close(fd);
	data = map(argv[2], "data", MAP_PRIVATE);
	shared = map(argv[2], "shared", MAP_SHARED);
	if (!data || !shared)
		return 2;
	if (argc == 4) {
		void *h = dlopen(argv[3], RTLD_NOW | RTLD_LOCAL);

		cosine = h ? (double (*)(double))dlsym(h, "cos") : NULL;
		if (!cosine)
			return 2;
	}
	snprintf(path, sizeof(path), "%s/work", argv[2]);
	if (chdir(path) < 0)
		return 2;
	for (;;) {
		char line[32];
		int avail;

		n++;
		if (pread(FILE_FD, buf, sizeof(FILE_TEXT) - 1, 0) != sizeof(FILE_TEXT) - 1 ||
		    memcmp(buf, FILE_TEXT, sizeof(FILE_TEXT) - 1))
			bad("file");
		if (memcmp(data, DATA_TEXT, sizeof(DATA_TEXT) - 1))
			bad("data");
		if (memcmp(shared, SHARED_TEXT, sizeof(SHARED_TEXT) - 1))
			bad("shared");
		if (ioctl(FIFO_FD, FIONREAD, &avail) < 0 || avail != sizeof(FIFO_TEXT) - 1)
			bad("fifo");
		if (cosine && cosine(0.0) != 1.0)
			bad("library");
		snprintf(line, sizeof(line), "%020llu\n", (unsigned long long)n);
		if (pwrite(count_fd, line, 21, 0) != 21)
			return 4;
		nanosleep(&ts, NULL);
	}
}
