/* ctl.h: the control block through which cr_checkpoint and cr_restart talk to the
 * libcr of a process (docs/libcr.md).
 *
 * Each of libcr.so, libcr_run.so and libcr_omit.so holds one struct crctl in its data
 * and an ELF note (owner "crest", type CRCTL_NOTE_TYPE) in its first, read-only
 * segment. The note's descriptor is {u32 version, u32 zero, s64 offset}: the control
 * block lies at offset bytes from the address of that offset field. The engine finds
 * the library in /proc/PID/maps, reads the note from the process's memory, and from
 * then on reads and writes the block with /proc/PID/mem.
 *
 * Who writes what: the engine writes the request fields and then `phase` =
 * CRCTL_REQUESTED while it holds the process frozen; the library answers in `vote`
 * and `phase` = CRCTL_VOTED; the engine writes `result`, `final_signal` and then the
 * final `phase` while the process is frozen again, so that threads waiting on `phase`
 * with FUTEX_WAIT see the new value as soon as they run. Only the layout of version 1
 * is ever read: fields are added at the end and `size` grows. */
#ifndef CREST_LIBCR_CTL_H
#define CREST_LIBCR_CTL_H

#include <stddef.h>
#include <stdint.h>

#define CRCTL_MAGIC 0x4c54435453455243ull /* "CRESTCTL" */
#define CRCTL_VERSION 1
#define CRCTL_NOTE_OWNER "crest"
#define CRCTL_NOTE_TYPE 0x43520001u
#define CRCTL_SIGNUM 64
#define CRCTL_PATH_MAX 4096
#define CRCTL_MAX_FWD 16

enum crctl_kind {
	CRCTL_FULL = 1, /* libcr.so: callbacks, critical sections, hooks */
	CRCTL_RUN = 2,  /* libcr_run.so: takes part, nothing to run */
	CRCTL_OMIT = 3, /* libcr_omit.so: always left out */
};

enum crctl_phase {
	CRCTL_IDLE = 0,      /* no request */
	CRCTL_REQUESTED = 1, /* engine: request written, CR_SIGNUM on its way */
	CRCTL_RUNNING = 2,   /* library: the checkpoint callbacks run */
	CRCTL_VOTED = 3,     /* library: every thread waits; `vote` holds the answer */
	CRCTL_CONTINUE = 4,  /* engine: the context is written; carry on */
	CRCTL_RESTARTED = 5, /* engine (restart): this is a copy restarted from a context */
	CRCTL_ABORTED = 6,   /* engine or library: no checkpoint; `result` says why */
};

/* A signal disposition as the kernel's rt_sigaction() takes it. */
struct crctl_ksa {
	uint64_t handler;
	uint64_t flags;
	uint64_t restorer;
	uint64_t mask;
};

struct crctl_fwd {
	int32_t scope;
	int32_t target;
};

struct crctl {
	uint64_t magic;
	uint32_t version;
	uint32_t size;
	uint32_t kind;        /* enum crctl_kind */
	uint32_t superseded;  /* another crest library of the process took over */
	uint32_t phase;       /* enum crctl_phase; the futex word */
	int32_t vote;         /* CR_CHECKPOINT_* flags, with a code in the high bits */
	int32_t result;       /* engine: 0, restarter's pid (> 0), or -errno / -CR_E* */
	int32_t final_signal; /* sent by the library once all its callbacks are done */
	uint64_t cookie;      /* CR_SIGNUM must carry it as si_value (SI_QUEUE) */
	/* the request, as cr_get_checkpoint_info() gives it */
	int32_t requester;
	int32_t target;
	int32_t scope;
	int32_t signal;
	int32_t engine; /* the process running the engine (to see whether it died) */
	uint32_t pad0;
	uint64_t engine_start;   /* its start time (/proc/PID/stat field 22) */
	uint64_t own_start;      /* the library's process start time when it voted */
	struct crctl_ksa own_sa; /* libcr's CR_SIGNUM disposition */
	struct crctl_ksa app_sa; /* the application's, while the engine put libcr's back */
	uint32_t app_sa_saved;
	uint32_t nfwd;
	struct crctl_fwd fwd[CRCTL_MAX_FWD]; /* cr_forward_checkpoint() scopes */
	char dest[CRCTL_PATH_MAX];           /* checkpoint: the context file */
	char src[CRCTL_PATH_MAX];            /* restart: the context file */
	/* restart through libcr: the requester, whose child this process becomes once
	 * cr_restart has exited; the library waits for that before anything else. */
	int32_t reparent;
	uint32_t pad1;
};

/* The note's descriptor. */
struct crctl_note_desc {
	uint32_t version;
	uint32_t zero;
	int64_t offset; /* control block - &offset */
};

#define CRCTL_OFF(field) ((uint64_t)offsetof(struct crctl, field))

#endif
