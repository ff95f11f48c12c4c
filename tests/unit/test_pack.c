/*
 * Unit tests for chunkserver/pack.c: records appended to pre-zeroed
 * segments, replayed after a close (as after a crash: a pack is never
 * told it was closed cleanly), torn and zeroed tails, bad CRCs, dead
 * records, the acknowledgement order of concurrent appenders, and the
 * removal of segments whose records are all dead.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../chunkserver/pack.h"
#include "constants.h"
#include "crc32c.h"
#include "log.h"
#include "util.h"

#define SEG (12u << 10) /* three 4 KiB records a segment */

static char dir[64];
static int topfd = -1;
static struct gfs_pack *pack;
static uint64_t max_bytes = UINT64_MAX;

/* What a replay handed over. */
static struct gfs_pack_rec got[64];
static size_t ngot;
static bool refuse;  /* the replay callback refuses every record */

/* Reclaims asked for. */
static pthread_mutex_t rlock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t reclaimed_seq;

static bool take(void *cls, const struct gfs_pack_rec *r)
{
	(void)cls;
	if (ngot < 64)
		got[ngot++] = *r;
	return !refuse;
}

static void on_reclaim(void *cls, uint64_t seq)
{
	(void)cls;
	pthread_mutex_lock(&rlock);
	reclaimed_seq = seq;
	pthread_mutex_unlock(&rlock);
}

static void open_pack(void)
{
	struct gfs_pack_conf c = {
		.dirfd = topfd, .label = "test", .seg_size = SEG,
		.max_bytes = max_bytes, .syncs = true, .reclaim = on_reclaim,
	};

	ngot = 0;
	cr_assert_eq(gfs_pack_open(&c, &pack), GFS_OK);
	gfs_pack_replay(pack, take, NULL);
	gfs_pack_start(pack);
}

static void reopen(void)
{
	gfs_pack_close(pack);
	open_pack();
}

static void setup(void)
{
	gfs_log_init("test", GFS_LOG_ERROR);
	snprintf(dir, sizeof(dir), "/tmp/gfs-pack-XXXXXX");
	cr_assert(mkdtemp(dir));
	topfd = open(dir, O_RDONLY | O_DIRECTORY);
	max_bytes = UINT64_MAX;
	refuse = false;
	reclaimed_seq = 0;
	open_pack();
}

static void teardown(void)
{
	char cmd[128];

	gfs_pack_close(pack);
	close(topfd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* 4000 bytes of handle's pattern. */
static void fill(uint8_t *b, uint64_t handle, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(handle * 31 + i);
}

static struct gfs_pack_loc put(uint64_t handle, uint64_t version)
{
	uint8_t b[4000];
	struct gfs_pack_loc loc;

	fill(b, handle, sizeof(b));
	cr_assert_eq(gfs_pack_append(pack, handle, version, b, sizeof(b),
				     gfs_crc32c(0, b, sizeof(b)), &loc),
		     GFS_OK);
	return loc;
}

static void seg_path(uint64_t seq, char *out, size_t n)
{
	snprintf(out, n, "%s/packs/%016llx", dir, (unsigned long long)seq);
}

/* Overwrite n bytes at off of segment seq with byte v. */
static void poke(uint64_t seq, uint64_t off, size_t n, int v)
{
	char path[128];
	uint8_t b[4096];
	int fd;

	seg_path(seq, path, sizeof(path));
	memset(b, v, n);
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(gfs_pwrite_all(fd, b, n, (off_t)off), 0);
	close(fd);
}

/* The bytes of a replayed record, read through gfs_pack_fd. */
static void check_bytes(const struct gfs_pack_rec *r)
{
	uint8_t want[4000], have[4000];
	int fd = gfs_pack_fd(pack, r->loc.seq);

	cr_assert_geq(fd, 0);
	fill(want, r->handle, sizeof(want));
	cr_assert_eq(gfs_pread_all(fd, have, sizeof(have),
				   (off_t)(r->loc.off + GFS_PACK_HEADER)),
		     (ssize_t)sizeof(have));
	close(fd);
	cr_assert_eq(memcmp(want, have, sizeof(have)), 0);
}

TestSuite(pack, .init = setup, .fini = teardown);

Test(pack, replays_what_was_appended)
{
	put(0x10, 1);
	put(0x11, 2);
	reopen();
	cr_assert_eq(ngot, 2);
	cr_assert_eq(got[0].handle, 0x10);
	cr_assert_eq(got[1].handle, 0x11);
	cr_assert_eq(got[1].version, 2);
	cr_assert_eq(got[1].length, 4000);
	check_bytes(&got[0]);
	check_bytes(&got[1]);
}

Test(pack, never_appends_to_an_old_segment)
{
	struct gfs_pack_loc a = put(0x10, 1), b;

	reopen();
	b = put(0x11, 1);
	cr_assert_gt(b.seq, a.seq);
	cr_assert_eq(b.off, 0);
}

Test(pack, torn_tail_stops_the_segment)
{
	struct gfs_pack_loc a, b;

	a = put(0x10, 1);
	b = put(0x11, 1);
	put(0x12, 1);
	(void)a;
	/* the second record's data half written: its CRC fails, and the
	 * third (never acknowledged then) is not believed either */
	poke(b.seq, b.off + GFS_PACK_HEADER + 2000, 2000, 0);
	reopen();
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].handle, 0x10);
}

Test(pack, torn_header_stops_the_segment)
{
	struct gfs_pack_loc b;

	put(0x10, 1);
	b = put(0x11, 1);
	poke(b.seq, b.off + 20, 1, 0xff);  /* a handle byte: header CRC */
	reopen();
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].handle, 0x10);
}

Test(pack, zeroed_tail_ends_the_segment)
{
	struct gfs_pack_loc b;

	put(0x10, 1);
	b = put(0x11, 1);
	poke(b.seq, b.off, 4096, 0);  /* never reached the disk */
	reopen();
	cr_assert_eq(ngot, 1);
	cr_assert_eq(got[0].handle, 0x10);
}

Test(pack, bad_data_crc_stops_the_segment)
{
	struct gfs_pack_loc b;

	put(0x10, 1);
	b = put(0x11, 1);
	put(0x12, 1);
	poke(b.seq, b.off + GFS_PACK_HEADER + 7, 1, 0x5a);
	reopen();
	cr_assert_eq(ngot, 1);
}

Test(pack, dead_records_are_skipped)
{
	struct gfs_pack_loc b;
	struct gfs_pack_stats st;

	put(0x10, 1);
	b = put(0x11, 1);
	put(0x12, 1);
	gfs_pack_kill(pack, &b, 4000);
	gfs_pack_stats(pack, &st);
	cr_assert_eq(st.live, 2);
	reopen();
	cr_assert_eq(ngot, 2);
	cr_assert_eq(got[0].handle, 0x10);
	cr_assert_eq(got[1].handle, 0x12);
}

Test(pack, a_dead_corrupt_record_hides_nothing)
{
	struct gfs_pack_loc b;

	put(0x10, 1);
	b = put(0x11, 1);
	put(0x12, 1);
	poke(b.seq, b.off + GFS_PACK_HEADER + 7, 1, 0x5a);  /* found bad */
	gfs_pack_kill(pack, &b, 4000);                      /* and killed */
	reopen();
	cr_assert_eq(ngot, 2);
	cr_assert_eq(got[1].handle, 0x12);
	check_bytes(&got[1]);
}

Test(pack, refused_records_are_killed)
{
	put(0x10, 1);
	refuse = true;
	reopen();
	cr_assert_eq(ngot, 1);
	refuse = false;
	reopen();
	cr_assert_eq(ngot, 0);
}

/* --- acknowledgement order ------------------------------------------ */

struct appender {
	uint64_t handle;
	int64_t done_ms;
};

static void *append_thread(void *arg)
{
	struct appender *a = arg;

	put(a->handle, 1);
	a->done_ms = gfs_mono_ms();
	return NULL;
}

static int64_t release_ms;
static atomic_bool first_writing;
static void slow_first_write(void *cls, const struct gfs_pack_loc *loc)
{
	(void)cls;
	if (loc->off == 0) {
		atomic_store(&first_writing, true);
		usleep(300 * 1000);  /* the second append overtakes us */
		release_ms = gfs_mono_ms();
	}
}

Test(pack, no_ack_behind_an_unwritten_record)
{
	struct gfs_pack_conf c = {
		.dirfd = topfd, .label = "test", .seg_size = SEG,
		.max_bytes = max_bytes, .syncs = true,
		.write_hook = slow_first_write,
	};
	struct appender a = { .handle = 0x20 }, b = { .handle = 0x21 };
	pthread_t ta, tb;
	int64_t end;

	atomic_store(&first_writing, false);
	gfs_pack_close(pack);
	cr_assert_eq(gfs_pack_open(&c, &pack), GFS_OK);
	gfs_pack_replay(pack, take, NULL);
	gfs_pack_start(pack);
	pthread_create(&ta, NULL, append_thread, &a);
	end = gfs_mono_ms() + 5000;
	while (!atomic_load(&first_writing) && gfs_mono_ms() < end)
		usleep(1000); /* a holds offset 0 and is writing it */
	cr_assert(atomic_load(&first_writing), "the first append never wrote");
	pthread_create(&tb, NULL, append_thread, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	/* b's record lies after a's: b may be acknowledged only once a's
	 * write was done (and synced with it) */
	cr_assert_geq(b.done_ms, release_ms);
	cr_assert_geq(a.done_ms, release_ms);
}

/* --- segments -------------------------------------------------------- */

/* Wait up to 5 s for a spare segment: 2 files (head + spare). */
static void wait_spare(void)
{
	struct gfs_pack_stats st;
	int64_t end = gfs_mono_ms() + 5000;

	do {
		gfs_pack_stats(pack, &st);
		if (st.segments >= 2)
			return;
		usleep(10 * 1000);
	} while (gfs_mono_ms() < end);
	cr_assert_fail("no spare segment");
}

Test(pack, all_dead_segment_is_removed)
{
	struct gfs_pack_loc l[4];
	char path[128];
	struct stat st;

	for (int i = 0; i < 3; i++)
		l[i] = put(0x30 + (uint64_t)i, 1);
	wait_spare();
	l[3] = put(0x33, 1);  /* the head moves to the spare */
	cr_assert_neq(l[3].seq, l[0].seq);
	seg_path(l[0].seq, path, sizeof(path));
	gfs_pack_kill(pack, &l[0], 4000);
	gfs_pack_kill(pack, &l[1], 4000);
	cr_assert_eq(stat(path, &st), 0);
	gfs_pack_kill(pack, &l[2], 4000);
	cr_assert_neq(stat(path, &st), 0, "segment kept with no live record");
	/* the head stays, even with no live record */
	gfs_pack_kill(pack, &l[3], 4000);
	seg_path(l[3].seq, path, sizeof(path));
	cr_assert_eq(stat(path, &st), 0);
}

Test(pack, full_head_without_spare_is_refused)
{
	uint8_t b[4000] = { 0 };
	struct gfs_pack_loc loc;
	enum gfs_err err = GFS_OK;

	/* keep taking spares until one is not ready yet: never blocks */
	for (int i = 0; i < 200 && err == GFS_OK; i++)
		err = gfs_pack_append(pack, 0x40 + (uint64_t)i, 1, b,
				      sizeof(b), gfs_crc32c(0, b, sizeof(b)),
				      &loc);
	cr_assert(err == GFS_OK || err == GFS_EUNAVAIL);
	cr_assert_eq(gfs_pack_append(pack, 1, 1, b, GFS_BLOCK_SIZE + 1, 0,
				     &loc), GFS_EUNAVAIL);
}

Test(pack, a_full_live_segment_is_not_reclaimed_under_the_cap)
{
	int64_t end;
	uint64_t seq = 0;

	put(0x60, 1);
	put(0x61, 1);
	put(0x62, 1);
	wait_spare();
	put(0x63, 1);  /* the full segment is old now, all live */
	/* the thread looks once a second: two looks find nothing to do */
	end = gfs_mono_ms() + 2500;
	while (!seq && gfs_mono_ms() < end) {
		usleep(50 * 1000);
		pthread_mutex_lock(&rlock);
		seq = reclaimed_seq;
		pthread_mutex_unlock(&rlock);
	}
	cr_assert_eq(seq, 0, "a full, live segment was reclaimed");
}

Test(pack, reclaim_is_asked_past_the_cap)
{
	struct gfs_pack_loc l;
	int64_t end;
	uint64_t seq = 0;

	max_bytes = 0;
	reopen();
	l = put(0x50, 1);
	put(0x51, 1);
	put(0x52, 1);
	wait_spare();
	put(0x53, 1);  /* l's segment is old now, and over a cap of 0 */
	end = gfs_mono_ms() + 5000;
	while (!seq && gfs_mono_ms() < end) {
		usleep(20 * 1000);
		pthread_mutex_lock(&rlock);
		seq = reclaimed_seq;
		pthread_mutex_unlock(&rlock);
	}
	cr_assert_eq(seq, l.seq);
}
