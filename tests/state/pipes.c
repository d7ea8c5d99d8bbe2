/* Pipes with both ends in the process: the data in them, their size (one enlarged to
 * 256 KiB and holding more than 64 KiB, one full to the brim), O_NONBLOCK on some ends,
 * close-on-exec, dup()ed ends that share one open file, a second open file of the
 * same read end (through /proc/self/fd) that does not, and an empty pipe. After the
 * checkpoint every pipe is still one pipe: what goes in one end comes out of the
 * other, and out of no other pipe. A thread blocked writing into a full pipe finishes its
 * write once the pipe is read, after all that was in it. */
#include "ct.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NPIPES 4
#define BIG_SIZE (256 << 10)

struct tpipe {
	int fd[2];
	size_t len; /* bytes in it */
	int salt;
	int size;    /* F_GETPIPE_SZ */
	int fl[2];   /* F_GETFL */
	int fdfl[2]; /* F_GETFD */
	ino_t ino;
};

static struct tpipe pp[NPIPES];
static int rd_dup, wr_dup, rd_other;
static int fl_rd_other;
static int pk[2], pk_fl[2]; /* packet mode (O_DIRECT), empty */
static int pw[2];           /* full, a thread blocked writing into it */
static pthread_t writer;
static ssize_t writer_ret = -2;
static const char wmsg[100] = "the blocked writer's 100 bytes";

static uint8_t pattern(size_t i, int salt)
{
	return (uint8_t)((i * 2654435761u >> 9) ^ (unsigned)salt);
}

static int fill(struct tpipe *t)
{
	uint8_t buf[4096];

	for (size_t off = 0; off < t->len;) {
		size_t n = t->len - off < sizeof(buf) ? t->len - off : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(off + i, t->salt);
		w = write(t->fd[1], buf, n);
		if (w <= 0)
			return -1;
		off += (size_t)w;
	}
	return 0;
}

static int make(struct tpipe *t, int flags, int size, size_t len, int salt)
{
	struct stat st;

	if (pipe2(t->fd, flags) < 0)
		return -1;
	if (size && fcntl(t->fd[1], F_SETPIPE_SZ, size) < 0)
		return -1;
	t->len = len;
	t->salt = salt;
	if (fill(t) < 0 || fstat(t->fd[0], &st) < 0)
		return -1;
	t->ino = st.st_ino;
	return 0;
}

static int note(struct tpipe *t)
{
	t->size = fcntl(t->fd[0], F_GETPIPE_SZ);
	for (int e = 0; e < 2; e++) {
		t->fl[e] = fcntl(t->fd[e], F_GETFL);
		t->fdfl[e] = fcntl(t->fd[e], F_GETFD);
		if (t->fl[e] < 0 || t->fdfl[e] < 0)
			return -1;
	}
	return t->size > 0 ? 0 : -1;
}

static void *write_blocked(void *arg)
{
	(void)arg;
	writer_ret = write(pw[1], wmsg, sizeof(wmsg));
	return NULL;
}

static int setup(void)
{
	/* Some KiB; the read end non-blocking, both close-on-exec. */
	CT_SYS(make(&pp[0], O_CLOEXEC, 0, 10000, 1));
	CT_SYS(fcntl(pp[0].fd[0], F_SETFL, O_NONBLOCK));
	/* 256 KiB holding 200 KiB; the write end non-blocking. */
	CT_SYS(make(&pp[1], 0, BIG_SIZE, 200 << 10, 2));
	CT_SYS(fcntl(pp[1].fd[1], F_SETFL, O_NONBLOCK));
	/* The default 64 KiB, full. */
	CT_SYS(make(&pp[2], O_NONBLOCK, 0, 65536, 3));
	/* Empty, at high numbers. */
	CT_SYS(make(&pp[3], 0, 0, 0, 4));
	CT_SYS(dup2(pp[3].fd[0], 700));
	CT_SYS(dup2(pp[3].fd[1], 701));
	close(pp[3].fd[0]);
	close(pp[3].fd[1]);
	pp[3].fd[0] = 700;
	pp[3].fd[1] = 701;

	/* Copies of ends of pipe 1, and a second open file of its read end. */
	CT_SYS(rd_dup = dup(pp[1].fd[0]));
	CT_SYS(wr_dup = fcntl(pp[1].fd[1], F_DUPFD_CLOEXEC, 0));
	{
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", pp[1].fd[0]);
		CT_SYS(rd_other = open(path, O_RDONLY | O_NONBLOCK));
		CT_SYS(fl_rd_other = fcntl(rd_other, F_GETFL));
	}
	for (int i = 0; i < NPIPES; i++)
		CT_SYS(note(&pp[i]));
	CT_EQ(pp[1].size, BIG_SIZE);
	CT_SYS(pipe2(pk, O_DIRECT));
	CT_SYS(pk_fl[0] = fcntl(pk[0], F_GETFL));
	CT_SYS(pk_fl[1] = fcntl(pk[1], F_GETFL));
	CT_TRUE(pk_fl[1] & O_DIRECT);

	/* Full to the last byte, then a writer waits for room. */
	{
		static uint8_t full[65536];

		CT_SYS(pipe(pw));
		for (size_t i = 0; i < sizeof(full); i++)
			full[i] = pattern(i, 9);
		CT_EQ(write(pw[1], full, sizeof(full)), sizeof(full));
		if (ct_start_blocked(&writer, write_blocked, NULL, SYS_write))
			CT_FAIL("the writer thread did not block in write() within 10 s");
	}
	return 0;
}

/* Everything in the pipe reads back, then nothing more. */
static int drain(struct tpipe *t, int rfd)
{
	static uint8_t buf[BIG_SIZE];
	size_t got = 0;
	int fl = fcntl(rfd, F_GETFL);

	CT_SYS(fl);
	CT_SYS(fcntl(rfd, F_SETFL, fl | O_NONBLOCK));
	for (;;) {
		ssize_t n = read(rfd, buf + got, sizeof(buf) - got);

		if (n < 0 && errno == EAGAIN)
			break;
		CT_SYS(n);
		CT_TRUE(n > 0); /* a write end is still open: no EOF */
		got += (size_t)n;
		CT_TRUE(got <= t->len);
	}
	CT_SYS(fcntl(rfd, F_SETFL, fl));
	CT_EQ(got, t->len);
	for (size_t i = 0; i < got; i++)
		if (buf[i] != pattern(i, t->salt))
			CT_FAIL("pipe %d: byte %zu is %u, not %u", t->salt, i, buf[i],
				pattern(i, t->salt));
	return 0;
}

/* A message written into pipe k comes out of pipe k only. */
static int one_pipe(int k)
{
	char msg[32], got[32];
	int len = snprintf(msg, sizeof(msg), "pipe %d", k);

	CT_EQ(write(pp[k].fd[1], msg, (size_t)len), len);
	for (int i = 0; i < NPIPES; i++) {
		int fl = fcntl(pp[i].fd[0], F_GETFL);
		ssize_t n;

		CT_SYS(fcntl(pp[i].fd[0], F_SETFL, fl | O_NONBLOCK));
		n = read(pp[i].fd[0], got, sizeof(got));
		CT_SYS(fcntl(pp[i].fd[0], F_SETFL, fl));
		if (i == k) {
			CT_EQ(n, len);
			CT_MEMEQ(got, msg, (size_t)len);
		} else {
			CT_TRUE(n < 0 && errno == EAGAIN);
		}
	}
	return 0;
}

static int check(void)
{
	for (int i = 0; i < NPIPES; i++) {
		struct tpipe *t = &pp[i];
		struct stat s0, s1;

		CT_EQ(fcntl(t->fd[0], F_GETPIPE_SZ), t->size);
		CT_EQ(fcntl(t->fd[1], F_GETPIPE_SZ), t->size);
		for (int e = 0; e < 2; e++) {
			CT_EQ(fcntl(t->fd[e], F_GETFL), t->fl[e]);
			CT_EQ(fcntl(t->fd[e], F_GETFD), t->fdfl[e]);
		}
		CT_SYS(fstat(t->fd[0], &s0));
		CT_SYS(fstat(t->fd[1], &s1));
		CT_TRUE(S_ISFIFO(s0.st_mode));
		CT_EQ(s0.st_ino, s1.st_ino);
		for (int k = 0; k < i; k++)
			CT_TRUE(s0.st_ino != (fstat(pp[k].fd[0], &s1) == 0 ? s1.st_ino : 0));
	}
	/* Sharing: dup()ed ends are the same open file, the reopened end is not. */
	CT_EQ(ct_kcmp_file(rd_dup, pp[1].fd[0]), 0);
	CT_EQ(ct_kcmp_file(wr_dup, pp[1].fd[1]), 0);
	CT_TRUE(ct_kcmp_file(rd_other, pp[1].fd[0]) != 0);
	CT_EQ(fcntl(rd_dup, F_GETFD), 0);
	CT_EQ(fcntl(wr_dup, F_GETFD), FD_CLOEXEC);
	CT_EQ(fcntl(rd_other, F_GETFL), fl_rd_other);
	{
		struct stat a, b;

		CT_SYS(fstat(rd_other, &a));
		CT_SYS(fstat(pp[1].fd[0], &b));
		CT_EQ(a.st_ino, b.st_ino);
	}
	for (int i = 0; i < NPIPES; i++)
		if (drain(&pp[i], pp[i].fd[0]))
			return 1;
	for (int i = 0; i < NPIPES; i++)
		if (one_pipe(i))
			return 1;
	/* The other open file of pipe 1's read end reads from the same pipe. */
	CT_EQ(write(wr_dup, "x", 1), 1);
	{
		char c;

		CT_EQ(read(rd_other, &c, 1), 1);
		CT_EQ(c, 'x');
	}
	/* Packet mode: each write is read back on its own. */
	{
		char b[16];

		CT_EQ(fcntl(pk[0], F_GETFL), pk_fl[0]);
		CT_EQ(fcntl(pk[1], F_GETFL), pk_fl[1]);
		CT_EQ(write(pk[1], "abc", 3), 3);
		CT_EQ(write(pk[1], "defgh", 5), 5);
		CT_EQ(read(pk[0], b, sizeof(b)), 3);
		CT_EQ(read(pk[0], b, sizeof(b)), 5);
		CT_MEMEQ(b, "defgh", 5);
	}
	/* The full pipe: its 64 KiB, then the blocked writer's bytes, in that order. */
	{
		static uint8_t buf[65536 + sizeof(wmsg)];
		size_t got = 0;

		while (got < sizeof(buf)) {
			struct pollfd p = {pw[0], POLLIN, 0};
			ssize_t n;

			if (poll(&p, 1, 10000) != 1)
				CT_FAIL("the full pipe gave %zu bytes, then nothing for 10 s", got);
			CT_SYS(n = read(pw[0], buf + got, sizeof(buf) - got));
			CT_TRUE(n > 0);
			got += (size_t)n;
		}
		for (size_t i = 0; i < 65536; i++)
			if (buf[i] != pattern(i, 9))
				CT_FAIL("full pipe: byte %zu is %u, not %u", i, buf[i],
					pattern(i, 9));
		CT_MEMEQ(buf + 65536, wmsg, sizeof(wmsg));
		CT_EQ(ct_join(writer, NULL, 10), 0);
		CT_EQ(writer_ret, sizeof(wmsg));
	}
	/* A full pipe is full again: its size is real, not just reported. */
	{
		static uint8_t buf[BIG_SIZE];
		ssize_t n;

		memset(buf, 1, sizeof(buf));
		n = write(pp[1].fd[1], buf, sizeof(buf)); /* non-blocking end */
		CT_EQ(n, BIG_SIZE);
		CT_EQ(write(pp[1].fd[1], buf, 1), -1);
		CT_EQ(errno, EAGAIN);
	}
	return 0;
}

CT_MAIN(setup, check)
