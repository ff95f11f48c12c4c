/*
 * preplace.c - pre-placed chunks a client holds for the new files it
 * will create (docs/CLIENT.md, "Deferred creates").
 *
 * For: a small batch of fresh chunk handles with their replicas and
 * write tokens, taken from the master with one POST /chunks (ext) and
 * handed out one per new file, so that a small file's data goes first
 * and its create rides on its commit: one master round per file instead
 * of two.  Not for: writing (file.c) or deciding when a create may wait
 * (the caller: gfs_file_open() with GFS_O_DEFER).
 *
 * Invariants: a handle is handed out once, and only while both the
 * master's hold on it (ttl_ms) and its token have at least half their
 * life left; an old master (no POST /chunks) or one without room turns
 * the batch off for a while, and callers then create as before.
 *
 * Locking: p->lock protects everything in struct gfs_preplace; a refill
 * calls the master with it held, so that threads creating at once wait
 * for one refill instead of each asking for a batch.  That call has the
 * client's deadline.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"
#include "json.h"
#include "log.h"
#include "token.h"
#include "util.h"

#define BATCH 16              /* handles asked for at a time */
#define OFF_OLD_MS 60000      /* a master without POST /chunks */
#define OFF_FULL_MS 1000      /* no room, or the call failed */

struct gfs_preplace {
	pthread_mutex_t lock;
	struct gfs_preplaced v[BATCH]; /* v[0..n) unused, oldest last */
	size_t n;
	int64_t off_until_ms;         /* monotonic: no refill before */
};

struct gfs_preplace *gfs_preplace_new(void)
{
	struct gfs_preplace *p = gfs_xcalloc(1, sizeof(*p));

	pthread_mutex_init(&p->lock, NULL);
	return p;
}

void gfs_preplace_free(struct gfs_preplace *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* One chunk of a POST /chunks reply into *out; false when malformed. */
static bool parse_one(struct gfs_client *c, json_t *j, uint64_t chunk_size,
		      int64_t hold_ms, struct gfs_preplaced *out)
{
	const char *tok = NULL;
	int64_t life = hold_ms, now = gfs_mono_ms();
	json_t *r;
	size_t i;

	memset(out, 0, sizeof(*out));
	if (gfs_json_handle(j, "handle", true, &out->handle) ||
	    gfs_json_str(j, "token", false, &tok) || !out->handle)
		return false;
	json_array_foreach(json_object_get(j, "replicas"), i, r)
		if (json_is_string(r) && out->nreplicas < GFS_PREPLACED_MAX)
			out->replicas[out->nreplicas++] =
				gfs_client_intern(c, json_string_value(r));
	if (tok) {
		snprintf(out->token, sizeof(out->token), "%s", tok);
		life = GFS_MIN(life, gfs_token_expires(tok) * 1000 -
					     gfs_now_ns() / 1000000);
	}
	out->chunk_size = chunk_size;
	out->use_by_ms = now + life / 2;
	return out->nreplicas > 0;
}

/* Ask the master for a batch.  Lock held. */
static void refill(struct gfs_client *c, struct gfs_preplace *p)
{
	json_t *body = json_pack("{s:i}", "count", BATCH), *j = NULL, *one;
	uint64_t chunk_size = 0, ttl_ms = 0;
	enum gfs_err err = gfs_client_call(c, "POST", "/chunks", body, &j);
	size_t i, n;

	json_decref(body);
	if (!err && (gfs_json_u64(j, "chunk_size", true, &chunk_size) ||
		     gfs_json_u64(j, "ttl_ms", true, &ttl_ms) || !chunk_size))
		err = GFS_EIO;
	n = err ? 0 : json_array_size(json_object_get(j, "chunks"));
	/* oldest last: taken from the end, so the freshest stay longest */
	for (i = 0; i < n && p->n < BATCH; i++) {
		one = json_array_get(json_object_get(j, "chunks"), n - 1 - i);
		if (parse_one(c, one, chunk_size, (int64_t)ttl_ms,
			      &p->v[p->n]))
			p->n++;
	}
	if (j)
		json_decref(j);
	if (!p->n) {
		p->off_until_ms = gfs_mono_ms() + (err == GFS_ENOENT
						   ? OFF_OLD_MS : OFF_FULL_MS);
		gfs_debug("no pre-placed chunks (%s): new files are created "
			  "at open", gfs_err_str(err ? err : GFS_ENOSPC));
	}
}

bool gfs_preplace_take(struct gfs_client *c, struct gfs_preplaced *out)
{
	struct gfs_preplace *p = c->pre;
	bool got = false;

	pthread_mutex_lock(&p->lock);
	while (p->n && p->v[p->n - 1].use_by_ms <= gfs_mono_ms())
		p->n--; /* the oldest first: the master forgets them */
	if (!p->n && gfs_mono_ms() >= p->off_until_ms)
		refill(c, p);
	if (p->n) {
		*out = p->v[--p->n];
		got = true;
	}
	pthread_mutex_unlock(&p->lock);
	return got;
}
