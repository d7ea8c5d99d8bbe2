/* context.c: the header record, and loading a context through the state modules. */
#include "context.h"

#include "err.h"
#include "state/state.h"
#include "../util/buf.h"
#include "../util/wire.h"
#include "version.h"

#include <errno.h>
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

int context_write_header(struct img_writer *w, const struct model *m, struct err *err)
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
	put_u32(&b, m->nprocs);
	rc = b.oom ? err_set(err, -ENOMEM, "out of memory")
		   : img_write_record(w, REC_HEADER, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

static void copy_str(char *dst, size_t n, char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
	free(s);
}

static int decode_header(struct model *m, const struct img_reader *r, const struct img_rec *rec,
			 uint32_t *ret_nprocs, struct err *err)
{
	struct img_meta *meta = &m->meta;
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

int context_load(int fd, const char *name, enum img_pages_mode pages, struct model **ret_m,
		 struct err *err)
{
	struct img_reader r;
	struct img_rec rec;
	struct model *m;
	uint32_t nprocs = 0;
	bool have_header = false;
	int rc;

	m = model_new();
	if (!m)
		return err_set(err, -ENOMEM, "out of memory");
	rc = img_reader_init(&r, fd, name, pages, err);
	while (rc == 0) {
		const struct state_ops *ops;

		rc = img_read_record(&r, &rec, err);
		if (rc < 0 || r.ended)
			break;
		if (rec.index == 0) {
			rc = rec.type == REC_HEADER
				     ? decode_header(m, &r, &rec, &nprocs, err)
				     : img_rec_corrupt(&r, &rec, "the first record is not the header",
						       err);
			have_header = rc == 0;
			continue;
		}
		if (rec.type == REC_HEADER) {
			rc = img_rec_corrupt(&r, &rec, "a second header", err);
			continue;
		}
		/* Type 0 is no type; the table's unused slots hold 0. */
		ops = rec.type ? state_for_rec(rec.type) : NULL;
		if (!ops) {
			if (rec.flags & REC_F_REQUIRED)
				rc = err_set(err, -EINVAL,
					     "%s: record %u at offset %llu has type %u, which this "
					     "crest (format %u) does not know",
					     name, rec.index, (unsigned long long)rec.off, rec.type,
					     IMG_VERSION);
			continue;
		}
		rc = ops->decode(m, &rec, &r, err);
	}
	if (rc == 0 && !have_header)
		rc = err_set(err, -EINVAL, "%s: no header record before the end record", name);
	if (rc == 0 && m->nprocs != nprocs)
		rc = err_set(err, -EINVAL, "%s: header lists %u processes, the file describes %u",
			     name, nprocs, m->nprocs);
	/* A zombie has its process record only. */
	for (uint32_t i = 0; rc == 0 && i < m->nprocs; i++) {
		const struct proc_img *p = &m->procs[i];

		if ((p->flags & PROC_ZOMBIE) &&
		    (p->vmas || p->nthreads || p->fds || p->shpending || p->ptimers || p->creds.groups))
			rc = err_set(err, -EINVAL, "%s: zombie pid %d has more than a process record",
				     name, p->pid);
	}
	for (uint32_t i = 0; rc == 0 && i < m->nprocs; i++)
		for (unsigned int k = 0; rc == 0 && k < state_count; k++)
			if (state_table[k]->validate && !(m->procs[i].flags & PROC_ZOMBIE))
				rc = state_table[k]->validate(m, &m->procs[i], err);
	if (rc < 0 && err->code && !strstr(err->msg, name))
		err_prefix(err, "%s: ", name);
	img_reader_fini(&r);
	if (rc < 0) {
		model_free(m);
		return rc;
	}
	*ret_m = m;
	return 0;
}
