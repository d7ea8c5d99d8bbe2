/* pagepipe.c: a writer thread for page records (see pagepipe.h). */
#include "pagepipe.h"

#include "err.h"
#include "image.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "banned.h"

#define MAX_BUFS 8
#define MAX_HEAD (16 + 1024 * 16) /* pid, count, length, 1024 runs */

struct slot {
	uint8_t *data;
	size_t len;
	uint8_t head[MAX_HEAD];
	size_t head_len;
	uint32_t crc;
	bool full; /* queued for the writer */
};

struct pagepipe {
	struct img_writer *w;
	struct slot slot[MAX_BUFS];
	unsigned int n, next_fill, next_write;
	size_t bufsize;
	uint64_t off; /* where the next submitted record will land */
	pthread_t thr;
	bool threaded, stop;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct err err; /* the writer's first failure */
};

static void *writer(void *arg)
{
	struct pagepipe *pp = arg;

	pthread_mutex_lock(&pp->lock);
	for (;;) {
		struct slot *s = &pp->slot[pp->next_write];
		struct err e = {0};

		while (!s->full && !pp->stop)
			pthread_cond_wait(&pp->cv, &pp->lock);
		if (!s->full)
			break;
		pthread_mutex_unlock(&pp->lock);
		if (!pp->err.code)
			img_write_pages_crc(pp->w, s->head, s->head_len, s->data, s->len, s->crc, &e);
		pthread_mutex_lock(&pp->lock);
		if (e.code && !pp->err.code)
			pp->err = e;
		s->full = false;
		pp->next_write = (pp->next_write + 1) % pp->n;
		pthread_cond_broadcast(&pp->cv);
	}
	pthread_mutex_unlock(&pp->lock);
	return NULL;
}

int pagepipe_start(struct pagepipe **ret, struct img_writer *w, size_t bufsize,
		   unsigned int nbufs, struct err *err)
{
	struct pagepipe *pp = calloc(1, sizeof(*pp));

	if (!pp)
		return err_set(err, -ENOMEM, "out of memory");
	pp->w = w;
	pp->bufsize = bufsize;
	pp->n = nbufs < 1 ? 1 : nbufs > MAX_BUFS ? MAX_BUFS : nbufs;
	pp->off = w->off;
	pthread_mutex_init(&pp->lock, NULL);
	pthread_cond_init(&pp->cv, NULL);
	for (unsigned int i = 0; i < pp->n; i++) {
		pp->slot[i].data = mmap(NULL, bufsize, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (pp->slot[i].data == MAP_FAILED) {
			pp->slot[i].data = NULL;
			pagepipe_finish(pp, NULL);
			return err_sys(err, "cannot allocate page buffers");
		}
	}
	pp->threaded = pp->n > 1 && pthread_create(&pp->thr, NULL, writer, pp) == 0;
	*ret = pp;
	return 0;
}

uint8_t *pagepipe_buf(struct pagepipe *pp)
{
	struct slot *s = &pp->slot[pp->next_fill];

	pthread_mutex_lock(&pp->lock);
	while (s->full)
		pthread_cond_wait(&pp->cv, &pp->lock);
	pthread_mutex_unlock(&pp->lock);
	return s->data;
}

int pagepipe_submit(struct pagepipe *pp, const void *head, size_t head_len, size_t data_len,
		    struct err *err)
{
	struct slot *s = &pp->slot[pp->next_fill];
	size_t pad;

	if (head_len > MAX_HEAD || data_len > pp->bufsize)
		return err_set(err, -E2BIG, "internal: page record too large");
	memcpy(s->head, head, head_len);
	s->head_len = head_len;
	s->len = data_len;
	/* The CRC here, in the filling thread: the writer only writes. */
	s->crc = img_pages_crc(pp->off, head, head_len, s->data, data_len);
	pad = img_pages_pad(pp->off, head_len);
	pp->off += IMG_REC_HDR_LEN + head_len + pad + data_len;
	if (!pp->threaded) {
		int rc = img_write_pages_crc(pp->w, s->head, head_len, s->data, data_len, s->crc,
					     err);

		return rc;
	}
	pthread_mutex_lock(&pp->lock);
	s->full = true;
	pp->next_fill = (pp->next_fill + 1) % pp->n;
	pthread_cond_broadcast(&pp->cv);
	if (pp->err.code) {
		struct err e = pp->err;

		pthread_mutex_unlock(&pp->lock);
		return err_set(err, e.code, "%s", e.msg);
	}
	pthread_mutex_unlock(&pp->lock);
	return 0;
}

int pagepipe_finish(struct pagepipe *pp, struct err *err)
{
	int rc = 0;

	if (!pp)
		return 0;
	if (pp->threaded) {
		pthread_mutex_lock(&pp->lock);
		pp->stop = true;
		pthread_cond_broadcast(&pp->cv);
		pthread_mutex_unlock(&pp->lock);
		pthread_join(pp->thr, NULL);
	}
	if (pp->err.code && err)
		rc = err_set(err, pp->err.code, "%s", pp->err.msg);
	for (unsigned int i = 0; i < pp->n; i++)
		if (pp->slot[i].data)
			munmap(pp->slot[i].data, pp->bufsize);
	pthread_mutex_destroy(&pp->lock);
	pthread_cond_destroy(&pp->cv);
	free(pp);
	return rc;
}
