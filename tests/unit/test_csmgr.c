/*
 * Tests of master/csmgr.c: replica locations learned from heartbeats as
 * the journal applies commits, on a backup (which sees commits only in
 * the op log, never their replicas) and on a primary.  The state is built
 * in memory: records through gfs_journal_apply(), heartbeats through
 * gfs_csmgr_heartbeat(), no log, no threads.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "../../master/csmgr.h"
#include "../../master/journal.h"
#include "../../master/master.h"
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
