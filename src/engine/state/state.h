/* state.h: the interface every kind of state implements, and the contexts they get.
 *
 * A module collects its state from a frozen process into the model, encodes it as
 * records, decodes and checks those records, restores the state into a new process,
 * and describes it for cr_info. The table in state.c lists the modules in restore
 * order; checkpoint.c and restart.c only walk it. */
#ifndef CREST_STATE_H
#define CREST_STATE_H

#include "../inject.h"
#include "../model.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct err;
struct img_writer;
struct img_rec;
struct img_reader;
struct seize_set;
struct out;
struct dump_mem;

/* The whole checkpoint: every process's context, in the model's order. */
struct dump_all {
	struct model *m;
	struct dump_ctx *pc;
	uint32_t n;
	int dest_fd; /* where the context goes: a process's descriptor of it is not saved */
};

/* Checkpoint of one frozen process. */
struct dump_ctx {
	struct dump_all *all;
	struct model *m;
	struct proc_img *p;
	struct seize_set *seized;
	struct injector inj; /* the leader, for calls that are per process */
	uint64_t gadget;     /* a syscall instruction in the target */
	uint64_t scratch;    /* memory mapped in the target for injected calls' data */
	uint64_t scratch_len;
	uint64_t code;       /* the batch code there (inject_batch()); 0: none */
	int memfd;           /* /proc/PID/mem */
	int pidfd;
	uint32_t save_flags; /* CR_CHKPT_DUMP_* */
	struct dump_mem *mem; /* memory.c's: which pages to stream at encode time */
};
/* In the scratch area: a batch's table at scratch, what its calls write after it. */
#define DUMP_BATCH_OUT(c) ((c)->scratch + INJECT_BATCH_MAX * sizeof(struct inject_call))


/* A descriptor as restart prepares it: parent_fd (in cr_restart) becomes child_fd. */
struct fd_move {
	int parent_fd;
	int child_fd;
	bool owned;
	bool cloexec;
	int tmp; /* used while the new process installs it */
};

/* Restart of one process. */
struct rst_proc {
	struct proc_img *p;
	pid_t pid;            /* the new process's pid (the saved one unless --no-restore-pid) */
	pid_t *tids;          /* new tid of each saved thread, leader first */
	/* The same as the process sees them: calls run inside it take these. They differ
	 * from pid and tids (what cr_restart's ptrace and /proc use) only inside a new
	 * pid namespace (--pidns). */
	pid_t vpid;
	pid_t *vtids;
	int memfd;            /* /proc/PID/mem of the new process */
	struct injector inj;  /* the leader */
	uint64_t tramp;       /* [code page][scratch] mapped in the new process */
	uint64_t tramp_len;
	uint64_t scratch;
	uint64_t scratch_len;
	uint64_t gadget;      /* syscall instruction currently usable in it */
	struct fd_move *moves; /* descriptors the new process starts with */
	uint32_t nmoves, cap_moves;
	int keep_base;        /* child fds >= this are crest's own, closed at the end */
	int nkeep;
	int exe_child_fd;     /* for PR_SET_MM_MAP; -1 if none */
	int *vma_fd;          /* memory.c: child fd of each file mapping */
	bool stopped_after;   /* leave it stopped (saved state or --stop) */
	int parent;           /* index of the process that makes it; -1: cr_restart */
	int status_r;         /* cr_restart's end of its status pipe */
	int status_w;         /* the new process's end, as cr_restart holds it */
	int status_child_fd;  /* the same, once its descriptors are installed */
};

/* --relocate OLD=NEW pairs, in command-line order (the first match applies). */
struct rst_reloc {
	const char *from, *to;
};

struct rst_opts {
	bool restore_pid;
	bool restore_pgid;
	bool restore_sid;
	int signal; /* sent after restart, 0 for none */
	bool signal_early; /* --early-*: before libcr's restart callbacks run */
	bool pidns;   /* restore in a new pid namespace (and mount namespace, for /proc) */
	const struct rst_reloc *relocs;
	size_t nrelocs;
};

struct rst_ctx {
	struct model *m;
	const struct rst_opts *opts;
	int img_fd;            /* seekable context (the file, or a spooled copy) */
	const uint8_t *img_map; /* all of it, mapped read-only */
	uint64_t img_len;
	const char *img_name;
	struct rst_proc *rp;   /* the process being restored */
	struct rst_proc *all;  /* every process, in the model's order */
	uint32_t n;
	int zombie_pipe[2];    /* zombies exit when its write end closes */
	pid_t init_pid;        /* --pidns: the namespace's init, as cr_restart sees it */
	int init_status[2];    /* its reports */
	int result[2];         /* its last word: the eldest's wait status */
	void *fdk_state[32];   /* per kind of open file, for this restart (fdkind.h) */
	int *file_fd;          /* files.c: cr_restart's fd of each open file made */
	void *memory_state;    /* memory.c: shared memory made, for this restart */
};

/* Add a descriptor the new process must start with, at child_fd; child_fd < 0 asks
 * for one of crest's own numbers (returned), closed before the process runs. owned:
 * cr_restart closes parent_fd once the process has its copy. Returns the child's fd
 * number or -ENOMEM (parent_fd is then not taken). */
int rst_add_fd(struct rst_proc *rp, int parent_fd, int child_fd, bool owned, bool cloexec);
/* The path to use at restart for one saved in the context, after --relocate: saved
 * itself, or buf holding the relocated path. NULL (with err set, ENAMETOOLONG) if the
 * result does not fit in n bytes. Every path a module opens at restart goes through
 * here. */
const char *rst_path(const struct rst_ctx *c, const char *saved, char *buf, size_t n,
		     struct err *err);
/* Scratch memory in the new process: copy data there and get its address. */
int rst_scratch_put(struct rst_proc *rp, uint64_t off, const void *p, size_t n, uint64_t *addr,
		    struct err *err);

struct state_ops {
	const char *name;
	uint32_t recs[3]; /* record types it owns */

	/* checkpoint: live, frozen process -> model */
	int (*collect)(struct dump_ctx *c, struct err *err);
	/* once every process is collected: what spans processes (shared objects) */
	int (*settle_all)(struct dump_all *all, struct err *err);
	/* model -> records of one process */
	int (*encode)(struct dump_ctx *c, struct img_writer *w, struct err *err);
	/* model -> records of objects shared by processes, once, after every process */
	int (*encode_global)(struct model *m, struct img_writer *w, struct err *err);
	/* frees what collect kept outside the model, whatever happened */
	void (*dump_cleanup)(struct dump_ctx *c);
	/* one record -> model; checks every field */
	int (*decode)(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		      struct err *err);
	/* after the whole file: checks across records */
	int (*validate)(struct model *m, struct proc_img *p, struct err *err);

	/* restart, in table order: */
	int (*prepare)(struct rst_ctx *c, struct err *err); /* in cr_restart */
	/* in the new process of a session leader (--restore-sid), right after it made
	 * its session and before it makes its children, who inherit what it sets here
	 * (a controlling terminal); its descriptors are still cr_restart's; no malloc */
	int (*session)(struct rst_ctx *c, struct err *err);
	int (*child)(struct rst_ctx *c, struct err *err);   /* in the new process; no malloc */
	int (*restore)(struct rst_ctx *c, struct err *err); /* through ptrace */
	/* through ptrace, once every process has joined its process group
	 * (--restore-pgid), before crest leaves any: calls still run through its page */
	int (*groups)(struct rst_ctx *c, struct err *err);
	int (*finish)(struct rst_ctx *c, struct err *err);  /* after crest left the process */
	void (*cleanup)(struct rst_ctx *c);                 /* cr_restart side, any outcome */

	/* cr_info */
	void (*describe)(const struct model *m, const struct proc_img *p, struct out *o);
};

extern const struct state_ops *const state_table[];
extern const unsigned int state_count;
const struct state_ops *state_for_rec(uint32_t type);

extern const struct state_ops proc_ops, creds_ops, files_ops, memory_ops, threads_ops,
	signals_ops, timers_ops;
extern const struct state_ops fsaved_ops, locks_ops;

/* Helpers shared by modules for record payloads that start with the owner's pid. */
struct proc_img *state_rec_proc(struct model *m, struct wire_rd *rd, const struct img_rec *rec,
				const struct img_reader *r, struct err *err);

#endif
