/* model.h: the in-memory description of a checkpoint.
 *
 * Dump fills it, the image writer serializes it, the reader rebuilds it, restore
 * consumes it and cr_info prints it. Page contents are not held here: the writer
 * streams them from the frozen target, and the reader keeps only where they lie in the
 * context file (struct page_run). */
#ifndef CREST_MODEL_H
#define CREST_MODEL_H

#include "arch/x86_64/arch.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MODEL_NSIG 64
#define MODEL_NRLIMIT 16
#define MODEL_COMM_LEN 16
#define MODEL_MAX_PATH 4096
#define SIGINFO_SIZE 128

/* What the request asked for (BLCR's scope and flags). */
struct req_info {
	uint32_t scope;  /* CR_SCOPE_* */
	int32_t target;  /* the ID given to cr_checkpoint */
	uint32_t flags;  /* CR_CHKPT_* save flags */
};

/* The header: where and how the context was made. */
struct img_meta {
	uint32_t format_version;
	uint32_t arch;        /* ELF machine */
	uint32_t page_size;
	uint32_t xstate_size; /* NT_X86_XSTATE size on the checkpointing CPU */
	uint64_t xcr0;
	uint64_t time_ns;     /* CLOCK_REALTIME at the checkpoint */
	char kernel[65];      /* uname release */
	char host[65];        /* uname nodename */
	char version[32];     /* crest release that wrote it */
	struct req_info req;
};

enum vma_kind {
	VMA_ANON = 1,    /* private anonymous: contents saved */
	VMA_FILE,        /* file mapping: by reference, dirty private pages saved */
	VMA_FILE_SAVED,  /* file mapping saved by contents (deleted file, --save-*) */
	VMA_SHANON,      /* shared anonymous (shmem): contents saved */
	VMA_VVAR,        /* [vvar]: location only */
	VMA_VVAR_VCLOCK, /* [vvar_vclock]: location only */
	VMA_VDSO,        /* [vdso]: location only */
	VMA_SYSVSHM,     /* System V shared memory attached whole: ino is its id (state/sysvipc.c) */
	VMA_KIND_MAX,
};

/* Flags kept from VmFlags that restore re-applies with madvise/mlock. */
enum vma_adv {
	VADV_DONTFORK = 1 << 0,
	VADV_DONTDUMP = 1 << 1,
	VADV_HUGEPAGE = 1 << 2,
	VADV_NOHUGEPAGE = 1 << 3,
	VADV_MERGEABLE = 1 << 4,
	VADV_WIPEONFORK = 1 << 5,
	VADV_LOCKED = 1 << 6,
	VADV_SEQ = 1 << 7,
	VADV_RAND = 1 << 8,
	VADV_GROWSDOWN = 1 << 9,
	VADV_MAYSHARE = 1 << 10,
	VADV_LOCKONFAULT = 1 << 11,
	VADV_MAYWRITE = 1 << 12,
	VADV_NORESERVE = 1 << 13, /* no swap space accounted (MAP_NORESERVE) */
	VADV_ALL = (1 << 14) - 1,
};

struct vma_img {
	uint64_t start, end;
	uint64_t pgoff;  /* in bytes */
	uint32_t prot;   /* PROT_* */
	uint32_t shared; /* 1 for MAP_SHARED */
	uint32_t kind;   /* enum vma_kind */
	uint32_t adv;    /* enum vma_adv */
	char *path;      /* file mappings: canonical path; else NULL */
	uint64_t dev, ino;
	uint64_t file_size;
	int64_t mtime_ns;
	uint64_t pages_saved; /* pages of this area whose contents are in the image */
};

/* A run of saved pages: npages pages at vaddr, stored at file_off in the context. */
struct page_run {
	uint64_t vaddr;
	uint64_t npages;
	uint64_t file_off;
};

/* A stretch of the context file whose CRC restart checks while it loads memory. */
struct img_span {
	uint64_t off, len;
	uint32_t crc;
};

struct mm_img {
	uint64_t start_code, end_code, start_data, end_data;
	uint64_t start_brk, brk, start_stack;
	uint64_t arg_start, arg_end, env_start, env_end;
	uint8_t *auxv;
	uint32_t auxv_len;
	uint64_t vdso_crc; /* CRC of [vdso]'s text, which must be the same at restart */
	uint64_t vdso_len;
};

struct siginfo_img {
	uint8_t raw[SIGINFO_SIZE]; /* siginfo_t as the kernel gives it */
};

struct thread_img {
	pid_t tid;
	struct arch_regs regs;
	uint8_t *xstate;
	uint32_t xstate_len;
	uint64_t sigmask;
	struct siginfo_img *pending;
	uint32_t npending;
	uint64_t rseq_addr;
	uint32_t rseq_len, rseq_sig;
	uint64_t tid_address; /* clear_child_tid */
	uint64_t robust_head, robust_len;
	uint64_t altstack_sp, altstack_size;
	int32_t altstack_flags;
	char comm[MODEL_COMM_LEN];
	int32_t sched_policy, sched_prio; /* reserved: 0 */
	int32_t syscall_nr;               /* -1 when stopped in user code */
};

struct sigaction_img {
	uint64_t handler, flags, restorer, mask;
};

struct itimer_img {
	int64_t interval_us, value_us;
};

struct ptimer_img {
	int32_t id;
	int32_t clockid;
	int32_t notify; /* SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID */
	int32_t signo;
	uint64_t sigval;
	int32_t notify_tid;
	int32_t overrun;
	int64_t interval_ns, value_ns;
};

struct creds_img {
	uint32_t uid[4], gid[4]; /* real, effective, saved, fs */
	uint32_t ngroups;
	uint32_t *groups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	uint32_t securebits;
};

enum proc_flags {
	PROC_STOPPED = 1 << 0, /* in group stop when checkpointed */
	PROC_ZOMBIE = 1 << 1,  /* exited, not yet waited for: only its process record */
};

struct rlimit_img {
	uint64_t cur, max;
};

struct fd_img {
	int32_t fd;
	uint32_t cloexec;
	uint32_t file_id; /* struct file_img.id */
};

/* A file lock the process held, taken through one of its open file descriptions. */
enum lock_kind {
	LOCK_FLOCK = 1, /* flock(): the description's */
	LOCK_POSIX = 2, /* fcntl(F_SETLK): the process's */
	LOCK_OFD = 3,   /* fcntl(F_OFD_SETLK): the description's */
};

struct lock_img {
	uint32_t file_id;
	uint32_t kind;       /* enum lock_kind */
	uint32_t type;       /* F_RDLCK, F_WRLCK */
	uint64_t start, len; /* bytes; len 0: to the end of the file, however long */
};

struct proc_img {
	pid_t pid, ppid, pgid, sid;
	uint32_t flags;
	int32_t exit_signal;
	int32_t exit_status; /* a zombie's wait status */
	char comm[MODEL_COMM_LEN];
	char *exe;
	char *cwd;
	uint32_t umask;
	uint32_t personality;
	int32_t nice;
	int32_t oom_score_adj;
	int32_t dumpable;
	int32_t pdeathsig;
	int32_t no_new_privs;
	int32_t child_subreaper;
	int32_t thp_disable;
	uint64_t timer_slack_ns;
	uint64_t cpus_allowed[16]; /* affinity, up to 1024 CPUs */
	struct creds_img creds;
	struct rlimit_img rlim[MODEL_NRLIMIT];
	struct mm_img mm;

	struct vma_img *vmas;
	uint32_t nvmas;
	struct page_run *runs; /* filled by the reader */
	uint32_t nruns, cap_runs;

	struct thread_img *threads;
	uint32_t nthreads;

	struct sigaction_img sigact[MODEL_NSIG];
	struct siginfo_img *shpending;
	uint32_t nshpending;

	struct itimer_img itimer[3];
	struct ptimer_img *ptimers;
	uint32_t nptimers;

	struct fd_img *fds;
	uint32_t nfds;

	struct lock_img *locks; /* state/locks.c */
	uint32_t nlocks;
};

/* The kinds of open file, each handled by a module state/fd_*.c (see fdkind.h). The
 * values are stored in contexts: never renumber, only add. */
enum file_kind {
	FILE_REG = 1,      /* regular file, directory or O_PATH, reopened by path */
	FILE_CHR = 2,      /* a character device reopened by path (/dev/null, /dev/tty...) */
	FILE_PIPE = 3,     /* one end of a pipe whose both ends are in the checkpoint */
	FILE_EXTERNAL = 4, /* leads outside: bound at restart to cr_restart's descriptor */
	FILE_EVENTFD = 5,  /* eventfd: value and semaphore mode */
	FILE_SIGNALFD = 6, /* signalfd: its signal mask */
	FILE_TIMERFD = 7,  /* timerfd: clock, time left, interval, expirations not read */
	FILE_EPOLL = 8,    /* epoll instance with its targets */
	FILE_INOTIFY = 9,  /* inotify instance with its watches */
	FILE_MEMFD = 10,   /* memfd: name, seals, contents (state/fsaved.h) */
	FILE_DELETED = 11, /* regular file deleted while open, or saved for a mapping: contents */
	FILE_FIFO = 12,    /* named FIFO reopened by path, with the data in it */
	FILE_UNIX = 14,    /* unix socket wholly inside the checkpoint, with its queue */
	FILE_PTY = 15,     /* pseudo-terminal whose master is in the checkpoint (master or slave) */
	FILE_KIND_MAX = 32,
};

/* An open file description, shared by every descriptor that refers to it. What all
 * kinds have is here; the rest is the kind's own (kd). */
struct file_img {
	uint32_t id;
	uint32_t kind;  /* enum file_kind */
	uint32_t flags; /* O_* status flags (no O_CLOEXEC) */
	uint32_t mode;  /* st_mode */
	uint64_t pos;
	uint64_t size;  /* regular files: size at checkpoint */
	uint64_t dev, ino, rdev;
	char *path;
	void *kd;                /* the kind's own data */
	void (*kd_free)(void *); /* how to free it */
	/* checkpoint only, not saved: a process and descriptor it was found at */
	pid_t dump_pid;
	int dump_fd;
	uint64_t dump_key; /* checkpoint only: files.c's description key (desc_key()) */
};

struct model {
	struct img_meta meta;
	struct proc_img *procs;
	uint32_t nprocs;
	struct file_img *files;
	uint32_t nfiles;
	struct img_span *spans; /* page data to verify while restoring */
	uint32_t nspans, cap_spans;
	void *sysvipc;                /* state/sysvipc.c: the System V objects */
	void (*sysvipc_free)(void *);
};

struct model *model_new(void);
void model_free(struct model *m);
/* Grow an array by one zeroed element; returns it or NULL. */
void *model_grow(void **arr, uint32_t *n, size_t elsize);
struct proc_img *model_find_proc(struct model *m, pid_t pid);
struct file_img *model_find_file(struct model *m, uint32_t id);
int model_add_run(struct proc_img *p, uint64_t vaddr, uint64_t npages, uint64_t file_off);
int model_add_span(struct model *m, uint64_t off, uint64_t len, uint32_t crc);

#endif
