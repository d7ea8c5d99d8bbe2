/* log.c: stderr diagnostics and the request's message log. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int log_verbosity = LOG_WARN;

double log_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void log_print(enum log_level lvl, const char *prefix, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if ((int)lvl > log_verbosity)
		return;
	n = snprintf(line, sizeof(line), "crest: %s", prefix);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

struct kmsg {
	enum kmsg_kind kind;
	char *text;
};

static struct kmsg *kmsgs;
static size_t nkmsgs, cap_kmsgs;
static int forward_fd = -1;

void kmsg_set_forward(int fd)
{
	forward_fd = fd;
}

void kmsg_add(enum kmsg_kind kind, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_debug("kmsg: %s", line);
	if (forward_fd >= 0) {
		char out[1100];
		int n = snprintf(out, sizeof(out), "%c %s\n", kind == KMSG_WARN ? 'W' : 'E', line);

		if (n > 0 && write(forward_fd, out, (size_t)n) < 0)
			return;
		return;
	}
	if (nkmsgs == cap_kmsgs) {
		size_t ncap = cap_kmsgs ? cap_kmsgs * 2 : 16;
		struct kmsg *n = realloc(kmsgs, ncap * sizeof(*n));

		if (!n)
			return; /* the message log is best effort */
		kmsgs = n;
		cap_kmsgs = ncap;
	}
	kmsgs[nkmsgs].kind = kind;
	kmsgs[nkmsgs].text = strdup(line);
	if (kmsgs[nkmsgs].text)
		nkmsgs++;
}

size_t kmsg_count(void)
{
	return nkmsgs;
}

const char *kmsg_line(size_t i, enum kmsg_kind *ret_kind)
{
	if (i >= nkmsgs)
		return NULL;
	if (ret_kind)
		*ret_kind = kmsgs[i].kind;
	return kmsgs[i].text;
}

void kmsg_reset(void)
{
	for (size_t i = 0; i < nkmsgs; i++)
		free(kmsgs[i].text);
	free(kmsgs);
	kmsgs = NULL;
	nkmsgs = cap_kmsgs = 0;
}
