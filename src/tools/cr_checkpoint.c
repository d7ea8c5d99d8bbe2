/* cr_checkpoint: save a running process to a context file. Parses BLCR's options,
 * opens the destination, asks the engine, and reports as BLCR does. */
#include "common.h"
#include "opts.h"

#include "engine/checkpoint.h"
#include "engine/dest.h"
#include "engine/err.h"
#include "engine/log.h"
#include "engine/ptrace_util.h"
#include "engine/version.h"
#include "util/buf.h"
#include "util/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/banned.h"

#define PROG "cr_checkpoint"

static void usage(FILE *f)
{
	fputs("Usage: " PROG " [options] ID\n"
	      "Save the process (or tree, group, session) ID to a context file; restart it\n"
	      "later with cr_restart.\n"
	      "\n"
	      "What to save (the last one given counts):\n"
	      "  -T, --tree            ID and all its descendants (default; for now a process\n"
	      "                        with children is refused)\n"
	      "  -p, --pid, --process  the process ID (any of its thread ids) alone\n"
	      "  -g, --pgid, --group   every process of process group ID (one, for now)\n"
	      "  -s, --sid, --session  every process of session ID (one, for now)\n"
	      "\n"
	      "Where to save it (only one may be given):\n"
	      "  -c, --cwd             context.ID in the current directory (default)\n"
	      "  -f, --file FILE       FILE\n"
	      "  -F, --fd FD           the open descriptor FD (a file, pipe or socket)\n"
	      "  -d, --dir DIR         one file per process in DIR (not yet implemented)\n"
	      "\n"
	      "How to replace an existing file (the last one given counts):\n"
	      "      --atomic          write .FILE.tmp, rename it over FILE (default)\n"
	      "      --backup[=NAME]   as --atomic, keeping the old FILE as NAME or FILE.~N~\n"
	      "      --clobber         overwrite FILE in place\n"
	      "      --noclobber       fail if FILE exists\n"
	      "\n"
	      "What happens to the process afterwards (the last one given counts):\n"
	      "      --run             it carries on (default)\n"
	      "  -S, --signal NUM      it gets signal NUM (1-64)\n"
	      "      --stop, --term, --abort, --kill, --cont\n"
	      "                        it gets SIGSTOP, SIGTERM, SIGABRT, SIGKILL or SIGCONT\n"
	      "      --early-stop, --early-abrt\n"
	      "                        the same as --stop, --abort\n"
	      "\n"
	      "Other options (the last one of each group counts):\n"
	      "      --sync, --nosync  sync the file and its directory to disk, or not\n"
	      "                        (default: --sync)\n"
	      "      --save-exe, --save-private, --save-shared, --save-all\n"
	      "                        also save the contents of file mappings (these add\n"
	      "                        up; recorded, not yet implemented)\n"
	      "      --save-none       forget the --save-* options given before\n"
	      "      --ptraced-error, --ptraced-skip, --ptraced-allow\n"
	      "                        a traced process: fail (default), leave it out, save it\n"
	      "      --ptracer-error, --ptracer-skip\n"
	      "                        a process tracing others: fail (default), leave it out\n"
	      "                        (both accepted, not yet implemented)\n"
	      "      --kmsg-none, --kmsg-error, --kmsg-warning\n"
	      "                        when to print the request's detail lines (\"- ...\"):\n"
	      "                        never, on failure (default), always\n"
	      "  -t, --time SEC        give up after SEC seconds (default 0: no limit)\n"
	      "  -q, --quiet           print nothing on stderr\n"
	      "  -v, --verbose         say more\n"
	      "  -?, -h, --help        this help\n"
	      "      --version         print the version\n"
	      "\n"
	      "Exit status: 0, or the failure's errno modulo 256 (255 for a usage error).\n",
	      f);
}

/* The pid to freeze for the scope asked: until process trees land, the scope must
 * come down to one process. */
static int resolve(const struct ckpt_opts *o, pid_t *ret, struct err *err)
{
	pid_t id = o->id;
	int rc;

	if (o->scope == CKPT_SCOPE_PROC || o->scope == CKPT_SCOPE_TREE) {
		char path[64];
		struct buf b;
		uint64_t tgid = 0;

		if (id == 0)
			return err_set(err, -ESRCH, "ID 0 is cr_checkpoint itself: nothing to save");
		buf_init(&b);
		snprintf(path, sizeof(path), "/proc/%d/status", id);
		rc = buf_read_file(&b, path);
		if (rc == 0)
			procfs_field_u64((char *)b.data, "Tgid", 10, &tgid);
		buf_fini(&b);
		if (rc < 0 || !tgid)
			return err_set(err, -ESRCH, "no process %d", id);
		*ret = (pid_t)tgid;
		return 0;
	}
	/* A group or session: its members are found and frozen by the engine. */
	if (id == 0)
		id = o->scope == CKPT_SCOPE_PGRP ? getpgrp() : getsid(0);
	*ret = id;
	return 0;
}

struct commit_arg {
	struct dest *dest;
	bool sync;
};

static int commit(void *arg, struct err *err)
{
	struct commit_arg *a = arg;

	return dest_commit(a->dest, a->sync, err);
}

/* The requester: everything but waiting. */
static int request(const struct ckpt_opts *o)
{
	struct err err = {0};
	struct dest dest;
	struct commit_arg ca = {&dest, o->sync};
	struct ckpt_request req;
	char file[64];
	const char *name = o->file;
	struct stat st;
	sigset_t block;
	bool quiet = o->verbosity < 0;
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&dest, 0, sizeof(dest));
	dest.fd = -1;
	/* A request cut short would leave the target frozen or half-injected. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGTSTP);
	sigprocmask(SIG_BLOCK, &block, NULL);

	if (o->dest == CDEST_DIR) {
		rc = err_set(&err, -EINVAL, "--dir is not implemented yet");
		goto out;
	}
	rc = resolve(o, &req.pid, &err);
	if (rc < 0)
		goto out;
	req.scope = o->scope;
	if (o->dest == CDEST_CWD) {
		snprintf(file, sizeof(file), "context.%d", o->id);
		name = file;
	}
	/* As BLCR, an existing file under --noclobber is the first thing said; but a
	 * request refused outright must not touch the destination. */
	if (o->dest != CDEST_FD && o->policy == CPOL_NOCLOBBER && lstat(name, &st) == 0) {
		rc = err_set(&err, -EEXIST, "cannot open %s: %s", name, strerror(EEXIST));
		goto out;
	}
	/* The target of a tree or process is asked now; a group's members later. */
	if (o->scope == CKPT_SCOPE_PROC || o->scope == CKPT_SCOPE_TREE)
		rc = checkpoint_admit(&req, &err);
	if (rc < 0)
		goto out;
	if (o->dest == CDEST_FD) {
		rc = dest_open_fd(&dest, o->fd, &err);
	} else {
		rc = dest_open_file(&dest, name, (enum dest_policy)o->policy, o->backup_name, &err);
		if (rc == 0 && o->verbosity > 0 && !quiet)
			fprintf(stderr, PROG ": writing %s, then renaming it to %s\n",
				dest.tmp ? dest.tmp : name, name);
	}
	if (rc < 0)
		goto out;
	if (o->time && ptu_set_deadline(o->time) < 0) {
		rc = err_sys(&err, "cannot set the time limit");
		goto out;
	}
	req.flags = o->save_flags;
	req.fd = dest.fd;
	req.dest_name = dest_display(&dest);
	req.commit = commit;
	req.commit_arg = &ca;
	req.signal = o->signal;
	rc = checkpoint_run(&req, &err);
	if (rc == -ETIMEDOUT || (rc < 0 && ptu_deadline_hit))
		rc = err.code ? err.code : -ETIMEDOUT;
out:
	if (rc < 0)
		dest_abort(&dest);
	dest_fini(&dest);
	tool_print_kmsgs(o->kmsg, rc < 0, quiet);
	if (rc < 0 && !quiet)
		fprintf(stderr, "Checkpoint failed: %s\n", err.msg);
	return rc;
}

int main(int argc, char **argv)
{
	struct ckpt_opts o;
	char msg[256];
	pid_t child;
	int rc, st;

	rc = ckpt_parse(argc, argv, &o, msg, sizeof(msg));
	if (rc == OPT_EXIT) {
		if (o.help)
			usage(stdout);
		else
			printf(PROG " version %s\n", CREST_VERSION);
		return 0;
	}
	if (rc != OPT_OK) {
		if (o.verbosity >= 0) {
			fprintf(stderr, PROG ": %s\n", msg);
			if (rc == OPT_USAGE)
				usage(stderr);
		}
		return rc == OPT_USAGE ? 255 : tool_exit_code(rc);
	}
	log_verbosity = o.verbosity < 0 ? LOG_ERROR : o.verbosity > 1 ? LOG_DEBUG
						   : o.verbosity > 0 ? LOG_INFO
								     : LOG_WARN;

	/* As BLCR: a child does the work and this process waits for it, so that a
	 * process that checkpoints its own tree is saved while it waits, and after a
	 * restart finds no child and carries on as if the checkpoint returned 0. */
	fflush(NULL);
	child = fork();
	if (child < 0) {
		if (o.verbosity >= 0)
			fprintf(stderr, "Checkpoint failed: cannot fork: %s\n", strerror(errno));
		return tool_exit_code(-errno);
	}
	if (child == 0) {
		rc = tool_exit_code(request(&o));
		fflush(NULL);
		_exit(rc);
	}
	while (waitpid(child, &st, 0) < 0) {
		if (errno == ECHILD)
			return 0;
		if (errno != EINTR)
			return 1;
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}
