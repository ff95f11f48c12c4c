/*
 * window.c - bytes kept until acknowledged, in blocks from a shared
 * budget (see window.h).
 *
 * For: common/file.c, which keeps each PUT's bytes here when it cannot
 * read them again from where they came from.
 * Not for: anything that needs the bytes after their PUT is
 * acknowledged; a window is cleared then.
 *
 * Idle blocks form a free list linked through their first bytes, so the
 * pool needs no memory of its own beyond the blocks.  Cost: one lock
 * per block taken or given back (one per 256 KiB written).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "window.h"

struct gfs_window_pool {
	pthread_mutex_t lock;  /* protects the fields below */
	char *idle;            /* free list, linked through the blocks */
	size_t nidle;          /* blocks on it */
	size_t used;           /* blocks lent to windows */
	size_t budget;         /* blocks lent beyond first blocks, and
				* lent + idle kept */
};

struct gfs_window_pool *gfs_window_pool_new(size_t budget)
{
	struct gfs_window_pool *p = gfs_xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	p->budget = (budget + GFS_WINDOW_BLOCK - 1) / GFS_WINDOW_BLOCK;
	if (!p->budget)
		p->budget = 1;
	return p;
}

void gfs_window_pool_free(struct gfs_window_pool *p)
{
	if (!p)
		return;
	while (p->idle) {
		char *b = p->idle;

		memcpy(&p->idle, b, sizeof(p->idle));
		free(b);
	}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

size_t gfs_window_pool_used(struct gfs_window_pool *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->used;
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* A block for a window that has `have` already, or NULL: the first one
 * is always granted, any other only while the budget lasts. */
static char *take_block(struct gfs_window_pool *p, size_t have)
{
	char *b = NULL;

	pthread_mutex_lock(&p->lock);
	if (have && p->used >= p->budget) {
		pthread_mutex_unlock(&p->lock);
		return NULL;
	}
	p->used++;
	if (p->idle) {
		b = p->idle;
		memcpy(&p->idle, b, sizeof(p->idle));
		p->nidle--;
	}
	pthread_mutex_unlock(&p->lock);
	return b ? b : gfs_xmalloc(GFS_WINDOW_BLOCK);
}

static void give_block(struct gfs_window_pool *p, char *b)
{
	bool keep;

	pthread_mutex_lock(&p->lock);
	p->used--;
	keep = p->used + p->nidle < p->budget;
	if (keep) {
		memcpy(b, &p->idle, sizeof(p->idle));
		p->idle = b;
		p->nidle++;
	}
	pthread_mutex_unlock(&p->lock);
	if (!keep)
		free(b);
}

size_t gfs_window_append(struct gfs_window_pool *p, struct gfs_window *w,
			 const void *buf, size_t len)
{
	const char *src = buf;
	size_t done = 0;

	while (done < len) {
		size_t at = (size_t)(w->len % GFS_WINDOW_BLOCK);
		size_t n = GFS_MIN(len - done, (size_t)GFS_WINDOW_BLOCK - at);
		char *b;

		if (at == 0) { /* every block is full: another one */
			b = take_block(p, w->n);
			if (!b)
				break;
			if (w->n == w->cap) {
				w->cap = w->cap ? 2 * w->cap : 16;
				w->blocks = gfs_xrealloc(
					w->blocks, w->cap * sizeof(*w->blocks));
			}
			w->blocks[w->n++] = b;
		}
		memcpy(w->blocks[w->n - 1] + at, src + done, n);
		w->len += n;
		done += n;
	}
	return done;
}

enum gfs_err gfs_window_each(const struct gfs_window *w, uint64_t off,
			     enum gfs_err (*fn)(void *cls, const char *buf,
						size_t len),
			     void *cls)
{
	enum gfs_err err = GFS_OK;

	while (off < w->len && !err) {
		size_t i = (size_t)(off / GFS_WINDOW_BLOCK);
		size_t at = (size_t)(off % GFS_WINDOW_BLOCK);
		size_t n = (size_t)GFS_MIN(w->len - off,
					   (uint64_t)(GFS_WINDOW_BLOCK - at));

		err = fn(cls, w->blocks[i] + at, n);
		off += n;
	}
	return err;
}

void gfs_window_clear(struct gfs_window_pool *p, struct gfs_window *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		give_block(p, w->blocks[i]);
	free(w->blocks);
	memset(w, 0, sizeof(*w));
}
