/* mt.c: a multithreaded program checkpointed while its threads go in and out of
 * critical sections (BLCR's simple_pthread, pthread_misc), then restarted.
 *
 * Two threads update a pair of counters inside critical sections, one step at a
 * time, so the pair differs only inside; two threads that never called cr_init()
 * count freely. A thread-context callback checks that no pair is half updated. The
 * subject checkpoints itself (CR_SCOPE_PROC) and, separately, the driver checkpoints
 * it with cr_checkpoint --kill; each restarted copy checks its pid, its heap, the
 * pairs, that every thread runs on, cr_get_restart_info() and, for the
 * self-checkpoint, CR_ERESTARTED from the same poll. */
#include <libcr.h>

#include "lt.h"

#include <limits.h>
#include <pthread.h>

#define PAIRS 2
#define FREE 2

struct pair {
	volatile long a, b;
};

static struct pair pairs[PAIRS];
static volatile long counts[FREE];
static unsigned char *heap;
static pid_t my_pid;
static volatile int torn, restarted_cb;
static char src_seen[PATH_MAX];
static pid_t requester_seen;

static int tc(void *arg)
{
	int rc;

	(void)arg;
	for (int i = 0; i < PAIRS; i++)
		if (pairs[i].a != pairs[i].b)
			torn++;
	rc = cr_checkpoint(CR_CHECKPOINT_READY);
	if (rc > 0) {
		const struct cr_restart_info *ri = cr_get_restart_info();

		restarted_cb++;
		if (ri) {
			snprintf(src_seen, sizeof(src_seen), "%s", ri->src ? ri->src : "(null)");
			requester_seen = ri->requester;
		}
	}
	return 0;
}

static void *pair_worker(void *arg)
{
	struct pair *p = arg;
	cr_client_id_t id = cr_init();

	for (;;) {
		cr_enter_cs(id);
		p->a++;
		for (volatile int k = 0; k < 5000; k++)
			;
		p->b++;
		cr_leave_cs(id);
		sched_yield();
	}
	return NULL;
}

static void *free_worker(void *arg)
{
	volatile long *c = arg;

	for (;;) {
		(*c)++;
		if ((*c & 1023) == 0)
			lt_sleep_ms(1);
	}
	return NULL;
}

static void start(void)
{
	pthread_t t;

	my_pid = getpid();
	heap = malloc(1 << 20);
	for (int i = 0; i < (1 << 20); i++)
		heap[i] = (unsigned char)(i * 7 + 3);
	cr_init();
	cr_register_callback(tc, NULL, CR_THREAD_CONTEXT);
	for (int i = 0; i < PAIRS; i++)
		pthread_create(&t, NULL, pair_worker, &pairs[i]);
	for (int i = 0; i < FREE; i++)
		pthread_create(&t, NULL, free_worker, (void *)&counts[i]);
	lt_sleep_ms(50);
}

/* Whether a counter gets past before within a few seconds. */
static bool moves(volatile long *v, long before)
{
	for (int i = 0; i < 500 && *v <= before; i++)
		lt_sleep_ms(10);
	return *v > before;
}

/* Checks common to every process that carries on. */
static void check_running(const char *ctx_path)
{
	long before[PAIRS + FREE];
	bool heap_ok = true;

	for (int i = 0; i < (1 << 20) && heap_ok; i++)
		heap_ok = heap[i] == (unsigned char)(i * 7 + 3);
	LT_CHECK(heap_ok, "the heap changed");
	LT_CHECK(syscall(SYS_getpid) == my_pid && getpid() == my_pid, "pid %d, was %d",
		 (int)syscall(SYS_getpid), (int)my_pid);
	LT_CHECK(torn == 0, "%d pairs were half updated when the callback ran", torn);
	for (int i = 0; i < PAIRS; i++)
		before[i] = pairs[i].a;
	for (int i = 0; i < FREE; i++)
		before[PAIRS + i] = counts[i];
	for (int i = 0; i < PAIRS; i++)
		LT_CHECK(moves(&pairs[i].a, before[i]), "pair thread %d is stuck", i);
	for (int i = 0; i < FREE; i++)
		LT_CHECK(moves(&counts[i], before[PAIRS + i]), "free thread %d is stuck", i);
	if (ctx_path) {
		char want[PATH_MAX];

		LT_CHECK(restarted_cb == 1, "restart callbacks: %d", restarted_cb);
		LT_CHECK(realpath(ctx_path, want) && !strcmp(src_seen, want), "src '%s'", src_seen);
		LT_CHECK(requester_seen > 0 && requester_seen == getppid(),
			 "requester %d, cr_restart is %d", (int)requester_seen, (int)getppid());
	}
}

static int self_subject(void)
{
	int rc, err;

	start();
	rc = lt_request("ctx.mt", CR_SCOPE_PROC, 0, 0, 0, &err);
	if (rc == CR_POLL_CHKPT_ERR_POST && err == CR_ERESTARTED) {
		LT_CHECK(cr_status() == CR_STATE_IDLE, "status %d", cr_status());
		check_running("ctx.mt");
		return lt_verdict("mt: self-checkpoint, restarted: CR_ERESTARTED, heap, pid, "
				  "threads, sections, restart info");
	}
	LT_CHECK(rc == 1, "poll %d errno %d", rc, err);
	LT_CHECK(restarted_cb == 0, "restart callbacks ran");
	check_running(NULL);
	return lt_verdict("mt: self-checkpoint, continued");
}

/* Checkpointed by the driver with --kill; the restarted copy reports on the pipe. */
static int outer_subject(struct lt_gate *g, int out)
{
	start();
	lt_ready(g, 1);
	for (int i = 0; i < 200 && !restarted_cb; i++)
		lt_sleep_ms(50);
	check_running("ctx.mt2");
	dprintf(out, "%d\n", lt_failures);
	return lt_failures ? 1 : 0;
}

int main(void)
{
	struct lt_gate g;
	pid_t pid;
	int code, out[2];

	setvbuf(stdout, NULL, _IOLBF, 0);
	pid = fork();
	if (pid == 0)
		_exit(self_subject());
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "subject %d", code);
	pid = lt_restart_bg("ctx.mt", NULL);
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "cr_restart exited %d", code);
	lt_verdict("mt: self-checkpoint and restart runs");

	lt_gate_init(&g);
	if (pipe(out) < 0)
		return 2;
	pid = fork();
	if (pid == 0) {
		close(out[0]);
		_exit(outer_subject(&g, out[1]));
	}
	LT_CHECK(lt_await(&g, 10) == 1, "subject not ready");
	{
		const char *opts[] = {"--pid", "--kill", "-f", "ctx.mt2", NULL};

		code = lt_checkpoint(pid, opts);
		LT_CHECK(code == 0, "cr_checkpoint --kill exited %d", code);
	}
	lt_wait(pid, 10);
	pid = lt_restart_bg("ctx.mt2", NULL);
	{
		char line[32] = "";
		fd_set s;
		struct timeval tv = {30, 0};
		ssize_t n = -1;

		close(out[1]);
		FD_ZERO(&s);
		FD_SET(out[0], &s);
		if (select(out[0] + 1, &s, NULL, NULL, &tv) > 0)
			n = read(out[0], line, sizeof(line) - 1);
		LT_CHECK(n > 0 && atoi(line) == 0, "the restarted copy reported '%.*s'",
			 n > 0 ? (int)n : 0, line);
	}
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "cr_restart exited %d", code);
	return lt_verdict("mt: checkpointed by cr_checkpoint --kill while in and out of "
			  "sections, restarted");
}
