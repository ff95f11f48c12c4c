/*
 * Unit tests for chunkserver/masterconn.c (and the replicate.c / fetch.c
 * path its orders take): a chunkserver's heartbeat threads talk to fake
 * masters (common/httpd.c routes that record each heartbeat body and
 * answer what the test scripts); a second, in-process chunkserver serving
 * the real route table is the source of replication orders.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../chunkserver/chunkserver.h"
#include "../../chunkserver/chunkstore.h"
#include "../../chunkserver/chunkwrite.h"
#include "../../chunkserver/masterconn.h"
#include "../../chunkserver/replicate.h"
#include "../../chunkserver/routes.h"
#include "http.h"
#include "httpd.h"
#include "json.h"
#include "log.h"
#include "path.h"
#include "util.h"

/* A fake master: records heartbeats, answers with a scripted reply. */
struct fake {
	pthread_mutex_t lock;
	json_t *beats;      /* every body received */
	json_t *reply;      /* answered each time (copied) */
	json_t *orders;     /* added to the next reply only, then dropped */
	bool hold_full;     /* a full report waits for its reply until cleared */
	bool holding;       /* one is waiting */
	pthread_cond_t cond; /* hold_full cleared */
	struct gfs_httpd *httpd;
	char url[64];
};

static void on_heartbeat(struct gfs_req *req)
{
	struct fake *f = req->app;
	json_t *b = gfs_req_json(req), *r;

	if (!b)
		return;
	pthread_mutex_lock(&f->lock);
	json_array_append_new(f->beats, b);
	if (json_is_true(json_object_get(b, "full"))) {
		f->holding = f->hold_full;
		while (f->hold_full)
			pthread_cond_wait(&f->cond, &f->lock);
		f->holding = false;
	}
	r = json_deep_copy(f->reply);
	if (f->orders) {
		json_object_set_new(r, "orders", f->orders);
		f->orders = NULL;
	}
	pthread_mutex_unlock(&f->lock);
	gfs_reply_json(req, 200, r);
}

static const struct gfs_route fake_routes[] = {
	{ "POST", "/api/v1/heartbeat", NULL, on_heartbeat, NULL, 0, 0, NULL },
};

static struct fake masters[2];
static struct gfs_chunkserver src, dst;
static char src_dir[64], dst_dir[64];

static void fake_start(struct fake *f, const char *role, uint64_t epoch)
{
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->hold_full = f->holding = false;
	f->beats = json_array();
	f->reply = json_pack("{s:I, s:s, s:b, s:[]}", "epoch",
			     (json_int_t)epoch, "role", role, "want_full", 0,
			     "orders");
	f->httpd = gfs_httpd_start("127.0.0.1:0", fake_routes, 1, f, 0);
	cr_assert_not_null(f->httpd);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%u",
		 gfs_httpd_port(f->httpd));
}

static void fake_stop(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	f->hold_full = false;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	gfs_httpd_stop(f->httpd);
	json_decref(f->beats);
	json_decref(f->reply);
	json_decref(f->orders);
}

/* A copy of heartbeat i of f (new reference), or NULL. */
static json_t *beat(struct fake *f, size_t i)
{
	json_t *b;

	pthread_mutex_lock(&f->lock);
	b = json_deep_copy(json_array_get(f->beats, i));
	pthread_mutex_unlock(&f->lock);
	return b;
}

static size_t nbeats(struct fake *f)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = json_array_size(f->beats);
	pthread_mutex_unlock(&f->lock);
	return n;
}

static bool wait_beats(struct fake *f, size_t n, int ms)
{
	int64_t deadline = gfs_mono_ms() + ms;

	while (nbeats(f) < n) {
		if (gfs_mono_ms() > deadline)
			return false;
		usleep(5000);
	}
	return true;
}

static void set_reply(struct fake *f, const char *key, json_t *v)
{
	pthread_mutex_lock(&f->lock);
	json_object_set_new(f->reply, key, v);
	pthread_mutex_unlock(&f->lock);
}

/* Make f sit on the replies to full reports (on), or answer them (off). */
static void hold_full(struct fake *f, bool on)
{
	pthread_mutex_lock(&f->lock);
	f->hold_full = on;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static bool wait_holding(struct fake *f, int ms)
{
	int64_t deadline = gfs_mono_ms() + ms;
	bool held = false;

	while (!held && gfs_mono_ms() <= deadline) {
		pthread_mutex_lock(&f->lock);
		held = f->holding;
		pthread_mutex_unlock(&f->lock);
		if (!held)
			usleep(5000);
	}
	return held;
}

/* Whether a heartbeat of f from the first-th on reports hex as added
 * (waiting up to ms for one). */
static bool wait_added(struct fake *f, size_t first, const char *hex,
		       int ms)
{
	int64_t deadline = gfs_mono_ms() + ms;
	size_t i = first;
	json_t *b, *c;
	size_t k;

	while (gfs_mono_ms() <= deadline) {
		if (i >= nbeats(f)) {
			usleep(5000);
			continue;
		}
		b = beat(f, i++);
		json_array_foreach(json_object_get(b, "added"), k, c) {
			if (!strcmp(json_string_value(json_array_get(c, 0)),
				    hex)) {
				json_decref(b);
				return true;
			}
		}
		json_decref(b);
	}
	return false;
}

static void give_orders(struct fake *f, json_t *orders)
{
	pthread_mutex_lock(&f->lock);
	json_decref(f->orders);
	f->orders = orders;
	pthread_mutex_unlock(&f->lock);
}

static void open_store(struct gfs_chunkserver *cs, char *dir)
{
	struct gfs_chunkstore_conf conf = { .dir = dir };

	snprintf(dir, 64, "/tmp/gfs-masterconn.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(gfs_chunkstore_open(&conf, &cs->store), GFS_OK);
	cs->http = gfs_http_pool_new(8);
}

static void put(struct gfs_chunkstore *s, uint64_t h, uint64_t version,
		const char *body, size_t len)
{
	struct gfs_chunkwrite_args a = {
		.handle = h, .version = version, .size = (int64_t)len,
		.wait_ms = 100,
	};
	struct gfs_chunkwrite *w;
	uint64_t length;

	cr_assert_eq(gfs_chunkwrite_begin(s, &a, &w, NULL, 0), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_data(w, body, len), GFS_OK);
	cr_assert_eq(gfs_chunkwrite_commit(w, &length), GFS_OK);
	gfs_chunkwrite_free(w);
}

/* The source chunkserver: the real routes over its own store. */
static void start_src(void)
{
	open_store(&src, src_dir);
	src.repl = gfs_replicate_start(&src, 1, NULL, NULL);
	src.httpd = gfs_routes_start(&src, "127.0.0.1:0");
	cr_assert_not_null(src.httpd);
	src.url = gfs_xasprintf("http://127.0.0.1:%u",
				gfs_httpd_port(src.httpd));
}

/* A copy failed: heartbeat now, as main.c's callback does. */
static void kick(void *cls)
{
	struct gfs_chunkserver *cs = cls;

	if (cs->masters)
		gfs_masterconn_kick(cs->masters);
}

/* The chunkserver under test, heartbeating to conf_master. */
static void start_dst(const char *conf_master, uint64_t interval_ms)
{
	dst.conf.master = gfs_xstrdup(conf_master);
	dst.conf.heartbeat_ms = interval_ms;
	dst.url = gfs_xstrdup("http://127.0.0.1:9");
	dst.repl = gfs_replicate_start(&dst, 2, kick, &dst);
	dst.masters = gfs_masterconn_start(&dst);
	cr_assert_not_null(dst.masters);
}

static void stop_cs(struct gfs_chunkserver *cs, char *dir)
{
	char cmd[128];

	gfs_httpd_stop(cs->httpd);
	gfs_masterconn_free(cs->masters);
	gfs_replicate_free(cs->repl);
	gfs_http_pool_free(cs->http);
	gfs_chunkstore_close(cs->store);
	free(cs->url);
	free(cs->conf.master);
	memset(cs, 0, sizeof(*cs));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

static char body1[100000], body2[5000];

static void setup(void)
{
	gfs_log_init("test", GFS_LOG_ERROR);
	gfs_http_global_init();
	for (size_t i = 0; i < sizeof(body1); i++)
		body1[i] = (char)(i * 7 + 1);
	memset(body2, 'x', sizeof(body2));
	fake_start(&masters[0], "primary", 5);
	fake_start(&masters[1], "backup", 5);
	open_store(&dst, dst_dir);
	put(dst.store, 0x11, 2, body1, sizeof(body1));
}

static void teardown(void)
{
	stop_cs(&dst, dst_dir);
	if (src.store)
		stop_cs(&src, src_dir);
	fake_stop(&masters[0]);
	fake_stop(&masters[1]);
}

TestSuite(masterconn, .init = setup, .fini = teardown, .timeout = 30);

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static json_int_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

Test(masterconn, first_heartbeat_is_the_full_inventory_then_deltas)
{
	json_t *b, *c;

	start_dst(masters[0].url, 50);
	cr_assert(wait_beats(&masters[0], 1, 5000));
	b = beat(&masters[0], 0);
	cr_expect_str_eq(str(b, "url"), "http://127.0.0.1:9");
	cr_expect(json_is_true(json_object_get(b, "full")));
	c = json_array_get(json_object_get(b, "chunks"), 0);
	cr_expect_str_eq(json_string_value(json_array_get(c, 0)),
			 "0000000000000011");
	cr_expect_eq(json_integer_value(json_array_get(c, 1)), 2);
	cr_expect_eq(json_integer_value(json_array_get(c, 2)), sizeof(body1));
	cr_expect_eq(num(b, "used_bytes"), sizeof(body1));
	cr_expect(num(b, "total_bytes") > 0);
	json_decref(b);
	/* a change shows up as a delta, once */
	put(dst.store, 0x12, 1, body2, sizeof(body2));
	cr_expect_eq(gfs_chunkstore_delete(dst.store, 0x11, 100), GFS_OK);
	for (size_t i = 1;; i++) {
		cr_assert(wait_beats(&masters[0], i + 1, 5000));
		b = beat(&masters[0], i);
		cr_expect(json_is_false(json_object_get(b, "full")));
		cr_expect_null(json_object_get(b, "chunks"));
		if (json_array_size(json_object_get(b, "added")))
			break;
		json_decref(b);
	}
	c = json_array_get(json_object_get(b, "added"), 0);
	cr_expect_str_eq(json_string_value(json_array_get(c, 0)),
			 "0000000000000012");
	cr_expect_str_eq(json_string_value(json_array_get(
				 json_object_get(b, "removed"), 0)),
			 "0000000000000011");
	json_decref(b);
	cr_assert(wait_beats(&masters[0], nbeats(&masters[0]) + 1, 5000));
	b = beat(&masters[0], nbeats(&masters[0]) - 1);
	cr_expect_eq(json_array_size(json_object_get(b, "added")), 0,
		     "an acknowledged change is not sent again");
	json_decref(b);
}

Test(masterconn, want_full_brings_the_whole_inventory_again)
{
	json_t *b;
	size_t n;

	start_dst(masters[0].url, 50);
	cr_assert(wait_beats(&masters[0], 2, 5000));
	set_reply(&masters[0], "want_full", json_true());
	n = nbeats(&masters[0]);
	cr_assert(wait_beats(&masters[0], n + 2, 5000));
	b = beat(&masters[0], n + 1);
	cr_expect(json_is_true(json_object_get(b, "full")));
	cr_expect_eq(json_array_size(json_object_get(b, "chunks")), 1);
	json_decref(b);
}

/* A master that answers a delta with want_full (new, or restarted
 * between two heartbeats) gets the inventory at once, not an interval
 * later: its readers wait for those locations. */
Test(masterconn, want_full_is_answered_at_once)
{
	json_t *b;

	start_dst(masters[0].url, 2000);
	cr_assert(wait_beats(&masters[0], 1, 5000)); /* the first, full */
	set_reply(&masters[0], "want_full", json_true());
	cr_assert(wait_beats(&masters[0], 2, 5000)); /* a delta */
	b = beat(&masters[0], 1);
	cr_expect(json_is_false(json_object_get(b, "full")));
	json_decref(b);
	cr_assert(wait_beats(&masters[0], 3, 1000),
		  "the full report waited for the next interval");
	b = beat(&masters[0], 2);
	cr_expect(json_is_true(json_object_get(b, "full")));
	json_decref(b);
	/* and only once: a full report answered with want_full waits */
	cr_expect(!wait_beats(&masters[0], 4, 1000));
}

Test(masterconn, heartbeats_carry_the_epoch_and_primary_seen)
{
	json_t *b;

	start_dst(masters[0].url, 50);
	cr_assert(wait_beats(&masters[0], 2, 5000));
	b = beat(&masters[0], 0);
	cr_expect_eq(num(b, "epoch"), 0);
	cr_expect_eq(num(b, "primary_age_ms"), -1);
	json_decref(b);
	b = beat(&masters[0], 1);
	cr_expect_eq(num(b, "epoch"), 5);
	cr_expect_str_eq(str(b, "primary"), masters[0].url);
	cr_expect(num(b, "primary_age_ms") >= 0 &&
		  num(b, "primary_age_ms") < 2000);
	json_decref(b);
}

Test(masterconn, orders_of_the_primary_are_carried_out)
{
	struct gfs_chunk_view *v;

	start_src();
	put(src.store, 0x21, 4, body1, sizeof(body1));
	start_dst(masters[0].url, 50);
	cr_assert(wait_beats(&masters[0], 1, 5000));
	give_orders(&masters[0], json_pack(
		"[{s:s, s:s}, {s:s, s:s, s:i, s:i, s:[s]}]", "op", "delete",
		"handle", "0000000000000011", "op", "replicate", "handle",
		"0000000000000021", "version", 4, "length", (int)sizeof(body1),
		"sources", src.url));
	for (int i = 0; i < 500; i++) {
		if (gfs_chunkstore_get_view(dst.store, 0x21, false, &v) ==
		    GFS_OK) {
			gfs_chunkstore_put_view(dst.store, v);
			break;
		}
		usleep(10000);
	}
	cr_assert_eq(gfs_chunkstore_get_view(dst.store, 0x21, false, &v),
		     GFS_OK, "the ordered copy never arrived");
	cr_expect_eq(v->version, 4);
	cr_expect_eq(v->length, sizeof(body1));
	gfs_chunkstore_put_view(dst.store, v);
	cr_expect_eq(gfs_chunkstore_get_view(dst.store, 0x11, false, &v),
		     GFS_ENOENT, "the ordered delete did not happen");
}

Test(masterconn, orders_of_a_backup_or_an_old_epoch_are_ignored)
{
	char list[160];
	struct gfs_chunk_view *v;
	size_t n;

	/* masters[1] says backup; then it claims primary at an old epoch */
	snprintf(list, sizeof(list), "%s,%s", masters[0].url, masters[1].url);
	start_dst(list, 50);
	cr_assert(wait_beats(&masters[0], 2, 5000));
	give_orders(&masters[1], json_pack("[{s:s, s:s}]", "op", "delete",
					   "handle", "0000000000000011"));
	n = nbeats(&masters[1]);
	cr_assert(wait_beats(&masters[1], n + 2, 5000));
	set_reply(&masters[1], "role", json_string("primary"));
	set_reply(&masters[1], "epoch", json_integer(4));
	give_orders(&masters[1], json_pack("[{s:s, s:s}]", "op", "delete",
					   "handle", "0000000000000011"));
	n = nbeats(&masters[1]);
	cr_assert(wait_beats(&masters[1], n + 2, 5000));
	cr_expect_eq(gfs_chunkstore_get_view(dst.store, 0x11, false, &v),
		     GFS_OK, "a delete from a non-primary was obeyed");
	gfs_chunkstore_put_view(dst.store, v);
}

Test(masterconn, a_higher_epoch_makes_a_new_primary)
{
	char list[160];
	json_t *b;
	size_t n;

	snprintf(list, sizeof(list), "%s,%s", masters[0].url, masters[1].url);
	start_dst(list, 50);
	cr_assert(wait_beats(&masters[0], 2, 5000));
	set_reply(&masters[1], "role", json_string("primary"));
	set_reply(&masters[1], "epoch", json_integer(6));
	n = nbeats(&masters[0]);
	cr_assert(wait_beats(&masters[0], n + 3, 5000));
	b = beat(&masters[0], n + 2);
	cr_expect_eq(num(b, "epoch"), 6);
	cr_expect_str_eq(str(b, "primary"), masters[1].url);
	json_decref(b);
}

Test(masterconn, corruption_is_reported_at_once)
{
	struct gfs_chunk_view *v;
	char path[160];
	size_t got;
	json_t *b;
	char *buf = malloc(2 * 65536);
	int fd;

	start_dst(masters[0].url, 60000);
	cr_assert(wait_beats(&masters[0], 1, 5000));
	snprintf(path, sizeof(path), "%s/chunks/11/0000000000000011", dst_dir);
	fd = open(path, O_WRONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(pwrite(fd, "!", 1, 10), 1);
	close(fd);
	/* the store calls no one here: kick as main.c's callback does */
	cr_assert_eq(gfs_chunkstore_get_view(dst.store, 0x11, false, &v),
		     GFS_OK);
	cr_expect_eq(gfs_chunkstore_read_blocks(dst.store, v, 0, 2, buf, &got),
		     GFS_ECORRUPT);
	gfs_chunkstore_put_view(dst.store, v);
	gfs_masterconn_kick(dst.masters);
	cr_assert(wait_beats(&masters[0], 2, 2000),
		  "no heartbeat soon after a corruption");
	b = beat(&masters[0], 1);
	cr_expect_str_eq(json_string_value(json_array_get(
				 json_object_get(b, "corrupt"), 0)),
			 "0000000000000011");
	cr_expect_str_eq(json_string_value(json_array_get(
				 json_object_get(b, "removed"), 0)),
			 "0000000000000011");
	json_decref(b);
	free(buf);
}

/* A copy that cannot be made is reported to the primary in the
 * heartbeat it sets off, once, and to no backup. */
Test(masterconn, a_failed_copy_is_reported_to_the_primary_at_once)
{
	char list[160];
	json_t *b;
	size_t i, n;

	snprintf(list, sizeof(list), "%s,%s", masters[0].url, masters[1].url);
	start_dst(list, 60000);
	cr_assert(wait_beats(&masters[0], 1, 5000));
	cr_assert(wait_beats(&masters[1], 1, 5000));
	/* no source answers on the discard port */
	give_orders(&masters[0], json_pack(
		"[{s:s, s:s, s:i, s:i, s:[s]}]", "op", "replicate", "handle",
		"0000000000000031", "version", 1, "length", 4096, "sources",
		"http://127.0.0.1:9"));
	gfs_masterconn_kick(dst.masters);
	cr_assert(wait_beats(&masters[0], 3, 5000),
		  "no heartbeat soon after the copy failed");
	b = beat(&masters[0], 2);
	cr_expect_str_eq(json_string_value(json_array_get(
				 json_object_get(b, "copies_failed"), 0)),
			 "0000000000000031");
	cr_expect_eq(json_array_size(json_object_get(b, "copies_failed")), 1);
	json_decref(b);
	gfs_masterconn_kick(dst.masters);
	cr_assert(wait_beats(&masters[0], 4, 5000));
	n = nbeats(&masters[1]);
	for (i = 0; i < n; i++) {
		b = beat(&masters[1], i);
		cr_expect_null(json_object_get(b, "copies_failed"),
			       "a backup was told of a failed copy");
		json_decref(b);
	}
	b = beat(&masters[0], 3);
	cr_expect_null(json_object_get(b, "copies_failed"),
		       "a failed copy was reported twice");
	json_decref(b);
}

Test(masterconn, an_unreachable_master_does_not_delay_the_others)
{
	char list[160];

	snprintf(list, sizeof(list), "http://10.255.255.1:7070,%s",
		 masters[0].url);
	start_dst(list, 50);
	cr_expect(wait_beats(&masters[0], 10, 3000),
		  "heartbeats to the live master were held up");
}

/* A change made while a full report is on its way to one master reaches
 * that master in the delta after it, even when another master
 * acknowledged the change meanwhile: the report's snapshot predates it.
 * (It used to be forgotten at the other master's acknowledgement, and a
 * primary that never learnt where a chunk was ordered it copied to the
 * server that had it, again and again.) */
Test(masterconn, a_change_made_while_a_full_report_travels_is_not_lost)
{
	char list[160];
	size_t n;

	snprintf(list, sizeof(list), "%s,%s", masters[0].url, masters[1].url);
	start_dst(list, 50);
	cr_assert(wait_beats(&masters[0], 2, 5000));
	cr_assert(wait_beats(&masters[1], 2, 5000));
	/* masters[0] asks for the inventory again and sits on it */
	hold_full(&masters[0], true);
	set_reply(&masters[0], "want_full", json_true());
	cr_assert(wait_holding(&masters[0], 5000));
	set_reply(&masters[0], "want_full", json_false());
	put(dst.store, 0x13, 1, body2, sizeof(body2));
	/* masters[1] has the change, and has acknowledged it */
	cr_assert(wait_added(&masters[1], 0, "0000000000000013", 3000));
	n = nbeats(&masters[1]);
	cr_assert(wait_beats(&masters[1], n + 2, 3000));
	n = nbeats(&masters[0]);
	hold_full(&masters[0], false);
	cr_expect(wait_added(&masters[0], n, "0000000000000013", 3000),
		  "the master whose full report was out never heard of the "
		  "chunk written meanwhile");
}

/* An order to copy a chunk held already is answered by reporting it
 * again: the primary asked because it does not list it here, and waits
 * for a report.  (It used to be done silently: the order ran out at the
 * primary's copy timeout, 30 s, and was given again, here again.) */
Test(masterconn, an_order_for_a_chunk_held_already_reports_it_again)
{
	size_t n;

	start_dst(masters[0].url, 50);
	cr_assert(wait_beats(&masters[0], 2, 5000));
	n = nbeats(&masters[0]);
	/* no source answers on the discard port: none is needed */
	give_orders(&masters[0], json_pack(
		"[{s:s, s:s, s:i, s:i, s:[s]}]", "op", "replicate", "handle",
		"0000000000000011", "version", 2, "length", (int)sizeof(body1),
		"sources", "http://127.0.0.1:9"));
	cr_expect(wait_added(&masters[0], n, "0000000000000011", 3000),
		  "a chunk the primary ordered here and found here was not "
		  "reported");
}
