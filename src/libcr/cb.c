/* cb.c: a checkpoint as libcr.so's threads live it (docs/libcr.md): registered
 * threads, callbacks in thread and signal context, critical sections, hooks and the
 * hold barrier.
 *
 * A request starts in the first thread that takes the engine's CR_SIGNUM ("T0"). If
 * thread-context callbacks exist, libcr's callback thread runs them first, once no
 * thread is inside a critical section; when the innermost of them calls
 * cr_checkpoint(), or at once if there are none, every thread of the process is sent
 * CR_SIGNUM (the signal-context phase): each runs its signal-context callbacks in its
 * handler, or from its outermost cr_leave_cs() if it was inside a critical section,
 * and the innermost cr_checkpoint() "arrives". When every thread has arrived (or
 * exited), the process votes and all of them wait for the engine's word on the
 * control block's phase. They all get the same result; then each runs its hook, waits
 * at the hold barrier if it holds, and the last one ends the request.
 *
 * Everything the handler touches is signal-safe: atomics, futexes, raw system calls;
 * the few structures that registrations change are only changed with CR_SIGNUM
 * blocked in the owning thread or under the lock the callback thread holds. */
#include "libcr/lib.h"

#include <libcr.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CS_ACTIVE 0x80000000u /* a request runs: no new critical section */
#define CS_COUNT 0x7fffffffu  /* threads inside critical sections */
#define TICK_MS 200

enum slot_state {
	SLOT_SIGNALLED = 0, /* sent CR_SIGNUM, not seen yet */
	SLOT_DEFERRED,      /* inside a critical section: runs at its outermost leave */
	SLOT_HANDLING,      /* running its signal-context callbacks */
	SLOT_ARRIVED,       /* reached the checkpoint; waits for the engine */
	SLOT_DONE,          /* through its hook */
	SLOT_GONE,          /* exited meanwhile */
};

struct slot {
	pid_t tid;
	uint32_t state;
};

struct cbent {
	cr_callback_t func;
	void *arg;
	int flags;
};

struct cbtab {
	struct cbent *e;
	int n, cap;
};

/* One running callback, on the stack of the thread running it. */
struct frame {
	struct frame *up;
	const struct cbtab *tab;
	int pos;
	int called; /* it called cr_checkpoint() */
	int result;
};

struct thr {
	struct thr *next;
	pid_t tid;
	int alive;
	int depth;            /* critical sections held */
	volatile int pending; /* signal-context work waits for the outermost leave */
	struct cbtab sc;      /* signal-context callbacks */
	int hold;             /* CR_HOLD_* or CR_HOLD_DFLT */
	int persist;
	struct frame *top; /* the callback running in this thread */
	struct slot *slot; /* this thread's place in the running request */
	int restarted;     /* cr_checkpoint() returned > 0 in this request */
	int is_cb;         /* libcr's callback thread */
};

static __thread struct thr *self __attribute__((tls_model("initial-exec")));

static struct {
	uint32_t cs;  /* CS_ACTIVE | threads inside critical sections */
	uint32_t gen; /* number of the request running or last run */
	uint32_t next_client;
	struct thr *threads;
	pthread_mutex_t lock; /* registrations; held while thread-context callbacks run */
	pthread_once_t key_once;
	pthread_key_t key;
	struct cbtab tc; /* thread-context callbacks */
	struct thr *cb;  /* the callback thread, once made */
	pid_t cb_tid;
	uint32_t cb_kick;
	cr_hook_fn_t hooks[CR_NUM_HOOKS];
	int hold_init, hold_uninit;
	/* the running request */
	uint32_t tc_running; /* it has a thread-context phase */
	uint32_t tc_done;
	uint32_t sc_gen; /* == gen once the signal-context phase started */
	struct slot *set;
	uint32_t nset;
	size_t set_cap; /* slots the mapping holds */
	int32_t vote;
	uint32_t voted;
	uint32_t nparticipants, ndone;
	uint32_t finish_claim, finished_gen;
	uint32_t restart_noted;
	struct cr_checkpoint_info info;
	struct cr_restart_info rinfo;
} L = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .key_once = PTHREAD_ONCE_INIT,
    .hold_init = CR_HOLD_BOTH,
    .hold_uninit = CR_HOLD_BOTH,
};

uint32_t cb_handled;
uint32_t cb_restart_gen;

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

static bool cas32(uint32_t *p, uint32_t from, uint32_t to)
{
	return __atomic_compare_exchange_n(p, &from, to, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static int fail(int e)
{
	errno = e;
	return -1;
}

/* ---- the signal-context phase: who takes part ---- */

static struct slot *find_slot(pid_t tid)
{
	for (uint32_t i = 0; i < L.nset; i++)
		if (L.set[i].tid == tid)
			return &L.set[i];
	return NULL;
}

/* Make room for n slots and as many thread ids behind them. Signal-safe (mmap). */
static bool set_reserve(size_t n)
{
	void *p;

	if (n <= L.set_cap)
		return true;
	n = n < 64 ? 64 : n * 2;
	p = mmap(NULL, n * (sizeof(struct slot) + sizeof(pid_t)), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return false;
	/* The previous request is over: nobody looks at its slots any more. */
	if (L.set)
		munmap(L.set, L.set_cap * (sizeof(struct slot) + sizeof(pid_t)));
	L.set = p;
	L.set_cap = n;
	return true;
}

/* List every thread of the process but the callback thread and send each CR_SIGNUM.
 * Signal-safe. */
static void sc_start(void)
{
	pid_t me = lib_gettid(), *tids;
	uint64_t cookie = LOAD(crest_ctl.cookie);
	int n = 0;
	uint32_t j = 0;

	for (size_t want = 64;; want = (size_t)n) {
		if (!set_reserve(want)) {
			n = 0;
			break;
		}
		tids = (pid_t *)(L.set + L.set_cap);
		n = lib_list_threads(tids, (int)L.set_cap);
		if (n < 0)
			n = 0;
		if ((size_t)n <= L.set_cap)
			break;
	}
	if (!L.set)
		n = 0;
	tids = L.set ? (pid_t *)(L.set + L.set_cap) : NULL;
	for (int i = 0; i < n && tids; i++)
		if (tids[i] != L.cb_tid)
			L.set[j++] = (struct slot){tids[i], SLOT_SIGNALLED};
	if (j == 0 && L.set) /* no /proc: at least the thread that got the request */
		L.set[j++] = (struct slot){me, SLOT_SIGNALLED};
	L.nset = j;
	STORE(L.sc_gen, L.gen);
	for (uint32_t i = 0; i < L.nset; i++)
		if (L.set[i].tid != me && lib_signal_thread(L.set[i].tid, cookie) == -ESRCH)
			STORE(L.set[i].state, SLOT_GONE);
}

static int rank(int v)
{
	if (v & CR_CHECKPOINT_PERM_FAILURE)
		return 3;
	if (v & CR_CHECKPOINT_TEMP_FAILURE)
		return 2;
	if (v & CR_CHECKPOINT_OMIT)
		return 1;
	return 0;
}

/* The strongest answer wins: permanent over temporary over omit over ready. */
static void note_vote(int v)
{
	int32_t cur = LOAD(L.vote);

	while (rank(v) > rank(cur) &&
	       !__atomic_compare_exchange_n(&L.vote, &cur, v, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE))
		;
}

static void do_vote(void)
{
	uint32_t n;

	if (!cas32(&L.voted, 0, 1))
		return;
	n = L.tc_running ? 1 : 0;
	if (LOAD(L.sc_gen) == L.gen)
		for (uint32_t i = 0; i < L.nset; i++)
			if (LOAD(L.set[i].state) == SLOT_ARRIVED)
				n++;
	STORE(L.nparticipants, n);
	lib_restore_app_sa();
	lib_vote(LOAD(L.vote));
}

/* Vote once every thread of the signal-context phase has arrived or exited.
 * Signal-safe; any waiting thread may call it. */
static void check_all(void)
{
	if (LOAD(L.voted) || (L.tc_running && !LOAD(L.tc_done)) || LOAD(L.sc_gen) != L.gen)
		return;
	for (uint32_t i = 0; i < L.nset; i++) {
		struct slot *s = &L.set[i];
		uint32_t st = LOAD(s->state);

		if (st == SLOT_ARRIVED || st == SLOT_DONE || st == SLOT_GONE)
			continue;
		if (lib_thread_alive(s->tid))
			return;
		cas32(&s->state, st, SLOT_GONE);
	}
	do_vote();
}

/* ---- the end of a request in each thread ---- */

static void note_restarted(void)
{
	uint32_t g = L.gen, c = LOAD(L.restart_noted);

	if (c != g && cas32(&L.restart_noted, c, g)) {
		L.rinfo.requester = crest_ctl.result;
		L.rinfo.src = crest_ctl.src;
		__atomic_add_fetch(&cb_restart_gen, 1, __ATOMIC_ACQ_REL);
	}
}

static void finish(uint32_t gen)
{
	uint32_t c = LOAD(L.finish_claim);

	if (c == gen || !cas32(&L.finish_claim, c, gen))
		return;
	__atomic_fetch_and(&L.cs, ~CS_ACTIVE, __ATOMIC_ACQ_REL);
	lib_futex_wake(&L.cs);
	STORE(L.finished_gen, gen);
	lib_futex_wake(&L.finished_gen);
	lib_finish();
}

/* Participants that exited after the vote without passing the barrier. */
static uint32_t gone_after_vote(void)
{
	uint32_t n = 0;

	if (LOAD(L.sc_gen) != L.gen)
		return 0;
	for (uint32_t i = 0; i < L.nset; i++)
		if (LOAD(L.set[i].state) == SLOT_ARRIVED && !lib_thread_alive(L.set[i].tid))
			n++;
	return n;
}

static int hold_of(const struct thr *th)
{
	if (!th)
		return L.hold_uninit;
	return th->hold == CR_HOLD_DFLT ? L.hold_init : th->hold;
}

/* After a thread's callbacks: its hook, then the hold barrier. event: the CONT_ hook
 * of the thread's kind. */
static void post(struct thr *th, struct slot *s, int result, cr_hook_event_t event)
{
	uint32_t gen = L.gen, n;
	int hold = hold_of(th);

	if (result >= 0) {
		cr_hook_fn_t fn;

		if (result > 0)
			event = (cr_hook_event_t)(event + CR_HOOK_RSTRT_SIGNAL_CONTEXT);
		fn = LOAD(L.hooks[event]);
		if (fn)
			fn(event);
	}
	if (th) {
		th->slot = NULL;
		th->restarted = 0;
	}
	if (s)
		STORE(s->state, SLOT_DONE);
	n = __atomic_add_fetch(&L.ndone, 1, __ATOMIC_ACQ_REL);
	if (n >= LOAD(L.nparticipants)) {
		finish(gen);
		return;
	}
	if (result < 0 || !(hold & (result > 0 ? CR_HOLD_RSTRT : CR_HOLD_CONT)))
		return;
	while (LOAD(L.finished_gen) != gen) {
		uint32_t f = LOAD(L.finished_gen);

		if (f != gen && lib_futex_wait(&L.finished_gen, f, TICK_MS) == -ETIMEDOUT &&
		    LOAD(L.ndone) + gone_after_vote() >= LOAD(L.nparticipants))
			finish(gen);
	}
}

/* ---- callbacks ---- */

static int arrive(struct slot *s, int vote)
{
	note_vote(vote);
	STORE(s->state, SLOT_ARRIVED);
	check_all();
	return lib_wait_final(check_all);
}

/* The callback thread's innermost cr_checkpoint(): the thread-context phase is over. */
static int tc_arrive(int vote)
{
	note_vote(vote);
	STORE(L.tc_done, 1);
	if (vote & CR_CHECKPOINT_ABORT_MASK) {
		do_vote(); /* nobody else needs to run anything */
	} else {
		sc_start();
		check_all();
	}
	return lib_wait_final(check_all);
}

static int take(struct thr *th, int vote)
{
	int r = th->is_cb ? tc_arrive(vote) : arrive(th->slot, vote);

	if (r > 0) {
		note_restarted();
		th->restarted = 1;
	}
	return r;
}

/* Run tab's callbacks from index from down, each inside the previous one's
 * cr_checkpoint(), as BLCR does (reverse order of registration); the innermost point
 * takes the checkpoint. */
static int descend(struct thr *th, const struct cbtab *tab, int from)
{
	for (int i = from; i >= 0; i--) {
		struct cbent e = tab->e[i];
		struct frame f = {th->top, tab, i, 0, 0};

		if (!e.func)
			continue;
		th->top = &f;
		e.func(e.arg);
		th->top = f.up;
		if (f.called)
			return f.result;
		/* It returned without cr_checkpoint(): the next one runs at once. */
	}
	return take(th, CR_CHECKPOINT_READY);
}

/* A thread of the signal-context phase runs its part: callbacks or just arriving. */
static void run_sc(struct thr *th, struct slot *s)
{
	int r;

	if (th) {
		th->slot = s;
		r = descend(th, &th->sc, th->sc.n - 1);
	} else {
		r = arrive(s, CR_CHECKPOINT_READY);
	}
	post(th, s, r, th ? CR_HOOK_CONT_SIGNAL_CONTEXT : CR_HOOK_CONT_NO_CALLBACKS);
}

/* This thread's turn in the signal-context phase, if it has one and has not taken it.
 * Returns whether it ran. */
static bool sc_enter(void)
{
	struct thr *th = self;
	struct slot *s;

	if (LOAD(L.sc_gen) != L.gen || LOAD(crest_ctl.phase) != CRCTL_RUNNING)
		return false;
	s = find_slot(lib_gettid());
	if (!s)
		return false;
	if (th && th->depth > 0) {
		if (cas32(&s->state, SLOT_SIGNALLED, SLOT_DEFERRED))
			th->pending = 1;
		return false;
	}
	if (!cas32(&s->state, SLOT_SIGNALLED, SLOT_HANDLING))
		return false;
	run_sc(th, s);
	return true;
}

static void start_request(void)
{
	const struct crctl *c = &crest_ctl;

	L.gen++;
	L.vote = 0;
	L.voted = 0;
	L.ndone = 0;
	L.nparticipants = 0;
	L.tc_done = 0;
	L.info.signal = c->signal;
	L.info.dest = c->dest;
	L.info.requester = c->requester;
	L.info.target = c->target;
	L.info.scope = (cr_scope_t)c->scope;
	__atomic_fetch_or(&L.cs, CS_ACTIVE, __ATOMIC_ACQ_REL);
	if (LOAD(L.cb_tid) > 0) {
		STORE(L.tc_running, 1);
		STORE(L.cb_kick, L.gen);
		lib_futex_wake(&L.cb_kick);
	} else {
		STORE(L.tc_running, 0);
		sc_start();
	}
}

void cb_handle(void)
{
	uint32_t ph = LOAD(crest_ctl.phase);

	__atomic_add_fetch(&cb_handled, 1, __ATOMIC_ACQ_REL);
	if (ph == CRCTL_REQUESTED && cas32(&crest_ctl.phase, CRCTL_REQUESTED, CRCTL_RUNNING)) {
		start_request();
		if (L.tc_running)
			return; /* the callback thread goes first; our turn comes by signal */
	}
	sc_enter();
}

/* libcr's callback thread: runs thread-context callbacks, all signals blocked. */
static void *cb_main(void *arg)
{
	struct thr *th = arg;
	uint32_t seen = 0;

	self = th;
	th->tid = lib_gettid();
	STORE(L.cb_tid, th->tid);
	lib_futex_wake((uint32_t *)&L.cb_tid);
	for (;;) {
		uint32_t k = LOAD(L.cb_kick), c;
		int r;

		if (k == seen) {
			lib_futex_wait(&L.cb_kick, k, -1);
			continue;
		}
		seen = k;
		if (k != L.gen || LOAD(crest_ctl.phase) != CRCTL_RUNNING)
			continue;
		/* The checkpoint is the writer: wait until nobody is inside a critical
		 * section (none can enter now). */
		while ((c = LOAD(L.cs)) & CS_COUNT && LOAD(crest_ctl.phase) == CRCTL_RUNNING)
			lib_futex_wait(&L.cs, c, TICK_MS);
		if (LOAD(crest_ctl.phase) != CRCTL_RUNNING) {
			/* The engine gave up meanwhile. */
			STORE(L.tc_done, 1);
			do_vote();
			r = lib_wait_final(NULL);
		} else {
			pthread_mutex_lock(&L.lock);
			r = descend(th, &L.tc, L.tc.n - 1);
			pthread_mutex_unlock(&L.lock);
		}
		post(th, NULL, r, CR_HOOK_CONT_THREAD_CONTEXT);
	}
	return NULL;
}

static int start_cb_thread(void)
{
	struct thr *th = calloc(1, sizeof(*th));
	sigset_t all, old;
	pthread_attr_t at;
	pthread_t t;
	int rc;

	if (!th)
		return ENOMEM;
	th->alive = 1;
	th->hold = CR_HOLD_DFLT;
	th->is_cb = 1;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &at, cb_main, th);
	pthread_attr_destroy(&at);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		free(th);
		return rc;
	}
	while (!LOAD(L.cb_tid))
		lib_futex_wait((uint32_t *)&L.cb_tid, 0, TICK_MS);
	L.cb = th;
	return 0;
}

/* ---- setup ---- */

static void thr_exit(void *p)
{
	struct thr *th = p;

	if (th->persist > 0) {
		/* Asked to outlive other keys' destructors: come back in the next round. */
		pthread_setspecific(L.key, th);
		return;
	}
	th->alive = 0;
	self = NULL;
}

static void make_key(void)
{
	pthread_key_create(&L.key, thr_exit);
}

__attribute__((visibility("default"))) cr_client_id_t cr_init(void)
{
	struct thr *th = self;

	if (!th) {
		th = calloc(1, sizeof(*th));
		if (!th)
			return fail(ENOMEM);
		th->tid = lib_gettid();
		th->alive = 1;
		th->hold = CR_HOLD_DFLT;
		pthread_once(&L.key_once, make_key);
		pthread_setspecific(L.key, th);
		th->next = LOAD(L.threads);
		while (!__atomic_compare_exchange_n(&L.threads, &th->next, th, false,
						    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			;
		self = th;
	}
	return (cr_client_id_t)__atomic_fetch_add(&L.next_client, 1, __ATOMIC_ACQ_REL);
}

void cb_fork_child(void)
{
	struct thr *th = self;

	/* BLCR: children start clean. The one thread here calls cr_init() again if it
	 * wants libcr; nothing of the parent's registrations, hooks or requests stays. */
	pthread_mutex_init(&L.lock, NULL);
	req_fork_child();
	if (th)
		pthread_setspecific(L.key, NULL);
	self = NULL;
	L.cs = 0;
	L.threads = NULL;
	L.cb = NULL;
	L.cb_tid = 0;
	L.cb_kick = 0;
	L.tc.n = 0;
	L.tc_running = 0;
	L.tc_done = 0;
	L.sc_gen = 0;
	L.nset = 0;
	L.voted = 0;
	L.ndone = 0;
	L.nparticipants = 0;
	L.hold_init = CR_HOLD_BOTH;
	L.hold_uninit = CR_HOLD_BOTH;
	for (int i = 0; i < CR_NUM_HOOKS; i++)
		L.hooks[i] = NULL;
}

static int table_add(struct cbtab *t, cr_callback_t func, void *arg, int flags)
{
	if (t->n >= CR_MAX_CALLBACKS)
		return -ENOSPC;
	if (t->n == t->cap) {
		int ncap = t->cap ? t->cap * 2 : 8;
		struct cbent *n = realloc(t->e, (size_t)ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->e = n;
		t->cap = ncap;
	}
	t->e[t->n] = (struct cbent){func, arg, flags};
	return t->n++;
}

static int context_of(int flags)
{
	int ctx = flags & (CR_THREAD_CONTEXT | CR_SIGNAL_CONTEXT);

	return ctx == CR_THREAD_CONTEXT || ctx == CR_SIGNAL_CONTEXT ? ctx : 0;
}

/* Block CR_SIGNUM in this thread while its own table changes under its handler. */
static void sc_block(sigset_t *old)
{
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, CRCTL_SIGNUM);
	pthread_sigmask(SIG_BLOCK, &s, old);
}

__attribute__((visibility("default"))) cr_callback_id_t cr_register_callback(cr_callback_t func,
									     void *arg, int flags)
{
	struct thr *th = self;
	int ctx = context_of(flags), r;

	if (!th)
		return fail(CR_ENOINIT);
	if (!ctx)
		return fail(EINVAL);
	if (th->top)
		return fail(EBUSY);
	if (ctx == CR_SIGNAL_CONTEXT) {
		sigset_t old;

		sc_block(&old);
		r = table_add(&th->sc, func, arg, flags);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	} else {
		pthread_mutex_lock(&L.lock);
		r = L.cb ? 0 : -start_cb_thread();
		if (r == 0)
			r = table_add(&L.tc, func, arg, flags);
		pthread_mutex_unlock(&L.lock);
	}
	if (r < 0)
		return fail(-r);
	return r | ctx;
}

static int replace_entry(struct cbtab *t, int index, cr_callback_t func, void *arg, int flags)
{
	if (index < 0 || index >= t->n)
		return -EINVAL;
	t->e[index] = (struct cbent){func, arg, flags};
	return 0;
}

__attribute__((visibility("default"))) int
cr_replace_callback(cr_callback_id_t id, cr_callback_t func, void *arg, int flags)
{
	struct thr *th = self;
	int ctx = context_of(flags), r;

	if (!th)
		return fail(CR_ENOINIT);
	if (id == -1 || !ctx || (id & (CR_THREAD_CONTEXT | CR_SIGNAL_CONTEXT)) != ctx)
		return fail(EINVAL);
	if (th->top)
		return fail(EBUSY);
	if (ctx == CR_SIGNAL_CONTEXT) {
		sigset_t old;

		sc_block(&old);
		r = replace_entry(&th->sc, id & ~ctx, func, arg, flags);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	} else {
		pthread_mutex_lock(&L.lock);
		r = replace_entry(&L.tc, id & ~ctx, func, arg, flags);
		pthread_mutex_unlock(&L.lock);
	}
	return r < 0 ? fail(-r) : 0;
}

__attribute__((visibility("default"))) int cr_replace_self(cr_callback_t func, void *arg, int flags)
{
	struct thr *th = self;
	struct frame *f = th ? th->top : NULL;
	int want = th && th->is_cb ? CR_THREAD_CONTEXT : CR_SIGNAL_CONTEXT;
	struct cbtab *t;

	if (!f)
		return fail(CR_ENOTCB);
	if (context_of(flags) != want)
		return fail(EINVAL);
	/* The running callback's own table: the thread's, or the callback thread's
	 * (whose lock this thread holds). */
	t = (struct cbtab *)f->tab;
	t->e[f->pos] = (struct cbent){func, arg, flags};
	return 0;
}

__attribute__((visibility("default"))) int cr_checkpoint(int flags)
{
	struct thr *th = self;
	struct frame *f = th ? th->top : NULL;

	if (!f)
		return -CR_ENOTCB;
	if (f->called)
		return f->result;
	f->called = 1;
	if (flags & CR_CHECKPOINT_ABORT_MASK)
		f->result = take(th, flags);
	else
		f->result = descend(th, f->tab, f->pos - 1);
	return f->result;
}

__attribute__((visibility("default"))) const struct cr_checkpoint_info *cr_get_checkpoint_info(void)
{
	struct thr *th = self;

	return th && th->top ? &L.info : NULL;
}

__attribute__((visibility("default"))) const struct cr_restart_info *cr_get_restart_info(void)
{
	struct thr *th = self;

	return th && th->top && th->restarted ? &L.rinfo : NULL;
}

__attribute__((visibility("default"))) int cr_forward_checkpoint(cr_scope_t scope, pid_t target)
{
	struct thr *th = self;
	struct crctl *c = &crest_ctl;
	uint32_t n;

	if (!th || !th->top || th->top->called)
		return fail(CR_ENOTCB);
	if ((int)scope < CR_SCOPE_PROC || scope > CR_SCOPE_TREE || target < 0)
		return fail(EINVAL);
	if (target == 0)
		target = scope == CR_SCOPE_PGRP   ? getpgrp()
			 : scope == CR_SCOPE_SESS ? getsid(0)
						  : getpid();
	if (target == 1)
		return fail(EPERM);
	if (scope == CR_SCOPE_PGRP   ? kill(-target, 0) < 0 && errno == ESRCH
	    : scope == CR_SCOPE_SESS ? getsid(target) < 0 && kill(-target, 0) < 0
				     : kill(target, 0) < 0 && errno == ESRCH)
		return fail(ESRCH);
	/* What the request covers already is checkpointed once anyway. */
	if ((int)scope == c->scope && target == c->target)
		return 0;
	if (scope == CR_SCOPE_PROC && target == getpid())
		return 0;
	n = c->nfwd;
	for (uint32_t i = 0; i < n; i++)
		if (c->fwd[i].scope == (int)scope && c->fwd[i].target == target)
			return 0;
	if (n >= CRCTL_MAX_FWD)
		return fail(ENOSPC);
	c->fwd[n] = (struct crctl_fwd){(int32_t)scope, target};
	STORE(c->nfwd, n + 1);
	return 0;
}

/* ---- critical sections ---- */

/* A request runs and this thread's part in it is due: do it now, with the signal that
 * is on its way blocked, rather than wait for it (BLCR: "helping it along"). */
static bool help(void)
{
	sigset_t old;
	bool ran;

	sc_block(&old);
	ran = sc_enter();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ran;
}

__attribute__((visibility("default"))) int cr_enter_cs(cr_client_id_t id)
{
	struct thr *th = self;

	(void)id;
	if (!th)
		return fail(CR_ENOINIT);
	if (th->top || th->is_cb)
		return 0; /* inside a callback: no checkpoint can start */
	if (th->depth > 0) {
		th->depth++;
		return 0;
	}
	for (;;) {
		uint32_t c = LOAD(L.cs);

		if (c & CS_ACTIVE) {
			if (!help())
				lib_futex_wait(&L.cs, c, TICK_MS);
			continue;
		}
		if (cas32(&L.cs, c, c + 1))
			break;
	}
	th->depth = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return 0;
}

__attribute__((visibility("default"))) int cr_tryenter_cs(cr_client_id_t id)
{
	struct thr *th = self;

	(void)id;
	if (!th)
		return fail(CR_ENOINIT);
	if (th->top || th->is_cb)
		return 0;
	if (th->depth > 0) {
		th->depth++;
		return 0;
	}
	for (;;) {
		uint32_t c = LOAD(L.cs);

		if (c & CS_ACTIVE)
			return 1;
		if (cas32(&L.cs, c, c + 1))
			break;
	}
	th->depth = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return 0;
}

__attribute__((visibility("default"))) int cr_leave_cs(cr_client_id_t id)
{
	struct thr *th = self;
	uint32_t old;

	(void)id;
	if (!th)
		return fail(CR_ENOINIT);
	if (th->top || th->is_cb)
		return 0;
	if (th->depth <= 0)
		return fail(EINVAL);
	if (--th->depth > 0)
		return 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	old = __atomic_fetch_sub(&L.cs, 1, __ATOMIC_ACQ_REL);
	if (old & CS_ACTIVE)
		lib_futex_wake(&L.cs);
	if (th->pending) {
		struct slot *s;
		sigset_t sold;

		/* The request came while we were inside: our callbacks run now, before
		 * this call returns. */
		sc_block(&sold);
		th->pending = 0;
		s = LOAD(L.sc_gen) == L.gen ? find_slot(lib_gettid()) : NULL;
		if (s && cas32(&s->state, SLOT_DEFERRED, SLOT_HANDLING))
			run_sc(th, s);
		pthread_sigmask(SIG_SETMASK, &sold, NULL);
	}
	return 0;
}

__attribute__((visibility("default"))) int cr_status(void)
{
	struct thr *th = self;

	if (!th)
		return fail(CR_ENOINIT);
	if (th->top)
		return CR_STATE_ACTIVE;
	if (th->pending || (LOAD(L.cs) & CS_ACTIVE))
		return CR_STATE_PENDING;
	return CR_STATE_IDLE;
}

/* ---- hooks, hold, persistence ---- */

__attribute__((visibility("default"))) cr_hook_fn_t cr_register_hook(cr_hook_event_t event,
								     cr_hook_fn_t fn)
{
	if (!self) {
		errno = CR_ENOINIT;
		return CR_HOOK_FN_ERROR;
	}
	if ((int)event < 0 || event >= CR_NUM_HOOKS || fn == CR_HOOK_FN_ERROR) {
		errno = EINVAL;
		return CR_HOOK_FN_ERROR;
	}
	return __atomic_exchange_n(&L.hooks[event], fn, __ATOMIC_ACQ_REL);
}

__attribute__((visibility("default"))) int cr_hold_ctrl(int scope, int flags)
{
	struct thr *th = self;
	int *where, prev;

	if (!th)
		return fail(CR_ENOINIT);
	switch (scope) {
	case CR_HOLD_SCOPE_THREAD:
		where = &th->hold;
		break;
	case CR_HOLD_SCOPE_INIT:
		where = &L.hold_init;
		break;
	case CR_HOLD_SCOPE_UNINIT:
		where = &L.hold_uninit;
		break;
	default:
		return fail(EINVAL);
	}
	prev = __atomic_load_n(where, __ATOMIC_ACQUIRE);
	if (flags == CR_HOLD_READ)
		return prev;
	if (!(flags == CR_HOLD_NONE || flags == CR_HOLD_CONT || flags == CR_HOLD_RSTRT ||
	      flags == CR_HOLD_BOTH || (flags == CR_HOLD_DFLT && scope == CR_HOLD_SCOPE_THREAD)))
		return fail(EINVAL);
	__atomic_store_n(where, flags, __ATOMIC_RELEASE);
	return prev;
}

__attribute__((visibility("default"))) int cr_inc_persist(void)
{
	struct thr *th = self;

	if (!th)
		return fail(CR_ENOINIT);
	if (th->persist == INT32_MAX)
		return fail(ERANGE);
	return th->persist++;
}

__attribute__((visibility("default"))) int cr_dec_persist(void)
{
	struct thr *th = self;

	if (!th)
		return fail(CR_ENOINIT);
	if (th->persist == 0)
		return fail(ERANGE);
	return th->persist--;
}
