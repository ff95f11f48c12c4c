/*
 * Unit tests for common/window.c: bytes kept in blocks from a shared
 * budget, the first block of a window always granted, bytes given back
 * in order from any offset.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "window.h"

#define B GFS_WINDOW_BLOCK

static char *pattern(size_t n, unsigned seed)
{
	char *p = malloc(n);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)(i * 131 + seed);
	return p;
}

/* Collects what gfs_window_each() hands over. */
struct sink {
	char *buf;
	size_t len;
	unsigned calls;
};

static enum gfs_err collect(void *cls, const char *buf, size_t len)
{
	struct sink *k = cls;

	memcpy(k->buf + k->len, buf, len);
	k->len += len;
	k->calls++;
	return GFS_OK;
}

Test(window, gives_bytes_back_in_order_from_any_offset)
{
	struct gfs_window_pool *p = gfs_window_pool_new(8 * B);
	struct gfs_window w = { 0 };
	size_t n = 3 * B + 1000;
	char *src = pattern(n, 7), *out = malloc(n);
	struct sink k = { out, 0, 0 };

	/* in uneven pieces, across block edges */
	cr_assert_eq(gfs_window_append(p, &w, src, 1000), 1000);
	cr_assert_eq(gfs_window_append(p, &w, src + 1000, B), B);
	cr_assert_eq(gfs_window_append(p, &w, src + 1000 + B, n - 1000 - B),
		     n - 1000 - B);
	cr_expect_eq(w.len, n);
	cr_expect_eq(w.n, 4);
	cr_assert_eq(gfs_window_each(&w, 0, collect, &k), GFS_OK);
	cr_expect_eq(k.len, n);
	cr_expect_eq(memcmp(out, src, n), 0);
	k.len = 0;
	k.calls = 0;
	cr_assert_eq(gfs_window_each(&w, B + 5, collect, &k), GFS_OK);
	cr_expect_eq(k.len, n - B - 5);
	cr_expect_eq(k.calls, 3, "one piece per block");
	cr_expect_eq(memcmp(out, src + B + 5, n - B - 5), 0);
	gfs_window_clear(p, &w);
	cr_expect_eq(w.len, 0);
	cr_expect_eq(gfs_window_pool_used(p), 0);
	free(src);
	free(out);
	gfs_window_pool_free(p);
}

Test(window, stops_at_the_budget_but_grants_every_first_block)
{
	struct gfs_window_pool *p = gfs_window_pool_new(2 * B);
	struct gfs_window a = { 0 }, b = { 0 };
	char *src = pattern(4 * B, 1);

	/* a takes the whole budget and no more: a partial count */
	cr_expect_eq(gfs_window_append(p, &a, src, 3 * B), 2 * B);
	cr_expect_eq(gfs_window_append(p, &a, src, 1), 0);
	/* b still gets its first block, and only that */
	cr_expect_eq(gfs_window_append(p, &b, src, 2 * B), B);
	cr_expect_eq(gfs_window_pool_used(p), 3);
	/* what a gives back is b's to take */
	gfs_window_clear(p, &a);
	cr_expect_eq(gfs_window_append(p, &b, src, B), B);
	cr_expect_eq(gfs_window_pool_used(p), 2);
	gfs_window_clear(p, &b);
	cr_expect_eq(gfs_window_pool_used(p), 0);
	free(src);
	gfs_window_pool_free(p);
}

static enum gfs_err fail_second(void *cls, const char *buf, size_t len)
{
	unsigned *calls = cls;

	(void)buf;
	(void)len;
	return ++*calls == 2 ? GFS_EIO : GFS_OK;
}

Test(window, each_stops_at_the_first_error)
{
	struct gfs_window_pool *p = gfs_window_pool_new(4 * B);
	struct gfs_window w = { 0 };
	char *src = pattern(3 * B, 3);
	unsigned calls = 0;

	cr_assert_eq(gfs_window_append(p, &w, src, 3 * B), 3 * B);
	cr_expect_eq(gfs_window_each(&w, 0, fail_second, &calls), GFS_EIO);
	cr_expect_eq(calls, 2);
	gfs_window_clear(p, &w);
	free(src);
	gfs_window_pool_free(p);
}
