/* test_context.c: context_load's rules for the file as a whole, on hand-made files.
 *
 * The files are made with the real encoders (context_write_header, the process
 * module's encoder) and img_writer_*, into a memfd. A complete context needs every
 * module's records; these tests stop short of that and check the rules about the
 * header, record types and the process count, which come first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/context.h"
#include "engine/err.h"
#include "engine/image.h"
#include "engine/model.h"
#include "engine/state/state.h"
#include "engine/version.h"
#include "util/buf.h"
#include "util/wire.h"

#define NAME "context.4242"

/* A failure's message must say what went wrong; show it when it does not. */
static void assert_msg_has(const struct err *err, const char *needle)
{
	if (!strstr(err->msg, needle))
		fail_msg("message '%s' does not contain '%s'", err->msg, needle);
}

/* A file under construction: a memfd with a writer on it. */
struct file {
	int fd;
	struct img_writer w;
	struct err err;
};

static void file_begin(struct file *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = memfd_create("test-context", MFD_CLOEXEC);
	assert_true(f->fd >= 0);
	assert_int_equal(img_writer_init(&f->w, f->fd, NAME, &f->err), 0);
}

/* Write the end record and load the file; returns context_load's result. */
static int file_load(struct file *f, enum img_pages_mode mode, struct err *err)
{
	struct model *m = NULL;
	int rc;

	assert_int_equal(img_write_end(&f->w, &f->err), 0);
	img_writer_fini(&f->w);
	assert_int_equal(lseek(f->fd, 0, SEEK_SET), 0);
	rc = context_load(f->fd, NAME, mode, &m, err);
	if (rc == 0)
		model_free(m);
	else
		assert_null(m);
	close(f->fd);
	assert_int_equal(rc, err->code);
	if (rc < 0)
		assert_non_null(strstr(err->msg, NAME));
	return rc;
}

static void header_meta(struct model *m, uint32_t nprocs)
{
	memset(m, 0, sizeof(*m));
	context_meta_init(&m->meta);
	m->meta.req.scope = 3;
	m->meta.req.target = 4242;
	m->nprocs = nprocs;
}

static void write_header(struct file *f, uint32_t nprocs)
{
	struct model m;

	header_meta(&m, nprocs);
	assert_int_equal(context_write_header(&f->w, &m, &f->err), 0);
}

/* A header record encoded field by field, for values the encoder would not write. */
static void write_raw_header(struct file *f, uint32_t arch, uint32_t page_size,
			     uint32_t xstate_size, uint32_t nprocs, bool trailing_byte)
{
	struct buf b;

	buf_init(&b);
	put_u32(&b, arch);
	put_u32(&b, page_size);
	put_u32(&b, xstate_size);
	put_u64(&b, 7);
	put_u64(&b, 123456789);
	put_str(&b, "6.1.0");
	put_str(&b, "host");
	put_str(&b, "0.1");
	put_u32(&b, 3);
	put_i32(&b, 4242);
	put_u32(&b, 0);
	put_u32(&b, nprocs);
	if (trailing_byte)
		put_u8(&b, 0);
	assert_int_equal(
	    img_write_record(&f->w, REC_HEADER, REC_F_REQUIRED, b.data, b.len, &f->err), 0);
	buf_fini(&b);
}

/* A process record made by the process module's own encoder. */
static void write_proc(struct file *f, pid_t pid)
{
	struct proc_img p;
	struct dump_ctx c;

	memset(&p, 0, sizeof(p));
	p.pid = pid;
	p.ppid = 1;
	p.pgid = pid;
	p.sid = pid;
	snprintf(p.comm, sizeof(p.comm), "test");
	p.exe = (char *)"/bin/true";
	p.cwd = (char *)"/";
	p.umask = 022;
	p.cpus_allowed[0] = 1;
	for (int i = 0; i < MODEL_NRLIMIT; i++)
		p.rlim[i] = (struct rlimit_img){1024, 4096};
	memset(&c, 0, sizeof(c));
	c.p = &p;
	assert_int_equal(proc_ops.encode(&c, &f->w, &f->err), 0);
}

/* ---- header ---- */

static void first_record_must_be_the_header(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_proc(&f, 100);
	write_header(&f, 1);
	assert_int_equal(file_load(&f, IMG_PAGES_DEFER, &err), -EINVAL);
	assert_msg_has(&err, "first record is not the header");
	assert_msg_has(&err, "record 0");
}

static void context_without_any_header_is_refused(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	assert_int_equal(file_load(&f, IMG_PAGES_VERIFY, &err), -EINVAL);
	assert_msg_has(&err, "header");
}

static void second_header_is_refused(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_header(&f, 1);
	write_proc(&f, 100);
	write_header(&f, 1);
	assert_int_equal(file_load(&f, IMG_PAGES_DEFER, &err), -EINVAL);
	assert_msg_has(&err, "second header");
	assert_msg_has(&err, "record 2");
}

static void other_architecture_is_crest_ebadarch(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_raw_header(&f, 183 /* EM_AARCH64 */, IMG_PAGE_SIZE, 1024, 1, false);
	write_proc(&f, 100);
	assert_int_equal(file_load(&f, IMG_PAGES_VERIFY, &err), -CREST_EBADARCH);
	assert_int_equal(-err.code, 2359);
	assert_msg_has(&err, "another architecture");
}

static void other_page_size_is_crest_ebadarch(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_raw_header(&f, ARCH_ELF_MACHINE, 65536, 1024, 1, false);
	assert_int_equal(file_load(&f, IMG_PAGES_VERIFY, &err), -CREST_EBADARCH);
}

static void header_fpu_state_size_out_of_range_is_einval(void **state)
{
	static const uint32_t sizes[] = {0, 511, 65537, UINT32_MAX};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct err err = {0};
		struct file f;

		file_begin(&f);
		write_raw_header(&f, ARCH_ELF_MACHINE, IMG_PAGE_SIZE, sizes[i], 1, false);
		assert_int_equal(file_load(&f, IMG_PAGES_VERIFY, &err), -EINVAL);
		assert_msg_has(&err, "FPU state size");
	}
}

static void header_process_count_out_of_range_is_einval(void **state)
{
	static const uint32_t counts[] = {0, 65537, UINT32_MAX};

	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		struct err err = {0};
		struct file f;

		file_begin(&f);
		write_raw_header(&f, ARCH_ELF_MACHINE, IMG_PAGE_SIZE, 1024, counts[i], false);
		assert_int_equal(file_load(&f, IMG_PAGES_VERIFY, &err), -EINVAL);
		assert_msg_has(&err, "process count");
	}
}

static void header_with_trailing_bytes_is_einval(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_raw_header(&f, ARCH_ELF_MACHINE, IMG_PAGE_SIZE, 1024, 1, true);
	assert_int_equal(file_load(&f, IMG_PAGES_VERIFY, &err), -EINVAL);
	assert_msg_has(&err, "trailing bytes");
	assert_msg_has(&err, "(header)");
}

static void header_cut_short_is_einval(void **state)
{
	struct err err = {0};
	struct file f;
	struct model m;
	struct buf b;

	(void)state;
	header_meta(&m, 1);
	buf_init(&b);
	put_u32(&b, m.meta.arch);
	put_u32(&b, m.meta.page_size);
	file_begin(&f);
	assert_int_equal(img_write_record(&f.w, REC_HEADER, REC_F_REQUIRED, b.data, b.len, &f.err),
			 0);
	assert_int_equal(file_load(&f, IMG_PAGES_VERIFY, &err), -EINVAL);
	assert_msg_has(&err, "runs past the end");
	buf_fini(&b);
}

/* ---- record types ---- */

static void unknown_required_record_type_is_refused_naming_the_format(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_header(&f, 1);
	write_proc(&f, 100);
	assert_int_equal(img_write_record(&f.w, 0x4321, REC_F_REQUIRED, "x", 1, &f.err), 0);
	assert_int_equal(file_load(&f, IMG_PAGES_DEFER, &err), -EINVAL);
	assert_msg_has(&err, "type 17185");
	assert_msg_has(&err, "does not know");
	assert_msg_has(&err, "format 1");
}

/* A skipped record lets loading go on to the checks after the last record: the
 * process count, then the modules' checks across records. */
static void unknown_optional_record_type_is_skipped(void **state)
{
	static const uint32_t types[] = {0x4321, 0, REC_END - 1, 0x8000, UINT32_MAX};

	(void)state;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct err err = {0};
		struct file f;

		file_begin(&f);
		write_header(&f, 1);
		assert_int_equal(img_write_record(&f.w, types[i], 0, "abc", 3, &f.err), 0);
		write_proc(&f, 100);
		assert_int_equal(img_write_record(&f.w, types[i], 0x6, NULL, 0, &f.err), 0);
		assert_int_equal(file_load(&f, IMG_PAGES_DEFER, &err), -EINVAL);
		if (strstr(err.msg, "record 1") || strstr(err.msg, "record 3"))
			fail_msg("type %#x was not skipped: %s", types[i], err.msg);
		assert_msg_has(&err, "pid 100");
	}
}

static void unknown_optional_record_type_is_skipped_before_process_count_check(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_header(&f, 1);
	assert_int_equal(img_write_record(&f.w, 0x4321, 0, "abc", 3, &f.err), 0);
	assert_int_equal(file_load(&f, IMG_PAGES_VERIFY, &err), -EINVAL);
	assert_msg_has(&err, "header lists 1 processes, the file describes 0");
}

/* ---- processes ---- */

static void process_count_mismatch_is_refused(void **state)
{
	struct err e1 = {0}, e2 = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_header(&f, 2);
	write_proc(&f, 100);
	assert_int_equal(file_load(&f, IMG_PAGES_DEFER, &e1), -EINVAL);
	assert_msg_has(&e1, "header lists 2 processes, the file describes 1");

	file_begin(&f);
	write_header(&f, 1);
	write_proc(&f, 100);
	write_proc(&f, 101);
	assert_int_equal(file_load(&f, IMG_PAGES_DEFER, &e2), -EINVAL);
	assert_msg_has(&e2, "header lists 1 processes, the file describes 2");
}

static void second_record_for_the_same_process_is_refused(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_header(&f, 2);
	write_proc(&f, 100);
	write_proc(&f, 100);
	assert_int_equal(file_load(&f, IMG_PAGES_DEFER, &err), -EINVAL);
	assert_msg_has(&err, "same process");
}

static void record_for_an_undescribed_process_is_refused(void **state)
{
	struct err err = {0};
	struct file f;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u32(&b, 999); /* pid */
	file_begin(&f);
	write_header(&f, 1);
	write_proc(&f, 100);
	assert_int_equal(img_write_record(&f.w, REC_CREDS, REC_F_REQUIRED, b.data, b.len, &f.err),
			 0);
	assert_int_equal(file_load(&f, IMG_PAGES_DEFER, &err), -EINVAL);
	assert_msg_has(&err, "record 2 (credentials)");
	assert_msg_has(&err, "has not described");
	buf_fini(&b);
}

static void incomplete_process_fails_a_modules_check_naming_the_file(void **state)
{
	struct err err = {0};
	struct file f;

	(void)state;
	file_begin(&f);
	write_header(&f, 1);
	write_proc(&f, 100);
	assert_int_equal(file_load(&f, IMG_PAGES_VERIFY, &err), -EINVAL);
	assert_msg_has(&err, "pid 100");
	assert_true(strncmp(err.msg, NAME ": ", strlen(NAME) + 2) == 0);
}

/* ---- framing, through context_load ---- */

static void damaged_framing_reaches_the_caller_as_eio_or_einval(void **state)
{
	struct err e1 = {0}, e2 = {0}, e3 = {0};
	struct model *m = NULL;
	int fd;

	(void)state;
	fd = memfd_create("test-context", MFD_CLOEXEC);
	assert_int_equal(context_load(fd, NAME, IMG_PAGES_DEFER, &m, &e1), -EIO);
	assert_non_null(strstr(e1.msg, NAME));
	assert_int_equal(write(fd, "CRESTCTZ\1\0\0\0\0\0\0\0", 16), 16);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(context_load(fd, NAME, IMG_PAGES_DEFER, &m, &e2), -EINVAL);
	assert_msg_has(&e2, "bad magic");
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(write(fd, "CRESTCTX", 8), 8);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(context_load(fd, NAME, IMG_PAGES_DEFER, &m, &e3), -EIO);
	assert_msg_has(&e3, "no end record");
	assert_null(m);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(first_record_must_be_the_header),
	    cmocka_unit_test(context_without_any_header_is_refused),
	    cmocka_unit_test(second_header_is_refused),
	    cmocka_unit_test(other_architecture_is_crest_ebadarch),
	    cmocka_unit_test(other_page_size_is_crest_ebadarch),
	    cmocka_unit_test(header_fpu_state_size_out_of_range_is_einval),
	    cmocka_unit_test(header_process_count_out_of_range_is_einval),
	    cmocka_unit_test(header_with_trailing_bytes_is_einval),
	    cmocka_unit_test(header_cut_short_is_einval),
	    cmocka_unit_test(unknown_required_record_type_is_refused_naming_the_format),
	    cmocka_unit_test(unknown_optional_record_type_is_skipped),
	    cmocka_unit_test(unknown_optional_record_type_is_skipped_before_process_count_check),
	    cmocka_unit_test(process_count_mismatch_is_refused),
	    cmocka_unit_test(second_record_for_the_same_process_is_refused),
	    cmocka_unit_test(record_for_an_undescribed_process_is_refused),
	    cmocka_unit_test(incomplete_process_fails_a_modules_check_naming_the_file),
	    cmocka_unit_test(damaged_framing_reaches_the_caller_as_eio_or_einval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
