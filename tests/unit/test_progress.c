/* Tests of cli/progress.c: the text of the progress bar. */
#include <criterion/criterion.h>

#include "../../cli/progress.h"

Test(progress, shows_bytes_rate_and_eta)
{
	char buf[160];

	/* 10 MiB of 40 MiB in 2 s: 5 MiB/s, 30 MiB left: 6 s */
	gfs_progress_format(buf, sizeof(buf), 10u << 20, 40u << 20, 2000);
	cr_expect_str_eq(buf, "10.0 MiB / 40.0 MiB   25%  5.0 MiB/s  ETA 0:06");
}

Test(progress, unknown_size_shows_bytes_and_rate)
{
	char buf[160];

	gfs_progress_format(buf, sizeof(buf), 1536, 0, 1000);
	cr_expect_str_eq(buf, "1.5 KiB  1.5 KiB/s");
}

Test(progress, done_is_a_hundred_percent)
{
	char buf[160];

	gfs_progress_format(buf, sizeof(buf), 3u << 20, 3u << 20, 0);
	cr_expect_str_eq(buf, "3.0 MiB / 3.0 MiB  100%  0 B/s  ETA 0:00");
}
