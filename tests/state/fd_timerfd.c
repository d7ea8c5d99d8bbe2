/* timerfd: on three clocks, relative and absolute (with TFD_TIMER_CANCEL_ON_SET):
 * a one-shot that has fired and not been read; an absolute periodic timer started
 * long ago whose six expirations are not read yet; a periodic one firing every
 * 50 ms; a long one-shot; one disarmed but with an interval; and a dup() of one.
 * After GO each must have its clock, settime flags, flags and interval exactly, no
 * more time left than it had (and no less than it had minus the time since), the
 * unread expirations must read back as the same count, and the periodic one must
 * keep firing, each time within a bounded wait. A thread blocked reading a timer
 * set far ahead at the checkpoint must get its expiration once the timer is set to
 * fire now. */
#include "ct.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define NS 1000000000ll
#define DUP_FD 300
#define WAIT_MS 5000

enum { T_FIRED, T_MULTI, T_TICK, T_LONG, T_IDLE, NT };

static const struct {
	clockid_t clock;
	int flags; /* timerfd_create */
	int setflags;
	struct itimerspec its; /* relative; T_MULTI is made absolute */
} td[NT] = {
    [T_FIRED] = {CLOCK_MONOTONIC, TFD_NONBLOCK, 0, {{0, 0}, {0, 1000000}}},
    [T_MULTI] = {CLOCK_REALTIME,
		 TFD_CLOEXEC,
		 TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
		 {{1000, 0}, {0, 0}}},
    [T_TICK] = {CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC, 0, {{0, 50000000}, {0, 50000000}}},
    [T_LONG] = {CLOCK_BOOTTIME, 0, 0, {{0, 0}, {1000, 0}}},
    [T_IDLE] = {CLOCK_MONOTONIC, TFD_NONBLOCK, 0, {{5, 0}, {0, 0}}},
};

static int tfd[NT];
static int fl[NT], fdfl[NT];
static int64_t left0[NT];  /* time left right after setup */
static struct timespec t0; /* CLOCK_MONOTONIC then */

/* The reader: blocked in read() on its own timer at the checkpoint. */
static int reader_tfd;
static pthread_t reader;
static ssize_t reader_ret = -2;
static uint64_t reader_ticks;

static void *read_blocked(void *arg)
{
	(void)arg;
	reader_ret = read(reader_tfd, &reader_ticks, sizeof(reader_ticks));
	return NULL;
}

static int64_t ns(const struct timespec *ts)
{
	return ts->tv_sec * NS + ts->tv_nsec;
}

static int64_t mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ns(&ts);
}

/* fdinfo's lines for the timer, less the ones that change with time. */
static int fdinfo_fixed(int fd, char *out, size_t n)
{
	char buf[1024], *line;
	size_t len = 0;

	if (ct_fdinfo(fd, buf, sizeof(buf)) < 0)
		return -1;
	out[0] = '\0';
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		if (!strncmp(line, "clockid:", 8) || !strncmp(line, "settime flags:", 14) ||
		    !strncmp(line, "it_interval:", 12) || !strncmp(line, "flags:", 6))
			len += (size_t)snprintf(out + len, n - len, "%s;", line);
	return 0;
}

static char fixed[NT][256];

static int setup(void)
{
	struct itimerspec its, now_its;
	struct pollfd pfd;
	struct timespec now;

	for (int i = 0; i < NT; i++) {
		CT_SYS(tfd[i] = timerfd_create(td[i].clock, td[i].flags));
		its = td[i].its;
		if (i == T_MULTI) {
			/* Started 5000.5 s ago, every 1000 s: six expirations, the next in
			 * 999.5 s. */
			CT_SYS(clock_gettime(CLOCK_REALTIME, &now));
			its.it_value.tv_sec = now.tv_sec - 5001;
			its.it_value.tv_nsec = now.tv_nsec + 500000000;
			if (its.it_value.tv_nsec >= NS) {
				its.it_value.tv_sec++;
				its.it_value.tv_nsec -= NS;
			}
		}
		CT_SYS(timerfd_settime(tfd[i], td[i].setflags, &its, NULL));
	}
	/* The one-shot fires. */
	pfd = (struct pollfd){tfd[T_FIRED], POLLIN, 0};
	CT_EQ(poll(&pfd, 1, WAIT_MS), 1);
	CT_SYS(dup2(tfd[T_LONG], DUP_FD));
	CT_SYS(clock_gettime(CLOCK_MONOTONIC, &t0));
	for (int i = 0; i < NT; i++) {
		/* Also counts T_MULTI's overruns. */
		CT_SYS(timerfd_gettime(tfd[i], &now_its));
		left0[i] = ns(&now_its.it_value);
		CT_SYS(fl[i] = fcntl(tfd[i], F_GETFL));
		CT_SYS(fdfl[i] = fcntl(tfd[i], F_GETFD));
		CT_SYS(fdinfo_fixed(tfd[i], fixed[i], sizeof(fixed[i])));
	}

	CT_SYS(reader_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
	its = (struct itimerspec){{0, 0}, {100000, 0}};
	CT_SYS(timerfd_settime(reader_tfd, 0, &its, NULL));
	if (ct_start_blocked(&reader, read_blocked, NULL, SYS_read))
		CT_FAIL("the reader did not block in read() within 10 s");
	return 0;
}

/* The reader is still waiting, and gets one expiration once its timer fires. */
static int check_reader(void)
{
	struct itimerspec its = {{0, 0}, {0, 1000000}};
	int rc;

	CT_EQ(reader_ret, -2);
	CT_SYS(timerfd_settime(reader_tfd, 0, &its, NULL));
	rc = ct_join(reader, NULL, 10);
	if (rc)
		CT_FAIL("joining the reader: %s", strerror(rc));
	CT_EQ(reader_ret, sizeof(reader_ticks));
	CT_EQ(reader_ticks, 1);
	return 0;
}

static int check_timer(int i)
{
	struct itimerspec its;
	int64_t since;
	char now[256];

	CT_EQ(fcntl(tfd[i], F_GETFL), fl[i]);
	CT_EQ(fcntl(tfd[i], F_GETFD), fdfl[i]);
	CT_SYS(fdinfo_fixed(tfd[i], now, sizeof(now)));
	CT_STREQ(now, fixed[i]);
	CT_SYS(timerfd_gettime(tfd[i], &its));
	/* At most this long has the timer run since left0. */
	since = mono_now() - ns(&t0);
	CT_EQ(ns(&its.it_interval), ns(&td[i].its.it_interval));
	if (i == T_TICK)
		return 0; /* fired meanwhile, checked below */
	CT_TRUE(ns(&its.it_value) <= left0[i]);
	CT_TRUE(ns(&its.it_value) >= left0[i] - since);
	CT_EQ(ns(&its.it_value) == 0, left0[i] == 0);
	return 0;
}

/* Read expirations from a timer: n of them, or at least one when n is 0. */
static int expect_ticks(int fd, uint64_t n)
{
	struct pollfd pfd = {fd, POLLIN, 0};
	uint64_t got = 0;

	CT_EQ(poll(&pfd, 1, WAIT_MS), 1);
	CT_EQ(read(fd, &got, sizeof(got)), sizeof(got));
	if (n)
		CT_EQ(got, n);
	else
		CT_TRUE(got >= 1);
	return 0;
}

static int check(void)
{
	struct itimerspec its;
	uint64_t v;

	for (int i = 0; i < NT; i++)
		if (check_timer(i))
			return 1;
	CT_EQ(ct_kcmp_file(tfd[T_LONG], DUP_FD), 0);

	/* Unread expirations, read back as the same count, once. */
	if (expect_ticks(tfd[T_FIRED], 1) || expect_ticks(tfd[T_MULTI], 6))
		return 1;
	CT_EQ(read(tfd[T_FIRED], &v, sizeof(v)), -1);
	CT_EQ(errno, EAGAIN);
	CT_SYS(timerfd_gettime(tfd[T_MULTI], &its));
	CT_TRUE(its.it_value.tv_sec > 900);

	/* Still firing, every 50 ms. */
	if (expect_ticks(tfd[T_TICK], 0))
		return 1;
	CT_SYS(timerfd_gettime(tfd[T_TICK], &its));
	CT_TRUE(ns(&its.it_value) > 0 && ns(&its.it_value) <= 50000000);
	if (expect_ticks(tfd[T_TICK], 0))
		return 1;

	/* Nothing from the idle one, nor from the long one. */
	CT_EQ(read(tfd[T_IDLE], &v, sizeof(v)), -1);
	CT_EQ(errno, EAGAIN);
	{
		struct pollfd pfd = {tfd[T_LONG], POLLIN, 0};

		CT_EQ(poll(&pfd, 1, 0), 0);
	}
	return check_reader();
}

CT_MAIN(setup, check)
