/* state/fd_pipe.c: pipes whose read and write ends are both in the checkpoint, with
 * the data in them (read with tee(), so the process keeps it), their size and each
 * end's flags (O_NONBLOCK, O_DIRECT packet mode). A pipe with only one end here
 * leads outside: it is given to fd_external.c.
 *
 * The pipe's data travels with one of its read-end descriptions (the holder). At
 * restart each pipe is made once, refilled, and each of its open file descriptions
 * given out: the first of an end is the pipe's own (its very descriptor, not a copy),
 * later ones are new descriptions of it (/proc/self/fd). Not yet: data in packets (its
 * boundaries are not saved). */
#define LOG_PREFIX "pipes: "
#include "fdkind.h"

#include "../err.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../banned.h"

#define MAX_PIPE_DATA (1u << 30)

struct pipe_data {
	uint64_t pipe;   /* the pipe: its inode at the checkpoint */
	uint32_t size;   /* F_GETPIPE_SZ */
	uint32_t holder; /* this description carries the data */
	uint8_t *data;
	uint32_t len;
	bool checked; /* read back, not saved: pipe_check found every pipe whole */
};

static void pipe_data_free(void *p)
{
	struct pipe_data *pd = p;

	if (pd)
		free(pd->data);
	free(pd);
}

static struct pipe_data *pipe_data_new(struct file_img *f)
{
	struct pipe_data *pd = fdkind_data(f, sizeof(*pd));

	if (pd)
		f->kd_free = pipe_data_free;
	return pd;
}

static bool is_read_end(const struct file_img *f)
{
	return (f->flags & O_ACCMODE) == O_RDONLY;
}

static int pipe_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)c;
	(void)err;
	return S_ISFIFO(s->st.st_mode) && !strncmp(s->link, "pipe:[", 6);
}

static int pipe_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
			struct err *err)
{
	struct pipe_data *pd = pipe_data_new(f);

	(void)c;
	if (!pd)
		return err_set(err, -ENOMEM, "out of memory");
	pd->pipe = s->st.st_ino;
	return 0;
}

/* Read what a pipe holds without taking it: tee() from fd into a private pipe, then
 * read that. tee() keeps each buffer's packet flag, and read() stops after a packet
 * (O_DIRECT pipes): a short read means the data is in packets, whose boundaries are
 * not saved yet. */
static int peek(struct dump_ctx *c, int fd, int target_fd, const char *what, bool packets,
		struct pipe_data *pd, struct err *err)
{
	int tmp[2] = {-1, -1};
	int size, rc = 0;
	ssize_t n, got;

	size = fcntl(fd, F_GETPIPE_SZ);
	if (size <= 0)
		return err_sys(err, "pid %d: cannot read the size of the pipe on descriptor %d",
			       c->p->pid, target_fd);
	pd->size = (uint32_t)size;
	if (pipe2(tmp, O_CLOEXEC | O_NONBLOCK) < 0)
		return err_sys(err, "cannot create a pipe");
	/* As many slots as the target's pipe, so that tee() can copy every buffer. */
	if (fcntl(tmp[1], F_SETPIPE_SZ, size) < 0 && size > 65536) {
		rc = err_sys(err, "pid %d: cannot peek into the %d-byte pipe on descriptor %d",
			     c->p->pid, size, target_fd);
		goto out;
	}
	n = tee(fd, tmp[1], pd->size, SPLICE_F_NONBLOCK);
	if (n < 0 && errno != EAGAIN) {
		rc = err_sys(err, "pid %d: cannot peek into the pipe on descriptor %d", c->p->pid,
			     target_fd);
		goto out;
	}
	if (n <= 0)
		goto out;
	if (packets) {
		rc = fdkind_unsupported(c, target_fd, "pipe in packet mode (O_DIRECT) holding data",
					what, err);
		goto out;
	}
	pd->data = malloc((size_t)n);
	if (!pd->data) {
		rc = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	got = read(tmp[0], pd->data, (size_t)n);
	if (got >= 0 && got < n) {
		rc = fdkind_unsupported(c, target_fd, "pipe holding data in packets", what, err);
		goto out;
	}
	if (got != n) {
		rc = err_sys(err, "pid %d: cannot read the data of the pipe on descriptor %d",
			     c->p->pid, target_fd);
		goto out;
	}
	pd->len = (uint32_t)n;
out:
	close(tmp[0]);
	close(tmp[1]);
	return rc;
}

static bool same_pipe(const struct file_img *f, const struct file_img *g)
{
	const struct pipe_data *a = f->kd, *b = g->kd;

	return f->kind == FILE_PIPE && g->kind == FILE_PIPE && a && b && a->pipe == b->pipe;
}

/* ---- the ends of each pipe, among thousands ---- */

/* A pipe end: the pipe's inode, where the description is in m->files. */
struct end_key {
	uint64_t pipe;
	uint32_t at;
};

static int cmp_end(const void *pa, const void *pb)
{
	const struct end_key *a = pa, *b = pb;

	if (a->pipe != b->pipe)
		return a->pipe < b->pipe ? -1 : 1;
	return a->at < b->at ? -1 : a->at > b->at;
}

/* Every pipe end of the model, sorted: a pipe's ends lie side by side, each pipe's in
 * the model's order. NULL if out of memory. */
static struct end_key *pipe_ends(const struct model *m, uint32_t *ret_n)
{
	struct end_key *v = malloc(((size_t)m->nfiles + 1) * sizeof(*v));
	uint32_t n = 0;

	if (!v)
		return NULL;
	for (uint32_t i = 0; i < m->nfiles; i++)
		if (m->files[i].kind == FILE_PIPE && m->files[i].kd)
			v[n++] =
			    (struct end_key){((const struct pipe_data *)m->files[i].kd)->pipe, i};
	if (n)
		qsort(v, n, sizeof(*v), cmp_end);
	*ret_n = n;
	return v;
}

/* The first end of pipe in v (sorted), or n. */
static uint32_t first_end(const struct end_key *v, uint32_t n, uint64_t pipe)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (v[mid].pipe < pipe)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Pipe f, the first of its ends met: restored whole, or each end leading outside. */
static int settle_one(struct dump_all *all, struct file_img *f, const struct end_key *end,
		      uint32_t nend, struct err *err)
{
	struct model *m = all->m;
	struct file_img *reader = NULL;
	bool rd = false, wr = false, packets = false;
	uint64_t pipe = ((struct pipe_data *)f->kd)->pipe;
	uint32_t from = first_end(end, nend, pipe), to;
	struct pipe_data *pd;
	int fd, rc;

	for (to = from; to < nend && end[to].pipe == pipe; to++)
		;
	for (uint32_t k = from; k < to; k++) {
		struct file_img *g = &m->files[end[k].at];

		if (!same_pipe(f, g))
			continue;
		if (is_read_end(g)) {
			rd = true;
			if (!reader)
				reader = g;
		} else {
			wr = true;
		}
		packets |= (g->flags & O_DIRECT) != 0;
	}
	if (!rd || !wr) {
		for (uint32_t k = from; k < to; k++) {
			struct file_img *g = &m->files[end[k].at];

			/* By the inode: f itself is marked on the way. */
			if (g->kind == FILE_PIPE && ((struct pipe_data *)g->kd)->pipe == pipe &&
			    fd_external_mark(g, is_read_end(g) ? EXT_PIPE_R : EXT_PIPE_W) < 0)
				return err_set(err, -ENOMEM, "out of memory");
		}
		return 0;
	}
	pd = reader->kd;
	pd->holder = 1;
	fd = fdkind_copy_fd(all, reader);
	if (fd < 0)
		return err_code(err, fd, "pid %d: cannot take a copy of descriptor %d",
				reader->dump_pid, reader->dump_fd);
	rc = peek(fdkind_dump_ctx(all, reader), fd, reader->dump_fd, "pipe", packets, pd, err);
	close(fd);
	if (rc < 0)
		return rc;
	for (uint32_t k = from; k < to; k++)
		if (same_pipe(f, &m->files[end[k].at]))
			((struct pipe_data *)m->files[end[k].at].kd)->size = pd->size;
	return 0;
}

/* Once every process is collected: a pipe whose read and write ends are both in the
 * checkpoint is restored, its data kept by its first read end; otherwise each of its
 * ends leads outside. Its ends are found among all by sorting, not by a walk over
 * every file for each. */
static int pipe_settle(struct dump_all *all, struct err *err)
{
	struct model *m = all->m;
	uint32_t nend;
	struct end_key *end = pipe_ends(m, &nend);
	int rc = 0;

	if (!end)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < m->nfiles && rc == 0; i++) {
		struct file_img *f = &m->files[i];

		if (f->kind != FILE_PIPE || ((struct pipe_data *)f->kd)->size)
			continue; /* not a pipe, or one already settled */
		rc = settle_one(all, f, end, nend, err);
	}
	free(end);
	return rc < 0 ? rc : 0;
}

static void pipe_encode(const struct file_img *f, struct buf *b)
{
	const struct pipe_data *pd = f->kd;

	put_u64(b, pd->pipe);
	put_u32(b, pd->size);
	put_u32(b, pd->holder);
	put_blob(b, pd->data, pd->len);
}

static int pipe_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct pipe_data *pd = pipe_data_new(f);
	const void *data;

	if (!pd)
		return err_set(err, -ENOMEM, "out of memory");
	pd->pipe = get_u64(rd);
	pd->size = get_u32(rd);
	pd->holder = get_u32(rd);
	data = get_blob(rd, MAX_PIPE_DATA, &pd->len);
	if (rd->bad)
		return 0;
	/* The kernel gives pipes a power of two of pages. */
	if (pd->size < 4096 || pd->size > MAX_PIPE_DATA || (pd->size & (pd->size - 1)))
		wr_fail(rd, "impossible pipe size");
	else if (pd->holder > 1 || pd->len > pd->size || (pd->len && !pd->holder))
		wr_fail(rd, "pipe data that does not fit the pipe");
	else if (!S_ISFIFO(f->mode))
		wr_fail(rd, "file type does not match its kind");
	if (pd->len && !rd->bad) {
		pd->data = malloc(pd->len);
		if (!pd->data)
			return err_set(err, -ENOMEM, "out of memory");
		memcpy(pd->data, data, pd->len);
	}
	return 0;
}

/* Both ends, and exactly one holder of the data: every pipe of the model at once,
 * the first time one is asked about, each with its ends found by sorting. */
static int pipe_check(const struct model *m, const struct file_img *f, struct err *err)
{
	struct pipe_data *pd = f->kd;
	struct end_key *end;
	uint32_t nend;
	int rc = 0;

	if (pd->checked)
		return 0;
	end = pipe_ends(m, &nend);
	if (!end)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t a = 0, b; a < nend && rc == 0; a = b) {
		bool rd = false, wr = false;
		int holders = 0;

		for (b = a; b < nend && end[b].pipe == end[a].pipe; b++) {
			const struct file_img *g = &m->files[end[b].at];

			if (is_read_end(g))
				rd = true;
			else
				wr = true;
			holders += ((const struct pipe_data *)g->kd)->holder;
		}
		if (!rd || !wr || holders != 1)
			rc = err_set(err, -EINVAL, "file %u: a pipe without both ends or its data",
				     m->files[end[a].at].id);
	}
	for (uint32_t k = 0; k < nend && rc == 0; k++)
		((struct pipe_data *)m->files[end[k].at].kd)->checked = true;
	free(end);
	return rc;
}

/* ---- restart: each pipe made once ---- */

/* A pipe of the context, made at the first of its ends to be opened. */
struct made_pipe {
	uint64_t pipe;
	const struct pipe_data *holder; /* its data */
	bool made;
	int fd[2];
	/* The end's own description is given to a descriptor: fd[end] is the caller's
	 * now, no longer ours to close. */
	bool given[2];
};

/* Every pipe of the context, sorted by inode. */
struct pipe_state {
	struct made_pipe *p;
	uint32_t n;
};

static int make_pipe(struct rst_ctx *c, const struct pipe_data *pd, int fds[2], struct err *err)
{
	const struct proc_img *p = c->rp->p;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_sys(err, "pid %d: cannot create a pipe", p->pid);
	if (pd->size != 65536 && fcntl(fds[1], F_SETPIPE_SZ, (int)pd->size) < 0) {
		/* Beyond pipe-max-size without CAP_SYS_RESOURCE, or the user's quota. */
		if (pd->len > 65536)
			return err_sys(err, "pid %d: cannot give a pipe its %u bytes", p->pid,
				       pd->size);
		kmsg_add(KMSG_WARN, "pid %d: a pipe of %u bytes is back with 65536: %s", p->pid,
			 pd->size, strerror(errno));
	}
	if (pd->len) {
		int fl = fcntl(fds[1], F_GETFL);
		ssize_t n;

		fcntl(fds[1], F_SETFL, fl | O_NONBLOCK);
		n = write(fds[1], pd->data, pd->len);
		fcntl(fds[1], F_SETFL, fl);
		if (n != (ssize_t)pd->len)
			return err_set(err, -EIO, "pid %d: cannot refill a pipe with %u bytes",
				       p->pid, pd->len);
	}
	return 0;
}

/* The list of pipes, once per restart: each with the first of its ends (in the
 * model's order) that holds the data. */
static struct pipe_state *list_pipes(const struct model *m, struct err *err)
{
	struct pipe_state *st = calloc(1, sizeof(*st));
	struct end_key *end;
	uint32_t nend;

	if (!st || !(end = pipe_ends(m, &nend))) {
		free(st);
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	st->p = calloc((size_t)nend + 1, sizeof(*st->p));
	if (!st->p) {
		free(end);
		free(st);
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	for (uint32_t a = 0, b; a < nend; a = b) {
		struct made_pipe *mp = &st->p[st->n++];

		mp->pipe = end[a].pipe;
		mp->fd[0] = mp->fd[1] = -1;
		for (b = a; b < nend && end[b].pipe == end[a].pipe; b++) {
			const struct pipe_data *pd = m->files[end[b].at].kd;

			if (pd->holder && !mp->holder)
				mp->holder = pd;
		}
	}
	free(end);
	return st;
}

static struct made_pipe *find_or_make(struct rst_ctx *c, const struct file_img *f,
				      struct err *err)
{
	struct pipe_state **st = (struct pipe_state **)fdkind_rst_state(c, FILE_PIPE);
	const struct pipe_data *pd = f->kd;
	struct made_pipe *mp;
	uint32_t lo = 0, hi;

	if (!*st) {
		*st = list_pipes(c->m, err);
		if (!*st)
			return NULL;
	}
	for (hi = (*st)->n; lo < hi;) {
		uint32_t mid = lo + (hi - lo) / 2;

		if ((*st)->p[mid].pipe < pd->pipe)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == (*st)->n || (*st)->p[lo].pipe != pd->pipe) {
		err_set(err, -EINVAL, "file %u: a pipe end of no pipe", f->id);
		return NULL;
	}
	mp = &(*st)->p[lo];
	if (!mp->made) {
		mp->made = true;
		if (make_pipe(c, mp->holder ? mp->holder : pd, mp->fd, err) < 0)
			return NULL;
	}
	return mp;
}

static int pipe_open(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		     struct err *err)
{
	struct made_pipe *mp = find_or_make(c, f, err);
	int end = is_read_end(f) ? 0 : 1;
	int fd;

	(void)fdnum;
	(void)borrowed;
	if (!mp)
		return err->code;
	if (!mp->given[end]) {
		/* The end's own description: the caller takes this very descriptor, with
		 * no copy, so cr_restart holds one per description. It stays open (the
		 * caller's) until every process has its own, for the descriptions below. */
		fd = mp->fd[end];
	} else {
		/* Another open file description of the same end. */
		char path[64];

		snprintf(path, sizeof(path), "/proc/self/fd/%d", mp->fd[end]);
		fd = open(path, (end ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
	}
	if (fd < 0)
		return err_sys(err, "pid %d: cannot open a pipe end", c->rp->p->pid);
	/* O_DIRECT on a write end: each write becomes a packet. */
	if (fcntl(fd, F_SETFL, (int)(f->flags & (O_NONBLOCK | O_APPEND | O_DIRECT))) < 0) {
		if (mp->given[end])
			close(fd);
		return err_sys(err, "pid %d: cannot set pipe flags", c->rp->p->pid);
	}
	mp->given[end] = true;
	return fd;
}

static void pipe_cleanup(struct rst_ctx *c)
{
	struct pipe_state **st = (struct pipe_state **)fdkind_rst_state(c, FILE_PIPE);

	if (!*st)
		return;
	for (uint32_t i = 0; i < (*st)->n; i++)
		for (int e = 0; e < 2; e++)
			if ((*st)->p[i].fd[e] >= 0 && !(*st)->p[i].given[e])
				close((*st)->p[i].fd[e]);
	free((*st)->p);
	free(*st);
	*st = NULL;
}

static void pipe_describe(const struct file_img *f, struct out *o)
{
	const struct pipe_data *pd = f->kd;

	out_u64(o, "pipe", pd->pipe);
	out_str(o, "end", is_read_end(f) ? "read" : "write");
	out_u64(o, "size", pd->size);
	if (pd->holder)
		out_u64(o, "bytes_in_pipe", pd->len);
}

const struct fd_kind fd_pipe_kind = {
	.kind = FILE_PIPE,
	.name = "pipe",
	.claim = pipe_claim,
	.collect = pipe_collect,
	.settle = pipe_settle,
	.encode = pipe_encode,
	.decode = pipe_decode,
	.check = pipe_check,
	.open = pipe_open,
	.cleanup = pipe_cleanup,
	.describe = pipe_describe,
};
