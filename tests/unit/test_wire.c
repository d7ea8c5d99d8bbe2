/* test_wire.c: the field encoding of records and its bounds-checked decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/buf.h"
#include "util/wire.h"

static void put_all_types(struct buf *b)
{
	static const uint8_t raw[3] = {0xde, 0xad, 0x00};

	put_u8(b, 0xfe);
	put_u16(b, 0xbeef);
	put_u32(b, 0xdeadbeefu);
	put_u64(b, 0x0123456789abcdefull);
	put_i32(b, -2);
	put_i64(b, INT64_MIN);
	put_bytes(b, raw, sizeof(raw));
	put_str(b, "hello, world");
	put_str(b, "");
	put_str(b, NULL);
	put_blob(b, raw, sizeof(raw));
	put_blob(b, NULL, 0);
}

static void round_trip_of_every_field_type(void **state)
{
	struct wire_rd rd;
	struct buf b;
	uint8_t raw[3];
	const uint8_t *blob;
	uint32_t blen;
	char *s;

	(void)state;
	buf_init(&b);
	put_all_types(&b);
	assert_false(b.oom);
	wr_init(&rd, b.data, b.len);
	assert_int_equal(get_u8(&rd), 0xfe);
	assert_int_equal(get_u16(&rd), 0xbeef);
	assert_int_equal(get_u32(&rd), 0xdeadbeefu);
	assert_true(get_u64(&rd) == 0x0123456789abcdefull);
	assert_int_equal(get_i32(&rd), -2);
	assert_true(get_i64(&rd) == INT64_MIN);
	get_bytes(&rd, raw, sizeof(raw));
	assert_memory_equal(raw, "\xde\xad\x00", 3);
	s = get_str(&rd, 100);
	assert_string_equal(s, "hello, world");
	free(s);
	s = get_str(&rd, 100);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	assert_null(get_str(&rd, 100));
	assert_false(rd.bad);
	blob = get_blob(&rd, 3, &blen);
	assert_int_equal(blen, 3);
	assert_memory_equal(blob, "\xde\xad\x00", 3);
	blob = get_blob(&rd, 3, &blen);
	assert_int_equal(blen, 0);
	assert_false(rd.bad);
	assert_true(wr_done(&rd));
	buf_fini(&b);
}

static void encoding_is_little_endian(void **state)
{
	static const uint8_t want[] = {0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 8, 7, 6, 5, 4, 3, 2, 1};
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u16(&b, 0x1234);
	put_u32(&b, 0x12345678);
	put_u64(&b, 0x0102030405060708ull);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	buf_fini(&b);
}

static void string_encodes_length_then_bytes_and_null_as_all_ones(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	put_str(&b, "ab");
	put_str(&b, NULL);
	assert_int_equal(b.len, 4 + 2 + 4);
	assert_memory_equal(b.data,
			    "\x02\x00\x00\x00"
			    "ab"
			    "\xff\xff\xff\xff",
			    10);
	buf_fini(&b);
}

/* Each getter, given one byte less than it needs, must mark the reader bad and return
 * zeros, and every later getter must return zeros too. */
enum getter { G_U8, G_U16, G_U32, G_U64, G_I32, G_I64, G_BYTES, G_STR, G_BLOB, G_COUNT };

static const struct {
	enum getter g;
	size_t need;
} getters[] = {
    {G_U8, 1},  {G_U16, 2},   {G_U32, 4}, {G_U64, 8},  {G_I32, 4},
    {G_I64, 8}, {G_BYTES, 5}, {G_STR, 4}, {G_BLOB, 4}, {G_COUNT, 4},
};

/* Runs one getter; returns its value folded into a number (0 for zeros). */
static uint64_t call_getter(enum getter g, struct wire_rd *rd)
{
	uint8_t bytes[5];
	uint32_t blen = 77;
	const void *blob;
	uint64_t sum = 0;
	char *s;

	switch (g) {
	case G_U8:
		return get_u8(rd);
	case G_U16:
		return get_u16(rd);
	case G_U32:
		return get_u32(rd);
	case G_U64:
		return get_u64(rd);
	case G_I32:
		return (uint64_t)(int64_t)get_i32(rd);
	case G_I64:
		return (uint64_t)get_i64(rd);
	case G_BYTES:
		memset(bytes, 0xaa, sizeof(bytes));
		get_bytes(rd, bytes, sizeof(bytes));
		for (size_t i = 0; i < sizeof(bytes); i++)
			sum += bytes[i];
		return sum;
	case G_STR:
		s = get_str(rd, 1000);
		sum = s != NULL;
		free(s);
		return sum;
	case G_BLOB:
		blob = get_blob(rd, 1000, &blen);
		return (blob != NULL) + blen;
	case G_COUNT:
		return get_count(rd, 0, 1000);
	}
	return 1;
}

static void every_getter_past_the_end_marks_bad_and_returns_zeros(void **state)
{
	uint8_t data[16];

	(void)state;
	memset(data, 0x11, sizeof(data));
	for (size_t i = 0; i < sizeof(getters) / sizeof(getters[0]); i++) {
		struct wire_rd rd;

		wr_init(&rd, data, getters[i].need - 1);
		assert_int_equal(call_getter(getters[i].g, &rd), 0);
		assert_true(rd.bad);
		assert_non_null(rd.why);
		assert_false(wr_done(&rd));
	}
}

static void every_getter_after_a_failure_returns_zeros(void **state)
{
	uint8_t data[64];

	(void)state;
	memset(data, 0x01, sizeof(data));
	for (size_t i = 0; i < sizeof(getters) / sizeof(getters[0]); i++) {
		struct wire_rd rd;

		wr_init(&rd, data, sizeof(data));
		wr_fail(&rd, "first problem");
		assert_int_equal(call_getter(getters[i].g, &rd), 0);
		assert_string_equal(rd.why, "first problem");
		assert_int_equal(rd.off, 0);
	}
}

static void getter_on_empty_input_marks_bad(void **state)
{
	struct wire_rd rd;

	(void)state;
	wr_init(&rd, NULL, 0);
	assert_int_equal(get_u32(&rd), 0);
	assert_true(rd.bad);
}

static void first_failure_reason_is_kept(void **state)
{
	struct wire_rd rd;

	(void)state;
	wr_init(&rd, "x", 1);
	wr_fail(&rd, "one");
	wr_fail(&rd, "two");
	assert_string_equal(rd.why, "one");
}

static void get_str_rejects_embedded_nul(void **state)
{
	struct wire_rd rd;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u32(&b, 3);
	put_bytes(&b, "a\0b", 3);
	wr_init(&rd, b.data, b.len);
	assert_null(get_str(&rd, 100));
	assert_true(rd.bad);
	assert_non_null(strstr(rd.why, "NUL"));
	buf_fini(&b);
}

static void get_str_rejects_string_longer_than_max(void **state)
{
	struct wire_rd rd;
	struct buf b;
	char *s;

	(void)state;
	buf_init(&b);
	put_str(&b, "12345");
	wr_init(&rd, b.data, b.len);
	assert_null(get_str(&rd, 4));
	assert_true(rd.bad);

	wr_init(&rd, b.data, b.len);
	s = get_str(&rd, 5);
	assert_string_equal(s, "12345");
	assert_true(wr_done(&rd));
	free(s);
	buf_fini(&b);
}

static void get_str_rejects_length_past_end(void **state)
{
	struct wire_rd rd;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u32(&b, 10);
	put_bytes(&b, "abc", 3);
	wr_init(&rd, b.data, b.len);
	assert_null(get_str(&rd, 100));
	assert_true(rd.bad);
	buf_fini(&b);
}

static void get_str_huge_length_does_not_allocate(void **state)
{
	struct wire_rd rd;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u32(&b, UINT32_MAX - 1);
	wr_init(&rd, b.data, b.len);
	assert_null(get_str(&rd, SIZE_MAX));
	assert_true(rd.bad);
	buf_fini(&b);
}

static void get_blob_rejects_over_max_and_past_end(void **state)
{
	struct wire_rd rd;
	uint32_t n = 99;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_blob(&b, "abcd", 4);
	wr_init(&rd, b.data, b.len);
	assert_null(get_blob(&rd, 3, &n));
	assert_int_equal(n, 0);
	assert_true(rd.bad);

	wr_init(&rd, b.data, b.len - 1);
	n = 99;
	assert_null(get_blob(&rd, 100, &n));
	assert_int_equal(n, 0);
	assert_true(rd.bad);
	buf_fini(&b);
}

static void get_count_refuses_count_that_cannot_fit(void **state)
{
	struct wire_rd rd;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u32(&b, 3);
	buf_zero(&b, 3 * 8 - 1);
	wr_init(&rd, b.data, b.len);
	assert_int_equal(get_count(&rd, 8, 1000), 0);
	assert_true(rd.bad);
	buf_fini(&b);
}

static void get_count_accepts_count_that_fits_exactly(void **state)
{
	struct wire_rd rd;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u32(&b, 3);
	buf_zero(&b, 3 * 8);
	wr_init(&rd, b.data, b.len);
	assert_int_equal(get_count(&rd, 8, 3), 3);
	assert_false(rd.bad);
	buf_fini(&b);
}

static void get_count_refuses_count_above_max(void **state)
{
	struct wire_rd rd;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u32(&b, 4);
	buf_zero(&b, 64);
	wr_init(&rd, b.data, b.len);
	assert_int_equal(get_count(&rd, 1, 3), 0);
	assert_true(rd.bad);
	buf_fini(&b);
}

static void get_count_refuses_huge_count_even_with_zero_size_items(void **state)
{
	struct wire_rd rd;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u32(&b, UINT32_MAX);
	wr_init(&rd, b.data, b.len);
	assert_int_equal(get_count(&rd, 0, 1u << 20), 0);
	assert_true(rd.bad);
	buf_fini(&b);
}

static void wr_done_rejects_trailing_bytes(void **state)
{
	struct wire_rd rd;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u32(&b, 7);
	put_u8(&b, 0);
	wr_init(&rd, b.data, b.len);
	assert_int_equal(get_u32(&rd), 7);
	assert_false(wr_done(&rd));
	assert_true(rd.bad);
	assert_non_null(strstr(rd.why, "trailing"));
	buf_fini(&b);
}

static void wr_done_accepts_input_consumed_exactly(void **state)
{
	struct wire_rd rd;
	struct buf b;

	(void)state;
	buf_init(&b);
	put_u64(&b, 1);
	wr_init(&rd, b.data, b.len);
	get_u64(&rd);
	assert_true(wr_done(&rd));
	assert_null(rd.why);
	buf_fini(&b);
}

static void buf_read_fd_reads_whole_input_nul_terminated(void **state)
{
	char tmpl[] = "/tmp/crest-test-wire-XXXXXX";
	static char big[10000];
	struct buf b;
	int fd;

	(void)state;
	memset(big, 'x', sizeof(big));
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	unlink(tmpl);
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	buf_init(&b);
	assert_int_equal(buf_read_fd(&b, fd), 0);
	assert_int_equal(b.len, sizeof(big));
	assert_int_equal(b.data[b.len], '\0');
	assert_memory_equal(b.data, big, sizeof(big));
	buf_fini(&b);
	close(fd);
}

static void buf_reserve_refuses_absurd_sizes(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_null(buf_reserve(&b, SIZE_MAX - 3));
	assert_true(b.oom);
	buf_append(&b, "x", 1);
	assert_int_equal(b.len, 0);
	buf_fini(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(round_trip_of_every_field_type),
	    cmocka_unit_test(encoding_is_little_endian),
	    cmocka_unit_test(string_encodes_length_then_bytes_and_null_as_all_ones),
	    cmocka_unit_test(every_getter_past_the_end_marks_bad_and_returns_zeros),
	    cmocka_unit_test(every_getter_after_a_failure_returns_zeros),
	    cmocka_unit_test(getter_on_empty_input_marks_bad),
	    cmocka_unit_test(first_failure_reason_is_kept),
	    cmocka_unit_test(get_str_rejects_embedded_nul),
	    cmocka_unit_test(get_str_rejects_string_longer_than_max),
	    cmocka_unit_test(get_str_rejects_length_past_end),
	    cmocka_unit_test(get_str_huge_length_does_not_allocate),
	    cmocka_unit_test(get_blob_rejects_over_max_and_past_end),
	    cmocka_unit_test(get_count_refuses_count_that_cannot_fit),
	    cmocka_unit_test(get_count_accepts_count_that_fits_exactly),
	    cmocka_unit_test(get_count_refuses_count_above_max),
	    cmocka_unit_test(get_count_refuses_huge_count_even_with_zero_size_items),
	    cmocka_unit_test(wr_done_rejects_trailing_bytes),
	    cmocka_unit_test(wr_done_accepts_input_consumed_exactly),
	    cmocka_unit_test(buf_read_fd_reads_whole_input_nul_terminated),
	    cmocka_unit_test(buf_reserve_refuses_absurd_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
