/* context.c: the header and part records, and loading a context through the state
 * modules: from one file, or from the files of a set (one per process, written by
 * cr_checkpoint -d) into one model. */
#include "context.h"

#include "err.h"
#include "state/state.h"
#include "../util/buf.h"
#include "../util/wire.h"
#include "version.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "banned.h"

void context_meta_init(struct img_meta *meta)
{
	struct arch_cpu cpu;
	struct utsname u;
	struct timespec ts;

	memset(meta, 0, sizeof(*meta));
	arch_cpu_probe(&cpu);
	meta->format_version = IMG_VERSION;
	meta->arch = ARCH_ELF_MACHINE;
	meta->page_size = IMG_PAGE_SIZE;
	meta->xcr0 = cpu.xcr0;
	meta->xstate_size = cpu.xstate_size;
	clock_gettime(CLOCK_REALTIME, &ts);
	meta->time_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (uname(&u) == 0) {
		snprintf(meta->kernel, sizeof(meta->kernel), "%s", u.release);
		snprintf(meta->host, sizeof(meta->host), "%s", u.nodename);
	}
	snprintf(meta->version, sizeof(meta->version), "%s", CREST_VERSION);
}

int context_write_header_count(struct img_writer *w, const struct model *m, uint32_t nprocs,
			       struct err *err)
{
	const struct img_meta *meta = &m->meta;
	struct buf b;
	int rc;

	buf_init(&b);
	put_u32(&b, meta->arch);
	put_u32(&b, meta->page_size);
	put_u32(&b, meta->xstate_size);
	put_u64(&b, meta->xcr0);
	put_u64(&b, meta->time_ns);
	put_str(&b, meta->kernel);
	put_str(&b, meta->host);
	put_str(&b, meta->version);
	put_u32(&b, meta->req.scope);
	put_i32(&b, meta->req.target);
	put_u32(&b, meta->req.flags);
	put_u32(&b, nprocs);
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
		   : img_write_record(w, REC_HEADER, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

int context_write_header(struct img_writer *w, const struct model *m, struct err *err)
{
	return context_write_header_count(w, m, m->nprocs, err);
}

int context_write_part(struct img_writer *w, const struct model *m,
		       const uint8_t id[CTX_SET_ID_LEN], uint32_t part, struct err *err)
{
	struct buf b;
	int rc;

	buf_init(&b);
	put_bytes(&b, id, CTX_SET_ID_LEN);
	put_u32(&b, part);
	put_u32(&b, m->nprocs); /* parts: one per process */
	put_u32(&b, m->nprocs);
	put_u32(&b, part == 1 ? m->nprocs : 0);
	for (uint32_t i = 0; part == 1 && i < m->nprocs; i++) {
		put_u32(&b, (uint32_t)m->procs[i].pid);
		put_u32(&b, i + 1);
	}
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
		   : img_write_record(w, REC_PART, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

static void copy_str(char *dst, size_t n, char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
	free(s);
}

static int decode_header(struct img_meta *meta, const struct img_reader *r,
			 const struct img_rec *rec, uint32_t *ret_nprocs, struct err *err)
{
	struct wire_rd rd;

	wr_init(&rd, rec->payload, rec->len);
	meta->format_version = r->version;
	meta->arch = get_u32(&rd);
	meta->page_size = get_u32(&rd);
	meta->xstate_size = get_u32(&rd);
	meta->xcr0 = get_u64(&rd);
	meta->time_ns = get_u64(&rd);
	copy_str(meta->kernel, sizeof(meta->kernel), get_str(&rd, 64));
	copy_str(meta->host, sizeof(meta->host), get_str(&rd, 64));
	copy_str(meta->version, sizeof(meta->version), get_str(&rd, 31));
	meta->req.scope = get_u32(&rd);
	meta->req.target = get_i32(&rd);
	meta->req.flags = get_u32(&rd);
	*ret_nprocs = get_u32(&rd);
	if (!wr_done(&rd))
		return img_rec_corrupt(r, rec, rd.why, err);
	if (meta->arch != ARCH_ELF_MACHINE)
		return err_set(err, -CREST_EBADARCH,
			       "%s: made on another architecture (ELF machine %u); this is %s",
			       r->name, meta->arch, ARCH_NAME);
	if (meta->page_size != IMG_PAGE_SIZE)
		return err_set(err, -CREST_EBADARCH, "%s: made with %u-byte pages", r->name,
			       meta->page_size);
	if (meta->xstate_size < 512 || meta->xstate_size > 65536)
		return img_rec_corrupt(r, rec, "FPU state size out of range", err);
	if (*ret_nprocs == 0 || *ret_nprocs > 65536)
		return img_rec_corrupt(r, rec, "process count out of range", err);
	return 0;
}

/* Whether two headers describe the same checkpoint. */
static bool same_meta(const struct img_meta *a, const struct img_meta *b)
{
	return a->format_version == b->format_version && a->arch == b->arch &&
	       a->page_size == b->page_size && a->xstate_size == b->xstate_size &&
	       a->xcr0 == b->xcr0 && a->time_ns == b->time_ns && !strcmp(a->kernel, b->kernel) &&
	       !strcmp(a->host, b->host) && !strcmp(a->version, b->version) &&
	       a->req.scope == b->req.scope && a->req.target == b->req.target &&
	       a->req.flags == b->req.flags;
}

/* ---- sets: one file per process ---- */

/* A process of the set, as part 1 lists them. */
struct set_proc {
	pid_t pid;
	uint32_t part;
	uint32_t pos; /* in the list: the order the processes were saved in */
};

struct set_load {
	struct ctx_file *files;
	uint32_t n;
	const char *name;      /* the whole set, for messages */
	int32_t *by_part;      /* index in files of each part number, -1 while unseen */
	struct set_proc *list; /* part 1's list, sorted by pid */
	uint32_t nlist;
	uint32_t *proc_part; /* part holding each process of the model, in model order */
};

static int cmp_set_pid(const void *a, const void *b)
{
	const struct set_proc *x = a, *y = b;

	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static void hex_id(const uint8_t id[CTX_SET_ID_LEN], char out[2 * CTX_SET_ID_LEN + 1])
{
	for (int i = 0; i < CTX_SET_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* The part record: what it says, checked on its own; part 1's list, sorted by pid. */
static int decode_part(struct ctx_file *f, const struct img_reader *r, const struct img_rec *rec,
		       struct set_proc **ret_list, uint32_t *ret_nlist, struct err *err)
{
	static const uint8_t zero[CTX_SET_ID_LEN];
	struct set_proc *list = NULL;
	struct wire_rd rd;
	uint32_t nlist;

	wr_init(&rd, rec->payload, rec->len);
	get_bytes(&rd, f->set_id, CTX_SET_ID_LEN);
	f->part = get_u32(&rd);
	f->nparts = get_u32(&rd);
	f->set_nprocs = get_u32(&rd);
	nlist = get_count(&rd, 8, 65536);
	if (!rd.bad && nlist) {
		list = calloc(nlist, sizeof(*list));
		if (!list)
			return err_set(err, -ENOMEM, "out of memory");
	}
	for (uint32_t i = 0; list && i < nlist; i++) {
		uint32_t pid = get_u32(&rd);

		list[i] = (struct set_proc){(pid_t)pid, get_u32(&rd), i};
		if (pid == 0 || pid > 0x3fffffff || list[i].part == 0 || list[i].part > f->nparts)
			wr_fail(&rd, "a process of the list out of range");
	}
	if (!wr_done(&rd))
		goto out_corrupt;
	if (!memcmp(f->set_id, zero, sizeof(zero)) || f->nparts < 2 || f->nparts > 65536 ||
	    f->part == 0 || f->part > f->nparts || f->set_nprocs < f->nparts ||
	    f->set_nprocs > 65536) {
		rd.why = "field out of range";
		goto out_corrupt;
	}
	if (nlist != (f->part == 1 ? f->set_nprocs : 0)) {
		rd.why = "the list of processes does not match the process count";
		goto out_corrupt;
	}
	if (list) {
		/* Every pid once; every part holds at least one of them. */
		uint32_t nseen = 0;
		uint8_t *seen = calloc(f->nparts + 1u, 1);

		if (!seen) {
			free(list);
			return err_set(err, -ENOMEM, "out of memory");
		}
		qsort(list, nlist, sizeof(*list), cmp_set_pid);
		for (uint32_t i = 0; i < nlist; i++) {
			if (i && list[i].pid == list[i - 1].pid)
				rd.why = "a process listed twice";
			nseen += !seen[list[i].part];
			seen[list[i].part] = 1;
		}
		free(seen);
		if (!rd.why && nseen != f->nparts)
			rd.why = "a part holds none of the processes listed";
		if (rd.why)
			goto out_corrupt;
	}
	*ret_list = list;
	*ret_nlist = nlist;
	return 0;
out_corrupt:
	free(list);
	return img_rec_corrupt(r, rec, rd.why, err);
}

/* A part that has just said which it is: does it belong with those read before? The
 * first file read gives the set its identity. */
static int join_set(struct set_load *sl, uint32_t k, struct err *err)
{
	struct ctx_file *f = &sl->files[k], *first = &sl->files[0];
	char id[2 * CTX_SET_ID_LEN + 1], id0[2 * CTX_SET_ID_LEN + 1];

	hex_id(f->set_id, id);
	if (k == 0) {
		sl->by_part = malloc((f->nparts + 1u) * sizeof(*sl->by_part));
		sl->proc_part = malloc(f->set_nprocs * sizeof(*sl->proc_part));
		if (!sl->by_part || !sl->proc_part)
			return err_set(err, -ENOMEM, "out of memory");
		for (uint32_t i = 0; i <= f->nparts; i++)
			sl->by_part[i] = -1;
	} else if (memcmp(f->set_id, first->set_id, CTX_SET_ID_LEN) || f->nparts != first->nparts ||
		   f->set_nprocs != first->set_nprocs) {
		hex_id(first->set_id, id0);
		return err_set(err, -EINVAL,
			       "%s belongs to another checkpoint (%s) than %s (%s): %s must hold "
			       "the files of one checkpoint only",
			       f->name, id, first->name, id0, sl->name);
	}
	if (sl->by_part[f->part] >= 0)
		return err_set(err, -EINVAL, "%s and %s are both part %u of %u of checkpoint %s",
			       sl->files[sl->by_part[f->part]].name, f->name, f->part, f->nparts,
			       id);
	sl->by_part[f->part] = (int32_t)k;
	return 0;
}

/* The records of one file into m. */
static int load_file(struct model *m, struct set_load *sl, uint32_t k, enum img_pages_mode pages,
		     uint64_t base, struct err *err)
{
	struct ctx_file *f = &sl->files[k];
	char id[2 * CTX_SET_ID_LEN + 1];
	struct img_meta meta;
	struct img_reader r;
	struct img_rec rec;
	uint32_t nprocs = 0, had = m->nprocs;
	bool have_header = false;
	int rc;

	memset(&meta, 0, sizeof(meta));
	rc = img_reader_init(&r, f->fd, f->name, pages, err);
	if (rc == 0 && sl->n > 1 && r.base != 0)
		rc = err_set(err, -EINVAL,
			     "%s: internal: a file of a set must be read from its start", f->name);
	f->base = base;
	f->size = r.size;
	r.base += base;
	while (rc == 0) {
		const struct state_ops *ops;

		rc = img_read_record(&r, &rec, err);
		if (rc < 0 || r.ended)
			break;
		if (rec.index == 0) {
			rc = rec.type == REC_HEADER
				 ? decode_header(k ? &meta : &m->meta, &r, &rec, &nprocs, err)
				 : img_rec_corrupt(&r, &rec, "the first record is not the header",
						   err);
			have_header = rc == 0;
			continue;
		}
		if (rec.type == REC_HEADER) {
			rc = img_rec_corrupt(&r, &rec, "a second header", err);
			continue;
		}
		if (rec.index == 1 && rec.type == REC_PART) {
			struct set_proc *list = NULL;
			uint32_t nlist = 0;

			rc = decode_part(f, &r, &rec, &list, &nlist, err);
			if (rc == 0)
				rc = join_set(sl, k, err);
			if (rc == 0 && list) {
				sl->list = list;
				sl->nlist = nlist;
			} else {
				free(list);
			}
			continue;
		}
		if (rec.type == REC_PART) {
			rc = img_rec_corrupt(&r, &rec, "a part record that is not record 1", err);
			continue;
		}
		if (rec.index == 1 && sl->n > 1) {
			rc = err_set(
			    err, -EINVAL,
			    "%s is a whole context of its own, not a part of a set: %s must "
			    "hold either one context or the parts of one checkpoint",
			    f->name, sl->name);
			continue;
		}
		/* Type 0 is no type; the table's unused slots hold 0. */
		ops = rec.type ? state_for_rec(rec.type) : NULL;
		if (!ops) {
			if (rec.flags & REC_F_REQUIRED)
				rc = err_set(err, -EINVAL,
					     "%s: record %u at offset %llu has type %u, which this "
					     "crest (format %u) does not know",
					     f->name, rec.index, (unsigned long long)rec.off,
					     rec.type, IMG_VERSION);
			continue;
		}
		rc = ops->decode(m, &rec, &r, err);
	}
	if (rc == 0 && !have_header)
		rc = err_set(err, -EINVAL, "%s: no header record before the end record", f->name);
	if (rc == 0 && sl->n > 1 && !f->part)
		rc = err_set(err, -EINVAL,
			     "%s is a whole context of its own, not a part of a set: %s must hold "
			     "either one context or the parts of one checkpoint",
			     f->name, sl->name);
	/* After the part record, which says better which checkpoint a file is of. */
	if (rc == 0 && k && !same_meta(&meta, &m->meta))
		rc = err_set(err, -EINVAL,
			     "%s: its header is not that of %s, yet both are parts of checkpoint "
			     "%s",
			     f->name, sl->files[0].name, (hex_id(f->set_id, id), id));
	if (rc == 0 && m->nprocs - had != nprocs)
		rc = err_set(err, -EINVAL, "%s: header lists %u processes, the file describes %u",
			     f->name, nprocs, m->nprocs - had);
	if (rc == 0 && f->part && f->pid && m->procs[had].pid != f->pid)
		rc = err_set(err, -EINVAL,
			     "%s holds pid %d, not pid %d as its name says (files of a set "
			     "renamed?)",
			     f->name, m->procs[had].pid, f->pid);
	if (rc == 0 && f->part && m->nprocs > f->set_nprocs)
		rc = err_set(err, -EINVAL, "%s: more processes than checkpoint %s has (%u)",
			     f->name, (hex_id(f->set_id, id), id), f->set_nprocs);
	for (uint32_t i = had; rc == 0 && f->part && i < m->nprocs; i++)
		sl->proc_part[i] = f->part;
	if (rc < 0 && err->code && !strstr(err->msg, f->name))
		err_prefix(err, "%s: ", f->name);
	img_reader_fini(&r);
	return rc;
}

/* Every part there once, every process in the part part 1 says; then the processes
 * in the order they were saved (the files may come in any order). */
static int check_set(struct model *m, struct set_load *sl, struct err *err)
{
	const struct ctx_file *f0 = &sl->files[0];
	struct proc_img *procs;
	char id[2 * CTX_SET_ID_LEN + 1];

	hex_id(f0->set_id, id);
	for (uint32_t part = 1; part <= f0->nparts; part++) {
		char who[64] = "";

		if (sl->by_part[part] >= 0)
			continue;
		for (uint32_t i = 0; i < sl->nlist; i++)
			if (sl->list[i].part == part) {
				snprintf(who, sizeof(who), " (pid %d)", sl->list[i].pid);
				break;
			}
		return err_set(err, -EIO, "%s: part %u of %u of checkpoint %s%s is missing",
			       sl->name, part, f0->nparts, id, who);
	}
	if (m->nprocs != f0->set_nprocs)
		return err_set(err, -EINVAL,
			       "%s: checkpoint %s has %u processes, its parts describe %u",
			       sl->name, id, f0->set_nprocs, m->nprocs);
	procs = calloc(m->nprocs, sizeof(*procs));
	if (!procs)
		return err_set(err, -ENOMEM, "out of memory");
	/* The pids are distinct on both sides and as many: a match for each is a
	 * permutation. */
	for (uint32_t i = 0; i < m->nprocs; i++) {
		struct set_proc key = {m->procs[i].pid, 0, 0};
		const struct set_proc *sp =
		    bsearch(&key, sl->list, sl->nlist, sizeof(key), cmp_set_pid);

		if (!sp || sp->part != sl->proc_part[i]) {
			free(procs);
			return err_set(err, -EINVAL,
				       "%s: pid %d is in part %u, where the list of part 1 does "
				       "not put it",
				       sl->files[sl->by_part[sl->proc_part[i]]].name,
				       m->procs[i].pid, sl->proc_part[i]);
		}
		procs[sp->pos] = m->procs[i];
	}
	memcpy(m->procs, procs, m->nprocs * sizeof(*procs));
	free(procs);
	return 0;
}

/* What holds across records, once they are all read. */
static int check_model(struct model *m, struct err *err)
{
	int rc = 0;

	/* A zombie has its process record only. */
	for (uint32_t i = 0; rc == 0 && i < m->nprocs; i++) {
		const struct proc_img *p = &m->procs[i];

		if ((p->flags & PROC_ZOMBIE) && (p->vmas || p->nthreads || p->fds || p->shpending ||
						 p->ptimers || p->creds.groups))
			rc = err_set(err, -EINVAL, "zombie pid %d has more than a process record",
				     p->pid);
	}
	for (uint32_t i = 0; rc == 0 && i < m->nprocs; i++)
		for (unsigned int k = 0; rc == 0 && k < state_count; k++)
			if (state_table[k]->validate && !(m->procs[i].flags & PROC_ZOMBIE))
				rc = state_table[k]->validate(m, &m->procs[i], err);
	return rc;
}

/* context_load(): one file, which must be a whole context. */
#define CTX_LOAD_ONE_FILE 0x100

int context_load_files(struct ctx_file *files, uint32_t n, const char *set_name,
		       enum img_pages_mode pages, unsigned int flags, struct model **ret_m,
		       struct err *err)
{
	struct set_load sl = {files, n, set_name, NULL, NULL, 0, NULL};
	const char *name = n == 1 ? files[0].name : set_name;
	char id[2 * CTX_SET_ID_LEN + 1];
	struct model *m;
	uint64_t base = 0;
	bool lone = false;
	int rc = 0;

	if (n == 0 || n > 65536)
		return err_set(err, -EINVAL, "%s: %u context files; a context has 1 to 65536",
			       set_name, n);
	m = model_new();
	if (!m)
		return err_set(err, -ENOMEM, "out of memory");
	for (uint32_t k = 0; k < n; k++) {
		files[k].part = files[k].nparts = files[k].set_nprocs = 0;
		memset(files[k].set_id, 0, sizeof(files[k].set_id));
	}
	for (uint32_t k = 0; rc == 0 && k < n; k++) {
		rc = load_file(m, &sl, k, pages, base, err);
		if (rc < 0 || n == 1)
			continue;
		/* The next file starts at a page boundary after this one, so that page data
		 * stays page-aligned when they are mapped together. */
		if (files[k].size > (UINT64_MAX >> 2))
			rc = err_set(err, -EINVAL, "%s: not a regular file", files[k].name);
		base += (files[k].size + IMG_PAGE_SIZE - 1) / IMG_PAGE_SIZE * IMG_PAGE_SIZE;
	}
	if (rc == 0 && files[0].part) {
		lone = n == 1 && (flags & CTX_LOAD_LONE_PART);
		hex_id(files[0].set_id, id);
		if (flags & CTX_LOAD_ONE_FILE)
			rc = err_set(
			    err, -EINVAL,
			    "%s is part %u of %u of checkpoint %s (written by cr_checkpoint "
			    "-d), not a whole context: restart the directory that holds "
			    "all its parts (cr_restart -d DIR)",
			    files[0].name, files[0].part, files[0].nparts, id);
		else if (!lone)
			rc = check_set(m, &sl, err);
	}
	if (rc == 0 && !lone)
		rc = check_model(m, err);
	if (rc < 0 && err->code && !strstr(err->msg, name))
		err_prefix(err, "%s: ", name);
	free(sl.by_part);
	free(sl.list);
	free(sl.proc_part);
	if (rc < 0) {
		model_free(m);
		return rc;
	}
	*ret_m = m;
	return 0;
}

int context_load(int fd, const char *name, enum img_pages_mode pages, struct model **ret_m,
		 struct err *err)
{
	struct ctx_file f = {.fd = fd, .name = name};

	return context_load_files(&f, 1, name, pages, CTX_LOAD_ONE_FILE, ret_m, err);
}
