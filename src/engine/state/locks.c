/* state/locks.c: the file locks each process held: flock() locks and OFD record locks
 * (fcntl F_OFD_SETLK), which belong to an open file description, and POSIX record
 * locks (fcntl F_SETLK), which belong to the process. Read from the "lock:" lines of
 * /proc/PID/fdinfo/N, which list the locks taken through that description.
 *
 * At restart the new process takes each lock again itself, through calls run inside
 * it, so that /proc/locks shows it as the holder: once its memory is in place, after
 * crest's own descriptors of locked files in it are closed, since closing any
 * descriptor of a file drops its POSIX locks. A lock held meanwhile by another
 * process fails the restart (EBUSY). A thread that was waiting for a lock (F_SETLKW,
 * flock) is a thread in a system call: it waits again after the restart.
 *
 * Not saved: leases and delegations (refused); the locks of a description that leads
 * outside the checkpoint (said, and skipped); the order in which waiters queue. */
#define LOG_PREFIX "locks: "
#include "state.h"

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
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../banned.h"

#define MAX_LOCKS (1u << 20)
#define LOCK_REC_SIZE 28 /* u32 file, u32 kind, u32 type, u64 start, u64 len */

static const char *const kind_names[] = {
    [LOCK_FLOCK] = "flock",
    [LOCK_POSIX] = "posix",
    [LOCK_OFD] = "ofd",
};

static int add_lock(struct proc_img *p, const struct lock_img *l)
{
	struct lock_img *n;

	if (p->nlocks >= MAX_LOCKS)
		return -E2BIG;
	n = model_grow((void **)&p->locks, &p->nlocks, sizeof(*n));
	if (!n)
		return -ENOMEM;
	*n = *l;
	return 0;
}

/* One "lock:" line of fdinfo ("1: POSIX  ADVISORY  WRITE 42 fe:00:123 10 29").
 * Returns 1 with l filled, 0 for a lock of the moment only (an access check), or
 * -ENOTSUP with what in *ret_what for one crest cannot take again. */
static int parse_line(const char *line, struct lock_img *l, const char **ret_what)
{
	char kind[16], type[16], end[32];
	unsigned long long start;

	if (sscanf(line, "%*d: %15s %*s %15s %*d %*s %llu %31s", kind, type, &start, end) != 4) {
		*ret_what = "lock crest cannot read";
		return -ENOTSUP;
	}
	if (!strcmp(kind, "FLOCK"))
		l->kind = LOCK_FLOCK;
	else if (!strcmp(kind, "POSIX"))
		l->kind = LOCK_POSIX;
	else if (!strcmp(kind, "OFDLCK"))
		l->kind = LOCK_OFD;
	else if (!strcmp(kind, "ACCESS"))
		return 0;
	else {
		*ret_what = !strcmp(kind, "LEASE")   ? "lease"
			    : !strcmp(kind, "DELEG") ? "delegation"
						     : "lock of an unknown kind";
		return -ENOTSUP;
	}
	if (!strcmp(type, "READ"))
		l->type = F_RDLCK;
	else if (!strcmp(type, "WRITE"))
		l->type = F_WRLCK;
	else {
		*ret_what = "lock being given up";
		return -ENOTSUP;
	}
	if (start > INT64_MAX) {
		*ret_what = "lock crest cannot read";
		return -ENOTSUP;
	}
	l->start = start;
	l->len = 0;
	if (l->kind != LOCK_FLOCK && strcmp(end, "EOF")) {
		unsigned long long e = strtoull(end, NULL, 10);

		if (e < start || e >= INT64_MAX) {
			*ret_what = "lock crest cannot read";
			return -ENOTSUP;
		}
		l->len = e - start + 1;
	}
	return 1;
}

/* The locks taken through the description of descriptor fd. */
static int collect_fd(struct dump_ctx *c, const struct fd_img *d, const struct file_img *f,
		      struct err *err)
{
	char path[64], *line, *next;
	struct buf b;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", c->p->pid, d->fd);
	buf_init(&b);
	rc = buf_read_file(&b, path);
	if (rc < 0) {
		buf_fini(&b);
		return err_code(err, rc, "cannot read %s", path);
	}
	for (line = (char *)b.data; line && *line && rc >= 0; line = next) {
		struct lock_img l = {.file_id = d->file_id};
		const char *what = NULL;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strncmp(line, "lock:", 5))
			continue;
		rc = parse_line(line + 5, &l, &what);
		if (rc == -ENOTSUP) {
			rc = fdkind_unsupported(c, d->fd, what, line + 5, err);
			break;
		}
		if (rc == 0)
			continue;
		if (f->kind == FILE_EXTERNAL) {
			kmsg_add(
			    KMSG_WARN,
			    "pid %d: descriptor %d leads outside the checkpoint; its %s lock is "
			    "not saved",
			    c->p->pid, d->fd, kind_names[l.kind]);
			continue;
		}
		rc = add_lock(c->p, &l);
		if (rc < 0)
			rc = err_set(err, rc, "pid %d: too many locks", c->p->pid);
	}
	buf_fini(&b);
	return rc < 0 ? rc : 0;
}

/* A description's lines are the same at each of its descriptors: each is read at
 * its first, the descriptions met marked in a bitmap (by index in m->files). */
static int locks_collect(struct dump_ctx *c, struct err *err)
{
	const struct proc_img *p = c->p;
	uint8_t *met = calloc((size_t)c->m->nfiles / 8 + 1, 1);
	int rc = 0;

	if (!met)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < p->nfds && rc == 0; i++) {
		const struct fd_img *d = &p->fds[i];
		const struct file_img *f = model_find_file(c->m, d->file_id);
		size_t fi;

		if (!f)
			continue;
		fi = (size_t)(f - c->m->files);
		if (met[fi / 8] & (1u << (fi % 8)))
			continue;
		met[fi / 8] |= (uint8_t)(1u << (fi % 8));
		rc = collect_fd(c, d, f, err);
	}
	free(met);
	return rc < 0 ? rc : 0;
}

static int locks_encode(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	const struct proc_img *p = c->p;
	struct buf b;
	int rc;

	if (!p->nlocks)
		return 0;
	buf_init(&b);
	put_u32(&b, (uint32_t)p->pid);
	put_u32(&b, p->nlocks);
	for (uint32_t i = 0; i < p->nlocks; i++) {
		const struct lock_img *l = &p->locks[i];

		put_u32(&b, l->file_id);
		put_u32(&b, l->kind);
		put_u32(&b, l->type);
		put_u64(&b, l->start);
		put_u64(&b, l->len);
	}
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
		   : img_write_record(w, REC_LOCKS, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

/* ---- which descriptor each lock is taken through ---- */

struct fd_of {
	uint32_t file_id, at; /* at: its place in the table, which orders a file's */
	int fd;
};

static int cmp_fd_of(const void *pa, const void *pb)
{
	const struct fd_of *a = pa, *b = pb;

	if (a->file_id != b->file_id)
		return a->file_id < b->file_id ? -1 : 1;
	return a->at < b->at ? -1 : a->at > b->at;
}

/* The first descriptor of each lock's file (fdkind_first_fd), -1 for none, as an
 * array of p->nlocks (malloc()ed; NULL if out of memory): the descriptors sorted by
 * file and searched by halves, not read through once per lock. */
static int *lock_fds(const struct proc_img *p)
{
	struct fd_of *v = malloc(((size_t)p->nfds + 1) * sizeof(*v));
	int *r = malloc(((size_t)p->nlocks + 1) * sizeof(*r));

	if (!v || !r) {
		free(v);
		free(r);
		return NULL;
	}
	for (uint32_t i = 0; i < p->nfds; i++)
		v[i] = (struct fd_of){p->fds[i].file_id, i, p->fds[i].fd};
	if (p->nfds)
		qsort(v, p->nfds, sizeof(*v), cmp_fd_of);
	for (uint32_t i = 0; i < p->nlocks; i++) {
		uint32_t lo = 0, hi = p->nfds;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (v[mid].file_id < p->locks[i].file_id)
				lo = mid + 1;
			else
				hi = mid;
		}
		r[i] = lo < p->nfds && v[lo].file_id == p->locks[i].file_id ? v[lo].fd : -1;
	}
	free(v);
	return r;
}

/* ---- reading ---- */

static int locks_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
			struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;
	uint32_t n;

	wr_init(&rd, rec->payload, rec->len);
	p = state_rec_proc(m, &rd, rec, r, err);
	if (!p)
		return err->code;
	if (p->locks)
		return img_rec_corrupt(r, rec, "a second locks record for the process", err);
	n = get_count(&rd, LOCK_REC_SIZE, MAX_LOCKS);
	if (rd.bad || n == 0)
		return img_rec_corrupt(r, rec, rd.bad ? rd.why : "a locks record without locks",
				       err);
	p->locks = calloc(n, sizeof(*p->locks));
	if (!p->locks)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n && !rd.bad; i++) {
		struct lock_img *l = &p->locks[i];

		l->file_id = get_u32(&rd);
		l->kind = get_u32(&rd);
		l->type = get_u32(&rd);
		l->start = get_u64(&rd);
		l->len = get_u64(&rd);
		p->nlocks = i + 1;
		if (l->kind < LOCK_FLOCK || l->kind > LOCK_OFD)
			wr_fail(&rd, "lock of an unknown kind");
		else if (l->type != F_RDLCK && l->type != F_WRLCK)
			wr_fail(&rd, "lock of an unknown type");
		else if (l->start > INT64_MAX || l->len > (uint64_t)INT64_MAX - l->start)
			wr_fail(&rd, "lock range out of bounds");
		else if (l->kind == LOCK_FLOCK && (l->start || l->len))
			wr_fail(&rd, "flock lock with a range");
	}
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	return 0;
}

/* Every lock was taken through one of the process's descriptions. */
static int locks_validate(struct model *m, struct proc_img *p, struct err *err)
{
	int *fds, rc = 0;

	(void)m;
	if (!p->nlocks)
		return 0;
	fds = lock_fds(p);
	if (!fds)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < p->nlocks && rc == 0; i++)
		if (fds[i] < 0)
			rc = err_set(err, -EINVAL,
				     "pid %d: a lock on file %u, which none of its descriptors "
				     "refers to",
				     p->pid, p->locks[i].file_id);
	free(fds);
	return rc;
}

/* ---- restart ---- */

static int stat_child_fd(pid_t pid, int fd, struct stat *st)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	return stat(path, st) < 0 ? -errno : 0;
}

static long call(struct rst_proc *rp, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
		 struct err *err)
{
	return inject_syscall(&rp->inj, nr, a0, a1, a2, 0, 0, 0, err);
}

/* crest's own descriptors in the new process (mapped files, the exe) that lead to a
 * file with POSIX locks go first: closing them later would drop the locks. */
static int close_own(struct rst_proc *rp, const int *fds, struct err *err)
{
	const struct proc_img *p = rp->p;
	struct stat *locked = NULL;
	uint32_t nlocked = 0;
	int rc = 0;

	if (rp->nkeep <= 0)
		return 0;
	/* The files POSIX locks are on, each read once. */
	locked = malloc(((size_t)p->nlocks + 1) * sizeof(*locked));
	if (!locked)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < p->nlocks; i++)
		if (p->locks[i].kind == LOCK_POSIX &&
		    stat_child_fd(rp->pid, fds[i], &locked[nlocked]) == 0)
			nlocked++;
	for (int fd = rp->keep_base; nlocked && fd < rp->keep_base + rp->nkeep; fd++) {
		struct stat own;
		bool on = false;
		long r;

		if (stat_child_fd(rp->pid, fd, &own) < 0)
			continue;
		for (uint32_t i = 0; i < nlocked && !on; i++)
			on = locked[i].st_dev == own.st_dev && locked[i].st_ino == own.st_ino;
		if (!on)
			continue;
		r = call(rp, SYS_close, (uint64_t)fd, 0, 0, err);
		if (r == INJECT_FAILED) {
			rc = err->code;
			break;
		}
	}
	free(locked);
	return rc;
}

static int take(struct rst_proc *rp, const struct lock_img *l, int fd, struct err *err)
{
	const char *what = l->type == F_WRLCK ? "write" : "read";
	long r;

	if (l->kind == LOCK_FLOCK) {
		r = call(rp, SYS_flock, (uint64_t)fd,
			 (uint64_t)((l->type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB), 0, err);
	} else {
		struct flock fl = {
		    .l_type = (short)l->type,
		    .l_whence = SEEK_SET,
		    .l_start = (off_t)l->start,
		    .l_len = (off_t)l->len,
		};
		uint64_t addr;

		if (rst_scratch_put(rp, 0, &fl, sizeof(fl), &addr, err) < 0)
			return err->code;
		r = call(rp, SYS_fcntl, (uint64_t)fd,
			 (uint64_t)(l->kind == LOCK_OFD ? F_OFD_SETLK : F_SETLK), addr, err);
	}
	if (r == INJECT_FAILED)
		return err->code;
	if (r == -EAGAIN || r == -EACCES) {
		kmsg_add(KMSG_ERROR, "pid %d: its %s %s lock on descriptor %d is held by another",
			 rp->p->pid, kind_names[l->kind], what, fd);
		return err_set(err, -EBUSY,
			       "pid %d: cannot take back its %s %s lock on descriptor %d (bytes "
			       "%llu+%llu): another process holds a lock there",
			       rp->p->pid, kind_names[l->kind], what, fd,
			       (unsigned long long)l->start, (unsigned long long)l->len);
	}
	if (r < 0)
		return err_code(err, (int)r,
				"pid %d: cannot take back its %s %s lock on descriptor %d",
				rp->p->pid, kind_names[l->kind], what, fd);
	return 0;
}

static int locks_restore(struct rst_ctx *c, struct err *err)
{
	struct rst_proc *rp = c->rp;
	const struct proc_img *p = rp->p;
	int *fds, rc;

	if (!p->nlocks)
		return 0;
	fds = lock_fds(p);
	if (!fds)
		return err_set(err, -ENOMEM, "out of memory");
	rc = close_own(rp, fds, err);
	for (uint32_t i = 0; rc == 0 && i < p->nlocks; i++) {
		const struct lock_img *l = &p->locks[i];
		int fd = fds[i];
		struct stat st;

		/* A descriptor left closed at restart (said when it was) has no lock. */
		if (stat_child_fd(rp->pid, fd, &st) < 0) {
			kmsg_add(KMSG_WARN,
				 "pid %d: descriptor %d is closed; its %s lock is not taken",
				 p->pid, fd, kind_names[l->kind]);
			continue;
		}
		rc = take(rp, l, fd, err);
	}
	free(fds);
	return rc;
}

static void locks_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	int *fds;

	(void)m;
	if (!p->nlocks)
		return;
	fds = lock_fds(p);
	out_arr_begin(o, "locks");
	for (uint32_t i = 0; i < p->nlocks; i++) {
		const struct lock_img *l = &p->locks[i];

		out_obj_begin(o, NULL);
		out_i64(o, "fd", fds ? fds[i] : fdkind_first_fd(p, l->file_id));
		out_str(o, "kind", kind_names[l->kind]);
		out_str(o, "type", l->type == F_WRLCK ? "write" : "read");
		out_u64(o, "start", l->start);
		out_u64(o, "len", l->len);
		out_obj_end(o);
	}
	out_arr_end(o);
	free(fds);
}

const struct state_ops locks_ops = {
    .name = "locks",
    .recs = {REC_LOCKS},
    .collect = locks_collect,
    .encode = locks_encode,
    .decode = locks_decode,
    .validate = locks_validate,
    .restore = locks_restore,
    .describe = locks_describe,
};
