/* state/fsaved.c: the contents of files the context holds (see fsaved.h): which
 * description of an inode carries them, which bytes are saved (holes are skipped),
 * the "file contents" records, and at restart the inode made once and filled.
 *
 * Contents travel in records of their own, after the file records, each with up to
 * 1 MiB of one file's bytes: the file record stays small, and a big file never has
 * to be held in memory whole. At restart the bytes are copied from the mapped
 * context file (their CRCs were checked when it was loaded). */
#define LOG_PREFIX "files: "
#include "fsaved.h"

#include "fdkind.h"

#include "../err.h"
#include "../image.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../banned.h"

#define DATA_CHUNK (1u << 20) /* bytes of contents per record */
#define DATA_HEAD 16u         /* u32 file id, u64 offset, u32 blob length */
#define MAX_WANT (1u << 20)

struct fsaved *fsaved_of(const struct file_img *f)
{
	if ((f->kind != FILE_MEMFD && f->kind != FILE_DELETED) || !f->kd)
		return NULL;
	return f->kd;
}

void fsaved_init(struct fsaved *fs)
{
	memset(fs, 0, sizeof(*fs));
	fs->src = -1;
}

void fsaved_fini(struct fsaved *fs)
{
	if (fs->src >= 0)
		close(fs->src);
	free(fs->want);
	free(fs->chunks);
	fsaved_init(fs);
}

void *fsaved_data_new(struct file_img *f, size_t size, void (*kd_free)(void *))
{
	struct fsaved *fs = fdkind_data(f, size);

	if (!fs)
		return NULL;
	f->kd_free = kd_free;
	fsaved_init(fs);
	return fs;
}

/* The description of inode dev/ino that carries its contents; NULL if none. */
static struct file_img *find_holder(const struct model *m, uint64_t dev, uint64_t ino)
{
	for (uint32_t i = 0; i < m->nfiles; i++) {
		struct file_img *f = &m->files[i];
		const struct fsaved *fs = fsaved_of(f);

		if (fs && fs->holder && f->dev == dev && f->ino == ino)
			return f;
	}
	return NULL;
}

static int want_add(struct fsaved *fs, uint64_t off, uint64_t len)
{
	struct fsaved_range *n;

	if (fs->nwant >= MAX_WANT)
		return -E2BIG;
	n = realloc(fs->want, (fs->nwant + 1u) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	fs->want = n;
	fs->want[fs->nwant++] = (struct fsaved_range){off, len};
	return 0;
}

/* ---- checkpoint ---- */

/* A description of our own of the file behind descriptor fd of pid: the contents are
 * read through it with lseek(SEEK_DATA), which must not move the process's offset. */
static int open_own(pid_t pid, int fd, struct err *err)
{
	char path[64];
	int own;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	own = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (own < 0)
		return err_sys(err, "pid %d: cannot open the file of descriptor %d to save it", pid,
			       fd);
	return own;
}

int fsaved_collect(struct dump_ctx *c, struct file_img *f, int fd, struct err *err)
{
	struct fsaved *fs = fsaved_of(f);
	struct file_img *h = find_holder(c->m, f->dev, f->ino);
	int rc;

	if (!fs)
		return err_set(err, -EINVAL, "internal: file %u has no contents to save", f->id);
	if (h && h != f) {
		/* Another description (or a mapping) of the inode carries it: whole now. */
		rc = want_add(fsaved_of(h), 0, UINT64_MAX);
		return rc < 0 ? err_set(err, rc, "out of memory") : 0;
	}
	/* Opened again when the contents are written (the process is still frozen): a
	 * process may hold as many such files as our limit of open files. */
	rc = open_own(c->p->pid, fd, err);
	if (rc < 0)
		return err->code;
	close(rc);
	fs->holder = 1;
	rc = want_add(fs, 0, UINT64_MAX);
	return rc < 0 ? err_set(err, rc, "out of memory") : 0;
}

/* A holder for a file only mapped: a file record no descriptor refers to. */
static struct file_img *new_holder(struct dump_ctx *c, uint32_t kind, int src,
				   const struct stat *st, const char *path, struct err *err)
{
	struct model *m = c->m;
	size_t len = strlen(path);
	char *name;
	struct file_img *f;
	int rc;

	f = model_grow((void **)&m->files, &m->nfiles, sizeof(*f));
	if (!f) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	f->id = m->nfiles;
	f->kind = kind;
	f->flags = O_RDWR | KERNEL_O_LARGEFILE;
	f->mode = st->st_mode;
	f->size = (uint64_t)st->st_size;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	name = strdup(path);
	if (!name) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	if (len > 10 && !strcmp(name + len - 10, " (deleted)"))
		name[len - 10] = '\0';
	rc = kind == FILE_MEMFD ? fd_memfd_for_mapping(f, c->p->pid, src, name, err)
				: fd_deleted_for_mapping(f, st, name, err);
	free(name);
	return rc < 0 ? NULL : f;
}

int fsaved_mapping(struct dump_ctx *c, uint32_t kind, const char *path, uint64_t start,
		   uint64_t end, uint64_t pgoff, bool whole, struct stat *ret_st, struct err *err)
{
	char mf[96];
	struct file_img *h;
	struct fsaved *fs;
	struct stat st;
	int src, rc;

	snprintf(mf, sizeof(mf), "/proc/%d/map_files/%llx-%llx", c->p->pid,
		 (unsigned long long)start, (unsigned long long)end);
	src = open(mf, O_RDONLY | O_CLOEXEC);
	if (src < 0)
		return err_sys(err, "pid %d: cannot open the file mapped at %#llx (%s)", c->p->pid,
			       (unsigned long long)start, path);
	if (fstat(src, &st) < 0) {
		err_sys(err, "pid %d: cannot open the file mapped at %#llx (%s)", c->p->pid,
			(unsigned long long)start, path);
		close(src);
		return err->code;
	}
	if (!S_ISREG(st.st_mode)) {
		close(src);
		return err_set(
		    err, -ENOTSUP,
		    "pid %d: mapping at %#llx of %s (not a regular file) is not supported",
		    c->p->pid, (unsigned long long)start, path);
	}
	h = find_holder(c->m, st.st_dev, st.st_ino);
	if (h) {
		close(src);
	} else {
		h = new_holder(c, kind, src, &st, path, err);
		if (!h) {
			close(src);
			return err->code;
		}
		fs = fsaved_of(h);
		fs->holder = 1;
		fs->src = src;
	}
	fs = fsaved_of(h);
	rc = whole ? want_add(fs, 0, UINT64_MAX) : want_add(fs, pgoff, end - start);
	if (rc < 0)
		return err_set(err, rc, "out of memory");
	*ret_st = st;
	return 0;
}

static int cmp_range(const void *a, const void *b)
{
	const struct fsaved_range *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/* Sort the wanted ranges, clip them to the file, merge those that touch. */
static void merge_wanted(struct fsaved *fs, uint64_t size)
{
	uint32_t n = 0;

	if (fs->nwant > 1)
		qsort(fs->want, fs->nwant, sizeof(*fs->want), cmp_range);
	for (uint32_t i = 0; i < fs->nwant; i++) {
		struct fsaved_range r = fs->want[i];
		uint64_t end;

		if (r.off >= size || r.len == 0)
			continue;
		end = r.len > size - r.off ? size : r.off + r.len;
		if (n && fs->want[n - 1].off + fs->want[n - 1].len >= r.off) {
			struct fsaved_range *last = &fs->want[n - 1];

			if (end > last->off + last->len)
				last->len = end - last->off;
			continue;
		}
		fs->want[n++] = (struct fsaved_range){r.off, end - r.off};
	}
	fs->nwant = n;
}

/* One record: len bytes of file f from offset off, read into buf after the head. */
static int write_chunk(struct img_writer *w, const struct file_img *f, uint8_t *buf, uint64_t off,
		       size_t len, struct err *err)
{
	const struct fsaved *fs = f->kd;
	size_t got = 0;
	struct buf head;

	while (got < len) {
		ssize_t k = pread(fs->src, buf + DATA_HEAD + got, len - got, (off_t)(off + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return err_set(err, k < 0 ? -errno : -EIO,
				       "cannot read the contents of %s at offset %llu: %s",
				       f->path ? f->path : "a memfd",
				       (unsigned long long)(off + got),
				       k < 0 ? strerror(errno) : "file shrank");
		got += (size_t)k;
	}
	buf_init(&head);
	put_u32(&head, f->id);
	put_u64(&head, off);
	put_u32(&head, (uint32_t)len);
	if (head.oom) {
		buf_fini(&head);
		return err_set(err, -ENOMEM, "out of memory");
	}
	memcpy(buf, head.data, DATA_HEAD);
	buf_fini(&head);
	return img_write_record(w, REC_FILE_DATA, REC_F_REQUIRED, buf, DATA_HEAD + len, err);
}

/* The data of one range, hole by hole skipped. */
static int write_range(struct img_writer *w, const struct file_img *f, uint8_t *buf,
		       const struct fsaved_range *r, struct err *err)
{
	const struct fsaved *fs = f->kd;
	uint64_t pos = r->off, end = r->off + r->len;

	while (pos < end) {
		off_t d = lseek(fs->src, (off_t)pos, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			return 0; /* only a hole is left */
		if (d < 0 && errno != EINVAL)
			return err_sys(err, "cannot look for data in %s",
				       f->path ? f->path : "a memfd");
		if (d < 0) /* no SEEK_DATA here: everything is data */
			d = (off_t)pos, h = (off_t)end;
		else
			h = lseek(fs->src, d, SEEK_HOLE);
		if ((uint64_t)d >= end)
			return 0;
		if (h < 0 || (uint64_t)h > end)
			h = (off_t)end;
		for (uint64_t o = (uint64_t)d; o < (uint64_t)h;) {
			size_t n =
			    (uint64_t)h - o < DATA_CHUNK ? (size_t)((uint64_t)h - o) : DATA_CHUNK;
			int rc = write_chunk(w, f, buf, o, n, err);

			if (rc < 0)
				return rc;
			o += n;
		}
		pos = (uint64_t)h;
	}
	return 0;
}

/* After the file records: the contents of every holder. */
static int fsaved_encode_global(struct model *m, struct img_writer *w, struct err *err)
{
	uint8_t *buf = NULL;
	int rc = 0;

	for (uint32_t i = 0; i < m->nfiles && rc == 0; i++) {
		const struct file_img *f = &m->files[i];
		struct fsaved *fs = fsaved_of(f);
		bool own = false;

		if (!fs || !fs->holder || (fs->src < 0 && f->dump_pid <= 0))
			continue;
		if (!buf) {
			buf = malloc(DATA_HEAD + DATA_CHUNK);
			if (!buf)
				return err_set(err, -ENOMEM, "out of memory");
		}
		/* A holder found at a descriptor reads through it again, for the time
		 * of its contents; one made for a mapping kept its copy. */
		if (fs->src < 0) {
			fs->src = open_own(f->dump_pid, f->dump_fd, err);
			if (fs->src < 0) {
				rc = err->code;
				break;
			}
			own = true;
		}
		merge_wanted(fs, f->size);
		for (uint32_t k = 0; k < fs->nwant && rc == 0; k++)
			rc = write_range(w, f, buf, &fs->want[k], err);
		if (own) {
			close(fs->src);
			fs->src = -1;
		}
	}
	free(buf);
	return rc;
}

/* ---- reading ---- */

void fsaved_encode(const struct fsaved *fs, struct buf *b)
{
	put_u32(b, fs->holder);
}

void fsaved_decode(struct fsaved *fs, struct wire_rd *rd)
{
	fs->holder = get_u32(rd);
	if (fs->holder > 1)
		wr_fail(rd, "bad holder flag");
}

static int fsaved_decode_rec(struct model *m, const struct img_rec *rec, const struct img_reader *r,
			     struct err *err)
{
	struct wire_rd rd;
	struct file_img *f;
	struct fsaved *fs;
	struct fsaved_chunk *n;
	uint64_t off;
	uint32_t id, len;

	wr_init(&rd, rec->payload, rec->len);
	id = get_u32(&rd);
	off = get_u64(&rd);
	get_blob(&rd, DATA_CHUNK, &len);
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	f = model_find_file(m, id);
	fs = f ? fsaved_of(f) : NULL;
	if (!fs || !fs->holder)
		return img_rec_corrupt(r, rec, "contents of a file that keeps none", err);
	if (len == 0 || off > f->size || len > f->size - off)
		return img_rec_corrupt(r, rec, "contents beyond the end of the file", err);
	if (fs->nchunks && off < fs->chunks[fs->nchunks - 1].off + fs->chunks[fs->nchunks - 1].len)
		return img_rec_corrupt(r, rec, "file contents out of order or overlapping", err);
	if (fs->nchunks >= UINT32_MAX / 2)
		return img_rec_corrupt(r, rec, "too many pieces of file contents", err);
	n = realloc(fs->chunks, (fs->nchunks + 1u) * sizeof(*n));
	if (!n)
		return err_set(err, -ENOMEM, "out of memory");
	fs->chunks = n;
	fs->chunks[fs->nchunks++] =
	    (struct fsaved_chunk){off, len, r->base + rec->off + IMG_REC_HDR_LEN + DATA_HEAD};
	return 0;
}

int fsaved_check(const struct model *m, const struct file_img *f, struct err *err)
{
	int holders = 0;

	for (uint32_t i = 0; i < m->nfiles; i++) {
		const struct file_img *g = &m->files[i];
		const struct fsaved *gs = fsaved_of(g);

		if (gs && g->dev == f->dev && g->ino == f->ino) {
			if (g->kind != f->kind)
				return err_set(err, -EINVAL, "file %u: its inode is of two kinds",
					       f->id);
			holders += (int)gs->holder;
		}
	}
	if (holders != 1)
		return err_set(err, -EINVAL, "file %u: %d descriptions keep its contents", f->id,
			       holders);
	return 0;
}

void fsaved_describe(const struct fsaved *fs, struct out *o)
{
	uint64_t saved = 0;

	if (!fs->holder)
		return;
	for (uint32_t i = 0; i < fs->nchunks; i++)
		saved += fs->chunks[i].len;
	out_u64(o, "bytes_saved", saved);
}

/* Every area saved by contents has its file in the context. */
static int fsaved_validate(struct model *m, struct proc_img *p, struct err *err)
{
	for (uint32_t i = 0; i < p->nvmas; i++) {
		const struct vma_img *v = &p->vmas[i];
		const struct file_img *h;

		if (v->kind != VMA_FILE_SAVED)
			continue;
		h = find_holder(m, v->dev, v->ino);
		if (!h)
			return err_set(
			    err, -EINVAL,
			    "pid %d: the contents of the file mapped at %#llx are not in "
			    "the context",
			    p->pid, (unsigned long long)v->start);
		if (fsaved_check(m, h, err) < 0)
			return err->code;
	}
	return 0;
}

/* ---- restart: each inode made once ---- */

struct made_inode {
	const struct file_img *h;
	int fd;
};

struct made_state {
	struct made_inode *v;
	uint32_t n;
};

/* The inodes live in the slot of FILE_DELETED: memfds and deleted files share them. */
static struct made_state **made_slot(struct rst_ctx *c)
{
	return (struct made_state **)fdkind_rst_state(c, FILE_DELETED);
}

static int fill(struct rst_ctx *c, const struct file_img *h, int fd, struct err *err)
{
	const struct fsaved *fs = h->kd;

	if (ftruncate(fd, (off_t)h->size) < 0)
		return err_sys(err, "pid %d: cannot give the saved copy of %s its %llu bytes",
			       c->rp->p->pid, h->path ? h->path : "a memfd",
			       (unsigned long long)h->size);
	for (uint32_t i = 0; i < fs->nchunks; i++) {
		const struct fsaved_chunk *k = &fs->chunks[i];

		if (k->img_off > c->img_len || k->len > c->img_len - k->img_off)
			return err_set(err, -EIO,
				       "%s: file contents at offset %llu run past the end",
				       c->img_name, (unsigned long long)k->img_off);
		for (uint64_t done = 0; done < k->len;) {
			ssize_t n = pwrite(fd, c->img_map + k->img_off + done, k->len - done,
					   (off_t)(k->off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return err_set(err, n < 0 ? -errno : -EIO,
					       "pid %d: cannot write the saved copy of %s: %s",
					       c->rp->p->pid, h->path ? h->path : "a memfd",
					       n < 0 ? strerror(errno) : "short write");
			done += (uint64_t)n;
		}
	}
	return 0;
}

/* cr_restart's descriptor of the inode h keeps, made and filled on first use. */
static int inode_fd(struct rst_ctx *c, const struct file_img *h, struct err *err)
{
	struct made_state **st = made_slot(c);
	struct made_inode *mi;
	int fd;

	if (!*st) {
		*st = calloc(1, sizeof(**st));
		if (!*st)
			return err_set(err, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < (*st)->n; i++)
		if ((*st)->v[i].h == h)
			return (*st)->v[i].fd;
	fd = h->kind == FILE_MEMFD ? fd_memfd_make(c, h, err) : fd_deleted_make(c, h, err);
	if (fd < 0)
		return fd;
	if (fill(c, h, fd, err) < 0) {
		close(fd);
		return err->code;
	}
	/* Filled: keep it read-only, since a file anyone holds open for writing cannot be
	 * an executable (PR_SET_MM_MAP's exe). A memfd stays writable for its seals. */
	if (h->kind != FILE_MEMFD) {
		char path[64];
		int ro;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		ro = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		close(fd);
		if (ro < 0)
			return err_sys(err, "pid %d: cannot reopen the saved copy of %s",
				       c->rp->p->pid, h->path);
		fd = ro;
	}
	mi = model_grow((void **)&(*st)->v, &(*st)->n, sizeof(*mi));
	if (!mi) {
		close(fd);
		return err_set(err, -ENOMEM, "out of memory");
	}
	mi->h = h;
	mi->fd = fd;
	return fd;
}

static int open_inode(struct rst_ctx *c, const struct file_img *h, int flags, struct err *err)
{
	char path[64];
	int ifd = inode_fd(c, h, err), fd;

	if (ifd < 0)
		return ifd;
	/* A new open file description of the same inode, with the flags asked for. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", ifd);
	fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_sys(err, "pid %d: cannot open the saved copy of %s", c->rp->p->pid,
			       h->path ? h->path : "a memfd");
	return fd;
}

int fsaved_open(struct rst_ctx *c, const struct file_img *f, int flags, struct err *err)
{
	const struct file_img *h = find_holder(c->m, f->dev, f->ino);

	if (!h)
		return err_set(err, -EINVAL, "file %u: its contents are not in the context", f->id);
	return open_inode(c, h, flags, err);
}

int fsaved_open_mapped(struct rst_ctx *c, uint64_t dev, uint64_t ino, int flags, struct err *err)
{
	const struct file_img *h = find_holder(c->m, dev, ino);

	if (!h)
		return err_set(err, -ENOENT,
			       "pid %d: a mapped file's contents are not in the context",
			       c->rp->p->pid);
	return open_inode(c, h, flags, err);
}

int fsaved_kind_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		     struct err *err)
{
	int fd;

	(void)borrowed;
	fd = fsaved_open(c, f, (int)(f->flags & REOPEN_FLAGS), err);
	if (fd < 0)
		return fd;
	if (f->pos && !(f->flags & O_PATH) && lseek(fd, (off_t)f->pos, SEEK_SET) < 0) {
		if (f->kind == FILE_MEMFD)
			err_sys(err, "pid %d: cannot seek memfd (descriptor %d) to %llu",
				c->rp->p->pid, fdnum, (unsigned long long)f->pos);
		else
			err_sys(err,
				"pid %d: cannot seek deleted file '%s' (descriptor %d) to %llu",
				c->rp->p->pid, f->path, fdnum, (unsigned long long)f->pos);
		close(fd);
		return err->code;
	}
	return fd;
}

/* Seals last: they would forbid the writes and mappings of the restore. */
static int fsaved_finish(struct rst_ctx *c, struct err *err)
{
	struct made_state *st = *made_slot(c);

	for (uint32_t i = 0; st && i < st->n; i++)
		if (st->v[i].h->kind == FILE_MEMFD &&
		    fd_memfd_seal(c, st->v[i].h, st->v[i].fd, err) < 0)
			return err->code;
	return 0;
}

static void fsaved_cleanup(struct rst_ctx *c)
{
	struct made_state **st = made_slot(c);

	if (!*st)
		return;
	for (uint32_t i = 0; i < (*st)->n; i++)
		close((*st)->v[i].fd);
	free((*st)->v);
	free(*st);
	*st = NULL;
}

const struct state_ops fsaved_ops = {
    .name = "file contents",
    .recs = {REC_FILE_DATA},
    .encode_global = fsaved_encode_global,
    .decode = fsaved_decode_rec,
    .validate = fsaved_validate,
    .finish = fsaved_finish,
    .cleanup = fsaved_cleanup,
};
