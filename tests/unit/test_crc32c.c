/* Unit tests for common/crc32c.c against the standard check values. */
#include <criterion/criterion.h>
#include <string.h>

#include "crc32c.h"

Test(crc32c, matches_the_standard_check_value)
{
	cr_expect_eq(gfs_crc32c(0, "123456789", 9), 0xe3069283u);
	cr_expect_eq(gfs_crc32c(0, "", 0), 0u);
}

Test(crc32c, chains_across_pieces)
{
	static char buf[200000];
	uint32_t whole, parts;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 3);
	whole = gfs_crc32c(0, buf, sizeof(buf));
	parts = gfs_crc32c(0, buf, 1);
	parts = gfs_crc32c(parts, buf + 1, 65535);
	parts = gfs_crc32c(parts, buf + 65536, sizeof(buf) - 65536);
	cr_expect_eq(whole, parts);
}

Test(crc32c, detects_a_flipped_bit)
{
	char a[4096] = { 0 };
	uint32_t before = gfs_crc32c(0, a, sizeof(a));

	a[1234] ^= 0x10;
	cr_expect_neq(gfs_crc32c(0, a, sizeof(a)), before);
}
