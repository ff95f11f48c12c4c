/*
 * Unit tests for master/journal.c: what records do to the state, with a
 * whole master (master/master.c) for replay from the data directory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../master/csmgr.h"
#include "../../master/journal.h"
#include "../../master/lease.h"
#include "../../master/master.h"
#include "../../master/ops.h"
#include "../../master/xattr.h"
#include "json.h"
#include "util.h"

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/gfs-journal-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(journal, .init = setup, .fini = teardown, .timeout = 30);

static void open_master(struct gfs_master *m)
{
	memset(m, 0, sizeof(*m));
	m->conf.data = dir;
	m->conf.chunk_size = 1 << 20;
	m->conf.replicas = 3;
	m->conf.dead_after_ms = 6000;
	m->conf.failover_ms = 10000;
	m->conf.gc_interval_ms = 5000;
	m->conf.orphan_grace_ms = 3600000;
	m->conf.checkpoint_every = 1u << 30;
	m->conf.detach_ms = 1500;
	m->self_url = "http://127.0.0.1:1";
	cr_assert_eq(gfs_master_open(m), GFS_OK);
}

static bool exists(struct gfs_master *m, const char *path)
{
	struct gfs_node *n;

	return gfs_ns_lookup(&m->ns, path, &n) == GFS_OK;
}

/* Append a record to the log as an older version would have, without
 * applying it. */
static void store_raw(struct gfs_master *m, struct gfs_enc *rec)
{
	gfs_oplog_append(m->log, rec->buf, rec->len);
	gfs_enc_free(rec);
}

Test(journal, refuses_a_live_record_whose_strings_are_not_utf8)
{
	struct gfs_master m;
	struct gfs_enc rec = { 0 };
	uint64_t files;

	open_master(&m);
	pthread_mutex_lock(&m.lock);
	files = m.ns.nfiles;
	gfs_rec_create(&rec, "/bad\xff", GFS_NODE_FILE, 0644, 1, 1 << 20);
	cr_expect_not(gfs_journal_apply(&m, rec.buf, rec.len));
	gfs_enc_free(&rec);
	gfs_rec_create(&rec, "/good", GFS_NODE_FILE, 0644, 1, 1 << 20);
	gfs_ops_log(&m, &rec);
	gfs_rec_lease(&rec, "/good", "holder\xc3", 1ll << 50, 60);
	cr_expect_not(gfs_journal_apply(&m, rec.buf, rec.len));
	gfs_enc_free(&rec);
	gfs_rec_rename(&rec, "/good", "/moved\xe2\x82");
	cr_expect_not(gfs_journal_apply(&m, rec.buf, rec.len));
	gfs_enc_free(&rec);
	cr_expect_eq(m.ns.nfiles, files + 1);
	cr_expect(exists(&m, "/good"));
	pthread_mutex_unlock(&m.lock);
	gfs_master_close(&m);
}

/* A data directory written before names were checked: replay keeps the
 * file and the lease under escaped names, and so does the checkpoint. */
Test(journal, replay_escapes_stored_names_that_are_not_utf8)
{
	struct gfs_master m;
	struct gfs_enc rec = { 0 };
	struct gfs_node *n;
	int pass;

	open_master(&m);
	pthread_mutex_lock(&m.lock);
	gfs_rec_create(&rec, "/d\xff/x", GFS_NODE_FILE, 0644, 1, 1 << 20);
	store_raw(&m, &rec);
	gfs_rec_create(&rec, "/d\xff/y", GFS_NODE_FILE, 0644, 1, 1 << 20);
	store_raw(&m, &rec);
	gfs_rec_lease(&rec, "/d\xff/x", "h\xfe", 1ll << 50, 60);
	store_raw(&m, &rec);
	gfs_rec_rename(&rec, "/d\xff/y", "/z\xc3");
	store_raw(&m, &rec);
	pthread_mutex_unlock(&m.lock);
	gfs_oplog_sync(m.log);
	gfs_oplog_close(m.log); /* crash: the log alone */
	m.log = NULL;
	gfs_master_close(&m);
	for (pass = 0; pass < 2; pass++) { /* the log, then the checkpoint */
		open_master(&m);
		cr_assert(exists(&m, "/d%FF/x"), "pass %d", pass);
		cr_expect(exists(&m, "/z%C3"), "pass %d", pass);
		cr_expect_not(exists(&m, "/d%FF/y"), "pass %d", pass);
		cr_assert_eq(gfs_ns_lookup(&m.ns, "/d%FF/x", &n), GFS_OK);
		cr_assert_not_null(n->lease);
		cr_expect_str_eq(n->lease->holder, "h%FE");
		gfs_master_close(&m); /* clean: writes a checkpoint */
	}
}

static struct gfs_node *node_at(struct gfs_master *m, const char *path)
{
	struct gfs_node *n = NULL;

	cr_assert_eq(gfs_ns_lookup(&m->ns, path, &n), GFS_OK, "%s", path);
	return n;
}

/* An upload's file stays hidden through the log and the checkpoint,
 * appears at its first commit, and gives way to a create of its name. */
Test(journal, hidden_files_survive_restarts_until_their_commit)
{
	struct gfs_master m;
	struct gfs_enc rec = { 0 };
	int pass;

	open_master(&m);
	pthread_mutex_lock(&m.lock);
	gfs_rec_create(&rec, "/up/a", GFS_CREATE_HIDDEN, 0644, 1, 1 << 20);
	gfs_ops_log(&m, &rec);
	gfs_rec_create(&rec, "/up/b", GFS_CREATE_HIDDEN, 0644, 1, 1 << 20);
	gfs_ops_log(&m, &rec);
	gfs_rec_create(&rec, "/up/c", GFS_CREATE_HIDDEN, 0644, 1, 1 << 20);
	gfs_ops_log(&m, &rec);
	/* a visible create of b's name replaces the upload */
	gfs_rec_create(&rec, "/up/b", GFS_NODE_FILE, 0600, 2, 1 << 20);
	gfs_ops_log(&m, &rec);
	/* a rename onto c's name too, without overwrite */
	gfs_rec_create(&rec, "/x", GFS_NODE_FILE, 0600, 2, 1 << 20);
	gfs_ops_log(&m, &rec);
	gfs_rec_rename(&rec, "/x", "/up/c");
	gfs_ops_log(&m, &rec);
	pthread_mutex_unlock(&m.lock);
	gfs_oplog_sync(m.log);
	gfs_oplog_close(m.log); /* crash: the log alone */
	m.log = NULL;
	gfs_master_close(&m);
	for (pass = 0; pass < 2; pass++) { /* the log, then the checkpoint */
		open_master(&m);
		cr_expect(node_at(&m, "/up/a")->hidden, "pass %d", pass);
		cr_expect_not_null(gfs_ns_stale_hidden(&m.ns, INT64_MAX));
		cr_expect_not(node_at(&m, "/up/b")->hidden, "pass %d", pass);
		cr_expect_eq(node_at(&m, "/up/b")->mode, 0600);
		cr_expect_not(node_at(&m, "/up/c")->hidden, "pass %d", pass);
		cr_expect_eq(m.ns.nfiles, 3, "pass %d", pass);
		gfs_master_close(&m); /* clean: writes a checkpoint */
	}
	open_master(&m);
	pthread_mutex_lock(&m.lock);
	gfs_rec_commit(&rec, "/up/a", 0, 3, NULL, 0);
	gfs_ops_log(&m, &rec);
	cr_expect_not(node_at(&m, "/up/a")->hidden);
	cr_expect_null(gfs_ns_stale_hidden(&m.ns, INT64_MAX));
	pthread_mutex_unlock(&m.lock);
	gfs_master_close(&m);
}

/* Apply rec (then emptied); how many paths that walked. */
static uint64_t walks_of(struct gfs_master *m, struct gfs_enc *rec, bool ok)
{
	uint64_t w0 = m->ns.walks;

	cr_assert_eq(gfs_journal_apply(m, rec->buf, rec->len), ok);
	rec->len = 0;
	return m->ns.walks - w0;
}

/* A record that creates a path walks it once (checkpoint loads and
 * replay apply millions): lookup, the check that it can be created and
 * the create share one walk, and a COMMIT walks its path once. */
Test(journal, a_create_record_walks_its_path_once)
{
	struct gfs_master m;
	struct gfs_enc rec = { 0 };
	struct gfs_rec_inode in = { .type = GFS_NODE_FILE, .ino = 100,
				    .mode = 0644, .mtime_ns = 5,
				    .ctime_ns = 5, .chunk_size = 1 << 20 };
	struct gfs_rec_chunk c = { 0, 7, 1, 10 };

	open_master(&m);
	pthread_mutex_lock(&m.lock);
	gfs_rec_mknode(&rec, "/d/e/f", &in);
	cr_expect_eq(walks_of(&m, &rec, true), 1, "MKNODE");
	gfs_rec_commit(&rec, "/d/e/f", 10, 6, &c, 1);
	cr_expect_eq(walks_of(&m, &rec, true), 1, "COMMIT");
	in.ino = 200;
	c.handle = 8;
	gfs_rec_create_commit(&rec, "/d/e/g", &in, 10, 6, &c, 1, 6);
	cr_expect_eq(walks_of(&m, &rec, true), 1, "CREATE_COMMIT");
	gfs_rec_create(&rec, "/d/h", GFS_NODE_FILE, 0644, 5, 1 << 20);
	cr_expect_eq(walks_of(&m, &rec, true), 1, "CREATE");
	gfs_rec_dir(&rec, "/x/y", true, 0755, 5);
	cr_expect_eq(walks_of(&m, &rec, true), 1, "DIR");
	gfs_rec_mknode(&rec, "/d/e/f", &in);
	cr_expect_eq(walks_of(&m, &rec, false), 1, "MKNODE of a taken name");
	/* an upload not committed (hidden) gives way: one more walk */
	in.ino = 300;
	in.flags = GFS_MK_HIDDEN;
	gfs_rec_mknode(&rec, "/up/u", &in);
	cr_expect_eq(walks_of(&m, &rec, true), 1, "hidden MKNODE");
	in.ino = 400;
	in.flags = 0;
	c.handle = 7; /* /d/e/f's: refused, the upload stays */
	gfs_rec_create_commit(&rec, "/up/u", &in, 10, 6, &c, 1, 6);
	walks_of(&m, &rec, false);
	cr_expect(node_at(&m, "/up/u")->hidden);
	c.handle = 9;
	gfs_rec_create_commit(&rec, "/up/u", &in, 10, 6, &c, 1, 6);
	cr_expect_eq(walks_of(&m, &rec, true), 2, "over a hidden file");
	cr_expect_not(node_at(&m, "/up/u")->hidden);
	cr_expect_eq(node_at(&m, "/up/u")->ino, 400);
	cr_expect_eq(m.ns.nfiles, 4);
	cr_expect_eq(m.chunks.count, 3);
	pthread_mutex_unlock(&m.lock);
	gfs_enc_free(&rec);
	gfs_master_close(&m);
}

static void log_rec(struct gfs_master *m, struct gfs_enc *rec)
{
	pthread_mutex_lock(&m->lock);
	gfs_ops_log(m, rec);
	pthread_mutex_unlock(&m->lock);
}

/* Inodes, hard links, symlinks, devices and attributes, as logged, come
 * back the same after replay of the log and after a checkpoint. */
static void check_posix_state(struct gfs_master *m)
{
	struct gfs_node *f, *g, *s, *c, *d;

	cr_assert_eq(gfs_ns_lookup(&m->ns, "/d/f", &f), GFS_OK);
	cr_assert_eq(gfs_ns_lookup(&m->ns, "/e/g", &g), GFS_OK);
	cr_assert_eq(f, g, "one inode, two names");
	cr_assert_eq(f->ino, 100);
	cr_assert_eq(f->nlink, 2);
	cr_assert_eq(f->uid, 1000);
	cr_assert_eq(f->gid, 50);
	cr_assert_eq(f->mode, 04755);
	cr_assert_eq(f->atime_ns, 11);
	cr_assert_eq(f->ctime_ns, 33, "ctime of the link");
	cr_assert_eq(gfs_ns_lookup(&m->ns, "/s", &s), GFS_OK);
	cr_assert_eq(s->type, GFS_NODE_SYMLINK);
	cr_assert_str_eq(s->sym.target, "d/f");
	cr_assert_eq(gfs_ns_lookup(&m->ns, "/c", &c), GFS_OK);
	cr_assert_eq(c->type, GFS_NODE_CHR);
	cr_assert_eq(c->dev.rdev, 0x0103);
	cr_assert_eq(gfs_ns_lookup(&m->ns, "/d", &d), GFS_OK);
	cr_assert_eq(d->ino, 101, "implicit parent numbered after its file");
	cr_assert_not(exists(m, "/gone"));
}

Test(journal, keeps_inodes_links_and_attributes_through_replay_and_checkpoint)
{
	struct gfs_master m;
	struct gfs_enc rec = { 0 };
	struct gfs_rec_inode in = {
		.type = GFS_NODE_FILE, .ino = 100, .mode = 0644, .uid = 1,
		.gid = 2, .atime_ns = 1, .mtime_ns = 2, .ctime_ns = 3,
		.chunk_size = 1 << 20,
	};
	struct gfs_rec_inode a = { .mode = 04755, .uid = 1000, .gid = 50,
				   .atime_ns = 11 };

	open_master(&m);
	gfs_rec_mknode(&rec, "/d/f", &in);
	log_rec(&m, &rec);
	gfs_rec_attr(&rec, "/d/f", GFS_ATTR_MODE | GFS_ATTR_UID |
		     GFS_ATTR_GID | GFS_ATTR_ATIME, &a);
	log_rec(&m, &rec);
	gfs_rec_link(&rec, "/d/f", "/e/g", 33);
	log_rec(&m, &rec);
	in = (struct gfs_rec_inode){ .type = GFS_NODE_SYMLINK, .ino = 200,
				     .mode = 0777, .target = "d/f" };
	gfs_rec_mknode(&rec, "/s", &in);
	log_rec(&m, &rec);
	in = (struct gfs_rec_inode){ .type = GFS_NODE_CHR, .ino = 201,
				     .mode = 0600, .rdev = 0x0103 };
	gfs_rec_mknode(&rec, "/c", &in);
	log_rec(&m, &rec);
	in = (struct gfs_rec_inode){ .type = GFS_NODE_FIFO, .ino = 202,
				     .mode = 0600 };
	gfs_rec_mknode(&rec, "/gone", &in);
	log_rec(&m, &rec);
	gfs_rec_delete(&rec, "/gone");
	gfs_rec_time(&rec, 44);
	log_rec(&m, &rec);
	check_posix_state(&m);
	gfs_oplog_sync(m.log);
	gfs_oplog_close(m.log); /* crash: the log alone */
	m.log = NULL;
	gfs_master_close(&m);
	open_master(&m);
	check_posix_state(&m);
	gfs_master_close(&m); /* clean: a checkpoint */
	open_master(&m);
	check_posix_state(&m);
	cr_assert_geq(m.ns.next_ino, 202, "above every inode in use");
	gfs_master_close(&m);
}

Test(journal, refuses_a_symlink_without_target_and_a_link_to_a_directory)
{
	struct gfs_master m;
	struct gfs_enc rec = { 0 };
	struct gfs_rec_inode in = { .type = GFS_NODE_SYMLINK, .ino = 9,
				    .mode = 0777 };

	open_master(&m);
	gfs_rec_mknode(&rec, "/s", &in);
	pthread_mutex_lock(&m.lock);
	cr_assert_not(gfs_journal_apply(&m, rec.buf, rec.len));
	gfs_enc_free(&rec);
	in = (struct gfs_rec_inode){ .type = GFS_NODE_DIR, .ino = 10,
				     .mode = 0755, .flags = GFS_MK_EXPLICIT };
	gfs_rec_mknode(&rec, "/dir", &in);
	cr_assert(gfs_journal_apply(&m, rec.buf, rec.len));
	gfs_enc_free(&rec);
	gfs_rec_link(&rec, "/dir", "/dir2", 1);
	cr_assert_not(gfs_journal_apply(&m, rec.buf, rec.len));
	gfs_enc_free(&rec);
	pthread_mutex_unlock(&m.lock);
	cr_assert_not(exists(&m, "/s"));
	cr_assert_not(exists(&m, "/dir2"));
	gfs_master_close(&m);
}

/* Put byte v at offset off of file dir/name. */
static void poke(const char *name, long off, char v)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r+");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fseek(f, off, SEEK_SET), 0);
	cr_assert_eq(fputc(v, f), v);
	cr_assert_eq(fclose(f), 0);
}

/* The header digit of dir/name. */
static char format_of(const char *name)
{
	char path[256], hdr[8];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fread(hdr, 1, 8, f), 8);
	fclose(f);
	return hdr[strncmp(hdr, "GFSLOG", 6) ? 7 : 6];
}

Test(journal, loads_format_1_and_continues_it_in_a_new_segment)
{
	struct gfs_master m;
	struct gfs_enc rec = { 0 };
	struct gfs_node *n;
	char seg[64];

	open_master(&m);
	/* what a master of format 1 wrote: CREATE, no trailing times */
	gfs_rec_create(&rec, "/old/f", GFS_NODE_FILE, 0600, 5, 1 << 20);
	log_rec(&m, &rec);
	gfs_rec_rename(&rec, "/old/f", "/old/g");
	log_rec(&m, &rec);
	gfs_oplog_sync(m.log);
	gfs_oplog_close(m.log);
	m.log = NULL;
	/* the next record starts the segment a reopened master writes */
	snprintf(seg, sizeof(seg), "log.%016llx",
		 (unsigned long long)m.applied_seq);
	gfs_master_close(&m);
	poke("log.0000000000000001", 6, '1');
	open_master(&m);
	cr_assert_eq(gfs_ns_lookup(&m.ns, "/old/g", &n), GFS_OK);
	cr_assert_eq(n->mode, 0600);
	cr_assert_gt(n->ino, 1, "numbered in replay order");
	cr_assert_eq(format_of("log.0000000000000001"), '1',
		     "the old segment stays as it was");
	cr_assert_eq(format_of(seg), '2',
		     "new records go to a segment of format 2");
	gfs_master_close(&m); /* a checkpoint of format 2 */
	cr_assert_eq(format_of("checkpoint"), '2');
	open_master(&m);
	cr_assert(exists(&m, "/old/g"));
	gfs_master_close(&m);
}

Test(journal, refuses_a_data_directory_of_an_unknown_format)
{
	struct gfs_master m;
	char seg[64];

	open_master(&m);
	gfs_master_close(&m); /* a checkpoint and a segment after it */
	snprintf(seg, sizeof(seg), "log.%016llx",
		 (unsigned long long)m.ckpt_seq);
	poke("checkpoint", 7, '9');
	memset(&m, 0, sizeof(m));
	m.conf.data = dir;
	m.conf.checkpoint_every = 1u << 30;
	m.self_url = "http://127.0.0.1:1";
	cr_assert_neq(gfs_master_open(&m), GFS_OK, "checkpoint of format 9");
	poke("checkpoint", 7, '2');
	poke(seg, 6, '3');
	cr_assert_neq(gfs_master_open(&m), GFS_OK, "segment of format 3");
}

/* ---- pre-placed chunks and create+commit (issue 13) ---- */

static const char *const cs_urls[] = { "http://127.0.0.1:9001",
				       "http://127.0.0.1:9002",
				       "http://127.0.0.1:9003" };

/* m as a primary that may take mutations now, with three live
 * chunkservers. */
static void ready(struct gfs_master *m)
{
	char text[256];
	struct gfs_heartbeat hb;
	json_t *body, *orders = NULL;
	const char *why;
	bool want_full;

	pthread_mutex_lock(&m->lock);
	cr_assert_eq(m->role, GFS_ROLE_PRIMARY);
	m->probation_until = 0;
	pthread_mutex_unlock(&m->lock);
	for (int i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), "{\"url\": \"%s\", \"free_bytes\": "
			 "1000000000, \"full\": true, \"chunks\": []}",
			 cs_urls[i]);
		body = json_loads(text, 0, NULL);
		cr_assert_eq(gfs_heartbeat_parse(body, &hb, &why), GFS_OK);
		pthread_mutex_lock(&m->lock);
		gfs_csmgr_heartbeat(m, &hb, false, &orders, &want_full);
		pthread_mutex_unlock(&m->lock);
		json_decref(orders);
		orders = NULL;
		gfs_heartbeat_clear(&hb);
		json_decref(body);
	}
}

/* n pre-placed handles for holder into h[]. */
static void preplace(struct gfs_master *m, const char *holder, int n,
		     uint64_t *h)
{
	json_t *body = json_pack("{s:i}", "count", n), *out = NULL, *c;
	size_t i;

	cr_assert_eq(gfs_ops_preplace(m, holder, body, &out), GFS_OK);
	cr_assert_eq(json_array_size(json_object_get(out, "chunks")),
		     (size_t)n);
	cr_expect_eq(json_integer_value(json_object_get(out, "chunk_size")),
		     1 << 20);
	json_array_foreach(json_object_get(out, "chunks"), i, c) {
		cr_assert_eq(gfs_json_handle(c, "handle", true, &h[i]), GFS_OK);
		cr_expect_eq(json_array_size(json_object_get(c, "replicas")),
			     3);
	}
	json_decref(out);
	json_decref(body);
}

/* POST /files/PATH/commit with "create" of len bytes in handle h. */
static enum gfs_err create_commit(struct gfs_master *m, const char *path,
				  const char *holder, uint64_t h, int len)
{
	json_t *chunk = json_pack("{s:i, s:o, s:i, s:i, s:[s]}", "index", 0,
				  "handle", gfs_json_handle_new(h), "version",
				  1, "length", len, "replicas", cs_urls[0]);
	json_t *body = json_pack("{s:{s:i, s:i}, s:i, s:[o], s:I}", "create",
				 "mode", 0600, "uid", 7, "size", len, "chunks",
				 chunk, "mtime_ns", (json_int_t)5000);
	json_t *out = NULL;
	enum gfs_err err = gfs_ops_create_commit(m, path, holder, body, NULL,
						 &out);

	if (!err)
		cr_expect_eq(json_integer_value(json_object_get(out, "size")),
			     len);
	if (out)
		json_decref(out);
	json_decref(body);
	return err;
}

/* path is a file of len bytes in chunk 0 = h, mode 0600, uid 7. */
static void check_small(struct gfs_master *m, const char *path, uint64_t h,
			uint32_t len)
{
	struct gfs_node *f = node_at(m, path);

	cr_assert_eq(f->type, GFS_NODE_FILE, "%s", path);
	cr_expect_eq(f->file.size, len, "%s", path);
	cr_expect_eq(f->mode, 0600);
	cr_expect_eq(f->uid, 7);
	cr_expect_eq(f->mtime_ns, 5000);
	cr_assert_eq(f->file.nchunks, 1, "%s", path);
	cr_expect_eq(gfs_ns_chunks(f)[0]->handle, h);
	cr_expect_eq(gfs_ns_chunks(f)[0]->length, len);
	cr_expect_null(gfs_chunks_pending(&m->chunks, h), "no longer pending");
}

struct follower {
	struct gfs_master *m;
	uint64_t records;
};

/* A record of the primary's log, applied as a backup applies the stream
 * (the bytes as stored, not replaying). */
static bool follow_cb(void *cls, uint64_t seq, const uint8_t *body,
		      size_t len)
{
	struct follower *fw = cls;

	(void)seq;
	fw->records++;
	return gfs_journal_apply(fw->m, body, len);
}

Test(journal, a_create_commit_is_one_record_kept_by_replay_and_checkpoint)
{
	struct gfs_master m;
	uint64_t h[4], seq0;

	open_master(&m);
	ready(&m);
	preplace(&m, "me", 4, h);
	for (int i = 1; i < 4; i++)
		cr_expect_gt(h[i], h[i - 1], "never the same handle twice");
	seq0 = m.applied_seq;
	cr_assert_eq(create_commit(&m, "/a/f", "me", h[0], 100), GFS_OK);
	cr_expect_eq(m.applied_seq, seq0 + 1, "one record");
	check_small(&m, "/a/f", h[0], 100);
	/* a name that exists is refused, as a create is */
	cr_expect_eq(create_commit(&m, "/a/f", "me", h[1], 10), GFS_EEXIST);
	cr_expect_eq(create_commit(&m, "/a", "me", h[1], 10), GFS_EEXIST);
	/* a handle already committed, or another holder's, is refused */
	cr_expect_eq(create_commit(&m, "/a/g", "me", h[0], 10), GFS_EINVAL);
	cr_expect_eq(create_commit(&m, "/a/g", "you", h[1], 10), GFS_EINVAL);
	cr_expect_eq(create_commit(&m, "/a/g", NULL, h[1], 10), GFS_EINVAL);
	cr_expect_not(exists(&m, "/a/g"), "refusals change nothing");
	cr_assert_eq(create_commit(&m, "/a/g", "me", h[1], 1 << 20), GFS_OK);
	cr_expect_eq(create_commit(&m, "/b", "me", h[2], (1 << 20) + 1),
		     GFS_EINVAL, "no longer than a chunk");
	gfs_oplog_sync(m.log);
	gfs_oplog_close(m.log); /* crash: the log alone */
	m.log = NULL;
	gfs_master_close(&m);
	open_master(&m); /* replay */
	check_small(&m, "/a/f", h[0], 100);
	check_small(&m, "/a/g", h[1], 1 << 20);
	gfs_master_close(&m); /* clean: a checkpoint */
	open_master(&m);
	check_small(&m, "/a/f", h[0], 100);
	check_small(&m, "/a/g", h[1], 1 << 20);
	cr_expect_eq(m.ns.nfiles, 2);
	gfs_master_close(&m);
}

/* The primary hands out pre-placed handles and dies; a master that
 * followed its log (the backup's stream, or its own log at a restart)
 * never hands any of them out again, and still takes a create+commit
 * of one the client had written to. */
Test(journal, no_preplaced_handle_is_handed_out_twice_after_a_failover)
{
	struct gfs_master m, b;
	struct follower fw = { &b, 0 };
	struct gfs_oplog *log = NULL;
	char bdir[64];
	uint64_t h[8], again[8];

	open_master(&m);
	ready(&m);
	preplace(&m, "me", 8, h);
	cr_assert_eq(create_commit(&m, "/f", "me", h[0], 4096), GFS_OK);
	gfs_oplog_sync(m.log);
	gfs_oplog_close(m.log); /* the primary dies */
	m.log = NULL;
	gfs_master_close(&m);

	/* the backup: the stream's records applied to a state of its own */
	memset(&b, 0, sizeof(b));
	b.conf.chunk_size = 1 << 20;
	b.conf.replicas = 3;
	pthread_mutex_init(&b.lock, NULL);
	gfs_ns_init(&b.ns);
	gfs_chunks_init(&b.chunks);
	gfs_csmgr_init(&b.cs);
	strcpy(bdir, "/tmp/gfs-journal-b-XXXXXX");
	cr_assert_not_null(mkdtemp(bdir));
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "cp %s/log.* %s/", dir, bdir);
		cr_assert_eq(system(cmd), 0);
	}
	pthread_mutex_lock(&b.lock);
	cr_assert_eq(gfs_oplog_open(bdir, 1, follow_cb, &fw, &log), GFS_OK);
	cr_expect_geq(fw.records, 3, "EPOCH, RESERVE, CREATE_COMMIT");
	check_small(&b, "/f", h[0], 4096);
	gfs_chunks_skip_reserved(&b.chunks); /* promoted */
	for (int i = 0; i < 8; i++)
		cr_expect_lt(h[i], gfs_chunks_take_handle(&b.chunks),
			     "the promoted backup starts past every handle "
			     "the old primary had");
	pthread_mutex_unlock(&b.lock);
	gfs_oplog_close(log);
	free(b.epoch_owner); /* what the EPOCH record set */
	free(b.primary_url);
	gfs_csmgr_free(&b.cs);
	gfs_chunks_free(&b.chunks);
	gfs_ns_free(&b.ns);
	pthread_mutex_destroy(&b.lock);
	{
		char cmd[200];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", bdir);
		cr_assert_eq(system(cmd), 0);
	}

	/* the same master restarted: the same rule, through the ops */
	open_master(&m);
	ready(&m);
	preplace(&m, "me", 8, again);
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 8; j++)
			cr_expect_neq(again[i], h[j], "handed out twice");
	/* written to before the failover, committed after it */
	cr_expect_eq(create_commit(&m, "/g", "me", h[3], 10), GFS_OK);
	cr_expect_eq(create_commit(&m, "/h", "me", h[0], 10), GFS_EINVAL,
		     "committed before the failover: taken");
	gfs_master_close(&m);
}

/* A pre-placed handle nobody committed is forgotten after
 * --orphan-grace (GC collects what was written to it as an orphan). */
Test(journal, an_unused_preplaced_handle_expires_with_its_lease)
{
	struct gfs_master m;
	uint64_t h[2];
	int64_t grace;

	open_master(&m);
	ready(&m);
	preplace(&m, "me", 2, h);
	grace = (int64_t)m.conf.orphan_grace_ms;
	pthread_mutex_lock(&m.lock);
	cr_assert_not_null(gfs_chunks_pending(&m.chunks, h[0]));
	gfs_chunks_expire_pending(&m.chunks, gfs_mono_ms() + grace + 1, grace,
				  100);
	cr_expect_null(gfs_chunks_pending(&m.chunks, h[0]));
	pthread_mutex_unlock(&m.lock);
	cr_expect_eq(create_commit(&m, "/late", "me", h[0], 10), GFS_EINVAL);
	cr_expect_not(exists(&m, "/late"));
	gfs_master_close(&m);
}

/* The kept file's chunk 0 handle, or 0 when kid is not kept. */
static uint64_t kept_handle(struct gfs_master *m, uint64_t kid)
{
	struct gfs_kept *k = gfs_kept_find(&m->ns.kept, kid);

	if (!k || !k->node->file.nchunks)
		return 0;
	return gfs_ns_chunks(k->node)[0]->handle;
}

/* A rename over a file its caller has open (keep=TTL) keeps the file it
 * replaces in the same record, through replay and checkpoint; nothing
 * is kept when nothing is replaced, or when another name of it stays. */
Test(journal, a_rename_over_an_open_file_keeps_it)
{
	struct gfs_master m;
	json_t *out = NULL;
	uint64_t h[3], kid = 0, seq0;

	open_master(&m);
	ready(&m);
	preplace(&m, "me", 3, h);
	cr_assert_eq(create_commit(&m, "/old", "me", h[0], 100), GFS_OK);
	cr_assert_eq(create_commit(&m, "/new", "me", h[1], 100), GFS_OK);
	cr_assert_eq(create_commit(&m, "/x", "me", h[2], 100), GFS_OK);
	cr_expect_eq(gfs_ops_rename(&m, "/new", "/old", true, 60, NULL, NULL,
				    &out), GFS_EINVAL, "keep needs a holder");
	cr_expect_null(out);
	seq0 = m.applied_seq;
	cr_assert_eq(gfs_ops_rename(&m, "/new", "/old", true, 60, "me", NULL,
				    &out), GFS_OK);
	cr_expect_eq(m.applied_seq, seq0 + 1, "one record");
	cr_assert_eq(gfs_json_handle(out, "kept", true, &kid), GFS_OK);
	cr_expect_eq(json_integer_value(json_object_get(out, "ttl")), 60);
	cr_expect_str_eq(json_string_value(json_object_get(out, "path")),
			 "/old");
	json_decref(out);
	cr_expect_eq(kept_handle(&m, kid), h[0], "the old file is kept");
	cr_expect_eq(node_at(&m, "/old")->file.nchunks, 1);
	cr_expect_eq(gfs_ns_chunks(node_at(&m, "/old"))[0]->handle, h[1]);
	cr_expect_eq(m.ns.nfiles, 2);
	/* nothing replaced, or a name that is not the last: nothing kept */
	cr_assert_eq(gfs_ops_rename(&m, "/x", "/y", true, 60, "me", NULL,
				    &out), GFS_OK);
	cr_expect_null(json_object_get(out, "kept"));
	json_decref(out);
	cr_assert_eq(gfs_ops_link(&m, "/old", "/old2", NULL, NULL, &out),
		     GFS_OK);
	json_decref(out);
	cr_assert_eq(gfs_ops_rename(&m, "/y", "/old", true, 60, "me", NULL,
				    &out), GFS_OK);
	cr_expect_null(json_object_get(out, "kept"));
	json_decref(out);
	cr_expect_eq(m.ns.kept.count, 1);
	cr_expect_eq(gfs_ns_chunks(node_at(&m, "/old2"))[0]->handle, h[1]);
	gfs_oplog_sync(m.log);
	gfs_oplog_close(m.log); /* crash: the log alone */
	m.log = NULL;
	gfs_master_close(&m);
	open_master(&m); /* replay */
	cr_expect_eq(m.ns.kept.count, 1);
	cr_expect_eq(kept_handle(&m, kid), h[0], "kept through replay");
	gfs_master_close(&m); /* clean: a checkpoint */
	open_master(&m);
	cr_expect_eq(kept_handle(&m, kid), h[0], "kept through a checkpoint");
	cr_assert_eq(gfs_ops_kept_drop(&m, kid, "me", &out), GFS_OK);
	json_decref(out);
	cr_expect_eq(m.ns.kept.count, 0);
	gfs_master_close(&m);
}

/* The names of kept file kid's attributes, "a,b," (caller frees). */
static char *kept_xattr_names(struct gfs_master *m, uint64_t kid)
{
	struct gfs_kept *k = gfs_kept_find(&m->ns.kept, kid);
	const struct gfs_xattrs *xs = k ? gfs_xattr_of(m->ns.xattrs, k->node)
				       : NULL;
	char *s = gfs_xstrdup(""), *t;

	for (uint32_t i = 0; xs && i < xs->n; i++) {
		t = gfs_xasprintf("%s%s,", s, xs->items[i].name);
		free(s);
		s = t;
	}
	return s;
}

static void expect_kept_xattrs(struct gfs_master *m, uint64_t kid,
			       const char *want, const char *when)
{
	char *got = kept_xattr_names(m, kid);

	cr_expect_str_eq(got, want, "%s", when);
	free(got);
}

/* The holder of a kept file reads and changes its attributes by id;
 * the changes go through replay and the checkpoint. */
Test(journal, a_kept_files_attributes_change_by_id)
{
	struct gfs_master m;
	json_t *out = NULL, *body;
	uint64_t h[1], kid = 0;
	int64_t ctime;

	open_master(&m);
	ready(&m);
	preplace(&m, "me", 1, h);
	cr_assert_eq(create_commit(&m, "/f", "me", h[0], 10), GFS_OK);
	body = json_pack("{s:s, s:s}", "name", "user.a", "value", "b25l");
	cr_assert_eq(gfs_ops_xattr_set(&m, "/f", "me", body, NULL, &out),
		     GFS_OK);
	json_decref(out);
	cr_assert_eq(gfs_ops_unlink_keep(&m, "/f", "me", 60, NULL, &out),
		     GFS_OK);
	cr_assert_eq(gfs_json_handle(out, "kept", true, &kid), GFS_OK);
	json_decref(out);
	out = NULL;
	ctime = gfs_kept_find(&m.ns.kept, kid)->node->ctime_ns;
	json_object_set_new(body, "name", json_string("user.b"));
	cr_expect_eq(gfs_ops_kept_xattr_set(&m, kid, "you", body, NULL, &out),
		     GFS_ENOENT, "the holder's alone");
	cr_assert_eq(gfs_ops_kept_xattr_set(&m, kid, "me", body, NULL, &out),
		     GFS_OK);
	json_decref(out);
	out = NULL;
	cr_expect_gt(gfs_kept_find(&m.ns.kept, kid)->node->ctime_ns, ctime);
	cr_assert_eq(gfs_ops_kept_xattr_remove(&m, kid, "me", "user.a", NULL,
					       &out), GFS_OK);
	json_decref(out);
	out = NULL;
	cr_expect_eq(gfs_ops_kept_xattr_remove(&m, kid, "me", "user.a", NULL,
					       &out), GFS_ENODATA);
	cr_assert_eq(gfs_ops_kept_xattr_get(&m, kid, "me", "user.b", &out),
		     GFS_OK);
	cr_expect_str_eq(json_string_value(json_object_get(
				 json_object_get(out, "xattrs"), "user.b")),
			 "b25l");
	json_decref(out);
	json_decref(body);
	expect_kept_xattrs(&m, kid, "user.b,", "live");
	gfs_oplog_sync(m.log);
	gfs_oplog_close(m.log); /* crash: the log alone */
	m.log = NULL;
	gfs_master_close(&m);
	open_master(&m);
	expect_kept_xattrs(&m, kid, "user.b,", "replayed");
	gfs_master_close(&m); /* clean: a checkpoint */
	open_master(&m);
	expect_kept_xattrs(&m, kid, "user.b,", "from the checkpoint");
	gfs_master_close(&m);
}
