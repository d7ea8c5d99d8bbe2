/* test_opts.c: the command lines of cr_checkpoint and cr_restart, table by table,
 * against blcr-reference.md sections 2, 3.1, 4.1 and 4.4.
 *
 * Each row is a command line, the result ckpt_parse or rst_parse must give, and the
 * fields it must have set; fields a row does not name are not checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>

#include "tools/opts.h"

#define MAX_ARGS 24
#define MAX_WANT 9 /* with room for the K_END that ends every list */

/* One expected field: a number, or a string (NULL: the field must be NULL). */
struct want {
	int k; /* 0 ends the list */
	long v;
	const char *s;
};

#define W(key, val)                                                                                \
	{                                                                                          \
		K_##key, (val), NULL                                                               \
	}
#define WS(key, str)                                                                               \
	{                                                                                          \
		K_##key, 0, (str)                                                                  \
	}

static void describe(const char *const *argv, char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; argv[i] && used < n; i++)
		used += (size_t)snprintf(out + used, n - used, "%s'%s'", i ? " " : "", argv[i]);
}

/* getopt_long permutes argv, so each parse gets its own copy of the pointers. */
static int copy_argv(const char *const *src, char **dst)
{
	int argc = 0;

	while (src[argc]) {
		assert_true(argc < MAX_ARGS);
		dst[argc] = (char *)src[argc];
		argc++;
	}
	dst[argc] = NULL;
	return argc;
}

static void check_want(const char *line, const struct want *w, long got_v, const char *got_s,
		       bool is_str, const char *field)
{
	if (is_str) {
		if (w->s == NULL ? got_s != NULL : (got_s == NULL || strcmp(w->s, got_s) != 0))
			fail_msg("%s: %s is '%s', want '%s'", line, field, got_s ? got_s : "(null)",
				 w->s ? w->s : "(null)");
	} else if (got_v != w->v) {
		fail_msg("%s: %s is %ld, want %ld", line, field, got_v, w->v);
	}
}

static const char *rc_name(int rc)
{
	static char buf[32];

	switch (rc) {
	case OPT_OK:
		return "OPT_OK";
	case OPT_EXIT:
		return "OPT_EXIT";
	case OPT_USAGE:
		return "OPT_USAGE";
	case -EINVAL:
		return "-EINVAL";
	}
	snprintf(buf, sizeof(buf), "%d", rc);
	return buf;
}

/* ==== cr_checkpoint ==== */

enum {
	K_END,
	K_SCOPE,
	K_ID,
	K_DEST,
	K_FILE,
	K_FD,
	K_DIR,
	K_POLICY,
	K_BACKUP,
	K_SIGNAL,
	K_EARLY,
	K_SYNC,
	K_SAVE,
	K_PTRACED,
	K_PTRACER,
	K_KMSG,
	K_TIME,
	K_VERBOSITY,
	K_HELP,
	K_VERSION,
};

/* CR_SCOPE_* as BLCR numbers them. */
enum { PROC = 0, PGRP = 1, SESS = 2, TREE = 3 };

struct ckpt_case {
	const char *argv[MAX_ARGS];
	int rc;
	struct want want[MAX_WANT];
};

#define C(...)                                                                                     \
	{                                                                                          \
		"cr_checkpoint", __VA_ARGS__, NULL                                                 \
	}

static const struct ckpt_case ckpt_cases[] = {
    /* Defaults (3.1, in bold). */
    {C("42"),
     OPT_OK,
     {W(SCOPE, TREE), W(ID, 42), W(DEST, CDEST_CWD), W(POLICY, CPOL_ATOMIC), W(SIGNAL, 0),
      W(SYNC, 1), W(KMSG, KMSG_MODE_ERROR), W(TIME, 0)}},
    {C("42"),
     OPT_OK,
     {W(SAVE, 0), W(PTRACED, PTRACED_ERROR), W(PTRACER, PTRACER_ERROR), W(VERBOSITY, 0), W(FD, -1),
      WS(BACKUP, NULL), W(EARLY, 0), W(HELP, 0)}},

    /* Scope: every spelling, abbreviations, last one wins. */
    {C("-T", "42"), OPT_OK, {W(SCOPE, TREE)}},
    {C("--tree", "42"), OPT_OK, {W(SCOPE, TREE)}},
    {C("--tr", "42"), OPT_OK, {W(SCOPE, TREE)}},
    {C("-p", "42"), OPT_OK, {W(SCOPE, PROC)}},
    {C("--pid", "42"), OPT_OK, {W(SCOPE, PROC)}},
    {C("--pi", "42"), OPT_OK, {W(SCOPE, PROC)}},
    {C("--process", "42"), OPT_OK, {W(SCOPE, PROC)}},
    {C("--proc", "42"), OPT_OK, {W(SCOPE, PROC)}},
    {C("-g", "42"), OPT_OK, {W(SCOPE, PGRP)}},
    {C("--pgid", "42"), OPT_OK, {W(SCOPE, PGRP)}},
    {C("--pg", "42"), OPT_OK, {W(SCOPE, PGRP)}},
    {C("--group", "42"), OPT_OK, {W(SCOPE, PGRP)}},
    {C("--gr", "42"), OPT_OK, {W(SCOPE, PGRP)}},
    {C("-s", "42"), OPT_OK, {W(SCOPE, SESS)}},
    {C("--sid", "42"), OPT_OK, {W(SCOPE, SESS)}},
    {C("--session", "42"), OPT_OK, {W(SCOPE, SESS)}},
    {C("--se", "42"), OPT_OK, {W(SCOPE, SESS)}},
    {C("-p", "-g", "42"), OPT_OK, {W(SCOPE, PGRP)}},
    {C("-g", "--tree", "42"), OPT_OK, {W(SCOPE, TREE)}},
    {C("--sid", "-p", "42"), OPT_OK, {W(SCOPE, PROC)}},
    {C("-T", "-s", "42"), OPT_OK, {W(SCOPE, SESS)}},
    {C("-pg", "42"), OPT_OK, {W(SCOPE, PGRP)}},
    {C("--p", "42"), OPT_USAGE, {}}, /* pid, pgid, process, ptraced-*: ambiguous */
    {C("--s", "42"), OPT_USAGE, {}},

    /* Destination: one only; -F not negative. */
    {C("-c", "42"), OPT_OK, {W(DEST, CDEST_CWD)}},
    {C("--cwd", "42"), OPT_OK, {W(DEST, CDEST_CWD)}},
    {C("-f", "out", "42"), OPT_OK, {W(DEST, CDEST_FILE), WS(FILE, "out")}},
    {C("-fout", "42"), OPT_OK, {W(DEST, CDEST_FILE), WS(FILE, "out")}},
    {C("--file=out", "42"), OPT_OK, {W(DEST, CDEST_FILE), WS(FILE, "out")}},
    {C("--file", "out", "42"), OPT_OK, {W(DEST, CDEST_FILE), WS(FILE, "out")}},
    {C("--fi", "dir/out", "42"), OPT_OK, {W(DEST, CDEST_FILE), WS(FILE, "dir/out")}},
    {C("-F", "3", "42"), OPT_OK, {W(DEST, CDEST_FD), W(FD, 3)}},
    {C("-F0", "42"), OPT_OK, {W(DEST, CDEST_FD), W(FD, 0)}},
    {C("--fd=3", "42"), OPT_OK, {W(DEST, CDEST_FD), W(FD, 3)}},
    {C("--fd", "1", "42"), OPT_OK, {W(DEST, CDEST_FD), W(FD, 1)}},
    {C("-d", "dir", "42"), OPT_OK, {W(DEST, CDEST_DIR), WS(DIR, "dir")}},
    {C("--dir=dir", "42"), OPT_OK, {W(DEST, CDEST_DIR), WS(DIR, "dir")}},
    {C("--di", "dir", "42"), OPT_OK, {W(DEST, CDEST_DIR), WS(DIR, "dir")}},
    {C("-c", "-c", "42"), -EINVAL, {}},
    {C("-f", "a", "-f", "a", "42"), -EINVAL, {}},
    {C("-f", "a", "-F", "3", "42"), -EINVAL, {}},
    {C("-F", "3", "-c", "42"), -EINVAL, {}},
    {C("-d", "x", "-c", "42"), -EINVAL, {}},
    {C("-c", "-d", "x", "42"), -EINVAL, {}},
    {C("--cwd", "--file=x", "42"), -EINVAL, {}},
    {C("-F", "-1", "42"), -EINVAL, {}},
    {C("--fd=-7", "42"), -EINVAL, {}},
    {C("-F", "", "42"), OPT_USAGE, {}},
    {C("-F", "3x", "42"), OPT_USAGE, {}},
    {C("-F", "+3", "42"), OPT_USAGE, {}},
    {C("-F", " 3", "42"), OPT_USAGE, {}},
    {C("-F", "0x3", "42"), OPT_USAGE, {}},
    {C("-F", "99999999999", "42"), OPT_USAGE, {}},
    {C("-f"), OPT_USAGE, {}},
    {C("42", "--file"), OPT_USAGE, {}},

    /* Policy: --backup's argument needs '='. */
    {C("--atomic", "42"), OPT_OK, {W(POLICY, CPOL_ATOMIC)}},
    {C("--backup", "42"), OPT_OK, {W(POLICY, CPOL_BACKUP), WS(BACKUP, NULL), W(ID, 42)}},
    {C("--backup=old", "42"), OPT_OK, {W(POLICY, CPOL_BACKUP), WS(BACKUP, "old")}},
    {C("--ba=old", "42"), OPT_OK, {W(POLICY, CPOL_BACKUP), WS(BACKUP, "old")}},
    {C("--backup", "old", "42"), OPT_USAGE, {}},
    {C("--clobber", "42"), OPT_OK, {W(POLICY, CPOL_CLOBBER)}},
    {C("--cl", "42"), OPT_OK, {W(POLICY, CPOL_CLOBBER)}},
    {C("--noclobber", "42"), OPT_OK, {W(POLICY, CPOL_NOCLOBBER)}},
    {C("--noc", "42"), OPT_OK, {W(POLICY, CPOL_NOCLOBBER)}},
    {C("--no", "42"), OPT_USAGE, {}}, /* noclobber, nosync */
    {C("--clobber", "--noclobber", "42"), OPT_OK, {W(POLICY, CPOL_NOCLOBBER)}},
    {C("--noclobber", "--clobber", "42"), OPT_OK, {W(POLICY, CPOL_CLOBBER)}},
    {C("--backup=x", "--atomic", "42"), OPT_OK, {W(POLICY, CPOL_ATOMIC), WS(BACKUP, NULL)}},
    {C("--backup=x", "--clobber", "42"), OPT_OK, {W(POLICY, CPOL_CLOBBER), WS(BACKUP, NULL)}},
    {C("--backup=x", "--backup", "42"), OPT_OK, {W(POLICY, CPOL_BACKUP), WS(BACKUP, NULL)}},
    {C("--noclobber", "--backup=b", "42"), OPT_OK, {W(POLICY, CPOL_BACKUP), WS(BACKUP, "b")}},

    /* Signal: -S 1..64, the named ones, --run; last one wins, early or not. */
    {C("--run", "42"), OPT_OK, {W(SIGNAL, 0), W(EARLY, 0)}},
    {C("-S", "9", "42"), OPT_OK, {W(SIGNAL, 9)}},
    {C("-S9", "42"), OPT_OK, {W(SIGNAL, 9)}},
    {C("--signal=9", "42"), OPT_OK, {W(SIGNAL, 9)}},
    {C("--signal", "9", "42"), OPT_OK, {W(SIGNAL, 9)}},
    {C("--sig", "9", "42"), OPT_OK, {W(SIGNAL, 9)}},
    {C("--sig=9", "42"), OPT_OK, {W(SIGNAL, 9)}},
    {C("-S", "1", "42"), OPT_OK, {W(SIGNAL, 1)}},
    {C("-S", "64", "42"), OPT_OK, {W(SIGNAL, 64)}},
    {C("-S", "0", "42"), -EINVAL, {}},
    {C("-S", "65", "42"), -EINVAL, {}},
    {C("-S", "-1", "42"), -EINVAL, {}},
    {C("-S", "99999999999999999999", "42"), OPT_USAGE, {}},
    {C("-S", "", "42"), OPT_USAGE, {}},
    {C("-S", "9x", "42"), OPT_USAGE, {}},
    {C("-S", "+9", "42"), OPT_USAGE, {}},
    {C("-S", "KILL", "42"), OPT_USAGE, {}},
    {C("--stop", "42"), OPT_OK, {W(SIGNAL, 19), W(EARLY, 0)}},
    {C("--term", "42"), OPT_OK, {W(SIGNAL, 15)}},
    {C("--abort", "42"), OPT_OK, {W(SIGNAL, 6)}},
    {C("--kill", "42"), OPT_OK, {W(SIGNAL, 9)}},
    {C("--cont", "42"), OPT_OK, {W(SIGNAL, 18)}},
    {C("--early-stop", "42"), OPT_OK, {W(SIGNAL, 19), W(EARLY, 1)}},
    {C("--early-abrt", "42"), OPT_OK, {W(SIGNAL, 6), W(EARLY, 1)}},
    {C("--early-s", "42"), OPT_OK, {W(SIGNAL, 19), W(EARLY, 1)}},
    {C("--early", "42"), OPT_USAGE, {}},
    {C("--kill", "--run", "42"), OPT_OK, {W(SIGNAL, 0)}},
    {C("--run", "--kill", "42"), OPT_OK, {W(SIGNAL, 9)}},
    {C("--stop", "--term", "42"), OPT_OK, {W(SIGNAL, 15)}},
    {C("-S", "5", "--cont", "42"), OPT_OK, {W(SIGNAL, 18)}},
    {C("--kill", "-S", "5", "42"), OPT_OK, {W(SIGNAL, 5)}},
    {C("--early-stop", "--kill", "42"), OPT_OK, {W(SIGNAL, 9), W(EARLY, 0)}},
    {C("--early-stop", "--run", "42"), OPT_OK, {W(SIGNAL, 0), W(EARLY, 0)}},
    {C("--early-stop", "-S", "3", "42"), OPT_OK, {W(SIGNAL, 3), W(EARLY, 0)}},
    {C("-S", "5", "--early-abrt", "42"), OPT_OK, {W(SIGNAL, 6), W(EARLY, 1)}},

    /* Sync. */
    {C("--sync", "42"), OPT_OK, {W(SYNC, 1)}},
    {C("--nosync", "42"), OPT_OK, {W(SYNC, 0)}},
    {C("--nos", "42"), OPT_OK, {W(SYNC, 0)}},
    {C("--nosync", "--sync", "42"), OPT_OK, {W(SYNC, 1)}},
    {C("--sync", "--nosync", "42"), OPT_OK, {W(SYNC, 0)}},

    /* --save-*: cumulative; --save-none cancels what came before. */
    {C("--save-exe", "42"), OPT_OK, {W(SAVE, 0x200)}},
    {C("--save-private", "42"), OPT_OK, {W(SAVE, 0x400)}},
    {C("--save-shared", "42"), OPT_OK, {W(SAVE, 0x800)}},
    {C("--save-all", "42"), OPT_OK, {W(SAVE, 0xe00)}},
    {C("--save-exe", "--save-shared", "42"), OPT_OK, {W(SAVE, 0xa00)}},
    {C("--save-all", "--save-none", "42"), OPT_OK, {W(SAVE, 0)}},
    {C("--save-none", "--save-exe", "42"), OPT_OK, {W(SAVE, 0x200)}},
    {C("--save-e", "--save-p", "42"), OPT_OK, {W(SAVE, 0x600)}},
    {C("--save", "42"), OPT_USAGE, {}},

    /* Traced and tracing targets. */
    {C("--ptraced-error", "42"), OPT_OK, {W(PTRACED, PTRACED_ERROR)}},
    {C("--ptraced-skip", "42"), OPT_OK, {W(PTRACED, PTRACED_SKIP)}},
    {C("--ptraced-allow", "42"), OPT_OK, {W(PTRACED, PTRACED_ALLOW)}},
    {C("--ptraced-allow", "--ptraced-error", "42"), OPT_OK, {W(PTRACED, PTRACED_ERROR)}},
    {C("--ptraced-skip", "--ptraced-allow", "42"), OPT_OK, {W(PTRACED, PTRACED_ALLOW)}},
    {C("--ptraced-a", "42"), OPT_OK, {W(PTRACED, PTRACED_ALLOW)}},
    {C("--ptracer-skip", "42"), OPT_OK, {W(PTRACER, PTRACER_SKIP), W(PTRACED, PTRACED_ERROR)}},
    {C("--ptracer-skip", "--ptracer-error", "42"), OPT_OK, {W(PTRACER, PTRACER_ERROR)}},
    {C("--ptracer-error", "--ptracer-skip", "42"), OPT_OK, {W(PTRACER, PTRACER_SKIP)}},
    {C("--ptrace", "42"), OPT_USAGE, {}},

    /* Kernel messages. */
    {C("--kmsg-none", "42"), OPT_OK, {W(KMSG, KMSG_MODE_NONE)}},
    {C("--kmsg-error", "42"), OPT_OK, {W(KMSG, KMSG_MODE_ERROR)}},
    {C("--kmsg-warning", "42"), OPT_OK, {W(KMSG, KMSG_MODE_WARNING)}},
    {C("--kmsg-warning", "--kmsg-error", "42"), OPT_OK, {W(KMSG, KMSG_MODE_ERROR)}},
    {C("--kmsg-none", "--kmsg-warning", "42"), OPT_OK, {W(KMSG, KMSG_MODE_WARNING)}},
    {C("--kmsg-w", "--kmsg-n", "42"), OPT_OK, {W(KMSG, KMSG_MODE_NONE)}},

    /* Time limit. */
    {C("-t", "5", "42"), OPT_OK, {W(TIME, 5)}},
    {C("-t5", "42"), OPT_OK, {W(TIME, 5)}},
    {C("--time=5", "42"), OPT_OK, {W(TIME, 5)}},
    {C("--time", "5", "42"), OPT_OK, {W(TIME, 5)}},
    {C("--ti=5", "42"), OPT_OK, {W(TIME, 5)}},
    {C("--time", "0", "42"), OPT_OK, {W(TIME, 0)}},
    {C("-t", "7", "-t", "3", "42"), OPT_OK, {W(TIME, 3)}},
    {C("-t", "-1", "42"), -EINVAL, {}},
    {C("--time=-5", "42"), -EINVAL, {}},
    {C("-t", "", "42"), OPT_USAGE, {}},
    {C("-t", "5s", "42"), OPT_USAGE, {}},
    {C("-t", "+5", "42"), OPT_USAGE, {}},
    {C("-t", "1.5", "42"), OPT_USAGE, {}},

    /* Verbosity: -q sets quiet, -v adds one. */
    {C("-q", "42"), OPT_OK, {W(VERBOSITY, -1)}},
    {C("--quiet", "42"), OPT_OK, {W(VERBOSITY, -1)}},
    {C("-v", "42"), OPT_OK, {W(VERBOSITY, 1)}},
    {C("--verbose", "42"), OPT_OK, {W(VERBOSITY, 1)}},
    {C("--verb", "42"), OPT_OK, {W(VERBOSITY, 1)}},
    {C("-v", "-v", "42"), OPT_OK, {W(VERBOSITY, 2)}},
    {C("-q", "-v", "42"), OPT_OK, {W(VERBOSITY, 0)}},
    {C("-qv", "42"), OPT_OK, {W(VERBOSITY, 0)}},
    {C("-v", "-q", "42"), OPT_OK, {W(VERBOSITY, -1)}},
    {C("-v", "-v", "-q", "42"), OPT_OK, {W(VERBOSITY, -1)}},
    {C("-q", "-q", "42"), OPT_OK, {W(VERBOSITY, -1)}},

    /* Help and version: exit 0 whatever else is there. */
    {C("-h"), OPT_EXIT, {W(HELP, 1), W(VERSION, 0)}},
    {C("-?"), OPT_EXIT, {W(HELP, 1)}},
    {C("--help"), OPT_EXIT, {W(HELP, 1)}},
    {C("--he"), OPT_EXIT, {W(HELP, 1)}},
    {C("42", "-h"), OPT_EXIT, {W(HELP, 1)}},
    {C("1", "2", "-?"), OPT_EXIT, {W(HELP, 1)}},
    {C("-p", "-?"), OPT_EXIT, {W(HELP, 1)}},
    {C("--version"), OPT_EXIT, {W(VERSION, 1), W(HELP, 0)}},
    {C("--vers"), OPT_EXIT, {W(VERSION, 1)}},
    {C("--ver"), OPT_USAGE, {}}, /* verbose, version */

    /* Unknown options, missing arguments, positionals. */
    {C("-x", "42"), OPT_USAGE, {}},
    {C("--bogus", "42"), OPT_USAGE, {}},
    {C("--tree=1", "42"), OPT_USAGE, {}},
    {C("-S"), OPT_USAGE, {}},
    {{"cr_checkpoint", NULL}, OPT_USAGE, {}},
    {C("1", "2"), OPT_USAGE, {}},
    {C("abc"), OPT_USAGE, {}},
    {C(""), OPT_USAGE, {}},
    {C("42x"), OPT_USAGE, {}},
    {C("+42"), OPT_USAGE, {}},
    {C("--", "-5"), OPT_USAGE, {}},
    {C("--", "42"), OPT_OK, {W(ID, 42)}},
    {C("42", "-p"), OPT_OK, {W(ID, 42), W(SCOPE, PROC)}},
    {C("-f", "x", "42", "--kill"), OPT_OK, {W(ID, 42), W(SIGNAL, 9), WS(FILE, "x")}},
    {C("0"), OPT_OK, {W(ID, 0)}},
    {C("2147483647"), OPT_OK, {W(ID, 2147483647)}},
    {C("2147483648"), OPT_USAGE, {}},
};

static long ckpt_num(const struct ckpt_opts *o, int k, const char **ret_name)
{
	static const char *const names[] = {
	    [K_SCOPE] = "scope",     [K_ID] = "id",
	    [K_DEST] = "dest",       [K_FD] = "fd",
	    [K_POLICY] = "policy",   [K_SIGNAL] = "signal",
	    [K_EARLY] = "early",     [K_SYNC] = "sync",
	    [K_SAVE] = "save_flags", [K_PTRACED] = "ptraced",
	    [K_PTRACER] = "ptracer", [K_KMSG] = "kmsg",
	    [K_TIME] = "time",       [K_VERBOSITY] = "verbosity",
	    [K_HELP] = "help",       [K_VERSION] = "version",
	};

	*ret_name = names[k];
	switch (k) {
	case K_SCOPE:
		return o->scope;
	case K_ID:
		return o->id;
	case K_DEST:
		return o->dest;
	case K_FD:
		return o->fd;
	case K_POLICY:
		return o->policy;
	case K_SIGNAL:
		return o->signal;
	case K_EARLY:
		return o->early;
	case K_SYNC:
		return o->sync;
	case K_SAVE:
		return (long)o->save_flags;
	case K_PTRACED:
		return o->ptraced;
	case K_PTRACER:
		return o->ptracer;
	case K_KMSG:
		return o->kmsg;
	case K_TIME:
		return (long)o->time;
	case K_VERBOSITY:
		return o->verbosity;
	case K_HELP:
		return o->help;
	case K_VERSION:
		return o->version;
	}
	fail_msg("unknown checkpoint field %d", k);
	return 0;
}

static void ckpt_check_case(const struct ckpt_case *tc)
{
	char *argv[MAX_ARGS + 1], line[512], msg[256];
	struct ckpt_opts o;
	int argc = copy_argv(tc->argv, argv), rc;

	describe(tc->argv + 1, line, sizeof(line));
	rc = ckpt_parse(argc, argv, &o, msg, sizeof(msg));
	if (rc != tc->rc)
		fail_msg("cr_checkpoint %s: got %s (%s), want %s", line, rc_name(rc), msg,
			 rc_name(tc->rc));
	if (rc < 0 && !msg[0])
		fail_msg("cr_checkpoint %s: %s without a message", line, rc_name(rc));
	for (const struct want *w = tc->want; w < tc->want + MAX_WANT && w->k != K_END; w++) {
		const char *name;

		switch (w->k) {
		case K_FILE:
			check_want(line, w, 0, o.file, true, "file");
			break;
		case K_DIR:
			check_want(line, w, 0, o.dir, true, "dir");
			break;
		case K_BACKUP:
			check_want(line, w, 0, o.backup_name, true, "backup_name");
			break;
		default: {
			long v = ckpt_num(&o, w->k, &name);

			check_want(line, w, v, NULL, false, name);
		}
		}
	}
}

static void checkpoint_command_lines_parse_as_blcr_defines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(ckpt_cases) / sizeof(ckpt_cases[0]); i++)
		ckpt_check_case(&ckpt_cases[i]);
}

/* getopt keeps optopt between calls; an earlier parse's error must not turn a later
 * "-?" into a usage error. */
static void help_after_an_earlier_parse_failed_on_an_unknown_option(void **state)
{
	static const struct ckpt_case bad = {C("-x", "42"), OPT_USAGE, {}};
	static const struct ckpt_case missing = {C("42", "-f"), OPT_USAGE, {}};
	static const struct ckpt_case help = {C("-?"), OPT_EXIT, {W(HELP, 1)}};
	static const struct ckpt_case help_late = {C("-pq?", "42"), OPT_EXIT, {W(HELP, 1)}};

	(void)state;
	ckpt_check_case(&bad);
	ckpt_check_case(&help);
	ckpt_check_case(&missing);
	ckpt_check_case(&help);
	ckpt_check_case(&bad);
	ckpt_check_case(&help_late);
}

/* ==== cr_restart ==== */

enum {
	R_END,
	R_SRC,
	R_FILE,
	R_FD,
	R_DIR,
	R_SIGNAL,
	R_EARLY,
	R_OMIT,
	R_H_SUCCESS,
	R_H_ARGS,
	R_H_TEMP,
	R_H_ENV,
	R_H_PERM,
	R_NRELOCS,
	R_PID,
	R_PGID,
	R_SID,
	R_KMSG,
	R_QUIET,
	R_HELP,
	R_VERSION,
};

#define RW(key, val)                                                                               \
	{                                                                                          \
		R_##key, (val), NULL                                                               \
	}
#define RWS(key, str)                                                                              \
	{                                                                                          \
		R_##key, 0, (str)                                                                  \
	}

struct rst_case {
	const char *argv[MAX_ARGS];
	int rc;
	struct want want[MAX_WANT];
};

#define R(...)                                                                                     \
	{                                                                                          \
		"cr_restart", __VA_ARGS__, NULL                                                    \
	}

static const struct rst_case rst_cases[] = {
    /* Defaults (4.1, in bold). */
    {R("ctx"),
     OPT_OK,
     {RW(SRC, RSRC_FILE), RWS(FILE, "ctx"), RW(FD, -1), RW(SIGNAL, 0), RW(OMIT, OMIT_MAYBE),
      RW(PID, 1), RW(PGID, 0), RW(SID, 0)}},
    {R("ctx"),
     OPT_OK,
     {RW(KMSG, KMSG_MODE_ERROR), RW(QUIET, 0), RWS(H_SUCCESS, NULL), RWS(H_ARGS, NULL),
      RWS(H_PERM, NULL), RW(NRELOCS, 0), RW(EARLY, 0), RW(HELP, 0)}},

    /* Help, version (-v is --version here), quiet. */
    {R("-h"), OPT_EXIT, {RW(HELP, 1), RW(VERSION, 0)}},
    {R("-?"), OPT_EXIT, {RW(HELP, 1)}},
    {R("--help"), OPT_EXIT, {RW(HELP, 1)}},
    {R("--h"), OPT_EXIT, {RW(HELP, 1)}},
    {R("a", "b", "-h"), OPT_EXIT, {RW(HELP, 1)}},
    {R("-v"), OPT_EXIT, {RW(VERSION, 1), RW(HELP, 0)}},
    {R("--version"), OPT_EXIT, {RW(VERSION, 1)}},
    {R("--vers"), OPT_EXIT, {RW(VERSION, 1)}},
    {R("ctx", "-v"), OPT_EXIT, {RW(VERSION, 1)}},
    {R("-q", "ctx"), OPT_OK, {RW(QUIET, 1)}},
    {R("--quiet", "ctx"), OPT_OK, {RW(QUIET, 1)}},
    {R("--verbose", "ctx"), OPT_USAGE, {}},

    /* Source: at most one; -f/-F take no positional; else exactly one FILE. */
    {R("-f", "ctx"), OPT_OK, {RW(SRC, RSRC_FILE), RWS(FILE, "ctx")}},
    {R("-fctx"), OPT_OK, {RW(SRC, RSRC_FILE), RWS(FILE, "ctx")}},
    {R("--file=ctx"), OPT_OK, {RW(SRC, RSRC_FILE), RWS(FILE, "ctx")}},
    {R("--file", "ctx"), OPT_OK, {RW(SRC, RSRC_FILE), RWS(FILE, "ctx")}},
    {R("--fi", "ctx"), OPT_OK, {RW(SRC, RSRC_FILE), RWS(FILE, "ctx")}},
    {R("-F", "0"), OPT_OK, {RW(SRC, RSRC_FD), RW(FD, 0)}},
    {R("--fd=5"), OPT_OK, {RW(SRC, RSRC_FD), RW(FD, 5)}},
    {R("--fd", "5"), OPT_OK, {RW(SRC, RSRC_FD), RW(FD, 5)}},
    {R("-d", "dir"), OPT_OK, {RW(SRC, RSRC_DIR), RWS(DIR, "dir")}},
    {R("--dir=dir"), OPT_OK, {RW(SRC, RSRC_DIR), RWS(DIR, "dir")}},
    {R("-f", "a", "-f", "b"), -EINVAL, {}},
    {R("-f", "a", "-F", "0"), -EINVAL, {}},
    {R("-F", "0", "-d", "x"), -EINVAL, {}},
    {R("-d", "x", "-f", "y"), -EINVAL, {}},
    /* -d DIR and a FILE: two sources (BLCR refused -d itself with EINVAL) */
    {R("-d", "x", "y"), -EINVAL, {}},
    {R("y", "--dir=x"), -EINVAL, {}},
    {R("-d", "x", "--", "y"), -EINVAL, {}},
    {R("-F", "1", "-F", "1"), -EINVAL, {}},
    {R("-F", "-1"), -EINVAL, {}},
    {R("--fd=-3"), -EINVAL, {}},
    {R("-F", "x"), OPT_USAGE, {}},
    {R("-F", ""), OPT_USAGE, {}},
    {R("-F", "1 "), OPT_USAGE, {}},
    {R("-F", "+1"), OPT_USAGE, {}},
    {R("-f", "a", "b"), OPT_USAGE, {}},
    {R("b", "-f", "a"), OPT_USAGE, {}},
    {R("-F", "0", "b"), OPT_USAGE, {}},
    {{"cr_restart", NULL}, OPT_USAGE, {}},
    {R("a", "b"), OPT_USAGE, {}},
    {R("-f"), OPT_USAGE, {}},
    {R("--", "-ctx"), OPT_OK, {RWS(FILE, "-ctx")}},

    /* Signal after restart. */
    {R("--run", "c"), OPT_OK, {RW(SIGNAL, 0)}},
    {R("-S", "9", "c"), OPT_OK, {RW(SIGNAL, 9)}},
    {R("--signal=9", "c"), OPT_OK, {RW(SIGNAL, 9)}},
    {R("--sig", "9", "c"), OPT_OK, {RW(SIGNAL, 9)}},
    {R("-S", "64", "c"), OPT_OK, {RW(SIGNAL, 64)}},
    {R("-S", "0", "c"), -EINVAL, {}},
    {R("-S", "65", "c"), -EINVAL, {}},
    {R("-S", "-9", "c"), -EINVAL, {}},
    {R("-S", "9x", "c"), OPT_USAGE, {}},
    {R("-S", "", "c"), OPT_USAGE, {}},
    {R("--stop", "c"), OPT_OK, {RW(SIGNAL, 19), RW(EARLY, 0)}},
    {R("--freeze", "c"), OPT_OK, {RW(SIGNAL, 19)}},
    {R("--fr", "c"), OPT_OK, {RW(SIGNAL, 19)}},
    {R("--term", "c"), OPT_OK, {RW(SIGNAL, 15)}},
    {R("--abort", "c"), OPT_OK, {RW(SIGNAL, 6)}},
    {R("--kill", "c"), OPT_OK, {RW(SIGNAL, 9)}},
    {R("--cont", "c"), OPT_OK, {RW(SIGNAL, 18)}},
    {R("--early-stop", "c"), OPT_OK, {RW(SIGNAL, 19), RW(EARLY, 1)}},
    {R("--early-abrt", "c"), OPT_OK, {RW(SIGNAL, 6), RW(EARLY, 1)}},
    {R("--kill", "--run", "c"), OPT_OK, {RW(SIGNAL, 0)}},
    {R("--stop", "--cont", "c"), OPT_OK, {RW(SIGNAL, 18)}},
    {R("--cont", "-S", "2", "c"), OPT_OK, {RW(SIGNAL, 2)}},
    {R("--early-stop", "--term", "c"), OPT_OK, {RW(SIGNAL, 15), RW(EARLY, 0)}},

    /* Omit. */
    {R("--omit-maybe", "c"), OPT_OK, {RW(OMIT, OMIT_MAYBE)}},
    {R("--omit-always", "c"), OPT_OK, {RW(OMIT, OMIT_ALWAYS)}},
    {R("--omit-never", "c"), OPT_OK, {RW(OMIT, OMIT_NEVER)}},
    {R("--omit-a", "c"), OPT_OK, {RW(OMIT, OMIT_ALWAYS)}},
    {R("--omit-never", "--omit-maybe", "c"), OPT_OK, {RW(OMIT, OMIT_MAYBE)}},
    {R("--omit-always", "--omit-never", "c"), OPT_OK, {RW(OMIT, OMIT_NEVER)}},
    {R("--omit", "c"), OPT_USAGE, {}},

    /* Hooks: last one wins per class; --run-on-failure sets all four failure hooks. */
    {R("--run-on-success=ok", "c"), OPT_OK, {RWS(H_SUCCESS, "ok"), RWS(H_ARGS, NULL)}},
    {R("--run-on-success", "ok", "c"), OPT_OK, {RWS(H_SUCCESS, "ok")}},
    {R("--run-on-s", "ok", "c"), OPT_OK, {RWS(H_SUCCESS, "ok")}},
    {R("--run-on-fail-args", "a", "c"), OPT_OK, {RWS(H_ARGS, "a"), RWS(H_TEMP, NULL)}},
    {R("--run-on-fail-temp", "t", "c"), OPT_OK, {RWS(H_TEMP, "t"), RWS(H_ARGS, NULL)}},
    {R("--run-on-fail-env", "e", "c"), OPT_OK, {RWS(H_ENV, "e"), RWS(H_PERM, NULL)}},
    {R("--run-on-fail-perm", "p", "c"), OPT_OK, {RWS(H_PERM, "p"), RWS(H_ENV, NULL)}},
    {R("--run-on-fail-p=p", "c"), OPT_OK, {RWS(H_PERM, "p")}},
    {R("--run-on-failure", "f", "c"),
     OPT_OK,
     {RWS(H_ARGS, "f"), RWS(H_TEMP, "f"), RWS(H_ENV, "f"), RWS(H_PERM, "f"), RWS(H_SUCCESS, NULL)}},
    {R("--run-on-failure", "f", "--run-on-fail-env", "e", "c"),
     OPT_OK,
     {RWS(H_ARGS, "f"), RWS(H_TEMP, "f"), RWS(H_ENV, "e"), RWS(H_PERM, "f")}},
    {R("--run-on-fail-env", "e", "--run-on-failure", "f", "c"), OPT_OK, {RWS(H_ENV, "f")}},
    {R("--run-on-success", "a", "--run-on-success", "b", "c"), OPT_OK, {RWS(H_SUCCESS, "b")}},
    {R("--run-on-failure", "", "c"), OPT_OK, {RWS(H_ARGS, ""), RWS(H_PERM, "")}},
    {R("--run-on-fa", "x", "c"), OPT_USAGE, {}}, /* fail-*, failure */
    {R("--run-on-success"), OPT_USAGE, {}},
    /* A hook given before a bad argument is kept, so that it runs. */
    {R("--run-on-fail-args", "exit 42", "--bad-argument"), OPT_USAGE, {RWS(H_ARGS, "exit 42")}},
    {R("--run-on-failure", "exit 42", "-S", "99", "c"), -EINVAL, {RWS(H_ARGS, "exit 42")}},
    {R("--run-on-fail-args", "exit 42", "a", "b"), OPT_USAGE, {RWS(H_ARGS, "exit 42")}},
    {R("--run-on-fail-args", "exit 42", "-f", "a", "-F", "1"), -EINVAL, {RWS(H_ARGS, "exit 42")}},
    {R("--run-on-fail-args", "exit 42", "--relocate", "a=b", "c"),
     -EINVAL,
     {RWS(H_ARGS, "exit 42")}},

    /* pid, pgid and sid pairs. */
    {R("--no-restore-pid", "c"), OPT_OK, {RW(PID, 0)}},
    {R("--no-restore-pid", "--restore-pid", "c"), OPT_OK, {RW(PID, 1)}},
    {R("--restore-pid", "--no-restore-pid", "c"), OPT_OK, {RW(PID, 0)}},
    {R("--no-restore-pi", "c"), OPT_OK, {RW(PID, 0)}},
    {R("--restore-pgid", "c"), OPT_OK, {RW(PGID, 1), RW(SID, 0), RW(PID, 1)}},
    {R("--restore-pgid", "--no-restore-pgid", "c"), OPT_OK, {RW(PGID, 0)}},
    {R("--no-restore-pgid", "--restore-pgid", "c"), OPT_OK, {RW(PGID, 1)}},
    {R("--restore-sid", "c"), OPT_OK, {RW(SID, 1), RW(PGID, 0)}},
    {R("--restore-sid", "--no-restore-sid", "c"), OPT_OK, {RW(SID, 0)}},
    {R("--restore-s", "c"), OPT_OK, {RW(SID, 1)}},
    {R("--restore-p", "c"), OPT_USAGE, {}}, /* pid, pgid */

    /* Kernel messages. */
    {R("--kmsg-none", "c"), OPT_OK, {RW(KMSG, KMSG_MODE_NONE)}},
    {R("--kmsg-warning", "c"), OPT_OK, {RW(KMSG, KMSG_MODE_WARNING)}},
    {R("--kmsg-warning", "--kmsg-error", "c"), OPT_OK, {RW(KMSG, KMSG_MODE_ERROR)}},
    {R("--kmsg-error", "--kmsg-none", "c"), OPT_OK, {RW(KMSG, KMSG_MODE_NONE)}},

    /* Unknown options. */
    {R("-x", "c"), OPT_USAGE, {}},
    {R("-T", "c"), OPT_USAGE, {}},
    {R("--tree", "c"), OPT_USAGE, {}},
    {R("--run=1", "c"), OPT_USAGE, {}},
    {R("-c", "c"), OPT_USAGE, {}},
};

static const char *rst_str(const struct rst_cli *o, int k, const char **ret_name)
{
	switch (k) {
	case R_FILE:
		*ret_name = "file";
		return o->file;
	case R_DIR:
		*ret_name = "dir";
		return o->dir;
	case R_H_SUCCESS:
		*ret_name = "hook[SUCCESS]";
		return o->hook[HOOK_SUCCESS];
	case R_H_ARGS:
		*ret_name = "hook[ARGS]";
		return o->hook[HOOK_ARGS];
	case R_H_TEMP:
		*ret_name = "hook[TEMP]";
		return o->hook[HOOK_TEMP];
	case R_H_ENV:
		*ret_name = "hook[ENV]";
		return o->hook[HOOK_ENV];
	case R_H_PERM:
		*ret_name = "hook[PERM]";
		return o->hook[HOOK_PERM];
	}
	*ret_name = NULL;
	return NULL;
}

static long rst_num(const struct rst_cli *o, int k, const char **ret_name)
{
	static const char *const names[] = {
	    [R_SRC] = "src",         [R_FD] = "fd",
	    [R_SIGNAL] = "signal",   [R_EARLY] = "early",
	    [R_OMIT] = "omit",       [R_NRELOCS] = "nrelocs",
	    [R_PID] = "restore_pid", [R_PGID] = "restore_pgid",
	    [R_SID] = "restore_sid", [R_KMSG] = "kmsg",
	    [R_QUIET] = "quiet",     [R_HELP] = "help",
	    [R_VERSION] = "version",
	};

	*ret_name = names[k];
	switch (k) {
	case R_SRC:
		return o->src;
	case R_FD:
		return o->fd;
	case R_SIGNAL:
		return o->signal;
	case R_EARLY:
		return o->early;
	case R_OMIT:
		return o->omit;
	case R_NRELOCS:
		return (long)o->nrelocs;
	case R_PID:
		return o->restore_pid;
	case R_PGID:
		return o->restore_pgid;
	case R_SID:
		return o->restore_sid;
	case R_KMSG:
		return o->kmsg;
	case R_QUIET:
		return o->quiet;
	case R_HELP:
		return o->help;
	case R_VERSION:
		return o->version;
	}
	fail_msg("unknown restart field %d", k);
	return 0;
}

static void rst_check_case(const struct rst_case *tc)
{
	char *argv[MAX_ARGS + 1], line[512], msg[256];
	struct rst_cli o;
	int argc = copy_argv(tc->argv, argv), rc;

	describe(tc->argv + 1, line, sizeof(line));
	rc = rst_parse(argc, argv, &o, msg, sizeof(msg));
	if (rc != tc->rc)
		fail_msg("cr_restart %s: got %s (%s), want %s", line, rc_name(rc), msg,
			 rc_name(tc->rc));
	if (rc < 0 && !msg[0])
		fail_msg("cr_restart %s: %s without a message", line, rc_name(rc));
	for (const struct want *w = tc->want; w < tc->want + MAX_WANT && w->k != R_END; w++) {
		const char *name;
		const char *s = rst_str(&o, w->k, &name);

		if (name)
			check_want(line, w, 0, s, true, name);
		else
			check_want(line, w, rst_num(&o, w->k, &name), NULL, false, name);
	}
	rst_cli_fini(&o);
}

static void restart_command_lines_parse_as_blcr_defines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rst_cases) / sizeof(rst_cases[0]); i++)
		rst_check_case(&rst_cases[i]);
}

static void restart_help_after_an_earlier_parse_failed(void **state)
{
	static const struct rst_case bad = {R("-x", "c"), OPT_USAGE, {}};
	static const struct rst_case help = {R("-?"), OPT_EXIT, {RW(HELP, 1)}};
	static const struct rst_case help_late = {R("-q?", "c"), OPT_EXIT, {RW(HELP, 1)}};

	(void)state;
	rst_check_case(&bad);
	rst_check_case(&help);
	rst_check_case(&bad);
	rst_check_case(&help_late);
}

/* ==== --relocate OLD=NEW (4.4) ==== */

static const struct {
	const char *arg;
	int rc;
	const char *from, *to;
} reloc_cases[] = {
    {"/a=/b", 0, "/a", "/b"},
    {"/old/dir=/new/place", 0, "/old/dir", "/new/place"},
    {"/a/=/b//", 0, "/a", "/b"},
    {"/a///=/b/c/", 0, "/a", "/b/c"},
    {"/=/b", 0, "/", "/b"},
    {"//=/b", 0, "/", "/b"},
    {"/a=/", 0, "/a", "/"},
    {"/a\\=b=/c", 0, "/a=b", "/c"},
    {"/a=/b\\=c", 0, "/a", "/b=c"},
    {"/a\\\\=/c", 0, "/a\\", "/c"},
    {"/a\\\\\\==/c", 0, "/a\\=", "/c"},
    {"/a\\x=/c", 0, "/a\\x", "/c"},
    {"/a=/b\\", 0, "/a", "/b\\"},
    {"/a b=/c d", 0, "/a b", "/c d"},
    {"/a\\=/c", -EINVAL, NULL, NULL}, /* the only '=' is escaped */
    {"/a=/b=/c", -EINVAL, NULL, NULL},
    {"/a==/c", -EINVAL, NULL, NULL},
    {"a=/b", -EINVAL, NULL, NULL},
    {"/a=b", -EINVAL, NULL, NULL},
    {"./a=/b", -EINVAL, NULL, NULL},
    {"=/b", -EINVAL, NULL, NULL},
    {"/a=", -EINVAL, NULL, NULL},
    {"=", -EINVAL, NULL, NULL},
    {"", -EINVAL, NULL, NULL},
    {"/a", -EINVAL, NULL, NULL},
    {"\\/a=/b", -EINVAL, NULL, NULL},
};

static void relocation_parsing_follows_the_escape_and_path_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reloc_cases) / sizeof(reloc_cases[0]); i++) {
		char *from = (char *)"unset", *to = (char *)"unset";
		int rc = reloc_parse(reloc_cases[i].arg, &from, &to);

		if (rc != reloc_cases[i].rc)
			fail_msg("relocate '%s': got %d, want %d", reloc_cases[i].arg, rc,
				 reloc_cases[i].rc);
		if (rc < 0) {
			if (strcmp(from, "unset") || strcmp(to, "unset"))
				fail_msg("relocate '%s': outputs written on failure",
					 reloc_cases[i].arg);
			continue;
		}
		if (strcmp(from, reloc_cases[i].from) || strcmp(to, reloc_cases[i].to))
			fail_msg("relocate '%s': got '%s' -> '%s', want '%s' -> '%s'",
				 reloc_cases[i].arg, from, to, reloc_cases[i].from,
				 reloc_cases[i].to);
		free(from);
		free(to);
	}
}

static void relocations_keep_command_line_order_and_drop_identity_pairs(void **state)
{
	char *argv[] = {
	    (char *)"cr_restart", (char *)"--relocate",
	    (char *)"/a=/b",      (char *)"--relocate=/same=/same",
	    (char *)"--reloc",    (char *)"/x/=/x",
	    (char *)"--relocate", (char *)"/c/=/d/",
	    (char *)"--relocate", (char *)"/a=/e",
	    (char *)"ctx",        NULL,
	};
	char msg[256];
	struct rst_cli o;

	(void)state;
	assert_int_equal(rst_parse(11, argv, &o, msg, sizeof(msg)), OPT_OK);
	assert_int_equal(o.nrelocs, 3);
	assert_string_equal(o.relocs[0].from, "/a");
	assert_string_equal(o.relocs[0].to, "/b");
	assert_string_equal(o.relocs[1].from, "/c");
	assert_string_equal(o.relocs[1].to, "/d");
	assert_string_equal(o.relocs[2].from, "/a");
	assert_string_equal(o.relocs[2].to, "/e");
	rst_cli_fini(&o);
	assert_int_equal(o.nrelocs, 0);
	assert_null(o.relocs);
}

/* BLCR stops at 16 (CR_MAX_RSTRT_RELOC, a fixed array in its request); crest's list
 * has no such limit. */
static void more_than_sixteen_relocations_are_accepted(void **state)
{
	enum { N = 40 };
	char *argv[2 * N + 3], args[N][32], msg[256];
	struct rst_cli o;
	int argc = 0;

	(void)state;
	argv[argc++] = (char *)"cr_restart";
	for (int i = 0; i < N; i++) {
		snprintf(args[i], sizeof(args[i]), "/old%d=/new%d", i, i);
		argv[argc++] = (char *)"--relocate";
		argv[argc++] = args[i];
	}
	argv[argc++] = (char *)"ctx";
	argv[argc] = NULL;
	assert_int_equal(rst_parse(argc, argv, &o, msg, sizeof(msg)), OPT_OK);
	assert_int_equal(o.nrelocs, N);
	assert_string_equal(o.relocs[N - 1].from, "/old39");
	assert_string_equal(o.relocs[N - 1].to, "/new39");
	rst_cli_fini(&o);
}

static void relocations_before_a_bad_argument_are_kept_and_freed(void **state)
{
	char *argv[] = {
	    (char *)"cr_restart",
	    (char *)"--relocate",
	    (char *)"/a=/b",
	    (char *)"--relocate",
	    (char *)"bad",
	    (char *)"ctx",
	    NULL,
	};
	char msg[256];
	struct rst_cli o;

	(void)state;
	assert_int_equal(rst_parse(6, argv, &o, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "bad"));
	assert_int_equal(o.nrelocs, 1);
	rst_cli_fini(&o);
}

/* ==== integers ==== */

static void opt_int_accepts_plain_decimal_only(void **state)
{
	static const struct {
		const char *s;
		long min, max;
		int rc;
		long v;
	} cases[] = {
	    {"0", 0, 10, 0, 0},         {"10", 0, 10, 0, 10},
	    {"11", 0, 10, -EINVAL, 0},  {"-1", 0, 10, -EINVAL, 0},
	    {"-1", -5, 10, 0, -1},      {"-6", -5, 10, -EINVAL, 0},
	    {"+1", 0, 10, -EINVAL, 0},  {"+1", -5, 10, -EINVAL, 0},
	    {"", 0, 10, -EINVAL, 0},    {" 1", 0, 10, -EINVAL, 0},
	    {"1 ", 0, 10, -EINVAL, 0},  {"1x", 0, 10, -EINVAL, 0},
	    {"0x1", 0, 10, -EINVAL, 0}, {"010", 0, 10, 0, 10},
	    {"-", -5, 10, -EINVAL, 0},  {"99999999999999999999", 0, LONG_MAX, -EINVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long v = 12345;
		int rc = opt_int(cases[i].s, cases[i].min, cases[i].max, &v);

		if (rc != cases[i].rc)
			fail_msg("opt_int('%s', %ld, %ld): got %d, want %d", cases[i].s,
				 cases[i].min, cases[i].max, rc, cases[i].rc);
		if (rc == 0 && v != cases[i].v)
			fail_msg("opt_int('%s'): got %ld, want %ld", cases[i].s, v, cases[i].v);
		if (rc < 0 && v != 12345)
			fail_msg("opt_int('%s'): wrote its output on failure", cases[i].s);
	}
	assert_int_equal(opt_int(NULL, 0, 1, &(long){0}), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(checkpoint_command_lines_parse_as_blcr_defines),
	    cmocka_unit_test(help_after_an_earlier_parse_failed_on_an_unknown_option),
	    cmocka_unit_test(restart_command_lines_parse_as_blcr_defines),
	    cmocka_unit_test(restart_help_after_an_earlier_parse_failed),
	    cmocka_unit_test(relocation_parsing_follows_the_escape_and_path_rules),
	    cmocka_unit_test(relocations_keep_command_line_order_and_drop_identity_pairs),
	    cmocka_unit_test(more_than_sixteen_relocations_are_accepted),
	    cmocka_unit_test(relocations_before_a_bad_argument_are_kept_and_freed),
	    cmocka_unit_test(opt_int_accepts_plain_decimal_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
