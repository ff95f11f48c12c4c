/*
 * Unit tests for common/httpd.c and common/http.c, talking to each other
 * over loopback: routing, decoding, JSON errors, streamed bodies both ways.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "http.h"
#include "httpd.h"
#include "json.h"
#include "metrics.h"
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

/* A streamed upload that tells how much of its body had arrived when its
 * begin ran, and counts the dones. */
static atomic_uint seen_dones;

static void seen_begin(struct gfs_req *req)
{
	uint64_t *at = malloc(sizeof(*at));

	*at = req->body_seen;
	req->ctx = at;
}

static void seen_data(struct gfs_req *req, const char *buf, size_t len)
{
	(void)req;
	(void)buf;
	(void)len;
}

static void seen_end(struct gfs_req *req)
{
	gfs_reply_json(req, 200, json_pack("{s:I}", "seen_at_begin",
					   (json_int_t)*(uint64_t *)req->ctx));
}

static void seen_done(struct gfs_req *req)
{
	free(req->ctx);
	atomic_fetch_add(&seen_dones, 1);
}

static const struct gfs_stream_ops seen_ops = {
	.begin = seen_begin, .data = seen_data, .end = seen_end,
	.done = seen_done,
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

/* GFS_ROUTE_TRY_INLINE: answers in the loop, unless ?defer=1 (then on a
 * worker, after sleep_ms); says where it answered and after how many
 * tries (req->ctx counts them). */
static void try_here(struct gfs_req *req)
{
	const char *d = NULL;
	uint64_t sleep_ms = 0;
	uintptr_t tries = (uintptr_t)req->ctx + 1;

	req->ctx = (void *)tries;
	gfs_req_arg(req, "defer", &d);
	gfs_req_arg_u64(req, "sleep_ms", 0, &sleep_ms);
	if (req->in_loop && d) {
		gfs_req_defer(req);
		return;
	}
	if (!req->in_loop)
		usleep((useconds_t)sleep_ms * 1000);
	gfs_reply_json(req, 200, json_pack("{s:b, s:I}", "in_loop",
					   req->in_loop, "tries",
					   (json_int_t)tries));
}

static const struct gfs_route routes[] = {
	{ "GET", "/api/v1/echo/*", NULL, echo, NULL, 0, 0, NULL },
	{ "GET", "/api/v1/try/*", NULL, try_here, NULL, 0,
	  GFS_ROUTE_TRY_INLINE, NULL },
	{ "POST", "/api/v1/json", NULL, post_json, NULL, 1024, 0, NULL },
	{ "POST", "/api/v1/bigjson", NULL, post_json, NULL, 16u << 20, 0, NULL },
	{ "PUT", "/api/v1/up/*", NULL, NULL, &upload_ops, SIZE_MAX, 0, NULL },
	{ "GET", "/api/v1/big", NULL, big, NULL, 0, 0, NULL },
	{ "PUT", "/api/v1/seen/*", NULL, NULL, &seen_ops, SIZE_MAX, 0, NULL },
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

/* What GET /try/... answered: in_loop and tries. */
static void try_call(struct gfs_http *h, const char *rest, bool *in_loop,
		     json_int_t *tries)
{
	struct gfs_http_reply r;

	cr_assert_eq(gfs_http_call(h, "GET", url(rest), NULL, &r), GFS_OK);
	cr_assert_eq(r.status, 200);
	*in_loop = json_is_true(json_object_get(r.json, "in_loop"));
	*tries = json_integer_value(json_object_get(r.json, "tries"));
	gfs_http_reply_clear(&r);
}

Test(httpd, a_try_inline_route_answers_in_the_loop_or_on_a_worker)
{
	bool in_loop;
	json_int_t tries;

	try_call(cli, "/try/a", &in_loop, &tries);
	cr_expect(in_loop, "answered in the event loop");
	cr_expect_eq(tries, 1);
	try_call(cli, "/try/a?defer=1", &in_loop, &tries);
	cr_expect(!in_loop, "a deferral runs the handler again on a worker");
	cr_expect_eq(tries, 2);
}

static void *slow_try(void *arg)
{
	struct gfs_http *h = gfs_http_new();
	bool in_loop;
	json_int_t tries;

	(void)arg;
	try_call(h, "/try/slow?defer=1&sleep_ms=1500", &in_loop, &tries);
	gfs_http_free(h);
	return NULL;
}

Test(httpd, a_deferred_try_does_not_hold_up_the_loop)
{
	pthread_t t;
	int64_t t0;
	bool in_loop;
	json_int_t tries;

	cr_assert_eq(pthread_create(&t, NULL, slow_try, NULL), 0);
	usleep(200 * 1000); /* the slow one is on its worker */
	t0 = gfs_mono_ms();
	try_call(cli, "/try/b", &in_loop, &tries);
	cr_expect(in_loop);
	cr_expect_lt(gfs_mono_ms() - t0, 1000,
		     "the loop answered while a worker slept");
	pthread_join(t, NULL);
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

/* PUT a body of size bytes to /seen: how much of it had arrived when
 * begin ran, and how many dones had run when the reply came. */
static uint64_t put_seen(uint64_t size, unsigned *dones)
{
	struct gfs_upload *up;
	struct gfs_http_reply r;
	enum gfs_err err;
	uint64_t at = UINT64_MAX;
	unsigned before = atomic_load(&seen_dones);

	cr_assert_eq(gfs_upload_start(&up, cli, "PUT", url("/seen/x"), NULL,
				      (int64_t)size, 5000), GFS_OK);
	push_pattern(up, size, &err);
	cr_assert_eq(err, GFS_OK);
	cr_assert_eq(gfs_upload_finish(up, &r), GFS_OK);
	*dones = atomic_load(&seen_dones) - before;
	gfs_json_u64(r.json, "seen_at_begin", true, &at);
	gfs_http_reply_clear(&r);
	return at;
}

/* One hop to a worker for a small body: begin, data, end and done in one
 * job, after the body is in.  A large one begins before its body. */
Test(httpd, a_small_body_is_handled_in_one_job)
{
	unsigned dones;

	cr_expect_eq(put_seen(4096, &dones), 4096);
	cr_expect_eq(dones, 1, "done ran before the reply: %u", dones);
	cr_expect_eq(put_seen(64u << 10, &dones), 64u << 10);
	cr_expect_eq(put_seen(1u << 20, &dones), 0);
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
	/* more than DISCARD_MAX after the error: a route of any size reads
	 * it all and answers */
	push_pattern(up, 6u << 20, &err);
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
	{ "PUT", "/api/v1/up/*", NULL, NULL, &counting_ops, SIZE_MAX, 0, NULL },
	{ "GET", "/api/v1/echo/*", NULL, echo, NULL, 0, 0, NULL },
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
	{ "PUT", "/api/v1/up/*", NULL, NULL, &slow_ops, SIZE_MAX, 0, NULL },
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

/* ---- raw HTTP, for what libcurl will not send ---------------------------- */

static int dial(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Everything the server sends until it closes or ms pass; NUL-ended. */
static size_t read_all(int fd, char *buf, size_t cap, int ms)
{
	int64_t end = gfs_mono_ms() + ms;
	size_t n = 0;
	ssize_t got;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (n + 1 < cap && gfs_mono_ms() < end) {
		if (poll(&p, 1, (int)(end - gfs_mono_ms())) <= 0)
			break;
		got = recv(fd, buf + n, cap - 1 - n, 0);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	return n;
}

/* What the server sends until it has sent end (NUL-ended), or ms pass. */
static size_t read_until(int fd, char *buf, size_t cap, const char *end,
			 int ms)
{
	int64_t stop = gfs_mono_ms() + ms;
	size_t n = 0;
	ssize_t got;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	buf[0] = '\0';
	while (n + 1 < cap && !strstr(buf, end) && gfs_mono_ms() < stop) {
		if (poll(&p, 1, (int)(stop - gfs_mono_ms())) <= 0)
			break;
		got = recv(fd, buf + n, cap - 1 - n, 0);
		if (got <= 0)
			break;
		n += (size_t)got;
		buf[n] = '\0';
	}
	return n;
}

/* Send text, return the whole answer of a "Connection: close" request. */
static char *exchange(uint16_t port, const char *text)
{
	static char buf[1 << 16];
	int fd = dial(port);

	cr_assert_eq(send(fd, text, strlen(text), 0), (ssize_t)strlen(text));
	read_all(fd, buf, sizeof(buf), 5000);
	close(fd);
	return buf;
}

static uint16_t port_of_srv(void)
{
	return gfs_httpd_port(srv);
}

Test(httpd, head_answers_the_headers_of_get_without_the_body)
{
	char *a;

	a = exchange(port_of_srv(), "HEAD /api/v1/big?n=123456 HTTP/1.1\r\n"
		     "Host: x\r\nConnection: close\r\n\r\n");
	cr_expect(!strncmp(a, "HTTP/1.1 200", 12), "%s", a);
	cr_expect_not_null(strcasestr(a, "Content-Length: 123456\r\n"), "%s",
			   a);
	cr_expect_str_eq(strstr(a, "\r\n\r\n") + 4, "", "a body came");
	a = exchange(port_of_srv(), "HEAD /api/v1/echo/a%20b HTTP/1.1\r\n"
		     "Host: x\r\nConnection: close\r\n\r\n");
	cr_expect(!strncmp(a, "HTTP/1.1 200", 12), "%s", a);
	/* {"path":"/a b","x":null} and '\n' */
	cr_expect_not_null(strcasestr(a, "Content-Length: 25\r\n"), "%s", a);
	cr_expect_str_eq(strstr(a, "\r\n\r\n") + 4, "", "a body came");
	a = exchange(port_of_srv(), "HEAD /api/v1/up/x HTTP/1.1\r\n"
		     "Host: x\r\nConnection: close\r\n\r\n");
	cr_expect(!strncmp(a, "HTTP/1.1 405", 12), "%s", a);
}

Test(httpd, a_declared_length_past_the_cap_is_refused_before_the_body)
{
	char *a;

	a = exchange(port_of_srv(), "POST /api/v1/json HTTP/1.1\r\nHost: x\r\n"
		     "Content-Length: 18446744073709551615\r\n\r\n");
	cr_expect(!strncmp(a, "HTTP/1.1 413", 12), "%s", a);
	a = exchange(port_of_srv(), "GET /api/v1/echo/x HTTP/1.1\r\nHost: x\r\n"
		     "Content-Length: 10\r\n\r\n");
	cr_expect(!strncmp(a, "HTTP/1.1 413", 12), "GET with a body: %s", a);
	a = exchange(port_of_srv(), "POST /api/v1/json HTTP/1.1\r\nHost: x\r\n"
		     "Content-Length: 1x\r\n\r\n");
	cr_expect(!strncmp(a, "HTTP/1.1 400", 12), "%s", a);
}

Test(httpd, a_chunked_body_is_capped_as_it_arrives)
{
	static char req[8192];
	size_t n;
	char *a;

	n = (size_t)snprintf(req, sizeof(req), "POST /api/v1/json HTTP/1.1\r\n"
			     "Host: x\r\nTransfer-Encoding: chunked\r\n"
			     "Connection: close\r\n\r\n");
	for (int i = 0; i < 3; i++) {  /* 3 x 600 bytes past a 1024 cap */
		n += (size_t)snprintf(req + n, sizeof(req) - n, "258\r\n");
		memset(req + n, ' ', 600);
		n += 600;
		n += (size_t)snprintf(req + n, sizeof(req) - n, "\r\n");
	}
	snprintf(req + n, sizeof(req) - n, "0\r\n\r\n");
	a = exchange(port_of_srv(), req);
	cr_expect(!strncmp(a, "HTTP/1.1 413", 12), "%s", a);
}

/* ---- work off the event loop ------------------------------------------- */

static void sleepy(struct gfs_req *req)
{
	usleep(1500 * 1000);
	echo(req);
}

/* A stream that takes 100 ms per 64 KiB, as a cold disk or a far peer. */
static ssize_t slow_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	usleep(100 * 1000);
	return pattern_read(cls, pos, buf, max);
}

static void slow_big(struct gfs_req *req)
{
	gfs_reply_stream(req, 200, "application/octet-stream", 10 * 65536,
			 65536, slow_read, (void *)(uintptr_t)(10 * 65536),
			 NULL);
}

static const struct gfs_route block_routes[] = {
	{ "GET", "/api/v1/sleepy/*", NULL, sleepy, NULL, 0, 0, NULL },
	{ "GET", "/api/v1/slowbig", NULL, slow_big, NULL, 0, 0, NULL },
	{ "GET", "/api/v1/echo/*", NULL, echo, NULL, 0, 0, NULL },
	{ "PUT", "/api/v1/up/*", NULL, NULL, &upload_ops, SIZE_MAX, 0, NULL },
	{ "GET", "/api/v1/big", NULL, big, NULL, 0, 0, NULL },
};

static void *get_sleepy(void *arg)
{
	struct gfs_http *h = gfs_http_new();
	struct gfs_http_reply r;

	gfs_http_call(h, "GET", arg, NULL, &r);
	gfs_http_reply_clear(&r);
	gfs_http_free(h);
	return NULL;
}

static bool count_bytes(void *cls, const char *buf, size_t len)
{
	(void)buf;
	*(uint64_t *)cls += len;
	return true;
}

static void *get_slowbig(void *arg)
{
	struct gfs_http *h = gfs_http_new();
	struct gfs_http_reply r;
	uint64_t n = 0;

	gfs_http_get_stream(h, arg, NULL, 5000, count_bytes, &n, &r);
	gfs_http_reply_clear(&r);
	gfs_http_free(h);
	cr_expect_eq(n, 10 * 65536);
	return NULL;
}

Test(httpd, blocked_handlers_and_streams_leave_others_served)
{
	struct gfs_httpd *s2 = gfs_httpd_start("127.0.0.1:0", block_routes,
					       GFS_ARRAY_SIZE(block_routes),
					       NULL, 0);
	pthread_t t[8];
	char u1[128], u2[128], u3[128];
	struct gfs_http_reply r;
	int64_t t0, took;
	int i;

	cr_assert_not_null(s2);
	snprintf(u1, sizeof(u1), "http://127.0.0.1:%u/api/v1/sleepy/a",
		 gfs_httpd_port(s2));
	snprintf(u2, sizeof(u2), "http://127.0.0.1:%u/api/v1/slowbig",
		 gfs_httpd_port(s2));
	snprintf(u3, sizeof(u3), "http://127.0.0.1:%u/api/v1/echo/b",
		 gfs_httpd_port(s2));
	for (i = 0; i < 8; i++)
		pthread_create(&t[i], NULL, i % 2 ? get_slowbig : get_sleepy,
			       i % 2 ? u2 : u1);
	usleep(200 * 1000); /* they are all in their handlers or streams */
	t0 = gfs_mono_ms();
	cr_expect_eq(gfs_http_call(cli, "GET", u3, NULL, &r), GFS_OK);
	took = gfs_mono_ms() - t0;
	gfs_http_reply_clear(&r);
	cr_expect_lt(took, 300, "a cheap GET took %lld ms", (long long)took);
	for (i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	gfs_httpd_stop(s2);
}

/* ---- deadlines ----------------------------------------------------------- */

static struct gfs_httpd *start_limited(void)
{
	struct gfs_httpd_limits lim = {
		.idle_ms = 600, .header_ms = 600, .stall_ms = 600,
		.min_rate = 2048,
	};

	return gfs_httpd_start_with("127.0.0.1:0", block_routes,
				    GFS_ARRAY_SIZE(block_routes), NULL, 0,
				    &lim);
}

/* ms until the server closes fd (sending what), -1 when it does not
 * within limit_ms; sends line every step_ms meanwhile. */
static int64_t ms_until_closed(int fd, const char *line, int step_ms,
			       int limit_ms)
{
	int64_t t0 = gfs_mono_ms();
	char buf[4096];
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (gfs_mono_ms() - t0 < limit_ms) {
		if (poll(&p, 1, step_ms) > 0 && recv(fd, buf, sizeof(buf), 0) <= 0)
			return gfs_mono_ms() - t0;
		if (line && send(fd, line, strlen(line), MSG_NOSIGNAL) < 0)
			return gfs_mono_ms() - t0;
	}
	return -1;
}

Test(httpd, an_idle_connection_is_closed_after_the_idle_bound)
{
	struct gfs_httpd *s2 = start_limited();
	int fd = dial(gfs_httpd_port(s2));
	int64_t ms = ms_until_closed(fd, NULL, 100, 3000);

	cr_expect(ms >= 500 && ms < 1500, "closed after %lld ms",
		  (long long)ms);
	close(fd);
	gfs_httpd_stop(s2);
}

Test(httpd, a_header_that_never_ends_is_cut_at_the_header_bound)
{
	struct gfs_httpd *s2 = start_limited();
	int fd = dial(gfs_httpd_port(s2));
	const char *first = "GET /api/v1/echo/x HTTP/1.1\r\nHost: x\r\n";
	int64_t ms;

	send(fd, first, strlen(first), 0);
	/* a line every 100 ms: active, but the header never completes */
	ms = ms_until_closed(fd, "X-Slow: 1\r\n", 100, 3000);
	cr_expect(ms >= 500 && ms < 1500, "cut after %lld ms", (long long)ms);
	close(fd);
	gfs_httpd_stop(s2);
}

Test(httpd, a_body_slower_than_the_minimum_rate_is_cut)
{
	struct gfs_httpd *s2 = start_limited();
	int fd = dial(gfs_httpd_port(s2));
	const char *head = "PUT /api/v1/up/x HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 1000000\r\n\r\n";
	int64_t ms;

	send(fd, head, strlen(head), 0);
	/* 10 bytes every 100 ms: 100 B/s against a 2 KiB/s minimum */
	ms = ms_until_closed(fd, "0123456789", 100, 3000);
	cr_expect(ms >= 500 && ms < 1800, "cut after %lld ms", (long long)ms);
	close(fd);
	gfs_httpd_stop(s2);
}

Test(httpd, a_slow_but_steady_body_is_not_cut)
{
	struct gfs_httpd *s2 = start_limited();
	int fd = dial(gfs_httpd_port(s2));
	static char piece[1024], a[4096];
	const char *head = "PUT /api/v1/up/x HTTP/1.1\r\nHost: x\r\n"
			   "Content-Length: 30720\r\nConnection: close\r\n\r\n";
	int i;

	send(fd, head, strlen(head), 0);
	/* 30 KiB over 1.5 s: 20 KiB/s, for more than two windows */
	for (i = 0; i < 30; i++) {
		cr_assert_eq(send(fd, piece, sizeof(piece), MSG_NOSIGNAL),
			     (ssize_t)sizeof(piece));
		usleep(50 * 1000);
	}
	read_all(fd, a, sizeof(a), 3000);
	cr_expect(!strncmp(a, "HTTP/1.1 200", 12), "%s", a);
	cr_expect_not_null(strstr(a, "\"bytes\":30720"), "%s", a);
	close(fd);
	gfs_httpd_stop(s2);
}

/* The "stall" cuts in a server's /metrics text. */
static unsigned long stall_cuts(struct gfs_httpd *s2)
{
	struct gfs_metrics_text t;
	unsigned long n = 0;
	char *buf, *p;
	size_t len;

	gfs_httpd_metrics(s2, "t", gfs_metrics_open(&t));
	buf = gfs_metrics_take(&t, &len);
	p = strstr(buf, "t_http_cut_total{why=\"stall\"} ");
	if (p)
		n = strtoul(strchr(p, ' ') + 1, NULL, 10);
	free(buf);
	return n;
}

Test(httpd, a_reply_nobody_reads_is_cut)
{
	struct gfs_httpd *s2 = start_limited();
	int fd = dial(gfs_httpd_port(s2));
	const char *get = "GET /api/v1/big?n=500000000 HTTP/1.1\r\n"
			  "Host: x\r\n\r\n";
	int64_t t0 = gfs_mono_ms();

	send(fd, get, strlen(get), 0);
	/* never read: once the socket buffers are full nothing moves */
	while (!stall_cuts(s2) && gfs_mono_ms() - t0 < 5000)
		usleep(50 * 1000);
	cr_expect_eq(stall_cuts(s2), 1, "not cut after %lld ms",
		     (long long)(gfs_mono_ms() - t0));
	close(fd);
	gfs_httpd_stop(s2);
}

/* ---- peers that vanish --------------------------------------------------- */

/* A streamed upload that tells how each request ended.  ?hold=begin or
 * ?hold=data keeps that callback waiting until the test opens the gate.
 * (data reads its ctx, never the request: it runs beside the event
 * thread, which may end the connection under it.) */
enum hold { HOLD_NONE, HOLD_BEGIN, HOLD_DATA };
static atomic_int cut_ends, cut_dones, cut_held;
static atomic_ullong cut_bytes;
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void gate_wait(void)
{
	int64_t end = gfs_mono_ms() + 10000;

	atomic_fetch_add(&cut_held, 1);
	pthread_mutex_lock(&gate_mu);
	while (!gate_open && gfs_mono_ms() < end) {
		struct timespec ts = gfs_deadline_ts(CLOCK_REALTIME, 50);

		pthread_cond_timedwait(&gate_cv, &gate_mu, &ts);
	}
	pthread_mutex_unlock(&gate_mu);
}

static void gate_release(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = true;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static void cut_begin(struct gfs_req *req)
{
	const char *hold = NULL;
	enum hold *h = calloc(1, sizeof(*h));

	gfs_req_arg(req, "hold", &hold);
	*h = !hold ? HOLD_NONE : !strcmp(hold, "begin") ? HOLD_BEGIN
							: HOLD_DATA;
	req->ctx = h;
	if (*h == HOLD_BEGIN)
		gate_wait();
}

static void cut_data(struct gfs_req *req, const char *buf, size_t len)
{
	enum hold *h = req->ctx;

	(void)buf;
	if (h && *h == HOLD_DATA)
		gate_wait();
	atomic_fetch_add(&cut_bytes, len);
}

static void cut_end(struct gfs_req *req)
{
	atomic_fetch_add(&cut_ends, 1);
	gfs_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

static void cut_done(struct gfs_req *req)
{
	free(req->ctx);
	atomic_fetch_add(&cut_dones, 1);
}

static const struct gfs_stream_ops cut_ops = {
	.begin = cut_begin, .data = cut_data, .end = cut_end, .done = cut_done,
};

/* Without begin: the body starts in the event thread at once. */
static const struct gfs_stream_ops cut_nobegin_ops = {
	.data = cut_data, .end = cut_end, .done = cut_done,
};

/* A redirect before the body, as the master's PUT /content. */
static void redirect_begin(struct gfs_req *req)
{
	gfs_reply_redirect(req, 307, "http://127.0.0.1:1/elsewhere");
}

static void redirect_end(struct gfs_req *req)
{
	if (!gfs_replied(req))
		redirect_begin(req);
}

static const struct gfs_stream_ops redirect_ops = {
	.begin = redirect_begin, .end = redirect_end,
};

/* A long reply made by a worker, 64 KiB each 20 ms; its end counts as a
 * request's. */
static ssize_t paced_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	usleep(20 * 1000);
	return pattern_read(cls, pos, buf, max);
}

static void paced_free(void *cls)
{
	(void)cls;
	atomic_fetch_add(&cut_dones, 1);
}

static void paced(struct gfs_req *req)
{
	gfs_reply_stream(req, 200, "application/octet-stream", 1u << 30,
			 65536, paced_read, (void *)(uintptr_t)(1u << 30),
			 paced_free);
}

static const struct gfs_route cut_routes[] = {
	{ "PUT", "/api/v1/cut/*", NULL, NULL, &cut_ops, SIZE_MAX, 0, NULL },
	{ "PUT", "/api/v1/nobegin/*", NULL, NULL, &cut_nobegin_ops, SIZE_MAX,
	  0, NULL },
	{ "PUT", "/api/v1/redirect/*", NULL, NULL, &redirect_ops, SIZE_MAX, 0,
	  NULL },
	{ "GET", "/api/v1/paced", NULL, paced, NULL, 0, 0, NULL },
};

/* A server whose deadlines are far off: only noticing the cut ends a
 * request within the tests' bounds. */
static struct gfs_httpd *start_cut_server(void)
{
	struct gfs_httpd *s2 = gfs_httpd_start("127.0.0.1:0", cut_routes,
					       GFS_ARRAY_SIZE(cut_routes),
					       NULL, 0);

	cr_assert_not_null(s2);
	return s2;
}

/* The server's end of our connection fd (both are in this process),
 * once it has accepted it. */
static int server_end(int fd)
{
	struct sockaddr_in mine, peer;
	socklen_t len = sizeof(mine);
	int64_t end = gfs_mono_ms() + 10000;

	cr_assert_eq(getsockname(fd, (struct sockaddr *)&mine, &len), 0);
	while (gfs_mono_ms() < end) {
		for (int s = 0; s < 4096; s++) {
			len = sizeof(peer);
			if (s != fd &&
			    !getpeername(s, (struct sockaddr *)&peer, &len) &&
			    peer.sin_family == AF_INET &&
			    peer.sin_port == mine.sin_port &&
			    peer.sin_addr.s_addr == mine.sin_addr.s_addr)
				return s;
		}
		usleep(10 * 1000);
	}
	cr_assert_fail("no server end for fd %d", fd);
	return -1;
}

/* Wait until the server has read everything we sent on fd. */
static void wait_drained(int fd)
{
	int s = server_end(fd), inq = -1;
	int64_t end = gfs_mono_ms() + 10000;

	while (gfs_mono_ms() < end) {
		if (!ioctl(s, SIOCINQ, &inq) && inq == 0)
			return;
		usleep(10 * 1000);
	}
	cr_assert_fail("the server left %d bytes unread", inq);
}

/* Send len bytes, then end our side: with how "fin" in the same segment
 * as the last byte (TCP_CORK), with "rst" right after them. */
static void send_and_vanish(int fd, const void *buf, size_t len,
			    const char *how)
{
	int on = 1;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (!strcmp(how, "fin"))
		setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
	if (len)
		cr_assert_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	if (!strcmp(how, "fin")) {
		shutdown(fd, SHUT_WR); /* the FIN rides on the last bytes */
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* A gauge or counter of s2's /metrics text. */
static unsigned long metric(struct gfs_httpd *s2, const char *name)
{
	struct gfs_metrics_text t;
	unsigned long n = 0;
	char key[128], *buf, *p;
	size_t len;

	snprintf(key, sizeof(key), "\nt_%s ", name); /* not "# TYPE" */
	gfs_httpd_metrics(s2, "t", gfs_metrics_open(&t));
	buf = gfs_metrics_take(&t, &len);
	p = strstr(buf, key);
	if (p)
		n = strtoul(p + strlen(key), NULL, 10);
	free(buf);
	return n;
}

/* A connection to s2, once s2 holds it (before that, "no connection
 * left" would hold at once). */
static int dial_open(struct gfs_httpd *s2)
{
	int fd = dial(gfs_httpd_port(s2));
	int64_t t0 = gfs_mono_ms();

	while (metric(s2, "http_connections") < 1 && gfs_mono_ms() - t0 < 10000)
		usleep(10 * 1000);
	cr_assert_eq(metric(s2, "http_connections"), 1);
	return fd;
}

/* Wait up to ms for the server to have no connection and no job left. */
static void expect_closed(struct gfs_httpd *s2, int64_t t0, int ms)
{
	while ((metric(s2, "http_connections") || metric(s2, "http_jobs")) &&
	       gfs_mono_ms() - t0 < ms)
		usleep(10 * 1000);
	cr_expect_eq(metric(s2, "http_connections"), 0);
	cr_expect_eq(metric(s2, "http_jobs"), 0);
}

/* Wait up to ms for n requests to have ended (their done ran), and for
 * the server to be left with nothing.  The default stall deadline is
 * 30 s: a cut that only the reaper finds fails here. */
static void expect_ended(struct gfs_httpd *s2, int n, int ms)
{
	int64_t t0 = gfs_mono_ms();

	while (atomic_load(&cut_dones) < n && gfs_mono_ms() - t0 < ms)
		usleep(10 * 1000);
	cr_expect_eq(atomic_load(&cut_dones), n, "%d of %d ended in %d ms",
		     atomic_load(&cut_dones), n, ms);
	expect_closed(s2, t0, ms);
}

static void cut_reset(void)
{
	atomic_store(&cut_ends, 0);
	atomic_store(&cut_dones, 0);
	atomic_store(&cut_held, 0);
	atomic_store(&cut_bytes, 0);
	gate_open = false;
}

/* headers for PUT path, chunked or of length len */
static size_t put_head(char *buf, size_t cap, const char *path, bool chunked,
		       size_t len)
{
	if (chunked)
		return (size_t)snprintf(buf, cap, "PUT %s HTTP/1.1\r\nHost: x\r\n"
					"Transfer-Encoding: chunked\r\n\r\n"
					"%zx\r\n", path, len);
	return (size_t)snprintf(buf, cap, "PUT %s HTTP/1.1\r\nHost: x\r\n"
				"Content-Length: %zu\r\n\r\n", path, len);
}

/* The body stops after part bytes (the server has read them: it waits
 * in its event loop), then the last few bytes and the end come at once. */
static void cut_mid_body(const char *path, bool chunked, const char *how)
{
	struct gfs_httpd *s2 = start_cut_server();
	static char body[300000];
	char head[256];
	int fd = dial_open(s2);
	size_t n = put_head(head, sizeof(head), path, chunked, 1000000);

	cut_reset();
	cr_assert_eq(send(fd, head, n, 0), (ssize_t)n);
	cr_assert_eq(send(fd, body, 200000, 0), 200000);
	wait_drained(fd);
	send_and_vanish(fd, body, 1000, how);
	expect_ended(s2, 1, 3000);
	cr_expect_eq(atomic_load(&cut_ends), 0, "a cut body was ended");
	if (!strcmp(how, "fin"))
		close(fd);
	gfs_httpd_stop(s2);
}

Test(httpd, a_body_cut_with_its_last_bytes_is_noticed_at_once)
{
	cut_mid_body("/api/v1/cut/a", false, "fin");
}

Test(httpd, a_chunked_body_cut_with_its_last_bytes_is_noticed_at_once)
{
	cut_mid_body("/api/v1/cut/a", true, "fin");
}

Test(httpd, a_body_cut_by_a_reset_is_noticed_at_once)
{
	cut_mid_body("/api/v1/cut/a", false, "rst");
}

Test(httpd, a_body_cut_before_any_job_is_noticed_at_once)
{
	cut_mid_body("/api/v1/nobegin/a", false, "fin");
}

/* The whole request, cut short, in one segment.  A reset may come
 * before the server read any of it: then there is no request to end. */
static void cut_at_once(const char *path, const char *how)
{
	struct gfs_httpd *s2 = start_cut_server();
	static char req[4096];
	int fd = dial_open(s2);
	size_t n = put_head(req, sizeof(req), path, false, 100000);

	cut_reset();
	send_and_vanish(fd, req, n + 1000, how);
	if (!strcmp(how, "fin"))
		expect_ended(s2, 1, 3000);
	else
		expect_closed(s2, gfs_mono_ms(), 3000);
	cr_expect_eq(atomic_load(&cut_ends), 0);
	if (!strcmp(how, "fin"))
		close(fd);
	gfs_httpd_stop(s2);
}

Test(httpd, a_request_cut_in_its_first_segment_is_noticed_at_once)
{
	cut_at_once("/api/v1/nobegin/a", "fin");
}

Test(httpd, a_request_cut_in_its_first_segment_is_noticed_after_begin)
{
	cut_at_once("/api/v1/cut/a", "fin");
}

Test(httpd, a_request_reset_in_its_first_segment_leaves_nothing)
{
	cut_at_once("/api/v1/nobegin/a", "rst");
}

/* The peer goes while a worker holds its request: begin runs, or the
 * pump is in data with the fill buffer full, the connection parked (held
 * by a job, in /metrics).  Noticed when the worker lets go. */
static void cut_while_held(const char *path, bool fill, const char *how)
{
	struct gfs_httpd *s2 = start_cut_server();
	static char body[65536];
	char head[256];
	int fd = dial_open(s2);
	size_t n = put_head(head, sizeof(head), path, false, 64u << 20);
	int64_t t0 = gfs_mono_ms();

	cut_reset();
	cr_assert_eq(send(fd, head, n, 0), (ssize_t)n);
	while (!(atomic_load(&cut_held) && metric(s2, "http_held") == 1) &&
	       gfs_mono_ms() - t0 < 10000) {
		/* never block on a full window: the server stops reading */
		if (fill)
			send(fd, body, sizeof(body), MSG_DONTWAIT);
		usleep(10 * 1000);
	}
	cr_assert(atomic_load(&cut_held), "never held");
	cr_assert_eq(metric(s2, "http_held"), 1, "never parked");
	/* the end queues behind what the server has not read */
	send_and_vanish(fd, body, fill ? 0 : 1000, how);
	gate_release();
	expect_ended(s2, 1, 3000);
	cr_expect_eq(atomic_load(&cut_ends), 0);
	if (!strcmp(how, "fin"))
		close(fd);
	gfs_httpd_stop(s2);
}

Test(httpd, a_body_cut_while_begin_runs_is_noticed_when_it_returns)
{
	cut_while_held("/api/v1/cut/a?hold=begin", false, "fin");
	cut_while_held("/api/v1/cut/a?hold=begin", false, "rst");
}

Test(httpd, a_body_cut_while_parked_is_noticed_when_the_pump_returns)
{
	cut_while_held("/api/v1/cut/a?hold=data", true, "fin");
	cut_while_held("/api/v1/cut/a?hold=data", true, "rst");
}

/* A kept-alive connection: the first request is answered, the second is
 * cut. */
Test(httpd, a_second_request_cut_on_a_kept_connection_is_noticed_at_once)
{
	struct gfs_httpd *s2 = start_cut_server();
	static char req[8192], a[4096];
	int fd = dial_open(s2);
	size_t n = put_head(req, sizeof(req), "/api/v1/cut/a", false, 10);

	cut_reset();
	cr_assert_eq(send(fd, req, n + 10, 0), (ssize_t)(n + 10));
	/* the answer, then the connection idles in the event loop */
	cr_assert_gt(read_until(fd, a, sizeof(a), "}\n", 5000), 0);
	cr_expect(!strncmp(a, "HTTP/1.1 200", 12), "%s", a);
	cr_assert_eq(atomic_load(&cut_ends), 1);
	wait_drained(fd);
	n = put_head(req, sizeof(req), "/api/v1/nobegin/b", false, 100000);
	send_and_vanish(fd, req, n + 1000, "fin");
	expect_ended(s2, 2, 3000);
	cr_expect_eq(atomic_load(&cut_ends), 1);
	close(fd);
	gfs_httpd_stop(s2);
}

/* A header cut short is noticed long before the header deadline. */
Test(httpd, a_header_cut_short_is_noticed_at_once)
{
	struct gfs_httpd *s2 = start_cut_server();
	const char *part = "PUT /api/v1/cut/a HTTP/1.1\r\nHost: x\r\nX-A: b";
	int fd = dial_open(s2);
	int64_t t0 = gfs_mono_ms();

	send_and_vanish(fd, part, strlen(part), "fin");
	while (metric(s2, "http_connections") && gfs_mono_ms() - t0 < 3000)
		usleep(10 * 1000);
	cr_expect_eq(metric(s2, "http_connections"), 0, "open after %lld ms",
		     (long long)(gfs_mono_ms() - t0));
	close(fd);
	gfs_httpd_stop(s2);
}

/* A PUT redirected before its body (as to a gateway), the client gone
 * with part of the body: the 307 goes out and the connection ends. */
Test(httpd, a_client_gone_during_a_redirect_leaves_nothing)
{
	static const char *hows[] = { "fin", "rst" };

	for (int i = 0; i < 2; i++) {
		struct gfs_httpd *s2 = start_cut_server();
		static char req[4096];
		int fd = dial_open(s2);
		size_t n = put_head(req, sizeof(req), "/api/v1/redirect/a",
				    false, 1000000);
		char a[4096];

		cut_reset();
		send_and_vanish(fd, req, n + 1000, hows[i]);
		expect_closed(s2, gfs_mono_ms(), 3000);
		if (i == 0) {
			read_all(fd, a, sizeof(a), 1000);
			cr_expect(!strncmp(a, "HTTP/1.1 307", 12), "%s", a);
			close(fd);
		}
		gfs_httpd_stop(s2);
	}
}

/* A client that reads part of a long streamed reply and goes: the reply
 * stops and its read callback's state is freed at once, not at the stall
 * deadline. */
Test(httpd, a_client_gone_in_the_middle_of_a_long_reply_is_noticed)
{
	struct gfs_httpd *s2 = start_cut_server();
	const char *get = "GET /api/v1/paced HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = dial_open(s2);
	static char buf[65536];
	size_t got = 0;
	int64_t t0 = gfs_mono_ms();

	cut_reset();
	cr_assert_eq(send(fd, get, strlen(get), 0), (ssize_t)strlen(get));
	while (got < 200000 && gfs_mono_ms() - t0 < 10000) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);

		cr_assert_gt(k, 0);
		got += (size_t)k;
	}
	close(fd); /* unread bytes: a reset */
	expect_ended(s2, 1, 3000);
	gfs_httpd_stop(s2);
}

/* A client that stops reading a long reply but keeps its socket open: the
 * stall deadline ends it (here 600 ms), jobs and all. */
Test(httpd, a_client_that_stops_reading_a_long_reply_is_cut)
{
	struct gfs_httpd_limits lim = { .stall_ms = 600, .min_rate = 2048 };
	struct gfs_httpd *s2 = gfs_httpd_start_with(
		"127.0.0.1:0", cut_routes, GFS_ARRAY_SIZE(cut_routes), NULL, 0,
		&lim);
	const char *get = "GET /api/v1/paced HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd;

	cr_assert_not_null(s2);
	fd = dial_open(s2);
	cut_reset();
	cr_assert_eq(send(fd, get, strlen(get), 0), (ssize_t)strlen(get));
	/* never read: the socket buffers fill, then nothing moves */
	expect_ended(s2, 1, 10000);
	cr_expect_eq(metric(s2, "http_cut_total{why=\"stall\"}"), 1);
	close(fd);
	gfs_httpd_stop(s2);
}

/* ---- upgraded connections (101 Switching Protocols) ---------------------- */

/* What the upgrade's function and its argument went through. */
static atomic_int up_runs, up_ends, up_frees, up_extra;

static void up_free(void *arg)
{
	free(arg);
	atomic_fetch_add(&up_frees, 1);
}

/* Echo extra, then every byte the peer sends, until it ends. */
static void up_echo(void *arg, int fd, const char *extra, size_t extra_len)
{
	char buf[4096];
	ssize_t n;

	(void)arg;
	atomic_fetch_add(&up_runs, 1);
	atomic_store(&up_extra, (int)extra_len);
	if (extra_len &&
	    send(fd, extra, extra_len, MSG_NOSIGNAL) != (ssize_t)extra_len)
		goto out;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
			break;
out:
	atomic_fetch_add(&up_ends, 1);
}

/* Upgrade to "gfs-test" with an echo.  ?hold=1 waits at the gate first;
 * ?first=1 makes another reply first. */
static void upgrade_route(struct gfs_req *req)
{
	const char *hold = NULL, *first = NULL;

	gfs_req_arg(req, "hold", &hold);
	gfs_req_arg(req, "first", &first);
	if (hold)
		gate_wait();
	if (first)
		gfs_reply_json(req, 200, json_object());
	gfs_reply_upgrade(req, "gfs-test", up_echo, gfs_xmalloc(16), up_free);
}

static const struct gfs_route upgrade_routes[] = {
	{ "GET", "/api/v1/upgrade", NULL, upgrade_route, NULL, 0, 0, NULL },
	{ "GET", "/api/v1/echo/*", NULL, echo, NULL, 0, 0, NULL },
};

#define UPGRADE_HEAD "GET /api/v1/upgrade HTTP/1.1\r\nHost: t\r\n" \
		     "Connection: Upgrade\r\nUpgrade: gfs-test\r\n\r\n"

/* A server with short idle and stall bounds (an upgraded connection must
 * outlive them), or with TLS from cert and key and the default bounds (a
 * handshake under valgrind takes longer). */
static struct gfs_httpd *start_upgrade_server(const char *cert,
					      const char *key)
{
	struct gfs_httpd_limits lim = { .idle_ms = 300, .stall_ms = 300,
					.min_rate = 2048 };
	struct gfs_httpd_sec sec = { .tls_cert = cert, .tls_key = key };
	struct gfs_httpd *s2 = gfs_httpd_start_secure(
		"127.0.0.1:0", upgrade_routes, GFS_ARRAY_SIZE(upgrade_routes),
		NULL, 0, cert ? NULL : &lim, &sec);

	cr_assert_not_null(s2);
	atomic_store(&up_runs, 0);
	atomic_store(&up_ends, 0);
	atomic_store(&up_frees, 0);
	atomic_store(&up_extra, -1);
	cut_reset();
	return s2;
}

/* The value of *v once it reaches want, or after ms. */
static int wait_for_count(atomic_int *v, int want, int ms)
{
	int64_t t0 = gfs_mono_ms();

	while (atomic_load(v) < want && gfs_mono_ms() - t0 < ms)
		usleep(5 * 1000);
	return atomic_load(v);
}

/* Read exactly strlen(want) bytes (have: those already read) and
 * compare. */
static void expect_echo(int fd, const char *want, const char *have)
{
	char buf[256];
	size_t n = strlen(have), len = strlen(want);
	int64_t t0 = gfs_mono_ms();
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t got;

	cr_assert_lt(len, sizeof(buf));
	memcpy(buf, have, n);
	while (n < len && gfs_mono_ms() - t0 < 5000) {
		if (poll(&p, 1, 100) <= 0)
			continue;
		got = recv(fd, buf + n, len - n, 0);
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	cr_assert_str_eq(buf, want);
}

/* Connect, send the upgrade request with extra in the same write, check
 * the 101; extra must come back echoed. */
static int upgrade_open(struct gfs_httpd *s2, const char *extra)
{
	char req[512], head[4096], *end;
	int fd = dial(gfs_httpd_port(s2));
	size_t n = (size_t)snprintf(req, sizeof(req), "%s%s", UPGRADE_HEAD,
				    extra);

	cr_assert_eq(send(fd, req, n, 0), (ssize_t)n);
	read_until(fd, head, sizeof(head), "\r\n\r\n", 5000);
	end = strstr(head, "\r\n\r\n");
	cr_assert_not_null(end, "no reply head: %s", head);
	end[2] = '\0';
	cr_assert(!strncmp(head, "HTTP/1.1 101 ", 13), "%s", head);
	cr_assert_not_null(strcasestr(head, "\r\nUpgrade: gfs-test\r\n"), "%s",
			   head);
	cr_assert_not_null(strcasestr(head, "\r\nConnection: Upgrade\r\n"),
			   "%s", head);
	expect_echo(fd, extra, end + 4);
	return fd;
}

/* Does the server end fd within ms (it sends nothing more)? */
static bool ended_within(int fd, int ms)
{
	char c;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

Test(httpd, an_upgraded_connection_echoes_extra_then_later_bytes)
{
	struct gfs_httpd *s2 = start_upgrade_server(NULL, NULL);
	int fd = upgrade_open(s2, "early");

	cr_expect_eq(atomic_load(&up_extra), 5, "the early bytes came as "
		     "extra, not from the socket");
	cr_expect_eq(metric(s2, "http_upgraded"), 1);
	cr_assert_eq(send(fd, "later", 5, 0), 5);
	expect_echo(fd, "later", "");
	close(fd);
	cr_expect_eq(wait_for_count(&up_frees, 1, 5000), 1);
	cr_expect_eq(atomic_load(&up_runs), 1);
	cr_expect_eq(atomic_load(&up_ends), 1);
	expect_closed(s2, gfs_mono_ms(), 5000);
	cr_expect_eq(metric(s2, "http_upgraded"), 0);
	cr_expect_eq(metric(s2, "http_held"), 0);
	cr_expect_eq(metric(s2, "http_replies_total{status=\"101\"}"), 1);
	cr_expect_eq(gfs_httpd_requests(s2, "/api/v1/upgrade"), 1);
	gfs_httpd_stop(s2);
	cr_expect_eq(atomic_load(&up_frees), 1);
}

/* The client stays idle: the stop shuts the socket down, the function
 * returns and the stop does not wait on the client. */
Test(httpd, stop_ends_an_idle_upgraded_connection, .timeout = 20)
{
	struct gfs_httpd *s2 = start_upgrade_server(NULL, NULL);
	int fd = upgrade_open(s2, "x");
	int64_t t0 = gfs_mono_ms();

	gfs_httpd_stop(s2);
	cr_expect_lt(gfs_mono_ms() - t0, 3000);
	cr_expect_eq(atomic_load(&up_ends), 1);
	cr_expect_eq(atomic_load(&up_frees), 1);
	cr_expect(ended_within(fd, 2000), "the client did not see the end");
	close(fd);
}

/* More upgraded connections than the server has event threads: a function
 * that ran in an event thread would leave none to serve the request. */
Test(httpd, a_request_is_served_beside_upgraded_connections)
{
	struct gfs_httpd *s2 = start_upgrade_server(NULL, NULL);
	int fd[3], i;
	char *a;

	for (i = 0; i < 3; i++)
		fd[i] = upgrade_open(s2, "x");
	a = exchange(gfs_httpd_port(s2), "GET /api/v1/echo/n HTTP/1.1\r\n"
		     "Host: t\r\nConnection: close\r\n\r\n");
	cr_expect(!strncmp(a, "HTTP/1.1 200", 12), "%s", a);
	cr_expect_not_null(strstr(a, "\"/n\""), "%s", a);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(send(fd[i], "still", 5, 0), 5);
		expect_echo(fd[i], "still", "");
		close(fd[i]);
	}
	cr_expect_eq(wait_for_count(&up_frees, 3, 5000), 3);
	gfs_httpd_stop(s2);
}

/* Idle past the idle and stall bounds (300 ms; a plain connection beside
 * it is closed meanwhile), the upgraded connection stays. */
Test(httpd, the_reaper_leaves_an_idle_upgraded_connection_alone)
{
	struct gfs_httpd *s2 = start_upgrade_server(NULL, NULL);
	int plain = dial(gfs_httpd_port(s2));
	int fd = upgrade_open(s2, "a");

	cr_expect_eq(ms_until_closed(fd, NULL, 100, 1500), -1,
		     "the upgraded connection was closed");
	cr_expect(ended_within(plain, 0), "the idle bound did not hold");
	cr_assert_eq(send(fd, "b", 1, 0), 1);
	expect_echo(fd, "b", "");
	cr_expect_eq(metric(s2, "http_cut_total{why=\"stall\"}"), 0);
	cr_expect_eq(metric(s2, "http_cut_total{why=\"gone\"}"), 0);
	cr_expect_eq(metric(s2, "http_cut_total{why=\"idle\"}"), 1);
	cr_expect_eq(atomic_load(&up_ends), 0);
	close(plain);
	close(fd);
	cr_expect_eq(wait_for_count(&up_frees, 1, 5000), 1);
	gfs_httpd_stop(s2);
}

/* The client resets the connection while the handler runs: the 101
 * cannot be sent, the function never runs, its argument is freed once. */
Test(httpd, an_upgrade_never_sent_frees_its_argument_once)
{
	struct gfs_httpd *s2 = start_upgrade_server(NULL, NULL);
	const char *req = "GET /api/v1/upgrade?hold=1 HTTP/1.1\r\nHost: t\r\n"
			  "Connection: Upgrade\r\nUpgrade: gfs-test\r\n\r\n";
	int fd = dial_open(s2);

	cr_assert_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	cr_assert_eq(wait_for_count(&cut_held, 1, 5000), 1);
	send_and_vanish(fd, NULL, 0, "rst");
	gate_release();
	cr_expect_eq(wait_for_count(&up_frees, 1, 5000), 1);
	expect_closed(s2, gfs_mono_ms(), 5000);
	cr_expect_eq(atomic_load(&up_runs), 0);
	gfs_httpd_stop(s2);
	cr_expect_eq(atomic_load(&up_frees), 1);
}

/* What libmicrohttpd does not check is refused with a 400 (an HTTP/1.0
 * request, no Upgrade header naming the protocol); a reply made before
 * stands.  Each frees the argument, and no function runs. */
Test(httpd, refused_upgrades_free_their_argument)
{
	static const char *const reqs[][2] = {
		{ "GET /api/v1/upgrade HTTP/1.0\r\nConnection: Upgrade\r\n"
		  "Upgrade: gfs-test\r\n\r\n", " 400 " },
		{ "GET /api/v1/upgrade HTTP/1.1\r\nHost: t\r\n"
		  "Connection: close\r\n\r\n", " 400 " },
		{ "GET /api/v1/upgrade HTTP/1.1\r\nHost: t\r\n"
		  "Connection: close\r\nUpgrade: websocket\r\n\r\n", " 400 " },
		{ "GET /api/v1/upgrade?first=1 HTTP/1.1\r\nHost: t\r\n"
		  "Connection: close\r\nUpgrade: gfs-test\r\n\r\n", " 200 " },
	};
	struct gfs_httpd *s2 = start_upgrade_server(NULL, NULL);
	size_t i;
	char *a;

	for (i = 0; i < GFS_ARRAY_SIZE(reqs); i++) {
		a = exchange(gfs_httpd_port(s2), reqs[i][0]);
		cr_expect_not_null(strstr(a, reqs[i][1]), "%zu: %s", i, a);
		if (reqs[i][1][1] == '4')
			cr_expect_not_null(strstr(a, "bad_request"), "%s", a);
		cr_expect_eq(wait_for_count(&up_frees, (int)i + 1, 5000),
			     (int)i + 1);
	}
	cr_expect_eq(atomic_load(&up_runs), 0);
	gfs_httpd_stop(s2);
	cr_expect_eq(atomic_load(&up_frees), (int)GFS_ARRAY_SIZE(reqs));
}

/* The Upgrade header is a list, in any case. */
Test(httpd, an_upgrade_listed_among_others_is_taken)
{
	struct gfs_httpd *s2 = start_upgrade_server(NULL, NULL);
	const char *req = "GET /api/v1/upgrade HTTP/1.1\r\nHost: t\r\n"
			  "Connection: keep-alive, Upgrade\r\n"
			  "Upgrade: h2c , GFS-Test\r\n\r\n";
	char a[4096];
	int fd = dial(gfs_httpd_port(s2));

	cr_assert_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
	read_until(fd, a, sizeof(a), "\r\n\r\n", 5000);
	cr_expect(!strncmp(a, "HTTP/1.1 101 ", 13), "%s", a);
	close(fd);
	cr_expect_eq(wait_for_count(&up_frees, 1, 5000), 1);
	cr_expect_eq(atomic_load(&up_runs), 1);
	gfs_httpd_stop(s2);
}

/* Over TLS: 501, the argument freed, no function. */
Test(httpd, an_upgrade_over_tls_is_a_json_501)
{
	char dir[] = "/tmp/gfs-upgrade-XXXXXX", cmd[512], cert[64], key[64];
	const char *hdrs[] = { "Connection: Upgrade", "Upgrade: gfs-test",
			       NULL };
	struct gfs_http_opts o = { .headers = hdrs };
	struct gfs_http_reply r;
	struct gfs_httpd *s2;
	struct gfs_http *c;
	char u[128];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/c.pem", dir);
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "
		 "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
		 "-keyout %s -out %s 2>/dev/null", key, cert);
	cr_assert_eq(system(cmd), 0);
	s2 = start_upgrade_server(cert, key);
	c = gfs_http_new();
	gfs_http_set_ca(c, cert);
	snprintf(u, sizeof(u), "https://127.0.0.1:%u/api/v1/upgrade",
		 gfs_httpd_port(s2));
	gfs_http_call(c, "GET", u, &o, &r);
	cr_expect_eq(r.status, 501, "%s", r.failure);
	cr_expect_not_null(r.json);
	cr_expect_eq(atomic_load(&up_frees), 1);
	cr_expect_eq(atomic_load(&up_runs), 0);
	gfs_http_reply_clear(&r);
	gfs_http_free(c);
	gfs_httpd_stop(s2);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}
