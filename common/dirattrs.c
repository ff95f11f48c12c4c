/*
 * dirattrs.c - the attributes of the directories a client's own last
 * mutation changed, as the master's reply gave them ("parents", ext).
 *
 * For: answering the stat of such a directory that follows the mutation
 * without a master round trip.  The kernel drops a FUSE directory's
 * attributes after every create, unlink, rename or mkdir in it and asks
 * for them again before the next lookup there (default_permissions
 * needs its mode), so a mount that removes or creates files one after
 * another would ask the master for the directory once per file
 * (docs/PERFORMANCE.md).  Not for: files, listings, or anything older
 * than the window.
 *
 * Invariants: an entry is served only within window_ms of the reply that
 * carried it (the caller's staleness budget toward other clients).  A
 * reply is kept only when no other mutation of this client began or
 * ended between its start and its end, and every start and every other
 * end empties the table: so what it holds shows every change of this
 * client acknowledged before it is read (one that began earlier and is
 * still under way clears it when it ends).
 *
 * Locking: d->lock protects everything in struct gfs_dirattrs; held for
 * a few string compares and copies, never across a call.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "json.h"
#include "util.h"

#define ENTRIES 2 /* a rename changes at most two directories */

struct dirattr {
	char *path;            /* owned; NULL: unused */
	struct gfs_stat st;
	int64_t at_us;         /* monotonic: when the reply came */
};

struct gfs_dirattrs {
	pthread_mutex_t lock;
	long window_ms;        /* read-only; 0: nothing is kept */
	uint64_t gen;          /* moves at every start, and at every end
				* that stores nothing */
	struct dirattr e[ENTRIES];
};

struct gfs_dirattrs *gfs_dirattrs_new(long window_ms)
{
	struct gfs_dirattrs *d = gfs_xcalloc(1, sizeof(*d));

	pthread_mutex_init(&d->lock, NULL);
	d->window_ms = window_ms > 0 ? window_ms : 0;
	return d;
}

static void clear_locked(struct gfs_dirattrs *d)
{
	for (size_t i = 0; i < ENTRIES; i++) {
		free(d->e[i].path);
		d->e[i].path = NULL;
	}
}

void gfs_dirattrs_free(struct gfs_dirattrs *d)
{
	if (!d)
		return;
	clear_locked(d);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

uint64_t gfs_dirattrs_begin(struct gfs_dirattrs *d)
{
	uint64_t ticket;

	if (!d->window_ms)
		return 0;
	pthread_mutex_lock(&d->lock);
	ticket = ++d->gen;
	clear_locked(d);
	pthread_mutex_unlock(&d->lock);
	return ticket;
}

/* Keep the directory entries of parents (borrowed; at most ENTRIES).
 * Lock held. */
static void store_locked(struct gfs_dirattrs *d, json_t *parents)
{
	int64_t now = gfs_mono_us();
	const char *path;
	size_t i, n = 0;
	json_t *p;

	json_array_foreach(parents, i, p) {
		if (n == ENTRIES || gfs_json_str(p, "path", true, &path))
			break;
		gfs_client_parse_stat(p, &d->e[n].st);
		if (!d->e[n].st.is_dir)
			break;
		d->e[n].path = gfs_xstrdup(path);
		d->e[n++].at_us = now;
	}
}

void gfs_dirattrs_end(struct gfs_dirattrs *d, uint64_t ticket,
		      json_t *reply)
{
	json_t *parents = reply ? json_object_get(reply, "parents") : NULL;

	if (!d->window_ms)
		return;
	pthread_mutex_lock(&d->lock);
	clear_locked(d);
	if (json_is_array(parents) && d->gen == ticket)
		store_locked(d, parents);
	else
		d->gen++;
	pthread_mutex_unlock(&d->lock);
}

bool gfs_dirattrs_find(struct gfs_dirattrs *d, const char *path,
		       struct gfs_stat *st)
{
	int64_t oldest;
	bool found = false;

	if (!d->window_ms)
		return false;
	oldest = gfs_mono_us() - (int64_t)d->window_ms * 1000;
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < ENTRIES && !found; i++) {
		found = d->e[i].path && d->e[i].at_us >= oldest &&
			!strcmp(d->e[i].path, path);
		if (found)
			*st = d->e[i].st;
	}
	pthread_mutex_unlock(&d->lock);
	return found;
}
