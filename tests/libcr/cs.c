/* cs.c: critical sections (BLCR's stage0001, critical_sections, cs_enter_leave,
 * cs_enter_leave2, cr_tryenter_cs).
 *
 * - A request that comes while the thread is inside a critical section stays PENDING
 *   until the outermost cr_leave_cs(), which runs the callbacks before it returns.
 * - A thread-context callback waits until another thread has left its section.
 * - Under contention (threads entering and leaving in a loop, one with
 *   cr_tryenter_cs), repeated self-checkpoints all complete (no starvation), no
 *   callback ever runs while a thread is inside, and every thread makes progress. */
#include <libcr.h>

#include "lt.h"

#include <pthread.h>

static volatile int cb_ran, cb_rc = 99;
static cr_client_id_t cid;

static int sc_cb(void *arg)
{
	(void)arg;
	cb_ran++;
	cb_rc = cr_checkpoint(CR_CHECKPOINT_READY);
	return 0;
}

/* The status turns PENDING once the request arrived; bounded. */
static bool wait_pending(void)
{
	for (int i = 0; i < 2000; i++) {
		if (cr_status() == CR_STATE_PENDING)
			return true;
		lt_sleep_ms(5);
	}
	return false;
}

/* A checkpoint requested from outside while the only thread is inside a section. */
static void pending_until_leave(bool by_library)
{
	cr_checkpoint_handle_t h = 0;
	pid_t pid = 0;
	int rc, fd = -1;

	cb_ran = 0;
	cb_rc = 99;
	LT_CHECK(cr_enter_cs(cid) == 0 && cr_enter_cs(cid) == 0, "enter twice");
	if (by_library) {
		cr_checkpoint_args_t a;

		fd = open("ctx.cs", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		cr_initialize_checkpoint_args_t(&a);
		a.cr_scope = CR_SCOPE_PROC;
		a.cr_fd = fd;
		LT_CHECK(cr_request_checkpoint(&a, &h) == 0, "request");
	} else {
		char id[16];
		char *argv[] = {(char *)LT_CKPT(), "--pid", "-f", "ctx.cs", id, NULL};

		snprintf(id, sizeof(id), "%d", (int)getpid());
		pid = lt_start(argv);
	}
	LT_CHECK(wait_pending(), "the request never showed as pending");
	lt_sleep_ms(100);
	LT_CHECK(cb_ran == 0, "a callback ran inside the critical section");
	LT_CHECK(cr_leave_cs(cid) == 0, "inner leave");
	LT_CHECK(cb_ran == 0, "a callback ran at an inner leave");
	LT_CHECK(cr_leave_cs(cid) == 0, "outer leave");
	LT_CHECK(cb_ran == 1 && cb_rc == 0, "callbacks at the outermost leave: ran %d rc %d",
		 cb_ran, cb_rc);
	if (by_library) {
		rc = cr_poll_checkpoint(&h, NULL);
		LT_CHECK(rc == 1, "poll %d errno %d", rc, errno);
		close(fd);
	} else {
		rc = lt_code(lt_wait(pid, LT_TIMEOUT));
		LT_CHECK(rc == 0, "cr_checkpoint exited %d", rc);
	}
	for (int i = 0; i < 200 && cr_status() != CR_STATE_IDLE; i++)
		lt_sleep_ms(5);
	LT_CHECK(cr_status() == CR_STATE_IDLE, "status after");
	unlink("ctx.cs");
	lt_verdict(by_library ? "cs: a self-request waits for the outermost leave"
			      : "cs: cr_checkpoint waits for the outermost leave");
}

/* ---- a thread-context callback waits for another thread's section ---- */

static struct timespec left_at, tc_at;
static volatile int holder_in;

static int tc_cb(void *arg)
{
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &tc_at);
	return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

static void *holder(void *arg)
{
	cr_client_id_t id = cr_init();

	(void)arg;
	cr_enter_cs(id);
	holder_in = 1;
	wait_pending();
	lt_sleep_ms(200);
	clock_gettime(CLOCK_MONOTONIC, &left_at);
	cr_leave_cs(id);
	return NULL;
}

static double ms(const struct timespec *t)
{
	return (double)t->tv_sec * 1e3 + (double)t->tv_nsec / 1e6;
}

static void tc_waits(void)
{
	pthread_t t;
	int id, rc, err;

	holder_in = 0;
	memset(&left_at, 0, sizeof(left_at));
	memset(&tc_at, 0, sizeof(tc_at));
	id = cr_register_callback(tc_cb, NULL, CR_THREAD_CONTEXT);
	pthread_create(&t, NULL, holder, NULL);
	while (!holder_in)
		lt_sleep_ms(1);
	rc = lt_request("ctx.cs", CR_SCOPE_PROC, 0, 0, 0, &err);
	LT_CHECK(rc == 1, "poll %d errno %d", rc, err);
	pthread_join(t, NULL);
	LT_CHECK(ms(&tc_at) >= ms(&left_at) && left_at.tv_sec,
		 "the thread-context callback ran %.1f ms before the section was left",
		 ms(&left_at) - ms(&tc_at));
	cr_replace_callback(id, NULL, NULL, CR_THREAD_CONTEXT);
	unlink("ctx.cs");
	lt_verdict("cs: a thread-context callback waits for another thread's section");
}

/* ---- contention ---- */

#define WORKERS 3
#define ROUNDS 15

static volatile int stop;
static int inside;     /* threads inside a section now */
static int violations; /* callbacks that ran while someone was inside */
static volatile long progress[WORKERS];
static long wouldblock;

static int tc_check(void *arg)
{
	(void)arg;
	if (__atomic_load_n(&inside, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
	return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

static __thread int my_inside;

static int sc_check(void *arg)
{
	(void)arg;
	if (my_inside)
		__atomic_add_fetch(&violations, 1, __ATOMIC_SEQ_CST);
	return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

static void *worker(void *arg)
{
	int n = (int)(long)arg;
	cr_client_id_t id = cr_init();

	cr_register_callback(sc_check, NULL, CR_SIGNAL_CONTEXT);
	while (!stop) {
		if (n == 0) {
			int r = cr_tryenter_cs(id);

			if (r > 0) {
				__atomic_add_fetch(&wouldblock, 1, __ATOMIC_SEQ_CST);
				lt_sleep_ms(1);
				continue;
			}
			if (r < 0)
				break;
		} else {
			cr_enter_cs(id);
		}
		my_inside = 1;
		__atomic_add_fetch(&inside, 1, __ATOMIC_SEQ_CST);
		for (volatile int k = 0; k < 20000; k++)
			;
		__atomic_sub_fetch(&inside, 1, __ATOMIC_SEQ_CST);
		my_inside = 0;
		cr_leave_cs(id);
		progress[n]++;
	}
	return NULL;
}

static void contention(void)
{
	pthread_t t[WORKERS];
	long before[WORKERS];
	int id, null = open("/dev/null", O_WRONLY);

	id = cr_register_callback(tc_check, NULL, CR_THREAD_CONTEXT);
	for (long i = 0; i < WORKERS; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	lt_sleep_ms(50);
	for (int r = 0; r < ROUNDS; r++) {
		cr_checkpoint_args_t a;
		cr_checkpoint_handle_t h;
		struct timeval tv = {20, 0};
		int rc;

		for (int i = 0; i < WORKERS; i++)
			before[i] = progress[i];
		cr_initialize_checkpoint_args_t(&a);
		a.cr_scope = CR_SCOPE_PROC;
		a.cr_fd = null;
		LT_CHECK(cr_request_checkpoint(&a, &h) == 0, "request %d", r);
		do
			rc = cr_poll_checkpoint(&h, &tv);
		while (rc == CR_POLL_CHKPT_ERR_PRE && errno == EINTR);
		LT_CHECK(rc == 1, "round %d: poll %d errno %d (starved?)", r, rc, errno);
		if (rc == 0)
			cr_poll_checkpoint(&h, NULL);
		for (int i = 0; i < WORKERS; i++) {
			for (int k = 0; k < 500 && progress[i] <= before[i]; k++)
				lt_sleep_ms(10);
			LT_CHECK(progress[i] > before[i], "round %d: worker %d made no progress", r,
				 i);
		}
	}
	stop = 1;
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	LT_CHECK(violations == 0, "%d callbacks ran inside a critical section", violations);
	cr_replace_callback(id, NULL, NULL, CR_THREAD_CONTEXT);
	close(null);
	printf("  %d checkpoints; sections entered %ld %ld %ld; tryenter refused %ld\n", ROUNDS,
	       progress[0], progress[1], progress[2], wouldblock);
	lt_verdict("cs: checkpoints under contention, with tryenter");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	cid = cr_init();
	cr_register_callback(sc_cb, NULL, CR_SIGNAL_CONTEXT);
	pending_until_leave(false);
	pending_until_leave(true);
	tc_waits();
	contention();
	return 0;
}
