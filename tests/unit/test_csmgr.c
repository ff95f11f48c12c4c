/*
 * Tests of master/csmgr.c: replica locations learned from heartbeats as
 * the journal applies commits, on a backup (which sees commits only in
 * the op log, never their replicas) and on a primary.  The state is built
 * in memory: records through gfs_journal_apply(), heartbeats through
 * gfs_csmgr_heartbeat(), no log, no threads.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "../../master/csmgr.h"
#include "../../master/journal.h"
#include "../../master/master.h"
#include "log.h"
#include "path.h"
#include "util.h"

#define H 0x2a

static struct gfs_master m;
static const char *const urls[] = { "http://127.0.0.1:9001",
				    "http://127.0.0.1:9002",
				    "http://127.0.0.1:9003" };

static void apply(struct gfs_enc *rec)
{
	cr_assert(gfs_journal_apply(&m, rec->buf, rec->len));
	rec->len = 0;
}

static void setup(void)
{
	struct gfs_enc rec = { 0 };

	memset(&m, 0, sizeof(m));
	m.conf.chunk_size = 1 << 20;
	m.conf.replicas = 3;
	m.conf.dead_after_ms = 6000;
	m.conf.gc_interval_ms = 5000;
	m.conf.orphan_grace_ms = 3600000;
	m.self_url = "http://127.0.0.1:1";
	m.role = GFS_ROLE_BACKUP;
	m.started_ms = gfs_mono_ms();
	gfs_ns_init(&m.ns);
	gfs_chunks_init(&m.chunks);
	gfs_csmgr_init(&m.cs);
	gfs_rec_create(&rec, "/f", GFS_NODE_FILE, 0644, 1, 1 << 20);
	apply(&rec);
	gfs_enc_free(&rec);
}

static void teardown(void)
{
	gfs_csmgr_free(&m.cs);
	gfs_chunks_free(&m.chunks);
	gfs_ns_free(&m.ns);
}

TestSuite(csmgr, .init = setup, .fini = teardown);

/* A heartbeat of server i from JSON text. */
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
	gfs_csmgr_heartbeat(&m, &hb, false, &orders, &want_full);
	json_decref(orders);
	gfs_heartbeat_clear(&hb);
	json_decref(body);
}

static void commit(uint32_t version)
{
	struct gfs_enc rec = { 0 };
	struct gfs_rec_chunk c = { 0, H, version, 100 };

	gfs_rec_commit(&rec, "/f", 100, 2, &c, 1);
	apply(&rec);
	gfs_enc_free(&rec);
}

static size_t replicas(void)
{
	struct gfs_chunk *c = gfs_chunks_find(&m.chunks, H);
	json_t *a;
	size_t n;

	cr_assert_not_null(c, "chunk not committed");
	a = gfs_csmgr_replicas_json(&m, c);
	n = json_array_size(a);
	json_decref(a);
	return n;
}

static void all_full(void)
{
	for (int i = 0; i < 3; i++)
		heartbeat(i, "\"full\": true, \"chunks\": []");
}

Test(csmgr, backup_learns_replicas_reported_before_the_commit)
{
	all_full();
	for (int i = 0; i < 3; i++)
		heartbeat(i, "\"added\": [[\"000000000000002a\", 1, 50]]");
	for (int i = 0; i < 3; i++)
		heartbeat(i, "\"added\": [[\"000000000000002a\", 2, 100]]");
	commit(2);
	cr_assert_eq(replicas(), 3);
}

Test(csmgr, reports_of_another_version_are_not_claimed)
{
	all_full();
	heartbeat(0, "\"added\": [[\"000000000000002a\", 2, 100]]");
	heartbeat(1, "\"added\": [[\"000000000000002a\", 1, 50]]");
	commit(2);
	cr_assert_eq(replicas(), 1);
}

Test(csmgr, a_replica_removed_before_the_commit_is_not_claimed)
{
	all_full();
	heartbeat(0, "\"added\": [[\"000000000000002a\", 1, 100]]");
	heartbeat(1, "\"added\": [[\"000000000000002a\", 1, 100]]");
	heartbeat(1, "\"removed\": [\"000000000000002a\"]");
	heartbeat(2, "\"added\": [[\"000000000000002a\", 1, 100]]");
	heartbeat(2, "\"full\": true, \"chunks\": []");
	commit(1);
	cr_assert_eq(replicas(), 1);
}

Test(csmgr, reports_after_the_commit_count_at_once)
{
	all_full();
	commit(3);
	cr_assert_eq(replicas(), 0);
	heartbeat(0, "\"added\": [[\"000000000000002a\", 3, 100]]");
	heartbeat(1, "\"added\": [[\"000000000000002a\", 3, 100]]");
	cr_assert_eq(replicas(), 2);
}

Test(csmgr, a_primary_claims_reports_too)
{
	m.role = GFS_ROLE_PRIMARY;
	all_full();
	heartbeat(2, "\"added\": [[\"000000000000002a\", 1, 100]]");
	commit(1);
	cr_assert_eq(replicas(), 1);
}

Test(csmgr, a_commit_puts_its_pipeline_order_first)
{
	json_t *order, *a;

	m.role = GFS_ROLE_PRIMARY;
	all_full();
	/* reports arrive in another order than the pipeline's */
	heartbeat(2, "\"added\": [[\"000000000000002a\", 1, 100]]");
	heartbeat(1, "\"added\": [[\"000000000000002a\", 1, 100]]");
	commit(1);
	order = json_pack("[s, s, s]", urls[0], urls[1], urls[2]);
	gfs_csmgr_commit_locs(&m, gfs_chunks_find(&m.chunks, H), order,
			      1 << 20);
	a = gfs_csmgr_replicas_json(&m, gfs_chunks_find(&m.chunks, H));
	cr_assert_eq(json_array_size(a), 3);
	for (size_t i = 0; i < 3; i++)
		cr_expect_str_eq(json_string_value(json_array_get(a, i)),
				 urls[i]);
	json_decref(a);
	json_decref(order);
}

Test(csmgr, a_commit_shrinks_the_promise_to_the_bytes_written)
{
	json_t *order = json_pack("[s]", urls[0]);

	m.role = GFS_ROLE_PRIMARY;
	all_full();
	commit(1); /* 100 bytes */
	m.cs.servers[0]->promised = 3 << 20; /* three 1 MiB placements */
	gfs_csmgr_commit_locs(&m, gfs_chunks_find(&m.chunks, H), order,
			      1 << 20);
	cr_expect_eq(m.cs.servers[0]->promised, (2 << 20) + 100);
	json_decref(order);
}

Test(csmgr, room_promised_to_a_refused_allocation_is_given_back)
{
	struct gfs_pending p = { 0 };
	struct gfs_node *f = NULL;
	json_t *reps = NULL;

	m.role = GFS_ROLE_PRIMARY;
	all_full();
	cr_assert_eq(gfs_ns_lookup(&m.ns, "/f", &f), GFS_OK);
	cr_assert_eq(gfs_csmgr_place(&m, f, 0, NULL, NULL, &reps, &p), GFS_OK);
	cr_assert_eq(p.nplaced, 3);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(m.cs.servers[i]->promised, 1 << 20);
	gfs_csmgr_unplace(&m, f, &p);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(m.cs.servers[i]->promised, 0);
	json_decref(reps);
}

/* ---- the sweep, in bounded steps ---- */

#define MANY 3000
#define BASE 0x1000

/* MANY files of one committed chunk (handles BASE..), version 1. */
static void many(void)
{
	struct gfs_enc rec = { 0 };
	struct gfs_rec_chunk c = { 0, 0, 1, 100 };
	char path[64];

	for (int i = 0; i < MANY; i++) {
		snprintf(path, sizeof(path), "/m/f%05d", i);
		gfs_rec_create(&rec, path, GFS_NODE_FILE, 0644, 1, 1 << 20);
		apply(&rec);
		c.handle = BASE + (uint64_t)i;
		gfs_rec_commit(&rec, path, 100, 1, &c, 1);
		apply(&rec);
	}
	gfs_enc_free(&rec);
}

/* A full report of server i: handles BASE + [0, n) but skip, plus dup
 * (listed twice) when not 0; with odd, only the odd ones. */
static void full_report_of(int i, int n, int skip, uint64_t dup, bool odd)
{
	json_t *body = json_pack("{s:s, s:I, s:b, s:[]}", "url", urls[i],
				 "free_bytes", (json_int_t)1000000000,
				 "full", 1, "chunks");
	json_t *a = json_object_get(body, "chunks"), *orders = NULL;
	struct gfs_heartbeat hb;
	const char *why;
	bool want_full;
	char hex[17];

	for (int k = 0; k < n; k++) {
		if (k == skip || (odd && !(k % 2)))
			continue;
		gfs_handle_fmt(BASE + (uint64_t)k, hex);
		json_array_append_new(a, json_pack("[s, i, i]", hex, 1, 100));
	}
	if (dup) {
		gfs_handle_fmt(dup, hex);
		json_array_append_new(a, json_pack("[s, i, i]", hex, 1, 100));
	}
	cr_assert_eq(gfs_heartbeat_parse(body, &hb, &why), GFS_OK, "%s", why);
	gfs_csmgr_heartbeat(&m, &hb, false, &orders, &want_full);
	json_decref(orders);
	gfs_heartbeat_clear(&hb);
	json_decref(body);
}

static void full_report(int i, int n, int skip, uint64_t dup)
{
	full_report_of(i, n, skip, dup, false);
}

static bool lists(uint64_t handle, int server)
{
	struct gfs_chunk *c = gfs_chunks_find(&m.chunks, handle);

	cr_assert_not_null(c);
	return gfs_chunk_has_loc(c, m.cs.servers[server]->id);
}

static size_t live_replicas(uint64_t handle)
{
	json_t *a = gfs_csmgr_replicas_json(&m, gfs_chunks_find(&m.chunks,
								handle));
	size_t n = json_array_size(a);

	json_decref(a);
	return n;
}

/* Steps of the sweep until it is done; each must stay within budget. */
static int run_pass(int64_t now, size_t budget)
{
	struct gfs_sweep *sw = &m.cs.sweep;
	int steps = 0;
	bool more;

	sw->step_slots = budget;
	sw->step_us = 10 * 1000 * 1000; /* the slots are the budget here */
	gfs_csmgr_tick(&m, now);
	cr_assert(sw->active, "a pass starts at the tick");
	do {
		size_t cursor = sw->cursor, visited = sw->visited;

		cr_assert_eq(m.cs.under_replicated, 0, "published too soon");
		more = gfs_csmgr_step(&m, now, false);
		cr_assert_leq(sw->visited - visited, budget);
		cr_assert(!sw->active || sw->cursor - cursor == budget);
		steps++;
	} while (more && steps < 100000);
	cr_assert(!sw->active);
	return steps;
}

Test(csmgr, a_sweep_pass_visits_every_chunk_in_bounded_steps)
{
	int64_t now = gfs_mono_ms();
	int steps;

	many();
	steps = run_pass(now, 256);
	cr_expect_eq((size_t)steps, m.chunks.cap / 256);
	cr_expect_eq(m.cs.sweep.visited, MANY);
	cr_expect_eq(m.cs.sweep.passes, 1);
	/* no server holds anything: every chunk is short, and lost */
	cr_expect_eq(m.cs.under_replicated, MANY);
	cr_expect_eq(m.cs.lost, MANY);
}

Test(csmgr, a_dead_server_counts_for_nothing_at_once_and_the_sweep_strips_it)
{
	int64_t now = gfs_mono_ms();

	many();
	for (int i = 0; i < 3; i++)
		full_report(i, MANY, -1, 0);
	cr_assert_eq(m.cs.servers[0]->nchunks, MANY);
	cr_assert_eq(live_replicas(BASE + 7), 3);
	m.cs.servers[0]->last_hb_ms = now - 2 * (int64_t)m.conf.dead_after_ms;
	m.cs.sweep.started_ms = now; /* no pass at this tick */
	m.cs.sweep.pass_ms = 1000;
	gfs_csmgr_tick(&m, now);
	cr_assert(!m.cs.servers[0]->alive);
	/* O(1): nothing was stripped, yet nobody is sent to it */
	cr_expect_eq(m.cs.servers[0]->nchunks, MANY);
	cr_expect(lists(BASE + 7, 0));
	cr_expect_eq(live_replicas(BASE + 7), 2);
	m.cs.sweep.pass_ms = 0;
	run_pass(now, 256);
	cr_expect_eq(m.cs.servers[0]->nchunks, 0);
	for (int k = 0; k < MANY; k++)
		cr_assert(!lists(BASE + (uint64_t)k, 0), "chunk %d", k);
	cr_expect_eq(m.cs.under_replicated, MANY);
	cr_expect_eq(m.cs.lost, 0);
}

Test(csmgr, a_pause_of_the_master_kills_no_server)
{
	int64_t now = gfs_mono_ms(), dead = (int64_t)m.conf.dead_after_ms;

	many();
	full_report(0, MANY, -1, 0);
	m.cs.servers[0]->last_hb_ms = now;
	m.cs.sweep.started_ms = now + 10 * dead; /* no pass in this test */
	m.cs.sweep.pass_ms = 1000 * dead;
	gfs_csmgr_tick(&m, now);
	/* the master was stopped for three times dead_after */
	now += 3 * dead;
	gfs_csmgr_tick(&m, now);
	cr_assert(m.cs.servers[0]->alive, "dead of the master's own pause");
	/* ticks go on, the server stays silent: dead after dead_after */
	for (int64_t t = 200; t <= dead; t += 200)
		gfs_csmgr_tick(&m, now + t);
	cr_assert(m.cs.servers[0]->alive, "dead before dead_after");
	gfs_csmgr_tick(&m, now + dead + 200);
	cr_assert(!m.cs.servers[0]->alive, "silent past dead_after, alive");
}

Test(csmgr, a_server_back_with_its_replicas_is_listed_by_its_full_report)
{
	int64_t now = gfs_mono_ms();

	many();
	for (int i = 0; i < 3; i++)
		full_report(i, MANY, -1, 0);
	m.cs.servers[0]->last_hb_ms = now - 2 * (int64_t)m.conf.dead_after_ms;
	m.cs.sweep.started_ms = now;
	m.cs.sweep.pass_ms = 1000;
	gfs_csmgr_tick(&m, now);
	heartbeat(0, "");
	cr_expect_eq(live_replicas(BASE + 7), 2, "stale until its report");
	full_report(0, MANY, 7, 0);
	cr_expect_eq(live_replicas(BASE + 8), 3);
	cr_expect_eq(live_replicas(BASE + 7), 2, "lost while it was away");
	cr_expect(!lists(BASE + 7, 0));
	cr_expect_eq(m.cs.servers[0]->nchunks, MANY - 1);
}

Test(csmgr, a_full_report_drops_what_a_live_server_no_longer_holds)
{
	many();
	full_report(0, MANY, -1, 0);
	full_report(0, MANY, -1, 0);
	cr_expect_eq(m.cs.servers[0]->nchunks, MANY);
	cr_expect(lists(BASE + 11, 0));
	/* the same report less one, with another handle listed twice */
	full_report(0, MANY, 11, BASE + 12);
	cr_expect(!lists(BASE + 11, 0));
	cr_expect(lists(BASE + 12, 0));
	cr_expect_eq(m.cs.servers[0]->nchunks, MANY - 1);
}

Test(csmgr, orphans_past_their_grace_go_in_bounded_steps)
{
	char extra[64];
	int64_t now;
	size_t left;

	gfs_log_init("test", GFS_LOG_WARN); /* not 5000 lines of orders */
	m.role = GFS_ROLE_PRIMARY;
	m.conf.orphan_grace_ms = 0;
	all_full();
	for (int i = 0; i < 5000; i++) {
		snprintf(extra, sizeof(extra), "\"added\": [[\"%016x\", 1, 1]]",
			 0x900000 + i);
		heartbeat(0, extra);
	}
	cr_assert_eq(HASH_COUNT(m.cs.orphans), 5000);
	now = gfs_mono_ms() + 1;
	gfs_csmgr_tick(&m, now + (int64_t)m.conf.gc_interval_ms);
	cr_assert(gfs_csmgr_step(&m, now, true), "more after one step");
	left = HASH_COUNT(m.cs.orphans);
	cr_expect(left > 0 && left < 5000, "%zu left", left);
	while (gfs_csmgr_step(&m, now, true))
		;
	cr_expect_eq(HASH_COUNT(m.cs.orphans), 0);
	cr_expect_eq(HASH_COUNT(m.cs.servers[0]->deletes), 5000);
}

Test(csmgr, copies_start_with_the_fewest_replicas_first)
{
	int64_t now = gfs_mono_ms();
	struct gfs_copy *k, *tmp;
	int copies = 0;

	m.role = GFS_ROLE_PRIMARY;
	many();
	full_report(0, MANY, -1, 0);            /* every chunk */
	full_report_of(1, MANY, -1, 0, true);   /* the odd ones: 2 replicas */
	full_report_of(2, 0, -1, 0, false);     /* room for copies */
	m.cs.sweep.step_slots = 1024;
	gfs_csmgr_tick(&m, now);
	while (gfs_csmgr_step(&m, now, true))
		;
	cr_assert_eq(m.cs.under_replicated, MANY);
	/* the queue kept 1-replica chunks only (there are more of them than
	 * it holds), so the source's two copies went to those */
	HASH_ITER(hh, m.cs.copies, k, tmp) {
		cr_expect_eq((k->handle - BASE) % 2, 0, "a 2-replica chunk first");
		copies++;
	}
	cr_expect_eq(copies, GFS_COPIES_MAX);
}

/* A target that gave a copy up says so in its heartbeat: the copy ends
 * then, not at its timeout, and the next pass can order it again. */
Test(csmgr, a_copy_its_target_gave_up_ends_at_the_report)
{
	int64_t now = gfs_mono_ms();
	struct gfs_copy *k, *tmp;
	int target = -1, other = -1;

	m.role = GFS_ROLE_PRIMARY;
	commit(1);
	heartbeat(0, "\"full\": true, \"chunks\": [[\"000000000000002a\", 1, 100]]");
	heartbeat(1, "\"full\": true, \"chunks\": []");
	heartbeat(2, "\"full\": true, \"chunks\": []");
	gfs_csmgr_tick(&m, now);
	while (gfs_csmgr_step(&m, now, true))
		;
	HASH_ITER(hh, m.cs.copies, k, tmp)
		target = k->target == m.cs.servers[1]->id ? 1 : 2;
	cr_assert_neq(target, -1, "no copy was ordered");
	other = 3 - target;
	/* another server's word, or another handle's, ends nothing */
	heartbeat(other, "\"copies_failed\": [\"000000000000002a\"]");
	heartbeat(target, "\"copies_failed\": [\"000000000000002b\"]");
	cr_assert_eq(HASH_COUNT(m.cs.copies), 1);
	heartbeat(target, "\"copies_failed\": [\"000000000000002a\"]");
	cr_expect_eq(HASH_COUNT(m.cs.copies), 0, "the failed copy still waits");
	cr_expect_eq(m.cs.servers[target]->copies_in, 0);
	cr_expect_eq(m.cs.servers[0]->copies_out, 0);
}

Test(csmgr, a_bad_copies_failed_list_is_refused)
{
	const char *bad[] = { "{\"url\": \"http://a:1\", \"copies_failed\": 3}",
			      "{\"url\": \"http://a:1\", \"copies_failed\": [\"xyz\"]}",
			      "{\"url\": \"http://a:1\", \"copies_failed\": [7]}" };
	struct gfs_heartbeat hb;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *body = json_loads(bad[i], 0, NULL);

		cr_assert_not_null(body);
		cr_expect_eq(gfs_heartbeat_parse(body, &hb, &why), GFS_EINVAL,
			     "accepted %s", bad[i]);
		gfs_heartbeat_clear(&hb);
		json_decref(body);
	}
}
