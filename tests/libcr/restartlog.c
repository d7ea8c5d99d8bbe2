/* restartlog.c: cr_restart's messages come back through the library (cr_log_restart(),
 * cr_poll_restart_msg()) and never reach the application's stderr, which cr_restart
 * lends to the restored processes.
 *
 * A restart that fails (the saved pid is taken, as in librestart.c) gives a log that
 * names the pid "in use": its size with len 0, a copy cut to len - 1 bytes and a NUL,
 * the same text each time it is asked, the same from cr_poll_restart_msg(); the
 * requester's stderr stays empty. A restart that succeeds brings back a tree whose
 * processes had, at checkpoint, a descriptor at the number libcr gives cr_restart's
 * result pipe, which led outside the checkpoint: the request ends while they run, none
 * of them holds the pipe, and their stderr (a file) holds their own line and nothing
 * else. A handle that is not one is EINVAL. */
#include <libcr.h>

#include "lt.h"

#include <dirent.h>
#include <sys/stat.h>

#define EXT_FD 1000 /* where a fresh requester's libcr puts cr_restart's result pipe */

/* Make fd a new file of that name. */
static void to_file(int fd, const char *name)
{
	int f = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (f < 0 || dup2(f, fd) < 0) {
		perror(name);
		exit(2);
	}
	close(f);
}

/* The whole of a small file, NUL-terminated; "" if it cannot be read. */
static void slurp(const char *name, char *buf, size_t n)
{
	int fd = open(name, O_RDONLY);
	ssize_t r = fd < 0 ? -1 : read(fd, buf, n - 1);

	buf[r > 0 ? r : 0] = '\0';
	if (fd >= 0)
		close(fd);
}

/* ---- a restart that fails ---- */

static int failing(void)
{
	const char *opts[] = {"--pid", "-f", "ctx.busy", NULL};
	char *full = NULL, *again = NULL, *msg = NULL, small[8], one[1], want[32], err[256];
	cr_restart_handle_t h;
	cr_restart_args_t a;
	struct timeval tv = {LT_TIMEOUT, 0};
	int fd, rc, n = 0, e;
	pid_t holder;

	holder = fork();
	if (holder == 0) {
		for (;;)
			pause();
	}
	/* A context of the holder itself, which still runs: its pid is taken. */
	LT_CHECK(lt_checkpoint(holder, opts) == 0, "checkpoint of the holder");
	to_file(2, "err.busy");
	fd = open("ctx.busy", O_RDONLY);
	cr_initialize_restart_args_t(&a);
	a.cr_fd = fd;
	LT_CHECK(cr_request_restart(&a, &h) == 0, "request: %s", strerror(errno));
	rc = cr_wait_restart(&h, &tv);
	LT_CHECK(rc == 1, "wait %d errno %d", rc, errno);
	if (rc == 1)
		n = cr_log_restart(&h, 0, NULL);
	LT_CHECK(n > 1, "cr_log_restart(len 0) %d errno %d: no messages", n, errno);
	if (n > 1) {
		full = malloc((size_t)n + 1);
		again = malloc((size_t)n);
	}
	if (full && again) {
		memset(full, 'x', (size_t)n + 1);
		rc = cr_log_restart(&h, (unsigned int)n, full);
		LT_CHECK(rc == n && full[n - 1] == '\0' && strlen(full) == (size_t)n - 1,
			 "cr_log_restart(len %d) %d, %zu bytes", n, rc, strlen(full));
		LT_CHECK(full[n] == 'x', "written past len");
		printf("  the log: %s", full);
		snprintf(want, sizeof(want), "pid %d ", (int)holder);
		LT_CHECK(strstr(full, want) && strstr(full, "in use"),
			 "the log does not say that pid %d is in use", (int)holder);
		/* Cut: len - 1 bytes and a NUL, the size needed all the same. */
		memset(small, 'x', sizeof(small));
		rc = cr_log_restart(&h, sizeof(small), small);
		LT_CHECK(rc == n && small[sizeof(small) - 1] == '\0' &&
			     !memcmp(small, full, sizeof(small) - 1),
			 "cr_log_restart(len %zu) %d '%.8s'", sizeof(small), rc, small);
		one[0] = 'x';
		rc = cr_log_restart(&h, 1, one);
		LT_CHECK(rc == n && one[0] == '\0', "cr_log_restart(len 1) %d '%c'", rc, one[0]);
		/* Reading it leaves it there. */
		rc = cr_log_restart(&h, (unsigned int)n, again);
		LT_CHECK(rc == n && !strcmp(again, full), "asked again: %d '%s'", rc, again);
	}
	rc = cr_poll_restart_msg(&h, NULL, &msg);
	e = errno;
	LT_CHECK(rc == CR_POLL_RSTRT_ERR_POST && e == EBUSY, "poll %d errno %d", rc, e);
	LT_CHECK(msg && full && !strcmp(msg, full), "poll's log '%s'", msg ? msg : "(none)");
	LT_CHECK(h == 0, "the handle is not cleared");
	errno = 0;
	rc = cr_log_restart(&h, 0, NULL);
	LT_CHECK(rc == -1 && errno == EINVAL, "log of a reaped handle %d errno %d", rc, errno);
	slurp("err.busy", err, sizeof(err));
	LT_CHECK(err[0] == '\0', "on the requester's stderr: %s", err);
	free(msg);
	free(full);
	free(again);
	close(fd);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	return lt_verdict("restartlog: a failed restart's messages (pid in use) in cr_log_restart "
			  "and cr_poll_restart_msg, none on stderr");
}

/* ---- a restart that succeeds ---- */

/* A tree (the subject and its child) that checkpoints itself, each holding the write
 * end of the caller's pipe at EXT_FD and as stderr. The restored subject says so on stderr, writes
 * both pids to up.ok and waits to be killed. */
static int subject(int ext)
{
	pid_t child;
	int rc, err;
	FILE *f;

	/* stderr too: a pipe leading outside is lent at restart (a file would be opened
	 * again by its path). */
	if (dup2(ext, EXT_FD) < 0 || dup2(ext, 2) < 0)
		return 2;
	close(ext);
	child = fork();
	if (child == 0) {
		for (;;)
			pause();
	}
	cr_init();
	rc = lt_request("ctx.ok", CR_SCOPE_TREE, 0, 0, 0, &err);
	if (rc == CR_POLL_CHKPT_ERR_POST && err == CR_ERESTARTED) {
		static const char line[] = "restored\n";

		if (write(2, line, sizeof(line) - 1) < 0)
			return 3;
		f = fopen("up.tmp", "w");
		if (!f)
			return 3;
		fprintf(f, "%d %d\n", (int)getpid(), (int)child);
		fclose(f);
		rename("up.tmp", "up.ok");
		for (;;)
			pause();
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return rc == 1 ? 0 : 4;
}

/* The inode of the pipe this process has at a descriptor above those in had[], 0 if
 * none. */
static unsigned long new_pipe(const bool *had, int max)
{
	unsigned long ino = 0;
	char path[64], link[64];

	for (int fd = 0; fd < max; fd++) {
		ssize_t n;

		if (had[fd])
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "pipe:[%lu]", &ino) == 1)
			return ino;
	}
	return 0;
}

/* Whether pid has the pipe of that inode open. */
static bool holds(pid_t pid, unsigned long ino)
{
	char path[64], link[64], want[40];
	struct dirent *de;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof(want), "pipe:[%lu]", ino);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		char fd_path[64 + sizeof(de->d_name)];
		ssize_t n;

		snprintf(fd_path, sizeof(fd_path), "%s/%s", path, de->d_name);
		n = readlink(fd_path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (!strcmp(link, want)) {
			printf("  pid %d holds the result pipe at %s\n", (int)pid, de->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

static int succeeding(void)
{
	static bool had[2 * EXT_FD];
	char *msg = NULL, err[256];
	cr_restart_handle_t h;
	cr_restart_args_t a;
	struct timeval tv = {LT_TIMEOUT, 0};
	int fd, rc, pids[2] = {0, 0};
	unsigned long ino;
	FILE *f = NULL;

	/* Nothing of ours at EXT_FD: libcr gives cr_restart the pipe there. */
	LT_CHECK(fcntl(EXT_FD, F_GETFD) < 0, "descriptor %d is open", EXT_FD);
	to_file(2, "err.ok");
	fd = open("ctx.ok", O_RDONLY);
	for (int i = 0; i < 2 * EXT_FD; i++)
		had[i] = fcntl(i, F_GETFD) >= 0;
	cr_initialize_restart_args_t(&a);
	a.cr_fd = fd;
	LT_CHECK(cr_request_restart(&a, &h) == 0, "request: %s", strerror(errno));
	ino = new_pipe(had, 2 * EXT_FD);
	LT_CHECK(ino != 0, "no result pipe in the requester");
	/* If a restored process held the pipe's write end, this would wait for it. */
	rc = cr_poll_restart_msg(&h, &tv, &msg);
	LT_CHECK(rc > 0, "poll %d errno %d (%s)", rc, errno, cr_strerror(errno));
	close(fd);
	/* Even when the poll failed, the processes may run: find them to end them. */
	for (int i = 0; i < 3000 && !f; i++) {
		f = fopen("up.ok", "r");
		if (!f)
			lt_sleep_ms(10);
	}
	LT_CHECK(f && fscanf(f, "%d %d", &pids[0], &pids[1]) == 2, "the subject did not run");
	if (f)
		fclose(f);
	if (rc <= 0) {
		for (int i = 1; i >= 0; i--)
			if (pids[i] > 0)
				kill(pids[i], SIGKILL);
		if (pids[0] > 0)
			lt_wait(pids[0], 10);
		return lt_verdict("restartlog: a restart that succeeds");
	}
	LT_CHECK(pids[0] == rc, "pid %d, poll said %d", pids[0], rc);
	for (int i = 0; i < 2; i++)
		LT_CHECK(pids[i] > 0 && !holds(pids[i], ino),
			 "restored process %d holds cr_restart's result pipe", pids[i]);
	slurp("err.ok", err, sizeof(err));
	LT_CHECK(!strcmp(err, "restored\n"), "the restored processes' stderr: '%s' (log '%s')", err,
		 msg ? msg : "");
	if (pids[1] > 0)
		kill(pids[1], SIGKILL);
	kill(rc, SIGKILL);
	lt_wait(rc, 10);
	free(msg);
	return lt_verdict("restartlog: restored processes hold neither cr_restart's result pipe "
			  "nor its messages on stderr");
}

/* ---- not a handle ---- */

static void bad_handle(void)
{
	cr_restart_handle_t bad = 12345;
	char buf[16], *msg = NULL;
	int rc;

	errno = 0;
	rc = cr_log_restart(&bad, sizeof(buf), buf);
	LT_CHECK(rc == -1 && errno == EINVAL, "cr_log_restart %d errno %d", rc, errno);
	errno = 0;
	rc = cr_log_restart(NULL, 0, NULL);
	LT_CHECK(rc == -1 && errno == EINVAL, "cr_log_restart(NULL) %d errno %d", rc, errno);
	errno = 0;
	rc = cr_poll_restart_msg(&bad, NULL, &msg);
	LT_CHECK(rc == CR_POLL_RSTRT_ERR_PRE && errno == EINVAL, "cr_poll_restart_msg %d errno %d",
		 rc, errno);
	if (lt_verdict("restartlog: a bad handle is EINVAL"))
		lt_failures = 1;
}

int main(void)
{
	int p[2], code, bad;
	pid_t pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	bad_handle();
	bad = lt_failures;
	pid = fork();
	if (pid == 0)
		_exit(failing());
	bad |= lt_code(lt_wait(pid, 2 * LT_TIMEOUT)) != 0;

	/* The subject's pipe leads here, outside the checkpoint; kept open to the end. */
	if (pipe(p) < 0)
		return 2;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		_exit(subject(p[1]));
	}
	close(p[1]);
	code = lt_code(lt_wait(pid, LT_TIMEOUT));
	LT_CHECK(code == 0, "the subject exited %d", code);
	if (code != 0) {
		lt_verdict("restartlog: the subject checkpointed itself");
		return 1;
	}
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(succeeding());
	bad |= lt_code(lt_wait(pid, 2 * LT_TIMEOUT)) != 0;
	close(p[0]);
	return bad ? 1 : 0;
}
