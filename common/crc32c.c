/*
 * crc32c.c - adapt ISA-L's crc32_iscsi() to the usual CRC32C convention.
 *
 * crc32_iscsi() takes and returns the raw register (no final inversion),
 * so the standard value is the complement of its result started from ~0.
 */
#include <limits.h>

#include <isa-l/crc.h>

#include "crc32c.h"

uint32_t gfs_crc32c(uint32_t crc, const void *buf, size_t len)
{
	unsigned char *p = (unsigned char *)buf;
	uint32_t reg = ~crc;

	while (len) {
		int n = len > INT_MAX / 2 ? INT_MAX / 2 : (int)len;

		reg = crc32_iscsi(p, n, reg);
		p += n;
		len -= (size_t)n;
	}
	return ~reg;
}
