/* Files saved by contents, FIFOs and locks shared by a parent and its child: a memfd
 * (one open file description, both mapping it shared), a file deleted while open (one
 * description, its offset shared), a named FIFO the child writes into and the parent
 * reads from, with data in flight; a flock() lock on a description both hold, and the
 * child's own POSIX and OFD locks. After the checkpoint each object is one object
 * again for both (kcmp, a write by one seen by the other), the data in flight
 * arrives, and /proc/locks and F_GETLK show each lock with its holder.
 * Run with the harness's -T (checkpoint the whole tree). */
#include "ct.h"

#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MLEN 8192

static pid_t child;
static int ask[2], answer[2]; /* parent -> child questions, child -> parent answers */
static int mfd, dfd, fr, fw, flk, px, ox;
static uint8_t *mmem;
static const char msg[] = "from the child, in flight";

struct reply {
	pid_t pid;  /* the child's pid, new after a restart at new pids */
	off_t doff; /* the deleted file's offset, as the child sees it */
	char mbyte; /* byte 100 of the memfd, through the child's mapping */
	int fds[4]; /* its descriptors of the memfd, the deleted file, FIFO, flock file */
};

static int lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};

	return fcntl(fd, cmd, &fl);
}

static void child_main(void)
{
	struct reply r;
	char q;

	close(fr);
	if (write(fw, msg, sizeof(msg)) != sizeof(msg) || (px = open("px", O_RDWR)) < 0 ||
	    lock(px, F_SETLK, F_WRLCK, 0, 10) < 0 || (ox = open("ox", O_RDWR)) < 0 ||
	    lock(ox, F_OFD_SETLK, F_RDLCK, 20, 5) < 0)
		_exit(98);
	if (write(answer[1], "R", 1) != 1)
		_exit(98);
	while (read(ask[0], &q, 1) == 1 && q == '?') {
		r.pid = getpid();
		r.doff = lseek(dfd, 0, SEEK_CUR);
		r.mbyte = (char)mmem[100];
		r.fds[0] = mfd;
		r.fds[1] = dfd;
		r.fds[2] = fw;
		r.fds[3] = flk;
		if (write(answer[1], &r, sizeof(r)) != sizeof(r))
			_exit(97);
	}
	_exit(0);
}

static int make(const char *name)
{
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);

	return fd < 0 || ftruncate(fd, 4096) < 0 || close(fd) < 0 ? -1 : 0;
}

static int setup(void)
{
	char c;

	CT_SYS(pipe(ask));
	CT_SYS(pipe(answer));
	CT_SYS(mfd = memfd_create("tree memfd", MFD_ALLOW_SEALING));
	CT_SYS(ftruncate(mfd, MLEN));
	mmem = mmap(NULL, MLEN, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	CT_TRUE(mmem != MAP_FAILED);
	memset(mmem, 'm', MLEN);
	CT_SYS(fcntl(mfd, F_ADD_SEALS, F_SEAL_GROW));
	CT_SYS(dfd = open("deleted", O_RDWR | O_CREAT | O_TRUNC, 0600));
	CT_EQ(write(dfd, "0123456789", 10), 10);
	CT_SYS(unlink("deleted"));
	CT_SYS(mkfifo("fifo", 0600));
	CT_SYS(fr = open("fifo", O_RDONLY | O_NONBLOCK));
	CT_SYS(fw = open("fifo", O_WRONLY));
	CT_SYS(make("flk"));
	CT_SYS(make("px"));
	CT_SYS(make("ox"));
	CT_SYS(flk = open("flk", O_RDWR));
	CT_SYS(flock(flk, LOCK_EX));
	child = fork();
	CT_SYS(child);
	if (child == 0)
		child_main();
	close(fw);
	CT_EQ(read(answer[0], &c, 1), 1); /* the child has written and locked */
	return 0;
}

static int same(pid_t a, int fda, pid_t b, int fdb)
{
	return syscall(SYS_kcmp, a, b, KCMP_FILE, fda, fdb) == 0;
}

static int check(void)
{
	char buf[64], want[512], got[512], line[256];
	struct reply r;
	struct flock fl;
	FILE *f;
	int st, fd, n = 0;

	/* One memfd, one deleted file, one FIFO, one flock description for both. */
	CT_SYS(lseek(dfd, 7, SEEK_SET));
	mmem[100] = 'P';
	CT_EQ(write(ask[1], "?", 1), 1);
	CT_EQ(read(answer[0], &r, sizeof(r)), sizeof(r));
	child = r.pid;
	CT_EQ(r.doff, 7);
	CT_EQ(r.mbyte, 'P');
	CT_TRUE(same(getpid(), mfd, child, r.fds[0]));
	CT_TRUE(same(getpid(), dfd, child, r.fds[1]));
	CT_TRUE(same(getpid(), flk, child, r.fds[3]));
	CT_EQ(fcntl(mfd, F_GET_SEALS), F_SEAL_GROW);
	CT_EQ(pread(dfd, buf, sizeof(buf), 0), 10);
	CT_MEMEQ(buf, "0123456789", 10);
	CT_EQ(read(fr, buf, sizeof(buf)), sizeof(msg));
	CT_MEMEQ(buf, msg, sizeof(msg));

	/* The locks, with their holders. */
	f = fopen("/proc/locks", "r");
	CT_TRUE(f != NULL);
	got[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		char kind[16], type[16], devino[64], end[32];
		long long start;
		int pid;
		struct stat s;
		const char *names[] = {"flk", "px", "ox"};

		if (strstr(line, "->") || sscanf(line, "%*d: %15s %*s %15s %d %63s %lld %31s", kind,
						 type, &pid, devino, &start, end) != 6)
			continue;
		for (int i = 0; i < 3; i++)
			if (stat(names[i], &s) == 0 &&
			    strtoull(strrchr(devino, ':') + 1, NULL, 10) == s.st_ino)
				n += snprintf(got + n, sizeof(got) - (size_t)n,
					      "%s %s %s %d %lld %s\n", names[i], kind, type,
					      pid == getpid() ? 1
					      : pid == child  ? 2
							      : pid,
					      start, end);
	}
	fclose(f);
	/* Holders: 1 the parent, 2 the child. */
	snprintf(want, sizeof(want),
		 "flk FLOCK WRITE 1 0 EOF\npx POSIX WRITE 2 0 9\nox OFDLCK READ -1 20 24\n");
	{
		/* Order does not matter: compare as sets of lines. */
		char *w = want, *l;
		int lines = 0;

		while ((l = strchr(w, '\n'))) {
			*l = '\0';
			if (!strstr(got, w))
				CT_FAIL("/proc/locks lacks \"%s\"; it has:\n%s", w, got);
			w = l + 1;
			lines++;
		}
		for (const char *g = got; (g = strchr(g, '\n')); g++)
			lines--;
		CT_EQ(lines, 0);
	}
	CT_SYS(fd = open("px", O_RDWR));
	fl = (struct flock){.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	CT_SYS(fcntl(fd, F_GETLK, &fl));
	CT_EQ(fl.l_type, F_WRLCK);
	CT_EQ(fl.l_pid, child);
	close(fd);

	CT_EQ(write(ask[1], "q", 1), 1);
	CT_EQ(waitpid(child, &st, 0), child);
	CT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}

CT_MAIN(setup, check)
