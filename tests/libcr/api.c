/* api.c: libcr's calls outside any checkpoint: what needs cr_init() (CR_ENOINIT) and a
 * callback (CR_ENOTCB), argument checks (EINVAL, ERANGE, EBADF, ESRCH, EPERM,
 * EDEADLK), defaults, error strings, spinlocks, and the layouts of BLCR's structures
 * on x86_64. BLCR's stage0004 and replace_cb tests check the same behaviours. */
#include <libcr.h>

#include "lt.h"

#include <stddef.h>

/* The x86_64 layouts BLCR-built programs rely on. */
_Static_assert(sizeof(cr_checkpoint_args_t) == 28, "cr_checkpoint_args_t");
_Static_assert(sizeof(cr_restart_args_t) == 24, "cr_restart_args_t");
_Static_assert(offsetof(cr_restart_args_t, cr_relocate) == 16, "cr_relocate");
_Static_assert(sizeof(struct cr_checkpoint_info) == 32, "cr_checkpoint_info");
_Static_assert(offsetof(struct cr_checkpoint_info, dest) == 8, "dest");
_Static_assert(offsetof(struct cr_checkpoint_info, requester) == 16, "requester");
_Static_assert(offsetof(struct cr_checkpoint_info, target) == 20, "target");
_Static_assert(offsetof(struct cr_checkpoint_info, scope) == 24, "scope");
_Static_assert(sizeof(struct cr_restart_info) == 16, "cr_restart_info");
_Static_assert(offsetof(struct cr_restart_info, src) == 8, "src");
_Static_assert(CR_RSTRT_RELOCATE_SIZE(2) == 8 + 2 * 16, "relocate");
_Static_assert(CR_SIGNUM == 64, "CR_SIGNUM");
_Static_assert(CR_ETEMPFAIL == 2354 && CR_ENOINIT == 2365 && CR_MAX_ERRCODE == 2366, "codes");
_Static_assert(CR_HOOK_RSTRT_NO_CALLBACKS == 5 && CR_NUM_HOOKS == 6, "hooks");
_Static_assert(CR_CHECKPOINT_TEMP_FAILURE_CODE(911) == (1 | (911 << 16)), "codes");
_Static_assert(CR_SCOPE_TREE == 3 && CR_STATE_ACTIVE == 2 && CR_HOLD_SCOPE_UNINIT == 2, "enums");

static int cb(void *arg)
{
	(void)arg;
	return 0;
}

static void hook(cr_hook_event_t e)
{
	(void)e;
}

/* Everything that needs cr_init() first. */
static void before_init(void)
{
	errno = 0;
	LT_CHECK(cr_register_callback(cb, NULL, CR_SIGNAL_CONTEXT) < 0 && errno == CR_ENOINIT,
		 "errno %d", errno);
	errno = 0;
	LT_CHECK(cr_replace_callback(0, cb, NULL, CR_SIGNAL_CONTEXT) < 0 && errno == CR_ENOINIT,
		 "errno %d", errno);
	errno = 0;
	LT_CHECK(cr_inc_persist() < 0 && errno == CR_ENOINIT, "errno %d", errno);
	errno = 0;
	LT_CHECK(cr_dec_persist() < 0 && errno == CR_ENOINIT, "errno %d", errno);
	errno = 0;
	LT_CHECK(cr_enter_cs(0) < 0 && errno == CR_ENOINIT, "errno %d", errno);
	errno = 0;
	LT_CHECK(cr_status() < 0 && errno == CR_ENOINIT, "errno %d", errno);
	errno = 0;
	LT_CHECK(cr_hold_ctrl(CR_HOLD_SCOPE_THREAD, CR_HOLD_READ) < 0 && errno == CR_ENOINIT,
		 "errno %d", errno);
	errno = 0;
	LT_CHECK(cr_register_hook(CR_HOOK_CONT_SIGNAL_CONTEXT, hook) == CR_HOOK_FN_ERROR &&
		     errno == CR_ENOINIT,
		 "errno %d", errno);
	LT_CHECK(cr_checkpoint(0) == -CR_ENOTCB, "cr_checkpoint outside a callback");
	lt_verdict("api: CR_ENOINIT before cr_init()");
}

static void after_init(void)
{
	int id0, id1, sid, tid;

	id0 = cr_init();
	id1 = cr_init();
	LT_CHECK(id0 >= 0 && id1 > id0, "ids %d %d", id0, id1);
	LT_CHECK(cr_status() == CR_STATE_IDLE, "status %d", cr_status());
	LT_CHECK(cr_checkpoint(0) == -CR_ENOTCB, "cr_checkpoint outside a callback");
	LT_CHECK(cr_get_checkpoint_info() == NULL, "checkpoint info outside a callback");
	LT_CHECK(cr_get_restart_info() == NULL, "restart info outside a callback");
	errno = 0;
	LT_CHECK(cr_replace_self(cb, NULL, CR_SIGNAL_CONTEXT) < 0 && errno == CR_ENOTCB, "errno %d",
		 errno);
	errno = 0;
	LT_CHECK(cr_forward_checkpoint(CR_SCOPE_PROC, getpid()) < 0 && errno == CR_ENOTCB,
		 "errno %d", errno);
	lt_verdict("api: CR_ENOTCB outside callbacks");

	/* Registration: exactly one context bit. */
	errno = 0;
	LT_CHECK(cr_register_callback(cb, NULL, 0) < 0 && errno == EINVAL, "no context");
	errno = 0;
	LT_CHECK(cr_register_callback(cb, NULL, CR_SIGNAL_CONTEXT | CR_THREAD_CONTEXT) < 0 &&
		     errno == EINVAL,
		 "two contexts");
	sid = cr_register_callback(cb, NULL, CR_SIGNAL_CONTEXT);
	tid = cr_register_callback(cb, NULL, CR_THREAD_CONTEXT);
	LT_CHECK(sid >= 0 && tid >= 0 && sid != tid, "ids %d %d", sid, tid);
	LT_CHECK(cr_replace_callback(sid, NULL, NULL, CR_SIGNAL_CONTEXT) == 0, "disable");
	errno = 0;
	LT_CHECK(cr_replace_callback(sid, cb, NULL, CR_THREAD_CONTEXT) < 0 && errno == EINVAL,
		 "context of another kind");
	errno = 0;
	LT_CHECK(cr_replace_callback(-1, cb, NULL, CR_SIGNAL_CONTEXT) < 0 && errno == EINVAL,
		 "id -1");
	errno = 0;
	LT_CHECK(cr_replace_callback(tid + 50, cb, NULL, CR_THREAD_CONTEXT) < 0 && errno == EINVAL,
		 "unknown id");
	LT_CHECK(cr_replace_callback(tid, cb, NULL, CR_THREAD_CONTEXT) == 0, "replace");
	LT_CHECK(cr_replace_callback(sid, cb, NULL, CR_SIGNAL_CONTEXT) == 0, "replace");
	lt_verdict("api: register and replace rules");

	/* Hooks are signal()-like. */
	LT_CHECK(cr_register_hook(CR_HOOK_CONT_SIGNAL_CONTEXT, hook) == NULL, "first");
	LT_CHECK(cr_register_hook(CR_HOOK_CONT_SIGNAL_CONTEXT, NULL) == hook, "previous");
	errno = 0;
	LT_CHECK(cr_register_hook(CR_NUM_HOOKS, hook) == CR_HOOK_FN_ERROR && errno == EINVAL,
		 "event out of range");
	errno = 0;
	LT_CHECK(cr_register_hook((cr_hook_event_t)-1, hook) == CR_HOOK_FN_ERROR && errno == EINVAL,
		 "negative event");
	errno = 0;
	LT_CHECK(cr_register_hook(CR_HOOK_RSTRT_NO_CALLBACKS, CR_HOOK_FN_ERROR) ==
			 CR_HOOK_FN_ERROR &&
		     errno == EINVAL,
		 "CR_HOOK_FN_ERROR as hook");
	lt_verdict("api: hooks");

	/* Hold flags. */
	LT_CHECK(cr_hold_ctrl(CR_HOLD_SCOPE_THREAD, CR_HOLD_READ) == CR_HOLD_DFLT, "thread");
	LT_CHECK(cr_hold_ctrl(CR_HOLD_SCOPE_INIT, CR_HOLD_READ) == CR_HOLD_BOTH, "init");
	LT_CHECK(cr_hold_ctrl(CR_HOLD_SCOPE_UNINIT, CR_HOLD_READ) == CR_HOLD_BOTH, "uninit");
	LT_CHECK(cr_hold_ctrl(CR_HOLD_SCOPE_THREAD, CR_HOLD_CONT) == CR_HOLD_DFLT, "set");
	LT_CHECK(cr_hold_ctrl(CR_HOLD_SCOPE_THREAD, CR_HOLD_DFLT) == CR_HOLD_CONT, "back");
	errno = 0;
	LT_CHECK(cr_hold_ctrl(CR_HOLD_SCOPE_INIT, CR_HOLD_DFLT) < 0 && errno == EINVAL,
		 "DFLT only for a thread");
	errno = 0;
	LT_CHECK(cr_hold_ctrl(7, CR_HOLD_READ) < 0 && errno == EINVAL, "bad scope");
	lt_verdict("api: hold flags");

	/* Persistence counts. */
	errno = 0;
	LT_CHECK(cr_dec_persist() < 0 && errno == ERANGE, "below zero");
	LT_CHECK(cr_inc_persist() == 0 && cr_inc_persist() == 1, "counts");
	LT_CHECK(cr_dec_persist() == 2 && cr_dec_persist() == 1, "counts down");
	lt_verdict("api: persist counts");

	/* Critical sections without a request: nest freely. */
	LT_CHECK(cr_enter_cs(id0) == 0 && cr_enter_cs(id1) == 0, "enter");
	LT_CHECK(cr_tryenter_cs(id0) == 0, "tryenter inside");
	LT_CHECK(cr_leave_cs(id0) == 0 && cr_leave_cs(id1) == 0 && cr_leave_cs(id0) == 0, "leave");
	errno = 0;
	LT_CHECK(cr_leave_cs(id0) < 0, "leave more than entered");
	LT_CHECK(cr_tryenter_cs(id1) == 0 && cr_leave_cs(id1) == 0, "tryenter");
	LT_CHECK(cr_enter_cs(CR_ID_CALLBACK) == 0 && cr_leave_cs(CR_ID_CALLBACK) == 0,
		 "CR_ID_CALLBACK");
	LT_CHECK(cr_status() == CR_STATE_IDLE, "status");
	lt_verdict("api: critical sections without a request");
}

static void defaults(void)
{
	cr_checkpoint_args_t c;
	cr_restart_args_t r;

	memset(&c, 0x55, sizeof(c));
	memset(&r, 0x55, sizeof(r));
	LT_CHECK(cr_initialize_checkpoint_args_t(&c) == 0, "init");
	LT_CHECK(c.cr_version == CR_CHECKPOINT_ARGS_VERSION && (int)c.cr_scope == -1 &&
		     c.cr_target == 0 && c.cr_fd == -1 && c.cr_signal == 0 && c.cr_timeout == 0 &&
		     c.cr_flags == 0,
		 "checkpoint defaults");
	LT_CHECK(cr_initialize_restart_args_t(&r) == 0, "init");
	LT_CHECK(r.cr_version == CR_RESTART_ARGS_VERSION && r.cr_fd == -1 && r.cr_signal == 0 &&
		     r.cr_flags == CR_RSTRT_RESTORE_PID && r.cr_relocate == NULL,
		 "restart defaults");
	errno = 0;
	LT_CHECK(cri_init_checkpoint_args_t(99, &c) < 0 && errno == EINVAL, "version");
	errno = 0;
	LT_CHECK(cri_init_restart_args_t(99, &r) < 0 && errno == EINVAL, "version");
	lt_verdict("api: argument defaults");

	for (int e = CR_ETEMPFAIL; e < CR_MAX_ERRCODE; e++)
		LT_CHECK(cr_strerror(e) && *cr_strerror(e) && strcmp(cr_strerror(e), strerror(e)),
			 "code %d", e);
	LT_CHECK(!strcmp(cr_strerror(ENOENT), strerror(ENOENT)), "plain errno");
	LT_CHECK(!strcmp(cr_strerror(CR_MIN_ERRCODE), strerror(CR_MIN_ERRCODE)), "bounds");
	lt_verdict("api: cr_strerror");
}

static void spin(void)
{
	cr_spinlock_t l = CR_SPINLOCK_INITIALIZER;

	cr_spinlock_init(&l);
	LT_CHECK(cr_spinlock_trylock(&l) != 0, "free lock taken");
	LT_CHECK(cr_spinlock_trylock(&l) == 0, "taken lock");
	cr_spinlock_unlock(&l);
	cr_spinlock_lock(&l);
	LT_CHECK(cr_spinlock_trylock(&l) == 0, "locked");
	cr_spinlock_unlock(&l);
	lt_verdict("api: spinlocks");
}

static int request(cr_scope_t scope, pid_t target, int fd, unsigned int flags,
		   cr_checkpoint_handle_t *h)
{
	cr_checkpoint_args_t a;

	cr_initialize_checkpoint_args_t(&a);
	a.cr_scope = scope;
	a.cr_target = target;
	a.cr_fd = fd;
	a.cr_flags = flags;
	return cr_request_checkpoint(&a, h);
}

/* Requests refused at once (or, with CR_CHKPT_ASYNC_ERR, when reaped). */
static void request_errors(void)
{
	cr_checkpoint_handle_t h;
	int fd = open("ctx.api", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int rfd = open("/dev/null", O_RDONLY);
	pid_t gone = fork();
	cr_checkpoint_args_t a;

	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	errno = 0;
	LT_CHECK(request((cr_scope_t)9, 0, fd, 0, &h) < 0 && errno == EINVAL, "scope");
	errno = 0;
	LT_CHECK(request(CR_SCOPE_PROC, 0, -1, 0, &h) < 0 && errno == EBADF, "no fd");
	errno = 0;
	LT_CHECK(request(CR_SCOPE_PROC, 0, rfd, 0, &h) < 0 && errno == EBADF, "read-only fd");
	errno = 0;
	LT_CHECK(request(CR_SCOPE_PROC, 0, CR_DEST_CWD, 0, &h) < 0 && errno == EINVAL,
		 "CR_DEST_CWD");
	errno = 0;
	LT_CHECK(request(CR_SCOPE_PROC, gone, fd, 0, &h) < 0 && errno == ESRCH, "no process");
	errno = 0;
	LT_CHECK(request(CR_SCOPE_PROC, 1, fd, 0, &h) < 0 && errno == EPERM, "init");
	errno = 0;
	LT_CHECK(request(CR_SCOPE_PROC, 0, fd, CR_CHKPT_PROHIBIT_SELF, &h) < 0 && errno == EDEADLK,
		 "self prohibited");
	errno = 0;
	LT_CHECK(request(CR_SCOPE_TREE, getppid(), fd, CR_CHKPT_PROHIBIT_SELF, &h) < 0 &&
		     errno == EDEADLK,
		 "self in the tree");
	LT_CHECK(request(CR_SCOPE_PROC, gone, fd, CR_CHKPT_ASYNC_ERR, &h) == 0, "async");
	errno = 0;
	LT_CHECK(cr_reap_checkpoint(&h) < 0 && errno == ESRCH, "async error at reap %d", errno);
	cr_initialize_checkpoint_args_t(&a);
	a.cr_version = 7;
	a.cr_scope = CR_SCOPE_PROC;
	a.cr_fd = fd;
	errno = 0;
	LT_CHECK(cr_request_checkpoint(&a, &h) < 0 && errno == EINVAL, "version");
	h = 12345;
	errno = 0;
	LT_CHECK(cr_reap_checkpoint(&h) < 0 && errno == EINVAL, "bad handle");
	LT_CHECK(cr_poll_checkpoint(&h, NULL) == CR_POLL_CHKPT_ERR_PRE && errno == EINVAL,
		 "bad handle");
	close(fd);
	close(rfd);
	unlink("ctx.api");
	lt_verdict("api: request errors");
}

static void restart_errors(void)
{
	cr_restart_args_t a;
	cr_restart_handle_t h;
	struct cr_rstrt_relocate *rl = calloc(1, CR_RSTRT_RELOCATE_SIZE(17));
	int dfd = open(".", O_RDONLY | O_DIRECTORY);

	cr_initialize_restart_args_t(&a);
	errno = 0;
	LT_CHECK(cr_request_restart(&a, &h) < 0 && errno == EBADF, "no fd");
	a.cr_fd = dfd;
	errno = 0;
	LT_CHECK(cr_request_restart(&a, &h) < 0 && errno == EISDIR, "directory");
	a.cr_fd = 0;
	rl->count = 17;
	a.cr_relocate = rl;
	errno = 0;
	LT_CHECK(cr_request_restart(&a, &h) < 0 && errno == EINVAL, "17 relocations");
	a.cr_relocate = NULL;
	a.cr_flags = 0x100;
	errno = 0;
	LT_CHECK(cr_request_restart(&a, &h) < 0 && errno == EINVAL, "flags");
	free(rl);
	close(dfd);
	lt_verdict("api: restart request errors");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	before_init();
	after_init();
	defaults();
	spin();
	request_errors();
	restart_errors();
	return 0;
}
