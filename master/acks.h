/*
 * acks.h - mutations logged in the event thread, waiting to be
 * acknowledged.
 *
 * A mutation made in the event thread (routes.c, GFS_ROUTE_TRY_INLINE)
 * is applied and appended there, its connection held (gfs_req_hold());
 * it joins this list and is acknowledged by whichever thread completes
 * its durability: the op log's syncer once the record is fdatasync'ed
 * here (oplog.h, gfs_oplog_syncer_start()), the op-log stream's receiver
 * once the members of the in-sync set have it (stream.c), or this
 * module's own thread, which looks again every ACKS_TICK_MS and when the
 * in-sync set changes (members, fence, lease; isr.h's on_change): the
 * decisions that only time makes (a member silent, a deadline passed).
 *
 * Each waiter is decided as gfs_ops_wait() decides for a worker: first
 * durable here (no deadline, as a worker's wait for the log has none),
 * then gfs_isr_try() until GFS_ACK_WAIT_MS after that: GFS_OK,
 * GFS_ENOTPRIMARY (the log wiped or the set fenced: stepped down), or
 * GFS_EUNAVAIL (the deadline).  Its done callback runs once, on the
 * deciding thread, with no lock held.
 *
 * Locking: acks->lock over the list; taken before the op log's lock or
 * the in-sync set's (one at a time), never with the master lock held
 * by the same thread... except to add (gfs_acks_kick() only signals).
 */
#ifndef GFS_ACKS_H
#define GFS_ACKS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"

struct gfs_master;

/* One mutation waiting; owned by its caller until done runs. */
struct gfs_ack {
	struct gfs_ack *next;   /* (acks lock) */
	uint64_t seq;           /* the record that must be durable */
	uint64_t epoch;         /* for the ack trace; 0: not traced */
	int64_t deadline_ms;    /* (acks lock) 0 until durable here, then
				 * GFS_ACK_WAIT_MS later (monotonic) */
	enum gfs_err err;       /* the decision, for done */
	int64_t t0_us, t1_us;   /* (acks lock) with debug logging: added,
				 * seen durable here (the "time durable"
				 * line of ops.c's wait, for bench/) */
	/* Decided: err as gfs_ops_wait() would have returned.  Runs once,
	 * on any thread, no lock held; a may be freed there. */
	void (*done)(struct gfs_ack *a, enum gfs_err err);
};

struct gfs_acks {
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* the thread's wake-up */
	struct gfs_ack *head;     /* (lock) waiting, unordered */
	size_t n;                 /* (lock) of them */
	bool kicked;              /* (lock) look again now */
	bool idle;                /* (lock) the thread sleeps without a
				   * timeout (no waiter since its last
				   * look): a new waiter wakes it.  Else it
				   * looks on its own within ACKS_TICK_MS,
				   * and a waiter costs no wake-up */
	bool stop;                /* (lock) */
	bool started;
	pthread_t thread;
	struct gfs_master *m;     /* borrowed */
};

void gfs_acks_init(struct gfs_acks *acks, struct gfs_master *m);
/* Start the thread (deadlines, in-sync set changes). */
void gfs_acks_start(struct gfs_acks *acks);
/* Stop the thread; the list must be empty by then (the HTTP server
 * stopped: it waits for every held request). */
void gfs_acks_stop(struct gfs_acks *acks);
void gfs_acks_destroy(struct gfs_acks *acks);
/* Add a (filled but next and deadline_ms), then decide it at once if it
 * can be: a->done may have run when this returns. */
void gfs_acks_add(struct gfs_acks *acks, struct gfs_ack *a);
/* Decide every waiter that can be now; the done callbacks run here.
 * O(waiters).  No lock held by the caller. */
void gfs_acks_check(struct gfs_acks *acks);
/* Have the thread check soon (any thread, any lock held). */
void gfs_acks_kick(void *acks);
/* The op log's on_synced callback (gfs_oplog_synced_fn). */
void gfs_acks_synced(void *acks);

#endif
