/* test_saved_kinds.c: the records of memfds, deleted files, FIFOs, file contents and
 * locks, written here by hand as docs/context-format.md describes them: what is valid
 * decodes (and kind data encodes back to the same bytes); each field out of range is
 * refused; the checks across records find a file without one holder of its contents
 * and an area saved by contents whose file is missing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/err.h"
#include "engine/image.h"
#include "engine/model.h"
#include "engine/state/fdkind.h"
#include "engine/state/fsaved.h"
#include "util/buf.h"
#include "util/wire.h"

/* Decode b as the kind data of a file (kind, mode, path) into f: 1 if accepted whole,
 * 0 if refused. An accepted one must encode back to the same bytes. f keeps its data
 * when keep is set (the caller frees it), else it is freed. */
static int decodes_into(struct file_img *f, const struct buf *b, int keep)
{
	const struct fd_kind *k = fdkind_find(f->kind);
	struct err err = {0};
	struct wire_rd rd;
	int ok;

	assert_non_null(k);
	wr_init(&rd, b->data, b->len);
	assert_int_equal(k->decode(f, &rd, &err), 0);
	ok = wr_done(&rd);
	if (ok) {
		struct buf again;

		buf_init(&again);
		k->encode(f, &again);
		assert_int_equal(again.len, b->len);
		assert_memory_equal(again.data, b->data, b->len);
		buf_fini(&again);
	}
	if (!keep && f->kd_free) {
		f->kd_free(f->kd);
		f->kd = NULL;
		f->kd_free = NULL;
	}
	return ok;
}

static int decodes(uint32_t kind, uint32_t mode, const char *path, const struct buf *b)
{
	struct file_img f = {.id = 1, .kind = kind, .mode = mode, .path = (char *)path};

	return decodes_into(&f, b, 0);
}

static void memfd_data(void **state)
{
	static const struct {
		uint32_t holder;
		const char *name;
		uint32_t seals, mode;
		const char *path;
		int ok;
	} cases[] = {
	    {1, "a memfd", 0x6, S_IFREG | 0777, NULL, 1},
	    {0, "", 0x1, S_IFREG | 0600, NULL, 1},
	    {1, "sealed", 0x3f, S_IFREG | 0666, NULL, 1},
	    {2, "x", 0, S_IFREG | 0600, NULL, 0},       /* holder flag */
	    {1, NULL, 0, S_IFREG | 0600, NULL, 0},      /* no name */
	    {1, "x", 0x40, S_IFREG | 0600, NULL, 0},    /* unknown seal */
	    {1, "x", 0, S_IFIFO | 0600, NULL, 0},       /* not a plain file */
	    {1, "x", 0, S_IFREG | 0600, "/memfd:x", 0}, /* a memfd has no path */
	};
	char longname[251];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b);
		put_u32(&b, cases[i].holder);
		put_str(&b, cases[i].name);
		put_u32(&b, cases[i].seals);
		assert_int_equal(decodes(FILE_MEMFD, cases[i].mode, cases[i].path, &b),
				 cases[i].ok);
		buf_fini(&b);
	}
	/* A name longer than the kernel takes. */
	memset(longname, 'n', 250);
	longname[250] = '\0';
	{
		struct buf b;

		buf_init(&b);
		put_u32(&b, 1);
		put_str(&b, longname);
		put_u32(&b, 0);
		assert_int_equal(decodes(FILE_MEMFD, S_IFREG | 0600, NULL, &b), 0);
		buf_fini(&b);
	}
}

static void deleted_data(void **state)
{
	static const struct {
		uint32_t holder, mode;
		const char *path;
		int trailing, ok;
	} cases[] = {
	    {1, S_IFREG | 0640, "/tmp/gone", 0, 1}, {0, S_IFREG | 0600, "/tmp/gone", 0, 1},
	    {3, S_IFREG | 0600, "/tmp/gone", 0, 0}, /* holder flag */
	    {1, S_IFREG | 0600, NULL, 0, 0},        /* no name */
	    {1, S_IFDIR | 0700, "/tmp/gone", 0, 0}, /* a directory */
	    {1, S_IFREG | 0600, "/tmp/gone", 1, 0}, /* a byte too many */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b);
		put_u32(&b, cases[i].holder);
		put_u32(&b, 1000);
		put_u32(&b, 1000);
		if (cases[i].trailing)
			put_u8(&b, 0);
		assert_int_equal(decodes(FILE_DELETED, cases[i].mode, cases[i].path, &b),
				 cases[i].ok);
		buf_fini(&b);
	}
}

static void fifo_data(void **state)
{
	static const struct {
		uint32_t size, holder, unlinked, len, mode;
		const char *path;
		int ok;
	} cases[] = {
	    {65536, 1, 0, 5, S_IFIFO | 0600, "/tmp/f", 1},
	    {1 << 20, 0, 1, 0, S_IFIFO | 0600, "/tmp/f", 1},
	    {4096, 1, 0, 4096, S_IFIFO | 0600, "/tmp/f", 1},
	    {4096, 1, 0, 4097, S_IFIFO | 0600, "/tmp/f", 0}, /* more than the size */
	    {65536, 0, 0, 5, S_IFIFO | 0600, "/tmp/f", 0},   /* data, not the holder */
	    {3000, 0, 0, 0, S_IFIFO | 0600, "/tmp/f", 0},    /* not a power of two */
	    {2048, 0, 0, 0, S_IFIFO | 0600, "/tmp/f", 0},    /* too small */
	    {65536, 2, 0, 0, S_IFIFO | 0600, "/tmp/f", 0},   /* holder flag */
	    {65536, 0, 2, 0, S_IFIFO | 0600, "/tmp/f", 0},   /* unlinked flag */
	    {65536, 0, 0, 0, S_IFREG | 0600, "/tmp/f", 0},   /* not a FIFO */
	    {65536, 0, 0, 0, S_IFIFO | 0600, NULL, 0},       /* no path */
	};
	static uint8_t data[8192];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b);
		put_u64(&b, 77);
		put_u32(&b, cases[i].size);
		put_u32(&b, cases[i].holder);
		put_u32(&b, cases[i].unlinked);
		put_blob(&b, data, cases[i].len);
		assert_int_equal(decodes(FILE_FIFO, cases[i].mode, cases[i].path, &b), cases[i].ok);
		buf_fini(&b);
	}
}

/* A model with one process and the files given (kinds 10 or 11), their kind data
 * decoded from holder flags. */
static struct model *model_with(const uint32_t *holders, const uint64_t *inos, uint32_t n,
				uint64_t size)
{
	struct model *m = model_new();

	assert_non_null(m);
	assert_non_null(model_grow((void **)&m->procs, &m->nprocs, sizeof(*m->procs)));
	m->procs[0].pid = 42;
	for (uint32_t i = 0; i < n; i++) {
		struct file_img *f = model_grow((void **)&m->files, &m->nfiles, sizeof(*f));
		struct buf b;

		assert_non_null(f);
		f->id = i + 1;
		f->kind = FILE_DELETED;
		f->mode = S_IFREG | 0600;
		f->size = size;
		f->dev = 8;
		f->ino = inos[i];
		f->path = strdup("/tmp/gone");
		buf_init(&b);
		put_u32(&b, holders[i]);
		put_u32(&b, 0);
		put_u32(&b, 0);
		assert_int_equal(decodes_into(f, &b, 1), 1);
		buf_fini(&b);
	}
	return m;
}

static void one_holder_per_file(void **state)
{
	static const uint64_t inos[] = {100, 100, 200};
	static const uint32_t good[] = {1, 0, 1}, none[] = {0, 0, 1}, two[] = {1, 1, 1};
	struct err err = {0};
	struct model *m;

	(void)state;
	m = model_with(good, inos, 3, 10);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(fsaved_check(m, &m->files[i], &err), 0);
	model_free(m);
	m = model_with(none, inos, 3, 10);
	assert_int_equal(fsaved_check(m, &m->files[0], &err), -EINVAL);
	model_free(m);
	err = (struct err){0};
	m = model_with(two, inos, 3, 10);
	assert_int_equal(fsaved_check(m, &m->files[1], &err), -EINVAL);
	assert_int_equal(fsaved_check(m, &m->files[2], &(struct err){0}), 0);
	model_free(m);
}

/* One file contents record for file id at off with len bytes: 0 or the error. */
static int contents(struct model *m, uint32_t id, uint64_t off, uint32_t len)
{
	static uint8_t data[4096];
	struct img_reader r = {.name = "ctx"};
	struct img_rec rec = {.type = REC_FILE_DATA, .off = 4096};
	struct err err = {0};
	struct buf b;
	int rc;

	buf_init(&b);
	put_u32(&b, id);
	put_u64(&b, off);
	put_blob(&b, data, len);
	rec.payload = b.data;
	rec.len = b.len;
	rc = fsaved_ops.decode(m, &rec, &r, &err);
	buf_fini(&b);
	return rc;
}

static void file_contents_records(void **state)
{
	static const uint64_t inos[] = {100, 100};
	static const uint32_t holders[] = {1, 0};
	struct model *m = model_with(holders, inos, 2, 10000);
	const struct fsaved *fs;

	(void)state;
	assert_int_equal(contents(m, 1, 0, 4096), 0);
	assert_int_equal(contents(m, 1, 8192, 1808), 0); /* a hole between */
	fs = fsaved_of(&m->files[0]);
	assert_int_equal(fs->nchunks, 2);
	assert_int_equal(fs->chunks[1].off, 8192);
	assert_int_equal(fs->chunks[1].len, 1808);
	/* Where the bytes lie: after the record header and the 16 bytes before them. */
	assert_int_equal(fs->chunks[0].img_off, 4096 + IMG_REC_HDR_LEN + 16);
	assert_int_equal(contents(m, 1, 4096, 100), -EINVAL); /* out of order */
	assert_int_equal(contents(m, 1, 9999, 2), -EINVAL);   /* past the end */
	assert_int_equal(contents(m, 1, 10000, 0), -EINVAL);  /* empty */
	assert_int_equal(contents(m, 2, 0, 10), -EINVAL);     /* not the holder */
	assert_int_equal(contents(m, 3, 0, 10), -EINVAL);     /* no such file */
	assert_int_equal(contents(m, 1, UINT64_MAX, 1), -EINVAL);
	model_free(m);
}

static void area_saved_by_contents_needs_its_file(void **state)
{
	static const uint64_t inos[] = {100};
	static const uint32_t holders[] = {1};
	struct model *m = model_with(holders, inos, 1, 4096);
	struct proc_img *p = &m->procs[0];
	struct err err = {0};

	(void)state;
	p->vmas = calloc(1, sizeof(*p->vmas));
	assert_non_null(p->vmas);
	p->nvmas = 1;
	p->vmas[0] = (struct vma_img){
	    .start = 0x10000, .end = 0x11000, .kind = VMA_FILE_SAVED, .dev = 8, .ino = 100};
	assert_int_equal(fsaved_ops.validate(m, p, &err), 0);
	p->vmas[0].ino = 101;
	assert_int_equal(fsaved_ops.validate(m, p, &err), -EINVAL);
	model_free(m);
}

/* One locks record for pid 42: 0 or the error. */
static int locks_rec(struct model *m, uint32_t n, const uint32_t *f)
{
	struct img_reader r = {.name = "ctx"};
	struct img_rec rec = {.type = REC_LOCKS};
	struct err err = {0};
	struct buf b;
	int rc;

	buf_init(&b);
	put_u32(&b, 42);
	put_u32(&b, n);
	for (uint32_t i = 0; i < n; i++, f += 5) {
		put_u32(&b, f[0]);
		put_u32(&b, f[1]);
		put_u32(&b, f[2]);
		put_u64(&b, f[3] == 0xffffffffu ? UINT64_MAX : f[3]);
		put_u64(&b, f[4]);
	}
	rec.payload = b.data;
	rec.len = b.len;
	rc = locks_ops.decode(m, &rec, &r, &err);
	buf_fini(&b);
	return rc;
}

static void locks_records(void **state)
{
	static const struct {
		uint32_t f[5];
		int ok;
	} cases[] = {
	    {{1, LOCK_FLOCK, F_WRLCK, 0, 0}, 1},
	    {{1, LOCK_POSIX, F_RDLCK, 10, 20}, 1},
	    {{1, LOCK_OFD, F_WRLCK, 100, 0}, 1},
	    {{1, 0, F_WRLCK, 0, 0}, 0},                    /* kind */
	    {{1, 4, F_WRLCK, 0, 0}, 0},                    /* kind */
	    {{1, LOCK_POSIX, F_UNLCK, 0, 0}, 0},           /* type */
	    {{1, LOCK_FLOCK, F_RDLCK, 5, 0}, 0},           /* flock with a range */
	    {{1, LOCK_POSIX, F_RDLCK, 0xffffffffu, 0}, 0}, /* start past 2^63 */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		static const uint64_t inos[] = {100};
		static const uint32_t holders[] = {1};
		struct model *m = model_with(holders, inos, 1, 10);

		assert_int_equal(locks_rec(m, 1, cases[i].f) == 0, cases[i].ok);
		if (cases[i].ok)
			assert_int_equal(m->procs[0].nlocks, 1);
		model_free(m);
	}
	{
		static const uint64_t inos[] = {100};
		static const uint32_t holders[] = {1};
		static const uint32_t one[5] = {1, LOCK_POSIX, F_WRLCK, 0, 1};
		struct model *m = model_with(holders, inos, 1, 10);
		struct err err = {0};

		assert_int_equal(locks_rec(m, 0, one), -EINVAL); /* a record without locks */
		assert_int_equal(locks_rec(m, 1, one), 0);
		assert_int_equal(locks_rec(m, 1, one), -EINVAL); /* a second record */
		/* After the whole file: the lock's file must be one of the process's. */
		assert_int_equal(locks_ops.validate(m, &m->procs[0], &err), -EINVAL);
		m->procs[0].fds = calloc(1, sizeof(*m->procs[0].fds));
		assert_non_null(m->procs[0].fds);
		m->procs[0].fds[0] = (struct fd_img){3, 0, 1};
		m->procs[0].nfds = 1;
		assert_int_equal(locks_ops.validate(m, &m->procs[0], &(struct err){0}), 0);
		model_free(m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(memfd_data),
	    cmocka_unit_test(deleted_data),
	    cmocka_unit_test(fifo_data),
	    cmocka_unit_test(one_holder_per_file),
	    cmocka_unit_test(file_contents_records),
	    cmocka_unit_test(area_saved_by_contents_needs_its_file),
	    cmocka_unit_test(locks_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
