/* pidns.c: pid namespaces (see pidns.h). */
#define LOG_PREFIX "pidns: "
#include "pidns.h"

#include "err.h"
#include "log.h"
#include "../util/buf.h"
#include "../util/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "banned.h"

int pidns_mount_proc(struct err *err)
{
	/* Private first: the new /proc must not show up in the namespace we came from. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return err_sys(err, "cannot make the mounts of a new mount namespace private");
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return err_sys(err, "cannot mount /proc for the new pid namespace");
	return 0;
}

int pidns_inner_pid(pid_t pid, pid_t *inner, struct err *err)
{
	char path[64];
	struct stat ours, theirs;
	uint64_t nsp[32];
	struct buf b;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
	if (stat(path, &theirs) < 0)
		return err_sys(err, "pid %d: cannot read its pid namespace", pid);
	if (stat("/proc/self/ns/pid", &ours) < 0)
		return err_sys(err, "cannot read our own pid namespace");
	if (theirs.st_ino == ours.st_ino && theirs.st_dev == ours.st_dev)
		return 0;
	/* NSpid: its pid in our /proc's namespace, then in each one below, to its own. */
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	buf_init(&b);
	if (buf_read_file(&b, path) == 0)
		n = procfs_field_list((char *)b.data, "NSpid", nsp, 32);
	buf_fini(&b);
	if (n < 2 || n > 32)
		return err_set(err, -ESRCH, "pid %d: cannot find its pid in its own namespace",
			       pid);
	*inner = (pid_t)nsp[n - 1];
	return 1;
}

int pidns_enter(pid_t pid, int *back, struct err *err)
{
	char path[64];
	int fd, rc = 0;

	*back = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (*back < 0)
		return err_sys(err, "cannot open our own pid namespace");
	snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		rc = err_sys(err, "pid %d: cannot open its pid namespace", pid);
	else if (setns(fd, CLONE_NEWPID) < 0)
		rc = err_sys(err, "pid %d: cannot join its pid namespace", pid);
	if (fd >= 0)
		close(fd);
	if (rc < 0) {
		close(*back);
		*back = -1;
	}
	return rc;
}

void pidns_leave(int *back)
{
	if (*back < 0)
		return;
	if (setns(*back, CLONE_NEWPID) < 0)
		log_warn("cannot go back to our own pid namespace: %s", strerror(errno));
	close(*back);
	*back = -1;
}

int pidns_settle(struct err *err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return err_sys(err, "cannot make a mount namespace");
	return pidns_mount_proc(err);
}

/* Some live process of our namespace other than us, or 0. A zombie needs no
 * protecting: its parent, outside, reaps it. */
static pid_t another(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t me = getpid(), found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		struct proc_stat st;
		long v;

		if (parse_long(e->d_name, 1, INT32_MAX, &v) == 0 && (pid_t)v != me &&
		    procfs_stat((pid_t)v, 0, &st) == 0 && st.state != 'Z' && st.state != 'X')
			found = (pid_t)v;
	}
	closedir(d);
	return found;
}

int pidns_wait_other(void)
{
	pid_t other = another();
	struct pollfd p;
	int pfd;

	if (!other)
		return 0;
	pfd = (int)syscall(SYS_pidfd_open, other, 0);
	if (pfd < 0)
		return 1; /* gone already */
	p = (struct pollfd){pfd, POLLIN, 0};
	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
	close(pfd);
	return 1;
}

int pidns_is_crest_init(pid_t pid)
{
	struct proc_stat st;

	return procfs_stat(pid, 0, &st) == 0 && !strcmp(st.comm, PIDNS_INIT_NAME);
}
