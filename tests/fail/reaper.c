/* reaper: run a command as a child subreaper and report what it leaves behind.
 *
 *   reaper SECONDS COMMAND [ARGS...]
 *
 * Runs COMMAND and waits for it. Processes it started and left (orphans, such as a
 * restored process a failed cr_restart did not clean up) become reaper's children;
 * once COMMAND has ended, reaper gives them SECONDS to end by themselves, then prints
 * "LEFT pid comm" for each still there on stderr, kills and reaps them. Exits as
 * COMMAND did (128 + signal if it was killed), or 125 if anything was left or it
 * could not run COMMAND. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void comm_of(pid_t pid, char *buf, size_t n)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	buf[0] = '\0';
	f = fopen(path, "r");
	if (f) {
		if (fgets(buf, (int)n, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
}

/* Our children that are not yet reaped, as listed by /proc. */
static int list_children(pid_t *out, int max)
{
	char path[64], buf[4096];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", getpid(), getpid());
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		for (char *tok = strtok(buf, " \n"); tok && n < max; tok = strtok(NULL, " \n"))
			out[n++] = (pid_t)atoi(tok);
	}
	fclose(f);
	return n;
}

int main(int argc, char **argv)
{
	struct timespec tick = {0, 20 * 1000 * 1000};
	pid_t child, kids[256];
	int st, cst = 0, secs, left = 0, n;

	if (argc < 3) {
		fprintf(stderr, "usage: reaper SECONDS COMMAND [ARGS...]\n");
		return 125;
	}
	secs = atoi(argv[1]);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		perror("reaper: PR_SET_CHILD_SUBREAPER");
		return 125;
	}
	child = fork();
	if (child < 0)
		return 125;
	if (child == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "reaper: cannot run %s: %s\n", argv[2], strerror(errno));
		_exit(125);
	}
	while (waitpid(child, &cst, 0) < 0)
		if (errno != EINTR)
			return 125;
	/* Orphans that end by themselves within the grace time are fine. */
	for (int i = 0; i < secs * 50; i++) {
		while (waitpid(-1, &st, WNOHANG) > 0)
			;
		if (list_children(kids, 256) == 0)
			break;
		nanosleep(&tick, NULL);
	}
	n = list_children(kids, 256);
	for (int i = 0; i < n; i++) {
		char comm[64];

		comm_of(kids[i], comm, sizeof(comm));
		fprintf(stderr, "LEFT %d %s\n", kids[i], comm);
		kill(kids[i], SIGKILL);
		left++;
	}
	while (waitpid(-1, &st, 0) > 0)
		;
	if (left)
		return 125;
	return WIFEXITED(cst) ? WEXITSTATUS(cst) : 128 + WTERMSIG(cst);
}
