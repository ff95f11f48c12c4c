/*
 * Tests of master/ops.c, the state built in memory through
 * gfs_journal_apply() (and heartbeats through gfs_csmgr_heartbeat()),
 * no log.
 *
 * Suite ops: what needs a large namespace: listings, whose cost under the
 * master lock grows with what they match.
 *
 * Suite ops_where: reads that depend on where chunks are.  A GET
 * /files/PATH never names a chunk without replicas while its locations
 * may still come (a backup sends the reader to the primary, a primary
 * still hearing reports waits for them), and /content
 * redirects go round robin.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../master/csmgr.h"
#include "../../master/journal.h"
#include "../../master/master.h"
#include "../../master/oplog.h"
#include "../../master/ops.h"
#include "util.h"

/* A whole listing, as callers before pages asked. */
static const struct gfs_list_req whole = { 0 };

static struct gfs_master m;

/* A backup that holds every acknowledged change: its last poll, just
 * sent and answered, said it was attached. */
static void attached_backup(void)
{
	m.role = GFS_ROLE_BACKUP;
	m.conf.detach_ms = 60000;
	m.fw.in_sync = true;
	m.fw.last_contact_ms = gfs_mono_ms();
	m.fw.read_until_ms = gfs_isr_read_until(gfs_mono_ms(), 60000);
}

/* A primary that may acknowledge (and so answer reads): leading an
 * in-sync set of none. */
static void primary(void)
{
	m.role = GFS_ROLE_PRIMARY;
	gfs_isr_lead(&m.isr, NULL, 0, m.applied_seq, INT64_MAX);
}

static void setup(void)
{
	memset(&m, 0, sizeof(m));
	m.conf.chunk_size = 1 << 20;
	m.conf.replicas = 3;
	attached_backup(); /* reads wait for nothing */
	pthread_mutex_init(&m.lock, NULL);
	gfs_ns_init(&m.ns);
	gfs_chunks_init(&m.chunks);
	gfs_csmgr_init(&m.cs);
}

static void teardown(void)
{
	gfs_csmgr_free(&m.cs);
	gfs_chunks_free(&m.chunks);
	gfs_ns_free(&m.ns);
	pthread_mutex_destroy(&m.lock);
}

TestSuite(ops, .init = setup, .fini = teardown, .timeout = 60);

/* n empty files /big/dDDD/fNNNNNN. */
static void files(int n)
{
	struct gfs_enc rec = { 0 };
	char path[64];

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/big/d%03d/f%06d", i / 1000, i);
		gfs_rec_create(&rec, path, GFS_NODE_FILE, 0644, i, 1 << 20);
		cr_assert(gfs_journal_apply(&m, rec.buf, rec.len));
		rec.len = 0;
	}
	gfs_enc_free(&rec);
}

Test(ops, a_prefix_listing_of_more_than_100000_files_is_refused)
{
	json_t *out = NULL;

	files(100001);
	cr_expect_eq(gfs_ops_list_prefix(&m, "/", false, &whole, &out), GFS_ETOOBIG);
	cr_expect_null(out);
	cr_assert_eq(gfs_ops_list_prefix(&m, "/big/d05", false, &whole, &out), GFS_OK);
	cr_expect_eq(json_array_size(json_object_get(out, "files")), 10000);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(
				 json_object_get(out, "files"), 0), "path")),
			 "/big/d050/f050000", "sorted by path");
	json_decref(out);
}

Test(ops, a_directory_listing_is_sorted_and_complete)
{
	json_t *out = NULL, *e;

	files(2500);
	cr_assert_eq(gfs_ops_list_dir(&m, "/big/d001", &whole, &out), GFS_OK);
	e = json_object_get(out, "entries");
	cr_assert_eq(json_array_size(e), 1000);
	for (size_t i = 1; i < json_array_size(e); i++)
		cr_assert_lt(strcmp(json_string_value(json_object_get(
					    json_array_get(e, i - 1), "name")),
				    json_string_value(json_object_get(
					    json_array_get(e, i), "name"))),
			     0);
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(e, 0),
							"mtime_ns")),
		     1000);
	json_decref(out);
}

/* ---- ops_where ---- */

#define H 0x2a

static const char *const urls[] = { "http://127.0.0.1:9001",
				    "http://127.0.0.1:9002",
				    "http://127.0.0.1:9003" };

static void apply(struct gfs_enc *rec)
{
	cr_assert(gfs_journal_apply(&m, rec->buf, rec->len));
	gfs_enc_free(rec);
}

static void setup_where(void)
{
	struct gfs_enc rec = { 0 };

	memset(&m, 0, sizeof(m));
	pthread_mutex_init(&m.lock, NULL);
	m.conf.chunk_size = 1 << 20;
	m.conf.replicas = 3;
	m.conf.dead_after_ms = 6000;
	m.conf.probation_ms = 4000;
	m.conf.gc_interval_ms = 5000;
	m.conf.orphan_grace_ms = 3600000;
	m.self_url = "http://127.0.0.1:1";
	m.primary_url = "http://127.0.0.1:2";
	attached_backup();
	m.started_ms = gfs_mono_ms();
	gfs_ns_init(&m.ns);
	gfs_chunks_init(&m.chunks);
	gfs_csmgr_init(&m.cs);
	gfs_isr_init(&m.isr, 60000, true);
	gfs_rec_create(&rec, "/f", GFS_NODE_FILE, 0644, 1, 1 << 20);
	apply(&rec);
}

static void teardown_where(void)
{
	gfs_isr_destroy(&m.isr);
	gfs_csmgr_free(&m.cs);
	gfs_chunks_free(&m.chunks);
	gfs_ns_free(&m.ns);
	pthread_mutex_destroy(&m.lock);
}

TestSuite(ops_where, .init = setup_where, .fini = teardown_where);

/* A heartbeat of server i from JSON text, under the master lock. */
static void heartbeat(int i, const char *extra)
{
	char text[512];
	struct gfs_heartbeat hb;
	json_t *body, *orders = NULL;
	const char *why;
	bool want_full;

	snprintf(text, sizeof(text),
		 "{\"url\": \"%s\", \"free_bytes\": 1000000000%s%s}",
		 urls[i], *extra ? ", " : "", extra);
	body = json_loads(text, 0, NULL);
	cr_assert_not_null(body, "bad JSON: %s", text);
	cr_assert_eq(gfs_heartbeat_parse(body, &hb, &why), GFS_OK, "%s", why);
	pthread_mutex_lock(&m.lock);
	gfs_csmgr_heartbeat(&m, &hb, false, &orders, &want_full);
	pthread_mutex_unlock(&m.lock);
	json_decref(orders);
	gfs_heartbeat_clear(&hb);
	json_decref(body);
}

static void all_full(void)
{
	for (int i = 0; i < 3; i++)
		heartbeat(i, "\"full\": true, \"chunks\": []");
}

/* Chunk 0 of /f committed at version 1, 100 bytes (no replicas). */
static void commit(void)
{
	struct gfs_enc rec = { 0 };
	struct gfs_rec_chunk c = { 0, H, 1, 100 };

	gfs_rec_commit(&rec, "/f", 100, 2, &c, 1);
	apply(&rec);
}

/* Replicas of chunk 0 in a GET /files/f entry. */
static size_t replicas_in(json_t *entry)
{
	json_t *c = json_array_get(json_object_get(entry, "chunks"), 0);

	cr_assert_not_null(c, "no chunk in the entry");
	return json_array_size(json_object_get(c, "replicas"));
}

static const char *added = "\"added\": [[\"000000000000002a\", 1, 100]]";

Test(ops_where, a_backup_sends_a_read_of_an_unlocated_chunk_to_the_primary)
{
	json_t *out = NULL;

	all_full();
	commit();
	cr_expect_eq(gfs_ops_stat(&m, "/f", NULL, true, &out),
		     GFS_ENOTPRIMARY);
	cr_expect_null(out);
	heartbeat(1, added);
	cr_assert_eq(gfs_ops_stat(&m, "/f", NULL, true, &out), GFS_OK);
	cr_expect_eq(replicas_in(out), 1);
	json_decref(out);
}

/* A page of /big/d001 after cursor (NULL: the first) into names[], their
 * count into *n; returns the page's next (new string) or NULL. */
static char *dir_page(const char *cursor, size_t limit, char **names,
		      size_t *n, uint64_t *last_pos)
{
	struct gfs_list_req q = { .limit = limit, .cursor = cursor };
	json_t *out = NULL, *e, *next;
	size_t i;
	char *ret;

	cr_assert_eq(gfs_ops_list_dir(&m, "/big/d001", &q, &out), GFS_OK);
	cr_assert_leq(json_array_size(json_object_get(out, "entries")), limit);
	json_array_foreach(json_object_get(out, "entries"), i, e) {
		names[(*n)++] = strdup(json_string_value(json_object_get(e,
								 "name")));
		*last_pos = (uint64_t)json_integer_value(json_object_get(e,
								 "pos"));
	}
	next = json_object_get(out, "next");
	ret = next ? strdup(json_string_value(next)) : NULL;
	json_decref(out);
	return ret;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

Test(ops, a_directory_lists_page_by_page)
{
	char *names[1100], *cursor = NULL, *next, made[32];
	size_t n = 0, i, pages = 0, before;
	struct gfs_list_req q = { .limit = 10, .cursor = "xyz" };
	json_t *out = NULL;
	uint64_t pos = 0;

	files(2500);
	do {
		next = dir_page(cursor, 300, names, &n, &pos);
		free(cursor);
		cursor = next;
		pages++;
	} while (cursor);
	cr_assert_eq(pages, 4, "1000 entries in pages of 300");
	cr_assert_eq(n, 1000);
	qsort(names, n, sizeof(*names), str_cmp);
	for (i = 0; i < n; i++) {
		snprintf(made, sizeof(made), "f%06zu", 1000 + i);
		cr_assert_str_eq(names[i], made, "every entry once");
		free(names[i]);
	}
	/* a cursor made from an entry's position goes on after it */
	n = 0;
	free(dir_page(NULL, 5, names, &n, &pos));
	before = n;
	snprintf(made, sizeof(made), "%" PRIx64, pos + 1);
	free(dir_page(made, 1000, names, &n, &pos));
	cr_assert_eq(n, 1000, "the rest after the 5th, nothing twice");
	for (i = 0; i < n; i++)
		free(names[i]);
	cr_assert_eq(before, 5);
	cr_assert_eq(gfs_ops_list_dir(&m, "/big/d001", &q, &out), GFS_EINVAL);
	cr_assert_null(out);
}

Test(ops, a_prefix_listing_pages_past_the_whole_listings_cap)
{
	struct gfs_list_req q = { .limit = 10000 };
	json_t *out = NULL;
	size_t total = 0, pages = 0;
	char *cursor = NULL;

	files(100001);
	do {
		cr_assert_eq(gfs_ops_list_prefix(&m, "/", false, &q, &out),
			     GFS_OK);
		total += json_array_size(json_object_get(out, "files"));
		free(cursor);
		cursor = json_object_get(out, "next")
				 ? strdup(json_string_value(json_object_get(
					   out, "next")))
				 : NULL;
		q.cursor = cursor;
		json_decref(out);
		pages++;
	} while (cursor);
	cr_assert_eq(total, 100001);
	cr_assert_geq(pages, 11);
}

/* Every read a backup answers, and what it answered. */
static void expect_reads(enum gfs_err want, const char *why)
{
	json_t *out = NULL;

	cr_expect_eq(gfs_ops_stat(&m, "/f", NULL, false, &out), want,
		     "stat: %s", why);
	json_decref(out);
	out = NULL;
	cr_expect_eq(gfs_ops_list_prefix(&m, "/", false, &whole, &out), want,
		     "prefix listing: %s", why);
	json_decref(out);
	out = NULL;
	cr_expect_eq(gfs_ops_list_dir(&m, "/", &whole, &out), want,
		     "directory listing: %s", why);
	json_decref(out);
	out = NULL;
	cr_expect_eq(gfs_ops_lease_get(&m, "/f", &out),
		     want ? want : GFS_ENOENT, "lease: %s", why);
	json_decref(out);
}

Test(ops_where, only_a_backup_holding_every_acknowledged_change_reads)
{
	expect_reads(GFS_OK, "attached, just heard from the primary");
	m.fw.in_sync = false;
	expect_reads(GFS_ENOTPRIMARY, "not attached: catching up");
	m.fw.in_sync = true;
	m.fw.resync = true;
	expect_reads(GFS_ENOTPRIMARY, "re-syncing (an old primary that "
		     "stepped down)");
	m.fw.resync = false;
	/* the read window counts from the poll's sending (1500 ms less
	 * 1 % and 100 ms), however late its answer came */
	m.fw.read_until_ms = gfs_isr_read_until(gfs_mono_ms() - 1000, 1500);
	expect_reads(GFS_OK, "an answer to a poll sent 1 s ago");
	m.fw.read_until_ms = gfs_isr_read_until(gfs_mono_ms() - 1400, 1500);
	expect_reads(GFS_ENOTPRIMARY, "an answer to a poll sent 1.4 s ago: "
		     "the primary may acknowledge without us soon");
	m.primary_url = NULL;
	expect_reads(GFS_EUNAVAIL, "and no primary known");
}

Test(ops_where, a_backup_that_knows_no_primary_says_unavailable)
{
	json_t *out = NULL;

	m.primary_url = NULL;
	all_full();
	commit();
	cr_expect_eq(gfs_ops_stat(&m, "/f", NULL, true, &out), GFS_EUNAVAIL);
}

Test(ops_where, a_backup_answers_a_chunk_no_heartbeat_can_bring)
{
	json_t *out = NULL;

	all_full();
	commit();
	/* as if committed long ago (or loaded from a checkpoint) */
	gfs_chunks_find(&m.chunks, H)->commit_s = 0;
	cr_assert_eq(gfs_ops_stat(&m, "/f", NULL, true, &out), GFS_OK);
	cr_expect_eq(replicas_in(out), 0, "a lost chunk has no replicas");
	json_decref(out);
}

static bool no_record(void *cls, uint64_t seq, const uint8_t *body,
		      size_t len)
{
	(void)cls, (void)seq, (void)body, (void)len;
	return false;
}

/* gfs_ops_stat_now() and gfs_ops_stat() of path agree. */
static void expect_stat_now(const char *path, enum gfs_err want)
{
	json_t *now = NULL, *waited = NULL;
	enum gfs_err err = GFS_EINTERNAL;
	uint64_t epoch = 0;

	cr_assert(gfs_ops_stat_now(&m, path, &err, &now, &epoch),
		  "%s: answered at once", path);
	cr_expect_eq(err, want, "%s", path);
	cr_expect_eq(epoch, m.epoch);
	cr_expect_eq(gfs_ops_stat(&m, path, NULL, false, &waited), want);
	cr_expect(json_equal(now, waited) || (!now && !waited),
		  "%s: the same entry either way", path);
	json_decref(now);
	json_decref(waited);
}

/* What the event loop answers (GET /files/P?stat=1 without the hop to
 * a worker) is what a worker would, and only where no wait is needed. */
Test(ops_where, a_stat_in_the_event_loop_answers_only_without_a_wait)
{
	char dir[] = "/tmp/gfs-ops-XXXXXX";
	struct gfs_enc rec = { 0 };
	enum gfs_err err;
	json_t *out = NULL;
	uint64_t epoch, seq;
	int64_t t0;
	char cmd[64];

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_eq(gfs_oplog_open(dir, 1, no_record, NULL, &m.log), GFS_OK);
	m.applied_seq = 1;
	m.epoch = 3;
	primary();
	expect_stat_now("/f", GFS_OK);
	expect_stat_now("/g", GFS_ENOENT);

	/* /g created, its record not durable yet: a worker would wait */
	gfs_rec_create(&rec, "/g", GFS_NODE_FILE, 0644, 1, 1 << 20);
	pthread_mutex_lock(&m.lock);
	seq = gfs_ops_log(&m, &rec);
	pthread_mutex_unlock(&m.lock);
	t0 = gfs_mono_ms();
	cr_expect_not(gfs_ops_stat_now(&m, "/g", &err, &out, &epoch),
		      "a change not durable yet is left to a worker");
	cr_expect_not(gfs_ops_stat_now(&m, "/f", &err, &out, &epoch),
		      "so is any read that may have seen it");
	cr_expect_null(out);
	cr_expect_lt(gfs_mono_ms() - t0, 50, "and nothing waited");
	cr_assert(gfs_oplog_wait(m.log, seq));
	expect_stat_now("/g", GFS_OK);

	/* the master lock held by another thread (here: this one) */
	pthread_mutex_lock(&m.lock);
	cr_expect_not(gfs_ops_stat_now(&m, "/g", &err, &out, &epoch));
	pthread_mutex_unlock(&m.lock);
	cr_expect_null(out);

	gfs_oplog_close(m.log);
	m.log = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

Test(ops_where, a_stat_needs_no_locations)
{
	json_t *out = NULL;

	commit();
	cr_assert_eq(gfs_ops_stat(&m, "/f", NULL, false, &out), GFS_OK);
	cr_expect_null(json_object_get(out, "chunks"));
	json_decref(out);
}

static void *report_later(void *arg)
{
	struct timespec ts = { 0, 150 * 1000000L };

	(void)arg;
	nanosleep(&ts, NULL);
	heartbeat(2, added);
	return NULL;
}

Test(ops_where, a_primary_still_hearing_reports_waits_for_the_location)
{
	json_t *out = NULL;
	pthread_t t;
	int64_t t0;

	primary();
	pthread_mutex_lock(&m.lock);
	gfs_csmgr_want_inventories(&m); /* as a restarted primary */
	pthread_mutex_unlock(&m.lock);
	all_full();
	commit();
	t0 = gfs_mono_ms();
	cr_assert_eq(pthread_create(&t, NULL, report_later, NULL), 0);
	cr_assert_eq(gfs_ops_stat(&m, "/f", NULL, true, &out), GFS_OK);
	pthread_join(t, NULL);
	cr_expect_eq(replicas_in(out), 1);
	cr_expect_geq(gfs_mono_ms() - t0, 140, "answered before the report");
	cr_expect_lt(gfs_mono_ms() - t0, 2000, "waited past the report");
	json_decref(out);
}

Test(ops_where, a_lost_chunk_is_answered_once_the_reports_window_closed)
{
	json_t *out = NULL;
	int64_t t0;

	primary();
	m.conf.probation_ms = 200;
	pthread_mutex_lock(&m.lock);
	gfs_csmgr_want_inventories(&m);
	pthread_mutex_unlock(&m.lock);
	all_full();
	commit();
	t0 = gfs_mono_ms();
	cr_assert_eq(gfs_ops_stat(&m, "/f", NULL, true, &out), GFS_OK);
	cr_expect_eq(replicas_in(out), 0, "a lost chunk has no replicas");
	cr_expect_geq(gfs_mono_ms() - t0, 150, "answered inside the window");
	cr_expect_lt(gfs_mono_ms() - t0, 2000, "waited past the window");
	json_decref(out);
	/* with the window closed and every inventory in, no wait at all */
	t0 = gfs_mono_ms();
	cr_assert_eq(gfs_ops_stat(&m, "/f", NULL, true, &out), GFS_OK);
	cr_expect_lt(gfs_mono_ms() - t0, 50);
	json_decref(out);
}

Test(ops_where, redirects_go_round_robin_over_live_servers)
{
	unsigned seen[3] = { 0 };
	json_t *lease = NULL;
	char *url;

	all_full();
	m.cs.servers[1]->alive = false;
	for (int k = 0; k < 6; k++) {
		cr_assert_eq(gfs_ops_gateway(&m, "/f", NULL, &url, &lease),
			     GFS_OK);
		for (int i = 0; i < 3; i++)
			seen[i] += !strcmp(url, urls[i]);
		free(url);
	}
	cr_expect_eq(seen[0], 3);
	cr_expect_eq(seen[1], 0, "a dead server was picked");
	cr_expect_eq(seen[2], 3);
}

Test(ops_where, no_live_server_is_unavailable)
{
	json_t *lease = NULL;
	char *url = NULL;

	cr_expect_eq(gfs_ops_gateway(&m, "/f", NULL, &url, &lease),
		     GFS_EUNAVAIL);
	cr_expect_null(url);
}

Test(ops_where, a_primary_that_cannot_acknowledge_answers_no_read)
{
	json_t *out = NULL;

	primary();
	commit();
	gfs_isr_set_ack_until(&m.isr, 0); /* it may acknowledge no more */
	cr_expect_eq(gfs_ops_stat(&m, "/f", NULL, false, &out),
		     GFS_EUNAVAIL);
	cr_expect_null(out);
	cr_expect_eq(gfs_ops_lease_get(&m, "/f", &out), GFS_EUNAVAIL);
	gfs_isr_set_ack_until(&m.isr, INT64_MAX);
	cr_expect_eq(gfs_ops_stat(&m, "/f", NULL, false, &out), GFS_OK);
	json_decref(out);
	out = NULL;
	gfs_isr_fence(&m.isr); /* another leads */
	cr_expect_eq(gfs_ops_stat(&m, "/f", NULL, false, &out),
		     GFS_EUNAVAIL);
}
