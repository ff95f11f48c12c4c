/*
 * Unit tests for master/etcd.c against a real etcd (etcd_fixture.h):
 * reads, compare-and-swap transactions, leases, several endpoints and
 * the deadline of every call.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "etcd_fixture.h"

static struct etcd_proc etcd;

static void setup(void)
{
	etcd_start(&etcd);
}

static void teardown(void)
{
	etcd_stop(&etcd);
}

TestSuite(etcd, .init = setup, .fini = teardown, .timeout = 60);

static struct gfs_etcd *client(void)
{
	struct gfs_etcd *e = gfs_etcd_new(etcd.url, 2000);

	cr_assert_not_null(e);
	return e;
}

static bool put_if_absent(struct gfs_etcd *e, const char *key,
			  const char *value, int64_t lease, int64_t *rev)
{
	struct gfs_etcd_cmp c = { key, GFS_ETCD_CREATE, 0 };
	struct gfs_etcd_put p = { key, value, lease };
	bool ok = false;

	cr_assert_eq(gfs_etcd_txn(e, &c, 1, &p, 1, &ok, rev), GFS_OK);
	return ok;
}

Test(etcd, reads_an_absent_key_as_empty)
{
	struct gfs_etcd *e = client();
	struct gfs_etcd_kv kv;
	int64_t rev = 0;

	cr_assert_eq(gfs_etcd_get(e, "/gfs/t/none", &kv, &rev), GFS_OK);
	cr_expect_null(kv.value);
	cr_expect_eq(kv.create_rev, 0);
	cr_expect_gt(rev, 0);
	gfs_etcd_free(e);
}

Test(etcd, creates_a_key_only_when_absent)
{
	struct gfs_etcd *e = client();
	struct gfs_etcd_kv kv;
	int64_t rev = 0, rev2 = 0;

	cr_assert(put_if_absent(e, "/gfs/t/leader", "first", 0, &rev));
	cr_assert_not(put_if_absent(e, "/gfs/t/leader", "second", 0, &rev2));
	cr_assert_eq(gfs_etcd_get(e, "/gfs/t/leader", &kv, NULL), GFS_OK);
	cr_expect_str_eq(kv.value, "first");
	/* the create revision is the revision of the transaction */
	cr_expect_eq(kv.create_rev, rev);
	cr_expect_eq(kv.mod_rev, rev);
	gfs_etcd_kv_clear(&kv);
	gfs_etcd_free(e);
}

Test(etcd, a_swap_holds_only_at_the_revision_read)
{
	struct gfs_etcd *e = client();
	struct gfs_etcd_kv kv;
	int64_t rev = 0;
	bool ok;
	struct gfs_etcd_cmp c = { "/gfs/t/isr", GFS_ETCD_MOD, 0 };
	struct gfs_etcd_put p = { "/gfs/t/isr", "two", 0 };

	cr_assert(put_if_absent(e, "/gfs/t/isr", "one", 0, &rev));
	c.rev = rev;
	cr_assert_eq(gfs_etcd_txn(e, &c, 1, &p, 1, &ok, NULL), GFS_OK);
	cr_assert(ok);
	/* the same compare again: the key moved on */
	p.value = "three";
	cr_assert_eq(gfs_etcd_txn(e, &c, 1, &p, 1, &ok, NULL), GFS_OK);
	cr_assert_not(ok);
	cr_assert_eq(gfs_etcd_get(e, "/gfs/t/isr", &kv, NULL), GFS_OK);
	cr_expect_str_eq(kv.value, "two");
	gfs_etcd_kv_clear(&kv);
	gfs_etcd_free(e);
}

Test(etcd, values_of_every_length_round_trip)
{
	struct gfs_etcd *e = client();
	const char *vals[] = { "", "a", "ab", "abc", "abcd", "{\"x\": [1]}" };
	struct gfs_etcd_put p = { "/gfs/t/v", NULL, 0 };
	struct gfs_etcd_kv kv;
	bool ok;

	for (size_t i = 0; i < GFS_ARRAY_SIZE(vals); i++) {
		p.value = vals[i];
		cr_assert_eq(gfs_etcd_txn(e, NULL, 0, &p, 1, &ok, NULL), GFS_OK);
		cr_assert(ok);
		cr_assert_eq(gfs_etcd_get(e, "/gfs/t/v", &kv, NULL), GFS_OK);
		cr_expect_str_eq(kv.value, vals[i]);
		cr_expect_eq(kv.len, strlen(vals[i]));
		gfs_etcd_kv_clear(&kv);
	}
	gfs_etcd_free(e);
}

Test(etcd, a_lease_keeps_its_key_until_it_expires)
{
	struct gfs_etcd *e = client();
	struct gfs_etcd_kv kv = { 0 };
	int64_t id = 0, ttl = 0, t0;

	cr_assert_eq(gfs_etcd_grant(e, 1, &id, &ttl), GFS_OK);
	cr_expect_eq(ttl, 1);
	cr_assert(put_if_absent(e, "/gfs/t/leased", "x", id, NULL));
	/* kept alive past its TTL */
	for (int i = 0; i < 6; i++) {
		usleep(300 * 1000);
		cr_assert_eq(gfs_etcd_keepalive(e, id, &ttl), GFS_OK);
		cr_expect_eq(ttl, 1);
	}
	cr_assert_eq(gfs_etcd_get(e, "/gfs/t/leased", &kv, NULL), GFS_OK);
	cr_expect_eq(kv.lease, id);
	gfs_etcd_kv_clear(&kv);
	/* left alone, it expires and takes the key with it */
	t0 = gfs_mono_ms();
	do {
		gfs_etcd_kv_clear(&kv);
		usleep(100 * 1000);
		cr_assert_eq(gfs_etcd_get(e, "/gfs/t/leased", &kv, NULL),
			     GFS_OK);
	} while (kv.value && gfs_mono_ms() - t0 < 5000);
	cr_expect_null(kv.value, "the key outlived its lease");
	cr_expect_eq(gfs_etcd_keepalive(e, id, &ttl), GFS_ENOENT);
	gfs_etcd_free(e);
}

Test(etcd, revoking_a_lease_deletes_its_keys)
{
	struct gfs_etcd *e = client();
	struct gfs_etcd_kv kv;
	int64_t id = 0, ttl = 0;

	cr_assert_eq(gfs_etcd_grant(e, 30, &id, &ttl), GFS_OK);
	cr_assert(put_if_absent(e, "/gfs/t/r", "x", id, NULL));
	cr_assert_eq(gfs_etcd_revoke(e, id), GFS_OK);
	cr_assert_eq(gfs_etcd_get(e, "/gfs/t/r", &kv, NULL), GFS_OK);
	cr_expect_null(kv.value);
	cr_expect_eq(gfs_etcd_keepalive(e, id, &ttl), GFS_ENOENT);
	/* a second revoke of what is gone is fine */
	cr_expect_eq(gfs_etcd_revoke(e, id), GFS_OK);
	gfs_etcd_free(e);
}

Test(etcd, tries_the_next_endpoint_when_one_is_down)
{
	char urls[160];
	struct gfs_etcd *e;
	struct gfs_etcd_kv kv;

	snprintf(urls, sizeof(urls), "http://127.0.0.1:%u,%s",
		 etcd_free_port(), etcd.url);
	e = gfs_etcd_new(urls, 2000);
	cr_assert_not_null(e);
	cr_assert_eq(gfs_etcd_get(e, "/gfs/t/x", &kv, NULL), GFS_OK);
	cr_expect_str_eq(gfs_etcd_endpoint(e), etcd.url,
			 "the one that answered is used next");
	gfs_etcd_free(e);
}

/* A listener that accepts connections and never answers. */
static int mute_listener(unsigned *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
		  !listen(fd, 16) &&
		  !getsockname(fd, (struct sockaddr *)&a, &len));
	*port = ntohs(a.sin_port);
	return fd;
}

Test(etcd, every_call_ends_by_its_deadline)
{
	unsigned port;
	int fd = mute_listener(&port);
	char urls[160];
	struct gfs_etcd *e;
	struct gfs_etcd_kv kv;
	int64_t t0, id, ttl;

	/* a member that hangs, then the real one: the call still gets there */
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%u,%s", port, etcd.url);
	e = gfs_etcd_new(urls, 1000);
	t0 = gfs_mono_ms();
	cr_assert_eq(gfs_etcd_get(e, "/gfs/t/x", &kv, NULL), GFS_OK);
	cr_expect_lt(gfs_mono_ms() - t0, 1500);
	gfs_etcd_free(e);
	/* only hanging members: unavailable, on time */
	snprintf(urls, sizeof(urls), "http://127.0.0.1:%u", port);
	e = gfs_etcd_new(urls, 400);
	t0 = gfs_mono_ms();
	cr_expect_eq(gfs_etcd_grant(e, 5, &id, &ttl), GFS_EUNAVAIL);
	cr_expect_lt(gfs_mono_ms() - t0, 900);
	gfs_etcd_free(e);
	close(fd);
}

Test(etcd, refuses_a_bad_endpoint_list)
{
	cr_expect_null(gfs_etcd_new("", 1000));
	cr_expect_null(gfs_etcd_new("localhost:2379", 1000));
	cr_expect_null(gfs_etcd_new("http://a b", 1000));
}
