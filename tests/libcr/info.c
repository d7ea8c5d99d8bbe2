/* info.c: what callbacks can learn and do (BLCR's get_info, forward, replace_cb, lam,
 * hooks and stopped tests):
 * - cr_get_checkpoint_info(): signal, dest, requester, target, scope, for a request by
 *   cr_checkpoint and by the library; cr_get_restart_info(): src and requester;
 * - cr_forward_checkpoint() argument checks; registration inside a callback is EBUSY;
 * - cr_replace_self(): a replacement made after cr_checkpoint() returns wins;
 * - cr_hold_ctrl(): a thread that does not hold leaves before the others are done;
 * - exec() from a restart callback;
 * - a stopped process runs its callbacks and is stopped again, unless --cont. */
#include <libcr.h>

#include "lt.h"

#include <poll.h>

#include <limits.h>
#include <pthread.h>

static struct cr_checkpoint_info ci;
static char ci_dest[PATH_MAX], ri_src[PATH_MAX];
static pid_t ri_requester;
static int fwd_errs[6], nested_errs[2], cb_rc;
static int exec_on_restart;

static int info_cb(void *arg)
{
	const struct cr_checkpoint_info *p = cr_get_checkpoint_info();

	(void)arg;
	if (p) {
		ci = *p;
		snprintf(ci_dest, sizeof(ci_dest), "%s", p->dest ? p->dest : "(null)");
	}
	errno = 0;
	fwd_errs[0] = cr_forward_checkpoint(CR_SCOPE_PROC, getpid()) == 0 ? 0 : errno;
	errno = 0;
	fwd_errs[1] = cr_forward_checkpoint(CR_SCOPE_PROC, 1) == 0 ? 0 : errno;
	errno = 0;
	fwd_errs[2] = cr_forward_checkpoint(CR_SCOPE_PROC, 0x3fffff00) == 0 ? 0 : errno;
	errno = 0;
	fwd_errs[3] = cr_forward_checkpoint((cr_scope_t)17, getpid()) == 0 ? 0 : errno;
	errno = 0;
	nested_errs[0] = cr_register_callback(info_cb, NULL, CR_THREAD_CONTEXT) < 0 ? errno : 0;
	errno = 0;
	nested_errs[1] =
	    cr_replace_callback(0 | CR_THREAD_CONTEXT, info_cb, NULL, CR_THREAD_CONTEXT) < 0 ? errno
											     : 0;
	cb_rc = cr_checkpoint(CR_CHECKPOINT_READY);
	errno = 0;
	fwd_errs[4] = cr_forward_checkpoint(CR_SCOPE_PROC, getpid()) == 0 ? 0 : errno;
	if (cb_rc > 0) {
		const struct cr_restart_info *r = cr_get_restart_info();

		if (r) {
			snprintf(ri_src, sizeof(ri_src), "%s", r->src ? r->src : "(null)");
			ri_requester = r->requester;
		}
		if (exec_on_restart) {
			/* BLCR's lam test: a restarted process may become another program. */
			execl("/bin/sh", "sh", "-c", "exit 7", (char *)NULL);
			_exit(99);
		}
	}
	return 0;
}

static void infos(void)
{
	struct lt_gate g;
	pid_t pid, rpid;
	int rc, err, code;
	char want[PATH_MAX];

	/* By the library, for ourselves: dest is the descriptor's file. */
	memset(&ci, 0, sizeof(ci));
	rc = lt_request("ctx.info", CR_SCOPE_PROC, getpid(), 0, SIGCONT, &err);
	LT_CHECK(rc == 1, "poll %d errno %d", rc, err);
	LT_CHECK(realpath("ctx.info", want) && !strcmp(ci_dest, want), "dest '%s'", ci_dest);
	LT_CHECK(ci.requester == getpid(), "requester %d", (int)ci.requester);
	LT_CHECK(ci.target == getpid() && ci.scope == CR_SCOPE_PROC, "target %d scope %d",
		 (int)ci.target, ci.scope);
	LT_CHECK(ci.signal == SIGCONT, "signal %d", ci.signal);
	LT_CHECK(fwd_errs[0] == 0, "forward to self: %d", fwd_errs[0]);
	LT_CHECK(fwd_errs[1] == EPERM, "forward to init: %d", fwd_errs[1]);
	LT_CHECK(fwd_errs[2] == ESRCH, "forward to nobody: %d", fwd_errs[2]);
	LT_CHECK(fwd_errs[3] == EINVAL, "forward with a bad scope: %d", fwd_errs[3]);
	LT_CHECK(fwd_errs[4] == CR_ENOTCB, "forward after cr_checkpoint(): %d", fwd_errs[4]);
	LT_CHECK(nested_errs[0] == EBUSY && nested_errs[1] == EBUSY, "registration inside: %d %d",
		 nested_errs[0], nested_errs[1]);
	unlink("ctx.info");
	lt_verdict("info: checkpoint info for a library request; forward and registration "
		   "checks");

	/* By cr_checkpoint, for a child; then its restart; the restarted copy execs. */
	lt_gate_init(&g);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		/* A child of fork() starts clean. */
		cr_init();
		cr_register_callback(info_cb, NULL, CR_THREAD_CONTEXT);
		exec_on_restart = 1;
		lt_ready(&g, 1);
		for (;;)
			pause();
	}
	LT_CHECK(lt_await(&g, 10) == 1, "child not ready");
	{
		const char *opts[] = {"--tree", "--kill", "-f", "ctx.info2", NULL};

		code = lt_checkpoint(pid, opts);
		LT_CHECK(code == 0, "cr_checkpoint exited %d", code);
	}
	lt_wait(pid, 10);
	rpid = lt_restart_bg("ctx.info2", NULL);
	code = lt_code(lt_wait(rpid, LT_TIMEOUT));
	LT_CHECK(code == 7, "the restarted copy's exec: cr_restart exited %d", code);
	unlink("ctx.info2");
	lt_verdict("info: exec() from a restart callback");
}

/* The child checkpointed by cr_checkpoint reports what it saw on a pipe; with dir,
 * cr_checkpoint -d writes a directory, which is the destination libcr reports. */
static void info_by_command(bool dir)
{
	const char *name = dir ? "ctx.info3d" : "ctx.info3";
	struct lt_gate g;
	int out[2], code;
	pid_t pid;

	lt_gate_init(&g);
	if (pipe(out) < 0)
		exit(2);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(out[0]);
		memset(&ci, 0, sizeof(ci));
		cr_init();
		cr_register_callback(info_cb, NULL, CR_THREAD_CONTEXT);
		lt_ready(&g, 1);
		while (!ci.requester)
			lt_sleep_ms(5);
		dprintf(out[1], "%d %d %d %d %s\n", (int)ci.requester, (int)ci.target, ci.scope,
			ci.signal, ci_dest);
		_exit(0);
	}
	close(out[1]);
	LT_CHECK(lt_await(&g, 10) == 1, "child not ready");
	{
		const char *opts[] = {"--tree", "--signal", "18", dir ? "-d" : "-f", name, NULL};

		code = lt_checkpoint(pid, opts);
		LT_CHECK(code == 0, "cr_checkpoint exited %d", code);
	}
	{
		char line[PATH_MAX + 64] = "", dest[PATH_MAX] = "", want[PATH_MAX + 8];
		int req = 0, target = 0, scope = -1, sig = 0;
		FILE *f = fdopen(out[0], "r");

		LT_CHECK(f && fgets(line, sizeof(line), f), "no report");
		LT_CHECK(sscanf(line, "%d %d %d %d %s", &req, &target, &scope, &sig, dest) == 5,
			 "report '%s'", line);
		LT_CHECK(req > 0 && req != pid && req != getpid(), "requester %d", req);
		LT_CHECK(target == pid && scope == CR_SCOPE_TREE && sig == 18,
			 "target %d scope %d signal %d", target, scope, sig);
		/* Written to a temporary file renamed at the end (--atomic). */
		snprintf(want, sizeof(want), "%s", dest);
		LT_CHECK(dest[0] == '/' && strstr(dest, name), "dest '%s'", dest);
		LT_CHECK(!dir || !strcmp(strrchr(dest, '/') + 1, name), "dest '%s', want .../%s",
			 dest, name);
		if (f)
			fclose(f);
	}
	lt_wait(pid, 10);
	if (dir) {
		char file[64];

		snprintf(file, sizeof(file), "%s/context.%d", name, (int)pid);
		unlink(file);
		rmdir(name);
	} else {
		unlink(name);
	}
	lt_verdict(dir ? "info: checkpoint info for cr_checkpoint -d DIR: the destination is DIR"
		       : "info: checkpoint info for cr_checkpoint --tree --signal 18");
}

static void restart_info(void)
{
	int rc, err;
	char want[PATH_MAX];

	ri_src[0] = '\0';
	cr_init();
	cr_register_callback(info_cb, NULL, CR_THREAD_CONTEXT);
	rc = lt_request("ctx.info4", CR_SCOPE_PROC, 0, 0, 0, &err);
	if (rc == CR_POLL_CHKPT_ERR_POST && err == CR_ERESTARTED) {
		LT_CHECK(realpath("ctx.info4", want) && !strcmp(ri_src, want), "src '%s'", ri_src);
		LT_CHECK(ri_requester > 0 && ri_requester == getppid(), "requester %d parent %d",
			 (int)ri_requester, (int)getppid());
		exit(lt_verdict("info: restart info"));
	}
	LT_CHECK(rc == 1, "poll %d errno %d", rc, err);
	exit(lt_failures);
}

/* ---- replace_self ---- */

static int seen[4];

static int third(void *arg)
{
	(void)arg;
	seen[2]++;
	return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

static int second(void *arg)
{
	(void)arg;
	seen[1]++;
	return cr_checkpoint(CR_CHECKPOINT_READY) < 0;
}

static int first(void *arg)
{
	(void)arg;
	seen[0]++;
	cr_replace_self(second, NULL, CR_THREAD_CONTEXT);
	cr_checkpoint(CR_CHECKPOINT_READY);
	seen[3] = cr_replace_self(third, NULL, CR_THREAD_CONTEXT) == 0 ? 0 : errno;
	return 0;
}

static void replace_self(void)
{
	int id, rc, err;

	memset(seen, 0, sizeof(seen));
	id = cr_register_callback(first, NULL, CR_THREAD_CONTEXT);
	rc = lt_request("ctx.rs", CR_SCOPE_PROC, 0, 0, 0, &err);
	LT_CHECK(rc == 1 && seen[0] == 1 && seen[3] == 0, "first round: %d %d %d", rc, seen[0],
		 seen[3]);
	rc = lt_request("ctx.rs", CR_SCOPE_PROC, 0, 0, 0, &err);
	LT_CHECK(rc == 1 && seen[2] == 1 && seen[1] == 0,
		 "second round ran third %d second %d (the later replacement wins)", seen[2],
		 seen[1]);
	errno = 0;
	LT_CHECK(cr_replace_self(third, NULL, CR_SIGNAL_CONTEXT) < 0 && errno == CR_ENOTCB,
		 "outside a callback");
	cr_replace_callback(id, NULL, NULL, CR_THREAD_CONTEXT);
	unlink("ctx.rs");
	lt_verdict("info: cr_replace_self(), the later replacement wins");
}

/* ---- hold ---- */

static volatile int hold_phase, slow_running, free_ran;

/* After cr_checkpoint() returned, waits (bounded) for the thread that does not hold
 * to run its own code: it can only if the barrier let it go before this callback
 * ended. */
static int slow_cb(void *arg)
{
	(void)arg;
	cr_checkpoint(CR_CHECKPOINT_READY);
	if (hold_phase == 1) {
		slow_running = 1;
		for (int i = 0; i < 1000 && !free_ran; i++)
			lt_sleep_ms(10);
		slow_running = 0;
	}
	return 0;
}

static void *unheld(void *arg)
{
	(void)arg;
	cr_init();
	cr_hold_ctrl(CR_HOLD_SCOPE_THREAD, CR_HOLD_NONE);
	while (hold_phase < 2) {
		if (slow_running)
			free_ran = 1;
		lt_sleep_ms(1);
	}
	return NULL;
}

static void hold(void)
{
	pthread_t t;
	int id, rc, err;

	id = cr_register_callback(slow_cb, NULL, CR_THREAD_CONTEXT);
	pthread_create(&t, NULL, unheld, NULL);
	lt_sleep_ms(20);
	hold_phase = 1;
	rc = lt_request("ctx.hold", CR_SCOPE_PROC, 0, 0, 0, &err);
	LT_CHECK(rc == 1, "poll %d errno %d", rc, err);
	LT_CHECK(free_ran, "the thread that does not hold was held until the callbacks ended");
	hold_phase = 2;
	pthread_join(t, NULL);
	cr_replace_callback(id, NULL, NULL, CR_THREAD_CONTEXT);
	unlink("ctx.hold");
	lt_verdict("info: cr_hold_ctrl(), a thread that does not hold runs on");
}

/* ---- stopped ---- */

static int stop_out = -1;

/* Reports from the callback: the process stops right after its callbacks. */
static int stop_cb(void *arg)
{
	int rc = cr_checkpoint(CR_CHECKPOINT_READY);

	(void)arg;
	if (write(stop_out, &rc, sizeof(rc)) < 0)
		_exit(1);
	return 0;
}

static char proc_state(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return '?';
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p ? p[2] : '?';
}

static void stopped(bool cont)
{
	struct lt_gate g;
	int out[2], code, rc = -1;
	pid_t pid;
	char st = '?';

	lt_gate_init(&g);
	if (pipe(out) < 0)
		exit(2);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(out[0]);
		stop_out = out[1];
		cr_init();
		cr_register_callback(stop_cb, NULL, CR_SIGNAL_CONTEXT);
		lt_ready(&g, 1);
		for (;;)
			pause();
	}
	/* out[1] stays open: cr_restart lends it to the restored copy. */
	LT_CHECK(lt_await(&g, 10) == 1, "child not ready");
	kill(pid, SIGSTOP);
	for (int i = 0; i < 200 && proc_state(pid) != 'T'; i++)
		lt_sleep_ms(5);
	{
		const char *opts[] = {"--pid", cont ? "--cont" : "--run", "-f", "ctx.stop", NULL};

		code = lt_checkpoint(pid, opts);
		LT_CHECK(code == 0, "cr_checkpoint exited %d", code);
	}
	LT_CHECK(read(out[0], &rc, sizeof(rc)) == sizeof(rc) && rc == 0, "callback result %d", rc);
	for (int i = 0; i < 200; i++) {
		st = proc_state(pid);
		if (cont ? st != 'T' : st == 'T')
			break;
		lt_sleep_ms(5);
	}
	LT_CHECK(cont ? st != 'T' : st == 'T', "state '%c' after the checkpoint", st);
	kill(pid, SIGKILL);
	lt_wait(pid, 10);
	if (!cont) {
		/* Saved as stopped: the restarted copy runs its restart callback, then
		 * stops again. */
		pid_t rpid = lt_restart_bg("ctx.stop", NULL);

		rc = -1;
		LT_CHECK(read(out[0], &rc, sizeof(rc)) == sizeof(rc) && rc > 0,
			 "restart callback result %d", rc);
		for (int i = 0; i < 200 && (st = proc_state(pid)) != 'T'; i++)
			lt_sleep_ms(5);
		LT_CHECK(st == 'T', "state '%c' after the restart", st);
		kill(pid, SIGKILL);
		lt_wait(rpid, 10);
	}
	close(out[0]);
	close(out[1]);
	unlink("ctx.stop");
	lt_verdict(cont ? "info: a stopped process runs its callbacks; --cont resumes it"
			: "info: a stopped process runs its callbacks and is stopped again, also "
			  "after a restart");
}

/* Is there something to read on fd right now? */
static bool readable(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};

	return poll(&p, 1, 0) == 1;
}

/* Wait (bounded) until pid is stopped. */
static char until_stopped(pid_t pid)
{
	char st = '?';

	for (int i = 0; i < 1000 && (st = proc_state(pid)) != 'T'; i++)
		lt_sleep_ms(5);
	return st;
}

/* --stop against --early-stop, at checkpoint and at restart: the late signal comes
 * once the callbacks are done (their report is there when the process is seen
 * stopped), the early one before they resume (no report until SIGCONT). */
static void early(bool is_early)
{
	const char *sig = is_early ? "--early-stop" : "--stop";
	const char *ropts[] = {sig, NULL};
	struct lt_gate g;
	int out[2], code, rc = -1;
	pid_t pid, rpid;
	char st;

	lt_gate_init(&g);
	if (pipe(out) < 0)
		exit(2);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(out[0]);
		stop_out = out[1];
		cr_init();
		cr_register_callback(stop_cb, NULL, CR_SIGNAL_CONTEXT);
		lt_ready(&g, 1);
		for (;;)
			pause();
	}
	LT_CHECK(lt_await(&g, 10) == 1, "child not ready");
	{
		const char *opts[] = {"--pid", sig, "-f", "ctx.early", NULL};

		code = lt_checkpoint(pid, opts);
		LT_CHECK(code == 0, "cr_checkpoint exited %d", code);
	}
	st = until_stopped(pid);
	LT_CHECK(st == 'T', "state '%c' after the checkpoint", st);
	LT_CHECK(readable(out[0]) == !is_early, "%s: the continue callback %s before the stop",
		 sig, is_early ? "ran" : "had not run");
	kill(pid, SIGCONT);
	LT_CHECK(read(out[0], &rc, sizeof(rc)) == sizeof(rc) && rc == 0, "callback result %d", rc);
	kill(pid, SIGKILL);
	lt_wait(pid, 10);

	rpid = lt_restart_bg("ctx.early", ropts);
	st = until_stopped(pid);
	LT_CHECK(st == 'T', "state '%c' after the restart", st);
	/* The stop after the callbacks: wait for the process to be stopped after them. */
	if (!is_early)
		for (int i = 0; i < 1000 && !readable(out[0]); i++)
			lt_sleep_ms(5);
	LT_CHECK(readable(out[0]) == !is_early, "%s: the restart callback %s before the stop",
		 sig, is_early ? "ran" : "had not run");
	kill(pid, SIGCONT);
	rc = -1;
	LT_CHECK(read(out[0], &rc, sizeof(rc)) == sizeof(rc) && rc > 0,
		 "restart callback result %d", rc);
	kill(pid, SIGKILL);
	lt_wait(rpid, 10);
	close(out[0]);
	close(out[1]);
	unlink("ctx.early");
	lt_verdict(is_early ? "info: --early-stop stops the process before its callbacks resume, "
			      "at checkpoint and at restart"
			    : "info: --stop stops the process once its callbacks are done, at "
			      "checkpoint and at restart");
}

int main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "";
	int id;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	cr_init();
	id = cr_register_callback(info_cb, NULL, CR_THREAD_CONTEXT);
	if (!*only || !strcmp(only, "info")) {
		infos();
		info_by_command(false);
		info_by_command(true);
	}
	cr_replace_callback(id, NULL, NULL, CR_THREAD_CONTEXT);
	if (!*only || !strcmp(only, "restart")) {
		int code;

		pid = fork();
		if (pid == 0)
			restart_info();
		LT_CHECK(lt_code(lt_wait(pid, LT_TIMEOUT)) == 0, "subject");
		pid = lt_restart_bg("ctx.info4", NULL);
		code = lt_code(lt_wait(pid, LT_TIMEOUT));
		LT_CHECK(code == 0, "cr_restart %d", code);
		unlink("ctx.info4");
		lt_verdict("info: restart info runs");
	}
	if (!*only || !strcmp(only, "replace"))
		replace_self();
	if (!*only || !strcmp(only, "hold"))
		hold();
	if (!*only || !strcmp(only, "stopped")) {
		stopped(false);
		stopped(true);
	}
	if (!*only || !strcmp(only, "early")) {
		early(false);
		early(true);
	}
	return 0;
}
