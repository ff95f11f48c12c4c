/*
 * Unit tests for common/httpd.c and common/http.c, talking to each other
 * over loopback: routing, decoding, JSON errors, streamed bodies both ways.
 */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "http.h"
#include "httpd.h"
#include "json.h"
#include "util.h"

static void echo(struct gfs_req *req)
{
	const char *x = NULL;

	if (gfs_req_arg(req, "x", &x)) {
		gfs_reply_error(req, GFS_EINVAL, "bad x");
		return;
	}
	gfs_reply_json(req, 200, json_pack("{s:s, s:s?}", "path", req->path,
					   "x", x));
}

static void post_json(struct gfs_req *req)
{
	json_t *j = gfs_req_json(req);

	if (j)
		gfs_reply_json(req, 201, j);
}

/* A streamed upload: count bytes and checksum them. */
struct sink {
	uint64_t bytes;
	uint32_t crc;
};

static void up_begin(struct gfs_req *req)
{
	const char *refuse = NULL;

	gfs_req_arg(req, "refuse", &refuse);
	if (refuse) {
		gfs_reply_error(req, GFS_EDISKFULL, "refused");
		return;
	}
	req->ctx = calloc(1, sizeof(struct sink));
}

static void up_data(struct gfs_req *req, const char *buf, size_t len)
{
	struct sink *s = req->ctx;
	uint64_t failat = 0;

	gfs_req_arg_u64(req, "failat", 0, &failat);
	if (failat && s->bytes + len > failat) {
		gfs_reply_error(req, GFS_EIO, "failed at %llu",
				(unsigned long long)s->bytes);
		return;
	}
	s->bytes += len;
	s->crc = gfs_crc32c(s->crc, buf, len);
}

static void up_end(struct gfs_req *req)
{
	struct sink *s = req->ctx;

	gfs_reply_json(req, 200, json_pack("{s:I, s:I}", "bytes",
					   (json_int_t)s->bytes, "crc",
					   (json_int_t)s->crc));
}

static void up_done(struct gfs_req *req)
{
	free(req->ctx);
}

static const struct gfs_stream_ops upload_ops = {
	.begin = up_begin, .data = up_data, .end = up_end, .done = up_done,
};

static ssize_t pattern_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	uint64_t size = (uint64_t)(uintptr_t)cls;

	if (pos >= size)
		return -1;
	if (max > size - pos)
		max = (size_t)(size - pos);
	for (size_t i = 0; i < max; i++)
		buf[i] = (char)((pos + i) % 251);
	return (ssize_t)max;
}

static void big(struct gfs_req *req)
{
	uint64_t n = 0;

	gfs_req_arg_u64(req, "n", 1000, &n);
	gfs_reply_stream(req, 200, "application/octet-stream", n, 65536,
			 pattern_read, (void *)(uintptr_t)n, NULL);
}

static const struct gfs_route routes[] = {
	{ "GET", "/api/v1/echo/*", NULL, echo, NULL, 0 },
	{ "POST", "/api/v1/json", NULL, post_json, NULL, 1024 },
	{ "POST", "/api/v1/bigjson", NULL, post_json, NULL, 16u << 20 },
	{ "PUT", "/api/v1/up/*", NULL, NULL, &upload_ops, 0 },
	{ "GET", "/api/v1/big", NULL, big, NULL, 0 },
};

static struct gfs_httpd *srv;
static struct gfs_http *cli;
static char base[64];

static void setup(void)
{
	gfs_http_global_init();
	srv = gfs_httpd_start("127.0.0.1:0", routes,
			      sizeof(routes) / sizeof(routes[0]), NULL, 0);
	cr_assert_not_null(srv);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u/api/v1",
		 gfs_httpd_port(srv));
	cli = gfs_http_new();
}

static void teardown(void)
{
	gfs_http_free(cli);
	gfs_httpd_stop(srv);
}

TestSuite(httpd, .init = setup, .fini = teardown);

static char *url(const char *rest)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), "%s%s", base, rest);
	return buf;
}

Test(httpd, decodes_path_and_arguments)
{
	struct gfs_http_reply r;
	const char *p = NULL, *x = NULL;

	cr_assert_eq(gfs_http_call(cli, "GET", url("/echo/a%20b/c?x=1%2B2"),
				   NULL, &r), GFS_OK);
	cr_expect_eq(r.status, 200);
	gfs_json_str(r.json, "path", true, &p);
	gfs_json_str(r.json, "x", true, &x);
	cr_expect_str_eq(p, "/a b/c");
	cr_expect_str_eq(x, "1+2");
	gfs_http_reply_clear(&r);
}

Test(httpd, nul_in_path_is_a_json_400)
{
	struct gfs_http_reply r;

	cr_expect_eq(gfs_http_call(cli, "GET", url("/echo/a%00b"), NULL, &r),
		     GFS_EINVAL);
	cr_expect_eq(r.status, 400);
	cr_assert_not_null(r.json);
	cr_expect_str_eq(json_string_value(json_object_get(r.json, "code")),
			 "bad_request");
	gfs_http_reply_clear(&r);
}

Test(httpd, unknown_route_and_wrong_method)
{
	struct gfs_http_reply r;

	cr_expect_eq(gfs_http_call(cli, "GET", url("/nothing"), NULL, &r),
		     GFS_ENOROUTE);
	cr_expect_eq(r.status, 404);
	gfs_http_reply_clear(&r);
	cr_expect_eq(gfs_http_call(cli, "DELETE", url("/echo/x"), NULL, &r),
		     GFS_EMETHOD);
	cr_expect_eq(r.status, 405);
	gfs_http_reply_clear(&r);
}

Test(httpd, json_bodies_are_checked_and_capped)
{
	struct gfs_http_reply r;
	struct gfs_http_opts o = { .body = "{\"a\":1}", .len = 7 };
	static char huge[4096];

	cr_expect_eq(gfs_http_call(cli, "POST", url("/json"), &o, &r), GFS_OK);
	cr_expect_eq(r.status, 201);
	gfs_http_reply_clear(&r);
	o.body = "{\"a\":";
	o.len = 5;
	cr_expect_eq(gfs_http_call(cli, "POST", url("/json"), &o, &r),
		     GFS_EINVAL);
	gfs_http_reply_clear(&r);
	memset(huge, ' ', sizeof(huge));
	o.body = huge;
	o.len = sizeof(huge);
	cr_expect_eq(gfs_http_call(cli, "POST", url("/json"), &o, &r),
		     GFS_ETOOBIG);
	cr_expect_eq(r.status, 413);
	gfs_http_reply_clear(&r);
}

/* A route's own cap holds for its JSON too: a heartbeat of 300,000 chunks
 * (9 MiB) is not refused by the 8 MiB default. */
Test(httpd, json_bodies_up_to_the_route_cap_parse)
{
	struct gfs_http_reply r;
	size_t n = 9u << 20;
	char *body = malloc(n);
	struct gfs_http_opts o = { .body = body, .len = n };

	memset(body, ' ', n);
	memcpy(body, "{\"a\":1}", 7);
	cr_expect_eq(gfs_http_call(cli, "POST", url("/bigjson"), &o, &r),
		     GFS_OK);
	cr_expect_eq(r.status, 201);
	gfs_http_reply_clear(&r);
	free(body);
}

static uint32_t push_pattern(struct gfs_upload *up, uint64_t total,
			     enum gfs_err *first_err)
{
	static char buf[300000];
	uint64_t done = 0;
	uint32_t crc = 0;

	*first_err = GFS_OK;
	while (done < total) {
		size_t n = sizeof(buf);

		if (n > total - done)
			n = (size_t)(total - done);
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)((done + i) * 13);
		crc = gfs_crc32c(crc, buf, n);
		*first_err = gfs_upload_push(up, buf, n);
		if (*first_err)
			break;
		done += n;
	}
	return crc;
}

Test(httpd, streams_an_upload_piece_by_piece)
{
	struct gfs_upload *up;
	struct gfs_http_reply r;
	enum gfs_err err;
	uint64_t total = 20u << 20, bytes = 0, crc = 0;
	uint32_t want;

	cr_assert_eq(gfs_upload_start(&up, cli, "PUT", url("/up/x"), NULL, -1,
				      5000), GFS_OK);
	want = push_pattern(up, total, &err);
	cr_expect_eq(err, GFS_OK);
	cr_assert_eq(gfs_upload_finish(up, &r), GFS_OK);
	gfs_json_u64(r.json, "bytes", true, &bytes);
	gfs_json_u64(r.json, "crc", true, &crc);
	cr_expect_eq(bytes, total);
	cr_expect_eq(crc, want);
	gfs_http_reply_clear(&r);
}

Test(httpd, refuses_an_upload_before_its_body)
{
	struct gfs_upload *up;
	struct gfs_http_reply r;
	enum gfs_err err;

	cr_assert_eq(gfs_upload_start(&up, cli, "PUT", url("/up/x?refuse=1"),
				      NULL, -1, 5000), GFS_OK);
	push_pattern(up, 4u << 20, &err);
	cr_expect_eq(gfs_upload_finish(up, &r), GFS_EDISKFULL);
	cr_expect_eq(r.status, 507);
	gfs_http_reply_clear(&r);
}

Test(httpd, mid_body_error_reaches_the_client)
{
	struct gfs_upload *up;
	struct gfs_http_reply r;
	enum gfs_err err;

	cr_assert_eq(gfs_upload_start(&up, cli, "PUT",
				      url("/up/x?failat=1000000"), NULL, -1,
				      5000), GFS_OK);
	push_pattern(up, 3u << 20, &err);
	cr_expect_eq(gfs_upload_finish(up, &r), GFS_EIO);
	cr_expect_eq(r.status, 502);
	gfs_http_reply_clear(&r);
	/* and the connection stays usable */
	cr_expect_eq(gfs_http_call(cli, "GET", url("/echo/y"), NULL, &r),
		     GFS_OK);
	gfs_http_reply_clear(&r);
}

Test(httpd, ranged_get_into_a_buffer)
{
	static char buf[1 << 20];
	size_t got = 0;

	cr_assert_eq(gfs_http_get_range(cli, url("/big?n=100"), NULL, 0, 1000,
					buf, &got, 0, NULL), GFS_OK);
	/* the route ignores Range: it sends 100 bytes with a 200 */
	cr_expect_eq(got, 100);
	cr_expect_eq(buf[99], (char)(99 % 251));
}

static bool count_sink(void *cls, const char *buf, size_t len)
{
	uint64_t *n = cls;

	for (size_t i = 0; i < len; i++)
		if (buf[i] != (char)((*n + i) % 251))
			return false;
	*n += len;
	return true;
}

Test(httpd, streamed_get_in_constant_memory)
{
	struct gfs_http_reply r;
	uint64_t n = 0;

	cr_assert_eq(gfs_http_get_stream(cli, url("/big?n=50000000"), NULL,
					 5000, count_sink, &n, &r), GFS_OK);
	cr_expect_eq(n, 50000000);
	gfs_http_reply_clear(&r);
}

Test(httpd, refused_connection_is_unavailable)
{
	struct gfs_http_reply r;

	cr_expect_eq(gfs_http_call(cli, "GET", "http://127.0.0.1:1/x", NULL,
				   &r), GFS_EUNAVAIL);
	gfs_http_reply_clear(&r);
}

/* A stream that records whether its end was ever reached. */
static atomic_int ends_seen;

static void count_end(struct gfs_req *req)
{
	atomic_fetch_add(&ends_seen, 1);
	up_end(req);
}

static const struct gfs_stream_ops counting_ops = {
	.begin = up_begin, .data = up_data, .end = count_end, .done = up_done,
};

static const struct gfs_route abort_routes[] = {
	{ "PUT", "/api/v1/up/*", NULL, NULL, &counting_ops, 0 },
	{ "GET", "/api/v1/echo/*", NULL, echo, NULL, 0 },
};

Test(httpd, an_aborted_upload_never_completes_at_the_peer)
{
	struct gfs_httpd *s2 = gfs_httpd_start("127.0.0.1:0", abort_routes, 2,
					       NULL, 0);
	struct gfs_upload *up;
	struct gfs_http_reply r;
	static char buf[100000];
	char u[128];

	cr_assert_not_null(s2);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/api/v1/up/x",
		 gfs_httpd_port(s2));
	cr_assert_eq(gfs_upload_start(&up, cli, "PUT", u, NULL, -1, 5000),
		     GFS_OK);
	cr_assert_eq(gfs_upload_push(up, buf, sizeof(buf)), GFS_OK);
	gfs_upload_abort(up);
	/* the handle is reusable and the server saw no complete body */
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/api/v1/echo/y",
		 gfs_httpd_port(s2));
	cr_expect_eq(gfs_http_call(cli, "GET", u, NULL, &r), GFS_OK);
	gfs_http_reply_clear(&r);
	gfs_httpd_stop(s2); /* waits for the aborted request to finish */
	cr_expect_eq(atomic_load(&ends_seen), 0);
}

/* A stream whose end takes a while, as a chunkserver's fsync does. */
static void slow_end(struct gfs_req *req)
{
	usleep(400 * 1000);
	up_end(req);
}

static const struct gfs_stream_ops slow_ops = {
	.begin = up_begin, .data = up_data, .end = slow_end, .done = up_done,
};

static const struct gfs_route slow_routes[] = {
	{ "PUT", "/api/v1/up/*", NULL, NULL, &slow_ops, 0 },
};

Test(httpd, ending_a_sized_upload_does_not_wait_for_the_reply)
{
	struct gfs_httpd *s2 = gfs_httpd_start("127.0.0.1:0", slow_routes, 1,
					       NULL, 0);
	static char buf[8192];
	struct gfs_upload *up;
	struct gfs_http_reply r;
	uint64_t bytes = 0;
	int64_t t0, ended;
	char u[128];

	cr_assert_not_null(s2);
	snprintf(u, sizeof(u), "http://127.0.0.1:%u/api/v1/up/x",
		 gfs_httpd_port(s2));
	cr_assert_eq(gfs_upload_start(&up, cli, "PUT", u, NULL, sizeof(buf),
				      5000), GFS_OK);
	t0 = gfs_mono_ms();
	cr_assert_eq(gfs_upload_push(up, buf, sizeof(buf)), GFS_OK);
	gfs_upload_end(up);
	ended = gfs_mono_ms() - t0;
	cr_assert_eq(gfs_upload_finish(up, &r), GFS_OK);
	gfs_json_u64(r.json, "bytes", true, &bytes);
	cr_expect_eq(bytes, sizeof(buf));
	/* the pipeline overlaps the next replica's fsync with ours */
	cr_expect_lt(ended, 300, "gfs_upload_end waited %lld ms",
		     (long long)ended);
	cr_expect_geq(gfs_mono_ms() - t0, 400);
	gfs_http_reply_clear(&r);
	gfs_httpd_stop(s2);
}
