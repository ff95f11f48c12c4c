/*
 * seen.c - the attributes this mount last told the kernel, per path.
 *
 * Close-to-open: opening a file re-reads its metadata from the master, and
 * when it changed since the kernel cached its attributes, those must be
 * invalidated (or the kernel reads with an old size).  Invalidating every
 * time costs the kernel a getattr round trip per open; remembering what
 * getattr and readdir told it lets open invalidate only what changed.
 *
 * It also knows the names of every inode with several (hard links) that
 * the kernel was told of: the kernel caches attributes per name (libfuse's
 * high-level API gives each name its own node), so a change made through
 * one name must invalidate what it holds for the others (gfs_seen_others).
 *
 * The tables are bounded: past GFS_SEEN_MAX entries they are emptied,
 * which only means some opens invalidate needlessly and some other names
 * show old attributes for up to the attribute timeout.  Protected by
 * their own lock.
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
	uint64_t ino;          /* 0: unknown */
	UT_hash_handle hh;
};

/* The names seen of one inode with nlink > 1. */
struct gfs_seen_inode {
	uint64_t ino;          /* hash key */
	char **paths;          /* owned */
	size_t n, cap;
	UT_hash_handle hh;
};

static void clear_locked(struct gfs_seen *s)
{
	struct gfs_seen_entry *e, *tmp;
	struct gfs_seen_inode *i, *itmp;

	HASH_ITER(hh, s->table, e, tmp) {
		HASH_DEL(s->table, e);
		free(e->path);
		free(e);
	}
	HASH_ITER(hh, s->inodes, i, itmp) {
		HASH_DEL(s->inodes, i);
		while (i->n)
			free(i->paths[--i->n]);
		free(i->paths);
		free(i);
	}
}

/* Remember path as a name of ino. */
static void add_name_locked(struct gfs_seen *s, uint64_t ino,
			    const char *path)
{
	struct gfs_seen_inode *i;
	size_t k;

	HASH_FIND(hh, s->inodes, &ino, sizeof(ino), i);
	if (!i) {
		i = gfs_xcalloc(1, sizeof(*i));
		i->ino = ino;
		HASH_ADD(hh, s->inodes, ino, sizeof(i->ino), i);
	}
	for (k = 0; k < i->n; k++)
		if (!strcmp(i->paths[k], path))
			return;
	if (i->n == i->cap) {
		i->cap = i->cap ? 2 * i->cap : 4;
		i->paths = gfs_xrealloc(i->paths, i->cap * sizeof(*i->paths));
	}
	i->paths[i->n++] = gfs_xstrdup(path);
}

void gfs_seen_init(struct gfs_seen *s)
{
	pthread_mutex_init(&s->lock, NULL);
	s->table = NULL;
	s->inodes = NULL;
}

void gfs_seen_free(struct gfs_seen *s)
{
	clear_locked(s);
	pthread_mutex_destroy(&s->lock);
}

void gfs_seen_note(struct gfs_seen *s, const char *path, uint64_t size,
		   int64_t mtime_ns, uint64_t ino, uint32_t nlink)
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
	e->ino = ino;
	if (ino && nlink > 1)
		add_name_locked(s, ino, path);
	pthread_mutex_unlock(&s->lock);
}

char **gfs_seen_others(struct gfs_seen *s, const char *path, size_t *n)
{
	struct gfs_seen_entry *e;
	struct gfs_seen_inode *i = NULL;
	char **out = NULL;
	size_t k;

	*n = 0;
	pthread_mutex_lock(&s->lock);
	HASH_FIND_STR(s->table, path, e);
	if (e && e->ino)
		HASH_FIND(hh, s->inodes, &e->ino, sizeof(e->ino), i);
	if (i)
		out = gfs_xcalloc(i->n + 1, sizeof(*out));
	for (k = 0; i && k < i->n; k++)
		if (strcmp(i->paths[k], path))
			out[(*n)++] = gfs_xstrdup(i->paths[k]);
	pthread_mutex_unlock(&s->lock);
	return out;
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
