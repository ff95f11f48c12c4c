/*
 * masterconn.c - heartbeats, epochs and orders (see masterconn.h).
 *
 * Invariants (all under mc->lock):
 * - mc->epoch only grows; mc->primary is the master that said "primary"
 *   at mc->epoch (NULL until one did, or when a higher epoch arrived
 *   without naming one).
 * - A link's acked is the change sequence its master has; need_full makes
 *   its next heartbeat carry the whole inventory.  Changes at or below the
 *   smallest acked of the links that do not need a full report, and
 *   below the snapshot (full_upto) of every full report on its way
 *   (full_out), are forgotten (chunkstore's change log stays small).  A
 *   full report covers the changes up to its snapshot only: those made
 *   while it travels must stay for the delta after it, whatever another
 *   master acknowledged meanwhile.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chunkserver.h"
#include "chunkstore.h"
#include "constants.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "masterconn.h"
#include "path.h"
#include "replicate.h"
#include "urllist.h"
#include "util.h"

#define MAX_MASTERS 8
#define HB_TIMEOUT_MS 5000
#define HB_CONNECT_MS 1000
#define DELETE_WAIT_MS 1000
#define FAILED_MAX 64              /* failed copies in one heartbeat */

/* One master; fields under mc->lock unless said otherwise. */
struct link {
	struct gfs_masterconn *mc;  /* borrowed */
	char *url;                  /* owned; immutable */
	struct gfs_http *http;      /* this thread's only */
	pthread_t thread;           /* sends this master's heartbeats */
	bool need_full;             /* next report is the whole inventory */
	bool full_out;              /* a full report sent, reply not in */
	uint64_t full_upto;         /* its snapshot's sequence (until taken,
				       acked: at or below it) */
	uint64_t acked;             /* change sequence the master has */
	int state;                  /* -1 unknown, 0 failing, 1 ok */
	int64_t last_ok_ms;         /* wall clock, 0 never */
	char role[16];              /* what it last said it was */
};

struct gfs_masterconn {
	struct gfs_chunkserver *cs; /* borrowed */
	pthread_mutex_t lock;
	pthread_cond_t wake;        /* stop or kick */
	bool stop;
	uint64_t kicks;             /* bumped to send heartbeats now */
	uint64_t epoch;
	char *primary;              /* owned */
	int64_t primary_ok_ms;      /* monotonic: its last answer */
	struct gfs_masterconn_counts counts; /* for /metrics */
	struct link *links;         /* one per master, owned; immutable */
	size_t n;                   /* how many */
};

/* --- the heartbeat body ------------------------------------------------- */

/* "copies_failed": the handles in failed[0..n), for the primary only
 * (its orders failed); b borrowed. */
static void add_failed(json_t *b, const uint64_t *failed, size_t n)
{
	json_t *a;
	size_t i;

	if (!n)
		return;
	a = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(a, gfs_json_handle_new(failed[i]));
	json_object_set_new(b, "copies_failed", a);
}

static json_t *heartbeat_body(struct link *l, bool full, uint64_t since,
			      uint64_t *upto)
{
	struct gfs_masterconn *mc = l->mc;
	struct gfs_chunkstore_space sp;
	json_t *chunks, *removed, *corrupt, *b;

	gfs_chunkstore_report(mc->cs->store, full, since, &chunks, &removed,
			      &corrupt, upto);
	gfs_chunkstore_space(mc->cs->store, &sp);
	b = json_pack("{s:s, s:b, s:o, s:I, s:I, s:I}", "url", mc->cs->url,
		      "full", full, "corrupt", corrupt, "free_bytes",
		      (json_int_t)sp.free_bytes, "total_bytes",
		      (json_int_t)sp.total_bytes, "used_bytes",
		      (json_int_t)sp.used_bytes);
	json_object_set_new(b, full ? "chunks" : "added", chunks);
	if (full)
		json_decref(removed);
	else
		json_object_set_new(b, "removed", removed);
	pthread_mutex_lock(&mc->lock);
	json_object_set_new(b, "epoch", json_integer((json_int_t)mc->epoch));
	if (mc->primary) {
		json_object_set_new(b, "primary", json_string(mc->primary));
		json_object_set_new(b, "primary_age_ms",
				    json_integer(gfs_mono_ms() -
						 mc->primary_ok_ms));
	} else {
		json_object_set_new(b, "primary_age_ms", json_integer(-1));
	}
	pthread_mutex_unlock(&mc->lock);
	return b;
}

/* --- state and epochs --------------------------------------------------- */

/* Log a link going up or down, once per change (lock held). */
static void set_state(struct link *l, bool ok, const char *why)
{
	if (l->state == (int)ok)
		return;
	if (ok)
		gfs_info("master %s: reachable (%s, epoch %llu)", l->url,
			 l->role, (unsigned long long)l->mc->epoch);
	else
		gfs_warn("master %s: heartbeat failed: %s (retrying every "
			 "%llu ms)", l->url, why,
			 (unsigned long long)l->mc->cs->conf.heartbeat_ms);
	l->state = ok;
}

/* Take in a reply's epoch and role; true when l is the primary now
 * (lock held). */
static bool note_epoch(struct link *l, uint64_t epoch, const char *role,
		       const char *primary)
{
	struct gfs_masterconn *mc = l->mc;
	bool is_primary = role && !strcmp(role, "primary");
	const char *who = is_primary ? l->url : primary;

	if (epoch < mc->epoch)
		return false;
	if (epoch > mc->epoch ||
	    (is_primary && (!mc->primary || strcmp(mc->primary, l->url)))) {
		mc->epoch = epoch;
		free(mc->primary);
		mc->primary = who ? gfs_xstrdup(who) : NULL;
		gfs_info("epoch %llu: primary master is %s",
			 (unsigned long long)epoch, who ? who : "unknown");
	}
	if (is_primary)
		mc->primary_ok_ms = gfs_mono_ms();
	return is_primary;
}

/* Forget changes every in-sync master has (lock held, then released to
 * call the store).  A link whose full report is out counts at that
 * report's snapshot: a change made after it reaches that master only in
 * the delta that follows. */
static void trim_changes(struct gfs_masterconn *mc, uint64_t upto)
{
	uint64_t low = UINT64_MAX;
	size_t i;

	for (i = 0; i < mc->n; i++)
		if (!mc->links[i].need_full)
			low = GFS_MIN(low, mc->links[i].acked);
		else if (mc->links[i].full_out)
			low = GFS_MIN(low, mc->links[i].full_upto);
	pthread_mutex_unlock(&mc->lock);
	gfs_chunkstore_trim_changes(mc->cs->store,
				    low == UINT64_MAX ? upto : low);
	pthread_mutex_lock(&mc->lock);
}

/* --- orders ------------------------------------------------------------- */

static void order_delete(struct link *l, uint64_t h)
{
	enum gfs_err err = gfs_chunkstore_delete(l->mc->cs->store, h,
						 DELETE_WAIT_MS);
	char hex[17];

	gfs_handle_fmt(h, hex);
	if (!err) {
		gfs_info("deleted chunk %s (ordered by %s)", hex, l->url);
		pthread_mutex_lock(&l->mc->lock);
		l->mc->counts.deletes++;
		pthread_mutex_unlock(&l->mc->lock);
	} else if (err != GFS_ENOENT) {
		gfs_info("delete of chunk %s postponed: it is being written",
			 hex);
	}
}

static void order_replicate(struct link *l, json_t *o, uint64_t h)
{
	json_t *src = json_object_get(o, "sources"), *v;
	const char *urls[16];
	uint64_t version = 0, length = 0;
	size_t i, n = 0;

	if (gfs_json_u64(o, "version", true, &version) || !version ||
	    gfs_json_u64(o, "length", true, &length) ||
	    length > GFS_MAX_CHUNK_SIZE || !json_is_array(src))
		return;
	json_array_foreach(src, i, v)
		if (json_is_string(v) && n < GFS_ARRAY_SIZE(urls) &&
		    (!strncmp(json_string_value(v), "http://", 7) ||
		     !strncmp(json_string_value(v), "https://", 8)))
			urls[n++] = json_string_value(v);
	if (n)
		gfs_replicate_order(l->mc->cs->repl, h, version, length, urls,
				    n);
}

static void run_orders(struct link *l, json_t *orders)
{
	const char *op;
	uint64_t h;
	json_t *o;
	size_t i;

	json_array_foreach(orders, i, o) {
		op = NULL;
		if (gfs_json_str(o, "op", true, &op) ||
		    gfs_json_handle(o, "handle", true, &h))
			continue;
		if (!strcmp(op, "delete"))
			order_delete(l, h);
		else if (!strcmp(op, "replicate"))
			order_replicate(l, o, h);
	}
}

/* --- one heartbeat ------------------------------------------------------ */

/* A 200 reply: take in epoch, role, want_full; carry out orders. */
static void take_reply(struct link *l, const struct gfs_http_reply *r,
		       uint64_t upto)
{
	struct gfs_masterconn *mc = l->mc;
	const char *role = NULL, *primary = NULL;
	uint64_t epoch = r->epoch;
	bool want_full = false, is_primary;

	gfs_json_u64(r->json, "epoch", false, &epoch);
	gfs_json_str(r->json, "role", false, &role);
	gfs_json_str(r->json, "primary", false, &primary);
	gfs_json_bool(r->json, "want_full", false, &want_full);
	pthread_mutex_lock(&mc->lock);
	snprintf(l->role, sizeof(l->role), "%s", role ? role : "?");
	set_state(l, true, NULL);
	l->last_ok_ms = gfs_now_ns() / 1000000;
	l->acked = upto;
	l->need_full = want_full;
	l->full_out = false;
	mc->counts.heartbeats++;
	is_primary = note_epoch(l, epoch, role, primary);
	trim_changes(mc, upto);
	pthread_mutex_unlock(&mc->lock);
	if (is_primary)
		run_orders(l, json_object_get(r->json, "orders"));
}

/* No reply, or a refusal. */
static void take_failure(struct link *l, const struct gfs_http_reply *r,
			 enum gfs_err err)
{
	struct gfs_masterconn *mc = l->mc;
	char why[160];

	snprintf(why, sizeof(why), "%s%s%s", gfs_err_str(err),
		 r->message ? ": " : "", r->message ? r->message : "");
	pthread_mutex_lock(&mc->lock);
	if (r->status == 421) {
		/* reachable, but it stepped down (saw a higher epoch) */
		snprintf(l->role, sizeof(l->role), "not primary");
		set_state(l, true, NULL);
		note_epoch(l, r->epoch, NULL, r->primary);
	} else {
		set_state(l, false, why);
		l->need_full = true; /* it may come back as a new process */
	}
	l->full_out = false;
	mc->counts.failures++;
	pthread_mutex_unlock(&mc->lock);
}

/* One heartbeat to l's master.  True when it should be followed by
 * another at once: a delta the master answered with want_full (it is
 * new, or restarted), so that it does not wait an interval for the
 * locations its readers are waiting for. */
static bool beat(struct link *l)
{
	struct gfs_masterconn *mc = l->mc;
	char ehdr[64], *url, *text, *sig;
	const char *hdrs[] = { "Content-Type: application/json", ehdr, NULL,
			       NULL };
	struct gfs_http_opts o = { .headers = hdrs, .timeout_ms = HB_TIMEOUT_MS,
				   .connect_ms = HB_CONNECT_MS };
	struct gfs_http_reply r;
	uint64_t since, upto, failed[FAILED_MAX];
	size_t nfailed = 0;
	enum gfs_err err;
	json_t *body;
	bool full, again = false, to_primary;

	pthread_mutex_lock(&mc->lock);
	full = l->need_full;
	l->full_out = full; /* before the snapshot: see trim_changes() */
	l->full_upto = l->acked;
	since = l->acked;
	snprintf(ehdr, sizeof(ehdr), "%s: %llu", GFS_HDR_EPOCH,
		 (unsigned long long)mc->epoch);
	to_primary = mc->primary && !strcmp(mc->primary, l->url);
	pthread_mutex_unlock(&mc->lock);
	body = heartbeat_body(l, full, since, &upto);
	if (full) {
		pthread_mutex_lock(&mc->lock);
		l->full_upto = upto;
		pthread_mutex_unlock(&mc->lock);
	}
	if (to_primary && mc->cs->repl)
		nfailed = gfs_replicate_take_failed(mc->cs->repl, failed,
						    FAILED_MAX);
	add_failed(body, failed, nfailed);
	text = gfs_json_dump(body);
	json_decref(body);
	o.body = text;
	o.len = strlen(text);
	url = gfs_xasprintf("%s%s/heartbeat", l->url, GFS_API);
	sig = gfs_auth_sign(mc->cs->auth, "POST", url, text, o.len);
	hdrs[2] = sig;
	err = gfs_http_call(l->http, "POST", url, &o, &r);
	free(sig);
	if (!err && r.json) {
		take_reply(l, &r, upto);
		pthread_mutex_lock(&mc->lock);
		again = !full && l->need_full;
		pthread_mutex_unlock(&mc->lock);
	} else {
		take_failure(l, &r, err ? err : GFS_EIO);
		if (nfailed)
			gfs_replicate_put_failed(mc->cs->repl, failed,
						 nfailed);
	}
	gfs_http_reply_clear(&r);
	free(url);
	free(text);
	return again;
}

/* --- threads ------------------------------------------------------------ */

static void *link_main(void *arg)
{
	struct link *l = arg;
	struct gfs_masterconn *mc = l->mc;
	uint64_t seen = 0;
	struct timespec ts;
	int64_t ms = (int64_t)mc->cs->conf.heartbeat_ms;

	for (;;) {
		if (beat(l))
			beat(l); /* the full report it asked for: no repeat */
		ts = gfs_deadline_ts(CLOCK_REALTIME, ms);
		pthread_mutex_lock(&mc->lock);
		while (!mc->stop && mc->kicks == seen &&
		       pthread_cond_timedwait(&mc->wake, &mc->lock, &ts) == 0)
			;
		seen = mc->kicks;
		if (mc->stop) {
			pthread_mutex_unlock(&mc->lock);
			break;
		}
		pthread_mutex_unlock(&mc->lock);
	}
	return NULL;
}

struct gfs_masterconn *gfs_masterconn_start(struct gfs_chunkserver *cs)
{
	struct gfs_masterconn *mc;
	size_t n, i;
	char **urls = gfs_urllist_split(cs->conf.master, MAX_MASTERS, &n);

	if (!urls || (!n && cs->conf.master[0])) {
		gfs_error("--master: expected 1 to %d http(s):// URLs, got '%s'",
			  MAX_MASTERS, cs->conf.master);
		gfs_urllist_free(urls);
		return NULL;
	}
	if (!n)
		gfs_warn("no --master: serving chunks without reporting them");
	mc = gfs_xcalloc(1, sizeof(*mc));
	mc->cs = cs;
	pthread_mutex_init(&mc->lock, NULL);
	pthread_cond_init(&mc->wake, NULL);
	mc->links = gfs_xcalloc(n, sizeof(*mc->links));
	for (i = 0; i < n; i++) {
		struct link *l = &mc->links[i];

		l->mc = mc;
		l->url = gfs_xstrdup(urls[i]);
		l->http = gfs_http_new();
		gfs_http_set_ca(l->http, cs->conf.auth.ca_file);
		l->need_full = true;
		l->state = -1;
		snprintf(l->role, sizeof(l->role), "?");
	}
	mc->n = n;
	gfs_urllist_free(urls);
	for (i = 0; i < n; i++)
		pthread_create(&mc->links[i].thread, NULL, link_main,
			       &mc->links[i]);
	return mc;
}

void gfs_masterconn_stop(struct gfs_masterconn *mc)
{
	size_t i;

	if (!mc)
		return;
	pthread_mutex_lock(&mc->lock);
	if (mc->stop) {
		pthread_mutex_unlock(&mc->lock);
		return;
	}
	mc->stop = true;
	pthread_cond_broadcast(&mc->wake);
	pthread_mutex_unlock(&mc->lock);
	for (i = 0; i < mc->n; i++)
		pthread_join(mc->links[i].thread, NULL);
}

void gfs_masterconn_free(struct gfs_masterconn *mc)
{
	size_t i;

	if (!mc)
		return;
	gfs_masterconn_stop(mc);
	for (i = 0; i < mc->n; i++) {
		free(mc->links[i].url);
		gfs_http_free(mc->links[i].http);
	}
	free(mc->links);
	free(mc->primary);
	pthread_mutex_destroy(&mc->lock);
	pthread_cond_destroy(&mc->wake);
	free(mc);
}

void gfs_masterconn_kick(struct gfs_masterconn *mc)
{
	pthread_mutex_lock(&mc->lock);
	mc->kicks++;
	pthread_cond_broadcast(&mc->wake);
	pthread_mutex_unlock(&mc->lock);
}

void gfs_masterconn_describe(struct gfs_masterconn *mc, json_t *st)
{
	json_t *a = json_array();
	size_t i;

	pthread_mutex_lock(&mc->lock);
	json_object_set_new(st, "epoch", json_integer((json_int_t)mc->epoch));
	json_object_set_new(st, "primary", mc->primary
					   ? json_string(mc->primary)
					   : json_null());
	for (i = 0; i < mc->n; i++) {
		struct link *l = &mc->links[i];

		json_array_append_new(a, json_pack(
			"{s:s, s:b, s:I, s:s}", "url", l->url, "ok",
			l->state == 1, "last_ok_ms", (json_int_t)l->last_ok_ms,
			"role", l->role));
	}
	pthread_mutex_unlock(&mc->lock);
	json_object_set_new(st, "masters", a);
}

void gfs_masterconn_counts(struct gfs_masterconn *mc,
			   struct gfs_masterconn_counts *out)
{
	pthread_mutex_lock(&mc->lock);
	*out = mc->counts;
	out->epoch = mc->epoch;
	pthread_mutex_unlock(&mc->lock);
}
