/*
 * chunks.h - chunk handles, versions, lengths and replica locations.
 *
 * For: the table of committed chunks (handle -> struct gfs_chunk), the
 * replica locations of each (server ids, from commits and heartbeats,
 * never persisted), handles handed out but not committed yet (pending),
 * handles that became garbage, and the handle allocator.
 * Not for: which file a chunk belongs to (a file points at its chunks,
 * namespace.c), choosing servers (placement.c), talking to servers
 * (csmgr.c).  Every function needs the master lock.
 *
 * Invariants: a handle is never 0 and never handed out twice, across
 * crashes too: handles below `reserved` are covered by a logged
 * reservation, and a restarted or promoted master starts at `reserved`.
 * A chunk's loc[] holds distinct server ids that reported (or committed)
 * the chunk at exactly its version.
 */
#ifndef GFS_CHUNKS_H
#define GFS_CHUNKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "pool.h"

#define GFS_LOC_MAX 7          /* replica locations kept (40-byte chunk) */
#define GFS_HANDLE_BATCH 1024  /* handles per logged reservation */
#define GFS_NO_SERVER UINT16_MAX

struct gfs_chunk {
	uint64_t handle;
	uint32_t version;
	uint32_t length;            /* bytes [0, length) are stored */
	uint32_t index;             /* position in its file */
	uint32_t commit_s;          /* monotonic seconds at commit, 0 if
				     * loaded (see csmgr.c, stale grace) */
	uint8_t nloc;
	uint16_t loc[GFS_LOC_MAX];  /* server ids, pipeline order first */
};

/* A handle handed out by POST /files/PATH/chunks (or, pre-placed, by
 * POST /chunks: no file yet) and not committed yet. */
struct gfs_pending {
	uint64_t handle;
	uint64_t file_id;           /* the file's inode number; 0: pre-placed
				     * for holder, whose new file takes it */
	char *holder;               /* pre-placed: the lease holder it was
				     * handed to, owned (NULL: nobody) */
	uint32_t index;
	int64_t alloc_ms;           /* monotonic */
	uint16_t placed[GFS_LOC_MAX]; /* servers promised room for it */
	uint8_t nplaced;
	UT_hash_handle hh;
};

/* A handle that was committed and no longer is: its replicas go. */
struct gfs_garbage {
	uint64_t handle;
	int64_t since_ms;           /* monotonic */
	UT_hash_handle hh;
};

struct gfs_chunks {
	uintptr_t *slots;           /* open addressing, owned, cap slots:
				     * chunk pointers tagged (chunks.c) */
	size_t cap;                 /* a power of two */
	size_t count;
	struct gfs_pool pool;       /* of struct gfs_chunk, owned */
	struct gfs_pending *pending;  /* uthash head, owned */
	struct gfs_garbage *garbage;  /* uthash head, owned */
	uint64_t next_handle;       /* the next one to hand out */
	uint64_t reserved;          /* handles < this are logged as reserved */
	uint64_t inherit_hi;        /* handles < this may be pending on an
				     * earlier primary (commit accepts them) */
};

void gfs_chunks_init(struct gfs_chunks *t);
/* Free every chunk, pending and garbage entry. */
void gfs_chunks_free(struct gfs_chunks *t);

/* Borrowed until removed; NULL when absent.  O(1). */
struct gfs_chunk *gfs_chunks_find(struct gfs_chunks *t, uint64_t handle);
/* Start loading handle's place in the table into the cache, for a find
 * or add of it soon after (the table of millions of chunks costs a cache
 * miss a lookup: a caller with other work to do first overlaps the two).
 * O(1), changes nothing. */
void gfs_chunks_prefetch(const struct gfs_chunks *t, uint64_t handle);
/* Add a committed chunk (handle must be absent); borrowed. */
struct gfs_chunk *gfs_chunks_add(struct gfs_chunks *t, uint64_t handle,
				 uint32_t version, uint32_t length,
				 uint32_t index);
/* Remove c from the table and free it. */
void gfs_chunks_remove(struct gfs_chunks *t, struct gfs_chunk *c);
/* Call fn for every chunk.  O(capacity). */
void gfs_chunks_foreach(struct gfs_chunks *t,
			void (*fn)(void *cls, struct gfs_chunk *c), void *cls);
/*
 * Call fn for the chunks in slots [*cursor, *cursor + slots) and move
 * *cursor past them; true when it reached the end of the table (*cursor
 * is then cap).  fn must not add or remove chunks.  A scan spread over
 * several calls may miss a chunk removed meanwhile, and one that a
 * removal moved back past the cursor, or see one twice across a grow
 * (the caller restarts when cap changed).  O(slots).
 */
bool gfs_chunks_scan(struct gfs_chunks *t, size_t *cursor, size_t slots,
		     void (*fn)(void *cls, struct gfs_chunk *c), void *cls);

/* Locations: add (false when present or full), remove, test. */
bool gfs_chunk_add_loc(struct gfs_chunk *c, uint16_t id);
bool gfs_chunk_del_loc(struct gfs_chunk *c, uint16_t id);
bool gfs_chunk_has_loc(const struct gfs_chunk *c, uint16_t id);

/* Handles.  True when the next handle needs a new reservation logged
 * first (then call gfs_chunks_reserve with the logged limit). */
bool gfs_chunks_need_reserve(const struct gfs_chunks *t);
void gfs_chunks_reserve(struct gfs_chunks *t, uint64_t limit);
uint64_t gfs_chunks_take_handle(struct gfs_chunks *t);
/* After a restart or promotion: skip what an earlier primary may have
 * handed out, and accept commits of those handles. */
void gfs_chunks_skip_reserved(struct gfs_chunks *t);

struct gfs_pending *gfs_chunks_add_pending(struct gfs_chunks *t, uint64_t handle,
			    uint64_t file_id, uint32_t index, int64_t now);
/* Whether pending p may become a chunk of file ino for holder (NULL:
 * nobody): it was allocated for that file, or pre-placed for that
 * holder (file_id 0). */
bool gfs_chunks_pending_for(const struct gfs_pending *p, uint64_t ino,
			    const char *holder);
struct gfs_pending *gfs_chunks_pending(struct gfs_chunks *t, uint64_t handle);
void gfs_chunks_del_pending(struct gfs_chunks *t, struct gfs_pending *p);
/* Drop pending entries older than max_ms, at most budget of them; true
 * when more may be due.  Entries are kept in the order they were added,
 * which is their age order, so this stops at the first young one:
 * O(dropped). */
bool gfs_chunks_expire_pending(struct gfs_chunks *t, int64_t now,
			       int64_t max_ms, size_t budget);

void gfs_chunks_add_garbage(struct gfs_chunks *t, uint64_t handle,
			    int64_t now);
bool gfs_chunks_is_garbage(struct gfs_chunks *t, uint64_t handle);
/* Forget garbage older than max_ms, at most budget entries; true when
 * more may be due.  O(dropped), as gfs_chunks_expire_pending(). */
bool gfs_chunks_expire_garbage(struct gfs_chunks *t, int64_t now,
			       int64_t max_ms, size_t budget);

#endif
