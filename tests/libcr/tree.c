/* tree.c: requests over several libcr processes (BLCR's child and stage0003 tests):
 * a parent and its child both run their callbacks when the parent checkpoints its own
 * tree (CR_SCOPE_TREE) through the library, the helper that does the work is not
 * saved, and after a restart both run their restart callbacks, the child is the
 * parent's child again, and the parent's poll sees CR_ERESTARTED. A temporary
 * failure voted by the child cancels the request for both. */
#include <libcr.h>

#include "lt.h"

static int out = -1;
static volatile int mode = CR_CHECKPOINT_READY;

/* Reports "who rc" from the callback itself. */
static int cb(void *arg)
{
	int who = (int)(long)arg, rc = cr_checkpoint(mode);
	int msg[2] = {who, rc};

	if (write(out, msg, sizeof(msg)) < 0)
		_exit(9);
	return 0;
}

/* The parent of the tree: a child with callbacks of its own, then the request. The
 * child answers as child_mode says. */
static int parent(int child_mode)
{
	struct lt_gate g;
	int rc, err, code;
	pid_t child;

	cr_init();
	cr_register_callback(cb, (void *)1L, CR_SIGNAL_CONTEXT);
	lt_gate_init(&g);
	child = fork();
	if (child == 0) {
		cr_init();
		cr_register_callback(cb, (void *)2L, CR_SIGNAL_CONTEXT);
		mode = child_mode;
		lt_ready(&g, 1);
		for (;;)
			pause();
	}
	if (lt_await(&g, 10) != 1)
		return 8;
	rc = lt_request("ctx.tree", CR_SCOPE_TREE, 0, 0, 0, &err);
	if (rc == CR_POLL_CHKPT_ERR_POST && err == CR_ERESTARTED) {
		/* The restarted tree: the child is ours again. */
		kill(child, SIGTERM);
		code = lt_code(lt_wait(child, 10));
		return code == 128 + SIGTERM ? 0 : 5;
	}
	if (child_mode == CR_CHECKPOINT_TEMP_FAILURE) {
		kill(child, SIGKILL);
		lt_wait(child, 10);
		return rc == CR_POLL_CHKPT_ERR_POST && err == CR_ETEMPFAIL ? 0 : 6;
	}
	kill(child, SIGKILL);
	lt_wait(child, 10);
	return rc == 1 ? 0 : 7;
}

static void run(int child_mode)
{
	bool child_temp = child_mode == CR_CHECKPOINT_TEMP_FAILURE;
	bool child_omit = child_mode == CR_CHECKPOINT_OMIT;
	int p[2], msg[2], seen = 0, code;
	pid_t pid;

	if (pipe(p) < 0)
		exit(2);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		out = p[1];
		_exit(parent(child_mode));
	}
	/* p[1] stays open here: cr_restart lends it to the restored processes. */
	while (seen != 3 && lt_read_within(p[0], msg, sizeof(msg), 10)) {
		int want = child_temp                  ? -CR_ETEMPFAIL
			   : child_omit && msg[0] == 2 ? -CR_EOMITTED
						       : 0;

		LT_CHECK(msg[1] == want, "process %d got %d, want %d", msg[0], msg[1], want);
		seen |= msg[0];
	}
	LT_CHECK(seen == 3, "callbacks seen: %d (1 parent, 2 child)", seen);
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "the parent ended with %d", code);
	if (child_omit) {
		LT_CHECK(lt_processes_in("ctx.tree") == 1,
			 "the context holds %d processes, not the "
			 "parent alone",
			 lt_processes_in("ctx.tree"));
		close(p[0]);
		close(p[1]);
		lt_verdict("tree: a child that asks to be left out is not saved");
		return;
	}
	if (child_temp) {
		LT_CHECK(access("ctx.tree", F_OK) == 0, "the destination is the caller's");
		close(p[0]);
		close(p[1]);
		lt_verdict("tree: a temporary failure in the child cancels the tree's request");
		return;
	}
	LT_CHECK(lt_processes_in("ctx.tree") == 2, "the context holds %d processes, not the two",
		 lt_processes_in("ctx.tree"));
	lt_verdict("tree: parent and child run their callbacks (CR_SCOPE_TREE of itself), the "
		   "helper is not saved");

	pid = lt_restart_bg("ctx.tree", NULL);
	seen = 0;
	while (seen != 3 && lt_read_within(p[0], msg, sizeof(msg), 20)) {
		LT_CHECK(msg[1] > 0, "process %d got %d after restart", msg[0], msg[1]);
		seen |= msg[0];
	}
	LT_CHECK(seen == 3, "restart callbacks seen: %d", seen);
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "cr_restart exited %d", code);
	close(p[0]);
	close(p[1]);
	lt_verdict("tree: both restarted, the child is the parent's again");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	run(CR_CHECKPOINT_READY);
	run(CR_CHECKPOINT_TEMP_FAILURE);
	run(CR_CHECKPOINT_OMIT);
	return 0;
}
