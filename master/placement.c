/*
 * placement.c - order candidate chunkservers for a new chunk; see
 * placement.h.
 */
#include <stdlib.h>

#include "placement.h"

static int cand_cmp(const void *a, const void *b)
{
	const struct gfs_place_cand *x = a, *y = b;
	int xr = x->near_rank < 0 ? 1 << 30 : x->near_rank;
	int yr = y->near_rank < 0 ? 1 << 30 : y->near_rank;

	if (xr != yr)
		return xr < yr ? -1 : 1;
	if (x->room != y->room)
		return x->room > y->room ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

size_t gfs_place_pick(struct gfs_place_cand *cands, size_t n, size_t want,
		      uint16_t avoid_first, uint16_t *out)
{
	size_t i, k = n < want ? n : want;

	qsort(cands, n, sizeof(*cands), cand_cmp);
	for (i = 0; i < k; i++)
		out[i] = cands[i].id;
	if (k == 0 || out[0] != avoid_first)
		return k;
	/* Head the pipeline with another chosen server, else swap in the
	 * best one not chosen. */
	if (k > 1) {
		out[0] = out[1];
		out[1] = avoid_first;
	} else if (n > 1) {
		out[0] = cands[1].id;
	}
	return k;
}
