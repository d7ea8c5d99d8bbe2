/* File locks: an exclusive and a shared flock(), two POSIX record locks (a write lock
 * on a range, a read lock to the end of the file) on a file the process also maps
 * shared, two OFD locks through two descriptions, and a thread blocked in
 * fcntl(F_SETLKW) on a lock held by a helper process outside the checkpoint. After the
 * checkpoint /proc/locks lists exactly the same locks with the process as holder,
 * another process sees them (F_GETLK, F_OFD_GETLK, flock), a second description of
 * the flock()ed file does not hold its lock, and once the helper lets go the blocked
 * thread gets its lock. */
#include "ct.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int fa, fb, fs, fp, fo1, fo2, fw;
static pid_t helper;
static pthread_t waiter;
static atomic_int waiter_ret = -2;
static uint8_t *mp;

enum { F_FLK, F_SHR, F_POSIX, F_OFD, F_WAIT, NFILES };
static const char *const names[NFILES] = {"flk", "shr", "posix", "ofd", "wait"};
static ino_t inos[NFILES];

static int lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};

	return fcntl(fd, cmd, &fl);
}

static void *wait_lock(void *arg)
{
	(void)arg;
	atomic_store(&waiter_ret, lock(fw, F_SETLKW, F_WRLCK, 0, 1));
	return NULL;
}

/* Our pid as /proc shows it (after a restart in a new pid namespace, /proc may still
 * be the outer one's). */
static int proc_pid(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return atoi(buf);
}

/* Our other thread (its tid is new after a restart at a new pid), or 0. */
static int other_thread(void)
{
	struct dirent *de;
	DIR *d = opendir("/proc/self/task");
	int tid = 0;

	while (d && (de = readdir(d)))
		if (atoi(de->d_name) > 0 && atoi(de->d_name) != proc_pid())
			tid = atoi(de->d_name);
	if (d)
		closedir(d);
	return tid;
}

/* A process that is not our child holds a write lock on byte 0 of "wait" until a
 * file "release" appears (or the harness that started us is gone, or a minute has
 * passed): no pid is needed to tell it, which a restart in a new pid namespace would
 * hide. Returns its pid. */
static pid_t start_helper(void)
{
	struct pollfd pfd;
	pid_t pid = -1, c;
	int p[2];

	pid_t harness = getppid();

	if (pipe(p) < 0)
		return -1;
	c = fork();
	if (c == 0) {
		if (fork() == 0) {
			struct timespec slice = {0, 10 * 1000 * 1000};
			int fd;

			/* Its own session: our pid must not stay in use as a group id. None
			 * of our descriptions: they would keep our flock and OFD locks. */
			setsid();
			syscall(SYS_close_range, 3, p[1] - 1, 0);
			syscall(SYS_close_range, p[1] + 1, ~0u, 0);
			fd = open("wait", O_RDWR);
			pid = getpid();
			if (fd < 0 || lock(fd, F_SETLK, F_WRLCK, 0, 1) < 0 ||
			    write(p[1], &pid, sizeof(pid)) != sizeof(pid))
				_exit(1);
			close(p[1]);
			for (int i = 0; i < 6000 && kill(harness, 0) == 0; i++) {
				if (access("release", F_OK) == 0)
					break;
				nanosleep(&slice, NULL);
			}
			_exit(0);
		}
		_exit(0);
	}
	close(p[1]);
	if (c < 0 || waitpid(c, NULL, 0) != c) {
		close(p[0]);
		return -1;
	}
	pfd = (struct pollfd){p[0], POLLIN, 0};
	if (poll(&pfd, 1, 10000) != 1 || read(p[0], &pid, sizeof(pid)) != sizeof(pid))
		pid = -1;
	close(p[0]);
	return pid;
}

/* A 4 KiB file, opened with flags. */
static int open_new(const char *name, int flags)
{
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || ftruncate(fd, 4096) < 0 || close(fd) < 0)
		return -1;
	return open(name, flags);
}

static int setup(void)
{
	struct stat st;

	CT_SYS(fa = open_new("flk", O_RDWR));
	CT_SYS(fb = open("flk", O_RDONLY));
	CT_SYS(flock(fa, LOCK_EX | LOCK_NB));
	CT_SYS(fs = open_new("shr", O_RDONLY));
	CT_SYS(flock(fs, LOCK_SH | LOCK_NB));
	CT_SYS(fp = open_new("posix", O_RDWR));
	mp = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fp, 0);
	CT_TRUE(mp != MAP_FAILED);
	CT_SYS(lock(fp, F_SETLK, F_WRLCK, 10, 20));
	CT_SYS(lock(fp, F_SETLK, F_RDLCK, 50, 0));
	CT_SYS(fo1 = open_new("ofd", O_RDWR));
	CT_SYS(fo2 = open("ofd", O_RDWR));
	CT_SYS(lock(fo1, F_OFD_SETLK, F_RDLCK, 5, 7));
	CT_SYS(lock(fo2, F_OFD_SETLK, F_WRLCK, 100, 10));
	CT_SYS(fw = open_new("wait", O_RDWR));
	for (int i = 0; i < NFILES; i++) {
		CT_SYS(stat(names[i], &st));
		inos[i] = st.st_ino;
	}
	helper = start_helper();
	CT_TRUE(helper > 0);
	if (ct_start_blocked(&waiter, wait_lock, NULL, SYS_fcntl))
		CT_FAIL("the waiting thread did not block in fcntl() within 10 s");
	return 0;
}

/* The locks /proc/locks lists on our files, as sorted "file KIND TYPE PID START END"
 * lines (waiters left out). */
static int proc_locks(char *out, size_t n)
{
	char lines[32][128], line[512], kind[16], type[16], devino[64], endf[32];
	FILE *f = fopen("/proc/locks", "r");
	int count = 0, pid;
	long long start;
	size_t used = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f) && count < 32) {
		const char *ino;

		if (strstr(line, "->"))
			continue;
		if (sscanf(line, "%*d: %15s %*s %15s %d %63s %lld %31s", kind, type, &pid, devino,
			   &start, endf) != 6)
			continue;
		ino = strrchr(devino, ':');
		for (int i = 0; ino && i < NFILES; i++)
			if ((ino_t)strtoull(ino + 1, NULL, 10) == inos[i])
				snprintf(lines[count++], sizeof(lines[0]), "%s %s %s %d %lld %s",
					 names[i], kind, type, pid, start, endf);
	}
	fclose(f);
	qsort(lines, (size_t)count, sizeof(lines[0]), (int (*)(const void *, const void *))strcmp);
	out[0] = '\0';
	for (int i = 0; i < count; i++)
		used += (size_t)snprintf(out + used, used < n ? n - used : 0, "%s\n", lines[i]);
	return 0;
}

/* In another process: what the locks look like from outside. Returns the line of
 * the first check that failed, 0 if none. */
static int look_from_outside(pid_t holder)
{
	struct flock fl;
	int fd;

#define GETLK(fd, cmd, t, s, l, want_t, want_s, want_l, want_pid)                                  \
	do {                                                                                       \
		fl = (struct flock){                                                               \
		    .l_type = (t), .l_whence = SEEK_SET, .l_start = (s), .l_len = (l)};            \
		if (fcntl(fd, cmd, &fl) < 0 || fl.l_type != (want_t) ||                            \
		    (fl.l_type != F_UNLCK &&                                                       \
		     (fl.l_start != (want_s) || fl.l_len != (want_l) || fl.l_pid != (want_pid))))  \
			return __LINE__;                                                           \
	} while (0)

	if ((fd = open("posix", O_RDWR)) < 0)
		return __LINE__;
	GETLK(fd, F_GETLK, F_WRLCK, 0, 0, F_WRLCK, 10, 20, holder);
	GETLK(fd, F_GETLK, F_WRLCK, 30, 0, F_RDLCK, 50, 0, holder);
	GETLK(fd, F_GETLK, F_RDLCK, 50, 10, F_UNLCK, 0, 0, 0);
	GETLK(fd, F_GETLK, F_WRLCK, 30, 20, F_UNLCK, 0, 0, 0);
	close(fd);
	if ((fd = open("ofd", O_RDWR)) < 0)
		return __LINE__;
	GETLK(fd, F_OFD_GETLK, F_WRLCK, 0, 50, F_RDLCK, 5, 7, -1);
	GETLK(fd, F_OFD_GETLK, F_RDLCK, 100, 1, F_WRLCK, 100, 10, -1);
	GETLK(fd, F_OFD_GETLK, F_RDLCK, 0, 50, F_UNLCK, 0, 0, 0);
	close(fd);
	if ((fd = open("wait", O_RDWR)) < 0)
		return __LINE__;
	GETLK(fd, F_GETLK, F_RDLCK, 0, 0, F_WRLCK, 0, 1, holder);
	close(fd);
	if ((fd = open("flk", O_RDONLY)) < 0 || flock(fd, LOCK_SH | LOCK_NB) == 0 ||
	    errno != EWOULDBLOCK)
		return __LINE__;
	close(fd);
	if ((fd = open("shr", O_RDONLY)) < 0 || flock(fd, LOCK_SH | LOCK_NB) < 0 ||
	    flock(fd, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		return __LINE__;
	close(fd);
	return 0;
#undef GETLK
}

static int check(void)
{
	char got[4096], want[4096];
	int st, me = proc_pid();
	pid_t c;

	/* The waiter still waits; the helper lets go; it gets the lock. */
	CT_EQ(atomic_load(&waiter_ret), -2);
	CT_TRUE(ct_blocked_in(other_thread(), SYS_fcntl));
	CT_SYS(close(open("release", O_WRONLY | O_CREAT, 0644)));
	if (ct_join(waiter, NULL, 10))
		CT_FAIL("the waiting thread did not get its lock");
	CT_EQ(atomic_load(&waiter_ret), 0);

	CT_SYS(proc_locks(got, sizeof(got)));
	snprintf(want, sizeof(want),
		 "flk FLOCK WRITE %d 0 EOF\n"
		 "ofd OFDLCK READ -1 5 11\n"
		 "ofd OFDLCK WRITE -1 100 109\n"
		 "posix POSIX READ %d 50 EOF\n"
		 "posix POSIX WRITE %d 10 29\n"
		 "shr FLOCK READ %d 0 EOF\n"
		 "wait POSIX WRITE %d 0 0\n",
		 me, me, me, me, me);
	CT_STREQ(got, want);

	/* Our other description of "flk" does not hold its lock; ours does. */
	CT_EQ(flock(fb, LOCK_SH | LOCK_NB), -1);
	CT_EQ(errno, EWOULDBLOCK);
	CT_SYS(flock(fa, LOCK_EX | LOCK_NB));

	c = fork();
	CT_SYS(c);
	if (c == 0) {
		int line = look_from_outside(getppid());

		_exit(line ? 1 + line % 250 : 0);
	}
	CT_EQ(waitpid(c, &st, 0), c);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		CT_FAIL("seen from another process, the check at line %d (mod 250) failed",
			WIFEXITED(st) ? WEXITSTATUS(st) - 1 : -1);
	return 0;
}

CT_MAIN(setup, check)
