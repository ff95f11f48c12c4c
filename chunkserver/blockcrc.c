/*
 * blockcrc.c - build and check per-block CRC32C tables (see blockcrc.h).
 *
 * Cost: one pass of ISA-L CRC32C over the bytes fed, several GB/s; holes
 * cost nothing per whole block.  No allocation.
 */
#include <stdbool.h>
#include <string.h>

#include "blockcrc.h"
#include "crc32c.h"
#include "util.h"

/* A page of zeros to feed partial holes from. */
static const char zeros[4096];

void gfs_blockcrc_init(struct gfs_blockcrc *b, uint32_t *crcs,
		       uint32_t block, uint32_t crc, uint32_t fill)
{
	b->crcs = crcs;
	b->next = block;
	b->crc = crc;
	b->fill = fill;
}

/* The current block is complete: store it, start the next one. */
static void close_block(struct gfs_blockcrc *b)
{
	b->crcs[b->next++] = b->crc;
	b->crc = 0;
	b->fill = 0;
}

void gfs_blockcrc_feed(struct gfs_blockcrc *b, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		size_t n = GFS_MIN(len, (size_t)(GFS_BLOCK_SIZE - b->fill));

		b->crc = gfs_crc32c(b->crc, p, n);
		b->fill += (uint32_t)n;
		p += n;
		len -= n;
		if (b->fill == GFS_BLOCK_SIZE)
			close_block(b);
	}
}

uint32_t gfs_blockcrc_zero_block(void)
{
	uint32_t crc = 0;
	size_t i;

	/* 16 calls on a 4 KiB page: cheap enough not to cache. */
	for (i = 0; i < GFS_BLOCK_SIZE / sizeof(zeros); i++)
		crc = gfs_crc32c(crc, zeros, sizeof(zeros));
	return crc;
}

void gfs_blockcrc_feed_zeros(struct gfs_blockcrc *b, uint64_t len)
{
	uint32_t whole = 0;
	bool have_whole = false;

	while (len) {
		size_t n;

		if (b->fill == 0 && len >= GFS_BLOCK_SIZE) {
			if (!have_whole) {
				whole = gfs_blockcrc_zero_block();
				have_whole = true;
			}
			b->crc = whole;
			close_block(b);
			len -= GFS_BLOCK_SIZE;
			continue;
		}
		n = (size_t)GFS_MIN(len, (uint64_t)sizeof(zeros));
		n = GFS_MIN(n, (size_t)(GFS_BLOCK_SIZE - b->fill));
		gfs_blockcrc_feed(b, zeros, n);
		len -= n;
	}
}

void gfs_blockcrc_finish(struct gfs_blockcrc *b)
{
	if (b->fill)
		close_block(b);
}

uint32_t gfs_blockcrc_verify(const uint32_t *crcs, uint32_t first,
			     const char *buf, size_t len)
{
	uint32_t i = 0;

	while (len) {
		size_t n = GFS_MIN(len, (size_t)GFS_BLOCK_SIZE);

		if (gfs_crc32c(0, buf, n) != crcs[first + i])
			return first + i;
		buf += n;
		len -= n;
		i++;
	}
	return UINT32_MAX;
}
