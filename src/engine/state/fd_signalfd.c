/* state/fd_signalfd.c: signalfd descriptors, with the set of signals each accepts and
 * its status flags (O_NONBLOCK).
 *
 * A signalfd holds no signals of its own: a read takes them from the pending signals
 * of the process that reads, which signals.c saves and restores. So the mask (fdinfo
 * "sigmask") is all there is; a signalfd made in cr_restart with it works the same in
 * the new process. */
#define LOG_PREFIX "signalfd: "
#include "fdkind.h"

#include "../err.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../banned.h"

#define SFD_STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_NOATIME)
/* Bit n-1 stands for signal n; SIGKILL and SIGSTOP cannot be taken by a signalfd. */
#define SIGBIT(n) (1ull << ((n) - 1))
#define SFD_NEVER (SIGBIT(SIGKILL) | SIGBIT(SIGSTOP))

struct sfd_data {
	uint64_t mask;
};

static int sfd_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)c;
	(void)err;
	return !strcmp(s->link, "anon_inode:[signalfd]");
}

static int sfd_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		       struct err *err)
{
	struct sfd_data *d = fdkind_data(f, sizeof(*d));

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	if (procfs_field_u64(s->fdinfo, "sigmask", 16, &d->mask) < 0)
		return err_set(err, -EIO, "pid %d: descriptor %d: cannot read the signalfd's mask",
			       c->p->pid, s->fd);
	d->mask &= ~SFD_NEVER;
	return 0;
}

static void sfd_encode(const struct file_img *f, struct buf *b)
{
	const struct sfd_data *d = f->kd;

	put_u64(b, d->mask);
}

static int sfd_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct sfd_data *d = fdkind_data(f, sizeof(*d));

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	d->mask = get_u64(rd);
	if (rd->bad)
		return 0;
	if (d->mask & SFD_NEVER)
		wr_fail(rd, "signalfd mask with SIGKILL or SIGSTOP");
	else if ((f->flags & O_ACCMODE) != O_RDWR || (f->flags & ~(O_ACCMODE | SFD_STATUS_FLAGS)))
		wr_fail(rd, "signalfd with impossible open flags");
	else if (f->path)
		wr_fail(rd, "signalfd with a path");
	return 0;
}

static int sfd_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		    struct err *err)
{
	const struct sfd_data *d = f->kd;
	pid_t pid = c->rp->p->pid;
	uint64_t mask = d->mask;
	int fd;

	(void)borrowed;
	/* The kernel's own 64-bit set: glibc's sigaddset() refuses the signals it keeps
	 * for itself (32, 33), which a signalfd may well take. */
	fd = (int)syscall(SYS_signalfd4, -1, &mask, sizeof(mask), SFD_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "pid %d: cannot create the signalfd of descriptor %d", pid,
			       fdnum);
	if (fcntl(fd, F_SETFL, (int)(f->flags & SFD_STATUS_FLAGS)) < 0) {
		err_sys(err, "pid %d: cannot set the flags of the signalfd of descriptor %d", pid,
			fdnum);
		close(fd);
		return err->code;
	}
	return fd;
}

static void sfd_describe(const struct file_img *f, struct out *o)
{
	const struct sfd_data *d = f->kd;

	out_hex(o, "sigmask", d->mask);
}

const struct fd_kind fd_signalfd_kind = {
	.kind = FILE_SIGNALFD,
	.name = "signalfd",
	.claim = sfd_claim,
	.collect = sfd_collect,
	.encode = sfd_encode,
	.decode = sfd_decode,
	.open = sfd_open,
	.describe = sfd_describe,
};
