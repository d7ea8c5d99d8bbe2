/* state/fd_memfd.c: memfds (memfd_create): the name, the contents (holes skipped;
 * saved once per memfd, see fsaved.h), the size, the seals, and each open file
 * description's flags and offset. A memfd that is only mapped is saved the same way,
 * for memory.c.
 *
 * At restart the memfd is made again with its name (sealable if it had seals other
 * than F_SEAL_SEAL, the mark of one made without MFD_ALLOW_SEALING), refilled, given
 * its size and mode; every description and mapping opens it anew; the seals come last,
 * once the process is whole, since they would forbid the restore's own writes. Not
 * saved: hugetlbfs memfds (refused). */
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
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "../banned.h"

#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x0020 /* Linux 6.3 */
#endif
#define KNOWN_SEALS                                                                                \
	(F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE |          \
	 F_SEAL_EXEC)
#define MEMFD_NAME_MAX 249 /* the kernel's MFD_NAME_MAX_LEN */

struct memfd_data {
	struct fsaved fs; /* first: see fsaved.h */
	char *name;
	uint32_t seals;
};

static void memfd_data_free(void *p)
{
	struct memfd_data *md = p;

	if (!md)
		return;
	fsaved_fini(&md->fs);
	free(md->name);
	free(md);
}

/* "/memfd:NAME (deleted)" -> a copy of NAME. */
static char *name_of(const char *link)
{
	size_t len = strlen(link);

	if (len > 10 && !strcmp(link + len - 10, " (deleted)"))
		len -= 10;
	return len >= 7 ? strndup(link + 7, len - 7) : NULL;
}

static bool is_memfd_link(const char *link)
{
	return !strncmp(link, "/memfd:", 7);
}

/* The seals, and whether the memfd is one crest can make again, read through a
 * descriptor of it. */
static int read_seals(pid_t pid, int fd, const char *what, uint32_t *ret, struct err *err)
{
	struct statfs sfs;
	int seals;

	if (fstatfs(fd, &sfs) == 0 && sfs.f_type == HUGETLBFS_MAGIC)
		return err_set(err, -ENOTSUP,
			       "pid %d: %s is a hugetlbfs memfd, which crest cannot "
			       "checkpoint yet",
			       pid, what);
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return err_sys(err, "pid %d: cannot read the seals of %s", pid, what);
	*ret = (uint32_t)seals;
	return 0;
}

static int memfd_claim(struct dump_ctx *c, const struct fd_scan *s, struct err *err)
{
	(void)c;
	(void)err;
	return S_ISREG(s->st.st_mode) && s->st.st_nlink == 0 && is_memfd_link(s->link);
}

static int memfd_collect(struct dump_ctx *c, const struct fd_scan *s, struct file_img *f,
			 struct err *err)
{
	struct memfd_data *md = fsaved_data_new(f, sizeof(*md), memfd_data_free);
	char path[64], what[64];
	int own, rc;

	if (!md)
		return err_set(err, -ENOMEM, "out of memory");
	md->name = name_of(s->link);
	if (!md->name)
		return err_set(err, -ENOMEM, "out of memory");
	f->size = (uint64_t)s->st.st_size;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", c->p->pid, s->fd);
	snprintf(what, sizeof(what), "descriptor %d", s->fd);
	own = open(path, O_RDONLY | O_CLOEXEC);
	if (own < 0)
		return err_sys(err, "pid %d: cannot open the memfd of descriptor %d", c->p->pid,
			       s->fd);
	rc = read_seals(c->p->pid, own, what, &md->seals, err);
	close(own);
	return rc < 0 ? rc : fsaved_collect(c, f, s->fd, err);
}

int fd_memfd_for_mapping(struct file_img *f, pid_t pid, int src, const char *name, struct err *err)
{
	struct memfd_data *md = fsaved_data_new(f, sizeof(*md), memfd_data_free);

	if (!md)
		return err_set(err, -ENOMEM, "out of memory");
	md->name = is_memfd_link(name) ? strdup(name + 7) : NULL;
	if (!md->name)
		return err_set(err, -ENOMEM, "out of memory");
	return read_seals(pid, src, name, &md->seals, err);
}

static void memfd_encode(const struct file_img *f, struct buf *b)
{
	const struct memfd_data *md = f->kd;

	fsaved_encode(&md->fs, b);
	put_str(b, md->name);
	put_u32(b, md->seals);
}

static int memfd_decode(struct file_img *f, struct wire_rd *rd, struct err *err)
{
	struct memfd_data *md = fsaved_data_new(f, sizeof(*md), memfd_data_free);

	if (!md)
		return err_set(err, -ENOMEM, "out of memory");
	fsaved_decode(&md->fs, rd);
	md->name = get_str(rd, MEMFD_NAME_MAX);
	md->seals = get_u32(rd);
	if (rd->bad)
		return 0;
	if (!md->name)
		wr_fail(rd, "memfd without a name");
	else if (md->seals & ~(uint32_t)KNOWN_SEALS)
		wr_fail(rd, "unknown memfd seals");
	else if (!S_ISREG(f->mode) || f->path)
		wr_fail(rd, "memfd that is not a plain file");
	return 0;
}


/* ---- restart ---- */

int fd_memfd_make(struct rst_ctx *c, const struct file_img *h, struct err *err)
{
	const struct memfd_data *md = h->kd;
	/* A memfd made without MFD_ALLOW_SEALING has F_SEAL_SEAL and nothing else. */
	unsigned int flags = MFD_CLOEXEC | (md->seals != F_SEAL_SEAL ? MFD_ALLOW_SEALING : 0);
	int fd = memfd_create(md->name, flags);

	if (fd < 0)
		return err_sys(err, "pid %d: cannot make memfd '%s'", c->rp->p->pid, md->name);
	if (fchmod(fd, h->mode & 07777) < 0) {
		err_sys(err, "pid %d: cannot give memfd '%s' its mode %#o", c->rp->p->pid, md->name,
			h->mode & 07777);
		close(fd);
		return err->code;
	}
	return fd;
}

int fd_memfd_seal(struct rst_ctx *c, const struct file_img *h, int fd, struct err *err)
{
	const struct memfd_data *md = h->kd;
	int now = fcntl(fd, F_GET_SEALS);
	uint32_t add;

	if (now < 0)
		return err_sys(err, "pid %d: cannot read the seals of memfd '%s'", c->rp->p->pid,
			       md->name);
	add = md->seals & ~(uint32_t)now;
	if (add && fcntl(fd, F_ADD_SEALS, (int)add) < 0)
		return err_sys(err, "pid %d: cannot seal memfd '%s' (%#x)", c->rp->p->pid, md->name,
			       add);
	return 0;
}

static void memfd_describe(const struct file_img *f, struct out *o)
{
	const struct memfd_data *md = f->kd;

	out_str(o, "name", md->name);
	out_u64(o, "size", f->size);
	out_hex(o, "seals", md->seals);
	out_u64(o, "pos", f->pos);
	fsaved_describe(&md->fs, o);
}

const struct fd_kind fd_memfd_kind = {
    .kind = FILE_MEMFD,
    .name = "memfd",
    .claim = memfd_claim,
    .collect = memfd_collect,
    .encode = memfd_encode,
    .decode = memfd_decode,
    .check = fsaved_check,
    .open = fsaved_kind_open,
    .describe = memfd_describe,
};
