/*
 * replicate.h - copies of chunks from other chunkservers, ordered by the
 * primary master to restore the replica count.
 *
 * Orders queue up and a few workers (2) carry them out in the background,
 * so a burst of orders after a server died never starves the foreground
 * reads and writes.  A copy streams the chunk from a source at the ordered
 * version, checking every block against the source's CRCs as it arrives
 * (fetch.c), into a new local chunk at that version (replacing an older
 * local one); once committed, the next heartbeat reports it as added.
 * A copy that fails (no room, no source) is reported as failed to the
 * primary at once, so that it orders the copy elsewhere instead of
 * waiting out its copy timeout.
 */
#ifndef GFS_CS_REPLICATE_H
#define GFS_CS_REPLICATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gfs_chunkserver;
struct gfs_replicate;

/* Counters for /metrics. */
struct gfs_replicate_counts {
	uint64_t done;      /* copies committed */
	uint64_t failed;    /* copies given up */
	uint64_t bytes;     /* bytes copied */
	uint64_t queued;    /* waiting now */
};

/* Start workers copying into cs->store (cs borrowed for the life of the
 * result; free it with gfs_replicate_free()).  on_fail(cls), if set, is
 * called from a worker after each failed copy. */
struct gfs_replicate *gfs_replicate_start(struct gfs_chunkserver *cs,
					  unsigned workers,
					  void (*on_fail)(void *cls),
					  void *cls);
/* Stop the workers (a copy in flight is abandoned) and refuse orders. */
void gfs_replicate_stop(struct gfs_replicate *r);
void gfs_replicate_free(struct gfs_replicate *r);
/* Queue a copy of handle at version (length bytes) from sources[0..n)
 * (copied).  False when the handle is queued or copying already, the
 * queue is full, or r is stopping. */
bool gfs_replicate_order(struct gfs_replicate *r, uint64_t handle,
			 uint64_t version, uint64_t length,
			 const char *const *sources, size_t n);
void gfs_replicate_counts(struct gfs_replicate *r,
			  struct gfs_replicate_counts *out);
/* Move up to max handles of failed copies not yet reported to out; the
 * count.  A report that did not get through puts them back. */
size_t gfs_replicate_take_failed(struct gfs_replicate *r, uint64_t *out,
				 size_t max);
void gfs_replicate_put_failed(struct gfs_replicate *r, const uint64_t *h,
			      size_t n);

#endif
