/* common.h: what the command-line tools share: BLCR's exit codes and the "- " message
 * lines. */
#ifndef CREST_TOOLS_COMMON_H
#define CREST_TOOLS_COMMON_H

#include "opts.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* BLCR: the exit status is the failure's errno, modulo 256. */
int tool_exit_code(int rc);
/* Print the request's message log as "- " lines on stderr, as --kmsg-* says. */
void tool_print_kmsgs(enum kmsg_mode mode, bool failed, bool quiet);
/* A context file's name in a directory written by cr_checkpoint -d: "context." and a
 * pid. */
bool tool_is_context_name(const char *name);

struct ctx_file;
/* -d DIR: open every context file of DIR (context.PID, regular files; other entries
 * are not crest's), in pid order, each with the pid its name says, for the engine to
 * read as one context (context_load_files). Returns 0, or with msg set and nothing
 * left open: -EINVAL if DIR holds no context file, -ENOMEM, or the -errno of DIR or a
 * file that cannot be opened or read. */
int tool_open_context_dir(const char *dir, struct ctx_file **ret_files, uint32_t *ret_n,
			  char *msg, size_t msglen);
/* Close and free what tool_open_context_dir() gave. */
void tool_close_context_files(struct ctx_file *files, uint32_t n);

#endif
