/* test_util.c: the util/ modules: /proc parsing, strict integers, address ranges,
 * the text/JSON emitter and CRC-32C. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "util/crc32c.h"
#include "util/out.h"
#include "util/procfs.h"
#include "util/ranges.h"

/* ==== /proc/PID/maps lines ==== */

static void maps_line_with_a_path(void **state)
{
	char line[] = "00400000-00452000 r-xp 00001000 08:02 173521      /usr/bin/dbus-daemon";
	struct maps_line ml;

	(void)state;
	assert_int_equal(procfs_parse_maps_line(line, &ml), 0);
	assert_true(ml.start == 0x400000 && ml.end == 0x452000 && ml.pgoff == 0x1000);
	assert_string_equal(ml.perms, "r-xp");
	assert_int_equal(ml.dev_major, 8);
	assert_int_equal(ml.dev_minor, 2);
	assert_true(ml.ino == 173521);
	assert_string_equal(ml.path, "/usr/bin/dbus-daemon");
}

static void maps_line_path_keeps_its_spaces(void **state)
{
	char line[] = "7f0000000000-7f0000001000 rw-s 00000000 fd:01 42   /tmp/a dir/my  file";
	struct maps_line ml;

	(void)state;
	assert_int_equal(procfs_parse_maps_line(line, &ml), 0);
	assert_string_equal(ml.path, "/tmp/a dir/my  file");
	assert_int_equal(ml.dev_major, 0xfd);
	assert_int_equal(ml.dev_minor, 1);
	assert_string_equal(ml.perms, "rw-s");
}

static void maps_line_without_a_path_has_an_empty_path(void **state)
{
	char bare[] = "7ffd12345000-7ffd12366000 rw-p 00000000 00:00 0";
	char padded[] = "7ffd12345000-7ffd12366000 rw-p 00000000 00:00 0                    ";
	struct maps_line ml;

	(void)state;
	assert_int_equal(procfs_parse_maps_line(bare, &ml), 0);
	assert_string_equal(ml.path, "");
	assert_true(ml.ino == 0);
	assert_int_equal(procfs_parse_maps_line(padded, &ml), 0);
	assert_string_equal(ml.path, "");
}

static void maps_line_of_a_deleted_file_keeps_the_marker(void **state)
{
	char line[] = "7f0000000000-7f0000002000 rw-s 00000000 00:05 1234 /dev/shm/x (deleted)";
	struct maps_line ml;

	(void)state;
	assert_int_equal(procfs_parse_maps_line(line, &ml), 0);
	assert_string_equal(ml.path, "/dev/shm/x (deleted)");
}

static void maps_line_of_special_areas(void **state)
{
	char vsys[] = "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0  [vsyscall]";
	char heap[] = "55d4c0a5e000-55d4c0a7f000 rw-p 00000000 00:00 0          [heap]";
	struct maps_line ml;

	(void)state;
	assert_int_equal(procfs_parse_maps_line(vsys, &ml), 0);
	assert_true(ml.start == 0xffffffffff600000ull && ml.end == 0xffffffffff601000ull);
	assert_string_equal(ml.path, "[vsyscall]");
	assert_string_equal(ml.perms, "--xp");
	assert_int_equal(procfs_parse_maps_line(heap, &ml), 0);
	assert_string_equal(ml.path, "[heap]");
}

static void maps_line_malformed_is_einval(void **state)
{
	static const char *const bad[] = {
	    "",
	    "garbage",
	    "00400000-00452000",
	    "00400000-00452000 r-xp 00000000 08:02",
	    "00400000 r-xp 00000000 08:02 1 /x",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[128];
		struct maps_line ml;

		snprintf(line, sizeof(line), "%s", bad[i]);
		if (procfs_parse_maps_line(line, &ml) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	}
}

static void every_line_of_our_own_maps_parses(void **state)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[4096];
	int n = 0;

	(void)state;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		struct maps_line ml;

		line[strcspn(line, "\n")] = '\0';
		if (procfs_parse_maps_line(line, &ml) != 0)
			fail_msg("cannot parse '%s'", line);
		assert_true(ml.start < ml.end);
		n++;
	}
	fclose(f);
	assert_true(n > 3);
}

/* ==== /proc/PID/stat ==== */

static void stat_comm_with_spaces_and_parentheses(void **state)
{
	struct proc_stat st;
	char old[16] = "";

	(void)state;
	assert_int_equal(prctl(PR_GET_NAME, old), 0);
	assert_int_equal(prctl(PR_SET_NAME, "a) (b"), 0);
	assert_int_equal(procfs_stat(getpid(), 0, &st), 0);
	assert_string_equal(st.comm, "a) (b");
	assert_int_equal(st.state, 'R');
	assert_int_equal(st.f[4], (uint64_t)getppid());
	assert_int_equal(st.f[5], (uint64_t)getpgrp());
	assert_int_equal(st.f[6], (uint64_t)getsid(0));
	assert_int_equal(st.f[20], 1); /* num_threads */

	assert_int_equal(prctl(PR_SET_NAME, ") ) 1 2 3 ) ("), 0);
	assert_int_equal(procfs_stat(getpid(), getpid(), &st), 0);
	assert_string_equal(st.comm, ") ) 1 2 3 ) (");
	assert_int_equal(st.f[4], (uint64_t)getppid());
	assert_int_equal(prctl(PR_SET_NAME, old), 0);
}

static void *wait_for_release(void *arg)
{
	int *fds = arg;
	char c;

	return (void *)(intptr_t)read(fds[0], &c, 1);
}

static void stat_of_a_thread_reads_its_task_file(void **state)
{
	struct proc_stat st;
	pthread_t t;
	char path[64];
	int fds[2];
	pid_t tid = 0;
	FILE *f;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(pthread_create(&t, NULL, wait_for_release, fds), 0);
	assert_int_equal(pthread_setname_np(t, "w (1) x"), 0);
	/* The thread that is not us is the one we made. */
	snprintf(path, sizeof(path), "ls /proc/%d/task", getpid());
	f = popen(path, "r");
	assert_non_null(f);
	for (int id; fscanf(f, "%d", &id) == 1;)
		if (id != getpid())
			tid = id;
	pclose(f);
	assert_true(tid > 0);
	assert_int_equal(procfs_stat(getpid(), tid, &st), 0);
	assert_string_equal(st.comm, "w (1) x");
	assert_int_equal(st.f[20], 2);
	assert_int_equal(write(fds[1], "x", 1), 1);
	pthread_join(t, NULL);
	close(fds[0]);
	close(fds[1]);
}

static void stat_of_a_missing_process_is_enoent(void **state)
{
	struct proc_stat st;

	(void)state;
	assert_int_equal(procfs_stat(0x3ffffffe, 0, &st), -ENOENT);
}

/* ==== status-like fields ==== */

static const char status_text[] = "Name:\tcat\n"
				  "State:\tR (running)\n"
				  "Tgid:\t4242\n"
				  "XTgid:\t1\n"
				  "Uid:\t1000\t1001\t1002\t1003\n"
				  "SigQ:\t0/63704\n"
				  "SigBlk:\t0000000000010000\n"
				  "Bad:\tx12\n"
				  "Last:\t7";

static void status_field_matches_whole_keys_at_line_starts(void **state)
{
	uint64_t v = 99;

	(void)state;
	assert_int_equal(procfs_field_u64(status_text, "Tgid", 10, &v), 0);
	assert_true(v == 4242);
	assert_int_equal(procfs_field_u64(status_text, "SigBlk", 16, &v), 0);
	assert_true(v == 0x10000);
	assert_int_equal(procfs_field_u64(status_text, "Last", 10, &v), 0);
	assert_true(v == 7);
	assert_null(procfs_field(status_text, "Sig"));
	assert_null(procfs_field(status_text, "gid"));
	assert_string_equal(procfs_field(status_text, "Last"), "7");
	assert_int_equal(strncmp(procfs_field(status_text, "Name"), "cat\n", 4), 0);
}

static void status_field_missing_or_malformed(void **state)
{
	uint64_t v = 99;

	(void)state;
	assert_int_equal(procfs_field_u64(status_text, "Nope", 10, &v), -ENOENT);
	assert_int_equal(procfs_field_u64(status_text, "Bad", 10, &v), -EINVAL);
	assert_true(v == 99);
	assert_int_equal(procfs_field_u64("", "Tgid", 10, &v), -ENOENT);
}

static void status_field_list_reads_up_to_n_numbers(void **state)
{
	uint64_t v[6] = {0};

	(void)state;
	assert_int_equal(procfs_field_list(status_text, "Uid", v, 4), 4);
	assert_true(v[0] == 1000 && v[1] == 1001 && v[2] == 1002 && v[3] == 1003);
	assert_int_equal(procfs_field_list(status_text, "Uid", v, 2), 2);
	assert_int_equal(procfs_field_list(status_text, "Uid", v, 6), 4);
	assert_int_equal(procfs_field_list(status_text, "Name", v, 6), 0);
	assert_int_equal(procfs_field_list(status_text, "Nope", v, 6), 0);
}

/* ==== strict integers ==== */

static void parse_long_takes_whole_decimal_strings_only(void **state)
{
	static const struct {
		const char *s;
		long min, max;
		int rc;
		long v;
	} cases[] = {
	    {"0", 0, 10, 0, 0},
	    {"10", 0, 10, 0, 10},
	    {"11", 0, 10, -EINVAL, 0},
	    {"-3", -5, 5, 0, -3},
	    {"-6", -5, 5, -EINVAL, 0},
	    {"-1", 0, 5, -EINVAL, 0},
	    {"+1", 0, 5, -EINVAL, 0},
	    {"+1", -5, 5, -EINVAL, 0},
	    {"", 0, 5, -EINVAL, 0},
	    {" 1", 0, 5, -EINVAL, 0},
	    {"1 ", 0, 5, -EINVAL, 0},
	    {"1\n", 0, 5, -EINVAL, 0},
	    {"1x", 0, 5, -EINVAL, 0},
	    {"0x1", 0, 5, -EINVAL, 0},
	    {"-", -5, 5, -EINVAL, 0},
	    {"-0", 0, 5, -EINVAL, 0},
	    {"007", 0, 10, 0, 7},
	    {"9223372036854775808", 0, LONG_MAX, -EINVAL, 0},
	    {"9223372036854775807", 0, LONG_MAX, 0, LONG_MAX},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long v = 12345;
		int rc = parse_long(cases[i].s, cases[i].min, cases[i].max, &v);

		if (rc != cases[i].rc)
			fail_msg("parse_long('%s', %ld, %ld): got %d, want %d", cases[i].s,
				 cases[i].min, cases[i].max, rc, cases[i].rc);
		if (rc == 0 && v != cases[i].v)
			fail_msg("parse_long('%s'): got %ld", cases[i].s, v);
		if (rc < 0 && v != 12345)
			fail_msg("parse_long('%s'): output written on failure", cases[i].s);
	}
	assert_int_equal(parse_long(NULL, 0, 1, &(long){0}), -EINVAL);
}

static void parse_u64_takes_whole_unsigned_strings_only(void **state)
{
	static const struct {
		const char *s;
		int base;
		int rc;
		uint64_t v;
	} cases[] = {
	    {"0", 10, 0, 0},
	    {"18446744073709551615", 10, 0, UINT64_MAX},
	    {"18446744073709551616", 10, -EINVAL, 0},
	    {"ff", 16, 0, 255},
	    {"FF", 16, 0, 255},
	    {"777", 8, 0, 511},
	    {"8", 8, -EINVAL, 0},
	    {"-1", 10, -EINVAL, 0},
	    {"+1", 10, -EINVAL, 0},
	    {"", 10, -EINVAL, 0},
	    {" 1", 10, -EINVAL, 0},
	    {"1 ", 10, -EINVAL, 0},
	    {"12a", 10, -EINVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int rc = parse_u64(cases[i].s, cases[i].base, &v);

		if (rc != cases[i].rc)
			fail_msg("parse_u64('%s', %d): got %d, want %d", cases[i].s, cases[i].base,
				 rc, cases[i].rc);
		if (rc == 0 && v != cases[i].v)
			fail_msg("parse_u64('%s'): got %llu", cases[i].s, (unsigned long long)v);
		if (rc < 0 && v != 12345)
			fail_msg("parse_u64('%s'): output written on failure", cases[i].s);
	}
}

/* ==== ranges ==== */

#define K4 0x1000ull
#define M1 0x100000ull

static void gap_in_empty_space_is_from_rounded_up(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs);
	assert_true(ranges_find_gap(&rs, K4, K4, K4, 0x12345, 1ull << 47) == 0x13000);
	assert_true(ranges_find_gap(&rs, K4, 0, M1, M1, 1ull << 47) == M1);
	ranges_fini(&rs);
}

static void gap_keeps_guard_bytes_free_on_both_sides(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs);
	assert_int_equal(ranges_add(&rs, 0x10000, 0x20000), 0);
	assert_int_equal(ranges_add(&rs, 0x23000, 0x30000), 0);
	/* Exactly fits: [0x21000, 0x22000) with a page of guard on each side. */
	assert_true(ranges_find_gap(&rs, K4, K4, K4, 0x10000, 1ull << 47) == 0x21000);
	/* Two pages do not fit there. */
	assert_true(ranges_find_gap(&rs, 2 * K4, K4, K4, 0x10000, 1ull << 47) == 0x31000);
	/* Below the first range, the guard keeps it off the range's start. */
	assert_true(ranges_find_gap(&rs, K4, K4, K4, 0xe000, 1ull << 47) == 0xe000);
	assert_true(ranges_find_gap(&rs, K4, K4, K4, 0xf000, 1ull << 47) == 0x21000);
	/* Without guards, the hole is three pages. */
	assert_true(ranges_find_gap(&rs, 3 * K4, 0, K4, 0x10000, 1ull << 47) == 0x20000);
	ranges_fini(&rs);
}

static void gap_honours_alignment(void **state)
{
	struct ranges rs;
	uint64_t at;

	(void)state;
	ranges_init(&rs);
	assert_int_equal(ranges_add(&rs, M1, M1 + 0x5000), 0);
	at = ranges_find_gap(&rs, 0x5000, K4, M1, M1, 1ull << 47);
	assert_true(at == 2 * M1);
	at = ranges_find_gap(&rs, 0x5000, K4, 64 * K4, M1, 1ull << 47);
	assert_true(at == M1 + 64 * K4);
	ranges_fini(&rs);
}

static void gap_with_unsorted_and_overlapping_inputs(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs);
	/* Listed out of order, overlapping and nested; occupied: [0x10000, 0x40000). */
	assert_int_equal(ranges_add(&rs, 0x30000, 0x40000), 0);
	assert_int_equal(ranges_add(&rs, 0x10000, 0x28000), 0);
	assert_int_equal(ranges_add(&rs, 0x20000, 0x31000), 0);
	assert_int_equal(ranges_add(&rs, 0x12000, 0x13000), 0);
	assert_true(ranges_find_gap(&rs, K4, 0, K4, 0x10000, 1ull << 47) == 0x40000);
	assert_true(ranges_find_gap(&rs, K4, K4, K4, 0x10000, 1ull << 47) == 0x41000);
	ranges_fini(&rs);
}

static void gap_must_end_below_limit(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs);
	assert_int_equal(ranges_add(&rs, 0x10000, 0x20000), 0);
	assert_true(ranges_find_gap(&rs, K4, 0, K4, 0x10000, 0x21000) == 0x20000);
	assert_true(ranges_find_gap(&rs, K4, 0, K4, 0x10000, 0x20fff) == 0);
	assert_true(ranges_find_gap(&rs, K4, 0, K4, 0x30000, 0x20000) == 0);
	ranges_fini(&rs);
}

/* Ranges near the top of the address space (as [vsyscall] is) must not make the
 * arithmetic wrap around to a low, occupied, address. */
static void gap_arithmetic_does_not_wrap_at_the_top(void **state)
{
	struct ranges rs;

	(void)state;
	ranges_init(&rs);
	assert_int_equal(ranges_add(&rs, M1, 0xffffffffff601000ull), 0);
	assert_true(ranges_find_gap(&rs, 1ull << 32, K4, M1, M1, UINT64_MAX) == 0);
	assert_true(ranges_find_gap(&rs, K4, K4, M1, M1, 1ull << 47) == 0);
	ranges_fini(&rs);
	ranges_init(&rs);
	assert_int_equal(ranges_add(&rs, 0, UINT64_MAX), 0);
	assert_true(ranges_find_gap(&rs, K4, K4, K4, 0, UINT64_MAX) == 0);
	ranges_fini(&rs);
	ranges_init(&rs);
	assert_int_equal(ranges_add(&rs, 0, 0x10000), 0);
	assert_true(ranges_find_gap(&rs, K4, 0, K4, UINT64_MAX - 10, UINT64_MAX) == 0);
	ranges_fini(&rs);
}

static void gap_in_our_own_address_space_is_free(void **state)
{
	struct ranges rs;
	uint64_t at;
	void *p;

	(void)state;
	ranges_init(&rs);
	assert_int_equal(ranges_add_maps(&rs, "/proc/self/maps"), 0);
	assert_true(rs.n > 3);
	at = ranges_find_gap(&rs, 16 * K4, K4, M1, M1, 1ull << 47);
	assert_true(at != 0 && at % M1 == 0);
	p = mmap((void *)at, 16 * K4, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		 -1, 0);
	assert_true(p == (void *)at);
	munmap(p, 16 * K4);
	ranges_fini(&rs);
	assert_int_equal(ranges_add_maps(&rs, "/proc/self/no-such-file"), -ENOENT);
	ranges_fini(&rs);
}

/* ==== out: JSON and text ==== */

/* A JSON checker, just enough to say whether a text is one valid JSON value. */
struct json {
	const char *p;
	int depth;
};

static void json_ws(struct json *j)
{
	while (*j->p == ' ' || *j->p == '\n' || *j->p == '\t' || *j->p == '\r')
		j->p++;
}

static bool json_value(struct json *j);

static bool json_utf8(struct json *j)
{
	const unsigned char *s = (const unsigned char *)j->p;
	int n = s[0] >= 0xf0 ? 3 : s[0] >= 0xe0 ? 2 : 1;
	uint32_t cp;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return false;
	cp = s[0] & (0x3f >> n);
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return false;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return false;
	j->p += n + 1;
	return true;
}

static bool json_string(struct json *j)
{
	if (*j->p++ != '"')
		return false;
	for (;;) {
		unsigned char c = (unsigned char)*j->p;

		if (c == '"') {
			j->p++;
			return true;
		}
		if (c < 0x20)
			return false;
		if (c == '\\') {
			j->p++;
			if (*j->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!strchr("0123456789abcdefABCDEF", j->p[i]) || !j->p[i])
						return false;
				j->p += 5;
			} else if (*j->p && strchr("\"\\/bfnrt", *j->p)) {
				j->p++;
			} else {
				return false;
			}
		} else if (c >= 0x80) {
			if (!json_utf8(j))
				return false;
		} else {
			j->p++;
		}
	}
}

static bool json_number(struct json *j)
{
	const char *s = j->p;

	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (*j->p >= '1' && *j->p <= '9')
		while (*j->p >= '0' && *j->p <= '9')
			j->p++;
	else
		return false;
	return j->p > s;
}

static bool json_members(struct json *j, char close, bool keyed)
{
	j->p++;
	json_ws(j);
	if (*j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		json_ws(j);
		if (keyed) {
			if (!json_string(j))
				return false;
			json_ws(j);
			if (*j->p++ != ':')
				return false;
		}
		if (!json_value(j))
			return false;
		json_ws(j);
		if (*j->p == ',') {
			j->p++;
			continue;
		}
		if (*j->p++ != close)
			return false;
		return true;
	}
}

static bool json_value(struct json *j)
{
	bool ok;

	json_ws(j);
	if (++j->depth > 64)
		return false;
	switch (*j->p) {
	case '{':
		ok = json_members(j, '}', true);
		break;
	case '[':
		ok = json_members(j, ']', false);
		break;
	case '"':
		ok = json_string(j);
		break;
	case 't':
		ok = strncmp(j->p, "true", 4) == 0 && (j->p += 4);
		break;
	case 'f':
		ok = strncmp(j->p, "false", 5) == 0 && (j->p += 5);
		break;
	case 'n':
		ok = strncmp(j->p, "null", 4) == 0 && (j->p += 4);
		break;
	default:
		ok = json_number(j);
	}
	j->depth--;
	return ok;
}

static bool json_valid(const char *text)
{
	struct json j = {text, 0};

	if (!json_value(&j))
		return false;
	json_ws(&j);
	return *j.p == '\0';
}

static void json_checker_knows_valid_from_invalid(void **state)
{
	(void)state;
	assert_true(json_valid("{\"a\": [1, -2, true, false, null, \"x\\u0001\", {}], \"b\": []}"));
	assert_true(json_valid("\"caf\xc3\xa9\""));
	assert_false(json_valid("{\"a\": 1,}"));
	assert_false(json_valid("{\"a\" 1}"));
	assert_false(json_valid("[1 2]"));
	assert_false(json_valid("\"a\nb\""));
	assert_false(json_valid("\"a\\x\""));
	assert_false(json_valid("\"\xff\""));
	assert_false(json_valid("{} {}"));
	assert_false(json_valid("01"));
}

/* Run emit() into a string with the emitter in JSON or text mode. */
static char *emit_to_string(void (*emit)(struct out *o), bool json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct out o;

	assert_non_null(f);
	out_init(&o, f, json);
	emit(&o);
	out_finish(&o);
	fclose(f);
	return text;
}

static void emit_small(struct out *o)
{
	out_obj_begin(o, NULL);
	out_str(o, "name", "a\"b");
	out_arr_begin(o, "list");
	out_u64(o, NULL, 1);
	out_obj_begin(o, NULL);
	out_bool(o, "x", true);
	out_obj_end(o);
	out_arr_end(o);
	out_obj_end(o);
}

static void json_output_is_exactly_as_documented(void **state)
{
	char *text;

	(void)state;
	text = emit_to_string(emit_small, true);
	assert_string_equal(text, "{\n"
				  "  \"name\": \"a\\\"b\",\n"
				  "  \"list\": [\n"
				  "    1,\n"
				  "    {\n"
				  "      \"x\": true\n"
				  "    }\n"
				  "  ]\n"
				  "}\n");
	free(text);
}

static void emit_everything(struct out *o)
{
	static const char nasty[] = "q\" b\\ nl\n tab\t cr\r bell\a esc\x1b del\x7f "
				    "caf\xc3\xa9 bad\xff\xfe cut\xe2\x82";

	out_obj_begin(o, NULL);
	out_str(o, "plain", "text");
	out_str(o, "nasty", nasty);
	out_str(o, nasty, "as a key");
	out_str(o, "null", NULL);
	out_u64(o, "u64", UINT64_MAX);
	out_i64(o, "i64", INT64_MIN);
	out_hex(o, "hex", 0xdeadbeef);
	out_bool(o, "no", false);
	out_arr_begin(o, "empty_array");
	out_arr_end(o);
	out_obj_begin(o, "empty_object");
	out_obj_end(o);
	out_arr_begin(o, "procs");
	for (int i = 0; i < 3; i++) {
		out_obj_begin(o, NULL);
		out_i64(o, "pid", 100 + i);
		out_arr_begin(o, "fds");
		out_obj_begin(o, NULL);
		out_u64(o, "fd", 0);
		out_str(o, "path", "/dev/null");
		out_obj_end(o);
		out_u64(o, NULL, 7);
		out_arr_end(o);
		out_obj_begin(o, "inner");
		out_hex(o, "mask", 0);
		out_obj_end(o);
		out_obj_end(o);
	}
	out_arr_end(o);
	out_obj_end(o);
}

static void json_output_is_valid_and_escapes_quotes_and_control_chars(void **state)
{
	char *text;

	(void)state;
	text = emit_to_string(emit_everything, true);
	if (!json_valid(text))
		fail_msg("not valid JSON:\n%s", text);
	assert_non_null(strstr(text, "\"nasty\": \"q\\\" b\\\\ nl\\u000a tab\\u0009 cr\\u000d "
				     "bell\\u0007 esc\\u001b del\x7f caf\xc3\xa9 "));
	/* Bytes that are not UTF-8 become U+FFFD. */
	assert_non_null(strstr(text, " bad\\ufffd\\ufffd cut\\ufffd\\ufffd\","));
	assert_non_null(strstr(text, " cut\\ufffd\\ufffd\": \"as a key\""));
	assert_non_null(strstr(text, "\"null\": null"));
	assert_non_null(strstr(text, "\"u64\": 18446744073709551615"));
	assert_non_null(strstr(text, "\"i64\": -9223372036854775808"));
	assert_non_null(strstr(text, "\"hex\": \"0xdeadbeef\""));
	assert_non_null(strstr(text, "\"empty_array\": []"));
	assert_non_null(strstr(text, "\"empty_object\": {}"));
	free(text);
}

static void text_output_prints_blocks_and_one_line_items(void **state)
{
	char *text;

	(void)state;
	text = emit_to_string(emit_everything, false);
	assert_non_null(strstr(text, "plain: text\n"));
	assert_non_null(strstr(text, "null: -\n"));
	assert_non_null(strstr(text, "hex: 0xdeadbeef\n"));
	assert_non_null(strstr(text, "- pid=100 fds=[{fd=0 path=/dev/null} 7] inner={mask=0x0}\n"));
	assert_non_null(strstr(text, "- pid=102 "));
	free(text);
}

/* ==== CRC-32C ==== */

static void crc32c_known_vectors(void **state)
{
	uint8_t b[32];

	(void)state;
	assert_int_equal(crc32c(CRC32C_INIT, "123456789", 9), 0xe3069283u);
	assert_int_equal(crc32c(CRC32C_INIT, "", 0), 0);
	assert_int_equal(crc32c(CRC32C_INIT, NULL, 0), 0);
	/* RFC 3720, B.4. */
	memset(b, 0, sizeof(b));
	assert_int_equal(crc32c(CRC32C_INIT, b, sizeof(b)), 0x8a9136aau);
	memset(b, 0xff, sizeof(b));
	assert_int_equal(crc32c(CRC32C_INIT, b, sizeof(b)), 0x62a8ab43u);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)i;
	assert_int_equal(crc32c(CRC32C_INIT, b, sizeof(b)), 0x46dd794eu);
	for (int i = 0; i < 32; i++)
		b[i] = (uint8_t)(31 - i);
	assert_int_equal(crc32c(CRC32C_INIT, b, sizeof(b)), 0x113fdb5cu);
}

static void crc32c_chains_across_any_split(void **state)
{
	static const char s[] = "The quick brown fox jumps over the lazy dog, twice over.";
	uint32_t whole = crc32c(CRC32C_INIT, s, sizeof(s) - 1);

	(void)state;
	for (size_t k = 0; k < sizeof(s); k++)
		assert_int_equal(crc32c(crc32c(CRC32C_INIT, s, k), s + k, sizeof(s) - 1 - k),
				 whole);
	assert_int_equal(crc32c(crc32c(CRC32C_INIT, "1234", 4), "56789", 5), 0xe3069283u);
	assert_int_equal(crc32c(whole, "", 0), whole);
}

/* ISA-L takes an int length; more than INT_MAX / 2 bytes go in pieces. */
static void crc32c_of_more_than_a_gigabyte_matches_chained_pieces(void **state)
{
	size_t n = ((size_t)1 << 30) + 3 * 4096 + 5, half = n / 2 + 77;
	uint8_t *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	(void)state;
	assert_true(p != MAP_FAILED);
	p[0] = 1;
	p[n - 1] = 2;
	p[half] = 3;
	assert_int_equal(crc32c(CRC32C_INIT, p, n),
			 crc32c(crc32c(CRC32C_INIT, p, half), p + half, n - half));
	munmap(p, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(maps_line_with_a_path),
	    cmocka_unit_test(maps_line_path_keeps_its_spaces),
	    cmocka_unit_test(maps_line_without_a_path_has_an_empty_path),
	    cmocka_unit_test(maps_line_of_a_deleted_file_keeps_the_marker),
	    cmocka_unit_test(maps_line_of_special_areas),
	    cmocka_unit_test(maps_line_malformed_is_einval),
	    cmocka_unit_test(every_line_of_our_own_maps_parses),
	    cmocka_unit_test(stat_comm_with_spaces_and_parentheses),
	    cmocka_unit_test(stat_of_a_thread_reads_its_task_file),
	    cmocka_unit_test(stat_of_a_missing_process_is_enoent),
	    cmocka_unit_test(status_field_matches_whole_keys_at_line_starts),
	    cmocka_unit_test(status_field_missing_or_malformed),
	    cmocka_unit_test(status_field_list_reads_up_to_n_numbers),
	    cmocka_unit_test(parse_long_takes_whole_decimal_strings_only),
	    cmocka_unit_test(parse_u64_takes_whole_unsigned_strings_only),
	    cmocka_unit_test(gap_in_empty_space_is_from_rounded_up),
	    cmocka_unit_test(gap_keeps_guard_bytes_free_on_both_sides),
	    cmocka_unit_test(gap_honours_alignment),
	    cmocka_unit_test(gap_with_unsorted_and_overlapping_inputs),
	    cmocka_unit_test(gap_must_end_below_limit),
	    cmocka_unit_test(gap_arithmetic_does_not_wrap_at_the_top),
	    cmocka_unit_test(gap_in_our_own_address_space_is_free),
	    cmocka_unit_test(json_checker_knows_valid_from_invalid),
	    cmocka_unit_test(json_output_is_exactly_as_documented),
	    cmocka_unit_test(json_output_is_valid_and_escapes_quotes_and_control_chars),
	    cmocka_unit_test(text_output_prints_blocks_and_one_line_items),
	    cmocka_unit_test(crc32c_known_vectors),
	    cmocka_unit_test(crc32c_chains_across_any_split),
	    cmocka_unit_test(crc32c_of_more_than_a_gigabyte_matches_chained_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
