/*
 * Unit tests for the handle pool of common/http.c: a call waits for a
 * handle only until its deadline, and handles held across calls (streams)
 * neither wait nor make calls wait.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <time.h>

#include "http.h"
#include "util.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

Test(http, pool_call_waits_no_longer_than_its_deadline)
{
	struct gfs_http_pool *p = gfs_http_pool_new(2);
	struct gfs_http *a, *b, *c = NULL;
	int64_t t0;

	cr_assert_eq(gfs_http_pool_get(p, 0, &a), GFS_OK);
	cr_assert_eq(gfs_http_pool_get(p, 0, &b), GFS_OK);
	t0 = gfs_mono_ms();
	cr_expect_eq(gfs_http_pool_get(p, 300, &c), GFS_ETIMEDOUT);
	cr_expect_null(c);
	cr_expect_geq(gfs_mono_ms() - t0, 290);
	cr_expect_lt(gfs_mono_ms() - t0, 5000);
	gfs_http_pool_put(p, a);
	cr_expect_eq(gfs_http_pool_get(p, 0, &c), GFS_OK);
	cr_expect_eq(c, a, "the handle just given back is lent first");
	gfs_http_pool_put(p, b);
	gfs_http_pool_put(p, c);
	gfs_http_pool_free(p);
}

/* A writer holds its streams and then asks for a call: it never waits
 * for its own streams, however many there are. */
Test(http, pool_streams_held_do_not_make_calls_wait)
{
	struct gfs_http_pool *p = gfs_http_pool_new(1);
	struct gfs_http *held[3], *h = NULL;
	unsigned i;

	for (i = 0; i < 3; i++)
		held[i] = gfs_http_pool_hold(p);
	/* with the one call handle free, nothing to wait for */
	cr_expect_eq(gfs_http_pool_get(p, 0, &h), GFS_OK);
	gfs_http_pool_put(p, h);
	for (i = 0; i < 3; i++)
		gfs_http_pool_put(p, held[i]);
	gfs_http_pool_free(p);
}

struct giver {
	struct gfs_http_pool *p;
	struct gfs_http *h;
};

static void *give_back_later(void *arg)
{
	struct giver *g = arg;

	sleep_ms(100);
	gfs_http_pool_put(g->p, g->h);
	return NULL;
}

Test(http, pool_call_gets_a_handle_given_back_while_it_waits)
{
	struct giver g = { gfs_http_pool_new(1), NULL };
	struct gfs_http *h = NULL;
	pthread_t t;
	int64_t t0;

	cr_assert_eq(gfs_http_pool_get(g.p, 0, &g.h), GFS_OK);
	t0 = gfs_mono_ms();
	cr_assert_eq(pthread_create(&t, NULL, give_back_later, &g), 0);
	cr_expect_eq(gfs_http_pool_get(g.p, 10000, &h), GFS_OK);
	cr_expect_lt(gfs_mono_ms() - t0, 5000);
	cr_expect_eq(h, g.h);
	pthread_join(t, NULL);
	gfs_http_pool_put(g.p, h);
	gfs_http_pool_free(g.p);
}
