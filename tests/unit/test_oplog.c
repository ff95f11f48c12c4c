/*
 * Unit tests for master/oplog.c (framing, group commit, torn tails,
 * serving the backup) and for replay through master.c/journal.c: a
 * master reopened on its data directory has exactly the same namespace.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../master/checkpoint.h"
#include "../../master/journal.h"
#include "../../master/master.h"
#include "../../master/ops.h"
#include "../../master/oplog.h"
#include "util.h"

/* A whole listing, as callers before pages asked. */
static const struct gfs_list_req whole = { 0 };

static char dir[64];

static void mkdir_tmp(void)
{
	strcpy(dir, "/tmp/gfs-oplog-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void rm_tmp(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(oplog, .init = mkdir_tmp, .fini = rm_tmp);

/* Replay callback: collect bodies as strings. */
struct seen {
	uint64_t n;
	uint64_t last;
	char bodies[64][32];
};

static bool collect(void *cls, uint64_t seq, const uint8_t *body, size_t len)
{
	struct seen *s = cls;

	if (s->n < 64)
		snprintf(s->bodies[s->n], 32, "%.*s", (int)len, body);
	s->n++;
	s->last = seq;
	return true;
}

static struct gfs_oplog *open_log(struct seen *s, uint64_t from)
{
	struct gfs_oplog *log = NULL;

	memset(s, 0, sizeof(*s));
	cr_assert_eq(gfs_oplog_open(dir, from, collect, s, &log), GFS_OK);
	return log;
}

/* Opening the log stops on corruption. */
static void assert_refused(void)
{
	struct gfs_oplog *bad = NULL;
	struct seen s;

	memset(&s, 0, sizeof(s));
	cr_assert_eq(gfs_oplog_open(dir, 1, collect, &s, &bad), GFS_EIO);
	cr_assert_null(bad);
}

static void append_n(struct gfs_oplog *log, int n)
{
	char b[32];
	uint64_t seq = 0;

	for (int i = 0; i < n; i++) {
		snprintf(b, sizeof(b), "record-%d", i);
		seq = gfs_oplog_append(log, b, strlen(b));
	}
	cr_assert(gfs_oplog_wait(log, seq));
}

static char *seg_path(uint64_t base)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/log.%016llx", dir, (unsigned long long)base);
	return p;
}

static off_t file_size(const char *p)
{
	struct stat st;

	cr_assert_eq(stat(p, &st), 0);
	return st.st_size;
}

/* Where the whole records of segment p end (its zero tail not counted):
 * what the tests that cut or poke the last record need. */
static off_t records_end(const char *p)
{
	static uint8_t buf[4 << 20];
	int fd = open(p, O_RDONLY);
	ssize_t len = read(fd, buf, sizeof(buf));
	size_t off = 16, n;
	uint64_t seq;

	close(fd);
	cr_assert_gt(len, 0, "%s", p);
	cr_assert_lt(len, (ssize_t)sizeof(buf));
	while ((n = gfs_oplog_check_record(buf + off, (size_t)len - off, &seq)))
		off += n;
	return (off_t)off;
}

/* Write len bytes of c at off in p. */
static void poke_bytes(const char *p, off_t off, int c, size_t len)
{
	char b[256];
	int fd = open(p, O_WRONLY);

	cr_assert_leq(len, sizeof(b));
	memset(b, c, len);
	cr_assert_eq(pwrite(fd, b, len, off), (ssize_t)len);
	close(fd);
}

Test(oplog, replays_every_record_in_order)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);

	append_n(log, 10);
	gfs_oplog_close(log);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 10);
	cr_assert_str_eq(s.bodies[0], "record-0");
	cr_assert_str_eq(s.bodies[9], "record-9");
	cr_assert_eq(gfs_oplog_next_seq(log), 11);
	gfs_oplog_close(log);
}

Test(oplog, drops_torn_tail)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	off_t size;

	append_n(log, 5);
	gfs_oplog_close(log);
	size = records_end(seg_path(1));
	cr_assert_eq(truncate(seg_path(1), size - 3), 0);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 4, "the torn fifth record is dropped");
	cr_assert_eq(gfs_oplog_next_seq(log), 5, "its seq is reused");
	append_n(log, 1);
	gfs_oplog_close(log);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 5);
	cr_assert_str_eq(s.bodies[4], "record-0", "the new record follows");
	gfs_oplog_close(log);
}

Test(oplog, drops_tail_with_bad_checksum)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	int fd;

	append_n(log, 3);
	gfs_oplog_close(log);
	fd = open(seg_path(1), O_WRONLY);
	cr_assert_eq(pwrite(fd, "X", 1, records_end(seg_path(1)) - 1), 1);
	close(fd);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 2);
	gfs_oplog_close(log);
}

Test(oplog, refuses_corruption_before_the_tail)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	int fd;

	append_n(log, 3);
	gfs_oplog_close(log);
	fd = open(seg_path(1), O_WRONLY);
	cr_assert_eq(pwrite(fd, "X", 1, 16 + 16 + 2), 1); /* first body */
	close(fd);
	assert_refused();
}

Test(oplog, replays_only_records_after_the_checkpoint)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);

	append_n(log, 4);
	gfs_oplog_rotate(log);
	cr_assert_eq(records_end(seg_path(5)), 16, "the new segment's header");
	append_n(log, 3);
	gfs_oplog_close(log);
	log = open_log(&s, 5);
	cr_assert_eq(s.n, 3);
	cr_assert_eq(s.last, 7);
	gfs_oplog_close(log);
}

Test(oplog, serves_records_and_says_gone_after_drop)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	struct gfs_enc out = { 0 };
	uint64_t next, seq;

	append_n(log, 4);
	cr_assert_eq(gfs_oplog_serve(log, 2, NULL, 0, 1 << 20, &out, &next), GFS_OK);
	cr_assert_eq(next, 5);
	cr_assert_gt(gfs_oplog_check_record(out.buf, out.len, &seq), 0);
	cr_assert_eq(seq, 2);
	gfs_enc_free(&out);
	gfs_oplog_rotate(log);
	append_n(log, 1);
	gfs_oplog_drop_before(log, 5, gfs_oplog_gen(log));
	cr_assert_eq(gfs_oplog_serve(log, 2, NULL, 0, 1 << 20, &out, &next),
		     GFS_ENOENT);
	cr_assert_eq(gfs_oplog_serve(log, 5, NULL, 0, 1 << 20, &out, &next),
		     GFS_OK);
	cr_assert_eq(next, 6);
	gfs_enc_free(&out);
	gfs_oplog_close(log);
}

Test(oplog, refuses_a_backup_whose_last_record_differs)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	struct gfs_enc out = { 0 };
	uint64_t next;
	uint32_t crc = 0, other;

	append_n(log, 3);
	cr_assert(gfs_oplog_record_crc(log, 2, &crc));
	cr_assert(gfs_oplog_record_crc(log, 3, &other));
	cr_assert_neq(crc, other);
	/* the backup holds record 2 as we do: served */
	cr_assert_eq(gfs_oplog_serve(log, 3, &crc, 0, 1 << 20, &out, &next), GFS_OK);
	cr_assert_eq(next, 4);
	gfs_enc_free(&out);
	/* its record 2 is not ours (we lost it and reused the seq): gone */
	cr_assert_eq(gfs_oplog_serve(log, 3, &other, 0, 1 << 20, &out, &next), GFS_ENOENT);
	gfs_enc_free(&out);
	gfs_oplog_close(log);
}

struct worker {
	struct gfs_oplog *log;
	int n;
};

/* What gfs_oplog_on_written() said: each batch's span and bytes. */
struct told {
	int calls;
	uint64_t first[8], end[8];
	struct gfs_enc bytes;
};

static bool tell(void *cls, uint64_t first, uint64_t end, const uint8_t *recs,
		 size_t len)
{
	struct told *t = cls;

	if (t->calls < 8) {
		t->first[t->calls] = first;
		t->end[t->calls] = end;
	}
	t->calls++;
	gfs_enc_bytes(&t->bytes, recs, len);
	return false; /* no reader here */
}

/* The op-log stream pushes what the log says it wrote (stream.c): every
 * batch of its own records, as they lie in the file, and never one that
 * holds a record of another master's (append_raw: a follower's). */
Test(oplog, tells_of_the_batches_of_its_own_records_only)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	struct gfs_enc file = { 0 }, theirs = { 0 };
	struct told t = { 0 };
	uint64_t next;

	gfs_oplog_on_written(log, tell, &t);
	append_n(log, 3);
	cr_assert_eq(t.calls, 1);
	cr_assert_eq(t.first[0], 1);
	cr_assert_eq(t.end[0], 4);
	cr_assert_eq(gfs_oplog_serve(log, 1, NULL, 0, 1 << 20, &file, &next),
		     GFS_OK);
	cr_assert_eq(next, 4);
	cr_assert_eq(t.bytes.len, file.len);
	cr_assert_eq(memcmp(t.bytes.buf, file.buf, file.len), 0);

	gfs_oplog_frame(&theirs, 4, "another's", 9);
	cr_assert_eq(gfs_oplog_append_raw(log, theirs.buf, theirs.len), GFS_OK);
	gfs_oplog_append(log, "ours, with it", 13);
	gfs_oplog_sync(log);
	cr_assert_eq(t.calls, 1, "a batch with a record of another's told");

	append_n(log, 1);
	cr_assert_eq(t.calls, 2);
	cr_assert_eq(t.first[1], 6);
	cr_assert_eq(t.end[1], 7);
	gfs_oplog_append(log, "at close", 8);
	gfs_oplog_close(log);
	cr_assert_eq(t.calls, 2, "told at close, when no stream is left");
	gfs_enc_free(&file);
	gfs_enc_free(&theirs);
	gfs_enc_free(&t.bytes);
}

/* What a follower would compare when the push reached it before the
 * leader's own write: the checksums the log knows at that moment. */
struct early {
	struct gfs_oplog *log;
	int calls;
	bool known;            /* record_crc answered for every record */
	bool same;             /* and as framed in the bytes pushed */
	bool unwritten;        /* the push came before the write */
};

static bool check_early(void *cls, uint64_t first, uint64_t end,
			const uint8_t *recs, size_t len)
{
	struct early *e = cls;
	struct gfs_enc out = { 0 };
	uint64_t next, seq, got;
	uint32_t crc;
	size_t off = 0, n;

	e->calls++;
	/* not yet in the file: nothing to serve from `first` */
	e->unwritten = gfs_oplog_serve(e->log, first, NULL, 0, 1 << 20, &out,
				       &next) == GFS_OK && next == first;
	gfs_enc_free(&out);
	e->known = e->same = true;
	for (seq = first; seq < end; seq++, off += n) {
		n = gfs_oplog_check_record(recs + off, len - off, &got);
		e->known = e->known && n && got == seq &&
			   gfs_oplog_record_crc(e->log, seq, &crc);
		e->same = e->same && e->known &&
			  crc == gfs_get_u32(recs + off + 4);
	}
	return false;
}

/* The push goes out before the write (stream.c: the follower's fdatasync
 * starts first), so a follower may acknowledge records not yet in our
 * file: their checksums come from memory, and stay the same once the
 * log is read back from disk. */
Test(oplog, knows_the_checksums_of_records_pushed_before_written)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	struct early e = { .log = log };
	uint32_t crc[4], again;

	gfs_oplog_on_written(log, check_early, &e);
	append_n(log, 3);
	cr_assert_eq(e.calls, 1);
	cr_assert(e.unwritten, "the push came after the write");
	cr_assert(e.known, "a pushed record's checksum unknown");
	cr_assert(e.same, "a checksum differs from the record pushed");
	for (int i = 1; i <= 3; i++)
		cr_assert(gfs_oplog_record_crc(log, (uint64_t)i, &crc[i]));
	cr_assert_not(gfs_oplog_record_crc(log, 4, &again));
	gfs_oplog_close(log);

	log = open_log(&s, 1);
	for (int i = 1; i <= 3; i++) {
		cr_assert(gfs_oplog_record_crc(log, (uint64_t)i, &again));
		cr_assert_eq(again, crc[i], "record %d read back differs", i);
	}
	gfs_oplog_close(log);
}

/* A stream's sender waits without reading: it wakes for records past
 * its position, or a wipe, and not for records a push already sent. */
Test(oplog, wait_written_wakes_only_past_the_position)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	_Atomic uint64_t pos = 1;

	cr_assert_not(gfs_oplog_wait_written(log, &pos, 0));
	append_n(log, 2);
	cr_assert(gfs_oplog_wait_written(log, &pos, 0));
	atomic_store(&pos, 3); /* a push took them */
	cr_assert_not(gfs_oplog_wait_written(log, &pos, 20));
	gfs_oplog_wipe(log);
	cr_assert(gfs_oplog_wait_written(log, &pos, 0), "a wipe not seen");
	gfs_oplog_close(log);
}

static void *appender(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->n; i++) {
		uint64_t seq = gfs_oplog_append(w->log, "x", 1);

		cr_assert(gfs_oplog_wait(w->log, seq));
	}
	return NULL;
}

Test(oplog, group_commit_shares_fsyncs)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	struct worker w = { log, 50 };
	struct gfs_oplog_stats st;
	pthread_t t[16];
	int64_t t0 = gfs_mono_ms();

	for (int i = 0; i < 16; i++)
		pthread_create(&t[i], NULL, appender, &w);
	for (int i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	gfs_oplog_stats(log, &st);
	cr_log_info("16 x 50 durable appends: %llu fsyncs in %lld ms",
		    (unsigned long long)st.fsyncs,
		    (long long)(gfs_mono_ms() - t0));
	cr_assert_eq(st.records, 800);
	cr_assert_lt(st.fsyncs, st.records / 2,
		     "%llu fsyncs for 800 records",
		     (unsigned long long)st.fsyncs);
	gfs_oplog_close(log);
}

/* The syncer's callback: records are never durable before written. */
struct synced_seen {
	struct gfs_oplog *log;
	atomic_ulong calls;
	atomic_bool ahead;      /* synced_seq passed written_seq once */
	atomic_bool early;      /* a batch handed over before written */
};

static void on_synced(void *cls)
{
	struct synced_seen *ss = cls;

	pthread_mutex_lock(&ss->log->lock);
	if (ss->log->synced_seq > ss->log->written_seq)
		atomic_store(&ss->ahead, true);
	pthread_mutex_unlock(&ss->log->lock);
	atomic_fetch_add(&ss->calls, 1);
}

/* Told of a batch being written: it is nobody's to fdatasync yet (a
 * syncer that took it now would count it durable before its write, and
 * free it under the writer). */
static bool told_handoff(void *cls, uint64_t first, uint64_t end,
			 const uint8_t *recs, size_t len)
{
	struct synced_seen *ss = cls;

	(void)first;
	(void)end;
	(void)recs;
	(void)len;
	pthread_mutex_lock(&ss->log->lock);
	if (ss->log->handoff)
		atomic_store(&ss->early, true);
	pthread_mutex_unlock(&ss->log->lock);
	usleep(20); /* the syncer may look meanwhile */
	return false;
}

/* An event thread: append, write ahead, never wait. */
static void *writer_ahead(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->n; i++) {
		gfs_oplog_append(w->log, "y", 1);
		gfs_oplog_write_ahead(w->log);
		if (i % 8 == 0)
			usleep(50);
	}
	return NULL;
}

/* Batches written by callers of gfs_oplog_write_ahead() (the event
 * thread) and fdatasync'ed by the syncer, beside waiters leading their
 * own group commits: every record is written once, in order, none is
 * counted durable before it was written, and the syncer says when. */
Test(oplog, write_ahead_then_syncer_makes_all_durable)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	struct synced_seen ss = { .log = log };
	struct worker wa = { log, 300 }, ww = { log, 100 };
	struct gfs_oplog_stats st;
	pthread_t t[6];
	int64_t until;

	gfs_oplog_on_written(log, told_handoff, &ss);
	gfs_oplog_syncer_start(log, on_synced, &ss);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, writer_ahead, &wa);
	for (int i = 4; i < 6; i++)
		pthread_create(&t[i], NULL, appender, &ww);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
	until = gfs_mono_ms() + 5000;
	do { /* nobody waits: the syncer alone makes the last ones durable */
		gfs_oplog_stats(log, &st);
		usleep(1000);
	} while (st.synced < st.next_seq && gfs_mono_ms() < until);
	cr_assert_eq(st.synced, st.next_seq, "the syncer left %llu records",
		     (unsigned long long)(st.next_seq - st.synced));
	cr_assert_eq(st.records, 1400);
	cr_assert_lt(st.fsyncs, st.records / 2, "%llu fsyncs for 1400 records",
		     (unsigned long long)st.fsyncs);
	cr_assert_gt(atomic_load(&ss.calls), 0);
	cr_assert(!atomic_load(&ss.ahead), "durable before written");
	cr_assert(!atomic_load(&ss.early), "handed to the syncer mid-write");
	gfs_oplog_close(log);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 1400);
	cr_assert_eq(s.last, 1400);
	gfs_oplog_close(log);
}

/* Rotations while others append: every record lands in order, in one
 * segment or the next (a new segment's file is created without the lock,
 * its records wait in memory meanwhile). */
Test(oplog, appends_during_rotations_replay_in_order)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	struct worker w = { log, 100 };
	pthread_t t[4];
	int nseg = 0;
	DIR *d;
	struct dirent *e;

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, appender, &w);
	for (int i = 0; i < 10; i++) {
		gfs_oplog_rotate(log);
		usleep(2000);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	gfs_oplog_close(log);
	d = opendir(dir);
	while ((e = readdir(d)))
		nseg += !strncmp(e->d_name, "log.", 4);
	closedir(d);
	cr_assert_gt(nseg, 1, "no rotation happened");
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 400);
	cr_assert_eq(s.last, 400);
	gfs_oplog_close(log);
}

Test(oplog, rotating_an_empty_segment_does_nothing)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);

	append_n(log, 2);
	gfs_oplog_rotate(log);
	gfs_oplog_rotate(log);
	append_n(log, 1);
	cr_assert_eq(records_end(seg_path(3)), 16 + 16 + 8);
	gfs_oplog_close(log);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 3);
	gfs_oplog_close(log);
}

Test(oplog, drops_nothing_of_a_log_wiped_since)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	uint64_t gen = gfs_oplog_gen(log);

	append_n(log, 3);
	cr_assert_eq(gfs_oplog_reset(log, 1), GFS_OK);
	cr_assert_neq(gfs_oplog_gen(log), gen);
	append_n(log, 3);
	gfs_oplog_rotate(log);
	append_n(log, 1);
	gfs_oplog_drop_before(log, 10, gen);
	cr_assert_eq(records_end(seg_path(1)), 16 + 3 * (16 + 8));
	gfs_oplog_drop_before(log, 10, gfs_oplog_gen(log));
	cr_assert_neq(access(seg_path(1), F_OK), 0, "not dropped");
	gfs_oplog_close(log);
}

/* ---- the pre-zeroed tail ---- */

#define AHEAD ((off_t)GFS_OPLOG_ZERO_AHEAD)

/* A group commit overwrites zeros inside the file's size, so that its
 * fdatasync writes data only; the zeros are extended a step at a time,
 * before the records reach them. */
Test(oplog, appends_stay_inside_the_zeroed_size)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	off_t size = file_size(seg_path(1)), end, grew = 0;
	char b[1000];
	uint64_t seq = 0;

	cr_assert_geq(size - records_end(seg_path(1)), AHEAD / 2,
		      "a new segment has its zeros");
	memset(b, 'r', sizeof(b));
	for (int i = 0; i < 400; i++) {
		for (int j = 0; j < 4; j++)
			seq = gfs_oplog_append(log, b, sizeof(b));
		cr_assert(gfs_oplog_wait(log, seq));
		end = records_end(seg_path(1));
		cr_assert_geq(file_size(seg_path(1)) - end, AHEAD / 2,
			      "the records came near the end of the zeros");
		if (file_size(seg_path(1)) != size) {
			cr_assert_eq(file_size(seg_path(1)), size + AHEAD,
				     "extended by a step");
			size += AHEAD;
			grew++;
		}
	}
	cr_assert_eq(grew, 2, "1.6 MB of records: two steps, not %lld",
		     (long long)grew);
	gfs_oplog_close(log);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 1600);
	gfs_oplog_close(log);
}

/* Zeros after the last record are a segment's clean end, in the last
 * segment and in earlier ones, whatever their length (a crash while
 * they were written); the next appends after a restart overwrite them. */
Test(oplog, replays_segments_that_end_in_zeros)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	off_t size;

	append_n(log, 3);
	gfs_oplog_rotate(log);
	append_n(log, 2);
	gfs_oplog_close(log);
	cr_assert_eq(file_size(seg_path(1)), records_end(seg_path(1)),
		     "a rotated segment is cut to its records");
	cr_assert_gt(file_size(seg_path(4)), records_end(seg_path(4)));
	/* an odd run of zeros, as a crash before the cut or in an
	 * extension leaves */
	cr_assert_eq(truncate(seg_path(1), records_end(seg_path(1)) + 77), 0);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 5);
	cr_assert_eq(gfs_oplog_next_seq(log), 6);
	cr_assert_eq(file_size(seg_path(1)), records_end(seg_path(1)),
		     "cut at open");
	size = file_size(seg_path(4));
	append_n(log, 1);
	cr_assert_eq(file_size(seg_path(4)), size, "appended inside the zeros");
	gfs_oplog_close(log);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 6);
	cr_assert_str_eq(s.bodies[5], "record-0");
	gfs_oplog_close(log);
}

/* A last segment without zeros (a master before them wrote it, or a
 * crash left a few) gets them back at open. */
Test(oplog, open_remakes_the_zeros_of_the_last_segment)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	off_t end;

	append_n(log, 3);
	gfs_oplog_close(log);
	end = records_end(seg_path(1));
	cr_assert_eq(truncate(seg_path(1), end + 5), 0);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 3);
	cr_assert_geq(file_size(seg_path(1)) - end, AHEAD / 2);
	gfs_oplog_close(log);
}

/* A record torn by a crash (its last bytes never written, zeros in their
 * place), or a header of length 0, then zeros: the torn tail of the last
 * segment, dropped; the zeros are made again after the cut. */
Test(oplog, drops_a_torn_record_followed_by_zeros)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	off_t end;

	append_n(log, 5);
	gfs_oplog_close(log);
	end = records_end(seg_path(1));
	poke_bytes(seg_path(1), end - 3, 0, 3);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 4, "the torn fifth record is dropped");
	cr_assert_eq(records_end(seg_path(1)), end - (16 + 8));
	cr_assert_geq(file_size(seg_path(1)) - (end - (16 + 8)), AHEAD / 2);
	append_n(log, 1);
	gfs_oplog_close(log);
	/* a header of length 0 but not all zeros */
	end = records_end(seg_path(1));
	poke_bytes(seg_path(1), end + 8, 5, 1); /* its seq */
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 5);
	cr_assert_str_eq(s.bodies[4], "record-0");
	cr_assert_eq(gfs_oplog_next_seq(log), 6);
	gfs_oplog_close(log);
}

/* In a segment but the last, a torn record before the zeros is
 * corruption (its records were fsync'ed before the next one began). */
Test(oplog, refuses_a_torn_record_in_an_earlier_segment)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);

	append_n(log, 3);
	gfs_oplog_rotate(log);
	append_n(log, 1);
	gfs_oplog_close(log);
	poke_bytes(seg_path(1), records_end(seg_path(1)) - 1, 0, 1);
	assert_refused();
}

/* Zeros where a record should be, with valid records after them and no
 * sector of zeros between (the device wrote every sector): corruption,
 * as any bad record before valid ones. */
Test(oplog, refuses_zeros_before_valid_records)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);

	append_n(log, 3);
	gfs_oplog_close(log);
	poke_bytes(seg_path(1), 16, 0, 16 + 8); /* the whole first record */
	assert_refused();
}

/* Write c over [off, off + len) of p, any length. */
static void fill_bytes(const char *p, off_t off, int c, size_t len)
{
	size_t n;

	for (; len; off += (off_t)n, len -= n) {
		n = GFS_MIN(len, 256);
		poke_bytes(p, off, c, n);
	}
}

/* How many whole records of segment p end at or before off. */
static uint64_t records_before(const char *p, off_t off)
{
	static uint8_t buf[1 << 16];
	int fd = open(p, O_RDONLY);
	ssize_t len = pread(fd, buf, sizeof(buf), 0);
	size_t at = 16, n;
	uint64_t seq, count = 0;

	close(fd);
	cr_assert_gt(len, off);
	while ((n = gfs_oplog_check_record(buf + at, (size_t)len - at, &seq)) &&
	       at + n <= (size_t)off) {
		at += n;
		count++;
	}
	return count;
}

/* Whether p holds only zeros from off to its end. */
static bool zeros_from(const char *p, off_t off)
{
	static uint8_t buf[4 << 20];
	int fd = open(p, O_RDONLY);
	ssize_t len = pread(fd, buf, sizeof(buf), off);

	close(fd);
	cr_assert_geq(len, 0);
	for (ssize_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

/* The first group commit writes records 1-3; the second, records 4-63
 * (about 1,500 bytes: sectors 0 to 3), then the log is closed. */
static void write_two_batches(bool rotate)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);

	append_n(log, 3);
	append_n(log, 60);
	if (rotate) {
		gfs_oplog_rotate(log);
		append_n(log, 1);
	}
	gfs_oplog_close(log);
	cr_assert_gt(records_end(seg_path(1)), 3 * 512);
}

/* A power cut during the last batch's fdatasync wrote its later sectors
 * and not one in its middle (overwriting inside the file's size has no
 * all-or-nothing append): that batch was never acknowledged, so it goes
 * from its first bad record on; the log goes on right after the records
 * kept, its zeros made again over the dropped ones. */
static void assert_torn_batch_dropped(uint64_t kept, off_t cut)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);

	cr_assert_eq(s.n, kept, "replayed %llu, not %llu",
		     (unsigned long long)s.n, (unsigned long long)kept);
	cr_assert_eq(gfs_oplog_next_seq(log), kept + 1);
	cr_assert_eq(records_end(seg_path(1)), cut);
	cr_assert(zeros_from(seg_path(1), cut), "the dropped records stay");
	cr_assert_geq(file_size(seg_path(1)) - cut, AHEAD / 2);
	append_n(log, 2);
	gfs_oplog_close(log);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, kept + 2);
	cr_assert_eq(s.last, kept + 2);
	cr_assert_str_eq(s.bodies[kept], "record-0");
	cr_assert_geq(file_size(seg_path(1)) - records_end(seg_path(1)),
		      AHEAD / 2);
	gfs_oplog_close(log);
}

Test(oplog, drops_a_last_batch_with_a_sector_never_written)
{
	uint64_t kept;

	write_two_batches(false);
	kept = records_before(seg_path(1), 512);
	cr_assert_gt(kept, 3);
	fill_bytes(seg_path(1), 512, 0, 512);
	assert_torn_batch_dropped(kept, records_end(seg_path(1)));
}

/* The head of the batch's first sector (the sector the batch before
 * ended in) never written again, the rest of the batch written. */
Test(oplog, drops_a_last_batch_whose_first_sector_was_not_written)
{
	off_t end;

	write_two_batches(false);
	end = (off_t)(16 + 3 * (16 + 8));
	fill_bytes(seg_path(1), end, 0, (size_t)(512 - end));
	assert_torn_batch_dropped(3, end);
}

/* The same sector holding garbage instead of zeros: the device wrote it,
 * so this is no torn write but corruption. */
Test(oplog, refuses_garbage_before_valid_records)
{
	write_two_batches(false);
	fill_bytes(seg_path(1), 512, 0xa5, 512);
	assert_refused();
}

/* The same zeroed sector in a segment but the last: its batches were all
 * fdatasync'ed before the next segment began, so it is corruption. */
Test(oplog, refuses_a_sector_of_zeros_in_an_earlier_segment)
{
	write_two_batches(true);
	fill_bytes(seg_path(1), 512, 0, 512);
	assert_refused();
}

/* A crash while a new segment was created (its header never written,
 * its zeros maybe): the file is removed and the log goes on. */
Test(oplog, removes_a_last_segment_without_its_header)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);

	append_n(log, 3);
	gfs_oplog_rotate(log);
	gfs_oplog_close(log);
	poke_bytes(seg_path(4), 0, 0, 16);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 3);
	cr_assert_neq(access(seg_path(4), F_OK), 0, "not removed");
	append_n(log, 2);
	gfs_oplog_close(log);
	log = open_log(&s, 1);
	cr_assert_eq(s.n, 5);
	gfs_oplog_close(log);
}

/* The follower stream reads by record offsets: the zeros never reach a
 * follower, across rotations and a drop. */
Test(oplog, serves_records_only_not_zeros)
{
	struct seen s;
	struct gfs_oplog *log = open_log(&s, 1);
	struct gfs_enc out = { 0 };
	uint64_t next, seq;
	size_t off = 0, n;

	append_n(log, 3);
	gfs_oplog_rotate(log);
	append_n(log, 2);
	cr_assert_eq(gfs_oplog_serve(log, 1, NULL, 0, 1 << 20, &out, &next),
		     GFS_OK);
	cr_assert_eq(next, 4, "one segment at a time");
	cr_assert_eq(out.len, 3 * (16 + 8));
	gfs_enc_free(&out);
	gfs_oplog_drop_before(log, 4, gfs_oplog_gen(log));
	cr_assert_neq(access(seg_path(1), F_OK), 0, "not dropped");
	cr_assert_eq(gfs_oplog_serve(log, 4, NULL, 0, 1 << 20, &out, &next),
		     GFS_OK);
	cr_assert_eq(next, 6);
	while ((n = gfs_oplog_check_record(out.buf + off, out.len - off, &seq)))
		off += n;
	cr_assert_eq(off, out.len, "nothing but records");
	gfs_enc_free(&out);
	gfs_oplog_close(log);
}

/* ---- replay through the whole master ---- */

static void conf(struct gfs_master *m)
{
	memset(m, 0, sizeof(*m));
	m->conf.data = dir;
	m->conf.chunk_size = 1 << 20;
	m->conf.replicas = 3;
	m->conf.dead_after_ms = 6000;
	m->conf.failover_ms = 10000;
	m->conf.gc_interval_ms = 5000;
	m->conf.orphan_grace_ms = 3600000;
	m->conf.checkpoint_every = 1000000;
	m->conf.probation_ms = 0;
	m->conf.detach_ms = 1500;
	m->self_url = "http://127.0.0.1:1";
}

static json_t *body(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);

	cr_assert_not_null(j, "%s", e.text);
	return j;
}

/* Check err and drop the reply the call left in *out.  A pointer, not
 * the reply: arguments are evaluated in no fixed order. */
static void must(enum gfs_err err, json_t **out)
{
	cr_assert_eq(err, GFS_OK, "err %d", err);
	if (out && *out)
		json_decref(*out);
	if (out)
		*out = NULL;
}

/* A sample history: dirs, files, chunks, a rename, a delete, a lease. */
static void build(struct gfs_master *m)
{
	json_t *out = NULL, *b = body("{}");

	m->probation_until = 0;
	must(gfs_ops_create(m, "/a/b/f1", b, NULL, &out), &out);
	must(gfs_ops_create(m, "/a/b/f2", b, NULL, &out), &out);
	json_decref(b);
	b = body("{\"type\":\"dir\",\"mode\":448}");
	must(gfs_ops_create(m, "/empty", b, NULL, &out), &out);
	json_decref(b);
	b = body("{\"mtime_ns\":5}");
	must(gfs_ops_setattr(m, "/a/b/f2", NULL, b, &out), &out);
	json_decref(b);
	pthread_mutex_lock(&m->lock);
	m->chunks.inherit_hi = 100; /* accept handles without allocation */
	pthread_mutex_unlock(&m->lock);
	b = body("{\"size\":1500000,\"mtime_ns\":7,\"chunks\":["
		 "{\"index\":0,\"handle\":\"0000000000000010\",\"version\":3,"
		 "\"length\":1048576},"
		 "{\"index\":1,\"handle\":\"0000000000000011\",\"version\":1,"
		 "\"length\":600000}]}");
	must(gfs_ops_commit(m, "/a/b/f1", NULL, b, &out), &out);
	json_decref(b);
	must(gfs_ops_rename(m, "/a/b", "/c/d", false, 0, NULL, NULL, &out), &out);
	must(gfs_ops_delete(m, "/c/d/f2", NULL, NULL, NULL, &out), &out);
	must(gfs_ops_lease_put(m, "/c/d/f1", "me", 100, &out), &out);
}

/* Everything visible, as one string. */
static char *dump(struct gfs_master *m)
{
	json_t *l = NULL, *f = NULL;
	char *a, *b, *s;

	must(gfs_ops_list_prefix(m, "/", true, &whole, &l), NULL);
	must(gfs_ops_stat(m, "/c/d/f1", "me", true, &f), NULL);
	a = json_dumps(l, JSON_SORT_KEYS);
	b = json_dumps(f, JSON_SORT_KEYS);
	s = gfs_xasprintf("%s\n%s\nfiles=%llu dirs=%llu chunks=%zu", a, b,
			  (unsigned long long)m->ns.nfiles,
			  (unsigned long long)m->ns.ndirs, m->chunks.count);
	free(a);
	free(b);
	json_decref(l);
	json_decref(f);
	return s;
}

Test(oplog, replay_gives_the_exact_namespace)
{
	struct gfs_master m;
	char *before, *after;

	conf(&m);
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	build(&m);
	before = dump(&m);
	/* Crash: no checkpoint, the log alone. */
	gfs_oplog_close(m.log);
	m.log = NULL;
	gfs_master_close(&m);
	conf(&m);
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	after = dump(&m);
	cr_assert_str_eq(after, before);
	free(after);
	/* Clean shutdown (checkpoint), then again. */
	gfs_master_close(&m);
	conf(&m);
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	after = dump(&m);
	cr_assert_str_eq(after, before);
	cr_assert_eq(m.ckpt_seq, m.applied_seq, "loaded from the checkpoint");
	gfs_master_close(&m);
	free(before);
	free(after);
}

/* A handle as POST /chunks takes it: reserving a batch first if needed. */
static uint64_t take(struct gfs_master *m)
{
	struct gfs_enc rec = { 0 };
	uint64_t h;

	pthread_mutex_lock(&m->lock);
	if (gfs_chunks_need_reserve(&m->chunks)) {
		gfs_rec_reserve(&rec, m->chunks.reserved + GFS_HANDLE_BATCH);
		m->reserve_seq = gfs_ops_log(m, &rec);
	}
	h = gfs_chunks_take_handle(&m->chunks);
	pthread_mutex_unlock(&m->lock);
	cr_assert_eq(gfs_ops_wait(m, m->reserve_seq), GFS_OK);
	return h;
}

Test(oplog, never_reuses_a_handle_after_a_crash)
{
	struct gfs_master m;
	uint64_t h1, h2;

	conf(&m);
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	h1 = take(&m);
	h1 = take(&m);
	gfs_oplog_close(m.log);
	m.log = NULL;
	gfs_master_close(&m);
	conf(&m);
	cr_assert_eq(gfs_master_open(&m), GFS_OK);
	h2 = take(&m);
	cr_assert_gt(h2, h1);
	cr_assert_geq(h2, 1 + GFS_HANDLE_BATCH, "the old batch is skipped");
	gfs_master_close(&m);
}
