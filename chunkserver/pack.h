/*
 * pack.h - small new chunks packed into pre-zeroed, append-only segment
 * files, made durable with one fdatasync per group of writers.
 *
 * A new chunk file costs each replica a file create, an fsync of its
 * inode, data and xattr and a directory fsync (docs/PERFORMANCE.md).  A
 * chunk of at most one CRC block written whole as a new chunk is instead
 * appended as one record to the head segment, a file of fixed size
 * whose bytes were written as zeros and fsynced before its first use, so
 * that an append changes neither its size nor its extents and its
 * fdatasync is a data write plus a cache flush.
 *
 * On disk, under the data directory:
 *
 *     packs/<16 hex seq>     a segment: records from offset 0, then zeros
 *
 * A record, at a multiple of GFS_PACK_ALIGN (little-endian):
 *
 *     0  magic "GFSP"                 u32
 *     4  state (LIVE or DEAD)         u32   not covered by the header CRC:
 *                                           rewritten in place to kill it
 *     8  segment seq                  u64
 *    16  handle                       u64
 *    24  version                      u64
 *    32  length (<= GFS_BLOCK_SIZE)   u32
 *    36  CRC32C of the data           u32   (= the chunk's one block CRC)
 *    40  reserved (0)                 u32
 *    44  CRC32C of bytes [0,4) and [8,44)   u32
 *    48  data, then zeros up to the next multiple of GFS_PACK_ALIGN
 *
 * Rules:
 * - A record is acknowledged (gfs_pack_append returns) only when it and
 *   every record before it in its segment are durable: one fdatasync
 *   covers the contiguous prefix of records whose pwrite finished before
 *   it began.  Replay stops a segment at its first bad record, so an
 *   acknowledged record never lies behind a hole.
 * - Replay (gfs_pack_replay) reads the segments in seq order and each
 *   one up to the first record that is zeros (the unwritten tail), of
 *   another segment, or fails a CRC (a torn tail); DEAD records are
 *   skipped by the length in their header (whose CRC holds) without
 *   reading their data, which may be what killed them (a corrupt record
 *   killed by a read must not hide the records after it).  Nothing is ever appended to a segment found at open: a new
 *   head is started, the old ones are read-only until reclaimed.
 * - Killing a record rewrites its state field (one small pwrite, no
 *   fsync): a kill lost in a crash brings back an orphan, which the
 *   master's garbage collection removes, as it does an unsynced unlink.
 * - A segment (not the head) whose records are all dead is unlinked; a
 *   reader's view keeps its own fd (gfs_pack_fd) to the bytes.
 * - The next head (the spare) is made ahead by the pack's thread; when
 *   none is ready, or the room callback says no, or the head is full,
 *   gfs_pack_append fails with GFS_EUNAVAIL and the caller writes a file.
 * - The thread also asks, through the reclaim callback, for the live
 *   records of one old segment to be moved out (to chunk files) when the
 *   live bytes in old segments exceed max_bytes or an old segment has
 *   live bytes under a quarter of its size (mostly dead, or left mostly
 *   empty by a restart).
 *
 * Not for: the chunk table (chunkstore.c keeps where each packed chunk
 * is), writes other than a new chunk's first and only body.
 *
 * Locking: one mutex guards the segments and the group commit; it is
 * never held across a pwrite, fdatasync, unlink or zeroing.  Waits have
 * deadlines.  Callbacks are called without it.
 */
#ifndef GFS_CS_PACK_H
#define GFS_CS_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define GFS_PACK_ALIGN 512u
#define GFS_PACK_HEADER 48u
#define GFS_PACK_SEG_SIZE (8u << 20)

struct gfs_pack;

/* Where a record is. */
struct gfs_pack_loc {
	uint64_t seq;   /* its segment */
	uint64_t off;   /* the record's first byte; its data is at
			 * off + GFS_PACK_HEADER */
};

struct gfs_pack_conf {
	int dirfd;           /* the data directory (packs/ is made in it);
			      * borrowed, used by gfs_pack_open only */
	const char *label;   /* for the log (the data directory) */
	uint64_t seg_size;   /* segment file size; 0: GFS_PACK_SEG_SIZE */
	uint64_t max_bytes;  /* live bytes kept in old segments */
	bool syncs;          /* fdatasync before acknowledging */
	/* May a new segment of bytes be made (space accounting)? */
	bool (*room)(void *cls, uint64_t bytes);
	/* Move the live records of segment seq out (pack's thread). */
	void (*reclaim)(void *cls, uint64_t seq);
	void *cls;
	/* Tests: called after a record's pwrite, before it counts as
	 * written. */
	void (*write_hook)(void *cls, const struct gfs_pack_loc *loc);
};

struct gfs_pack_rec {
	uint64_t handle;
	uint64_t version;
	uint32_t length;
	uint32_t crc;   /* CRC32C of the data */
	struct gfs_pack_loc loc;
};

struct gfs_pack_stats {
	uint64_t segments;     /* files in packs/, the spare included */
	uint64_t disk_bytes;   /* their bytes */
	uint64_t live;         /* live records */
	uint64_t live_bytes;   /* their data bytes */
};

/* Open (creating) packs/ under conf->dirfd and list its segments; no
 * record is read yet.  *out is freed by gfs_pack_close(). */
enum gfs_err gfs_pack_open(const struct gfs_pack_conf *conf,
			   struct gfs_pack **out);
/* Read every segment (rules above) and call fn for each live record in
 * seq and offset order; when fn returns false the record is killed.  fn
 * may call gfs_pack_kill() on records it took before.  Once, before
 * gfs_pack_start(). */
typedef bool (*gfs_pack_replay_fn)(void *cls, const struct gfs_pack_rec *r);
void gfs_pack_replay(struct gfs_pack *p, gfs_pack_replay_fn fn, void *cls);
/* Unlink the segments with no live record, make the first head now (so
 * that the first small write after start-up is packed) and start the
 * thread that makes spares and asks for reclaims. */
void gfs_pack_start(struct gfs_pack *p);
/* Stop the thread, close every fd, free p (NULL: no-op). */
void gfs_pack_close(struct gfs_pack *p);

/* Whether a body of len bytes may be packed at all. */
bool gfs_pack_fits(const struct gfs_pack *p, uint64_t len);
/*
 * Append a LIVE record of handle at version with data (len bytes, CRC32C
 * crc) and wait until it is durable with all before it (rules above).
 * GFS_EUNAVAIL when there is no room in a head now (nothing written),
 * GFS_EIO (errno set) when the write or the sync failed (the record, if
 * any, was killed): either way the caller writes a chunk file instead.
 */
enum gfs_err gfs_pack_append(struct gfs_pack *p, uint64_t handle,
			     uint64_t version, const void *data, uint32_t len,
			     uint32_t crc, struct gfs_pack_loc *loc);
/* Mark the record at loc (of len data bytes) DEAD in place; a segment
 * left with no live record and not the head is unlinked. */
void gfs_pack_kill(struct gfs_pack *p, const struct gfs_pack_loc *loc,
		   uint32_t len);
/* A new fd (caller closes) of segment seq, for a view: reads stay good
 * after the segment is unlinked.  -1 with errno (ENOENT: no segment). */
int gfs_pack_fd(struct gfs_pack *p, uint64_t seq);

void gfs_pack_stats(struct gfs_pack *p, struct gfs_pack_stats *out);
/* Bytes on disk beyond the live data (for capacity accounting);
 * lock-free. */
uint64_t gfs_pack_overhead(struct gfs_pack *p);

/* Encode / check a record header (tests, and the replay). */
void gfs_pack_encode_header(uint8_t hdr[GFS_PACK_HEADER],
			    const struct gfs_pack_rec *r, bool live);
/* Whether hdr is a whole header (CRC good) of segment seq; *live says its
 * state.  *r gets its fields (loc.seq = seq, loc.off left alone). */
bool gfs_pack_decode_header(const uint8_t hdr[GFS_PACK_HEADER], uint64_t seq,
			    struct gfs_pack_rec *r, bool *live);

#endif
