/* Unit tests for common/range.c: the Range header against a size, as
 * RFC 9110 section 14 reads it and docs/PROTOCOL.md "Ranges" chose. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "range.h"

/* "206 a-b", "200" or "416" for header h against size. */
static const char *rd(const char *h, uint64_t size)
{
	static char out[64];
	uint64_t a = 77, b = 77;

	switch (gfs_range_parse(h, size, &a, &b)) {
	case GFS_RANGE_OK:
		snprintf(out, sizeof(out), "206 %llu-%llu",
			 (unsigned long long)a, (unsigned long long)b);
		return out;
	case GFS_RANGE_NONE:
		cr_expect(a == 77 && b == 77, "200 wrote a range");
		return "200";
	case GFS_RANGE_BAD:
		cr_expect(a == 77 && b == 77, "416 wrote a range");
		return "416";
	}
	return "?";
}

Test(range, one_range_of_each_form)
{
	cr_expect_str_eq(rd("bytes=0-9", 100), "206 0-9");
	cr_expect_str_eq(rd("bytes=10-", 100), "206 10-99");
	cr_expect_str_eq(rd("bytes=-10", 100), "206 90-99");
	cr_expect_str_eq(rd("bytes=99-99", 100), "206 99-99");
}

Test(range, ends_are_clipped_to_the_size)
{
	cr_expect_str_eq(rd("bytes=50-1000", 100), "206 50-99");
	cr_expect_str_eq(rd("bytes=-1000", 100), "206 0-99");
	cr_expect_str_eq(rd("bytes=0-99999999999999999999999", 100), "206 0-99");
}

Test(range, unsatisfiable_ranges_are_416)
{
	cr_expect_str_eq(rd("bytes=100-", 100), "416");
	cr_expect_str_eq(rd("bytes=100-200", 100), "416");
	cr_expect_str_eq(rd("bytes=-0", 100), "416");
	cr_expect_str_eq(rd("bytes=99999999999999999999999-", 100), "416");
	cr_expect_str_eq(rd("bytes=0-", 0), "416");
	cr_expect_str_eq(rd("bytes=200-300, 400-", 100), "416");
}

Test(range, a_suffix_of_an_empty_body_sends_it_whole)
{
	cr_expect_str_eq(rd("bytes=-5", 0), "200");
	cr_expect_str_eq(rd("bytes=-0", 0), "416");
}

Test(range, absent_invalid_or_foreign_headers_are_ignored)
{
	cr_expect_str_eq(rd(NULL, 100), "200");
	cr_expect_str_eq(rd("", 100), "200");
	cr_expect_str_eq(rd("bytes=", 100), "200");
	cr_expect_str_eq(rd("bytes=,", 100), "200");
	cr_expect_str_eq(rd("bytes=5-3", 100), "200");
	cr_expect_str_eq(rd("bytes=-", 100), "200");
	cr_expect_str_eq(rd("bytes=a-b", 100), "200");
	cr_expect_str_eq(rd("bytes=1-2-3", 100), "200");
	cr_expect_str_eq(rd("bytes=0-1,x", 100), "200");
	cr_expect_str_eq(rd("bytes=+1-2", 100), "200");
	cr_expect_str_eq(rd("items=0-1", 100), "200");
	cr_expect_str_eq(rd("bytes 0-1", 100), "200");
	/* an invalid element spoils even an unsatisfiable set */
	cr_expect_str_eq(rd("bytes=500-, 9-1", 100), "200");
}

Test(range, unit_is_case_insensitive_and_lists_take_spaces)
{
	cr_expect_str_eq(rd("Bytes=1-2", 100), "206 1-2");
	cr_expect_str_eq(rd("BYTES=1-2", 100), "206 1-2");
	cr_expect_str_eq(rd("bytes= 1-2 ,\t", 100), "206 1-2");
	cr_expect_str_eq(rd("bytes=,,1-2,,", 100), "206 1-2");
}

Test(range, several_ranges)
{
	/* several satisfiable: no multipart, the whole body */
	cr_expect_str_eq(rd("bytes=0-1,5-6", 100), "200");
	cr_expect_str_eq(rd("bytes=0-1, -5", 100), "200");
	/* only one satisfiable: that one */
	cr_expect_str_eq(rd("bytes=500-600, 5-6", 100), "206 5-6");
	cr_expect_str_eq(rd("bytes=-0, 7-", 100), "206 7-99");
}

Test(range, content_range_values)
{
	char buf[GFS_RANGE_HDR_MAX];

	gfs_range_content_range(buf, GFS_RANGE_OK, 5, 9, 100);
	cr_expect_str_eq(buf, "bytes 5-9/100");
	gfs_range_content_range(buf, GFS_RANGE_BAD, 0, 0, 100);
	cr_expect_str_eq(buf, "bytes */100");
	gfs_range_content_range(buf, GFS_RANGE_OK, UINT64_MAX - 1,
				UINT64_MAX - 1, UINT64_MAX);
	cr_expect_str_eq(buf, "bytes 18446744073709551614-18446744073709551614"
			      "/18446744073709551615");
}
