/* ranges.c: finding room in an address space. */
#include "ranges.h"

#include "buf.h"
#include "procfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/banned.h"

void ranges_init(struct ranges *rs)
{
	memset(rs, 0, sizeof(*rs));
}

void ranges_fini(struct ranges *rs)
{
	free(rs->r);
	ranges_init(rs);
}

int ranges_add(struct ranges *rs, uint64_t start, uint64_t end)
{
	if (rs->n == rs->cap) {
		size_t ncap = rs->cap ? rs->cap * 2 : 64;
		struct range *n = realloc(rs->r, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		rs->r = n;
		rs->cap = ncap;
	}
	rs->r[rs->n++] = (struct range){start, end};
	return 0;
}

int ranges_add_maps(struct ranges *rs, const char *maps_path)
{
	struct buf b;
	char *line, *next;
	int rc;

	buf_init(&b);
	rc = buf_read_file(&b, maps_path);
	for (line = (char *)b.data; rc == 0 && line && *line; line = next) {
		struct maps_line ml;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (procfs_parse_maps_line(line, &ml) == 0)
			rc = ranges_add(rs, ml.start, ml.end);
	}
	buf_fini(&b);
	return rc;
}

/* The arithmetic saturates: ranges reach the top of the address space ([vsyscall]),
 * and a sum that wrapped around would look like a free low address. */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t align_up_sat(uint64_t v, uint64_t align)
{
	if (align <= 1)
		return v;
	if (v > UINT64_MAX - (align - 1))
		return UINT64_MAX;
	return (v + align - 1) & ~(align - 1);
}

uint64_t ranges_find_gap(const struct ranges *rs, uint64_t len, uint64_t guard, uint64_t align,
			 uint64_t from, uint64_t limit)
{
	uint64_t cand = align_up_sat(from, align);

	/* Each pass moves past one conflict; a conflict never comes back below cand. */
	for (size_t pass = 0; pass <= rs->n; pass++) {
		int moved = 0;

		if (cand > limit || len > limit - cand)
			return 0;
		for (size_t i = 0; i < rs->n; i++) {
			const struct range *r = &rs->r[i];

			if (cand < add_sat(r->end, guard) &&
			    r->start < add_sat(add_sat(cand, len), guard)) {
				cand = align_up_sat(add_sat(r->end, guard), align);
				moved = 1;
			}
		}
		if (!moved)
			return cand;
	}
	return 0;
}
