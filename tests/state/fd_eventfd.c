/* eventfd: a counter beyond 32 bits, a semaphore-mode counter, an empty non-blocking
 * one shared by two descriptors (dup), and one full to the largest value it can hold.
 * After GO each must have its flags (O_NONBLOCK, close-on-exec), fdinfo must show its
 * value and mode, reads must give the value back (one at a time in semaphore mode),
 * the full one must refuse one more, and the two descriptors must still share one
 * counter. A thread blocked reading an empty one at the checkpoint must get what is
 * written to it after GO. */
#include "ct.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define BIG 0x100000005ull
#define FULL 0xfffffffffffffffeull
#define DUP_FD 500

enum { E_BIG, E_SEM, E_EMPTY, E_FULL, NE };

static const struct {
	unsigned int init;
	int flags;
	uint64_t add;
} want[NE] = {
    [E_BIG] = {5, EFD_CLOEXEC, BIG - 5},
    [E_SEM] = {0, EFD_SEMAPHORE | EFD_NONBLOCK, 3},
    [E_EMPTY] = {0, EFD_NONBLOCK | EFD_CLOEXEC, 0},
    [E_FULL] = {1, EFD_NONBLOCK, FULL - 1},
};

static int efd[NE];
static int fl[NE], fdfl[NE];

/* The reader: blocked in read() on its own eventfd at the checkpoint. */
static int reader_efd;
static pthread_t reader;
static ssize_t reader_ret = -2;
static uint64_t reader_got;

static void *read_blocked(void *arg)
{
	(void)arg;
	reader_ret = read(reader_efd, &reader_got, sizeof(reader_got));
	return NULL;
}

static int setup(void)
{
	for (int i = 0; i < NE; i++) {
		CT_SYS(efd[i] = eventfd(want[i].init, want[i].flags));
		if (want[i].add)
			CT_EQ(write(efd[i], &want[i].add, 8), 8);
		CT_SYS(fl[i] = fcntl(efd[i], F_GETFL));
		CT_SYS(fdfl[i] = fcntl(efd[i], F_GETFD));
	}
	CT_SYS(dup2(efd[E_EMPTY], DUP_FD));

	CT_SYS(reader_efd = eventfd(0, EFD_CLOEXEC));
	if (ct_start_blocked(&reader, read_blocked, NULL, SYS_read))
		CT_FAIL("the reader did not block in read() within 10 s");
	return 0;
}

/* The reader is still waiting, and gets what is written now. */
static int check_reader(void)
{
	uint64_t v = 77;
	int rc;

	CT_EQ(reader_ret, -2);
	CT_EQ(write(reader_efd, &v, 8), 8);
	rc = ct_join(reader, NULL, 10);
	if (rc)
		CT_FAIL("joining the reader: %s", strerror(rc));
	CT_EQ(reader_ret, 8);
	CT_EQ(reader_got, 77);
	return 0;
}

static int check_state(int i, uint64_t count)
{
	uint64_t v, sem;

	CT_EQ(fcntl(efd[i], F_GETFL), fl[i]);
	CT_EQ(fcntl(efd[i], F_GETFD), fdfl[i]);
	CT_SYS(ct_fdinfo_u64(efd[i], "eventfd-count", 16, &v));
	CT_EQ(v, count);
	CT_SYS(ct_fdinfo_u64(efd[i], "eventfd-semaphore", 10, &sem));
	CT_EQ(sem, (want[i].flags & EFD_SEMAPHORE) != 0);
	return 0;
}

static int check(void)
{
	struct pollfd pfd[NE];
	uint64_t v, one = 1;

	if (check_state(E_BIG, BIG) || check_state(E_SEM, 3) || check_state(E_EMPTY, 0) ||
	    check_state(E_FULL, FULL))
		return 1;
	for (int i = 0; i < NE; i++)
		pfd[i] = (struct pollfd){efd[i], POLLIN | POLLOUT, 0};
	CT_EQ(poll(pfd, NE, 0), NE);
	CT_EQ(pfd[E_BIG].revents, POLLIN | POLLOUT);
	CT_EQ(pfd[E_SEM].revents, POLLIN | POLLOUT);
	CT_EQ(pfd[E_EMPTY].revents, POLLOUT);
	CT_EQ(pfd[E_FULL].revents, POLLIN);

	CT_EQ(read(efd[E_BIG], &v, 8), 8);
	CT_EQ(v, BIG);
	for (int i = 0; i < 3; i++) {
		v = 0;
		CT_EQ(read(efd[E_SEM], &v, 8), 8);
		CT_EQ(v, 1);
	}
	CT_EQ(read(efd[E_SEM], &v, 8), -1);
	CT_EQ(errno, EAGAIN);

	/* One counter behind both descriptors, and not the others'. */
	CT_EQ(ct_kcmp_file(efd[E_EMPTY], DUP_FD), 0);
	CT_EQ(fcntl(DUP_FD, F_GETFD), 0);
	CT_EQ(read(efd[E_EMPTY], &v, 8), -1);
	CT_EQ(errno, EAGAIN);
	CT_EQ(write(DUP_FD, &one, 8), 8);
	CT_EQ(read(efd[E_EMPTY], &v, 8), 8);
	CT_EQ(v, 1);

	/* Full: one more would overflow. */
	CT_EQ(write(efd[E_FULL], &one, 8), -1);
	CT_EQ(errno, EAGAIN);
	CT_EQ(read(efd[E_FULL], &v, 8), 8);
	CT_EQ(v, FULL);
	CT_EQ(write(efd[E_FULL], &one, 8), 8);
	return check_reader();
}

CT_MAIN(setup, check)
