/* fdkind.h: one kind of open file (what a descriptor refers to).
 *
 * files.c owns the descriptor tables: it lists a process's descriptors, groups those
 * that share an open file description (kcmp), asks each kind in turn whether a
 * description is its own, writes and reads the common fields, and at restart plans
 * every descriptor of the new process. Everything particular to a kind — what to
 * save, how to make it again — is in that kind's module, state/fd_KIND.c, which
 * keeps its own data in file_img.kd.
 *
 * A new kind is one file, one line in the table in files.c and a value in
 * enum file_kind (model.h). */
#ifndef CREST_FDKIND_H
#define CREST_FDKIND_H

#include "state.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

struct buf;
struct wire_rd;
struct out;

/* The kernel always sets O_LARGEFILE on 64-bit; glibc defines it as 0 there. */
#define KERNEL_O_LARGEFILE 0100000
/* Open flags that belong to the open file description and are given to open(). */
#define REOPEN_FLAGS                                                                          \
	(O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | O_SYNC | O_DSYNC | O_PATH |  \
	 O_DIRECTORY | KERNEL_O_LARGEFILE | O_NOFOLLOW)

/* One descriptor of the process being checkpointed, as /proc shows it. */
struct fd_scan {
	int fd;
	char link[MODEL_MAX_PATH]; /* readlink of /proc/PID/fd/N */
	struct stat st;            /* stat of it: the object */
	uint64_t pos;
	uint32_t flags; /* fdinfo flags, with O_CLOEXEC */
	char *fdinfo;   /* the whole /proc/PID/fdinfo/N text */
	uint32_t file;  /* index into m->files */
};

/* Returned by open() for a descriptor that is to stay closed (said in a kmsg line). */
#define FDKIND_CLOSED (-1000000)

struct fd_kind {
	uint32_t kind; /* enum file_kind */
	const char *name;

	/* ---- checkpoint ----
	 * claim: is s of this kind? 1 yes, 0 no, or -errno with err set (a kind it
	 * recognises but cannot save: the checkpoint fails, naming pid, fd and kind). */
	int (*claim)(struct dump_ctx *c, const struct fd_scan *s, struct err *err);
	/* Fill f; the common fields are set. Copies of the descriptor can be had
	 * with pidfd_getfd() on c->pidfd. */
	int (*collect)(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
		       struct err *err);
	/* Once every process of the checkpoint is collected: objects with parts in
	 * several descriptions or processes are matched up (pipe ends, socket pairs,
	 * epoll targets). Each file_img says where it was found (dump_pid, dump_fd). */
	int (*settle)(struct dump_all *all, struct err *err);
	/* The kind's data, after the common fields of the file record. */
	void (*encode)(const struct file_img *f, struct buf *b);

	/* ---- reading ---- decode reads what encode wrote (marking rd bad on any
	 * problem); check tests one file against the whole model. */
	int (*decode)(struct file_img *f, struct wire_rd *rd, struct err *err);
	int (*check)(const struct model *m, const struct file_img *f, struct err *err);

	/* ---- restart ----
	 * open: an open file description in cr_restart, for descriptor fdnum of the new
	 * process; returns an fd the caller then owns, FDKIND_CLOSED, or -errno.
	 * borrowed: set to true when the fd is not the caller's to close (cr_restart's
	 * own descriptor, given to an external one). */
	int (*open)(struct rst_ctx *c, const struct file_img *f, int fdnum, bool *borrowed,
		    struct err *err);
	/* In the new process of a session leader (--restore-sid), right after it made
	 * its session, before its children and its descriptors: once per kind, with
	 * what the kind made in cr_restart (open() for any process) still open as
	 * there; no allocation. */
	int (*session)(struct rst_ctx *c, struct err *err);
	/* In the new process, every descriptor installed; no allocation. */
	int (*child)(struct rst_ctx *c, const struct file_img *f, int fdnum, struct err *err);
	/* Through ptrace, once every process has joined its process group, while calls
	 * still run through crest's page (rst_ctx->rp->inj, scratch): once per kind and
	 * process. */
	int (*groups)(struct rst_ctx *c, struct err *err);
	/* Once the process is whole, from outside (rst_ctx->rp->pid). */
	int (*finish)(struct rst_ctx *c, const struct file_img *f, int fdnum, struct err *err);
	/* Per restart, after everything: free what open() kept. */
	void (*cleanup)(struct rst_ctx *c);

	/* ---- cr_info ---- */
	void (*describe)(const struct file_img *f, struct out *o);
};

/* What an external descriptor was, for messages and the dangling-pipe rule. */
enum ext_kind {
	EXT_TTY = 1,
	EXT_PIPE_R,
	EXT_PIPE_W,
	EXT_SOCKET,
	EXT_OTHER,
};

/* Make f an external descriptor of that sort (fd_pipe.c, for a dangling pipe end). */
int fd_external_mark(struct file_img *f, uint32_t ext);
/* "terminal", "socket", "pipe-read"...; NULL if f is not external. */
const char *fd_external_what(const struct file_img *f);

extern const struct fd_kind fd_reg_kind, fd_chr_kind, fd_pipe_kind, fd_external_kind;
extern const struct fd_kind fd_eventfd_kind, fd_signalfd_kind, fd_timerfd_kind, fd_epoll_kind,
	fd_inotify_kind;
extern const struct fd_kind fd_memfd_kind, fd_deleted_kind, fd_fifo_kind;
extern const struct fd_kind fd_unix_kind;
extern const struct fd_kind fd_pty_kind;

const struct fd_kind *fdkind_find(uint32_t kind);

/* A descriptor wholly inside the checkpoint that crest cannot rebuild: the
 * checkpoint fails with ENOTSUP, naming the process, the descriptor and the kind. */
int fdkind_unsupported(struct dump_ctx *c, int fd, const char *kind, const char *link,
		       struct err *err);

/* A copy of the descriptor f was found at, through that process's pidfd; -errno. */
int fdkind_copy_fd(struct dump_all *all, const struct file_img *f);
/* The context of the process f was found in. */
struct dump_ctx *fdkind_dump_ctx(struct dump_all *all, const struct file_img *f);

/* Give f kind data of size n, zeroed, freed with the model; NULL if out of memory. */
void *fdkind_data(struct file_img *f, size_t n);

/* The descriptor number of file f in the process being restored (its first), or -1. */
int fdkind_first_fd(const struct proc_img *p, uint32_t file_id);

/* Kind state kept for one restart (e.g. pipes made, by pipe), freed by cleanup. */
void **fdkind_rst_state(struct rst_ctx *c, uint32_t kind);

#endif
