/*
 * fetch.h - copy a chunk from another chunkserver, checking every block.
 *
 * Used by replication (replicate.c) and by clones whose source is not held
 * here (pipeline.c).  The source's CRC table comes first (GET
 * /chunks/H?version=V&crcs=1, an extension of docs/PROTOCOL.md); then the
 * bytes (GET /chunks/H?version=V with a Range), and each 64 KiB block is
 * checked against the source's CRC as it arrives, before any of it reaches
 * the sink.  So a block damaged anywhere between the source's disk and our
 * write is caught, not copied.
 *
 * Not for: writing (the sink does that) or choosing sources (the caller).
 */
#ifndef GFS_CS_FETCH_H
#define GFS_CS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct gfs_auth;
struct gfs_http_pool;

/* Where and how a fetch asks: the connections, and the secret every
 * request to a peer is signed with (borrowed). */
struct gfs_fetch_from {
	struct gfs_http_pool *pool;
	const struct gfs_auth *auth;
};

/* Takes the next len verified bytes; anything but GFS_OK stops. */
typedef enum gfs_err (*gfs_fetch_sink)(void *cls, const void *buf,
				       size_t len);

/*
 * Hand bytes [0, length) of chunk handle at version to sink, in order,
 * from the first of sources[0..n) (base URLs) that has it; length
 * UINT64_MAX means all of it.  A source is given up for the next only
 * before its first byte reached the sink.  GFS_ENOENT / GFS_ESTALE when
 * no source has it (at that version), GFS_ECORRUPT for a bad block, else
 * the transfer's error; msg says which source said what.
 */
enum gfs_err gfs_fetch_chunk(const struct gfs_fetch_from *from,
			     const char *const *sources, size_t n,
			     uint64_t handle, uint64_t version,
			     uint64_t length, gfs_fetch_sink sink, void *cls,
			     char *msg, size_t msglen);

#endif
