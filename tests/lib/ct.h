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
#include <stdio.h>
#include <string.h>

int ct_main(int argc, char **argv, int (*setup)(void), int (*check)(void));
/* Report a failure (printf-style) and return 1, for `return ct_fail(...)`. */
int ct_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Write a line to the harness's log (stderr), not to the verdict channel. */
void ct_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The directory the harness gave this test for its files (its cwd). */
const char *ct_dir(void);

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
