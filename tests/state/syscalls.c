/* Threads blocked in system calls when the checkpoint comes: sleeps (nanosleep, sleep,
 * absolute clock_nanosleep) resume for the time left, neither from scratch nor with
 * EINTR; read, poll (with and without a timeout), select, a futex wait, a timed
 * condition wait, ppoll and sigsuspend with a temporary mask, pause() and sigtimedwait()
 * (which the kernel ends with EINTR when a ptrace stop wakes it) all stay
 * blocked until something after GO wakes them, and return what they would have
 * without a checkpoint. Temporary masks are gone afterwards. */
#include "ct.h"

#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleeps of SLEEP_S; setup returns PRE_S after they started, so a sleep resumed with
 * the time left ends about SLEEP_S - PRE_S after GO, one started again about SLEEP_S
 * after. SLACK_S of noise is allowed either way. */
#define SLEEP_S 4.0
#define PRE_S 2.0
#define SLACK_S 1.0
#define JOIN_TIMEOUT_S 15
#define SIGWAIT_SIG (SIGRTMIN + 9)
#define BLOCKED_SIG (SIGRTMIN + 10)

enum kind {
	K_NANOSLEEP,
	K_SLEEP,
	K_CLOCK_ABS,
	K_READ,
	K_POLL,
	K_POLL_TIMEOUT,
	K_SELECT,
	K_FUTEX,
	K_CONDWAIT,
	K_PPOLL,
	K_SIGSUSPEND,
	K_PAUSE,
	K_SIGWAIT,
	NK
};

static const char *const kind_name[NK] = {
    "nanosleep",    "sleep", "clock_nanosleep(ABSTIME)", "read",  "poll",       "poll(timeout)",
    "select",       "futex", "pthread_cond_timedwait",   "ppoll", "sigsuspend", "pause",
    "sigtimedwait",
};

struct th {
	enum kind k;
	pthread_t pt;
	pid_t tid;
	int fds[2];
	double t0, t1; /* CLOCK_MONOTONIC before and after the call */
	atomic_int parked, returned;
	char why[256];
};

static struct th th[NK];
static atomic_int futex_word;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static int cond_go;
static double t_started, t_go;
static volatile sig_atomic_t usr1_count, usr2_count;
static struct timeval select_left;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_usr1(int sig)
{
	(void)sig;
	usr1_count++;
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2_count++;
}

#define WHY(...) snprintf(t->why, sizeof(t->why), __VA_ARGS__)

static void run_sleep(struct th *t)
{
	struct timespec req = {(time_t)SLEEP_S, 0}, abs;
	long r;

	switch (t->k) {
	case K_NANOSLEEP:
		r = nanosleep(&req, &req);
		if (r)
			WHY("nanosleep: %s", strerror(errno));
		break;
	case K_SLEEP:
		r = sleep((unsigned int)SLEEP_S);
		if (r)
			WHY("sleep() left %ld s unslept", r);
		break;
	default:
		clock_gettime(CLOCK_MONOTONIC, &abs);
		abs.tv_sec += (time_t)SLEEP_S;
		t->t0 = (double)abs.tv_sec - SLEEP_S + (double)abs.tv_nsec / 1e9;
		r = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
		if (r)
			WHY("clock_nanosleep: %s", strerror((int)r));
		break;
	}
}

static void run_wait(struct th *t)
{
	struct pollfd pfd = {t->fds[0], POLLIN, 0};
	sigset_t tmp;
	char c;
	long r;

	switch (t->k) {
	case K_READ:
		r = read(t->fds[0], &c, 1);
		if (r != 1)
			WHY("read: %ld (%s)", r, strerror(errno));
		break;
	case K_POLL:
	case K_POLL_TIMEOUT:
		r = poll(&pfd, 1, t->k == K_POLL ? -1 : 60000);
		if (r != 1 || pfd.revents != POLLIN)
			WHY("poll: %ld revents %#x (%s)", r, pfd.revents, strerror(errno));
		break;
	case K_SELECT: {
		struct timeval tv = {60, 0};
		fd_set rd;

		FD_ZERO(&rd);
		FD_SET(t->fds[0], &rd);
		r = select(t->fds[0] + 1, &rd, NULL, NULL, &tv);
		if (r != 1 || !FD_ISSET(t->fds[0], &rd))
			WHY("select: %ld (%s)", r, strerror(errno));
		select_left = tv; /* Linux writes the time left back */
		break;
	}
	case K_FUTEX:
		while (atomic_load(&futex_word) == 0) {
			r = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
			if (r < 0 && errno != EAGAIN) {
				WHY("futex wait: %s", strerror(errno));
				break;
			}
		}
		break;
	case K_CONDWAIT: {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 120;
		pthread_mutex_lock(&lock);
		while (!cond_go) {
			r = pthread_cond_timedwait(&cond, &lock, &until);
			if (r) {
				WHY("pthread_cond_timedwait: %s", strerror((int)r));
				break;
			}
		}
		pthread_mutex_unlock(&lock);
		break;
	}
	case K_PPOLL:
		/* Blocks SIGUSR2 (see setup); ppoll lets it in for its duration only. */
		sigemptyset(&tmp);
		r = ppoll(&pfd, 1, NULL, &tmp);
		if (r != 1)
			WHY("ppoll: %ld (%s)", r, strerror(errno));
		break;
	case K_SIGSUSPEND:
		sigemptyset(&tmp);
		r = sigsuspend(&tmp);
		if (r != -1 || errno != EINTR || usr2_count != 1)
			WHY("sigsuspend: %ld (%s), handler ran %d times", r, strerror(errno),
			    (int)usr2_count);
		break;
	case K_SIGWAIT: {
		/* The kernel ends this one with EINTR when a ptrace stop wakes it. */
		struct timespec limit = {60, 0};
		siginfo_t si;

		sigemptyset(&tmp);
		sigaddset(&tmp, SIGWAIT_SIG);
		r = sigtimedwait(&tmp, &si, &limit);
		if (r != SIGWAIT_SIG || si.si_code != SI_QUEUE || si.si_value.sival_int != 99) {
			WHY("sigtimedwait: %ld (%s) code %d value %d", r, strerror(errno),
			    si.si_code, si.si_value.sival_int);
			break;
		}
		/* The signal that stayed blocked is still there, once. */
		sigemptyset(&tmp);
		sigaddset(&tmp, BLOCKED_SIG);
		limit.tv_sec = 0;
		r = sigtimedwait(&tmp, &si, &limit);
		if (r != BLOCKED_SIG || si.si_value.sival_int != 7 ||
		    sigtimedwait(&tmp, &si, &limit) != -1)
			WHY("the blocked signal: %ld, value %d", r, si.si_value.sival_int);
		break;
	}
	case K_PAUSE:
		r = pause();
		if (r != -1 || errno != EINTR || usr1_count != 1)
			WHY("pause: %ld (%s), handler ran %d times", r, strerror(errno),
			    (int)usr1_count);
		break;
	default:
		break;
	}
}

static void *thread_main(void *arg)
{
	struct th *t = arg;
	sigset_t before, after;

	t->tid = (pid_t)syscall(SYS_gettid);
	pthread_sigmask(SIG_BLOCK, NULL, &before);
	t->t0 = now();
	atomic_store(&t->parked, 1);
	if (t->k <= K_CLOCK_ABS)
		run_sleep(t);
	else
		run_wait(t);
	t->t1 = now();
	atomic_store(&t->returned, 1);
	pthread_sigmask(SIG_BLOCK, NULL, &after);
	if (!t->why[0] && memcmp(&before, &after, sizeof(before)))
		WHY("signal mask changed by the call");
	return NULL;
}

/* The thread sleeps (state S) inside a system call. */
static int blocked(pid_t tid)
{
	return ct_task_state(tid) == 'S' && ct_syscall_of(tid) >= 0;
}

/* Stop the whole process and have a timer continue it, as job control or a debugger
 * would. The kernel then resumes the sleeps, the polls and the timed futex wait with
 * restart_syscall(), whose restart block no restart can carry over: crest must see
 * through it to the call each thread is in. */
static int stop_and_continue(void)
{
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGCONT};
	struct itimerspec its = {.it_value = {0, 50 * 1000 * 1000}};
	timer_t tm;

	CT_SYS(timer_create(CLOCK_MONOTONIC, &ev, &tm));
	CT_SYS(timer_settime(tm, 0, &its, NULL));
	CT_SYS(raise(SIGSTOP));
	CT_SYS(timer_delete(tm));
	return 0;
}

static int wait_all_blocked(int n, const char *when)
{
	for (int i = 0; i < n; i++) {
		int k;

		for (k = 0; k < 5000 && !(atomic_load(&th[i].parked) && blocked(th[i].tid)); k++)
			usleep(1000);
		if (k == 5000)
			CT_FAIL("%s thread not blocked %s", kind_name[i], when);
	}
	return 0;
}

static int setup(void)
{
	struct sigaction sa;
	pthread_condattr_t ca;
	sigset_t usr2;

	memset(&sa, 0, sizeof(sa));
	sa.sa_flags = SA_RESTART;
	sa.sa_handler = on_usr1;
	CT_SYS(sigaction(SIGUSR1, &sa, NULL));
	sa.sa_handler = on_usr2;
	CT_SYS(sigaction(SIGUSR2, &sa, NULL));
	CT_EQ(pthread_condattr_init(&ca), 0);
	CT_EQ(pthread_cond_init(&cond, &ca), 0);
	/* SIGUSR2 only reaches the threads that open it for a call (ppoll, sigsuspend);
	 * SIGWAIT_SIG is taken by sigtimedwait; BLOCKED_SIG stays pending for that thread
	 * throughout (a blocked signal is no reason for a call to have ended). */
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	sigaddset(&usr2, SIGWAIT_SIG);
	sigaddset(&usr2, BLOCKED_SIG);
	CT_SYS(pthread_sigmask(SIG_BLOCK, &usr2, NULL));

	t_started = now();
	for (int i = 0; i < NK; i++) {
		th[i].k = (enum kind)i;
		CT_SYS(pipe(th[i].fds));
		/* A stop ends sigtimedwait() with EINTR: that one starts after. */
		if (i != K_SIGWAIT)
			CT_EQ(pthread_create(&th[i].pt, NULL, thread_main, &th[i]), 0);
	}
	if (wait_all_blocked(K_SIGWAIT, "at first") || stop_and_continue() ||
	    wait_all_blocked(K_SIGWAIT, "after a stop"))
		return 1;
	CT_EQ(pthread_create(&th[K_SIGWAIT].pt, NULL, thread_main, &th[K_SIGWAIT]), 0);
	if (wait_all_blocked(NK, "at first"))
		return 1;
	CT_EQ(pthread_sigqueue(th[K_SIGWAIT].pt, BLOCKED_SIG, (union sigval){.sival_int = 7}), 0);
	for (int i = 0; i < NK; i++)
		ct_log("%s: in system call %ld", kind_name[i], ct_syscall_of(th[i].tid));
	/* Part of each sleep goes by before the checkpoint. */
	while (now() < t_started + PRE_S)
		usleep(10000);
	for (int i = 0; i < NK; i++)
		if (atomic_load(&th[i].returned))
			CT_FAIL("%s returned before the checkpoint: %s", kind_name[i], th[i].why);
	return 0;
}

static int join(struct th *t)
{
	int rc;

	rc = ct_join(t->pt, NULL, JOIN_TIMEOUT_S);
	if (rc)
		CT_FAIL("%s (thread %d) did not return: %s", kind_name[t->k], t->tid, strerror(rc));
	if (t->why[0])
		CT_FAIL("%s (thread %d): %s", kind_name[t->k], t->tid, t->why);
	return 0;
}

static int check_sleep(struct th *t)
{
	double took, after_go;

	if (join(t))
		return 1;
	took = t->t1 - t->t0;
	after_go = t->t1 - t_go;
	if (took < SLEEP_S - 0.01)
		CT_FAIL("%s slept %.3f s of %.1f", kind_name[t->k], took, SLEEP_S);
	/* Ended when the time left ran out, not SLEEP_S after the restart. */
	if (after_go > SLEEP_S - PRE_S + SLACK_S)
		CT_FAIL("%s ended %.3f s after GO, %.3f s after it began: started again?",
			kind_name[t->k], after_go, took);
	return 0;
}

/* select() counted its time down across the checkpoint: less is left than if it had
 * started again, and no more than the time it waited allows. */
static int check_select(void)
{
	const struct th *t = &th[K_SELECT];
	double left = (double)select_left.tv_sec + (double)select_left.tv_usec / 1e6;

	if (left > 60.0 - PRE_S + SLACK_S || left < 60.0 - (t->t1 - t->t0) - SLACK_S)
		CT_FAIL("select() left %.3f s of 60 after waiting %.3f s", left, t->t1 - t->t0);
	return 0;
}

static int check(void)
{
	t_go = now();
	/* Nothing woke early (a sleep may have run out during long cycles). */
	for (int i = K_READ; i < NK; i++)
		if (atomic_load(&th[i].returned))
			CT_FAIL("%s returned before GO: %s", kind_name[i], th[i].why);
	if (usr1_count || usr2_count)
		CT_FAIL("a handler ran before GO");

	CT_EQ(write(th[K_READ].fds[1], "r", 1), 1);
	CT_EQ(write(th[K_POLL].fds[1], "p", 1), 1);
	CT_EQ(write(th[K_POLL_TIMEOUT].fds[1], "t", 1), 1);
	CT_EQ(write(th[K_SELECT].fds[1], "s", 1), 1);
	CT_EQ(write(th[K_PPOLL].fds[1], "P", 1), 1);
	atomic_store(&futex_word, 1);
	CT_SYS(syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
	pthread_mutex_lock(&lock);
	cond_go = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	CT_EQ(pthread_kill(th[K_PAUSE].pt, SIGUSR1), 0);
	CT_EQ(pthread_kill(th[K_SIGSUSPEND].pt, SIGUSR2), 0);
	CT_EQ(pthread_sigqueue(th[K_SIGWAIT].pt, SIGWAIT_SIG, (union sigval){.sival_int = 99}), 0);
	for (int i = K_READ; i < NK; i++)
		if (join(&th[i]))
			return 1;
	if (check_select())
		return 1;
	for (int i = 0; i <= K_CLOCK_ABS; i++)
		if (check_sleep(&th[i]))
			return 1;
	return 0;
}

CT_MAIN(setup, check)
