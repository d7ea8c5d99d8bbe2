/* state/fd_inotify.c: inotify instances with every watch: its watch descriptor (the
 * same number after a restart), event mask (IN_ONESHOT and IN_EXCL_UNLINK included)
 * and the file it watches, and the instance's status flags.
 *
 * fdinfo names a watched file by inode, device and file handle. The checkpoint finds
 * its path by opening the handle (open_by_handle_at) on a mount of that device listed
 * in /proc/PID/mountinfo, and keeps the path, the mount and the handle. At restart the
 * file is opened by path (--relocate applies); if that is not the file any more, by
 * handle; a different file at the path is used, and said, as for reopened files. A
 * watch on a filesystem whose handles cannot be opened (proc, sysfs) fails the
 * checkpoint.
 *
 * Watch descriptors: the kernel hands them out one after another (idr_alloc_cyclic),
 * never going back to a freed number. So the watches are added again in increasing
 * order, and each number below one that is wanted is used up by a placeholder watch
 * (on a memfd of cr_restart's) removed at once; the events that leaves in the queue
 * (IN_IGNORED) are read away before the process gets the instance. Numbers the
 * process gets for new watches then go on after its highest watch, not after the
 * highest it ever had.
 *
 * Events queued but not yet read cannot be saved (a read would take them from the
 * process): a checkpoint says how many bytes of them a restart loses. */
#define LOG_PREFIX "inotify: "
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
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../banned.h"

#define IN_STATUS_FLAGS (O_APPEND | O_NONBLOCK | O_NOATIME)
#define IN_WATCH_BITS (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK)
#ifndef IN_MASK_CREATE
#define IN_MASK_CREATE 0x10000000
#endif
#define MAX_WATCHES (1u << 22)
#define MAX_HANDLE 128 /* MAX_HANDLE_SZ */
/* Placeholder watches a restart will make to reach the numbers it needs (each costs
 * two system calls). */
#define MAX_WD_SKIP (1u << 22)

struct in_watch {
	int32_t wd;
	uint32_t mask;
	uint64_t ino;
	uint64_t dev; /* as stat() gives it */
	int32_t htype;
	uint32_t hlen;
	uint8_t handle[MAX_HANDLE];
	char *path;  /* where it was found; NULL if nowhere */
	char *mount; /* a mount of its filesystem, to open the handle on */
};

struct in_data {
	struct in_watch *w;
	uint32_t n;
	uint64_t queued; /* bytes of events not read at the checkpoint (not saved) */
};

static void in_data_free(void *p)
{
	struct in_data *d = p;

	for (uint32_t i = 0; d && i < d->n; i++) {
		free(d->w[i].path);
		free(d->w[i].mount);
	}
	if (d)
		free(d->w);
	free(d);
}

static struct in_data *in_data_new(struct file_img *f)
{
	struct in_data *d = fdkind_data(f, sizeof(*d));

	if (d)
		f->kd_free = in_data_free;
	return d;
}

static int in_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)c;
	(void)err;
	return !strcmp(s->link, "anon_inode:inotify");
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* "inotify wd:W ino:I sdev:D mask:M ignored_mask:0 fhandle-bytes:B fhandle-type:T
 * f_handle:HEX", numbers in hex; the handle part is missing where the filesystem
 * cannot make one. */
static int parse_watch(const char *line, struct in_watch *w)
{
	uint32_t wd, sdev, mask, ign, hlen, htype;
	uint64_t ino;
	int pos = 0;

	if (sscanf(line,
		   "inotify wd:%" SCNx32 " ino:%" SCNx64 " sdev:%" SCNx32 " mask:%" SCNx32
		   " ignored_mask:%" SCNx32 "%n",
		   &wd, &ino, &sdev, &mask, &ign, &pos) != 5 ||
	    !pos || wd == 0 || wd > INT32_MAX)
		return -1;
	w->wd = (int32_t)wd;
	w->ino = ino;
	/* The kernel's own dev_t: 12 bits of major above 20 of minor. */
	w->dev = makedev(sdev >> 20, sdev & 0xfffff);
	/* Older kernels show internal bits too (FS_EVENT_ON_CHILD): not the user's. */
	w->mask = mask & IN_WATCH_BITS;
	line += pos;
	pos = 0;
	if (sscanf(line, " fhandle-bytes:%" SCNx32 " fhandle-type:%" SCNx32 " f_handle:%n", &hlen,
		   &htype, &pos) != 2 ||
	    !pos)
		return 0; /* no handle */
	line += pos;
	if (hlen > MAX_HANDLE)
		return -1;
	for (uint32_t i = 0; i < hlen; i++) {
		int hi = hexval(line[2 * i]), lo = hi < 0 ? -1 : hexval(line[2 * i + 1]);

		if (lo < 0)
			return -1;
		w->handle[i] = (uint8_t)(hi << 4 | lo);
	}
	w->hlen = hlen;
	w->htype = (int32_t)htype;
	return 0;
}

/* A mountinfo field, with its \ooo escapes undone, into out (n bytes). */
static void unescape(const char *s, size_t len, char *out, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < len && k + 1 < n; i++) {
		if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			out[k++] = (char)((s[i + 1] - '0') << 6 | (s[i + 2] - '0') << 3 |
					  (s[i + 3] - '0'));
			i += 3;
		} else {
			out[k++] = s[i];
		}
	}
	out[k] = '\0';
}

static bool same_file(const struct stat *st, const struct in_watch *w)
{
	return st->st_ino == w->ino && st->st_dev == w->dev;
}

/* What /proc/self/fd/FD leads to, into buf; false if nothing absolute. */
static bool fd_path(int fd, char *buf, size_t n)
{
	char link[64];
	ssize_t k;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	k = readlink(link, buf, n - 1);
	if (k <= 0 || buf[0] != '/')
		return false;
	buf[k] = '\0';
	return true;
}

/* The mount point of mountinfo line mi if it is a mount of dev, into mp; else false. */
static bool mount_of(const char *mi, uint64_t dev, char *mp, size_t n)
{
	unsigned int maj, min;
	const char *p = mi, *start = NULL;
	int field = 0;

	if (sscanf(mi, "%*u %*u %u:%u", &maj, &min) != 2 || makedev(maj, min) != dev)
		return false;
	/* The fifth field, relative to the process's root. */
	for (; *p && *p != '\n' && !start; p++)
		if (*p == ' ' && ++field == 4)
			start = p + 1;
	if (!start)
		return false;
	for (p = start; *p && *p != ' ' && *p != '\n'; p++)
		;
	unescape(start, (size_t)(p - start), mp, n);
	return mp[0] == '/';
}

/* Open w's handle on the mount at mount point mp of process pid. On success, the
 * mount's path from here into w (if it has none yet) and, if the file's own path
 * leads to it, that path too. Returns 0, or -ENOMEM. */
static int try_mount(pid_t pid, const char *mp, struct in_watch *w)
{
	struct {
		struct file_handle h;
		uint8_t bytes[MAX_HANDLE];
	} fh;
	char root[MODEL_MAX_PATH + 32], path[MODEL_MAX_PATH];
	struct stat st;
	int mfd, fd, rc = 0;

	snprintf(root, sizeof(root), "/proc/%d/root%s", pid, mp);
	/* open_by_handle_at() takes no O_PATH descriptor for the mount. */
	mfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (mfd < 0)
		return 0;
	fh.h.handle_bytes = w->hlen;
	fh.h.handle_type = w->htype;
	memcpy(fh.h.f_handle, w->handle, w->hlen);
	fd = (int)syscall(SYS_open_by_handle_at, mfd, &fh.h, O_PATH | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &st) == 0 && same_file(&st, w)) {
		if (!w->mount && fd_path(mfd, path, sizeof(path))) {
			w->mount = strdup(path);
			rc = w->mount ? 0 : -ENOMEM;
		}
		/* A name the dentry cache lost leads nowhere: the path must be the file. */
		if (rc == 0 && fd_path(fd, path, sizeof(path)) && lstat(path, &st) == 0 &&
		    same_file(&st, w)) {
			w->path = strdup(path);
			rc = w->path ? 0 : -ENOMEM;
		}
	}
	if (fd >= 0)
		close(fd);
	close(mfd);
	return rc;
}

/* Where watch w's file is: a path to it and a mount its handle opens on, tried on
 * each mount of its device until one gives a path. */
static int locate(struct dump_ctx *c, int fd, const char *mountinfo, struct in_watch *w,
		  struct err *err)
{
	char mp[MODEL_MAX_PATH];

	for (const char *line = mountinfo; w->hlen && line && *line && !w->path;) {
		if (mount_of(line, w->dev, mp, sizeof(mp)) && try_mount(c->p->pid, mp, w) < 0)
			return err_set(err, -ENOMEM, "out of memory");
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	if (w->mount)
		return 0;
	kmsg_add(KMSG_ERROR,
		 "pid %d: descriptor %d: inotify watch %d is on a file crest cannot find again "
		 "(inode %llu on device %u:%u, whose file handles do not open)",
		 c->p->pid, fd, w->wd, (unsigned long long)w->ino, major(w->dev), minor(w->dev));
	return err_set(err, -ENOTSUP,
		       "pid %d: descriptor %d: inotify watch %d is on a file crest cannot find "
		       "again (inode %llu on device %u:%u, whose file handles do not open)",
		       c->p->pid, fd, w->wd, (unsigned long long)w->ino, major(w->dev),
		       minor(w->dev));
}

static int cmp_wd(const void *a, const void *b)
{
	const struct in_watch *x = a, *y = b;

	return (x->wd > y->wd) - (x->wd < y->wd);
}

/* Events in the queue are lost at a restart: say how much. Through a copy of the
 * descriptor: FIONREAD only counts. */
static int count_queued(struct dump_ctx *c, const struct fd_scan *s, struct in_data *d,
			struct err *err)
{
	int fd = (int)syscall(SYS_pidfd_getfd, c->pidfd, s->fd, 0);
	int n = 0;

	if (fd < 0)
		return err_sys(err, "pid %d: cannot take a copy of descriptor %d", c->p->pid,
			       s->fd);
	if (ioctl(fd, FIONREAD, &n) < 0)
		n = 0;
	close(fd);
	d->queued = n > 0 ? (uint64_t)n : 0;
	if (d->queued)
		kmsg_add(KMSG_WARN,
			 "pid %d: descriptor %d: %llu bytes of inotify events not read yet are not "
			 "saved (a restart loses them)",
			 c->p->pid, s->fd, (unsigned long long)d->queued);
	return 0;
}

static int in_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		      struct err *err)
{
	struct in_data *d = in_data_new(f);
	char path[64];
	struct buf mi;
	int rc = 0;

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	for (const char *line = s->fdinfo; line && *line;) {
		struct in_watch *w;

		if (!strncmp(line, "inotify ", 8)) {
			if (d->n >= MAX_WATCHES)
				return err_set(err, -E2BIG,
					       "pid %d: descriptor %d: too many "
					       "inotify watches",
					       c->p->pid, s->fd);
			w = model_grow((void **)&d->w, &d->n, sizeof(*w));
			if (!w)
				return err_set(err, -ENOMEM, "out of memory");
			if (parse_watch(line, w) < 0)
				return err_set(err, -EIO,
					       "pid %d: descriptor %d: cannot understand "
					       "inotify watch '%.60s'",
					       c->p->pid, s->fd, line);
		}
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	qsort(d->w, d->n, sizeof(*d->w), cmp_wd);
	if (d->n) {
		snprintf(path, sizeof(path), "/proc/%d/mountinfo", c->p->pid);
		buf_init(&mi);
		rc = buf_read_file(&mi, path);
		if (rc < 0)
			err_code(err, rc, "cannot read %s", path);
		for (uint32_t i = 0; rc == 0 && i < d->n; i++)
			rc = locate(c, s->fd, (const char *)mi.data, &d->w[i], err);
		buf_fini(&mi);
		if (rc < 0)
			return rc;
	}
	return count_queued(c, s, d, err);
}

static void in_encode(const struct file_img *f, struct buf *b)
{
	const struct in_data *d = f->kd;

	put_u32(b, d->n);
	for (uint32_t i = 0; i < d->n; i++) {
		const struct in_watch *w = &d->w[i];

		put_i32(b, w->wd);
		put_u32(b, w->mask);
		put_u64(b, w->ino);
		put_u64(b, w->dev);
		put_i32(b, w->htype);
		put_blob(b, w->handle, w->hlen);
		put_str(b, w->path);
		put_str(b, w->mount);
	}
	put_u64(b, d->queued);
}

static void check_watch(struct wire_rd *rd, const struct in_watch *w, const struct in_watch *prev)
{
	if (w->wd <= 0 || (prev && w->wd <= prev->wd))
		wr_fail(rd, "inotify watch descriptors out of order");
	else if (w->mask & ~(uint32_t)IN_WATCH_BITS)
		wr_fail(rd, "impossible inotify watch mask");
	else if ((w->path && w->path[0] != '/') || !w->mount || w->mount[0] != '/')
		wr_fail(rd, "inotify watch path is not absolute");
	else if (!w->hlen)
		wr_fail(rd, "inotify watch without a file handle");
}

static int in_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct in_data *d = in_data_new(f);
	uint32_t n;

	if (!d)
		return err_set(err, -ENOMEM, "out of memory");
	n = get_count(rd, 40, MAX_WATCHES);
	d->w = calloc(n ? n : 1, sizeof(*d->w));
	if (!d->w)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n && !rd->bad; i++) {
		struct in_watch *w = &d->w[i];
		const void *h;

		d->n = i + 1;
		w->wd = get_i32(rd);
		w->mask = get_u32(rd);
		w->ino = get_u64(rd);
		w->dev = get_u64(rd);
		w->htype = get_i32(rd);
		h = get_blob(rd, MAX_HANDLE, &w->hlen);
		w->path = get_str(rd, MODEL_MAX_PATH);
		w->mount = get_str(rd, MODEL_MAX_PATH);
		if (rd->bad)
			break;
		memcpy(w->handle, h, w->hlen);
		check_watch(rd, w, i ? &d->w[i - 1] : NULL);
	}
	d->queued = get_u64(rd);
	if (rd->bad)
		return 0;
	if ((f->flags & O_ACCMODE) != O_RDONLY || (f->flags & ~(O_ACCMODE | IN_STATUS_FLAGS)))
		wr_fail(rd, "inotify instance with impossible open flags");
	else if (f->path)
		wr_fail(rd, "inotify instance with a path");
	return 0;
}

/* ---- restart ---- */

/* The file of watch w, O_PATH: by path, unless that is no longer the file and the
 * handle finds it; a relocated path is taken as it is. */
static int open_watched(struct rst_ctx *c, const struct in_watch *w, int fdnum, struct err *err)
{
	pid_t pid = c->rp->p->pid;
	char pbuf[MODEL_MAX_PATH], mbuf[MODEL_MAX_PATH];
	const char *path = NULL, *mnt;
	struct {
		struct file_handle h;
		uint8_t bytes[MAX_HANDLE];
	} fh;
	struct stat st;
	int fd = -1, hfd = -1, mfd;

	if (w->path) {
		path = rst_path(c, w->path, pbuf, sizeof(pbuf), err);
		if (!path)
			return err->code;
		fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 && (path != w->path || (fstat(fd, &st) == 0 && same_file(&st, w))))
			return fd;
	}
	mnt = w->hlen ? rst_path(c, w->mount, mbuf, sizeof(mbuf), err) : NULL;
	mfd = mnt ? open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (mfd >= 0) {
		fh.h.handle_bytes = w->hlen;
		fh.h.handle_type = w->htype;
		memcpy(fh.h.f_handle, w->handle, w->hlen);
		hfd = (int)syscall(SYS_open_by_handle_at, mfd, &fh.h, O_PATH | O_CLOEXEC);
		close(mfd);
	}
	if (hfd >= 0 && (fd < 0 || (fstat(hfd, &st) == 0 && same_file(&st, w)))) {
		if (fd >= 0)
			close(fd);
		return hfd;
	}
	if (hfd >= 0)
		close(hfd);
	if (fd >= 0) {
		kmsg_add(KMSG_WARN,
			 "pid %d: descriptor %d: inotify watch %d: '%s' is not the file "
			 "checkpointed (another inode)",
			 pid, fdnum, w->wd, path);
		return fd;
	}
	if (path)
		return err_sys(err, "pid %d: descriptor %d: cannot find '%s' for inotify watch %d",
			       pid, fdnum, path, w->wd);
	return err_sys(err,
		       "pid %d: descriptor %d: cannot find inode %llu under '%s' for inotify "
		       "watch %d",
		       pid, fdnum, (unsigned long long)w->ino, w->mount, w->wd);
}

/* Use up watch descriptors below want: add a watch on the placeholder and remove it. */
static int skip_to(int ifd, int *ph, int32_t want, int32_t *next, uint32_t *skipped)
{
	char path[64];

	while (*next < want) {
		int wd;

		if (++*skipped > MAX_WD_SKIP)
			return -E2BIG;
		if (*ph < 0) {
			*ph = memfd_create("crest-inotify-placeholder", MFD_CLOEXEC);
			if (*ph < 0)
				return -errno;
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", *ph);
		wd = inotify_add_watch(ifd, path, IN_ATTRIB | IN_MASK_CREATE);
		if (wd < 0)
			return -errno;
		inotify_rm_watch(ifd, wd);
		if (wd >= want)
			return -ERANGE; /* the kernel went past the number wanted */
		*next = wd + 1;
	}
	return 0;
}

static int add_watches(struct rst_ctx *c, const struct in_data *d, int ifd, int fdnum,
		       struct err *err)
{
	pid_t pid = c->rp->p->pid;
	uint32_t skipped = 0;
	int32_t next = 1;
	int ph = -1, rc = 0;

	for (uint32_t i = 0; i < d->n && rc == 0; i++) {
		const struct in_watch *w = &d->w[i];
		char path[64];
		int fd, wd;

		rc = skip_to(ifd, &ph, w->wd, &next, &skipped);
		if (rc < 0) {
			err_code(err, rc, "pid %d: descriptor %d: cannot get inotify watch %d back",
				 pid, fdnum, w->wd);
			break;
		}
		fd = open_watched(c, w, fdnum, err);
		if (fd < 0) {
			rc = fd;
			break;
		}
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		wd = inotify_add_watch(ifd, path, w->mask | IN_MASK_CREATE);
		if (wd < 0)
			rc = err_sys(err, "pid %d: descriptor %d: cannot add inotify watch %d", pid,
				     fdnum, w->wd);
		else if (wd != w->wd)
			rc = err_set(err, -ERANGE,
				     "pid %d: descriptor %d: inotify watch %d came back as %d", pid,
				     fdnum, w->wd, wd);
		next = wd + 1;
		close(fd);
	}
	if (ph >= 0)
		close(ph);
	return rc;
}

/* Read away what the placeholders left in the queue (IN_IGNORED). */
static void drain(int ifd)
{
	char buf[4096];

	while (read(ifd, buf, sizeof(buf)) > 0)
		;
}

static int in_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		   struct err *err)
{
	const struct in_data *d = f->kd;
	pid_t pid = c->rp->p->pid;
	int fd;

	(void)borrowed;
	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return err_sys(err, "pid %d: cannot create the inotify instance of descriptor %d",
			       pid, fdnum);
	if (add_watches(c, d, fd, fdnum, err) < 0)
		goto out_close;
	drain(fd);
	if (fcntl(fd, F_SETFL, (int)(f->flags & IN_STATUS_FLAGS)) < 0) {
		err_sys(err,
			"pid %d: cannot set the flags of the inotify instance of descriptor %d",
			pid, fdnum);
		goto out_close;
	}
	return fd;

out_close:
	close(fd);
	return err->code;
}

static void in_describe(const struct file_img *f, struct out *o)
{
	const struct in_data *d = f->kd;

	if (d->queued)
		out_u64(o, "events_lost", d->queued);
	out_arr_begin(o, "watches");
	for (uint32_t i = 0; i < d->n; i++) {
		const struct in_watch *w = &d->w[i];

		out_obj_begin(o, NULL);
		out_i64(o, "wd", w->wd);
		out_hex(o, "mask", w->mask);
		out_str(o, "path", w->path);
		out_u64(o, "ino", w->ino);
		out_obj_end(o);
	}
	out_arr_end(o);
}

const struct fd_kind fd_inotify_kind = {
	.kind = FILE_INOTIFY,
	.name = "inotify",
	.claim = in_claim,
	.collect = in_collect,
	.encode = in_encode,
	.decode = in_decode,
	.open = in_open,
	.describe = in_describe,
};
