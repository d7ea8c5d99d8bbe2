/* lib.h: what the parts of crest's libcr share (never installed).
 *
 * The three libraries are built from the same sources with LIBCR_KIND set: 1 libcr.so
 * (everything), 2 libcr_run.so (ctl.c and sys.c: take part, run nothing), 3
 * libcr_omit.so (ctl.c and sys.c: always left out). Everything is hidden; the version
 * scripts export BLCR's names only.
 *
 * Code marked "signal-safe" runs in the CR_SIGNUM handler or in a child made with
 * clone(): no malloc, no stdio, no locks, only system calls and atomics. */
#ifndef CREST_LIBCR_LIB_H
#define CREST_LIBCR_LIB_H

#include "libcr/ctl.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define LIBCR_KIND_FULL 1
#define LIBCR_KIND_RUN 2
#define LIBCR_KIND_OMIT 3

/* The control block of this library (ctl.c). */
extern struct crctl crest_ctl;

/* ---- sys.c: system calls and waiting, all signal-safe ---- */

pid_t lib_gettid(void);
/* FUTEX_WAIT_PRIVATE on *addr while it holds val, at most ms milliseconds (< 0: no
 * limit). Returns 0 when woken or the value differs, -ETIMEDOUT, -EINTR. */
int lib_futex_wait(uint32_t *addr, uint32_t val, int ms);
void lib_futex_wake(uint32_t *addr);
/* CR_SIGNUM to thread tid of this process, carrying the request's cookie. */
int lib_signal_thread(pid_t tid, uint64_t cookie);
/* rt_sigaction() as the kernel takes it (8-byte masks). Returns 0 or -errno. */
int lib_ksigaction(int sig, const struct crctl_ksa *act, struct crctl_ksa *old);
/* Field 22 of /proc/PID/stat (start time in clock ticks); pid 0: this process. 0 if
 * unknown. */
uint64_t lib_start_time(pid_t pid);
/* Fill tids with this process's thread ids (at most max). Returns the count or
 * -errno. */
int lib_list_threads(pid_t *tids, int max);
/* Whether thread tid of this process still exists. */
bool lib_thread_alive(pid_t tid);
/* Open /proc paths with O_CLOEXEC and a number of 3 or more. */
int lib_fd_high(int fd);

/* The handshake, common to every kind (docs/libcr.md): */
/* Put back the application's CR_SIGNUM disposition if the engine replaced it. */
void lib_restore_app_sa(void);
/* Answer the engine: write the vote and phase VOTED, wake waiters. */
void lib_vote(int vote);
/* Wait for the engine's word on the request. Returns 0 (continue), > 0 (restarted:
 * the restarter's pid) or < 0 (-errno / -CR_E*: no checkpoint). tick, if set, is
 * called every few hundred milliseconds while the library itself still runs the
 * request (phase RUNNING). */
int lib_wait_final(void (*tick)(void));
/* The request is over in this process: phase IDLE, then the signal the engine asked
 * for. */
void lib_finish(void);

/* ---- cb.c (libcr.so only) ---- */

/* A genuine request signal (the cookie matched) arrived in this thread. */
void cb_handle(void);
/* In a child of fork(): forget everything of the parent's registrations. */
void cb_fork_child(void);
/* Count of CR_SIGNUM deliveries that did work, so that waits can tell an EINTR of
 * their own checkpoint from another signal. */
extern uint32_t cb_handled;
/* Bumped each time this process finds itself restarted from a context. */
extern uint32_t cb_restart_gen;

/* ---- spawn.c (libcr.so only) ---- */

struct spawn_req {
	const char *path;
	char *const *argv;
	char *const *envp;
	int dest_fd;   /* checkpoint: becomes fd 3 of the tool; -1 for none */
	int res_w;     /* result pipe, write end: fd 4 of a checkpoint tool; a restart
			* tool gets it at the same number */
	int log_w;     /* the tool's stderr; -1: keep ours */
	bool detached; /* checkpoint: new session, not our descendant, reported by a waiter */
};
/* Start a tool as spawn_req says. detached: returns 0 (the waiter reports the tool's
 * status on res_w, then the log); else returns the pid of the tool, our child with no
 * exit signal (wait for it with __WALL). -errno on failure. */
pid_t spawn_tool(const struct spawn_req *sr);
#define SPAWN_DEST_FD 3
#define SPAWN_RES_FD 4
/* cr_restart's result descriptor is the lowest number from this one up that is free
 * in the requester: cr_restart lends the requester's descriptors to the restored
 * processes by number, and moves this one off its number before it restores anything
 * (a high one, which its own files are unlikely to take after it). */
#define SPAWN_RES_FD_RESTART 1000

/* ---- req.c ---- */

void req_fork_child(void);

/* ---- misc.c ---- */

/* The path of a crest tool (cr_checkpoint, cr_restart): $CR_CHECKPOINT-style
 * variables, then next to this library (../bin), the install prefix, $PATH. */
int find_tool(const char *name, char *buf, size_t len);

#endif
