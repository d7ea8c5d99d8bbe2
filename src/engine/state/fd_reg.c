/* state/fd_reg.c: regular files, directories and O_PATH descriptors (also of a
 * symbolic link itself), reopened by path with their flags and offset.
 *
 * The path must lead to the very file open at the checkpoint, else (deleted,
 * replaced, a memfd) it is not this kind's. At restart a file open for writing is
 * truncated back to its size at the checkpoint, as BLCR does; a file that is another
 * inode or shorter than it was is used, and said. Files in the process's own
 * /proc/PID exist only once the new process does: they are opened there, through
 * /proc/self, and their offsets set once it is whole. */
#define LOG_PREFIX "files: "
#include "fdkind.h"

#include "../err.h"
#include "../log.h"
#include "../../util/out.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../banned.h"

static int reg_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	const struct stat *st = &s->st;
	struct stat named;
	size_t len = strlen(s->link);

	if (S_ISLNK(st->st_mode) && (s->flags & O_PATH)) {
		/* O_PATH | O_NOFOLLOW on a symbolic link: the link itself. */
		if (s->link[0] != '/' || lstat(s->link, &named) < 0 || named.st_ino != st->st_ino ||
		    named.st_dev != st->st_dev)
			return fdkind_unsupported(c, s->fd, "symbolic link its path no longer "
							    "leads to",
						  s->link, err);
		return 1;
	}
	if (!S_ISREG(st->st_mode) && !S_ISDIR(st->st_mode))
		return 0;
	if (!strncmp(s->link, "/memfd:", 7))
		return fdkind_unsupported(c, s->fd, "memfd", s->link, err);
	if (s->link[0] != '/' || (len > 10 && !strcmp(s->link + len - 10, " (deleted)")))
		return fdkind_unsupported(c, s->fd, "deleted file", s->link, err);
	/* Reopened by path at restart: the path must lead to this very file. */
	if (stat(s->link, &named) < 0 || named.st_ino != st->st_ino || named.st_dev != st->st_dev)
		return fdkind_unsupported(c, s->fd, "file its path no longer leads to", s->link,
					  err);
	return 1;
}

static int reg_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		       struct err *err)
{
	(void)c;
	if (S_ISREG(s->st.st_mode))
		f->size = (uint64_t)s->st.st_size;
	f->path = strdup(s->link);
	return f->path ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static int reg_check(const struct model *m, const struct file_img *f, struct err *err)
{
	(void)m;
	if (!f->path)
		return err_set(err, -EINVAL, "file %u has no path", f->id);
	if (!S_ISREG(f->mode) && !S_ISDIR(f->mode) && !(S_ISLNK(f->mode) && (f->flags & O_PATH)))
		return err_set(err, -EINVAL, "file %u reopened by path is no file or directory",
			       f->id);
	return 0;
}

/* Is path in /proc/PID of the process itself? Returns the length of the "/proc/PID"
 * prefix, or 0. */
static size_t own_proc_prefix(const struct proc_img *p, const char *path)
{
	char pre[32];
	int n = snprintf(pre, sizeof(pre), "/proc/%d", p->pid);

	if (n <= 0 || strncmp(path, pre, (size_t)n) || (path[n] && path[n] != '/'))
		return 0;
	return (size_t)n;
}

static int reg_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		    struct err *err)
{
	const struct proc_img *p = c->rp->p;
	int flags = (int)(f->flags & REOPEN_FLAGS) | O_CLOEXEC | O_NOCTTY;
	int acc = flags & O_ACCMODE;
	bool path_only = flags & O_PATH;
	char buf[MODEL_MAX_PATH];
	const char *path;
	struct stat st;
	int fd;

	(void)borrowed;
	if (own_proc_prefix(p, f->path))
		return FDKIND_CLOSED; /* opened by reg_child, in the new process */
	path = rst_path(c, f->path, buf, sizeof(buf), err);
	if (!path)
		return err->code;
	fd = open(path, flags);
	if (fd < 0)
		return err_sys(err, "cannot reopen '%s' (descriptor %d of pid %d)", path, fdnum,
			       p->pid);
	if (fstat(fd, &st) < 0) {
		err_sys(err, "cannot reopen '%s' (descriptor %d of pid %d)", path, fdnum, p->pid);
		close(fd);
		return err->code;
	}
	/* Something else in its place is the environment's doing: ENV class. */
	if ((st.st_mode & S_IFMT) != (f->mode & S_IFMT)) {
		close(fd);
		return err_set(err,
			       S_ISDIR(st.st_mode) ? -EISDIR
			       : S_ISDIR(f->mode)  ? -ENOTDIR
						   : -EEXIST,
			       "'%s' (descriptor %d of pid %d) is no longer a %s", path, fdnum,
			       p->pid,
			       S_ISDIR(f->mode)   ? "directory"
			       : S_ISLNK(f->mode) ? "symbolic link"
						  : "file");
	}
	/* Files are taken by reference: a different one is used, but said. */
	if (st.st_ino != f->ino || st.st_dev != f->dev)
		kmsg_add(KMSG_WARN,
			 "pid %d: '%s' (descriptor %d) is not the file checkpointed (another "
			 "inode)",
			 p->pid, path, fdnum);
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < f->size)
		kmsg_add(KMSG_WARN, "pid %d: '%s' (descriptor %d) is %llu bytes, %llu at the checkpoint",
			 p->pid, path, fdnum, (unsigned long long)st.st_size,
			 (unsigned long long)f->size);
	/* As BLCR: what was written after the checkpoint goes. */
	if (!path_only && S_ISREG(st.st_mode) && (acc == O_WRONLY || acc == O_RDWR) &&
	    (uint64_t)st.st_size > f->size && ftruncate(fd, (off_t)f->size) < 0) {
		err_sys(err, "cannot truncate '%s' back to %llu bytes (pid %d)", path,
			(unsigned long long)f->size, p->pid);
		close(fd);
		return err->code;
	}
	if (!path_only && f->pos && lseek(fd, (off_t)f->pos, SEEK_SET) < 0) {
		err_sys(err, "cannot seek '%s' to %llu (pid %d)", path, (unsigned long long)f->pos,
			p->pid);
		close(fd);
		return err->code;
	}
	return fd;
}

/* In the new process: a file of its own /proc directory, through /proc/self (its
 * pid may be new), at every descriptor that shares it. No allocation here. */
static int reg_child(struct rst_ctx *c, const struct file_img *f, int fdnum, struct err *err)
{
	const struct proc_img *p = c->rp->p;
	char path[MODEL_MAX_PATH + 16];
	size_t pre = own_proc_prefix(p, f->path);
	int fd;

	(void)fdnum;
	if (!pre)
		return 0;
	snprintf(path, sizeof(path), "/proc/self%s", f->path + pre);
	fd = open(path, (int)(f->flags & REOPEN_FLAGS) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_sys(err, "pid %d: cannot reopen '%s'", p->pid, path);
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct fd_img *d = &p->fds[i];

		if (d->file_id != f->id)
			continue;
		if (dup3(fd, d->fd, d->cloexec ? O_CLOEXEC : 0) < 0 && errno != EINVAL) {
			err_sys(err, "pid %d: cannot install descriptor %d", p->pid, d->fd);
			close(fd);
			return err->code;
		}
		if (d->fd == fd && !d->cloexec && fcntl(fd, F_SETFD, 0) < 0)
			return err_sys(err, "pid %d: cannot install descriptor %d", p->pid, d->fd);
	}
	if (fdkind_first_fd(p, f->id) != fd) {
		bool used = false;

		for (uint32_t i = 0; i < p->nfds; i++)
			used |= p->fds[i].fd == fd;
		if (!used)
			close(fd);
	}
	return 0;
}

/* The offset of a file in the process's own /proc directory, once it is whole:
 * seeking a seq_file generates its text, which must be the restored process's, not
 * that of the copy of cr_restart it was. From outside, through a copy of the
 * descriptor, which shares the offset. */
static int reg_finish(struct rst_ctx *c, const struct file_img *f, int fdnum, struct err *err)
{
	const struct proc_img *p = c->rp->p;
	int pidfd, fd = -1;

	(void)err; /* what fails here is only a warning */
	if (!own_proc_prefix(p, f->path) || !f->pos || (f->flags & O_PATH))
		return 0;
	pidfd = (int)syscall(SYS_pidfd_open, c->rp->pid, 0);
	if (pidfd >= 0) {
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, fdnum, 0);
		close(pidfd);
	}
	if (fd < 0 || lseek(fd, (off_t)f->pos, SEEK_SET) < 0)
		kmsg_add(KMSG_WARN, "pid %d: cannot seek '%s' (descriptor %d) to %llu: %s", p->pid,
			 f->path, fdnum, (unsigned long long)f->pos, strerror(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}

static void reg_describe(const struct file_img *f, struct out *o)
{
	out_u64(o, "pos", f->pos);
}

const struct fd_kind fd_reg_kind = {
	.kind = FILE_REG,
	.name = "file",
	.claim = reg_claim,
	.collect = reg_collect,
	.check = reg_check,
	.open = reg_open,
	.child = reg_child,
	.finish = reg_finish,
	.describe = reg_describe,
};
