/* overlap.c: a request against a process that is inside a checkpoint or a restart
 * fails with EBUSY (BLCR's CRUT overlap test): a thread-context callback runs
 * cr_checkpoint on its own process before its cr_checkpoint() (checkpoint phase),
 * after it returned 0 (continue phase) and after it returned > 0 (restart phase);
 * each must exit 16 and change nothing. A second library request made while one runs
 * fails with EBUSY when reaped. */
#include <libcr.h>

#include "lt.h"

static int phase_code[3] = {-1, -1, -1};

static int checkpoint_me(const char *file)
{
	const char *opts[] = {"--pid", "-f", file, NULL};

	return lt_checkpoint(getpid(), opts);
}

static int tc(void *arg)
{
	int rc;

	(void)arg;
	phase_code[0] = checkpoint_me("ctx.ov.1");
	rc = cr_checkpoint(CR_CHECKPOINT_READY);
	phase_code[rc > 0 ? 2 : 1] = checkpoint_me(rc > 0 ? "ctx.ov.3" : "ctx.ov.2");
	return 0;
}

static int subject(void)
{
	int rc, err;

	cr_init();
	cr_register_callback(tc, NULL, CR_THREAD_CONTEXT);
	rc = lt_request("ctx.ov", CR_SCOPE_PROC, 0, 0, 0, &err);
	if (rc == CR_POLL_CHKPT_ERR_POST && err == CR_ERESTARTED) {
		LT_CHECK(phase_code[2] == EBUSY, "restart phase: cr_checkpoint exited %d",
			 phase_code[2]);
		LT_CHECK(access("ctx.ov.3", F_OK) < 0, "a refused request left its file");
		return lt_verdict("overlap: EBUSY while restart callbacks run");
	}
	LT_CHECK(rc == 1, "poll %d errno %d", rc, err);
	LT_CHECK(phase_code[0] == EBUSY, "checkpoint phase: exit %d", phase_code[0]);
	LT_CHECK(phase_code[1] == EBUSY, "continue phase: exit %d", phase_code[1]);
	LT_CHECK(access("ctx.ov.1", F_OK) < 0 && access("ctx.ov.2", F_OK) < 0,
		 "a refused request left its file");
	return lt_verdict("overlap: EBUSY while checkpoint and continue callbacks run");
}

/* Two requests from the library at once: the second is refused. */
static volatile int slow_go;

static int slow_tc(void *arg)
{
	(void)arg;
	slow_go = 1;
	lt_sleep_ms(300); /* keep the first request in its callbacks */
	return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

static int second(void)
{
	cr_checkpoint_args_t a;
	cr_checkpoint_handle_t h1, h2;
	int f1 = open("ctx.ov.a", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int f2 = open("ctx.ov.b", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int rc;

	cr_init();
	cr_register_callback(slow_tc, NULL, CR_THREAD_CONTEXT);
	cr_initialize_checkpoint_args_t(&a);
	a.cr_scope = CR_SCOPE_PROC;
	a.cr_fd = f1;
	LT_CHECK(cr_request_checkpoint(&a, &h1) == 0, "first request");
	while (!slow_go)
		lt_sleep_ms(1);
	a.cr_fd = f2;
	LT_CHECK(cr_request_checkpoint(&a, &h2) == 0, "second request");
	do
		rc = cr_poll_checkpoint(&h2, NULL);
	while (rc == CR_POLL_CHKPT_ERR_PRE && errno == EINTR);
	LT_CHECK(rc == CR_POLL_CHKPT_ERR_POST && errno == EBUSY, "second: %d errno %d", rc, errno);
	do
		rc = cr_poll_checkpoint(&h1, NULL);
	while (rc == CR_POLL_CHKPT_ERR_PRE && errno == EINTR);
	LT_CHECK(rc == 1, "first: %d errno %d", rc, errno);
	return lt_verdict("overlap: a second library request is refused with EBUSY");
}

int main(void)
{
	pid_t pid;
	int code;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pid = fork();
	if (pid == 0)
		_exit(subject());
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "subject %d", code);
	pid = lt_restart_bg("ctx.ov", NULL);
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "cr_restart exited %d", code);
	lt_verdict("overlap: runs");
	pid = fork();
	if (pid == 0)
		_exit(second());
	lt_wait(pid, LT_TIMEOUT);
	return 0;
}
