/* crc32c.c: CRC-32C through ISA-L's crc32_iscsi, which takes the raw register. */
#include "crc32c.h"

#include <isa-l/crc.h>
#include <limits.h>

uint32_t crc32c(uint32_t crc, const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned int r = ~crc;

	/* crc32_iscsi takes an int length. */
	while (n > 0) {
		int chunk = n > (size_t)INT_MAX / 2 ? INT_MAX / 2 : (int)n;

		r = crc32_iscsi((unsigned char *)s, chunk, r);
		s += chunk;
		n -= (size_t)chunk;
	}
	return ~r;
}
