/* opts.h: the command lines of cr_checkpoint and cr_restart, as BLCR defines them
 * (getopt_long, diagnostics off, abbreviations, last one wins within a group). Pure
 * parsing, no side effects, so every rule has a unit test. */
#ifndef CREST_OPTS_H
#define CREST_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What parsing concluded. */
enum {
	OPT_OK = 0,
	OPT_EXIT = 1,   /* --help or --version: print and exit 0 */
	OPT_USAGE = -1, /* usage error: exit 255 */
	/* otherwise a negative errno, e.g. -EINVAL: exit 22 */
};

enum kmsg_mode { KMSG_MODE_NONE, KMSG_MODE_ERROR, KMSG_MODE_WARNING };

enum ckpt_dest_kind { CDEST_NONE, CDEST_CWD, CDEST_FILE, CDEST_FD, CDEST_DIR };
enum ckpt_policy { CPOL_ATOMIC, CPOL_BACKUP, CPOL_CLOBBER, CPOL_NOCLOBBER };
enum ptraced_policy { PTRACED_ERROR, PTRACED_SKIP, PTRACED_ALLOW };
enum ptracer_policy { PTRACER_ERROR, PTRACER_SKIP };

struct ckpt_opts {
	uint32_t scope; /* CR_SCOPE_* values: 0 proc, 1 pgrp, 2 sess, 3 tree */
	pid_t id;
	enum ckpt_dest_kind dest;
	const char *file;
	int fd;
	const char *dir;
	enum ckpt_policy policy;
	const char *backup_name; /* --backup=NAME */
	int signal;              /* 0 = --run */
	bool early;              /* --early-stop / --early-abrt */
	bool sync;
	uint32_t save_flags; /* CR_CHKPT_DUMP_* */
	enum ptraced_policy ptraced;
	enum ptracer_policy ptracer;
	enum kmsg_mode kmsg;
	unsigned int time;
	int verbosity; /* 0 normal, < 0 quiet, > 0 verbose */
	bool help, version;
};

int ckpt_parse(int argc, char **argv, struct ckpt_opts *o, char *msg, size_t msglen);

enum rst_src_kind { RSRC_NONE, RSRC_FILE, RSRC_FD, RSRC_DIR };
enum rst_omit { OMIT_MAYBE, OMIT_ALWAYS, OMIT_NEVER };
enum rst_hook { HOOK_SUCCESS, HOOK_ARGS, HOOK_TEMP, HOOK_ENV, HOOK_PERM, HOOK_COUNT };

struct reloc {
	char *from, *to;
};

struct rst_cli {
	enum rst_src_kind src;
	const char *file;
	int fd;
	const char *dir;
	int signal;
	bool early;
	enum rst_omit omit;
	const char *hook[HOOK_COUNT]; /* NULL or "" for none */
	struct reloc *relocs;
	size_t nrelocs;
	bool restore_pid, restore_pgid, restore_sid;
	bool pidns; /* restart in a new pid namespace under a small init */
	enum kmsg_mode kmsg;
	bool quiet;
	bool help, version;
};

/* Fills o left to right: what came before an error is kept (hooks given before a bad
 * argument apply). Free with rst_cli_fini(). */
int rst_parse(int argc, char **argv, struct rst_cli *o, char *msg, size_t msglen);
void rst_cli_fini(struct rst_cli *o);

/* One --relocate argument: OLD=NEW with \= and \\ escapes, both absolute, trailing
 * slashes dropped. Returns 0 with malloc'd strings, or -EINVAL. */
int reloc_parse(const char *arg, char **ret_from, char **ret_to);

/* Strict decimal integer: no sign unless min < 0, no junk. */
int opt_int(const char *s, long min, long max, long *ret);

#endif
