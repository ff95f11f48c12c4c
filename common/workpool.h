/*
 * workpool.h - an elastic pool of worker threads for jobs that may block.
 *
 * A job is a struct gfs_job embedded in the caller's own struct (no
 * allocation per job).  Threads are made when a job is queued and no
 * worker is idle, up to max; a worker idle for idle_ms exits (keep of
 * them stay).  So a burst costs threads only while it lasts, and as long
 * as the number of jobs that can be queued or running at once is at most
 * max, no job ever waits for a worker (see common/httpd.c for why the
 * HTTP server relies on that).
 *
 * Not for: ordering (jobs run in any order), cancelling a queued job.
 *
 * Locking: one mutex over the queue and the counts; jobs run without it.
 */
#ifndef GFS_WORKPOOL_H
#define GFS_WORKPOOL_H

#include <stdbool.h>
#include <stdint.h>

struct gfs_workpool;

/* A job: embed it, set run, submit it.  run may free the struct. */
struct gfs_job {
	struct gfs_job *next;            /* queue link, the pool's */
	void (*run)(struct gfs_job *job);
};

/* A pool of at most max threads (>= 1), keeping keep (<= max) of them
 * when idle; idle_ms > 0. */
struct gfs_workpool *gfs_workpool_new(unsigned max, unsigned keep,
				      int64_t idle_ms);
/*
 * Take a slot for one job: false once gfs_workpool_drain() began (run the
 * work another way then).  Every true must be followed by exactly one
 * gfs_workpool_submit(); the slot is free again when that job's run()
 * has returned.
 */
bool gfs_workpool_reserve(struct gfs_workpool *p);
/* Queue job (a slot is reserved); a worker runs it soon. */
void gfs_workpool_submit(struct gfs_workpool *p, struct gfs_job *job);
/* reserve + submit, or, when draining, job->run() right here. */
void gfs_workpool_run(struct gfs_workpool *p, struct gfs_job *job);
/* Refuse new slots and wait until every job of a reserved one is over;
 * logs every 5 s while jobs are still running. */
void gfs_workpool_drain(struct gfs_workpool *p);
/* Drain, let the threads exit and free.  NULL is fine. */
void gfs_workpool_free(struct gfs_workpool *p);

/* Threads alive now. */
unsigned gfs_workpool_threads(struct gfs_workpool *p);
/* Slots taken now: jobs queued or running. */
unsigned gfs_workpool_jobs(struct gfs_workpool *p);

#endif
