/*
 * Scale tests for the master as a whole (master/master.c with journal,
 * namespace, chunks, oplog, checkpoint): memory per file and restart time
 * with 100,000 files of one chunk each.  Figures go to the test log
 * (run with --verbose to see them).
 */
#include <criterion/criterion.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../master/checkpoint.h"
#include "../../master/journal.h"
#include "../../master/master.h"
#include "../../master/ops.h"
#include "util.h"

#define NFILES 100000

static char dir[64];

static void setup(void)
{
#ifdef __SANITIZE_ADDRESS__
	cr_skip_test("figures are meaningless under the sanitizers");
#endif
	if (getenv("GFS_VALGRIND"))
		cr_skip_test("figures are meaningless under valgrind");
	strcpy(dir, "/tmp/gfs-master-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(master, .init = setup, .fini = teardown, .timeout = 120);

static void conf(struct gfs_master *m)
{
	memset(m, 0, sizeof(*m));
	m->conf.data = dir;
	m->conf.chunk_size = 64 << 20;
	m->conf.replicas = 3;
	m->conf.dead_after_ms = 6000;
	m->conf.failover_ms = 10000;
	m->conf.gc_interval_ms = 5000;
	m->conf.orphan_grace_ms = 3600000;
	m->conf.checkpoint_every = 1u << 30;
	m->conf.detach_ms = 1500;
	m->self_url = "http://127.0.0.1:1";
}

/* Create and commit NFILES files straight through the journal (one fsync
 * at the end: this measures state, not the disk). */
static void fill(struct gfs_master *m)
{
	struct gfs_enc rec = { 0 };
	struct gfs_rec_chunk c = { 0, 0, 1, 4096 };
	char path[64];

	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < NFILES; i++) {
		snprintf(path, sizeof(path), "/data/d%03d/file-%06d", i % 100,
			 i);
		gfs_rec_create(&rec, path, GFS_NODE_FILE, 0644, i, 64 << 20);
		gfs_ops_log(m, &rec);
		c.handle = (uint64_t)i + 1;
		gfs_rec_commit(&rec, path, 4096, i, &c, 1);
		gfs_ops_log(m, &rec);
	}
	pthread_mutex_unlock(&m->lock);
	gfs_oplog_sync(m->log);
}

static size_t heap(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

Test(master, holds_100k_files_in_under_300_bytes_each)
{
	struct gfs_master m;
	size_t before, after;

	conf(&m);
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	before = heap();
	fill(&m);
	after = heap();
	cr_log_info("%d files + chunks: %zu heap bytes, %.0f per file",
		    NFILES, after - before, (double)(after - before) / NFILES);
	cr_assert_eq(m.ns.nfiles, NFILES);
	cr_assert_lt((after - before) / NFILES, 300);
	gfs_master_close(&m);
}

/* What a restarted master holds: under 200 heap bytes per file of one
 * chunk (issue 11), malloc's headers and every table included.  The log
 * is cut by a second checkpoint first, as a running master's is: what
 * it keeps grows with --checkpoint-every, not with the files. */
Test(master, loads_100k_files_in_under_200_bytes_each)
{
	struct gfs_master m;
	size_t before, after;

	conf(&m);
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	fill(&m);
	cr_assert_eq(gfs_ckpt_write(&m), GFS_OK);
	cr_assert_eq(gfs_ckpt_write(&m), GFS_OK); /* drops the first's log */
	gfs_master_close(&m);
	conf(&m);
	before = heap();
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	after = heap();
	cr_log_info("%d files + chunks loaded: %zu heap bytes, %.0f per file",
		    NFILES, after - before, (double)(after - before) / NFILES);
	cr_assert_eq(m.ns.nfiles, NFILES);
	cr_assert_eq(m.chunks.count, NFILES);
	cr_assert_lt((after - before) / NFILES, 200);
	gfs_master_close(&m);
}

/* Times are logged, not asserted: make bench measures restart time. */
Test(master, restarts_with_100k_files_from_the_log_and_a_checkpoint)
{
	struct gfs_master m;
	int64_t t0;

	conf(&m);
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	fill(&m);
	gfs_oplog_close(m.log); /* crash: the log alone */
	m.log = NULL;
	gfs_master_close(&m);
	conf(&m);
	t0 = gfs_mono_ms();
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	cr_log_info("replayed %d files from the log in %lld ms", NFILES,
		    (long long)(gfs_mono_ms() - t0));
	cr_assert_eq(m.ns.nfiles, NFILES);
	gfs_master_close(&m); /* clean: writes a checkpoint */
	conf(&m);
	t0 = gfs_mono_ms();
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	cr_log_info("loaded %d files from the checkpoint in %lld ms", NFILES,
		    (long long)(gfs_mono_ms() - t0));
	cr_assert_eq(m.ns.nfiles, NFILES);
	cr_assert_eq(m.chunks.count, NFILES);
	gfs_master_close(&m);
}

/* The lock is held for the fork only; the time is logged, not asserted. */
Test(master, checkpoints_100k_files_holding_the_lock_only_to_fork)
{
	struct gfs_master m;
	int64_t t0;

	conf(&m);
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	fill(&m);
	t0 = gfs_mono_ms();
	cr_assert_eq(gfs_ckpt_start(&m), GFS_OK);
	cr_assert_eq(pthread_mutex_trylock(&m.lock), 0, "lock held");
	pthread_mutex_unlock(&m.lock);
	cr_assert_eq(gfs_ckpt_poll(&m, true), GFS_OK);
	cr_log_info("checkpoint of %d files: fork %.1f ms under the lock, "
		    "%lld ms in all", NFILES, (double)m.ckpt.fork_us / 1000,
		    (long long)(gfs_mono_ms() - t0));
	cr_assert_eq(m.ckpt_seq, m.applied_seq);
	gfs_master_close(&m);
}
