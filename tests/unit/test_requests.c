/*
 * Unit tests for master/requests.c: the table of recent request ids.
 */
#include <criterion/criterion.h>

#include "../../master/requests.h"

static struct gfs_request_id id(uint64_t n)
{
	struct gfs_request_id r = { n * 7919, n };

	return r;
}

Test(requests, finds_what_was_added_and_nothing_else)
{
	struct gfs_requests r;
	struct gfs_request_id a = id(1), b = id(2);
	const struct gfs_request *e;

	gfs_requests_init(&r, 10, 1000);
	gfs_requests_add(&r, &a, 100, 42);
	e = gfs_requests_find(&r, &a, 150);
	cr_assert_not_null(e);
	cr_expect_eq(e->seq, 42);
	cr_expect_null(gfs_requests_find(&r, &b, 150));
	/* the same id again keeps the first record */
	gfs_requests_add(&r, &a, 120, 43);
	cr_expect_eq(gfs_requests_find(&r, &a, 150)->seq, 42);
	cr_expect_eq(r.n, 1);
	gfs_requests_free(&r);
}

Test(requests, forgets_after_the_ttl)
{
	struct gfs_requests r;
	struct gfs_request_id a = id(1), b = id(2);

	gfs_requests_init(&r, 10, 1000);
	gfs_requests_add(&r, &a, 100, 0);
	cr_expect_not_null(gfs_requests_find(&r, &a, 1099));
	cr_expect_null(gfs_requests_find(&r, &a, 1100));
	/* a later add drops it from memory too */
	gfs_requests_add(&r, &b, 1100, 0);
	cr_expect_eq(r.n, 1);
	cr_expect_not_null(gfs_requests_find(&r, &b, 1100));
	gfs_requests_free(&r);
}

Test(requests, keeps_at_most_max_dropping_the_oldest)
{
	struct gfs_requests r;
	struct gfs_request_id k;
	uint64_t i;

	gfs_requests_init(&r, 100, 1 << 30);
	for (i = 1; i <= 250; i++) {
		k = id(i);
		gfs_requests_add(&r, &k, (int64_t)i, i);
	}
	cr_expect_eq(r.n, 100);
	k = id(150);
	cr_expect_null(gfs_requests_find(&r, &k, 300));
	for (i = 151; i <= 250; i++) {
		k = id(i);
		cr_assert_not_null(gfs_requests_find(&r, &k, 300), "%lu",
				   (unsigned long)i);
	}
	gfs_requests_free(&r);
}

static void count_cb(void *cls, const struct gfs_request *req)
{
	int64_t *last = cls;

	cr_expect_gt(req->time_ms, *last, "oldest first");
	*last = req->time_ms;
}

Test(requests, lists_the_live_ones_oldest_first)
{
	struct gfs_requests r;
	struct gfs_request_id k;
	int64_t last = 0;
	uint64_t i;

	gfs_requests_init(&r, 1000, 500);
	for (i = 1; i <= 300; i++) {
		k = id(i);
		gfs_requests_add(&r, &k, (int64_t)i * 10, 0);
	}
	gfs_requests_each(&r, 3000, count_cb, &last);
	cr_expect_eq(last, 3000);
	gfs_requests_free(&r);
}

Test(requests, parses_32_lowercase_hex_digits)
{
	struct gfs_request_id k;

	cr_assert(gfs_request_id_parse("0123456789abcdef00000000000000ff", &k));
	cr_expect_eq(k.hi, 0x0123456789abcdefull);
	cr_expect_eq(k.lo, 0xffull);
	cr_expect_not(gfs_request_id_parse("0123456789ABCDEF00000000000000ff", &k));
	cr_expect_not(gfs_request_id_parse("0123456789abcdef00000000000000f", &k));
	cr_expect_not(gfs_request_id_parse("0123456789abcdef00000000000000fff", &k));
	cr_expect_not(gfs_request_id_parse("0123456789abcdef0000000000000 ff", &k));
	cr_expect_not(gfs_request_id_parse("", &k));
}
