/*
 * acks.c - mutations logged in the event thread, waiting to be
 * acknowledged; see acks.h.
 *
 * For: deciding, off the event thread, when a held mutation may be
 * answered.  Not for: making the reply (routes.c, back in the event
 * thread), nor the rules of the decision (oplog.c, isr.c).
 *
 * Invariant: a waiter is on the list until decided, and decided once;
 * done runs after it left the list, with acks->lock dropped, so done may
 * release the request (and free the waiter) at once.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "acks.h"
#include "isr.h"
#include "log.h"
#include "master.h"
#include "oplog.h"
#include "util.h"

/* How often the thread looks while waiters wait: as often as a worker
 * waiting in gfs_isr_wait() wakes to look at the clock. */
#define ACKS_TICK_MS 100

void gfs_acks_init(struct gfs_acks *acks, struct gfs_master *m)
{
	pthread_condattr_t ca;

	memset(acks, 0, sizeof(*acks));
	acks->m = m;
	pthread_mutex_init(&acks->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&acks->cond, &ca);
	pthread_condattr_destroy(&ca);
}

void gfs_acks_destroy(struct gfs_acks *acks)
{
	if (acks->n)
		gfs_error("bug: %zu mutations still wait at exit", acks->n);
	pthread_cond_destroy(&acks->cond);
	pthread_mutex_destroy(&acks->lock);
}

/* Is a decided now?  *err then says how.  acks->lock held (it takes the
 * op log's lock, then the in-sync set's, one after the other). */
static bool decided(struct gfs_master *m, struct gfs_ack *a, int64_t *at_ns,
		    enum gfs_err *err)
{
	if (!a->deadline_ms) {
		if (!gfs_oplog_durable(m->log, a->seq)) {
			*err = GFS_ENOTPRIMARY; /* wiped: as gfs_oplog_wait() */
			return gfs_oplog_fenced(m->log);
		}
		a->deadline_ms = gfs_mono_ms() + GFS_ACK_WAIT_MS;
		a->t1_us = a->t0_us ? gfs_mono_us() : 0;
	}
	return gfs_isr_try(&m->isr, a->seq, a->deadline_ms, err, at_ns);
}

/* The ack trace of ops.c's finish(), for the waiters decided here. */
static void trace(const struct gfs_ack *a, enum gfs_err err, int64_t at_ns)
{
	/* where an acknowledgement waited (docs/PERFORMANCE.md) */
	if (a->t0_us && a->t1_us)
		gfs_log(GFS_LOG_DEBUG, "time durable seq=%" PRIu64
			" log=%lldus isr=%lldus", a->seq,
			(long long)(a->t1_us - a->t0_us),
			(long long)(gfs_mono_us() - a->t1_us));
	if (!err && a->epoch)
		gfs_log(GFS_LOG_DEBUG, "ack epoch=%" PRIu64 " seq=%" PRIu64
			" mono_ns=%" PRId64, a->epoch, a->seq, at_ns);
}

void gfs_acks_check(struct gfs_acks *acks)
{
	struct gfs_ack *a, **pp, *done = NULL, *next;
	enum gfs_err err;
	int64_t at_ns;

	pthread_mutex_lock(&acks->lock);
	for (pp = &acks->head; (a = *pp);) {
		at_ns = 0;
		if (!decided(acks->m, a, &at_ns, &err)) {
			pp = &a->next;
			continue;
		}
		*pp = a->next;
		acks->n--;
		trace(a, err, at_ns);
		a->err = err;
		a->next = done;
		done = a;
	}
	pthread_mutex_unlock(&acks->lock);
	for (a = done; a; a = next) {
		next = a->next;
		a->done(a, a->err);
	}
}

void gfs_acks_add(struct gfs_acks *acks, struct gfs_ack *a)
{
	enum gfs_err err;
	int64_t at_ns = 0;
	bool now;

	a->deadline_ms = 0;
	a->t0_us = gfs_log_enabled(GFS_LOG_DEBUG) ? gfs_mono_us() : 0;
	a->t1_us = 0;
	pthread_mutex_lock(&acks->lock);
	now = decided(acks->m, a, &at_ns, &err); /* a retry's, say */
	if (now) {
		trace(a, err, at_ns);
	} else {
		a->next = acks->head;
		acks->head = a;
		acks->n++;
		if (acks->idle) /* asleep without a timeout */
			pthread_cond_signal(&acks->cond);
	}
	pthread_mutex_unlock(&acks->lock);
	if (now)
		a->done(a, err);
}

void gfs_acks_kick(void *cls)
{
	struct gfs_acks *acks = cls;

	pthread_mutex_lock(&acks->lock);
	if (acks->n) {
		acks->kicked = true;
		pthread_cond_signal(&acks->cond);
	}
	pthread_mutex_unlock(&acks->lock);
}

void gfs_acks_synced(void *cls)
{
	gfs_acks_check(cls);
}

static void *acks_main(void *arg)
{
	struct gfs_acks *acks = arg;
	struct timespec ts;

	pthread_mutex_lock(&acks->lock);
	while (!acks->stop) {
		if (!acks->n) {
			acks->idle = true;
			pthread_cond_wait(&acks->cond, &acks->lock);
			acks->idle = false;
			continue;
		}
		if (!acks->kicked) {
			ts = gfs_deadline_ts(CLOCK_MONOTONIC, ACKS_TICK_MS);
			pthread_cond_timedwait(&acks->cond, &acks->lock, &ts);
		}
		acks->kicked = false;
		pthread_mutex_unlock(&acks->lock);
		gfs_acks_check(acks);
		pthread_mutex_lock(&acks->lock);
	}
	pthread_mutex_unlock(&acks->lock);
	return NULL;
}

void gfs_acks_start(struct gfs_acks *acks)
{
	pthread_create(&acks->thread, NULL, acks_main, acks);
	acks->started = true;
}

void gfs_acks_stop(struct gfs_acks *acks)
{
	if (!acks->started)
		return;
	pthread_mutex_lock(&acks->lock);
	acks->stop = true;
	pthread_cond_signal(&acks->cond);
	pthread_mutex_unlock(&acks->lock);
	pthread_join(acks->thread, NULL);
	acks->started = false;
}
