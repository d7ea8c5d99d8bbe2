/* Timers: the three interval timers (real, virtual, profiling) with value and
 * interval, and POSIX timers on several clocks with each kind of notification (a
 * signal to the process, a signal to one thread, none; armed, periodic, disarmed,
 * fired with its signal pending), with a gap in their ids, and one of glibc's
 * SIGEV_THREAD timers. After GO every timer must have its id, clock, signal, value
 * and target thread; intervals exactly, time left no more than was set and still
 * running; and each must still fire, with the siginfo it had. */
#include "ct.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define WAIT_S 10 /* longest wait for a timer that should fire */

enum { T_MONO, T_GONE, T_THREAD, T_NONE, T_IDLE, T_CPU, T_FIRED, NT };

struct tdesc {
	clockid_t clock;
	int notify;
	int signo_off; /* SIGRTMIN + this */
	intptr_t value;
	struct itimerspec its;
	timer_t id;
};

static struct tdesc td[NT] = {
    [T_MONO] = {CLOCK_MONOTONIC, SIGEV_SIGNAL, 1, 0x1111, {{0, 500000000}, {3, 0}}},
    [T_GONE] = {CLOCK_MONOTONIC, SIGEV_SIGNAL, 5, 0x5555, {{0, 0}, {50, 0}}},
    [T_THREAD] = {CLOCK_REALTIME, SIGEV_THREAD_ID, 2, 0x2222, {{0, 0}, {4, 0}}},
    [T_NONE] = {CLOCK_BOOTTIME, SIGEV_NONE, 6, 0x6666, {{10, 0}, {1000, 0}}},
    [T_IDLE] = {CLOCK_MONOTONIC, SIGEV_SIGNAL, 3, 0x3333, {{0, 0}, {0, 0}}},
    [T_CPU] = {CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, 4, 0x4444, {{0, 0}, {0, 300000000}}},
    /* Fires in setup: its signal is pending at the checkpoint. */
    [T_FIRED] = {CLOCK_MONOTONIC, SIGEV_SIGNAL, 7, 0x7777, {{0, 0}, {0, 1000000}}},
};

static const struct itimerval itv[3] = {
    [ITIMER_REAL] = {{1, 0}, {3, 0}},
    [ITIMER_VIRTUAL] = {{0, 200000}, {0, 400000}},
    [ITIMER_PROF] = {{0, 250000}, {0, 500000}},
};
static const int itsig[3] = {SIGALRM, SIGVTALRM, SIGPROF};
/* As getitimer() gave them right after: a CPU-time timer gets a tick more. */
static struct itimerval itv_set[3];

static char proc_timers[4096];
/* SIGEV_THREAD: glibc runs the callback from a helper thread of its own, which it
 * has the kernel signal by tid. */
static timer_t glibc_timer;
static atomic_int glibc_ticks;
static pthread_t worker;
static pid_t worker_tid;
static int cmd[2];
static atomic_int parked;
static char worker_why[256];

static int64_t ts_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t tv_us(const struct timeval *tv)
{
	return (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
}

/* /proc/self/timers, one block per timer, in a canonical (id) order. */
static int read_timers(char *out, size_t n)
{
	char text[4096], *blocks[64], *p;
	size_t len, nb = 0;
	FILE *f = fopen("/proc/self/timers", "r");

	if (!f)
		return -1;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	/* A block starts at each line "ID: N" (not at "ClockID: "). */
	for (p = text; p && *p && nb < 64; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, "ID: ", 4))
			continue;
		blocks[nb++] = p;
		if (p > text)
			p[-1] = '\0';
	}
	if (len && text[len - 1] == '\n')
		text[len - 1] = '\0';
	for (size_t i = 0; i < nb; i++)
		for (size_t k = i + 1; k < nb; k++)
			if (strtol(blocks[k] + 4, NULL, 10) < strtol(blocks[i] + 4, NULL, 10)) {
				char *t = blocks[i];

				blocks[i] = blocks[k];
				blocks[k] = t;
			}
	out[0] = '\0';
	for (size_t i = 0; i < nb; i++) {
		strncat(out, blocks[i], n - strlen(out) - 2);
		strncat(out, "\n", n - strlen(out) - 1);
	}
	return 0;
}

/* Wait up to WAIT_S for sig (blocked) and check it came from timer t. */
static const char *wait_timer(int t, char *why, size_t n)
{
	struct timespec limit = {WAIT_S, 0};
	siginfo_t si;
	sigset_t one;
	int sig = SIGRTMIN + td[t].signo_off, r;

	sigemptyset(&one);
	sigaddset(&one, sig);
	memset(&si, 0, sizeof(si));
	r = sigtimedwait(&one, &si, &limit);
	if (r != sig)
		snprintf(why, n, "timer %ld: no signal %d within %d s (%s)",
			 (long)(intptr_t)td[t].id, sig, WAIT_S, strerror(errno));
	else if (si.si_code != SI_TIMER || si.si_timerid != (int)(intptr_t)td[t].id ||
		 si.si_value.sival_ptr != (void *)td[t].value)
		snprintf(why, n, "timer %ld: signal code %d timer %d value %p",
			 (long)(intptr_t)td[t].id, si.si_code, si.si_timerid,
			 si.si_value.sival_ptr);
	else
		return NULL;
	return why;
}

static void *worker_main(void *arg)
{
	char c;

	(void)arg;
	worker_tid = (pid_t)syscall(SYS_gettid);
	atomic_store(&parked, 1);
	while (read(cmd[0], &c, 1) == 1 && c != 'q')
		if (c == 'w')
			wait_timer(T_THREAD, worker_why, sizeof(worker_why));
	return NULL;
}

static int make_timers(void)
{
	for (int t = 0; t < NT; t++) {
		struct sigevent ev;

		memset(&ev, 0, sizeof(ev));
		ev.sigev_notify = td[t].notify;
		ev.sigev_signo = SIGRTMIN + td[t].signo_off;
		ev.sigev_value.sival_ptr = (void *)td[t].value;
		if (td[t].notify == SIGEV_THREAD_ID)
			ev._sigev_un._tid = worker_tid;
		CT_SYS(timer_create(td[t].clock, &ev, &td[t].id));
		CT_SYS(timer_settime(td[t].id, 0, &td[t].its, NULL));
	}
	/* A gap in the ids. */
	CT_SYS(timer_delete(td[T_GONE].id));
	if (!ct_wait_pending(SIGRTMIN + td[T_FIRED].signo_off))
		CT_FAIL("timer %ld did not fire", (long)(intptr_t)td[T_FIRED].id);
	return 0;
}

static void on_glibc_timer(union sigval v)
{
	if (v.sival_int == 0x8888)
		atomic_fetch_add(&glibc_ticks, 1);
}

static int make_glibc_timer(void)
{
	struct sigevent ev;
	struct itimerspec its = {{0, 300000000}, {2, 0}};

	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_THREAD;
	ev.sigev_notify_function = on_glibc_timer;
	ev.sigev_value.sival_int = 0x8888;
	CT_SYS(timer_create(CLOCK_MONOTONIC, &ev, &glibc_timer));
	CT_SYS(timer_settime(glibc_timer, 0, &its, NULL));
	return 0;
}

/* The callback runs at least twice more within WAIT_S. */
static int check_glibc_timer(void)
{
	int start = atomic_load(&glibc_ticks);

	for (int k = 0; k < WAIT_S * 100 && atomic_load(&glibc_ticks) < start + 2; k++)
		usleep(10000);
	if (atomic_load(&glibc_ticks) < start + 2)
		CT_FAIL("SIGEV_THREAD timer: %d callbacks, then %d in %d s", start,
			atomic_load(&glibc_ticks) - start, WAIT_S);
	return 0;
}

static int setup(void)
{
	sigset_t block;

	sigemptyset(&block);
	for (int t = 0; t < NT; t++)
		sigaddset(&block, SIGRTMIN + td[t].signo_off);
	for (int w = 0; w < 3; w++)
		sigaddset(&block, itsig[w]);
	CT_SYS(sigprocmask(SIG_BLOCK, &block, NULL));
	CT_SYS(pipe(cmd));
	CT_EQ(pthread_create(&worker, NULL, worker_main, NULL), 0);
	CT_TRUE(ct_wait_flag(&parked));
	if (make_glibc_timer() || make_timers())
		return 1;
	for (int w = 0; w < 3; w++) {
		CT_SYS(setitimer(w, &itv[w], NULL));
		CT_SYS(getitimer(w, &itv_set[w]));
	}
	CT_SYS(read_timers(proc_timers, sizeof(proc_timers)));
	return 0;
}

static int check_itimers(void)
{
	for (int w = 0; w < 3; w++) {
		struct itimerval now;

		CT_SYS(getitimer(w, &now));
		CT_EQ(tv_us(&now.it_interval), tv_us(&itv_set[w].it_interval));
		if (tv_us(&now.it_value) <= 0 || tv_us(&now.it_value) > tv_us(&itv_set[w].it_value))
			CT_FAIL("interval timer %d: %lld us left of %lld", w,
				(long long)tv_us(&now.it_value),
				(long long)tv_us(&itv_set[w].it_value));
	}
	return 0;
}

static int check_posix(void)
{
	struct itimerspec now;

	for (int t = 0; t < NT; t++) {
		int64_t set = ts_ns(&td[t].its.it_value), left;

		if (t == T_GONE) {
			if (timer_gettime(td[t].id, &now) == 0 || errno != EINVAL)
				CT_FAIL("deleted timer %ld is back", (long)(intptr_t)td[t].id);
			continue;
		}
		if (timer_gettime(td[t].id, &now) < 0)
			CT_FAIL("timer %ld: %s", (long)(intptr_t)td[t].id, strerror(errno));
		CT_EQ(ts_ns(&now.it_interval), ts_ns(&td[t].its.it_interval));
		left = ts_ns(&now.it_value);
		if (set == 0 || t == T_FIRED ? left != 0 : left <= 0 || left > set)
			CT_FAIL("timer %ld: %lld ns left of %lld", (long)(intptr_t)td[t].id,
				(long long)left, (long long)set);
	}
	return 0;
}

/* Burn CPU until the CPU-time timers have fired, for at most WAIT_S of real time. */
static int burn_until_pending(void)
{
	struct timespec start, now;
	sigset_t pend;
	volatile uint64_t x = 0;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		for (int i = 0; i < 1000000; i++)
			x += (uint64_t)i;
		sigpending(&pend);
		if (sigismember(&pend, SIGVTALRM) && sigismember(&pend, SIGPROF) &&
		    sigismember(&pend, SIGRTMIN + td[T_CPU].signo_off))
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > WAIT_S)
			CT_FAIL(
			    "CPU-time timers did not fire within %d s (VTALRM %d PROF %d RT %d)",
			    WAIT_S, sigismember(&pend, SIGVTALRM), sigismember(&pend, SIGPROF),
			    sigismember(&pend, SIGRTMIN + td[T_CPU].signo_off));
	}
}

static int take(int sig)
{
	struct timespec limit = {WAIT_S, 0};
	sigset_t one;

	sigemptyset(&one);
	sigaddset(&one, sig);
	if (sigtimedwait(&one, NULL, &limit) != sig)
		CT_FAIL("no signal %d within %d s", sig, WAIT_S);
	return 0;
}

static int check(void)
{
	char now_timers[4096], why[256];
	struct itimerspec soon = {{0, 0}, {0, 10000000}};
	timer_t extra;
	struct sigevent ev;
	int rc;

	/* Same ids, clocks, signals, values and targets. */
	CT_SYS(read_timers(now_timers, sizeof(now_timers)));
	if (strcmp(now_timers, proc_timers)) {
		ct_log("/proc/self/timers was:\n%s\nand is now:\n%s", proc_timers, now_timers);
		CT_FAIL("/proc/self/timers differs (see the log)");
	}
	if (check_itimers() || check_posix())
		return 1;

	/* They still fire. */
	if (wait_timer(T_MONO, why, sizeof(why)))
		CT_FAIL("%s", why);
	if (wait_timer(T_MONO, why, sizeof(why))) /* periodic */
		CT_FAIL("again: %s", why);
	CT_EQ(write(cmd[1], "wq", 2), 2);
	rc = ct_join(worker, NULL, WAIT_S + 5);
	if (rc)
		CT_FAIL("joining the worker: %s", strerror(rc));
	if (worker_why[0])
		CT_FAIL("worker: %s", worker_why);
	CT_SYS(timer_settime(td[T_IDLE].id, 0, &soon, NULL));
	if (wait_timer(T_IDLE, why, sizeof(why)))
		CT_FAIL("%s", why);
	if (take(SIGALRM) || burn_until_pending() || take(SIGVTALRM) || take(SIGPROF))
		return 1;
	if (wait_timer(T_CPU, why, sizeof(why)))
		CT_FAIL("%s", why);
	if (wait_timer(T_FIRED, why, sizeof(why)))
		CT_FAIL("the signal pending at the checkpoint: %s", why);

	if (check_glibc_timer())
		return 1;

	/* The next id follows the highest one, as it did. */
	memset(&ev, 0, sizeof(ev));
	ev.sigev_notify = SIGEV_NONE;
	CT_SYS(timer_create(CLOCK_MONOTONIC, &ev, &extra));
	CT_EQ((intptr_t)extra, (intptr_t)td[NT - 1].id + 1);
	return 0;
}

CT_MAIN(setup, check)
