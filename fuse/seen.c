/*
 * seen.c - the attributes this mount last told the kernel, per path.
 *
 * Close-to-open: opening a file re-reads its metadata from the master, and
 * when it changed since the kernel cached its attributes, those must be
 * invalidated (or the kernel reads with an old size).  Invalidating every
 * time costs the kernel a getattr round trip per open; remembering what
 * getattr and readdir told it lets open invalidate only what changed.
 *
 * The table is bounded: past GFS_SEEN_MAX entries it is emptied, which
 * only means some opens invalidate needlessly.  Protected by its own lock.
 */
#include <stdlib.h>
#include <string.h>

#include "mount.h"
#include "util.h"

#define GFS_SEEN_MAX 65536

struct gfs_seen_entry {
	char *path;            /* hash key, owned */
	uint64_t size;
	int64_t mtime_ns;
	UT_hash_handle hh;
};

static void clear_locked(struct gfs_seen *s)
{
	struct gfs_seen_entry *e, *tmp;

	HASH_ITER(hh, s->table, e, tmp) {
		HASH_DEL(s->table, e);
		free(e->path);
		free(e);
	}
}

void gfs_seen_init(struct gfs_seen *s)
{
	pthread_mutex_init(&s->lock, NULL);
	s->table = NULL;
}

void gfs_seen_free(struct gfs_seen *s)
{
	clear_locked(s);
	pthread_mutex_destroy(&s->lock);
}

void gfs_seen_note(struct gfs_seen *s, const char *path, uint64_t size,
		   int64_t mtime_ns)
{
	struct gfs_seen_entry *e;

	pthread_mutex_lock(&s->lock);
	HASH_FIND_STR(s->table, path, e);
	if (!e) {
		if (HASH_COUNT(s->table) >= GFS_SEEN_MAX)
			clear_locked(s);
		e = gfs_xcalloc(1, sizeof(*e));
		e->path = gfs_xstrdup(path);
		HASH_ADD_KEYPTR(hh, s->table, e->path, strlen(e->path), e);
	}
	e->size = size;
	e->mtime_ns = mtime_ns;
	pthread_mutex_unlock(&s->lock);
}

bool gfs_seen_same(struct gfs_seen *s, const char *path, uint64_t size,
		   int64_t mtime_ns)
{
	struct gfs_seen_entry *e;
	bool same;

	pthread_mutex_lock(&s->lock);
	HASH_FIND_STR(s->table, path, e);
	same = e && e->size == size && e->mtime_ns == mtime_ns;
	pthread_mutex_unlock(&s->lock);
	return same;
}
