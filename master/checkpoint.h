/*
 * checkpoint.h - the whole state in one file, so that the log can restart.
 *
 * For: writing the state (namespace, chunks, leases, epoch, handle
 * reservation) as a checkpoint and loading it back, from the data
 * directory or from bytes the primary sent a backup.  Not for: the log
 * itself (oplog.c) or what records mean (journal.c): a checkpoint is a
 * list of ordinary journal records, applied by the same code as the log.
 *
 * On disk, <data>/checkpoint:
 *   "GFSCKPT" FORMAT (8 bytes; GFS_FORMAT, oplog.h), u64 next seq (the first log record not in it),
 *   then framed records numbered 1, 2, ... (oplog.h framing: length,
 *   CRC32C, seq), the last one END with the count of records before it.
 * Written to checkpoint.tmp, fsync'ed, renamed over checkpoint, directory
 * fsync'ed; only then are old log segments removed.  Anything short or
 * with a bad checksum is corruption (a checkpoint is never torn: the
 * rename is atomic).
 *
 * Taken from a snapshot, as redis's BGSAVE does: fork() under the master
 * lock (copy-on-write, about 6 ms with a million files), the child writes
 * checkpoint.tmp and fsyncs it while the master goes on; the tick thread
 * then renames it (under the lock, unless the state was replaced meanwhile)
 * and fsyncs the directory (without it).  The log rotates after the fork
 * without the master lock, so the checkpoint's seq may fall inside a
 * segment: replay skips the records before it.
 */
#ifndef GFS_CHECKPOINT_H
#define GFS_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

struct gfs_master;

/* The checkpoint being written, in struct gfs_master (master lock). */
struct gfs_ckpt {
	pid_t child;                /* its writer, 0 when none */
	uint64_t next;              /* its seq: the first record not in it */
	uint64_t prev;              /* the seq of the one before */
	uint64_t log_gen;           /* the log's generation at the fork */
	int64_t started_ms;         /* monotonic */
	int64_t fork_us;            /* how long fork() held the lock */
	int64_t retry_ms;           /* after a failure: not before this */
	uint64_t written;           /* checkpoints completed */
};

/* Whether a checkpoint should start now (lock held): none runs, the
 * state is not being re-synced, checkpoint_every records came since the
 * last one, and no failure is too recent. */
bool gfs_ckpt_due(struct gfs_master *m, int64_t now);
/* Fork the writer of a checkpoint of the state as it is (takes the lock
 * for the fork), then rotate the log (without it).  GFS_EUNAVAIL when
 * one runs or the state is being re-synced, GFS_EIO when fork() fails. */
enum gfs_err gfs_ckpt_start(struct gfs_master *m);
/* Finish the running checkpoint if its writer exited: rename it into
 * place, drop the log segments neither it nor the previous one needs.
 * With wait, wait for the writer first.  A writer that runs past its
 * deadline is killed.  GFS_EUNAVAIL while it runs (no wait), GFS_OK
 * when it completed or none ran, else its error (old checkpoint and log
 * untouched).  Tick thread, or whoever started it; no lock held. */
enum gfs_err gfs_ckpt_poll(struct gfs_master *m, bool wait);
/* Start a checkpoint and wait for it (shutdown, tools). */
enum gfs_err gfs_ckpt_write(struct gfs_master *m);
/* Load <data>/checkpoint into the (empty) state, lock held.  *next is its
 * next seq, 1 when there is none (GFS_OK, nothing loaded). */
enum gfs_err gfs_ckpt_load(struct gfs_master *m, uint64_t *next);
/* Load a checkpoint from bytes into the (empty) state, lock held. */
enum gfs_err gfs_ckpt_load_buf(struct gfs_master *m, const uint8_t *buf,
			       size_t len, uint64_t *next);
/* Store bytes received from the primary as this master's checkpoint. */
enum gfs_err gfs_ckpt_store(struct gfs_master *m, const uint8_t *buf,
			    size_t len);
/* The checkpoint file's bytes (caller frees) and its next seq, for
 * GET /checkpoint.  GFS_ENOENT when there is none. */
enum gfs_err gfs_ckpt_read(struct gfs_master *m, uint8_t **buf, size_t *len,
			   uint64_t *next);

#endif
