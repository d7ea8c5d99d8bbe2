/* misc.c: the small parts of libcr.so's API: argument defaults, error strings,
 * spinlocks, the deprecated one-call requests, and finding crest's tools. */
#include "libcr/lib.h"

#include <libcr.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef CREST_PREFIX
#define CREST_PREFIX "/usr/local"
#endif

#define API __attribute__((visibility("default")))

API int cri_init_checkpoint_args_t(cr_version_t version, cr_checkpoint_args_t *args)
{
	if (version != CR_CHECKPOINT_ARGS_VERSION || !args) {
		errno = EINVAL;
		return -1;
	}
	memset(args, 0, sizeof(*args));
	args->cr_version = version;
	args->cr_scope = (cr_scope_t)-1; /* the caller must choose */
	args->cr_target = 0;
	args->cr_fd = -1;
	return 0;
}

API int cri_init_restart_args_t(cr_version_t version, cr_restart_args_t *args)
{
	if (version != CR_RESTART_ARGS_VERSION || !args) {
		errno = EINVAL;
		return -1;
	}
	memset(args, 0, sizeof(*args));
	args->cr_version = version;
	args->cr_fd = -1;
	args->cr_flags = CR_RSTRT_RESTORE_PID;
	return 0;
}

#define CR_ERROR_DEF(name, desc) desc,
static const char *const descriptions[] = {
#include <blcr_errcodes.h>
};
#undef CR_ERROR_DEF
_Static_assert(sizeof(descriptions) / sizeof(descriptions[0]) ==
		   CR_MAX_ERRCODE - CR_MIN_ERRCODE - 1,
	       "one description per code");

API const char *cr_strerror(int errnum)
{
	if (errnum > CR_MIN_ERRCODE && errnum < CR_MAX_ERRCODE)
		return descriptions[errnum - CR_MIN_ERRCODE - 1];
	return strerror(errnum);
}

/* Spinlocks usable in signal handlers: yield a while, then sleep a little. */
API void cr_spinlock_init(cr_spinlock_t *x)
{
	__atomic_store_n(x, 0u, __ATOMIC_RELEASE);
}

API void cr_spinlock_lock(cr_spinlock_t *x)
{
	for (unsigned int i = 0;; i++) {
		if (!__atomic_exchange_n(x, 1u, __ATOMIC_ACQUIRE))
			return;
		if (i < 100) {
			syscall(SYS_sched_yield);
		} else {
			struct timespec ts = {0, 1000000};

			syscall(SYS_nanosleep, &ts, NULL);
		}
	}
}

API void cr_spinlock_unlock(cr_spinlock_t *x)
{
	__atomic_store_n(x, 0u, __ATOMIC_RELEASE);
}

API int cr_spinlock_trylock(cr_spinlock_t *x)
{
	return !__atomic_exchange_n(x, 1u, __ATOMIC_ACQUIRE);
}

/* ---- cr_request(), cr_request_file(), cr_request_fd() ---- */

static struct {
	cr_checkpoint_handle_t h;
	int have;
	int fd; /* the file we opened, or -1 */
	char file[PATH_MAX];
} old = {0, 0, -1, ""};

static __attribute__((noreturn)) void die(const char *what)
{
	char line[256];
	int n = snprintf(line, sizeof(line), "libcr: %s: %s\n", what, cr_strerror(errno));

	if (n > 0 && write(2, line, (size_t)n) < 0)
		abort();
	abort();
}

/* An older request is reaped first; if it failed, the file it wrote goes. */
static void reap_old(void)
{
	int rc;

	if (!old.have)
		return;
	while ((rc = cr_poll_checkpoint(&old.h, NULL)) == CR_POLL_CHKPT_ERR_PRE && errno == EINTR)
		;
	if (rc < 0 && errno != CR_ERESTARTED && old.file[0])
		unlink(old.file);
	if (old.fd >= 0)
		close(old.fd);
	old.have = 0;
	old.fd = -1;
	old.file[0] = '\0';
}

static void request_to(int fd)
{
	cr_checkpoint_args_t args;

	if (cr_status() < 0)
		die("cr_request without cr_init()");
	cr_initialize_checkpoint_args_t(&args);
	args.cr_scope = CR_SCOPE_PROC;
	args.cr_target = 0;
	args.cr_fd = fd;
	if (cr_request_checkpoint(&args, &old.h) < 0)
		die("cannot request a checkpoint");
	old.have = 1;
}

API void cr_request_fd(int fd)
{
	if (cr_status() < 0)
		die("cr_request_fd without cr_init()");
	reap_old();
	request_to(fd);
}

API void cr_request_file(const char *filename)
{
	int fd;

	if (cr_status() < 0)
		die("cr_request_file without cr_init()");
	reap_old();
	fd = lib_fd_high(open(filename, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	if (fd < 0)
		die(filename);
	snprintf(old.file, sizeof(old.file), "%s", filename);
	old.fd = fd;
	request_to(fd);
}

API void cr_request(void)
{
	char name[64];
	int fd;

	if (cr_status() < 0)
		die("cr_request without cr_init()");
	reap_old();
	snprintf(name, sizeof(name), "context.%d", (int)getpid());
	fd = lib_fd_high(open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
	if (fd < 0)
		die(name);
	snprintf(old.file, sizeof(old.file), "%s", name);
	old.fd = fd;
	request_to(fd);
}

/* ---- finding the tools ---- */

static bool usable(const char *path)
{
	return path && path[0] == '/' && access(path, X_OK) == 0;
}

static int take(const char *path, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s", path) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int find_tool(const char *name, char *buf, size_t len)
{
	char var[64], path[PATH_MAX], *slash;
	const char *env;
	Dl_info di;

	/* $CR_CHECKPOINT (crest's tests), $cr_checkpoint (BLCR's tests). */
	var[0] = '\0';
	for (size_t i = 0; i < sizeof(var) - 1 && name[i]; i++) {
		var[i] = (char)(name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
		var[i + 1] = '\0';
	}
	env = getenv(var);
	if (usable(env))
		return take(env, buf, len);
	env = getenv(name);
	if (usable(env))
		return take(env, buf, len);
	/* The tools of the tree this library belongs to: PREFIX/lib -> PREFIX/bin. */
	if (dladdr((void *)find_tool, &di) && di.dli_fname && realpath(di.dli_fname, path)) {
		slash = strrchr(path, '/');
		if (slash) {
			char cand[PATH_MAX + 64];

			*slash = '\0';
			snprintf(cand, sizeof(cand), "%s/../bin/%s", path, name);
			if (usable(cand))
				return take(cand, buf, len);
		}
	}
	snprintf(path, sizeof(path), "%s/bin/%s", CREST_PREFIX, name);
	if (usable(path))
		return take(path, buf, len);
	env = getenv("PATH");
	while (env && *env) {
		const char *end = strchr(env, ':');
		size_t n = end ? (size_t)(end - env) : strlen(env);

		if (n && n + strlen(name) + 2 < sizeof(path)) {
			snprintf(path, sizeof(path), "%.*s/%s", (int)n, env, name);
			if (usable(path))
				return take(path, buf, len);
		}
		env = end ? end + 1 : NULL;
	}
	return -ENOENT;
}
