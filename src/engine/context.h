/* context.h: a whole context: the header record, every module's records, and the
 * checks across them. image.c frames records; this file gives them meaning by
 * handing each to its state module. A context is one file, or a set of files, one
 * per process (cr_checkpoint -d), tied together by their part records. */
#ifndef CREST_CONTEXT_H
#define CREST_CONTEXT_H

#include "image.h"
#include "model.h"

#include <sys/types.h>

struct err;

#define CTX_SET_ID_LEN 16

/* One file of a context to read. */
struct ctx_file {
	int fd;
	const char *name; /* for messages: the file as the user can find it */
	pid_t pid;        /* the process its name says a part holds; 0: no such claim */
	/* Set by context_load_files(): */
	uint64_t base;    /* where its first byte lies in the layout of the whole context
			   * (what offsets in the model count from): its own start for a
			   * single file, then each file at the next page boundary */
	uint64_t size;    /* its length from its start (UINT64_MAX for a pipe) */
	uint32_t part;    /* its part number, 1 ... nparts; 0 for a whole context */
	uint32_t nparts;
	uint32_t set_nprocs; /* processes in the whole set */
	uint8_t set_id[CTX_SET_ID_LEN];
};

/* Read and check a whole context from fd. pages: IMG_PAGES_DEFER leaves page data in
 * the file and lists its CRC spans in m->spans for the caller to check. A part of a
 * set is refused (EINVAL): it is not a whole context. */
int context_load(int fd, const char *name, enum img_pages_mode pages, struct model **ret_m,
		 struct err *err);

/* A single part of a set is read alone (cr_info): each of its records is decoded and
 * checked, but nothing is checked against the other parts (which hold the files its
 * descriptors name, and the other processes). */
#define CTX_LOAD_LONE_PART 0x1

/* Read and check a context held in n files: one whole context, or every part of one
 * set, in any order (a part missing is said to be missing). The model gets the
 * processes in the order they were saved, and offsets (page runs and spans, file
 * contents) count in one layout of all the files: file k's offset o is
 * files[k].base + o, so that mapping file k at base in one region (page-aligned)
 * lets a reader use them. set_name names the whole (e.g. the
 * directory) in messages about more than one file. Fails with EINVAL for files of
 * different checkpoints, a part given twice or a whole context among parts, EIO for
 * a part missing, and as context_load() for any damage in a file. */
int context_load_files(struct ctx_file *files, uint32_t n, const char *set_name,
		       enum img_pages_mode pages, unsigned int flags, struct model **ret_m,
		       struct err *err);

/* The header record, from m->meta: for a whole context (all of m's processes), or
 * for a part holding nprocs of them. */
int context_write_header(struct img_writer *w, const struct model *m, struct err *err);
int context_write_header_count(struct img_writer *w, const struct model *m, uint32_t nprocs,
			       struct err *err);

/* The part record of part `part` (1 ... nparts) of a set where part i + 1 holds
 * m->procs[i]: right after the header. Part 1's lists every process of the set. */
int context_write_part(struct img_writer *w, const struct model *m,
		       const uint8_t id[CTX_SET_ID_LEN], uint32_t part, struct err *err);

/* Fill m->meta with this machine's facts. */
void context_meta_init(struct img_meta *meta);

#endif
