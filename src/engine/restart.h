/* restart.h: rebuild a process from a context file. */
#ifndef CREST_RESTART_H
#define CREST_RESTART_H

#include "state/state.h"

#include <stdbool.h>
#include <sys/types.h>

struct err;

struct ctx_file;

struct rst_request {
	int fd;           /* the context: a file, or a pipe (spooled to memory first) */
	const char *name; /* for messages; with files, what names them all (the directory) */
	/* Or, with nfiles > 0 (fd is then not used): the files of a context written one
	 * per process (cr_checkpoint -d), regular files read from their start, in any
	 * order; or a single whole context. */
	struct ctx_file *files;
	uint32_t nfiles;
	struct rst_opts opts;
};

struct rst_result {
	pid_t pid;       /* the eldest restored process (a child of the caller) */
	bool stopped;    /* it was left stopped */
	/* --pidns: the namespace's init is the caller's child instead; it ends when the
	 * eldest does, and writes the eldest's wait status on status_fd first. */
	pid_t reaper;
	int status_fd;
};

/* Note the descriptors the caller inherited, before it opens any of its own: an
 * external descriptor of the restored process becomes the caller's of the same number
 * only if it is one of these. */
void restart_note_inherited_fds(void);
bool restart_fd_inherited(int fd);

/* Restart the context read from req->fd (or req->files). On success the process
 * exists, as a child of the caller, and runs (or is stopped as asked). On failure
 * nothing of it is left. */
int restart_run(const struct rst_request *req, struct rst_result *res, struct err *err);

#endif
