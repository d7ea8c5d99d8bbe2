/* model.c: allocation and lookup for the checkpoint model. */
#include "model.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

struct model *model_new(void)
{
	return calloc(1, sizeof(struct model));
}

static void proc_fini(struct proc_img *p)
{
	free(p->exe);
	free(p->cwd);
	free(p->creds.groups);
	free(p->mm.auxv);
	for (uint32_t i = 0; i < p->nvmas; i++)
		free(p->vmas[i].path);
	free(p->vmas);
	free(p->runs);
	for (uint32_t i = 0; i < p->nthreads; i++) {
		free(p->threads[i].xstate);
		free(p->threads[i].pending);
	}
	free(p->threads);
	free(p->shpending);
	free(p->ptimers);
	free(p->fds);
	free(p->locks);
}

void model_free(struct model *m)
{
	if (!m)
		return;
	for (uint32_t i = 0; i < m->nprocs; i++)
		proc_fini(&m->procs[i]);
	free(m->procs);
	for (uint32_t i = 0; i < m->nfiles; i++) {
		free(m->files[i].path);
		if (m->files[i].kd_free)
			m->files[i].kd_free(m->files[i].kd);
	}
	free(m->files);
	free(m->spans);
	if (m->sysvipc_free)
		m->sysvipc_free(m->sysvipc);
	free(m);
}

/* By doubling: one realloc per element copies the whole array each time, for
 * thousands of them (and realloc always moves under ASan). The room an array has is
 * what malloc gave it, which also holds for arrays others allocated. */
void *model_grow(void **arr, uint32_t *n, size_t elsize)
{
	size_t need = ((size_t)*n + 1) * elsize;
	uint8_t *p = *arr;

	if (*n == UINT32_MAX)
		return NULL;
	if (!p || malloc_usable_size(p) < need) {
		size_t cap = *n ? 2 * (size_t)*n : 4;

		p = realloc(p, cap * elsize);
		if (!p)
			return NULL;
		*arr = p;
	}
	p += (size_t)*n * elsize;
	memset(p, 0, elsize);
	(*n)++;
	return p;
}

struct proc_img *model_find_proc(struct model *m, pid_t pid)
{
	for (uint32_t i = 0; i < m->nprocs; i++)
		if (m->procs[i].pid == pid)
			return &m->procs[i];
	return NULL;
}

/* Files are kept in id order, numbered from 1 as a checkpoint makes them: file id is
 * files[id - 1], or found by halves; a model made otherwise is searched whole. */
struct file_img *model_find_file(struct model *m, uint32_t id)
{
	uint32_t lo = 0, hi = m->nfiles;

	if (id && id <= m->nfiles && m->files[id - 1].id == id)
		return &m->files[id - 1];
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (m->files[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->nfiles && m->files[lo].id == id)
		return &m->files[lo];
	for (uint32_t i = 0; i < m->nfiles; i++)
		if (m->files[i].id == id)
			return &m->files[i];
	return NULL;
}

int model_add_run(struct proc_img *p, uint64_t vaddr, uint64_t npages, uint64_t file_off)
{
	if (p->nruns == p->cap_runs) {
		uint32_t ncap = p->cap_runs ? p->cap_runs * 2 : 64;
		struct page_run *n;

		if (ncap < p->cap_runs)
			return -ENOMEM;
		n = realloc(p->runs, (size_t)ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->runs = n;
		p->cap_runs = ncap;
	}
	p->runs[p->nruns++] = (struct page_run){vaddr, npages, file_off};
	return 0;
}

int model_add_span(struct model *m, uint64_t off, uint64_t len, uint32_t crc)
{
	if (m->nspans == m->cap_spans) {
		uint32_t ncap = m->cap_spans ? m->cap_spans * 2 : 64;
		struct img_span *n;

		if (ncap < m->cap_spans)
			return -ENOMEM;
		n = realloc(m->spans, (size_t)ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		m->spans = n;
		m->cap_spans = ncap;
	}
	m->spans[m->nspans++] = (struct img_span){off, len, crc};
	return 0;
}
