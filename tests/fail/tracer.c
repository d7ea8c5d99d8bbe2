/* tracer: a ptrace tracer (or a process with a thread to trace), for the ptrace
 * policy tests (tests/fail/ptrace.sh). No debugger needed.
 *
 *   tracer seize PID          trace PID (its leader thread) with PTRACE_SEIZE
 *   tracer seize-thread PID   trace one thread of PID that is not its leader
 *   tracer threads COUNT      a target: two threads, counting into COUNT as
 *                             tests/fail/counter does
 *
 * A tracer writes "READY tid" on stdout once it traces, then runs until killed,
 * resuming its tracee from every stop (passing signals on), so that the tracee runs
 * on as if untraced. It never stops the tracee itself (PTRACE_SEIZE, no interrupt). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

static int threads(const char *count)
{
	struct timespec ts = {0, 2 * 1000 * 1000};
	pthread_t t;
	uint64_t n = 0;
	int fd = open(count, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || pthread_create(&t, NULL, sleeper, NULL))
		return 2;
	for (;;) {
		char line[32];

		snprintf(line, sizeof(line), "%020llu\n", (unsigned long long)++n);
		if (pwrite(fd, line, 21, 0) != 21)
			return 4;
		nanosleep(&ts, NULL);
	}
}

/* A thread of pid other than its leader, or 0. */
static pid_t other_thread(pid_t pid)
{
	char path[64];
	struct dirent *de;
	pid_t tid = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	while (d && (de = readdir(d)) && !tid) {
		long t = strtol(de->d_name, NULL, 10);

		if (t > 0 && t != pid)
			tid = (pid_t)t;
	}
	if (d)
		closedir(d);
	return tid;
}

static int trace(pid_t tid)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) < 0) {
		printf("ERROR seize %d: %s\n", tid, strerror(errno));
		return 2;
	}
	printf("READY %d\n", tid);
	fflush(stdout);
	for (;;) {
		int st;
		pid_t w = waitpid(tid, &st, __WALL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 || WIFEXITED(st) || WIFSIGNALED(st))
			return 0;
		if (!WIFSTOPPED(st))
			continue;
		if (st >> 16 == PTRACE_EVENT_STOP) {
			/* A group stop: let the tracee sit in it as it would untraced. */
			ptrace(PTRACE_LISTEN, tid, NULL, NULL);
			continue;
		}
		/* A signal for the tracee: deliver it. */
		ptrace(PTRACE_CONT, tid, NULL, (void *)(long)WSTOPSIG(st));
	}
}

int main(int argc, char **argv)
{
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: tracer seize|seize-thread PID | tracer threads COUNT\n");
		return 2;
	}
	if (!strcmp(argv[1], "threads"))
		return threads(argv[2]);
	pid = (pid_t)strtol(argv[2], NULL, 10);
	if (!strcmp(argv[1], "seize"))
		return trace(pid);
	if (!strcmp(argv[1], "seize-thread")) {
		pid_t tid = other_thread(pid);

		if (!tid) {
			printf("ERROR %d has no second thread\n", pid);
			return 2;
		}
		return trace(tid);
	}
	fprintf(stderr, "tracer: unknown mode %s\n", argv[1]);
	return 2;
}
