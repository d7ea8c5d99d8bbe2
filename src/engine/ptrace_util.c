/* ptrace_util.c: waiting for ptrace stops under a deadline. */
#include "ptrace_util.h"

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "banned.h"

volatile sig_atomic_t ptu_deadline_hit;

static void on_alarm(int sig)
{
	(void)sig;
	ptu_deadline_hit = 1;
}

int ptu_set_deadline(unsigned int secs)
{
	struct sigaction sa;

	ptu_deadline_hit = 0;
	if (secs == 0) {
		alarm(0);
		return 0;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm; /* no SA_RESTART: a blocked waitpid returns EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		return -errno;
	alarm(secs);
	return 0;
}

int ptu_wait(pid_t tid, int *ret_status)
{
	int st;

	for (;;) {
		pid_t r;

		if (ptu_deadline_hit)
			return -ETIMEDOUT;
		r = waitpid(tid, &st, __WALL);
		if (r == tid) {
			*ret_status = st;
			return 0;
		}
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : -ECHILD;
	}
}
