/* forward.c: cr_forward_checkpoint() grows a request (BLCR's forward test). A parent P
 * with libcr has a child C1 with libcr and a child C2 without (it runs sleep), and
 * checkpoints itself alone (CR_SCOPE_PROC). Its callback forwards the checkpoint:
 * - chain: to C1 (CR_SCOPE_PROC), whose callback forwards it to C2 in turn;
 * - tree: to its own tree (CR_SCOPE_TREE, target 0);
 * - group: to the process group C1 and C2 form (CR_SCOPE_PGRP).
 * Each time C1 runs its callbacks too, the context holds the three processes, and
 * after a restart P and C1 run their restart callbacks and P finds both children
 * its own again (it ends them and waits for them). A forward to a process that is
 * gone by the time the scope is frozen leaves it out, and the checkpoint succeeds. */
#include <libcr.h>

#include "lt.h"

enum { CHAIN, TREE, GROUP };

static int out = -1, mode;
static pid_t c1, c2;

/* Reports "who rc forward-result" from the callback itself. */
static int cb(void *arg)
{
	int who = (int)(long)arg, fwd = 0, rc;
	int msg[3];

	if (who == 1)
		fwd = mode == CHAIN  ? cr_forward_checkpoint(CR_SCOPE_PROC, c1)
		      : mode == TREE ? cr_forward_checkpoint(CR_SCOPE_TREE, 0)
				     : cr_forward_checkpoint(CR_SCOPE_PGRP, c2);
	else if (mode == CHAIN)
		fwd = cr_forward_checkpoint(CR_SCOPE_PROC, c2);
	if (fwd < 0)
		fwd = errno;
	rc = cr_checkpoint(CR_CHECKPOINT_READY);
	msg[0] = who;
	msg[1] = rc;
	msg[2] = fwd;
	if (write(out, msg, sizeof(msg)) < 0)
		_exit(9);
	return 0;
}

static int end_child(pid_t pid)
{
	kill(pid, SIGTERM);
	return lt_code(lt_wait(pid, 10));
}

/* P: its two children, then the request. */
static int parent(void)
{
	struct lt_gate g;
	int rc, err, a, b;

	cr_init();
	cr_register_callback(cb, (void *)1L, CR_SIGNAL_CONTEXT);
	c2 = fork();
	if (c2 == 0) {
		if (mode == GROUP)
			setpgid(0, 0);
		execlp("sleep", "sleep", "1000", (char *)NULL);
		_exit(127);
	}
	if (mode == GROUP)
		setpgid(c2, c2);
	lt_gate_init(&g);
	c1 = fork();
	if (c1 == 0) {
		if (mode == GROUP)
			setpgid(0, c2);
		cr_init();
		cr_register_callback(cb, (void *)2L, CR_SIGNAL_CONTEXT);
		lt_ready(&g, 1);
		for (;;)
			pause();
	}
	if (mode == GROUP)
		setpgid(c1, c2);
	if (lt_await(&g, 10) != 1)
		return 8;
	/* C2 runs sleep by now: its comm says so. */
	for (int i = 0; i < 1000; i++) {
		char path[64], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/comm", c2);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
		}
		if (!strncmp(comm, "sleep", 5))
			break;
		lt_sleep_ms(10);
	}
	rc = lt_request("ctx.fwd", CR_SCOPE_PROC, 0, 0, 0, &err);
	a = end_child(c1);
	b = end_child(c2);
	if (rc == CR_POLL_CHKPT_ERR_POST && err == CR_ERESTARTED)
		return a == 128 + SIGTERM && b == 128 + SIGTERM ? 0 : 5;
	return rc == 1 && a == 128 + SIGTERM && b == 128 + SIGTERM ? 0 : 7;
}

static void run(int m, const char *name)
{
	int p[2], msg[3], seen = 0, code;
	char title[200];
	pid_t pid;

	mode = m;
	unlink("ctx.fwd");
	if (pipe(p) < 0)
		exit(2);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		out = p[1];
		_exit(parent());
	}
	/* p[1] stays open here: cr_restart lends it to the restored processes. */
	while (seen != 3 && lt_read_within(p[0], msg, sizeof(msg), 10)) {
		LT_CHECK(msg[1] == 0, "process %d got %d from cr_checkpoint()", msg[0], msg[1]);
		LT_CHECK(msg[2] == 0, "process %d: cr_forward_checkpoint() failed: %s", msg[0],
			 strerror(msg[2]));
		seen |= msg[0];
	}
	LT_CHECK(seen == 3, "callbacks seen: %d (1 parent, 2 forwarded child)", seen);
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "the parent ended with %d", code);
	LT_CHECK(lt_processes_in("ctx.fwd") == 3, "the context holds %d processes, not the three",
		 lt_processes_in("ctx.fwd"));
	snprintf(title, sizeof(title), "forward (%s): the forwarded processes are saved too", name);
	lt_verdict(title);
	if (lt_failures) {
		close(p[0]);
		close(p[1]);
		return;
	}

	pid = lt_restart_bg("ctx.fwd", NULL);
	seen = 0;
	while (seen != 3 && lt_read_within(p[0], msg, sizeof(msg), 20)) {
		LT_CHECK(msg[1] > 0, "process %d got %d after restart", msg[0], msg[1]);
		seen |= msg[0];
	}
	LT_CHECK(seen == 3, "restart callbacks seen: %d", seen);
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "cr_restart exited %d (the parent's children were not its own?)", code);
	close(p[0]);
	close(p[1]);
	snprintf(title, sizeof(title),
		 "forward (%s): restarted, both children are the parent's again", name);
	lt_verdict(title);
}

/* A forward to a process that ends before the freeze: it is not saved, and the
 * checkpoint says so and succeeds. */
static int gone_cb(void *arg)
{
	int st;

	(void)arg;
	if (cr_forward_checkpoint(CR_SCOPE_PROC, c1) < 0)
		return 0;
	kill(c1, SIGKILL);
	waitpid(c1, &st, 0);
	cr_checkpoint(CR_CHECKPOINT_READY);
	return 0;
}

static void gone(void)
{
	pid_t pid;
	int code;

	unlink("ctx.gone");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int rc, err;

		cr_init();
		cr_register_callback(gone_cb, NULL, CR_SIGNAL_CONTEXT);
		c1 = fork();
		if (c1 == 0) {
			for (;;)
				pause();
		}
		rc = lt_request("ctx.gone", CR_SCOPE_PROC, 0, 0, 0, &err);
		_exit(rc == 1 ? 0 : 6);
	}
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "the checkpoint failed (%d)", code);
	LT_CHECK(lt_processes_in("ctx.gone") == 1, "the context holds %d processes, not one",
		 lt_processes_in("ctx.gone"));
	lt_verdict("forward: a forwarded process gone before the freeze is left out");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	run(CHAIN, "to a child, which forwards to its sibling");
	run(TREE, "to its own tree");
	run(GROUP, "to a process group");
	gone();
	return 0;
}
