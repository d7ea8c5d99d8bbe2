/* SIGTRAP, which the kernel uses to report a single step: a process that ignores it
 * (SIG_IGN, with flags and a mask), and in a child one with a handler that has
 * SIGTRAP blocked and pending, for the process (sigqueue() with a value) and for its
 * main thread (tgkill()). crest must run its calls in them without single steps
 * (a step would reset an ignored action to SIG_DFL and take a pending SIGTRAP).
 * After GO each action reads back bit for bit, and the child's two SIGTRAPs come out
 * of sigtimedwait() with their siginfo, the thread's first, then its handler runs
 * once when SIGTRAP is unblocked and sent again.
 * Run with the harness's -T (checkpoint the whole tree). */
#include "ct.h"

#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The kernel's struct sigaction on x86_64. */
struct ksigaction {
	uint64_t handler, flags, restorer, mask;
};

static struct ksigaction saved;
static pid_t child = -1;
static int to_child[2], from_child[2];
static volatile sig_atomic_t handled;

static void on_trap(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	handled++;
}

static int ksig_get(struct ksigaction *ka)
{
	return (int)syscall(SYS_rt_sigaction, SIGTRAP, NULL, ka, 8);
}

/* The child's check, after GO: "ok" or why not, on from_child. */
static const char *child_check(void)
{
	static char why[200];
	struct ksigaction now;
	struct timespec ts = {5, 0};
	siginfo_t si;
	sigset_t one;

	if (ksig_get(&now) < 0 || memcmp(&now, &saved, sizeof(now)))
		return "the SIGTRAP action changed";
	sigemptyset(&one);
	sigaddset(&one, SIGTRAP);
	/* tgkill()'s: this kernel reports it as SI_USER. */
	if (sigtimedwait(&one, &si, &ts) != SIGTRAP || si.si_code > 0 ||
	    si.si_code == SI_QUEUE || si.si_pid != getpid()) {
		snprintf(why, sizeof(why), "first SIGTRAP: code %d pid %d", si.si_code, si.si_pid);
		return why;
	}
	if (sigtimedwait(&one, &si, &ts) != SIGTRAP || si.si_code != SI_QUEUE ||
	    si.si_value.sival_int != 66) {
		snprintf(why, sizeof(why), "second SIGTRAP: code %d value %d", si.si_code,
			 si.si_value.sival_int);
		return why;
	}
	ts.tv_sec = 0;
	if (sigtimedwait(&one, &si, &ts) >= 0)
		return "a third SIGTRAP was pending";
	raise(SIGTRAP);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	return handled == 1 ? "ok" : "the handler did not run once";
}

static void child_main(void)
{
	struct sigaction sa;
	union sigval v = {.sival_int = 66};
	sigset_t one;
	char c = 0, out[200];

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_trap;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	sigemptyset(&one);
	sigaddset(&one, SIGTRAP);
	if (sigaction(SIGTRAP, &sa, NULL) < 0 || sigprocmask(SIG_BLOCK, &one, NULL) < 0 ||
	    ksig_get(&saved) < 0 || sigqueue(getpid(), SIGTRAP, v) < 0 ||
	    syscall(SYS_tgkill, getpid(), getpid(), SIGTRAP) < 0)
		_exit(3);
	if (write(from_child[1], "r", 1) != 1)
		_exit(3);
	/* Until GO: blocked here, where a checkpoint finds it. */
	if (read(to_child[0], &c, 1) != 1)
		_exit(3);
	snprintf(out, sizeof(out), "%s", child_check());
	if (write(from_child[1], out, strlen(out)) < 0)
		_exit(3);
	_exit(0);
}

static int setup(void)
{
	struct sigaction sa;
	char c = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = SA_RESTART | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	CT_SYS(sigaction(SIGTRAP, &sa, NULL));
	CT_SYS(ksig_get(&saved));
	CT_SYS(pipe(to_child));
	CT_SYS(pipe(from_child));
	child = fork();
	CT_SYS(child);
	if (child == 0)
		child_main();
	CT_EQ(read(from_child[0], &c, 1), 1);
	CT_EQ(c, 'r');
	return 0;
}

static int check(void)
{
	struct ksigaction now;
	char buf[200] = "";
	ssize_t n;
	int st;

	CT_SYS(ksig_get(&now));
	if (memcmp(&now, &saved, sizeof(now)))
		CT_FAIL("SIGTRAP: action %#llx flags %#llx mask %#llx, was %#llx %#llx %#llx",
			(unsigned long long)now.handler, (unsigned long long)now.flags,
			(unsigned long long)now.mask, (unsigned long long)saved.handler,
			(unsigned long long)saved.flags, (unsigned long long)saved.mask);
	CT_EQ(write(to_child[1], "g", 1), 1);
	n = read(from_child[0], buf, sizeof(buf) - 1);
	CT_TRUE(n > 0);
	buf[n] = '\0';
	if (strcmp(buf, "ok"))
		CT_FAIL("child: %s", buf);
	CT_EQ(waitpid(child, &st, 0), child);
	CT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	return 0;
}

CT_MAIN(setup, check)
