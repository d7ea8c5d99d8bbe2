/* seize.c: freezing a process from outside with ptrace, and letting it go. */
#define LOG_PREFIX "seize: "
#include "seize.h"

#include "err.h"
#include "log.h"
#include "ptrace_util.h"
#include "../util/buf.h"
#include "../util/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "banned.h"

struct seized_thread *seize_find(struct seize_set *s, pid_t tid)
{
	for (uint32_t i = 0; i < s->nth; i++)
		if (s->th[i].tid == tid)
			return &s->th[i];
	return NULL;
}

static void forget(struct seize_set *s, pid_t tid)
{
	for (uint32_t i = 0; i < s->nth; i++) {
		if (s->th[i].tid == tid) {
			s->th[i] = s->th[--s->nth];
			return;
		}
	}
}

/* Wait until tid sits in an interrupt or group stop. Signals that arrive first are
 * delivered as they would have been without us. Returns 0, 1 if the thread is gone,
 * or -errno. */
static int wait_interrupt_stop(struct seize_set *s, pid_t tid, struct err *err)
{
	for (int tries = 0; tries < 1000; tries++) {
		int st, rc, sig;

		rc = ptu_wait(tid, &st);
		if (rc == -ECHILD || rc == -ESRCH)
			return 1;
		if (rc < 0)
			return err_code(err, rc, "waiting for thread %d of pid %d to stop", tid,
					s->pid);
		if (WIFEXITED(st) || WIFSIGNALED(st))
			return 1;
		if (!WIFSTOPPED(st))
			continue;
		sig = WSTOPSIG(st);
		if (ptu_event(st) == PTRACE_EVENT_STOP) {
			if (sig != SIGTRAP)
				s->stopped = true; /* group stop */
			return 0;
		}
		/* A signal-delivery stop: let the signal through and wait again; the
		 * interrupt is still pending and comes next. */
		log_debug("thread %d: passing signal %d on while freezing", tid, sig);
		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig) < 0 && errno != ESRCH)
			return err_sys(err, "cannot resume thread %d of pid %d", tid, s->pid);
	}
	return err_set(err, -EBUSY, "thread %d of pid %d does not stay stopped", tid, s->pid);
}

/* Is thread tid of pid gone, or a zombie (exited, not yet released)? */
static bool thread_exited(pid_t pid, pid_t tid)
{
	struct proc_stat st;

	return procfs_stat(pid, tid, &st) < 0 || st.state == 'Z' || st.state == 'X';
}

static int seize_thread(struct seize_set *s, pid_t tid, struct err *err)
{
	struct seized_thread *t;
	void *p;

	p = realloc(s->th, ((size_t)s->nth + 1) * sizeof(*s->th));
	if (!p)
		return err_set(err, -ENOMEM, "out of memory seizing pid %d", s->pid);
	s->th = p;
	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD) < 0) {
		if (errno == ESRCH)
			return 1; /* exited meanwhile */
		/* A thread that has exited but is still listed refuses with EPERM. */
		if (errno == EPERM && thread_exited(s->pid, tid))
			return 1;
		if (errno == EPERM)
			return err_sys(err, "cannot trace thread %d of pid %d (already traced, or "
					    "not permitted)",
				       tid, s->pid);
		return err_sys(err, "cannot seize thread %d of pid %d", tid, s->pid);
	}
	t = &s->th[s->nth++];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0 && errno != ESRCH)
		return err_sys(err, "cannot interrupt thread %d of pid %d", tid, s->pid);
	return 0;
}

/* One pass over /proc/PID/task: seize threads not seen yet. Returns how many were
 * new, or -errno. */
static int scan_tasks(struct seize_set *s, struct err *err)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int added = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", s->pid);
	d = opendir(path);
	if (!d) {
		if (errno == ENOENT)
			return err_set(err, -ESRCH, "pid %d: no such process", s->pid);
		return err_sys(err, "cannot list the threads of pid %d", s->pid);
	}
	while ((de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);
		int rc;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end)
			continue;
		if (seize_find(s, (pid_t)tid))
			continue;
		rc = seize_thread(s, (pid_t)tid, err);
		if (rc < 0) {
			closedir(d);
			return rc;
		}
		if (rc == 0) {
			rc = wait_interrupt_stop(s, (pid_t)tid, err);
			if (rc < 0) {
				closedir(d);
				return rc;
			}
			if (rc == 1)
				forget(s, (pid_t)tid);
			else
				added++;
		}
	}
	closedir(d);
	return added;
}

int seize_proc(struct seize_set *s, pid_t pid, struct err *err)
{
	int rc, passes = 0;

	memset(s, 0, sizeof(*s));
	s->pid = pid;
	/* New threads can only come from threads still running: once a pass finds
	 * nothing new, every thread is stopped. */
	do {
		rc = scan_tasks(s, err);
		if (rc < 0)
			goto fail;
		if (++passes > 1000) {
			rc = err_set(err, -EBUSY, "pid %d keeps creating threads", pid);
			goto fail;
		}
	} while (rc > 0);
	if (!seize_find(s, pid)) {
		rc = err_set(err, -ESRCH, "pid %d exited while being frozen", pid);
		goto fail;
	}
	log_debug("pid %d: %u threads frozen%s", pid, s->nth, s->stopped ? " (stopped)" : "");
	return 0;
fail:
	seize_release(s, 0);
	return rc;
}

void seize_release(struct seize_set *s, int sig)
{
	struct err e = {0};

	for (uint32_t i = 0; i < s->nth; i++) {
		struct seized_thread *t = &s->th[i];

		if (t->dirty) {
			err_clear(&e);
			if (arch_set_regs(t->tid, &t->regs, &e) < 0)
				log_warn("%s", e.msg);
			if (ptrace(PTRACE_SETSIGMASK, t->tid, (void *)sizeof(t->sigmask),
				   &t->sigmask) < 0)
				log_warn("cannot put back the signal mask of thread %d: %s", t->tid,
					 strerror(errno));
		}
	}
	/* Sent while still frozen: the process runs no instruction past the image. */
	if (sig > 0 && s->nth > 0)
		kill(s->pid, sig);
	for (uint32_t i = 0; i < s->nth; i++) {
		struct seized_thread *t = &s->th[i];

		if (ptrace(PTRACE_DETACH, t->tid, NULL, NULL) < 0 && errno != ESRCH)
			log_warn("cannot detach thread %d: %s", t->tid, strerror(errno));
	}
	for (int i = 0; i < s->nlate; i++)
		kill(s->pid, s->late_sigs[i]);
	free(s->th);
	s->th = NULL;
	s->nth = 0;
}
