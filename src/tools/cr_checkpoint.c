/* cr_checkpoint: save a running process to a context file. Parses BLCR's options,
 * opens the destination, asks the engine, and reports as BLCR does. */
#include "common.h"
#include "opts.h"

#include "engine/checkpoint.h"
#include "engine/dest.h"
#include "engine/err.h"
#include "engine/log.h"
#include "engine/pidns.h"
#include "engine/ptrace_util.h"
#include "engine/version.h"
#include "util/buf.h"
#include "util/procfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
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
	      "  -T, --tree            ID and all its descendants (default)\n"
	      "  -p, --pid, --process  the process ID (any of its thread ids) alone\n"
	      "  -g, --pgid, --group   every process of process group ID\n"
	      "  -s, --sid, --session  every process of session ID\n"
	      "\n"
	      "Where to save it (only one may be given):\n"
	      "  -c, --cwd             context.ID in the current directory (default)\n"
	      "  -f, --file FILE       FILE\n"
	      "  -F, --fd FD           the open descriptor FD (a file, pipe or socket)\n"
	      "  -d, --dir DIR         the directory DIR, holding context.PID files\n"
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
	      "                        also save the contents of mapped files: the\n"
	      "                        executable, private or shared mappings, all (these\n"
	      "                        add up)\n"
	      "      --save-none       forget the --save-* options given before\n"
	      "      --ptraced-error, --ptraced-skip, --ptraced-allow\n"
	      "                        a traced process: fail (default), leave it out, save it\n"
	      "                        (impossible with crest: fails as --ptraced-error)\n"
	      "      --ptracer-error, --ptracer-skip\n"
	      "                        a process tracing others: fail (default), leave it out\n"
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

/* ---- -d DIR: a directory of contexts ----
 *
 * DIR holds one context file per process of the scope, context.PID (zombies
 * included), and nothing else. The engine writes each one when it asks for it
 * (open_part): a whole context of its own, tied to the others by its part record
 * (which checkpoint, which part of how many), so no index file is needed; a scope of
 * one process gives one ordinary context. The directory is built under a temporary
 * name next to it, PARENT/.BASE.tmp, and renamed into place once every file in it is
 * written and synced: DIR appears complete or not at all. One rename for the directory rather than one per file,
 * because the files of a checkpoint belong together: renaming them one by one would
 * leave DIR holding some new files and some old ones in between, or after a crash.
 *
 * An existing DIR: --atomic (default) swaps the new directory in with
 * renameat2(RENAME_EXCHANGE), also atomic, then removes the old one, which must hold
 * nothing but context files (checked before anything is frozen); --backup renames it
 * to NAME or DIR.~N~ first; --noclobber refuses it (EEXIST); --clobber writes the
 * files straight into DIR, then removes the context files it did not write. */
struct ckdir {
	char *final;      /* DIR as given */
	char *tmp;        /* PARENT/.BASE.tmp; NULL with --clobber */
	const char *work; /* where the files go: tmp, or final */
	enum ckpt_policy policy;
	const char *backup;     /* --backup=NAME */
	bool made_work;         /* we created work (removed on failure) */
	bool sync;              /* --sync: each file synced once written */
	int fd;                 /* the context being written */
	char file[32];          /* its name in work: context.PID */
	char display[PATH_MAX]; /* DIR/context.PID, for messages */
	pid_t *pids;            /* the files made so far, context.PID each */
	uint32_t npids;
};

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether name is a file this checkpoint made (d->pids sorted). */
static bool ckdir_made(const struct ckdir *d, const char *name)
{
	char mine[32];
	pid_t pid = (pid_t)strtol(name + 8, NULL, 10);

	snprintf(mine, sizeof(mine), "context.%d", pid);
	return !strcmp(name, mine) && bsearch(&pid, d->pids, d->npids, sizeof(pid), cmp_pid);
}

/* Whether the directory at path holds nothing but context files. 1 yes, 0 no, or
 * -errno. */
static int only_contexts(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int rc = 1;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    !tool_is_context_name(de->d_name))
			rc = 0;
	closedir(d);
	return rc;
}

/* Remove the context files of the directory at path, but those keep made (if
 * given). Returns 0 or -errno. */
static int remove_contexts(const char *path, const struct ckdir *keep)
{
	struct dirent *de;
	DIR *d = opendir(path);
	int rc = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (tool_is_context_name(de->d_name) && (!keep || !ckdir_made(keep, de->d_name)) &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0 && !rc)
			rc = -errno;
	closedir(d);
	return rc;
}

/* Remove a directory of context files, a former DIR or a temporary left by a crash. */
static int remove_context_dir(const char *path)
{
	int rc = remove_contexts(path, NULL);

	if (rc == 0 && rmdir(path) < 0)
		rc = -errno;
	return rc;
}

static void sync_path(const char *path, bool verbose)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0) {
		if (verbose)
			fprintf(stderr, PROG ": cannot sync %s: %s\n", path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
}

static int ckdir_init(struct ckdir *d, const struct ckpt_opts *o, struct err *err)
{
	char *c1 = strdup(o->dir), *c2 = strdup(o->dir);
	struct stat st;
	size_t n;
	int rc = 0;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->policy = o->policy;
	d->backup = o->backup_name;
	d->sync = o->sync;
	d->final = strdup(o->dir);
	if (!c1 || !c2 || !d->final) {
		rc = err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (o->policy != CPOL_CLOBBER) {
		n = strlen(o->dir) + 16;
		d->tmp = malloc(n);
		if (!d->tmp) {
			rc = err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		snprintf(d->tmp, n, "%s/.%s.tmp", dirname(c1), basename(c2));
	}
	d->work = d->tmp ? d->tmp : d->final;
	/* What is in the way is said before anything is frozen or written. */
	if (lstat(d->final, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			rc = err_set(err, -ENOTDIR, "cannot use %s: %s", d->final,
				     strerror(ENOTDIR));
		else if (o->policy == CPOL_NOCLOBBER)
			rc = err_set(err, -EEXIST, "cannot create %s: %s", d->final,
				     strerror(EEXIST));
		else if (o->policy == CPOL_ATOMIC && only_contexts(d->final) != 1)
			rc = err_set(err, -ENOTEMPTY,
				     "cannot replace %s: it holds other files than contexts "
				     "(use --backup to keep it, or another directory)",
				     d->final);
	} else if (errno != ENOENT) {
		rc = err_sys(err, "cannot use %s", d->final);
	}
out:
	free(c1);
	free(c2);
	return rc;
}

/* Create the directory the files go to. */
static int ckdir_open(struct ckdir *d, struct err *err)
{
	if (d->tmp && rmdir(d->tmp) < 0 && errno != ENOENT) {
		/* Left by a checkpoint that died: ours to remove if it holds only
		 * contexts. */
		int r = only_contexts(d->tmp) == 1 ? remove_context_dir(d->tmp) : -ENOTEMPTY;

		if (r < 0)
			return err_code(err, r, "cannot remove the old temporary directory %s",
					d->tmp);
	}
	if (mkdir(d->work, 0700) == 0)
		d->made_work = true;
	else if (d->tmp || errno != EEXIST)
		return err_sys(err, "cannot create %s", d->work);
	return 0;
}

/* The file being written is whole: make it durable (--sync) and close it. */
static int ckdir_close_file(struct ckdir *d, struct err *err)
{
	int fd = d->fd;

	if (fd < 0)
		return 0;
	d->fd = -1;
	if (d->sync && fsync(fd) < 0) {
		close(fd);
		return err_sys(err, "cannot sync %s", d->display);
	}
	if (close(fd) < 0)
		return err_sys(err, "cannot write %s", d->display);
	return 0;
}

/* Open work/context.PID for one process, once the one before is whole; the engine
 * writes it through d->fd. */
static int ckdir_add(struct ckdir *d, pid_t pid, struct err *err)
{
	int flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_CLOEXEC;
	char path[PATH_MAX];
	pid_t *pids;

	if (ckdir_close_file(d, err) < 0)
		return err->code;
	pids = realloc(d->pids, (d->npids + 1u) * sizeof(*pids));
	if (!pids)
		return err_set(err, -ENOMEM, "out of memory");
	d->pids = pids;
	snprintf(d->file, sizeof(d->file), "context.%d", pid);
	snprintf(d->display, sizeof(d->display), "%s/%s", d->final, d->file);
	snprintf(path, sizeof(path), "%s/%s", d->work, d->file);
	if (d->tmp)
		flags |= O_EXCL;
	else if (access(path, W_OK) < 0 && errno == EACCES && unlink(path) < 0)
		return err_sys(err, "cannot replace %s", path);
	d->fd = open(path, flags, 0400);
	if (d->fd < 0)
		return err_sys(err, "cannot open %s", path);
	d->pids[d->npids++] = pid;
	return 0;
}

/* The first free DIR.~N~, or NAME. */
static int backup_name(const struct ckdir *d, char *name, size_t n, struct err *err)
{
	struct stat st;

	if (d->backup) {
		snprintf(name, n, "%s", d->backup);
		return 0;
	}
	for (unsigned int i = 1; i <= 65536; i++) {
		snprintf(name, n, "%s.~%u~", d->final, i);
		if (lstat(name, &st) < 0 && errno == ENOENT)
			return 0;
	}
	return err_set(err, -EEXIST, "no free backup name for %s", d->final);
}

/* Every file written: make it durable and put the directory in place. */
static int ckdir_commit(struct ckdir *d, bool sync, bool verbose, struct err *err)
{
	char name[PATH_MAX], *c;
	int r;

	if (ckdir_close_file(d, err) < 0)
		return err->code;
	if (sync)
		sync_path(d->work, verbose);
	if (!d->tmp) {
		/* --clobber: DIR is written; what it held before goes. */
		qsort(d->pids, d->npids, sizeof(*d->pids), cmp_pid);
		r = remove_contexts(d->final, d);
		if (r < 0)
			return err_code(err, r, "cannot remove the old contexts of %s", d->final);
	} else if (d->policy == CPOL_NOCLOBBER) {
		if (renameat2(AT_FDCWD, d->tmp, AT_FDCWD, d->final, RENAME_NOREPLACE) < 0)
			return err_sys(err, "cannot rename %s to %s", d->tmp, d->final);
	} else {
		if (d->policy == CPOL_BACKUP && access(d->final, F_OK) == 0) {
			if (backup_name(d, name, sizeof(name), err) < 0)
				return err->code;
			if (rename(d->final, name) < 0)
				return err_sys(err, "cannot rename %s to %s", d->final, name);
		}
		/* Swap with an existing DIR in one step; the old one is then at tmp. */
		if (renameat2(AT_FDCWD, d->tmp, AT_FDCWD, d->final, RENAME_EXCHANGE) == 0) {
			r = remove_context_dir(d->tmp);
			if (r < 0)
				fprintf(stderr, PROG ": cannot remove the old %s (now %s): %s\n",
					d->final, d->tmp, strerror(-r));
		} else if (errno != ENOENT || rename(d->tmp, d->final) < 0) {
			return err_sys(err, "cannot rename %s to %s", d->tmp, d->final);
		}
	}
	d->made_work = false; /* it is DIR now */
	if (sync) {
		c = strdup(d->final);
		if (c)
			sync_path(dirname(c), verbose);
		free(c);
	}
	return 0;
}

/* After a failure: nothing written stays. An existing DIR is left as it was, but
 * with --clobber, where the files written in it go. */
static void ckdir_abort(struct ckdir *d)
{
	char path[PATH_MAX];

	if (d->fd >= 0) {
		close(d->fd);
		d->fd = -1;
	}
	for (uint32_t i = 0; d->work && i < d->npids; i++) {
		snprintf(path, sizeof(path), "%s/context.%d", d->work, d->pids[i]);
		unlink(path);
	}
	d->npids = 0;
	if (d->made_work)
		rmdir(d->work);
}

static void ckdir_fini(struct ckdir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	free(d->final);
	free(d->tmp);
	free(d->pids);
	d->final = d->tmp = NULL;
	d->pids = NULL;
}

struct commit_arg {
	struct dest *dest;
	struct ckdir *dir; /* with -d */
	bool sync, verbose;
};

static int commit(void *arg, struct err *err)
{
	struct commit_arg *a = arg;

	if (a->dir)
		return ckdir_commit(a->dir, a->sync, a->verbose, err);
	return dest_commit(a->dest, a->sync, err);
}

/* -d: the engine asks for each process's file in turn. */
static int open_part(void *arg, pid_t pid, int *ret_fd, const char **ret_name, struct err *err)
{
	struct ckdir *d = arg;
	int rc = ckdir_add(d, pid, err);

	if (rc < 0)
		return rc;
	*ret_fd = d->fd;
	*ret_name = d->display;
	return 0;
}

/* BLCR's CR_CHKPT_PTRACE* bits for the --ptraced-* and --ptracer-* options. */
static uint32_t ptrace_flags(const struct ckpt_opts *o)
{
	uint32_t f = 0;

	if (o->ptraced == PTRACED_SKIP)
		f |= CKPT_PTRACED_SKIP;
	else if (o->ptraced == PTRACED_ALLOW)
		f |= CKPT_PTRACED_ALLOW;
	if (o->ptracer == PTRACER_SKIP)
		f |= CKPT_PTRACER_SKIP;
	return f;
}

/* The requester: everything but waiting. */
static int request(const struct ckpt_opts *o)
{
	struct err err = {0};
	struct dest dest;
	struct ckdir dir;
	struct commit_arg ca = {&dest, NULL, o->sync, o->verbosity > 0};
	struct ckpt_request req;
	char file[64];
	const char *name = o->file;
	struct stat st;
	sigset_t block;
	bool quiet = o->verbosity < 0;
	int rc;

	memset(&req, 0, sizeof(req));
	memset(&dest, 0, sizeof(dest));
	memset(&dir, 0, sizeof(dir));
	dest.fd = dir.fd = -1;
	/* A request cut short would leave the target frozen or half-injected. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGQUIT);
	sigaddset(&block, SIGTSTP);
	sigprocmask(SIG_BLOCK, &block, NULL);

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
	if (o->dest == CDEST_DIR) {
		rc = ckdir_init(&dir, o, &err);
		if (rc < 0)
			goto out;
		ca.dir = &dir;
	} else if (o->dest != CDEST_FD && o->policy == CPOL_NOCLOBBER && lstat(name, &st) == 0) {
		rc = err_set(&err, -EEXIST, "cannot open %s: %s", name, strerror(EEXIST));
		goto out;
	}
	req.flags = o->save_flags | ptrace_flags(o);
	/* The target of a tree or process is asked now; a group's members later. A
	 * target the ptrace policy leaves out takes its descendants along: nothing is
	 * left. */
	if (o->scope == CKPT_SCOPE_PROC || o->scope == CKPT_SCOPE_TREE)
		rc = checkpoint_admit(&req, &err);
	if (rc > 0)
		rc = err_set(&err, -ESRCH, "pid %d is left out: nothing to save", req.pid);
	if (rc < 0)
		goto out;
	if (o->dest == CDEST_DIR) {
		rc = ckdir_open(&dir, &err);
		if (rc == 0 && o->verbosity > 0 && !quiet && dir.tmp)
			fprintf(stderr, PROG ": writing %s/context.PID, then renaming %s to %s\n",
				dir.work, dir.work, dir.final);
		else if (rc == 0 && o->verbosity > 0 && !quiet)
			fprintf(stderr, PROG ": writing %s/context.PID\n", dir.work);
	} else if (o->dest == CDEST_FD) {
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
	req.fd = o->dest == CDEST_DIR ? -1 : dest.fd;
	req.dest_name = o->dest == CDEST_DIR ? dir.final : dest_display(&dest);
	if (o->dest == CDEST_DIR) {
		req.open_part = open_part;
		req.part_arg = &dir;
	}
	req.commit = commit;
	req.commit_arg = &ca;
	req.signal = o->signal;
	req.signal_early = o->early;
	rc = checkpoint_run(&req, &err);
	if (rc == -ETIMEDOUT || (rc < 0 && ptu_deadline_hit))
		rc = err.code ? err.code : -ETIMEDOUT;
out:
	if (rc < 0) {
		dest_abort(&dest);
		ckdir_abort(&dir);
	}
	dest_fini(&dest);
	ckdir_fini(&dir);
	tool_print_kmsgs(o->kmsg, rc < 0, quiet);
	if (rc < 0 && !quiet)
		fprintf(stderr, "Checkpoint failed: %s\n", err.msg);
	return rc;
}

/* A target in a pid namespace below ours (cr_restart --pidns put it there) is
 * checkpointed from inside that namespace, by a child born in it: the context then
 * holds the ids the processes know themselves by, which a restart with --pidns gives
 * back. The default file keeps the id given. */
static bool joined;
static int pidns_back = -1; /* our own pid namespace, while joined */

static int join_target_pidns(struct ckpt_opts *o)
{
	static char name[64];
	struct err err = {0};
	pid_t inner;
	int rc;

	if (o->id <= 0 || pidns_inner_pid(o->id, &inner, &err) != 1)
		return 0; /* ours, or no such process: resolve() says so */
	if (pidns_is_crest_init(o->id))
		rc = err_set(&err, -EINVAL,
			     "pid %d is the init of a pid namespace made by cr_restart --pidns: "
			     "checkpoint the processes it runs",
			     o->id);
	else
		rc = pidns_enter(o->id, &pidns_back, &err);
	if (rc < 0) {
		if (o->verbosity >= 0)
			fprintf(stderr, "Checkpoint failed: %s\n", err.msg);
		return rc;
	}
	log_info("pid %d is pid %d in its own pid namespace: checkpointing it from there",
		 o->id, inner);
	if (o->dest == CDEST_CWD) {
		snprintf(name, sizeof(name), "context.%d", o->id);
		o->dest = CDEST_FILE;
		o->file = name;
	}
	o->id = inner;
	joined = true;
	return 0;
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

	rc = join_target_pidns(&o);
	if (rc < 0)
		return tool_exit_code(rc);

	/* As BLCR: a child does the work and this process waits for it, so that a
	 * process that checkpoints its own tree is saved while it waits, and after a
	 * restart finds no child and carries on as if the checkpoint returned 0. */
	fflush(NULL);
	child = fork();
	pidns_leave(&pidns_back);
	if (child < 0) {
		if (o.verbosity >= 0)
			fprintf(stderr, "Checkpoint failed: cannot fork: %s\n", strerror(errno));
		return tool_exit_code(-errno);
	}
	if (child == 0) {
		struct err err = {0};

		if (joined && (rc = pidns_settle(&err)) < 0) {
			if (o.verbosity >= 0)
				fprintf(stderr, "Checkpoint failed: %s\n", err.msg);
			_exit(tool_exit_code(rc));
		}
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
