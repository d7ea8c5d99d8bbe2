/* checkpoint.h: checkpoint a running process from outside. */
#ifndef CREST_CHECKPOINT_H
#define CREST_CHECKPOINT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* BLCR's scopes (cr_scope_t). */
enum { CKPT_SCOPE_PROC = 0, CKPT_SCOPE_PGRP = 1, CKPT_SCOPE_SESS = 2, CKPT_SCOPE_TREE = 3 };

/* BLCR's ptrace policies among the CR_CHKPT_* flags (CR_CHKPT_PTRACED_ALLOW,
 * _PTRACED_SKIP, _PTRACER_SKIP); without them a traced target fails with
 * CR_EPTRACED, one that traces others with CR_EPTRACER. */
enum { CKPT_PTRACED_ALLOW = 0x2, CKPT_PTRACED_SKIP = 0x4, CKPT_PTRACER_SKIP = 0x8 };

struct ckpt_request {
	pid_t pid;
	uint32_t scope;
	uint32_t flags;        /* CR_CHKPT_*: the --save-* contents and ptrace policies */
	int fd;                /* where the context goes (-1 with open_part) */
	const char *dest_name; /* for messages */
	/* One file per process (cr_checkpoint -d): when set, fd and dest_name are not
	 * used. The engine asks for each process's file in turn, naming the process by
	 * its pid as the context holds it, and writes there a whole context of its own
	 * (header, part record, that process's records; the first file also gets what
	 * the processes share) that the part records tie together
	 * (docs/context-format.md). The caller owns the fd: the engine is done with it
	 * when it asks for the next one, or calls commit. *ret_name is for messages and
	 * stays valid until then. A failure fails the checkpoint. A scope of one process
	 * makes one ordinary context. */
	int (*open_part)(void *arg, pid_t pid, int *ret_fd, const char **ret_name,
			 struct err *err);
	void *part_arg;
	/* Called once the context is written, while the target is still frozen: put the
	 * file in place. A failure here fails the checkpoint. */
	int (*commit)(void *arg, struct err *err);
	void *commit_arg;
	int signal; /* sent to the target after a successful checkpoint; 0 for none */
	bool signal_early; /* --early-*: before libcr's callbacks resume, not after */
};

/* Whether req->pid may be checkpointed at all (pid 1, kernel threads, zombies,
 * traced processes...): the tool asks before it opens the destination, so that a
 * refused request touches no file; the engine asks again for each process of the
 * scope. 0: yes; 1: the ptrace policy in req->flags leaves it out (a kmsg line says
 * why; a target left out takes its descendants with it); < 0: refused, err set
 * (CR_EPTRACED / CR_EPTRACER for a traced or tracing process, EBUSY for one in
 * another checkpoint or restart). */
int checkpoint_admit(const struct ckpt_request *req, struct err *err);

/* Checkpoint req->pid. Returns 0 or a negative errno / BLCR code with err set. On
 * failure the target runs on as before. */
int checkpoint_run(const struct ckpt_request *req, struct err *err);

#endif
