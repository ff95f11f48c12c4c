/*
 * blockcrc.h - the CRC32C table of a chunk, built as its bytes stream by.
 *
 * A chunk is cut into GFS_BLOCK_SIZE (64 KiB) blocks; block i covers bytes
 * [i*64K, min((i+1)*64K, length)), so the last block may be short and its
 * CRC covers only the bytes the chunk has.  A struct gfs_blockcrc is fed a
 * run of consecutive bytes (data, or zeros for a hole) starting anywhere in
 * a block, and fills crcs[] one finished block at a time.  It may start in
 * the middle of a block when given the CRC of that block's first bytes
 * (which is exactly a stored CRC when the old chunk ended there).
 *
 * Not for: reading or verifying files (chunkstore.c does that).
 *
 * Invariant: after gfs_blockcrc_finish(), crcs[first .. next) are set, and
 * next == the index one past the last block touched.
 */
#ifndef GFS_CS_BLOCKCRC_H
#define GFS_CS_BLOCKCRC_H

#include <stddef.h>
#include <stdint.h>

#include "constants.h"

/* Blocks needed for len bytes. */
#define GFS_NBLOCKS(len) \
	((uint32_t)(((uint64_t)(len) + GFS_BLOCK_SIZE - 1) / GFS_BLOCK_SIZE))
/* Largest block table: a chunk of GFS_MAX_CHUNK_SIZE. */
#define GFS_MAX_BLOCKS GFS_NBLOCKS(GFS_MAX_CHUNK_SIZE)

struct gfs_blockcrc {
	uint32_t *crcs;   /* the table being filled, borrowed, room for
			   * GFS_MAX_BLOCKS entries */
	uint32_t next;    /* index of the block being built */
	uint32_t crc;     /* CRC of its first fill bytes */
	uint32_t fill;    /* bytes of it seen, < GFS_BLOCK_SIZE */
};

/* Start at block `block`, whose first `fill` bytes have CRC `crc` (0, 0
 * at a block boundary).  crcs is borrowed until the last call. */
void gfs_blockcrc_init(struct gfs_blockcrc *b, uint32_t *crcs,
		       uint32_t block, uint32_t crc, uint32_t fill);
/* Feed the next len bytes. */
void gfs_blockcrc_feed(struct gfs_blockcrc *b, const void *buf, size_t len);
/* Feed len zero bytes (a hole); whole zero blocks cost O(1). */
void gfs_blockcrc_feed_zeros(struct gfs_blockcrc *b, uint64_t len);
/* Store the partly filled last block, if any.  Feeding after this is a
 * bug. */
void gfs_blockcrc_finish(struct gfs_blockcrc *b);

/* CRC32C of one whole block of zeros. */
uint32_t gfs_blockcrc_zero_block(void);

/* Check buf[0..len), the bytes of blocks first.., against crcs[first..]:
 * the index of the first bad block, or UINT32_MAX when all match.  len
 * may end in a short last block. */
uint32_t gfs_blockcrc_verify(const uint32_t *crcs, uint32_t first,
			     const char *buf, size_t len);

#endif
