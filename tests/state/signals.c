/* Signal state: the disposition of every signal (handler, flags, restorer, mask; also
 * SIG_IGN, and SIG_DFL with flags), SIGCHLD with SA_NOCLDSTOP, a SIGTRAP handler
 * (crest's single steps must leave it alone); signals pending for
 * the process (kill(), sigqueue() with values, real-time ones queued several times)
 * and for single threads (tgkill(), pthread_sigqueue()), each with its full siginfo,
 * in order. After GO the dispositions must read back bit for bit, every pending
 * signal must come out of sigtimedwait() as it went in, and handlers must run with
 * their flags (SA_SIGINFO, SA_NODEFER, SA_RESETHAND) and masks. */
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

#define NSIGS 64

/* The kernel's struct sigaction on x86_64. */
struct ksigaction {
	uint64_t handler, flags, restorer, mask;
};

/* A pending signal as it was queued, to compare with what sigtimedwait gives. */
struct sent {
	int signo;
	int code;
	int value;
	pid_t pid;
};

static struct ksigaction saved[NSIGS + 1];
static pthread_t worker;
static pid_t worker_tid, main_tid;
static int cmd[2];
static atomic_int parked;
static char worker_why[256];
static uint64_t main_blocked, worker_blocked;

/* Process-wide, in the order each signal number must give them back. */
static struct sent shared_sent[] = {
    {SIGUSR1, SI_USER, 0, 0},
    {SIGHUP, SI_QUEUE, 7, 0},
    {SIGWINCH, SI_USER, 0, 0},
    {SIGALRM, SI_KERNEL, 0, 0}, /* from an interval timer */
    {0 /* SIGRTMIN+1 */, SI_QUEUE, 11, 0},
    {0 /* SIGRTMIN+1 */, SI_QUEUE, 22, 0},
    {0 /* SIGRTMIN+1 */, SI_QUEUE, 33, 0},
    {0 /* SIGRTMIN+2 */, SI_USER, 0, 0},
    {0 /* SIGRTMIN+2 */, SI_USER, 0, 0},
    {0 /* SIGRTMIN+2 */, SI_QUEUE, 44, 0},
};
/* To the worker thread, and to the main thread. */
static struct sent worker_sent[] = {
    {SIGUSR2, SI_TKILL, 0, 0},
    {0 /* SIGRTMIN+3 */, SI_QUEUE, 55, 0},
    {0 /* SIGRTMIN+3 */, SI_TKILL, 0, 0},
    {0 /* SIGRTMIN+3 */, SI_QUEUE, 66, 0},
};
static struct sent main_sent[] = {
    {SIGTERM, SI_TKILL, 0, 0},
    {0 /* SIGRTMIN+4 */, SI_QUEUE, 77, 0},
    {0 /* SIGRTMIN+4 */, SI_QUEUE, 88, 0},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* What handlers saw. */
static volatile int got_sig, got_code, got_value, got_count;
static volatile uint64_t got_mask;
static volatile int nodefer_depth, nodefer_max;

static int ksig_get(int sig, struct ksigaction *ka)
{
	return (int)syscall(SYS_rt_sigaction, sig, NULL, ka, 8);
}

static uint64_t mask_now(void)
{
	uint64_t m = 0;

	syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, 8);
	return m;
}

static uint64_t bit(int sig)
{
	return 1ull << (sig - 1);
}

static void on_info(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = si->si_code;
	got_value = si->si_value.sival_int;
	got_mask = mask_now();
	got_count++;
}

static void on_nodefer(int sig)
{
	/* SA_NODEFER: the signal is not blocked in its own handler; once, re-enter. */
	got_mask = mask_now();
	nodefer_depth++;
	if (nodefer_depth > nodefer_max)
		nodefer_max = nodefer_depth;
	if (nodefer_depth == 1)
		syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
	nodefer_depth--;
	got_count++;
}

static void on_plain(int sig)
{
	got_sig = sig;
	got_mask = mask_now();
	got_count++;
}

static int set_action(int sig, void (*h)(int), void (*sa)(int, siginfo_t *, void *), int flags,
		      uint64_t mask)
{
	struct sigaction act;

	memset(&act, 0, sizeof(act));
	if (sa)
		act.sa_sigaction = sa;
	else
		act.sa_handler = h;
	act.sa_flags = flags;
	sigemptyset(&act.sa_mask);
	for (int s = 1; s <= NSIGS; s++)
		if (mask & bit(s))
			sigaddset(&act.sa_mask, s);
	return sigaction(sig, &act, NULL);
}

static int dispositions(void)
{
	int rt = SIGRTMIN;

	CT_SYS(set_action(SIGUSR1, NULL, on_info, SA_SIGINFO | SA_RESTART,
			  bit(SIGUSR2) | bit(SIGTERM) | bit(rt + 7)));
	CT_SYS(set_action(SIGUSR2, on_nodefer, NULL, SA_NODEFER, bit(SIGINT)));
	CT_SYS(set_action(SIGHUP, NULL, on_info, SA_SIGINFO | SA_RESETHAND, 0));
	CT_SYS(set_action(SIGALRM, on_plain, NULL, SA_ONSTACK | SA_RESTART, bit(SIGQUIT)));
	CT_SYS(set_action(SIGCHLD, on_plain, NULL, SA_NOCLDSTOP | SA_RESTART, bit(SIGPIPE)));
	CT_SYS(set_action(SIGPIPE, SIG_IGN, NULL, 0, 0));
	CT_SYS(set_action(SIGTSTP, SIG_IGN, NULL, SA_RESTART, bit(SIGUSR1)));
	/* A default disposition still has flags and a mask that sigaction() reports. */
	CT_SYS(set_action(SIGQUIT, SIG_DFL, NULL, SA_RESTART | SA_NODEFER, bit(SIGHUP)));
	CT_SYS(set_action(SIGTERM, on_plain, NULL, 0, 0));
	CT_SYS(set_action(SIGWINCH, on_plain, NULL, SA_RESTART, 0));
	/* The kernel reports crest's single steps with SIGTRAP: its handler stays. */
	CT_SYS(set_action(SIGTRAP, NULL, on_info, SA_SIGINFO | SA_RESTART, bit(SIGWINCH)));
	for (int i = 1; i <= 8; i++)
		CT_SYS(set_action(rt + i, NULL, on_info, SA_SIGINFO | (i & 1 ? SA_RESTART : 0),
				  bit(rt + ((i + 1) % 8)) | (i & 2 ? bit(SIGUSR1) : 0)));
	CT_SYS(set_action(SIGRTMAX, SIG_IGN, NULL, 0, 0));
	return 0;
}

/* SIGALRM (blocked) from ITIMER_REAL: the kernel's own siginfo, SI_KERNEL. */
static int expire_itimer(void)
{
	struct itimerval it = {{0, 0}, {0, 1000}};

	CT_SYS(setitimer(ITIMER_REAL, &it, NULL));
	if (!ct_wait_pending(SIGALRM))
		CT_FAIL("SIGALRM did not come");
	return 0;
}

static int queue(struct sent *s, size_t n, pid_t tid)
{
	for (size_t i = 0; i < n; i++) {
		union sigval v = {.sival_int = s[i].value};

		s[i].pid = s[i].code == SI_KERNEL ? 0 : getpid();
		if (s[i].code == SI_KERNEL) {
			if (expire_itimer())
				return 1;
		} else if (tid == 0 && s[i].code == SI_USER)
			CT_SYS(kill(getpid(), s[i].signo));
		else if (tid == 0)
			CT_SYS(sigqueue(getpid(), s[i].signo, v));
		else if (s[i].code == SI_TKILL)
			CT_SYS(syscall(SYS_tgkill, getpid(), tid, s[i].signo));
		else
			CT_EQ(pthread_sigqueue(tid == main_tid ? pthread_self() : worker,
					       s[i].signo, v),
			      0);
	}
	return 0;
}

/* Take every signal of list out with sigtimedwait, in order, comparing siginfo. */
static const char *drain(const struct sent *s, size_t n, char *why, size_t wn)
{
	struct timespec zero = {0, 0};

	for (size_t i = 0; i < n; i++) {
		sigset_t one;
		siginfo_t si;
		int r;

		sigemptyset(&one);
		sigaddset(&one, s[i].signo);
		memset(&si, 0, sizeof(si));
		/* The raw call: glibc's wrapper reports SI_TKILL as SI_USER. */
		r = (int)syscall(SYS_rt_sigtimedwait, &one, &si, &zero, 8);
		if (r != s[i].signo) {
			snprintf(why, wn, "signal %d #%zu: sigtimedwait gave %d (%s)", s[i].signo,
				 i, r, r < 0 ? strerror(errno) : "");
			return why;
		}
		if (si.si_code != s[i].code || si.si_pid != s[i].pid || si.si_uid != getuid() ||
		    (s[i].code == SI_QUEUE && si.si_value.sival_int != s[i].value)) {
			snprintf(why, wn,
				 "signal %d #%zu: code %d pid %d uid %d value %d, sent code %d "
				 "pid %d value %d",
				 s[i].signo, i, si.si_code, si.si_pid, si.si_uid,
				 si.si_value.sival_int, s[i].code, s[i].pid, s[i].value);
			return why;
		}
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	char c;

	(void)arg;
	worker_tid = (pid_t)syscall(SYS_gettid);
	worker_blocked = mask_now();
	atomic_store(&parked, 1);
	while (read(cmd[0], &c, 1) == 1) {
		sigset_t pend;

		if (c == 'q')
			break;
		if (mask_now() != worker_blocked) {
			snprintf(worker_why, sizeof(worker_why), "mask %#llx, was %#llx",
				 (unsigned long long)mask_now(),
				 (unsigned long long)worker_blocked);
			break;
		}
		if (drain(worker_sent, N(worker_sent), worker_why, sizeof(worker_why)))
			break;
		/* What is left belongs to the main thread and the process. */
		sigpending(&pend);
		for (size_t i = 0; i < N(worker_sent); i++)
			if (sigismember(&pend, worker_sent[i].signo)) {
				snprintf(worker_why, sizeof(worker_why), "signal %d still pending",
					 worker_sent[i].signo);
				break;
			}
	}
	return NULL;
}

static int setup(void)
{
	sigset_t block;
	int rt = SIGRTMIN;

	shared_sent[4].signo = shared_sent[5].signo = shared_sent[6].signo = rt + 1;
	shared_sent[7].signo = shared_sent[8].signo = shared_sent[9].signo = rt + 2;
	worker_sent[1].signo = worker_sent[2].signo = worker_sent[3].signo = rt + 3;
	main_sent[1].signo = main_sent[2].signo = rt + 4;
	main_tid = getpid();
	if (dispositions())
		return 1;

	/* Everything that is queued stays pending: blocked in every thread. */
	sigemptyset(&block);
	for (size_t i = 0; i < N(shared_sent); i++)
		sigaddset(&block, shared_sent[i].signo);
	for (size_t i = 0; i < N(worker_sent); i++)
		sigaddset(&block, worker_sent[i].signo);
	for (size_t i = 0; i < N(main_sent); i++)
		sigaddset(&block, main_sent[i].signo);
	CT_SYS(sigprocmask(SIG_BLOCK, &block, NULL));
	CT_SYS(pipe(cmd));
	CT_EQ(pthread_create(&worker, NULL, worker_main, NULL), 0);
	CT_TRUE(ct_wait_flag(&parked));
	main_blocked = mask_now();
	/* After the first pthread_create(): glibc installs its SIGSETXID handler then. */
	for (int sig = 1; sig <= NSIGS; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			CT_SYS(ksig_get(sig, &saved[sig]));

	if (queue(shared_sent, N(shared_sent), 0) ||
	    queue(worker_sent, N(worker_sent), worker_tid) ||
	    queue(main_sent, N(main_sent), main_tid))
		return 1;
	return 0;
}

/* Deliver sig to ourselves (unblocked for the moment) and see its handler run. */
static int deliver(int sig, int want_count)
{
	sigset_t one;

	got_count = 0;
	got_sig = 0;
	sigemptyset(&one);
	sigaddset(&one, sig);
	syscall(SYS_tgkill, getpid(), main_tid, sig);
	CT_SYS(pthread_sigmask(SIG_UNBLOCK, &one, NULL));
	CT_SYS(pthread_sigmask(SIG_BLOCK, &one, NULL));
	if (got_count != want_count)
		CT_FAIL("signal %d: handler ran %d times, not %d", sig, got_count, want_count);
	return 0;
}

static int check(void)
{
	char why[256];
	struct ksigaction now;
	sigset_t pend;
	int rc, rt = SIGRTMIN;

	/* Dispositions, bit for bit. */
	for (int sig = 1; sig <= NSIGS; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		CT_SYS(ksig_get(sig, &now));
		if (memcmp(&now, &saved[sig], sizeof(now)))
			CT_FAIL(
			    "signal %d: action %#llx flags %#llx restorer %#llx mask %#llx, was "
			    "%#llx %#llx %#llx %#llx",
			    sig, (unsigned long long)now.handler, (unsigned long long)now.flags,
			    (unsigned long long)now.restorer, (unsigned long long)now.mask,
			    (unsigned long long)saved[sig].handler,
			    (unsigned long long)saved[sig].flags,
			    (unsigned long long)saved[sig].restorer,
			    (unsigned long long)saved[sig].mask);
	}
	CT_EQ(mask_now(), main_blocked);

	/* Pending: the worker takes its own out first (a thread sees shared ones too,
	 * and it uses other numbers), then the main thread its own and the shared. */
	CT_EQ(write(cmd[1], "cq", 2), 2);
	rc = ct_join(worker, NULL, 10);
	if (rc)
		CT_FAIL("joining the worker: %s", strerror(rc));
	if (worker_why[0])
		CT_FAIL("worker %d: %s", worker_tid, worker_why);
	if (drain(main_sent, N(main_sent), why, sizeof(why)))
		CT_FAIL("main thread: %s", why);
	if (drain(shared_sent, N(shared_sent), why, sizeof(why)))
		CT_FAIL("process: %s", why);
	CT_SYS(sigpending(&pend));
	for (int sig = 1; sig <= NSIGS; sig++)
		if (sigismember(&pend, sig))
			CT_FAIL("signal %d still pending", sig);

	/* Handlers run with their flags and masks. */
	if (deliver(SIGUSR1, 1))
		return 1;
	CT_EQ(got_code, SI_TKILL);
	CT_EQ(got_mask & (bit(SIGUSR1) | bit(SIGUSR2) | bit(SIGTERM) | bit(rt + 7)),
	      bit(SIGUSR1) | bit(SIGUSR2) | bit(SIGTERM) | bit(rt + 7));
	nodefer_max = 0;
	if (deliver(SIGUSR2, 2))
		return 1;
	CT_EQ(nodefer_max, 2);
	CT_EQ(got_mask & (bit(SIGUSR2) | bit(SIGINT)), bit(SIGINT));
	if (deliver(SIGHUP, 1))
		return 1;
	CT_SYS(ksig_get(SIGHUP, &now));
	CT_EQ(now.handler, (uintptr_t)SIG_DFL); /* SA_RESETHAND */
	if (deliver(SIGCHLD, 1))
		return 1;
	CT_EQ(got_mask & bit(SIGPIPE), bit(SIGPIPE));
	if (deliver(rt + 5, 1))
		return 1;
	CT_EQ(got_sig, rt + 5);
	CT_EQ(got_mask & bit(rt + 6), bit(rt + 6));
	return 0;
}

CT_MAIN(setup, check)
