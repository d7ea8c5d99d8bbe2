/* crc32c.h: CRC-32C (Castagnoli), from ISA-L. */
#ifndef CREST_CRC32C_H
#define CREST_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#define CRC32C_INIT 0u

/* Continue a CRC-32C over p[0..n): crc32c(crc32c(0, a), b) == crc32c(0, a||b). */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
