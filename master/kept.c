/*
 * kept.c - files unlinked while open; see kept.h.
 *
 * A uthash table by id.  Expiry is found by a scan (O(kept files)): there
 * are as many as files unlinked while open on some client, a
 * handful, and the scan runs at most once per tick.
 */
#include <stdlib.h>

#include "kept.h"
#include "util.h"

struct gfs_kept *gfs_kept_add(struct gfs_kept_set *t, uint64_t id,
				  struct gfs_node *node, const char *holder,
				  int64_t expires_ms, uint32_t ttl)
{
	struct gfs_kept *o = gfs_xcalloc(1, sizeof(*o));

	o->id = id;
	o->node = node;
	o->holder = gfs_xstrdup(holder);
	o->expires_ms = expires_ms;
	o->ttl = ttl;
	HASH_ADD(hh, t->by_id, id, sizeof(o->id), o);
	t->count++;
	return o;
}

struct gfs_kept *gfs_kept_find(struct gfs_kept_set *t, uint64_t id)
{
	struct gfs_kept *o = NULL;

	HASH_FIND(hh, t->by_id, &id, sizeof(id), o);
	return o;
}

struct gfs_kept *gfs_kept_expired(struct gfs_kept_set *t, int64_t now_ms)
{
	struct gfs_kept *o, *tmp;

	HASH_ITER(hh, t->by_id, o, tmp)
		if (o->expires_ms < now_ms)
			return o;
	return NULL;
}

struct gfs_node *gfs_kept_remove(struct gfs_kept_set *t,
				   struct gfs_kept *o)
{
	struct gfs_node *n = o->node;

	HASH_DELETE(hh, t->by_id, o);
	t->count--;
	free(o->holder);
	free(o);
	return n;
}

void gfs_kept_each(struct gfs_kept_set *t,
		     void (*fn)(void *cls, const struct gfs_kept *o),
		     void *cls)
{
	struct gfs_kept *o, *tmp;

	HASH_ITER(hh, t->by_id, o, tmp)
		fn(cls, o);
}
