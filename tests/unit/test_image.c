/* test_image.c: the context file's framing, written and read back in memory.
 *
 * A sample context is written with img_writer_* to a memfd or a pipe and read back
 * with img_reader_* in both page modes. Then every byte offset of it is truncated, and
 * every byte has a bit flipped: each must fail cleanly (-EIO or -EINVAL) with a message
 * that names the file, in both page modes and through a pipe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/err.h"
#include "engine/image.h"
#include "util/buf.h"
#include "util/crc32c.h"
#include "util/wire.h"

#define NAME "ctx.test"
#define REC_OPTIONAL_UNKNOWN 0x1234

/* ---- helpers ---- */

static int memfd_with(const void *p, size_t n)
{
	int fd = memfd_create("test-image", MFD_CLOEXEC);

	assert_true(fd >= 0);
	if (n)
		assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* The read end of a pipe holding p[0..n), its write end closed. */
static int pipe_with(const void *p, size_t n)
{
	int fds[2];

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	if (n > 65536)
		assert_true(fcntl(fds[1], F_SETPIPE_SZ, (int)n) >= (int)n);
	if (n)
		assert_int_equal(write(fds[1], p, n), (ssize_t)n);
	close(fds[1]);
	return fds[0];
}

static void slurp(int fd, struct buf *out)
{
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	buf_init(out);
	assert_int_equal(buf_read_fd(out, fd), 0);
}

static void fill_pattern(uint8_t *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 12));
}

/* A page record's run list: pid, nruns, data length, then (vaddr, npages) pairs. */
static void pages_head(struct buf *b, uint32_t nruns, uint64_t pages_each)
{
	buf_init(b);
	put_u32(b, 42);
	put_u32(b, nruns);
	put_u64(b, nruns * pages_each * IMG_PAGE_SIZE);
	for (uint32_t i = 0; i < nruns; i++) {
		put_u64(b, 0x10000 + i * 0x100000ull);
		put_u64(b, pages_each);
	}
}

static uint8_t proc_payload[100];
static uint8_t data1[2 * IMG_PAGE_SIZE], data2[2 * IMG_PAGE_SIZE];

/* The records of the sample context, in order. */
static const struct {
	uint32_t type, flags;
} sample_recs[] = {
    {REC_HEADER, REC_F_REQUIRED}, {REC_PROC, REC_F_REQUIRED},  {REC_PAGES, REC_F_REQUIRED},
    {REC_OPTIONAL_UNKNOWN, 0},    {REC_PAGES, REC_F_REQUIRED}, {REC_FILE, REC_F_REQUIRED},
    {REC_END, REC_F_REQUIRED},
};
#define SAMPLE_NRECS (sizeof(sample_recs) / sizeof(sample_recs[0]))

static void write_sample_records(struct img_writer *w)
{
	struct err err = {0};
	struct buf h1, h2;

	fill_pattern(proc_payload, sizeof(proc_payload), 1);
	fill_pattern(data1, sizeof(data1), 2);
	fill_pattern(data2, sizeof(data2), 3);
	pages_head(&h1, 1, 2);
	pages_head(&h2, 2, 1);
	assert_int_equal(img_write_record(w, REC_HEADER, REC_F_REQUIRED, "header!", 7, &err), 0);
	assert_int_equal(
	    img_write_record(w, REC_PROC, REC_F_REQUIRED, proc_payload, sizeof(proc_payload), &err),
	    0);
	assert_int_equal(img_write_pages(w, h1.data, h1.len, data1, sizeof(data1), &err), 0);
	assert_int_equal(img_write_record(w, REC_OPTIONAL_UNKNOWN, 0, NULL, 0, &err), 0);
	assert_int_equal(img_write_pages(w, h2.data, h2.len, data2, sizeof(data2), &err), 0);
	assert_int_equal(img_write_record(w, REC_FILE, REC_F_REQUIRED, "file!", 5, &err), 0);
	buf_fini(&h1);
	buf_fini(&h2);
}

/* The sample context's bytes. */
static void make_sample(struct buf *out)
{
	struct img_writer w;
	struct err err = {0};
	int fd = memfd_with(NULL, 0);

	assert_int_equal(img_writer_init(&w, fd, NAME, &err), 0);
	write_sample_records(&w);
	assert_int_equal(img_write_end(&w, &err), 0);
	assert_int_equal(w.off, (uint64_t)lseek(fd, 0, SEEK_CUR));
	img_writer_fini(&w);
	slurp(fd, out);
	close(fd);
}

/* Read a whole context as restart would: every record, and in deferred mode the page
 * data's CRC from the file. Returns 0 or the error code. */
static int read_all(int fd, enum img_pages_mode mode, uint32_t *ret_nrecs, struct err *err)
{
	struct img_reader r;
	struct img_rec rec;
	uint32_t n = 0;
	int rc;

	rc = img_reader_init(&r, fd, NAME, mode, err);
	while (rc == 0 && !r.ended) {
		rc = img_read_record(&r, &rec, err);
		if (rc == 0 && rec.type == REC_PAGES && rec.crc_len)
			rc = img_verify_span(fd, NAME, rec.crc_off, rec.crc_len, rec.crc, err);
		if (rc == 0)
			n++;
	}
	img_reader_fini(&r);
	if (ret_nrecs)
		*ret_nrecs = n;
	return rc;
}

static int read_bytes(const void *p, size_t n, enum img_pages_mode mode, bool through_pipe,
		      struct err *err)
{
	int fd = through_pipe ? pipe_with(p, n) : memfd_with(p, n);
	int rc = read_all(fd, mode, NULL, err);

	close(fd);
	return rc;
}

/* A record with valid checksums and any contents, for hand-made files. */
static void raw_record(struct buf *b, uint32_t type, uint32_t flags, uint64_t len,
		       const void *payload, size_t n)
{
	size_t h = b->len;

	put_u32(b, type);
	put_u32(b, flags);
	put_u64(b, len);
	put_u32(b, crc32c(CRC32C_INIT, payload, n));
	put_u32(b, crc32c(CRC32C_INIT, b->data + h, 20));
	put_bytes(b, payload, n);
}

static void raw_preamble(struct buf *b, uint32_t version)
{
	buf_init(b);
	put_bytes(b, IMG_MAGIC, IMG_MAGIC_LEN);
	put_u32(b, version);
	put_u32(b, 0);
}

/* ---- reading back ---- */

static void check_sample(int fd, enum img_pages_mode mode)
{
	struct img_reader r;
	struct img_rec rec;
	struct err err = {0};
	uint8_t page[IMG_PAGE_SIZE];

	assert_int_equal(img_reader_init(&r, fd, NAME, mode, &err), 0);
	for (uint32_t i = 0; i < SAMPLE_NRECS; i++) {
		assert_int_equal(img_read_record(&r, &rec, &err), 0);
		assert_int_equal(rec.type, sample_recs[i].type);
		assert_int_equal(rec.flags, sample_recs[i].flags);
		assert_int_equal(rec.index, i);
		assert_int_equal(r.ended, rec.type == REC_END);
		switch (rec.type) {
		case REC_HEADER:
			assert_int_equal(rec.off, IMG_PREAMBLE_LEN);
			assert_int_equal(rec.len, 7);
			assert_memory_equal(rec.payload, "header!", 7);
			break;
		case REC_PROC:
			assert_int_equal(rec.len, sizeof(proc_payload));
			assert_memory_equal(rec.payload, proc_payload, sizeof(proc_payload));
			break;
		case REC_PAGES: {
			const uint8_t *want = i == 2 ? data1 : data2;
			struct wire_rd rd;
			uint32_t nruns;

			wr_init(&rd, rec.payload, rec.len);
			assert_int_equal(get_u32(&rd), 42);
			nruns = get_u32(&rd);
			assert_int_equal(nruns, i == 2 ? 1 : 2);
			assert_int_equal(rec.len, 16 + 16 * nruns);
			assert_int_equal(rec.data_len, 2 * IMG_PAGE_SIZE);
			assert_int_equal(rec.data_off % IMG_PAGE_SIZE, 0);
			assert_true(rec.data_off > rec.off);
			for (int k = 0; k < 2; k++) {
				assert_int_equal(pread(fd, page, sizeof(page),
						       (off_t)rec.data_off + k * IMG_PAGE_SIZE),
						 (ssize_t)sizeof(page));
				assert_memory_equal(page, want + k * IMG_PAGE_SIZE, sizeof(page));
			}
			if (mode == IMG_PAGES_DEFER) {
				assert_int_not_equal(rec.crc_len, 0);
				assert_int_equal(img_verify_span(fd, NAME, rec.crc_off, rec.crc_len,
								 rec.crc, &err),
						 0);
			} else {
				assert_int_equal(rec.crc_len, 0);
			}
			break;
		}
		case REC_OPTIONAL_UNKNOWN:
			assert_int_equal(rec.len, 0);
			break;
		case REC_FILE:
			assert_int_equal(rec.len, 5);
			assert_memory_equal(rec.payload, "file!", 5);
			break;
		}
	}
	assert_true(r.ended);
	assert_int_equal(img_read_record(&r, &rec, &err), -EINVAL);
	img_reader_fini(&r);
}

static void round_trip_through_memfd_with_pages_verified(void **state)
{
	struct buf img;
	int fd;

	(void)state;
	make_sample(&img);
	fd = memfd_with(img.data, img.len);
	check_sample(fd, IMG_PAGES_VERIFY);
	close(fd);
	buf_fini(&img);
}

static void round_trip_through_memfd_with_pages_deferred(void **state)
{
	struct buf img;
	int fd;

	(void)state;
	make_sample(&img);
	fd = memfd_with(img.data, img.len);
	check_sample(fd, IMG_PAGES_DEFER);
	close(fd);
	buf_fini(&img);
}

static void writer_never_seeks_so_a_pipe_carries_the_context(void **state)
{
	struct img_writer w;
	struct err err = {0};
	struct buf img, piped;
	int fds[2];
	uint32_t n;

	(void)state;
	make_sample(&img);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_true(fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) >= (int)img.len);
	assert_int_equal(img_writer_init(&w, fds[1], NAME, &err), 0);
	write_sample_records(&w);
	assert_int_equal(img_write_end(&w, &err), 0);
	img_writer_fini(&w);
	close(fds[1]);
	buf_init(&piped);
	assert_int_equal(buf_read_fd(&piped, fds[0]), 0);
	close(fds[0]);
	assert_int_equal(piped.len, img.len);
	assert_memory_equal(piped.data, img.data, img.len);

	/* And a reader takes it from a pipe, checking the page data as it goes. */
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_VERIFY, true, &err), 0);
	assert_int_equal(err.code, 0);
	fds[0] = pipe_with(img.data, img.len);
	assert_int_equal(read_all(fds[0], IMG_PAGES_VERIFY, &n, &err), 0);
	assert_int_equal(n, SAMPLE_NRECS);
	close(fds[0]);
	buf_fini(&piped);
	buf_fini(&img);
}

static void deferred_pages_need_a_regular_file(void **state)
{
	struct buf img;
	struct err err = {0};

	(void)state;
	make_sample(&img);
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_DEFER, true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, NAME));
	buf_fini(&img);
}

static void page_data_starts_on_a_4k_boundary(void **state)
{
	struct buf img;
	struct wire_rd rd;
	uint64_t off = IMG_PREAMBLE_LEN;
	int pages_seen = 0;

	(void)state;
	make_sample(&img);
	/* Walk the raw framing: a page record's data ends the payload, so it starts at
	 * payload end - data length, which must be 4 KiB-aligned. */
	while (off < img.len) {
		uint32_t type;
		uint64_t len;

		wr_init(&rd, img.data + off, IMG_REC_HDR_LEN);
		type = get_u32(&rd);
		get_u32(&rd);
		len = get_u64(&rd);
		if (type == REC_PAGES) {
			uint64_t end = off + IMG_REC_HDR_LEN + len;

			assert_int_equal((end - 2 * IMG_PAGE_SIZE) % IMG_PAGE_SIZE, 0);
			assert_memory_equal(img.data + end - 2 * IMG_PAGE_SIZE,
					    pages_seen ? data2 : data1, 2 * IMG_PAGE_SIZE);
			pages_seen++;
		}
		off += IMG_REC_HDR_LEN + len;
	}
	assert_int_equal(off, img.len);
	assert_int_equal(pages_seen, 2);
	buf_fini(&img);
}

static void reader_offsets_are_file_offsets_when_the_context_starts_later(void **state)
{
	struct buf img, all;
	struct img_reader r;
	struct img_rec rec;
	struct err err = {0};
	uint8_t page[IMG_PAGE_SIZE];
	int fd;

	(void)state;
	make_sample(&img);
	buf_init(&all);
	buf_zero(&all, 100);
	put_bytes(&all, img.data, img.len);
	fd = memfd_with(all.data, all.len);
	assert_int_equal(lseek(fd, 100, SEEK_SET), 100);
	assert_int_equal(img_reader_init(&r, fd, NAME, IMG_PAGES_DEFER, &err), 0);
	do {
		assert_int_equal(img_read_record(&r, &rec, &err), 0);
		if (rec.type != REC_PAGES)
			continue;
		assert_int_equal(pread(fd, page, sizeof(page), (off_t)rec.data_off),
				 (ssize_t)sizeof(page));
		assert_memory_equal(page, rec.index == 2 ? data1 : data2, sizeof(page));
		assert_int_equal(img_verify_span(fd, NAME, rec.crc_off, rec.crc_len, rec.crc, &err),
				 0);
	} while (!r.ended);
	img_reader_fini(&r);
	close(fd);
	buf_fini(&all);
	buf_fini(&img);
}

static void end_only_context_reads_as_no_records(void **state)
{
	struct img_writer w;
	struct err err = {0};
	struct buf img;
	uint32_t n;
	int fd = memfd_with(NULL, 0);

	(void)state;
	assert_int_equal(img_writer_init(&w, fd, NAME, &err), 0);
	assert_int_equal(img_write_end(&w, &err), 0);
	img_writer_fini(&w);
	slurp(fd, &img);
	close(fd);
	fd = memfd_with(img.data, img.len);
	assert_int_equal(read_all(fd, IMG_PAGES_VERIFY, &n, &err), 0);
	assert_int_equal(n, 1);
	close(fd);
	buf_fini(&img);
}

/* ---- damage ---- */

static void expect_clean_failure(int rc, const struct err *err, bool eio_only, size_t off,
				 const char *what)
{
	if (rc == -EIO || (!eio_only && rc == -EINVAL)) {
		if (!strstr(err->msg, NAME))
			fail_msg("%s at offset %zu: message does not name the file: %s", what, off,
				 err->msg);
		if (err->code != rc)
			fail_msg("%s at offset %zu: err.code %d, returned %d", what, off, err->code,
				 rc);
		return;
	}
	fail_msg("%s at offset %zu: got %d (%s), want %s", what, off, rc, err->msg,
		 eio_only ? "-EIO" : "-EIO or -EINVAL");
}

static void truncation_at_every_offset_fails_with_eio(void **state)
{
	struct buf img;

	(void)state;
	make_sample(&img);
	for (size_t len = 0; len < img.len; len++) {
		struct err e1 = {0}, e2 = {0}, e3 = {0};

		expect_clean_failure(read_bytes(img.data, len, IMG_PAGES_VERIFY, false, &e1), &e1,
				     true, len, "truncation (verify)");
		expect_clean_failure(read_bytes(img.data, len, IMG_PAGES_DEFER, false, &e2), &e2,
				     true, len, "truncation (defer)");
		expect_clean_failure(read_bytes(img.data, len, IMG_PAGES_VERIFY, true, &e3), &e3,
				     true, len, "truncation (pipe)");
	}
	buf_fini(&img);
}

static void flipped_bit_at_every_offset_fails_cleanly(void **state)
{
	struct buf img;

	(void)state;
	make_sample(&img);
	for (size_t off = 0; off < img.len; off++) {
		/* Walk the bit through each position as the offset advances; the first
		 * bytes (preamble, first header) get all eight. */
		int nbits = off < 64 ? 8 : 1;

		for (int k = 0; k < nbits; k++) {
			uint8_t bit = (uint8_t)(1u << ((off + (size_t)k) % 8));
			struct err e1 = {0}, e2 = {0}, e3 = {0};

			img.data[off] ^= bit;
			expect_clean_failure(
			    read_bytes(img.data, img.len, IMG_PAGES_VERIFY, false, &e1), &e1, false,
			    off, "flipped bit (verify)");
			expect_clean_failure(
			    read_bytes(img.data, img.len, IMG_PAGES_DEFER, false, &e2), &e2, false,
			    off, "flipped bit (defer)");
			expect_clean_failure(
			    read_bytes(img.data, img.len, IMG_PAGES_VERIFY, true, &e3), &e3, false,
			    off, "flipped bit (pipe)");
			img.data[off] ^= bit;
		}
	}
	buf_fini(&img);
}

static void bad_magic_is_einval_saying_so(void **state)
{
	struct buf img;
	struct err err = {0};

	(void)state;
	make_sample(&img);
	img.data[3] = 'x';
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_VERIFY, false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, NAME));
	assert_non_null(strstr(err.msg, "not a crest context file"));
	buf_fini(&img);
}

static void newer_version_is_einval_naming_both_versions(void **state)
{
	struct buf img;
	struct err err = {0};

	(void)state;
	make_sample(&img);
	img.data[8] = IMG_VERSION + 1;
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_DEFER, false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, NAME));
	assert_non_null(strstr(err.msg, "version 2"));
	assert_non_null(strstr(err.msg, "reads version 1"));
	buf_fini(&img);
}

static void version_zero_is_einval(void **state)
{
	struct buf img;
	struct err err = {0};

	(void)state;
	raw_preamble(&img, 0);
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_VERIFY, false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "version 0"));
	buf_fini(&img);
}

static void nonzero_reserved_preamble_field_is_einval(void **state)
{
	struct buf img;
	struct err err = {0};

	(void)state;
	make_sample(&img);
	img.data[15] = 1;
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_VERIFY, false, &err), -EINVAL);
	assert_non_null(strstr(err.msg, NAME));
	buf_fini(&img);
}

static void empty_file_is_eio(void **state)
{
	struct err err = {0};

	(void)state;
	assert_int_equal(read_bytes("", 0, IMG_PAGES_DEFER, false, &err), -EIO);
	assert_non_null(strstr(err.msg, "empty"));
	err_clear(&err);
	assert_int_equal(read_bytes("", 0, IMG_PAGES_VERIFY, true, &err), -EIO);
	assert_non_null(strstr(err.msg, NAME));
}

static void garbage_after_end_record_is_refused(void **state)
{
	static const size_t extra[] = {1, 24, 4096};
	struct buf img;

	(void)state;
	make_sample(&img);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		struct buf more;
		struct err e1 = {0}, e2 = {0};

		buf_init(&more);
		put_bytes(&more, img.data, img.len);
		buf_zero(&more, extra[i]);
		assert_int_equal(read_bytes(more.data, more.len, IMG_PAGES_VERIFY, false, &e1),
				 -EINVAL);
		assert_non_null(strstr(e1.msg, "garbage"));
		assert_non_null(strstr(e1.msg, NAME));
		assert_int_equal(read_bytes(more.data, more.len, IMG_PAGES_DEFER, false, &e2),
				 -EINVAL);
		buf_fini(&more);
	}
	buf_fini(&img);
}

enum index_damage { IDX_OFFSET, IDX_TYPE, IDX_MISSING, IDX_COUNT };

static void write_with_damaged_index(struct buf *out, enum index_damage how)
{
	struct img_writer w;
	struct err err = {0};
	int fd = memfd_with(NULL, 0);

	assert_int_equal(img_writer_init(&w, fd, NAME, &err), 0);
	write_sample_records(&w);
	switch (how) {
	case IDX_OFFSET:
		w.index.data[12 + 4] ^= 0x10; /* second entry's offset */
		break;
	case IDX_TYPE:
		w.index.data[12] ^= 0x01; /* second entry's type */
		break;
	case IDX_MISSING:
		w.index.len -= 12;
		w.nrecs--;
		break;
	case IDX_COUNT:
		w.nrecs++;
		break;
	}
	assert_int_equal(img_write_end(&w, &err), 0);
	img_writer_fini(&w);
	slurp(fd, out);
	close(fd);
}

static void end_index_must_match_the_records(void **state)
{
	(void)state;
	for (int how = IDX_OFFSET; how <= IDX_COUNT; how++) {
		struct err e1 = {0}, e2 = {0};
		struct buf img;

		write_with_damaged_index(&img, (enum index_damage)how);
		assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_VERIFY, false, &e1),
				 -EINVAL);
		assert_non_null(strstr(e1.msg, "index does not match"));
		assert_non_null(strstr(e1.msg, NAME));
		assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_VERIFY, true, &e2),
				 -EINVAL);
		buf_fini(&img);
	}
}

static void record_length_past_end_of_file_is_eio_naming_offset(void **state)
{
	struct err err = {0};
	struct buf img;

	(void)state;
	raw_preamble(&img, IMG_VERSION);
	raw_record(&img, REC_PROC, REC_F_REQUIRED, 4096, "abcd", 4);
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_DEFER, false, &err), -EIO);
	assert_non_null(strstr(err.msg, "offset 16"));
	assert_non_null(strstr(err.msg, "runs past the end"));
	buf_fini(&img);
}

static void oversized_record_from_a_pipe_is_refused_before_allocating(void **state)
{
	struct err err = {0};
	struct buf img;

	(void)state;
	raw_preamble(&img, IMG_VERSION);
	raw_record(&img, REC_PROC, REC_F_REQUIRED, UINT64_MAX - 8, "", 0);
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_VERIFY, true, &err), -EINVAL);
	assert_non_null(strstr(err.msg, NAME));
	buf_fini(&img);
}

/* Page records whose declared sizes disagree, each with valid checksums. */
static void page_record_with_inconsistent_lengths_is_einval(void **state)
{
	static const struct {
		uint32_t nruns;
		uint64_t data_len, rec_len;
	} cases[] = {
	    {1, IMG_PAGE_SIZE, 8},                       /* shorter than the fixed head */
	    {1000000, IMG_PAGE_SIZE, 4096 * 3},          /* run list longer than the record */
	    {1, 100, 4096 + 100},                        /* data not whole pages */
	    {1, IMG_PAGE_SIZE, 4096 * 3},                /* lengths do not add up */
	    {0, (uint64_t)1 << 40, 4096 + (1ull << 40)}, /* absurd data length */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf img, head;
		struct err e1 = {0}, e2 = {0};
		int rc;

		buf_init(&head);
		put_u32(&head, 42);
		put_u32(&head, cases[i].nruns);
		put_u64(&head, cases[i].data_len);
		buf_zero(&head, 3 * 4096);
		raw_preamble(&img, IMG_VERSION);
		raw_record(&img, REC_PAGES, REC_F_REQUIRED, cases[i].rec_len, head.data,
			   cases[i].rec_len < head.len ? cases[i].rec_len : head.len);
		rc = read_bytes(img.data, img.len, IMG_PAGES_VERIFY, true, &e1);
		expect_clean_failure(rc, &e1, false, i, "inconsistent page record (pipe)");
		rc = read_bytes(img.data, img.len, IMG_PAGES_DEFER, false, &e2);
		expect_clean_failure(rc, &e2, false, i, "inconsistent page record (defer)");
		buf_fini(&head);
		buf_fini(&img);
	}
}

static void missing_end_record_is_eio(void **state)
{
	struct err e1 = {0}, e2 = {0};
	struct buf img;

	(void)state;
	raw_preamble(&img, IMG_VERSION);
	raw_record(&img, REC_HEADER, REC_F_REQUIRED, 2, "hi", 2);
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_DEFER, false, &e1), -EIO);
	assert_non_null(strstr(e1.msg, "no end record"));
	assert_int_equal(read_bytes(img.data, img.len, IMG_PAGES_VERIFY, true, &e2), -EIO);
	buf_fini(&img);
}

static void record_names_cover_every_type(void **state)
{
	(void)state;
	assert_string_equal(img_rec_name(REC_HEADER), "header");
	assert_string_equal(img_rec_name(REC_PAGES), "pages");
	assert_string_equal(img_rec_name(REC_CREDS), "credentials");
	assert_string_equal(img_rec_name(REC_END), "end");
	assert_string_equal(img_rec_name(0), "unknown");
	assert_string_equal(img_rec_name(REC_OPTIONAL_UNKNOWN), "unknown");
	assert_string_equal(img_rec_name(UINT32_MAX), "unknown");
}

static void oversized_record_is_refused_by_the_writer(void **state)
{
	struct img_writer w;
	struct err err = {0};
	int fd = memfd_with(NULL, 0);

	(void)state;
	assert_int_equal(img_writer_init(&w, fd, NAME, &err), 0);
	assert_int_equal(img_write_record(&w, REC_PROC, 0, "", (size_t)IMG_MAX_META_LEN + 1, &err),
			 -E2BIG);
	img_writer_fini(&w);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(round_trip_through_memfd_with_pages_verified),
	    cmocka_unit_test(round_trip_through_memfd_with_pages_deferred),
	    cmocka_unit_test(writer_never_seeks_so_a_pipe_carries_the_context),
	    cmocka_unit_test(deferred_pages_need_a_regular_file),
	    cmocka_unit_test(page_data_starts_on_a_4k_boundary),
	    cmocka_unit_test(reader_offsets_are_file_offsets_when_the_context_starts_later),
	    cmocka_unit_test(end_only_context_reads_as_no_records),
	    cmocka_unit_test(truncation_at_every_offset_fails_with_eio),
	    cmocka_unit_test(flipped_bit_at_every_offset_fails_cleanly),
	    cmocka_unit_test(bad_magic_is_einval_saying_so),
	    cmocka_unit_test(newer_version_is_einval_naming_both_versions),
	    cmocka_unit_test(version_zero_is_einval),
	    cmocka_unit_test(nonzero_reserved_preamble_field_is_einval),
	    cmocka_unit_test(empty_file_is_eio),
	    cmocka_unit_test(garbage_after_end_record_is_refused),
	    cmocka_unit_test(end_index_must_match_the_records),
	    cmocka_unit_test(record_length_past_end_of_file_is_eio_naming_offset),
	    cmocka_unit_test(oversized_record_from_a_pipe_is_refused_before_allocating),
	    cmocka_unit_test(page_record_with_inconsistent_lengths_is_einval),
	    cmocka_unit_test(missing_end_record_is_eio),
	    cmocka_unit_test(record_names_cover_every_type),
	    cmocka_unit_test(oversized_record_is_refused_by_the_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
