/* cr_restart: bring a process back from a context file, stay its parent, and exit
 * as it exits. BLCR's options, hooks, failure classes and exit codes. */
#include "common.h"
#include "opts.h"

#include "engine/err.h"
#include "engine/log.h"
#include "engine/restart.h"
#include "engine/version.h"

#include <errno.h>
#include <fcntl.h>
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
	      "  -d, --dir DIR             read one file per process from DIR\n"
	      "                            (not yet implemented)\n"
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
	      "\n"
	      "Commands run by /bin/sh (a non-zero status becomes cr_restart's exit status):\n"
	      "      --run-on-success CMD  once the processes run\n"
	      "      --run-on-fail-args CMD, --run-on-fail-temp CMD,\n"
	      "      --run-on-fail-env CMD, --run-on-fail-perm CMD\n"
	      "                            on a failure of that class\n"
	      "      --run-on-failure CMD  on any failure (all four above)\n"
	      "\n"
	      "Other options (the last one of each group of alternatives counts):\n"
	      "      --relocate OLD=NEW    look for files under NEW instead of OLD; may be\n"
	      "                            repeated (not yet implemented)\n"
	      "      --omit-maybe, --omit-always, --omit-never\n"
	      "                            whether a checkpoint of cr_restart's tree includes\n"
	      "                            it (default: --omit-maybe; no effect yet)\n"
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

	if (v != 0)
		return v & 0xff;
	tool_print_kmsgs(o->kmsg, true, o->quiet);
	if (!o->quiet && msg)
		fprintf(stderr, "Restart failed: %s\n", msg);
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

static int open_source(const struct rst_cli *o, const char **ret_name, char *namebuf,
		       size_t namelen)
{
	if (o->src == RSRC_FD) {
		snprintf(namebuf, namelen, "<fd%d>", o->fd);
		*ret_name = namebuf;
		return fcntl(o->fd, F_GETFD) < 0 ? -1 : o->fd;
	}
	*ret_name = o->file;
	return open(o->file, O_RDONLY | O_CLOEXEC);
}

int main(int argc, char **argv)
{
	struct rst_cli o;
	struct rst_request req;
	struct rst_result res;
	struct err err = {0};
	sigset_t all, orig;
	char msg[512], namebuf[32];
	const char *name;
	int rc, fd, st;

	restart_note_inherited_fds();
	sigprocmask(SIG_SETMASK, NULL, &orig);
	rc = rst_parse(argc, argv, &o, msg, sizeof(msg));
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
		return rc == OPT_USAGE ? 255 : tool_exit_code(rc);
	}
	if (o.quiet)
		log_verbosity = -1; /* nothing of ours on stderr, warnings included */
	if (o.src == RSRC_DIR) {
		rc = fail(&o, HOOK_ARGS, EINVAL, "--dir is not implemented yet", &orig);
		rst_cli_fini(&o);
		return rc;
	}
	if (o.nrelocs) {
		rc = fail(&o, HOOK_ARGS, EINVAL, "--relocate is not implemented yet", &orig);
		rst_cli_fini(&o);
		return rc;
	}
	fd = open_source(&o, &name, namebuf, sizeof(namebuf));
	if (fd < 0) {
		snprintf(msg, sizeof(msg), "cannot open context %s: %s", name, strerror(errno));
		rc = fail(&o, HOOK_ARGS, 255, msg, &orig);
		rst_cli_fini(&o);
		return rc;
	}

	/* Nothing but stop, kill and child signals until the processes are back; the
	 * new process inherits the mask, which keeps it quiet while it is rebuilt. */
	sigfillset(&all);
	sigdelset(&all, SIGCHLD);
	sigprocmask(SIG_SETMASK, &all, NULL);

	memset(&req, 0, sizeof(req));
	req.fd = fd;
	req.name = name;
	req.opts.restore_pid = o.restore_pid;
	req.opts.restore_pgid = o.restore_pgid;
	req.opts.restore_sid = o.restore_sid;
	req.opts.signal = o.signal;
	rc = restart_run(&req, &res, &err);
	if (fd != o.fd)
		close(fd);
	if (rc < 0) {
		rc = fail(&o, failure_class(rc), tool_exit_code(rc), err.msg, &orig);
		rst_cli_fini(&o);
		return rc;
	}
	tool_print_kmsgs(o.kmsg, false, o.quiet);
	child_pid = res.pid;
	rc = run_hook(&o, HOOK_SUCCESS, &orig);
	rst_cli_fini(&o);
	if (rc != 0)
		return rc & 0xff;

	install_forwarding();
	sigprocmask(SIG_SETMASK, &orig, NULL);
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
