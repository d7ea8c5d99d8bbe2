/* ct.h: the program side of crest's state tests.
 *
 * A test program sets a kind of state up in setup(), keeping what it expects in its
 * own variables; ct_main() then tells the harness "READY" on stdout and blocks
 * reading stdin. The harness checkpoints the program (and, depending on the mode,
 * kills and restarts it, maybe several times), then writes "GO". check() runs in
 * whatever process now carries on and compares the state with what setup() kept.
 * The verdict is one line: "PASS" or "FAIL: why". */
#ifndef CREST_CT_H
#define CREST_CT_H

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

int ct_main(int argc, char **argv, int (*setup)(void), int (*check)(void));
/* Report a failure (printf-style) and return 1, for `return ct_fail(...)`. */
int ct_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Write a line to the harness's log (stderr), not to the verdict channel. */
void ct_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The directory the harness gave this test for its files (its cwd). */
const char *ct_dir(void);

/* Reading /proc: one read() each, which gets all the kernel makes of such a file. */

/* The text of the file at path into buf, NUL-terminated: its length, or -1 when it
 * cannot be read or is empty. */
ssize_t ct_read_text(const char *path, char *buf, size_t size);
/* The line "key:..." of text, without its newline, into out: 0, or -1 if none. */
int ct_line(const char *text, const char *key, char *out, size_t n);
/* The text of /proc/self/fdinfo/FD, as ct_read_text. */
ssize_t ct_fdinfo(int fd, char *buf, size_t size);
/* The line "key:..." of /proc/self/fdinfo/FD, as ct_line. */
int ct_fdinfo_line(int fd, const char *key, char *out, size_t n);
/* The field key of /proc/self/fdinfo/FD as a number in base: 0, or -1. */
int ct_fdinfo_u64(int fd, const char *key, int base, uint64_t *v);

/* Descriptors. */

/* Where /proc/self/fd/FD leads, into out (NUL-terminated): 0, or -1. */
int ct_fd_link(int fd, char *out, size_t n);
/* Does /proc/self/fd/FD lead to want? (Logs where it leads when not.) */
int ct_fd_is(int fd, const char *want);
/* kcmp(KCMP_FILE) of two descriptors of this process: 0 when they share one open
 * file description. */
long ct_kcmp_file(int a, int b);
/* Where data and holes start in the file of fd, in order (data, hole, data, ...), at
 * most max offsets: their count, or -1. Seeks a description of its own, so fd's
 * offset stays. */
int ct_layout(int fd, off_t *at, int max);
/* The inode of the file mapped at [addr, addr + len), from /proc/self/map_files, or
 * 0; where that leads into link (NUL-terminated) unless link is NULL. */
ino_t ct_mapped_ino(const void *addr, size_t len, char *link, size_t n);

/* The abstract unix socket address "\0TAG-SUFFIX" into a: its length. */
socklen_t ct_abstract(struct sockaddr_un *a, const char *tag, const char *suffix);

/* Waiting, 10 s at most. */

/* Wait until *flag is not 0: 1 once it is, 0 if it stays 0. */
int ct_wait_flag(atomic_int *flag);
/* Wait until signal sig is pending (for this thread or the process): 1 once it is,
 * 0 if it does not come. */
int ct_wait_pending(int sig);

/* Threads caught in a system call at the checkpoint. */

/* The number of the system call thread tid of this process is in, from
 * /proc/self/task/TID/syscall; -1 when it is in none or that cannot be read. */
long ct_syscall_of(int tid);
/* The state of thread tid of this process ('R', 'S', 'D', ...) from
 * /proc/self/task/TID/stat, or 0 when that cannot be read. */
char ct_task_state(int tid);
/* Is thread tid in system call nr (SYS_read, ...)? */
int ct_blocked_in(int tid, long nr);
/* Wait until thread tid is in system call nr, 10 s at most: 0, or -1. */
int ct_wait_blocked(int tid, long nr);
/* Wait until thread tid sleeps (state S), 10 s at most: 0, or -1. */
int ct_wait_asleep(int tid);
/* Start a thread running fn(arg), which makes a call that blocks, and wait until it
 * is in that call, system call nr, 10 s at most: 0, or -1 (then it may still run).
 * One at a time: the test's setup starts them one after the other. */
int ct_start_blocked(pthread_t *pt, void *(*fn)(void *), void *arg, long nr);
/* Join thread pt, waiting seconds at most: 0, or an error number (ETIMEDOUT when it
 * still runs). */
int ct_join(pthread_t pt, void **ret, int seconds);

#define CT_MAIN(setup, check)                                                                 \
	int main(int argc, char **argv)                                                       \
	{                                                                                     \
		return ct_main(argc, argv, setup, check);                                     \
	}

#define CT_FAIL(...) return ct_fail(__FILE__, __LINE__, __VA_ARGS__)

/* Integers of any width compare as 64-bit values. */
#define CT_EQ(a, b)                                                                           \
	do {                                                                                  \
		long long ct_a_ = (long long)(a), ct_b_ = (long long)(b);                     \
		if (ct_a_ != ct_b_)                                                           \
			CT_FAIL("%s == %s: %lld (%#llx) != %lld (%#llx)", #a, #b, ct_a_,          \
				(unsigned long long)ct_a_, ct_b_, (unsigned long long)ct_b_);     \
	} while (0)

#define CT_TRUE(x)                                                                            \
	do {                                                                                  \
		if (!(x))                                                                     \
			CT_FAIL("%s is false", #x);                                           \
	} while (0)

#define CT_STREQ(a, b)                                                                        \
	do {                                                                                  \
		const char *ct_a_ = (a), *ct_b_ = (b);                                        \
		if (strcmp(ct_a_, ct_b_))                                                     \
			CT_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, ct_a_, ct_b_);              \
	} while (0)

#define CT_MEMEQ(a, b, n)                                                                     \
	do {                                                                                  \
		if (memcmp((a), (b), (n)))                                                    \
			CT_FAIL("%s and %s differ in their %zu bytes", #a, #b, (size_t)(n));      \
	} while (0)

/* A call that must not fail (returns -1 with errno). */
#define CT_SYS(x)                                                                             \
	do {                                                                                  \
		if ((long)(x) < 0)                                                            \
			CT_FAIL("%s: %s", #x, strerror(errno));                               \
	} while (0)

#endif
