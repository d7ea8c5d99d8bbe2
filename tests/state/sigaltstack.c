/* Alternate signal stacks, per thread: the main thread and five others, each with its
 * own (or none, or one with SS_AUTODISARM). Two threads are checkpointed while they run
 * a handler on their alternate stack, blocked in read() there (one of them with
 * SS_AUTODISARM, so its stack is off until the handler returns). After GO each thread
 * checks sigaltstack() (sp, size, flags) and that an SA_ONSTACK handler runs on its
 * alternate stack (or on the normal stack when it has none). */
#include "ct.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1u << 31) /* linux/signal.h; glibc does not define it */
#endif

enum { T_PLAIN, T_AUTODISARM, T_NONE, T_IN_HANDLER, T_AUTO_IN_HANDLER, NT };

struct th {
	int idx;
	pthread_t pt;
	pid_t tid;
	stack_t ss; /* as sigaltstack() reported it in setup */
	int fds[2]; /* commands: 'k' raise SIGUSR1 and check, 'q' quit */
	atomic_int parked;
	/* Filled by the SIGUSR1 handler. */
	volatile uintptr_t handler_sp;
	stack_t in_handler;
	volatile int handled;
	char why[256];
};

static struct th th[NT + 1]; /* th[NT]: the main thread */
static __thread struct th *self;

static void *stack_area(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int on_stack(const stack_t *ss, uintptr_t sp)
{
	return sp > (uintptr_t)ss->ss_sp && sp <= (uintptr_t)ss->ss_sp + ss->ss_size;
}

static void on_usr1(int sig)
{
	volatile char here;

	(void)sig;
	self->handler_sp = (uintptr_t)&here;
	sigaltstack(NULL, &self->in_handler);
	self->handled++;
}

/* SIGUSR2 handler of T_*IN_HANDLER: blocks in read() on the alternate stack until GO. */
static void on_usr2(int sig)
{
	struct th *t = self;
	volatile char here;
	stack_t now;
	char c = 0;
	ssize_t r;

	(void)sig;
	atomic_store(&t->parked, 1);
	r = read(t->fds[0], &c, 1);
	if (r != 1 || c != 'h') {
		snprintf(t->why, sizeof(t->why), "read in handler: %zd '%c' (%s)", r, c,
			 strerror(errno));
		return;
	}
	sigaltstack(NULL, &now);
	if (!on_stack(&t->ss, (uintptr_t)&here))
		snprintf(t->why, sizeof(t->why), "handler frame %p off the alternate stack",
			 (void *)&here);
	else if ((t->ss.ss_flags & SS_AUTODISARM)
		     ? now.ss_flags != SS_DISABLE
		     : (now.ss_sp != t->ss.ss_sp || now.ss_size != t->ss.ss_size ||
			now.ss_flags != (t->ss.ss_flags | SS_ONSTACK)))
		snprintf(t->why, sizeof(t->why), "in handler: sigaltstack %p/%zu/%#x", now.ss_sp,
			 now.ss_size, now.ss_flags);
}

/* What a thread verifies about itself; returns 0 or fills t->why. */
static void self_check(struct th *t)
{
	volatile char here;
	stack_t now;
	int before = t->handled;

	if (sigaltstack(NULL, &now) < 0) {
		snprintf(t->why, sizeof(t->why), "sigaltstack: %s", strerror(errno));
		return;
	}
	if (now.ss_flags != t->ss.ss_flags ||
	    (!(now.ss_flags & SS_DISABLE) &&
	     (now.ss_sp != t->ss.ss_sp || now.ss_size != t->ss.ss_size))) {
		snprintf(t->why, sizeof(t->why), "sigaltstack %p/%zu/%#x, was %p/%zu/%#x",
			 now.ss_sp, now.ss_size, now.ss_flags, t->ss.ss_sp, t->ss.ss_size,
			 t->ss.ss_flags);
		return;
	}
	/* Delivered before tgkill returns: the signal is for this thread and unblocked. */
	syscall(SYS_tgkill, getpid(), t->tid, SIGUSR1);
	if (t->handled != before + 1) {
		snprintf(t->why, sizeof(t->why), "SIGUSR1 handler did not run");
		return;
	}
	if (t->ss.ss_flags & SS_DISABLE) {
		/* No alternate stack: the frame is just below ours. */
		if (t->handler_sp > (uintptr_t)&here || (uintptr_t)&here - t->handler_sp > 65536)
			snprintf(t->why, sizeof(t->why), "handler ran at %#lx, not below %p",
				 (unsigned long)t->handler_sp, (void *)&here);
		return;
	}
	if (!on_stack(&t->ss, t->handler_sp)) {
		snprintf(t->why, sizeof(t->why), "handler ran at %#lx, not on %p+%zu",
			 (unsigned long)t->handler_sp, t->ss.ss_sp, t->ss.ss_size);
		return;
	}
	/* With SS_AUTODISARM the stack is off while the handler runs on it. */
	if ((t->ss.ss_flags & SS_AUTODISARM)
		? !(t->in_handler.ss_flags & SS_DISABLE)
		: t->in_handler.ss_flags != (t->ss.ss_flags | SS_ONSTACK))
		snprintf(t->why, sizeof(t->why), "in handler: flags %#x", t->in_handler.ss_flags);
}

static int set_altstack(struct th *t)
{
	size_t sizes[NT + 1] = {65536, 3 * SIGSTKSZ, 0, 40960, 45056, 98304};
	stack_t ss = {0};

	if (t->idx == T_NONE) {
		ss.ss_flags = SS_DISABLE;
	} else {
		ss.ss_size = sizes[t->idx];
		ss.ss_sp = stack_area(ss.ss_size);
		if (!ss.ss_sp)
			return -1;
		ss.ss_flags =
		    t->idx == T_AUTODISARM || t->idx == T_AUTO_IN_HANDLER ? SS_AUTODISARM : 0;
	}
	if (sigaltstack(&ss, NULL) < 0 || sigaltstack(NULL, &t->ss) < 0)
		return -1;
	return 0;
}

static void *thread_main(void *arg)
{
	struct th *t = arg;
	char c;

	self = t;
	t->tid = (pid_t)syscall(SYS_gettid);
	if (set_altstack(t) < 0) {
		snprintf(t->why, sizeof(t->why), "cannot set up: %s", strerror(errno));
		atomic_store(&t->parked, 1);
		return NULL;
	}
	if (t->idx == T_IN_HANDLER || t->idx == T_AUTO_IN_HANDLER) {
		syscall(SYS_tgkill, getpid(), t->tid, SIGUSR2);
		if (t->why[0])
			return NULL;
	} else {
		atomic_store(&t->parked, 1);
	}
	for (;;) {
		ssize_t r = read(t->fds[0], &c, 1);

		if (r != 1) {
			snprintf(t->why, sizeof(t->why), "read: %zd (%s)", r, strerror(errno));
			break;
		}
		if (c == 'q')
			break;
		if (c == 'k')
			self_check(t);
		if (t->why[0])
			break;
	}
	return NULL;
}

static int setup(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_ONSTACK | SA_RESTART;
	CT_SYS(sigaction(SIGUSR1, &sa, NULL));
	sa.sa_handler = on_usr2;
	CT_SYS(sigaction(SIGUSR2, &sa, NULL));

	self = &th[NT];
	th[NT].idx = NT;
	th[NT].tid = getpid();
	CT_SYS(set_altstack(&th[NT]));
	for (int i = 0; i < NT; i++) {
		th[i].idx = i;
		CT_SYS(pipe(th[i].fds));
		CT_EQ(pthread_create(&th[i].pt, NULL, thread_main, &th[i]), 0);
	}
	for (int i = 0; i < NT; i++) {
		CT_TRUE(ct_wait_flag(&th[i].parked));
		if (th[i].why[0])
			CT_FAIL("thread %d: %s", th[i].tid, th[i].why);
	}
	/* The handler runs as it should before any checkpoint. */
	self_check(&th[NT]);
	if (th[NT].why[0])
		CT_FAIL("main thread, before the checkpoint: %s", th[NT].why);
	return 0;
}

static int check(void)
{
	self_check(&th[NT]);
	if (th[NT].why[0])
		CT_FAIL("main thread: %s", th[NT].why);
	CT_EQ(write(th[T_IN_HANDLER].fds[1], "h", 1), 1);
	CT_EQ(write(th[T_AUTO_IN_HANDLER].fds[1], "h", 1), 1);
	for (int i = 0; i < NT; i++) {
		int rc;

		CT_EQ(write(th[i].fds[1], "kkq", 3), 3);
		rc = ct_join(th[i].pt, NULL, 10);
		if (rc)
			CT_FAIL("joining thread %d: %s", th[i].tid, strerror(rc));
		if (th[i].why[0])
			CT_FAIL("thread %d: %s", th[i].tid, th[i].why);
		if (th[i].handled != 2)
			CT_FAIL("thread %d: its handler ran %d times, not 2", th[i].tid,
				th[i].handled);
	}
	return 0;
}

CT_MAIN(setup, check)
