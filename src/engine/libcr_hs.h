/* libcr_hs.h: the engine's side of the handshake with crest's libcr in a process
 * (docs/libcr.md).
 *
 * A process that has libcr.so, libcr_run.so or libcr_omit.so loaded is asked to run
 * its checkpoint callbacks before it is frozen, and waits inside the library while it
 * is dumped; then it is told whether it continues, and a restored copy is told that it
 * was restarted. A process without libcr is not touched here. */
#ifndef CREST_LIBCR_HS_H
#define CREST_LIBCR_HS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct ckpt_request;
struct scope;
struct libcr_hs;

/* Before anything is frozen: ask every process of req's scope that has a crest libcr
 * to run its checkpoint callbacks, and wait (bounded by the request's deadline) until
 * each has answered. Returns 0 with *ret (NULL when no process has libcr), or the
 * error the request fails with, every process asked running on as before:
 * -CR_ETEMPFAIL or a callback's own code (a callback asked to try later), -CR_EPERMFAIL
 * or a code (a callback gave up for good: every process of the scope was killed),
 * -ESRCH (every process asked to be left out), -EBUSY (a process is inside another
 * checkpoint or restart), -ETIMEDOUT, or the errno of what failed. */
int libcr_hs_prepare(const struct ckpt_request *req, struct libcr_hs **ret, struct err *err);

/* The k-th scope (CKPT_SCOPE_*, id) a callback forwarded the checkpoint to with
 * cr_forward_checkpoint(), from 0 on: false past the last. Their processes ran their
 * callbacks too (libcr_hs_prepare()); the caller freezes them with the request's
 * (scope_add()). */
bool libcr_hs_forward(const struct libcr_hs *hs, uint32_t k, uint32_t *scope, pid_t *id);

/* Whether pid must be left out of the checkpoint: it has libcr_omit loaded, or its
 * callbacks asked so. */
bool libcr_hs_omitted(const struct libcr_hs *hs, pid_t pid);

/* Once the scope is frozen: let go of the processes libcr_hs_omitted() names and
 * take them out of sc, so that they are not saved. */
void libcr_hs_drop_omitted(const struct libcr_hs *hs, struct scope *sc);

/* Whether pid was in group stop when asked: it was woken for its callbacks, and is
 * saved as stopped. */
bool libcr_hs_was_stopped(const struct libcr_hs *hs, pid_t pid);

/* After the dump, with every process of the scope still frozen: tell each libcr
 * process whether the checkpoint was taken (rc == 0) or failed (rc < 0). A libcr
 * process sends itself sig once its callbacks are done (unless early: then sig is
 * queued now, like every process's, and stops or ends it before they resume); the
 * others get it now, from here, if sc is given. Returns the signal the engine must
 * still send to every process of the scope: sig when no process had libcr (or sc is
 * NULL) or when early, else 0. hs NULL: sig. */
int libcr_hs_finish(struct libcr_hs *hs, const struct scope *sc, int rc, int sig, bool early);

/* Once the processes run again, whatever happened: a process whose handshake finish
 * did not end (the checkpoint failed before or while freezing) is told that it failed
 * with rc. Frees hs; NULL does nothing. */
void libcr_hs_end(struct libcr_hs *hs, int rc);

/* Restart, before the restored process pid is let go (frozen, its memory in place):
 * if its libcr was inside the checkpoint's handshake, tell it that it was restarted
 * from src (the context's name as the tool shows it). *sig is the signal restart
 * would send it; the library then sends it itself after its restart callbacks, and
 * *sig becomes 0. Returns 0 or -errno with err set. */
int libcr_hs_restarted(pid_t pid, const char *src, int *sig, struct err *err);

#endif
