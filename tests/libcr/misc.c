/* misc.c: more of what BLCR's SEQ tests check:
 * - edeadlk: a process checkpoints itself without ever calling cr_init();
 * - stage0002: a thread-context callback forks and waits for a child, and runs
 *   system();
 * - stage0003: cr_checkpoint -g on a group of two libcr processes whose callbacks talk
 *   to each other over pipes while the checkpoint runs (both run at once). */
#include <libcr.h>

#include "lt.h"

/* ---- no cr_init() ---- */

static int no_init(void)
{
	int rc, err;

	rc = lt_request("ctx.noinit", CR_SCOPE_PROC, 0, 0, 0, &err);
	return rc == 1 ? 0 : 10 + err % 100;
}

/* ---- fork and system() in a callback ---- */

static volatile int fork_ok, system_ok, fork_rc = 99;

static int forking(void *arg)
{
	pid_t child;
	int st = -1;

	(void)arg;
	child = fork();
	if (child == 0)
		_exit(7);
	fork_ok =
	    child > 0 && waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 7;
	st = system("exit 3");
	system_ok = WIFEXITED(st) && WEXITSTATUS(st) == 3;
	fork_rc = cr_checkpoint(CR_CHECKPOINT_READY);
	return 0;
}

static void fork_in_callback(void)
{
	int rc, err, id;

	id = cr_register_callback(forking, NULL, CR_THREAD_CONTEXT);
	rc = lt_request("ctx.fork", CR_SCOPE_PROC, 0, 0, 0, &err);
	LT_CHECK(rc == 1, "poll %d errno %d", rc, err);
	LT_CHECK(fork_ok, "fork() and waitpid() in the callback");
	LT_CHECK(system_ok, "system() in the callback");
	LT_CHECK(fork_rc == 0, "callback result %d", fork_rc);
	cr_replace_callback(id, NULL, NULL, CR_THREAD_CONTEXT);
	unlink("ctx.fork");
	lt_verdict("misc: fork(), waitpid() and system() in a thread-context callback");
}

/* ---- a group whose callbacks talk ---- */

static int talk_in = -1, talk_out = -1, report = -1;

/* Each member sends its pid to the other and waits for the other's, during the
 * checkpoint: it works only if both run their callbacks at the same time. */
static int talk(void *arg)
{
	int me = getpid(), other = 0, rc, msg[2];
	struct timeval tv = {10, 0};
	fd_set s;

	(void)arg;
	if (write(talk_out, &me, sizeof(me)) != sizeof(me))
		return 1;
	FD_ZERO(&s);
	FD_SET(talk_in, &s);
	if (select(talk_in + 1, &s, NULL, NULL, &tv) > 0 &&
	    read(talk_in, &other, sizeof(other)) != sizeof(other))
		other = 0;
	rc = cr_checkpoint(CR_CHECKPOINT_READY);
	msg[0] = other;
	msg[1] = rc;
	if (write(report, msg, sizeof(msg)) < 0)
		return 1;
	return 0;
}

static void member(int in, int out, int rep, struct lt_gate *g)
{
	talk_in = in;
	talk_out = out;
	report = rep;
	cr_init();
	cr_register_callback(talk, NULL, CR_THREAD_CONTEXT);
	lt_ready(g, 1);
	for (;;)
		pause();
}

static void group(void)
{
	int a2b[2], b2a[2], rep[2], msg[2], code;
	struct lt_gate ga, gb;
	pid_t a, b;

	if (pipe(a2b) < 0 || pipe(b2a) < 0 || pipe(rep) < 0)
		exit(2);
	lt_gate_init(&ga);
	lt_gate_init(&gb);
	fflush(stdout);
	a = fork();
	if (a == 0) {
		setpgid(0, 0);
		member(b2a[0], a2b[1], rep[1], &ga);
	}
	setpgid(a, a);
	b = fork();
	if (b == 0) {
		setpgid(0, a);
		member(a2b[0], b2a[1], rep[1], &gb);
	}
	setpgid(b, a);
	close(rep[1]);
	LT_CHECK(lt_await(&ga, 10) == 1 && lt_await(&gb, 10) == 1, "members not ready");
	{
		const char *opts[] = {"--pgid", "-f", "ctx.grp", NULL};

		code = lt_checkpoint(a, opts);
		LT_CHECK(code == 0, "cr_checkpoint -g exited %d", code);
	}
	for (int i = 0; i < 2; i++) {
		fd_set s;
		struct timeval tv = {10, 0};

		FD_ZERO(&s);
		FD_SET(rep[0], &s);
		LT_CHECK(select(rep[0] + 1, &s, NULL, NULL, &tv) > 0 &&
			     read(rep[0], msg, sizeof(msg)) == sizeof(msg),
			 "no report");
		LT_CHECK((msg[0] == a || msg[0] == b) && msg[1] == 0,
			 "a member heard %d and got %d", msg[0], msg[1]);
	}
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	lt_wait(a, 10);
	lt_wait(b, 10);
	unlink("ctx.grp");
	lt_verdict("misc: cr_checkpoint -g, two processes whose callbacks talk to each other");
}

int main(void)
{
	pid_t pid;
	int code;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pid = fork();
	if (pid == 0)
		_exit(no_init());
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "the request ended with %d", code);
	unlink("ctx.noinit");
	lt_verdict("misc: a process that never called cr_init() checkpoints itself");
	cr_init();
	fork_in_callback();
	group();
	return 0;
}
