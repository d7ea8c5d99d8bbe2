/* buf.c: a growable byte buffer. */
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_fini(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	b->oom = 0;
}

void *buf_reserve(struct buf *b, size_t n)
{
	if (b->oom)
		return NULL;
	if (n > SIZE_MAX / 2 - b->len) {
		b->oom = 1;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		uint8_t *p;

		while (ncap < b->len + n)
			ncap *= 2;
		p = realloc(b->data, ncap);
		if (!p) {
			b->oom = 1;
			return NULL;
		}
		b->data = p;
		b->cap = ncap;
	}
	return b->data + b->len;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
	void *dst = buf_reserve(b, n);

	if (!dst)
		return;
	if (n)
		memcpy(dst, p, n);
	b->len += n;
}

void buf_zero(struct buf *b, size_t n)
{
	void *dst = buf_reserve(b, n);

	if (!dst)
		return;
	memset(dst, 0, n);
	b->len += n;
}

int buf_read_fd(struct buf *b, int fd)
{
	buf_reset(b);
	for (;;) {
		uint8_t *dst = buf_reserve(b, 4096 + 1);
		ssize_t n;

		if (!dst)
			return -ENOMEM;
		n = read(fd, dst, b->cap - b->len - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
	}
	b->data[b->len] = '\0';
	return 0;
}

int buf_read_file(struct buf *b, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return -errno;
	rc = buf_read_fd(b, fd);
	close(fd);
	return rc;
}
