/*
 * libcr.h: the checkpoint/restart library interface of BLCR, as crest provides it
 * (crest's own text; BLCR's names, values, signatures and layouts).
 *
 * Link with -lcr (-lcr -u cr_link_me for static or --as-needed links). The manual
 * page libcr(3) describes each function; docs/libcr.md how crest implements them.
 *
 * In short: a thread calls cr_init() before any other call. Callbacks registered with
 * cr_register_callback() run when a checkpoint of the process is taken; each calls
 * cr_checkpoint(), which returns 0 in the process that continues, a positive value in
 * a copy restarted from the context file, or a negative error when the checkpoint
 * failed. Critical sections (cr_enter_cs/cr_leave_cs) hold checkpoints off.
 * cr_request_checkpoint() and cr_request_restart() ask for a checkpoint or a restart
 * and give a handle to wait on.
 */
#ifndef _CRLIB_H
#define _CRLIB_H 1

#include <features.h>
#include <sys/select.h>
#include <errno.h>
#include <blcr_common.h>

__BEGIN_DECLS

/* Versions of the argument structures, so that the library can tell what a caller
 * compiled against an older header knows about. */
typedef int cr_version_t;
#define CR_CHECKPOINT_ARGS_VERSION 1
#define CR_RESTART_ARGS_VERSION 1

/* At most this many callbacks. */
#define CR_MAX_CALLBACKS 0x1FFFFFF

typedef int (*cr_callback_t)(void *);
typedef int cr_client_id_t;   /* from cr_init(), for the critical section calls */
typedef int cr_callback_id_t; /* from cr_register_callback() */
typedef unsigned int cr_spinlock_t;

/* What a checkpoint callback may learn of the request (cr_get_checkpoint_info()). */
struct cr_checkpoint_info {
	int signal;       /* sent once the checkpoint is taken; 0 for none */
	const char *dest; /* absolute path of the context file; "" if not in a file system */
	pid_t requester;  /* the process that asked */
	pid_t target;     /* the id it gave */
	cr_scope_t scope; /* and what it covers */
};

/* What a restart callback may learn (cr_get_restart_info()). */
struct cr_restart_info {
	pid_t requester; /* the process doing the restart */
	const char *src; /* absolute path of the context file read */
};

/* cr_status(). */
enum { CR_STATE_IDLE, CR_STATE_PENDING, CR_STATE_ACTIVE };

/* A checkpoint request: fill it with cr_initialize_checkpoint_args_t() first. */
typedef struct cr_checkpoint_args {
	cr_version_t cr_version;
	cr_scope_t cr_scope;   /* must be set */
	pid_t cr_target;       /* 0: the caller's own process, group or session */
	int cr_fd;             /* where the context goes; must be set */
	int cr_signal;         /* sent afterwards; 0 for none */
	unsigned int cr_timeout; /* seconds; 0 for no limit */
	unsigned int cr_flags; /* CR_CHKPT_* */
} cr_checkpoint_args_t;

/* A restart request: fill it with cr_initialize_restart_args_t() first. */
typedef struct cr_restart_args {
	cr_version_t cr_version;
	int cr_fd;             /* the context; must be set */
	int cr_signal;         /* sent afterwards; 0 for none */
	unsigned int cr_flags; /* CR_RSTRT_* */
	struct cr_rstrt_relocate *cr_relocate; /* NULL for none */
} cr_restart_args_t;

typedef unsigned long cr_checkpoint_handle_t;
typedef unsigned long cr_restart_handle_t;

/* Where a callback runs (flags of cr_register_callback() and friends). */
#define CR_THREAD_CONTEXT 0x4000000 /* in a thread of the library, signals blocked */
#define CR_SIGNAL_CONTEXT 0x2000000 /* in the registering thread's signal handler */

/* The client id to use inside callbacks. */
#define CR_ID_CALLBACK ((cr_client_id_t)(-1))

#define CR_SPINLOCK_INITIALIZER 0U

/* When a hook runs (cr_register_hook()). */
typedef enum {
	CR_HOOK_CONT_SIGNAL_CONTEXT = 0, /* continuing, in a thread that called cr_init() */
	CR_HOOK_CONT_THREAD_CONTEXT,     /* continuing, in the library's callback thread */
	CR_HOOK_CONT_NO_CALLBACKS,       /* continuing, in a thread that never called cr_init() */
	CR_HOOK_RSTRT_SIGNAL_CONTEXT,    /* the same three after a restart */
	CR_HOOK_RSTRT_THREAD_CONTEXT,
	CR_HOOK_RSTRT_NO_CALLBACKS,
	CR_NUM_HOOKS
} cr_hook_event_t;

typedef void (*cr_hook_fn_t)(cr_hook_event_t);
#define CR_HOOK_FN_ERROR ((cr_hook_fn_t)(~0UL))

/* Scopes of cr_hold_ctrl(). */
enum { CR_HOLD_SCOPE_THREAD, CR_HOLD_SCOPE_INIT, CR_HOLD_SCOPE_UNINIT };

/* Results of the poll calls besides 0 (not done yet) and success. */
#define CR_POLL_CHKPT_ERR_PRE -1  /* waiting failed */
#define CR_POLL_CHKPT_ERR_POST -2 /* the request failed (errno says why) */
#define CR_POLL_CHKPT_ERR_LOG -3  /* its messages could not be fetched */
#define CR_POLL_RSTRT_ERR_PRE -1
#define CR_POLL_RSTRT_ERR_POST -2
#define CR_POLL_RSTRT_ERR_LOG -3

/* ---- setup ---- */

/* Register the calling thread; returns a client id >= 0, or < 0 on failure. */
extern cr_client_id_t cr_init(void);

/* Fill request arguments with their defaults (use the macros, not the functions). */
#define cr_initialize_checkpoint_args_t(p) cri_init_checkpoint_args_t(CR_CHECKPOINT_ARGS_VERSION, (p))
#define cr_initialize_restart_args_t(p) cri_init_restart_args_t(CR_RESTART_ARGS_VERSION, (p))
extern int cri_init_checkpoint_args_t(cr_version_t version, cr_checkpoint_args_t *args);
extern int cri_init_restart_args_t(cr_version_t version, cr_restart_args_t *args);

/* ---- checkpoint requests ---- */

extern int cr_request_checkpoint(cr_checkpoint_args_t *args, cr_checkpoint_handle_t *handle);
/* Inside a callback, before cr_checkpoint(): add processes to the running request. */
extern int cr_forward_checkpoint(cr_scope_t cr_scope, pid_t cr_target);
/* > 0 done, 0 not yet (timeout), < 0 the wait failed. */
extern int cr_wait_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *timeout);
/* The request's messages: returns the size they need, NUL included. */
extern int cr_log_checkpoint(cr_checkpoint_handle_t *handle, unsigned int len, char *msg);
/* 0 on success, else -1 with errno (EAGAIN: not done; CR_ERESTARTED: restarted copy). */
extern int cr_reap_checkpoint(cr_checkpoint_handle_t *handle);
extern int cr_poll_checkpoint_msg(cr_checkpoint_handle_t *handle, struct timeval *timeout,
				  char **msg_p);
extern int cr_poll_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *timeout);

/* ---- restart requests ---- */

extern int cr_request_restart(cr_restart_args_t *args, cr_restart_handle_t *handle);
extern int cr_wait_restart(cr_restart_handle_t *handle, struct timeval *timeout);
extern int cr_log_restart(cr_restart_handle_t *handle, unsigned int len, char *msg);
/* The pid of the first restored process whose parent is the caller (0 if none). */
extern int cr_reap_restart(cr_restart_handle_t *handle);
extern int cr_poll_restart_msg(cr_restart_handle_t *handle, struct timeval *timeout,
			       char **msg_p);
extern int cr_poll_restart(cr_restart_handle_t *handle, struct timeval *timeout);

/* ---- callbacks ---- */

extern cr_callback_id_t cr_register_callback(cr_callback_t func, void *arg, int flags);
extern int cr_replace_callback(cr_callback_id_t id, cr_callback_t func, void *arg, int flags);
extern int cr_replace_self(cr_callback_t func, void *arg, int flags);
/* Inside a callback: 0 continuing, > 0 restarted, < 0 the checkpoint failed. */
extern int cr_checkpoint(int flags);
extern const struct cr_checkpoint_info *cr_get_checkpoint_info(void);
extern const struct cr_restart_info *cr_get_restart_info(void);

/* ---- critical sections and status ---- */

extern int cr_enter_cs(cr_client_id_t id);
extern int cr_tryenter_cs(cr_client_id_t id);
extern int cr_leave_cs(cr_client_id_t id);
extern int cr_status(void);

/* ---- hooks, hold, persistence ---- */

extern cr_hook_fn_t cr_register_hook(cr_hook_event_t event, cr_hook_fn_t hook_fn);
extern int cr_hold_ctrl(int scope, int flags);
extern int cr_inc_persist(void);
extern int cr_dec_persist(void);

/* ---- other ---- */

extern void cr_spinlock_init(cr_spinlock_t *x);
extern void cr_spinlock_lock(cr_spinlock_t *x);
extern void cr_spinlock_unlock(cr_spinlock_t *x);
extern int cr_spinlock_trylock(cr_spinlock_t *x);

extern const char *cr_strerror(int errnum);

/* Checkpoint the calling process; kept for old programs. */
extern void cr_request(void) _CR_DEPRECATED;
extern void cr_request_file(const char *filename) _CR_DEPRECATED;
extern void cr_request_fd(int fd) _CR_DEPRECATED;

__END_DECLS

#endif
