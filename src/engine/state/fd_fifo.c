/* state/fd_fifo.c: named FIFOs: the path, each open file description's flags, the
 * FIFO's buffer size, and the data in it (read with tee(), so the process keeps it;
 * only when one of its read ends is in the checkpoint: otherwise a reader outside
 * holds the data).
 *
 * At restart, as BLCR does, the FIFO is reopened by path and made again with mkfifo
 * if it is missing; one that was removed before the checkpoint is made next to its
 * old name (under that very name if free) and removed at once. cr_restart first
 * opens the FIFO for reading and writing, without blocking: with both ends present,
 * no open of one end waits for the other. Through that descriptor the size is set
 * and the data put back, unless the FIFO already holds data (it outlived the process:
 * a writer outside kept it open, and what it holds is the same data). Every
 * description is then a new open of that FIFO with its own flags. Not yet: data in
 * packets (O_DIRECT). */
#define LOG_PREFIX "files: "
#include "fdkind.h"

#include "../err.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../banned.h"

#define MAX_FIFO_DATA (1u << 30)

struct fifo_data {
	uint64_t fifo;     /* the FIFO: its inode at the checkpoint */
	uint32_t size;     /* F_GETPIPE_SZ */
	uint32_t holder;   /* this description carries the data */
	uint32_t unlinked; /* the FIFO had no name any more */
	uint8_t *data;
	uint32_t len;
};

static void fifo_data_free(void *p)
{
	struct fifo_data *fi = p;

	if (fi)
		free(fi->data);
	free(fi);
}

static struct fifo_data *fifo_data_new(struct file_img *f)
{
	struct fifo_data *fi = fdkind_data(f, sizeof(*fi));

	if (fi)
		f->kd_free = fifo_data_free;
	return fi;
}

static bool ends_deleted(const char *link)
{
	size_t len = strlen(link);

	return len > 10 && !strcmp(link + len - 10, " (deleted)");
}

static bool can_read(const struct file_img *f)
{
	return (f->flags & O_ACCMODE) != O_WRONLY && !(f->flags & O_PATH);
}

static int fifo_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)c;
	(void)err;
	return S_ISFIFO(s->st.st_mode) && s->link[0] == '/';
}

static int fifo_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
			struct err *err)
{
	struct fifo_data *fi = fifo_data_new(f);
	struct stat named;

	(void)c;
	if (!fi)
		return err_set(err, -ENOMEM, "out of memory");
	fi->fifo = s->st.st_ino;
	f->path = strdup(s->link);
	if (!f->path)
		return err_set(err, -ENOMEM, "out of memory");
	if (ends_deleted(f->path)) {
		f->path[strlen(f->path) - 10] = '\0';
		fi->unlinked = 1;
	}
	/* A FIFO its path no longer leads to is one without a name, for a restart. */
	if (!fi->unlinked && (stat(f->path, &named) < 0 || named.st_ino != s->st.st_ino ||
			      named.st_dev != s->st.st_dev))
		fi->unlinked = 1;
	return 0;
}

static bool same_fifo(const struct file_img *f, const struct file_img *g)
{
	const struct fifo_data *a = f->kd, *b = g->kd;

	return f->kind == FILE_FIFO && g->kind == FILE_FIFO && a && b && a->fifo == b->fifo &&
	       f->dev == g->dev;
}

/* What the FIFO holds, without taking it: tee() from a copy of a read end into a
 * private pipe, then read that. A short read means packets (O_DIRECT writers). */
static int peek(struct dump_all *all, const struct file_img *reader, struct fifo_data *fi,
		struct err *err)
{
	struct dump_ctx *c = fdkind_dump_ctx(all, reader);
	int src = fdkind_copy_fd(all, reader);
	int tmp[2] = {-1, -1};
	ssize_t n, got;
	int rc = 0;

	if (src < 0)
		return err_code(err, src, "pid %d: cannot take a copy of descriptor %d",
				reader->dump_pid, reader->dump_fd);
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) < 0) {
		rc = err_sys(err, "cannot create a pipe");
		goto out;
	}
	/* As many slots as the FIFO, so that tee() can copy every buffer. */
	if (fcntl(tmp[1], F_SETPIPE_SZ, (int)fi->size) < 0 && fi->size > 65536) {
		rc = err_sys(err, "pid %d: cannot peek into the %u-byte FIFO '%s'",
			     reader->dump_pid, fi->size, reader->path);
		goto out;
	}
	n = tee(src, tmp[1], fi->size, SPLICE_F_NONBLOCK);
	if (n < 0 && errno != EAGAIN) {
		rc = err_sys(err, "pid %d: cannot peek into FIFO '%s'", reader->dump_pid,
			     reader->path);
		goto out;
	}
	if (n <= 0)
		goto out;
	fi->data = malloc((size_t)n);
	if (!fi->data) {
		rc = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	got = read(tmp[0], fi->data, (size_t)n);
	if (got >= 0 && got < n) {
		rc = c ? fdkind_unsupported(c, reader->dump_fd, "FIFO holding data in packets",
					    reader->path, err)
		       : err_set(err, -ENOTSUP, "FIFO '%s' holds data in packets", reader->path);
		goto out;
	}
	if (got != n) {
		rc = err_sys(err, "pid %d: cannot read the data of FIFO '%s'", reader->dump_pid,
			     reader->path);
		goto out;
	}
	fi->len = (uint32_t)n;
out:
	if (tmp[0] >= 0)
		close(tmp[0]);
	if (tmp[1] >= 0)
		close(tmp[1]);
	close(src);
	return rc;
}

/* Once every process is collected: each FIFO's size, and its data kept by its first
 * read end. */
static int fifo_settle(struct dump_all *all, struct err *err)
{
	struct model *m = all->m;

	for (uint32_t i = 0; i < m->nfiles; i++) {
		struct file_img *f = &m->files[i], *reader = NULL, *any = NULL;
		struct fifo_data *fi;
		int copy, size;

		if (f->kind != FILE_FIFO || ((struct fifo_data *)f->kd)->size)
			continue; /* not a FIFO, or one already settled */
		for (uint32_t k = i; k < m->nfiles; k++) {
			struct file_img *g = &m->files[k];

			if (!same_fifo(f, g) || (g->flags & O_PATH))
				continue;
			if (!any)
				any = g;
			if (!reader && can_read(g))
				reader = g;
		}
		/* O_PATH descriptions alone say nothing of the FIFO: the default size. */
		size = 65536;
		if (any) {
			copy = fdkind_copy_fd(all, reader ? reader : any);
			if (copy < 0)
				return err_code(err, copy,
						"pid %d: cannot take a copy of descriptor %d",
						any->dump_pid, any->dump_fd);
			size = fcntl(copy, F_GETPIPE_SZ);
			close(copy);
			if (size <= 0)
				return err_sys(err, "pid %d: cannot read the size of FIFO '%s'",
					       any->dump_pid, f->path);
		}
		for (uint32_t k = i; k < m->nfiles; k++)
			if (same_fifo(f, &m->files[k]))
				((struct fifo_data *)m->files[k].kd)->size = (uint32_t)size;
		if (!reader)
			continue;
		fi = reader->kd;
		fi->holder = 1;
		if (peek(all, reader, fi, err) < 0)
			return err->code;
		if (fi->len == 0)
			continue;
		for (uint32_t k = i; k < m->nfiles; k++)
			if (same_fifo(f, &m->files[k]) && (m->files[k].flags & O_DIRECT)) {
				struct dump_ctx *c = fdkind_dump_ctx(all, &m->files[k]);

				return c ? fdkind_unsupported(
					       c, m->files[k].dump_fd,
					       "FIFO in packet mode (O_DIRECT) holding "
					       "data",
					       f->path, err)
					 : err_set(err, -ENOTSUP, "FIFO '%s' holds packets",
						   f->path);
			}
	}
	return 0;
}

static void fifo_encode(const struct file_img *f, struct buf *b)
{
	const struct fifo_data *fi = f->kd;

	put_u64(b, fi->fifo);
	put_u32(b, fi->size);
	put_u32(b, fi->holder);
	put_u32(b, fi->unlinked);
	put_blob(b, fi->data, fi->len);
}

static int fifo_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct fifo_data *fi = fifo_data_new(f);
	const void *data;

	if (!fi)
		return err_set(err, -ENOMEM, "out of memory");
	fi->fifo = get_u64(rd);
	fi->size = get_u32(rd);
	fi->holder = get_u32(rd);
	fi->unlinked = get_u32(rd);
	data = get_blob(rd, MAX_FIFO_DATA, &fi->len);
	if (rd->bad)
		return 0;
	if (fi->size < 4096 || fi->size > MAX_FIFO_DATA || (fi->size & (fi->size - 1)))
		wr_fail(rd, "impossible FIFO size");
	else if (fi->holder > 1 || fi->unlinked > 1 || fi->len > fi->size ||
		 (fi->len && !fi->holder))
		wr_fail(rd, "FIFO data that does not fit the FIFO");
	else if (!S_ISFIFO(f->mode) || !f->path)
		wr_fail(rd, "FIFO without a path or of another type");
	if (fi->len && !rd->bad) {
		fi->data = malloc(fi->len);
		if (!fi->data)
			return err_set(err, -ENOMEM, "out of memory");
		memcpy(fi->data, data, fi->len);
	}
	return 0;
}

/* At most one holder of the data, and one size for the whole FIFO. */
static int fifo_check(const struct model *m, const struct file_img *f, struct err *err)
{
	const struct fifo_data *fi = f->kd;
	int holders = 0;

	for (uint32_t i = 0; i < m->nfiles; i++) {
		const struct file_img *g = &m->files[i];

		if (!same_fifo(f, g))
			continue;
		holders += (int)((const struct fifo_data *)g->kd)->holder;
		if (((const struct fifo_data *)g->kd)->size != fi->size)
			return err_set(err, -EINVAL, "file %u: a FIFO of two sizes", f->id);
	}
	if (holders > 1)
		return err_set(err, -EINVAL, "file %u: a FIFO with %d holders of its data", f->id,
			       holders);
	return 0;
}

/* ---- restart: each FIFO opened once, for reading and writing ---- */

struct made_fifo {
	uint64_t dev, fifo;
	int fd;
};

struct fifo_state {
	struct made_fifo *v;
	uint32_t n;
};

static int open_rw(const char *path)
{
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

	return fd < 0 ? -errno : fd;
}

/* A FIFO that had no name: made next to its old one, opened, removed. */
static int make_unlinked(const char *path, mode_t mode, struct err *err)
{
	char tmp[MODEL_MAX_PATH + 32], dirbuf[MODEL_MAX_PATH], basebuf[MODEL_MAX_PATH];
	const char *tmpdir = getenv("TMPDIR");
	const char *tries[3];
	int fd = -ENOENT;

	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	snprintf(basebuf, sizeof(basebuf), "%s", path);
	tries[0] = path;
	tries[1] = dirname(dirbuf);
	tries[2] = tmpdir && tmpdir[0] == '/' ? tmpdir : "/tmp";
	for (int t = 0; t < 3 && fd < 0; t++) {
		for (int k = 0; k < 100; k++) {
			const char *at = tmp;

			if (t == 0)
				at = path;
			else if (snprintf(tmp, sizeof(tmp), "%s/.%s.crest-%d-%d", tries[t],
					  basename(basebuf), (int)getpid(), k) >= (int)sizeof(tmp))
				return err_set(err, -ENAMETOOLONG, "FIFO name '%s' too long", path);
			if (mkfifo(at, mode) < 0) {
				fd = -errno;
				if (fd == -EEXIST && t > 0)
					continue;
				break;
			}
			fd = open_rw(at);
			if (fd >= 0 && (unlink(at) < 0 || fchmod(fd, mode) < 0)) {
				close(fd);
				fd = -errno;
			}
			break;
		}
	}
	if (fd < 0)
		return err_code(err, fd, "cannot make FIFO '%s' again", path);
	return fd;
}

/* cr_restart's descriptor of the FIFO, for reading and writing: found by path, made
 * if missing; its size set and its data put back. */
static int make_fifo(struct rst_ctx *c, const struct file_img *f, const struct fifo_data *data,
		     struct err *err)
{
	const struct proc_img *p = c->rp->p;
	const struct fifo_data *fi = f->kd;
	char buf[MODEL_MAX_PATH];
	const char *path = rst_path(c, f->path, buf, sizeof(buf), err);
	struct stat st;
	int a, held = 0;

	if (!path)
		return err->code;
	if (fi->unlinked) {
		a = make_unlinked(path, f->mode & 07777, err);
	} else {
		a = open_rw(path);
		if (a == -ENOENT) {
			if (mkfifo(path, f->mode & 07777) < 0 && errno != EEXIST)
				return err_sys(err,
					       "cannot make FIFO '%s' again (descriptor of pid %d)",
					       path, p->pid);
			if (chmod(path, f->mode & 07777) < 0)
				kmsg_add(KMSG_WARN,
					 "pid %d: FIFO '%s' made again with another mode: %s",
					 p->pid, path, strerror(errno));
			a = open_rw(path);
		}
		if (a < 0)
			return err_code(err, a, "cannot reopen FIFO '%s' (pid %d)", path, p->pid);
	}
	if (a < 0)
		return a;
	if (fstat(a, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(a);
		return err_set(err, -EEXIST, "'%s' (a FIFO of pid %d) is no longer a FIFO", path,
			       p->pid);
	}
	if ((uint32_t)fcntl(a, F_GETPIPE_SZ) != fi->size &&
	    fcntl(a, F_SETPIPE_SZ, (int)fi->size) < 0)
		kmsg_add(KMSG_WARN, "pid %d: FIFO '%s' is back with another size than %u: %s",
			 p->pid, path, fi->size, strerror(errno));
	if (!data || !data->len)
		return a;
	if (ioctl(a, FIONREAD, &held) == 0 && held > 0) {
		kmsg_add(
		    KMSG_WARN,
		    "pid %d: FIFO '%s' still holds %d bytes (kept open outside): its saved data "
		    "is not put back",
		    p->pid, path, held);
		return a;
	}
	if (write(a, data->data, data->len) != (ssize_t)data->len) {
		close(a);
		return err_set(err, -EIO, "pid %d: cannot refill FIFO '%s' with %u bytes", p->pid,
			       path, data->len);
	}
	return a;
}

static struct made_fifo *find_or_make(struct rst_ctx *c, const struct file_img *f, struct err *err)
{
	struct fifo_state **st = (struct fifo_state **)fdkind_rst_state(c, FILE_FIFO);
	const struct fifo_data *fi = f->kd, *holder = NULL;
	struct made_fifo *mf;
	int a;

	if (!*st) {
		*st = calloc(1, sizeof(**st));
		if (!*st) {
			err_set(err, -ENOMEM, "out of memory");
			return NULL;
		}
	}
	for (uint32_t i = 0; i < (*st)->n; i++)
		if ((*st)->v[i].fifo == fi->fifo && (*st)->v[i].dev == f->dev)
			return &(*st)->v[i];
	for (uint32_t i = 0; i < c->m->nfiles && !holder; i++)
		if (same_fifo(f, &c->m->files[i]) &&
		    ((const struct fifo_data *)c->m->files[i].kd)->holder)
			holder = c->m->files[i].kd;
	a = make_fifo(c, f, holder, err);
	if (a < 0)
		return NULL;
	mf = model_grow((void **)&(*st)->v, &(*st)->n, sizeof(*mf));
	if (!mf) {
		close(a);
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	*mf = (struct made_fifo){f->dev, fi->fifo, a};
	return mf;
}

static int fifo_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		     struct err *err)
{
	struct made_fifo *mf = find_or_make(c, f, err);
	char path[64];
	int fd;

	(void)borrowed;
	if (!mf)
		return err->code;
	/* The FIFO is open at both ends: no open of it waits. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mf->fd);
	fd = open(path, (int)(f->flags & REOPEN_FLAGS) | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_sys(err, "pid %d: cannot open FIFO '%s' (descriptor %d)", c->rp->p->pid,
			       f->path, fdnum);
	return fd;
}

static void fifo_cleanup(struct rst_ctx *c)
{
	struct fifo_state **st = (struct fifo_state **)fdkind_rst_state(c, FILE_FIFO);

	if (!*st)
		return;
	for (uint32_t i = 0; i < (*st)->n; i++)
		close((*st)->v[i].fd);
	free((*st)->v);
	free(*st);
	*st = NULL;
}

static void fifo_describe(const struct file_img *f, struct out *o)
{
	const struct fifo_data *fi = f->kd;

	out_u64(o, "fifo", fi->fifo);
	out_u64(o, "size", fi->size);
	if (fi->unlinked)
		out_bool(o, "unlinked", true);
	if (fi->holder)
		out_u64(o, "bytes_in_fifo", fi->len);
}

const struct fd_kind fd_fifo_kind = {
    .kind = FILE_FIFO,
    .name = "fifo",
    .claim = fifo_claim,
    .collect = fifo_collect,
    .settle = fifo_settle,
    .encode = fifo_encode,
    .decode = fifo_decode,
    .check = fifo_check,
    .open = fifo_open,
    .cleanup = fifo_cleanup,
    .describe = fifo_describe,
};
