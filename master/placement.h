/*
 * placement.h - choosing the chunkservers of a new chunk.
 *
 * For: the pure decision, over a list of candidates the caller built
 * (live, with room, not excluded): servers the client asked to be near
 * first (in its order), then the most room first; and the first replica
 * (the head of the write pipeline) not the one that headed the previous
 * chunk of the file, when there is a choice, so that consecutive chunks
 * start on different servers.  Not for: finding the candidates (csmgr.c).
 */
#ifndef GFS_PLACEMENT_H
#define GFS_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

struct gfs_place_cand {
	uint16_t id;      /* server id */
	int near_rank;    /* position in the client's near list, -1 if not */
	int64_t room;     /* free bytes (INT64_MAX when unknown) */
};

/* Sort cands (in place) and write up to want ids, in pipeline order, to
 * out.  avoid_first is the previous chunk's first server (or
 * UINT16_MAX).  Returns how many were chosen.  O(n log n). */
size_t gfs_place_pick(struct gfs_place_cand *cands, size_t n, size_t want,
		      uint16_t avoid_first, uint16_t *out);

#endif
