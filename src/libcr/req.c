/* req.c: checkpoint and restart requests made through libcr.so (docs/libcr.md).
 *
 * A request runs crest's own tool, found by find_tool(): cr_checkpoint -F for a
 * checkpoint, started so that it is part of no scope of ours (spawn.c), and
 * cr_restart -F for a restart, as our child. Each reports on a result pipe:
 *   "S <wait status>"  the tool's end (written by the checkpoint waiter)
 *   "L <n>" + n bytes  the tool's messages: cr_checkpoint's stderr (sent by the
 *                      waiter), or what cr_restart would have printed on stderr,
 *                      which it lends to the restored processes (sent by itself)
 *   "E <errno>"        the exact error the engine gave the requester (libcr_hs.c),
 *                      where the exit status keeps only its low 8 bits
 *   "P <pid>"          a restored process (libcr_hs.c, in cr_restart)
 *   "X <errno>"        the tool could not be started
 * The handle is the address of a struct req. A handle of a checkpoint that covered
 * this process survives in the image: in the restarted copy, waiting or reaping it
 * ends at once with CR_ERESTARTED, and its pipe (now some descriptor cr_restart lent)
 * is dropped unread. */
#include "libcr/lib.h"

#include <libcr.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define API __attribute__((visibility("default")))
#define REQ_MAGIC 0x5145525453455243ull /* "CRESTREQ" */
#define RESTART_OK 213                  /* cr_restart's exit from our success hook */
#define MAX_ARGS 64

struct req {
	struct req *next;
	uint64_t magic;
	bool restart;
	bool self; /* our process is in the checkpoint's scope */
	bool done;
	bool subreaper;       /* we made ourselves a subreaper for this restart */
	uint32_t restart_gen; /* cb_restart_gen when made */
	int res_fd;           /* read end of the result pipe; -1 once closed */
	pid_t tool;           /* cr_restart, our child */
	int err;              /* the outcome: 0 or an errno / CR_E* code */
	pid_t rpid;           /* restart: the process reaped */
	char *buf;            /* everything read from the result pipe */
	size_t len, cap;
	char *log;
	size_t loglen;
};

extern char **environ;

static int fail(int e)
{
	errno = e;
	return -1;
}

/* Live requests: a handle is checked against them before it is used. */
static struct req *live;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

void req_fork_child(void)
{
	pthread_mutex_init(&live_lock, NULL);
}

static struct req *req_of(unsigned long h, bool restart)
{
	struct req *r;

	pthread_mutex_lock(&live_lock);
	for (r = live; r && (unsigned long)r != h; r = r->next)
		;
	pthread_mutex_unlock(&live_lock);
	if (!r || r->magic != REQ_MAGIC || r->restart != restart)
		return NULL;
	return r;
}

static void req_free(struct req *r)
{
	pthread_mutex_lock(&live_lock);
	for (struct req **pp = &live; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&live_lock);
	if (r->res_fd >= 0)
		close(r->res_fd);
	if (r->subreaper)
		prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
	r->magic = 0;
	free(r->buf);
	free(r->log);
	free(r);
}

static struct req *req_new(bool restart)
{
	struct req *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->magic = REQ_MAGIC;
	r->restart = restart;
	r->res_fd = -1;
	r->restart_gen = __atomic_load_n(&cb_restart_gen, __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&live_lock);
	r->next = live;
	live = r;
	pthread_mutex_unlock(&live_lock);
	return r;
}

/* A request that failed before anything started; reported when reaped. */
static struct req *req_failed(bool restart, int e)
{
	struct req *r = req_new(restart);

	if (r) {
		r->done = true;
		r->err = e;
	}
	return r;
}

/* ---- building the tool's command line ---- */

struct argv {
	char *v[MAX_ARGS + 1];
	int n;
	bool oom;
};

static void arg(struct argv *a, const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (!d || a->n >= MAX_ARGS) {
		free(d);
		a->oom = true;
		return;
	}
	a->v[a->n++] = d;
	a->v[a->n] = NULL;
}

static void argn(struct argv *a, const char *prefix, long v)
{
	char s[48];

	snprintf(s, sizeof(s), "%s%ld", prefix, v);
	arg(a, s);
}

static void argv_free(struct argv *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
}

/* environ plus our two variables. */
static char **make_env(int res_fd_num)
{
	size_t n = 0;
	char **e;

	while (environ && environ[n])
		n++;
	e = calloc(n + 3, sizeof(*e));
	if (!e)
		return NULL;
	for (size_t i = 0, j = 0; i < n; i++)
		if (strncmp(environ[i], "CREST_LIBCR_", 12))
			e[j++] = environ[i];
	for (n = 0; e[n]; n++)
		;
	e[n] = malloc(48);
	e[n + 1] = malloc(48);
	if (!e[n] || !e[n + 1]) {
		free(e[n]);
		free(e[n + 1]);
		free(e);
		return NULL;
	}
	snprintf(e[n], 48, "CREST_LIBCR_RESULT_FD=%d", res_fd_num);
	snprintf(e[n + 1], 48, "CREST_LIBCR_REQUESTER=%d", (int)getpid());
	return e;
}

static void env_free(char **e)
{
	size_t n = 0;

	if (!e)
		return;
	while (e[n])
		n++;
	free(e[n - 2]);
	free(e[n - 1]);
	free(e);
}

static int start(struct req *r, const char *tool, struct argv *a, int dest_fd, bool detached)
{
	char path[PATH_MAX];
	struct spawn_req sr;
	char **env;
	int p[2], rc;
	pid_t pid;

	rc = find_tool(tool, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (a->oom)
		return -ENOMEM;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	p[0] = lib_fd_high(p[0]);
	p[1] = lib_fd_high(p[1]);
	if (!detached && p[1] >= 0) {
		/* cr_restart's result pipe keeps its number, one free here: it takes the
		 * place of none of the descriptors cr_restart lends by number. */
		int hi = fcntl(p[1], F_DUPFD_CLOEXEC, SPAWN_RES_FD_RESTART);

		if (hi >= 0) {
			close(p[1]);
			p[1] = hi;
		}
	}
	env = make_env(detached ? SPAWN_RES_FD : p[1]);
	if (!env) {
		if (p[0] >= 0)
			close(p[0]);
		if (p[1] >= 0)
			close(p[1]);
		return -ENOMEM;
	}
	memset(&sr, 0, sizeof(sr));
	sr.path = path;
	sr.argv = a->v;
	sr.envp = env;
	sr.dest_fd = dest_fd;
	sr.res_w = p[1];
	sr.log_w = -1;
	sr.detached = detached;
	pid = p[0] < 0 || p[1] < 0 ? -EMFILE : spawn_tool(&sr);
	if (p[1] >= 0)
		close(p[1]);
	env_free(env);
	if (pid < 0 || p[0] < 0) {
		if (p[0] >= 0)
			close(p[0]);
		return pid < 0 ? pid : -EMFILE;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	r->res_fd = p[0];
	r->tool = pid;
	return 0;
}

/* ---- outcome ---- */

/* An exit status of a tool, as the errno BLCR's library would give. */
static int errno_of_exit(int code)
{
	if (code >= 50 && code <= 61)
		return CR_MIN_ERRCODE + 1 + (code - 50);
	if (code == 255)
		return EINVAL;
	return code;
}

static long rec_num(const char *p)
{
	return strtol(p, NULL, 10);
}

/* Read what the pipe holds; returns 1 at end of file, 0 if more may come, -errno. */
static int drain(struct req *r)
{
	for (;;) {
		ssize_t n;

		if (r->cap - r->len < 4096) {
			size_t ncap = r->cap ? r->cap * 2 : 8192;
			char *nb = realloc(r->buf, ncap);

			if (!nb)
				return -ENOMEM;
			r->buf = nb;
			r->cap = ncap;
		}
		n = read(r->res_fd, r->buf + r->len, r->cap - r->len - 1);
		if (n > 0) {
			r->len += (size_t)n;
			continue;
		}
		if (n == 0)
			return 1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		return -errno;
	}
}

/* The start of a /proc file, NUL-terminated; false if it cannot be read. Our
 * descriptors are 3 or higher, even for a moment. */
static bool read_proc(const char *path, char *buf, size_t n)
{
	int fd = lib_fd_high(open(path, O_RDONLY | O_CLOEXEC));
	ssize_t r;

	if (fd < 0)
		return false;
	r = read(fd, buf, n - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	return true;
}

/* The parent of pid, from /proc/PID/stat; 0 if unknown. */
static pid_t parent_of(pid_t pid)
{
	char path[48], buf[512], *p;
	long ppid = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!read_proc(path, buf, sizeof(buf)))
		return 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %ld", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

static bool is_our_child(pid_t pid)
{
	return parent_of(pid) == getpid();
}

static void complete(struct req *r)
{
	int status = -1, exact = 0, started = 0;
	pid_t first = 0;
	size_t i = 0;

	close(r->res_fd);
	r->res_fd = -1;
	if (r->restart) {
		/* Gone, so the processes it restored are reparented to us by now. */
		while (waitpid(r->tool, &status, __WALL) < 0 && errno == EINTR)
			;
		if (r->subreaper) {
			prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
			r->subreaper = false;
		}
	}
	if (r->buf)
		r->buf[r->len] = '\0';
	while (r->buf && i < r->len) {
		char kind = r->buf[i];
		const char *nl = memchr(r->buf + i, '\n', r->len - i);
		long v;

		if (!nl || i + 2 > r->len)
			break;
		v = rec_num(r->buf + i + 2);
		i = (size_t)(nl - r->buf) + 1;
		switch (kind) {
		case 'S':
			status = (int)v;
			break;
		case 'E':
			exact = (int)v;
			break;
		case 'X':
			started = (int)v;
			break;
		case 'P':
			if (!first && v > 0 && is_our_child((pid_t)v))
				first = (pid_t)v;
			break;
		case 'L':
			if (v > 0 && (size_t)v <= r->len - i) {
				free(r->log);
				r->log = malloc((size_t)v + 1);
				if (r->log) {
					memcpy(r->log, r->buf + i, (size_t)v);
					r->log[v] = '\0';
					r->loglen = (size_t)v;
				}
				i += (size_t)v;
			}
			break;
		default:
			break;
		}
	}
	r->done = true;
	if (started) {
		r->err = started;
	} else if (status < 0 || !WIFEXITED(status)) {
		r->err = EIO;
	} else if (r->restart) {
		int code = WEXITSTATUS(status);

		r->err = code == RESTART_OK ? 0 : errno_of_exit(code ? code : EIO);
		r->rpid = first;
	} else {
		int code = WEXITSTATUS(status);

		/* The exact code (e.g. a callback's own 911) if the exit status is its
		 * low byte, as cr_checkpoint exits with it. */
		if (!code)
			r->err = 0;
		else if (exact && (exact & 0xff) == code)
			r->err = exact;
		else
			r->err = errno_of_exit(code);
	}
}

/* In a copy restarted from a context: the request's pipe is gone with the old
 * process; what has the same number now is something cr_restart lent. */
static bool abandoned(struct req *r)
{
	if (__atomic_load_n(&cb_restart_gen, __ATOMIC_ACQUIRE) == r->restart_gen || r->done)
		return false;
	if (r->res_fd >= 0)
		close(r->res_fd);
	r->res_fd = -1;
	r->subreaper = false;
	r->done = true;
	r->err = r->self ? CR_ERESTARTED : EBADF;
	return true;
}

static long ms_left(const struct timespec *end)
{
	struct timespec now;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}

static void write_back(struct timeval *tv, const struct timespec *end)
{
	long ms;

	if (!tv)
		return;
	ms = ms_left(end);
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

static int req_wait(struct req *r, struct timeval *tv)
{
	struct timespec end = {0, 0};

	if (tv) {
		if (tv->tv_sec < 0 || tv->tv_usec < 0)
			return fail(EINVAL);
		clock_gettime(CLOCK_MONOTONIC, &end);
		end.tv_sec += tv->tv_sec + (tv->tv_usec + end.tv_nsec / 1000) / 1000000;
		end.tv_nsec = ((tv->tv_usec + end.tv_nsec / 1000) % 1000000) * 1000;
	}
	for (;;) {
		uint32_t handled = __atomic_load_n(&cb_handled, __ATOMIC_ACQUIRE);
		struct pollfd pfd;
		int n, rc;

		if (r->done || abandoned(r))
			return 1;
		pfd.fd = r->res_fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		n = poll(&pfd, 1, tv ? (int)ms_left(&end) : -1);
		if (n < 0) {
			if (errno != EINTR)
				return -1;
			/* Our own checkpoint's signal restarts the wait, as SA_RESTART
			 * would; another signal ends it. */
			if (__atomic_load_n(&cb_handled, __ATOMIC_ACQUIRE) != handled ||
			    abandoned(r))
				continue;
			write_back(tv, &end);
			return fail(EINTR);
		}
		if (n == 0) {
			write_back(tv, &end);
			return 0;
		}
		rc = drain(r);
		if (rc < 0)
			return fail(-rc);
		if (rc == 1) {
			complete(r);
			write_back(tv, &end);
			return 1;
		}
	}
}

static int req_log(struct req *r, unsigned int len, char *msg)
{
	if (!r->done)
		return fail(EAGAIN);
	if (!r->loglen)
		return 0;
	if (len && msg) {
		size_t n = r->loglen < len - 1 ? r->loglen : len - 1;

		memcpy(msg, r->log, n);
		msg[n] = '\0';
	}
	return (int)r->loglen + 1;
}

/* Not done: EAGAIN and the handle stays. Done: the handle goes. */
static int req_reap(struct req *r, int *ret_pid)
{
	struct timeval zero = {0, 0};
	int err;

	if (!r->done && req_wait(r, &zero) <= 0)
		return fail(EAGAIN);
	err = r->err;
	if (ret_pid)
		*ret_pid = r->rpid;
	req_free(r);
	return err ? fail(err) : 0;
}

static int req_poll(struct req *r, unsigned long *handle, struct timeval *tv, char **msg_p,
		    bool restart)
{
	int rc, pid = 0;

	if (msg_p)
		*msg_p = NULL;
	rc = req_wait(r, tv);
	if (rc == 0)
		return 0;
	if (rc < 0)
		return restart ? CR_POLL_RSTRT_ERR_PRE : CR_POLL_CHKPT_ERR_PRE;
	if (msg_p) {
		int n = req_log(r, 0, NULL);

		if (n < 0)
			return restart ? CR_POLL_RSTRT_ERR_LOG : CR_POLL_CHKPT_ERR_LOG;
		if (n > 0) {
			*msg_p = malloc((size_t)n);
			if (!*msg_p)
				return restart ? CR_POLL_RSTRT_ERR_LOG : CR_POLL_CHKPT_ERR_LOG;
			req_log(r, (unsigned int)n, *msg_p);
		}
	}
	rc = req_reap(r, &pid);
	*handle = 0;
	if (rc < 0)
		return restart ? CR_POLL_RSTRT_ERR_POST : CR_POLL_CHKPT_ERR_POST;
	return restart ? pid : 1;
}

/* ---- checkpoint ---- */

/* Whether pid is this process or one of its ancestors. */
static bool ancestor_or_self(pid_t pid)
{
	pid_t p = getpid();

	for (int depth = 0; p > 1 && depth < 4096; depth++) {
		if (p == pid)
			return true;
		p = parent_of(p);
	}
	return false;
}

/* The thread group of a thread id. */
static pid_t tgid_of(pid_t id)
{
	char path[48], buf[2048];
	const char *t;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)id);
	if (!read_proc(path, buf, sizeof(buf)))
		return 0;
	t = strstr(buf, "\nTgid:");
	return t ? (pid_t)strtol(t + 6, NULL, 10) : 0;
}

static bool self_in_scope(cr_scope_t scope, pid_t target)
{
	switch (scope) {
	case CR_SCOPE_PROC:
		return tgid_of(target) == getpid();
	case CR_SCOPE_TREE:
		return ancestor_or_self(tgid_of(target));
	case CR_SCOPE_PGRP:
		return getpgrp() == target;
	case CR_SCOPE_SESS:
		return getsid(0) == target;
	}
	return false;
}

/* The errors BLCR reports when the request is made. */
static int check_checkpoint(const cr_checkpoint_args_t *a, pid_t target)
{
	int fl;

	if (a->cr_fd == CR_DEST_CWD)
		return EINVAL; /* never implemented, in BLCR either */
	if (a->cr_fd < 0 || (fl = fcntl(a->cr_fd, F_GETFL)) < 0 || (fl & O_ACCMODE) == O_RDONLY)
		return EBADF;
	if (a->cr_signal < -64 || a->cr_signal > 64)
		return EINVAL;
	if (target == 1)
		return EPERM;
	if (a->cr_scope == CR_SCOPE_PGRP || a->cr_scope == CR_SCOPE_SESS) {
		if (kill(-target, 0) < 0 && errno == ESRCH && a->cr_scope == CR_SCOPE_PGRP)
			return ESRCH;
	} else if (kill(target, 0) < 0 && errno == ESRCH) {
		return ESRCH;
	}
	if ((a->cr_flags & CR_CHKPT_PROHIBIT_SELF) && self_in_scope(a->cr_scope, target))
		return EDEADLK;
	return 0;
}

API int cr_request_checkpoint(cr_checkpoint_args_t *args, cr_checkpoint_handle_t *handle)
{
	static const char *const scope_opt[] = {"--pid", "--pgid", "--sid", "--tree"};
	struct argv a = {{0}, 0, false};
	struct req *r;
	pid_t target;
	int e, sig;

	if (!args || !handle)
		return fail(EINVAL);
	if (args->cr_version != CR_CHECKPOINT_ARGS_VERSION || (int)args->cr_scope < CR_SCOPE_PROC ||
	    args->cr_scope > CR_SCOPE_TREE || args->cr_target < 0)
		return fail(EINVAL);
	target = args->cr_target;
	if (target == 0)
		target = args->cr_scope == CR_SCOPE_PGRP   ? getpgrp()
			 : args->cr_scope == CR_SCOPE_SESS ? getsid(0)
							   : getpid();
	e = check_checkpoint(args, target);
	if (e && !(args->cr_flags & CR_CHKPT_ASYNC_ERR))
		return fail(e);
	if (e) {
		r = req_failed(false, e);
		if (!r)
			return fail(ENOMEM);
		*handle = (cr_checkpoint_handle_t)r;
		return 0;
	}
	r = req_new(false);
	if (!r)
		return fail(ENOMEM);
	r->self = self_in_scope(args->cr_scope, target);
	sig = args->cr_signal;
	arg(&a, "cr_checkpoint");
	arg(&a, "--fd");
	argn(&a, "", SPAWN_DEST_FD);
	arg(&a, scope_opt[args->cr_scope]);
	if (sig == -SIGSTOP) {
		arg(&a, "--early-stop");
	} else if (sig == -SIGABRT) {
		arg(&a, "--early-abrt");
	} else if (sig > 0) {
		arg(&a, "--signal");
		argn(&a, "", sig);
	} else {
		arg(&a, "--run");
	}
	if (args->cr_timeout) {
		arg(&a, "--time");
		argn(&a, "", (long)args->cr_timeout);
	}
	if (args->cr_flags & CR_CHKPT_DUMP_EXEC)
		arg(&a, "--save-exe");
	if (args->cr_flags & CR_CHKPT_DUMP_PRIVATE)
		arg(&a, "--save-private");
	if (args->cr_flags & CR_CHKPT_DUMP_SHARED)
		arg(&a, "--save-shared");
	if (args->cr_flags & CR_CHKPT_PTRACED_ALLOW)
		arg(&a, "--ptraced-allow");
	else if (args->cr_flags & CR_CHKPT_PTRACED_SKIP)
		arg(&a, "--ptraced-skip");
	if (args->cr_flags & CR_CHKPT_PTRACER_SKIP)
		arg(&a, "--ptracer-skip");
	arg(&a, "--kmsg-warning");
	arg(&a, "--");
	argn(&a, "", target);
	e = -start(r, "cr_checkpoint", &a, args->cr_fd, true);
	argv_free(&a);
	if (e) {
		req_free(r);
		return fail(e);
	}
	*handle = (cr_checkpoint_handle_t)r;
	return 0;
}

API int cr_wait_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *timeout)
{
	struct req *r = handle ? req_of(*handle, false) : NULL;

	return r ? req_wait(r, timeout) : fail(EINVAL);
}

API int cr_log_checkpoint(cr_checkpoint_handle_t *handle, unsigned int len, char *msg)
{
	struct req *r = handle ? req_of(*handle, false) : NULL;

	return r ? req_log(r, len, msg) : fail(EINVAL);
}

API int cr_reap_checkpoint(cr_checkpoint_handle_t *handle)
{
	struct req *r = handle ? req_of(*handle, false) : NULL;
	int rc;

	if (!r)
		return fail(EINVAL);
	rc = req_reap(r, NULL);
	if (rc == 0 || errno != EAGAIN)
		*handle = 0;
	return rc;
}

API int cr_poll_checkpoint_msg(cr_checkpoint_handle_t *handle, struct timeval *timeout,
			       char **msg_p)
{
	struct req *r = handle ? req_of(*handle, false) : NULL;

	if (!r) {
		errno = EINVAL;
		return CR_POLL_CHKPT_ERR_PRE;
	}
	return req_poll(r, handle, timeout, msg_p, false);
}

API int cr_poll_checkpoint(cr_checkpoint_handle_t *handle, struct timeval *timeout)
{
	return cr_poll_checkpoint_msg(handle, timeout, NULL);
}

/* ---- restart ---- */

/* OLD=NEW with '\' and '=' escaped, as cr_restart --relocate reads it. */
static char *reloc_arg(const char *from, const char *to)
{
	size_t n = 2 * (strlen(from) + strlen(to)) + 2;
	char *s = malloc(n), *p = s;

	if (!s)
		return NULL;
	for (const char *q = from; *q; q++) {
		if (*q == '\\' || *q == '=')
			*p++ = '\\';
		*p++ = *q;
	}
	*p++ = '=';
	for (const char *q = to; *q; q++) {
		if (*q == '\\' || *q == '=')
			*p++ = '\\';
		*p++ = *q;
	}
	*p = '\0';
	return s;
}

static int check_restart(const cr_restart_args_t *a)
{
	struct stat st;

	if (a->cr_version != CR_RESTART_ARGS_VERSION || a->cr_signal < 0 || a->cr_signal > 64 ||
	    (a->cr_flags & ~(unsigned int)(CR_RSTRT_ASYNC_ERR | CR_RSTRT_RESTORE_PID |
					   CR_RSTRT_RESTORE_PGID | CR_RSTRT_RESTORE_SID)))
		return EINVAL;
	if (a->cr_relocate) {
		if (a->cr_relocate->count > CR_MAX_RSTRT_RELOC)
			return EINVAL;
		for (unsigned int i = 0; i < a->cr_relocate->count; i++) {
			const struct cr_rstrt_relocate_pair *pr = &a->cr_relocate->path[i];

			if (!pr->oldpath || !pr->newpath || pr->oldpath[0] != '/' ||
			    pr->newpath[0] != '/')
				return EINVAL;
		}
	}
	if (a->cr_fd < 0 || fstat(a->cr_fd, &st) < 0)
		return EBADF;
	if (S_ISDIR(st.st_mode))
		return EISDIR;
	return 0;
}

API int cr_request_restart(cr_restart_args_t *args, cr_restart_handle_t *handle)
{
	struct argv a = {{0}, 0, false};
	struct req *r;
	int e, was = 0;

	if (!args || !handle)
		return fail(EINVAL);
	e = check_restart(args);
	if (e && !(args->cr_flags & CR_RSTRT_ASYNC_ERR))
		return fail(e);
	if (e) {
		r = req_failed(true, e);
		if (!r)
			return fail(ENOMEM);
		*handle = (cr_restart_handle_t)r;
		return 0;
	}
	r = req_new(true);
	if (!r)
		return fail(ENOMEM);
	arg(&a, "cr_restart");
	arg(&a, "--fd");
	argn(&a, "", args->cr_fd);
	arg(&a, args->cr_flags & CR_RSTRT_RESTORE_PID ? "--restore-pid" : "--no-restore-pid");
	arg(&a, args->cr_flags & CR_RSTRT_RESTORE_PGID ? "--restore-pgid" : "--no-restore-pgid");
	arg(&a, args->cr_flags & CR_RSTRT_RESTORE_SID ? "--restore-sid" : "--no-restore-sid");
	if (args->cr_signal > 0) {
		arg(&a, "--signal");
		argn(&a, "", args->cr_signal);
	} else {
		arg(&a, "--run");
	}
	for (unsigned int i = 0; args->cr_relocate && i < args->cr_relocate->count; i++) {
		char *s = reloc_arg(args->cr_relocate->path[i].oldpath,
				    args->cr_relocate->path[i].newpath);

		arg(&a, "--relocate");
		arg(&a, s);
		free(s);
	}
	/* cr_restart leaves as soon as the processes run (its success hook's non-zero
	 * value): they are then reparented to us, the nearest subreaper. */
	arg(&a, "--run-on-success");
	argn(&a, "exit ", RESTART_OK);
	if (prctl(PR_GET_CHILD_SUBREAPER, &was, 0, 0, 0) == 0 && !was &&
	    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
		r->subreaper = true;
	e = -start(r, "cr_restart", &a, args->cr_fd, false);
	argv_free(&a);
	if (e) {
		req_free(r);
		return fail(e);
	}
	*handle = (cr_restart_handle_t)r;
	return 0;
}

API int cr_wait_restart(cr_restart_handle_t *handle, struct timeval *timeout)
{
	struct req *r = handle ? req_of(*handle, true) : NULL;

	return r ? req_wait(r, timeout) : fail(EINVAL);
}

API int cr_log_restart(cr_restart_handle_t *handle, unsigned int len, char *msg)
{
	struct req *r = handle ? req_of(*handle, true) : NULL;

	return r ? req_log(r, len, msg) : fail(EINVAL);
}

API int cr_reap_restart(cr_restart_handle_t *handle)
{
	struct req *r = handle ? req_of(*handle, true) : NULL;
	int rc, pid = 0;

	if (!r)
		return fail(EINVAL);
	rc = req_reap(r, &pid);
	if (rc == 0 || errno != EAGAIN)
		*handle = 0;
	return rc < 0 ? rc : pid;
}

API int cr_poll_restart_msg(cr_restart_handle_t *handle, struct timeval *timeout, char **msg_p)
{
	struct req *r = handle ? req_of(*handle, true) : NULL;

	if (!r) {
		errno = EINVAL;
		return CR_POLL_RSTRT_ERR_PRE;
	}
	return req_poll(r, handle, timeout, msg_p, true);
}

API int cr_poll_restart(cr_restart_handle_t *handle, struct timeval *timeout)
{
	return cr_poll_restart_msg(handle, timeout, NULL);
}
