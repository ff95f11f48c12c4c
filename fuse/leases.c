/*
 * leases.c - leases this mount took with setfattr, and files the master
 * keeps for it (unlinked while open), renewed while mounted.
 *
 * The renewer thread wakes every second or when a lease is added, and
 * renews every lease and kept file past a third of its TTL.  A lease the
 * master no longer grants (expired and taken by another client, or its
 * file gone), or a kept file it no longer has, is dropped from the table
 * and logged.  It also creates on the master the files created here
 * whose create is still deferred after --defer-create (openfiles.c).
 * Network calls happen without m->lock held.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "constants.h"
#include "log.h"
#include "mount.h"
#include "path.h"
#include "util.h"

static void put(struct gfs_mount *m, const char *path, unsigned ttl_s,
		int64_t expires_ms)
{
	struct gfs_held_lease *l;

	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->leases, path, l);
	if (!l) {
		l = gfs_xcalloc(1, sizeof(*l));
		l->path = gfs_xstrdup(path);
		HASH_ADD_KEYPTR(hh, m->leases, l->path, strlen(l->path), l);
	}
	l->ttl_s = ttl_s;
	l->expires_ms = expires_ms;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
}

static void drop(struct gfs_mount *m, const char *path)
{
	struct gfs_held_lease *l;

	pthread_mutex_lock(&m->lock);
	HASH_FIND_STR(m->leases, path, l);
	if (l) {
		HASH_DEL(m->leases, l);
		free(l->path);
		free(l);
	}
	pthread_mutex_unlock(&m->lock);
}

int gfs_leases_acquire(struct gfs_mount *m, const char *path, unsigned ttl_s)
{
	struct gfs_lease got;
	enum gfs_err err = gfs_client_lease(m->client, path, ttl_s, &got);

	if (err)
		return gfs_fuse_errno(err);
	put(m, path, ttl_s ? ttl_s : GFS_LEASE_TTL_S, got.expires_ms);
	gfs_info("leased %s until %lld", path, (long long)got.expires_ms);
	return 0;
}

int gfs_leases_release(struct gfs_mount *m, const char *path)
{
	enum gfs_err err = gfs_client_unlease(m->client, path);

	if (err == GFS_OK || err == GFS_ENOENT)
		drop(m, path);
	if (err == GFS_ENOENT)
		return -ENODATA;
	return gfs_fuse_errno(err);
}

/* O(leases). */
void gfs_leases_rename(struct gfs_mount *m, const char *from, const char *to)
{
	struct gfs_held_lease *l, *tmp, **moved = NULL;
	size_t flen = strlen(from), n = 0, i;

	pthread_mutex_lock(&m->lock);
	HASH_ITER(hh, m->leases, l, tmp) {
		char *p;

		if (!gfs_path_is_under(l->path, from))
			continue;
		HASH_DEL(m->leases, l);
		p = gfs_xasprintf("%s%s", to, l->path + flen);
		free(l->path);
		l->path = p;
		moved = gfs_xrealloc(moved, (n + 1) * sizeof(*moved));
		moved[n++] = l;
	}
	for (i = 0; i < n; i++)
		HASH_ADD_KEYPTR(hh, m->leases, moved[i]->path,
				strlen(moved[i]->path), moved[i]);
	pthread_mutex_unlock(&m->lock);
	free(moved);
}

/* Paths of leases due for renewal (caller frees each and the array). */
static char **due(struct gfs_mount *m, size_t *n, unsigned **ttls)
{
	int64_t now = gfs_now_ns() / 1000000;
	struct gfs_held_lease *l, *tmp;
	char **paths = NULL;

	*n = 0;
	*ttls = NULL;
	HASH_ITER(hh, m->leases, l, tmp) {
		if (l->expires_ms - now > (int64_t)l->ttl_s * 1000 * 2 / 3)
			continue;
		paths = gfs_xrealloc(paths, (*n + 1) * sizeof(*paths));
		*ttls = gfs_xrealloc(*ttls, (*n + 1) * sizeof(**ttls));
		paths[*n] = gfs_xstrdup(l->path);
		(*ttls)[(*n)++] = l->ttl_s;
	}
	return paths;
}

static void renew(struct gfs_mount *m, const char *path, unsigned ttl_s)
{
	struct gfs_lease got;
	enum gfs_err err = gfs_client_lease(m->client, path, ttl_s, &got);

	if (!err) {
		put(m, path, ttl_s, got.expires_ms);
	} else if (err == GFS_ELEASED || err == GFS_ENOENT) {
		gfs_warn("lost the lease on %s: %s", path, gfs_err_str(err));
		drop(m, path);
	} else {
		gfs_warn("cannot renew the lease on %s yet: %s", path,
			 gfs_err_str(err));
	}
}

void gfs_kept_hold(struct gfs_mount *m, uint64_t id)
{
	struct gfs_held_kept *k = gfs_xcalloc(1, sizeof(*k)), *had;

	k->id = id;
	k->holds = 1;
	k->expires_ms = gfs_now_ns() / 1000000 + (int64_t)m->keep_ttl_s * 1000;
	pthread_mutex_lock(&m->lock);
	HASH_FIND(hh, m->kept, &id, sizeof(id), had);
	if (had)
		had->holds++;
	else
		HASH_ADD(hh, m->kept, id, sizeof(k->id), k);
	pthread_mutex_unlock(&m->lock);
	if (had)
		free(k);
}

/* Forget kept file id here (all holds, or with one: one of them);
 * whether it is no longer held. */
static bool unhold(struct gfs_mount *m, uint64_t id, bool one)
{
	struct gfs_held_kept *k;
	bool gone;

	pthread_mutex_lock(&m->lock);
	HASH_FIND(hh, m->kept, &id, sizeof(id), k);
	gone = !k || !one || --k->holds == 0;
	if (k && gone)
		HASH_DEL(m->kept, k);
	pthread_mutex_unlock(&m->lock);
	if (gone)
		free(k);
	return gone;
}

void gfs_kept_release(struct gfs_mount *m, uint64_t id)
{
	enum gfs_err err;

	if (!unhold(m, id, true))
		return; /* another open file holds it still */
	err = gfs_client_kept(m->client, id, true, NULL);
	if (err && err != GFS_ENOENT)
		gfs_warn("cannot drop kept file %016" PRIx64 ": %s (it goes "
			 "when its TTL runs out)", id, gfs_err_str(err));
}

/* Ids of kept files due for renewal (caller frees).  Lock held. */
static uint64_t *kept_due(struct gfs_mount *m, size_t *n)
{
	int64_t now = gfs_now_ns() / 1000000;
	struct gfs_held_kept *k, *tmp;
	uint64_t *ids = NULL;

	*n = 0;
	HASH_ITER(hh, m->kept, k, tmp) {
		if (k->expires_ms - now > (int64_t)m->keep_ttl_s * 1000 * 2 / 3)
			continue;
		ids = gfs_xrealloc(ids, (*n + 1) * sizeof(*ids));
		ids[(*n)++] = k->id;
	}
	return ids;
}

static void renew_kept(struct gfs_mount *m, uint64_t id)
{
	enum gfs_err err;
	int64_t expires = 0;
	struct gfs_held_kept *k;

	err = gfs_client_kept(m->client, id, false, &expires);
	if (err == GFS_ENOENT) {
		gfs_warn("kept file %016" PRIx64 " is gone: its data may not "
			 "read any more", id);
		unhold(m, id, false);
		return;
	}
	if (err) {
		gfs_warn("cannot renew kept file %016" PRIx64 " yet: %s", id,
			 gfs_err_str(err));
		return;
	}
	pthread_mutex_lock(&m->lock);
	HASH_FIND(hh, m->kept, &id, sizeof(id), k);
	if (k)
		k->expires_ms = expires;
	pthread_mutex_unlock(&m->lock);
}

static void *renewer(void *arg)
{
	struct gfs_mount *m = arg;

	pthread_mutex_lock(&m->lock);
	while (!m->stopping) {
		struct timespec ts;
		unsigned *ttls;
		char **paths;
		size_t n, i;

		uint64_t *ids;
		size_t nk;

		paths = due(m, &n, &ttls);
		ids = kept_due(m, &nk);
		pthread_mutex_unlock(&m->lock);
		for (i = 0; i < n; i++) {
			renew(m, paths[i], ttls[i]);
			free(paths[i]);
		}
		for (i = 0; i < nk; i++)
			renew_kept(m, ids[i]);
		gfs_openfiles_materialize_old(m);
		free(paths);
		free(ttls);
		free(ids);
		pthread_mutex_lock(&m->lock);
		ts = gfs_deadline_ts(CLOCK_REALTIME, 1000);
		if (!m->stopping)
			pthread_cond_timedwait(&m->wake, &m->lock, &ts);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

void gfs_leases_start(struct gfs_mount *m)
{
	if (pthread_create(&m->renewer, NULL, renewer, m) == 0)
		m->renewer_started = true;
	else
		gfs_error("cannot start the lease renewer");
}

void gfs_leases_stop(struct gfs_mount *m)
{
	struct gfs_held_lease *l, *tmp;

	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_signal(&m->wake);
	pthread_mutex_unlock(&m->lock);
	if (m->renewer_started)
		pthread_join(m->renewer, NULL);
	m->renewer_started = false;
	/* Unmounting gives our kept files and leases back rather than let
	 * them expire. */
	while (m->kept) {
		m->kept->holds = 1;
		gfs_kept_release(m, m->kept->id);
	}
	HASH_ITER(hh, m->leases, l, tmp) {
		gfs_client_unlease(m->client, l->path);
		HASH_DEL(m->leases, l);
		free(l->path);
		free(l);
	}
}
