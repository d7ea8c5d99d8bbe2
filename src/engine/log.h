/* log.h: diagnostics on stderr, and the request's message log ("kmsg").
 *
 * log_debug/log_info/log_warn print at once when the verbosity allows. kmsg lines are
 * kept for the tool, which prints them as "- " lines according to --kmsg-* (BLCR's
 * per-request kernel log). Nothing here ever writes to stdout: with -F 1 it carries
 * the context file. */
#ifndef CREST_LOG_H
#define CREST_LOG_H

#include <stddef.h>

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

extern int log_verbosity; /* LOG_WARN by default */

/* Milliseconds on the monotonic clock, for timing phases in debug output. */
double log_now_ms(void);
void log_print(enum log_level lvl, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(...) log_print(LOG_DEBUG, LOG_PREFIX, __VA_ARGS__)
#define log_info(...) log_print(LOG_INFO, LOG_PREFIX, __VA_ARGS__)
#define log_warn(...) log_print(LOG_WARN, LOG_PREFIX, __VA_ARGS__)

/* The request's message log. A warning is something that went on ("... skipping");
 * details of a failure are added as errors. */
enum kmsg_kind { KMSG_WARN, KMSG_ERROR };
void kmsg_add(enum kmsg_kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t kmsg_count(void);
const char *kmsg_line(size_t i, enum kmsg_kind *ret_kind);
void kmsg_reset(void);
/* In a process made to report to another (restart's new process before it is taken
 * over): send kmsg lines to fd as "W text" / "E text" instead of keeping them. */
void kmsg_set_forward(int fd);

#endif
