/*
 * Unit tests for chunkserver/forward.c against a real common/httpd.c
 * server on loopback: sized and chunked bodies arrive whole, an abort is
 * seen as a broken request (never as a complete body), an early refusal
 * comes back as the reply.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../chunkserver/forward.h"
#include "crc32c.h"
#include "httpd.h"
#include "json.h"
#include "log.h"
#include "util.h"

/* What the server saw; protected by lock. */
static struct {
	pthread_mutex_t lock;
	unsigned begun, ended, done;
	uint64_t bytes;
	uint32_t crc;
} seen = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void up_begin(struct gfs_req *req)
{
	const char *refuse = NULL;

	pthread_mutex_lock(&seen.lock);
	seen.begun++;
	seen.bytes = 0;
	seen.crc = 0;
	pthread_mutex_unlock(&seen.lock);
	gfs_req_arg(req, "refuse", &refuse);
	if (refuse)
		gfs_reply_error(req, GFS_EDISKFULL, "refused");
}

static void up_data(struct gfs_req *req, const char *buf, size_t len)
{
	(void)req;
	pthread_mutex_lock(&seen.lock);
	seen.bytes += len;
	seen.crc = gfs_crc32c(seen.crc, buf, len);
	pthread_mutex_unlock(&seen.lock);
}

static void up_end(struct gfs_req *req)
{
	pthread_mutex_lock(&seen.lock);
	seen.ended++;
	gfs_reply_json(req, 200, json_pack("{s:I, s:I}", "bytes",
					   (json_int_t)seen.bytes, "crc",
					   (json_int_t)seen.crc));
	pthread_mutex_unlock(&seen.lock);
}

static void up_done(struct gfs_req *req)
{
	(void)req;
	pthread_mutex_lock(&seen.lock);
	seen.done++;
	pthread_mutex_unlock(&seen.lock);
}

static const struct gfs_stream_ops ops = {
	.begin = up_begin, .data = up_data, .end = up_end, .done = up_done,
};

static const struct gfs_route routes[] = {
	{ "PUT", "/api/v1/up/*", NULL, NULL, &ops, 0 },
};

static struct gfs_httpd *srv;
static struct gfs_forward_pool *pool;
static char base[64];

static void setup(void)
{
	gfs_log_init("test", GFS_LOG_ERROR);
	srv = gfs_httpd_start("127.0.0.1:0", routes, 1, NULL);
	cr_assert_not_null(srv);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u",
		 gfs_httpd_port(srv));
	pool = gfs_forward_pool_new();
	memset(&seen.begun, 0, sizeof(unsigned) * 3);
}

static void teardown(void)
{
	gfs_forward_pool_free(pool);
	gfs_httpd_stop(srv);
}

TestSuite(forward, .init = setup, .fini = teardown);

static uint32_t push_pattern(struct gfs_forward *f, uint64_t total)
{
	static char buf[250000];
	uint64_t done = 0;
	uint32_t crc = 0;

	while (done < total) {
		size_t n = (size_t)GFS_MIN((uint64_t)sizeof(buf), total - done);

		for (size_t i = 0; i < n; i++)
			buf[i] = (char)((done + i) * 13 + 1);
		crc = gfs_crc32c(crc, buf, n);
		cr_assert_eq(gfs_forward_push(f, buf, n), GFS_OK, "%s",
			     gfs_forward_error(f));
		done += n;
	}
	return crc;
}

static void send_whole(int64_t size, uint64_t total)
{
	struct gfs_forward *f;
	struct gfs_http_reply r;
	uint64_t bytes = 0, crc = 0;
	uint32_t want;
	char msg[160];

	cr_assert_eq(gfs_forward_start(pool, base, "/api/v1/up/x?a=1", NULL,
				       size, &f, msg, sizeof(msg)), GFS_OK,
		     "%s", msg);
	want = push_pattern(f, total);
	cr_assert_eq(gfs_forward_end(f), GFS_OK);
	cr_assert_eq(gfs_forward_finish(f, 5000, &r), GFS_OK, "%s",
		     r.message ? r.message : "");
	cr_expect_eq(r.status, 200);
	gfs_json_u64(r.json, "bytes", true, &bytes);
	gfs_json_u64(r.json, "crc", true, &crc);
	cr_expect_eq(bytes, total);
	cr_expect_eq(crc, want);
	gfs_http_reply_clear(&r);
}

Test(forward, sized_body_arrives_whole)
{
	send_whole(7u << 20, 7u << 20);
}

Test(forward, chunked_body_arrives_whole)
{
	send_whole(-1, 9u << 20);
}

Test(forward, kept_alive_connection_serves_the_next_request)
{
	send_whole(-1, 1000);
	send_whole(1000, 1000);
	send_whole(0, 0);
	cr_expect_eq(seen.ended, 3);
}

static bool done_seen(unsigned n)
{
	int64_t deadline = gfs_mono_ms() + 5000;
	bool ok;

	for (;;) {
		pthread_mutex_lock(&seen.lock);
		ok = seen.done >= n;
		pthread_mutex_unlock(&seen.lock);
		if (ok || gfs_mono_ms() > deadline)
			return ok;
		usleep(2000);
	}
}

static void abort_mid_body(int64_t size)
{
	struct gfs_forward *f;
	char msg[160];

	cr_assert_eq(gfs_forward_start(pool, base, "/api/v1/up/y", NULL, size,
				       &f, msg, sizeof(msg)), GFS_OK);
	push_pattern(f, 3u << 20);
	gfs_forward_abort(f);
	cr_assert(done_seen(1), "the server never saw the request end");
	cr_expect_eq(seen.ended, 0, "an aborted body was taken as complete");
}

Test(forward, abort_of_a_chunked_body_is_a_broken_request)
{
	abort_mid_body(-1);
}

Test(forward, abort_of_a_sized_body_is_a_broken_request)
{
	abort_mid_body(10u << 20);
}

Test(forward, early_refusal_is_the_reply)
{
	struct gfs_forward *f;
	struct gfs_http_reply r;
	static char buf[1 << 20];
	char msg[160];

	cr_assert_eq(gfs_forward_start(pool, base, "/api/v1/up/z?refuse=1",
				       NULL, -1, &f, msg, sizeof(msg)), GFS_OK);
	cr_expect_neq(gfs_forward_push(f, buf, sizeof(buf)), GFS_OK);
	cr_expect_eq(gfs_forward_finish(f, 5000, &r), GFS_EDISKFULL);
	cr_expect_eq(r.status, 507);
	cr_assert_not_null(r.message);
	cr_expect(strstr(r.message, "refused"), "%s", r.message);
	gfs_http_reply_clear(&r);
	cr_expect_eq(seen.ended, 0);
}

Test(forward, refused_connection_is_unavailable)
{
	struct gfs_forward *f;
	char msg[160];

	cr_expect_eq(gfs_forward_start(pool, "http://127.0.0.1:1", "/x", NULL,
				       -1, &f, msg, sizeof(msg)),
		     GFS_EUNAVAIL);
	cr_expect_null(f);
	cr_expect(strstr(msg, "127.0.0.1:1"), "%s", msg);
}

Test(forward, only_http_base_urls_are_accepted)
{
	static const char *const bad[] = {
		"https://127.0.0.1:80", "127.0.0.1:80", "http://", "http://h:",
		"http://h:80/api", "http://[::1", "http://h:99999999",
	};
	struct gfs_forward *f;
	char msg[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_eq(gfs_forward_start(pool, bad[i], "/x", NULL, -1, &f,
					       msg, sizeof(msg)),
			     GFS_EINVAL, "%s", bad[i]);
}
