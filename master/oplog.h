/*
 * oplog.h - the operation log: append-only segments of checksummed
 * records, group commit, replay, and the stream follower masters read.
 *
 * For: making a mutation durable here before it is acknowledged,
 * replaying the log at start-up, serving records to the followers.  Not
 * for: what a record means (journal.c), the checkpoint (checkpoint.c),
 * which only asks this module to start a new segment and to drop old
 * ones, or which followers must hold a record before it is acknowledged
 * (isr.c).
 *
 * On disk (all integers little-endian), under the data directory:
 *   log.<16 hex digits of the first seq>   one segment
 *   segment = "GFSLOG" FORMAT "\n" (8 bytes: FORMAT one digit, the
 *             format version), u64 base seq, then records
 *   record  = u32 len, u32 crc, u64 seq, body[len]
 *             crc = CRC32C(seq as 8 bytes, then body); body[0] = type
 *   then written zeros to the end of the file (a commit overwrites
 *   them inside the file's size; oplog.c)
 * Sequence numbers are consecutive across segments.
 *
 * Invariants: records are appended in the order their mutations are
 * applied (the caller holds the master lock around apply + append); a
 * record is read back (replay, /oplog) only once it is fsync'ed; a bad
 * record is dropped only when it is the torn tail of the last segment:
 * no valid record follows it, or the bytes up to the last valid-looking
 * one show a sector never written (the last batch, never acknowledged,
 * torn by a power cut: oplog.c); zeros to the end of a file are its
 * clean end; anything else is corruption and stops the start; the zeros are
 * written only past every record queued or in flight.  Lock order: the
 * master lock, then log->lock, under which no disk I/O runs (writers
 * need it with the master lock held): writes, fsyncs, segment creation,
 * the zeros and followers' reads happen without it.
 */
#ifndef GFS_OPLOG_H
#define GFS_OPLOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "err.h"
#include "metrics.h"

#define GFS_OPLOG_HDR 16              /* record header bytes */
/* Written zeros kept ahead of a segment's records, in steps of this
 * (oplog.c: a commit then overwrites inside the file's size). */
#define GFS_OPLOG_ZERO_AHEAD (1u << 20)

/*
 * The format of the op log and checkpoints this master writes (the digit
 * in their headers), and the oldest it reads: 1 had no inodes (CREATE,
 * DIR, records without their trailing times), 2 adds MKNODE, LINK, ATTR
 * and the trailing times (journal.h).  A file of another version is
 * refused with one line saying so; a last segment of an older version
 * is continued in a new segment of this one, so that no file mixes two.
 */
#define GFS_FORMAT 2
#define GFS_FORMAT_OLDEST 1

/* The format version in an 8-byte header that starts with prefix ("GFSLOG",
 * "GFSCKPT"): its digit, 0 for anything else there, -1 when the prefix
 * differs (not such a file). */
int gfs_oplog_format_of(const uint8_t *hdr, const char *prefix);
/* Whether version v may be read; logs the one-line refusal naming path
 * when not. */
bool gfs_oplog_format_ok(int v, const char *path);
#define GFS_OPLOG_REC_MAX (64u << 20) /* largest record body */

struct gfs_oplog_seg;

struct gfs_oplog_stats {
	uint64_t records;  /* appended since start */
	uint64_t fsyncs;   /* fdatasync calls on segments */
	uint64_t bytes;    /* bytes written */
	uint64_t next_seq; /* seq the next record gets */
	uint64_t synced;   /* records below this are on disk */
};

/* Called for every replayed record; false means it cannot be applied. */
typedef bool (*gfs_oplog_fn)(void *cls, uint64_t seq, const uint8_t *body,
			     size_t len);
/* Called by the group commit's leader with a batch of this log's own
 * records, [first, end), just before it writes them (then fdatasyncs),
 * with the framed records as they will be written
 * (gfs_oplog_on_written()).  Returns whether every reader that waits in
 * gfs_oplog_wait_written() took them (none need waking).  No lock
 * held. */
typedef bool (*gfs_oplog_written_fn)(void *cls, uint64_t first, uint64_t end,
				     const uint8_t *recs, size_t len);
/* Called by the syncer thread whenever records were made durable (by
 * whichever thread) or the log was wiped (gfs_oplog_syncer_start()).  No
 * lock held. */
typedef void (*gfs_oplog_synced_fn)(void *cls);
struct flush;

struct gfs_oplog {
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* progress: synced, acked, fence */
	pthread_cond_t written_cond; /* written moved past what was pushed,
				      * or fence (gfs_oplog_wait_written) */
	bool reader_added;          /* (lock) since the last batch written
				     * (gfs_oplog_reader_added()) */
	char *dir;                  /* owned */
	struct gfs_oplog_seg *segs; /* owned array, ascending base; the last
				     * is the one appended to (lock) */
	size_t nsegs;
	uint64_t next_seq;          /* (lock) */
	uint64_t synced_seq;        /* records < this are fsync'ed (lock) */
	uint64_t written_seq;       /* records < this are in the file, maybe
				     * not yet fsync'ed: followers may take
				     * them (lock) */
	struct gfs_enc pending;     /* framed records not yet written (lock) */
	bool pending_raw;           /* pending holds a record of another
				     * log's (gfs_oplog_append_raw) (lock) */
	gfs_oplog_written_fn on_written; /* set before any append */
	void *on_written_cls;
	bool flushing;              /* a leader is writing (lock) */
	bool extending;             /* zeros are being written past the
				     * current segment's zeroed end (lock) */
	bool fenced;                /* wiped: waiters give up (lock) */
	/* The syncer (gfs_oplog_syncer_start()): */
	pthread_cond_t sync_cond;   /* its wake-up: work, or synced moved */
	pthread_t syncer;
	bool syncer_on;             /* (lock) it runs */
	bool syncer_stop;           /* (lock) it should end */
	struct flush *handoff;      /* (lock) a batch written by
				     * gfs_oplog_write_ahead(), its fdatasync
				     * owed by the syncer (flushing stays
				     * set); owned */
	uint64_t sync_want;         /* (lock) records below this are wanted
				     * durable without a waiter to lead */
	gfs_oplog_synced_fn on_synced; /* set before the syncer starts */
	void *on_synced_cls;
	uint64_t gen;               /* bumped when wiped (lock) */
	struct gfs_oplog_stats st;  /* counters (lock) */
	struct gfs_histo fsync_us;  /* fdatasync latency (atomics, no lock) */
};

/*
 * Open the log in dir (created if missing): scan every segment, drop a
 * torn tail, and call fn(cls, ...) for each record with seq >= from (the
 * checkpoint's next seq; records before it are already in the state).
 * Returns GFS_EIO on corruption or an unreadable file (logged with the
 * file, offset and seq) and GFS_EINTERNAL when fn refuses a record.
 * *out is freed with gfs_oplog_close().
 */
enum gfs_err gfs_oplog_open(const char *dir, uint64_t from, gfs_oplog_fn fn,
			    void *cls, struct gfs_oplog **out);
/* Write what is queued, fsync, free everything. */
void gfs_oplog_close(struct gfs_oplog *log);
/* Have fn(cls, ...) called for every batch written that holds only
 * records appended with gfs_oplog_append() (the op-log stream pushes
 * them to the followers at once, stream.c); never for a batch with a
 * record of gfs_oplog_append_raw() (another master's).  Set before the
 * first append. */
void gfs_oplog_on_written(struct gfs_oplog *log, gfs_oplog_written_fn fn,
			  void *cls);

/* Frame body[0..len) as the next record and queue it; returns its seq.
 * The caller holds the master lock (apply order = log order). */
uint64_t gfs_oplog_append(struct gfs_oplog *log, const void *body,
			  size_t len);
/* Queue a framed record received from the primary, verbatim.  GFS_EINVAL
 * when it is not valid or not the next seq. */
enum gfs_err gfs_oplog_append_raw(struct gfs_oplog *log, const uint8_t *rec,
				  size_t len);
/*
 * Wait until record seq is fsync'ed here (the first waiter writes and
 * fsyncs everything queued; the others share that fsync).  Whether the
 * followers have it is the in-sync set's business (isr.c).  False when
 * the log was wiped meanwhile (a re-sync): do not acknowledge.
 */
bool gfs_oplog_wait(struct gfs_oplog *log, uint64_t seq);
/* Is record seq fsync'ed here already (and the log not wiped)?  Never
 * waits for the disk. */
bool gfs_oplog_durable(struct gfs_oplog *log, uint64_t seq);
/* Write and fsync everything queued. */
void gfs_oplog_sync(struct gfs_oplog *log);
/*
 * Start the syncer thread, which makes durable what
 * gfs_oplog_write_ahead() asks for (leading the group commit as any
 * waiter would) and calls fn(cls) whenever records became durable or
 * the log was wiped.  Once; it stops in gfs_oplog_close().
 */
void gfs_oplog_syncer_start(struct gfs_oplog *log, gfs_oplog_synced_fn fn,
			    void *cls);
/*
 * Make everything queued durable without waiting for it (the event
 * thread, after a mutation's append): when no leader is at work, write
 * the queued records now (page cache; the followers' streams get them
 * at once) and leave their fdatasync to the syncer; else the syncer
 * takes them once the leader is done, sharing one fdatasync with every
 * record queued meanwhile.  Never waits for the disk nor for a leader.
 */
void gfs_oplog_write_ahead(struct gfs_oplog *log);
/* Was the log wiped (fenced: nothing queued will be acknowledged)? */
bool gfs_oplog_fenced(struct gfs_oplog *log);
/* Start a new segment at the next seq: what is queued is written and
 * fsync'ed to the current one, records appended from then on go to the
 * new one, whose file is created without the lock.  Nothing happens when
 * the current segment is empty or the log fenced.  Stops the process on
 * an I/O error, as any log write does. */
void gfs_oplog_rotate(struct gfs_oplog *log);
/* Unlink the segments whose records all lie below seq (never the last),
 * unless the log was wiped since generation gen. */
void gfs_oplog_drop_before(struct gfs_oplog *log, uint64_t seq, uint64_t gen);
/* The generation: it changes when the log is wiped (the state replaced). */
uint64_t gfs_oplog_gen(struct gfs_oplog *log);
/* Unlink every segment (the log is fenced and takes nothing until
 * gfs_oplog_reset()). */
void gfs_oplog_wipe(struct gfs_oplog *log);
/* Unlink every segment left and start empty at base (a follower's
 * re-sync). */
enum gfs_err gfs_oplog_reset(struct gfs_oplog *log, uint64_t base);

/*
 * Can a follower go on from seq `from`?  GFS_ENOENT when from is no longer
 * (or not yet) in the log, or when prev_crc, the follower's checksum of
 * record from-1, differs from ours (we lost that record in a crash and
 * reused its seq): the follower must fetch the checkpoint.  *caught_up:
 * from is exactly the next record, and everything before it is fsync'ed.
 */
enum gfs_err gfs_oplog_check_from(struct gfs_oplog *log, uint64_t from,
				  const uint32_t *prev_crc, bool *caught_up);
/*
 * Serve a follower: check `from` as gfs_oplog_check_from() does, then
 * append to *out the framed records from seq `from` on (at most max
 * bytes, at least one record), waiting up to wait_ms for one to be
 * written.  Records are served once written, before their fsync, so that
 * the follower's fsync runs alongside ours; a follower may therefore hold
 * a record this log loses in a crash (prev_crc catches that).  *next is
 * the seq after the last one copied (from when none).  GFS_ENOTPRIMARY
 * when the log was wiped meanwhile.
 */
enum gfs_err gfs_oplog_serve(struct gfs_oplog *log, uint64_t from,
			     const uint32_t *prev_crc, int64_t wait_ms,
			     size_t max, struct gfs_enc *out, uint64_t *next);
/* Wait up to wait_ms for a record at or past *pos to be written (*pos
 * may move meanwhile, as a push sends them) or the log to be wiped;
 * false when neither came.  Reads nothing: a stream's sender wakes
 * for records no push took. */
bool gfs_oplog_wait_written(struct gfs_oplog *log, const _Atomic uint64_t *pos,
			    int64_t wait_ms);
/* A reader that waits in gfs_oplog_wait_written() was just added to
 * those the written callback serves: the batch being written now, told
 * before it was, wakes it whatever the callback said.  Call before the
 * reader first looks. */
void gfs_oplog_reader_added(struct gfs_oplog *log);
/* The checksum of record seq when the log holds it (appended, maybe not
 * yet written: a follower may hold a record pushed to it first). */
bool gfs_oplog_record_crc(struct gfs_oplog *log, uint64_t seq, uint32_t *crc);

/* A snapshot of the counters. */
void gfs_oplog_stats(struct gfs_oplog *log, struct gfs_oplog_stats *st);
uint64_t gfs_oplog_next_seq(struct gfs_oplog *log);

/* Check one framed record at buf[0..len): its total size, or 0 when it is
 * short or its checksum fails.  *seq gets its sequence number. */
size_t gfs_oplog_check_record(const uint8_t *buf, size_t len, uint64_t *seq);
/* Frame body as record seq into e (used by the checkpoint too). */
void gfs_oplog_frame(struct gfs_enc *e, uint64_t seq, const void *body,
		     size_t len);

#endif
