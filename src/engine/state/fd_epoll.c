/* state/fd_epoll.c: epoll instances with every target: its event mask (EPOLLET,
 * EPOLLONESHOT, EPOLLEXCLUSIVE, EPOLLWAKEUP included) and data, and the instance's
 * status flags.
 *
 * The kernel keys a target by (open file, descriptor number at epoll_ctl time) in the
 * process that added it, and fdinfo shows that number ("tfd"). So a target is added
 * again by the new process itself (child(), once its descriptors are in place), under
 * the same number. At the checkpoint kcmp(KCMP_EPOLL_TFD) says which descriptor of
 * the process is the target's file now: normally the one of that number; if that
 * number was closed or reused since, another descriptor of the same file, which the
 * new process briefly puts at the number to add it (and then puts back what was
 * there). An instance several processes share: a target is added again by one of
 * them that has its file (checked first in the process the instance was first met
 * in), under that process's numbers. A target whose file no process of the checkpoint
 * holding the instance has cannot be added again: the checkpoint fails. A target
 * whose own kind crest cannot save fails the checkpoint on that descriptor already.
 * One that leads outside the checkpoint (fd_external.c) is added with whatever
 * cr_restart gives that descriptor; if that cannot be watched or is closed, it is
 * left out and said.
 *
 * Several instances watching each other come back in any order: the kernel's checks
 * (loops, nesting depth) hold for every part of a graph that held as a whole.
 *
 * A one-shot target that has fired is disabled (no events left in its mask); adding
 * it again would arm it for errors and hang-ups, which epoll_ctl always adds. So it is
 * added first, with the events its file is ready for now, and made to fire at once;
 * if the file is ready for nothing, it comes back armed for errors and hang-ups only,
 * and says so.
 *
 * Not kept: which edge-triggered targets had been reported already; a target that is
 * ready comes back with its edge not yet reported, i.e. is reported once more. */
#define LOG_PREFIX "epoll: "
#include "fdkind.h"

#include "../err.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../banned.h"

#define EP_STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_NOATIME)
#define MAX_TARGETS (1u << 20)
/* Bits of a target's mask that are not events: a fired one-shot keeps only these. */
#define EP_PRIVATE_BITS (EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE)
#define EP_EVENT_BITS                                                                              \
	(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDNORM | EPOLLRDBAND |         \
	 EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP)
/* What a file can be asked to be ready for (errors and hang-ups come anyway). */
#define EP_POLL_BITS (EP_EVENT_BITS & ~(uint32_t)(EPOLLERR | EPOLLHUP))

struct ep_target {
	int32_t pid;    /* the process that adds it (its descriptor numbers) */
	int32_t tfd;    /* the number it was added under */
	int32_t src_fd; /* the descriptor of that process holding the target's file */
	uint32_t events;
	uint64_t data;
	/* checkpoint only: its rank among targets of its number (for kcmp), and the
	 * target file's inode and device as fdinfo shows them */
	uint32_t toff;
	uint64_t ino, dev;
};

struct ep_data {
	struct ep_target *t;
	uint32_t n;
};

static void ep_data_free(void *p)
{
	struct ep_data *d = p;

	if (d)
		free(d->t);
	free(d);
}

static struct ep_data *ep_data_new(struct file_img *f)
{
	struct ep_data *d = fdkind_data(f, sizeof(*d));

	if (d)
		f->kd_free = ep_data_free;
	return d;
}

static bool fired_oneshot(uint32_t events)
{
	return (events & EPOLLONESHOT) && !(events & ~(uint32_t)EP_PRIVATE_BITS);
}

static int ep_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)c;
	(void)err;
	return !strcmp(s->link, "anon_inode:[eventpoll]");
}

/* Is descriptor fd of process pid the file of target t of its instance epfd? */
static bool is_target(pid_t pid, int epfd, const struct ep_target *t, int fd)
{
	struct kcmp_epoll_slot slot = {(uint32_t)epfd, (uint32_t)t->tfd, t->toff};

	return syscall(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, fd, &slot) == 0;
}

/* Which descriptor of process pid holds target t's file (of its instance epfd): the
 * number it was added under, or any other; -1 if none. */
static int find_source(pid_t pid, int epfd, const struct ep_target *t)
{
	char dir[64];
	struct dirent *de;
	int found = -1;
	DIR *d;

	if (is_target(pid, epfd, t, t->tfd))
		return t->tfd;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	while (d && found < 0 && (de = readdir(d))) {
		long fd;

		if (parse_long(de->d_name, 0, INT32_MAX, &fd) == 0 && fd != epfd &&
		    is_target(pid, epfd, t, (int)fd))
			found = (int)fd;
	}
	if (d)
		closedir(d);
	return found;
}

/* fdinfo: "tfd: N events: X data: Y  pos:..." per target, in the kernel's order
 * (by file, then number). */
static int parse_targets(struct dump_ctx *c, const struct fd_scan *s, struct ep_data *d,
			 struct err *err)
{
	for (const char *line = s->fdinfo; line && *line;) {
		struct ep_target *t;
		int32_t tfd;
		uint32_t events, sdev = 0;
		uint64_t data, ino = 0;

		if (!strncmp(line, "tfd:", 4)) {
			if (sscanf(line,
				   "tfd: %" SCNd32 " events: %" SCNx32 " data: %" SCNx64
				   " pos:%*[-0-9] ino:%" SCNx64 " sdev:%" SCNx32,
				   &tfd, &events, &data, &ino, &sdev) < 3 ||
			    tfd < 0)
				return err_set(err, -EIO,
					       "pid %d: descriptor %d: cannot understand epoll "
					       "target '%.60s'",
					       c->p->pid, s->fd, line);
			if (d->n >= MAX_TARGETS)
				return err_set(err, -E2BIG,
					       "pid %d: descriptor %d: too many epoll targets",
					       c->p->pid, s->fd);
			t = model_grow((void **)&d->t, &d->n, sizeof(*t));
			if (!t)
				return err_set(err, -ENOMEM, "out of memory");
			*t = (struct ep_target){c->p->pid, tfd, -1, events, data, 0, ino,
						/* the kernel's dev_t, as stat() gives it */
						makedev(sdev >> 20, sdev & 0xfffff)};
		}
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	return 0;
}

/* Targets of one number count up in the kernel's order: kcmp's offset. Descriptor
 * numbers are below the process's limit, so one counter per number fits. */
static int rank_targets(struct ep_data *d)
{
	int32_t hi = 0;
	uint32_t *seen;

	for (uint32_t i = 0; i < d->n; i++)
		if (d->t[i].tfd > hi)
			hi = d->t[i].tfd;
	seen = calloc((size_t)hi + 1, sizeof(*seen));
	if (!seen)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->n; i++)
		d->t[i].toff = seen[d->t[i].tfd]++;
	free(seen);
	return 0;
}

/* The targets, from fdinfo; which descriptors hold their files is found once every
 * process is collected (ep_settle). */
static int ep_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		      struct err *err)
{
	struct ep_data *d = ep_data_new(f);

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	if (parse_targets(c, s, d, err) < 0)
		return err->code;
	if (rank_targets(d) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	return 0;
}

/* Target t of an instance that process p holds at epfd: the descriptor of p holding
 * its file, or -1. kcmp finds a target by a walk of the instance's targets, so a
 * socket at the number it was added under is taken without: a socket has one open
 * file, which its inode names. */
static int source_in(const struct model *m, const struct proc_img *p, int epfd,
		     const struct ep_target *t)
{
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct file_img *g;

		if (p->fds[i].fd != t->tfd)
			continue;
		/* At the checkpoint file ids are their places, plus one. */
		g = p->fds[i].file_id - 1 < m->nfiles ? &m->files[p->fds[i].file_id - 1] : NULL;
		if (g && g->id == p->fds[i].file_id && S_ISSOCK(g->mode) && g->ino == t->ino &&
		    g->dev == t->dev)
			return t->tfd;
		break;
	}
	return find_source(p->pid, epfd, t);
}

/* Each target is added again by a process holding the instance that has its file:
 * the one it was first met in, else another. A target no process of the checkpoint
 * holding the instance has a descriptor of (held only from outside, or closed by all)
 * cannot be added again. */
static int ep_settle(struct dump_all *all, struct err *err)
{
	struct model *m = all->m;

	for (uint32_t i = 0; i < m->nfiles; i++) {
		const struct file_img *f = &m->files[i];
		const struct proc_img *first = NULL;
		struct ep_data *d = f->kd;

		if (f->kind != FILE_EPOLL)
			continue;
		for (uint32_t j = 0; j < m->nprocs && !first; j++)
			if (m->procs[j].pid == f->dump_pid)
				first = &m->procs[j];
		for (uint32_t k = 0; k < d->n; k++) {
			struct ep_target *t = &d->t[k];

			if (first)
				t->src_fd = source_in(m, first, f->dump_fd, t);
			for (uint32_t j = 0; t->src_fd < 0 && j < m->nprocs; j++) {
				const struct proc_img *p = &m->procs[j];
				int efd = fdkind_first_fd(p, f->id);

				if (efd < 0 || p == first)
					continue;
				t->src_fd = source_in(m, p, efd, t);
				t->pid = p->pid;
			}
			if (t->src_fd >= 0)
				continue;
			kmsg_add(KMSG_ERROR,
				 "pid %d: descriptor %d is an epoll instance watching a file no "
				 "process of the checkpoint holds (added as descriptor %d)",
				 f->dump_pid, f->dump_fd, t->tfd);
			return err_set(err, -ENOTSUP,
				       "pid %d: descriptor %d is an epoll instance watching a file "
				       "no process of the checkpoint holds (added as descriptor "
				       "%d), which crest cannot restore",
				       f->dump_pid, f->dump_fd, t->tfd);
		}
	}
	return 0;
}

static void ep_encode(const struct file_img *f, struct buf *b)
{
	const struct ep_data *d = f->kd;

	put_u32(b, d->n);
	for (uint32_t i = 0; i < d->n; i++) {
		const struct ep_target *t = &d->t[i];

		put_i32(b, t->pid);
		put_i32(b, t->tfd);
		put_i32(b, t->src_fd);
		put_u32(b, t->events);
		put_u64(b, t->data);
	}
}

static int ep_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct ep_data *d = ep_data_new(f);
	uint32_t n;

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	n = get_count(rd, 24, MAX_TARGETS);
	d->t = calloc(n ? n : 1, sizeof(*d->t));
	if (!d->t)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n && !rd->bad; i++) {
		struct ep_target *t = &d->t[i];

		t->pid = get_i32(rd);
		t->tfd = get_i32(rd);
		t->src_fd = get_i32(rd);
		t->events = get_u32(rd);
		t->data = get_u64(rd);
		d->n = i + 1;
		if (rd->bad)
			break;
		if (t->pid <= 0 || t->tfd < 0 || t->src_fd < 0)
			wr_fail(rd, "epoll target out of range");
		else if (t->events & ~(uint32_t)(EP_EVENT_BITS | EP_PRIVATE_BITS))
			wr_fail(rd, "unknown epoll events");
		else if ((t->events & EPOLLEXCLUSIVE) && (t->events & EPOLLONESHOT))
			wr_fail(rd, "epoll target both exclusive and one-shot");
		for (uint32_t k = 0; k < i && !rd->bad; k++)
			if (d->t[k].pid == t->pid && d->t[k].tfd == t->tfd &&
			    d->t[k].src_fd == t->src_fd)
				wr_fail(rd, "epoll target listed twice");
	}
	if (rd->bad)
		return 0;
	if ((f->flags & O_ACCMODE) != O_RDWR || (f->flags & ~(O_ACCMODE | EP_STATUS_FLAGS)))
		wr_fail(rd, "epoll instance with impossible open flags");
	else if (f->path)
		wr_fail(rd, "epoll instance with a path");
	return 0;
}

/* The descriptor fd of process pid, or NULL. */
static const struct fd_img *proc_fd(const struct model *m, pid_t pid, int fd)
{
	const struct proc_img *p = model_find_proc((struct model *)m, pid);

	for (uint32_t i = 0; p && i < p->nfds; i++)
		if (p->fds[i].fd == fd)
			return &p->fds[i];
	return NULL;
}

/* Each target is added by a process that holds this instance, from a descriptor it
 * has that is another file. */
static int ep_check(const struct model *m, const struct file_img *f, struct err *err)
{
	const struct ep_data *d = f->kd;

	for (uint32_t i = 0; i < d->n; i++) {
		const struct ep_target *t = &d->t[i];
		const struct proc_img *p = model_find_proc((struct model *)m, t->pid);
		const struct fd_img *src = proc_fd(m, t->pid, t->src_fd);

		if (!p || fdkind_first_fd(p, f->id) < 0)
			return err_set(err, -EINVAL,
				       "file %u: epoll target %d is added by pid %d, which does "
				       "not hold the instance",
				       f->id, t->tfd, t->pid);
		if (!src || src->file_id == f->id)
			return err_set(err, -EINVAL,
				       "file %u: epoll target %d of pid %d is no descriptor of "
				       "another file (%d)",
				       f->id, t->tfd, t->pid, t->src_fd);
	}
	return 0;
}

/* ---- restart ---- */

static int ep_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		   struct err *err)
{
	pid_t pid = c->rp->p->pid;
	int fd;

	(void)borrowed;
	fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "pid %d: cannot create the epoll instance of descriptor %d",
			       pid, fdnum);
	if (fcntl(fd, F_SETFL, (int)(f->flags & EP_STATUS_FLAGS)) < 0) {
		err_sys(err, "pid %d: cannot set the flags of the epoll instance of descriptor %d",
			pid, fdnum);
		close(fd);
		return err->code;
	}
	return fd;
}

/* epoll_ctl(ADD) under number t->tfd: if the file is at another number now, put it at
 * t->tfd for the call, then put back what was there. Returns 0 or -errno. */
static int add_as(int epfd, const struct ep_target *t, struct epoll_event *ev)
{
	int keep = -1, keep_fl = -1, rc;

	if (t->src_fd != t->tfd) {
		keep_fl = fcntl(t->tfd, F_GETFD);
		if (keep_fl >= 0) {
			keep = fcntl(t->tfd, F_DUPFD_CLOEXEC, 0);
			if (keep < 0)
				return -errno;
		}
		if (dup2(t->src_fd, t->tfd) < 0) {
			rc = -errno;
			if (keep >= 0)
				close(keep);
			return rc;
		}
	}
	rc = epoll_ctl(epfd, EPOLL_CTL_ADD, t->tfd, ev) < 0 ? -errno : 0;
	if (t->src_fd != t->tfd) {
		if (keep < 0) {
			close(t->tfd);
		} else {
			if (dup3(keep, t->tfd, (keep_fl & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0 && !rc)
				rc = -errno;
			close(keep);
		}
	}
	return rc;
}

/* A fired one-shot target: added for what its file is ready for, then fired at once
 * (nothing else is in the instance yet), which leaves it disabled as it was. */
static int add_fired(int epfd, const struct ep_target *t, pid_t pid, int fdnum)
{
	struct epoll_event ev = {t->events, {.u64 = t->data}};
	struct pollfd pfd = {t->src_fd, (short)EP_POLL_BITS, 0};
	int rc;

	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & EP_EVENT_BITS))
		ev.events |= (uint32_t)pfd.revents & EP_POLL_BITS;
	if (!(ev.events & EP_POLL_BITS)) {
		kmsg_add(KMSG_WARN,
			 "pid %d: descriptor %d: a one-shot epoll target that had fired (%d) "
			 "comes back armed for errors and hang-ups",
			 pid, fdnum, t->tfd);
		return add_as(epfd, t, &ev);
	}
	rc = add_as(epfd, t, &ev);
	if (rc < 0)
		return rc;
	if (epoll_wait(epfd, &ev, 1, 0) != 1 || ev.data.u64 != t->data) {
		kmsg_add(KMSG_WARN,
			 "pid %d: descriptor %d: a one-shot epoll target that had fired (%d) "
			 "comes back armed for errors and hang-ups",
			 pid, fdnum, t->tfd);
		ev = (struct epoll_event){t->events, {.u64 = t->data}};
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, t->tfd, &ev) < 0 && errno != EBADF)
			return -errno;
	}
	return 0;
}

static bool is_external(const struct rst_ctx *c, const struct ep_target *t)
{
	const struct fd_img *src = proc_fd(c->m, t->pid, t->src_fd);
	const struct file_img *g = src ? model_find_file(c->m, src->file_id) : NULL;

	return g && g->kind == FILE_EXTERNAL;
}

/* The instance's own number, unless a target is to be added under it (that number
 * held the target's file once): then a copy above every target's number, which no
 * target's file is put at. -1 if there is no room for it. */
static int instance_fd(const struct ep_data *d, pid_t pid, int fdnum)
{
	int32_t hi = fdnum;
	bool taken = false;

	for (uint32_t i = 0; i < d->n; i++) {
		if (d->t[i].pid != pid)
			continue;
		taken |= d->t[i].tfd == fdnum && d->t[i].src_fd != fdnum;
		if (d->t[i].tfd > hi)
			hi = d->t[i].tfd;
	}
	return taken ? fcntl(fdnum, F_DUPFD_CLOEXEC, hi + 1) : fdnum;
}

/* In the new process, every descriptor in place: add each target this process added,
 * fired one-shots first. No allocation here. */
static int ep_child(struct rst_ctx *c, const struct file_img *f, int fdnum, struct err *err)
{
	const struct ep_data *d = f->kd;
	pid_t pid = c->rp->p->pid;
	int epfd = instance_fd(d, pid, fdnum), rc = 0;

	if (epfd < 0)
		return err_sys(err,
			       "pid %d: no descriptor left to add targets to the epoll "
			       "instance of descriptor %d",
			       pid, fdnum);
	for (int pass = 0; pass < 2 && rc == 0; pass++) {
		for (uint32_t i = 0; i < d->n; i++) {
			const struct ep_target *t = &d->t[i];
			struct epoll_event ev = {t->events, {.u64 = t->data}};

			if (t->pid != pid || fired_oneshot(t->events) != (pass == 0))
				continue;
			rc = pass == 0 ? add_fired(epfd, t, pid, fdnum) : add_as(epfd, t, &ev);
			if (rc == 0)
				continue;
			if (is_external(c, t)) {
				/* cr_restart's descriptor of that number, or none. */
				kmsg_add(KMSG_WARN,
					 "pid %d: descriptor %d: epoll target %d led outside the "
					 "checkpoint and cannot be watched now (%s); left out",
					 pid, fdnum, t->tfd, strerror(-rc));
				rc = 0;
				continue;
			}
			err_code(err, rc,
				 "pid %d: cannot add descriptor %d to the epoll instance of "
				 "descriptor %d",
				 pid, t->tfd, fdnum);
			break;
		}
	}
	if (epfd != fdnum)
		close(epfd);
	return rc;
}

static void ep_describe(const struct file_img *f, struct out *o)
{
	const struct ep_data *d = f->kd;

	out_arr_begin(o, "targets");
	for (uint32_t i = 0; i < d->n; i++) {
		const struct ep_target *t = &d->t[i];

		out_obj_begin(o, NULL);
		out_i64(o, "fd", t->tfd);
		if (t->src_fd != t->tfd)
			out_i64(o, "file_at", t->src_fd);
		out_hex(o, "events", t->events);
		out_hex(o, "data", t->data);
		out_obj_end(o);
	}
	out_arr_end(o);
}

const struct fd_kind fd_epoll_kind = {
	.kind = FILE_EPOLL,
	.name = "epoll",
	.claim = ep_claim,
	.collect = ep_collect,
	.settle = ep_settle,
	.encode = ep_encode,
	.decode = ep_decode,
	.check = ep_check,
	.open = ep_open,
	.child = ep_child,
	.describe = ep_describe,
};
