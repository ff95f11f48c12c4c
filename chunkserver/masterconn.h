/*
 * masterconn.h - this chunkserver's links to the masters (MooseFS's
 * masterconn): heartbeats, the epoch and primary it believes in, and the
 * orders it takes from that primary.
 *
 * One thread per configured master sends POST /api/v1/heartbeat every
 * --heartbeat-interval (sooner after a replica was found corrupt): the
 * whole inventory on first contact and whenever the master asks
 * (want_full), otherwise what changed since the last heartbeat that master
 * acknowledged.  The highest epoch seen in any reply wins; the master that
 * answered "role": "primary" at that epoch is the primary, and only its
 * orders (delete, replicate) are carried out.  A master that cannot be
 * reached is retried each interval, logged once when it goes and once when
 * it comes back.
 */
#ifndef GFS_CS_MASTERCONN_H
#define GFS_CS_MASTERCONN_H

#include <jansson.h>

struct gfs_chunkserver;
struct gfs_masterconn;

/* Start a link per URL of cs->conf.master (none for ""); cs is borrowed
 * for the life of the result, which the caller frees with
 * gfs_masterconn_free().  NULL when the list is bad. */
struct gfs_masterconn *gfs_masterconn_start(struct gfs_chunkserver *cs);
/* Stop the threads (waits for a heartbeat in flight). */
void gfs_masterconn_stop(struct gfs_masterconn *mc);
void gfs_masterconn_free(struct gfs_masterconn *mc);
/* Send heartbeats now (something the masters must know happened). */
void gfs_masterconn_kick(struct gfs_masterconn *mc);
/* Add "epoch", "primary" and "masters": [{"url", "ok", "last_ok_ms",
 * "role"}] to the object st (borrowed). */
void gfs_masterconn_describe(struct gfs_masterconn *mc, json_t *st);
/* Counters for /metrics. */
struct gfs_masterconn_counts {
	uint64_t heartbeats;        /* answered with 200 */
	uint64_t failures;          /* not answered, or refused */
	uint64_t epoch;             /* highest seen */
	uint64_t deletes;           /* delete orders carried out */
};
void gfs_masterconn_counts(struct gfs_masterconn *mc,
			   struct gfs_masterconn_counts *out);

#endif
