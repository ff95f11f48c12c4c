/*
 * csmgr.c - chunkserver registry, heartbeats, orders, re-replication and
 * garbage collection; see csmgr.h.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunks.h"
#include "csmgr.h"
#include "json.h"
#include "log.h"
#include "master.h"
#include "path.h"
#include "placement.h"
#include "util.h"

#define URL_MAX 512
#define ITEMS_MAX (16u << 20) /* handles in one heartbeat */

/* Whether s's locations count: it is alive and not stale (see
 * server_died() and apply_full()). */
static bool counts(const struct gfs_cs *s)
{
	return s->alive && !s->stale;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void gfs_csmgr_init(struct gfs_csmgr *c)
{
	pthread_condattr_t ca;

	memset(c, 0, sizeof(*c));
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->reported, &ca);
	pthread_condattr_destroy(&ca);
}

static void clear_deletes(struct gfs_cs *s)
{
	struct gfs_cs_delete *d, *tmp;

	HASH_ITER(hh, s->deletes, d, tmp) {
		HASH_DEL(s->deletes, d);
		free(d);
	}
}

static void clear_copies(struct gfs_csmgr *c)
{
	struct gfs_copy *k, *tmp;

	HASH_ITER(hh, c->copies, k, tmp) {
		HASH_DEL(c->copies, k);
		free(k);
	}
}

static void clear_orphans(struct gfs_csmgr *c)
{
	struct gfs_orphan *o, *tmp;

	HASH_ITER(hh, c->orphans, o, tmp) {
		HASH_DEL(c->orphans, o);
		free(o);
	}
}

void gfs_csmgr_free(struct gfs_csmgr *c)
{
	size_t i;

	HASH_CLEAR(hh, c->by_url);
	for (i = 0; i < c->n; i++) {
		clear_deletes(c->servers[i]);
		free(c->servers[i]->seen_primary);
		free(c->servers[i]->url);
		free(c->servers[i]);
	}
	free(c->servers);
	clear_copies(c);
	clear_orphans(c);
	for (i = 0; i < GFS_LOC_MAX; i++)
		free(c->sweep.q[i].handles);
	pthread_cond_destroy(&c->reported);
	memset(c, 0, sizeof(*c));
}

void gfs_csmgr_forget(struct gfs_master *m)
{
	struct gfs_csmgr *c = &m->cs;
	size_t i;

	for (i = 0; i < c->n; i++) {
		c->servers[i]->known = false;
		c->servers[i]->stale = false;
		c->servers[i]->nchunks = 0;
		c->servers[i]->copies_in = c->servers[i]->copies_out = 0;
		clear_deletes(c->servers[i]);
	}
	clear_copies(c);
	clear_orphans(c);
	c->sweep.active = false;
}

static struct gfs_cs *find_server(struct gfs_csmgr *c, const char *url)
{
	struct gfs_cs *s = NULL;

	HASH_FIND_STR(c->by_url, url, s);
	return s;
}

static struct gfs_cs *add_server(struct gfs_csmgr *c, const char *url)
{
	struct gfs_cs *s = gfs_xcalloc(1, sizeof(*s));

	s->url = gfs_xstrdup(url);
	s->id = (uint16_t)c->n;
	s->free_bytes = s->total_bytes = s->used_bytes = -1;
	s->primary_age_ms = -1;
	c->servers = gfs_xrealloc(c->servers, (c->n + 1) * sizeof(s));
	c->servers[c->n++] = s;
	HASH_ADD_KEYPTR(hh, c->by_url, s->url, strlen(s->url), s);
	return s;
}

/* ---- heartbeat parsing: everything checked before anything applies ---- */

static bool parse_item(json_t *v, struct gfs_hb_item *it)
{
	json_t *h = json_array_get(v, 0), *ver = json_array_get(v, 1),
	       *len = json_array_get(v, 2);

	if (!json_is_array(v) || json_array_size(v) < 2 ||
	    json_array_size(v) > 3 || !json_is_string(h) ||
	    !gfs_handle_parse(json_string_value(h), &it->handle) ||
	    !json_is_integer(ver) || json_integer_value(ver) < 0 ||
	    json_integer_value(ver) > UINT32_MAX ||
	    (len && (!json_is_integer(len) || json_integer_value(len) < 0 ||
		     json_integer_value(len) > UINT32_MAX)))
		return false;
	it->version = (uint32_t)json_integer_value(ver);
	it->length = len ? (uint32_t)json_integer_value(len) : 0;
	return true;
}

static enum gfs_err parse_items(json_t *body, const char *key,
				struct gfs_hb_item **out, size_t *n)
{
	json_t *a = json_object_get(body, key), *v;
	size_t i;

	if (!a || json_is_null(a))
		return GFS_OK;
	if (!json_is_array(a) || json_array_size(a) > ITEMS_MAX)
		return GFS_EINVAL;
	*out = gfs_xrealloc(*out, (*n + json_array_size(a) + 1) *
					  sizeof(**out));
	json_array_foreach(a, i, v) {
		if (!parse_item(v, &(*out)[*n]))
			return GFS_EINVAL;
		(*n)++;
	}
	return GFS_OK;
}

static enum gfs_err parse_handles(json_t *body, const char *key,
				  uint64_t **out, size_t *n)
{
	json_t *a = json_object_get(body, key), *v;
	size_t i;

	if (!a || json_is_null(a))
		return GFS_OK;
	if (!json_is_array(a) || json_array_size(a) > ITEMS_MAX)
		return GFS_EINVAL;
	*out = gfs_xmalloc((json_array_size(a) + 1) * sizeof(**out));
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) ||
		    !gfs_handle_parse(json_string_value(v), &(*out)[*n]))
			return GFS_EINVAL;
		(*n)++;
	}
	return GFS_OK;
}

static int item_cmp(const void *a, const void *b)
{
	const struct gfs_hb_item *x = a, *y = b;

	return (x->handle > y->handle) - (x->handle < y->handle);
}

/* A full report lists each handle once: apply_full() counts on it.
 * O(n log n), before the lock is taken. */
static void dedupe_items(struct gfs_heartbeat *hb)
{
	size_t i, n = 0;

	if (hb->nchunks < 2)
		return;
	qsort(hb->chunks, hb->nchunks, sizeof(*hb->chunks), item_cmp);
	for (i = 0; i < hb->nchunks; i++) {
		if (n && hb->chunks[n - 1].handle == hb->chunks[i].handle)
			n--;
		hb->chunks[n++] = hb->chunks[i];
	}
	hb->nchunks = n;
}

static enum gfs_err parse_bytes(json_t *body, const char *key, int64_t *out)
{
	*out = -1;
	return gfs_json_i64(body, key, false, out);
}

static bool url_ok(const char *u)
{
	return u && strlen(u) < URL_MAX &&
	       (!strncmp(u, "http://", 7) || !strncmp(u, "https://", 8)) &&
	       !strpbrk(u, " \t\r\n\"");
}

enum gfs_err gfs_heartbeat_parse(json_t *body, struct gfs_heartbeat *hb,
				 const char **why)
{
	memset(hb, 0, sizeof(*hb));
	hb->primary_age_ms = -1;
	*why = "bad field";
	if (gfs_json_str(body, "url", true, &hb->url) || !url_ok(hb->url)) {
		*why = "url must be an http:// URL";
		return GFS_EINVAL;
	}
	if (gfs_json_str(body, "primary", false, &hb->primary) ||
	    gfs_json_u64(body, "epoch", false, &hb->epoch) ||
	    gfs_json_i64(body, "primary_age_ms", false, &hb->primary_age_ms) ||
	    gfs_json_bool(body, "full", false, &hb->full) ||
	    parse_bytes(body, "free_bytes", &hb->free_bytes) ||
	    parse_bytes(body, "total_bytes", &hb->total_bytes) ||
	    parse_bytes(body, "used_bytes", &hb->used_bytes))
		return GFS_EINVAL;
	if (hb->primary && !url_ok(hb->primary))
		return GFS_EINVAL;
	*why = "bad chunk list";
	if (parse_items(body, hb->full ? "chunks" : "added", &hb->chunks,
			&hb->nchunks) ||
	    (hb->full && parse_items(body, "added", &hb->chunks,
				     &hb->nchunks)) ||
	    parse_handles(body, "removed", &hb->removed, &hb->nremoved) ||
	    parse_handles(body, "corrupt", &hb->corrupt, &hb->ncorrupt) ||
	    parse_handles(body, "copies_failed", &hb->copies_failed,
			  &hb->ncopies_failed))
		return GFS_EINVAL;
	if (hb->full)
		dedupe_items(hb);
	return GFS_OK;
}

void gfs_heartbeat_clear(struct gfs_heartbeat *hb)
{
	free(hb->chunks);
	free(hb->removed);
	free(hb->corrupt);
	free(hb->copies_failed);
	memset(hb, 0, sizeof(*hb));
}

/* ---- orders ---- */

static void queue_delete(struct gfs_cs *s, uint64_t handle)
{
	struct gfs_cs_delete *d = NULL;

	HASH_FIND(hh, s->deletes, &handle, sizeof(handle), d);
	if (d)
		return;
	d = gfs_xcalloc(1, sizeof(*d));
	d->handle = handle;
	HASH_ADD(hh, s->deletes, handle, sizeof(d->handle), d);
}

static void unqueue_delete(struct gfs_cs *s, uint64_t handle)
{
	struct gfs_cs_delete *d = NULL;

	HASH_FIND(hh, s->deletes, &handle, sizeof(handle), d);
	if (!d)
		return;
	HASH_DEL(s->deletes, d);
	free(d);
}

static bool delete_queued(struct gfs_cs *s, uint64_t handle)
{
	struct gfs_cs_delete *d = NULL;

	HASH_FIND(hh, s->deletes, &handle, sizeof(handle), d);
	return d != NULL;
}

static void end_copy(struct gfs_master *m, struct gfs_copy *k)
{
	struct gfs_csmgr *c = &m->cs;

	if (c->servers[k->target]->copies_in)
		c->servers[k->target]->copies_in--;
	if (k->source != GFS_NO_SERVER && c->servers[k->source]->copies_out)
		c->servers[k->source]->copies_out--;
	HASH_DEL(c->copies, k);
	free(k);
}

static struct gfs_copy *find_copy(struct gfs_csmgr *c, uint64_t handle)
{
	struct gfs_copy *k = NULL;

	HASH_FIND(hh, c->copies, &handle, sizeof(handle), k);
	return k;
}

void gfs_csmgr_drop_chunk(struct gfs_master *m, struct gfs_chunk *c)
{
	struct gfs_copy *k = find_copy(&m->cs, c->handle);
	unsigned i;

	for (i = 0; i < c->nloc; i++) {
		struct gfs_cs *s = m->cs.servers[c->loc[i]];

		if (s->nchunks)
			s->nchunks--;
		if (counts(s)) /* the others learn it from their full report */
			queue_delete(s, c->handle);
	}
	if (k) {
		queue_delete(m->cs.servers[k->target], c->handle);
		end_copy(m, k);
	}
	gfs_chunks_add_garbage(&m->chunks, c->handle, gfs_mono_ms());
}

/* ---- replica reports ---- */

/* The first location of c whose server does not count, dropped to make
 * room for a live one.  False when every one counts. */
static bool drop_dead_loc(struct gfs_master *m, struct gfs_chunk *c)
{
	unsigned i;

	for (i = 0; i < c->nloc; i++) {
		struct gfs_cs *s = m->cs.servers[c->loc[i]];

		if (counts(s))
			continue;
		gfs_chunk_del_loc(c, s->id);
		if (s->nchunks)
			s->nchunks--;
		return true;
	}
	return false;
}

static void add_loc(struct gfs_master *m, struct gfs_chunk *c,
		    struct gfs_cs *s)
{
	struct gfs_copy *k;

	if (gfs_chunk_has_loc(c, s->id))
		return;
	if (c->nloc == GFS_LOC_MAX)
		drop_dead_loc(m, c);
	if (!gfs_chunk_add_loc(c, s->id)) {
		queue_delete(s, c->handle); /* more copies than we track */
		return;
	}
	s->nchunks++;
	unqueue_delete(s, c->handle);
	k = find_copy(&m->cs, c->handle);
	if (k && k->target == s->id)
		end_copy(m, k);
}

static void del_loc(struct gfs_master *m, uint64_t handle, struct gfs_cs *s)
{
	struct gfs_chunk *c = gfs_chunks_find(&m->chunks, handle);

	if (c && gfs_chunk_del_loc(c, s->id) && s->nchunks)
		s->nchunks--;
}

static void note_orphan(struct gfs_master *m, uint64_t handle,
			struct gfs_cs *s, uint32_t version)
{
	struct gfs_orphan *o = NULL;
	unsigned i;

	HASH_FIND(hh, m->cs.orphans, &handle, sizeof(handle), o);
	if (!o) {
		o = gfs_xcalloc(1, sizeof(*o));
		o->handle = handle;
		o->first_ms = gfs_mono_ms();
		HASH_ADD(hh, m->cs.orphans, handle, sizeof(o->handle), o);
	}
	for (i = 0; i < o->n && o->holders[i] != s->id; i++)
		;
	if (i == GFS_ARRAY_SIZE(o->holders))
		return;
	o->holders[i] = s->id;
	o->versions[i] = version;
	if (i == o->n)
		o->n++;
}

static void drop_orphan_holder(struct gfs_master *m, uint64_t handle,
			       struct gfs_cs *s)
{
	struct gfs_orphan *o = NULL;
	unsigned i;

	HASH_FIND(hh, m->cs.orphans, &handle, sizeof(handle), o);
	for (i = 0; o && i < o->n; i++) {
		if (o->holders[i] != s->id)
			continue;
		o->n--;
		o->holders[i] = o->holders[o->n];
		o->versions[i] = o->versions[o->n];
		return;
	}
}

void gfs_csmgr_claim_orphan(struct gfs_master *m, struct gfs_chunk *c)
{
	struct gfs_orphan *o = NULL;
	unsigned i;

	HASH_FIND(hh, m->cs.orphans, &c->handle, sizeof(c->handle), o);
	if (!o)
		return;
	for (i = 0; i < o->n; i++) {
		struct gfs_cs *s = m->cs.servers[o->holders[i]];

		if (counts(s) && o->versions[i] == c->version)
			add_loc(m, c, s);
	}
	HASH_DEL(m->cs.orphans, o);
	free(o);
}

void gfs_csmgr_want_inventories(struct gfs_master *m)
{
	size_t i;

	for (i = 0; i < m->cs.n; i++)
		m->cs.servers[i]->known = false;
	m->cs.reports_until = gfs_mono_ms() + (int64_t)m->conf.probation_ms;
}

bool gfs_csmgr_reports_pending(struct gfs_master *m, int64_t now)
{
	size_t i;

	if (now < m->cs.reports_until)
		return true;
	for (i = 0; i < m->cs.n; i++)
		if (m->cs.servers[i]->alive && !m->cs.servers[i]->known)
			return true;
	return false;
}

bool gfs_csmgr_wait_report(struct gfs_master *m, int64_t deadline)
{
	int64_t now = gfs_mono_ms(), until = deadline;
	struct timespec ts;

	if (now >= deadline)
		return false;
	if (m->cs.reports_until > now && m->cs.reports_until < until)
		until = m->cs.reports_until; /* the window closes: look again */
	ts = gfs_deadline_ts(CLOCK_MONOTONIC, until - now);
	pthread_cond_timedwait(&m->cs.reported, &m->lock, &ts);
	return true;
}

/* How long after a commit a report of another version may still be one
 * sent before the commit: a heartbeat interval or so; dead_after bounds
 * it. */
static uint32_t stale_grace_s(const struct gfs_master *m)
{
	return (uint32_t)((m->conf.dead_after_ms + 999) / 1000);
}

/* Whether c has bytes and no live location. */
static bool unlocated(struct gfs_master *m, const struct gfs_chunk *c)
{
	unsigned k;

	for (k = 0; k < c->nloc; k++)
		if (counts(m->cs.servers[c->loc[k]]))
			return false;
	return c->length > 0;
}

enum gfs_csmgr_where gfs_csmgr_where(struct gfs_master *m,
				     const struct gfs_node *f, bool by_reports)
{
	enum gfs_csmgr_where w = GFS_WHERE_KNOWN;
	uint32_t i, now = gfs_master_now_s(m);

	for (i = 0; i < f->file.nchunks; i++) {
		const struct gfs_chunk *c = gfs_ns_chunks(f)[i];

		if (!unlocated(m, c))
			continue;
		if (by_reports && c->commit_s &&
		    now - c->commit_s < stale_grace_s(m))
			return GFS_WHERE_COMING;
		w = GFS_WHERE_LOST;
	}
	if (w == GFS_WHERE_LOST && gfs_csmgr_reports_pending(m, gfs_mono_ms()))
		w = GFS_WHERE_COMING;
	return w;
}

/* What a full report did to the locations s had: kept or added. */
struct tally {
	uint64_t kept;
	uint64_t added;
};

/* One replica reported by s; t counts for a full report (else NULL). */
static void report(struct gfs_master *m, struct gfs_cs *s,
		   const struct gfs_hb_item *it, struct tally *t)
{
	struct gfs_chunk *c = gfs_chunks_find(&m->chunks, it->handle);
	uint64_t had = s->nchunks;
	char hex[17];

	if (c && c->version == it->version) {
		if (t && gfs_chunk_has_loc(c, s->id))
			t->kept++;
		add_loc(m, c, s);
		if (t)
			t->added += s->nchunks - had;
		return;
	}
	if (c) {
		if (c->commit_s && gfs_master_now_s(m) - c->commit_s <
					   stale_grace_s(m)) {
			/* the report may predate the commit */
			if (t && gfs_chunk_has_loc(c, s->id))
				t->kept++;
			return;
		}
		gfs_handle_fmt(it->handle, hex);
		gfs_info("stale replica %s v%u on %s (current v%u): deleting",
			 hex, it->version, s->url, c->version);
		del_loc(m, it->handle, s);
		queue_delete(s, it->handle);
		return;
	}
	if (gfs_chunks_is_garbage(&m->chunks, it->handle))
		queue_delete(s, it->handle);
	else
		note_orphan(m, it->handle, s, it->version);
}

/* Take every location of s away.  O(chunks). */
static void strip_cb(void *cls, struct gfs_chunk *c)
{
	struct gfs_cs *s = cls;

	gfs_chunk_del_loc(c, s->id);
}

static void strip_server(struct gfs_master *m, struct gfs_cs *s)
{
	gfs_chunks_foreach(&m->chunks, strip_cb, s);
	s->nchunks = 0;
}

/* The locations of a full report, listed again after a strip. */
static void relist(struct gfs_master *m, struct gfs_cs *s,
		   const struct gfs_heartbeat *hb)
{
	size_t i;

	for (i = 0; i < hb->nchunks; i++) {
		struct gfs_chunk *c = gfs_chunks_find(&m->chunks,
						      hb->chunks[i].handle);

		if (c && c->version == hb->chunks[i].version)
			add_loc(m, c, s);
	}
}

/* s's reports of orphans are replaced by its full inventory.
 * O(orphans). */
static void forget_orphan_reports(struct gfs_master *m, struct gfs_cs *s)
{
	struct gfs_orphan *o, *tmp;

	HASH_ITER(hh, m->cs.orphans, o, tmp)
		drop_orphan_holder(m, o->handle, s);
}

/*
 * A full report replaces s's locations in O(report): every location s had
 * that the report repeats is kept, the new ones are added, and when the
 * two together are all the locations s has (s->nchunks; the report lists
 * each handle once), nothing else is to go.  Only when s no longer holds
 * replicas we listed for it (it lost them, or died with them and came
 * back without) are they found by stripping s from every chunk: O(chunks),
 * about 35 ms per million chunks, once for such a server.
 */
static void apply_full(struct gfs_master *m, struct gfs_cs *s,
		       const struct gfs_heartbeat *hb)
{
	struct tally t = { 0, 0 };
	size_t i;

	forget_orphan_reports(m, s);
	clear_deletes(s);
	s->stale = false;
	s->known = true;
	for (i = 0; i < hb->nchunks; i++)
		report(m, s, &hb->chunks[i], &t);
	if (s->nchunks == t.kept + t.added)
		return;
	gfs_info("chunkserver %s no longer holds %" PRIu64 " replicas listed "
		 "for it", s->url, s->nchunks - t.kept - t.added);
	strip_server(m, s);
	relist(m, s, hb);
}

static void apply_inventory(struct gfs_master *m, struct gfs_cs *s,
			    const struct gfs_heartbeat *hb)
{
	size_t i;
	char hex[17];

	if (hb->full)
		apply_full(m, s, hb);
	for (i = 0; !hb->full && i < hb->nchunks; i++)
		report(m, s, &hb->chunks[i], NULL);
	for (i = 0; i < hb->nremoved; i++) {
		del_loc(m, hb->removed[i], s);
		drop_orphan_holder(m, hb->removed[i], s);
		unqueue_delete(s, hb->removed[i]);
	}
	for (i = 0; i < hb->ncorrupt; i++) {
		gfs_handle_fmt(hb->corrupt[i], hex);
		gfs_warn("chunkserver %s reports replica %s corrupt", s->url,
			 hex);
		del_loc(m, hb->corrupt[i], s);
	}
}

/* The copies s says it could not make end now, not at their timeout:
 * the next pass orders them from a server with room (s's free space in
 * this heartbeat already counts). */
static void end_failed_copies(struct gfs_master *m, struct gfs_cs *s,
			      const struct gfs_heartbeat *hb)
{
	struct gfs_copy *k;
	char hex[17];
	size_t i;

	for (i = 0; i < hb->ncopies_failed; i++) {
		k = find_copy(&m->cs, hb->copies_failed[i]);
		if (!k || k->target != s->id)
			continue;
		gfs_handle_fmt(k->handle, hex);
		gfs_info("replication of %s to %s failed", hex, s->url);
		end_copy(m, k);
	}
}

/* Orders for s: due deletes, then copies it is the target of. */
static json_t *orders_for(struct gfs_master *m, struct gfs_cs *s)
{
	json_t *a = json_array();
	struct gfs_cs_delete *d, *tmp;
	struct gfs_copy *k, *ktmp;
	int64_t now = gfs_mono_ms();

	HASH_ITER(hh, s->deletes, d, tmp) {
		if (json_array_size(a) >= GFS_ORDERS_MAX)
			break;
		if (d->sent_ms && now - d->sent_ms < GFS_DELETE_RESEND_MS)
			continue;
		json_array_append_new(a, json_pack("{s:s, s:o}", "op",
						   "delete", "handle",
						   gfs_json_handle_new(d->handle)));
		d->sent_ms = now;
		if (++d->tries >= 5) {
			HASH_DEL(s->deletes, d);
			free(d);
		}
	}
	HASH_ITER(hh, m->cs.copies, k, ktmp) {
		struct gfs_chunk *c = gfs_chunks_find(&m->chunks, k->handle);
		json_t *src;

		if (k->target != s->id || k->sent || !c)
			continue;
		src = gfs_csmgr_replicas_json(m, c);
		json_array_append_new(a, json_pack(
			"{s:s, s:o, s:I, s:I, s:o}", "op", "replicate",
			"handle", gfs_json_handle_new(c->handle), "version",
			(json_int_t)c->version, "length",
			(json_int_t)c->length, "sources", src));
		k->sent = true;
	}
	return a;
}

static void note_view(struct gfs_cs *s, const struct gfs_heartbeat *hb)
{
	s->seen_epoch = hb->epoch;
	s->primary_age_ms = hb->primary_age_ms;
	if (hb->primary && (!s->seen_primary ||
			    strcmp(s->seen_primary, hb->primary))) {
		free(s->seen_primary);
		s->seen_primary = gfs_xstrdup(hb->primary);
	}
}

void gfs_csmgr_heartbeat(struct gfs_master *m, const struct gfs_heartbeat *hb,
			 bool give_orders, json_t **orders, bool *want_full)
{
	struct gfs_cs *s = find_server(&m->cs, hb->url);

	if (!s) {
		s = add_server(&m->cs, hb->url);
		gfs_info("chunkserver %s registered", s->url);
	} else if (!s->alive) {
		gfs_info("chunkserver %s is alive", s->url);
	}
	s->alive = true;
	s->last_hb_ms = gfs_mono_ms();
	s->last_hb_wall_ms = gfs_now_ns() / 1000000;
	s->free_bytes = hb->free_bytes;
	s->total_bytes = hb->total_bytes;
	s->used_bytes = hb->used_bytes;
	s->promised = 0;
	note_view(s, hb);
	if (s->known || hb->full)
		apply_inventory(m, s, hb);
	end_failed_copies(m, s, hb);
	*want_full = !s->known;
	*orders = give_orders && s->known ? orders_for(m, s) : json_array();
	pthread_cond_broadcast(&m->cs.reported);
}

/* ---- liveness, re-replication, GC ---- */

/*
 * A server dies in O(copies): its locations stay where they are but count
 * for nothing (counts(): dead or stale), the sweep strips them as it goes,
 * and if it comes back its full report confirms the ones it still holds
 * (apply_full()).  Stripping them here would be O(chunks) under the lock.
 */
static void server_died(struct gfs_master *m, struct gfs_cs *s)
{
	struct gfs_copy *k, *tmp;

	gfs_info("chunkserver %s is dead", s->url);
	s->alive = false;
	s->known = false;
	s->stale = s->nchunks > 0;
	HASH_ITER(hh, m->cs.copies, k, tmp)
		if (k->target == s->id || k->source == s->id)
			end_copy(m, k);
}

/*
 * A tick that comes long after the last one means this master was not
 * running (SIGSTOP, a frozen VM, swapping): heartbeats it could not read
 * meanwhile are no sign of death, so the gap does not count towards any
 * server's silence.  Without this, every server was dead the moment a
 * master paused for longer than --dead-after went on, and reads failed
 * until each had sent a full report.  A server that really died in the
 * gap is found dead_after later, as if it had died at the resume.
 */
#define STALL_MS 1000

bool gfs_csmgr_stalled(const struct gfs_master *m, int64_t now)
{
	return m->cs.last_tick_ms && now - m->cs.last_tick_ms > STALL_MS;
}

/* The gap forgiven (0: none). */
static int64_t forgive_stall(struct gfs_master *m, int64_t now)
{
	int64_t gap = m->cs.last_tick_ms ? now - m->cs.last_tick_ms : 0;
	size_t i;

	m->cs.last_tick_ms = now;
	if (gap <= STALL_MS)
		return 0;
	gfs_warn("this master did not run for %" PRId64 " ms: its servers' "
		 "silence meanwhile does not count", gap);
	for (i = 0; i < m->cs.n; i++) {
		struct gfs_cs *s = m->cs.servers[i];

		s->last_hb_ms = GFS_MIN(s->last_hb_ms + gap, now);
	}
	return gap;
}

static int64_t check_liveness(struct gfs_master *m, int64_t now)
{
	int64_t gap = forgive_stall(m, now);
	size_t i;

	for (i = 0; i < m->cs.n; i++) {
		struct gfs_cs *s = m->cs.servers[i];

		if (s->alive &&
		    now - s->last_hb_ms > (int64_t)m->conf.dead_after_ms)
			server_died(m, s);
	}
	return gap;
}

static int64_t copy_timeout_ms(struct gfs_master *m)
{
	/* At 4 MiB/s at worst, plus a heartbeat or two either side. */
	return 30000 + (int64_t)(m->conf.chunk_size / (4u << 20)) * 1000;
}

static void expire_copies(struct gfs_master *m, int64_t now)
{
	struct gfs_copy *k, *tmp;
	char hex[17];

	HASH_ITER(hh, m->cs.copies, k, tmp) {
		if (now - k->issued_ms <= copy_timeout_ms(m))
			continue;
		gfs_handle_fmt(k->handle, hex);
		gfs_warn("replication of %s to %s timed out", hex,
			 m->cs.servers[k->target]->url);
		end_copy(m, k);
	}
}

static unsigned live_locs(struct gfs_master *m, const struct gfs_chunk *c)
{
	unsigned i, n = 0;

	for (i = 0; i < c->nloc; i++)
		n += counts(m->cs.servers[c->loc[i]]);
	return n;
}

/* Delete one surplus replica: the fullest server that is not copying. */
static void trim_surplus(struct gfs_master *m, struct gfs_chunk *c)
{
	struct gfs_cs *victim = NULL;
	unsigned i;
	char hex[17];

	for (i = 0; i < c->nloc; i++) {
		struct gfs_cs *s = m->cs.servers[c->loc[i]];

		if (!counts(s) || s->copies_out)
			continue;
		if (!victim || s->free_bytes < victim->free_bytes)
			victim = s;
	}
	if (!victim)
		return;
	gfs_handle_fmt(c->handle, hex);
	gfs_info("chunk %s has a surplus replica: deleting it on %s", hex,
		 victim->url);
	gfs_chunk_del_loc(c, victim->id);
	if (victim->nchunks)
		victim->nchunks--;
	queue_delete(victim, c->handle);
}

/* The best server to receive a copy of c, or NULL.  O(servers). */
static struct gfs_cs *copy_target(struct gfs_master *m, struct gfs_chunk *c)
{
	struct gfs_cs *best = NULL;
	size_t i;

	for (i = 0; i < m->cs.n; i++) {
		struct gfs_cs *s = m->cs.servers[i];

		if (!s->alive || !s->known || s->copies_in >= GFS_COPIES_MAX ||
		    gfs_chunk_has_loc(c, s->id) ||
		    delete_queued(s, c->handle) ||
		    (s->free_bytes >= 0 &&
		     s->free_bytes - s->promised < (int64_t)c->length))
			continue;
		if (!best || s->free_bytes - s->promised >
				     best->free_bytes - best->promised)
			best = s;
	}
	return best;
}

static struct gfs_cs *copy_source(struct gfs_master *m, struct gfs_chunk *c)
{
	unsigned i;

	for (i = 0; i < c->nloc; i++) {
		struct gfs_cs *s = m->cs.servers[c->loc[i]];

		if (counts(s) && s->copies_out < GFS_COPIES_MAX)
			return s;
	}
	return NULL;
}

static void start_copy(struct gfs_master *m, struct gfs_chunk *c,
		       unsigned live)
{
	struct gfs_cs *dst = copy_target(m, c), *src = copy_source(m, c);
	struct gfs_copy *k;
	char hex[17];

	if (!dst || !src)
		return;
	k = gfs_xcalloc(1, sizeof(*k));
	k->handle = c->handle;
	k->target = dst->id;
	k->source = src->id;
	k->issued_ms = gfs_mono_ms();
	HASH_ADD(hh, m->cs.copies, handle, sizeof(k->handle), k);
	dst->copies_in++;
	src->copies_out++;
	dst->promised += c->length;
	gfs_handle_fmt(c->handle, hex);
	gfs_info("chunk %s has %u of %u replicas: copying %s -> %s", hex, live,
		 (unsigned)m->conf.replicas, src->url, dst->url);
}

/*
 * The re-replication sweep walks the chunk table a step at a time, as
 * redis's activeExpireCycle does: each step visits at most step_slots
 * slots and stops early after step_us, under the lock; the tick thread
 * runs steps every few milliseconds, dropping the lock between them, until
 * the pass reaches the end of the table (1-2 s and about 140 steps for a
 * million chunks, 2^21 slots, on the development VM; one step for a small
 * table).  A pass counts chunks short of replicas and with none, trims
 * surplus replicas and strips the locations of dead and stale servers as
 * it goes, and keeps the neediest chunks (fewest live replicas) in a
 * bounded queue; copies start at its end.  A chunk a removal moves back
 * past the cursor is missed until the next pass; a grow of the table
 * restarts the pass.
 */
#define SWEEP_STEP_SLOTS 16384
#define SWEEP_STEP_US 500
#define SWEEP_CLOCK_EVERY 1024      /* slots between two clock reads */

/* Keep handle (live replicas) if it is among the neediest seen.  O(1). */
static void queue_needy(struct gfs_master *m, uint64_t handle, unsigned live)
{
	struct gfs_sweep *sw = &m->cs.sweep;
	struct gfs_needy *q;
	unsigned worst;

	if (sw->queued >= sw->room) {
		for (worst = GFS_LOC_MAX - 1; worst > live && !sw->q[worst].n;
		     worst--)
			;
		if (worst <= live)
			return;
		sw->q[worst].n--;
		sw->queued--;
	}
	q = &sw->q[live];
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 16;
		q->handles = gfs_xrealloc(q->handles,
					  q->cap * sizeof(*q->handles));
	}
	q->handles[q->n++] = handle;
	sw->queued++;
}

/* Locations of dead or stale servers go (they count for nothing). */
static void strip_dead(struct gfs_master *m, struct gfs_chunk *c)
{
	unsigned i = 0;

	while (i < c->nloc) {
		struct gfs_cs *s = m->cs.servers[c->loc[i]];

		if (counts(s)) {
			i++;
			continue;
		}
		gfs_chunk_del_loc(c, s->id);
		if (s->nchunks && !--s->nchunks)
			s->stale = false;
	}
}

static void sweep_cb(void *cls, struct gfs_chunk *c)
{
	struct gfs_master *m = cls;
	struct gfs_sweep *sw = &m->cs.sweep;
	unsigned live, target = (unsigned)m->conf.replicas;

	strip_dead(m, c);
	live = live_locs(m, c);
	sw->visited++;
	if (live > target && !find_copy(&m->cs, c->handle)) {
		trim_surplus(m, c);
		return;
	}
	if (live >= target)
		return;
	sw->under++;
	if (!live)
		sw->lost++;
	else if (!find_copy(&m->cs, c->handle))
		queue_needy(m, c->handle, live);
}

/* The end of a pass: publish its counts, start copies neediest first
 * (when orders may be given).  O(queue x servers). */
static void end_pass(struct gfs_master *m, int64_t now, bool orders)
{
	struct gfs_sweep *sw = &m->cs.sweep;
	unsigned live;
	size_t i;

	m->cs.under_replicated = sw->under;
	if (sw->lost != m->cs.lost && sw->lost)
		gfs_warn("%" PRIu64 " chunks have no live replica", sw->lost);
	m->cs.lost = sw->lost;
	for (live = 1; live < GFS_LOC_MAX; live++) {
		for (i = 0; orders && i < sw->q[live].n; i++) {
			struct gfs_chunk *c = gfs_chunks_find(
				&m->chunks, sw->q[live].handles[i]);

			if (c && !find_copy(&m->cs, c->handle) &&
			    live_locs(m, c) == live)
				start_copy(m, c, live);
		}
		sw->q[live].n = 0;
	}
	sw->queued = 0;
	sw->passes++;
	sw->pass_ms = now - sw->started_ms;
	sw->active = false;
	if (sw->passes == 1 || sw->steps > 1)
		gfs_log(sw->passes == 1 ? GFS_LOG_INFO : GFS_LOG_DEBUG,
			"sweep pass over %zu chunks in %" PRId64 " ms, %u steps",
			sw->visited, sw->pass_ms, sw->steps);
}

static void begin_pass(struct gfs_master *m, int64_t now)
{
	struct gfs_sweep *sw = &m->cs.sweep;
	unsigned live;

	for (live = 0; live < GFS_LOC_MAX; live++)
		sw->q[live].n = 0;
	sw->queued = 0;
	/* more than the copies the servers can take at once */
	sw->room = 64 + 4 * GFS_COPIES_MAX * (size_t)gfs_csmgr_alive_count(m);
	sw->cursor = 0;
	sw->cap = m->chunks.cap;
	sw->under = sw->lost = 0;
	sw->visited = 0;
	sw->steps = 0;
	sw->started_ms = now;
	sw->active = true;
}

/* One step of the pass: at most step_slots slots, at most step_us. */
static void sweep_step(struct gfs_master *m, int64_t now, bool orders)
{
	struct gfs_sweep *sw = &m->cs.sweep;
	size_t budget = sw->step_slots ? sw->step_slots : SWEEP_STEP_SLOTS;
	int64_t t0 = mono_us(), limit = sw->step_us ? sw->step_us
							 : SWEEP_STEP_US;
	bool end = false;

	if (sw->cap != m->chunks.cap)
		begin_pass(m, now); /* the table grew: start over */
	sw->steps++;
	while (budget && !end) {
		size_t n = GFS_MIN(budget, SWEEP_CLOCK_EVERY);

		end = gfs_chunks_scan(&m->chunks, &sw->cursor, n, sweep_cb, m);
		budget -= n;
		if (mono_us() - t0 >= limit)
			break;
	}
	if (end)
		end_pass(m, now, orders);
}

static void order_holders(struct gfs_master *m, struct gfs_orphan *o)
{
	unsigned i;

	for (i = 0; i < o->n; i++)
		if (m->cs.servers[o->holders[i]]->alive)
			queue_delete(m->cs.servers[o->holders[i]], o->handle);
}

#define GC_STEP 4096   /* orphans, garbage or pending entries per step */

/*
 * Orphans past their grace (a primary orders them deleted, a backup
 * forgets them), then garbage and pending entries past theirs, at most
 * GC_STEP of each per step.  All three tables are kept in the order their
 * entries were added, which is their age order, so a step stops at the
 * first young entry: O(expired).  (An orphan whose handle was committed
 * meanwhile was claimed by the commit.)  True when a budget ran out.
 */
static bool gc_step(struct gfs_master *m, int64_t now, bool primary)
{
	struct gfs_orphan *o, *tmp;
	int64_t grace = (int64_t)m->conf.orphan_grace_ms;
	size_t budget = GC_STEP;
	bool more = false, known, garbage;
	char hex[17];

	HASH_ITER(hh, m->cs.orphans, o, tmp) {
		if (now - o->first_ms < grace)
			break;
		if (!budget--) {
			more = true;
			break;
		}
		known = gfs_chunks_find(&m->chunks, o->handle) != NULL;
		garbage = gfs_chunks_is_garbage(&m->chunks, o->handle);
		if (!known && !garbage &&
		    gfs_chunks_pending(&m->chunks, o->handle))
			continue; /* still being written; pending expires too */
		if (primary && !known) {
			gfs_handle_fmt(o->handle, hex);
			gfs_info("%s chunk %s: deleting it on %u servers",
				 garbage ? "garbage" : "orphan", hex, o->n);
			order_holders(m, o);
		}
		HASH_DEL(m->cs.orphans, o);
		free(o);
	}
	more |= gfs_chunks_expire_garbage(&m->chunks, now,
					  GFS_MAX(grace, 600000), GC_STEP);
	more |= gfs_chunks_expire_pending(&m->chunks, now, grace, GC_STEP);
	return more;
}

int64_t gfs_csmgr_tick(struct gfs_master *m, int64_t now)
{
	struct gfs_sweep *sw = &m->cs.sweep;
	int64_t stall = check_liveness(m, now);

	expire_copies(m, now);
	/* the sweep runs at most a quarter of the time */
	if (!sw->active && now - sw->started_ms >= 4 * sw->pass_ms)
		begin_pass(m, now);
	if (now - m->cs.last_gc_ms >= (int64_t)m->conf.gc_interval_ms) {
		m->cs.last_gc_ms = now;
		m->cs.gc_more = true;
	}
	return stall;
}

bool gfs_csmgr_step(struct gfs_master *m, int64_t now, bool primary)
{
	if (m->cs.sweep.active)
		sweep_step(m, now, primary && now >= m->settle_until &&
					   now >= m->probation_until);
	if (m->cs.gc_more)
		m->cs.gc_more = gc_step(m, now, primary);
	return m->cs.sweep.active || m->cs.gc_more;
}

/* ---- placement, replicas, status ---- */

/*
 * The replicas a commit names, in pipeline order, become the chunk's first
 * locations in that order: reports that arrived before the commit (a slow
 * upload's chunks are reported while still pending) must not decide which
 * server heads the list.  O(replicas x locations).
 */
void gfs_csmgr_commit_locs(struct gfs_master *m, struct gfs_chunk *c,
			   json_t *replicas, uint64_t chunk_size)
{
	int64_t unused = chunk_size > c->length
				 ? (int64_t)(chunk_size - c->length) : 0;
	uint16_t order[GFS_LOC_MAX];
	unsigned n = 0, i, j;
	json_t *v;
	size_t k;

	json_array_foreach(replicas, k, v) {
		struct gfs_cs *s = json_is_string(v)
			? find_server(&m->cs, json_string_value(v)) : NULL;

		if (!s || !counts(s))
			continue;
		/* small files must not exhaust a server's room on paper
		 * between two heartbeats */
		s->promised = s->promised > unused ? s->promised - unused : 0;
		add_loc(m, c, s);
		if (gfs_chunk_has_loc(c, s->id) && n < GFS_LOC_MAX)
			order[n++] = s->id;
	}
	for (i = 0; i < c->nloc; i++) {
		for (j = 0; j < n && order[j] != c->loc[i]; j++)
			;
		if (j == n && n < GFS_LOC_MAX)
			order[n++] = c->loc[i];
	}
	memcpy(c->loc, order, n * sizeof(*order));
	c->nloc = n;
}

json_t *gfs_csmgr_replicas_json(struct gfs_master *m,
				const struct gfs_chunk *c)
{
	json_t *a = json_array();
	unsigned i;

	for (i = 0; i < c->nloc; i++) {
		struct gfs_cs *s = m->cs.servers[c->loc[i]];

		if (counts(s))
			json_array_append_new(a, json_string(s->url));
	}
	return a;
}

static int rank_in(json_t *list, const char *url)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), url))
			return (int)i;
	return -1;
}

/* The first replica of the previous chunk of file, or GFS_NO_SERVER. */
static uint16_t prev_first(struct gfs_node *file, uint32_t index)
{
	struct gfs_chunk *p;

	if (!index)
		return GFS_NO_SERVER;
	if (file->last_alloc == index - 1 && file->last_first != GFS_NO_SERVER)
		return file->last_first;
	p = gfs_ns_chunk_at(file, index - 1);
	return p && p->nloc ? p->loc[0] : GFS_NO_SERVER;
}

enum gfs_err gfs_csmgr_place(struct gfs_master *m, struct gfs_node *file,
			     uint32_t index, json_t *near, json_t *exclude,
			     json_t **out, struct gfs_pending *p)
{
	struct gfs_place_cand *cands = gfs_xcalloc(m->cs.n + 1, sizeof(*cands));
	uint16_t ids[GFS_LOC_MAX];
	size_t i, n = 0, k;
	int64_t need = file ? file->file.chunk_size
			    : (int64_t)m->conf.chunk_size;

	for (i = 0; i < m->cs.n; i++) {
		struct gfs_cs *s = m->cs.servers[i];
		int64_t room = s->free_bytes < 0 ? INT64_MAX
						 : s->free_bytes - s->promised;

		if (!s->alive || room < need ||
		    (exclude && rank_in(exclude, s->url) >= 0))
			continue;
		cands[n++] = (struct gfs_place_cand){
			s->id, near ? rank_in(near, s->url) : -1, room };
	}
	k = gfs_place_pick(cands, n, (size_t)m->conf.replicas,
			   file ? prev_first(file, index) : GFS_NO_SERVER,
			   ids);
	free(cands);
	if (!k)
		return GFS_ENOSPC;
	*out = json_array();
	for (i = 0; i < k; i++) {
		m->cs.servers[ids[i]]->promised += need;
		json_array_append_new(*out,
				      json_string(m->cs.servers[ids[i]]->url));
	}
	if (p) {
		memcpy(p->placed, ids, k * sizeof(*ids));
		p->nplaced = (uint8_t)k;
	}
	if (file) {
		file->last_alloc = index;
		file->last_first = ids[0];
	}
	return GFS_OK;
}

void gfs_csmgr_unplace(struct gfs_master *m, struct gfs_node *file,
		       const struct gfs_pending *p)
{
	int64_t need = file ? file->file.chunk_size
			    : (int64_t)m->conf.chunk_size;
	unsigned i;

	for (i = 0; i < p->nplaced; i++) {
		struct gfs_cs *s = p->placed[i] < m->cs.n
					   ? m->cs.servers[p->placed[i]]
					   : NULL;

		if (s)
			s->promised = s->promised > need ? s->promised - need
							 : 0;
	}
}

const char *gfs_csmgr_pick_gateway(struct gfs_master *m)
{
	size_t i;

	for (i = 0; i < m->cs.n; i++) {
		struct gfs_cs *s = m->cs.servers[m->cs.rr++ % m->cs.n];

		if (s->alive)
			return s->url;
	}
	return NULL;
}

json_t *gfs_csmgr_status_json(struct gfs_master *m)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < m->cs.n; i++) {
		struct gfs_cs *s = m->cs.servers[i];

		json_array_append_new(a, json_pack(
			"{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:b}", "url",
			s->url, "alive", s->alive, "last_heartbeat_ms",
			(json_int_t)s->last_hb_wall_ms, "chunks",
			(json_int_t)s->nchunks, "free_bytes",
			(json_int_t)s->free_bytes, "total_bytes",
			(json_int_t)s->total_bytes, "used_bytes",
			(json_int_t)s->used_bytes, "inventory_known",
			s->known));
	}
	return a;
}

unsigned gfs_csmgr_alive_count(struct gfs_master *m)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < m->cs.n; i++)
		n += m->cs.servers[i]->alive;
	return n;
}

uint64_t gfs_csmgr_max_epoch(struct gfs_master *m, const char **primary)
{
	uint64_t best = 0;
	size_t i;

	*primary = NULL;
	for (i = 0; i < m->cs.n; i++) {
		struct gfs_cs *s = m->cs.servers[i];

		if (s->alive && s->seen_epoch > best) {
			best = s->seen_epoch;
			*primary = s->seen_primary;
		}
	}
	return best;
}
