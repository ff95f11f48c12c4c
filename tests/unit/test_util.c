/* Unit tests for common/util.c and common/err.c. */
#include <criterion/criterion.h>
#include <errno.h>

#include "err.h"
#include "util.h"

Test(util, parses_sizes_with_suffixes)
{
	uint64_t v = 0;

	cr_expect(gfs_parse_size("64MiB", &v));
	cr_expect_eq(v, 64ull << 20);
	cr_expect(gfs_parse_size("1M", &v));
	cr_expect_eq(v, 1ull << 20);
	cr_expect(gfs_parse_size("4k", &v));
	cr_expect_eq(v, 4096);
	cr_expect(gfs_parse_size("123", &v));
	cr_expect_eq(v, 123);
	cr_expect_not(gfs_parse_size("12x", &v));
	cr_expect_not(gfs_parse_size("", &v));
	cr_expect_not(gfs_parse_size("-1", &v));
	cr_expect_not(gfs_parse_size("99999999999999999999T", &v));
	cr_expect_not(gfs_parse_size("17179869184T", &v));
}

Test(util, parses_durations)
{
	uint64_t v = 0;

	cr_expect(gfs_parse_duration_ms("10s", &v));
	cr_expect_eq(v, 10000);
	cr_expect(gfs_parse_duration_ms("250ms", &v));
	cr_expect_eq(v, 250);
	cr_expect(gfs_parse_duration_ms("3", &v));
	cr_expect_eq(v, 3000);
	cr_expect_not(gfs_parse_duration_ms("3h", &v));
}

Test(util, parses_seconds_to_the_millisecond)
{
	uint64_t v = 0;

	cr_expect(gfs_parse_duration_ms("0.3", &v));
	cr_expect_eq(v, 300);
	cr_expect(gfs_parse_duration_ms("1.25s", &v));
	cr_expect_eq(v, 1250);
	cr_expect(gfs_parse_duration_ms("2.5", &v));
	cr_expect_eq(v, 2500);
	cr_expect_not(gfs_parse_duration_ms("0.0005", &v), "past the ms");
	cr_expect_not(gfs_parse_duration_ms("1.", &v));
	cr_expect_not(gfs_parse_duration_ms("1.5ms", &v));
}

Test(util, u64_rejects_overflow_and_signs)
{
	uint64_t v = 0;

	cr_expect(gfs_parse_u64("18446744073709551615", &v));
	cr_expect_eq(v, UINT64_MAX);
	cr_expect_not(gfs_parse_u64("18446744073709551616", &v));
	cr_expect_not(gfs_parse_u64("+1", &v));
	cr_expect_not(gfs_parse_u64(" 1", &v));
}

Test(err, maps_every_error_consistently)
{
	for (int e = GFS_EINVAL; e <= GFS_EDISKFULL; e++) {
		unsigned status = gfs_err_http((enum gfs_err)e);

		cr_expect(status >= 400 && status < 600);
		cr_expect_gt(gfs_err_errno((enum gfs_err)e), 0);
		if (e == GFS_EILSEQ) /* shares bad_request with EINVAL */
			continue;
		cr_expect_eq(gfs_err_from_code(gfs_err_code((enum gfs_err)e),
					       status), (enum gfs_err)e);
	}
	cr_expect_eq(gfs_err_from_code(gfs_err_code(GFS_EILSEQ), 400),
		     GFS_EINVAL);
	cr_expect_eq(gfs_err_errno(GFS_EILSEQ), EILSEQ);
	cr_expect_eq(gfs_err_http(GFS_ELEASED), 423);
	cr_expect_eq(gfs_err_errno(GFS_ELEASED), EBUSY);
	cr_expect_eq(gfs_err_http(GFS_ENOTPRIMARY), 421);
	cr_expect_eq(gfs_err_from_code(NULL, 404), GFS_ENOENT);
}

Test(util, deadline_ts_is_normalised_and_ms_ahead)
{
	int64_t ms[] = { 0, 1, 999, 1000, 1999, 123456 };
	size_t i;

	for (i = 0; i < GFS_ARRAY_SIZE(ms); i++) {
		struct timespec now, ts;
		int64_t ahead;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ts = gfs_deadline_ts(CLOCK_MONOTONIC, ms[i]);
		ahead = (ts.tv_sec - now.tv_sec) * 1000000000LL +
			(ts.tv_nsec - now.tv_nsec);
		cr_expect(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L,
			  "tv_nsec %ld for %lld ms", ts.tv_nsec,
			  (long long)ms[i]);
		cr_expect_geq(ahead, ms[i] * 1000000LL);
		cr_expect_lt(ahead, ms[i] * 1000000LL + 1000000000LL);
	}
}

Test(util, hex_round_trips_and_rejects_other_characters)
{
	const uint8_t b[] = { 0x00, 0x7f, 0xa5, 0xff };
	uint8_t back[4] = { 0 };
	char s[9];

	gfs_hex_fmt(b, sizeof(b), s);
	cr_assert_str_eq(s, "007fa5ff");
	cr_assert(gfs_hex_parse(s, 8, back));
	cr_assert_arr_eq(back, b, sizeof(b));
	cr_assert_not(gfs_hex_parse("007FA5FF", 8, back)); /* uppercase */
	cr_assert_not(gfs_hex_parse("007fa5fg", 8, back));
	cr_assert_not(gfs_hex_parse("007f", 8, back)); /* short: the NUL */
}
