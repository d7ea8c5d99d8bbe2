/* epoll: an instance watching a pipe's read end (ready), its write end
 * (edge-triggered, ready), an empty eventfd (with EPOLLWAKEUP), a one-shot target
 * that has fired and one that has not, an exclusive target, a nested epoll instance
 * (ready through its own target; its own number is the one its other target was
 * added under), a target added under a number that now holds another file (its own
 * file kept at another number), and stdin, which leads outside
 * (the harness's pipe, cr_restart's after a restart). After GO fdinfo must list the
 * same targets with the same events and data, epoll_wait must report exactly the
 * ready targets with their data and events (the edge once), the fired one-shot none
 * until re-armed, and epoll_ctl MOD and DEL must work on the saved numbers. A thread
 * blocked in epoll_wait() on a third instance at the checkpoint must wake with the
 * target's data once it is ready. */
#include "ct.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_LINES 16
#define OTHER_FD 400 /* the number T_MOVED was added under; another file now */
#define MOVED_FD 401 /* where T_MOVED's file is now */
#define INNER_FD 410 /* the nested instance, and the number its target was added under */
#define SELF_FD 411  /* where that target's file is now */

enum { T_PIPE_R, T_PIPE_W, T_EMPTY, T_FIRED, T_ONESHOT, T_EXCL, T_NESTED, T_MOVED, T_STDIN, NT };

static const struct {
	uint32_t events;
	uint64_t data;
} td[NT] = {
    [T_PIPE_R] = {EPOLLIN, 0x1111},
    [T_PIPE_W] = {EPOLLOUT | EPOLLET, 0x2222},
    [T_EMPTY] = {EPOLLIN | EPOLLWAKEUP, 0x3333},
    [T_FIRED] = {EPOLLIN | EPOLLONESHOT, 0x4444},
    [T_ONESHOT] = {EPOLLIN | EPOLLONESHOT, 0x5555},
    [T_EXCL] = {EPOLLIN | EPOLLEXCLUSIVE, 0x6666},
    [T_NESTED] = {EPOLLIN, 0x7777},
    [T_MOVED] = {EPOLLIN | EPOLLRDHUP | EPOLLPRI, 0xfedcba9876543210ull},
    [T_STDIN] = {EPOLLIN, 0x5717},
};

static int ep, inner;
static int fd[NT];
static int pp[2];
static int inner_efd, other_efd, self_efd;
static int ep_fl, ep_fdfl, inner_fl, inner_fdfl, other_fdfl;
static char lines[2][MAX_LINES][96]; /* fdinfo targets of ep and inner, sorted */
static int nlines[2];

/* The waiter: blocked in epoll_wait() on its own instance at the checkpoint. */
static int wait_ep, wait_efd;
static pthread_t waiter;
static int waiter_got = -2;
static uint64_t waiter_data;

static void *wait_blocked(void *arg)
{
	struct epoll_event ev;

	(void)arg;
	waiter_got = epoll_wait(wait_ep, &ev, 1, -1);
	waiter_data = ev.data.u64;
	return NULL;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* The "tfd: N events: X data: Y" part of each target line, sorted (the kernel lists
 * them by file address). */
static int targets(int efd, char out[MAX_LINES][96], int *n)
{
	char buf[4096], *p;

	if (ct_fdinfo(efd, buf, sizeof(buf)) < 0)
		return -1;
	*n = 0;
	for (p = strstr(buf, "tfd:"); p && *n < MAX_LINES; p = strstr(p + 1, "tfd:")) {
		char *end = strstr(p, "  pos:");

		if (!end)
			return -1;
		snprintf(out[*n], 96, "%.*s", (int)(end - p), p);
		(*n)++;
	}
	qsort(out, (size_t)*n, sizeof(out[0]), cmp_line);
	return 0;
}

static int add(int efd, int target, uint32_t events, uint64_t data)
{
	struct epoll_event ev = {events, {.u64 = data}};

	return epoll_ctl(efd, EPOLL_CTL_ADD, target, &ev);
}

static int setup(void)
{
	struct epoll_event ev;
	uint64_t two = 2;

	CT_SYS(ep = epoll_create1(EPOLL_CLOEXEC));
	CT_SYS(inner = epoll_create1(0));
	CT_SYS(fcntl(inner, F_SETFL, O_NONBLOCK));
	/* inner's own number held its other target once: added as INNER_FD, kept at
	 * SELF_FD since. */
	CT_SYS(self_efd = eventfd(0, 0));
	CT_SYS(dup2(self_efd, INNER_FD));
	close(self_efd);
	CT_SYS(add(inner, INNER_FD, EPOLLIN, 0x9999));
	CT_SYS(dup2(INNER_FD, SELF_FD));
	CT_SYS(dup2(inner, INNER_FD));
	close(inner);
	inner = INNER_FD;
	self_efd = SELF_FD;
	CT_SYS(pipe(pp));
	CT_EQ(write(pp[1], "x", 1), 1);
	fd[T_PIPE_R] = pp[0];
	fd[T_PIPE_W] = pp[1];
	CT_SYS(fd[T_EMPTY] = eventfd(0, 0));
	CT_SYS(fd[T_FIRED] = eventfd(1, EFD_NONBLOCK));
	CT_SYS(fd[T_ONESHOT] = eventfd(0, 0));
	CT_SYS(fd[T_EXCL] = eventfd(0, 0));
	fd[T_NESTED] = inner;
	fd[T_STDIN] = 0;
	CT_SYS(inner_efd = eventfd(0, 0));
	CT_EQ(write(inner_efd, &two, 8), 8);
	CT_SYS(add(inner, inner_efd, EPOLLIN, 0x8888));

	/* The one-shot fires first, before anything else is ready in ep. */
	CT_SYS(add(ep, fd[T_FIRED], td[T_FIRED].events, td[T_FIRED].data));
	CT_EQ(epoll_wait(ep, &ev, 1, 0), 1);
	CT_EQ(ev.data.u64, td[T_FIRED].data);
	for (int i = 0; i < NT; i++)
		if (i != T_FIRED && i != T_MOVED)
			CT_SYS(add(ep, fd[i], td[i].events, td[i].data));

	/* Added as OTHER_FD, then moved to MOVED_FD; OTHER_FD is another eventfd now. */
	CT_SYS(fd[T_MOVED] = eventfd(0, 0));
	CT_SYS(dup2(fd[T_MOVED], OTHER_FD));
	close(fd[T_MOVED]);
	CT_SYS(add(ep, OTHER_FD, td[T_MOVED].events, td[T_MOVED].data));
	CT_SYS(dup2(OTHER_FD, MOVED_FD));
	CT_SYS(other_efd = eventfd(0, EFD_CLOEXEC));
	CT_SYS(dup3(other_efd, OTHER_FD, O_CLOEXEC));
	close(other_efd);
	other_efd = OTHER_FD;
	fd[T_MOVED] = MOVED_FD;

	CT_SYS(ep_fl = fcntl(ep, F_GETFL));
	CT_SYS(ep_fdfl = fcntl(ep, F_GETFD));
	CT_SYS(inner_fl = fcntl(inner, F_GETFL));
	CT_SYS(inner_fdfl = fcntl(inner, F_GETFD));
	CT_SYS(other_fdfl = fcntl(OTHER_FD, F_GETFD));
	CT_SYS(targets(ep, lines[0], &nlines[0]));
	CT_SYS(targets(inner, lines[1], &nlines[1]));
	CT_EQ(nlines[0], NT);
	CT_EQ(nlines[1], 2);

	CT_SYS(wait_ep = epoll_create1(EPOLL_CLOEXEC));
	CT_SYS(wait_efd = eventfd(0, EFD_CLOEXEC));
	CT_SYS(add(wait_ep, wait_efd, EPOLLIN, 0xabcd));
	if (ct_start_blocked(&waiter, wait_blocked, NULL, SYS_epoll_wait))
		CT_FAIL("the waiter did not block in epoll_wait() within 10 s");
	return 0;
}

/* The waiter is still waiting, and wakes once its target is ready. */
static int check_waiter(void)
{
	uint64_t one = 1;
	int rc;

	CT_EQ(waiter_got, -2);
	CT_EQ(write(wait_efd, &one, 8), 8);
	rc = ct_join(waiter, NULL, 10);
	if (rc)
		CT_FAIL("joining the waiter: %s", strerror(rc));
	CT_EQ(waiter_got, 1);
	CT_EQ(waiter_data, 0xabcd);
	return 0;
}

/* epoll_wait must give exactly these targets (data, events), in any order. */
static int expect(int efd, const uint64_t *data, const uint32_t *events, int n)
{
	struct epoll_event ev[NT + 1];
	int got;

	got = epoll_wait(efd, ev, NT + 1, 0);
	CT_EQ(got, n);
	for (int i = 0; i < n; i++) {
		int k;

		for (k = 0; k < n && ev[k].data.u64 != data[i]; k++)
			;
		if (k == n)
			CT_FAIL("target with data %#llx not reported", (unsigned long long)data[i]);
		CT_EQ(ev[k].events, events[i]);
	}
	return 0;
}

static int check(void)
{
	char now[MAX_LINES][96];
	int n;
	uint64_t v = 1;
	struct epoll_event ev;

	CT_EQ(fcntl(ep, F_GETFL), ep_fl);
	CT_EQ(fcntl(ep, F_GETFD), ep_fdfl);
	CT_EQ(fcntl(inner, F_GETFL), inner_fl);
	CT_EQ(fcntl(inner, F_GETFD), inner_fdfl);
	CT_EQ(fcntl(OTHER_FD, F_GETFD), other_fdfl);
	CT_SYS(targets(ep, now, &n));
	CT_EQ(n, nlines[0]);
	for (int i = 0; i < n; i++)
		CT_STREQ(now[i], lines[0][i]);
	CT_SYS(targets(inner, now, &n));
	CT_EQ(n, nlines[1]);
	for (int i = 0; i < n; i++)
		CT_STREQ(now[i], lines[1][i]);

	{
		/* Ready: the pipe both ways (the edge once), the nested instance. */
		const uint64_t d1[] = {0x1111, 0x2222, 0x7777}, d2[] = {0x1111, 0x7777};
		const uint32_t e1[] = {EPOLLIN, EPOLLOUT, EPOLLIN}, e2[] = {EPOLLIN, EPOLLIN};
		const uint64_t d3[] = {0x8888};
		const uint32_t e3[] = {EPOLLIN};

		if (expect(ep, d1, e1, 3) || expect(ep, d2, e2, 2) || expect(inner, d3, e3, 1))
			return 1;
	}
	/* The nested instance's target under its own number, through its file. */
	CT_EQ(write(self_efd, &v, 8), 8);
	{
		const uint64_t d[] = {0x8888, 0x9999};
		const uint32_t e[] = {EPOLLIN, EPOLLIN};

		if (expect(inner, d, e, 2))
			return 1;
	}

	/* Each target still reports, with its data; the moved one through its file. */
	CT_EQ(write(fd[T_EMPTY], &v, 8), 8);
	CT_EQ(write(fd[T_ONESHOT], &v, 8), 8);
	CT_EQ(write(fd[T_EXCL], &v, 8), 8);
	CT_EQ(write(fd[T_MOVED], &v, 8), 8);
	CT_EQ(write(other_efd, &v, 8), 8); /* not a target */
	{
		const uint64_t d[] = {0x1111, 0x3333, 0x5555, 0x6666, 0x7777, td[T_MOVED].data};
		const uint32_t e[] = {EPOLLIN, EPOLLIN, EPOLLIN, EPOLLIN, EPOLLIN, EPOLLIN};
		const uint64_t d2[] = {0x1111, 0x3333, 0x6666, 0x7777, td[T_MOVED].data};

		if (expect(ep, d, e, 6) || expect(ep, d2, e, 5))
			return 1;
	}

	/* MOD and DEL on the saved numbers: the fired one-shot re-armed, others gone. */
	ev = (struct epoll_event){EPOLLIN, {.u64 = 0x4445}};
	CT_SYS(epoll_ctl(ep, EPOLL_CTL_MOD, fd[T_FIRED], &ev));
	CT_SYS(epoll_ctl(ep, EPOLL_CTL_DEL, fd[T_PIPE_R], NULL));
	CT_SYS(epoll_ctl(ep, EPOLL_CTL_DEL, fd[T_EMPTY], NULL));
	CT_SYS(epoll_ctl(ep, EPOLL_CTL_DEL, fd[T_EXCL], NULL));
	CT_SYS(epoll_ctl(ep, EPOLL_CTL_DEL, inner, NULL));
	CT_SYS(epoll_ctl(ep, EPOLL_CTL_DEL, fd[T_STDIN], NULL));
	CT_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, fd[T_EMPTY], NULL), -1);
	CT_EQ(errno, ENOENT);
	/* Under its own number the moved target is another file now. */
	CT_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, OTHER_FD, NULL), -1);
	CT_EQ(errno, ENOENT);
	CT_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, MOVED_FD, NULL), -1);
	CT_EQ(errno, ENOENT);
	{
		const uint64_t d[] = {0x4445, td[T_MOVED].data};
		const uint32_t e[] = {EPOLLIN, EPOLLIN};

		if (expect(ep, d, e, 2))
			return 1;
	}
	return check_waiter();
}

CT_MAIN(setup, check)
