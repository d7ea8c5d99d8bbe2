/* sys.c: the system calls libcr makes from its signal handler, and the part of the
 * handshake with cr_checkpoint and cr_restart that every kind of library shares
 * (docs/libcr.md). Everything here is signal-safe: raw system calls, atomics, buffers
 * on the stack. */
#include "libcr/lib.h"

#include <blcr_common.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* How often a waiting thread looks whether the engine is still there. */
#define TICK_MS 200

pid_t lib_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

int lib_futex_wait(uint32_t *addr, uint32_t val, int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	long r = syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, ms < 0 ? NULL : &ts, NULL, 0);

	if (r == 0 || errno == EAGAIN)
		return 0;
	return -errno;
}

void lib_futex_wake(uint32_t *addr)
{
	syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

int lib_signal_thread(pid_t tid, uint64_t cookie)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = CRCTL_SIGNUM;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)(uintptr_t)cookie;
	if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, CRCTL_SIGNUM, &si) < 0)
		return -errno;
	return 0;
}

int lib_ksigaction(int sig, const struct crctl_ksa *act, struct crctl_ksa *old)
{
	if (syscall(SYS_rt_sigaction, sig, act, old, (size_t)8) < 0)
		return -errno;
	return 0;
}

int lib_fd_high(int fd)
{
	int hi;

	if (fd < 0 || fd > 2)
		return fd;
	hi = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return hi;
}

uint64_t lib_start_time(pid_t pid)
{
	char path[48], buf[1024], *p;
	uint64_t v = 0;
	ssize_t n;
	int fd, field;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	else
		memcpy(path, "/proc/self/stat", sizeof("/proc/self/stat"));
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: count from the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	while (*p >= '0' && *p <= '9')
		v = v * 10 + (uint64_t)(*p++ - '0');
	return v;
}

int lib_list_threads(pid_t *tids, int max)
{
	char buf[2048];
	int fd, n = 0;

	fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/task",
			  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		long got = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		if (got <= 0)
			break;
		for (long off = 0; off < got;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			long tid = 0;
			const char *s = d->name;

			off += d->reclen;
			if (*s < '0' || *s > '9')
				continue;
			while (*s >= '0' && *s <= '9')
				tid = tid * 10 + (*s++ - '0');
			if (n < max)
				tids[n] = (pid_t)tid;
			n++;
		}
	}
	close(fd);
	return n;
}

bool lib_thread_alive(pid_t tid)
{
	return syscall(SYS_tgkill, getpid(), tid, 0) == 0 || errno != ESRCH;
}

void lib_restore_app_sa(void)
{
	struct crctl *c = &crest_ctl;

	if (__atomic_exchange_n(&c->app_sa_saved, 0, __ATOMIC_ACQ_REL))
		lib_ksigaction(CRCTL_SIGNUM, &c->app_sa, NULL);
}

void lib_vote(int vote)
{
	struct crctl *c = &crest_ctl;

	c->vote = vote;
	c->own_start = lib_start_time(0);
	__atomic_store_n(&c->phase, CRCTL_VOTED, __ATOMIC_RELEASE);
	lib_futex_wake(&c->phase);
}

/* Whether the engine that sent the request still runs: a pid that is gone, or taken
 * by a process started at another time, means it died (killed, or crashed). */
static bool engine_alive(void)
{
	const struct crctl *c = &crest_ctl;
	uint64_t t;

	if (c->engine <= 0)
		return true;
	t = lib_start_time(c->engine);
	return t != 0 && (c->engine_start == 0 || t == c->engine_start);
}

/* End the request from inside when nobody will: the engine is gone. */
static void give_up(uint32_t from, int32_t why)
{
	struct crctl *c = &crest_ctl;

	if (__atomic_compare_exchange_n(&c->phase, &from, CRCTL_ABORTED, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		c->result = why;
		lib_futex_wake(&c->phase);
	}
}

/* Restarted through libcr: the restored process is cr_restart's child until cr_restart
 * exits and it is reparented to the requester (a subreaper). Callbacks and the
 * application must see the requester as their parent from the start. */
static void await_parent(pid_t want)
{
	for (int i = 0; want > 0 && getppid() != want && i < 10000; i++) {
		struct timespec ts = {0, 1000000};

		nanosleep(&ts, NULL);
	}
}

int lib_wait_final(void (*tick)(void))
{
	struct crctl *c = &crest_ctl;

	for (;;) {
		uint32_t ph = __atomic_load_n(&c->phase, __ATOMIC_ACQUIRE);

		switch (ph) {
		case CRCTL_CONTINUE:
			return 0;
		case CRCTL_RESTARTED:
			await_parent(c->reparent);
			return c->result > 0 ? c->result : 1;
		case CRCTL_ABORTED:
			return c->result < 0 ? c->result : -EIO;
		case CRCTL_RUNNING:
		case CRCTL_VOTED:
			break;
		default:
			return -EIO; /* not in a request at all */
		}
		if (lib_futex_wait(&c->phase, ph, TICK_MS) != -ETIMEDOUT)
			continue;
		if (ph == CRCTL_RUNNING && tick)
			tick();
		/* A copy restarted by a cr_restart that does not know about libcr still
		 * waits here: its start time tells it. */
		if (ph == CRCTL_VOTED && c->own_start && lib_start_time(0) != c->own_start) {
			uint32_t from = CRCTL_VOTED;
			pid_t parent = getppid();

			if (__atomic_compare_exchange_n(&c->phase, &from, CRCTL_RESTARTED, false,
							__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
				c->result = parent > 0 ? parent : 1;
				c->src[0] = '\0';
				lib_futex_wake(&c->phase);
			}
			continue;
		}
		if (!engine_alive())
			give_up(ph, -ECANCELED);
	}
}

void lib_finish(void)
{
	struct crctl *c = &crest_ctl;
	int sig = c->final_signal;

	c->final_signal = 0;
	c->cookie = 0;
	c->nfwd = 0;
	__atomic_store_n(&c->phase, CRCTL_IDLE, __ATOMIC_RELEASE);
	lib_futex_wake(&c->phase);
	if (sig > 0 && sig <= 64)
		kill(getpid(), sig);
}
