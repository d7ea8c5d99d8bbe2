/* inotify: an instance with watches on a directory, a file (IN_ONESHOT), another
 * file (IN_EXCL_UNLINK), a symbolic link itself (IN_DONT_FOLLOW) and a directory of
 * another filesystem (/dev/shm), with gaps in their watch descriptors (watches added
 * and removed in between); a second, blocking instance watching the same directory.
 * After GO fdinfo must list the same watches (descriptor, inode, device, mask,
 * handle) and the flags be the same; events on the watched files must arrive with
 * the saved watch descriptors, masks and names, and nothing else; and the next new
 * watch must get the number after the highest. A thread blocked reading a third
 * instance at the checkpoint must get the event on its file made after GO. */
#include "ct.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_LINES 16
#define SHM_DIR_FMT "/dev/shm/crest-inotify-test.%d"

static int in1, in2;
static int wd_dir, wd_file, wd_g, wd_lnk, wd_shm, wd2_dir;
static int fl[2], fdfl[2];
static char lines[2][MAX_LINES][256];
static int nlines[2];
static char shm_dir[64];

/* The reader: blocked in read() on its own instance at the checkpoint. */
static int reader_in;
static pthread_t reader;
static ssize_t reader_ret = -2;
static struct inotify_event reader_ev;

static void *read_blocked(void *arg)
{
	(void)arg;
	reader_ret = read(reader_in, &reader_ev, sizeof(reader_ev));
	return NULL;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The watch lines of fdinfo, sorted. */
static int watches(int fd, char out[MAX_LINES][256], int *n)
{
	char buf[8192], *p;

	if (ct_fdinfo(fd, buf, sizeof(buf)) < 0)
		return -1;
	*n = 0;
	for (p = strstr(buf, "inotify wd:"); p && *n < MAX_LINES;
	     p = strstr(p + 1, "inotify wd:")) {
		snprintf(out[*n], 256, "%.*s", (int)strcspn(p, "\n"), p);
		(*n)++;
	}
	qsort(out, (size_t)*n, sizeof(out[0]), cmp_line);
	return 0;
}

static int touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

/* Drain what setup's own changes queued. */
static void drain(int fd)
{
	char buf[4096];
	struct pollfd pfd = {fd, POLLIN, 0};

	while (poll(&pfd, 1, 0) == 1 && read(fd, buf, sizeof(buf)) > 0)
		;
}

static int setup(void)
{
	int tmp;

	snprintf(shm_dir, sizeof(shm_dir), SHM_DIR_FMT, getpid());
	CT_SYS(mkdir("d", 0755));
	CT_SYS(touch("d/f"));
	CT_SYS(touch("g"));
	CT_SYS(symlink("g", "lnk"));
	CT_SYS(mkdir(shm_dir, 0755));

	CT_SYS(in1 = inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
	CT_SYS(wd_dir = inotify_add_watch(in1, "d", IN_CREATE | IN_DELETE | IN_MOVED_TO));
	CT_SYS(tmp = inotify_add_watch(in1, "g", IN_MODIFY));
	CT_SYS(inotify_rm_watch(in1, tmp));
	CT_SYS(wd_file = inotify_add_watch(in1, "d/f", IN_MODIFY | IN_CLOSE_WRITE | IN_ONESHOT));
	for (int i = 0; i < 5; i++) {
		CT_SYS(tmp = inotify_add_watch(in1, "g", IN_MODIFY));
		CT_SYS(inotify_rm_watch(in1, tmp));
	}
	CT_SYS(wd_g = inotify_add_watch(in1, "g", IN_ATTRIB | IN_EXCL_UNLINK));
	CT_SYS(wd_lnk = inotify_add_watch(in1, "lnk", IN_ATTRIB | IN_DONT_FOLLOW));
	CT_SYS(wd_shm = inotify_add_watch(in1, shm_dir, IN_DELETE_SELF | IN_ONLYDIR));
	CT_EQ(wd_dir, 1);
	CT_EQ(wd_file, 3);
	CT_EQ(wd_g, 9);
	CT_EQ(wd_lnk, 10);
	CT_EQ(wd_shm, 11);
	drain(in1);

	CT_SYS(in2 = inotify_init1(0));
	CT_SYS(wd2_dir = inotify_add_watch(in2, "d", IN_ALL_EVENTS));
	for (int i = 0; i < 2; i++) {
		int fd = i ? in2 : in1;

		CT_SYS(fl[i] = fcntl(fd, F_GETFL));
		CT_SYS(fdfl[i] = fcntl(fd, F_GETFD));
		CT_SYS(watches(fd, lines[i], &nlines[i]));
	}
	CT_EQ(nlines[0], 5);
	CT_EQ(nlines[1], 1);

	CT_SYS(reader_in = inotify_init1(IN_CLOEXEC));
	CT_EQ(inotify_add_watch(reader_in, "g", IN_ATTRIB), 1);
	if (ct_start_blocked(&reader, read_blocked, NULL, SYS_read))
		CT_FAIL("the reader did not block in read() within 10 s");
	return 0;
}

/* The reader was still waiting at GO, and got the change of "g" made since. */
static int check_reader(void)
{
	int rc;

	rc = ct_join(reader, NULL, 10);
	if (rc)
		CT_FAIL("joining the reader: %s", strerror(rc));
	CT_EQ(reader_ret, sizeof(reader_ev));
	CT_EQ(reader_ev.wd, 1);
	CT_EQ(reader_ev.mask, IN_ATTRIB);
	return 0;
}

struct ev {
	int wd;
	uint32_t mask;
	const char *name;
};

/* The events queued on fd must be exactly want. */
static int expect(int fd, const struct ev *want, int n)
{
	char buf[4096] __attribute__((aligned(8)));
	struct pollfd pfd = {fd, POLLIN, 0};
	ssize_t len = 0, off = 0;
	int i = 0;

	if (n)
		CT_EQ(poll(&pfd, 1, 5000), 1);
	if (poll(&pfd, 1, 0) == 1)
		CT_SYS(len = read(fd, buf, sizeof(buf)));
	for (; off < len; i++) {
		const struct inotify_event *e = (const void *)(buf + off);

		if (i >= n)
			CT_FAIL("event %d more than expected: wd %d mask %#x", i, e->wd, e->mask);
		CT_EQ(e->wd, want[i].wd);
		CT_EQ(e->mask, want[i].mask);
		CT_STREQ(e->len ? e->name : "", want[i].name);
		off += (ssize_t)(sizeof(*e) + e->len);
	}
	CT_EQ(i, n);
	return 0;
}

static int check(void)
{
	char now[MAX_LINES][256];
	struct timespec ts[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
	int n, fd;

	for (int i = 0; i < 2; i++) {
		fd = i ? in2 : in1;
		CT_EQ(fcntl(fd, F_GETFL), fl[i]);
		CT_EQ(fcntl(fd, F_GETFD), fdfl[i]);
		CT_SYS(watches(fd, now, &n));
		CT_EQ(n, nlines[i]);
		for (int k = 0; k < n; k++)
			CT_STREQ(now[k], lines[i][k]);
	}
	/* Nothing queued yet. */
	if (expect(in1, NULL, 0))
		return 1;
	CT_EQ(reader_ret, -2);
	CT_SYS(rmdir(shm_dir));
	{
		const struct ev want[] = {{wd_shm, IN_DELETE_SELF, ""}, {wd_shm, IN_IGNORED, ""}};

		if (expect(in1, want, 2))
			return 1;
	}

	CT_SYS(touch("d/new"));
	CT_SYS(fd = open("d/f", O_WRONLY | O_CLOEXEC));
	CT_EQ(write(fd, "x", 1), 1);
	close(fd);
	CT_SYS(chmod("g", 0600));
	CT_SYS(utimensat(AT_FDCWD, "lnk", ts, AT_SYMLINK_NOFOLLOW));
	{
		const struct ev want1[] = {
		    {wd_dir, IN_CREATE, "new"}, {wd_file, IN_MODIFY, ""},
		    {wd_file, IN_IGNORED, ""}, /* a one-shot goes after its event */
		    {wd_g, IN_ATTRIB, ""},      {wd_lnk, IN_ATTRIB, ""},
		};
		const struct ev want2[] = {
		    {wd2_dir, IN_CREATE, "new"},      {wd2_dir, IN_OPEN, "new"},
		    {wd2_dir, IN_CLOSE_WRITE, "new"}, {wd2_dir, IN_OPEN, "f"},
		    {wd2_dir, IN_MODIFY, "f"},        {wd2_dir, IN_CLOSE_WRITE, "f"},
		};

		if (expect(in1, want1, 5) || expect(in2, want2, 6))
			return 1;
	}
	/* The next watch gets the number after the highest (removed or not). */
	CT_EQ(inotify_add_watch(in1, "d/new", IN_ATTRIB), wd_shm + 1);
	return check_reader();
}

CT_MAIN(setup, check)
