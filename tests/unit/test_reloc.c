/* test_reloc.c: --relocate OLD=NEW applied to saved paths (blcr-reference.md §4.4):
 * one pair (reloc_one) and the list in command-line order (rst_path). */
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

#include "engine/err.h"
#include "engine/reloc.h"
#include "engine/state/state.h"

/* ==== one pair ==== */

static const struct {
	const char *from, *to, *saved;
	int rc;
	const char *want; /* when rc == 1 */
} one_cases[] = {
    /* whole components only */
    {"/a/foo", "/b", "/a/foo", 1, "/b"},
    {"/a/foo", "/b", "/a/foo/1", 1, "/b/1"},
    {"/a/foo", "/b", "/a/foo/1/2/3", 1, "/b/1/2/3"},
    {"/a/foo", "/b", "/a/fooz", 0, NULL},
    {"/a/foo", "/b", "/a/fo", 0, NULL},
    {"/a/foo", "/b", "/a/foo.so", 0, NULL},
    {"/a/foo", "/b", "/b/a/foo", 0, NULL},
    {"/a/foo", "/b", "/a", 0, NULL},
    {"/a/foo", "/b", "/A/foo", 0, NULL},
    /* trailing slashes of either side do not count */
    {"/a/", "/b", "/a/x", 1, "/b/x"},
    {"/a//", "/b/", "/a/x", 1, "/b/x"},
    {"/a", "/b//", "/a", 1, "/b"},
    {"/a/", "/b/", "/a", 1, "/b"},
    {"/a/", "/b", "/ab", 0, NULL},
    /* the root on either side */
    {"/", "/new", "/etc/passwd", 1, "/new/etc/passwd"},
    {"//", "/new", "/etc", 1, "/new/etc"},
    {"/", "/new", "/", 1, "/new/"},
    {"/old", "/", "/old/x", 1, "/x"},
    {"/old", "/", "/old", 1, "/"},
    {"/old", "//", "/old/x/y", 1, "/x/y"},
    {"/", "/", "/x", 1, "/x"},
    /* names with what the command line escapes, and blanks */
    {"/a=b", "/c", "/a=b/f", 1, "/c/f"},
    {"/a\\", "/c", "/a\\/f", 1, "/c/f"},
    {"/my dir", "/other dir", "/my dir/f g", 1, "/other dir/f g"},
    /* NEW need not be canonical */
    {"/a", "/x/../y/./z", "/a/f", 1, "/x/../y/./z/f"},
    /* a longer NEW than OLD, and a shorter one */
    {"/a", "/very/long/new/place", "/a/b/c", 1, "/very/long/new/place/b/c"},
    {"/very/long/old/place", "/n", "/very/long/old/place/f", 1, "/n/f"},
    /* not absolute: never matches */
    {"a", "/b", "a/x", 0, NULL},
    {"/a", "/b", "a/x", 0, NULL},
    {"/a", "/b", "", 0, NULL},
};

static void one_pair_matches_whole_components_only(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(one_cases) / sizeof(one_cases[0]); i++) {
		char buf[PATH_MAX] = "untouched";
		int rc = reloc_one(one_cases[i].from, one_cases[i].to, one_cases[i].saved, buf,
				   sizeof(buf));

		if (rc != one_cases[i].rc)
			fail_msg("'%s' with %s=%s: got %d, want %d", one_cases[i].saved,
				 one_cases[i].from, one_cases[i].to, rc, one_cases[i].rc);
		if (rc == 1 && strcmp(buf, one_cases[i].want))
			fail_msg("'%s' with %s=%s: got '%s', want '%s'", one_cases[i].saved,
				 one_cases[i].from, one_cases[i].to, buf, one_cases[i].want);
		if (rc == 0 && strcmp(buf, "untouched"))
			fail_msg("'%s' with %s=%s: no match, yet buf was written",
				 one_cases[i].saved, one_cases[i].from, one_cases[i].to);
	}
}

/* A path of exactly len bytes: "/" then 'x' and '/' alternating. */
static char *long_path(size_t len)
{
	char *p = malloc(len + 1);

	assert_non_null(p);
	p[0] = '/';
	for (size_t i = 1; i < len; i++)
		p[i] = (i % 2) ? 'x' : '/';
	p[len] = '\0';
	return p;
}

static void one_pair_refuses_a_result_of_path_max_or_more(void **state)
{
	char *buf = malloc(2 * PATH_MAX);
	char *saved = long_path(PATH_MAX - 10); /* "/x/x/.../x" */
	char *fits = long_path(PATH_MAX - 1);

	(void)state;
	assert_non_null(buf);
	/* "/x" -> "/abcdefghij" adds 9 bytes: PATH_MAX - 1, the longest that fits. */
	assert_int_equal(reloc_one("/x", "/abcdefghij", saved, buf, 2 * PATH_MAX), 1);
	assert_int_equal(strlen(buf), PATH_MAX - 1);
	/* One more byte is PATH_MAX: refused, whatever room buf has. */
	strcpy(buf, "untouched");
	assert_int_equal(reloc_one("/x", "/abcdefghijk", saved, buf, 2 * PATH_MAX), -ENAMETOOLONG);
	assert_string_equal(buf, "untouched");
	/* A result that fits PATH_MAX but not the caller's buffer. */
	assert_int_equal(reloc_one("/a", "/bcd", "/a/e", buf, 6), -ENAMETOOLONG);
	assert_int_equal(reloc_one("/a", "/bcd", "/a/e", buf, 7), 1);
	assert_string_equal(buf, "/bcd/e");
	/* A saved path already PATH_MAX - 1 long stays usable when NEW is no longer. */
	assert_int_equal(reloc_one("/x", "/y", fits, buf, 2 * PATH_MAX), 1);
	assert_int_equal(strlen(buf), PATH_MAX - 1);
	assert_int_equal(buf[1], 'y');
	free(fits);
	free(saved);
	free(buf);
}

/* ==== the list: rst_path ==== */

static const char *path_with(const struct rst_reloc *r, size_t n, const char *saved, char *buf,
			     size_t len, struct err *err)
{
	struct rst_opts opts = {.restore_pid = true, .relocs = r, .nrelocs = n};
	struct rst_ctx c = {.opts = &opts};

	return rst_path(&c, saved, buf, len, err);
}

static void without_relocations_the_saved_path_is_used(void **state)
{
	struct rst_opts opts = {.restore_pid = true};
	struct rst_ctx c = {.opts = &opts};
	struct err err = {0};
	char buf[PATH_MAX];
	const char *saved = "/a/b";

	(void)state;
	assert_ptr_equal(rst_path(&c, saved, buf, sizeof(buf), &err), saved);
	assert_ptr_equal(path_with(NULL, 0, saved, buf, sizeof(buf), &err), saved);
	assert_int_equal(err.code, 0);
}

static void the_first_matching_pair_in_command_line_order_wins(void **state)
{
	const struct rst_reloc r[] = {
	    {"/nowhere", "/x"},   /* matches nothing below */
	    {"/a/b", "/first"},   /* the more specific one, given first */
	    {"/a", "/second"},    /* covers /a/b too, but comes later */
	    {"/a/b/c", "/third"}, /* never reached for /a/b/... */
	};
	struct err err = {0};
	char buf[PATH_MAX];
	const char *p;

	(void)state;
	p = path_with(r, 4, "/a/b/c/d", buf, sizeof(buf), &err);
	assert_string_equal(p, "/first/c/d");
	p = path_with(r, 4, "/a/bz", buf, sizeof(buf), &err);
	assert_string_equal(p, "/second/bz");
	p = path_with(r, 4, "/a", buf, sizeof(buf), &err);
	assert_string_equal(p, "/second");
	p = path_with(r, 4, "/other", buf, sizeof(buf), &err);
	assert_string_equal(p, "/other");
	/* The order reversed: the general pair now hides the specific ones. */
	{
		const struct rst_reloc rev[] = {{"/a", "/second"}, {"/a/b", "/first"}};

		p = path_with(rev, 2, "/a/b/c/d", buf, sizeof(buf), &err);
		assert_string_equal(p, "/second/b/c/d");
	}
	/* Only one pair applies: NEW is not relocated again by a later pair. */
	{
		const struct rst_reloc chain[] = {{"/a", "/b"}, {"/b", "/c"}};

		p = path_with(chain, 2, "/a/f", buf, sizeof(buf), &err);
		assert_string_equal(p, "/b/f");
		p = path_with(chain, 2, "/b/f", buf, sizeof(buf), &err);
		assert_string_equal(p, "/c/f");
	}
	assert_int_equal(err.code, 0);
}

/* BLCR's limit of 16 pairs is not crest's: the 40th pair applies as well. */
static void many_pairs_all_apply(void **state)
{
	enum { N = 40 };
	struct rst_reloc r[N];
	char from[N][16], to[N][16], saved[32], want[32], buf[PATH_MAX];
	struct err err = {0};

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(from[i], sizeof(from[i]), "/old%d", i);
		snprintf(to[i], sizeof(to[i]), "/new%d", i);
		r[i] = (struct rst_reloc){from[i], to[i]};
	}
	for (int i = 0; i < N; i++) {
		snprintf(saved, sizeof(saved), "/old%d/f", i);
		snprintf(want, sizeof(want), "/new%d/f", i);
		assert_string_equal(path_with(r, N, saved, buf, sizeof(buf), &err), want);
	}
	assert_int_equal(err.code, 0);
}

static void a_result_too_long_is_enametoolong_naming_the_path(void **state)
{
	char *saved = long_path(PATH_MAX - 10);
	const struct rst_reloc r[] = {{"/x", "/a-much-longer-new-directory"}};
	struct err err = {0};
	char buf[PATH_MAX];

	(void)state;
	assert_null(path_with(r, 1, saved, buf, sizeof(buf), &err));
	assert_int_equal(err.code, -ENAMETOOLONG);
	assert_non_null(strstr(err.msg, "PATH_MAX"));
	assert_non_null(strstr(err.msg, "/x/x/x"));
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(one_pair_matches_whole_components_only),
	    cmocka_unit_test(one_pair_refuses_a_result_of_path_max_or_more),
	    cmocka_unit_test(without_relocations_the_saved_path_is_used),
	    cmocka_unit_test(the_first_matching_pair_in_command_line_order_wins),
	    cmocka_unit_test(many_pairs_all_apply),
	    cmocka_unit_test(a_result_too_long_is_enametoolong_naming_the_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
