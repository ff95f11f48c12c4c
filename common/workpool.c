/*
 * workpool.c - the elastic worker pool (see workpool.h).
 *
 * For: running jobs that may block off the thread that found them.
 * Not for: anything needing order or cancellation.
 *
 * Invariants: queued <= reserved; threads <= max; a thread is idle
 * exactly while it waits on p->work.  A new thread is made when a job is
 * queued and fewer threads are idle than jobs queued, so with reserved <=
 * max a queued job always has a thread coming for it.
 *
 * Locking: p->lock over everything in struct gfs_workpool; a job runs
 * without it.  Threads are detached: gfs_workpool_free() waits on p->gone
 * until the last one has left the lock for good.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "util.h"
#include "workpool.h"

/* How often a drain that waits says so. */
#define DRAIN_LOG_MS 5000

struct gfs_workpool {
	pthread_mutex_t lock;
	pthread_cond_t work;        /* a job was queued, or draining */
	pthread_cond_t gone;        /* a job ended or a thread left */
	struct gfs_job *head, *tail; /* queued jobs, (lock) */
	unsigned queued;            /* (lock) jobs in the queue */
	unsigned reserved;          /* (lock) slots taken, queued or running */
	unsigned threads;           /* (lock) threads alive */
	unsigned idle;              /* (lock) threads waiting on work */
	unsigned max, keep;         /* limits, fixed */
	int64_t idle_ms;            /* fixed */
	bool draining;              /* (lock) no new slots */
	bool closing;               /* (lock) idle threads exit now */
};

static void cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

struct gfs_workpool *gfs_workpool_new(unsigned max, unsigned keep,
				      int64_t idle_ms)
{
	struct gfs_workpool *p = gfs_xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	cond_init_mono(&p->work);
	cond_init_mono(&p->gone);
	p->max = max ? max : 1;
	p->keep = GFS_MIN(keep, p->max);
	p->idle_ms = idle_ms > 0 ? idle_ms : 1000;
	return p;
}

/* Wait for a job; NULL when this thread should exit.  Under p->lock. */
static struct gfs_job *next_job(struct gfs_workpool *p)
{
	struct gfs_job *job;
	struct timespec ts;

	while (!p->head) {
		if (p->closing)
			return NULL;
		ts = gfs_deadline_ts(CLOCK_MONOTONIC, p->idle_ms);
		p->idle++;
		int rc = pthread_cond_timedwait(&p->work, &p->lock, &ts);
		p->idle--;
		if (rc == ETIMEDOUT && !p->head && p->threads > p->keep)
			return NULL;
	}
	job = p->head;
	p->head = job->next;
	if (!p->head)
		p->tail = NULL;
	p->queued--;
	return job;
}

static void *worker(void *arg)
{
	struct gfs_workpool *p = arg;
	struct gfs_job *job;

	pthread_mutex_lock(&p->lock);
	while ((job = next_job(p))) {
		pthread_mutex_unlock(&p->lock);
		job->run(job); /* may free job */
		pthread_mutex_lock(&p->lock);
		p->reserved--;
		if (p->draining && !p->reserved)
			pthread_cond_broadcast(&p->gone);
	}
	p->threads--;
	pthread_cond_broadcast(&p->gone);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* One more thread; under p->lock.  A failure only logs: a running
 * worker will take the job when it is done with its own. */
static void spawn(struct gfs_workpool *p)
{
	pthread_attr_t a;
	pthread_t t;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &a, worker, p) == 0)
		p->threads++;
	else
		gfs_warn("workpool: cannot start a thread (%u running)",
			 p->threads);
	pthread_attr_destroy(&a);
}

bool gfs_workpool_reserve(struct gfs_workpool *p)
{
	bool ok;

	pthread_mutex_lock(&p->lock);
	ok = !p->draining;
	if (ok)
		p->reserved++;
	pthread_mutex_unlock(&p->lock);
	return ok;
}

void gfs_workpool_submit(struct gfs_workpool *p, struct gfs_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&p->lock);
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	p->queued++;
	if (p->idle >= p->queued)
		pthread_cond_signal(&p->work);
	else if (p->threads < p->max || !p->threads)
		spawn(p);
	pthread_mutex_unlock(&p->lock);
}

void gfs_workpool_run(struct gfs_workpool *p, struct gfs_job *job)
{
	if (gfs_workpool_reserve(p))
		gfs_workpool_submit(p, job);
	else
		job->run(job);
}

/* Wait, under p->lock, until *n is 0 (p->gone tells when it drops);
 * logs every DRAIN_LOG_MS meanwhile. */
static void wait_zero(struct gfs_workpool *p, const unsigned *n,
		      const char *what)
{
	struct timespec ts;

	while (*n) {
		ts = gfs_deadline_ts(CLOCK_MONOTONIC, DRAIN_LOG_MS);
		if (pthread_cond_timedwait(&p->gone, &p->lock, &ts) ==
		    ETIMEDOUT)
			gfs_info("workpool: waiting for %u %s", *n, what);
	}
}

void gfs_workpool_drain(struct gfs_workpool *p)
{
	pthread_mutex_lock(&p->lock);
	p->draining = true;
	wait_zero(p, &p->reserved, "running jobs");
	pthread_mutex_unlock(&p->lock);
}

void gfs_workpool_free(struct gfs_workpool *p)
{
	if (!p)
		return;
	gfs_workpool_drain(p);
	pthread_mutex_lock(&p->lock);
	p->closing = true;
	pthread_cond_broadcast(&p->work);
	/* Idle threads leave at once; no job is left to keep one. */
	wait_zero(p, &p->threads, "threads to exit");
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->gone);
	free(p);
}

/* One of p's counts, read under its lock. */
static unsigned count_of(struct gfs_workpool *p, const unsigned *n)
{
	unsigned v;

	pthread_mutex_lock(&p->lock);
	v = *n;
	pthread_mutex_unlock(&p->lock);
	return v;
}

unsigned gfs_workpool_threads(struct gfs_workpool *p)
{
	return count_of(p, &p->threads);
}

unsigned gfs_workpool_jobs(struct gfs_workpool *p)
{
	return count_of(p, &p->reserved);
}
