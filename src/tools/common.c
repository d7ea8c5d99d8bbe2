/* common.c: exit codes and message lines shared by the tools. */
#include "common.h"

#include "engine/context.h"
#include "engine/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/banned.h"

int tool_exit_code(int rc)
{
	if (rc >= 0)
		return 0;
	return (-rc) & 0xff;
}

void tool_print_kmsgs(enum kmsg_mode mode, bool failed, bool quiet)
{
	if (quiet || mode == KMSG_MODE_NONE || (mode == KMSG_MODE_ERROR && !failed))
		return;
	for (size_t i = 0; i < kmsg_count(); i++)
		fprintf(stderr, "- %s\n", kmsg_line(i, NULL));
}

bool tool_is_context_name(const char *name)
{
	long pid;

	return !strncmp(name, "context.", 8) && opt_int(name + 8, 1, INT32_MAX, &pid) == 0;
}

static int cmp_file_pid(const void *a, const void *b)
{
	const struct ctx_file *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

void tool_close_context_files(struct ctx_file *files, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (files[i].fd >= 0)
			close(files[i].fd);
		free((char *)files[i].name);
	}
	free(files);
}

/* A set of many processes has more files than the usual limit on descriptors (1024),
 * and all are open at once: take the hard limit. The restored processes get their own
 * saved limits. */
static bool more_files(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return false;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

/* One more file of DIR: opened, named "DIR/NAME". */
static int add_file(const char *dir, const char *name, struct ctx_file **files, uint32_t *n,
		    char *msg, size_t msglen)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	struct ctx_file *f;
	char *path;
	int e;

	if (*n == 65536) {
		snprintf(msg, msglen, "%s holds more than 65536 context files", dir);
		return -EINVAL;
	}
	/* Room doubles when it runs out (n a power of two). */
	f = *n & (*n - 1) ? *files : realloc(*files, (*n ? 2u * *n : 1u) * sizeof(*f));
	if (f)
		*files = f;
	path = malloc(len);
	if (!f || !path) {
		free(path);
		snprintf(msg, msglen, "cannot read context directory %s: %s", dir,
			 strerror(ENOMEM));
		return -ENOMEM;
	}
	snprintf(path, len, "%s/%s", dir, name);
	f = &(*files)[*n];
	memset(f, 0, sizeof(*f));
	f->name = path;
	f->pid = (pid_t)strtol(name + 8, NULL, 10);
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0 && errno == EMFILE && more_files())
		f->fd = open(path, O_RDONLY | O_CLOEXEC);
	++*n;
	if (f->fd >= 0)
		return 0;
	e = errno;
	snprintf(msg, msglen, "cannot open context %s: %s", path, strerror(e));
	return -e;
}

int tool_open_context_dir(const char *dir, struct ctx_file **ret_files, uint32_t *ret_n, char *msg,
			  size_t msglen)
{
	struct ctx_file *files = NULL;
	struct dirent *de;
	uint32_t n = 0;
	int rc = 0;
	DIR *d;

	*ret_files = NULL;
	*ret_n = 0;
	d = opendir(dir);
	if (!d) {
		rc = -errno;
		snprintf(msg, msglen, "cannot open context directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		struct stat st;

		if (tool_is_context_name(de->d_name) &&
		    fstatat(dirfd(d), de->d_name, &st, 0) == 0 && S_ISREG(st.st_mode))
			rc = add_file(dir, de->d_name, &files, &n, msg, msglen);
	}
	if (rc == 0 && errno) {
		rc = -errno;
		snprintf(msg, msglen, "cannot read context directory %s: %s", dir, strerror(-rc));
	}
	closedir(d);
	if (rc == 0 && n == 0) {
		rc = -EINVAL;
		snprintf(msg, msglen,
			 "%s holds no context file (context.PID): not a directory written by "
			 "cr_checkpoint -d",
			 dir);
	}
	if (rc < 0) {
		tool_close_context_files(files, n);
		return rc;
	}
	qsort(files, n, sizeof(*files), cmp_file_pid);
	*ret_files = files;
	*ret_n = n;
	return 0;
}
