/* Open files: regular files read-only, write-only, read-write and O_APPEND, at their
 * offsets (one far past the end), with O_NONBLOCK and close-on-exec on some; a
 * directory in the middle of a listing; O_PATH descriptors; descriptors at high
 * numbers; /dev/null, /dev/zero, /dev/urandom; the process's own /proc/PID/status; a
 * symbolic link held with O_PATH; O_DIRECT | O_DSYNC; dup() and dup3() copies that must still
 * share one open file (kcmp, offsets, status flags), and two opens of one file that
 * must not. The set of descriptors must be exactly the saved one, with a gap at 2
 * (stderr moved to 600).
 *
 * Files open for writing are truncated back to their size at the checkpoint. To see
 * that, a watcher process (outside the checkpoint) appends to two of them whenever
 * cr_restart opens them (fanotify permission events hold cr_restart's open until the
 * data is written), so the restored files have grown unless the truncation happens. */
#include "ct.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXFD 64
#define GROW 1000 /* bytes the watcher appends at each open by cr_restart */
#define FAR_POS (1ll << 33)
#define NDIRENT 60
#define WATCH_MAX_MS (600 * 1000) /* the watcher's longest wait for an event */

/* What setup() saw of one descriptor. */
struct fdsave {
	int fd;
	char link[4096];
	dev_t dev;
	ino_t ino;
	dev_t rdev;
	char pos[64];   /* fdinfo "pos:" line */
	char flags[64]; /* fdinfo "flags:" line (octal, with O_CLOEXEC) */
	int fdflags;    /* F_GETFD */
	int flflags;    /* F_GETFL */
};

static struct fdsave saved[MAXFD];
static int nsaved;

static int fd_ro, fd_wo, fd_rw, fd_ap, fd_far, fd_dir, fd_path, fd_dpath, fd_lpath, fd_sync;
static int fd_null, fd_zero, fd_rand, fd_status;
static int fd_rw_dup, fd_rw_hi, fd_rw_other, fd_hi;
static char rest_names[NDIRENT][256]; /* directory entries after the position */
static int nrest;
static off_t dir_pos;
static off_t size_wo, size_ap;
static pid_t watcher;
static ino_t pidns_ino; /* our pid namespace at the start */

static uint8_t pattern(size_t i, int salt)
{
	return (uint8_t)((i * 2654435761u >> 11) + (unsigned)salt * 31u);
}

static int make_file(const char *name, size_t len, int salt)
{
	uint8_t buf[8192];
	int fd;

	if (len > sizeof(buf))
		return -1;
	for (size_t i = 0; i < len; i++)
		buf[i] = pattern(i, salt);
	fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (write(fd, buf, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return close(fd);
}

/* Every descriptor of ours, in order. */
static int list_fds(int *fds, int max)
{
	char buf[8192];
	int d, n = 0;
	long nread;

	d = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return -1;
	while ((nread = syscall(SYS_getdents64, d, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < nread;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			char *end;
			long fd = strtol(de->d_name, &end, 10);

			off += de->d_reclen;
			if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end || fd == d)
				continue;
			if (n == max) {
				close(d);
				return -1;
			}
			fds[n++] = (int)fd;
		}
	}
	close(d);
	/* Sorted, to compare lists. */
	for (int i = 1; i < n; i++)
		for (int k = i; k > 0 && fds[k - 1] > fds[k]; k--) {
			int t = fds[k];

			fds[k] = fds[k - 1];
			fds[k - 1] = t;
		}
	return n;
}

static int describe(int fd, struct fdsave *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	if (ct_fd_link(fd, s->link, sizeof(s->link)) < 0 || fstat(fd, &st) < 0)
		return -1;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->rdev = st.st_rdev;
	if (ct_fdinfo_line(fd, "pos", s->pos, sizeof(s->pos)) < 0 ||
	    ct_fdinfo_line(fd, "flags", s->flags, sizeof(s->flags)) < 0)
		return -1;
	s->fdflags = fcntl(fd, F_GETFD);
	s->flflags = fcntl(fd, F_GETFL);
	return s->fdflags < 0 || s->flflags < 0 ? -1 : 0;
}

/* Names getdents64 returns on fd from where it stands to the end. */
static int dir_rest(int fd, char names[][256], int max)
{
	char buf[4096];
	int n = 0;
	long nread;

	while ((nread = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < nread;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);

			off += de->d_reclen;
			if (n == max)
				return -1;
			snprintf(names[n++], 256, "%s", de->d_name);
		}
	return nread < 0 ? -1 : n;
}

/* The watcher: outside the checkpoint (its own session, parent init), it appends GROW
 * bytes to "wo" or "ap" each time cr_restart opens it, before letting the open go on.
 * It ends when the test or the harness ends. */
static void __attribute__((noreturn)) watch(int ready_fd, pid_t harness)
{
	int fan, hfd, wo, ap;
	struct stat st_wo, st_ap;
	char junk[GROW];

	memset(junk, 'Z', sizeof(junk));
	hfd = (int)syscall(SYS_pidfd_open, harness, 0);
	wo = open("wo", O_WRONLY | O_APPEND | O_CLOEXEC);
	ap = open("ap", O_WRONLY | O_APPEND | O_CLOEXEC);
	fan = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY | O_CLOEXEC);
	if (hfd < 0 || wo < 0 || ap < 0 || fan < 0 || fstat(wo, &st_wo) < 0 ||
	    fstat(ap, &st_ap) < 0 ||
	    fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, "wo") < 0 ||
	    fanotify_mark(fan, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, "ap") < 0) {
		dprintf(2, "watcher: cannot set up: %s\n", strerror(errno));
		_exit(1);
	}
	if (write(ready_fd, "R", 1) != 1)
		_exit(1);
	close(ready_fd);
	for (;;) {
		struct pollfd p[2] = {{fan, POLLIN, 0}, {hfd, POLLIN, 0}};
		char buf[4096];
		ssize_t n;

		int r = poll(p, 2, WATCH_MAX_MS);

		if (r < 0 && errno != EINTR)
			_exit(1);
		/* The harness is gone, or something went wrong long ago: never linger. */
		if (r == 0 || p[1].revents)
			_exit(0);
		if (!(p[0].revents & POLLIN))
			continue;
		n = read(fan, buf, sizeof(buf));
		for (struct fanotify_event_metadata *md = (void *)buf; n > 0 && FAN_EVENT_OK(md, n);
		     md = FAN_EVENT_NEXT(md, n)) {
			struct fanotify_response resp = {md->fd, FAN_ALLOW};
			char path[64], comm[32] = "";
			struct stat st;
			ssize_t k;
			int cf;

			snprintf(path, sizeof(path), "/proc/%d/comm", md->pid);
			cf = open(path, O_RDONLY | O_CLOEXEC);
			if (cf >= 0) {
				k = read(cf, comm, sizeof(comm) - 1);
				comm[k > 0 ? k : 0] = '\0';
				close(cf);
			}
			if (!strcmp(comm, "cr_restart\n") && fstat(md->fd, &st) == 0) {
				if (st.st_ino == st_wo.st_ino && write(wo, junk, GROW) != GROW)
					_exit(1);
				if (st.st_ino == st_ap.st_ino && write(ap, junk, GROW) != GROW)
					_exit(1);
			}
			if (write(fan, &resp, sizeof(resp)) != sizeof(resp))
				_exit(1);
			close(md->fd);
		}
	}
}

static int start_watcher(void)
{
	int p[2], w[2], st;
	pid_t harness = getppid(), mid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0 || pipe2(w, O_CLOEXEC) < 0)
		return -1;
	mid = fork();
	if (mid < 0)
		return -1;
	if (mid == 0) {
		pid_t w2;
		int null = open("/dev/null", O_RDWR);

		/* Out of the test's process group and session, whose ids must be free when
		 * the test is restored; and off its stdin and stdout. */
		setsid();
		dup2(null, 0);
		dup2(null, 1);
		close(p[0]);
		close(w[0]);
		w2 = fork();
		if (w2 == 0)
			watch(p[1], harness);
		if (write(w[1], &w2, sizeof(w2)) != sizeof(w2))
			_exit(1);
		_exit(w2 > 0 ? 0 : 1);
	}
	close(p[1]);
	close(w[1]);
	if (waitpid(mid, &st, 0) != mid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	if (read(w[0], &watcher, sizeof(watcher)) != sizeof(watcher) || read(p[0], &c, 1) != 1)
		return -1;
	close(w[0]);
	close(p[0]);
	return 0;
}

static int stop_watcher(void)
{
	int pfd = (int)syscall(SYS_pidfd_open, watcher, 0);
	struct pollfd p;
	struct stat ns;

	/* Restarted in a new pid namespace (--pidns), we cannot see it: it ends with
	 * the harness. */
	if (pfd < 0 && errno == ESRCH && stat("/proc/self/ns/pid", &ns) == 0 &&
	    ns.st_ino != pidns_ino)
		return 0;
	if (pfd < 0)
		return -1;
	kill(watcher, SIGKILL);
	p = (struct pollfd){pfd, POLLIN, 0};
	if (poll(&p, 1, 10000) != 1) {
		close(pfd);
		return -1;
	}
	close(pfd);
	return 0;
}

static int setup(void)
{
	char buf[256];
	int fds[MAXFD], n, tmp;
	struct stat ns;

	CT_SYS(make_file("ro", 4096, 1));
	CT_SYS(make_file("wo", 1000, 2));
	CT_SYS(make_file("rw", 3000, 3));
	CT_SYS(make_file("ap", 700, 4));
	CT_SYS(make_file("hi", 2000, 5));
	CT_SYS(mkdir("dir", 0755));
	for (int i = 0; i < NDIRENT; i++) {
		snprintf(buf, sizeof(buf), "dir/entry-%02d", i);
		CT_SYS(make_file(buf, 0, 0));
	}
	CT_SYS(stat("/proc/self/ns/pid", &ns));
	pidns_ino = ns.st_ino;
	CT_SYS(start_watcher());
	/* A gap among the low numbers: cr_restart's own stderr must not fill it. */
	CT_SYS(fcntl(2, F_DUPFD, 600));
	CT_SYS(close(2));

	CT_SYS(fd_ro = open("ro", O_RDONLY));
	CT_SYS(lseek(fd_ro, 123, SEEK_SET));
	CT_SYS(fd_wo = open("wo", O_WRONLY | O_CLOEXEC));
	CT_SYS(lseek(fd_wo, 500, SEEK_SET));
	CT_SYS(fd_rw = open("rw", O_RDWR | O_NONBLOCK));
	CT_SYS(lseek(fd_rw, 2999, SEEK_SET));
	CT_SYS(fd_ap = open("ap", O_WRONLY | O_APPEND));
	/* With O_APPEND the offset still is what it was set to, until the next write. */
	CT_SYS(lseek(fd_ap, 100, SEEK_SET));
	CT_SYS(fd_far = open("ro", O_RDONLY | O_CLOEXEC | O_NOATIME));
	CT_SYS(lseek(fd_far, FAR_POS, SEEK_SET));

	CT_SYS(fd_dir = open("dir", O_RDONLY | O_DIRECTORY));
	/* Read part of the listing: the position is then inside it. */
	CT_TRUE(syscall(SYS_getdents64, fd_dir, buf, sizeof(buf)) > 0);
	CT_SYS(dir_pos = lseek(fd_dir, 0, SEEK_CUR));
	CT_TRUE(dir_pos > 0);
	CT_SYS(tmp = open("dir", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	CT_SYS(lseek(tmp, dir_pos, SEEK_SET));
	CT_SYS(nrest = dir_rest(tmp, rest_names, NDIRENT));
	CT_TRUE(nrest > 0 && nrest < NDIRENT);
	close(tmp);

	CT_SYS(fd_path = open("rw", O_PATH));
	CT_SYS(fd_dpath = open("dir", O_PATH | O_DIRECTORY | O_CLOEXEC));
	/* The symbolic link itself. */
	CT_SYS(symlink("ro", "link"));
	CT_SYS(fd_lpath = open("link", O_PATH | O_NOFOLLOW));
	CT_SYS(fd_sync = open("rw", O_RDWR | O_DSYNC | O_DIRECT));
	/* Our own /proc files: those of the restored process afterwards. */
	CT_SYS(fd_status = open("/proc/self/status", O_RDONLY));
	CT_SYS(lseek(fd_status, 0, SEEK_SET));
	{
		char name[32];
		ssize_t k;

		/* Just past the "Name:" line. */
		CT_SYS(k = read(fd_status, name, sizeof(name)));
		CT_TRUE(k > 0 && memchr(name, '\n', (size_t)k));
		CT_SYS(
		    lseek(fd_status, (char *)memchr(name, '\n', (size_t)k) - name + 1, SEEK_SET));
	}
	CT_SYS(fd_null = open("/dev/null", O_RDWR));
	CT_SYS(fd_zero = open("/dev/zero", O_RDONLY | O_CLOEXEC));
	CT_SYS(fd_rand = open("/dev/urandom", O_RDONLY | O_NONBLOCK));

	/* Copies of fd_rw share its open file; another open of "rw" does not. */
	CT_SYS(fd_rw_dup = dup(fd_rw));
	CT_SYS(fd_rw_hi = dup3(fd_rw, 1000, O_CLOEXEC));
	CT_SYS(fd_rw_other = open("rw", O_RDWR));
	CT_SYS(lseek(fd_rw_other, 17, SEEK_SET));
	/* An open file alone at a high number. */
	CT_SYS(tmp = open("hi", O_RDWR));
	CT_SYS(lseek(tmp, 42, SEEK_SET));
	CT_SYS(fd_hi = dup2(tmp, 500));
	close(tmp);

	size_wo = 1000;
	size_ap = 700;
	CT_SYS(n = list_fds(fds, MAXFD));
	for (int i = 0; i < n; i++)
		CT_SYS(describe(fds[i], &saved[i]));
	nsaved = n;
	return 0;
}

static int check_same_fds(void)
{
	int fds[MAXFD], n;

	CT_SYS(n = list_fds(fds, MAXFD));
	CT_EQ(n, nsaved);
	for (int i = 0; i < n; i++) {
		struct fdsave now;

		CT_EQ(fds[i], saved[i].fd);
		CT_SYS(describe(fds[i], &now));
		/* The harness's pipes (stdin, stdout) are cr_restart's after a restart:
		 * other pipes, same kind of end. Files are the same inodes, but for
		 * those in /proc, made anew for the new process. */
		if (strncmp(now.link, "pipe:", 5)) {
			CT_STREQ(now.link, saved[i].link);
			if (strncmp(now.link, "/proc/", 6))
				CT_EQ(now.ino, saved[i].ino);
		} else {
			CT_TRUE(!strncmp(saved[i].link, "pipe:", 5));
		}
		if (strncmp(now.link, "/proc/", 6)) {
			CT_EQ(now.dev, saved[i].dev);
		} else {
			/* The /proc we see now: after --pidns, the new namespace's. */
			struct stat proc;

			CT_SYS(stat("/proc", &proc));
			CT_EQ(now.dev, proc.st_dev);
		}
		CT_EQ(now.rdev, saved[i].rdev);
		CT_STREQ(now.pos, saved[i].pos);
		CT_STREQ(now.flags, saved[i].flags);
		CT_EQ(now.fdflags, saved[i].fdflags);
		CT_EQ(now.flflags, saved[i].flflags);
	}
	return 0;
}

static int check_sharing(void)
{
	off_t o;

	CT_EQ(ct_kcmp_file(fd_rw, fd_rw_dup), 0);
	CT_EQ(ct_kcmp_file(fd_rw, fd_rw_hi), 0);
	CT_TRUE(ct_kcmp_file(fd_rw, fd_rw_other) != 0);
	CT_TRUE(ct_kcmp_file(fd_ro, fd_far) != 0);
	CT_TRUE(ct_kcmp_file(fd_rw, fd_path) != 0);
	/* One offset, one set of status flags. */
	CT_SYS(lseek(fd_rw_dup, 1234, SEEK_SET));
	CT_SYS(o = lseek(fd_rw, 0, SEEK_CUR));
	CT_EQ(o, 1234);
	CT_SYS(o = lseek(fd_rw_hi, 0, SEEK_CUR));
	CT_EQ(o, 1234);
	CT_SYS(o = lseek(fd_rw_other, 0, SEEK_CUR));
	CT_EQ(o, 17);
	CT_SYS(fcntl(fd_rw_hi, F_SETFL, 0));
	CT_EQ(fcntl(fd_rw, F_GETFL) & O_NONBLOCK, 0);
	CT_SYS(fcntl(fd_rw, F_SETFL, O_NONBLOCK));
	CT_EQ(fcntl(fd_rw_dup, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	/* Close-on-exec stays per descriptor. */
	CT_EQ(fcntl(fd_rw_hi, F_GETFD), FD_CLOEXEC);
	CT_EQ(fcntl(fd_rw_dup, F_GETFD), 0);
	return 0;
}

static int check_data(void)
{
	uint8_t b[64];
	struct stat st;
	char names[NDIRENT][256];
	int n;

	/* Reads continue where they stood. */
	CT_EQ(read(fd_ro, b, 10), 10);
	for (int i = 0; i < 10; i++)
		CT_EQ(b[i], pattern(123 + i, 1));
	CT_EQ(read(fd_rw, b, 10), 1);
	CT_EQ(b[0], pattern(2999, 3));
	CT_EQ(read(fd_far, b, 10), 0);
	CT_EQ(read(fd_hi, b, 4), 4);
	for (int i = 0; i < 4; i++)
		CT_EQ(b[i], pattern(42 + i, 5));
	CT_EQ(read(fd_zero, b, sizeof(b)), sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		CT_EQ(b[i], 0);
	CT_EQ(read(fd_rand, b, sizeof(b)), sizeof(b));
	CT_EQ(write(fd_null, b, 7), 7);
	CT_EQ(read(fd_null, b, 7), 0);

	/* Our /proc/self/status, read on from its offset. */
	CT_EQ(read(fd_status, b, 6), 6);
	CT_MEMEQ(b, "Umask:", 6);

	/* The O_PATH descriptor of a symbolic link is still the link. */
	{
		char target[16];
		ssize_t k;

		CT_SYS(fstatat(fd_lpath, "", &st, AT_EMPTY_PATH));
		CT_TRUE(S_ISLNK(st.st_mode));
		CT_SYS(k = readlinkat(fd_lpath, "", target, sizeof(target)));
		CT_EQ(k, 2);
		CT_MEMEQ(target, "ro", 2);
	}
	CT_EQ(fcntl(fd_sync, F_GETFL) & (O_DIRECT | O_DSYNC | O_ACCMODE),
	      O_DIRECT | O_DSYNC | O_RDWR);

	/* The directory listing goes on with the same entries. */
	CT_SYS(n = dir_rest(fd_dir, names, NDIRENT));
	CT_EQ(n, nrest);
	for (int i = 0; i < n; i++)
		CT_STREQ(names[i], rest_names[i]);

	/* Files open for writing are as big as at the checkpoint, whatever was added to
	 * them after it; writes land where the offset and O_APPEND say. */
	CT_SYS(fstat(fd_wo, &st));
	CT_EQ(st.st_size, size_wo);
	CT_SYS(fstat(fd_ap, &st));
	CT_EQ(st.st_size, size_ap);
	CT_EQ(write(fd_wo, "WO", 2), 2);
	CT_EQ(lseek(fd_wo, 0, SEEK_CUR), 502);
	CT_EQ(write(fd_ap, "AP", 2), 2);
	CT_EQ(lseek(fd_ap, 0, SEEK_CUR), size_ap + 2);
	{
		int f;

		CT_SYS(f = open("wo", O_RDONLY | O_CLOEXEC));
		CT_EQ(pread(f, b, 4, 499), 4);
		CT_EQ(b[0], pattern(499, 2));
		CT_MEMEQ(b + 1, "WO", 2);
		CT_EQ(b[3], pattern(502, 2));
		close(f);
		CT_SYS(f = open("ap", O_RDONLY | O_CLOEXEC));
		CT_SYS(fstat(f, &st));
		CT_EQ(st.st_size, size_ap + 2);
		CT_EQ(pread(f, b, 3, size_ap - 1), 3);
		CT_EQ(b[0], pattern(size_ap - 1, 4));
		CT_MEMEQ(b + 1, "AP", 2);
		close(f);
	}
	return 0;
}

static int check(void)
{
	int rc = check_same_fds();

	if (rc == 0)
		rc = check_data();
	if (rc == 0)
		rc = check_sharing();
	if (stop_watcher() < 0 && rc == 0)
		CT_FAIL("the watcher process did not end");
	return rc;
}

CT_MAIN(setup, check)
