/* checkpoint.h: checkpoint a running process from outside. */
#ifndef CREST_CHECKPOINT_H
#define CREST_CHECKPOINT_H

#include <stdint.h>
#include <sys/types.h>

struct err;

/* BLCR's scopes (cr_scope_t). */
enum { CKPT_SCOPE_PROC = 0, CKPT_SCOPE_PGRP = 1, CKPT_SCOPE_SESS = 2, CKPT_SCOPE_TREE = 3 };

struct ckpt_request {
	pid_t pid;
	uint32_t scope;
	uint32_t flags;        /* CR_CHKPT_* */
	int fd;                /* where the context goes */
	const char *dest_name; /* for messages */
	/* Called once the context is written, while the target is still frozen: put the
	 * file in place. A failure here fails the checkpoint. */
	int (*commit)(void *arg, struct err *err);
	void *commit_arg;
	int signal; /* sent to the target after a successful checkpoint; 0 for none */
};

/* Whether req->pid may be checkpointed at all (pid 1, kernel threads, zombies,
 * traced processes...): the tool asks before it opens the destination, so that a
 * refused request touches no file. checkpoint_run() asks again. */
int checkpoint_admit(const struct ckpt_request *req, struct err *err);

/* Checkpoint req->pid. Returns 0 or a negative errno / BLCR code with err set. On
 * failure the target runs on as before. */
int checkpoint_run(const struct ckpt_request *req, struct err *err);

#endif
