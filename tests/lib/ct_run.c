/* ct_run: the harness side of crest's state tests.
 *
 *   ct_run [-m continue|restart|cycles|newpid|pidns] [-n CYCLES] [-t SECONDS] [-T] [-D]
 *          [-x CKPT_OPTION]... [-r RESTART_OPTION]... NAME PROGRAM [ARGS...]
 *
 * -T checkpoints the program's whole tree instead of the program alone. -D writes the
 * context as a directory, one file per process (cr_checkpoint -d, cr_restart -d).
 *
 * Starts PROGRAM in its own process group and in a fresh directory, waits for its
 * "READY", checkpoints it with the real cr_checkpoint, then:
 *   continue  lets it carry on;
 *   restart   kills it and brings it back with the real cr_restart;
 *   cycles    does that N times (3 by default), restarting the restarted process;
 *   newpid    restarts it once with --no-restore-pid, at a new pid;
 *   pidns     restarts it once with --pidns, at its pid in a new pid namespace
 *             (then it is cr_restart's grandchild, below the namespace's init);
 * then writes "GO" and reads its verdict. Every wait is bounded; everything started
 * is killed at the end. Tools are $CR_CHECKPOINT and $CR_RESTART (default: on PATH).
 * Prints one line, "PASS NAME MODE" or "FAIL NAME MODE: why", and exits 0 or 1. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *name = "?", *mode = "continue";
static int timeout_s = 30;
static bool newpid; /* mode newpid: restart with --no-restore-pid */
static bool pidns;  /* mode pidns: restart with --pidns */
static const char *scope = "-p"; /* -T: the program's whole tree */
static const char *ctx_opt = "-f"; /* -D: "-d", a directory of contexts */
static char *rst_extra[16];      /* -r: more cr_restart options */
static int nrst_extra;
static pid_t groups[16];
static int ngroups;
static pid_t restarter; /* the running cr_restart */
static pid_t watched[16];
static int nwatched;

static char logpath[4200];

/* On failure, what the program wrote on stderr helps. */
static void show_log(void)
{
	char buf[4096];
	FILE *f = logpath[0] ? fopen(logpath, "r") : NULL;

	if (!f)
		return;
	while (fgets(buf, sizeof(buf), f))
		fprintf(stderr, "  | %s", buf);
	fclose(f);
}

static void cleanup(void)
{
	for (int i = 0; i < ngroups; i++)
		kill(-groups[i], SIGKILL);
	for (int i = 0; i < nwatched; i++)
		kill(watched[i], SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL %s %s: ", name, mode);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	cleanup();
	show_log();
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait for pid with a deadline; returns its status. */
static int wait_for(pid_t pid, const char *what)
{
	double end = now() + timeout_s;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0)
			fail("waiting for %s: %s", what, strerror(errno));
		if (now() > end)
			fail("%s did not finish within %d s", what, timeout_s);
		usleep(2000);
	}
}

/* One line from fd, with a deadline. */
static void read_line(int fd, char *buf, size_t n, const char *what)
{
	double end = now() + timeout_s;
	size_t got = 0;

	while (got < n - 1) {
		struct pollfd p = {fd, POLLIN, 0};
		int left = (int)((end - now()) * 1000);
		ssize_t k;

		if (left <= 0)
			fail("no %s within %d s", what, timeout_s);
		if (poll(&p, 1, left) <= 0)
			continue;
		k = read(fd, buf + got, 1);
		if (k <= 0)
			fail("program closed its output before %s%s%.*s", what,
			     got ? " (partial: " : "", (int)got, buf);
		if (buf[got] == '\n')
			break;
		got++;
	}
	buf[got] = '\0';
}

/* Run a tool to completion, stdin from /dev/null, output to our stderr. */
static int run_tool(char *const argv[], const char *what)
{
	pid_t pid = fork();

	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		dup2(null, 0);
		dup2(2, 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	return wait_for(pid, what);
}

static void checkpoint(const char *tool, pid_t pid, bool kill_it, char **extra, int nextra)
{
	char pidbuf[16];
	char *argv[64];
	int n = 0, st;

	snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
	argv[n++] = (char *)tool;
	argv[n++] = (char *)scope;
	argv[n++] = (char *)ctx_opt;
	argv[n++] = "context";
	if (kill_it)
		argv[n++] = "--kill";
	for (int i = 0; i < nextra && n < 60; i++)
		argv[n++] = extra[i];
	argv[n++] = pidbuf;
	argv[n] = NULL;
	st = run_tool(argv, "cr_checkpoint");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("cr_checkpoint of pid %d exited with %d", pid,
		     WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
}

/* Start cr_restart in its own process group with fresh pipes as stdin/stdout: the
 * restored program's stdio, which led to us, is rebound to them. */

static pid_t restart(const char *tool, int *to, int *from)
{
	int in[2], out[2];
	pid_t pid;

	if (pipe(in) < 0 || pipe(out) < 0)
		fail("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0) {
		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		char *args[24];
		int n = 0;

		args[n++] = (char *)tool;
		if (newpid)
			args[n++] = "--no-restore-pid";
		if (pidns)
			args[n++] = "--pidns";
		for (int i = 0; i < nrst_extra; i++)
			args[n++] = rst_extra[i];
		if (ctx_opt[1] == 'd')
			args[n++] = "-d";
		args[n++] = "context";
		args[n] = NULL;
		execvp(tool, args);
		_exit(127);
	}
	setpgid(pid, pid);
	groups[ngroups++] = pid;
	close(in[0]);
	close(out[1]);
	*to = in[1];
	*from = out[0];
	return pid;
}

static void wait_gone(pid_t pid)
{
	double end = now() + timeout_s;

	while (kill(pid, 0) == 0 || errno != ESRCH) {
		if (now() > end)
			fail("pid %d still exists after %d s", pid, timeout_s);
		usleep(2000);
	}
}

/* The first child of parent, or 0. */
static pid_t child_of(pid_t parent)
{
	char path[64];
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", parent, parent);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return (pid_t)pid;
}

/* The descendants of pid (children of any of its threads), at most max; returns how
 * many. */
static int descendants(pid_t pid, pid_t *out, int max)
{
	int n = 0;

	for (int at = -1; at < n; at++) {
		pid_t p = at < 0 ? pid : out[at];
		char path[320];
		struct dirent *e;
		DIR *d;

		snprintf(path, sizeof(path), "/proc/%d/task", p);
		d = opendir(path);
		while (d && (e = readdir(d))) {
			long kid;
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/children", p, e->d_name);
			f = fopen(path, "r");
			while (f && n < max && fscanf(f, "%ld", &kid) == 1)
				out[n++] = (pid_t)kid;
			if (f)
				fclose(f);
		}
		if (d)
			closedir(d);
	}
	return n;
}

/* The first child of parent, once it has one. */
static pid_t wait_child(pid_t parent)
{
	double end = now() + timeout_s;
	pid_t c;

	while (!(c = child_of(parent))) {
		if (waitpid(restarter, NULL, WNOHANG) == restarter)
			fail("cr_restart exited before it had a child");
		if (now() > end)
			fail("pid %d has no child after %d s", parent, timeout_s);
		usleep(2000);
	}
	return c;
}

/* Wait until pid (or, if 0, cr_restart's child) runs prog again, as a child of
 * parent, and nobody traces it any more: the restart is over. (Before that it is
 * first a copy of cr_restart, then traced by it.) Returns the pid. */
static pid_t wait_restored(pid_t pid, pid_t parent, const char *prog)
{
	double end = now() + timeout_s;
	char path[64], exe[64], buf[4096];

	for (;;) {
		pid_t p = pid ? pid : child_of(parent);
		FILE *f;
		long ppid = -1, tracer = -1;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/status", p);
		snprintf(exe, sizeof(exe), "/proc/%d/exe", p);
		f = p ? fopen(path, "r") : NULL;
		n = p ? readlink(exe, buf, sizeof(buf) - 1) : -1;

		buf[n > 0 ? n : 0] = '\0';
		if (f && strcmp(buf, prog)) {
			fclose(f);
			f = NULL;
		}
		if (f) {
			while (fgets(buf, sizeof(buf), f)) {
				sscanf(buf, "PPid: %ld", &ppid);
				sscanf(buf, "TracerPid: %ld", &tracer);
			}
			fclose(f);
			if (ppid == parent && tracer == 0)
				return p;
		}
		if (waitpid(restarter, NULL, WNOHANG) == restarter)
			fail("cr_restart exited before pid %d was back", pid);
		if (now() > end)
			fail("pid %d not restored within %d s", pid, timeout_s);
		usleep(2000);
	}
}

int main(int argc, char **argv)
{
	const char *ckpt = getenv("CR_CHECKPOINT"), *rst = getenv("CR_RESTART");
	char **extra = NULL, line[512], dirbuf[] = "/tmp/crest-ct.XXXXXX";
	int nextra = 0, cycles = 3, to, from, in[2], out[2], opt, st;
	pid_t prog, rpid = 0;

	if (!ckpt)
		ckpt = "cr_checkpoint";
	if (!rst)
		rst = "cr_restart";
	while ((opt = getopt(argc, argv, "+m:n:t:x:r:TD")) != -1) {
		switch (opt) {
		case 'm':
			mode = optarg;
			break;
		case 'n':
			cycles = atoi(optarg);
			break;
		case 't':
			timeout_s = atoi(optarg);
			break;
		case 'T':
			scope = "-T";
			break;
		case 'D':
			ctx_opt = "-d";
			break;
		case 'r':
			if (nrst_extra < 16)
				rst_extra[nrst_extra++] = optarg;
			break;
		case 'x':
			extra = realloc(extra, (nextra + 1) * sizeof(*extra));
			extra[nextra++] = optarg;
			break;
		default:
			fprintf(stderr, "usage: ct_run [-m MODE] [-n N] [-t S] [-T] [-D] [-x OPT]... [-r OPT]... NAME PROG [ARGS]\n");
			return 2;
		}
	}
	if (argc - optind < 2) {
		fprintf(stderr, "usage: ct_run [-m MODE] [-n N] [-t S] [-T] [-D] [-x OPT]... [-r OPT]... NAME PROG [ARGS]\n");
		return 2;
	}
	name = argv[optind];
	if (strcmp(mode, "continue") && strcmp(mode, "restart") && strcmp(mode, "cycles") &&
	    strcmp(mode, "newpid") && strcmp(mode, "pidns"))
		fail("unknown mode");
	newpid = !strcmp(mode, "newpid");
	pidns = !strcmp(mode, "pidns");
	if (!strcmp(mode, "restart") || newpid || pidns)
		cycles = 1;
	/* The program is named relative to where we were started. */
	{
		char *abs = realpath(argv[optind + 1], NULL);

		if (!abs)
			fail("no program %s: %s", argv[optind + 1], strerror(errno));
		argv[optind + 1] = abs;
	}
	if (!mkdtemp(dirbuf) || chdir(dirbuf) < 0)
		fail("cannot make a test directory: %s", strerror(errno));
	snprintf(logpath, sizeof(logpath), "%s/stderr.log", dirbuf);
	if (pipe(in) < 0 || pipe(out) < 0)
		fail("pipe: %s", strerror(errno));
	prog = fork();
	if (prog < 0)
		fail("fork: %s", strerror(errno));
	if (prog == 0) {
		int log = open("stderr.log", O_WRONLY | O_CREAT | O_APPEND, 0644);

		setpgid(0, 0);
		dup2(in[0], 0);
		dup2(out[1], 1);
		if (log >= 0) {
			dup2(log, 2);
			close(log);
		}
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		execv(argv[optind + 1], &argv[optind + 1]);
		_exit(127);
	}
	setpgid(prog, prog);
	groups[ngroups++] = prog;
	watched[nwatched++] = prog;
	close(in[0]);
	close(out[1]);
	to = in[1];
	from = out[0];
	read_line(from, line, sizeof(line), "READY");
	if (strcmp(line, "READY"))
		fail("program said \"%s\" instead of READY", line);

	if (!strcmp(mode, "continue")) {
		checkpoint(ckpt, prog, false, extra, nextra);
	} else {
		for (int i = 0; i < cycles; i++) {
			pid_t victim_parent = i == 0 ? prog : rpid;

			pid_t tree[256];
			int ntree = descendants(prog, tree, 256);

			checkpoint(ckpt, prog, true, extra, nextra);
			st = wait_for(victim_parent, i == 0 ? "the killed program" : "the killed cr_restart");
			if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
				fail("after checkpoint --kill, cycle %d: status %#x, not death by SIGKILL",
				     i + 1, st);
			/* The whole tree: a restart needs every one of its pids free. */
			wait_gone(prog);
			for (int k = 0; k < ntree; k++)
				wait_gone(tree[k]);
			close(to);
			close(from);
			rpid = restarter = restart(rst, &to, &from);
			if (newpid) {
				pid_t old = prog;

				prog = wait_restored(0, rpid, argv[optind + 1]);
				watched[nwatched++] = prog;
				if (prog == old)
					fail("--no-restore-pid gave back the same pid %d", prog);
			} else if (pidns) {
				/* Seen from here it has another pid: what counts is the one
				 * inside, which the program checks itself. */
				pid_t init = wait_child(rpid);

				watched[nwatched++] = init; /* the namespace goes with it */
				prog = wait_restored(0, init, argv[optind + 1]);
				watched[nwatched++] = prog;
			} else {
				wait_restored(prog, rpid, argv[optind + 1]);
			}
		}
	}
	if (write(to, "GO\n", 3) != 3)
		fail("cannot write GO: %s", strerror(errno));
	read_line(from, line, sizeof(line), "verdict");
	if (strcmp(line, "PASS"))
		fail("%s", line);
	st = wait_for(strcmp(mode, "continue") ? rpid : prog,
		      strcmp(mode, "continue") ? "cr_restart" : "the program");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail("%s ended with status %#x", strcmp(mode, "continue") ? "cr_restart" : "the program", st);
	printf("PASS %s %s\n", name, mode);
	cleanup();
	/* The test directory goes only when all went well, to keep evidence otherwise. */
	if (chdir("/") == 0) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dirbuf);
		if (system(cmd) != 0)
			return 0;
	}
	return 0;
}
