/*
 * Unit tests for common/client.c against fake masters (common/httpd.c
 * route tables in this process): finding the primary, failover retries,
 * identity and epoch headers, error mapping.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "constants.h"
#include "http.h"
#include "httpd.h"
#include "json.h"
#include "util.h"

/* One fake master. */
struct fake {
	bool primary;           /* answer, or 421 */
	char named[64];         /* X-GFS-Primary to send with 421 */
	char client[128];       /* last X-GFS-Client seen */
	unsigned long epoch_in; /* last X-GFS-Epoch seen */
	unsigned long epoch_out;
	char request[64];       /* last X-GFS-Request seen */
	atomic_int calls;
};

/* Copy header h of req into buf ("" when absent). */
static void note_header(struct gfs_req *req, const char *h, char *buf,
			size_t len)
{
	const char *v = gfs_req_header(req, h);

	snprintf(buf, len, "%s", v ? v : "");
}

static void fake_stat(struct gfs_req *req)
{
	struct fake *f = req->app;
	const char *h;
	char ep[32];

	atomic_fetch_add(&f->calls, 1);
	note_header(req, GFS_HDR_REQUEST, f->request, sizeof(f->request));
	h = gfs_req_header(req, GFS_HDR_CLIENT);
	snprintf(f->client, sizeof(f->client), "%s", h ? h : "");
	h = gfs_req_header(req, GFS_HDR_EPOCH);
	f->epoch_in = h ? strtoul(h, NULL, 10) : 0;
	snprintf(ep, sizeof(ep), "%lu", f->epoch_out);
	gfs_reply_header(req, GFS_HDR_EPOCH, ep);
	if (!f->primary) {
		if (f->named[0])
			gfs_reply_header(req, GFS_HDR_PRIMARY, f->named);
		gfs_reply_error(req, GFS_ENOTPRIMARY, "backup");
		return;
	}
	if (!strcmp(req->path, "/leased")) {
		gfs_reply_error(req, GFS_ELEASED, "held by someone");
		return;
	}
	gfs_reply_json(req, 200,
		       json_pack("{s:s, s:s, s:i, s:I, s:i}", "path", req->path,
				 "type", "file", "size", 42, "mtime_ns",
				 (json_int_t)1000000000, "mode", 0640));
}

/* POST /files/PATH/...: an allocation's answer, whatever was asked. */
static void fake_post(struct gfs_req *req)
{
	struct fake *f = req->app;

	atomic_fetch_add(&f->calls, 1);
	note_header(req, GFS_HDR_REQUEST, f->request, sizeof(f->request));
	gfs_reply_json(req, 200,
		       json_pack("{s:s, s:i, s:[s]}", "handle",
				 "000000000000002a", "version", 1, "replicas",
				 "http://127.0.0.1:9"));
}

static const struct gfs_route fake_routes[] = {
	{ "GET", "/api/v1/files/*", NULL, fake_stat, NULL, 0, 0, NULL },
	{ "POST", "/api/v1/files/*", NULL, fake_post, NULL, 0, 0, NULL },
	{ "PUT", "/api/v1/files/*", NULL, fake_post, NULL, 0, 0, NULL },
};

/* A master that dies under every call: it reads the request and closes
 * the connection without a reply (as kill -9 does mid-call). */
struct dropper {
	int fd;                 /* listening socket */
	unsigned port;
	atomic_int conns;       /* connections cut */
	char request[64];       /* X-GFS-Request of the last one cut */
	pthread_t thread;
};

static void *dropper_main(void *arg)
{
	struct dropper *d = arg;
	char buf[65536];
	const char *h;
	ssize_t n;
	int c;

	while ((c = accept(d->fd, NULL, NULL)) >= 0) {
		n = read(c, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			h = strstr(buf, GFS_HDR_REQUEST ": ");
			snprintf(d->request, sizeof(d->request), "%.*s",
				 h ? GFS_REQUEST_ID_HEX : 0,
				 h ? h + sizeof(GFS_HDR_REQUEST) + 1 : "");
			atomic_fetch_add(&d->conns, 1);
		}
		close(c);
	}
	return NULL;
}

static void dropper_start(struct dropper *d)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	d->fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(d->fd, 0);
	cr_assert_eq(bind(d->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(d->fd, 16), 0);
	cr_assert_eq(getsockname(d->fd, (struct sockaddr *)&a, &len), 0);
	d->port = ntohs(a.sin_port);
	atomic_init(&d->conns, 0);
	cr_assert_eq(pthread_create(&d->thread, NULL, dropper_main, d), 0);
}

static void dropper_stop(struct dropper *d)
{
	shutdown(d->fd, SHUT_RDWR);
	close(d->fd);
	pthread_join(d->thread, NULL);
}

static struct gfs_httpd *start(struct fake *f, char *url, size_t len)
{
	struct gfs_httpd *h = gfs_httpd_start("127.0.0.1:0", fake_routes,
					      GFS_ARRAY_SIZE(fake_routes), f,
					      0);

	cr_assert_not_null(h);
	snprintf(url, len, "http://127.0.0.1:%u", gfs_httpd_port(h));
	return h;
}

static struct gfs_client *client_for(const char *masters, long failover_ms)
{
	struct gfs_client_conf cc = { .masters = masters,
				      .client_id = "tester@box",
				      .failover_ms = failover_ms };

	gfs_http_global_init();
	return gfs_client_new(&cc);
}

Test(client, follows_421_to_the_named_primary)
{
	struct fake a = { .primary = false }, b = { .primary = true };
	char ua[64], ub[64], list[160];
	struct gfs_httpd *ha = start(&a, ua, sizeof(ua));
	struct gfs_httpd *hb = start(&b, ub, sizeof(ub));
	struct gfs_client *c;
	struct gfs_stat st;

	snprintf(a.named, sizeof(a.named), "%s", ub);
	snprintf(list, sizeof(list), "%s,%s", ua, ub);
	c = client_for(list, 5000);
	cr_assert_eq(gfs_client_stat(c, "/x", &st), GFS_OK);
	cr_expect_eq(st.size, 42);
	cr_expect_eq(st.mode, 0640);
	cr_expect_eq(atomic_load(&a.calls), 1);
	/* the primary is remembered: the backup is not asked again */
	cr_assert_eq(gfs_client_stat(c, "/y", &st), GFS_OK);
	cr_expect_eq(atomic_load(&a.calls), 1);
	cr_expect_eq(atomic_load(&b.calls), 2);
	gfs_client_free(c);
	gfs_httpd_stop(ha);
	gfs_httpd_stop(hb);
}

Test(client, skips_a_master_that_refuses_connections)
{
	struct fake b = { .primary = true };
	char ub[64], list[160];
	struct gfs_httpd *hb = start(&b, ub, sizeof(ub));
	struct gfs_client *c;
	struct gfs_stat st;

	snprintf(list, sizeof(list), "http://127.0.0.1:1,%s", ub);
	c = client_for(list, 5000);
	cr_expect_eq(gfs_client_stat(c, "/x", &st), GFS_OK);
	gfs_client_free(c);
	gfs_httpd_stop(hb);
}

Test(client, gives_up_after_the_failover_window)
{
	struct gfs_client *c = client_for("127.0.0.1:1,127.0.0.1:2", 300);
	struct gfs_stat st;
	int64_t t0 = gfs_mono_ms();

	cr_expect_eq(gfs_client_stat(c, "/x", &st), GFS_EUNAVAIL);
	cr_expect_lt(gfs_mono_ms() - t0, 3000);
	gfs_client_free(c);
}

Test(client, sends_identity_and_highest_epoch)
{
	struct fake b = { .primary = true, .epoch_out = 7 };
	char ub[64];
	struct gfs_httpd *hb = start(&b, ub, sizeof(ub));
	struct gfs_client *c = client_for(ub, 2000), *v;
	struct gfs_stat st;

	cr_assert_eq(gfs_client_stat(c, "/x", &st), GFS_OK);
	cr_expect_str_eq(b.client, "tester@box");
	cr_assert_eq(gfs_client_stat(c, "/x", &st), GFS_OK);
	cr_expect_eq(b.epoch_in, 7);
	v = gfs_client_as(c, "gateway-user", NULL);
	cr_assert_eq(gfs_client_stat(v, "/x", &st), GFS_OK);
	cr_expect_str_eq(b.client, "gateway-user");
	gfs_client_free(v);
	gfs_client_free(c);
	gfs_httpd_stop(hb);
}

Test(client, ignores_a_master_with_a_lower_epoch)
{
	struct fake cur = { .primary = true, .epoch_out = 5 };
	struct fake old = { .primary = true, .epoch_out = 3 };
	char uc[64], uo[64], list[160];
	struct gfs_httpd *hc = start(&cur, uc, sizeof(uc));
	struct gfs_httpd *ho = start(&old, uo, sizeof(uo));
	struct gfs_client *c;
	struct gfs_stat st;

	snprintf(list, sizeof(list), "%s,%s", uc, uo);
	c = client_for(list, 800);
	cr_assert_eq(gfs_client_stat(c, "/x", &st), GFS_OK);
	/* sent (or forged) to the master of epoch 3, which still answers:
	 * its answer is not taken */
	cur.primary = false;
	snprintf(cur.named, sizeof(cur.named), "%s", uo);
	cr_expect_neq(gfs_client_stat(c, "/x", &st), GFS_OK);
	cr_expect_geq(atomic_load(&old.calls), 1);
	cur.primary = true;
	cr_expect_eq(gfs_client_stat(c, "/x", &st), GFS_OK);
	gfs_client_free(c);
	gfs_httpd_stop(hc);
	gfs_httpd_stop(ho);
}

Test(client, maps_errors_and_keeps_the_message)
{
	struct fake b = { .primary = true };
	char ub[64];
	struct gfs_httpd *hb = start(&b, ub, sizeof(ub));
	struct gfs_client *c = client_for(ub, 2000);
	struct gfs_stat st;

	cr_expect_eq(gfs_client_stat(c, "/leased", &st), GFS_ELEASED);
	cr_expect(strstr(gfs_client_last_error(), "held by someone"));
	cr_expect_eq(gfs_client_stat(c, "/a/../b", &st), GFS_EINVAL);
	cr_expect_eq(atomic_load(&b.calls), 1); /* bad paths never leave */
	gfs_client_free(c);
	gfs_httpd_stop(hb);
}

/* call METHOD ROUTE with the dropper first and b second in the list. */
static enum gfs_err call_after_drop(struct dropper *d, const char *ub,
				    const char *method, const char *route)
{
	char list[160];
	struct gfs_client *c;
	json_t *j = NULL;
	enum gfs_err err;

	snprintf(list, sizeof(list), "http://127.0.0.1:%u,%s", d->port, ub);
	c = client_for(list, 5000);
	err = gfs_client_call(c, method, route, NULL, &j);
	if (j)
		json_decref(j);
	gfs_client_free(c);
	return err;
}

Test(client, repeats_an_allocation_whose_connection_broke)
{
	struct fake b = { .primary = true };
	struct dropper d;
	char ub[64];
	struct gfs_httpd *hb = start(&b, ub, sizeof(ub));

	dropper_start(&d);
	cr_expect_eq(call_after_drop(&d, ub, "POST", "/files/f/chunks"), GFS_OK);
	cr_expect_eq(call_after_drop(&d, ub, "POST", "/files/f/commit"), GFS_OK);
	cr_expect_eq(atomic_load(&d.conns), 2);
	cr_expect_eq(atomic_load(&b.calls), 2);
	dropper_stop(&d);
	gfs_httpd_stop(hb);
}

/* A rename or a create whose connection broke is asked again with the
 * same X-GFS-Request, which the master uses to answer a repeat as the
 * first; each call has its own id, and a GET none. */
Test(client, repeats_a_mutation_whose_connection_broke_with_its_id)
{
	struct fake b = { .primary = true };
	struct dropper d;
	char ub[64], first[64];
	struct gfs_httpd *hb = start(&b, ub, sizeof(ub));

	dropper_start(&d);
	cr_expect_eq(call_after_drop(&d, ub, "POST",
				     "/files/f/chunks?op=rename&to=%2Fg"),
		     GFS_OK);
	cr_expect_eq(strlen(d.request), GFS_REQUEST_ID_HEX, "%s", d.request);
	cr_expect_str_eq(b.request, d.request, "the same id on the retry");
	snprintf(first, sizeof(first), "%s", b.request);
	cr_expect_eq(call_after_drop(&d, ub, "PUT", "/files/new"), GFS_OK);
	cr_expect_str_eq(b.request, d.request);
	cr_expect_str_neq(b.request, first, "a new call has a new id");
	cr_expect_eq(atomic_load(&d.conns), 2);
	cr_expect_eq(atomic_load(&b.calls), 2);
	cr_expect_eq(call_after_drop(&d, ub, "GET", "/files/x"), GFS_OK);
	cr_expect_str_eq(b.request, "", "no id on a read");
	dropper_stop(&d);
	gfs_httpd_stop(hb);
}
