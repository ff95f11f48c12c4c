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
 *   "GFSCKPT1" (8 bytes), u64 next seq (the first log record not in it),
 *   then framed records numbered 1, 2, ... (oplog.h framing: length,
 *   CRC32C, seq), the last one END with the count of records before it.
 * Written to checkpoint.tmp, fsync'ed, renamed over checkpoint, directory
 * fsync'ed; only then are old log segments removed.  Anything short or
 * with a bad checksum is corruption (a checkpoint is never torn: the
 * rename is atomic).
 */
#ifndef GFS_CHECKPOINT_H
#define GFS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct gfs_master;

/* Write a checkpoint now (tick thread; takes the lock while it
 * serialises, not while it writes).  Then drop the log segments that
 * neither this checkpoint nor the previous one needs. */
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
