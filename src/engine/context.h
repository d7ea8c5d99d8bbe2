/* context.h: a whole context file: the header record, every module's records, and
 * the checks across them. image.c frames records; this file gives them meaning by
 * handing each to its state module. */
#ifndef CREST_CONTEXT_H
#define CREST_CONTEXT_H

#include "image.h"
#include "model.h"

struct err;

/* Read and check a whole context from fd. pages: IMG_PAGES_DEFER leaves page data in
 * the file and lists its CRC spans in m->spans for the caller to check. */
int context_load(int fd, const char *name, enum img_pages_mode pages, struct model **ret_m,
		 struct err *err);

/* The header record, from m->meta. */
int context_write_header(struct img_writer *w, const struct model *m, struct err *err);

/* Fill m->meta with this machine's facts. */
void context_meta_init(struct img_meta *meta);

#endif
