/* crut.c: BLCR's CRUT harness flow, step by step (blcr-reference.md 9.1): the test
 * process calls cr_init(), registers a signal-context callback, opens
 * context.PID (0600) and checkpoints itself through cr_request_checkpoint() +
 * cr_poll_checkpoint_msg() with that descriptor open, checks that cr_status() is IDLE
 * and exits 0; then a child in a process group of its own restarts the file through
 * the library, and the restored process, its child, runs its restart branch and
 * exits 0.
 *
 * Unlike the other tests, the destination stays open in the process while it is
 * checkpointed: it must not be saved as one of its files (BLCR leaves the context
 * file out), or the restart would truncate the very file it reads. */
#include <libcr.h>

#include "lt.h"

static volatile int cb_rc = 99;

static int cb(void *arg)
{
	(void)arg;
	cb_rc = cr_checkpoint(CR_CHECKPOINT_READY);
	return 0;
}

static int subject(void)
{
	char file[64], *msg = NULL;
	cr_checkpoint_args_t a;
	cr_checkpoint_handle_t h;
	int fd, rc, e;

	if (cr_init() < 0 || cr_register_callback(cb, NULL, CR_SIGNAL_CONTEXT) < 0)
		return 2;
	snprintf(file, sizeof(file), "context.%d", (int)getpid());
	fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_LARGEFILE, 0600);
	cr_initialize_checkpoint_args_t(&a);
	a.cr_scope = CR_SCOPE_PROC;
	a.cr_fd = fd;
	if (cr_request_checkpoint(&a, &h) < 0)
		return 3;
	do
		rc = cr_poll_checkpoint_msg(&h, NULL, &msg);
	while (rc == CR_POLL_CHKPT_ERR_PRE && errno == EINTR);
	e = errno;
	free(msg);
	close(fd);
	if (rc == CR_POLL_CHKPT_ERR_POST && e == CR_ERESTARTED) {
		/* The restarted copy: its callback saw the restart. */
		return cb_rc > 0 && cr_status() == CR_STATE_IDLE ? 0 : 4;
	}
	if (rc != 1 || cb_rc != 0)
		return 5;
	for (int i = 0; i < 200 && cr_status() != CR_STATE_IDLE; i++)
		lt_sleep_ms(5);
	return cr_status() == CR_STATE_IDLE ? 0 : 6;
}

static int restarter(pid_t subject_pid)
{
	cr_restart_args_t a;
	cr_restart_handle_t h;
	char file[64], *msg = NULL;
	int fd, rc, st;

	setpgid(0, 0);
	snprintf(file, sizeof(file), "context.%d", (int)subject_pid);
	fd = open(file, O_RDONLY | O_LARGEFILE);
	cr_initialize_restart_args_t(&a);
	a.cr_fd = fd;
	LT_CHECK(cr_request_restart(&a, &h) == 0, "request: %s", strerror(errno));
	rc = cr_poll_restart_msg(&h, NULL, &msg);
	LT_CHECK(rc == subject_pid, "poll %d (errno %d: %s), want %d", rc, errno,
		 cr_strerror(errno), (int)subject_pid);
	free(msg);
	close(fd);
	if (rc > 0) {
		st = lt_wait(rc, LT_TIMEOUT);
		LT_CHECK(lt_code(st) == 0, "the restored process ended with %d", lt_code(st));
	}
	return lt_verdict("crut: restart through the library, the restored process is our "
			  "child and finds itself restarted");
}

int main(void)
{
	pid_t pid, r;
	int code;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pid = fork();
	if (pid == 0)
		_exit(subject());
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "the subject exited %d", code);
	lt_verdict("crut: self-checkpoint to context.PID with the descriptor open");
	r = fork();
	if (r == 0)
		_exit(restarter(pid));
	lt_wait(r, 2 * LT_TIMEOUT);
	return 0;
}
