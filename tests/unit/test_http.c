/*
 * Unit tests for the handle pool of common/http.c: a call waits for a
 * handle only until its deadline, and handles held across calls (streams)
 * neither wait nor make calls wait.  And for uploads: pushing a body and
 * ending it never wait for the reply.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

/* A peer on one connection: a request without a body is answered at
 * once; one with a body (Content-Length) is read whole, said so on
 * got[1] (after noting in segs how many TCP segments with data it came
 * in), and answered only when the test writes to go[1] (or after 10 s,
 * so that a broken test cannot hang). */
struct slow_peer {
	int lfd;          /* listening socket */
	int port;
	int got[2], go[2];
	_Atomic unsigned segs; /* data segments the last request came in */
};

static const char peer_reply[] =
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";

/* Read one request (head and body) from fd; false at EOF.  Its body
 * length in *body.  Requests here are small: one buffer holds one. */
static bool peer_read(int fd, size_t *body)
{
	char buf[256 << 10], *end = NULL, *cl;
	size_t have = 0, want = (size_t)-1;

	while (have < want) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);

		if (n <= 0)
			return false;
		have += (size_t)n;
		buf[have] = 0;
		if (!end && (end = strstr(buf, "\r\n\r\n"))) {
			cl = strcasestr(buf, "content-length:");
			*body = cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0;
			want = (size_t)(end + 4 - buf) + *body;
		}
	}
	return true;
}

static unsigned data_segs_in(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len);
	return ti.tcpi_data_segs_in;
}

static void *slow_peer_main(void *arg)
{
	struct slow_peer *sp = arg;
	struct pollfd pf = { sp->go[0], POLLIN, 0 };
	int fd = accept(sp->lfd, NULL, NULL);
	unsigned segs = fd >= 0 ? data_segs_in(fd) : 0;
	size_t body;

	while (fd >= 0 && peer_read(fd, &body)) {
		sp->segs = data_segs_in(fd) - segs;
		if (body && (write(sp->got[1], "g", 1) != 1 ||
			     poll(&pf, 1, 10000) < 0))
			break;
		/* before the reply: once it has it, the client may send the
		 * next request at once */
		segs = data_segs_in(fd);
		if (write(fd, peer_reply, sizeof(peer_reply) - 1) < 0)
			break;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void slow_peer_start(struct slow_peer *sp, pthread_t *t)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sp->lfd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(sp->lfd, 0);
	cr_assert_eq(bind(sp->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(sp->lfd, 1), 0);
	cr_assert_eq(getsockname(sp->lfd, (struct sockaddr *)&a, &len), 0);
	sp->port = ntohs(a.sin_port);
	cr_assert_eq(pipe(sp->got), 0);
	cr_assert_eq(pipe(sp->go), 0);
	cr_assert_eq(pthread_create(t, NULL, slow_peer_main, sp), 0);
}

/* Start the peer and open h's connection to it with a first call, which
 * the uploads then reuse; the URL to ask in url. */
static void peer_open(struct slow_peer *sp, pthread_t *t, struct gfs_http *h,
		      char *url, size_t len)
{
	struct gfs_http_reply r;

	slow_peer_start(sp, t);
	snprintf(url, len, "http://127.0.0.1:%d/x", sp->port);
	cr_assert_eq(gfs_http_call(h, "GET", url, NULL, &r), GFS_OK);
	gfs_http_reply_clear(&r);
}

/* Free h, which closes the connection (the peer ends), and the peer. */
static void peer_close(struct slow_peer *sp, pthread_t t, struct gfs_http *h)
{
	gfs_http_free(h);
	pthread_join(t, NULL);
	close(sp->lfd);
	close(sp->got[0]);
	close(sp->got[1]);
	close(sp->go[0]);
	close(sp->go[1]);
}

/* A chunkserver pushes a small PUT to the next replica, ends it, and
 * fsyncs its own copy while the next replica fsyncs its: so neither the
 * push of a whole body nor the end may wait for the reply.  Before, the
 * push waited on the kept-alive socket until the reply came (here: its
 * 1 s poll timeout), and the replicas fsynced one after another. */
Test(http, upload_push_and_end_do_not_wait_for_the_reply)
{
	struct slow_peer sp;
	struct gfs_http *h = gfs_http_new();
	struct gfs_upload *up;
	struct gfs_http_reply r;
	struct pollfd pf;
	char body[4096], url[64];
	pthread_t t;
	int64_t t0;

	memset(body, 'x', sizeof(body));
	peer_open(&sp, &t, h, url, sizeof(url));
	cr_assert_eq(gfs_upload_start(&up, h, "PUT", url, NULL,
				      (int64_t)sizeof(body), 0), GFS_OK);
	t0 = gfs_mono_ms();
	cr_expect_eq(gfs_upload_push(up, body, sizeof(body)), GFS_OK);
	cr_expect_eq(gfs_upload_end(up), GFS_OK);
	cr_expect_lt(gfs_mono_ms() - t0, 500,
		     "push and end waited %lld ms: for the reply?",
		     (long long)(gfs_mono_ms() - t0));
	/* the peer has the whole body, and has not answered */
	pf = (struct pollfd){ sp.got[0], POLLIN, 0 };
	cr_expect_eq(poll(&pf, 1, 5000), 1, "the body never arrived whole");
	cr_expect_not(gfs_upload_poll(up), "no reply was sent yet");
	cr_assert_eq(write(sp.go[1], "g", 1), 1);
	cr_expect_eq(gfs_upload_finish(up, &r), GFS_OK);
	cr_expect_eq(r.status, 200);
	gfs_http_reply_clear(&r);
	peer_close(&sp, t, h);
}

/* Push body[0..len) in pieces of piece bytes, let the peer answer once
 * it has the request whole, finish: the number of data segments the
 * request came in. */
static unsigned upload_segments(struct slow_peer *sp, struct gfs_http *h,
				const char *url, const char *body, size_t len,
				size_t piece)
{
	struct gfs_upload *up;
	struct gfs_http_reply r;
	struct pollfd pf = { sp->got[0], POLLIN, 0 };
	const char *hdrs[] = { "Content-Type: application/octet-stream",
			       NULL };
	size_t at;
	char c;

	cr_assert_eq(gfs_upload_start(&up, h, "PUT", url, hdrs,
				      (int64_t)len, 0), GFS_OK);
	for (at = 0; at < len; at += piece)
		cr_assert_eq(gfs_upload_push(up, body + at,
					     GFS_MIN(piece, len - at)), GFS_OK);
	cr_assert_eq(gfs_upload_end(up), GFS_OK);
	if (len) { /* (a request without a body is answered at once) */
		cr_assert_eq(poll(&pf, 1, 5000), 1,
			     "the body never arrived whole");
		cr_assert_eq(read(sp->got[0], &c, 1), 1);
		cr_assert_eq(write(sp->go[1], "g", 1), 1);
	}
	cr_assert_eq(gfs_upload_finish(up, &r), GFS_OK);
	cr_expect_eq(r.status, 200);
	gfs_http_reply_clear(&r);
	return sp->segs;
}

/* A small body of announced size pushed whole goes in the same send as
 * the request's head: the peer's event loop wakes once for it, not once
 * for the head and again for the body.  A body pushed in pieces, or too
 * big to copy, still streams. */
Test(http, small_upload_goes_with_its_head)
{
	static char body[128 << 10];
	struct slow_peer sp;
	struct gfs_http *h = gfs_http_new();
	char url[64];
	pthread_t t;

	memset(body, 'x', sizeof(body));
	peer_open(&sp, &t, h, url, sizeof(url));
	cr_expect_eq(upload_segments(&sp, h, url, body, 4096, 4096), 1,
		     "a 4 KiB body pushed whole came in %u segments",
		     (unsigned)sp.segs);
	cr_expect_eq(upload_segments(&sp, h, url, body, 0, 1), 1,
		     "an empty body");
	cr_expect_geq(upload_segments(&sp, h, url, body, 4096, 1024), 2,
		      "a body pushed in pieces");
	cr_expect_geq(upload_segments(&sp, h, url, body, sizeof(body),
				      sizeof(body)), 2, "a big body");
	peer_close(&sp, t, h);
}
