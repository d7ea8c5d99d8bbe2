/* wire.h: little-endian encoding of record fields, and a decoder that checks every
 * read against the end of its input. Decoding never fails half-way: a read past the
 * end returns zeros and marks the reader bad, and the caller checks wr_ok() once. */
#ifndef CREST_WIRE_H
#define CREST_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

void put_u8(struct buf *b, uint8_t v);
void put_u16(struct buf *b, uint16_t v);
void put_u32(struct buf *b, uint32_t v);
void put_u64(struct buf *b, uint64_t v);
void put_i32(struct buf *b, int32_t v);
void put_i64(struct buf *b, int64_t v);
void put_bytes(struct buf *b, const void *p, size_t n);
/* A string: u32 length, then the bytes (no NUL). NULL encodes as length 0xffffffff. */
void put_str(struct buf *b, const char *s);
/* A blob: u32 length, then the bytes. */
void put_blob(struct buf *b, const void *p, uint32_t n);

struct wire_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	bool bad;
	const char *why; /* first problem found, for the error message */
};

void wr_init(struct wire_rd *r, const void *p, size_t len);
uint8_t get_u8(struct wire_rd *r);
uint16_t get_u16(struct wire_rd *r);
uint32_t get_u32(struct wire_rd *r);
uint64_t get_u64(struct wire_rd *r);
int32_t get_i32(struct wire_rd *r);
int64_t get_i64(struct wire_rd *r);
void get_bytes(struct wire_rd *r, void *dst, size_t n);
/* A string of at most max bytes: returns a malloc'd NUL-terminated copy, or NULL for
 * an encoded NULL. A string with an embedded NUL or longer than max marks r bad. */
char *get_str(struct wire_rd *r, size_t max);
/* A blob of at most max bytes: returns a pointer into the input (not a copy). */
const void *get_blob(struct wire_rd *r, size_t max, uint32_t *ret_len);
/* A count of items each at least min_item bytes long: bad if they cannot all fit in
 * what is left, so a huge count never drives an allocation. */
uint32_t get_count(struct wire_rd *r, size_t min_item, uint32_t max);
void wr_fail(struct wire_rd *r, const char *why);
/* True when nothing went wrong and the whole input was consumed. */
bool wr_done(struct wire_rd *r);

#endif
