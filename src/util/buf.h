/* buf.h: a growable byte buffer. */
#ifndef CREST_BUF_H
#define CREST_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int oom; /* set once an allocation failed; later appends do nothing */
};

void buf_init(struct buf *b);
void buf_fini(struct buf *b);
void buf_reset(struct buf *b);
/* Make room for n more bytes; returns a pointer to them or NULL (and sets oom). */
void *buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_zero(struct buf *b, size_t n);
/* Read a whole file (e.g. under /proc) into b, NUL-terminated (the NUL not counted).
 * Returns 0 or -errno. */
int buf_read_file(struct buf *b, const char *path);
int buf_read_fd(struct buf *b, int fd);

#endif
