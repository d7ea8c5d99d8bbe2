/* ranges.h: address ranges, and finding room among them. */
#ifndef CREST_RANGES_H
#define CREST_RANGES_H

#include <stddef.h>
#include <stdint.h>

struct range {
	uint64_t start, end;
};

struct ranges {
	struct range *r;
	size_t n, cap;
};

void ranges_init(struct ranges *rs);
void ranges_fini(struct ranges *rs);
int ranges_add(struct ranges *rs, uint64_t start, uint64_t end);
/* Add every mapping listed in a /proc/PID/maps file. */
int ranges_add_maps(struct ranges *rs, const char *maps_path);
/* The lowest address >= from, aligned to align (a power of two), where len bytes fit
 * with guard bytes free on each side and end at or below limit; 0 if none. */
uint64_t ranges_find_gap(const struct ranges *rs, uint64_t len, uint64_t guard, uint64_t align,
			 uint64_t from, uint64_t limit);

#endif
