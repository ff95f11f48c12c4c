/*
 * Unit tests for chunkserver/blockcrc.c: per-block CRC tables built from
 * pieces of any size, holes, verification.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../chunkserver/blockcrc.h"
#include "crc32c.h"

static void fill(char *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)((i * 31 + seed * 7 + (i >> 9)) & 0xff);
}

Test(blockcrc, zero_block_crc_matches_a_plain_crc)
{
	static char zeros[GFS_BLOCK_SIZE];

	cr_expect_eq(gfs_blockcrc_zero_block(),
		     gfs_crc32c(0, zeros, sizeof(zeros)));
}

Test(blockcrc, feeding_in_pieces_equals_whole_blocks)
{
	static char buf[3 * GFS_BLOCK_SIZE + 100];
	uint32_t crcs[8], want[4];
	struct gfs_blockcrc b;

	fill(buf, sizeof(buf), 22);
	for (int i = 0; i < 4; i++)
		want[i] = gfs_crc32c(0, buf + i * GFS_BLOCK_SIZE,
				     i < 3 ? GFS_BLOCK_SIZE : 100);
	gfs_blockcrc_init(&b, crcs, 0, 0, 0);
	for (size_t at = 0; at < sizeof(buf); at += 1000)
		gfs_blockcrc_feed(&b, buf + at,
				  sizeof(buf) - at < 1000 ? sizeof(buf) - at
							  : 1000);
	gfs_blockcrc_finish(&b);
	cr_expect_eq(b.next, 4);
	cr_expect_arr_eq(crcs, want, sizeof(want));
	cr_expect_eq(gfs_blockcrc_verify(crcs, 0, buf, sizeof(buf)),
		     UINT32_MAX);
	buf[GFS_BLOCK_SIZE + 5] ^= 1;
	cr_expect_eq(gfs_blockcrc_verify(crcs, 0, buf, sizeof(buf)), 1);
}

Test(blockcrc, a_hole_is_the_crc_of_zeros)
{
	static char zeros[2 * GFS_BLOCK_SIZE + 10];
	uint32_t a[4], b[4];
	struct gfs_blockcrc x, y;

	gfs_blockcrc_init(&x, a, 0, 0, 0);
	gfs_blockcrc_feed_zeros(&x, sizeof(zeros));
	gfs_blockcrc_finish(&x);
	gfs_blockcrc_init(&y, b, 0, 0, 0);
	gfs_blockcrc_feed(&y, zeros, sizeof(zeros));
	gfs_blockcrc_finish(&y);
	cr_expect_eq(x.next, 3);
	cr_expect_arr_eq(a, b, 3 * sizeof(uint32_t));
}

Test(blockcrc, starting_mid_block_continues_the_given_crc)
{
	static char buf[GFS_BLOCK_SIZE];
	uint32_t crcs[2];
	struct gfs_blockcrc b;

	fill(buf, sizeof(buf), 3);
	gfs_blockcrc_init(&b, crcs, 0, gfs_crc32c(0, buf, 1000), 1000);
	gfs_blockcrc_feed(&b, buf + 1000, sizeof(buf) - 1000);
	gfs_blockcrc_finish(&b);
	cr_expect_eq(b.next, 1);
	cr_expect_eq(crcs[0], gfs_crc32c(0, buf, sizeof(buf)));
}
