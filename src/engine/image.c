/* image.c: writing and reading the context file's framing. The records' contents
 * belong to the state modules; this file only knows headers, CRCs, page alignment
 * and the closing index. */
#include "image.h"

#include "err.h"
#include "../util/crc32c.h"
#include "../util/wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "banned.h"

static const char *const rec_names[] = {
	[REC_HEADER] = "header", [REC_PROC] = "process", [REC_VMAS] = "memory map",
	[REC_PAGES] = "pages",   [REC_THREAD] = "thread", [REC_SIGNALS] = "signals",
	[REC_TIMERS] = "timers", [REC_FILE] = "file",     [REC_FDS] = "descriptors",
	[REC_PIPE] = "pipe",     [REC_CREDS] = "credentials",
	[REC_FILE_DATA] = "file contents", [REC_LOCKS] = "locks",
	[REC_SYSVIPC] = "System V IPC", [REC_PART] = "part",
};

const char *img_rec_name(uint32_t type)
{
	if (type == REC_END)
		return "end";
	if (type < sizeof(rec_names) / sizeof(rec_names[0]) && rec_names[type])
		return rec_names[type];
	return "unknown";
}

/* ---- writing ---- */

static int write_all(struct img_writer *w, const struct iovec *iov, int n, struct err *err)
{
	struct iovec v[8];
	size_t total = 0;

	if (n > 8)
		return err_set(err, -EINVAL, "internal: too many pieces in one write");
	memcpy(v, iov, (size_t)n * sizeof(*v));
	for (int i = 0; i < n; i++)
		total += v[i].iov_len;
	while (total > 0) {
		ssize_t k = writev(w->fd, v, n);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, "cannot write the context to %s", w->name);
		}
		if (k == 0)
			return err_set(err, -EIO, "cannot write the context to %s: short write",
				       w->name);
		w->off += (uint64_t)k;
		total -= (size_t)k;
		for (int i = 0; i < n && k > 0; i++) {
			size_t t = (size_t)k < v[i].iov_len ? (size_t)k : v[i].iov_len;

			v[i].iov_base = (uint8_t *)v[i].iov_base + t;
			v[i].iov_len -= t;
			k -= (ssize_t)t;
		}
	}
	return 0;
}

static void rec_header(uint8_t hdr[IMG_REC_HDR_LEN], uint32_t type, uint32_t flags, uint64_t len,
		       uint32_t crc)
{
	struct buf b;

	buf_init(&b);
	put_u32(&b, type);
	put_u32(&b, flags);
	put_u64(&b, len);
	put_u32(&b, crc);
	put_u32(&b, crc32c(CRC32C_INIT, b.data, 20));
	memcpy(hdr, b.data, IMG_REC_HDR_LEN);
	buf_fini(&b);
}

int img_writer_init(struct img_writer *w, int fd, const char *name, struct err *err)
{
	uint8_t pre[IMG_PREAMBLE_LEN] = {0};
	struct iovec iov = {pre, sizeof(pre)};

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->name = name;
	buf_init(&w->index);
	memcpy(pre, IMG_MAGIC, IMG_MAGIC_LEN);
	pre[8] = IMG_VERSION & 0xff;
	pre[9] = (IMG_VERSION >> 8) & 0xff;
	return write_all(w, &iov, 1, err);
}

void img_writer_fini(struct img_writer *w)
{
	buf_fini(&w->index);
}

static void index_add(struct buf *idx, uint32_t type, uint64_t off)
{
	put_u32(idx, type);
	put_u64(idx, off);
}

int img_write_record(struct img_writer *w, uint32_t type, uint32_t flags, const void *payload,
		     size_t len, struct err *err)
{
	uint8_t hdr[IMG_REC_HDR_LEN];
	struct iovec iov[2] = {{hdr, sizeof(hdr)}, {(void *)payload, len}};

	if (len > IMG_MAX_META_LEN)
		return err_set(err, -E2BIG, "%s record of %zu bytes is too large",
			       img_rec_name(type), len);
	rec_header(hdr, type, flags, len, crc32c(CRC32C_INIT, payload, len));
	index_add(&w->index, type, w->off);
	if (w->index.oom)
		return err_set(err, -ENOMEM, "out of memory writing %s", w->name);
	w->nrecs++;
	return write_all(w, iov, 2, err);
}

static const uint8_t zero_page[IMG_PAGE_SIZE];

/* Page data is read in pieces of at most this size. */
#define IMG_IO_CHUNK ((size_t)1 << 20)

size_t img_pages_pad(uint64_t off, size_t head_len)
{
	uint64_t start = off + IMG_REC_HDR_LEN + head_len;

	return (size_t)((IMG_PAGE_SIZE - start % IMG_PAGE_SIZE) % IMG_PAGE_SIZE);
}

uint32_t img_pages_crc(uint64_t off, const void *head, size_t head_len, const void *data,
		       size_t data_len)
{
	uint32_t crc = crc32c(CRC32C_INIT, head, head_len);

	crc = crc32c(crc, zero_page, img_pages_pad(off, head_len));
	return crc32c(crc, data, data_len);
}

int img_write_pages_crc(struct img_writer *w, const void *head, size_t head_len,
			const void *data, size_t data_len, uint32_t crc, struct err *err)
{
	uint8_t hdr[IMG_REC_HDR_LEN];
	size_t pad = img_pages_pad(w->off, head_len);
	struct iovec iov[4] = {
		{hdr, sizeof(hdr)},
		{(void *)head, head_len},
		{(void *)zero_page, pad},
		{(void *)data, data_len},
	};

	if (data_len > IMG_MAX_PAGE_DATA || head_len > IMG_MAX_META_LEN)
		return err_set(err, -E2BIG, "internal: page record too large");
	rec_header(hdr, REC_PAGES, REC_F_REQUIRED, head_len + pad + data_len, crc);
	index_add(&w->index, REC_PAGES, w->off);
	if (w->index.oom)
		return err_set(err, -ENOMEM, "out of memory writing %s", w->name);
	w->nrecs++;
	return write_all(w, iov, 4, err);
}

int img_write_pages(struct img_writer *w, const void *head, size_t head_len, const void *data,
		    size_t data_len, struct err *err)
{
	return img_write_pages_crc(w, head, head_len, data, data_len,
				   img_pages_crc(w->off, head, head_len, data, data_len), err);
}

int img_write_end(struct img_writer *w, struct err *err)
{
	struct buf b;
	int rc;

	buf_init(&b);
	put_u32(&b, w->nrecs);
	put_bytes(&b, w->index.data, w->index.len);
	if (b.oom) {
		buf_fini(&b);
		return err_set(err, -ENOMEM, "out of memory writing %s", w->name);
	}
	rc = img_write_record(w, REC_END, REC_F_REQUIRED, b.data, b.len, err);
	buf_fini(&b);
	return rc;
}

/* ---- reading ---- */

/* Read exactly n bytes at the reader's offset. A short read is a truncated file. */
static int read_exact(struct img_reader *r, void *dst, size_t n, const char *what,
		      struct err *err)
{
	uint8_t *p = dst;
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(r->fd, p + got, n - got);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return err_sys(err, "%s: cannot read %s at offset %llu", r->name, what,
				       (unsigned long long)(r->off + got));
		}
		if (k == 0)
			return err_set(err, -EIO,
				       "%s: truncated: %s at offset %llu needs %zu bytes, file ends "
				       "after %zu",
				       r->name, what, (unsigned long long)r->off, n, got);
		got += (size_t)k;
	}
	r->off += n;
	return 0;
}

int img_reader_init(struct img_reader *r, int fd, const char *name, enum img_pages_mode pages,
		    struct err *err)
{
	uint8_t pre[IMG_PREAMBLE_LEN];
	struct stat st;
	int rc;

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->name = name;
	r->pages = pages;
	r->size = UINT64_MAX;
	buf_init(&r->payload);
	buf_init(&r->index);
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t cur = lseek(fd, 0, SEEK_CUR);

		if (cur >= 0 && st.st_size >= cur) {
			r->size = (uint64_t)(st.st_size - cur);
			r->base = (uint64_t)cur;
		}
	}
	if (pages == IMG_PAGES_DEFER && r->size == UINT64_MAX)
		return err_set(err, -EINVAL, "%s: internal: deferred pages need a regular file",
			       name);
	if (r->size == 0)
		return err_set(err, -EIO, "%s: empty file, not a context file", name);
	rc = read_exact(r, pre, sizeof(pre), "the file header", err);
	if (rc < 0)
		return rc;
	if (memcmp(pre, IMG_MAGIC, IMG_MAGIC_LEN) != 0)
		return err_set(err, -EINVAL, "%s: not a crest context file (bad magic)", name);
	r->version = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
		     (uint32_t)pre[11] << 24;
	if (r->version > IMG_VERSION || r->version == 0)
		return err_set(err, -EINVAL,
			       "%s: context format version %u; this crest reads version %u", name,
			       r->version, IMG_VERSION);
	if (pre[12] | pre[13] | pre[14] | pre[15])
		return err_set(err, -EINVAL, "%s: reserved field of the file header is not zero",
			       name);
	return 0;
}

void img_reader_fini(struct img_reader *r)
{
	buf_fini(&r->payload);
	buf_fini(&r->index);
}

int img_rec_corrupt(const struct img_reader *r, const struct img_rec *rec, const char *why,
		    struct err *err)
{
	return err_set(err, -EINVAL, "%s: record %u (%s) at offset %llu: %s", r->name, rec->index,
		       img_rec_name(rec->type), (unsigned long long)rec->off,
		       why ? why : "invalid contents");
}

static int read_payload(struct img_reader *r, size_t n, struct img_rec *rec, struct err *err)
{
	buf_reset(&r->payload);
	if (!buf_reserve(&r->payload, n + 1))
		return err_set(err, -ENOMEM, "%s: out of memory reading record %u", r->name,
			       rec->index);
	if (read_exact(r, r->payload.data, n, img_rec_name(rec->type), err) < 0)
		return err->code;
	r->payload.len = n;
	return 0;
}

/* Pages: the run list is read and kept; the data is checked now or skipped. */
static int read_pages(struct img_reader *r, struct img_rec *rec, uint64_t len, uint32_t crc,
		      struct err *err)
{
	uint8_t head[16];
	struct wire_rd rd;
	uint64_t data_len, head_len, pad, start;
	uint32_t nruns, c;
	uint8_t *chunk;
	size_t csz;
	int rc;

	if (len < sizeof(head))
		return img_rec_corrupt(r, rec, "too short for a page record", err);
	rc = read_exact(r, head, sizeof(head), "pages", err);
	if (rc < 0)
		return rc;
	wr_init(&rd, head, sizeof(head));
	get_u32(&rd); /* pid */
	nruns = get_u32(&rd);
	data_len = get_u64(&rd);
	head_len = sizeof(head) + (uint64_t)nruns * 16;
	if (head_len > len || nruns > IMG_MAX_PAGE_DATA / IMG_PAGE_SIZE)
		return img_rec_corrupt(r, rec, "run list longer than the record", err);
	start = rec->off + IMG_REC_HDR_LEN + head_len;
	pad = (IMG_PAGE_SIZE - start % IMG_PAGE_SIZE) % IMG_PAGE_SIZE;
	if (data_len > IMG_MAX_PAGE_DATA || data_len % IMG_PAGE_SIZE ||
	    head_len + pad + data_len != len)
		return img_rec_corrupt(r, rec, "page data length does not match the record", err);
	buf_reset(&r->payload);
	if (!buf_reserve(&r->payload, head_len))
		return err_set(err, -ENOMEM, "%s: out of memory", r->name);
	memcpy(r->payload.data, head, sizeof(head));
	rc = read_exact(r, r->payload.data + sizeof(head), head_len - sizeof(head), "page runs",
			err);
	if (rc < 0)
		return rc;
	r->payload.len = head_len;
	c = crc32c(CRC32C_INIT, r->payload.data, head_len);
	rec->data_off = r->base + start + pad;
	rec->data_len = data_len;

	if (r->pages == IMG_PAGES_DEFER) {
		/* The rest of the CRC is checked later, straight from the file; combining
		 * partial CRCs is not possible without the data, so the caller checks the
		 * whole payload: hand it the payload span and expected CRC. */
		rec->crc = crc;
		rec->crc_off = r->base + rec->off + IMG_REC_HDR_LEN;
		rec->crc_len = len;
		if (lseek(r->fd, (off_t)(pad + data_len), SEEK_CUR) < 0)
			return err_sys(err, "%s: cannot skip page data", r->name);
		r->off += pad + data_len;
		if (r->off > r->size)
			return err_set(err, -EIO,
				       "%s: truncated: page data of record %u runs past the end",
				       r->name, rec->index);
		return 0;
	}
	/* Small records are common: take no more memory than the data needs. */
	csz = pad + data_len < IMG_IO_CHUNK ? (size_t)(pad + data_len) : IMG_IO_CHUNK;
	chunk = malloc(csz ? csz : 1);
	if (!chunk)
		return err_set(err, -ENOMEM, "%s: out of memory", r->name);
	for (uint64_t left = pad + data_len; left > 0;) {
		size_t n = left > csz ? csz : (size_t)left;

		rc = read_exact(r, chunk, n, "page data", err);
		if (rc < 0) {
			free(chunk);
			return rc;
		}
		c = crc32c(c, chunk, n);
		left -= n;
	}
	free(chunk);
	if (c != crc)
		return err_set(err, -EIO, "%s: record %u (pages) at offset %llu: checksum mismatch",
			       r->name, rec->index, (unsigned long long)rec->off);
	rec->crc = 0;
	rec->crc_len = 0;
	return 0;
}

static int check_end(struct img_reader *r, struct img_rec *rec, struct err *err)
{
	struct wire_rd rd;
	uint32_t n;

	wr_init(&rd, rec->payload, rec->len);
	n = get_u32(&rd);
	/* An empty index has no data pointer, and memcmp() must not get NULL. */
	if (rd.bad || n != r->nrecs - 1 || rec->len != 4 + r->index.len ||
	    (r->index.len && memcmp(rec->payload + 4, r->index.data, r->index.len) != 0))
		return img_rec_corrupt(r, rec, "index does not match the records read", err);
	if (r->size != UINT64_MAX && r->off != r->size)
		return err_set(err, -EINVAL, "%s: %llu bytes of garbage after the end record",
			       r->name, (unsigned long long)(r->size - r->off));
	r->ended = true;
	return 0;
}

int img_read_record(struct img_reader *r, struct img_rec *rec, struct err *err)
{
	uint8_t hdr[IMG_REC_HDR_LEN];
	struct wire_rd rd;
	uint32_t hcrc, crc;
	uint64_t len;
	int rc;

	memset(rec, 0, sizeof(*rec));
	if (r->ended)
		return err_set(err, -EINVAL, "%s: internal: read past the end record", r->name);
	rec->off = r->off;
	rec->index = r->nrecs;
	if (r->size != UINT64_MAX && r->off == r->size)
		return err_set(err, -EIO, "%s: truncated after %u records (no end record)", r->name,
			       r->nrecs);
	rc = read_exact(r, hdr, sizeof(hdr), "a record header", err);
	if (rc < 0)
		return rc;
	wr_init(&rd, hdr, sizeof(hdr));
	rec->type = get_u32(&rd);
	rec->flags = get_u32(&rd);
	len = get_u64(&rd);
	crc = get_u32(&rd);
	hcrc = get_u32(&rd);
	if (hcrc != crc32c(CRC32C_INIT, hdr, 20))
		return err_set(err, -EIO, "%s: record %u at offset %llu: header checksum mismatch",
			       r->name, rec->index, (unsigned long long)rec->off);
	if (r->size != UINT64_MAX && len > r->size - r->off)
		return err_set(err, -EIO,
			       "%s: truncated: record %u (%s) at offset %llu: length %llu runs "
			       "past the end of the file",
			       r->name, rec->index, img_rec_name(rec->type),
			       (unsigned long long)rec->off, (unsigned long long)len);
	if (rec->type != REC_END) {
		index_add(&r->index, rec->type, rec->off);
		if (r->index.oom)
			return err_set(err, -ENOMEM, "%s: out of memory", r->name);
	}
	r->nrecs++;

	if (rec->type == REC_PAGES) {
		rc = read_pages(r, rec, len, crc, err);
		if (rc < 0)
			return rc;
		rec->payload = r->payload.data;
		rec->len = r->payload.len;
		return 0;
	}
	if (len > IMG_MAX_META_LEN)
		return img_rec_corrupt(r, rec, "record longer than any crest writes", err);
	rc = read_payload(r, (size_t)len, rec, err);
	if (rc < 0)
		return rc;
	rec->payload = r->payload.data;
	rec->len = (size_t)len;
	if (crc32c(CRC32C_INIT, rec->payload, rec->len) != crc)
		return err_set(err, -EIO, "%s: record %u (%s) at offset %llu: checksum mismatch",
			       r->name, rec->index, img_rec_name(rec->type),
			       (unsigned long long)rec->off);
	if (rec->type == REC_END)
		return check_end(r, rec, err);
	return 0;
}

int img_verify_span(int fd, const char *name, uint64_t off, uint64_t len, uint32_t crc,
		    struct err *err)
{
	size_t bufsz = len < IMG_IO_CHUNK ? (size_t)len : IMG_IO_CHUNK;
	uint8_t *b = malloc(bufsz ? bufsz : 1);
	uint32_t c = CRC32C_INIT;

	if (!b)
		return err_set(err, -ENOMEM, "%s: out of memory", name);
	while (len > 0) {
		size_t n = len > bufsz ? bufsz : (size_t)len;
		ssize_t k = pread(fd, b, n, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			free(b);
			if (k < 0)
				return err_sys(err, "%s: cannot read page data at offset %llu", name,
					       (unsigned long long)off);
			return err_set(err, -EIO, "%s: truncated page data at offset %llu", name,
				       (unsigned long long)off);
		}
		c = crc32c(c, b, (size_t)k);
		off += (uint64_t)k;
		len -= (uint64_t)k;
	}
	free(b);
	if (c != crc)
		return err_set(err, -EIO, "%s: page data checksum mismatch", name);
	return 0;
}
