/* Named FIFOs: one with a read end (non-blocking) and a write end, enlarged to
 * 128 KiB and holding 100000 bytes; one opened for reading and writing at once,
 * holding data; one removed before the checkpoint, holding data; an empty one whose
 * write end is also dup()ed; and one a thread is blocked reading from. After the
 * checkpoint each FIFO is one FIFO again, at its path (the removed one still without
 * a name), with its size, data and flags; what goes in comes out; the blocked reader
 * gets what is written once it is. (A FIFO removed after the checkpoint, which a
 * restart makes again, is tried by tests/fail/fifo.sh.) */
#include "ct.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LEN1 100000
#define SIZE1 (128 << 10)

static int r1, w1, rw2, rw3, r4, w4, w4dup = 300, r5, w5;
static int fl_r1, fl_w1, fl_rw2, fl_w4;
static char path1[4200], path2[4200], path3[4200], path4[4200], path5[4200];
static pthread_t reader;
static char reader_buf[16];
static atomic_long reader_ret = -2;
static const char msg2[] = "both ends in one description";
static const char msg3[] = "a FIFO without a name";

static uint8_t pattern(size_t i)
{
	return (uint8_t)((i * 2654435761u >> 7) ^ 0x5a);
}

static void *read_blocked(void *arg)
{
	(void)arg;
	atomic_store(&reader_ret, (long)read(r5, reader_buf, sizeof(reader_buf)));
	return NULL;
}

static ino_t ino_of(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* What goes in comes out, and nothing else is there. */
static int round_trip(int wfd, int rfd)
{
	char buf[64];
	int fl = fcntl(rfd, F_GETFL);

	if (write(wfd, "ping", 4) != 4)
		return -1;
	fcntl(rfd, F_SETFL, fl | O_NONBLOCK);
	if (read(rfd, buf, sizeof(buf)) != 4 || memcmp(buf, "ping", 4) ||
	    read(rfd, buf, sizeof(buf)) != -1 || errno != EAGAIN) {
		fcntl(rfd, F_SETFL, fl);
		return -1;
	}
	return fcntl(rfd, F_SETFL, fl);
}

static int setup(void)
{
	uint8_t *buf = malloc(LEN1);

	CT_TRUE(buf != NULL);
	snprintf(path1, sizeof(path1), "%s/f1", ct_dir());
	snprintf(path2, sizeof(path2), "%s/f2", ct_dir());
	snprintf(path3, sizeof(path3), "%s/f3", ct_dir());
	snprintf(path4, sizeof(path4), "%s/f4", ct_dir());
	snprintf(path5, sizeof(path5), "%s/f5", ct_dir());

	/* 1: two ends, 128 KiB, 100000 bytes in it. */
	CT_SYS(mkfifo(path1, 0640));
	CT_SYS(r1 = open(path1, O_RDONLY | O_NONBLOCK));
	CT_SYS(w1 = open(path1, O_WRONLY));
	CT_SYS(fcntl(w1, F_SETPIPE_SZ, SIZE1));
	for (size_t i = 0; i < LEN1; i++)
		buf[i] = pattern(i);
	CT_EQ(write(w1, buf, LEN1), LEN1);
	CT_SYS(fl_r1 = fcntl(r1, F_GETFL));
	CT_SYS(fl_w1 = fcntl(w1, F_GETFL));
	free(buf);

	/* 2: read and write in one description. */
	CT_SYS(mkfifo(path2, 0600));
	CT_SYS(rw2 = open(path2, O_RDWR));
	CT_EQ(write(rw2, msg2, sizeof(msg2)), sizeof(msg2));
	CT_SYS(fl_rw2 = fcntl(rw2, F_GETFL));

	/* 3: removed before the checkpoint. */
	CT_SYS(mkfifo(path3, 0600));
	CT_SYS(rw3 = open(path3, O_RDWR | O_NONBLOCK));
	CT_EQ(write(rw3, msg3, sizeof(msg3)), sizeof(msg3));
	CT_SYS(unlink(path3));

	/* 4: empty, the write end dup()ed. */
	CT_SYS(mkfifo(path4, 0600));
	CT_SYS(r4 = open(path4, O_RDONLY | O_NONBLOCK));
	CT_SYS(w4 = open(path4, O_WRONLY | O_NONBLOCK));
	CT_SYS(dup2(w4, w4dup));
	CT_SYS(fl_w4 = fcntl(w4, F_GETFL));

	/* 5: a thread blocked reading. */
	CT_SYS(mkfifo(path5, 0600));
	CT_SYS(r5 = open(path5, O_RDONLY | O_NONBLOCK));
	CT_SYS(w5 = open(path5, O_WRONLY));
	CT_SYS(fcntl(r5, F_SETFL, 0));
	if (ct_start_blocked(&reader, read_blocked, NULL, SYS_read))
		CT_FAIL("the reader thread did not block in read() within 10 s");
	return 0;
}

static int check(void)
{
	uint8_t *buf = malloc(LEN1 + 1);
	struct stat st;
	char small[64];

	CT_TRUE(buf != NULL);
	/* 1 */
	CT_TRUE(ct_fd_is(r1, path1));
	CT_TRUE(ct_fd_is(w1, path1));
	CT_SYS(stat(path1, &st));
	CT_TRUE(S_ISFIFO(st.st_mode));
	CT_EQ(st.st_mode & 07777, 0640);
	CT_EQ(ino_of(r1), st.st_ino);
	CT_EQ(ino_of(w1), st.st_ino);
	CT_EQ(fcntl(r1, F_GETFL), fl_r1);
	CT_EQ(fcntl(w1, F_GETFL), fl_w1);
	CT_EQ(fcntl(r1, F_GETPIPE_SZ), SIZE1);
	CT_EQ(read(r1, buf, LEN1 + 1), LEN1);
	for (size_t i = 0; i < LEN1; i++)
		if (buf[i] != pattern(i))
			CT_FAIL("FIFO 1: byte %zu differs", i);
	CT_SYS(round_trip(w1, r1));

	/* 2 */
	CT_TRUE(ct_fd_is(rw2, path2));
	CT_EQ(fcntl(rw2, F_GETFL), fl_rw2);
	CT_EQ(read(rw2, small, sizeof(small)), sizeof(msg2));
	CT_MEMEQ(small, msg2, sizeof(msg2));
	CT_SYS(round_trip(rw2, rw2));

	/* 3: still without a name. */
	snprintf((char *)buf, LEN1, "%s (deleted)", path3);
	CT_TRUE(ct_fd_is(rw3, (char *)buf));
	CT_EQ(access(path3, F_OK), -1);
	CT_EQ(read(rw3, small, sizeof(small)), sizeof(msg3));
	CT_MEMEQ(small, msg3, sizeof(msg3));
	CT_SYS(round_trip(rw3, rw3));

	/* 4 */
	CT_TRUE(ct_fd_is(w4dup, path4));
	CT_EQ(ct_kcmp_file(w4, w4dup), 0);
	CT_EQ(fcntl(w4, F_GETFL), fl_w4);
	CT_EQ(read(r4, small, sizeof(small)), -1);
	CT_EQ(errno, EAGAIN);
	CT_SYS(round_trip(w4dup, r4));
	CT_EQ(ino_of(r4), ino_of(w4));

	/* 5: the blocked reader gets what comes. */
	CT_EQ(atomic_load(&reader_ret), -2);
	CT_EQ(write(w5, "wake", 4), 4);
	if (ct_join(reader, NULL, 10))
		CT_FAIL("the blocked reader did not get the data");
	CT_EQ(atomic_load(&reader_ret), 4);
	CT_MEMEQ(reader_buf, "wake", 4);
	free(buf);
	return 0;
}

CT_MAIN(setup, check)
