/* Memory mappings: private file mappings with pages written (copied on write) and
 * pages not, a shared writable file mapping, shared anonymous memory, guard pages,
 * a grows-down area, madvise and mlock flags, the vdso, and the whole map
 * (/proc/self/maps) with cmdline, environ, exe and auxv. */
#include "ct.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define FILE_PAGES 8

static uint8_t *priv, *shared, *shanon, *guard, *down, *adv;
static char file[4200], maps_before[65536], cmdline[4096], environ_[65536], exe[4096];
static uint8_t auxv[4096];
static ssize_t auxv_len;
static int shared_fd;

static ssize_t slurp(const char *path, void *buf, size_t n)
{
	int fd = open(path, O_RDONLY);
	ssize_t got = 0, k;

	if (fd < 0)
		return -1;
	while ((size_t)got < n - 1 && (k = read(fd, (char *)buf + got, n - 1 - (size_t)got)) > 0)
		got += k;
	close(fd);
	((char *)buf)[got] = '\0';
	return got;
}

/* The VmFlags line of the area starting at addr. */
static int vmflags(void *addr, char *out, size_t n)
{
	static char smaps[1 << 20];
	char head[32], *p;

	if (slurp("/proc/self/smaps", smaps, sizeof(smaps)) < 0)
		return -1;
	snprintf(head, sizeof(head), "%lx-", (unsigned long)addr);
	p = strstr(smaps, head);
	if (!p || (p != smaps && p[-1] != '\n'))
		return -1;
	p = strstr(p, "VmFlags:");
	if (!p)
		return -1;
	snprintf(out, n, "%.*s", (int)strcspn(p, "\n"), p);
	return 0;
}

static int has_flag(void *addr, const char *flag)
{
	char line[512], want[8];

	if (vmflags(addr, line, sizeof(line)) < 0)
		return 0;
	snprintf(want, sizeof(want), " %s", flag);
	return strstr(line, want) != NULL;
}

static int setup(void)
{
	uint8_t page[4096];
	int fd;

	snprintf(file, sizeof(file), "%s/data", ct_dir());
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CT_SYS(fd);
	for (int p = 0; p < FILE_PAGES; p++) {
		memset(page, 'a' + p, sizeof(page));
		CT_SYS(write(fd, page, sizeof(page)));
	}
	priv = mmap(NULL, FILE_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CT_TRUE(priv != MAP_FAILED);
	priv[1 * 4096] = 'X'; /* pages 1 and 5 copied on write */
	priv[5 * 4096 + 100] = 'Y';
	(void)priv[2 * 4096]; /* page 2 only read */
	shared_fd = open(file, O_RDWR);
	CT_SYS(shared_fd);
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd, 4 * 4096);
	CT_TRUE(shared != MAP_FAILED);
	shared[10] = 'S';
	close(fd);

	shanon = mmap(NULL, 16 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CT_TRUE(shanon != MAP_FAILED);
	for (int i = 0; i < 16; i += 3)
		shanon[i * 4096 + 7] = (uint8_t)(i + 1);

	/* readable | guard | readable */
	guard = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CT_TRUE(guard != MAP_FAILED);
	guard[0] = 1;
	guard[2 * 4096] = 3;
	CT_SYS(mprotect(guard + 4096, 4096, PROT_NONE));

	down = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
	CT_TRUE(down != MAP_FAILED);
	down[3 * 4096 + 5] = 0x42;

	adv = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CT_TRUE(adv != MAP_FAILED);
	CT_SYS(madvise(adv, 2 * 4096, MADV_DONTFORK));
	CT_SYS(madvise(adv + 2 * 4096, 2 * 4096, MADV_DONTDUMP));
	CT_SYS(madvise(adv + 4 * 4096, 2 * 4096, MADV_WIPEONFORK));
	CT_SYS(mlock(adv + 6 * 4096, 2 * 4096));
	adv[7 * 4096] = 9;

	/* The harness protocol's stdio may start the heap: have it before the snapshot. */
	free(malloc(100));
	dprintf(2, "maps taken\n");
	CT_TRUE(slurp("/proc/self/maps", maps_before, sizeof(maps_before)) > 0);
	CT_TRUE(slurp("/proc/self/cmdline", cmdline, sizeof(cmdline)) > 0);
	CT_TRUE(slurp("/proc/self/environ", environ_, sizeof(environ_)) >= 0);
	auxv_len = slurp("/proc/self/auxv", auxv, sizeof(auxv));
	CT_TRUE(auxv_len > 0);
	CT_SYS(readlink("/proc/self/exe", exe, sizeof(exe) - 1));
	return 0;
}

/* Two lines of maps are the same mapping; shared anonymous memory is a new object
 * after a restart, so its inode number may differ. */
static int same_line(const char *a, size_t la, const char *b, size_t lb)
{
	char x[512], y[512];
	unsigned long ia, ib;
	int pa, pb, ha = 0, hb = 0;

	if (la == lb && !memcmp(a, b, la))
		return 1;
	snprintf(x, sizeof(x), "%.*s", (int)la, a);
	snprintf(y, sizeof(y), "%.*s", (int)lb, b);
	if (!strstr(x, "/dev/zero (deleted)") || !strstr(y, "/dev/zero (deleted)"))
		return 0;
	if (sscanf(x, "%*s %*s %*s %*s %n%lu %n", &ha, &ia, &pa) < 1 ||
	    sscanf(y, "%*s %*s %*s %*s %n%lu %n", &hb, &ib, &pb) < 1)
		return 0;
	return ha == hb && !strncmp(x, y, (size_t)ha) && !strcmp(x + pa, y + pb);
}

/* The first line where two maps differ, for the failure message. */
static int same_maps(const char *a, const char *b)
{
	while (*a && *b) {
		size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");

		if (!same_line(a, la, b, lb))
			CT_FAIL("maps differ: before \"%.*s\", now \"%.*s\"", (int)la, a, (int)lb, b);
		a += la + (a[la] != 0);
		b += lb + (b[lb] != 0);
	}
	if (*a || *b)
		CT_FAIL("maps differ in length: before ...\"%.80s\", now ...\"%.80s\"", a, b);
	return 0;
}

static int check(void)
{
	static char now[65536], buf[4096];
	uint8_t page[16];
	struct timespec ts;
	ssize_t n;

	for (int p = 0; p < FILE_PAGES; p++) {
		uint8_t want = p == 1 && 0 ? 0 : (uint8_t)('a' + p);

		if (p == 1)
			CT_EQ(priv[p * 4096], 'X');
		else if (p == 4)
			CT_EQ(priv[p * 4096 + 10], 'S'); /* not copied: sees the shared write */
		else
			CT_EQ(priv[p * 4096], want);
	}
	CT_EQ(priv[5 * 4096 + 100], 'Y');
	CT_EQ(priv[5 * 4096], 'f');
	/* The shared mapping still writes through to the file. */
	CT_EQ(shared[10], 'S');
	shared[11] = 'T';
	CT_EQ(pread(shared_fd, page, 2, 4 * 4096 + 10), 2);
	CT_EQ(page[0], 'S');
	CT_EQ(page[1], 'T');
	for (int i = 0; i < 16; i++)
		CT_EQ(shanon[i * 4096 + 7], i % 3 == 0 ? i + 1 : 0);
	CT_EQ(guard[0], 1);
	CT_EQ(guard[2 * 4096], 3);
	CT_EQ(down[3 * 4096 + 5], 0x42);
	CT_TRUE(has_flag(down, "gd"));
	CT_TRUE(has_flag(adv, "dc"));
	CT_TRUE(has_flag(adv + 2 * 4096, "dd"));
	CT_TRUE(has_flag(adv + 4 * 4096, "wf"));
	CT_TRUE(has_flag(adv + 6 * 4096, "lo"));
	CT_EQ(adv[7 * 4096], 9);

	/* The vdso is where glibc expects it, and works. */
	CT_SYS(clock_gettime(CLOCK_MONOTONIC, &ts));
	CT_SYS(clock_gettime(CLOCK_REALTIME, &ts));
	CT_TRUE(strstr(maps_before, "[vdso]") != NULL);

	CT_TRUE(slurp("/proc/self/maps", now, sizeof(now)) > 0);
	if (same_maps(maps_before, now))
		return 1;
	CT_TRUE(slurp("/proc/self/cmdline", buf, sizeof(buf)) > 0);
	CT_STREQ(buf, cmdline);
	CT_TRUE(slurp("/proc/self/environ", now, sizeof(now)) >= 0);
	CT_STREQ(now, environ_);
	n = slurp("/proc/self/auxv", now, sizeof(now));
	CT_EQ(n, auxv_len);
	CT_MEMEQ(now, auxv, (size_t)auxv_len);
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	CT_SYS(n);
	buf[n] = '\0';
	CT_STREQ(buf, exe);
	return 0;
}

CT_MAIN(setup, check)
