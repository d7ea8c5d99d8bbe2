/* scope.h: which processes a checkpoint covers, and freezing all of them before any
 * is read.
 *
 * A tree is the target and, recursively, its children; a group or session, every
 * process with that pgid or sid. Each process is frozen (seize.c) before its children
 * are listed, so none can fork behind our back; a group or session is scanned again
 * until a pass finds no new member. The requester (the process running the engine)
 * is always left out. A zombie cannot be frozen: it is kept as a zombie if its parent
 * is in the scope (it comes back as one), and left out with a message otherwise. */
#ifndef CREST_SCOPE_H
#define CREST_SCOPE_H

#include "seize.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct ckpt_request;

struct scope_proc {
	pid_t pid;
	bool zombie;
	struct seize_set set; /* its threads, frozen (not for a zombie) */
};

struct scope {
	struct scope_proc *p; /* the target first, then in discovery order */
	uint32_t n;
};

/* Freeze every process of req's scope. On failure nothing stays frozen. */
int scope_freeze(struct scope *s, const struct ckpt_request *req, struct err *err);
/* Freeze the processes of one more scope (CKPT_SCOPE_*, id), those not in s yet: a
 * checkpoint forwarded by a libcr callback. A process gone meanwhile is left out. On
 * failure nothing of s stays frozen (s is released and emptied). */
int scope_add(struct scope *s, const struct ckpt_request *req, uint32_t scope, pid_t id,
	      struct err *err);
/* Let every process go, sending sig (0: none) to each that is not a zombie. */
void scope_release(struct scope *s, int sig);
void scope_fini(struct scope *s);

#endif
