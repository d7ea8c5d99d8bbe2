/* common.h: what the command-line tools share: BLCR's exit codes and the "- " message
 * lines. */
#ifndef CREST_TOOLS_COMMON_H
#define CREST_TOOLS_COMMON_H

#include "opts.h"

#include <stdbool.h>

/* BLCR: the exit status is the failure's errno, modulo 256. */
int tool_exit_code(int rc);
/* Print the request's message log as "- " lines on stderr, as --kmsg-* says. */
void tool_print_kmsgs(enum kmsg_mode mode, bool failed, bool quiet);
/* A context file's name in a directory written by cr_checkpoint -d: "context." and a
 * pid. */
bool tool_is_context_name(const char *name);

#endif
