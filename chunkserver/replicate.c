/*
 * replicate.c - background copies of chunks (see replicate.h).
 *
 * Invariants (under r->lock): a handle is at most once in the queue or in
 * a worker's hands; the queue holds at most MAX_QUEUED orders (the primary
 * repeats what it still wants).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkserver.h"
#include "chunkstore.h"
#include "chunkwrite.h"
#include "fetch.h"
#include "log.h"
#include "path.h"
#include "replicate.h"
#include "util.h"

#define MAX_WORKERS 4
#define MAX_QUEUED 1024
#define MAX_SOURCES 16
#define WAIT_BUSY_MS 5000
#define MAX_FAILED 64            /* failures awaiting a report */

/* One order. */
struct job {
	uint64_t handle, version, length; /* what to copy */
	char *sources[MAX_SOURCES];  /* where from, in order; owned */
	size_t n;                    /* sources given */
	struct job *next;            /* queue link */
};

struct gfs_replicate {
	struct gfs_chunkserver *cs;      /* borrowed */
	pthread_mutex_t lock;
	pthread_cond_t cond;             /* work queued, or stop */
	struct job *head, *tail;         /* the queue, under lock */
	size_t queued;
	uint64_t active[MAX_WORKERS];    /* handles being copied, 0 none */
	atomic_bool stop;                /* read by the copy loop too */
	pthread_t threads[MAX_WORKERS]; /* the workers */
	unsigned nthreads;               /* how many */
	struct gfs_replicate_counts counts; /* under lock */
	uint64_t failed[MAX_FAILED];     /* copies given up, not reported */
	size_t nfailed;
	void (*on_fail)(void *cls);      /* a copy failed: report it soon */
	void *on_fail_cls;
};

/* A worker's start argument (freed by the worker). */
struct worker {
	struct gfs_replicate *r;     /* borrowed */
	unsigned index;              /* its slot in r->active */
};

static void job_free(struct job *j)
{
	for (size_t i = 0; i < j->n; i++)
		free(j->sources[i]);
	free(j);
}

/* True when a local copy at version or newer exists. */
static bool have_it(struct gfs_replicate *r, const struct job *j)
{
	struct gfs_chunk_view *v;
	bool have = false;

	if (gfs_chunkstore_get_view(r->cs->store, j->handle, true, &v) ==
	    GFS_OK) {
		have = v->version >= j->version;
		gfs_chunkstore_put_view(r->cs->store, v);
	}
	return have;
}

/* The sink's state while one copy streams in. */
struct copy {
	struct gfs_replicate *r;     /* borrowed */
	struct gfs_chunkwrite *w;    /* the local write, owned by copy() */
};

static enum gfs_err copy_sink(void *cls, const void *buf, size_t len)
{
	struct copy *c = cls;

	if (atomic_load(&c->r->stop))
		return GFS_EUNAVAIL;
	return gfs_chunkwrite_data(c->w, buf, len);
}

/* Carry out one order; true when the chunk is here now. */
static bool copy(struct gfs_replicate *r, const struct job *j)
{
	struct gfs_chunkwrite_args a = {
		.handle = j->handle, .version = j->version,
		.size = (int64_t)j->length, .replace = true,
		.wait_ms = WAIT_BUSY_MS,
	};
	struct copy c = { .r = r };
	struct gfs_fetch_from from = { r->cs->http, r->cs->auth };
	char hex[17], msg[200] = "";
	int64_t t0 = gfs_mono_ms();
	uint64_t len = 0;
	enum gfs_err err;

	gfs_handle_fmt(j->handle, hex);
	if (have_it(r, j)) {
		/* The primary would not order a copy here if it listed this
		 * replica: it missed our report of it, and waits for one.
		 * Silent, this copy would end at the primary's timeout and
		 * be ordered again, here again as like as not. */
		gfs_chunkstore_report_again(r->cs->store, j->handle);
		gfs_info("chunk %s: ordered v%llu, held already: reporting "
			 "it again", hex, (unsigned long long)j->version);
		return true;
	}
	err = gfs_chunkwrite_begin(r->cs->store, &a, &c.w, msg, sizeof(msg));
	if (!err)
		err = gfs_fetch_chunk(&from, (const char *const *)j->sources,
				      j->n,
				      j->handle, j->version, j->length,
				      copy_sink, &c, msg, sizeof(msg));
	if (!err)
		err = gfs_chunkwrite_commit(c.w, &len);
	if (err && c.w && !msg[0])
		snprintf(msg, sizeof(msg), "%s", gfs_chunkwrite_error(c.w));
	gfs_chunkwrite_free(c.w);
	if (err) {
		gfs_warn("replication of chunk %s v%llu failed: %s", hex,
			 (unsigned long long)j->version,
			 msg[0] ? msg : gfs_err_str(err));
		return false;
	}
	gfs_info("replicated chunk %s v%llu (%llu bytes) from %s in %lld ms",
		 hex, (unsigned long long)j->version, (unsigned long long)len,
		 j->sources[0], (long long)(gfs_mono_ms() - t0));
	return true;
}

static struct job *next_job(struct gfs_replicate *r, unsigned index)
{
	struct job *j;

	pthread_mutex_lock(&r->lock);
	while (!atomic_load(&r->stop) && !r->head)
		pthread_cond_wait(&r->cond, &r->lock);
	j = atomic_load(&r->stop) ? NULL : r->head;
	if (j) {
		r->head = j->next;
		if (!r->head)
			r->tail = NULL;
		r->queued--;
		r->active[index] = j->handle;
	}
	pthread_mutex_unlock(&r->lock);
	return j;
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct gfs_replicate *r = wk->r;
	struct job *j;

	while ((j = next_job(r, wk->index))) {
		bool ok = copy(r, j);

		pthread_mutex_lock(&r->lock);
		r->active[wk->index] = 0;
		if (ok) {
			r->counts.done++;
			r->counts.bytes += j->length;
		} else {
			r->counts.failed++;
			/* full: the master finds out by its copy timeout */
			if (r->nfailed < MAX_FAILED)
				r->failed[r->nfailed++] = j->handle;
		}
		pthread_mutex_unlock(&r->lock);
		if (!ok && r->on_fail)
			r->on_fail(r->on_fail_cls);
		job_free(j);
	}
	free(wk);
	return NULL;
}

struct gfs_replicate *gfs_replicate_start(struct gfs_chunkserver *cs,
					  unsigned workers,
					  void (*on_fail)(void *cls),
					  void *cls)
{
	struct gfs_replicate *r = gfs_xcalloc(1, sizeof(*r));
	unsigned i;

	r->cs = cs;
	r->on_fail = on_fail;
	r->on_fail_cls = cls;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	atomic_init(&r->stop, false);
	r->nthreads = GFS_MIN(GFS_MAX(workers, 1u), (unsigned)MAX_WORKERS);
	for (i = 0; i < r->nthreads; i++) {
		struct worker *wk = gfs_xcalloc(1, sizeof(*wk));

		wk->r = r;
		wk->index = i;
		pthread_create(&r->threads[i], NULL, worker_main, wk);
	}
	return r;
}

void gfs_replicate_stop(struct gfs_replicate *r)
{
	unsigned i;

	if (!r || atomic_exchange(&r->stop, true))
		return;
	pthread_mutex_lock(&r->lock);
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	for (i = 0; i < r->nthreads; i++)
		pthread_join(r->threads[i], NULL);
}

void gfs_replicate_free(struct gfs_replicate *r)
{
	if (!r)
		return;
	gfs_replicate_stop(r);
	while (r->head) {
		struct job *j = r->head;

		r->head = j->next;
		job_free(j);
	}
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
}

/* Is handle queued or being copied?  O(queue), lock held. */
static bool pending(struct gfs_replicate *r, uint64_t handle)
{
	struct job *j;
	unsigned i;

	for (i = 0; i < r->nthreads; i++)
		if (r->active[i] == handle)
			return true;
	for (j = r->head; j; j = j->next)
		if (j->handle == handle)
			return true;
	return false;
}

bool gfs_replicate_order(struct gfs_replicate *r, uint64_t handle,
			 uint64_t version, uint64_t length,
			 const char *const *sources, size_t n)
{
	struct job *j;
	size_t i;

	if (!n)
		return false;
	pthread_mutex_lock(&r->lock);
	if (atomic_load(&r->stop) || r->queued >= MAX_QUEUED ||
	    pending(r, handle)) {
		pthread_mutex_unlock(&r->lock);
		return false;
	}
	j = gfs_xcalloc(1, sizeof(*j));
	j->handle = handle;
	j->version = version;
	j->length = length;
	for (i = 0; i < n && i < MAX_SOURCES; i++)
		j->sources[j->n++] = gfs_xstrdup(sources[i]);
	if (r->tail)
		r->tail->next = j;
	else
		r->head = j;
	r->tail = j;
	r->queued++;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return true;
}

void gfs_replicate_counts(struct gfs_replicate *r,
			  struct gfs_replicate_counts *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->counts;
	out->queued = r->queued;
	pthread_mutex_unlock(&r->lock);
}

size_t gfs_replicate_take_failed(struct gfs_replicate *r, uint64_t *out,
				 size_t max)
{
	size_t n;

	pthread_mutex_lock(&r->lock);
	n = GFS_MIN(max, r->nfailed);
	memcpy(out, r->failed + r->nfailed - n, n * sizeof(*out));
	r->nfailed -= n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

void gfs_replicate_put_failed(struct gfs_replicate *r, const uint64_t *h,
			      size_t n)
{
	pthread_mutex_lock(&r->lock);
	n = GFS_MIN(n, MAX_FAILED - r->nfailed);
	memcpy(r->failed + r->nfailed, h, n * sizeof(*h));
	r->nfailed += n;
	pthread_mutex_unlock(&r->lock);
}
