/* err.h: one failure, with its code and a message naming what failed and why. */
#ifndef CREST_ERR_H
#define CREST_ERR_H

#include <stdarg.h>

struct err {
	int code;      /* negative errno, or a negative BLCR code; 0 if nothing failed */
	char msg[512]; /* what failed, on what, and why */
};

/* Record the first failure; a later one does not overwrite it. Both return the code
 * in force afterwards (the first one's), so `return err_set(...)` propagates it. */
int err_set(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* As err_set with code -errno, appending ": strerror(errno)". */
int err_sys(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* As err_sys for a -errno value that came back from a helper. */
int err_code(struct err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix the message with more context: "reading pid 42: " + old message. */
void err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void err_clear(struct err *e);

#endif
