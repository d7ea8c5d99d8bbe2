/* state/fd_chr.c: character devices reopened by path: the memory devices
 * (/dev/null, zero, full, random, urandom) and /dev/tty, which at restart is
 * cr_restart's controlling terminal, as BLCR does (without one it stays closed, and
 * a kmsg line says so). Other devices are not this kind's. */
#define LOG_PREFIX "files: "
#include "fdkind.h"

#include "../err.h"
#include "../log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../banned.h"

#define DEV_TTY makedev(5, 0)

/* Memory devices: null, zero, full, random, urandom. */
static bool is_mem_dev(dev_t rdev)
{
	unsigned int mi = minor(rdev);

	return major(rdev) == 1 && (mi == 3 || mi == 5 || mi == 7 || mi == 8 || mi == 9);
}

static int chr_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	const struct stat *st = &s->st;

	(void)c;
	(void)err;
	return S_ISCHR(st->st_mode) &&
	       (st->st_rdev == DEV_TTY || (is_mem_dev(st->st_rdev) && s->link[0] == '/'));
}

static int chr_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		       struct err *err)
{
	(void)c;
	f->path = strdup(s->st.st_rdev == DEV_TTY ? "/dev/tty" : s->link);
	return f->path ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static int chr_check(const struct model *m, const struct file_img *f, struct err *err)
{
	(void)m;
	if (!f->path || !S_ISCHR(f->mode))
		return err_set(err, -EINVAL, "file %u: a device without a path or of another type",
			       f->id);
	return 0;
}

static int chr_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		    struct err *err)
{
	const struct proc_img *p = c->rp->p;
	int flags = (int)(f->flags & REOPEN_FLAGS) | O_CLOEXEC | O_NOCTTY;
	char buf[MODEL_MAX_PATH];
	const char *path;
	struct stat st;
	int fd;

	(void)borrowed;
	path = rst_path(c, f->path, buf, sizeof(buf), err);
	if (!path)
		return err->code;
	fd = open(path, flags);
	if (fd < 0 && f->rdev == DEV_TTY) {
		kmsg_add(KMSG_WARN, "pid %d: descriptor %d (%s) left closed: %s", p->pid, fdnum,
			 path, strerror(errno));
		return FDKIND_CLOSED;
	}
	if (fd < 0)
		return err_sys(err, "cannot reopen '%s' (descriptor %d of pid %d)", path, fdnum,
			       p->pid);
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != f->rdev) {
		close(fd);
		return err_set(err, -EINVAL, "'%s' (descriptor %d of pid %d) is no longer the device it was",
			       path, fdnum, p->pid);
	}
	return fd;
}

const struct fd_kind fd_chr_kind = {
	.kind = FILE_CHR,
	.name = "device",
	.claim = chr_claim,
	.collect = chr_collect,
	.check = chr_check,
	.open = chr_open,
};
