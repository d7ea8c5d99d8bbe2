/* image.h: the context file, record by record (docs/context-format.md).
 *
 *   magic "CRESTCTX" | u32 format version | u32 zero
 *   record*           each: header (24 bytes) + payload
 *   REC_END           index of every earlier record
 *
 * Record header: u32 type, u32 flags, u64 payload length, u32 CRC-32C of the payload,
 * u32 CRC-32C of the 20 header bytes before it. Page records put their data at a
 * 4 KiB-aligned file offset. The writer never seeks; the reader trusts nothing. */
#ifndef CREST_IMAGE_H
#define CREST_IMAGE_H

#include "../util/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMG_MAGIC "CRESTCTX"
#define IMG_MAGIC_LEN 8
#define IMG_VERSION 1
#define IMG_PREAMBLE_LEN 16
#define IMG_REC_HDR_LEN 24
#define IMG_PAGE_SIZE 4096u
#define IMG_MAX_META_LEN (64u << 20)  /* any record but pages */
#define IMG_MAX_PAGE_DATA (64u << 20) /* page data in one record */

enum rec_type {
	REC_HEADER = 1,
	REC_PROC = 2,
	REC_VMAS = 3,
	REC_PAGES = 4,
	REC_THREAD = 5,
	REC_SIGNALS = 6,
	REC_TIMERS = 7,
	REC_FILE = 8,
	REC_FDS = 9,
	REC_PIPE = 10, /* reserved: pipes travel in their file records */
	REC_CREDS = 11,
	REC_FILE_DATA = 12, /* contents of a file saved by contents (state/fsaved.c) */
	REC_LOCKS = 13,     /* a process's file locks (state/locks.c) */
	REC_SYSVIPC = 14,   /* a System V IPC object, or part of a segment's contents (state/sysvipc.c) */
	REC_PART = 15,      /* which part of a set of files this one is (context.c) */
	REC_END = 0x7fff,
};

/* A reader that does not know a type skips it unless this flag says it must not. */
#define REC_F_REQUIRED 0x1

const char *img_rec_name(uint32_t type);

struct err;

struct img_writer {
	int fd;
	const char *name; /* for messages: the destination as the user named it */
	uint64_t off;     /* bytes written so far */
	struct buf index; /* REC_END payload being built */
	uint32_t nrecs;
};

int img_writer_init(struct img_writer *w, int fd, const char *name, struct err *err);
void img_writer_fini(struct img_writer *w);
int img_write_record(struct img_writer *w, uint32_t type, uint32_t flags, const void *payload,
		     size_t len, struct err *err);
/* A page record: head is the run list already encoded; data is page-aligned data
 * that lands at a 4 KiB-aligned offset in the file. */
int img_write_pages(struct img_writer *w, const void *head, size_t head_len, const void *data,
		    size_t data_len, struct err *err);
/* The same in two steps, so that a thread can compute the CRC while another writes:
 * the record will land at file offset off (what w->off will be by then). */
size_t img_pages_pad(uint64_t off, size_t head_len);
uint32_t img_pages_crc(uint64_t off, const void *head, size_t head_len, const void *data,
		       size_t data_len);
int img_write_pages_crc(struct img_writer *w, const void *head, size_t head_len,
			const void *data, size_t data_len, uint32_t crc, struct err *err);
int img_write_end(struct img_writer *w, struct err *err);

/* How the reader treats page data. */
enum img_pages_mode {
	IMG_PAGES_VERIFY, /* read it and check the CRC now (cr_info, streamed input) */
	IMG_PAGES_DEFER,  /* seekable input: skip it, hand back the span to verify later */
};

struct img_rec {
	uint32_t type;
	uint32_t flags;
	uint32_t index;    /* 0-based position in the file */
	uint64_t off;      /* of the record header */
	const uint8_t *payload;
	size_t len;        /* of the payload in memory: for pages, only the run list */
	uint64_t data_off; /* pages: file offset of the data (for pread) */
	uint64_t data_len;
	uint32_t crc;      /* pages under IMG_PAGES_DEFER: the CRC still to check */
	uint64_t crc_off, crc_len; /* the span that CRC covers (file offset); len 0 if none */
};

struct img_reader {
	int fd;
	const char *name;
	uint64_t off;  /* from the start of the context; messages give this one */
	/* What to add to off for the offsets the reader hands out (page data, CRC spans;
	 * modules add it too): where the context's first byte lies in the mapping a
	 * restart makes of it. For a single file mapped whole, the file offset the
	 * context starts at (seekable input); a set's loader adds each file's place in
	 * one mapping of all the files (context.c). Reading itself never uses it. */
	uint64_t base;
	uint64_t size; /* bytes from base to the end of the file if known, else UINT64_MAX */
	enum img_pages_mode pages;
	struct buf payload;
	struct buf index; /* what the END record must list */
	uint32_t nrecs;
	bool ended;
	uint32_t version;
};

/* Checks the preamble. A file that is not a context, or is newer than this reader,
 * fails with -EINVAL and says which. */
int img_reader_init(struct img_reader *r, int fd, const char *name, enum img_pages_mode pages,
		    struct err *err);
void img_reader_fini(struct img_reader *r);
/* Next record, or 0 with r->ended set after REC_END (whose index has been checked).
 * The payload stays valid until the next call. */
int img_read_record(struct img_reader *r, struct img_rec *rec, struct err *err);
/* Set the message for a record that failed to decode. */
int img_rec_corrupt(const struct img_reader *r, const struct img_rec *rec, const char *why,
		    struct err *err);

/* Check a span's CRC by reading it with pread (for deferred page data). */
int img_verify_span(int fd, const char *name, uint64_t off, uint64_t len, uint32_t crc,
		    struct err *err);

#endif
