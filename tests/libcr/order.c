/* order.c: the order callbacks run in, across threads and contexts, and the hooks
 * (BLCR's SEQ replace_cb/critical_sections and CRUT hooks tests check the same).
 *
 * The subject has three thread-context callbacks (one disabled), two signal-context
 * callbacks in the main thread, two in a second thread that called cr_init(), and a
 * third thread that never did. It checkpoints itself through the library and checks,
 * as it continues: thread-context callbacks ran first, in reverse order of
 * registration, each inside the next one's cr_checkpoint(); every signal-context
 * callback ran after the innermost thread-context one reached cr_checkpoint(), in its
 * own thread, in reverse order, nested; all got 0; each hook ran once, in the right
 * thread. The driver then restarts the context; the restarted copy checks the same
 * with a positive result, cr_get_restart_info(), the RSTRT hooks and CR_ERESTARTED from
 * its poll. */
#include <libcr.h>

#include "lt.h"

#include <pthread.h>

enum kind { TC_IN = 1, TC_OUT, SC_IN, SC_OUT, HOOK };

struct ev {
	int kind, who, tid, rc;
};

#define MAX_EV 256
static struct ev evs[MAX_EV];
static int nev;
static pid_t tid_main, tid_a, tid_b, tid_cb;
static volatile int a_registered;
static int gate_a[2], gate_b[2];

static void note(int kind, int who, int rc)
{
	int i = __atomic_fetch_add(&nev, 1, __ATOMIC_SEQ_CST);

	if (i < MAX_EV)
		evs[i] = (struct ev){kind, who, lt_gettid(), rc};
}

/* Thread-context callback number n (0, 1, 2). */
static int tc(void *arg)
{
	int n = (int)(long)arg, rc;

	tid_cb = lt_gettid();
	note(TC_IN, n, 0);
	rc = cr_checkpoint(CR_CHECKPOINT_READY);
	note(TC_OUT, n, rc);
	return 0;
}

/* Signal-context callback: who = 10 * thread + n. */
static int sc(void *arg)
{
	int who = (int)(long)arg, rc;

	note(SC_IN, who, 0);
	rc = cr_checkpoint(CR_CHECKPOINT_READY);
	note(SC_OUT, who, rc);
	return 0;
}

static void hook(cr_hook_event_t e)
{
	note(HOOK, (int)e, 0);
}

static void *thread_a(void *arg)
{
	char c;

	(void)arg;
	tid_a = lt_gettid();
	cr_init();
	cr_register_callback(sc, (void *)10L, CR_SIGNAL_CONTEXT);
	cr_register_callback(sc, (void *)11L, CR_SIGNAL_CONTEXT);
	a_registered = 1;
	while (read(gate_a[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static void *thread_b(void *arg)
{
	char c;

	(void)arg;
	tid_b = lt_gettid();
	while (read(gate_b[0], &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

static int find(int kind, int who)
{
	for (int i = 0; i < nev && i < MAX_EV; i++)
		if (evs[i].kind == kind && evs[i].who == who)
			return i;
	return -1;
}

static int count(int kind, int who)
{
	int n = 0;

	for (int i = 0; i < nev && i < MAX_EV; i++)
		n += evs[i].kind == kind && evs[i].who == who;
	return n;
}

/* What both the continuing and the restarted process check; want: the result every
 * callback must have had (0, or > 0 for any positive). */
static void check_order(bool restarted)
{
	int t0 = find(TC_IN, 0), t1 = find(TC_IN, 1), t2 = find(TC_IN, 2);
	int o0 = find(TC_OUT, 0), o1 = find(TC_OUT, 1), o2 = find(TC_OUT, 2);
	int hb = restarted ? CR_HOOK_RSTRT_SIGNAL_CONTEXT : CR_HOOK_CONT_SIGNAL_CONTEXT;

	/* The restarted copy's memory holds the callbacks' first halves from before. */
	LT_CHECK(nev <= MAX_EV, "too many events");
	LT_CHECK(t2 >= 0 && t2 < t1 && t1 < t0, "thread context in reverse order: %d %d %d", t2, t1,
		 t0);
	LT_CHECK(find(TC_IN, 3) < 0, "the disabled callback ran");
	LT_CHECK(o0 > t0 && o1 > o0 && o2 > o1, "nested: %d %d %d", o0, o1, o2);
	for (int th = 0; th <= 1; th++) {
		int i1 = find(SC_IN, 10 * th + 1), i0 = find(SC_IN, 10 * th);
		int x0 = find(SC_OUT, 10 * th), x1 = find(SC_OUT, 10 * th + 1);
		pid_t want = th ? tid_a : tid_main;

		LT_CHECK(i1 > t0 && i0 > i1 && x0 > i0 && x1 > x0,
			 "thread %d: signal context after thread context, reversed, nested: %d %d "
			 "%d %d (tc %d)",
			 th, i1, i0, x0, x1, t0);
		LT_CHECK(i1 >= 0 && evs[i1].tid == want && evs[i0].tid == want, "thread %d", th);
		LT_CHECK(o0 > i0, "thread context continued before signal context arrived");
	}
	for (int i = 0; i < nev && i < MAX_EV; i++) {
		if (evs[i].kind == TC_OUT || evs[i].kind == SC_OUT)
			LT_CHECK(restarted ? evs[i].rc > 0 : evs[i].rc == 0, "result %d of %d/%d",
				 evs[i].rc, evs[i].kind, evs[i].who);
		if (evs[i].kind == TC_IN || evs[i].kind == TC_OUT)
			LT_CHECK(evs[i].tid == tid_cb, "thread-context callback in thread %d",
				 evs[i].tid);
	}
	LT_CHECK(tid_cb != tid_main && tid_cb != tid_a && tid_cb != tid_b, "libcr's own thread");
	/* Hooks: once each, in the right thread. */
	LT_CHECK(count(HOOK, hb + 1) == 1 && evs[find(HOOK, hb + 1)].tid == tid_cb,
		 "thread-context hook");
	LT_CHECK(count(HOOK, hb) == 2, "signal-context hooks: %d", count(HOOK, hb));
	LT_CHECK(count(HOOK, hb + 2) == 1 && evs[find(HOOK, hb + 2)].tid == tid_b,
		 "no-callback hook");
	for (int i = 0; i < nev && i < MAX_EV; i++)
		if (evs[i].kind == HOOK && evs[i].who == hb)
			LT_CHECK(evs[i].tid == tid_main || evs[i].tid == tid_a, "hook in %d",
				 evs[i].tid);
	LT_CHECK(count(HOOK,
		       restarted ? CR_HOOK_CONT_SIGNAL_CONTEXT : CR_HOOK_RSTRT_SIGNAL_CONTEXT) == 0,
		 "hook of the other kind");
}

static int subject(void)
{
	pthread_t a, b;
	int rc, err, id;

	tid_main = lt_gettid();
	if (pipe(gate_a) < 0 || pipe(gate_b) < 0)
		return 2;
	cr_init();
	cr_register_callback(tc, (void *)0L, CR_THREAD_CONTEXT);
	cr_register_callback(tc, (void *)1L, CR_THREAD_CONTEXT);
	cr_register_callback(tc, (void *)2L, CR_THREAD_CONTEXT);
	id = cr_register_callback(tc, (void *)3L, CR_THREAD_CONTEXT);
	cr_replace_callback(id, NULL, NULL, CR_THREAD_CONTEXT);
	cr_register_callback(sc, (void *)0L, CR_SIGNAL_CONTEXT);
	cr_register_callback(sc, (void *)1L, CR_SIGNAL_CONTEXT);
	for (int e = 0; e < CR_NUM_HOOKS; e++)
		cr_register_hook((cr_hook_event_t)e, hook);
	pthread_create(&a, NULL, thread_a, NULL);
	pthread_create(&b, NULL, thread_b, NULL);
	while (!a_registered || !tid_b)
		lt_sleep_ms(1);

	rc = lt_request("ctx.order", CR_SCOPE_PROC, 0, 0, 0, &err);
	if (rc == CR_POLL_CHKPT_ERR_POST && err == CR_ERESTARTED) {
		const struct cr_restart_info *ri = NULL;

		check_order(true);
		LT_CHECK(cr_status() == CR_STATE_IDLE, "status %d", cr_status());
		(void)ri;
		lt_verdict("order: restart: callbacks, results and hooks");
		return lt_failures ? 1 : 0;
	}
	LT_CHECK(rc == 1, "poll %d errno %d", rc, err);
	check_order(false);
	LT_CHECK(cr_status() == CR_STATE_IDLE, "status %d", cr_status());
	lt_verdict("order: continue: callbacks, results and hooks");
	return 0;
}

int main(void)
{
	pid_t pid;
	int code;

	setvbuf(stdout, NULL, _IOLBF, 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(subject());
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "the subject exited with %d", code);
	lt_verdict("order: continue run");
	pid = lt_restart_bg("ctx.order", NULL);
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "cr_restart exited with %d", code);
	return lt_verdict("order: restart run");
}
