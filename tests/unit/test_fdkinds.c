/* test_fdkinds.c: the kind data of eventfd, signalfd, timerfd, epoll and inotify file
 * records, written here by hand as docs/context-format.md describes it: what is valid
 * decodes and encodes back to the same bytes; each field out of range is refused. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/err.h"
#include "engine/model.h"
#include "engine/state/fdkind.h"
#include "util/buf.h"
#include "util/wire.h"

/* Decode b as kind data of a file of that kind with those open flags (and path): 1 if
 * accepted whole, 0 if refused. An accepted one must encode back to the same bytes. */
static int decodes(uint32_t kind, const struct buf *b, uint32_t flags, const char *path)
{
	const struct fd_kind *k = fdkind_find(kind);
	struct file_img f = {.id = 1, .kind = kind, .flags = flags, .path = (char *)path};
	struct err err = {0};
	struct wire_rd rd;
	int ok;

	assert_non_null(k);
	wr_init(&rd, b->data, b->len);
	assert_int_equal(k->decode(&f, &rd, &err), 0);
	ok = wr_done(&rd);
	if (ok) {
		struct buf again;

		buf_init(&again);
		k->encode(&f, &again);
		assert_int_equal(again.len, b->len);
		assert_memory_equal(again.data, b->data, b->len);
		buf_fini(&again);
	}
	if (f.kd_free)
		f.kd_free(f.kd);
	return ok;
}

static void eventfd_data(void **state)
{
	static const struct {
		uint64_t count;
		uint32_t sem, flags;
		const char *path;
		int ok;
	} cases[] = {
	    {0, 0, O_RDWR, NULL, 1},
	    {UINT64_MAX - 1, 1, O_RDWR | O_NONBLOCK, NULL, 1},
	    {UINT64_MAX, 0, O_RDWR, NULL, 0}, /* never a value */
	    {5, 2, O_RDWR, NULL, 0},
	    {5, 0, O_WRONLY, NULL, 0},
	    {5, 0, O_RDWR | O_DIRECT, NULL, 0},
	    {5, 0, O_RDWR, "/x", 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b);
		put_u64(&b, cases[i].count);
		put_u32(&b, cases[i].sem);
		assert_int_equal(decodes(FILE_EVENTFD, &b, cases[i].flags, cases[i].path),
				 cases[i].ok);
		/* A byte more or less is refused too. */
		put_u8(&b, 0);
		assert_int_equal(decodes(FILE_EVENTFD, &b, cases[i].flags, cases[i].path), 0);
		b.len -= 2;
		assert_int_equal(decodes(FILE_EVENTFD, &b, cases[i].flags, cases[i].path), 0);
		buf_fini(&b);
	}
}

static void signalfd_data(void **state)
{
	static const struct {
		uint64_t mask;
		int ok;
	} cases[] = {
	    {0, 1},
	    {~((1ull << 8) | (1ull << 18)), 1}, /* all but SIGKILL and SIGSTOP */
	    {1ull << 8, 0},
	    {1ull << 18, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b);
		put_u64(&b, cases[i].mask);
		assert_int_equal(decodes(FILE_SIGNALFD, &b, O_RDWR, NULL), cases[i].ok);
		buf_fini(&b);
	}
}

static void timerfd_data(void **state)
{
	static const struct {
		int32_t clock;
		uint32_t setflags;
		uint64_t ticks;
		int64_t value, interval;
		int ok;
	} cases[] = {
	    {CLOCK_MONOTONIC, 0, 0, 0, 0, 1},
	    {CLOCK_REALTIME, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, 7, 5, 1000, 1},
	    {CLOCK_BOOTTIME_ALARM, 0, UINT64_MAX, INT64_MAX, INT64_MAX, 1},
	    {CLOCK_PROCESS_CPUTIME_ID, 0, 0, 0, 0, 0},
	    {-1, 0, 0, 0, 0, 0},
	    {CLOCK_MONOTONIC, 4, 0, 0, 0, 0},
	    {CLOCK_MONOTONIC, 0, 0, -1, 0, 0},
	    {CLOCK_MONOTONIC, 0, 0, 0, -1, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b);
		put_i32(&b, cases[i].clock);
		put_u32(&b, cases[i].setflags);
		put_u64(&b, cases[i].ticks);
		put_i64(&b, cases[i].value);
		put_i64(&b, cases[i].interval);
		assert_int_equal(decodes(FILE_TIMERFD, &b, O_RDWR, NULL), cases[i].ok);
		buf_fini(&b);
	}
}

struct ep_t {
	int32_t pid, tfd, src;
	uint32_t events;
	uint64_t data;
};

static int epoll_decodes(const struct ep_t *t, uint32_t n, uint32_t count)
{
	struct buf b;
	int ok;

	buf_init(&b);
	put_u32(&b, count);
	for (uint32_t i = 0; i < n; i++) {
		put_i32(&b, t[i].pid);
		put_i32(&b, t[i].tfd);
		put_i32(&b, t[i].src);
		put_u32(&b, t[i].events);
		put_u64(&b, t[i].data);
	}
	ok = decodes(FILE_EPOLL, &b, O_RDWR, NULL);
	buf_fini(&b);
	return ok;
}

static void epoll_data(void **state)
{
	struct ep_t t[2] = {
	    {100, 4, 4, EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLET, 0x1234},
	    {100, 4, 9, EPOLLONESHOT, 7}, /* a fired one-shot under a reused number */
	};

	(void)state;
	assert_true(epoll_decodes(t, 0, 0));
	assert_true(epoll_decodes(t, 2, 2));
	assert_false(epoll_decodes(t, 2, 3)); /* more than there is */
	assert_false(epoll_decodes(t, 1, 2));
	t[1].src = 4;
	assert_false(epoll_decodes(t, 2, 2)); /* the same target twice */
	t[1].src = 9;
	t[1].events = EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLIN;
	assert_false(epoll_decodes(t, 2, 2));
	t[1].events = EPOLLIN | (1u << 27); /* not an epoll_ctl bit */
	assert_false(epoll_decodes(t, 2, 2));
	t[1].events = EPOLLIN;
	t[1].pid = 0;
	assert_false(epoll_decodes(t, 2, 2));
	t[1].pid = 100;
	t[1].tfd = -1;
	assert_false(epoll_decodes(t, 2, 2));
	t[1].tfd = 5;
	t[1].src = -1;
	assert_false(epoll_decodes(t, 2, 2));
}

/* A target must be added by a process that holds the instance, from a descriptor of
 * another file. */
static void epoll_targets_checked_against_the_model(void **state)
{
	const struct fd_kind *k = fdkind_find(FILE_EPOLL);
	struct fd_img fds[2] = {{3, 0, 1}, {4, 0, 2}};
	struct proc_img procs[1] = {{.pid = 100, .fds = fds, .nfds = 2}};
	struct file_img files[2] = {{.id = 1, .kind = FILE_EPOLL, .flags = O_RDWR},
				    {.id = 2, .kind = FILE_EVENTFD, .flags = O_RDWR}};
	struct model m = {.procs = procs, .nprocs = 1, .files = files, .nfiles = 2};
	struct ep_t t = {100, 4, 4, EPOLLIN, 1};
	struct err err = {0};
	struct wire_rd rd;
	struct buf b;

	(void)state;
	for (int i = 0; i < 4; i++) {
		buf_init(&b);
		put_u32(&b, 1);
		put_i32(&b, i == 1 ? 101 : t.pid); /* 1: no such process */
		put_i32(&b, t.tfd);
		put_i32(&b, i == 2 ? 3 : i == 3 ? 5 : t.src); /* 2: itself; 3: no such fd */
		put_u32(&b, t.events);
		put_u64(&b, t.data);
		wr_init(&rd, b.data, b.len);
		assert_int_equal(k->decode(&files[0], &rd, &err), 0);
		assert_true(wr_done(&rd));
		err_clear(&err);
		assert_int_equal(k->check(&m, &files[0], &err) == 0, i == 0);
		files[0].kd_free(files[0].kd);
		files[0].kd = NULL;
		buf_fini(&b);
	}
}

struct in_w {
	int32_t wd;
	uint32_t mask;
	uint32_t hlen;
	const char *path, *mount;
};

static int inotify_decodes(const struct in_w *w, uint32_t n, uint32_t flags)
{
	static const uint8_t handle[128] = {1, 2, 3, 4, 5, 6, 7, 8};
	struct buf b;
	int ok;

	buf_init(&b);
	put_u32(&b, n);
	for (uint32_t i = 0; i < n; i++) {
		put_i32(&b, w[i].wd);
		put_u32(&b, w[i].mask);
		put_u64(&b, 1234);
		put_u64(&b, 0xfe00);
		put_i32(&b, 1);
		put_blob(&b, handle, w[i].hlen);
		put_str(&b, w[i].path);
		put_str(&b, w[i].mount);
	}
	put_u64(&b, 0);
	ok = decodes(FILE_INOTIFY, &b, flags, NULL);
	buf_fini(&b);
	return ok;
}

static void inotify_data(void **state)
{
	struct in_w w[2] = {
	    {1, IN_CREATE | IN_ONESHOT | IN_EXCL_UNLINK, 8, "/a", "/"},
	    {7, 0, 128, NULL, "/mnt"}, /* no event; no path, found by handle */
	};

	(void)state;
	assert_true(inotify_decodes(w, 0, O_RDONLY));
	assert_true(inotify_decodes(w, 2, O_RDONLY | O_NONBLOCK));
	assert_false(inotify_decodes(w, 2, O_RDWR));
	w[1].wd = 1; /* not increasing */
	assert_false(inotify_decodes(w, 2, O_RDONLY));
	w[1].wd = 7;
	w[0].wd = 0;
	assert_false(inotify_decodes(w, 2, O_RDONLY));
	w[0].wd = 1;
	w[1].mask = IN_ISDIR;
	assert_false(inotify_decodes(w, 2, O_RDONLY));
	w[1].mask = IN_MODIFY;
	w[1].hlen = 0;
	assert_false(inotify_decodes(w, 2, O_RDONLY));
	w[1].hlen = 8;
	w[1].mount = NULL;
	assert_false(inotify_decodes(w, 2, O_RDONLY));
	w[1].mount = "mnt";
	assert_false(inotify_decodes(w, 2, O_RDONLY));
	w[1].mount = "/mnt";
	w[1].path = "rel";
	assert_false(inotify_decodes(w, 2, O_RDONLY));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(eventfd_data),
	    cmocka_unit_test(signalfd_data),
	    cmocka_unit_test(timerfd_data),
	    cmocka_unit_test(epoll_data),
	    cmocka_unit_test(epoll_targets_checked_against_the_model),
	    cmocka_unit_test(inotify_data),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
