/*
 * chunkstore.h - the chunks this server holds: files on disk and the
 * in-memory table of them.
 *
 * On disk, under the data directory:
 *
 *     chunks/<xx>/<handle>        raw bytes of the chunk, [0, length) valid;
 *                                 its xattr user.gfs.meta: version, length,
 *                                 block CRCs (chunkmeta.h), when they fit
 *     chunks/<xx>/<handle>.meta   the same, when they do not (chunks over
 *                                 61.5 MiB, file systems without xattrs)
 *     quarantine/<handle>.<ns>[.meta]   replicas that failed a check
 *     packs/<seq>                 small new chunks as records (pack.h)
 *     .lock                       flock'ed while a chunkserver uses the dir
 *
 * where <xx> is the last two hex digits of the handle, so that no directory
 * grows beyond 1/256 of the chunks.  Only gfs_handle_parse()d handles are
 * ever turned into file names.
 *
 * In memory, a uthash table maps handle -> version, length, a "busy" mark
 * held by the one writer (or deleter) of that chunk, and a cached view.  A
 * struct gfs_chunk_view is an immutable, reference-counted snapshot of one
 * committed version: an open fd and the full CRC table.  Readers take a view
 * and read without any lock; a commit publishes a new view and the old one
 * lives on until its last reader drops it.  At most conf.cache_max views
 * stay cached (LRU), which bounds the open fds and CRC tables in memory.
 *
 * A packed chunk (a new chunk of at most one block, written whole: see
 * pack.h) has no file: its entry says where its record is, and its view's
 * fd is the segment's with base at the record's data.  Any write to it
 * other than a delete first materialises it (chunkwrite.c): the same
 * version written as an ordinary chunk file, durable, published with
 * gfs_chunkstore_unpack_chunk(), which then kills the record, so a record
 * is never the only copy of a version being replaced.  A delete or a
 * quarantine kills the record in place.  At open, after the files: a live
 * record whose handle has a file too wins only with a newer version (the
 * file is then removed, as a stale replica); equal versions keep the
 * file.
 *
 * Every change (a chunk committed, deleted, or removed as corrupt) gets a
 * sequence number, so that heartbeats can report what changed since the
 * last report a master acknowledged (gfs_chunkstore_report()).
 *
 * Not for: the write protocol itself (chunkwrite.c), HTTP (reader.c,
 * pipeline.c), talking to masters (masterconn.c).
 *
 * Locking: one mutex guards the table, the LRU, the change log and the
 * space counters; it is never held across disk I/O except the two renames
 * of a quarantine (or, for a packed chunk, the 4-byte kill of its record:
 * the pack's lock is taken after this one, never before).  Functions here
 * take it themselves.
 */
#ifndef GFS_CS_CHUNKSTORE_H
#define GFS_CS_CHUNKSTORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "err.h"

struct gfs_chunkstore;

struct gfs_chunkstore_conf {
	const char *dir;     /* data directory, created if missing; copied */
	unsigned cache_max;  /* views kept cached; 0 means 256 */
	uint64_t reserve;    /* free bytes kept back (507 below them) */
	uint64_t capacity;   /* cap on the bytes stored; 0: the disk's size */
	bool meta_files;     /* never keep a meta in an xattr, always in a
			      * <handle>.meta file (--meta-files) */
	bool ack_in_memory;  /* commit writes without waiting for the disk
			      * (--ack-in-memory) */
	size_t xattr_max;    /* largest meta kept in an xattr, in bytes (at
			      * most GFS_CHUNKMETA_XATTR_LIMIT; tests); 0:
			      * as large as the file system takes, up to
			      * GFS_CHUNKMETA_XATTR_MAX (probed at open) */
	bool named_creates;  /* create new chunk files by name at once, not
			      * as unnamed inodes linked at commit (tests;
			      * also the fallback where O_TMPFILE fails) */
	int xattr_in_place;  /* may a chunk written again have its xattr
			      * meta replaced in place: 1 yes, -1 no (then
			      * the meta moves to a .meta file), 0 as the
			      * file system allows (gfs_chunkmeta_probe_fs,
			      * at open) */
	uint64_t pack_max;   /* live bytes of packed chunks kept in old
			      * segments (--pack-max); 0: no packing */
	uint64_t pack_segment; /* segment size (tests); 0: 8 MiB */
	/* Called (without locks held) after a replica was quarantined. */
	void (*on_corrupt)(void *cls, uint64_t handle);
	/* Called (without locks held, from the pack's thread) to turn a
	 * packed chunk into a file: gfs_chunkwrite_materialise().  False
	 * stops the pass (a full disk, a failing one: the next pass, a
	 * second later, tries again). */
	bool (*materialise)(void *cls, struct gfs_chunkstore *s,
			    uint64_t handle);
	void *cls;
};

/* One committed version of one chunk.  Immutable once published. */
struct gfs_chunk_view {
	uint64_t handle;
	uint64_t version;
	uint64_t length;
	uint64_t gen;        /* commit generation: tells versions apart even
			      * when a chunk is deleted and made again */
	int fd;              /* data file, read-only use; owned */
	uint64_t base;       /* where byte 0 of the chunk is in fd: 0 for a
			      * chunk file, the record's data in a segment */
	bool packed;         /* fd is a segment's */
	uint32_t nblocks;
	uint32_t *crcs;      /* nblocks CRCs; owned */
	atomic_uint refs;    /* readers + the cache */
};

/* Counters for /metrics; read with atomic_load. */
struct gfs_chunkstore_stats {
	atomic_ullong bytes_read;     /* verified and handed to readers */
	atomic_ullong bytes_written;  /* by writes that committed */
	atomic_ullong corrupt;        /* replicas quarantined */
	atomic_ullong view_loads;     /* cache misses */
};

/* Open (creating) conf->dir, lock it, scan it.  Invalid meta files and
 * their data are quarantined, orphans and temporaries removed.  *out is
 * freed by gfs_chunkstore_close(). */
enum gfs_err gfs_chunkstore_open(const struct gfs_chunkstore_conf *conf,
				 struct gfs_chunkstore **out);
/* Free s.  No view may be in use and no writer active. */
void gfs_chunkstore_close(struct gfs_chunkstore *s);

/* Counters, borrowed for the life of s. */
struct gfs_chunkstore_stats *gfs_chunkstore_stats(struct gfs_chunkstore *s);

/* --- reading --------------------------------------------------------- */

/* A view of the committed version of handle (a new reference, dropped
 * with gfs_chunkstore_put_view()).  GFS_ENOENT when absent (or still
 * being created), GFS_ECORRUPT when its files fail their checks (then it
 * is quarantined).  GFS_EUNAVAIL (no fd, no memory) or GFS_EIO (other
 * system errors), with errno set, when the files could not be read now:
 * the replica is kept.  With nocache the view is not kept in the cache
 * (the scrubber's reads should not evict the readers' chunks). */
enum gfs_err gfs_chunkstore_get_view(struct gfs_chunkstore *s,
				     uint64_t handle, bool nocache,
				     struct gfs_chunk_view **out);
void gfs_chunkstore_put_view(struct gfs_chunkstore *s,
			     struct gfs_chunk_view *v);

/*
 * Read blocks [first, first + n) of v into buf (room for n blocks) and
 * verify each against its CRC; *got is the byte count (short only for the
 * chunk's last block).  A mismatch (or a data file ending early)
 * quarantines the replica and returns GFS_ECORRUPT; a failed read is
 * GFS_EIO or GFS_EUNAVAIL with errno set, the replica kept.  The caller
 * checks that the blocks exist.
 */
enum gfs_err gfs_chunkstore_read_blocks(struct gfs_chunkstore *s,
					struct gfs_chunk_view *v,
					uint32_t first, uint32_t n, char *buf,
					size_t *got);
/* Verify blocks [first, first + n) of v as read_blocks does, keeping
 * none of the bytes: for a reply then sent from the file itself. */
enum gfs_err gfs_chunkstore_check_blocks(struct gfs_chunkstore *s,
					 struct gfs_chunk_view *v,
					 uint32_t first, uint32_t n);

/* Take v's replica out of service now: move its files to quarantine/,
 * drop it from the table, report it as corrupt.  Does nothing when the
 * chunk has moved on from v (a newer commit, or gone). */
void gfs_chunkstore_quarantine(struct gfs_chunkstore *s,
			       const struct gfs_chunk_view *v,
			       const char *why);

/* --- deleting -------------------------------------------------------- */

/* Remove handle (data and meta), waiting up to wait_ms for a writer of it
 * to finish.  GFS_ENOENT when absent, GFS_ESTALE when still busy. */
enum gfs_err gfs_chunkstore_delete(struct gfs_chunkstore *s, uint64_t handle,
				   long wait_ms);

/* --- what chunkwrite.c builds writes from ----------------------------- */

/* State of a chunk when its writer took it. */
struct gfs_chunkstore_slot {
	uint64_t handle;
	bool existed;        /* a committed version exists */
	uint64_t version;    /* committed version (0 when !existed) */
	uint64_t length;
	bool packed;         /* the committed version is a packed record */
	int dirfd;           /* its directory chunks/<xx>: owned by the
			      * writer, who closes it when done */
};

/* Become the one writer of handle, waiting up to wait_ms for another one
 * to finish (GFS_ESTALE "busy" after that).  A missing handle gets a
 * placeholder that readers do not see. */
enum gfs_err gfs_chunkstore_lock_chunk(struct gfs_chunkstore *s,
				       uint64_t handle, long wait_ms,
				       struct gfs_chunkstore_slot *slot);
/* Stop being its writer without committing; a placeholder is dropped. */
void gfs_chunkstore_unlock_chunk(struct gfs_chunkstore *s, uint64_t handle);
/*
 * Publish a new committed version (its files are already durable): takes
 * ownership of fd and crcs (freed even on error), releases the chunk and
 * logs the change.  GFS_ECORRUPT when the chunk was found corrupt while
 * being written (the new files are then quarantined too).
 */
enum gfs_err gfs_chunkstore_commit_chunk(struct gfs_chunkstore *s,
					 uint64_t handle, uint64_t version,
					 uint64_t length, int fd,
					 uint32_t *crcs);
/* Whether a new chunk body of size bytes may be packed (packing is on). */
bool gfs_chunkstore_packable(struct gfs_chunkstore *s, uint64_t size);
/*
 * Publish a new chunk of the writer's (slot taken for a chunk that did
 * not exist) as a packed record: data (len bytes, CRC32C crc) appended,
 * durable, then published and released as commit_chunk does.
 * GFS_EUNAVAIL or GFS_EIO when it could not be packed now: the chunk is
 * still the caller's, who writes a file instead.
 */
enum gfs_err gfs_chunkstore_commit_packed(struct gfs_chunkstore *s,
					  uint64_t handle, uint64_t version,
					  const void *data, uint32_t len,
					  uint32_t crc);
/*
 * The writer of a packed chunk wrote the same version to a chunk file,
 * durable: publish the file (taking fd and crcs), kill the record.  The
 * chunk stays the caller's.
 */
void gfs_chunkstore_unpack_chunk(struct gfs_chunkstore *s, uint64_t handle,
				 int fd, uint32_t *crcs);
/* Packed chunks, bytes and segments, for /metrics. */
struct gfs_chunkstore_packs {
	uint64_t chunks, bytes, segments, disk_bytes;
};
void gfs_chunkstore_packs(struct gfs_chunkstore *s,
			  struct gfs_chunkstore_packs *out);
/*
 * Space for writers.  reserve promises bytes (GFS_EDISKFULL when fewer
 * are free beyond the reserve and within the capacity; asking for 0 fails
 * only when nothing at all is free); consume turns promised bytes into
 * written ones (the disk's free count has them now); release gives back
 * what a finished writer still held of both.
 */
enum gfs_err gfs_chunkstore_reserve(struct gfs_chunkstore *s, uint64_t bytes);
void gfs_chunkstore_consume(struct gfs_chunkstore *s, uint64_t bytes);
void gfs_chunkstore_release(struct gfs_chunkstore *s, uint64_t promised,
			    uint64_t written);

/* --- where metas go ---------------------------------------------------- */

/* Whether the meta of a chunk of nblocks blocks should go into its data
 * file's xattr (it fits, and the file system takes xattrs). */
bool gfs_chunkstore_meta_in_xattr(struct gfs_chunkstore *s, uint32_t nblocks);
/* The file system refused every user xattr: .meta files from now on. */
void gfs_chunkstore_no_xattrs(struct gfs_chunkstore *s);
/* Whether an xattr meta may be replaced in place (an APPEND): the file
 * system keeps the old value or the new one across a crash.  When not,
 * an APPEND writes a .meta file (renamed into place) instead. */
bool gfs_chunkstore_xattr_in_place(struct gfs_chunkstore *s);
/* Whether a commit waits for the disk (fsync); false with
 * --ack-in-memory. */
bool gfs_chunkstore_syncs(struct gfs_chunkstore *s);
/* A new unnamed inode in chunks/ for a new chunk file (caller owns the
 * fd; link it with gfs_inodepool_link at commit), or -1 with errno:
 * EOPNOTSUPP when this store creates files by name (conf.named_creates,
 * or O_TMPFILE failed its probe at open). */
int gfs_chunkstore_take_inode(struct gfs_chunkstore *s);

/* --- reporting ------------------------------------------------------- */

struct gfs_chunkstore_space {
	uint64_t free_bytes;   /* storable now: disk free minus reserve and
				* promised bytes, within the capacity */
	uint64_t total_bytes;  /* disk size, or the capacity when smaller */
	uint64_t used_bytes;   /* sum of chunk lengths */
	uint64_t chunks;       /* committed chunks */
};
void gfs_chunkstore_space(struct gfs_chunkstore *s,
			  struct gfs_chunkstore_space *out);

/*
 * What a heartbeat says about chunks.  full: every chunk as [handle,
 * version, length] in *chunks; otherwise those changed after sequence
 * since, as *chunks (added or rewritten) and *removed (handles).  *corrupt
 * lists the handles quarantined after since (in both modes).  All three
 * are new references.  *upto is the sequence number the report covers.
 * O(chunks) for a full report, O(changes) otherwise, under the lock.
 */
void gfs_chunkstore_report(struct gfs_chunkstore *s, bool full,
			   uint64_t since, json_t **chunks, json_t **removed,
			   json_t **corrupt, uint64_t *upto);
/* Forget changes at or before seq (every master has them).  O(changes). */
void gfs_chunkstore_trim_changes(struct gfs_chunkstore *s, uint64_t seq);
/* Report handle again in the next deltas, as if it had just been written
 * (a master that should list it here does not); nothing when it is not
 * held.  O(1). */
void gfs_chunkstore_report_again(struct gfs_chunkstore *s, uint64_t handle);

/* Handles of committed chunks not used (read or written) for idle_ms, in
 * no order; *out is a new array the caller frees.  O(chunks). */
size_t gfs_chunkstore_idle_chunks(struct gfs_chunkstore *s, int64_t idle_ms,
				  uint64_t **out);

#endif
