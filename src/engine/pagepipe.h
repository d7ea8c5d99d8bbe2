/* pagepipe.h: page records written by a background thread.
 *
 * A checkpoint's time goes into two copies, target memory into our buffer
 * (process_vm_readv) and our buffer into the file (write). They overlap: the caller
 * fills a buffer and computes its CRC while the thread writes the previous one.
 * Records still land in submission order, so the file is the same byte for byte as
 * with img_write_pages(). */
#ifndef CREST_PAGEPIPE_H
#define CREST_PAGEPIPE_H

#include <stddef.h>
#include <stdint.h>

struct err;
struct img_writer;
struct pagepipe;

/* nbufs buffers of bufsize bytes (page aligned). While the pipe runs, nothing else
 * may write to w. Falls back to writing in the caller's thread if no thread can be
 * started. */
int pagepipe_start(struct pagepipe **ret, struct img_writer *w, size_t bufsize,
		   unsigned int nbufs, struct err *err);
/* A free buffer to fill; waits for one if all are queued. */
uint8_t *pagepipe_buf(struct pagepipe *pp);
/* Queue the buffer last returned by pagepipe_buf(), holding data_len bytes, as a page
 * record with the run list head. Returns the first write error seen so far, if any. */
int pagepipe_submit(struct pagepipe *pp, const void *head, size_t head_len, size_t data_len,
		    struct err *err);
/* Wait for everything queued, stop the thread, free all; returns the first error.
 * Safe to call after a failure. */
int pagepipe_finish(struct pagepipe *pp, struct err *err);

#endif
