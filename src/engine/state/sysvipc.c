/* state/sysvipc.c: System V IPC objects used by the checkpointed processes: shared
 * memory segments, semaphore sets and message queues, with their key, id, mode and
 * owner, and their contents (a segment's pages, holes skipped; every semaphore's
 * value; every queued message with its type, read with MSG_COPY, which leaves it
 * queued).
 *
 * Used by the scope means: a segment attached by one of its processes (the areas
 * memory.c marks VMA_SYSVSHM) or created by one (cpid); a semaphore set one of whose
 * semaphores a process of the scope changed last (GETPID); a queue a process of the
 * scope sent to or received from last (lspid, lrpid). A set or queue that no process
 * of the scope touched since it was made cannot be told from anyone else's and is not
 * saved. Refused: a segment also attached outside the scope, or attached in part; a
 * segment of another IPC namespace.
 *
 * At restart each object is made again in cr_restart's IPC namespace with the same id
 * (the kernel's shm_next_id, sem_next_id and msg_next_id choose the id of the next
 * object made) and the same key, mode and owner, and filled; memory.c then attaches
 * each segment at its address in every process that had it (sysvipc_attach). A
 * segment removed while attached (SHM_DEST) is removed again once every process has
 * it. An id that is taken fails the restart (EBUSY), unless what holds it is the
 * saved object itself, left behind by the checkpointed processes (killed after the
 * checkpoint): the same key, mode, owner and size, attached nowhere, and none of the
 * saved processes alive. That object is taken over and given its saved contents.
 *
 * Not kept: the creator's uid and gid (cr_restart's), the pids and times of last use,
 * semaphore adjustments on exit (SEM_UNDO), a segment's huge pages (SHM_HUGETLB). */
#define LOG_PREFIX "sysvipc: "
#include "sysvipc.h"

#include "../err.h"
#include "../image.h"
#include "../inject.h"
#include "../log.h"
#include "../../util/buf.h"
#include "../../util/out.h"
#include "../../util/procfs.h"
#include "../../util/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../banned.h"

#ifndef MSG_COPY
#define MSG_COPY 040000
#endif

#define PAGE 4096ull
#define MAX_OBJS 65536u
#define MAX_SHM_SIZE (1ull << 46)
#define MAX_SEMS 65536u
#define MAX_MSGS (1u << 20)
#define MAX_QBYTES (1u << 30)
#define CHUNK_BYTES (8u << 20) /* contents per record */
#define OBJ_HEAD 40            /* kind, id, key, mode, uid, gid, cuid, cgid, size */
#define DATA_HEAD 24           /* kind, id, offset, length */

enum ipc_kind {
	IPCK_SHM = 1,
	IPCK_SEM = 2,
	IPCK_MSG = 3,
	IPCK_SHM_DATA = 4, /* a record of a segment's contents, not an object */
};

static const char *const kind_names[] = {
    [IPCK_SHM] = "shared memory segment",
    [IPCK_SEM] = "semaphore set",
    [IPCK_MSG] = "message queue",
};

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
};

struct ipc_chunk {
	uint64_t off, len, img_off; /* img_off: where the bytes lie in the context */
};

struct ipc_msg {
	int64_t type;
	uint32_t len;
	uint8_t *data;
};

struct ipc_obj {
	uint32_t kind;
	int32_t id, key;
	uint32_t mode; /* permissions, and SHM_DEST / SHM_LOCKED for a segment */
	uint32_t uid, gid, cuid, cgid;
	uint64_t size; /* segment: bytes; set: semaphores; queue: its limit in bytes */
	uint16_t *sems;
	struct ipc_msg *msgs;
	uint32_t nmsgs;
	struct ipc_chunk *chunks; /* a segment's saved contents, from the context */
	uint32_t nchunks;
	/* checkpoint only */
	uint32_t attached; /* areas of the scope that map it */
	pid_t via_pid;     /* one of them, to read it through */
	uint64_t via_start, via_end;
	void *own; /* or cr_checkpoint's own attachment */
	/* restart only */
	bool made, taken_over;
};

struct ipc_set {
	struct ipc_obj *o;
	uint32_t n;
	bool done; /* restart: every process has its segments */
};

static void set_free(void *p)
{
	struct ipc_set *s = p;

	if (!s)
		return;
	for (uint32_t i = 0; i < s->n; i++) {
		struct ipc_obj *o = &s->o[i];

		free(o->sems);
		for (uint32_t k = 0; k < o->nmsgs; k++)
			free(o->msgs[k].data);
		free(o->msgs);
		free(o->chunks);
		if (o->own)
			shmdt(o->own);
	}
	free(s->o);
	free(s);
}

static struct ipc_set *set_of(struct model *m)
{
	if (!m->sysvipc) {
		m->sysvipc = calloc(1, sizeof(struct ipc_set));
		if (m->sysvipc)
			m->sysvipc_free = set_free;
	}
	return m->sysvipc;
}

static struct ipc_obj *find_obj(const struct ipc_set *s, uint32_t kind, int32_t id)
{
	for (uint32_t i = 0; s && i < s->n; i++)
		if (s->o[i].kind == kind && s->o[i].id == id)
			return &s->o[i];
	return NULL;
}

static struct ipc_obj *add_obj(struct ipc_set *s, uint32_t kind, int32_t id)
{
	struct ipc_obj *o;

	if (s->n >= MAX_OBJS)
		return NULL;
	o = model_grow((void **)&s->o, &s->n, sizeof(*o));
	if (o) {
		o->kind = kind;
		o->id = id;
	}
	return o;
}

static uint64_t page_up(uint64_t n)
{
	return (n + PAGE - 1) & ~(PAGE - 1);
}

/* ---- checkpoint ---- */

static bool in_scope(struct model *m, long pid)
{
	return pid > 0 && pid <= INT32_MAX && model_find_proc(m, (pid_t)pid);
}

/* Every line of /proc/sysvipc/NAME after its header, as numbers (key and mode are
 * written in decimal and octal). */
static int read_table(const char *name, struct buf *b, struct err *err)
{
	char path[64];
	int rc;

	snprintf(path, sizeof(path), "/proc/sysvipc/%s", name);
	buf_init(b);
	rc = buf_read_file(b, path);
	if (rc < 0) {
		buf_fini(b);
		return err_code(err, rc, "cannot read %s", path);
	}
	return 0;
}

/* The areas of the scope that attach segments: which, how often, and whole. */
static int find_attached(struct dump_all *all, struct ipc_set *s, struct err *err)
{
	struct model *m = all->m;

	for (uint32_t i = 0; i < m->nprocs; i++) {
		const struct proc_img *p = &m->procs[i];

		for (uint32_t k = 0; k < p->nvmas; k++) {
			const struct vma_img *v = &p->vmas[k];
			struct ipc_obj *o;

			if (v->kind != VMA_SYSVSHM)
				continue;
			o = find_obj(s, IPCK_SHM, (int32_t)v->ino);
			if (!o)
				o = add_obj(s, IPCK_SHM, (int32_t)v->ino);
			if (!o)
				return err_set(err, -ENOMEM, "out of memory");
			if (!o->attached) {
				o->via_pid = p->pid;
				o->via_start = v->start;
				o->via_end = v->end;
			}
			o->attached++;
		}
	}
	return 0;
}

static int scan_shm(struct dump_all *all, struct ipc_set *s, struct err *err)
{
	struct buf b;
	char *line, *save = NULL;
	int rc = read_table("shm", &b, err);

	if (rc < 0)
		return rc;
	line = strtok_r((char *)b.data, "\n", &save); /* the header */
	while (rc == 0 && (line = strtok_r(NULL, "\n", &save))) {
		long long key, id, size, cpid, lpid, nattch, uid, gid, cuid, cgid;
		unsigned int mode;
		struct ipc_obj *o;

		if (sscanf(line, "%lld %lld %o %lld %lld %lld %lld %lld %lld %lld %lld", &key, &id,
			   &mode, &size, &cpid, &lpid, &nattch, &uid, &gid, &cuid, &cgid) != 11)
			continue;
		o = find_obj(s, IPCK_SHM, (int32_t)id);
		if (!o && in_scope(all->m, cpid))
			o = add_obj(s, IPCK_SHM, (int32_t)id);
		if (!o)
			continue;
		o->key = (int32_t)key;
		o->mode = mode;
		o->size = (uint64_t)size;
		o->uid = (uint32_t)uid;
		o->gid = (uint32_t)gid;
		o->cuid = (uint32_t)cuid;
		o->cgid = (uint32_t)cgid;
		if ((uint64_t)nattch > o->attached)
			rc = err_set(err, -ENOTSUP,
				     "System V shared memory segment %lld (key %#llx) is attached "
				     "%lld times outside the checkpoint",
				     id, (unsigned long long)(uint32_t)key,
				     nattch - (long long)o->attached);
	}
	buf_fini(&b);
	return rc;
}

/* Does a process of the scope hold the last change of a semaphore of set id? */
static bool sem_used(struct model *m, int id, long nsems)
{
	for (long i = 0; i < nsems; i++)
		if (in_scope(m, semctl(id, (int)i, GETPID)))
			return true;
	return false;
}

static int scan_sem(struct dump_all *all, struct ipc_set *s, struct err *err)
{
	struct buf b;
	char *line, *save = NULL;
	int rc = read_table("sem", &b, err);

	if (rc < 0)
		return rc;
	line = strtok_r((char *)b.data, "\n", &save);
	while (rc == 0 && (line = strtok_r(NULL, "\n", &save))) {
		long long key, id, nsems;
		unsigned int mode;
		struct ipc_obj *o;

		if (sscanf(line, "%lld %lld %o %lld", &key, &id, &mode, &nsems) != 4 ||
		    !sem_used(all->m, (int)id, (long)nsems))
			continue;
		o = add_obj(s, IPCK_SEM, (int32_t)id);
		if (!o)
			rc = err_set(err, -ENOMEM, "out of memory");
	}
	buf_fini(&b);
	return rc;
}

static int scan_msg(struct dump_all *all, struct ipc_set *s, struct err *err)
{
	struct buf b;
	char *line, *save = NULL;
	int rc = read_table("msg", &b, err);

	if (rc < 0)
		return rc;
	line = strtok_r((char *)b.data, "\n", &save);
	while (rc == 0 && (line = strtok_r(NULL, "\n", &save))) {
		long long key, id, cbytes, qnum, lspid, lrpid;
		unsigned int mode;
		struct ipc_obj *o;

		if (sscanf(line, "%lld %lld %o %lld %lld %lld %lld", &key, &id, &mode, &cbytes,
			   &qnum, &lspid, &lrpid) != 7 ||
		    (!in_scope(all->m, lspid) && !in_scope(all->m, lrpid)))
			continue;
		o = add_obj(s, IPCK_MSG, (int32_t)id);
		if (!o)
			rc = err_set(err, -ENOMEM, "out of memory");
	}
	buf_fini(&b);
	return rc;
}

static int read_sem(struct ipc_obj *o, struct err *err)
{
	struct semid_ds ds;
	union semun arg = {.buf = &ds};

	if (semctl(o->id, 0, IPC_STAT, arg) < 0)
		return err_sys(err, "cannot read System V semaphore set %d", o->id);
	o->key = ds.sem_perm.__key;
	o->mode = ds.sem_perm.mode & 0777;
	o->uid = ds.sem_perm.uid;
	o->gid = ds.sem_perm.gid;
	o->cuid = ds.sem_perm.cuid;
	o->cgid = ds.sem_perm.cgid;
	o->size = ds.sem_nsems;
	if (!o->size || o->size > MAX_SEMS)
		return err_set(err, -E2BIG, "System V semaphore set %d has %llu semaphores", o->id,
			       (unsigned long long)o->size);
	o->sems = calloc(o->size, sizeof(*o->sems));
	if (!o->sems)
		return err_set(err, -ENOMEM, "out of memory");
	arg.array = o->sems;
	if (semctl(o->id, 0, GETALL, arg) < 0)
		return err_sys(err, "cannot read the values of System V semaphore set %d", o->id);
	return 0;
}

static int read_msg(struct ipc_obj *o, struct err *err)
{
	struct msqid_ds ds;
	struct {
		long type;
		char text[];
	} * buf;
	int rc = 0;

	if (msgctl(o->id, IPC_STAT, &ds) < 0)
		return err_sys(err, "cannot read System V message queue %d", o->id);
	o->key = ds.msg_perm.__key;
	o->mode = ds.msg_perm.mode & 0777;
	o->uid = ds.msg_perm.uid;
	o->gid = ds.msg_perm.gid;
	o->cuid = ds.msg_perm.cuid;
	o->cgid = ds.msg_perm.cgid;
	o->size = ds.msg_qbytes;
	if (o->size > MAX_QBYTES || ds.msg_qnum > MAX_MSGS)
		return err_set(err, -E2BIG, "System V message queue %d is too large", o->id);
	o->msgs = calloc(ds.msg_qnum ? ds.msg_qnum : 1, sizeof(*o->msgs));
	buf = malloc(sizeof(*buf) + o->size + 1);
	if (!o->msgs || !buf) {
		free(buf);
		return err_set(err, -ENOMEM, "out of memory");
	}
	/* MSG_COPY: the message at that position, copied; the queue stays as it was. */
	for (msgqnum_t i = 0; i < ds.msg_qnum && rc == 0; i++) {
		ssize_t n = msgrcv(o->id, buf, o->size + 1, (long)i, IPC_NOWAIT | MSG_COPY);
		struct ipc_msg *mm = &o->msgs[o->nmsgs];

		if (n < 0) {
			rc = err_sys(err, "cannot read message %lu of System V message queue %d",
				     (unsigned long)i, o->id);
			break;
		}
		mm->type = buf->type;
		mm->len = (uint32_t)n;
		mm->data = malloc(n ? (size_t)n : 1);
		if (!mm->data) {
			rc = err_set(err, -ENOMEM, "out of memory");
			break;
		}
		memcpy(mm->data, buf->text, (size_t)n);
		o->nmsgs++;
	}
	free(buf);
	return rc;
}

/* A segment: whole areas only; its contents are read at encode time through a
 * mapping of it (one of the scope's, else one of our own). */
static int check_shm(struct model *m, struct ipc_obj *o, struct err *err)
{
	if (!o->size)
		return err_set(
		    err, -ENOTSUP,
		    "pid %d: System V shared memory %d at %#llx is not in cr_checkpoint's "
		    "IPC namespace",
		    o->via_pid, o->id, (unsigned long long)o->via_start);
	if (o->size > MAX_SHM_SIZE)
		return err_set(err, -E2BIG, "System V shared memory segment %d is too large",
			       o->id);
	for (uint32_t i = 0; i < m->nprocs; i++) {
		const struct proc_img *p = &m->procs[i];

		for (uint32_t k = 0; k < p->nvmas; k++) {
			const struct vma_img *v = &p->vmas[k];

			if (v->kind == VMA_SYSVSHM && (int32_t)v->ino == o->id &&
			    (v->pgoff || v->end - v->start != page_up(o->size)))
				return err_set(
				    err, -ENOTSUP,
				    "pid %d: System V shared memory segment %d is attached "
				    "in part at %#llx, which crest cannot restore yet",
				    p->pid, o->id, (unsigned long long)v->start);
		}
	}
	if (!o->attached) {
		o->own = shmat(o->id, NULL, SHM_RDONLY);
		if (o->own == (void *)-1) {
			o->own = NULL;
			return err_sys(err, "cannot attach System V shared memory segment %d",
				       o->id);
		}
		o->via_pid = getpid();
		o->via_start = (uint64_t)(uintptr_t)o->own;
		o->via_end = o->via_start + page_up(o->size);
	}
	return 0;
}

static int ipc_settle(struct dump_all *all, struct err *err)
{
	struct ipc_set *s = set_of(all->m);
	int rc;

	if (!s)
		return err_set(err, -ENOMEM, "out of memory");
	rc = find_attached(all, s, err);
	if (rc == 0)
		rc = scan_shm(all, s, err);
	if (rc == 0)
		rc = scan_sem(all, s, err);
	if (rc == 0)
		rc = scan_msg(all, s, err);
	for (uint32_t i = 0; rc == 0 && i < s->n; i++) {
		struct ipc_obj *o = &s->o[i];

		rc = o->kind == IPCK_SHM   ? check_shm(all->m, o, err)
		     : o->kind == IPCK_SEM ? read_sem(o, err)
					   : read_msg(o, err);
	}
	if (rc < 0)
		kmsg_add(KMSG_ERROR, "%s", err->msg);
	for (uint32_t i = 0; rc == 0 && i < s->n; i++)
		log_debug("%s %d (key %#x) saved", kind_names[s->o[i].kind], s->o[i].id,
			  (unsigned int)s->o[i].key);
	return rc;
}

static void put_head(struct buf *b, const struct ipc_obj *o)
{
	put_u32(b, o->kind);
	put_i32(b, o->id);
	put_i32(b, o->key);
	put_u32(b, o->mode);
	put_u32(b, o->uid);
	put_u32(b, o->gid);
	put_u32(b, o->cuid);
	put_u32(b, o->cgid);
	put_u64(b, o->size);
}

/* A segment's contents, holes skipped, through the file of a mapping of it. */
static int encode_shm_data(struct img_writer *w, const struct ipc_obj *o, struct err *err)
{
	char path[96];
	struct buf b;
	off_t at = 0, end = (off_t)o->size;
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", o->via_pid,
		 (unsigned long long)o->via_start, (unsigned long long)o->via_end);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, "cannot open System V shared memory segment %d", o->id);
	buf_init(&b);
	while (rc == 0 && at < end) {
		off_t data = lseek(fd, at, SEEK_DATA), hole;
		void *dst;
		size_t n;

		if (data < 0 || data >= end)
			break; /* no more data (ENXIO) */
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		n = (size_t)(hole - data) < CHUNK_BYTES ? (size_t)(hole - data) : CHUNK_BYTES;
		buf_reset(&b);
		put_u32(&b, IPCK_SHM_DATA);
		put_i32(&b, o->id);
		put_u64(&b, (uint64_t)data);
		put_u64(&b, n);
		dst = buf_reserve(&b, n);
		if (!dst) {
			rc = err_set(err, -ENOMEM, "out of memory");
			break;
		}
		if (pread(fd, dst, n, data) != (ssize_t)n) {
			rc = err_sys(err, "cannot read System V shared memory segment %d", o->id);
			break;
		}
		b.len += n;
		rc = img_write_record(w, REC_SYSVIPC, REC_F_REQUIRED, b.data, b.len, err);
		at = data + (off_t)n;
	}
	buf_fini(&b);
	close(fd);
	return rc;
}

static int ipc_encode_global(struct model *m, struct img_writer *w, struct err *err)
{
	const struct ipc_set *s = m->sysvipc;
	struct buf b;
	int rc = 0;

	buf_init(&b);
	for (uint32_t i = 0; s && i < s->n && rc == 0; i++) {
		const struct ipc_obj *o = &s->o[i];

		buf_reset(&b);
		put_head(&b, o);
		for (uint64_t k = 0; o->kind == IPCK_SEM && k < o->size; k++)
			put_u16(&b, o->sems[k]);
		if (o->kind == IPCK_MSG) {
			put_u32(&b, o->nmsgs);
			for (uint32_t k = 0; k < o->nmsgs; k++) {
				put_i64(&b, o->msgs[k].type);
				put_blob(&b, o->msgs[k].data, o->msgs[k].len);
			}
		}
		rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
			   : img_write_record(w, REC_SYSVIPC, REC_F_REQUIRED, b.data, b.len, err);
		if (rc == 0 && o->kind == IPCK_SHM)
			rc = encode_shm_data(w, o, err);
	}
	buf_fini(&b);
	return rc;
}

/* ---- reading ---- */

static int decode_data(struct ipc_set *s, struct wire_rd *rd, const struct img_rec *rec,
		       const struct img_reader *r, struct err *err)
{
	int32_t id = get_i32(rd);
	uint64_t off = get_u64(rd), len = get_u64(rd);
	struct ipc_obj *o = find_obj(s, IPCK_SHM, id);
	struct ipc_chunk *k;

	if (rd->bad || !o)
		return img_rec_corrupt(r, rec,
				       "contents of a segment the context has not described", err);
	if (len == 0 || len != rec->len - DATA_HEAD || off > o->size || len > o->size - off ||
	    (o->nchunks && off < o->chunks[o->nchunks - 1].off + o->chunks[o->nchunks - 1].len))
		return img_rec_corrupt(r, rec, "segment contents out of place", err);
	k = model_grow((void **)&o->chunks, &o->nchunks, sizeof(*k));
	if (!k)
		return err_set(err, -ENOMEM, "out of memory");
	*k = (struct ipc_chunk){off, len, r->base + rec->off + IMG_REC_HDR_LEN + DATA_HEAD};
	return 0;
}

static void decode_body(struct ipc_obj *o, struct wire_rd *rd)
{
	if (o->kind == IPCK_SEM) {
		if (!o->size || o->size > MAX_SEMS) {
			wr_fail(rd, "semaphore set of impossible size");
			return;
		}
		o->sems = calloc(o->size, sizeof(*o->sems));
		if (!o->sems) {
			wr_fail(rd, "out of memory");
			return;
		}
		for (uint64_t k = 0; k < o->size; k++)
			o->sems[k] = get_u16(rd);
	} else if (o->kind == IPCK_MSG) {
		uint64_t total = 0;

		o->nmsgs = get_count(rd, 12, MAX_MSGS);
		o->msgs = calloc(o->nmsgs ? o->nmsgs : 1, sizeof(*o->msgs));
		if (!o->msgs) {
			wr_fail(rd, "out of memory");
			return;
		}
		for (uint32_t k = 0; k < o->nmsgs && !rd->bad; k++) {
			struct ipc_msg *mm = &o->msgs[k];
			const void *d;

			mm->type = get_i64(rd);
			d = get_blob(rd, MAX_QBYTES, &mm->len);
			total += mm->len;
			if (rd->bad)
				return;
			if (mm->type <= 0 || total > o->size) {
				wr_fail(rd, "message out of range");
				return;
			}
			mm->data = malloc(mm->len ? mm->len : 1);
			if (!mm->data) {
				wr_fail(rd, "out of memory");
				return;
			}
			memcpy(mm->data, d, mm->len);
		}
	}
}

static int ipc_decode(struct model *m, const struct img_rec *rec, const struct img_reader *r,
		      struct err *err)
{
	struct ipc_set *s = set_of(m);
	struct wire_rd rd;
	struct ipc_obj *o;
	uint32_t kind;
	int32_t id;

	if (!s)
		return err_set(err, -ENOMEM, "out of memory");
	wr_init(&rd, rec->payload, rec->len);
	kind = get_u32(&rd);
	if (kind == IPCK_SHM_DATA)
		return decode_data(s, &rd, rec, r, err);
	id = get_i32(&rd);
	if (rd.bad || kind < IPCK_SHM || kind > IPCK_MSG || id < 0 || find_obj(s, kind, id))
		return img_rec_corrupt(r, rec, "unknown or repeated System V object", err);
	o = add_obj(s, kind, id);
	if (!o)
		return err_set(err, -ENOMEM, "out of memory");
	o->key = get_i32(&rd);
	o->mode = get_u32(&rd);
	o->uid = get_u32(&rd);
	o->gid = get_u32(&rd);
	o->cuid = get_u32(&rd);
	o->cgid = get_u32(&rd);
	o->size = get_u64(&rd);
	if (!rd.bad && (o->mode & ~(kind == IPCK_SHM ? 0777u | SHM_DEST | SHM_LOCKED : 0777u)))
		wr_fail(&rd, "System V object with an unknown mode");
	else if (!rd.bad && kind == IPCK_SHM && (!o->size || o->size > MAX_SHM_SIZE))
		wr_fail(&rd, "segment of impossible size");
	else if (!rd.bad && kind == IPCK_MSG && o->size > MAX_QBYTES)
		wr_fail(&rd, "message queue of impossible size");
	else if (!rd.bad)
		decode_body(o, &rd);
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	return 0;
}

/* Every area of a segment has its segment, whole. */
static int ipc_validate(struct model *m, struct proc_img *p, struct err *err)
{
	for (uint32_t k = 0; k < p->nvmas; k++) {
		const struct vma_img *v = &p->vmas[k];
		const struct ipc_obj *o;

		if (v->kind != VMA_SYSVSHM)
			continue;
		o = v->ino <= INT32_MAX ? find_obj(m->sysvipc, IPCK_SHM, (int32_t)v->ino) : NULL;
		if (!o || !v->shared || v->pgoff || v->end - v->start != page_up(o->size))
			return err_set(err, -EINVAL,
				       "pid %d: the area at %#llx is no System V segment of the "
				       "context",
				       p->pid, (unsigned long long)v->start);
	}
	return 0;
}

/* ---- restart ---- */

static const char *const next_id_file[] = {
    [IPCK_SHM] = "/proc/sys/kernel/shm_next_id",
    [IPCK_SEM] = "/proc/sys/kernel/sem_next_id",
    [IPCK_MSG] = "/proc/sys/kernel/msg_next_id",
};

static const char *const ipcrm_opt[] = {[IPCK_SHM] = "m", [IPCK_SEM] = "s", [IPCK_MSG] = "q"};

static int set_next_id(uint32_t kind, int32_t id, struct err *err)
{
	char v[16];
	int fd = open(next_id_file[kind], O_WRONLY | O_CLOEXEC);
	int n = snprintf(v, sizeof(v), "%d", id);

	if (fd < 0)
		return err_sys(err, "cannot open %s to give a %s its id %d back",
			       next_id_file[kind], kind_names[kind], id);
	if (write(fd, v, (size_t)n) != n) {
		err_sys(err, "cannot write %s to give a %s its id %d back", next_id_file[kind],
			kind_names[kind], id);
		close(fd);
		return err->code;
	}
	close(fd);
	return 0;
}

static void remove_obj(const struct ipc_obj *o)
{
	if (o->kind == IPCK_SHM)
		shmctl(o->id, IPC_RMID, NULL);
	else if (o->kind == IPCK_SEM)
		semctl(o->id, 0, IPC_RMID);
	else
		msgctl(o->id, IPC_RMID, NULL);
}

/* The owner and mode, as far as IPC_SET goes (not the creator). */
static int set_owner(const struct ipc_obj *o, struct err *err)
{
	int r;

	if (o->kind == IPCK_SHM) {
		struct shmid_ds ds;

		r = shmctl(o->id, IPC_STAT, &ds);
		ds.shm_perm.uid = o->uid;
		ds.shm_perm.gid = o->gid;
		ds.shm_perm.mode = o->mode & 0777;
		if (r == 0)
			r = shmctl(o->id, IPC_SET, &ds);
		if (r == 0 && (o->mode & SHM_LOCKED))
			r = shmctl(o->id, SHM_LOCK, NULL);
	} else if (o->kind == IPCK_SEM) {
		struct semid_ds ds;
		union semun arg = {.buf = &ds};

		r = semctl(o->id, 0, IPC_STAT, arg);
		ds.sem_perm.uid = o->uid;
		ds.sem_perm.gid = o->gid;
		ds.sem_perm.mode = o->mode & 0777;
		if (r == 0)
			r = semctl(o->id, 0, IPC_SET, arg);
	} else {
		struct msqid_ds ds;

		r = msgctl(o->id, IPC_STAT, &ds);
		ds.msg_perm.uid = o->uid;
		ds.msg_perm.gid = o->gid;
		ds.msg_perm.mode = o->mode & 0777;
		if (r == 0)
			r = msgctl(o->id, IPC_SET, &ds);
		if (r == 0 && ds.msg_qbytes != o->size) {
			/* Above msgmnb only with CAP_SYS_RESOURCE: then the messages must
			 * fit the default. */
			uint64_t total = 0;

			for (uint32_t k = 0; k < o->nmsgs; k++)
				total += o->msgs[k].len;
			ds.msg_qbytes = o->size;
			if (msgctl(o->id, IPC_SET, &ds) < 0 &&
			    (errno != EPERM || total > ds.msg_qbytes))
				r = -1;
			else if (errno == EPERM)
				kmsg_add(KMSG_WARN,
					 "System V message queue %d keeps %lu bytes, not %llu: %s",
					 o->id, (unsigned long)ds.msg_qbytes,
					 (unsigned long long)o->size, strerror(EPERM));
		}
	}
	return r < 0 ? err_sys(err, "cannot set the owner and mode of %s %d", kind_names[o->kind],
			       o->id)
		     : 0;
}

static int fill_shm(const struct rst_ctx *c, const struct ipc_obj *o, struct err *err)
{
	uint8_t *p = shmat(o->id, NULL, 0);
	int rc = 0;

	if (p == (void *)-1)
		return err_sys(err, "cannot attach System V shared memory segment %d", o->id);
	if (o->taken_over)
		memset(p, 0, o->size);
	for (uint32_t i = 0; i < o->nchunks; i++) {
		const struct ipc_chunk *k = &o->chunks[i];

		if (k->img_off > c->img_len || k->len > c->img_len - k->img_off) {
			rc = err_set(err, -EIO, "%s: segment %d's contents lie past the end",
				     c->img_name, o->id);
			break;
		}
		memcpy(p + k->off, c->img_map + k->img_off, k->len);
	}
	shmdt(p);
	return rc;
}

static int fill_sem(const struct ipc_obj *o, struct err *err)
{
	union semun arg = {.array = o->sems};

	if (semctl(o->id, 0, SETALL, arg) < 0)
		return err_sys(err, "cannot set the values of System V semaphore set %d", o->id);
	return 0;
}

static int fill_msg(const struct ipc_obj *o, struct err *err)
{
	struct {
		long type;
		char text[];
	} *buf = malloc(sizeof(*buf) + o->size + 1);
	int rc = 0;

	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	/* A queue taken over is emptied first: it is given its saved messages. */
	while (o->taken_over && msgrcv(o->id, buf, o->size + 1, 0, IPC_NOWAIT | MSG_NOERROR) >= 0)
		;
	for (uint32_t k = 0; k < o->nmsgs && rc == 0; k++) {
		buf->type = (long)o->msgs[k].type;
		memcpy(buf->text, o->msgs[k].data, o->msgs[k].len);
		if (msgsnd(o->id, buf, o->msgs[k].len, IPC_NOWAIT) < 0)
			rc = err_sys(err, "cannot queue message %u on System V message queue %d", k,
				     o->id);
	}
	free(buf);
	return rc;
}

/* Is the object at o's id the saved one, left behind by the processes of the context
 * (none of them alive): the same key, mode, owner and size, attached nowhere? */
static bool left_behind(const struct rst_ctx *c, const struct ipc_obj *o)
{
	bool same;

	for (uint32_t i = 0; i < c->m->nprocs; i++)
		if (kill(c->m->procs[i].pid, 0) == 0 || errno != ESRCH)
			return false;
	if (o->kind == IPCK_SHM) {
		struct shmid_ds ds;

		same = shmctl(o->id, IPC_STAT, &ds) == 0 && ds.shm_perm.__key == o->key &&
		       ds.shm_perm.mode == o->mode && ds.shm_perm.uid == o->uid &&
		       ds.shm_perm.gid == o->gid && ds.shm_perm.cuid == o->cuid &&
		       ds.shm_perm.cgid == o->cgid && ds.shm_segsz == o->size && !ds.shm_nattch;
	} else if (o->kind == IPCK_SEM) {
		struct semid_ds ds;
		union semun arg = {.buf = &ds};

		same = semctl(o->id, 0, IPC_STAT, arg) == 0 && ds.sem_perm.__key == o->key &&
		       ds.sem_perm.mode == o->mode && ds.sem_perm.uid == o->uid &&
		       ds.sem_perm.gid == o->gid && ds.sem_perm.cuid == o->cuid &&
		       ds.sem_perm.cgid == o->cgid && ds.sem_nsems == o->size;
	} else {
		struct msqid_ds ds;

		same = msgctl(o->id, IPC_STAT, &ds) == 0 && ds.msg_perm.__key == o->key &&
		       ds.msg_perm.mode == o->mode && ds.msg_perm.uid == o->uid &&
		       ds.msg_perm.gid == o->gid && ds.msg_perm.cuid == o->cuid &&
		       ds.msg_perm.cgid == o->cgid;
	}
	return same;
}

static bool id_taken(const struct ipc_obj *o)
{
	struct shmid_ds shm;
	struct msqid_ds msg;

	if (o->kind == IPCK_SHM)
		return shmctl(o->id, IPC_STAT, &shm) == 0 || errno != EINVAL;
	if (o->kind == IPCK_SEM)
		return semctl(o->id, 0, GETPID) >= 0 || errno != EINVAL;
	return msgctl(o->id, IPC_STAT, &msg) == 0 || errno != EINVAL;
}

static int create(const struct ipc_obj *o)
{
	int flags = IPC_CREAT | IPC_EXCL | (int)(o->mode & 0777) | 0600;

	if (o->kind == IPCK_SHM)
		return shmget(o->key, o->size, flags);
	if (o->kind == IPCK_SEM)
		return semget(o->key, (int)o->size, flags);
	return msgget(o->key, flags);
}

static int make_obj(struct rst_ctx *c, struct ipc_obj *o, struct err *err)
{
	const char *what = kind_names[o->kind];
	int id, rc;

	if (id_taken(o)) {
		if (!left_behind(c, o)) {
			kmsg_add(KMSG_ERROR, "%s id %d is in use", what, o->id);
			return err_set(err, -EBUSY,
				       "System V %s id %d is taken by another object (remove it "
				       "with ipcrm -%s %d if it is a leftover)",
				       what, o->id, ipcrm_opt[o->kind], o->id);
		}
		o->taken_over = true;
		log_debug("%s %d: the saved one, left behind: taken over", what, o->id);
	} else {
		rc = set_next_id(o->kind, o->id, err);
		if (rc < 0)
			return rc;
		id = create(o);
		if (id < 0 && errno == EEXIST)
			return err_set(err, -EBUSY,
				       "System V %s key %#x is taken by another object", what,
				       (unsigned int)o->key);
		if (id < 0 && errno == ENOSPC)
			return err_set(err, -EBUSY,
				       "System V %s id %d is not free (its slot is taken by an "
				       "object of another id)",
				       what, o->id);
		if (id < 0)
			return err_sys(err, "cannot make System V %s %d", what, o->id);
		if (id != o->id) {
			remove_obj(&(struct ipc_obj){.kind = o->kind, .id = id});
			return err_set(err, -EBUSY, "System V %s id %d is not free (made %d)", what,
				       o->id, id);
		}
		o->made = true;
	}
	rc = set_owner(o, err);
	if (rc == 0)
		rc = o->kind == IPCK_SHM   ? fill_shm(c, o, err)
		     : o->kind == IPCK_SEM ? fill_sem(o, err)
					   : fill_msg(o, err);
	return rc;
}

/* The first or last process that is not a zombie (the steps skip zombies). */
static const struct rst_proc *live_end(const struct rst_ctx *c, bool first)
{
	const struct rst_proc *rp = NULL;

	for (uint32_t i = 0; i < c->n; i++)
		if (!(c->all[i].p->flags & PROC_ZOMBIE) && (!first || !rp))
			rp = &c->all[i];
	return rp;
}

/* Once, before the first process is made: every object. */
static int ipc_prepare(struct rst_ctx *c, struct err *err)
{
	struct ipc_set *s = c->m->sysvipc;

	if (!s || c->rp != live_end(c, true))
		return 0;
	for (uint32_t i = 0; i < s->n; i++) {
		int rc = make_obj(c, &s->o[i], err);

		if (rc < 0)
			return rc;
	}
	return 0;
}

int sysvipc_attach(struct rst_ctx *c, const struct vma_img *v, struct err *err)
{
	struct rst_proc *rp = c->rp;
	int flags = (v->adv & VADV_MAYWRITE) ? 0 : SHM_RDONLY;
	long r;

	if (v->prot & PROT_EXEC)
		flags |= SHM_EXEC;
	r = inject_syscall(&rp->inj, SYS_shmat, v->ino, v->start, (uint64_t)flags, 0, 0, 0, err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0 || (uint64_t)r != v->start)
		return err_code(err, r < 0 ? (int)r : -EFAULT,
				"pid %d: cannot attach System V shared memory %llu at %#llx",
				rp->p->pid, (unsigned long long)v->ino,
				(unsigned long long)v->start);
	if (v->prot == (PROT_READ | (flags & SHM_RDONLY ? 0 : PROT_WRITE) |
			(flags & SHM_EXEC ? PROT_EXEC : 0)))
		return 0;
	r = inject_syscall(&rp->inj, SYS_mprotect, v->start, v->end - v->start, v->prot, 0, 0, 0,
			   err);
	if (r == INJECT_FAILED)
		return err->code;
	if (r < 0)
		return err_code(err, (int)r,
				"pid %d: cannot protect System V shared memory at %#llx",
				rp->p->pid, (unsigned long long)v->start);
	return 0;
}

/* The last process has its segments: those removed while attached go again. */
static int ipc_finish(struct rst_ctx *c, struct err *err)
{
	struct ipc_set *s = c->m->sysvipc;

	(void)err;
	if (!s || c->rp != live_end(c, false))
		return 0;
	for (uint32_t i = 0; i < s->n; i++)
		if (s->o[i].kind == IPCK_SHM && (s->o[i].mode & SHM_DEST))
			shmctl(s->o[i].id, IPC_RMID, NULL);
	s->done = true;
	return 0;
}

/* A restart that failed removes what it made. */
static void ipc_cleanup(struct rst_ctx *c)
{
	struct ipc_set *s = c->m->sysvipc;

	for (uint32_t i = 0; s && !s->done && i < s->n; i++)
		if (s->o[i].made) {
			remove_obj(&s->o[i]);
			s->o[i].made = false;
		}
}

static void ipc_dump_cleanup(struct dump_ctx *c)
{
	struct ipc_set *s = c->m->sysvipc;

	for (uint32_t i = 0; s && i < s->n; i++)
		if (s->o[i].own) {
			shmdt(s->o[i].own);
			s->o[i].own = NULL;
		}
}

/* cr_info: the objects, with the first process. */
static void ipc_describe(const struct model *m, const struct proc_img *p, struct out *o)
{
	const struct ipc_set *s = m->sysvipc;

	if (!s || !s->n || p != &m->procs[0])
		return;
	out_arr_begin(o, "sysvipc");
	for (uint32_t i = 0; i < s->n; i++) {
		const struct ipc_obj *x = &s->o[i];
		uint64_t bytes = 0;

		out_obj_begin(o, NULL);
		out_str(o, "kind",
			x->kind == IPCK_SHM   ? "shm"
			: x->kind == IPCK_SEM ? "sem"
					      : "msg");
		out_i64(o, "id", x->id);
		out_hex(o, "key", (uint32_t)x->key);
		out_hex(o, "mode", x->mode);
		out_u64(o, "uid", x->uid);
		out_u64(o, "gid", x->gid);
		out_u64(o,
			x->kind == IPCK_SHM   ? "size"
			: x->kind == IPCK_SEM ? "nsems"
					      : "qbytes",
			x->size);
		for (uint32_t k = 0; k < x->nchunks; k++)
			bytes += x->chunks[k].len;
		if (x->kind == IPCK_SHM)
			out_u64(o, "bytes_saved", bytes);
		if (x->kind == IPCK_MSG)
			out_u64(o, "messages", x->nmsgs);
		out_obj_end(o);
	}
	out_arr_end(o);
}

const struct state_ops sysvipc_ops = {
    .name = "sysvipc",
    .recs = {REC_SYSVIPC},
    .settle_all = ipc_settle,
    .encode_global = ipc_encode_global,
    .dump_cleanup = ipc_dump_cleanup,
    .decode = ipc_decode,
    .validate = ipc_validate,
    .prepare = ipc_prepare,
    .finish = ipc_finish,
    .cleanup = ipc_cleanup,
    .describe = ipc_describe,
};
