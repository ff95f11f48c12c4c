/*
 * scrub.c - verify idle chunks in the background (see scrub.h).
 *
 * Cost: the configured rate of disk reads plus CRC32C over them; pages
 * read for scrubbing are dropped from the page cache afterwards
 * (POSIX_FADV_DONTNEED) so a pass does not evict what readers use.
 * Listing the idle chunks is O(chunks) under the store's lock, once per
 * pass.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "chunkstore.h"
#include "constants.h"
#include "log.h"
#include "scrub.h"
#include "util.h"

/* Read this much at a time. */
#define STEP_BLOCKS 16u
/* A chunk used within this long is not scrubbed (its readers check it). */
#define IDLE_MS 10000

struct gfs_scrub {
	struct gfs_chunkstore *store;  /* borrowed */
	uint64_t interval_ms;          /* between pass starts, > 0 */
	uint64_t rate;                 /* bytes per second, > 0 */
	pthread_t thread;              /* the scrubber */
	pthread_mutex_t lock;
	pthread_cond_t cond;           /* stop */
	bool stop;                     /* under lock */
	bool joined;                   /* the thread is gone */
	struct gfs_scrub_counts counts; /* under lock */
	char *buf;                     /* STEP_BLOCKS blocks, owned */
};

/* Sleep until monotonic time `until` (ms) or stop; false on stop. */
static bool sleep_until(struct gfs_scrub *sc, int64_t until)
{
	struct timespec ts;
	int64_t left = until - gfs_mono_ms();
	bool go_on;

	ts = gfs_deadline_ts(CLOCK_REALTIME, GFS_MAX(left, 0));
	pthread_mutex_lock(&sc->lock);
	while (!sc->stop && left > 0 &&
	       pthread_cond_timedwait(&sc->cond, &sc->lock, &ts) == 0)
		;
	go_on = !sc->stop;
	pthread_mutex_unlock(&sc->lock);
	return go_on;
}

/* Verify one chunk; false when stopped.  *bytes counts what was read,
 * *t_ms paces it. */
static bool scrub_chunk(struct gfs_scrub *sc, uint64_t handle, int64_t *t_ms)
{
	struct gfs_chunk_view *v;
	enum gfs_err err;
	uint32_t b;
	size_t got;
	bool bad = false;

	if (gfs_chunkstore_get_view(sc->store, handle, true, &v))
		return true; /* gone, or quarantined while loading */
	for (b = 0, err = GFS_OK; b < v->nblocks && !err; b += STEP_BLOCKS) {
		uint32_t n = GFS_MIN(STEP_BLOCKS, v->nblocks - b);

		err = gfs_chunkstore_read_blocks(sc->store, v, b, n, sc->buf,
						 &got);
		bad = err == GFS_ECORRUPT; /* else unread now: next pass */
		posix_fadvise(v->fd, (off_t)(v->base + (uint64_t)b * GFS_BLOCK_SIZE),
			      (off_t)got,
			      POSIX_FADV_DONTNEED);
		pthread_mutex_lock(&sc->lock);
		sc->counts.bytes += got;
		sc->counts.corrupt += bad;
		pthread_mutex_unlock(&sc->lock);
		*t_ms += (int64_t)(got * 1000 / sc->rate);
		if (!sleep_until(sc, *t_ms)) {
			gfs_chunkstore_put_view(sc->store, v);
			return false;
		}
	}
	gfs_chunkstore_put_view(sc->store, v);
	pthread_mutex_lock(&sc->lock);
	sc->counts.chunks++;
	pthread_mutex_unlock(&sc->lock);
	return true;
}

static bool pass(struct gfs_scrub *sc)
{
	int64_t idle = (int64_t)GFS_MIN((uint64_t)IDLE_MS, sc->interval_ms);
	uint64_t *handles;
	size_t n = gfs_chunkstore_idle_chunks(sc->store, idle, &handles), i;
	int64_t t = gfs_mono_ms();
	bool go_on = true;

	for (i = 0; i < n && go_on; i++)
		go_on = scrub_chunk(sc, handles[i], &t);
	free(handles);
	if (go_on) {
		pthread_mutex_lock(&sc->lock);
		sc->counts.passes++;
		pthread_mutex_unlock(&sc->lock);
	}
	return go_on;
}

static void *scrub_main(void *arg)
{
	struct gfs_scrub *sc = arg;
	int64_t next = gfs_mono_ms() + (int64_t)sc->interval_ms;

	while (sleep_until(sc, next)) {
		next = gfs_mono_ms() + (int64_t)sc->interval_ms;
		if (!pass(sc))
			break;
	}
	return NULL;
}

struct gfs_scrub *gfs_scrub_start(struct gfs_chunkstore *store,
				  uint64_t interval_ms, uint64_t rate)
{
	struct gfs_scrub *sc = gfs_xcalloc(1, sizeof(*sc));

	sc->store = store;
	sc->interval_ms = interval_ms ? interval_ms : 1;
	sc->rate = rate ? rate : 1;
	sc->buf = gfs_xmalloc((size_t)STEP_BLOCKS * GFS_BLOCK_SIZE);
	pthread_mutex_init(&sc->lock, NULL);
	pthread_cond_init(&sc->cond, NULL);
	pthread_create(&sc->thread, NULL, scrub_main, sc);
	return sc;
}

void gfs_scrub_stop(struct gfs_scrub *sc)
{
	if (!sc || sc->joined)
		return;
	pthread_mutex_lock(&sc->lock);
	sc->stop = true;
	pthread_cond_broadcast(&sc->cond);
	pthread_mutex_unlock(&sc->lock);
	pthread_join(sc->thread, NULL);
	sc->joined = true;
}

void gfs_scrub_free(struct gfs_scrub *sc)
{
	if (!sc)
		return;
	gfs_scrub_stop(sc);
	pthread_mutex_destroy(&sc->lock);
	pthread_cond_destroy(&sc->cond);
	free(sc->buf);
	free(sc);
}

void gfs_scrub_counts(struct gfs_scrub *sc, struct gfs_scrub_counts *out)
{
	pthread_mutex_lock(&sc->lock);
	*out = sc->counts;
	pthread_mutex_unlock(&sc->lock);
}
