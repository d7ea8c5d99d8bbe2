/* cr_restart: bring a process back from a context file, stay its parent, and exit
 * as it exits. BLCR's options, hooks, failure classes and exit codes. */
#include "common.h"
#include "opts.h"

#include "engine/context.h"
#include "engine/err.h"
#include "engine/log.h"
#include "engine/restart.h"
#include "engine/version.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/banned.h"

#define PROG "cr_restart"
#define CR_SIGNUM 64

static void usage(FILE *f)
{
	fputs("Usage: " PROG " [options] FILE\n"
	      "       " PROG " [options] -f FILE | -F FD\n"
	      "Bring back the processes saved in a context file by cr_checkpoint. cr_restart\n"
	      "stays their parent and exits as the first of them exits.\n"
	      "\n"
	      "Source (at most one; none means FILE):\n"
	      "  -f, --file FILE           read the context from FILE\n"
	      "  -F, --fd FD               read it from the open descriptor FD (may be a pipe)\n"
	      "  -d, --dir DIR             read the context from DIR, as cr_checkpoint -d\n"
	      "                            writes it: one file per process\n"
	      "\n"
	      "Signal once restarted (the last one given counts):\n"
	      "      --run                 none (default)\n"
	      "  -S, --signal NUM          signal NUM (1-64)\n"
	      "      --stop (--freeze), --term, --abort, --kill, --cont\n"
	      "                            SIGSTOP, SIGTERM, SIGABRT, SIGKILL or SIGCONT\n"
	      "      --early-stop, --early-abrt\n"
	      "                            the same as --stop, --abort\n"
	      "\n"
	      "Ids (the last one of each pair counts):\n"
	      "      --restore-pid         the saved pids and thread ids (default)\n"
	      "      --no-restore-pid      new ones\n"
	      "      --restore-pgid, --no-restore-pgid\n"
	      "                            the saved process groups, or cr_restart's (default)\n"
	      "      --restore-sid, --no-restore-sid\n"
	      "                            the saved sessions, or cr_restart's (default)\n"
	      "      --pidns               restart in a new pid namespace, under a small init\n"
	      "                            (pid 1), so the saved ids are free even if taken\n"
	      "                            here\n"
	      "\n"
	      "Commands run by /bin/sh (a non-zero status becomes cr_restart's exit status):\n"
	      "      --run-on-success CMD  once the processes run\n"
	      "      --run-on-fail-args CMD, --run-on-fail-temp CMD,\n"
	      "      --run-on-fail-env CMD, --run-on-fail-perm CMD\n"
	      "                            on a failure of that class\n"
	      "      --run-on-failure CMD  on any failure (all four above)\n"
	      "\n"
	      "Other options (the last one of each group of alternatives counts):\n"
	      "      --relocate OLD=NEW    use NEW for saved paths under the directory (or\n"
	      "                            file) OLD; repeatable, the first match applies;\n"
	      "                            \\= and \\\\ stand for = and \\\n"
	      "      --omit-maybe, --omit-always, --omit-never\n"
	      "                            whether a checkpoint of cr_restart's tree includes\n"
	      "                            it (default: --omit-maybe)\n"
	      "      --kmsg-none, --kmsg-error, --kmsg-warning\n"
	      "                            when to print the request's detail lines (\"- ...\"):\n"
	      "                            never, on failure (default), always\n"
	      "  -q, --quiet               print nothing of cr_restart's own on stderr\n"
	      "  -?, -h, --help            this help\n"
	      "  -v, --version             print the version\n"
	      "\n"
	      "Exit status: the restored process's, or the failure's errno modulo 256 (255\n"
	      "for a usage error or a context that cannot be opened).\n",
	      f);
}

/* ---- run by crest's libcr ----
 *
 * cr_request_restart() (src/libcr/req.c) runs us with a result pipe named by
 * CREST_LIBCR_RESULT_FD. Our stderr is the application's, which we lend to the
 * processes we restore: our own messages (errors, warnings, "- " lines) are kept here
 * instead and sent on the result pipe as "L <length>" and the text when we are done,
 * for cr_log_restart(). A process that inherits this memory (the new processes are
 * copies of us until they are rebuilt) writes only into its own copy. */
#define LIBCR_LOG_MAX (32u << 10)

static char libcr_log[LIBCR_LOG_MAX];
static size_t libcr_loglen;
static int libcr_fd = -1;

/* The stream our stderr becomes: what fits is kept, the rest dropped. */
static ssize_t libcr_keep(void *cookie, const char *buf, size_t n)
{
	size_t room = sizeof(libcr_log) - libcr_loglen;

	(void)cookie;
	if (room > n)
		room = n;
	memcpy(libcr_log + libcr_loglen, buf, room);
	libcr_loglen += room;
	return (ssize_t)n;
}

/* After restart_note_inherited_fds(): the result pipe leaves the number the library
 * gave it for one not on that list, close-on-exec, so that no restored process is lent
 * it (a saved descriptor of that number that led outside the checkpoint would be), and
 * the engine's reports (libcr_hs.c) follow it through the variable. Returns false if
 * a result pipe is there but our messages cannot be kept from stderr. */
static bool libcr_setup(void)
{
	cookie_io_functions_t io = {.write = libcr_keep};
	const char *v = getenv("CREST_LIBCR_RESULT_FD");
	struct stat st;
	char num[16];
	long fd;
	FILE *f;
	int to;

	if (!v || opt_int(v, 0, INT32_MAX, &fd) < 0 || fstat((int)fd, &st) < 0 ||
	    !S_ISFIFO(st.st_mode))
		return true;
	to = fcntl((int)fd, F_DUPFD_CLOEXEC, 3);
	if (to >= 0) {
		snprintf(num, sizeof(num), "%d", to);
		if (setenv("CREST_LIBCR_RESULT_FD", num, 1) == 0) {
			close((int)fd);
			fd = to;
		} else {
			close(to);
		}
	}
	libcr_fd = (int)fd;
	f = fopencookie(NULL, "w", io);
	if (!f)
		return false;
	setvbuf(f, NULL, _IONBF, 0);
	stderr = f; /* glibc's stderr is a variable, there to be set */
	return true;
}

/* Our messages to the library, once: they are complete when we fail or the restored
 * processes run. */
static void libcr_send_log(void)
{
	int fd = libcr_fd < 0 ? -1 : dup(libcr_fd);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");

	libcr_fd = -1;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return;
	}
	fflush(stderr);
	/* stdio writes it all, in as many write()s as the pipe takes. */
	fprintf(f, "L %zu\n", libcr_loglen);
	fwrite(libcr_log, 1, libcr_loglen, f);
	fclose(f);
}

/* BLCR's failure classes. */
static enum rst_hook failure_class(int rc)
{
	switch (-rc) {
	case ENOMEM:
	case EBUSY:
		return HOOK_TEMP;
	case EACCES:
	case EPERM:
	case ENOENT:
	case EEXIST:
	case EISDIR:
	case ENOTDIR:
		return HOOK_ENV;
	default:
		return HOOK_PERM;
	}
}

/* Run a hook as system(3) does. Returns its value: exit status, or -1. */
static int run_hook(const struct rst_cli *o, enum rst_hook h, const sigset_t *mask)
{
	sigset_t now;
	int st;

	if (!o->hook[h] || !o->hook[h][0])
		return 0;
	fflush(NULL);
	sigprocmask(SIG_SETMASK, mask, &now);
	st = system(o->hook[h]);
	sigprocmask(SIG_SETMASK, &now, NULL);
	if (st < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* Fail in class h: its hook's non-zero value is the exit code, silently. */
static int fail(const struct rst_cli *o, enum rst_hook h, int code, const char *msg,
		const sigset_t *mask)
{
	int v = run_hook(o, h, mask);

	if (v != 0) {
		libcr_send_log();
		return v & 0xff;
	}
	tool_print_kmsgs(o->kmsg, true, o->quiet);
	if (!o->quiet && msg)
		fprintf(stderr, "Restart failed: %s\n", msg);
	libcr_send_log();
	return code;
}

static volatile pid_t child_pid;

static void forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	/* The kernel's own faults are ours: die of them. */
	if ((sig == SIGILL || sig == SIGFPE || sig == SIGBUS || sig == SIGSEGV) &&
	    si->si_code > 0) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	if (child_pid > 0)
		kill(child_pid, sig);
	if (sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU)
		raise(SIGSTOP);
}

static void install_forwarding(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig < NSIG; sig++) {
		if (sig == SIGCHLD || sig == SIGKILL || sig == SIGSTOP || sig == CR_SIGNUM ||
		    sig == 32 || sig == 33) /* glibc's own */
			continue;
		sigaction(sig, &sa, NULL);
	}
}

/* Exit as the restored process did. */
static int __attribute__((noreturn)) mimic(int st)
{
	if (WIFSIGNALED(st)) {
		struct rlimit none = {0, 0};
		sigset_t s;
		int sig = WTERMSIG(st);

		setrlimit(RLIMIT_CORE, &none);
		signal(sig, SIG_DFL);
		sigemptyset(&s);
		sigaddset(&s, sig);
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		raise(sig);
		_exit(128 + sig);
	}
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
}

/* --pidns: the eldest is not our child but the namespace's init's, which writes its
 * wait status when it ends. Without that word the init died first (killed): its end
 * is the namespace's, and ours. */
static void __attribute__((noreturn)) wait_in_pidns(const struct rst_result *res)
{
	char b[32];
	ssize_t n;
	int st;

	do
		n = read(res->status_fd, b, sizeof(b) - 1);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		b[n] = '\0';
		mimic((int)strtol(b, NULL, 10));
	}
	while (waitpid(res->reaper, &st, __WALL) < 0)
		if (errno != EINTR)
			_exit(255);
	mimic(st);
}

/* Where the context comes from, or why it cannot be used: the class and exit code to
 * fail with, and the message. */
struct source {
	int fd;
	const char *name;
	char path[PATH_MAX + 16];
	struct ctx_file *files; /* -d DIR: its context files */
	uint32_t nfiles;
	enum rst_hook cls;
	int code;
	char msg[PATH_MAX + 128];
};

static int source_fail(struct source *s, enum rst_hook cls, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int source_fail(struct source *s, enum rst_hook cls, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	va_end(ap);
	s->cls = cls;
	s->code = code;
	return -1;
}

/* -d DIR, as cr_checkpoint -d writes it: one context file "context.PID" per process
 * (the parts of one checkpoint), or a single whole context. */
static int open_dir_source(const char *dir, struct source *s)
{
	int rc = tool_open_context_dir(dir, &s->files, &s->nfiles, s->msg, sizeof(s->msg));

	s->name = dir;
	if (rc == 0)
		return 0;
	s->code = rc == -ENOMEM ? ENOMEM : rc == -EINVAL ? EINVAL : 255;
	s->cls = rc == -ENOMEM ? HOOK_TEMP : HOOK_ARGS;
	return -1;
}

static int open_source(const struct rst_cli *o, struct source *s)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	switch (o->src) {
	case RSRC_FD:
		snprintf(s->path, sizeof(s->path), "<fd%d>", o->fd);
		s->name = s->path;
		if (fcntl(o->fd, F_GETFD) < 0)
			return source_fail(s, HOOK_ARGS, 255, "cannot open context %s: %s", s->name,
					   strerror(errno));
		s->fd = o->fd;
		return s->fd;
	case RSRC_DIR:
		return open_dir_source(o->dir, s);
	default:
		s->name = o->file;
		s->fd = open(o->file, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0)
			return source_fail(s, HOOK_ARGS, 255, "cannot open context %s: %s", s->name,
					   strerror(errno));
		return s->fd;
	}
}

static void close_source(const struct rst_cli *o, struct source *s)
{
	if (s->fd >= 0 && (o->src != RSRC_FD || s->fd != o->fd))
		close(s->fd);
	s->fd = -1;
	tool_close_context_files(s->files, s->nfiles);
	s->files = NULL;
	s->nfiles = 0;
}

int main(int argc, char **argv)
{
	struct rst_cli o;
	struct rst_request req;
	struct rst_result res;
	struct rst_reloc *relocs = NULL;
	struct source src;
	struct err err = {0};
	sigset_t all, orig;
	char msg[512];
	bool captured;
	int rc, st;

	restart_note_inherited_fds();
	captured = libcr_setup();
	sigprocmask(SIG_SETMASK, NULL, &orig);
	rc = rst_parse(argc, argv, &o, msg, sizeof(msg));
	if (!captured)
		o.quiet = true; /* better nothing than on the application's stderr */
	if (rc == OPT_EXIT) {
		if (o.help)
			usage(stdout);
		else
			printf(PROG " version %s\n", CREST_VERSION);
		return 0;
	}
	if (rc != OPT_OK) {
		int v = run_hook(&o, HOOK_ARGS, &orig);

		if (v != 0)
			return v & 0xff;
		if (!o.quiet) {
			fprintf(stderr, PROG ": %s\n", msg);
			if (rc == OPT_USAGE)
				usage(stderr);
		}
		libcr_send_log();
		return rc == OPT_USAGE ? 255 : tool_exit_code(rc);
	}
	if (o.quiet)
		log_verbosity = -1; /* nothing of ours on stderr, warnings included */
	/* The engine's view of --relocate: the pairs in command-line order. */
	if (o.nrelocs) {
		relocs = calloc(o.nrelocs, sizeof(*relocs));
		if (!relocs) {
			rc = fail(&o, HOOK_TEMP, ENOMEM, "out of memory", &orig);
			rst_cli_fini(&o);
			return rc;
		}
		for (size_t i = 0; i < o.nrelocs; i++)
			relocs[i] = (struct rst_reloc){o.relocs[i].from, o.relocs[i].to};
	}
	if (open_source(&o, &src) < 0) {
		rc = fail(&o, src.cls, src.code, src.msg, &orig);
		close_source(&o, &src);
		free(relocs);
		rst_cli_fini(&o);
		return rc;
	}

	/* Nothing but stop, kill and child signals until the processes are back; the
	 * new process inherits the mask, which keeps it quiet while it is rebuilt. */
	sigfillset(&all);
	sigdelset(&all, SIGCHLD);
	sigprocmask(SIG_SETMASK, &all, NULL);

	memset(&req, 0, sizeof(req));
	req.fd = src.fd;
	req.name = src.name;
	req.files = src.files;
	req.nfiles = src.nfiles;
	req.opts.restore_pid = o.restore_pid;
	req.opts.restore_pgid = o.restore_pgid;
	req.opts.restore_sid = o.restore_sid;
	req.opts.pidns = o.pidns;
	req.opts.signal = o.signal;
	req.opts.signal_early = o.early;
	req.opts.relocs = relocs;
	req.opts.nrelocs = o.nrelocs;
	rc = restart_run(&req, &res, &err);
	free(relocs);
	close_source(&o, &src);
	if (rc < 0) {
		rc = fail(&o, failure_class(rc), tool_exit_code(rc), err.msg, &orig);
		rst_cli_fini(&o);
		return rc;
	}
	tool_print_kmsgs(o.kmsg, false, o.quiet);
	libcr_send_log();
	child_pid = res.pid;
	rc = run_hook(&o, HOOK_SUCCESS, &orig);
	rst_cli_fini(&o);
	if (rc != 0)
		return rc & 0xff;

	install_forwarding();
	sigprocmask(SIG_SETMASK, &orig, NULL);
	if (res.reaper > 0)
		wait_in_pidns(&res);
	for (;;) {
		pid_t w = waitpid(-1, &st, __WALL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno == ECHILD ? 0 : 255;
		if (w == res.pid && (WIFEXITED(st) || WIFSIGNALED(st)))
			mimic(st);
	}
}
