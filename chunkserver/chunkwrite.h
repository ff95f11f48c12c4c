/*
 * chunkwrite.h - one write to one chunk, from its first byte to the moment
 * its new version is durable and published.
 *
 * A write is a transaction over the chunkstore:
 *
 *     gfs_chunkwrite_begin()   checks the version, becomes the chunk's one
 *                              writer, reserves space, prepares the file
 *     gfs_chunkwrite_data()    each piece of the body, in order, any size:
 *                              written with pwrite, CRC'd as it passes
 *     gfs_chunkwrite_commit()  data and new meta durable, rename, publish
 *     gfs_chunkwrite_free()    always; aborts when not committed
 *
 * Until commit nothing a reader or a heartbeat sees changes: an appended
 * write goes past the committed length, an overwrite goes to a copy
 * (<handle>.tmp), a new chunk has no meta yet.  An abort (client gone,
 * disk full, kill -9) therefore leaves the previous version intact.
 *
 * Not for: HTTP or forwarding (pipeline.c), fetching from peers (the
 * caller's fetch function does that).
 */
#ifndef GFS_CS_CHUNKWRITE_H
#define GFS_CS_CHUNKWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chunkstore.h"
#include "err.h"

struct gfs_chunkwrite;

/*
 * Fill the base of a clone that is not held here: call
 * gfs_chunkwrite_base(w, ...) with bytes [0, n) of chunk handle at
 * version, in order, n = length (or all of it for UINT64_MAX), verified
 * as they arrive.  GFS_ENOENT / GFS_ESTALE when no source has it.
 */
typedef enum gfs_err (*gfs_chunkwrite_fetch_fn)(void *cls, uint64_t handle,
						uint64_t version,
						uint64_t length,
						struct gfs_chunkwrite *w);

struct gfs_chunkwrite_args {
	uint64_t handle;
	uint64_t version;      /* >= 1; > the stored one when it exists */
	uint64_t offset;       /* where the body goes */
	int64_t size;          /* body bytes, -1 when unknown (chunked) */
	bool replace;          /* the body is the whole new chunk: drop the
				* old bytes (replication) */
	bool clone;            /* when the chunk does not exist, it starts
				* as a copy of [0, clone_length) of: */
	uint64_t clone_handle;
	uint64_t clone_version;
	uint64_t clone_length; /* UINT64_MAX: all of it */
	gfs_chunkwrite_fetch_fn fetch; /* when not held here; may be NULL */
	void *fetch_cls;
	long wait_ms;          /* for another writer of the same chunk */
};

/*
 * Start a write.  On error *out is NULL and msg (when not NULL) says why:
 * GFS_EINVAL, GFS_ETOOBIG (beyond GFS_MAX_CHUNK_SIZE), GFS_ESTALE (version
 * not newer, or the chunk stayed busy), GFS_EDISKFULL, GFS_ENOENT (clone
 * source absent), GFS_ECORRUPT, GFS_EIO.
 */
enum gfs_err gfs_chunkwrite_begin(struct gfs_chunkstore *s,
				  const struct gfs_chunkwrite_args *a,
				  struct gfs_chunkwrite **out, char *msg,
				  size_t msglen);
/* The next len bytes of the body. */
enum gfs_err gfs_chunkwrite_data(struct gfs_chunkwrite *w, const void *buf,
				 size_t len);
/* For a fetch function: the next len bytes of a clone's base. */
enum gfs_err gfs_chunkwrite_base(struct gfs_chunkwrite *w, const void *buf,
				 size_t len);
/* Make it durable and publish it; *length gets the chunk's new length. */
enum gfs_err gfs_chunkwrite_commit(struct gfs_chunkwrite *w,
				   uint64_t *length);
/* Why the last call failed ("" when it did not), borrowed from w. */
const char *gfs_chunkwrite_error(const struct gfs_chunkwrite *w);
/* Body bytes taken so far. */
uint64_t gfs_chunkwrite_received(const struct gfs_chunkwrite *w);
/* Turn packed chunk handle into a chunk file of the same version (see
 * chunkwrite.c), waiting up to wait_ms for its writer; a chunk not packed
 * (any more) is left alone.  For the pack's reclaims. */
enum gfs_err gfs_chunkwrite_materialise(struct gfs_chunkstore *s,
					uint64_t handle, long wait_ms);
/* End the write: abort it unless committed, then free w.  NULL is fine. */
void gfs_chunkwrite_free(struct gfs_chunkwrite *w);

#endif
