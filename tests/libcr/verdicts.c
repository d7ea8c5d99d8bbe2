/* verdicts.c: what a callback's answer does (BLCR's failed_cb, failed_cb2, cr_omit):
 * TEMP cancels the request and everyone carries on with no signal; a code of its own
 * reaches the requester (911 -> exit 143); OMIT leaves the process out (nothing left:
 * ESRCH, exit 3) and it gets no signal; PERM kills it. Callbacks registered earlier
 * than the one that answered do not run; the answering callback gets the same
 * negative result as everyone. In signal and in thread context, asked by cr_checkpoint
 * and by cr_request_checkpoint() from another process. */
#include <libcr.h>

#include "lt.h"

static int cmd[2], rep[2];
static volatile int mode = CR_CHECKPOINT_READY;
static volatile int earlier_ran;

/* Registered first: runs last, and only if the later one let the checkpoint go on. */
static int earlier(void *arg)
{
	(void)arg;
	earlier_ran++;
	return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

/* Registered second: runs first, and answers as the driver asked. */
static int answer(void *arg)
{
	int rc, ran;

	(void)arg;
	earlier_ran = 0;
	rc = cr_checkpoint(mode);
	ran = earlier_ran;
	if (write(rep[1], &rc, sizeof(rc)) < 0 || write(rep[1], &ran, sizeof(ran)) < 0)
		_exit(9);
	return 0;
}

static void subject(int ctx)
{
	char c;

	close(cmd[1]);
	close(rep[0]);
	cr_init();
	cr_register_callback(earlier, NULL, ctx);
	cr_register_callback(answer, NULL, ctx);
	for (;;) {
		ssize_t n = read(cmd[0], &c, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		mode = c == 'T'   ? CR_CHECKPOINT_TEMP_FAILURE
		       : c == 'C' ? CR_CHECKPOINT_TEMP_FAILURE_CODE(911)
		       : c == 'c' ? CR_CHECKPOINT_PERM_FAILURE_CODE(300)
		       : c == 'O' ? CR_CHECKPOINT_OMIT
		       : c == 'P' ? CR_CHECKPOINT_PERM_FAILURE
				  : CR_CHECKPOINT_READY;
		if (write(rep[1], &c, 1) != 1)
			_exit(9);
	}
}

/* Read n bytes from the subject within a few seconds. */
static bool reply(void *p, size_t n)
{
	char *b = p;

	while (n) {
		fd_set s;
		struct timeval tv = {10, 0};
		ssize_t r;

		FD_ZERO(&s);
		FD_SET(rep[0], &s);
		if (select(rep[0] + 1, &s, NULL, NULL, &tv) <= 0)
			return false;
		r = read(rep[0], b, n);
		if (r <= 0)
			return false;
		b += r;
		n -= (size_t)r;
	}
	return true;
}

static bool set_mode(char m)
{
	char ack;

	return write(cmd[1], &m, 1) == 1 && reply(&ack, 1) && ack == m;
}

static bool alive(pid_t pid)
{
	int st;

	return waitpid(pid, &st, WNOHANG) == 0;
}

struct verdict {
	char mode;
	const char *name;
	int exit_code; /* cr_checkpoint's */
	int req_errno; /* cr_reap_checkpoint's */
	int cb_rc;     /* what the callbacks get */
	bool dies;
};

static const struct verdict verdicts[] = {
    {'T', "TEMP", 50, CR_ETEMPFAIL, -CR_ETEMPFAIL, false},
    {'C', "TEMP_CODE(911)", 911 & 0xff, 911, -911, false},
    {'O', "OMIT", 3, ESRCH, -CR_EOMITTED, false},
    {'P', "PERM", 51, CR_EPERMFAIL, 0, true},
    {'c', "PERM_CODE(300)", 300 & 0xff, 300, 0, true},
};

/* By the command: checkpoint with --term, which a failed or omitting request must not
 * send. By the library: a request from this process. */
static void one(int ctx, const struct verdict *v, bool by_library)
{
	char name[128];
	pid_t pid;
	int code = -1, rc = 99, ran = 99;

	snprintf(name, sizeof(name), "verdicts: %s context, %s, %s",
		 ctx == CR_SIGNAL_CONTEXT ? "signal" : "thread", v->name,
		 by_library ? "cr_request_checkpoint" : "cr_checkpoint --term");
	if (pipe(cmd) < 0 || pipe(rep) < 0)
		exit(2);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		subject(ctx);
	close(cmd[0]);
	close(rep[1]);
	LT_CHECK(set_mode(v->mode), "the subject does not answer");
	if (by_library) {
		int fd = open("ctx.v", O_WRONLY | O_CREAT | O_TRUNC, 0600);
		cr_checkpoint_args_t a;
		cr_checkpoint_handle_t h;

		cr_initialize_checkpoint_args_t(&a);
		a.cr_scope = CR_SCOPE_PROC;
		a.cr_target = pid;
		a.cr_fd = fd;
		a.cr_signal = SIGTERM;
		LT_CHECK(cr_request_checkpoint(&a, &h) == 0, "request: %s", strerror(errno));
		rc = cr_poll_checkpoint(&h, NULL);
		code = rc < 0 ? errno : 0;
		LT_CHECK(rc == CR_POLL_CHKPT_ERR_POST && code == v->req_errno,
			 "poll %d errno %d, want %d", rc, code, v->req_errno);
		close(fd);
		unlink("ctx.v");
	} else {
		const char *opts[] = {"--pid", "--term", "-f", "ctx.v", NULL};

		code = lt_checkpoint(pid, opts);
		LT_CHECK(code == v->exit_code, "cr_checkpoint exited %d, want %d", code,
			 v->exit_code);
		LT_CHECK(access("ctx.v", F_OK) < 0, "a failed checkpoint left its file");
	}
	if (v->dies) {
		int st = lt_wait(pid, 10);

		LT_CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the subject was not killed");
		close(cmd[1]);
		close(rep[0]);
		lt_verdict(name);
		return;
	}
	LT_CHECK(reply(&rc, sizeof(rc)) && reply(&ran, sizeof(ran)), "no word from the callback");
	LT_CHECK(rc == v->cb_rc, "the callback got %d, want %d", rc, v->cb_rc);
	LT_CHECK(ran == 0, "an earlier callback ran");
	lt_sleep_ms(50);
	LT_CHECK(alive(pid), "the subject got a signal");
	/* It carries on, and can be checkpointed afterwards. */
	if (set_mode('R')) {
		const char *opts[] = {"--pid", "-f", "ctx.v", NULL};

		code = lt_checkpoint(pid, opts);
		LT_CHECK(code == 0, "checkpoint afterwards: %d", code);
		LT_CHECK(reply(&rc, sizeof(rc)) && reply(&ran, sizeof(ran)) && rc == 0 && ran == 1,
			 "afterwards: rc %d ran %d", rc, ran);
		unlink("ctx.v");
	} else {
		LT_CHECK(0, "the subject is gone");
	}
	close(cmd[1]);
	LT_CHECK(lt_code(lt_wait(pid, 10)) == 0, "the subject did not end well");
	close(rep[0]);
	lt_verdict(name);
}

int main(void)
{
	int bad = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	for (int ctx = 0; ctx < 2; ctx++)
		for (size_t i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
			for (int lib = 0; lib < 2; lib++) {
				one(ctx ? CR_THREAD_CONTEXT : CR_SIGNAL_CONTEXT, &verdicts[i], lib);
				bad |= lt_failures;
			}
	return 0;
}
