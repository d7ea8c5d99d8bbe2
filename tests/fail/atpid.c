/* atpid: run a program at a chosen pid, to test a restart onto a pid that is taken.
 *
 *   atpid PID PROGRAM [ARGS...]
 *
 * Creates a child with clone3(set_tid = PID) (root only) that execs PROGRAM, then
 * waits for it and exits as it did (128 + signal if it was killed). Exit 125 if the
 * pid could not be had (taken, or not allowed), with a message. */
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct clone_args ca;
	pid_t want, child;
	char *end;
	int st;

	if (argc < 3) {
		fprintf(stderr, "usage: atpid PID PROGRAM [ARGS...]\n");
		return 125;
	}
	want = (pid_t)strtol(argv[1], &end, 10);
	if (*end || want <= 1) {
		fprintf(stderr, "atpid: bad pid '%s'\n", argv[1]);
		return 125;
	}
	memset(&ca, 0, sizeof(ca));
	ca.exit_signal = SIGCHLD;
	ca.set_tid = (uint64_t)(uintptr_t)&want;
	ca.set_tid_size = 1;
	child = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
	if (child < 0) {
		fprintf(stderr, "atpid: cannot create pid %d: %s\n", want, strerror(errno));
		return 125;
	}
	if (child == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "atpid: cannot run %s: %s\n", argv[2], strerror(errno));
		_exit(125);
	}
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			return 125;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
