/* dest.c: opening, committing and abandoning a context file. */
#define LOG_PREFIX "dest: "
#include "dest.h"

#include "err.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

static char *dup_dirname(const char *path)
{
	char *c = strdup(path), *d;

	if (!c)
		return NULL;
	d = strdup(dirname(c));
	free(c);
	return d;
}

static char *dup_basename(const char *path)
{
	char *c = strdup(path), *b;

	if (!c)
		return NULL;
	b = strdup(basename(c));
	free(c);
	return b;
}

static int check_type(struct dest *d, struct err *err)
{
	struct stat st;

	if (fstat(d->fd, &st) < 0)
		return err_sys(err, "cannot stat %s", d->name);
	if (S_ISDIR(st.st_mode))
		return err_set(err, -EISDIR, "%s is a directory", d->name);
	if (d->is_fd) {
		if (S_ISBLK(st.st_mode))
			return err_set(err, -EINVAL, "%s is a block device", d->name);
		return 0;
	}
	if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
		return err_set(err, -EINVAL, "%s is not a regular file, FIFO or socket", d->name);
	return 0;
}

int dest_open_file(struct dest *d, const char *file, enum dest_policy policy,
		   const char *backup_name, struct err *err)
{
	int flags = O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
	const char *target;
	char resolved[PATH_MAX];
	int rc;

	memset(d, 0, sizeof(*d));
	d->fd = -1;
	d->policy = policy;
	snprintf(d->name, sizeof(d->name), "%s", file);
	d->final = strdup(file);
	if (!d->final)
		return err_set(err, -ENOMEM, "out of memory");
	if (backup_name) {
		d->backup = strdup(backup_name);
		if (!d->backup)
			return err_set(err, -ENOMEM, "out of memory");
	}
	if (policy == DEST_ATOMIC || policy == DEST_BACKUP) {
		char *dir = dup_dirname(file), *base = dup_basename(file);
		size_t n = (dir ? strlen(dir) : 0) + (base ? strlen(base) : 0) + 8;

		d->tmp = dir && base ? malloc(n) : NULL;
		if (d->tmp)
			snprintf(d->tmp, n, "%s/.%s.tmp", dir, base);
		free(dir);
		free(base);
		if (!d->tmp)
			return err_set(err, -ENOMEM, "out of memory");
	}
	if (policy == DEST_NOCLOBBER)
		flags |= O_EXCL;
	if (policy == DEST_CLOBBER && access(file, W_OK) < 0 && errno == EACCES &&
	    unlink(file) < 0)
		return err_sys(err, "cannot replace %s", file);
	target = d->tmp ? d->tmp : file;
	d->fd = open(target, flags, 0400);
	if (d->fd < 0)
		return err_sys(err, "cannot open %s", target);
	rc = check_type(d, err);
	if (rc < 0) {
		/* Not ours to remove: it was there before. */
		close(d->fd);
		d->fd = -1;
		return rc;
	}
	if (fcntl(d->fd, F_SETFL, fcntl(d->fd, F_GETFL) & ~O_NONBLOCK) < 0)
		return err_sys(err, "cannot set %s to blocking", target);
	d->abs = realpath(target, resolved) ? strdup(resolved) : strdup("");
	return d->abs ? 0 : err_set(err, -ENOMEM, "out of memory");
}

int dest_open_fd(struct dest *d, int fd, struct err *err)
{
	int fl;

	memset(d, 0, sizeof(*d));
	d->fd = fd;
	d->is_fd = true;
	snprintf(d->name, sizeof(d->name), "<fd%d>", fd);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return err_sys(err, "%s", d->name);
	if ((fl & O_ACCMODE) == O_RDONLY)
		return err_set(err, -EBADF, "%s is not open for writing", d->name);
	d->abs = strdup("");
	if (!d->abs)
		return err_set(err, -ENOMEM, "out of memory");
	return check_type(d, err);
}

static void sync_dir(const char *file)
{
	char *dir = dup_dirname(file);
	int fd;

	if (!dir)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			log_info("cannot sync directory %s: %s", dir, strerror(errno));
		close(fd);
	}
	free(dir);
}

static int make_backup(struct dest *d, struct err *err)
{
	char name[PATH_MAX];
	struct stat st;

	if (lstat(d->final, &st) < 0)
		return 0; /* nothing to keep */
	if (d->backup) {
		snprintf(name, sizeof(name), "%s", d->backup);
	} else {
		unsigned int n;

		for (n = 1; n <= 65536; n++) {
			snprintf(name, sizeof(name), "%s.~%u~", d->final, n);
			if (lstat(name, &st) < 0 && errno == ENOENT)
				break;
		}
		if (n > 65536)
			return err_set(err, -EEXIST, "no free backup name for %s", d->final);
	}
	if (rename(d->final, name) < 0)
		return err_sys(err, "cannot rename %s to %s", d->final, name);
	return 0;
}

int dest_commit(struct dest *d, bool sync, struct err *err)
{
	if (sync && fsync(d->fd) < 0 && errno != EINVAL && errno != EROFS)
		return err_sys(err, "cannot sync %s", d->name);
	if (d->is_fd)
		return 0;
	if (d->policy == DEST_BACKUP && make_backup(d, err) < 0)
		return err->code;
	if (d->tmp && rename(d->tmp, d->final) < 0)
		return err_sys(err, "cannot rename %s to %s", d->tmp, d->final);
	free(d->tmp);
	d->tmp = NULL;
	if (sync)
		sync_dir(d->final);
	close(d->fd);
	d->fd = -1;
	return 0;
}

void dest_abort(struct dest *d)
{
	if (d->is_fd)
		return;
	if (d->fd >= 0) {
		unlink(d->tmp ? d->tmp : d->final);
		close(d->fd);
		d->fd = -1;
	}
}

void dest_fini(struct dest *d)
{
	if (!d->is_fd && d->fd >= 0)
		close(d->fd);
	free(d->final);
	free(d->tmp);
	free(d->backup);
	free(d->abs);
	d->final = d->tmp = d->backup = d->abs = NULL;
}

const char *dest_display(const struct dest *d)
{
	return d->name;
}
