/* state/files.c: the descriptor tables: which descriptors a process has, with their
 * close-on-exec flag, and which open file description each refers to. Descriptors
 * that share a description (dup, fork) share it again after a restart.
 *
 * What a description is and how to make it again belongs to its kind (fdkind.h):
 * fd_reg.c (files, directories, O_PATH), fd_chr.c (devices by path), fd_pipe.c,
 * fd_external.c (what leads outside the checkpoint). A description no kind claims
 * fails the checkpoint with a message naming the pid, the descriptor and what it
 * is, and the process runs on. */
#define LOG_PREFIX "files: "
#include "fdkind.h"

#include "../err.h"
#include "../image.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "../banned.h"

#define MAX_FDS (1u << 20)
#define MAX_FILES (1u << 20)
#define MAX_KIND_DATA (1u << 30)

/* In claim order: the first kind that says yes owns the description. */
static const struct fd_kind *const kinds[] = {
	&fd_unix_kind,     &fd_pty_kind,      &fd_external_kind, &fd_memfd_kind, &fd_deleted_kind, &fd_reg_kind, &fd_chr_kind, &fd_pipe_kind,
	&fd_fifo_kind,
	&fd_eventfd_kind, &fd_signalfd_kind, &fd_timerfd_kind, &fd_epoll_kind, &fd_inotify_kind,
};

const struct fd_kind *fdkind_find(uint32_t kind)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i]->kind == kind)
			return kinds[i];
	return NULL;
}

void *fdkind_data(struct file_img *f, size_t n)
{
	f->kd = calloc(1, n ? n : 1);
	f->kd_free = f->kd ? free : NULL;
	return f->kd;
}

int fdkind_first_fd(const struct proc_img *p, uint32_t file_id)
{
	for (uint32_t i = 0; i < p->nfds; i++)
		if (p->fds[i].file_id == file_id)
			return p->fds[i].fd;
	return -1;
}

/* Where file id is in m->files, or would go: files are made and read in the order of
 * their ids (decode_file keeps it so), which lets a lookup take log n steps, not n. */
static uint32_t file_slot(const struct model *m, uint32_t id)
{
	uint32_t lo = 0, hi = m->nfiles;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (m->files[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct file_img *file_by_id(const struct model *m, uint32_t id)
{
	uint32_t k;

	if (id && id <= m->nfiles && m->files[id - 1].id == id)
		return &m->files[id - 1]; /* as the checkpoint numbers them */
	k = file_slot(m, id);
	if (k < m->nfiles && m->files[k].id == id)
		return &m->files[k];
	return model_find_file((struct model *)m, id); /* a model made in another order */
}

/* model_grow() for the files, by doubling: one realloc per file copies the whole
 * array each time for thousands of them (realloc always moves under ASan). */
static struct file_img *grow_files(struct model *m)
{
	size_t need = ((size_t)m->nfiles + 1) * sizeof(*m->files);
	struct file_img *f;

	if (m->nfiles == UINT32_MAX)
		return NULL;
	if (!m->files || malloc_usable_size(m->files) < need) {
		size_t cap = m->nfiles ? 2 * (size_t)m->nfiles : 16;

		f = realloc(m->files, cap * sizeof(*f));
		if (!f)
			return NULL;
		m->files = f;
	}
	f = &m->files[m->nfiles++];
	memset(f, 0, sizeof(*f));
	return f;
}

struct dump_ctx *fdkind_dump_ctx(struct dump_all *all, const struct file_img *f)
{
	for (uint32_t i = 0; i < all->n; i++)
		if (all->pc[i].p && all->pc[i].p->pid == f->dump_pid)
			return &all->pc[i];
	return NULL;
}

int fdkind_copy_fd(struct dump_all *all, const struct file_img *f)
{
	struct dump_ctx *c = fdkind_dump_ctx(all, f);
	int fd;

	if (!c || c->pidfd < 0)
		return -ESRCH;
	fd = (int)syscall(SYS_pidfd_getfd, c->pidfd, f->dump_fd, 0);
	return fd < 0 ? -errno : fd;
}

void **fdkind_rst_state(struct rst_ctx *c, uint32_t kind)
{
	return &c->fdk_state[kind % FILE_KIND_MAX];
}

/* What an anonymous-inode descriptor is, in words, from its link ("anon_inode:[eventfd]"). */
static const char *anon_kind(const char *link)
{
	static const struct {
		const char *link, *kind;
	} names[] = {
		{"[eventfd]", "eventfd"},
		{"[eventpoll]", "epoll instance"},
		{"[signalfd]", "signalfd"},
		{"[timerfd]", "timerfd"},
		{"inotify", "inotify instance"},
		{"[fanotify]", "fanotify instance"},
		{"[io_uring]", "io_uring instance"},
		{"[pidfd]", "pidfd"},
		{"[userfaultfd]", "userfaultfd"},
		{"[perf_event]", "perf event"},
		{"bpf-map", "BPF map"},
		{"bpf-prog", "BPF program"},
	};

	if (strncmp(link, "anon_inode:", 11))
		return NULL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(link + 11, names[i].link))
			return names[i].kind;
	return "anonymous-inode file";
}

int fdkind_unsupported(struct dump_ctx *c, int fd, const char *kind, const char *link,
		       struct err *err)
{
	kmsg_add(KMSG_ERROR, "pid %d: descriptor %d is a %s (%s), which crest cannot checkpoint yet",
		 c->p->pid, fd, kind, link);
	return err_set(err, -ENOTSUP,
		       "pid %d: descriptor %d is a %s (%s), which crest cannot checkpoint yet",
		       c->p->pid, fd, kind, link);
}

/* Nobody claimed it: say what it is. */
static int nobody_claims(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	const struct stat *st = &s->st;
	const char *anon = anon_kind(s->link);

	if (anon)
		return fdkind_unsupported(c, s->fd, anon, s->link, err);
	if (S_ISSOCK(st->st_mode))
		return fdkind_unsupported(c, s->fd, "socket", s->link, err);
	if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(5, 2))
		return fdkind_unsupported(c, s->fd, "pseudo-terminal master", s->link, err);
	if (S_ISCHR(st->st_mode))
		return fdkind_unsupported(c, s->fd, "character device", s->link, err);
	if (S_ISFIFO(st->st_mode))
		return fdkind_unsupported(c, s->fd, "named FIFO", s->link, err);
	if (S_ISBLK(st->st_mode))
		return fdkind_unsupported(c, s->fd, "block device", s->link, err);
	return fdkind_unsupported(c, s->fd, "file of unknown type", s->link, err);
}

static int read_fdinfo(pid_t pid, struct fd_scan *s)
{
	char path[64];
	struct buf b;
	uint64_t v;
	int rc;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, s->fd);
	buf_init(&b);
	rc = buf_read_file(&b, path);
	if (rc == 0) {
		s->pos = procfs_field_u64((char *)b.data, "pos", 10, &v) == 0 ? v : 0;
		s->flags = procfs_field_u64((char *)b.data, "flags", 8, &v) == 0 ? (uint32_t)v : 0;
		s->fdinfo = (char *)b.data; /* ownership moves */
		return 0;
	}
	buf_fini(&b);
	return rc;
}

static void free_scan(struct fd_scan *sc, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		free(sc[i].fdinfo);
	free(sc);
}

/* Is s the open file the checkpoint is being written to? */
static bool is_destination(const struct dump_ctx *c, const struct fd_scan *s)
{
	struct stat st;
	int dest = c->all->dest_fd;

	return dest >= 0 && fstat(dest, &st) == 0 && st.st_dev == s->st.st_dev &&
	       st.st_ino == s->st.st_ino &&
	       syscall(SYS_kcmp, getpid(), c->p->pid, KCMP_FILE, dest, s->fd) == 0;
}

static int scan_fds(struct dump_ctx *c, struct fd_scan **ret, uint32_t *ret_n, struct err *err)
{
	char dir[64];
	struct dirent *de;
	struct fd_scan *sc = NULL;
	uint32_t n = 0, cap = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", c->p->pid);
	d = opendir(dir);
	if (!d)
		return err_sys(err, "cannot list the descriptors of pid %d", c->p->pid);
	while ((de = readdir(d))) {
		char path[96];
		struct fd_scan *s;
		long fd;
		ssize_t k;
		int rc;

		if (parse_long(de->d_name, 0, INT32_MAX, &fd) < 0)
			continue;
		if (n >= MAX_FDS) {
			closedir(d);
			free_scan(sc, n);
			return err_set(err, -E2BIG, "pid %d: too many descriptors", c->p->pid);
		}
		if (n == cap) {
			/* Doubling: thousands of descriptors are no rarity. */
			cap = cap ? 2 * cap : 64;
			s = realloc(sc, (size_t)cap * sizeof(*sc));
			if (!s) {
				closedir(d);
				free_scan(sc, n);
				return err_set(err, -ENOMEM, "out of memory");
			}
			sc = s;
		}
		s = &sc[n];
		memset(s, 0, sizeof(*s));
		s->fd = (int)fd;
		snprintf(path, sizeof(path), "%s/%ld", dir, fd);
		k = readlink(path, s->link, sizeof(s->link) - 1);
		rc = k < 0 || stat(path, &s->st) < 0 ? -errno : read_fdinfo(c->p->pid, s);
		if (rc < 0) {
			closedir(d);
			free_scan(sc, n);
			return err_code(err, rc, "pid %d: cannot inspect descriptor %ld", c->p->pid,
					fd);
		}
		s->link[k] = '\0';
		/* The checkpoint's own destination, held by a process that checkpoints
		 * itself: it is not part of the process's state (BLCR skips it too), and
		 * restoring it would truncate the very context being restarted. */
		if (is_destination(c, s)) {
			free(s->fdinfo);
			continue;
		}
		n++;
	}
	closedir(d);
	*ret = sc;
	*ret_n = n;
	return 0;
}

static int classify(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		    struct err *err)
{
	f->flags = s->flags & ~(uint32_t)O_CLOEXEC;
	f->mode = s->st.st_mode;
	f->pos = s->pos;
	f->dev = s->st.st_dev;
	f->ino = s->st.st_ino;
	f->rdev = s->st.st_rdev;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		int rc = kinds[i]->claim(c, s, err);

		if (rc < 0)
			return rc;
		if (rc > 0) {
			f->kind = kinds[i]->kind;
			return kinds[i]->collect ? kinds[i]->collect(c, s, f, err) : 0;
		}
	}
	return nobody_claims(c, s, err);
}

/* ---- which descriptors share an open file description ----
 *
 * kcmp(KCMP_FILE) tells whether two descriptors lead to one open file description
 * and, when they do not, which of the two comes first in an order of its own (the
 * kernel's file pointers, scrambled alike for the whole boot). Sorted in that order,
 * the descriptors of a description lie side by side: n log n calls, where comparing
 * each descriptor with every earlier one of its inode took n², and every eventfd,
 * signalfd, timerfd and epoll instance shares one inode. Before kcmp, what cannot
 * differ between two descriptors of one description sorts them: the inode, and an
 * eventfd's id (fdinfo's eventfd-id), so that thousands of eventfds need no kcmp. */

/* A descriptor of the process being collected (who < n), or one by which a
 * description of an earlier process of the checkpoint was found (who - n is its index
 * in m->files). */
struct desc {
	uint64_t dev, ino, key;
	pid_t pid;
	int fd;
	uint32_t who;
};

/* What is the same for every descriptor of a description and tells some apart (an
 * eventfd's id + 1), or 0. */
static uint64_t desc_key(const struct fd_scan *s)
{
	uint64_t id;

	return s->fdinfo && procfs_field_u64(s->fdinfo, "eventfd-id", 10, &id) == 0 ? id + 1 : 0;
}

/* By inode, then key: descriptors that differ here lead to different descriptions. */
static int cmp_inode(const void *pa, const void *pb)
{
	const struct desc *a = pa, *b = pb;

	if (a->dev != b->dev)
		return a->dev < b->dev ? -1 : 1;
	if (a->ino != b->ino)
		return a->ino < b->ino ? -1 : 1;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return 0;
}

/* 0: one description; 1: a's comes first; 2: b's; anything else: no order. */
static long kcmp_file(const struct desc *a, const struct desc *b)
{
	return syscall(SYS_kcmp, a->pid, b->pid, KCMP_FILE, a->fd, b->fd);
}

/* arg: a bool set when kcmp gives no order, which makes the sort worthless. */
static int cmp_desc(const void *pa, const void *pb, void *arg)
{
	const struct desc *a = pa, *b = pb;
	int r = cmp_inode(a, b);
	long k;

	if (r)
		return r;
	k = kcmp_file(a, b);
	if (k == 0 || k == 1 || k == 2)
		return k == 0 ? 0 : k == 1 ? -1 : 1;
	*(bool *)arg = true;
	return a->who < b->who ? -1 : a->who > b->who;
}

/* The descriptions of sc[0..n) of c's process, met before or not, in same[]: -1 - k
 * for a description of an earlier process (m->files[k], k < first), else the first
 * of the process's descriptors with that description (i itself for the first).
 * Returns 0, 1 if kcmp gave no order (compare pairs instead), or -ENOMEM. */
static int match_descriptions(struct dump_ctx *c, const struct fd_scan *sc, uint32_t n,
			      uint32_t first, int64_t *same)
{
	const struct model *m = c->m;
	struct desc *d = malloc(((size_t)n + first + 1) * sizeof(*d));
	struct desc *mine = malloc(((size_t)n + 1) * sizeof(*mine));
	bool unordered = false;
	uint32_t nd = n;

	if (!d || !mine) {
		free(d);
		free(mine);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		d[i] = (struct desc){sc[i].st.st_dev, sc[i].st.st_ino, desc_key(&sc[i]), c->p->pid,
				     sc[i].fd, i};
	memcpy(mine, d, (size_t)n * sizeof(*d));
	qsort(mine, n, sizeof(*mine), cmp_inode);
	/* Inherited across fork, passed over a socket: shared between processes. Only
	 * descriptions of this process's inodes can be; one found without a descriptor
	 * (a file only mapped) is no one's. */
	for (uint32_t k = 0; k < first; k++) {
		const struct file_img *f = &m->files[k];
		struct desc key = {f->dev, f->ino, f->dump_key, f->dump_pid, f->dump_fd, n + k};

		if (f->dump_pid > 0 && n && bsearch(&key, mine, n, sizeof(*mine), cmp_inode))
			d[nd++] = key;
	}
	free(mine);
	qsort_r(d, nd, sizeof(*d), cmp_desc, &unordered);
	for (uint32_t a = 0, b; a < nd && !unordered; a = b) {
		uint32_t earlier = UINT32_MAX, lowest = UINT32_MAX;

		for (b = a + 1;
		     b < nd && cmp_inode(&d[b - 1], &d[b]) == 0 && kcmp_file(&d[b - 1], &d[b]) == 0;
		     b++)
			;
		for (uint32_t j = a; j < b; j++) {
			if (d[j].who >= n && d[j].who - n < earlier)
				earlier = d[j].who - n;
			if (d[j].who < n && d[j].who < lowest)
				lowest = d[j].who;
		}
		for (uint32_t j = a; j < b; j++)
			if (d[j].who < n)
				same[d[j].who] =
				    earlier != UINT32_MAX ? -1 - (int64_t)earlier : lowest;
	}
	free(d);
	return unordered ? 1 : 0;
}

/* An open file description already met, in this process or an earlier one of the
 * checkpoint, that fd of this process refers to too; NULL if none. Pair by pair: for
 * when kcmp gives no order. */
static struct file_img *same_description(struct dump_ctx *c, const struct fd_scan *sc, uint32_t i,
					 uint32_t first)
{
	struct model *m = c->m;
	const struct fd_scan *s = &sc[i];

	for (uint32_t k = 0; k < i; k++)
		if (sc[k].st.st_ino == s->st.st_ino && sc[k].st.st_dev == s->st.st_dev &&
		    syscall(SYS_kcmp, c->p->pid, c->p->pid, KCMP_FILE, sc[k].fd, s->fd) == 0)
			return &m->files[sc[k].file];
	for (uint32_t k = 0; k < first; k++) {
		struct file_img *f = &m->files[k];

		if (f->ino == s->st.st_ino && f->dev == s->st.st_dev &&
		    syscall(SYS_kcmp, f->dump_pid, c->p->pid, KCMP_FILE, f->dump_fd, s->fd) == 0)
			return f;
	}
	return NULL;
}

static int files_collect(struct dump_ctx *c, struct err *err)
{
	struct model *m = c->m;
	struct proc_img *p = c->p;
	uint32_t first = m->nfiles, n = 0;
	struct fd_scan *sc = NULL;
	int64_t *same;
	int rc, slow;

	rc = scan_fds(c, &sc, &n, err);
	if (rc < 0)
		return rc;
	p->fds = calloc(n ? n : 1, sizeof(*p->fds));
	same = malloc((n ? n : 1) * sizeof(*same));
	slow = p->fds && same ? match_descriptions(c, sc, n, first, same) : -ENOMEM;
	if (slow < 0) {
		free(same);
		free_scan(sc, n);
		return err_set(err, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		struct fd_scan *s = &sc[i];
		struct file_img *f;

		if (slow)
			f = same_description(c, sc, i, first);
		else if (same[i] < 0)
			f = &m->files[-1 - same[i]];
		else
			f = same[i] != i ? &m->files[sc[same[i]].file] : NULL;

		if (!f) {
			if (m->nfiles >= MAX_FILES) {
				rc = err_set(err, -E2BIG, "too many open files");
				break;
			}
			f = grow_files(m);
			if (!f) {
				rc = err_set(err, -ENOMEM, "out of memory");
				break;
			}
			f->id = m->nfiles;
			f->dump_pid = p->pid;
			f->dump_fd = s->fd;
			f->dump_key = desc_key(s);
			rc = classify(c, s, f, err);
		}
		s->file = (uint32_t)(f - m->files);
		p->fds[p->nfds++] = (struct fd_img){s->fd, (s->flags & O_CLOEXEC) != 0, f->id};
	}
	/* Signal-driven I/O needs its owner and signal back, which are not saved yet. */
	for (uint32_t i = 0; rc == 0 && i < n; i++)
		if ((sc[i].flags & O_ASYNC) && m->files[sc[i].file].kind != FILE_EXTERNAL)
			rc = fdkind_unsupported(c, sc[i].fd,
						"file in signal-driven I/O mode (O_ASYNC)",
						sc[i].link, err);
	free(same);
	free_scan(sc, n);
	return rc;
}

/* Once every process is collected: kinds match up what spans descriptions and
 * processes; then each descriptor that leads outside is said. */
static int files_settle_all(struct dump_all *all, struct err *err)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i]->settle)
			rc = kinds[i]->settle(all, err);
	for (uint32_t i = 0; rc == 0 && i < all->m->nprocs; i++) {
		const struct proc_img *p = &all->m->procs[i];

		for (uint32_t k = 0; k < p->nfds; k++) {
			const struct file_img *f = file_by_id(all->m, p->fds[k].file_id);
			const char *what = fd_external_what(f);

			if (what)
				kmsg_add(KMSG_WARN,
					 "pid %d: descriptor %d (%s%s%s) leads outside the "
					 "checkpoint, not saved",
					 p->pid, p->fds[k].fd, what, f->path ? ", " : "",
					 f->path ? f->path : "");
		}
	}
	return rc;
}

/* Open file descriptions once for the whole checkpoint: processes share them. */
static int files_encode_global(struct model *m, struct img_writer *w, struct err *err)
{
	struct buf b, kd;
	int rc = 0;

	buf_init(&b);
	buf_init(&kd);
	for (uint32_t i = 0; i < m->nfiles && rc == 0; i++) {
		const struct file_img *f = &m->files[i];
		const struct fd_kind *k = fdkind_find(f->kind);

		buf_reset(&b);
		buf_reset(&kd);
		put_u32(&b, f->id);
		put_u32(&b, f->kind);
		put_u32(&b, f->flags);
		put_u32(&b, f->mode);
		put_u64(&b, f->pos);
		put_u64(&b, f->size);
		put_u64(&b, f->dev);
		put_u64(&b, f->ino);
		put_u64(&b, f->rdev);
		put_str(&b, f->path);
		if (k && k->encode)
			k->encode(f, &kd);
		put_blob(&b, kd.data, (uint32_t)kd.len);
		rc = b.oom || kd.oom
			     ? err_set(err, -ENOMEM, "out of memory")
			     : img_write_record(w, REC_FILE, REC_F_REQUIRED, b.data, b.len, err);
	}
	buf_fini(&kd);
	buf_fini(&b);
	return rc;
}

static int files_encode(struct dump_ctx *c, struct img_writer *w, struct err *err)
{
	const struct proc_img *p = c->p;
	struct buf b;
	int rc;

	buf_init(&b);
	put_u32(&b, (uint32_t)p->pid);
	put_u32(&b, p->nfds);
	for (uint32_t i = 0; i < p->nfds; i++) {
		put_i32(&b, p->fds[i].fd);
		put_u32(&b, p->fds[i].cloexec);
		put_u32(&b, p->fds[i].file_id);
	}
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
		   : img_write_record(w, REC_FDS, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

static int decode_file(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		       struct err *err)
{
	struct wire_rd rd, krd;
	const struct fd_kind *k;
	struct file_img *f;
	const void *kd;
	uint32_t id, kd_len, at;

	wr_init(&rd, rec->payload, rec->len);
	id = get_u32(&rd);
	at = file_slot(m, id);
	if (rd.bad || id == 0 || (at < m->nfiles && m->files[at].id == id))
		return img_rec_corrupt(r, rec, "missing or repeated file id", err);
	if (m->nfiles >= MAX_FILES)
		return img_rec_corrupt(r, rec, "too many files", err);
	if (!grow_files(m))
		return err_set(err, -ENOMEM, "out of memory");
	/* In id order, as they are written. */
	f = &m->files[at];
	if (at < m->nfiles - 1) {
		memmove(f + 1, f, (m->nfiles - 1 - at) * sizeof(*f));
		memset(f, 0, sizeof(*f));
	}
	f->id = id;
	f->kind = get_u32(&rd);
	f->flags = get_u32(&rd);
	f->mode = get_u32(&rd);
	f->pos = get_u64(&rd);
	f->size = get_u64(&rd);
	f->dev = get_u64(&rd);
	f->ino = get_u64(&rd);
	f->rdev = get_u64(&rd);
	f->path = get_str(&rd, MODEL_MAX_PATH);
	kd = get_blob(&rd, MAX_KIND_DATA, &kd_len);
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	k = fdkind_find(f->kind);
	if (!k)
		return img_rec_corrupt(r, rec, "unknown kind of file", err);
	if (f->flags & ~(uint32_t)(REOPEN_FLAGS | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_ASYNC |
				   O_CLOEXEC | __O_TMPFILE))
		return img_rec_corrupt(r, rec, "unknown open flags", err);
	if (f->pos > INT64_MAX)
		return img_rec_corrupt(r, rec, "file offset out of range", err);
	if (f->path && f->path[0] != '/')
		return img_rec_corrupt(r, rec, "file path is not absolute", err);
	wr_init(&krd, kd, kd_len);
	if (k->decode) {
		int rc = k->decode(f, &krd, err);

		if (rc < 0)
			return err->code ? err->code : img_rec_corrupt(r, rec, krd.why, err);
	}
	if (!wr_done(&krd))
		return img_rec_corrupt(r, rec, krd.why, err);
	return 0;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a < *(const int *)b ? -1 : *(const int *)a > *(const int *)b;
}

/* Does a descriptor number come twice in p's table, written in another order than
 * the checkpoint's (ascending)? 1 yes, 0 no, -ENOMEM. */
static int listed_twice(const struct proc_img *p)
{
	int *v = malloc((p->nfds + 1u) * sizeof(*v));
	int twice = 0;

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->nfds; i++)
		v[i] = p->fds[i].fd;
	qsort(v, p->nfds, sizeof(*v), cmp_int);
	for (uint32_t i = 1; i < p->nfds && !twice; i++)
		twice = v[i] == v[i - 1];
	free(v);
	return twice;
}

static int decode_fds(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		      struct err *err)
{
	struct wire_rd rd;
	struct proc_img *p;
	bool ascending = true;
	uint32_t n;

	wr_init(&rd, rec->payload, rec->len);
	p = state_rec_proc(m, &rd, rec, r, err);
	if (!p)
		return err->code;
	if (p->fds)
		return img_rec_corrupt(r, rec, "a second descriptor table", err);
	n = get_count(&rd, 12, MAX_FDS);
	p->fds = calloc(n ? n : 1, sizeof(*p->fds));
	if (!p->fds)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < n && !rd.bad; i++) {
		struct fd_img *fd = &p->fds[i];

		fd->fd = get_i32(&rd);
		fd->cloexec = get_u32(&rd);
		fd->file_id = get_u32(&rd);
		p->nfds = i + 1;
		if (fd->fd < 0 || fd->fd >= (int32_t)MAX_FDS || fd->cloexec > 1)
			wr_fail(&rd, "descriptor out of range");
		else if (i && fd->fd <= fd[-1].fd)
			ascending = false;
	}
	if (!ascending && !rd.bad) {
		int twice = listed_twice(p);

		if (twice < 0)
			return err_set(err, -ENOMEM, "out of memory");
		if (twice)
			wr_fail(&rd, "descriptor listed twice");
	}
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	return 0;
}

static int files_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
			struct err *err)
{
	if (rec->type == REC_FILE)
		return decode_file(m, rec, r, err);
	return decode_fds(m, rec, r, err);
}

static int files_validate(struct model *m, struct proc_img *p, struct err *err)
{
	if (!p->fds)
		return err_set(err, -EINVAL, "pid %d: the context has no descriptor table", p->pid);
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct file_img *f = file_by_id(m, p->fds[i].file_id);
		const struct fd_kind *k;

		if (!f)
			return err_set(err, -EINVAL, "pid %d: descriptor %d refers to no file",
				       p->pid, p->fds[i].fd);
		k = fdkind_find(f->kind);
		if (k->check && k->check(m, f, err) < 0)
			return err->code;
	}
	return 0;
}

/* ---- restart ---- */

/* cr_restart holds every open file description of every process until they all
 * exist: as many descriptors as the processes had, which their limits allowed. It
 * works under its hard limit meanwhile (the new processes inherit that until their
 * saved limits come back) and gives the soft one back when the restart is over. */
static rlim_t nofile_soft = RLIM_INFINITY; /* what to give back; RLIM_INFINITY: nothing */

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	nofile_soft = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		nofile_soft = RLIM_INFINITY;
}

static void lower_nofile(void)
{
	struct rlimit rl;

	if (nofile_soft == RLIM_INFINITY || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	rl.rlim_cur = nofile_soft;
	setrlimit(RLIMIT_NOFILE, &rl);
	nofile_soft = RLIM_INFINITY;
}

/* Plan every descriptor of the new process: each open file description is made once
 * (by its kind) and given to all its descriptors. */
static int files_prepare(struct rst_ctx *c, struct err *err)
{
	struct model *m = c->m;
	struct rst_proc *rp = c->rp;
	const struct proc_img *p = rp->p;
	int rc = 0;

	/* Once per restart: an open file description shared by several processes is
	 * made once and given to all of them. */
	if (!c->file_fd) {
		c->file_fd = malloc((m->nfiles + 1u) * sizeof(*c->file_fd));
		if (!c->file_fd)
			return err_set(err, -ENOMEM, "out of memory");
		for (uint32_t i = 0; i < m->nfiles; i++)
			c->file_fd[i] = -1;
		raise_nofile();
	}
	for (uint32_t i = 0; i < p->nfds && rc >= 0; i++) {
		const struct fd_img *d = &p->fds[i];
		const struct file_img *f = file_by_id(m, d->file_id);
		const struct fd_kind *k = fdkind_find(f->kind);
		size_t fi = (size_t)(f - m->files);
		bool borrowed = false;
		int fd = c->file_fd[fi];

		if (fd >= 0) {
			/* Made already: the processes share the same description. */
			rc = rst_add_fd(rp, fd, d->fd, false, d->cloexec);
		} else if (k->open) {
			fd = k->open(c, f, d->fd, &borrowed, err);
			if (fd == FDKIND_CLOSED)
				continue;
			if (fd < 0) {
				rc = fd;
				break;
			}
			if (!borrowed)
				c->file_fd[fi] = fd;
			rc = rst_add_fd(rp, fd, d->fd, false, d->cloexec);
		}
		if (rc < 0 && !err->code)
			rc = err_set(err, rc, "pid %d: out of memory for descriptor %d", p->pid,
				     d->fd);
	}
	return rc < 0 ? rc : 0;
}

/* Each kind's step, once per open file description, with its first descriptor. In
 * the new process too: the set of descriptions met is mapped, not allocated. */
static int for_each_file(struct rst_ctx *c, bool child, struct err *err)
{
	const struct proc_img *p = c->rp->p;
	size_t len = c->m->nfiles / 8 + 1;
	uint8_t *met;
	int rc = 0;

	met = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (met == MAP_FAILED)
		return err_sys(err, "pid %d: no memory to go through its descriptors", p->pid);
	for (uint32_t i = 0; i < p->nfds && rc == 0; i++) {
		const struct fd_img *d = &p->fds[i];
		const struct file_img *f = file_by_id(c->m, d->file_id);
		const struct fd_kind *k = fdkind_find(f->kind);
		size_t fi = (size_t)(f - c->m->files);

		if (met[fi / 8] & (1u << (fi % 8)))
			continue;
		met[fi / 8] |= (uint8_t)(1u << (fi % 8));
		if (child && k->child)
			rc = k->child(c, f, d->fd, err);
		else if (!child && k->finish)
			rc = k->finish(c, f, d->fd, err);
	}
	munmap(met, len);
	return rc < 0 ? rc : 0;
}

static int files_child(struct rst_ctx *c, struct err *err)
{
	return for_each_file(c, true, err);
}

static int files_finish(struct rst_ctx *c, struct err *err)
{
	return for_each_file(c, false, err);
}

/* The kinds' steps for the process as a whole rather than for one descriptor. */
static int files_session(struct rst_ctx *c, struct err *err)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		int rc = kinds[i]->session ? kinds[i]->session(c, err) : 0;

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int files_groups(struct rst_ctx *c, struct err *err)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		int rc = kinds[i]->groups ? kinds[i]->groups(c, err) : 0;

		if (rc < 0)
			return rc;
	}
	return 0;
}

static void close_copies(struct rst_ctx *c)
{
	for (uint32_t i = 0; c->file_fd && i < c->m->nfiles; i++)
		if (c->file_fd[i] >= 0) {
			close(c->file_fd[i]);
			c->file_fd[i] = -1;
		}
}

/* Every process exists, its descriptors installed: cr_restart's copies go, as many
 * descriptors as the processes have. */
static int files_restore(struct rst_ctx *c, struct err *err)
{
	(void)err;
	close_copies(c);
	return 0;
}

static void files_cleanup(struct rst_ctx *c)
{
	if (c->file_fd) {
		close_copies(c);
		free(c->file_fd);
		c->file_fd = NULL;
	}
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (kinds[i]->cleanup)
			kinds[i]->cleanup(c);
	lower_nofile();
}

static void files_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	out_arr_begin(o, "descriptors");
	for (uint32_t i = 0; i < p->nfds; i++) {
		const struct fd_img *d = &p->fds[i];
		const struct file_img *f = file_by_id(m, d->file_id);
		const struct fd_kind *k = f ? fdkind_find(f->kind) : NULL;

		out_obj_begin(o, NULL);
		out_i64(o, "fd", d->fd);
		if (f && k) {
			out_str(o, "kind", k->name);
			if (f->path)
				out_str(o, "path", f->path);
			if (k->describe)
				k->describe(f, o);
			out_hex(o, "flags", f->flags);
			out_u64(o, "file", f->id);
		}
		out_bool(o, "cloexec", d->cloexec);
		out_obj_end(o);
	}
	out_arr_end(o);
}

const struct state_ops files_ops = {
	.name = "files",
	.recs = {REC_FILE, REC_FDS},
	.collect = files_collect,
	.settle_all = files_settle_all,
	.encode = files_encode,
	.encode_global = files_encode_global,
	.decode = files_decode,
	.validate = files_validate,
	.prepare = files_prepare,
	.session = files_session,
	.child = files_child,
	.restore = files_restore,
	.groups = files_groups,
	.finish = files_finish,
	.cleanup = files_cleanup,
	.describe = files_describe,
};
