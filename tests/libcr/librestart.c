/* librestart.c: restart through the library (cr_request_restart / cr_poll_restart),
 * as BLCR's CRUT wrapper and pid_restore test do, with each of the 8 combinations of
 * CR_RSTRT_RESTORE_PID, _PGID and _SID.
 *
 * The subject leads a session of its own, checkpoints itself and exits. For each
 * combination a restarter in a new process group of its own asks for the restart;
 * the restored process must be its child (cr_poll_restart() returns its pid, waitpid()
 * reaps it) and, as it runs on from its checkpoint, writes its pid, parent, group and
 * session to a file. Saved ids come back where asked; otherwise the pid is a new one
 * and the group and session are the restarter's. cr_log_restart() and a restart
 * that fails (EBUSY: the pid is taken) are checked too. */
#include <libcr.h>

#include "lt.h"

static pid_t saved_pid;

static int subject(void)
{
	int rc, err;

	if (setsid() < 0)
		return 2;
	cr_init();
	rc = lt_request("ctx.lr", CR_SCOPE_PROC, 0, 0, 0, &err);
	if (rc == CR_POLL_CHKPT_ERR_POST && err == CR_ERESTARTED) {
		FILE *f = fopen("ids.lr", "w");

		if (!f)
			return 3;
		fprintf(f, "%d %d %d %d\n", (int)syscall(SYS_getpid), (int)getppid(),
			(int)getpgrp(), (int)getsid(0));
		fclose(f);
		return 0;
	}
	return rc == 1 ? 0 : 4;
}

/* What Linux cannot do: a session leader always leads its own process group, so a
 * session restored with its leader's pid cannot keep the restarter's group. That
 * restart fails with EINVAL and nothing is made. */
static bool impossible(unsigned int flags)
{
	unsigned int leader = CR_RSTRT_RESTORE_PID | CR_RSTRT_RESTORE_SID;

	return (flags & leader) == leader && !(flags & CR_RSTRT_RESTORE_PGID);
}

/* One restart through the library, from a restarter in a new group. */
static int restarter(unsigned int flags, const char *name)
{
	cr_restart_args_t a;
	cr_restart_handle_t h;
	int fd, rc, st, ids[4] = {0};
	unsigned int got;
	pid_t me = getpid();
	FILE *f;

	setpgid(0, 0);
	unlink("ids.lr");
	fd = open("ctx.lr", O_RDONLY);
	cr_initialize_restart_args_t(&a);
	a.cr_fd = fd;
	a.cr_flags = flags;
	LT_CHECK(cr_request_restart(&a, &h) == 0, "request: %s", strerror(errno));
	rc = cr_poll_restart(&h, NULL);
	if (impossible(flags)) {
		int e = errno;

		close(fd);
		LT_CHECK(rc < 0 && e == EINVAL, "poll %d errno %d (%s), not EINVAL", rc, e,
			 cr_strerror(e));
		LT_CHECK(access("ids.lr", F_OK) < 0, "the subject ran");
		return lt_verdict(name);
	}
	LT_CHECK(rc > 0, "poll %d errno %d (%s)", rc, errno, cr_strerror(errno));
	close(fd);
	if (rc <= 0)
		return lt_verdict(name);
	st = lt_wait(rc, 30);
	LT_CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		 "the restored process %d is not our child, or failed (%x)", rc, st);
	f = fopen("ids.lr", "r");
	LT_CHECK(f && fscanf(f, "%d %d %d %d", &ids[0], &ids[1], &ids[2], &ids[3]) == 4,
		 "no ids written");
	if (f)
		fclose(f);
	LT_CHECK(ids[0] == rc, "pid %d, poll said %d", ids[0], rc);
	LT_CHECK(ids[1] == me, "parent %d, we are %d", ids[1], (int)me);
	if (lt_failures)
		return lt_verdict(name);
	/* BLCR's pid_restore: exactly the ids asked for are the saved ones (the saved
	 * pid, group and session are all the subject's pid). */
	got = (ids[0] == saved_pid ? CR_RSTRT_RESTORE_PID : 0) |
	      (ids[2] == saved_pid ? CR_RSTRT_RESTORE_PGID : 0) |
	      (ids[3] == saved_pid ? CR_RSTRT_RESTORE_SID : 0);
	LT_CHECK(got == flags, "saved ids 0x%x, asked for 0x%x (pid %d group %d session %d)", got,
		 flags, ids[0], ids[2], ids[3]);
	if (!(flags & CR_RSTRT_RESTORE_PGID) && !(flags & CR_RSTRT_RESTORE_SID))
		LT_CHECK(ids[2] == me, "group %d, not the restarter's", ids[2]);
	if (!(flags & CR_RSTRT_RESTORE_SID))
		LT_CHECK(ids[3] == getsid(0), "session %d, not the restarter's", ids[3]);
	return lt_verdict(name);
}

/* A restart that fails: its pid is taken. The error and the log come back. */
static int busy(void)
{
	cr_restart_args_t a;
	cr_restart_handle_t h;
	char *msg = NULL;
	int fd, rc, e;
	pid_t holder;

	holder = fork();
	if (holder == 0) {
		pause();
		_exit(0);
	}
	/* The holder has some pid; this context's pid is taken only if it is the
	 * holder's: make a context of the holder itself. */
	{
		const char *opts[] = {"--pid", "-f", "ctx.busy", NULL};

		LT_CHECK(lt_checkpoint(holder, opts) == 0, "checkpoint of the holder");
	}
	fd = open("ctx.busy", O_RDONLY);
	cr_initialize_restart_args_t(&a);
	a.cr_fd = fd;
	LT_CHECK(cr_request_restart(&a, &h) == 0, "request");
	rc = cr_poll_restart_msg(&h, NULL, &msg);
	e = errno;
	LT_CHECK(rc == CR_POLL_RSTRT_ERR_POST && e == EBUSY, "poll %d errno %d", rc, e);
	free(msg);
	close(fd);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	return lt_verdict("librestart: a taken pid fails with EBUSY");
}

int main(void)
{
	pid_t pid;
	int code;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pid = fork();
	if (pid == 0)
		_exit(subject());
	saved_pid = pid;
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "the subject exited %d", code);
	lt_verdict("librestart: the subject checkpointed itself");
	for (unsigned int c = 0; c < 8; c++) {
		unsigned int flags = ((c & 1) ? CR_RSTRT_RESTORE_PID : 0) |
				     ((c & 2) ? CR_RSTRT_RESTORE_PGID : 0) |
				     ((c & 4) ? CR_RSTRT_RESTORE_SID : 0);
		char name[128];

		snprintf(name, sizeof(name), "librestart: %s pid, %s pgid, %s sid",
			 (c & 1) ? "restore" : "new", (c & 2) ? "restore" : "join",
			 (c & 4) ? "restore" : "join");
		fflush(stdout);
		pid = fork();
		if (pid == 0)
			_exit(restarter(flags, name));
		lt_wait(pid, LT_TIMEOUT);
	}
	pid = fork();
	if (pid == 0)
		_exit(busy());
	lt_wait(pid, LT_TIMEOUT);
	return 0;
}
