/* scope.c: the processes of a request, frozen together (see scope.h). */
#define LOG_PREFIX "scope: "
#include "scope.h"

#include "checkpoint.h"
#include "err.h"
#include "log.h"
#include "../util/buf.h"
#include "../util/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "banned.h"

#define MAX_PROCS 65536

static bool in_scope(const struct scope *s, pid_t pid)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->p[i].pid == pid)
			return true;
	return false;
}

static struct scope_proc *add(struct scope *s, pid_t pid, struct err *err)
{
	struct scope_proc *n;

	if (s->n >= MAX_PROCS) {
		err_set(err, -E2BIG, "more than %d processes in the checkpoint", MAX_PROCS);
		return NULL;
	}
	n = realloc(s->p, ((size_t)s->n + 1) * sizeof(*n));
	if (!n) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	s->p = n;
	memset(&s->p[s->n], 0, sizeof(s->p[s->n]));
	s->p[s->n].pid = pid;
	return &s->p[s->n++];
}

/* A running cr_restart met in a scope is left out or not as its --omit-* option
 * says (BLCR): always, never, or (maybe, the default) when it is the target itself
 * or an orphan. Its restored processes below it are saved either way. */
static bool omit_restarter(pid_t pid, bool is_target, const struct proc_stat *st)
{
	char path[64];
	struct buf b;
	int policy = 'm';

	if (strcmp(st->comm, "cr_restart"))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	buf_init(&b);
	if (buf_read_file(&b, path) == 0) {
		for (size_t at = 0; at < b.len; at += strlen((char *)b.data + at) + 1) {
			const char *arg = (char *)b.data + at;

			if (!strcmp(arg, "--"))
				break;
			/* getopt_long takes any unambiguous prefix: --omit-a, --omit-n... */
			if (!strncmp(arg, "--omit-", 7) && arg[7])
				policy = arg[7];
		}
	}
	buf_fini(&b);
	if (policy == 'a')
		return true;
	if (policy == 'n')
		return false;
	return is_target || st->f[4] == 1;
}

/* Take pid into the scope: frozen, or kept as a zombie. Returns 1 if taken, 0 if left
 * out (gone, a zombie whose parent is not in the scope, a process the policy skips),
 * 2 for a cr_restart left out whose children are still to be looked at, 3 if it is
 * in the scope already, or -errno. */
static int take(struct scope *s, const struct ckpt_request *req, pid_t pid, bool is_target,
		struct err *err)
{
	struct ckpt_request one = *req;
	struct proc_stat st;
	struct scope_proc *sp;
	int rc, tries = 0;

	if (pid == getpid())
		return 0;
	if (in_scope(s, pid))
		return 3;
again:
	if (procfs_stat(pid, 0, &st) < 0)
		return is_target ? err_set(err, -ESRCH, "no process %d", pid) : 0;
	if (st.state == 'Z' || st.state == 'X') {
		if (is_target)
			return err_set(err, -ESRCH, "pid %d has exited (zombie)", pid);
		if (!in_scope(s, (pid_t)st.f[4])) {
			kmsg_add(KMSG_WARN, "pid %d is a zombie whose parent is not checkpointed, "
					    "left out",
				 pid);
			return 0;
		}
		sp = add(s, pid, err);
		if (!sp)
			return err->code;
		sp->zombie = true;
		return 1;
	}
	if (omit_restarter(pid, is_target, &st)) {
		kmsg_add(KMSG_WARN, "pid %d (cr_restart) left out", pid);
		return 2;
	}
	one.pid = pid;
	rc = checkpoint_admit(&one, err);
	/* It exited just now: a zombie of a frozen parent stays one, look again. */
	if (rc == -ESRCH && !is_target && tries++ == 0) {
		err_clear(err);
		goto again;
	}
	if (rc < 0)
		return rc;
	if (rc > 0)
		return 0; /* the policy leaves it out */
	sp = add(s, pid, err);
	if (!sp)
		return err->code;
	rc = seize_proc(&sp->set, pid, err);
	if (rc < 0) {
		s->n--;
		/* Exited meanwhile: a zombie now (kept if its parent is), or gone. */
		if (rc == -ESRCH && !is_target && tries++ == 0) {
			err_clear(err);
			goto again;
		}
		if (rc == -ESRCH && !is_target) {
			err_clear(err);
			return 0;
		}
		return rc;
	}
	return 1;
}

/* The children of every thread of pid. */
static int children_of(pid_t pid, pid_t **ret, uint32_t *ret_n)
{
	char path[64];
	struct dirent *de;
	pid_t *list = NULL;
	uint32_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char file[96], *p, *end;
		struct buf b;
		long tid;

		if (parse_long(de->d_name, 1, INT32_MAX, &tid) < 0)
			continue;
		snprintf(file, sizeof(file), "/proc/%d/task/%ld/children", pid, tid);
		buf_init(&b);
		if (buf_read_file(&b, file) == 0) {
			for (p = (char *)b.data; *p; p = end) {
				long c = strtol(p, &end, 10);
				pid_t *nl;

				if (end == p)
					break;
				nl = realloc(list, ((size_t)n + 1) * sizeof(*nl));
				if (!nl) {
					buf_fini(&b);
					closedir(d);
					free(list);
					return -ENOMEM;
				}
				list = nl;
				list[n++] = (pid_t)c;
			}
		}
		buf_fini(&b);
	}
	closedir(d);
	*ret = list;
	*ret_n = n;
	return 0;
}

static int freeze_tree(struct scope *s, const struct ckpt_request *req, struct err *err)
{
	pid_t *walk = NULL; /* processes whose children are to be looked at */
	uint32_t nwalk = 0;
	int rc;

	rc = take(s, req, req->pid, true, err);
	if (rc == 0)
		return err_set(err, -ESRCH, "pid %d is left out: nothing to save", req->pid);
	if (rc < 0)
		return rc;
	walk = malloc(sizeof(*walk));
	if (!walk)
		return err_set(err, -ENOMEM, "out of memory");
	walk[nwalk++] = req->pid;
	/* Breadth first; a process is frozen before its children are listed. */
	for (uint32_t i = 0; rc >= 0 && i < nwalk; i++) {
		pid_t *kids = NULL;
		uint32_t nk = 0;

		if (children_of(walk[i], &kids, &nk) < 0)
			continue;
		for (uint32_t k = 0; k < nk && rc >= 0; k++) {
			pid_t *nw;

			rc = take(s, req, kids[k], false, err);
			if (rc <= 0 || (rc == 1 && s->p[s->n - 1].zombie) || rc == 3)
				continue;
			nw = realloc(walk, ((size_t)nwalk + 1) * sizeof(*nw));
			if (!nw) {
				rc = err_set(err, -ENOMEM, "out of memory");
				break;
			}
			walk = nw;
			walk[nwalk++] = kids[k];
		}
		free(kids);
	}
	free(walk);
	if (rc >= 0 && s->n == 0)
		rc = err_set(err, -ESRCH, "nothing to save below pid %d", req->pid);
	return rc < 0 ? rc : 0;
}

/* Every process with pgid (or sid) id; again until a pass finds no new one. */
static int freeze_group(struct scope *s, const struct ckpt_request *req, struct err *err)
{
	bool sess = req->scope == CKPT_SCOPE_SESS;
	pid_t id = req->pid ? req->pid : sess ? getsid(0) : getpgrp();
	int added, passes = 0;

	do {
		DIR *d = opendir("/proc");
		struct dirent *de;

		if (!d)
			return err_sys(err, "cannot list /proc");
		added = 0;
		while ((de = readdir(d))) {
			struct proc_stat st;
			long pid;
			int rc;

			if (parse_long(de->d_name, 1, INT32_MAX, &pid) < 0 ||
			    procfs_stat((pid_t)pid, 0, &st) < 0 || (pid_t)st.f[sess ? 6 : 5] != id)
				continue;
			/* Zombies wait until their parents are known. */
			if ((st.state == 'Z' || st.state == 'X') && !in_scope(s, (pid_t)st.f[4]))
				continue;
			rc = take(s, req, (pid_t)pid, false, err);
			if (rc < 0) {
				closedir(d);
				return rc;
			}
			added += rc == 1;
		}
		closedir(d);
		if (++passes > 1000)
			return err_set(err, -EBUSY, "%s %d keeps changing",
				       sess ? "session" : "process group", id);
	} while (added > 0);
	if (s->n == 0)
		return err_set(err, -ESRCH, "no process in %s %d to save",
			       sess ? "session" : "process group", id);
	return 0;
}

int scope_freeze(struct scope *s, const struct ckpt_request *req, struct err *err)
{
	int rc;

	memset(s, 0, sizeof(*s));
	switch (req->scope) {
	case CKPT_SCOPE_PROC:
		rc = take(s, req, req->pid, true, err);
		if (rc == 0 || rc == 2)
			rc = err_set(err, -ESRCH, "pid %d is left out: nothing to save", req->pid);
		break;
	case CKPT_SCOPE_TREE:
		rc = freeze_tree(s, req, err);
		break;
	default:
		rc = freeze_group(s, req, err);
		break;
	}
	if (rc < 0) {
		scope_release(s, 0);
		scope_fini(s);
		return rc;
	}
	log_debug("%u processes frozen", s->n);
	return 0;
}

int scope_add(struct scope *s, const struct ckpt_request *req, uint32_t scope, pid_t id,
	      struct err *err)
{
	struct ckpt_request more = *req;
	uint32_t had = s->n;
	int rc;

	more.scope = scope;
	more.pid = id;
	if (scope == CKPT_SCOPE_PROC || scope == CKPT_SCOPE_TREE) {
		rc = take(s, &more, id, false, err);
		if (rc == 0)
			kmsg_add(KMSG_WARN, "the checkpoint was forwarded to pid %d: gone or left "
					    "out", id);
		/* From the root, which is in the scope now: what is not yet. */
		if (rc > 0 && scope == CKPT_SCOPE_TREE)
			rc = freeze_tree(s, &more, err);
	} else {
		rc = freeze_group(s, &more, err);

	}
	if (rc < 0) {
		scope_release(s, 0);
		scope_fini(s);
		return rc;
	}
	log_debug("%u more processes frozen for scope %u of %d", s->n - had, scope, id);
	return 0;
}

/* A process that was stopped goes back to its stop when let go, a moment later:
 * wait for it (bounded), so that nothing sees it running. */
static void wait_stopped(pid_t pid)
{
	for (int i = 0; i < 5000; i++) {
		struct proc_stat st;

		if (procfs_stat(pid, 0, &st) < 0 || st.state == 'T' || st.state == 't')
			return;
		usleep(200);
	}
}

void scope_release(struct scope *s, int sig)
{
	for (uint32_t i = 0; i < s->n; i++) {
		bool stopped = s->p[i].set.stopped && s->p[i].set.nth > 0;

		if (s->p[i].zombie)
			continue;
		seize_release(&s->p[i].set, sig);
		if (stopped && (sig == 0 || sig == SIGSTOP))
			wait_stopped(s->p[i].pid);
	}
}

void scope_fini(struct scope *s)
{
	free(s->p);
	s->p = NULL;
	s->n = 0;
}
