/* err.c: the first failure wins, with one message. */
#include "err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int err_vset(struct err *e, int code, int sys, const char *fmt, va_list ap)
{
	int n;

	if (e->code != 0)
		return e->code;
	e->code = code;
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	if (sys && n >= 0 && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", strerror(-code));
	return code;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = err_vset(e, code, 0, fmt, ap);
	va_end(ap);
	return rc;
}

int err_sys(struct err *e, const char *fmt, ...)
{
	int code = errno ? -errno : -EIO;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = err_vset(e, code, 1, fmt, ap);
	va_end(ap);
	return rc;
}

int err_code(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = err_vset(e, code, code > -4096 && code < 0, fmt, ap);
	va_end(ap);
	return rc;
}

void err_prefix(struct err *e, const char *fmt, ...)
{
	char old[sizeof(e->msg)];
	va_list ap;
	int n;

	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(e->msg))
		snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, "%s", old);
}

void err_clear(struct err *e)
{
	e->code = 0;
	e->msg[0] = '\0';
}
