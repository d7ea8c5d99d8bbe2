/* opts.c: BLCR's command lines for cr_checkpoint and cr_restart. */
#include "opts.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/procfs.h"

#include "engine/banned.h"

/* BLCR's CR_CHKPT_DUMP_* flags. */
#define DUMP_EXEC 0x200
#define DUMP_PRIVATE 0x400
#define DUMP_SHARED 0x800
#define DUMP_ALL 0xe00

static int say(char *msg, size_t n, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int say(char *msg, size_t n, int rc, const char *fmt, ...)
{
	va_list ap;

	if (msg && n) {
		va_start(ap, fmt);
		vsnprintf(msg, n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int opt_int(const char *s, long min, long max, long *ret)
{
	return parse_long(s, min, max, ret);
}

/* ---- what both tools take ---- */

/* Codes of the long options both tools take; each tool's own follow. */
enum {
	O_RUN = 1000, O_STOP, O_TERM, O_ABORT, O_KILL, O_CONT, O_EARLY_STOP, O_EARLY_ABRT,
	O_KMSG_NONE, O_KMSG_ERROR, O_KMSG_WARNING,
	O_OWN,
};

/* shared_opt's answer for an option that is the tool's own. */
#define NOT_SHARED 2

/* The options both tools take alike: the signal the processes get once done (--run,
 * -S, --stop ... --early-abrt) and kernel messages (--kmsg-*). Returns NOT_SHARED for
 * the tool's own; else OPT_OK, or what parsing concludes (OPT_USAGE, -EINVAL) with msg
 * set. */
static int shared_opt(int c, int *signal, bool *early, enum kmsg_mode *kmsg, char *msg,
		      size_t n)
{
	long v;

	switch (c) {
	case O_RUN:
		*signal = 0;
		*early = false;
		return OPT_OK;
	case 'S':
		if (opt_int(optarg, LONG_MIN, LONG_MAX, &v) < 0)
			return say(msg, n, OPT_USAGE, "bad signal '%s'", optarg);
		if (v < 1 || v > 64)
			return say(msg, n, -EINVAL, "signal %ld is not between 1 and 64", v);
		*signal = (int)v;
		*early = false;
		return OPT_OK;
	case O_STOP:
	case O_TERM:
	case O_ABORT:
	case O_KILL:
	case O_CONT:
		*signal = c == O_STOP ? 19 : c == O_TERM ? 15 : c == O_ABORT ? 6
			  : c == O_KILL ? 9 : 18;
		*early = false;
		return OPT_OK;
	case O_EARLY_STOP:
	case O_EARLY_ABRT:
		*signal = c == O_EARLY_STOP ? 19 : 6;
		*early = true;
		return OPT_OK;
	case O_KMSG_NONE:
		*kmsg = KMSG_MODE_NONE;
		return OPT_OK;
	case O_KMSG_ERROR:
		*kmsg = KMSG_MODE_ERROR;
		return OPT_OK;
	case O_KMSG_WARNING:
		*kmsg = KMSG_MODE_WARNING;
		return OPT_OK;
	default:
		return NOT_SHARED;
	}
}

/* -F's descriptor. */
static int parse_fd(const char *arg, int *ret_fd, char *msg, size_t n)
{
	long v;

	if (opt_int(arg, LONG_MIN, INT_MAX, &v) < 0)
		return say(msg, n, OPT_USAGE, "bad descriptor '%s'", arg);
	if (v < 0)
		return say(msg, n, -EINVAL, "bad descriptor %ld", v);
	*ret_fd = (int)v;
	return 0;
}

/* ---- cr_checkpoint ---- */

enum {
	C_ATOMIC = O_OWN, C_BACKUP, C_CLOBBER, C_NOCLOBBER,
	C_SYNC, C_NOSYNC,
	C_SAVE_EXE, C_SAVE_PRIV, C_SAVE_SHARED, C_SAVE_ALL, C_SAVE_NONE,
	C_PTRACED_ERROR, C_PTRACED_SKIP, C_PTRACED_ALLOW, C_PTRACER_ERROR, C_PTRACER_SKIP,
	C_VERSION,
};

static const struct option ckpt_long[] = {
	{"tree", no_argument, NULL, 'T'},
	{"pid", no_argument, NULL, 'p'},
	{"process", no_argument, NULL, 'p'},
	{"pgid", no_argument, NULL, 'g'},
	{"group", no_argument, NULL, 'g'},
	{"sid", no_argument, NULL, 's'},
	{"session", no_argument, NULL, 's'},
	{"cwd", no_argument, NULL, 'c'},
	{"file", required_argument, NULL, 'f'},
	{"fd", required_argument, NULL, 'F'},
	{"dir", required_argument, NULL, 'd'},
	{"atomic", no_argument, NULL, C_ATOMIC},
	{"backup", optional_argument, NULL, C_BACKUP},
	{"clobber", no_argument, NULL, C_CLOBBER},
	{"noclobber", no_argument, NULL, C_NOCLOBBER},
	{"run", no_argument, NULL, O_RUN},
	{"signal", required_argument, NULL, 'S'},
	{"stop", no_argument, NULL, O_STOP},
	{"term", no_argument, NULL, O_TERM},
	{"abort", no_argument, NULL, O_ABORT},
	{"kill", no_argument, NULL, O_KILL},
	{"cont", no_argument, NULL, O_CONT},
	{"early-stop", no_argument, NULL, O_EARLY_STOP},
	{"early-abrt", no_argument, NULL, O_EARLY_ABRT},
	{"sync", no_argument, NULL, C_SYNC},
	{"nosync", no_argument, NULL, C_NOSYNC},
	{"save-exe", no_argument, NULL, C_SAVE_EXE},
	{"save-private", no_argument, NULL, C_SAVE_PRIV},
	{"save-shared", no_argument, NULL, C_SAVE_SHARED},
	{"save-all", no_argument, NULL, C_SAVE_ALL},
	{"save-none", no_argument, NULL, C_SAVE_NONE},
	{"ptraced-error", no_argument, NULL, C_PTRACED_ERROR},
	{"ptraced-skip", no_argument, NULL, C_PTRACED_SKIP},
	{"ptraced-allow", no_argument, NULL, C_PTRACED_ALLOW},
	{"ptracer-error", no_argument, NULL, C_PTRACER_ERROR},
	{"ptracer-skip", no_argument, NULL, C_PTRACER_SKIP},
	{"kmsg-none", no_argument, NULL, O_KMSG_NONE},
	{"kmsg-error", no_argument, NULL, O_KMSG_ERROR},
	{"kmsg-warning", no_argument, NULL, O_KMSG_WARNING},
	{"time", required_argument, NULL, 't'},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, C_VERSION},
	{NULL, 0, NULL, 0},
};

static int set_dest(struct ckpt_opts *o, enum ckpt_dest_kind k, char *msg, size_t n)
{
	if (o->dest != CDEST_NONE)
		return say(msg, n, -EINVAL, "only one destination (-c, -f, -F or -d) may be given");
	o->dest = k;
	return 0;
}

int ckpt_parse(int argc, char **argv, struct ckpt_opts *o, char *msg, size_t msglen)
{
	long v;
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->scope = 3; /* tree */
	o->fd = -1;
	o->sync = true;
	o->kmsg = KMSG_MODE_ERROR;
	if (msg && msglen)
		msg[0] = '\0';
	optind = 0; /* full reinitialisation of getopt */
	opterr = 0;
	/* BLCR's short options, without '?': "-?" is then an unknown option, the one
	 * getopt reports with optopt '?', as BLCR relies on. */
	while ((c = getopt_long(argc, argv, "f:d:F:S:pgsTct:qvh", ckpt_long, NULL)) != -1) {
		rc = shared_opt(c, &o->signal, &o->early, &o->kmsg, msg, msglen);
		if (rc != NOT_SHARED) {
			if (rc != OPT_OK)
				return rc;
			continue;
		}
		switch (c) {
		case 'T':
			o->scope = 3;
			break;
		case 'p':
			o->scope = 0;
			break;
		case 'g':
			o->scope = 1;
			break;
		case 's':
			o->scope = 2;
			break;
		case 'c':
			if ((rc = set_dest(o, CDEST_CWD, msg, msglen)) < 0)
				return rc;
			break;
		case 'f':
			if ((rc = set_dest(o, CDEST_FILE, msg, msglen)) < 0)
				return rc;
			o->file = optarg;
			break;
		case 'F':
			if ((rc = set_dest(o, CDEST_FD, msg, msglen)) < 0 ||
			    (rc = parse_fd(optarg, &o->fd, msg, msglen)) < 0)
				return rc;
			break;
		case 'd':
			if ((rc = set_dest(o, CDEST_DIR, msg, msglen)) < 0)
				return rc;
			o->dir = optarg;
			break;
		case C_ATOMIC:
			o->policy = CPOL_ATOMIC;
			o->backup_name = NULL;
			break;
		case C_BACKUP:
			o->policy = CPOL_BACKUP;
			o->backup_name = optarg;
			break;
		case C_CLOBBER:
			o->policy = CPOL_CLOBBER;
			o->backup_name = NULL;
			break;
		case C_NOCLOBBER:
			o->policy = CPOL_NOCLOBBER;
			o->backup_name = NULL;
			break;
		case C_SYNC:
			o->sync = true;
			break;
		case C_NOSYNC:
			o->sync = false;
			break;
		case C_SAVE_EXE:
			o->save_flags |= DUMP_EXEC;
			break;
		case C_SAVE_PRIV:
			o->save_flags |= DUMP_PRIVATE;
			break;
		case C_SAVE_SHARED:
			o->save_flags |= DUMP_SHARED;
			break;
		case C_SAVE_ALL:
			o->save_flags |= DUMP_ALL;
			break;
		case C_SAVE_NONE:
			o->save_flags = 0;
			break;
		case C_PTRACED_ERROR:
		case C_PTRACED_SKIP:
		case C_PTRACED_ALLOW:
			o->ptraced = c == C_PTRACED_ERROR  ? PTRACED_ERROR
				     : c == C_PTRACED_SKIP ? PTRACED_SKIP
							   : PTRACED_ALLOW;
			break;
		case C_PTRACER_ERROR:
			o->ptracer = PTRACER_ERROR;
			break;
		case C_PTRACER_SKIP:
			o->ptracer = PTRACER_SKIP;
			break;
		case 't':
			if (opt_int(optarg, LONG_MIN, UINT_MAX, &v) < 0)
				return say(msg, msglen, OPT_USAGE, "bad time '%s'", optarg);
			if (v < 0)
				return say(msg, msglen, -EINVAL, "time %ld is negative", v);
			o->time = (unsigned int)v;
			break;
		case 'q':
			o->verbosity = -1;
			break;
		case 'v':
			o->verbosity++;
			break;
		case 'h':
			o->help = true;
			return OPT_EXIT;
		case C_VERSION:
			o->version = true;
			return OPT_EXIT;
		case '?':
			if (optopt == '?') {
				o->help = true;
				return OPT_EXIT;
			}
			return say(msg, msglen, OPT_USAGE, "unknown option or missing argument");
		default:
			return say(msg, msglen, OPT_USAGE, "unknown option");
		}
	}
	if (argc - optind != 1)
		return say(msg, msglen, OPT_USAGE, "exactly one ID must be given");
	if (opt_int(argv[optind], LONG_MIN, INT_MAX, &v) < 0 || v < 0)
		return say(msg, msglen, OPT_USAGE, "bad ID '%s'", argv[optind]);
	o->id = (pid_t)v;
	if (o->dest == CDEST_NONE)
		o->dest = CDEST_CWD;
	return OPT_OK;
}

/* ---- cr_restart ---- */

enum {
	R_OMIT_MAYBE = O_OWN, R_OMIT_ALWAYS, R_OMIT_NEVER,
	R_ON_SUCCESS, R_ON_ARGS, R_ON_TEMP, R_ON_ENV, R_ON_PERM, R_ON_FAILURE,
	R_RELOCATE,
	R_PID, R_NOPID, R_PGID, R_NOPGID, R_SID, R_NOSID, R_PIDNS,
};

static const struct option rst_long[] = {
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'v'},
	{"quiet", no_argument, NULL, 'q'},
	{"file", required_argument, NULL, 'f'},
	{"fd", required_argument, NULL, 'F'},
	{"dir", required_argument, NULL, 'd'},
	{"run", no_argument, NULL, O_RUN},
	{"signal", required_argument, NULL, 'S'},
	{"stop", no_argument, NULL, O_STOP},
	{"freeze", no_argument, NULL, O_STOP},
	{"term", no_argument, NULL, O_TERM},
	{"abort", no_argument, NULL, O_ABORT},
	{"kill", no_argument, NULL, O_KILL},
	{"cont", no_argument, NULL, O_CONT},
	{"early-stop", no_argument, NULL, O_EARLY_STOP},
	{"early-abrt", no_argument, NULL, O_EARLY_ABRT},
	{"omit-maybe", no_argument, NULL, R_OMIT_MAYBE},
	{"omit-always", no_argument, NULL, R_OMIT_ALWAYS},
	{"omit-never", no_argument, NULL, R_OMIT_NEVER},
	{"run-on-success", required_argument, NULL, R_ON_SUCCESS},
	{"run-on-fail-args", required_argument, NULL, R_ON_ARGS},
	{"run-on-fail-temp", required_argument, NULL, R_ON_TEMP},
	{"run-on-fail-env", required_argument, NULL, R_ON_ENV},
	{"run-on-fail-perm", required_argument, NULL, R_ON_PERM},
	{"run-on-failure", required_argument, NULL, R_ON_FAILURE},
	{"relocate", required_argument, NULL, R_RELOCATE},
	{"restore-pid", no_argument, NULL, R_PID},
	{"no-restore-pid", no_argument, NULL, R_NOPID},
	{"restore-pgid", no_argument, NULL, R_PGID},
	{"no-restore-pgid", no_argument, NULL, R_NOPGID},
	{"restore-sid", no_argument, NULL, R_SID},
	{"no-restore-sid", no_argument, NULL, R_NOSID},
	{"pidns", no_argument, NULL, R_PIDNS},
	{"kmsg-none", no_argument, NULL, O_KMSG_NONE},
	{"kmsg-error", no_argument, NULL, O_KMSG_ERROR},
	{"kmsg-warning", no_argument, NULL, O_KMSG_WARNING},
	{NULL, 0, NULL, 0},
};

static char *trim_slashes(char *s)
{
	size_t n = strlen(s);

	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

int reloc_parse(const char *arg, char **ret_from, char **ret_to)
{
	size_t n = strlen(arg);
	char *from = malloc(n + 1), *to = malloc(n + 1), *dst = from;
	bool seen_eq = false;

	if (!from || !to) {
		free(from);
		free(to);
		return -ENOMEM;
	}
	for (const char *p = arg; *p; p++) {
		if (p[0] == '\\' && (p[1] == '\\' || p[1] == '=')) {
			*dst++ = *++p;
		} else if (*p == '=') {
			if (seen_eq)
				goto bad;
			seen_eq = true;
			*dst = '\0';
			dst = to;
		} else {
			*dst++ = *p;
		}
	}
	*dst = '\0';
	if (!seen_eq || from[0] != '/' || to[0] != '/')
		goto bad;
	*ret_from = trim_slashes(from);
	*ret_to = trim_slashes(to);
	return 0;
bad:
	free(from);
	free(to);
	return -EINVAL;
}

static int add_reloc(struct rst_cli *o, const char *arg, char *msg, size_t n)
{
	char *from, *to;
	struct reloc *r;

	if (reloc_parse(arg, &from, &to) < 0)
		return say(msg, n, -EINVAL, "bad relocation '%s' (want /OLD=/NEW)", arg);
	if (!strcmp(from, to)) {
		free(from);
		free(to);
		return 0;
	}
	r = realloc(o->relocs, (o->nrelocs + 1) * sizeof(*r));
	if (!r) {
		free(from);
		free(to);
		return say(msg, n, -ENOMEM, "out of memory");
	}
	o->relocs = r;
	o->relocs[o->nrelocs++] = (struct reloc){from, to};
	return 0;
}

static int set_src(struct rst_cli *o, enum rst_src_kind k, char *msg, size_t n)
{
	if (o->src != RSRC_NONE)
		return say(msg, n, -EINVAL, "only one source (-f, -F or -d) may be given");
	o->src = k;
	return 0;
}

void rst_cli_fini(struct rst_cli *o)
{
	for (size_t i = 0; i < o->nrelocs; i++) {
		free(o->relocs[i].from);
		free(o->relocs[i].to);
	}
	free(o->relocs);
	o->relocs = NULL;
	o->nrelocs = 0;
}

int rst_parse(int argc, char **argv, struct rst_cli *o, char *msg, size_t msglen)
{
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	o->restore_pid = true;
	o->kmsg = KMSG_MODE_ERROR;
	if (msg && msglen)
		msg[0] = '\0';
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qvhS:F:d:f:", rst_long, NULL)) != -1) {
		rc = shared_opt(c, &o->signal, &o->early, &o->kmsg, msg, msglen);
		if (rc != NOT_SHARED) {
			if (rc != OPT_OK)
				return rc;
			continue;
		}
		switch (c) {
		case 'h':
			o->help = true;
			return OPT_EXIT;
		case 'v':
			o->version = true;
			return OPT_EXIT;
		case 'q':
			o->quiet = true;
			break;
		case 'f':
			if ((rc = set_src(o, RSRC_FILE, msg, msglen)) < 0)
				return rc;
			o->file = optarg;
			break;
		case 'F':
			if ((rc = set_src(o, RSRC_FD, msg, msglen)) < 0 ||
			    (rc = parse_fd(optarg, &o->fd, msg, msglen)) < 0)
				return rc;
			break;
		case 'd':
			if ((rc = set_src(o, RSRC_DIR, msg, msglen)) < 0)
				return rc;
			o->dir = optarg;
			break;
		case R_OMIT_MAYBE:
			o->omit = OMIT_MAYBE;
			break;
		case R_OMIT_ALWAYS:
			o->omit = OMIT_ALWAYS;
			break;
		case R_OMIT_NEVER:
			o->omit = OMIT_NEVER;
			break;
		case R_ON_SUCCESS:
			o->hook[HOOK_SUCCESS] = optarg;
			break;
		case R_ON_ARGS:
			o->hook[HOOK_ARGS] = optarg;
			break;
		case R_ON_TEMP:
			o->hook[HOOK_TEMP] = optarg;
			break;
		case R_ON_ENV:
			o->hook[HOOK_ENV] = optarg;
			break;
		case R_ON_PERM:
			o->hook[HOOK_PERM] = optarg;
			break;
		case R_ON_FAILURE:
			o->hook[HOOK_ARGS] = o->hook[HOOK_TEMP] = o->hook[HOOK_ENV] =
				o->hook[HOOK_PERM] = optarg;
			break;
		case R_RELOCATE:
			if ((rc = add_reloc(o, optarg, msg, msglen)) < 0)
				return rc;
			break;
		case R_PID:
		case R_NOPID:
			o->restore_pid = c == R_PID;
			break;
		case R_PGID:
		case R_NOPGID:
			o->restore_pgid = c == R_PGID;
			break;
		case R_SID:
		case R_NOSID:
			o->restore_sid = c == R_SID;
			break;
		case R_PIDNS:
			o->pidns = true;
			break;
		case '?':
			if (optopt == '?') {
				o->help = true;
				return OPT_EXIT;
			}
			return say(msg, msglen, OPT_USAGE, "unknown option or missing argument");
		default:
			return say(msg, msglen, OPT_USAGE, "unknown option");
		}
	}
	if (o->src == RSRC_FILE || o->src == RSRC_FD) {
		if (optind != argc)
			return say(msg, msglen, OPT_USAGE, "no FILE may follow -f or -F");
	} else if (o->src == RSRC_DIR) {
		/* A FILE besides -d DIR is a second source, as in BLCR (which refused -d
		 * itself with EINVAL). */
		if (optind != argc)
			return say(msg, msglen, -EINVAL,
				   "only one source (-f, -F, -d or FILE) may be given");
	} else if (o->src == RSRC_NONE) {
		if (argc - optind != 1)
			return say(msg, msglen, OPT_USAGE, "exactly one context FILE must be given");
		o->src = RSRC_FILE;
		o->file = argv[optind];
	}
	return OPT_OK;
}
