/*
 * progress.c - the progress bar of gfs upload and download.
 *
 * For: showing bytes done, rate and time left while a transfer runs.
 * Not for: counting (the client library adds to struct gfs_progress as
 * the bytes move, from any of its threads).
 *
 * A thread of its own draws at once, then reads the counters every
 * DRAW_MS and redraws one line on stderr ("\r" then the text, cleared to
 * the end of the line), so the transfer never waits for the terminal.  Nothing is drawn unless
 * stderr is a terminal: a script or a log file gets no control bytes.
 *
 * Locking: p->lock over p->stop only; the counters are atomics.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "util.h"

#define DRAW_MS 200

/* bytes as "12.0 MiB". */
static void human(char *buf, size_t len, double n)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned i = 0;

	while (n >= 1024 && i < GFS_ARRAY_SIZE(units) - 1) {
		n /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", n, units[i]);
}

void gfs_progress_format(char *buf, size_t len, uint64_t done,
			 uint64_t total, int64_t ms)
{
	double rate = ms > 0 ? (double)done * 1000 / (double)ms : 0;
	char d[32], t[32], r[32];
	uint64_t eta;

	human(d, sizeof(d), (double)done);
	human(r, sizeof(r), rate);
	if (!total) {
		snprintf(buf, len, "%s  %s/s", d, r);
		return;
	}
	human(t, sizeof(t), (double)total);
	eta = rate > 0 && total > done ? (uint64_t)((double)(total - done) /
						    rate) : 0;
	snprintf(buf, len, "%s / %s  %3u%%  %s/s  ETA %u:%02u", d, t,
		 (unsigned)(done >= total ? 100 : done * 100 / total), r,
		 (unsigned)(eta / 60), (unsigned)(eta % 60));
}

static void draw(struct gfs_cli_progress *p)
{
	char text[160];

	gfs_progress_format(text, sizeof(text), atomic_load(&p->count.done),
			    atomic_load(&p->count.total),
			    gfs_mono_ms() - p->start_ms);
	fprintf(stderr, "\r%s  %s\033[K", p->what, text);
	fflush(stderr);
}

static void *draw_loop(void *arg)
{
	struct gfs_cli_progress *p = arg;

	pthread_mutex_lock(&p->lock);
	draw(p); /* at once: the user sees what is going on */
	while (!p->stop) {
		struct timespec ts = gfs_deadline_ts(CLOCK_MONOTONIC, DRAW_MS);

		pthread_cond_timedwait(&p->wake, &p->lock, &ts);
		if (!p->stop)
			draw(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void gfs_progress_start(struct gfs_cli_progress *p, const char *what,
			uint64_t total, bool show)
{
	pthread_condattr_t ca;

	memset(p, 0, sizeof(*p));
	atomic_store(&p->count.total, total);
	p->what = what;
	p->start_ms = gfs_mono_ms();
	if (!show || !isatty(STDERR_FILENO))
		return;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	p->on = !pthread_create(&p->thread, NULL, draw_loop, p);
}

void gfs_progress_stop(struct gfs_cli_progress *p)
{
	if (!p->on)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	fprintf(stderr, "\r\033[K");
	fflush(stderr);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	p->on = false;
}
