/*
 * scrub.h - the background scrubber: reads idle chunks slowly and checks
 * every block against its CRC, so that a replica rotting on a disk nobody
 * reads is found (and reported, and re-replicated) before it is needed.
 *
 * One thread; each pass takes the chunks unused for a while (reads check
 * the others anyway) and verifies them at no more than --scrub-rate bytes
 * per second; passes start at most every --scrub-interval.  A bad block is
 * handled exactly as a read finding it: the replica is quarantined and
 * reported as corrupt with the next heartbeat, which is sent at once.
 */
#ifndef GFS_CS_SCRUB_H
#define GFS_CS_SCRUB_H

#include <stdint.h>

struct gfs_chunkstore;
struct gfs_scrub;

struct gfs_scrub_counts {
	uint64_t passes;   /* completed */
	uint64_t chunks;   /* verified */
	uint64_t bytes;    /* verified */
	uint64_t corrupt;  /* found bad */
};

/* Start scrubbing store (borrowed) every interval_ms at rate bytes/s;
 * free the result with gfs_scrub_free(). */
struct gfs_scrub *gfs_scrub_start(struct gfs_chunkstore *store,
				  uint64_t interval_ms, uint64_t rate);
/* Stop the thread (at once: it sleeps interruptibly). */
void gfs_scrub_stop(struct gfs_scrub *sc);
void gfs_scrub_free(struct gfs_scrub *sc);
void gfs_scrub_counts(struct gfs_scrub *sc, struct gfs_scrub_counts *out);

#endif
