/* wire.c: little-endian field encoding and a bounds-checked decoder. */
#include "wire.h"

#include "buf.h"

#include <stdlib.h>
#include <string.h>

void put_u8(struct buf *b, uint8_t v)
{
	buf_append(b, &v, 1);
}

void put_u16(struct buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

	buf_append(b, x, sizeof(x));
}

void put_u32(struct buf *b, uint32_t v)
{
	uint8_t x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	buf_append(b, x, sizeof(x));
}

void put_u64(struct buf *b, uint64_t v)
{
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	buf_append(b, x, sizeof(x));
}

void put_i32(struct buf *b, int32_t v)
{
	put_u32(b, (uint32_t)v);
}

void put_i64(struct buf *b, int64_t v)
{
	put_u64(b, (uint64_t)v);
}

void put_bytes(struct buf *b, const void *p, size_t n)
{
	buf_append(b, p, n);
}

void put_str(struct buf *b, const char *s)
{
	if (!s) {
		put_u32(b, UINT32_MAX);
		return;
	}
	put_u32(b, (uint32_t)strlen(s));
	buf_append(b, s, strlen(s));
}

void put_blob(struct buf *b, const void *p, uint32_t n)
{
	put_u32(b, n);
	buf_append(b, p, n);
}

void wr_init(struct wire_rd *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
	r->bad = false;
	r->why = NULL;
}

void wr_fail(struct wire_rd *r, const char *why)
{
	if (!r->bad)
		r->why = why;
	r->bad = true;
}

static const uint8_t *take(struct wire_rd *r, size_t n)
{
	const uint8_t *p;

	if (r->bad)
		return NULL;
	if (n > r->len - r->off) {
		wr_fail(r, "field runs past the end of the record");
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

uint8_t get_u8(struct wire_rd *r)
{
	const uint8_t *p = take(r, 1);

	return p ? p[0] : 0;
}

uint16_t get_u16(struct wire_rd *r)
{
	const uint8_t *p = take(r, 2);

	return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t get_u32(struct wire_rd *r)
{
	const uint8_t *p = take(r, 4);
	uint32_t v = 0;

	if (!p)
		return 0;
	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t get_u64(struct wire_rd *r)
{
	const uint8_t *p = take(r, 8);
	uint64_t v = 0;

	if (!p)
		return 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int32_t get_i32(struct wire_rd *r)
{
	return (int32_t)get_u32(r);
}

int64_t get_i64(struct wire_rd *r)
{
	return (int64_t)get_u64(r);
}

void get_bytes(struct wire_rd *r, void *dst, size_t n)
{
	const uint8_t *p = take(r, n);

	if (p)
		memcpy(dst, p, n);
	else
		memset(dst, 0, n);
}

char *get_str(struct wire_rd *r, size_t max)
{
	uint32_t n = get_u32(r);
	const uint8_t *p;
	char *s;

	if (r->bad || n == UINT32_MAX)
		return NULL;
	if (n > max) {
		wr_fail(r, "string longer than allowed");
		return NULL;
	}
	p = take(r, n);
	if (!p)
		return NULL;
	if (memchr(p, '\0', n)) {
		wr_fail(r, "string with an embedded NUL");
		return NULL;
	}
	s = malloc((size_t)n + 1);
	if (!s) {
		wr_fail(r, "out of memory");
		return NULL;
	}
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

const void *get_blob(struct wire_rd *r, size_t max, uint32_t *ret_len)
{
	uint32_t n = get_u32(r);
	const uint8_t *p;

	*ret_len = 0;
	if (r->bad)
		return NULL;
	if (n > max) {
		wr_fail(r, "blob longer than allowed");
		return NULL;
	}
	p = take(r, n);
	if (p)
		*ret_len = n;
	return p;
}

uint32_t get_count(struct wire_rd *r, size_t min_item, uint32_t max)
{
	uint32_t n = get_u32(r);

	if (r->bad)
		return 0;
	if (n > max) {
		wr_fail(r, "count larger than allowed");
		return 0;
	}
	if (min_item && n > (r->len - r->off) / min_item) {
		wr_fail(r, "count larger than the record can hold");
		return 0;
	}
	return n;
}

bool wr_done(struct wire_rd *r)
{
	if (!r->bad && r->off != r->len)
		wr_fail(r, "trailing bytes after the last field");
	return !r->bad;
}
