/* state/fd_deleted.c: regular files deleted (unlinked) while open, and files saved by
 * contents for a mapping (deleted, replaced, or under --save-*): the name the file
 * had, its contents (holes skipped; saved once per file, see fsaved.h), size, mode and
 * owner, and each open file description's flags and offset.
 *
 * At restart, as BLCR does, the file is made again next to its old name and unlinked
 * at once: under that very name if nothing is there now (so /proc shows the same
 * "NAME (deleted)"), else under a new name beside it, else in the temporary directory;
 * it is filled, and every description and mapping of the file opens it. A file that
 * exists at the old name is never touched. */
#define LOG_PREFIX "files: "
#include "fdkind.h"
#include "fsaved.h"

#include "../err.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../banned.h"

struct deleted_data {
	struct fsaved fs; /* first: see fsaved.h */
	uint32_t uid, gid;
};

static void deleted_data_free(void *p)
{
	struct deleted_data *dd = p;

	if (!dd)
		return;
	fsaved_fini(&dd->fs);
	free(dd);
}

static bool ends_deleted(const char *link)
{
	size_t len = strlen(link);

	return len > 10 && !strcmp(link + len - 10, " (deleted)");
}

static int deleted_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)c;
	(void)err;
	if (!S_ISREG(s->st.st_mode) || s->link[0] != '/' || !strncmp(s->link, "/memfd:", 7) ||
	    (s->flags & O_PATH))
		return 0;
	return ends_deleted(s->link) || s->st.st_nlink == 0;
}

static int deleted_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
			   struct err *err)
{
	struct deleted_data *dd = fsaved_data_new(f, sizeof(*dd), deleted_data_free);

	if (!dd)
		return err_set(err, -ENOMEM, "out of memory");
	f->path = strdup(s->link);
	if (!f->path)
		return err_set(err, -ENOMEM, "out of memory");
	if (ends_deleted(f->path))
		f->path[strlen(f->path) - 10] = '\0';
	f->size = (uint64_t)s->st.st_size;
	dd->uid = s->st.st_uid;
	dd->gid = s->st.st_gid;
	return fsaved_collect(c, f, s->fd, err);
}

int fd_deleted_for_mapping(struct file_img *f, const struct stat *st, const char *name,
			   struct err *err)
{
	struct deleted_data *dd = fsaved_data_new(f, sizeof(*dd), deleted_data_free);

	if (!dd)
		return err_set(err, -ENOMEM, "out of memory");
	f->path = strdup(name);
	if (!f->path)
		return err_set(err, -ENOMEM, "out of memory");
	dd->uid = st->st_uid;
	dd->gid = st->st_gid;
	return 0;
}

static void deleted_encode(const struct file_img *f, struct buf *b)
{
	const struct deleted_data *dd = f->kd;

	fsaved_encode(&dd->fs, b);
	put_u32(b, dd->uid);
	put_u32(b, dd->gid);
}

static int deleted_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct deleted_data *dd = fsaved_data_new(f, sizeof(*dd), deleted_data_free);

	if (!dd)
		return err_set(err, -ENOMEM, "out of memory");
	fsaved_decode(&dd->fs, rd);
	dd->uid = get_u32(rd);
	dd->gid = get_u32(rd);
	if (!rd->bad && (!S_ISREG(f->mode) || !f->path))
		wr_fail(rd, "deleted file without a name or not a plain file");
	return 0;
}

/* ---- restart ---- */

/* A new file at path, created exclusively (nothing there is touched) and unlinked at
 * once; -errno if there is something there or the directory will not have it. */
static int make_named(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);

	if (fd >= 0 && unlink(path) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -errno;
}

/* The same under a new name in dir, beside base. */
static int make_beside(const char *dir, const char *base, struct err *err)
{
	char tmp[MODEL_MAX_PATH + 32];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.crest-XXXXXX", dir, base) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (unlink(tmp) < 0) {
		err_sys(err, "cannot unlink '%s'", tmp);
		close(fd);
		return err->code;
	}
	return fd;
}

int fd_deleted_make(struct rst_ctx *c, const struct file_img *h, struct err *err)
{
	const struct deleted_data *dd = h->kd;
	const struct proc_img *p = c->rp->p;
	char buf[MODEL_MAX_PATH], dirbuf[MODEL_MAX_PATH], basebuf[MODEL_MAX_PATH];
	const char *path = rst_path(c, h->path, buf, sizeof(buf), err), *tmpdir;
	char *dir, *base;
	int fd;

	if (!path)
		return err->code;
	snprintf(dirbuf, sizeof(dirbuf), "%s", path);
	snprintf(basebuf, sizeof(basebuf), "%s", path);
	dir = dirname(dirbuf);
	base = basename(basebuf);
	/* Its own name if free, else beside it, else in the temporary directory. */
	fd = make_named(path);
	if (fd == -EEXIST)
		fd = make_beside(dir, base, err);
	if (fd < 0 && !err->code) {
		tmpdir = getenv("TMPDIR");
		fd = make_beside(tmpdir && tmpdir[0] == '/' ? tmpdir : "/tmp", base, err);
	}
	if (fd < 0)
		return err->code ? err->code
				 : err_code(err, fd, "pid %d: cannot make a new copy of '%s'",
					    p->pid, path);
	if (fchmod(fd, h->mode & 07777) < 0) {
		err_sys(err, "pid %d: cannot give the new copy of '%s' its mode %#o", p->pid, path,
			h->mode & 07777);
		close(fd);
		return err->code;
	}
	if (fchown(fd, dd->uid, dd->gid) < 0 && geteuid() == 0)
		kmsg_add(KMSG_WARN, "pid %d: the new copy of '%s' keeps owner %d: %s", p->pid, path,
			 (int)geteuid(), strerror(errno));
	return fd;
}

static void deleted_describe(const struct file_img *f, struct out *o)
{
	const struct deleted_data *dd = f->kd;

	out_u64(o, "size", f->size);
	out_u64(o, "pos", f->pos);
	fsaved_describe(&dd->fs, o);
}

const struct fd_kind fd_deleted_kind = {
    .kind = FILE_DELETED,
    .name = "deleted-file",
    .claim = deleted_claim,
    .collect = deleted_collect,
    .encode = deleted_encode,
    .decode = deleted_decode,
    .check = fsaved_check,
    .open = fsaved_kind_open,
    .describe = deleted_describe,
};
