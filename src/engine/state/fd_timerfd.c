/* state/fd_timerfd.c: timerfd descriptors: the clock, the flags of the last
 * timerfd_settime (TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET), time left and interval,
 * the expirations not yet read, and the status flags (O_NONBLOCK).
 *
 * Time left is kept as time left, as timers.c does for POSIX timers: the timer resumes
 * counting where it stopped, however long the process was away. An absolute timer
 * stays absolute (its settime flags are given back) at the new "now + time left".
 *
 * Expirations not yet read: a periodic timer that expired counts its overruns only
 * when read or asked (timerfd_gettime), so the checkpoint first asks, through a copy of
 * the descriptor, which counts them and re-arms it exactly as a read by the process
 * would; fdinfo then shows the true count. At restart TFD_IOC_SET_TICKS puts the count
 * back, so the first read returns it.
 *
 * Not kept: a timer cancelled by a clock change (TFD_TIMER_CANCEL_ON_SET) whose
 * ECANCELED has not been read yet comes back armed. */
#define LOG_PREFIX "timerfd: "
#include "fdkind.h"

#include "../err.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "../banned.h"

#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif
#define TFD_STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_NOATIME)
#define TFD_SETTIME_FLAGS (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)
#define NSEC_PER_SEC 1000000000ll
/* A timer set to expire while we read it may show no time left: read it again. */
#define TFD_READ_TRIES 5

struct tfd_data {
	int32_t clockid;
	uint32_t settime_flags;
	uint64_t ticks;   /* expirations not yet read */
	int64_t value_ns; /* time left; 0 when disarmed */
	int64_t interval_ns;
};

static bool clock_ok(int32_t clockid)
{
	return clockid == CLOCK_REALTIME || clockid == CLOCK_MONOTONIC ||
	       clockid == CLOCK_BOOTTIME || clockid == CLOCK_REALTIME_ALARM ||
	       clockid == CLOCK_BOOTTIME_ALARM;
}

static int tfd_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)c;
	(void)err;
	return !strcmp(s->link, "anon_inode:[timerfd]");
}

/* "(SEC, NSEC)" -> nanoseconds; -1 if malformed or beyond what a timer can hold. */
static int64_t parse_pair(const char *text, const char *key)
{
	const char *p = procfs_field(text, key);
	uint64_t sec, nsec;

	if (!p || sscanf(p, "(%" SCNu64 ", %" SCNu64 ")", &sec, &nsec) != 2 ||
	    nsec >= (uint64_t)NSEC_PER_SEC || sec > (uint64_t)(INT64_MAX / NSEC_PER_SEC - 1))
		return -1;
	return (int64_t)sec * NSEC_PER_SEC + (int64_t)nsec;
}

static int parse_fdinfo(const char *text, struct tfd_data *d)
{
	uint64_t clockid, flags;

	if (procfs_field_u64(text, "clockid", 10, &clockid) < 0 ||
	    procfs_field_u64(text, "ticks", 10, &d->ticks) < 0 ||
	    procfs_field_u64(text, "settime flags", 8, &flags) < 0)
		return -1;
	d->clockid = (int32_t)clockid;
	d->settime_flags = (uint32_t)flags;
	d->value_ns = parse_pair(text, "it_value");
	d->interval_ns = parse_pair(text, "it_interval");
	return clockid > INT32_MAX || !clock_ok(d->clockid) || (flags & ~TFD_SETTIME_FLAGS) ||
		       d->value_ns < 0 || d->interval_ns < 0
		   ? -1
		   : 0;
}

static int tfd_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		       struct err *err)
{
	struct tfd_data *d = fdkind_data(f, sizeof(*d));
	char path[64];
	struct buf b;
	int fd, rc = 0;

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	fd = (int)syscall(SYS_pidfd_getfd, c->pidfd, s->fd, 0);
	if (fd < 0)
		return err_sys(err, "pid %d: cannot take a copy of descriptor %d", c->p->pid,
			       s->fd);
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", c->p->pid, s->fd);
	buf_init(&b);
	for (int i = 0; i < TFD_READ_TRIES; i++) {
		struct itimerspec its;

		/* Counts the overruns of an expired periodic timer into its ticks and
		 * re-arms it, as a read would: fdinfo does neither. */
		if (timerfd_gettime(fd, &its) < 0) {
			rc = err_sys(err, "pid %d: cannot read the timerfd of descriptor %d",
				     c->p->pid, s->fd);
			break;
		}
		buf_reset(&b);
		rc = buf_read_file(&b, path);
		if (rc < 0) {
			err_code(err, rc, "cannot read %s", path);
			break;
		}
		if (parse_fdinfo((const char *)b.data, d) < 0) {
			rc = err_set(err, -EIO, "pid %d: descriptor %d: cannot understand %s",
				     c->p->pid, s->fd, path);
			break;
		}
		/* Expired in between (gettime had re-armed it, fdinfo shows it not
		 * re-armed again): ask again. A timer disarmed with an interval shows no
		 * time left in both. */
		if (d->value_ns || !d->interval_ns ||
		    (!its.it_value.tv_sec && !its.it_value.tv_nsec))
			break;
		/* Its interval is always short when that keeps happening: the next
		 * expiration is about an interval away. */
		if (i == TFD_READ_TRIES - 1)
			d->value_ns = d->interval_ns;
	}
	buf_fini(&b);
	close(fd);
	return rc;
}

static void tfd_encode(const struct file_img *f, struct buf *b)
{
	const struct tfd_data *d = f->kd;

	put_i32(b, d->clockid);
	put_u32(b, d->settime_flags);
	put_u64(b, d->ticks);
	put_i64(b, d->value_ns);
	put_i64(b, d->interval_ns);
}

static int tfd_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct tfd_data *d = fdkind_data(f, sizeof(*d));

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	d->clockid = get_i32(rd);
	d->settime_flags = get_u32(rd);
	d->ticks = get_u64(rd);
	d->value_ns = get_i64(rd);
	d->interval_ns = get_i64(rd);
	if (rd->bad)
		return 0;
	if (!clock_ok(d->clockid))
		wr_fail(rd, "timerfd on an unknown clock");
	else if (d->settime_flags & ~(uint32_t)TFD_SETTIME_FLAGS)
		wr_fail(rd, "unknown timerfd settime flags");
	else if (d->value_ns < 0 || d->interval_ns < 0)
		wr_fail(rd, "negative timerfd time");
	else if ((f->flags & O_ACCMODE) != O_RDWR || (f->flags & ~(O_ACCMODE | TFD_STATUS_FLAGS)))
		wr_fail(rd, "timerfd with impossible open flags");
	else if (f->path)
		wr_fail(rd, "timerfd with a path");
	return 0;
}

static struct timespec ns_ts(int64_t ns)
{
	return (struct timespec){ns / NSEC_PER_SEC, ns % NSEC_PER_SEC};
}

/* Arm it with the time it had left, absolute again if it was. */
static int arm(int fd, const struct tfd_data *d)
{
	struct itimerspec its = {ns_ts(d->interval_ns), ns_ts(d->value_ns)};
	struct timespec now;

	if (!d->value_ns && !d->interval_ns && !d->settime_flags)
		return 0; /* as timerfd_create() left it */
	if (d->value_ns && (d->settime_flags & TFD_TIMER_ABSTIME)) {
		if (clock_gettime(d->clockid, &now) < 0)
			return -1;
		its.it_value.tv_sec += now.tv_sec;
		its.it_value.tv_nsec += now.tv_nsec;
		if (its.it_value.tv_nsec >= NSEC_PER_SEC) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= NSEC_PER_SEC;
		}
	}
	return timerfd_settime(fd, (int)d->settime_flags, &its, NULL);
}

static int tfd_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		    struct err *err)
{
	const struct tfd_data *d = f->kd;
	pid_t pid = c->rp->p->pid;
	uint64_t ticks = d->ticks;
	int fd;

	(void)borrowed;
	fd = timerfd_create(d->clockid, TFD_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "pid %d: cannot create the timerfd of descriptor %d (clock %d)",
			       pid, fdnum, d->clockid);
	if (arm(fd, d) < 0) {
		err_sys(err, "pid %d: cannot set the timerfd of descriptor %d", pid, fdnum);
		goto out_close;
	}
	/* After arming, which clears them. */
	if (ticks && ioctl(fd, TFD_IOC_SET_TICKS, &ticks) < 0) {
		/* ENOTTY: a kernel built without CONFIG_CHECKPOINT_RESTORE. */
		err_sys(err,
			"pid %d: cannot give the timerfd of descriptor %d its %llu expirations "
			"not read yet",
			pid, fdnum, (unsigned long long)ticks);
		goto out_close;
	}
	if (fcntl(fd, F_SETFL, (int)(f->flags & TFD_STATUS_FLAGS)) < 0) {
		err_sys(err, "pid %d: cannot set the flags of the timerfd of descriptor %d", pid,
			fdnum);
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return err->code;
}

static const char *clock_name(int32_t clockid)
{
	switch (clockid) {
	case CLOCK_REALTIME:
		return "realtime";
	case CLOCK_MONOTONIC:
		return "monotonic";
	case CLOCK_BOOTTIME:
		return "boottime";
	case CLOCK_REALTIME_ALARM:
		return "realtime-alarm";
	case CLOCK_BOOTTIME_ALARM:
		return "boottime-alarm";
	}
	return "?";
}

static void tfd_describe(const struct file_img *f, struct out *o)
{
	const struct tfd_data *d = f->kd;

	out_str(o, "clock", clock_name(d->clockid));
	out_bool(o, "absolute", d->settime_flags & TFD_TIMER_ABSTIME);
	out_bool(o, "cancel_on_set", d->settime_flags & TFD_TIMER_CANCEL_ON_SET);
	out_i64(o, "value_ns", d->value_ns);
	out_i64(o, "interval_ns", d->interval_ns);
	out_u64(o, "ticks", d->ticks);
}

const struct fd_kind fd_timerfd_kind = {
	.kind = FILE_TIMERFD,
	.name = "timerfd",
	.claim = tfd_claim,
	.collect = tfd_collect,
	.encode = tfd_encode,
	.decode = tfd_decode,
	.open = tfd_open,
	.describe = tfd_describe,
};
