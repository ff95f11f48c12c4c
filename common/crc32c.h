/*
 * crc32c.h - CRC32C (Castagnoli), the checksum of every 64 KiB chunk block.
 *
 * Backed by ISA-L's crc32_iscsi(), which picks the fastest of SSE4.2 and
 * PCLMULQDQ folding at run time (several GB/s per core), instead of a
 * hand-written loop.
 */
#ifndef GFS_CRC32C_H
#define GFS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C of buf[0..len) continuing from crc, the CRC32C of what came
 * before (0 for nothing): gfs_crc32c(gfs_crc32c(0, a), b) == CRC(a || b).
 * gfs_crc32c(0, "123456789", 9) == 0xe3069283. */
uint32_t gfs_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
