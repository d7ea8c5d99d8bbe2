/* state/fd_eventfd.c: eventfd counters, with their value, semaphore mode and status
 * flags (O_NONBLOCK).
 *
 * /proc/PID/fdinfo gives all of it (eventfd-count, eventfd-semaphore), so nothing of
 * the process is touched. At restart a new eventfd starts at 0 and the saved value is
 * written into it: eventfd() itself takes only 32 bits, the counter holds 64. */
#define LOG_PREFIX "eventfd: "
#include "fdkind.h"

#include "../err.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../banned.h"

/* The largest value the counter can hold; a write of more blocks or fails. */
#define EFD_MAX_COUNT (UINT64_MAX - 1)
/* Status flags that F_SETFL can give back (fcntl refuses O_DIRECT on an eventfd). */
#define EFD_STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_NOATIME)

struct efd_data {
	uint64_t count;
	uint32_t semaphore; /* EFD_SEMAPHORE: each read takes 1 */
};

static int efd_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)c;
	(void)err;
	return !strcmp(s->link, "anon_inode:[eventfd]");
}

static int efd_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		       struct err *err)
{
	struct efd_data *d = fdkind_data(f, sizeof(*d));
	uint64_t sem;

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	if (procfs_field_u64(s->fdinfo, "eventfd-count", 16, &d->count) < 0 ||
	    procfs_field_u64(s->fdinfo, "eventfd-semaphore", 10, &sem) < 0 || sem > 1 ||
	    d->count > EFD_MAX_COUNT)
		return err_set(err, -EIO, "pid %d: descriptor %d: cannot read the eventfd's state",
			       c->p->pid, s->fd);
	d->semaphore = (uint32_t)sem;
	return 0;
}

static void efd_encode(const struct file_img *f, struct buf *b)
{
	const struct efd_data *d = f->kd;

	put_u64(b, d->count);
	put_u32(b, d->semaphore);
}

static int efd_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct efd_data *d = fdkind_data(f, sizeof(*d));

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	d->count = get_u64(rd);
	d->semaphore = get_u32(rd);
	if (rd->bad)
		return 0;
	if (d->count > EFD_MAX_COUNT)
		wr_fail(rd, "eventfd value out of range");
	else if (d->semaphore > 1)
		wr_fail(rd, "eventfd semaphore flag out of range");
	else if ((f->flags & O_ACCMODE) != O_RDWR || (f->flags & ~(O_ACCMODE | EFD_STATUS_FLAGS)))
		wr_fail(rd, "eventfd with impossible open flags");
	else if (f->path)
		wr_fail(rd, "eventfd with a path");
	return 0;
}

static int efd_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		    struct err *err)
{
	const struct efd_data *d = f->kd;
	pid_t pid = c->rp->p->pid;
	int fd;

	(void)borrowed;
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (d->semaphore ? EFD_SEMAPHORE : 0));
	if (fd < 0)
		return err_sys(err, "pid %d: cannot create the eventfd of descriptor %d", pid,
			       fdnum);
	if (d->count && write(fd, &d->count, sizeof(d->count)) != (ssize_t)sizeof(d->count)) {
		err_sys(err, "pid %d: cannot give the eventfd of descriptor %d its value %llu", pid,
			fdnum, (unsigned long long)d->count);
		close(fd);
		return err->code;
	}
	if (fcntl(fd, F_SETFL, (int)(f->flags & EFD_STATUS_FLAGS)) < 0) {
		err_sys(err, "pid %d: cannot set the flags of the eventfd of descriptor %d", pid,
			fdnum);
		close(fd);
		return err->code;
	}
	return fd;
}

static void efd_describe(const struct file_img *f, struct out *o)
{
	const struct efd_data *d = f->kd;

	out_u64(o, "count", d->count);
	out_bool(o, "semaphore", d->semaphore);
}

const struct fd_kind fd_eventfd_kind = {
	.kind = FILE_EVENTFD,
	.name = "eventfd",
	.claim = efd_claim,
	.collect = efd_collect,
	.encode = efd_encode,
	.decode = efd_decode,
	.open = efd_open,
	.describe = efd_describe,
};
