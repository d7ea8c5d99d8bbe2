/* ptrace_util.h: waiting for ptrace stops, with the request's deadline. */
#ifndef CREST_PTRACE_UTIL_H
#define CREST_PTRACE_UTIL_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

struct err;

/* Set from a signal handler when the request's time limit (-t) has passed; a blocked
 * wait then fails with -ETIMEDOUT. */
extern volatile sig_atomic_t ptu_deadline_hit;
/* Arm the deadline in seconds from now (0: none). Uses SIGALRM. */
int ptu_set_deadline(unsigned int secs);

/* Wait for tid to stop or die. Returns 0 with *ret_status, or -errno
 * (-ETIMEDOUT after the deadline). */
int ptu_wait(pid_t tid, int *ret_status);

/* Stop kinds of a waitpid status under PTRACE_SEIZE. */
static inline int ptu_event(int status)
{
	return (status >> 16) & 0xff;
}

#endif
