/*
 * blcr_common.h: types and constants shared by BLCR's library and tools (crest's own
 * text; BLCR's names, values and layouts).
 *
 * Programs written for BLCR include <libcr.h>, which includes this file. Everything
 * here has the name, value and, on x86_64, the layout it has in BLCR 0.8.6, so that
 * such programs compile unchanged and programs built against BLCR run with crest's
 * libcr.so.0.
 */
#ifndef _BLCR_COMMON_H
#define _BLCR_COMMON_H 1

#include <sys/ioctl.h>
#include <sys/types.h>
#include <blcr_proc.h>

#if defined(__GNUC__) && ((__GNUC__ > 3) || ((__GNUC__ == 3) && (__GNUC_MINOR__ >= 2)))
#define _CR_DEPRECATED __attribute__((__deprecated__))
#else
#define _CR_DEPRECATED
#endif

/* The real-time signal that starts a checkpoint in a process (SIGRTMAX on x86_64). */
#define CR_SIGNUM 64

/* The release these headers describe: BLCR's major and minor release, crest's own
 * patch level and version string. */
#define CR_RELEASE_MAJOR 0
#define CR_RELEASE_MINOR 8
#define CR_RELEASE_PATCH 6
#define CR_RELEASE_VERSION "0.1.0"

/* The library interface: libcr.so.LIBCR_MAJOR. */
#define LIBCR_MAJOR 0
#define LIBCR_MINOR 5
#define LIBCR_PATCH 5
#define LIBCR_VERSION "0.5.5"

/* BLCR's kernel interface (crest has no module; kept for programs that print it). */
#define CR_MODULE_MAJOR 0
#define CR_MODULE_MINOR 10
#define CR_MODULE_PATCH 3
#define CR_MODULE_VERSION "0.10.3"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: CR_ETEMPFAIL (2354) ... CR_ENOINIT (2365), from blcr_errcodes.h. */
#define CR_ERROR_DEF(name, desc) name,
enum {
	CR_MIN_ERRCODE = 2353,
#include <blcr_errcodes.h>
	CR_MAX_ERRCODE
};
#undef CR_ERROR_DEF

typedef long cr_bool_t;

/* Formats of context file a request may ask for: only one. */
typedef enum {
	cr_format_vmadump = 0
} cr_format_t;

/* What a checkpoint request covers, from its target id. */
typedef enum {
	CR_SCOPE_PROC, /* the process that has the id as its pid (or one of its thread ids) */
	CR_SCOPE_PGRP, /* every process of process group id */
	CR_SCOPE_SESS, /* every process of session id */
	CR_SCOPE_TREE  /* the process id and all its descendants */
} cr_scope_t;

/* A callback's answer, passed to cr_checkpoint(). */
enum {
	CR_CHECKPOINT_READY = 0,        /* go ahead */
	CR_CHECKPOINT_TEMP_FAILURE = 1, /* cancel the whole request; everyone carries on */
	CR_CHECKPOINT_PERM_FAILURE = 2, /* cancel it and kill every process of it */
	CR_CHECKPOINT_OMIT = 4,         /* leave this process out; the others go ahead */
	_CR_CHECKPOINT_STUB = 0x4000    /* used inside the library only */
};
/* The same failures with a code (1..65535) that the requester gets as its errno. */
#define CR_CHECKPOINT_TEMP_FAILURE_CODE(v) (CR_CHECKPOINT_TEMP_FAILURE | ((v) << 16))
#define CR_CHECKPOINT_PERM_FAILURE_CODE(v) (CR_CHECKPOINT_PERM_FAILURE | ((v) << 16))
#define CR_CHECKPOINT_ABORT_MASK                                                              \
	(CR_CHECKPOINT_TEMP_FAILURE | CR_CHECKPOINT_PERM_FAILURE | CR_CHECKPOINT_OMIT)

/* cr_fd of a checkpoint request: one file per process in the requester's current
 * directory. Never implemented: requests with it fail with EINVAL. */
#define CR_DEST_CWD (-4096)

/* cr_flags of a checkpoint request. */
#define CR_CHKPT_PROHIBIT_SELF 0x00000001 /* EDEADLK if the requester is in the scope */
#define CR_CHKPT_PTRACED_ALLOW 0x00000002 /* checkpoint traced processes too */
#define CR_CHKPT_PTRACED_SKIP 0x00000004  /* leave traced processes out */
#define CR_CHKPT_PTRACER_SKIP 0x00000008  /* leave processes that trace others out */
#define CR_CHKPT_ASYNC_ERR 0x00000010     /* report errors when reaping, not requesting */
#define CR_CHKPT_DUMP_EXEC 0x0200         /* save the executable's mappings by contents */
#define CR_CHKPT_DUMP_PRIVATE 0x0400      /* every private file mapping by contents */
#define CR_CHKPT_DUMP_SHARED 0x0800       /* every shared file mapping by contents */
#define CR_CHKPT_DUMP_ALL (CR_CHKPT_DUMP_EXEC | CR_CHKPT_DUMP_PRIVATE | CR_CHKPT_DUMP_SHARED)

/* Paths to look for elsewhere at restart: a path starting with oldpath (up to a '/'
 * or its end) is looked for under newpath instead. The first matching pair applies. */
struct cr_rstrt_relocate_pair {
	const char *oldpath;
	const char *newpath;
};
struct cr_rstrt_relocate {
	unsigned int count;
#if defined(__GNUC__) && (__GNUC__ < 3)
	struct cr_rstrt_relocate_pair path[0];
#else
	struct cr_rstrt_relocate_pair path[];
#endif
};
#define CR_RSTRT_RELOCATE_SIZE(n)                                                             \
	(sizeof(struct cr_rstrt_relocate) + (n) * sizeof(struct cr_rstrt_relocate_pair))
#define CR_MAX_RSTRT_RELOC 16

/* cr_flags of a restart request. */
#define CR_RSTRT_ASYNC_ERR 0x00000001    /* report errors when reaping, not requesting */
#define CR_RSTRT_RESTORE_PID 0x00000002  /* the saved pids and thread ids */
#define CR_RSTRT_RESTORE_PGID 0x00000004 /* the saved process groups */
#define CR_RSTRT_RESTORE_SID 0x00000008  /* the saved sessions */

/* Flags of cr_hold_ctrl(): which threads wait, after their callbacks, until every
 * callback of the process has finished. */
#define CR_HOLD_READ -1 /* only ask */
#define CR_HOLD_NONE 0
#define CR_HOLD_CONT 1  /* after a checkpoint the process continues from */
#define CR_HOLD_RSTRT 2 /* after a restart */
#define CR_HOLD_BOTH (CR_HOLD_CONT | CR_HOLD_RSTRT)
#define CR_HOLD_DFLT 4 /* CR_HOLD_SCOPE_THREAD only: use the value of the thread's kind */

/* The argument structures of BLCR's kernel requests. crest has no kernel module: they
 * are declared so that programs that mention them compile. */
struct cr_chkpt_args {
	pid_t cr_target;
	cr_scope_t cr_scope;
	int cr_fd;
	unsigned int cr_secs;
	cr_format_t dump_format;
	int signal;
	unsigned int flags;
};

struct cr_fwd_args {
	pid_t cr_target;
	cr_scope_t cr_scope;
};

struct cr_rstrt_args {
	int cr_fd;
	int signal;
	struct cr_rstrt_relocate *relocate;
	unsigned int flags;
};

struct cr_procs_tbl {
	int threads;
	int clone_flags;
};

struct cr_chkpt_info {
	pid_t requester;
	pid_t target;
	int scope;
	int signal;
	char *dest;
};

struct cr_log_args {
	unsigned int len;
	char *buf;
};

#ifdef __cplusplus
}
#endif

#endif
